"""The compiled decoder (binance_decode.pyx) against its plain-Python reference (reference.py) and
the instrument spec: same integers or the same refusal reason, for any input (Hypothesis), at
the exactness boundaries, and on the real Binance capture."""

from __future__ import annotations

import gzip
from decimal import Decimal
from itertools import islice

import orjson
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from trading.engine.feeds import reference
from trading.engine.feeds.binance_decode import EventWriter, InstrumentCodec
from trading.instruments import MAX_UNITS, BadValue, InstrumentSpec
from trading.marketdata.reject import Reject

TS = 1_723_161_300_000_000_000
STEPS = ["1", "0.01", "0.1", "0.5", "0.25", "5", "1000", "0.000001", "0.00001", "0.00000001", "0.05", "2.5"]


def make_spec(tick: str, lot: str, symbol: str = "TESTUSDT") -> InstrumentSpec:
    return InstrumentSpec(
        symbol=symbol, venue="binance", market="spot", base="TEST", quote="USDT", settle="USDT",
        tick_size=Decimal(tick), lot_size=Decimal(lot), contract_type="linear", multiplier=Decimal(1),
        maker_fee_ppm=0, taker_fee_ppm=0,
    )  # fmt: skip


def outcome(convert, text):
    try:
        return convert(text)
    except BadValue as exc:
        return ("refused", exc.reason)


plain_decimals = st.from_regex(r"[0-9]{1,22}(\.[0-9]{1,22})?", fullmatch=True)
hostile_text = st.text(alphabet="0123456789.-+eEnaNIfity _", max_size=30)
values = st.one_of(
    plain_decimals,
    plain_decimals,
    hostile_text,
    st.text(max_size=70),
    st.sampled_from(
        ["NaN", "-nan", "Infinity", "inf", "-0", "1e5", "1E-2", "1e999999999", "0.", ".5", "", "٣"]
    ),
    st.integers(),
    st.floats(allow_nan=True),
    st.none(),
)

BOUNDARY_TEXTS = [
    str(MAX_UNITS),
    str(MAX_UNITS + 1),
    "9999999999999999999",  # 19 digits: the last length converted in 64 bits
    "18446744073709551615",  # 2**64 - 1
    "18446744073709551616",
    "46116860184273879.04",  # 2**62 hundredths
    "46116860184273879.05",
    "0.0000000000000000000000001",
    "1.10000000000000000000000000",
    "1" + "0" * 63,  # 64 characters: still read
    "1" + "0" * 64,  # 65: too large before any arithmetic
    "0" * 40 + "1.5",
    "00.01",
    "1.00000001",
]


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(step=st.sampled_from(STEPS), text=values)
@example(step="1", text=str(MAX_UNITS))
@example(step="0.01", text="46116860184273879.05")
def test_compiled_conversion_equals_the_spec_for_any_text(step, text):
    spec = make_spec(step, step)
    codec = InstrumentCodec(0, spec, False)
    assert outcome(codec.price_to_ticks, text) == outcome(spec.price_to_ticks, text)
    assert outcome(codec.qty_to_lots, text) == outcome(spec.qty_to_lots, text)


@pytest.mark.parametrize("step", STEPS)
@pytest.mark.parametrize("text", BOUNDARY_TEXTS)
def test_compiled_conversion_is_exact_at_the_boundaries(step, text):
    spec = make_spec(step, step)
    codec = InstrumentCodec(0, spec, False)
    assert outcome(codec.price_to_ticks, text) == outcome(spec.price_to_ticks, text)


def test_known_values():
    codec = InstrumentCodec(0, make_spec("0.01", "0.000001"), False)
    assert codec.price_to_ticks("61837.63000000") == 6_183_763
    assert codec.qty_to_lots("1.54698000") == 1_546_980
    assert codec.price_to_ticks("46116860184273879.04") == MAX_UNITS
    with pytest.raises(BadValue, match="too_large"):
        codec.price_to_ticks("46116860184273879.05")
    with pytest.raises(BadValue, match="off_tick"):
        codec.price_to_ticks("61837.635")


# -- whole messages --

prices = st.one_of(st.integers(0, 10**7).map(lambda n: f"{n / 100:.2f}"), values)
qtys = st.one_of(st.integers(0, 10**8).map(lambda n: f"{n / 10**6:.6f}"), values)
levels = st.lists(st.one_of(st.tuples(prices, qtys).map(list), st.tuples(prices, qtys), values), max_size=6)
ids = st.one_of(st.integers(-2, 2**64), st.sampled_from([None, "7", 1.0, True]))
times = st.one_of(st.integers(1_600_000_000_000, 1_900_000_000_000), ids)
symbols = st.sampled_from(["TESTUSDT", "TESTUSDT", "testusdt", "ETHUSDT", None, 5])


def _maybe(draw, data: dict, key: str, strategy):
    if draw(st.integers(0, 9)):  # mostly present
        data[key] = draw(strategy)


