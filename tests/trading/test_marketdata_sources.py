"""Unusable files and arguments: one-line DataErrors naming the file; format recognition."""

import dataclasses
import gzip
from decimal import Decimal
from pathlib import Path

import pytest

from trading.instruments import InstrumentRegistry
from trading.marketdata import DataError, LoadReport, load_events
from trading.marketdata.sources import iter_lines, sniff

DATA = Path("/work/shared/data")
SPOT_0808 = DATA / "hftbacktest/spot/btcusdt_20240808.gz"
BINANCE_LINE = (
    b'1723161254087896568 {"stream":"btcusdt@trade","data":{"e":"trade","E":1723161255343,"s":"BTCUSDT",'
    b'"t":3735683259,"p":"61837.63000000","q":"0.02000000","T":1723161255342,"m":true,"M":true}}\n'
)
TARDIS_TRADES = (
    b"exchange,symbol,timestamp,local_timestamp,id,side,price,amount\nbitmex,XBTUSD,1,2,a,buy,64600,10\n"
)


def load(paths, symbol="BTCUSDT", **kwargs):
    return load_events(paths, symbol, cache_dir=None, **kwargs)


def expect_data_error(paths, pattern, symbol="BTCUSDT", **kwargs) -> str:
    with pytest.raises(DataError, match=pattern) as caught:
        load(paths, symbol, **kwargs)
    message = str(caught.value)
    assert "\n" not in message
    return message


def test_missing_file(tmp_path):
    message = expect_data_error([tmp_path / "nope.gz"], "no such file")
    assert "nope.gz" in message


def test_directory(tmp_path):
    expect_data_error([tmp_path], "is a directory")


def test_empty_file(tmp_path):
    path = tmp_path / "empty.gz"
    path.write_bytes(b"")
    expect_data_error([path], "empty.gz: empty file")


def test_gzip_of_nothing_and_blank_lines(tmp_path):
    empty_gz = tmp_path / "empty_content.gz"
    empty_gz.write_bytes(gzip.compress(b""))
    expect_data_error([empty_gz], "no content")
    blank = tmp_path / "blank.txt"
    blank.write_bytes(b"\n\n   \n")
    expect_data_error([blank], "no content")


def test_corrupt_gzip(tmp_path):
    path = tmp_path / "corrupt.gz"
    path.write_bytes(b"\x1f\x8b" + b"\x00garbage" * 10)
    expect_data_error([path], "corrupt.gz: unreadable gzip data")


