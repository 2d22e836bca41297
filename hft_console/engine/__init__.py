"""The engine: wiring and the event loop (engine.py), the per-batch pipeline, operator commands, the
published snapshot, the journal and the end-of-session summary."""
