"""Instrument specifications: the one place where venue decimal strings become integer ticks and lots.

Everything downstream (loaders, hot path, backtester) works in int64 ticks and lots. The conversion
here is exact or it refuses: a value that is not a whole number of ticks/lots, not finite, negative,
or too large raises `BadValue` with a short reason code that loaders count per category.

Never imports Django: the node runtime and the backtester use this module directly.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from fractions import Fraction
from pathlib import Path
from typing import Any

import orjson

# Largest tick/lot count we accept: leaves headroom below int64 for sums and doubled prices.
MAX_UNITS = 2**62
# A numeric string longer than this is refused before any arithmetic (hostile input guard).
MAX_NUMBER_CHARS = 64
# Exponents beyond this are refused before Decimal arithmetic (e.g. "1e999999999").
MAX_EXPONENT = 40
# Int64 bound for the hot-path struct fields.
INT64_MAX = 2**63 - 1
# Fee limit: ±10 % of value. Anything beyond is a typo, not a fee schedule.
MAX_FEE_PPM = 100_000
BOOK_WINDOW_LOG2_RANGE = (12, 26)
NANO = 10**9
# Instrument files are small; anything bigger is not one.
MAX_INSTRUMENT_FILE_BYTES = 1 << 20

SHIPPED_FILE = Path(__file__).with_name("instruments.json")

CONTRACT_TYPES = ("linear", "inverse")
_CONTRACT_TYPE_CODE = {"linear": 0, "inverse": 1}  # hotpath/instrument.pxd ContractType

_SYMBOL_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.\-]{0,39}\Z")
_NAME_RE = re.compile(r"[a-z][a-z0-9_\-]{0,31}\Z")
_CURRENCY_RE = re.compile(r"[A-Za-z0-9]{1,16}\Z")
# The one decimal grammar we accept (ASCII only): digits, optional fraction, optional exponent.
# No sign, no whitespace, no underscores, no leading/trailing dot: Decimal() alone is too lenient.
_DECIMAL_RE = re.compile(rb"[0-9]+(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?\Z")


class BadValue(ValueError):
    """A decimal string that cannot be converted exactly. `reason` is a short stable code."""

    REASONS = ("nan", "inf", "negative", "off_tick", "unparsable", "too_large")

    def __init__(self, reason: str, text: object, detail: str = ""):
        self.reason = reason
        self.text = text
        shown = repr(text) if len(repr(text)) <= 80 else repr(text)[:77] + "..."
        super().__init__(f"{reason}: {shown}" + (f" ({detail})" if detail else ""))


class InstrumentError(ValueError):
    """An invalid instrument specification or instrument file."""


@dataclass(frozen=True)
class _Scale:
    """A step size as an exact fraction step_units / 10**digits."""

    digits: int  # decimals of the step
    step_units: int  # step * 10**digits

    @classmethod
    def of(cls, step: Decimal) -> _Scale:
        _, digit_tuple, exponent = step.as_tuple()
        coefficient = int("".join(map(str, digit_tuple)))
        digits = max(0, -int(exponent))
        return cls(digits, coefficient * 10 ** (int(exponent) + digits))  # exact: no Decimal rounding


def _parse_units(text: object, scale: _Scale) -> int:
    """Exact count of `scale` steps in the decimal `text`, or BadValue."""
    if type(text) is not str:
        raise BadValue("unparsable", text, "expected a decimal string")
    if len(text) > MAX_NUMBER_CHARS:
        raise BadValue("too_large", text, f"longer than {MAX_NUMBER_CHARS} characters")
    int_part, dot, frac = text.partition(".")
    # Fast path: plain ASCII digits with an optional fraction ("61837.63000000", "64600", "0.00000000").
    if int_part.isdigit() and int_part.isascii() and (not dot or (frac.isdigit() and frac.isascii())):
        digits = scale.digits
        if len(frac) > digits:
            if frac[digits:].strip("0"):
                raise BadValue("off_tick", text, "finer than the step")
            frac = frac[:digits]
        else:
            frac = frac + "0" * (digits - len(frac))
        count, rest = divmod(int(int_part + frac), scale.step_units)
        if rest:
            raise BadValue("off_tick", text, "not a multiple of the step")
        if count > MAX_UNITS:
            raise BadValue("too_large", text, "more than 2**62 steps")
        return count
    return _parse_units_slow(text, scale)


def _parse_units_slow(text: str, scale: _Scale) -> int:
    """Everything that is not a plain digit string: classify the refusal, or accept exponent forms."""
    lowered = text.lower()
    body = lowered[1:] if lowered[:1] in ("+", "-") else lowered
    if body in ("nan", "snan"):
        raise BadValue("nan", text)
    if body in ("inf", "infinity"):
        raise BadValue("inf", text)
    if lowered.startswith("-") and _DECIMAL_RE.match(body.encode("ascii", "replace")):
        raise BadValue("negative", text)
    try:
        raw = text.encode("ascii")
    except UnicodeEncodeError:
        raise BadValue("unparsable", text, "non-ASCII characters") from None
    if not _DECIMAL_RE.match(raw):
        raise BadValue("unparsable", text)
    mantissa, _, exp_text = lowered.partition("e")
    if exp_text and abs(int(exp_text)) > MAX_EXPONENT:
        raise BadValue(
            "too_large" if not exp_text.startswith("-") else "off_tick", text, "exponent out of range"
        )
    # Integer arithmetic on the exact digits: Decimal operations would round at 28 digits.
    _, digit_tuple, exponent = Decimal(text).as_tuple()
    coefficient = int("".join(map(str, digit_tuple)))
    shift = int(exponent) + scale.digits
    if shift >= 0:
        units = coefficient * 10**shift
    else:
        units, finer = divmod(coefficient, 10**-shift)
        if finer:
            raise BadValue("off_tick", text, "finer than the step")
    count, rest = divmod(units, scale.step_units)
    if rest:
        raise BadValue("off_tick", text, "not a multiple of the step")
    if count > MAX_UNITS:
        raise BadValue("too_large", text, "more than 2**62 steps")
    return count


def _format_units(count: int, scale: _Scale) -> str:
    """Exact decimal string of count * step, with the step's number of decimals."""
    if type(count) is not int:
        raise TypeError(f"expected an int, got {type(count).__name__}")
    sign = "-" if count < 0 else ""
    units = abs(count) * scale.step_units
    if scale.digits == 0:
        return f"{sign}{units}"
    whole, frac = divmod(units, 10**scale.digits)
    return f"{sign}{whole}.{frac:0{scale.digits}d}"


