"""Sessions and backtests on LOBSTER files, driven as a user would (the installed command)."""

from __future__ import annotations

import csv
import json
import sqlite3
from pathlib import Path

import pytest

from hft_console.backtest.run import data_files, local_data, share_data
from hft_console.engine.engine import Engine
from tests.conftest import make_settings
from tests.integration.test_cli import hft
from tests.lobster_files import Msg, random_messages, write_lobster

SESSION = ["--no-ui", "--clock", "sim", "--skip-backtest", "--log-level", "verbose", "--seed", "3"]


def two_symbols(folder: Path) -> Path:
    folder.mkdir()
    a, ia = random_messages(11, 4000)
    b, ib = random_messages(12, 4000)
    write_lobster(folder, a, symbol="AAA", levels=2, initial=ia)
    write_lobster(folder, b, symbol="BBB", levels=2, initial=ib)
    return folder


def test_a_session_replays_every_message_with_the_book_checked_and_orders_in_the_real_queue(tmp_path: Path) -> None:
    data = two_symbols(tmp_path / "lobster")
    run = tmp_path / "run"
    out = hft(*SESSION, "--strategy", "market-maker", "--data", f"lobster:{data}", "--run-dir", str(run))
    assert out.returncode == 0, out.stderr[-2000:]
    s = json.loads((run / "summary.json").read_text())
    d = s["data"]
    assert d["messages"] == 8000 and d["book_checks"] == 8000 and d["book_mismatches"] == 0
    assert s["symbols"] == ["AAA", "BBB"]
    executions = d["messages_by_type"]["execute_visible"] + d["messages_by_type"]["execute_hidden"]
    assert s["trades"]["seen"] == executions
    assert "8,000 messages, 8,000 book rows checked, 0 mismatches" in out.stdout
    with sqlite3.connect(run / "journal.sqlite") as db:
        makers = db.execute("SELECT COUNT(*) FROM fills WHERE liquidity = 'MAKER'").fetchone()[0]
        venues = {v for (v,) in db.execute("SELECT DISTINCT venue FROM orders")}
    assert makers > 0  # quotes rested in the real queues and the real flow reached them
    assert venues == {"NASDAQ"}  # the only venue with a book


def test_a_mismatching_book_row_is_named_in_verbose_output(tmp_path: Path) -> None:
    msgs, initial = random_messages(13, 300)
    path = write_lobster(tmp_path, msgs, initial=initial)
    book = path.with_name(path.name.replace("_message_", "_orderbook_"))
    rows = book.read_text().splitlines()
    fields = rows[99].split(",")
    fields[1] = str(int(fields[1]) + 1)
    rows[99] = ",".join(fields)
    book.write_text("\n".join(rows) + "\n")
    out = hft(*SESSION, "--data", f"lobster:{path}", "--run-dir", str(tmp_path / "run"))
    assert out.returncode == 0, out.stderr[-2000:]
    assert f"book mismatch: {book}: row 100:" in out.stdout
    assert json.loads((tmp_path / "run" / "summary.json").read_text())["data"]["book_mismatches"] == 1


def test_bad_lobster_input_exits_2_with_one_line_naming_it(tmp_path: Path) -> None:
    path = tmp_path / "TEST_2024-01-02_34200000_57600000_message_1.csv"
    path.write_text("34200.1,1,1,100,1000000,1\n34200.2,8,2,100,1000100,-1\n")
    out = hft(*SESSION, "--data", f"lobster:{path}", "--run-dir", str(tmp_path / "run"))
    assert out.returncode == 2
    assert (
        out.stderr.strip()
        .splitlines()[-1]
        .endswith(f"{path}: row 2: type = 8; expected one of 1-7 (LOBSTER message types)")
    )
    (tmp_path / "ok").mkdir()
    good = write_lobster(tmp_path / "ok", [(34_200.1, 1, 1, 100, 1_000_000, 1), (34_200.2, 1, 2, 100, 1_000_100, -1)])
    cfg = tmp_path / "venue.toml"
    cfg.write_text('[data]\nl3_venue = "LSE"\n')
    out = hft(*SESSION, "--config", str(cfg), "--data", f"lobster:{good}", "--run-dir", str(tmp_path / "r3"))
    assert out.returncode == 2 and "data.l3_venue" in out.stderr and "LSE" in out.stderr


