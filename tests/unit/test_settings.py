from __future__ import annotations

from dataclasses import fields
from pathlib import Path

import pytest

from hft_console.cli.main import main
from hft_console.domain import LatencySpec, VenueSpec
from hft_console.settings import SettingsError, config_dir, load_settings
from hft_console.settings.schema import LATENCY_RULES, VENUE_RULES
from tests.conftest import make_settings


def write(tmp_path: Path, text: str, name: str = "custom.toml") -> str:
    path = tmp_path / name
    path.write_text(text)
    return str(path)


def test_defaults_follow_the_seed_table() -> None:
    s = load_settings({}, environ={}, dotenv_path=None)
    assert s.session.mode == "production"
    assert s.session.duration_s == 600
    assert s.session.symbols == ["AAPL", "MSFT", "GOOGL"]
    assert s.session.log_level == "normal"
    assert s.session.skip_backtest is False
    assert s.sources["session.duration_s"] == "config/production.toml"
    assert len(s.venues) >= 5


def test_mode_picks_its_own_file() -> None:
    s = load_settings({"session.mode": "fast"}, environ={}, dotenv_path=None)
    assert s.session.duration_s == 120
    assert s.market.ticks_per_s_per_symbol == 1000
    assert s.sources["market.ticks_per_s_per_symbol"] == "config/fast.toml"


def test_precedence_file_then_dotenv_then_environment_then_flags(tmp_path: Path) -> None:
    cfg = write(tmp_path, '[session]\nsymbols = ["IBM"]\nlog_level = "verbose"\n[risk]\nmax_position = 500\n')
    dotenv = tmp_path / ".env"
    dotenv.write_text("MAX_POSITION_SIZE=600\nLOG_LEVEL=debug\nTRADING_SYMBOLS='TSLA, NVDA'\n")
    s = load_settings({"config": cfg}, environ={}, dotenv_path=dotenv)
    assert s.risk.max_position == 600 and s.session.log_level == "debug"
    assert s.session.symbols == ["TSLA", "NVDA"]
    s = load_settings({"config": cfg}, environ={"MAX_POSITION_SIZE": "700"}, dotenv_path=dotenv)
    assert s.risk.max_position == 700 and s.sources["risk.max_position"] == "environment MAX_POSITION_SIZE"
    s = load_settings(
        {"config": cfg, "session.log_level": "quiet", "session.symbols": "amd"},
        environ={"LOG_LEVEL": "normal"},
        dotenv_path=dotenv,
    )
    assert s.session.log_level == "quiet" and s.session.symbols == ["AMD"]


def test_trading_mode_from_environment_picks_the_mode_file() -> None:
    s = load_settings({}, environ={"TRADING_MODE": "balanced"}, dotenv_path=None)
    assert s.session.mode == "balanced" and s.session.duration_s == 300


def test_finnhub_key_is_read_but_never_shown(tmp_path: Path) -> None:
    s = load_settings({}, environ={"FINNHUB_API_KEY": "sekret-123"}, dotenv_path=None)
    assert s.finnhub_api_key == "sekret-123"
    assert "sekret" not in repr(s)


@pytest.mark.parametrize(
    ("text", "key", "expected"),
    [
        ("[session]\nnope = 1\n", "session.nope", "a known key of [session]"),
        ("[sesion]\nmode = 'fast'\n", "sesion", "a known section"),
        ("[risk]\nmax_position = 'lots'\n", "risk.max_position", "an integer"),
        ("[risk]\nmax_position = -5\n", "risk.max_position", ">= 1"),
        ("[risk]\nmax_position = 2.5\n", "risk.max_position", "an integer"),
        ("[risk]\nmax_loss = 0\n", "risk.max_loss", "> 0"),
        ("[risk]\nmax_position = 200000\n", "risk.max_position", "hard cap"),
        ("[session]\nclock = 'lunar'\n", "session.clock", "one of wall, sim"),
        ("[session]\nsymbols = []\n", "session.symbols", "ticker symbols"),
        ("[session]\nsymbols = ['AAPL', 'AAPL']\n", "session.symbols", "distinct"),
        ("[session]\nskip_backtest = 'maybe'\n", "session.skip_backtest", "true or false"),
        ("[market]\nbad_tick_rate = 0.9\n", "market.bad_tick_rate", "<= 0.5"),
        ("[normalizer]\nmin_price = 10.0\nmax_price = 5.0\n", "normalizer.max_price", "> normalizer.min_price"),
        ("venues = []\n", "venues", "non-empty array"),
        ("[[venues]]\nname = 'X'\n", "venues[0].latency", "[venues.latency] table"),
    ],
)
def test_bad_settings_name_file_key_value_and_expectation(tmp_path: Path, text: str, key: str, expected: str) -> None:
    cfg = write(tmp_path, text)
    with pytest.raises(SettingsError) as err:
        load_settings({"config": cfg}, environ={}, dotenv_path=None)
    assert err.value.key == key
    assert err.value.source == cfg
    assert expected in str(err.value)