def test_truncated_gzip(tmp_path):
    path = tmp_path / "cut.gz"
    compressed = gzip.compress(BINANCE_LINE * 20_000)
    path.write_bytes(compressed[: len(compressed) // 2])
    expect_data_error([path], "cut.gz: unreadable gzip data")


def test_unrecognised_formats(tmp_path):
    text = tmp_path / "notes.txt"
    text.write_text("hello world\n")
    expect_data_error([text], "unrecognised format")
    json_lines = tmp_path / "other.jsonl"
    json_lines.write_text('{"channel": "trades"}\n')
    expect_data_error([json_lines], "not a BitMEX websocket dump")
    tardis_other = tmp_path / "ticker.csv"
    tardis_other.write_text("exchange,symbol,timestamp,local_timestamp,funding_rate\nx,y,1,2,0.1\n")
    expect_data_error([tardis_other], "unsupported Tardis CSV columns")


@pytest.mark.skipif(not DATA.is_dir(), reason="shared market data not mounted")
def test_real_files_of_unsupported_venues():
    expect_data_error([DATA / "hftbacktest/hyperliquid/btcusd_20250126.gz"], "not Binance market data", "BTC")
    expect_data_error([DATA / "nautilus_trader/binance/btcusdt-depth-snap.csv"], "unrecognised format")


def test_mixed_formats(tmp_path):
    binance = tmp_path / "cap.txt"
    binance.write_bytes(BINANCE_LINE)
    tardis = tmp_path / "trades.csv"
    tardis.write_bytes(TARDIS_TRADES)
    expect_data_error([binance, tardis], r"mixed formats in one load \(cap.txt=binance, trades.csv=tardis\)")


@pytest.mark.parametrize(
    ("paths", "symbol", "kwargs", "pattern"),
    [
        ("capture.gz", "BTCUSDT", {}, "paths must be a list"),
        ([], "BTCUSDT", {}, "no files given"),
        ([None], "BTCUSDT", {}, "not a file path"),
        ([""], "BTCUSDT", {}, "not a file path"),
        (["x"], "", {}, "bad symbol"),
        (["x"], "BTC USDT", {}, "bad symbol"),
        (["x"], "../../etc", {}, "bad symbol"),
        (["x"], 5, {}, "bad symbol"),
        (["x"], "BTCUSDT", {"instrument_index": 16}, "instrument_index"),
        (["x"], "BTCUSDT", {"instrument_index": -1}, "instrument_index"),
        (["x"], "BTCUSDT", {"instrument_index": True}, "instrument_index"),
        (["x"], "BTCUSDT", {"instrument": {"symbol": "BTCUSDT"}}, "must be an InstrumentSpec"),
    ],
)
def test_bad_arguments(paths, symbol, kwargs, pattern):
    with pytest.raises(DataError, match=pattern):
        load(paths, symbol, **kwargs)


def test_instrument_must_match_symbol_and_market(tmp_path):
    capture = tmp_path / "cap.txt"
    capture.write_bytes(BINANCE_LINE)
    registry = InstrumentRegistry()
    with pytest.raises(DataError, match="instrument ETHUSDT given for symbol BTCUSDT"):
        load([capture], instrument=registry.get("ETHUSDT", "spot"))
    with pytest.raises(DataError, match="for market 'usdm' but the data is 'spot'"):
        load([capture], instrument=registry.get("BTCUSDT", "usdm"))
    assert load([capture], instrument=registry.get("BTCUSDT", "spot")).report.trades == 1


def test_custom_registry_is_used(tmp_path):
    capture = tmp_path / "cap.txt"
    capture.write_bytes(BINANCE_LINE)
    coarse = dataclasses.replace(InstrumentRegistry().get("BTCUSDT", "spot"), lot_size=Decimal("0.01"))
    loaded = load([capture], registry=InstrumentRegistry([coarse]))
    assert loaded.instrument is coarse
    assert loaded.report.trades == 1 and int(loaded.events["qty"][0]) == 2  # 0.02 in 0.01 lots
    with pytest.raises(DataError, match="unknown instrument 'BTCUSDT'"):
        load([capture], registry=InstrumentRegistry([]))


def test_sniff_and_line_iteration(tmp_path):
    path = tmp_path / "cap.gz"
    path.write_bytes(gzip.compress(b"1 {}\r\n" + BINANCE_LINE + b"last-without-newline"))
    assert sniff(path).format == "binance"
    assert list(iter_lines(path, chunk_bytes=7)) == [
        b"1 {}",
        BINANCE_LINE.rstrip(b"\n"),
        b"last-without-newline",
    ]
    tardis = tmp_path / "trades.csv"
    tardis.write_bytes(TARDIS_TRADES)
    assert (sniff(tardis).format, sniff(tardis).tardis_kind) == ("tardis", "trades")


@pytest.mark.skipif(not SPOT_0808.is_file(), reason="shared market data not mounted")
def test_report_summary_and_dict_round_trip():
    report = load([SPOT_0808]).report
    summary = report.summary()
    assert summary.splitlines()[0].startswith("BTCUSDT binance/spot: 1 file(s), 41,249 lines")
    assert "0 gap(s)" in summary and "bbo checked" in summary
    assert 3 <= len(summary.splitlines()) <= 8
    assert LoadReport.from_dict(report.to_dict()) == report
