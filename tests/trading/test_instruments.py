"""InstrumentSpec exact conversions, hot-path fractions, registry lookup and instrument-file validation."""

import dataclasses
import json
from decimal import Decimal
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from trading.instruments import (
    BadValue,
    InstrumentError,
    InstrumentRegistry,
    InstrumentSpec,
    parse_instrument_document,
)


def spec(**overrides) -> InstrumentSpec:
    fields = {
        "symbol": "BTCUSDT",
        "venue": "binance",
        "market": "spot",
        "base": "BTC",
        "quote": "USDT",
        "settle": "USDT",
        "tick_size": Decimal("0.01"),
        "lot_size": Decimal("0.00001"),
        "contract_type": "linear",
        "multiplier": Decimal("1"),
        "maker_fee_ppm": 1000,
        "taker_fee_ppm": 1000,
    }
    fields.update(overrides)
    return InstrumentSpec(**fields)


@pytest.fixture(scope="module")
def registry() -> InstrumentRegistry:
    return InstrumentRegistry()


# -- conversions --


@pytest.mark.parametrize(
    ("text", "ticks"),
    [
        ("61837.63000000", 6183763),  # Binance form: 8 decimals, trailing zeros
        ("0.00000000", 0),
        ("0.01", 1),  # one tick
        ("64600", 6460000),  # Tardis integer form
        ("64600.1", 6460010),
        ("3201030", 320103000),
        ("1e5", 10_000_000),  # exponent forms are exact and accepted (BitMEX float reprs)
        ("1.5E-1", 15),
        ("1000000000000000000000000000000e-27", 100_000),  # 31 digits, exactly 1000
        ("000123.40", 12340),
        ("46116860184273879.03", 2**62 - 1),  # just below the 2**62 tick limit
        ("46116860184273879.04", 2**62),  # exactly at the limit
    ],
)
def test_price_to_ticks_exact(text, ticks):
    assert spec().price_to_ticks(text) == ticks


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("nan", "nan"),
        ("NaN", "nan"),
        ("-nan", "nan"),
        ("sNaN", "nan"),
        ("inf", "inf"),
        ("-Infinity", "inf"),
        ("-0.01", "negative"),
        ("-0", "negative"),  # a sign is never part of a venue price
        ("61837.635", "off_tick"),  # off-tick by one digit
        ("0.001", "off_tick"),
        ("61837.63000001", "off_tick"),
        ("1e-3", "off_tick"),
        ("100000000000000000000000000001e-29", "off_tick"),  # 30 digits: Decimal math would round it
        ("1e-99", "off_tick"),
        ("46116860184273879.05", "too_large"),  # one tick above 2**62
        ("1" * 30, "too_large"),
        ("1e41", "too_large"),
        ("9" * 65, "too_large"),  # refused on length before any arithmetic
        ("", "unparsable"),
        (" 1", "unparsable"),
        ("1 ", "unparsable"),
        ("0x10", "unparsable"),
        ("1_000", "unparsable"),  # Decimal() would accept this
        ("+5", "unparsable"),
        (".5", "unparsable"),
        ("5.", "unparsable"),
        ("1.2.3", "unparsable"),
        ("١٢٣", "unparsable"),  # Arabic-Indic digits: str.isdigit() is True
        ("１２", "unparsable"),  # full-width digits
        ("²", "unparsable"),
        ("12\x00", "unparsable"),
    ],
)
def test_price_to_ticks_refuses(text, reason):
    with pytest.raises(BadValue) as caught:
        spec().price_to_ticks(text)
    assert caught.value.reason == reason
    assert isinstance(caught.value, ValueError)
    assert reason in str(caught.value)


@pytest.mark.parametrize("value", [None, 1, 1.5, b"1", ["1"], Decimal("1")])
def test_conversion_needs_a_string(value):
    with pytest.raises(BadValue) as caught:
        spec().price_to_ticks(value)
    assert caught.value.reason == "unparsable"


def test_qty_to_lots_exact_and_off_lot():
    s = spec()
    assert s.qty_to_lots("3.78826000") == 378826
    assert s.qty_to_lots("0.00001") == 1
    assert s.qty_to_lots("0.00000000") == 0
    with pytest.raises(BadValue) as caught:
        s.qty_to_lots("25.42618900")  # six decimals against a 0.00001 lot
    assert caught.value.reason == "off_tick"


