"""The console's colour themes: ``default``, and ``colour-blind``, which keeps every distinction the
console draws by colour (gain/loss, buy/sell, the heatmap's bands, the gauges, the risk state) visible
to people with red-green colour blindness, the commonest kind (deuteranopia, protanopia).

The panes write the terminal's named colours (green, red, yellow, ...); Textual turns those into RGB
through an ANSI theme (``App.ansi_theme_dark``), so the colour-blind theme is an ANSI theme whose green
is blue and whose red is vermillion, with yellow and orange kept apart: Okabe & Ito's palette
("Color Universal Design", 2008), the usual choice for colour-blind-safe figures. The heatmap's bands
use 256-colour names the ANSI theme does not touch, so they have their own table
(``format.HEAT_STYLES``). Every colour still comes with a text cue (signs, B/S, the state's word).
"""

from __future__ import annotations

from rich.terminal_theme import TerminalTheme
from textual.app import App

from hft_console.ui import format as fmt
from hft_console.ui.panes import Pane

# Okabe-Ito
BLACK, ORANGE, SKY_BLUE, BLUISH_GREEN = (0, 0, 0), (230, 159, 0), (86, 180, 233), (0, 158, 115)
YELLOW, BLUE, VERMILLION, PURPLE = (240, 228, 66), (0, 114, 178), (213, 94, 0), (204, 121, 167)
GREY, WHITE = (120, 120, 120), (230, 230, 230)
# normal and bright: black, red, green, yellow, blue, magenta, cyan, white
COLOUR_BLIND_ANSI = TerminalTheme(
    (12, 12, 12), (217, 217, 217),
    [(26, 26, 26), VERMILLION, SKY_BLUE, YELLOW, BLUE, PURPLE, BLUISH_GREEN, (196, 197, 181)],
    [GREY, VERMILLION, SKY_BLUE, YELLOW, BLUE, PURPLE, BLUISH_GREEN, WHITE],
)  # fmt: skip
HEAT = {
    "default": ["on green4", "on yellow3", "on dark_orange", "on red3"],
    "colour-blind": ["on rgb(86,180,233)", "on rgb(240,228,66)", "on rgb(230,159,0)", "on rgb(213,94,0)"],
}


SAVED: dict[int, TerminalTheme] = {}  # each app's own ANSI theme, to go back to


def apply_theme(app: App[None], name: str) -> None:
    """Switch ``app`` to theme ``name`` (``settings.THEMES``) and redraw; raises KeyError for another."""
    fmt.HEAT_STYLES[:] = HEAT[name]
    saved = SAVED.setdefault(id(app), app.ansi_theme_dark)
    app.ansi_theme_dark = COLOUR_BLIND_ANSI if name == "colour-blind" else saved
    if app.screen_stack:  # the heatmap's bands are baked into its text: draw it again
        for pane in app.screen_stack[0].query(Pane):
            pane.redraw()
    app.refresh(repaint=True)