@st.composite
def depth_payloads(draw, futures: bool):
    first = draw(st.integers(1, 10**12))
    data: dict = {"e": draw(st.sampled_from(["depthUpdate", "depthUpdate", "depth"]))}
    _maybe(draw, data, "E", times)
    _maybe(draw, data, "s", symbols)
    data["U"] = draw(st.one_of(st.just(first), ids))
    data["u"] = draw(st.one_of(st.just(first + draw(st.integers(0, 50))), ids))
    if futures or not draw(st.integers(0, 20)):
        data["pu"] = draw(st.one_of(st.just(first - 1), ids))
    _maybe(draw, data, "b", st.one_of(levels, values))
    _maybe(draw, data, "a", st.one_of(levels, values))
    return data


def compiled(method: str, codec: InstrumentCodec, data):
    writer = EventWriter(16)
    writer.add(1, 0, 1, 1)  # records already in the buffer must survive a refused message
    try:
        getattr(writer, method)(codec, data, TS)
    except Reject as exc:
        assert len(writer) == 1, "a refused message leaves nothing behind"
        return ("refused", exc.args[0])
    return [tuple(r) for r in writer.view()[1:].tolist()]


def python(function, spec, futures, data):
    try:
        return function(spec, 3, futures, data, TS)
    except Reject as exc:
        return ("refused", exc.args[0])


SPEC = make_spec("0.01", "0.000001")


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(futures=st.booleans(), data=st.data())
def test_depth_diffs_decode_like_the_reference(futures, data):
    payload = data.draw(depth_payloads(futures))
    codec = InstrumentCodec(3, SPEC, futures)
    assert compiled("depth", codec, payload) == python(reference.depth, SPEC, futures, payload)


@st.composite
def snapshot_payloads(draw):
    result: dict = {}
    _maybe(draw, result, "lastUpdateId", st.one_of(st.integers(1, 10**12), ids))
    _maybe(draw, result, "E", times)
    _maybe(draw, result, "bids", st.one_of(levels, values))
    _maybe(draw, result, "asks", st.one_of(levels, values))
    return result


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(futures=st.booleans(), payload=snapshot_payloads())
def test_snapshots_decode_like_the_reference(futures, payload):
    codec = InstrumentCodec(3, SPEC, futures)
    got = compiled("snapshot", codec, payload)
    assert got == python(reference.snapshot, SPEC, futures, payload)


@st.composite
def trade_payloads(draw):
    data: dict = {"e": draw(st.sampled_from(["trade", "trade", "aggTrade"]))}
    _maybe(draw, data, "s", symbols)
    _maybe(draw, data, "t", st.one_of(st.integers(0, 10**12), ids))
    _maybe(draw, data, "T", times)
    _maybe(draw, data, "p", prices)
    _maybe(draw, data, "q", qtys)
    _maybe(draw, data, "m", st.one_of(st.booleans(), ids))
    if not draw(st.integers(0, 3)):
        data["X"] = draw(st.sampled_from(["MARKET", "INSURANCE_FUND", "ADL"]))
    return data


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(futures=st.booleans(), payload=trade_payloads())
def test_trades_decode_like_the_reference(futures, payload):
    codec = InstrumentCodec(3, SPEC, futures)
    got = compiled("trade", codec, payload)
    assert got == python(reference.trade, SPEC, futures, payload)


@st.composite
def bbo_payloads(draw):
    data: dict = {}
    _maybe(draw, data, "s", symbols)
    _maybe(draw, data, "u", st.one_of(st.integers(1, 10**12), ids))
    _maybe(draw, data, "E", times)
    for key, strategy in (("b", prices), ("B", qtys), ("a", prices), ("A", qtys)):
        _maybe(draw, data, key, strategy)
    return data


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(futures=st.booleans(), payload=bbo_payloads())
def test_book_tickers_decode_like_the_reference(futures, payload):
    codec = InstrumentCodec(3, SPEC, futures)
    assert compiled("bbo", codec, payload) == python(reference.bbo, SPEC, futures, payload)


def test_the_real_capture_decodes_identically(spot_btc_files, registry):
    spec = registry.get("BTCUSDT", "spot")
    codec = InstrumentCodec(3, spec, False)
    counts = {"depth": 0, "trade": 0, "bbo": 0}
    methods = {"depth@100ms": ("depth", reference.depth), "trade": ("trade", reference.trade),
               "bookTicker": ("bbo", reference.bbo)}  # fmt: skip
    with gzip.open(spot_btc_files[0], "rb") as lines:
        for line in islice(lines, 30_000):
            message = orjson.loads(line[line.index(b" ") + 1 :])
            if "stream" not in message:
                continue
            method, function = methods[message["stream"].partition("@")[2]]
            got = compiled(method, codec, message["data"])
            assert got == python(function, spec, False, message["data"]), line[:200]
            assert isinstance(got, list) and got, "real data is never refused"
            counts[method] += 1
    assert min(counts.values()) > 1000, counts
