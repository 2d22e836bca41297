"""The README's key table lists every key the console answers (the keys are part of the contract)."""

from __future__ import annotations

import re
from pathlib import Path

from textual.binding import Binding

from hft_console.ui.app import ConsoleApp

NAMES = {"question_mark": "?", "slash": "/", "pagedown": "PgDn", "pageup": "PgUp", "home": "Home", "end": "End",
         "escape": "Esc"}  # fmt: skip


def test_every_binding_is_in_the_readmes_key_table() -> None:
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    console = readme[readme.index("## The console") : readme.index("## Command line")]
    cells = " ".join(line.split("|")[1] for line in console.splitlines() if line.startswith("| `"))
    listed = set(re.findall(r"`([^`]+)`", cells))
    for first, last in re.findall(r"`(\d)`–`(\d)`", cells):  # a range such as `1`–`6`
        listed |= {str(i) for i in range(int(first), int(last) + 1)}
    missing = [
        NAMES.get(key, key)
        for binding in ConsoleApp.BINDINGS
        if isinstance(binding, Binding)
        for key in binding.key.split(",")
        if NAMES.get(key, key) not in listed
    ]
    assert missing == []