def test_bad_venue_values_are_refused(tmp_path: Path) -> None:
    venue = (
        "[[venues]]\nname='X'\ntaker_fee=0.003\nmaker_rebate=0.002\nshare=0.5\nspread_ticks=1\ndepth_shares=100\n"
        "depth_levels=2\nfeed_delay_us=100\nreject_prob=0.0\n[venues.latency]\nmedian_us=-1.0\nsigma=0.3\n"
        "jitter_us=1.0\nspike_prob=0.0\nspike_mult_min=1.0\nspike_mult_max=2.0\ncongested_mult=2.0\n"
        "congested_spike_prob=0.0\ncalm_to_congested_per_s=0.0\ncongested_to_calm_per_s=0.0\n"
        "outage_per_hour=0.0\noutage_mean_s=1.0\noutage_timeout_us=100.0\nspeed_bump_us=0.0\n"
    )
    with pytest.raises(SettingsError) as err:
        load_settings({"config": write(tmp_path, venue)}, environ={}, dotenv_path=None)
    assert err.value.key == "venues[0].latency.median_us" and err.value.value == -1.0


def test_user_defined_venue_set_replaces_the_default(tmp_path: Path) -> None:
    venue = (
        "[[venues]]\nname='SOLO'\ntaker_fee=0.003\nmaker_rebate=0.002\nshare=1.0\nspread_ticks=1\n"
        "depth_shares=100\ndepth_levels=2\nfeed_delay_us=100\nreject_prob=0.0\n[venues.latency]\nmedian_us=50.0\n"
        "sigma=0.3\njitter_us=1.0\nspike_prob=0.0\nspike_mult_min=1.0\nspike_mult_max=2.0\ncongested_mult=2.0\n"
        "congested_spike_prob=0.0\ncalm_to_congested_per_s=0.0\ncongested_to_calm_per_s=0.0\n"
        "outage_per_hour=0.0\noutage_mean_s=1.0\noutage_timeout_us=100.0\nspeed_bump_us=0.0\n"
    )
    s = load_settings({"config": write(tmp_path, venue)}, environ={}, dotenv_path=None)
    assert [v.name for v in s.venues] == ["SOLO"]


def test_missing_and_broken_files_are_reported(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match="an existing TOML file"):
        load_settings({"config": str(tmp_path / "absent.toml")}, environ={}, dotenv_path=None)
    with pytest.raises(SettingsError, match="valid TOML"):
        load_settings({"config": write(tmp_path, "[session\n")}, environ={}, dotenv_path=None)


@pytest.mark.parametrize(
    ("environ", "key"),
    [
        ({"MAX_POSITION_SIZE": "ten"}, "risk.max_position"),
        ({"MAX_POSITION_SIZE": "0"}, "risk.max_position"),
        ({"LOG_LEVEL": "loud"}, "session.log_level"),
        ({"TRADING_SYMBOLS": "AAPL,,MSFT"}, "session.symbols"),
        ({"TRADING_MODE": "turbo"}, "session.mode"),
    ],
)
def test_bad_environment_values_name_the_variable(environ: dict[str, str], key: str) -> None:
    with pytest.raises(SettingsError) as err:
        load_settings({}, environ=environ, dotenv_path=None)
    assert err.value.key == key
    assert next(iter(environ)) in err.value.source


def test_unknown_router_is_refused() -> None:
    with pytest.raises(SettingsError, match="one of best-price"):
        make_settings(session__router="nosuch")


def test_unreadable_config_files_are_refused_without_a_traceback(tmp_path: Path) -> None:
    binary = tmp_path / "binary.toml"
    binary.write_bytes(b"\xff\xfe\x00\x81garbage")
    with pytest.raises(SettingsError, match="UTF-8"):
        load_settings({"config": str(binary)}, environ={}, dotenv_path=None)
    with pytest.raises(SettingsError, match="not a directory"):
        load_settings({"config": str(tmp_path)}, environ={}, dotenv_path=None)