def test_non_decimal_steps():
    half = spec(symbol="BTC-PERPETUAL", tick_size=Decimal("0.5"), lot_size=Decimal("10"))
    assert half.price_to_ticks("6421.5") == 12843
    assert half.price_to_ticks("6422") == 12844
    with pytest.raises(BadValue, match="off_tick"):
        half.price_to_ticks("6421.2")
    assert half.qty_to_lots("18640") == 1864
    with pytest.raises(BadValue, match="off_tick"):
        half.qty_to_lots("18645")
    nickel = spec(tick_size=Decimal("0.05"))
    assert nickel.price_to_ticks("2500.05") == 50001
    with pytest.raises(BadValue, match="off_tick"):
        nickel.price_to_ticks("2500.01")
    tens = spec(tick_size=Decimal("1E+1"))
    assert tens.price_to_ticks("120") == 12
    with pytest.raises(BadValue, match="off_tick"):
        tens.price_to_ticks("125")


def test_ticks_and_lots_back_to_exact_strings():
    s = spec()
    assert s.ticks_to_price(6183763) == "61837.63"
    assert s.ticks_to_price(1) == "0.01"
    assert s.ticks_to_price(0) == "0.00"
    assert s.ticks_to_price(-5) == "-0.05"
    assert s.lots_to_qty(378826) == "3.78826"
    assert s.lots_to_qty(2**62) == "46116860184273.87904"
    half = spec(tick_size=Decimal("0.5"))
    assert half.ticks_to_price(12843) == "6421.5"
    assert spec(tick_size=Decimal("10")).ticks_to_price(7) == "70"
    for ticks in (0, 1, 99, 6183763, 2**62):
        assert s.price_to_ticks(s.ticks_to_price(ticks)) == ticks
    with pytest.raises(TypeError):
        s.ticks_to_price(1.0)
    with pytest.raises(TypeError):
        s.lots_to_qty("1")


# -- hot-path economics --


def test_hotpath_fields_hand_checked_btcusdt_spot_with_order_lot():
    # 0.01 USDT tick * 0.00001 BTC lot * 1e9 nano = 100 nano-USDT per tick*lot
    fields = spec().hotpath_fields()
    assert fields == {
        "contract_type": 0,
        "value_num": 100,
        "value_den": 1,
        "inv_num": 0,
        "inv_den": 1,
        "maker_fee_ppm": 1000,
        "taker_fee_ppm": 1000,
        "book_window_log2": 22,
    }


# Every shipped instrument, hand-checked: (value_num, value_den, inv_num, inv_den, contract_type).
SHIPPED_FIELDS = {
    ("BTCUSDT", "spot"): (10, 1, 0, 1, 0),  # 0.01 * 0.000001 * 1e9
    ("ETHUSDT", "spot"): (100, 1, 0, 1, 0),  # 0.01 * 0.00001 * 1e9
    ("BTCUSDT", "usdm"): (100_000, 1, 0, 1, 0),  # 0.1 * 0.001 * 1e9
    ("ETHUSDT", "usdm"): (10_000, 1, 0, 1, 0),  # 0.01 * 0.001 * 1e9
    ("BTCUSD_PERP", "coinm"): (100_000_000_000, 1, 1_000_000_000_000, 1, 1),  # 100 USD; 100e9 / 0.1
    ("ETHUSD_PERP", "coinm"): (10_000_000_000, 1, 1_000_000_000_000, 1, 1),  # 10 USD; 10e9 / 0.01
    ("XBTUSD", "bitmex"): (1_000_000_000, 1, 10_000_000_000, 1, 1),  # 1 USD; 1e9 / 0.1
    ("ETHUSD", "bitmex"): (50, 1, 0, 1, 0),  # quanto: 0.05 * 1 * 0.000001 XBT * 1e9
}


def test_registry_ships_exactly_the_listed_instruments(registry):
    assert {(s.symbol, s.market) for s in registry.all()} == set(SHIPPED_FIELDS)
    assert len(registry) == 8


@pytest.mark.parametrize("key", sorted(SHIPPED_FIELDS))
def test_hotpath_fields_of_every_shipped_instrument(registry, key):
    s = registry.get(*key)
    f = s.hotpath_fields()
    assert (f["value_num"], f["value_den"], f["inv_num"], f["inv_den"], f["contract_type"]) == SHIPPED_FIELDS[
        key
    ]
    # the fractions are reduced and match the decimal definition exactly
    value = Fraction(s.lot_size) * Fraction(s.multiplier) * 10**9
    if s.contract_type == "linear":
        assert Fraction(f["value_num"], f["value_den"]) == value * Fraction(s.tick_size)
    else:
        assert Fraction(f["value_num"], f["value_den"]) == value
        assert Fraction(f["inv_num"], f["inv_den"]) == value / Fraction(s.tick_size)
    assert Fraction(f["value_num"], f["value_den"]).denominator == f["value_den"]