def _reduced(value: Fraction, what: str) -> tuple[int, int]:
    if value.numerator > INT64_MAX or value.denominator > INT64_MAX:
        raise InstrumentError(f"{what} = {value} does not fit int64")
    return value.numerator, value.denominator


@dataclass(frozen=True)
class InstrumentSpec:
    """One tradable instrument: identity, economics and the exact decimal <-> integer conversion.

    multiplier: linear -> value in settle currency = price * qty * multiplier (1 for spot/USD-M;
    0.000001 XBT per USD of price for the BitMEX ETHUSD quanto); inverse -> the fixed quote value of
    one contract (100 USD for COIN-M BTCUSD_PERP, 1 USD for BitMEX XBTUSD).
    Fees are in ppm (1e-6) of value, negative = rebate.
    """

    symbol: str
    venue: str
    market: str
    base: str
    quote: str
    settle: str
    tick_size: Decimal
    lot_size: Decimal
    contract_type: str
    multiplier: Decimal
    maker_fee_ppm: int
    taker_fee_ppm: int
    book_window_log2: int = 22
    _price_scale: _Scale = field(init=False, repr=False, compare=False)
    _qty_scale: _Scale = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        self._validate()
        object.__setattr__(self, "_price_scale", _Scale.of(self.tick_size))
        object.__setattr__(self, "_qty_scale", _Scale.of(self.lot_size))
        self.hotpath_fields()  # refuse specs whose integer economics overflow int64

    def _validate(self) -> None:
        def fail(name: str, message: str) -> None:
            raise InstrumentError(f"instrument {self.symbol!r}: {name} {message}")

        if type(self.symbol) is not str or not _SYMBOL_RE.match(self.symbol):
            raise InstrumentError(
                f"symbol {self.symbol!r} must be 1-40 characters of A-Z a-z 0-9 _ . - starting with a letter or digit"
            )
        for name in ("venue", "market"):
            value = getattr(self, name)
            if type(value) is not str or not _NAME_RE.match(value):
                fail(name, f"{value!r} must be lowercase a-z 0-9 _ - (1-32 characters)")
        for name in ("base", "quote", "settle"):
            value = getattr(self, name)
            if type(value) is not str or not _CURRENCY_RE.match(value):
                fail(name, f"{value!r} must be 1-16 characters A-Z a-z 0-9")
        for name in ("tick_size", "lot_size", "multiplier"):
            value = getattr(self, name)
            if not isinstance(value, Decimal):
                fail(name, f"must be a Decimal, got {type(value).__name__}")
            if not value.is_finite() or value <= 0:
                fail(name, f"must be a finite positive decimal, got {value}")
            if value.adjusted() > 18 or value.as_tuple().exponent < -18:
                fail(name, f"{value} is outside 1e-18 .. 1e18 or has more than 18 decimals")
        if self.contract_type not in CONTRACT_TYPES:
            fail("contract_type", f"must be one of {CONTRACT_TYPES}, got {self.contract_type!r}")
        for name in ("maker_fee_ppm", "taker_fee_ppm"):
            value = getattr(self, name)
            if type(value) is not int:
                fail(name, f"must be an int, got {type(value).__name__}")
            if not -MAX_FEE_PPM <= value <= MAX_FEE_PPM:
                fail(name, f"{value} is outside ±{MAX_FEE_PPM} ppm")
        low, high = BOOK_WINDOW_LOG2_RANGE
        if type(self.book_window_log2) is not int or not low <= self.book_window_log2 <= high:
            fail("book_window_log2", f"must be an int in [{low}, {high}], got {self.book_window_log2!r}")

    # -- exact conversion (hot in loaders: keep the fast path short) --

    def price_to_ticks(self, text: str) -> int:
        """Exact number of ticks in the decimal string `text`; BadValue otherwise."""
        return _parse_units(text, self._price_scale)

    def qty_to_lots(self, text: str) -> int:
        """Exact number of lots in the decimal string `text`; BadValue otherwise."""
        return _parse_units(text, self._qty_scale)

    def ticks_to_price(self, ticks: int) -> str:
        return _format_units(ticks, self._price_scale)

    def lots_to_qty(self, lots: int) -> str:
        return _format_units(lots, self._qty_scale)

    def decimal_scales(self) -> tuple[tuple[int, int], tuple[int, int]]:
        """((digits, step_units) of the tick, (digits, step_units) of the lot): the exact step as
        step_units / 10**digits, for compiled code that formats prices and quantities."""
        price, qty = self._price_scale, self._qty_scale
        return (price.digits, price.step_units), (qty.digits, qty.step_units)

    # -- hot-path economics --

    def hotpath_fields(self) -> dict[str, int]:
        """Fields of the hotpath Instrument struct (hotpath/instrument.pxd) as exact int64 fractions."""
        tick = Fraction(self.tick_size)
        lot = Fraction(self.lot_size)
        multiplier = Fraction(self.multiplier)
        if self.contract_type == "linear":
            # nano settle-currency value of one tick * one lot
            value_num, value_den = _reduced(tick * lot * multiplier * NANO, "value per tick*lot")
            inv_num, inv_den = 0, 1
        else:
            # nano quote notional of one lot (price independent), and base value numerator per tick
            value_num, value_den = _reduced(lot * multiplier * NANO, "quote notional per lot")
            inv_num, inv_den = _reduced(lot * multiplier * NANO / tick, "inverse value numerator")
        return {
            "contract_type": _CONTRACT_TYPE_CODE[self.contract_type],
            "value_num": value_num,
            "value_den": value_den,
            "inv_num": inv_num,
            "inv_den": inv_den,
            "maker_fee_ppm": self.maker_fee_ppm,
            "taker_fee_ppm": self.taker_fee_ppm,
            "book_window_log2": self.book_window_log2,
        }

    # -- JSON edge --

    def to_json(self) -> dict[str, Any]:
        """JSON-ready dict; decimals as exact strings."""
        return {
            "symbol": self.symbol,
            "venue": self.venue,
            "market": self.market,
            "base": self.base,
            "quote": self.quote,
            "settle": self.settle,
            "tick_size": str(self.tick_size),
            "lot_size": str(self.lot_size),
            "contract_type": self.contract_type,
            "multiplier": str(self.multiplier),
            "maker_fee_ppm": self.maker_fee_ppm,
            "taker_fee_ppm": self.taker_fee_ppm,
            "book_window_log2": self.book_window_log2,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> InstrumentSpec:
        """Strict inverse of to_json: exact key set, decimals as strings (floats are inexact)."""
        if not isinstance(data, Mapping):
            raise InstrumentError(f"an instrument must be a JSON object, got {type(data).__name__}")
        label = data.get("symbol") if isinstance(data.get("symbol"), str) else "?"
        keys = set(data)
        missing = sorted(_REQUIRED_KEYS - keys)
        if missing:
            raise InstrumentError(f"instrument {label!r}: missing keys {missing}")
        extra = sorted(str(k) for k in keys - _REQUIRED_KEYS - _OPTIONAL_KEYS)
        if extra:
            raise InstrumentError(f"instrument {label!r}: unknown keys {extra}")
        kwargs: dict[str, Any] = {}
        for key in _STRING_KEYS:
            value = data[key]
            if type(value) is not str:
                raise InstrumentError(
                    f"instrument {label!r}: {key} must be a string, got {type(value).__name__}"
                )
            kwargs[key] = value
        for key in _DECIMAL_KEYS:
            kwargs[key] = _decimal_field(label, key, data[key])
        for key in _INT_KEYS:
            if key not in data:
                continue
            value = data[key]
            if type(value) is not int:
                raise InstrumentError(
                    f"instrument {label!r}: {key} must be an integer, got {type(value).__name__}"
                )
            kwargs[key] = value
        return cls(**kwargs)

    @property
    def key(self) -> tuple[str, str]:
        """Registry key: (upper-case symbol, market)."""
        return self.symbol.upper(), self.market


_STRING_KEYS = ("symbol", "venue", "market", "base", "quote", "settle", "contract_type")
_DECIMAL_KEYS = ("tick_size", "lot_size", "multiplier")
_INT_KEYS = ("maker_fee_ppm", "taker_fee_ppm", "book_window_log2")
_OPTIONAL_KEYS = frozenset({"book_window_log2"})
_REQUIRED_KEYS = frozenset(_STRING_KEYS + _DECIMAL_KEYS + _INT_KEYS) - _OPTIONAL_KEYS


def _decimal_field(label: str, key: str, value: object) -> Decimal:
    if type(value) is int:
        return Decimal(value)
    if type(value) is not str:
        hint = " (JSON floats are inexact: write it as a string)" if isinstance(value, float) else ""
        raise InstrumentError(
            f"instrument {label!r}: {key} must be a decimal string, got {type(value).__name__}{hint}"
        )
    if len(value) > MAX_NUMBER_CHARS or not _DECIMAL_RE.match(value.encode("ascii", "replace")):
        raise InstrumentError(f"instrument {label!r}: {key} {value[:40]!r} is not a plain positive decimal")
    mantissa, _, exp_text = value.lower().partition("e")
    if exp_text and abs(int(exp_text)) > MAX_EXPONENT:
        raise InstrumentError(f"instrument {label!r}: {key} {value!r} exponent out of range")
    return Decimal(value)


class InstrumentRegistry:
    """Instruments by (symbol, market). `InstrumentRegistry()` holds the shipped instruments.json.

    Shipped fees are defaults; an account's real schedule comes from `--instrument FILE.json`
    (load_file), which replaces the shipped spec with the same (symbol, market).
    """

    def __init__(self, specs: Iterable[InstrumentSpec] | None = None):
        self._specs: dict[tuple[str, str], InstrumentSpec] = {}
        if specs is None:
            specs = parse_instrument_document(_read_json_file(SHIPPED_FILE), SHIPPED_FILE)
        self._add_all(list(specs), source="arguments")

    def _add_all(self, specs: list[InstrumentSpec], source: object) -> None:
        seen: set[tuple[str, str]] = set()
        for spec in specs:
            if not isinstance(spec, InstrumentSpec):
                raise InstrumentError(f"{source}: expected InstrumentSpec, got {type(spec).__name__}")
            if spec.key in seen:
                raise InstrumentError(f"{source}: {spec.symbol} ({spec.market}) is defined twice")
            seen.add(spec.key)
        for spec in specs:
            self._specs[spec.key] = spec

    def add(self, spec: InstrumentSpec) -> None:
        """Register (or replace) one spec."""
        self._add_all([spec], source="add")

    def load_file(self, path: Path | str) -> list[InstrumentSpec]:
        """Load an instrument file (one spec object, a list, or {"instruments": [...]}) and register it."""
        path = Path(path)
        specs = parse_instrument_document(_read_json_file(path), path)
        self._add_all(specs, source=path)
        return specs

    def get(self, symbol: str, market: str | None = None) -> InstrumentSpec:
        if type(symbol) is not str:
            raise InstrumentError(f"symbol must be a string, got {type(symbol).__name__}")
        wanted = symbol.upper()
        matches = [s for (sym, _), s in self._specs.items() if sym == wanted]
        if market is not None:
            matches = [s for s in matches if s.market == market]
            if not matches:
                known = sorted(s.market for (sym, _), s in self._specs.items() if sym == wanted)
                where = f"; it exists in markets {known}" if known else ""
                raise InstrumentError(f"unknown instrument {symbol!r} in market {market!r}{where}")
            return matches[0]
        if not matches:
            raise InstrumentError(f"unknown instrument {symbol!r}")
        if len(matches) > 1:
            markets = sorted(s.market for s in matches)
            raise InstrumentError(
                f"instrument {symbol!r} is ambiguous: it exists in markets {markets}; pass market="
            )
        return matches[0]

    def all(self) -> list[InstrumentSpec]:
        return sorted(self._specs.values(), key=lambda s: (s.venue, s.market, s.symbol))

    def __len__(self) -> int:
        return len(self._specs)


def _read_json_file(path: Path) -> object:
    try:
        with open(path, "rb") as handle:
            raw = handle.read(MAX_INSTRUMENT_FILE_BYTES + 1)
    except OSError as exc:
        raise InstrumentError(f"{path}: cannot read instrument file: {exc.strerror or exc}") from None
    if len(raw) > MAX_INSTRUMENT_FILE_BYTES:
        raise InstrumentError(
            f"{path}: larger than {MAX_INSTRUMENT_FILE_BYTES} bytes, not an instrument file"
        )
    try:
        return orjson.loads(raw)  # strict JSON: no NaN/Infinity literals, integers within 64 bits
    except orjson.JSONDecodeError as exc:
        raise InstrumentError(f"{path}: not valid JSON: {exc}") from None


def parse_instrument_document(document: object, source: object = "<json>") -> list[InstrumentSpec]:
    """Specs from a parsed JSON document: one spec object, a list of them, or {"instruments": [...]}."""
    if isinstance(document, dict) and "instruments" in document:
        extra = sorted(set(document) - {"instruments", "comment"})
        if extra:
            raise InstrumentError(f"{source}: unknown top-level keys {extra}")
        document = document["instruments"]
    if isinstance(document, dict):
        items: list[object] = [document]
    elif isinstance(document, list):
        items = document
    else:
        raise InstrumentError(
            f"{source}: expected an instrument object or a list, got {type(document).__name__}"
        )
    if not items:
        raise InstrumentError(f"{source}: no instruments")
    specs = []
    for index, item in enumerate(items):
        try:
            specs.append(InstrumentSpec.from_json(item))  # type: ignore[arg-type]
        except InstrumentError as exc:
            raise InstrumentError(f"{source}: instrument #{index}: {exc}") from None
    return specs
