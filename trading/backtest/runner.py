"""Run a backtest: load recorded events, run the compiled engine with the simulated venue in the
loop, and turn its journal into a report. No Django here (the command and the Celery task store
the result through trading.services).
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass, field
from pathlib import Path

import msgspec
import numpy as np

from hotpath.engine import Engine, EngineError
from hotpath.types import EV_DEPTH, EV_DEPTH_SNAPSHOT, EV_TRADE
from trading.backtest.config import BacktestConfig, ConfigError, EngineSetup, build_engine_setup
from trading.backtest.metrics import compute_metrics, equity_curve
from trading.instruments import InstrumentRegistry, InstrumentSpec
from trading.marketdata import DataError, LoadedData, load_events


class BacktestError(Exception):
    """A backtest cannot run: bad data, bad configuration or bad arguments (one-line message)."""


@dataclass(frozen=True)
class BacktestRequest:
    data: tuple[Path, ...]
    symbol: str
    strategy: str = "avellaneda"
    config: BacktestConfig = field(default_factory=BacktestConfig)
    latency_us: int | None = None
    instrument: InstrumentSpec | None = None
    cache_dir: Path | None = None
    record_features: bool = False
    repeat: int = 1


@dataclass
class BacktestResult:
    report: dict
    records: np.ndarray
    features: np.ndarray | None
    equity: list
    spec: InstrumentSpec
    loaded: LoadedData
    setup: EngineSetup
    config: dict
    data_sha256: str
    load_seconds: float


def data_sha256(paths: tuple[Path, ...]) -> str:
    digest = hashlib.sha256()
    for path in paths:
        with open(path, "rb") as handle:
            for chunk in iter(lambda: handle.read(1 << 20), b""):
                digest.update(chunk)
    return digest.hexdigest()


def center_price(events: np.ndarray) -> int:
    """A price in the middle of the recorded book, to centre the dense book window on."""
    depth = events[(events["kind"] == EV_DEPTH_SNAPSHOT) | (events["kind"] == EV_DEPTH)]["price"][:5000]
    depth = depth[depth > 0]
    if len(depth) == 0:
        trades = events[events["kind"] == EV_TRADE]["price"]
        return int(trades[0]) if len(trades) else 1 << 20
    return int(np.median(depth))


def repeat_events(events: np.ndarray, times: int) -> np.ndarray:
    """The same recording played `times` times back to back, each copy shifted in time."""
    if times <= 1 or len(events) == 0:
        return events
    span = int(events["ts_local"].max() - events["ts_local"].min()) + 1_000_000_000
    span_event = int(events["ts_event"].max() - events["ts_event"].min()) + 1_000_000_000
    span = max(span, span_event)
    out = np.empty(len(events) * times, dtype=events.dtype)
    for k in range(times):
        part = out[k * len(events) : (k + 1) * len(events)]
        part[:] = events
        part["ts_local"] += k * span
        part["ts_event"] += k * span
    return out


def build_engine(setup: EngineSetup, *, record_features: bool = False, with_sim: bool = True) -> Engine:
    params = dict(setup.engine_params)
    params["record_features"] = int(record_features)
    try:
        engine = Engine([setup.instrument], setup.risk_config, params, setup.sim_params if with_sim else None)
        engine.set_limits(0, setup.limits)
        engine.set_signal_params(0, setup.signal_params)
        engine.set_strategy(0, setup.strategy_kind, setup.strategy_params)
    except EngineError as exc:
        raise BacktestError(f"engine configuration refused: {exc}") from exc
    return engine


def run_engine(engine: Engine, events: np.ndarray, *, record_features: bool = False):
    """Feed every event; returns (records, features or None, wall seconds of the engine loop)."""
    chunks: list[np.ndarray] = []
    feature_chunks: list[np.ndarray] = []
    start = 0
    n = len(events)
    t0 = time.perf_counter()
    while start < n:
        start = engine.process(events, start, n)
        if start < n:  # output buffer full: drain and continue
            chunks.append(engine.drain())
            if record_features:
                feature_chunks.append(engine.drain_features())
    wall = time.perf_counter() - t0
    chunks.append(engine.drain())
    records = np.concatenate(chunks) if len(chunks) > 1 else chunks[0]
    features = None
    if record_features:
        feature_chunks.append(engine.drain_features())
        features = np.concatenate(feature_chunks)
    return records, features, wall


def run_backtest(request: BacktestRequest, registry: InstrumentRegistry | None = None) -> BacktestResult:
    if not request.data:
        raise BacktestError("no data files given")
    if request.repeat < 1:
        raise BacktestError("repeat must be >= 1")
    t0 = time.perf_counter()
    try:
        loaded = load_events(
            list(request.data),
            request.symbol,
            registry=registry,
            instrument=request.instrument,
            cache_dir=request.cache_dir,
        )
    except DataError as exc:
        raise BacktestError(str(exc)) from exc
    load_seconds = time.perf_counter() - t0
    events = loaded.events
    kinds = events["kind"]
    if not np.any((kinds == EV_DEPTH) | (kinds == EV_DEPTH_SNAPSHOT)):
        raise BacktestError(
            f"no usable order-book data for {request.symbol} in {', '.join(str(p) for p in request.data)}"
            f" ({loaded.report.summary().splitlines()[0] if loaded.report else 'empty'})"
        )
    spec = loaded.instrument
    try:
        setup = build_engine_setup(
            request.config,
            request.strategy,
            spec,
            latency_us=request.latency_us,
            center_price=center_price(events),
        )
    except ConfigError as exc:
        raise BacktestError(str(exc)) from exc
    events = repeat_events(events, request.repeat)
    engine = build_engine(setup, record_features=request.record_features)
    records, features, wall = run_engine(engine, events, record_features=request.record_features)
    kinds = events["kind"]
    l2_events = int(np.count_nonzero((kinds == EV_DEPTH) | (kinds == EV_DEPTH_SNAPSHOT)))
    trades = int(np.count_nonzero(kinds == EV_TRADE))
    market = events[(kinds == EV_DEPTH) | (kinds == EV_TRADE) | (kinds == EV_DEPTH_SNAPSHOT)]
    duration_ns = int(market["ts_event"].max() - market["ts_event"].min()) if len(market) else 0
    stats = engine.stats()
    report = compute_metrics(
        records,
        spec,
        stats,
        engine.position(0),
        events=len(events),
        l2_events=l2_events,
        trades=trades,
        wall_seconds=wall,
        duration_ns=duration_ns,
    )
    report["state_hash"] = f"{engine.state_hash():016x}"
    report["quote_currency"] = spec.quote
    report["load_seconds"] = load_seconds
    report["repeat"] = request.repeat
    config_dict = msgspec.to_builtins(request.config)
    config_dict["strategy_resolved"] = msgspec.to_builtins(setup.strategy_params)
    return BacktestResult(
        report=report,
        records=records,
        features=features,
        equity=equity_curve(records),
        spec=spec,
        loaded=loaded,
        setup=setup,
        config=config_dict,
        data_sha256=data_sha256(request.data),
        load_seconds=load_seconds,
    )