def test_inverse_value_formula_on_a_real_price(registry):
    # XBTUSD: 100 contracts at 64600.0 are worth 100/64600 XBT
    xbt = registry.get("XBTUSD")
    f = xbt.hotpath_fields()
    price = xbt.price_to_ticks("64600.0")
    qty = xbt.qty_to_lots("100")
    nano_base = Fraction(qty * f["inv_num"], f["inv_den"] * price)
    assert nano_base == Fraction(100, 64600) * 10**9


def test_hotpath_fields_reduce_non_decimal_fractions():
    f = spec(tick_size=Decimal("0.3"), lot_size=Decimal("0.7"), contract_type="inverse").hotpath_fields()
    assert (f["value_num"], f["value_den"]) == (700_000_000, 1)
    assert (f["inv_num"], f["inv_den"]) == (7_000_000_000, 3)  # 0.7e9 / 0.3, not rounded


def test_overflowing_economics_are_refused():
    with pytest.raises(InstrumentError, match="int64"):
        spec(lot_size=Decimal("1E+15"), multiplier=Decimal("1E+15"), contract_type="inverse")


def test_shipped_defaults_are_realistic(registry):
    assert (registry.get("BTCUSDT", "spot").maker_fee_ppm, registry.get("BTCUSDT", "spot").taker_fee_ppm) == (
        1000,
        1000,
    )
    assert (registry.get("BTCUSDT", "usdm").maker_fee_ppm, registry.get("BTCUSDT", "usdm").taker_fee_ppm) == (
        200,
        500,
    )
    assert (registry.get("XBTUSD").maker_fee_ppm, registry.get("XBTUSD").taker_fee_ppm) == (200, 750)
    eth_quanto = registry.get("ETHUSD")
    assert (eth_quanto.settle, eth_quanto.contract_type, eth_quanto.multiplier) == (
        "XBT",
        "linear",
        Decimal("0.000001"),
    )
    assert all(s.book_window_log2 == 22 for s in registry.all())


# -- spec validation --


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"tick_size": Decimal("0")}, "tick_size"),
        ({"tick_size": Decimal("-0.01")}, "tick_size"),
        ({"tick_size": Decimal("NaN")}, "tick_size"),
        ({"lot_size": Decimal("Infinity")}, "lot_size"),
        ({"lot_size": "0.001"}, "lot_size must be a Decimal"),
        ({"lot_size": Decimal("1E-19")}, "lot_size"),
        ({"multiplier": Decimal("0")}, "multiplier"),
        ({"book_window_log2": 11}, "book_window_log2"),
        ({"book_window_log2": 27}, "book_window_log2"),
        ({"book_window_log2": True}, "book_window_log2"),
        ({"maker_fee_ppm": 100_001}, "maker_fee_ppm"),
        ({"taker_fee_ppm": -100_001}, "taker_fee_ppm"),
        ({"taker_fee_ppm": 5.0}, "taker_fee_ppm"),
        ({"contract_type": "quanto"}, "contract_type"),
        ({"symbol": ""}, "symbol"),
        ({"symbol": "BTC USDT"}, "symbol"),
        ({"symbol": "../etc/passwd"}, "symbol"),
        ({"symbol": "X" * 41}, "symbol"),
        ({"symbol": "BTCUSDT\n"}, "symbol"),
        ({"venue": "Binance"}, "venue"),
        ({"market": ""}, "market"),
        ({"base": "B-T"}, "base"),
        ({"settle": ""}, "settle"),
    ],
)
def test_spec_validation(overrides, message):
    with pytest.raises(InstrumentError, match=message):
        spec(**overrides)


def test_boundaries_accepted():
    assert spec(book_window_log2=12).book_window_log2 == 12
    assert spec(book_window_log2=26).book_window_log2 == 26
    assert spec(maker_fee_ppm=-100_000).maker_fee_ppm == -100_000  # rebate
    assert spec(symbol="BTC-PERPETUAL").symbol == "BTC-PERPETUAL"


def test_spec_is_frozen_and_comparable():
    s = spec()
    with pytest.raises(dataclasses.FrozenInstanceError):
        s.tick_size = Decimal("1")  # type: ignore[misc]
    assert s == spec()
    assert hash(s) == hash(spec())
    assert s != spec(maker_fee_ppm=0)


