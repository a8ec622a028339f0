"""load_events: recognise the files, pick the instrument, convert (or hit the cache), check, report."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from trading.instruments import InstrumentError, InstrumentRegistry, InstrumentSpec
from trading.marketdata import binance, bitmex, cache, tardis
from trading.marketdata.columns import EventColumns
from trading.marketdata.detect import detect_market
from trading.marketdata.errors import DataError
from trading.marketdata.kinds import MAX_INSTRUMENTS
from trading.marketdata.report import LoadReport
from trading.marketdata.sources import SourceInfo, iter_lines, sniff
from trading.marketdata.validate import count_non_monotonic, validate_book

DEFAULT_CACHE_DIR = Path("var/cache")
_SYMBOL_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.-")


@dataclass(frozen=True)
class LoadedData:
    events: np.ndarray  # MARKET_EVENT_DTYPE, C-contiguous
    instrument: InstrumentSpec
    report: LoadReport
    format: str  # "binance", "tardis", "bitmex"
    market: str  # "spot", "usdm", "coinm", "bitmex", or the Tardis exchange id
    cache_hit: bool = False
    cache_path: Path | None = None


def load_events(
    paths: list[Path | str],
    symbol: str,
    registry: InstrumentRegistry | None = None,
    instrument: InstrumentSpec | None = None,
    cache_dir: Path | None = DEFAULT_CACHE_DIR,
    instrument_index: int = 0,
    *,
    validate: bool = True,
) -> LoadedData:
    """Market events for `symbol` from venue captures, as one stream in the order of `paths`.

    validate=True replays the book after conversion (crossed book, bookTicker agreement); it runs
    when the cache is built and its results are cached with the report.
    """
    started = time.perf_counter()
    files = _check_arguments(paths, symbol, instrument, instrument_index)
    infos = [sniff(path) for path in files]
    formats = sorted({info.format for info in infos})
    if len(formats) > 1:
        listing = ", ".join(f"{info.path.name}={info.format}" for info in infos)
        raise DataError(f"mixed formats in one load ({listing}): load each format separately")
    fmt = formats[0]
    market, exchange = detect_market(fmt, infos, symbol, instrument)
    spec = _resolve_instrument(symbol, market, registry, instrument)

    notes: list[str] = []
    if cache_dir is not None:
        cache_dir = Path(cache_dir)
        key = cache.cache_key(files, symbol, spec, instrument_index)
        hit = cache.read_entry(cache_dir, symbol, key)
        if isinstance(hit, tuple):
            return _from_cache(hit, files, spec, fmt, market, validate, cache_dir, symbol, key)
        if hit != "missing":
            notes.append(f"cache entry was unusable ({hit}); rebuilt")

    report = LoadReport(symbol=symbol.upper(), format=fmt, market=market, files=[str(p) for p in files])
    report.notes.extend(notes)
    events = _convert(fmt, infos, spec, symbol, market, exchange, report)
    events["instrument"] = instrument_index
    report.events = int(len(events))
    count_non_monotonic(events, report)
    if validate:
        validate_book(events, report, compare_bbo=fmt == "binance")
    report.convert_seconds = round(time.perf_counter() - started, 3)

    cache_path = None
    if cache_dir is not None:
        meta = {
            "format": fmt,
            "market": market,
            "symbol": symbol.upper(),
            "instrument": spec.to_json(),
            "instrument_index": instrument_index,
            "sources": [str(p) for p in files],
            "report": report.to_dict(),
        }
        written = _try(lambda: cache.write_entry(cache_dir, symbol, key, events, meta))
        if isinstance(written, Path):
            cache_path = written
        else:
            report.notes.append(f"cache not written ({written})")
    return LoadedData(events, spec, report, fmt, market, cache_hit=False, cache_path=cache_path)


def _from_cache(
    hit: tuple[np.ndarray, dict],
    files: list[Path],
    spec: InstrumentSpec,
    fmt: str,
    market: str,
    validate: bool,
    cache_dir: Path,
    symbol: str,
    key: str,
) -> LoadedData:
    events, meta = hit
    report = LoadReport.from_dict(meta["report"])
    report.cache_hit = True
    report.files = [str(p) for p in files]  # the same content may live under another name now
    if validate and not report.validated:
        # built with validate=False: check now and keep the result for the next hit
        validate_book(events, report, compare_bbo=fmt == "binance")
        stored = dict(meta, report=dict(report.to_dict(), cache_hit=False))
        _try(lambda: cache.write_metadata(cache_dir, symbol, key, stored))
    npy_path, _ = cache.entry_paths(cache_dir, symbol, key)
    return LoadedData(events, spec, report, fmt, market, cache_hit=True, cache_path=npy_path)


def _try(action):
    try:
        return action()
    except OSError as exc:
        return f"{exc.__class__.__name__}: {exc.strerror or exc}"


def _check_arguments(
    paths: object, symbol: object, instrument: object, instrument_index: object
) -> list[Path]:
    if isinstance(paths, (str, Path)) or not isinstance(paths, (list, tuple)):
        raise DataError("paths must be a list of files")
    if not paths:
        raise DataError("no files given")
    files = []
    for item in paths:
        if not isinstance(item, (str, Path)) or not str(item):
            raise DataError(f"not a file path: {item!r}")
        files.append(Path(item))
    if type(symbol) is not str or not symbol or len(symbol) > 40 or not set(symbol) <= _SYMBOL_CHARS:
        raise DataError(f"bad symbol {symbol!r}: 1-40 characters of A-Z a-z 0-9 _ . -")
    if instrument is not None and not isinstance(instrument, InstrumentSpec):
        raise DataError(f"instrument must be an InstrumentSpec, got {type(instrument).__name__}")
    if type(instrument_index) is not int or not 0 <= instrument_index < MAX_INSTRUMENTS:
        raise DataError(
            f"instrument_index must be an int in [0, {MAX_INSTRUMENTS}), got {instrument_index!r}"
        )
    return files


def _resolve_instrument(
    symbol: str, market: str, registry: InstrumentRegistry | None, instrument: InstrumentSpec | None
) -> InstrumentSpec:
    if instrument is not None:
        if instrument.symbol.upper() != symbol.upper():
            raise DataError(f"instrument {instrument.symbol} given for symbol {symbol}")
        if instrument.market != market:
            raise DataError(
                f"instrument {instrument.symbol} is for market {instrument.market!r} but the data is {market!r}"
            )
        return instrument
    try:
        return (registry if registry is not None else _shipped_registry()).get(symbol, market)
    except InstrumentError as exc:
        raise DataError(f"{exc} (pass instrument= or load it with --instrument FILE.json)") from None


_SHIPPED: InstrumentRegistry | None = None


def _shipped_registry() -> InstrumentRegistry:
    global _SHIPPED
    if _SHIPPED is None:
        _SHIPPED = InstrumentRegistry()
    return _SHIPPED


def _convert(
    fmt: str,
    infos: list[SourceInfo],
    spec: InstrumentSpec,
    symbol: str,
    market: str,
    exchange: str,
    report: LoadReport,
) -> np.ndarray:
    if fmt == "tardis":
        return tardis.decode_files(infos, spec, symbol, exchange, report)
    columns = EventColumns()
    if fmt == "binance":
        decoder = binance.BinanceDecoder(spec, symbol, market, report, columns)
    else:
        decoder = bitmex.BitmexDecoder(spec, symbol, report, columns)
    for info in infos:
        decoder.feed(iter_lines(info.path))
    decoder.finish()
    return columns.to_array()