@pytest.mark.parametrize(
    "text",
    [
        "[engine]\nlatency_bucket_s = 1e-10\n",
        "[market]\nflow_half_life_ms = 1e-6\n",
        "[market]\nvol_half_life_s = 1e-9\n",
        "[engine]\nstatus_interval_s = 1e-12\n",
    ],
)
def test_degenerate_timescales_are_refused(tmp_path: Path, text: str) -> None:
    with pytest.raises(SettingsError):
        load_settings({"config": write(tmp_path, text)}, environ={}, dotenv_path=None)


def test_a_byte_order_mark_from_an_editor_is_not_part_of_the_first_key(tmp_path: Path) -> None:
    cfg = tmp_path / "bom.toml"
    cfg.write_bytes("\ufeff[risk]\nmax_position = 500\n".encode())
    dotenv = tmp_path / ".env"
    dotenv.write_bytes("\ufeffLOG_LEVEL=debug\nTRADING_MODE=balanced\n".encode())
    s = load_settings({"config": str(cfg)}, environ={}, dotenv_path=dotenv)
    assert s.risk.max_position == 500 and s.session.log_level == "debug"


def test_venues_load_as_the_domain_venue_type_with_a_rule_per_field() -> None:
    assert list(VENUE_RULES) == [f.name for f in fields(VenueSpec)]
    assert list(LATENCY_RULES) == [f.name for f in fields(LatencySpec)]
    s = make_settings()
    assert all(type(v) is VenueSpec and type(v.latency) is LatencySpec for v in s.venues)


def test_the_shipped_config_is_found_from_the_package() -> None:
    assert (config_dir() / "default.toml").is_file()


# -- venue kinds and renamed keys ------------------------------------------------------------------
LATENCY_TABLE = (
    "[venues.latency]\nmedian_us=50.0\nsigma=0.3\njitter_us=1.0\nspike_prob=0.0\nspike_mult_min=1.0\n"
    "spike_mult_max=2.0\ncongested_mult=2.0\ncongested_spike_prob=0.0\ncalm_to_congested_per_s=0.0\n"
    "congested_to_calm_per_s=0.0\noutage_per_hour=0.0\noutage_mean_s=1.0\noutage_timeout_us=100.0\n"
    "speed_bump_us=0.0\n"
)
LIT: dict[str, str | None] = {
    "name": "'LIT'", "taker_fee": "0.003", "maker_rebate": "0.002", "share": "0.5", "spread_ticks": "1",
    "depth_shares": "100", "depth_levels": "2", "feed_delay_us": "100", "reject_prob": "0.0",
}  # fmt: skip
DARK: dict[str, str | None] = {
    "name": "'POOL'", "kind": "'dark'", "taker_fee": "0.001", "maker_rebate": "-0.001", "share": "0.1",
    "reject_prob": "0.0", "hidden_liquidity_mean_shares": "200.0", "hidden_liquidity_zero_prob": "0.7",
}  # fmt: skip


def venue_toml(*tables: dict[str, str | None]) -> str:
    """``[[venues]]`` tables from key -> TOML value (None drops a key), each with a plain latency table."""
    return "".join(
        "[[venues]]\n" + "".join(f"{k}={v}\n" for k, v in t.items() if v is not None) + LATENCY_TABLE for t in tables
    )


def venue_error(tmp_path: Path, *tables: dict[str, str | None]) -> SettingsError:
    with pytest.raises(SettingsError) as err:
        load_settings({"config": write(tmp_path, venue_toml(*tables))}, environ={}, dotenv_path=None)
    return err.value


def test_a_config_with_staleness_is_told_it_became_the_feed_delay(tmp_path: Path) -> None:
    old = {**LIT, "feed_delay_us": None, "staleness_us": "150"}
    err = venue_error(tmp_path, old)
    assert (err.key, err.value) == ("venues[0].staleness_us", 150)
    assert "feed_delay_us instead (staleness_us was replaced by feed_delay_us)" in str(err)


def test_a_stale_config_exits_2_with_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cfg = write(tmp_path, venue_toml({**LIT, "staleness_us": "150"}))
    assert main(["--no-ui", "--config", cfg, "--run-dir", str(tmp_path / "run")]) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and "venues[0].staleness_us = 150" in lines[0] and "feed_delay_us" in lines[0]
    assert not (tmp_path / "run").exists()