# -- JSON --


def test_json_round_trip_for_every_shipped_instrument(registry):
    for s in registry.all():
        data = json.loads(json.dumps(s.to_json()))
        assert InstrumentSpec.from_json(data) == s
        assert data["tick_size"] == str(s.tick_size)


def valid_json(**overrides) -> dict:
    data = spec().to_json()
    data.update(overrides)
    return data


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({k: v for k, v in valid_json().items() if k != "tick_size"}, "missing keys \\['tick_size'\\]"),
        (valid_json(extra=1), "unknown keys \\['extra'\\]"),
        (valid_json(tick_size=0.01), "JSON floats are inexact"),
        (valid_json(tick_size="-0.01"), "not a plain positive decimal"),
        (valid_json(tick_size="NaN"), "not a plain positive decimal"),
        (valid_json(tick_size="0"), "tick_size must be a finite positive"),
        (valid_json(tick_size="1e999999"), "exponent out of range"),
        (valid_json(tick_size=["0.01"]), "tick_size must be a decimal string"),
        (valid_json(lot_size=True), "lot_size must be a decimal string"),
        (valid_json(maker_fee_ppm="1000"), "maker_fee_ppm must be an integer"),
        (valid_json(maker_fee_ppm=10**30), "outside"),
        (valid_json(book_window_log2=22.0), "book_window_log2 must be an integer"),
        (valid_json(symbol=5), "symbol must be a string"),
        (valid_json(contract_type=None), "contract_type must be a string"),
        ([], "expected InstrumentSpec|must be a JSON object"),
    ],
)
def test_from_json_refuses(data, message):
    with pytest.raises(InstrumentError, match=message):
        InstrumentSpec.from_json(data)


def test_from_json_accepts_integer_decimals_and_default_window():
    data = valid_json(lot_size=1)
    del data["book_window_log2"]
    s = InstrumentSpec.from_json(data)
    assert s.lot_size == Decimal(1)
    assert s.book_window_log2 == 22


# -- registry --


def test_get_is_case_insensitive_and_ambiguity_lists_markets(registry):
    assert registry.get("btcusdt", "spot").tick_size == Decimal("0.01")
    assert registry.get("BTCUSDT", "usdm").tick_size == Decimal("0.1")
    assert registry.get("xbtusd").market == "bitmex"
    with pytest.raises(InstrumentError, match=r"ambiguous.*\['spot', 'usdm'\]"):
        registry.get("BTCUSDT")
    with pytest.raises(
        InstrumentError, match=r"unknown instrument 'BTCUSDT' in market 'coinm'.*\['spot', 'usdm'\]"
    ):
        registry.get("BTCUSDT", "coinm")
    with pytest.raises(InstrumentError, match="unknown instrument 'DOGEUSDT'"):
        registry.get("DOGEUSDT")


def test_load_file_single_object_overrides_shipped_fees(tmp_path):
    reg = InstrumentRegistry()
    data = reg.get("BTCUSDT", "usdm").to_json()
    data.update(maker_fee_ppm=-50, taker_fee_ppm=300)
    path = tmp_path / "account.json"
    path.write_text(json.dumps(data))
    loaded = reg.load_file(path)
    assert [s.maker_fee_ppm for s in loaded] == [-50]
    assert reg.get("BTCUSDT", "usdm").taker_fee_ppm == 300
    assert reg.get("BTCUSDT", "spot").taker_fee_ppm == 1000  # others untouched
    assert len(reg) == 8


def test_load_file_list_and_document_forms(tmp_path):
    reg = InstrumentRegistry([])
    assert len(reg) == 0
    deribit = valid_json(
        symbol="BTC-PERPETUAL", venue="deribit", market="deribit", tick_size="0.5", lot_size="10"
    )
    (tmp_path / "list.json").write_text(json.dumps([deribit]))
    (tmp_path / "doc.json").write_text(json.dumps({"comment": "x", "instruments": [valid_json()]}))
    reg.load_file(tmp_path / "list.json")
    reg.load_file(str(tmp_path / "doc.json"))
    assert reg.get("BTC-PERPETUAL").tick_size == Decimal("0.5")
    assert reg.get("BTCUSDT").market == "spot"


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "not valid JSON"),
        (b"{", "not valid JSON"),
        (b'{"symbol": NaN}', "not valid JSON"),
        (b"[1e999]", "not valid JSON|expected"),
        (b"\xff\xfe{}", "not valid JSON"),
        (b"[" * 5000 + b"]" * 5000, "not valid JSON"),  # nesting bomb
        (b"42", "expected an instrument object or a list"),
        (b'"BTCUSDT"', "expected an instrument object or a list"),
        (b"[]", "no instruments"),
        (b"[42]", "instrument #0: an instrument must be a JSON object"),
        (b'{"instruments": [], "x": 1}', "unknown top-level keys"),
    ],
)
def test_load_file_refuses_malformed_and_hostile_json(tmp_path, content, message):
    path = tmp_path / "bad.json"
    path.write_bytes(content)
    reg = InstrumentRegistry()
    with pytest.raises(InstrumentError, match=message):
        reg.load_file(path)
    assert len(reg) == 8  # nothing half-loaded


