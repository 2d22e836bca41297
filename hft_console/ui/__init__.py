"""The full-screen Textual operator console. Only this package imports Textual."""