def test_a_backtest_on_lobster_data_and_its_files_shipped_to_another_node(tmp_path: Path) -> None:
    msgs, initial = random_messages(14, 1500)
    (tmp_path / "d").mkdir()
    path = write_lobster(tmp_path / "d", msgs, initial=initial)
    out = hft(
        "backtest",
        "--data",
        f"lobster:{path}",
        "--scenarios",
        "3",
        "--duration",
        "600",
        "--json",
        str(tmp_path / "bt.json"),
    )
    assert out.returncode == 0, out.stderr[-2000:]
    report = json.loads((tmp_path / "bt.json").read_text())
    assert report["data"] == f"lobster:{path}" and report["scenarios"] == 3
    stats = report["data_stats"]
    assert stats["messages"] == 1500 and stats["book_checks"] == 1500 and stats["book_mismatches"] == 0
    prefix, files, body = data_files(f"lobster:{path}")
    book = path.name.replace("_message_", "_orderbook_")
    assert prefix == "lobster:" and files == [(f"0/{path.name}", path), (f"0/{book}", path.with_name(book))]
    assert body == f"0/{path.name}"
    shipped = share_data(f"lobster:{path},{path.parent}@NYSE")
    assert [n for n, _ in shipped[1]] == [f"0/{path.name}", f"0/{book}", f"1/{path.name}", f"1/{book}"]
    assert shipped[2] == f"0/{path.name},1@NYSE"
    local = local_data(make_settings(), shipped).data.source
    folder = Path(local.removeprefix("lobster:").split(",")[0]).parent.parent
    assert local == f"lobster:{folder}/0/{path.name},{folder}/1@NYSE"
    assert (folder / "1" / path.name).read_bytes() == path.read_bytes()


def test_a_session_and_a_backtest_on_hftbacktest_event_files(tmp_path: Path) -> None:
    from tests.unit.test_hftbacktest_npz import AAPL_ROWS, MSFT_ROWS, write  # the format, written out

    a, m = write(tmp_path / "aapl.npz", AAPL_ROWS), write(tmp_path / "msft.npz", MSFT_ROWS)
    out = hft(*SESSION, "--symbols", "AAPL,MSFT", "--data", f"hftbacktest:{a},{m}", "--run-dir", str(tmp_path / "r"))
    assert out.returncode == 0, out.stderr[-2000:]
    s = json.loads((tmp_path / "r" / "summary.json").read_text())
    assert s["symbols"] == ["AAPL", "MSFT"] and s["ticks"] > 0
    assert s["data"]["messages"] == sum(1 for r in AAPL_ROWS + MSFT_ROWS if int(r[0]) & (1 << 30))  # type: ignore[call-overload]
    bt = hft("backtest", "--symbols", "AAPL,MSFT", "--data", f"hftbacktest:{a},{m}", "--scenarios", "2",
             "--json", str(tmp_path / "bt.json"))  # fmt: skip
    assert bt.returncode == 0, bt.stderr[-2000:]
    wrong = hft(*SESSION, "--symbols", "AAPL", "--data", f"hftbacktest:{a},{m}", "--run-dir", str(tmp_path / "r2"))
    assert wrong.returncode == 2 and "expected one symbol per file" in wrong.stderr


def sparse(seed: int, n: int) -> tuple[list[Msg], dict[int, list[int]]]:
    """Messages seconds apart (a quiet stock): most 20 ms batches hold nothing."""
    msgs, initial = random_messages(seed, n)
    return [(34_200.0 + 0.37 * i + (0.2 if i % 7 == 0 else 0.0), *m[1:]) for i, m in enumerate(msgs)], initial