def test_load_file_refuses_duplicates_negative_ticks_and_huge_files(tmp_path):
    reg = InstrumentRegistry()
    dup = tmp_path / "dup.json"
    dup.write_text(json.dumps([valid_json(), valid_json(symbol="btcusdt")]))
    with pytest.raises(InstrumentError, match="defined twice"):
        reg.load_file(dup)
    negative = tmp_path / "neg.json"
    negative.write_text(json.dumps([valid_json(maker_fee_ppm=1), valid_json(symbol="X", tick_size="-1")]))
    with pytest.raises(InstrumentError, match="instrument #1"):
        reg.load_file(negative)
    assert reg.get("BTCUSDT", "spot").maker_fee_ppm == 1000  # first item was not applied either
    huge = tmp_path / "huge.json"
    huge.write_bytes(b" " * (2 << 20) + b"[]")
    with pytest.raises(InstrumentError, match="larger than"):
        reg.load_file(huge)
    with pytest.raises(InstrumentError, match="cannot read"):
        reg.load_file(tmp_path / "missing.json")
    with pytest.raises(InstrumentError, match="cannot read"):
        reg.load_file(tmp_path)


def test_load_file_refuses_integers_beyond_64_bits(tmp_path):
    # orjson turns out-of-range integer literals into floats: they must still be refused, not rounded
    text = json.dumps(valid_json(maker_fee_ppm=0)).replace(
        '"maker_fee_ppm": 0', '"maker_fee_ppm": 1' + "0" * 30
    )
    path = tmp_path / "big.json"
    path.write_text(text)
    with pytest.raises(InstrumentError, match="maker_fee_ppm must be an integer, got float"):
        InstrumentRegistry().load_file(path)
    text = json.dumps(valid_json()).replace(
        '"lot_size": "0.00001"', '"lot_size": 123456789012345678901234567890'
    )
    path.write_text(text)
    with pytest.raises(InstrumentError, match="lot_size must be a decimal string, got float"):
        InstrumentRegistry().load_file(path)


def test_parse_document_names_the_source():
    with pytest.raises(
        InstrumentError, match="^acct.json: instrument #0: instrument 'BTCUSDT': missing keys"
    ):
        parse_instrument_document([{"symbol": "BTCUSDT"}], "acct.json")


# -- properties against a Decimal reference --

STEPS = [Decimal("0.01"), Decimal("0.000001"), Decimal("0.5"), Decimal("0.05"), Decimal("1"), Decimal("10")]


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(STEPS), st.integers(min_value=0, max_value=2**62))
def test_round_trip_property(step, ticks):
    s = spec(tick_size=step, lot_size=step)
    assert s.price_to_ticks(s.ticks_to_price(ticks)) == ticks
    assert Decimal(s.lots_to_qty(ticks)) == ticks * step


@settings(max_examples=500, deadline=None)
@given(
    st.sampled_from(STEPS),
    st.integers(min_value=0, max_value=10**20),
    st.integers(min_value=0, max_value=10),
    st.integers(min_value=0, max_value=8),
)
def test_parse_matches_a_decimal_reference(step, units, scale, trailing_zeros):
    text = str(units).rjust(scale + 1, "0")
    if scale:
        text = text[:-scale] + "." + text[-scale:]
    text += "0" * trailing_zeros if "." in text else ""
    value = Decimal(text)
    s = spec(tick_size=step)
    expected_ticks, remainder = divmod(value, step)
    if remainder:
        with pytest.raises(BadValue, match="off_tick"):
            s.price_to_ticks(text)
    elif expected_ticks > 2**62:
        with pytest.raises(BadValue, match="too_large"):
            s.price_to_ticks(text)
    else:
        assert s.price_to_ticks(text) == int(expected_ticks)
