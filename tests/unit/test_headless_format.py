from __future__ import annotations

import io

from hft_console.headless import ASCII, seconds, unicode_ok


def test_session_lengths_read_as_people_write_them() -> None:
    assert seconds(19_999_600_000) == "20.0s"  # a replay whose last tick is just before 20 s
    assert seconds(120_000_000_000) == "120.0s"
    assert seconds(600_000_000) == "0.600s"


def test_an_ascii_stream_gets_ascii_rules_and_units() -> None:
    ascii_out = io.TextIOWrapper(io.BytesIO(), encoding="ascii")
    latin = io.TextIOWrapper(io.BytesIO(), encoding="latin-1")
    assert not unicode_ok(ascii_out) and not unicode_ok(latin)
    assert unicode_ok(io.TextIOWrapper(io.BytesIO(), encoding="utf-8"))
    assert "═══ 12 µs · a → b".translate(ASCII) == "=== 12 us - a -> b"
