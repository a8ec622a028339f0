"""manage.py backtest end to end on the real Binance capture, and with bad input."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from tests.conftest import MM_BENCH_CONFIG_PATH
from trading.backtest.report import REPORT_KEYS
from trading.models import BacktestRun

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def mm_run(spot_btc_files, cache_dir, tmp_path_factory, django_db_setup, django_db_blocker):
    """One stored run of the headline configuration with every output file."""
    out = tmp_path_factory.mktemp("out")
    paths = {"report": out / "report.json", "equity": out / "equity.csv", "features": out / "features.csv"}
    with django_db_blocker.unblock():
        from io import StringIO

        stdout = StringIO()
        call_command(
            "backtest",
            "--data", *map(str, spot_btc_files),
            "--symbol", "BTCUSDT",
            "--strategy", "mm",
            "--config", str(MM_BENCH_CONFIG_PATH),
            "--report-json", str(paths["report"]),
            "--equity-csv", str(paths["equity"]),
            "--features-csv", str(paths["features"]),
            "--label", "test run",
            stdout=stdout,
        )  # fmt: skip
        run = BacktestRun.objects.order_by("-id").first()
        yield {"stdout": stdout.getvalue(), "run": run, **paths}
        BacktestRun.objects.filter(pk=run.pk).delete()


@pytest.mark.django_db
def test_report_box_json_and_stored_run(mm_run):
    stdout = mm_run["stdout"]
    assert "ATOMIC OPS — BACKTEST REPORT" in stdout
    for label in ("Events", "Orders", "Fills", "Round-trips", "Realized PnL", "Max Drawdown", "Win Rate", "Sharpe",
                  "Sortino", "State hash"):  # fmt: skip
        assert label in stdout
    report = json.loads(mm_run["report"].read_text())
    assert set(REPORT_KEYS) <= set(report)
    assert report["events"] > 350_000 and report["l2_events"] > 290_000
    assert report["orders"] > 100 and report["fills"] > 10, "the market maker must trade on the real data"
    assert report["fills"] <= report["orders"] * 4
    assert 0 < report["fill_ratio"] <= 1
    assert len(report["state_hash"]) == 16
    run = mm_run["run"]
    assert (
        run.label == "test run" and run.strategy == "mm" and run.symbol == "BTCUSDT" and run.market == "spot"
    )
    assert run.state_hash == report["state_hash"]
    assert run.metrics["fills"] == report["fills"]
    assert str(run.realized_pnl.normalize()) == str(
        __import__("decimal").Decimal(report["realized_pnl"]).normalize()
    )
    assert len(run.equity_curve) > 100
    assert f"stored as backtest run #{run.pk}" in stdout


@pytest.mark.django_db
def test_equity_csv_has_one_row_per_fill_with_exact_decimals(mm_run):
    report = json.loads(mm_run["report"].read_text())
    with mm_run["equity"].open() as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == report["fills"]
    assert rows[-1]["position"] == report["final_position"]
    for row in rows[:50]:
        assert row["liquidity"] == "maker", "post-only quotes only make liquidity"
        assert len(row["price"].split(".")[-1]) <= 2 and "e" not in row["price"].lower()
    seqs = [int(r["seq"]) for r in rows]
    assert seqs == sorted(seqs)


@pytest.mark.django_db
def test_features_csv_has_one_row_per_applied_depth_message(mm_run, spot_btc_files, cache_dir):
    from hotpath.types import EV_DEPTH, F_LAST
    from trading.marketdata import load_events

    events = load_events(list(spot_btc_files), "BTCUSDT", cache_dir=cache_dir).events
    messages = int(((events["kind"] == EV_DEPTH) & ((events["flags"] & F_LAST) != 0)).sum())
    with mm_run["features"].open() as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == messages
    assert list(rows[0]) == ["ts_event", "venue_seq", "bid_price", "bid_qty", "ask_price", "ask_qty", "microprice",
                             "imbalance"]  # fmt: skip
    venue_seqs = [int(r["venue_seq"]) for r in rows]
    assert venue_seqs == sorted(venue_seqs), "final update ids increase message by message"
    for row in rows[::500]:
        bid, ask, micro = float(row["bid_price"]), float(row["ask_price"]), float(row["microprice"])
        assert bid < ask and bid <= micro <= ask
        assert -1 <= float(row["imbalance"]) <= 1


def test_same_run_without_db_gives_the_same_hash(mm_run, spot_btc_files, tmp_path):
    report = tmp_path / "again.json"
    call_command(
        "backtest", "--data", *map(str, spot_btc_files), "--symbol", "BTCUSDT", "--strategy", "mm",
        "--config", str(MM_BENCH_CONFIG_PATH), "--report-json", str(report), "--no-db", stdout=io.StringIO(),
    )  # fmt: skip
    assert json.loads(report.read_text())["state_hash"] == mm_run["run"].state_hash


@pytest.mark.parametrize("strategy", ["avellaneda", "taker"])
def test_other_strategies_run_on_real_data(strategy, spot_btc_files, tmp_path):
    report = tmp_path / "r.json"
    call_command(
        "backtest", "--data", *map(str, spot_btc_files), "--symbol", "BTCUSDT", "--strategy", strategy,
        "--report-json", str(report), "--no-db", stdout=io.StringIO(),
    )  # fmt: skip
    data = json.loads(report.read_text())
    assert data["events"] > 350_000
    assert data["orders"] > 0, f"{strategy} never sent an order on two days of data"


def run_cli(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "manage.py", "backtest", *args], cwd=cwd, capture_output=True, text=True, timeout=300
    )


def assert_one_clear_error(result: subprocess.CompletedProcess, fragment: str) -> None:
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    lines = [line for line in result.stderr.strip().splitlines() if line.strip()]
    assert lines, "an error message is expected on stderr"
    assert fragment in lines[-1], lines


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["--symbol", "BTCUSDT"], "--data"),
        (["--data", "/nonexistent/file.gz", "--symbol", "BTCUSDT"], "does not exist"),
        (["--data", "/tmp", "--symbol", "BTCUSDT"], "is not a file"),
        (["--data", "{spot}", "--symbol", "BTCUSDT", "--strategy", "yolo"], "invalid choice"),
        (["--data", "{spot}", "--symbol", "BTCUSDT", "--latency-us", "-5"], "--latency-us"),
        (["--data", "{spot}", "--symbol", "BTCUSDT", "--latency-us", "fast"], "--latency-us"),
        (["--data", "{spot}", "--symbol", "NOPE"], "NOPE"),
        (["--data", "{spot}", "--symbol", "BTCUSDT", "--config", "/nonexistent.json"], "--config"),
        (["--data", "{spot}", "--symbol", "BTCUSDT", "--config", "{badjson}"], "invalid config"),
        (["--data", "{spot}", "--symbol", "BTCUSDT", "--config", "{badkey}"], "half_spread_tickz"),
        (["--data", "{spot}", "--symbol", "BTCUSDT", "--instrument", "{badjson}"], "not valid JSON"),
        (["--data", "{garbage}", "--symbol", "BTCUSDT"], "garbage"),
        (["--data", "{empty}", "--symbol", "BTCUSDT"], "empty"),
        (
            ["--data", "{spot}", "--symbol", "BTCUSDT", "--report-json", "/nonexistent/dir/r.json"],
            "does not exist",
        ),
        (["--data", "{spot}", "--symbol", "BTCUSDT", "--equity-csv", "/tmp"], "is a directory"),
    ],
)
def test_bad_arguments_and_files_give_one_clear_line(args, fragment, tmp_path, spot_btc_files):
    (tmp_path / "bad.json").write_text("{not json")
    (tmp_path / "badkey.json").write_text('{"strategy": {"half_spread_tickz": 3}}')
    (tmp_path / "garbage.gz").write_bytes(b"\x1f\x8b\x08\x00garbage")
    (tmp_path / "empty.txt").write_text("")
    subs = {
        "{spot}": str(spot_btc_files[0]),
        "{badjson}": str(tmp_path / "bad.json"),
        "{badkey}": str(tmp_path / "badkey.json"),
        "{garbage}": str(tmp_path / "garbage.gz"),
        "{empty}": str(tmp_path / "empty.txt"),
    }
    argv = [subs.get(a, a) for a in args]
    if "--strategy" not in argv and "{badkey}" in args:
        argv += ["--strategy", "mm"]
    assert_one_clear_error(run_cli(*argv, "--no-db"), fragment)


def test_call_command_raises_command_error_for_bad_config(spot_btc_files, tmp_path):
    config = tmp_path / "c.json"
    config.write_text('{"risk": {"max_open_orders": -1}}')
    with pytest.raises(CommandError, match="max_open_orders"):
        call_command("backtest", "--data", str(spot_btc_files[0]), "--symbol", "BTCUSDT", "--config", str(config),
                     "--no-db")  # fmt: skip


BITMEX_DUMP = "market_maker/bitmex_ws_orderBookL2_25_XBTUSD_2025-10-16.jsonl"


def test_inverse_contract_backtest_settles_in_base_currency(data_dir, tmp_path):
    report = tmp_path / "xbt.json"
    call_command(
        "backtest", "--data", str(data_dir / BITMEX_DUMP), "--symbol", "XBTUSD", "--strategy", "mm",
        "--report-json", str(report), "--no-db", stdout=io.StringIO(),
    )  # fmt: skip
    data = json.loads(report.read_text())
    assert data["settle_currency"] == "XBT" and data["market"] == "bitmex"
    assert data["fills"] >= 1
    # inverse contracts: volume is contracts x 1 USD, whatever the price
    assert data["volume"] == f"{data['fills'] * 100}.000000000"
    assert data["fees"].startswith("0.0000") and data["fees"] != "0.000000000"


def test_instrument_file_overrides_the_shipped_spec(data_dir, tmp_path):
    spec = {
        "symbol": "XBTUSD", "venue": "bitmex", "market": "bitmex", "base": "XBT", "quote": "USD", "settle": "XBT",
        "tick_size": "0.1", "lot_size": "1", "contract_type": "inverse", "multiplier": "1",
        "maker_fee_ppm": -250, "taker_fee_ppm": 750,
    }  # fmt: skip
    (tmp_path / "xbt.json").write_text(json.dumps(spec))
    report = tmp_path / "r.json"
    call_command(
        "backtest", "--data", str(data_dir / BITMEX_DUMP), "--symbol", "XBTUSD", "--strategy", "mm",
        "--instrument", str(tmp_path / "xbt.json"), "--report-json", str(report), "--no-db", stdout=io.StringIO(),
    )  # fmt: skip
    data = json.loads(report.read_text())
    assert data["fills"] >= 1
    assert data["fees"].startswith("-"), "a maker rebate from the instrument file"