@pytest.mark.parametrize("strategy", ["imbalance", "market-maker"])
def test_skipping_empty_batches_changes_nothing(tmp_path: Path, strategy: str) -> None:
    msgs, initial = sparse(21, 600)
    path = write_lobster(tmp_path, msgs, initial=initial)
    settings = make_settings(**{"data.source": f"lobster:{path}", "session.symbols": "TEST",
                                "session.duration_s": 600, "strategy.name": strategy})  # fmt: skip
    runs = []
    for skip in (False, True):
        engine = Engine(settings, tmp_path / f"run-{skip}")
        engine.skip_idle = skip
        engine.run()
        summary = json.loads((tmp_path / f"run-{skip}" / "summary.json").read_text())
        with sqlite3.connect(tmp_path / f"run-{skip}" / "journal.sqlite") as db:
            fills = db.execute("SELECT ts_ns, order_id, qty, price, liquidity FROM fills ORDER BY id").fetchall()
            events = db.execute("SELECT order_id, ts_ns, state, qty, price, queue_ahead FROM order_events").fetchall()
        runs.append((engine, summary, fills, events))
    (slow, a, fa, ea), (fast, b, fb, eb) = runs
    assert fast.skipped_batches > 10 * slow.skipped_batches and slow.skipped_batches == 0
    assert fa == fb and ea == eb and len(fa) > 0
    assert slow.pnl_history == fast.pnl_history
    for key in ("wall_s", "ticks_per_s", "decision_latency_us", "inference_us", "journal"):
        a.pop(key, None)
        b.pop(key, None)
    assert a["data"] == b["data"] and a["data"]["messages"] == 600
    assert {k: v for k, v in a.items() if "latency" not in k} == {k: v for k, v in b.items() if "latency" not in k}


def test_a_recording_of_a_lobster_session_keeps_every_print_and_the_exchange_times(tmp_path: Path) -> None:
    msgs, initial = random_messages(31, 800)
    path = write_lobster(tmp_path, msgs, initial=initial)
    rec = tmp_path / "rec.csv"
    out = hft(*SESSION, "--data", f"lobster:{path}", "--record", str(rec), "--run-dir", str(tmp_path / "r"))
    assert out.returncode == 0, out.stderr[-2000:]
    with rec.open(newline="") as fh:
        trades = [row for row in csv.DictReader(fh) if row["kind"] == "trade"]
    executions = [m for m in msgs if m[1] in (4, 5)]
    assert len(trades) == len(executions)
    delay_ns = 45_000  # NASDAQ's feed_delay_us in config/default.toml: the engine saw each print that late
    midnight = 1_704_171_600 * 10**9  # 2024-01-02 00:00 in New York, UTC epoch ns
    first = executions[0]
    assert int(trades[0]["ts_ns"]) == midnight + round(float(f"{first[0]:.9f}") * 1e9) + delay_ns
    assert trades[0]["side"] == ("S" if first[5] > 0 else "B") and float(trades[0]["price"]) == first[4] / 10_000
    again = hft(*SESSION, "--data", f"replay:{rec}", "--run-dir", str(tmp_path / "r2"))
    assert again.returncode == 0, again.stderr[-2000:]
    a = json.loads((tmp_path / "r" / "summary.json").read_text())
    b = json.loads((tmp_path / "r2" / "summary.json").read_text())
    assert a["ticks"] == b["ticks"] and a["trades"]["seen"] == b["trades"]["seen"]


def test_a_session_that_ends_before_the_data_says_how_much_it_replayed(tmp_path: Path) -> None:
    msgs, initial = random_messages(41, 400)  # about 4 s of messages
    path = write_lobster(tmp_path, msgs, initial=initial)
    out = hft(*SESSION, "--duration", "1", "--data", f"lobster:{path}", "--run-dir", str(tmp_path / "r"))
    assert out.returncode == 0, out.stderr[-2000:]
    d = json.loads((tmp_path / "r" / "summary.json").read_text())["data"]
    assert 0 < d["messages"] < d["messages_in_files"] == 400
    assert f"{d['messages']:,} of 400 messages (ended first)" in out.stdout