def test_at_least_one_venue_must_quote(tmp_path: Path) -> None:
    err = venue_error(tmp_path, DARK, {**DARK, "name": "'POOL2'"})
    assert err.key == "venues" and err.value == ["POOL", "POOL2"] and "not dark" in err.expected


@pytest.mark.parametrize("mean", ["0.0", None])
def test_a_dark_venue_needs_hidden_liquidity(tmp_path: Path, mean: str | None) -> None:
    err = venue_error(tmp_path, LIT, {**DARK, "hidden_liquidity_mean_shares": mean})
    assert (err.key, err.value) == ("venues[1].hidden_liquidity_mean_shares", 0.0)
    assert err.expected.startswith('> 0 for kind = "dark"')


@pytest.mark.parametrize(("key", "value"), [("taker_fee", "0.0003"), ("maker_rebate", "0.001")])
def test_an_inverted_venue_pays_takers_and_charges_makers(tmp_path: Path, key: str, value: str) -> None:
    inverted = {**LIT, "kind": "'inverted'", "taker_fee": "-0.0005", "maker_rebate": "-0.002", key: value}
    err = venue_error(tmp_path, inverted)
    assert (err.key, err.value) == (f"venues[0].{key}", float(value))
    assert err.expected.startswith('<= 0 for kind = "inverted"')


def test_a_free_inverted_venue_is_allowed(tmp_path: Path) -> None:
    free = {**LIT, "kind": "'inverted'", "taker_fee": "0.0", "maker_rebate": "-0.002"}
    s = load_settings({"config": write(tmp_path, venue_toml(free))}, environ={}, dotenv_path=None)
    assert s.venues[0].kind == "inverted" and s.venues[0].taker_fee == 0.0


@pytest.mark.parametrize(
    ("table", "key"),
    [
        ({**LIT, "hidden_liquidity_mean_shares": "100.0"}, "hidden_liquidity_mean_shares"),
        ({**LIT, "kind": "'speed-bump'", "hidden_liquidity_zero_prob": "0.5"}, "hidden_liquidity_zero_prob"),
        ({**DARK, "midpoint_share": "0.3"}, "midpoint_share"),
    ],
)
def test_a_key_the_venue_kind_ignores_is_refused(tmp_path: Path, table: dict[str, str | None], key: str) -> None:
    """A pool whose ``kind`` was forgotten would otherwise quote as a lit venue, silently."""
    err = venue_error(tmp_path, LIT, {**table, "name": "'OTHER'"})
    assert err.key == f"venues[1].{key}" and err.expected.startswith("0 for kind")


def test_a_dark_venue_may_leave_out_the_keys_it_does_not_use(tmp_path: Path) -> None:
    s = load_settings({"config": write(tmp_path, venue_toml(LIT, DARK))}, environ={}, dotenv_path=None)
    pool = s.venues[1]
    assert (pool.kind, pool.hidden_liquidity_mean_shares, pool.hidden_liquidity_zero_prob) == ("dark", 200.0, 0.7)
    assert pool.feed_delay_us == 0.0
    err = venue_error(tmp_path, {**LIT, "spread_ticks": None})  # a lit venue still needs them
    assert err.key == "venues[0].spread_ticks" and "missing" in err.expected


def test_the_shipped_venues_have_every_kind_and_per_message_latency() -> None:
    s = make_settings()
    kinds = {v.name: v.kind for v in s.venues}
    assert kinds["IEX"] == "speed-bump" and kinds["BX"] == "inverted" and kinds["DARK"] == "dark"
    assert {"lit", "inverted", "speed-bump", "dark"} == set(kinds.values())
    bx, iex, dark = (next(v for v in s.venues if v.name == n) for n in ("BX", "IEX", "DARK"))
    assert bx.taker_fee < 0 and bx.maker_rebate < 0
    assert 0 < iex.midpoint_share < 1 and iex.latency.speed_bump_us > 0
    assert dark.hidden_liquidity_mean_shares > 0 and 0 < dark.hidden_liquidity_zero_prob < 1 and dark.share > 0
    for v in s.venues:  # a cancel about as fast as a new order, a replace a little slower, never faster
        lat = v.latency
        assert lat.median_us <= lat.cancel_median_us <= lat.replace_median_us <= 2 * lat.median_us, v.name
