"""Node configuration: one strict JSON document (from the database or a file), validated as a
whole before anything connects or trades. A bad document is refused with the field named.

    {
      "node": "tokyo-1",
      "venue": {"stream_url": "ws://127.0.0.1:9443", "api_url": "ws://127.0.0.1:9443/ws-api/v3",
                "api_key": "...", "hmac_secret": "..."},        # or "ed25519_key_file"
      "instruments": [
        {"symbol": "BTCUSDT", "market": "spot", "strategy": "mm",
         "config": {"strategy": {...}, "signals": {...}, "risk": {...}}}   # backtest config sections
      ],
      "risk": {...},        # engine-wide limits (RiskConfigIn: total notional, rate, drawdown, ...)
      "engine": {...}, "journal": {...}, "control": {...}, "metrics": {...}, "recovery": {...},
      "feed": {...}, "affinity": {"node_cpus": [1], "sink_cpus": [0]}
    }

Per-instrument sections are exactly the backtest schema (trading.backtest.config), so a strategy
tuned in a backtest runs on a node unchanged. Credentials may be left out of the document and
supplied by the environment (the runnode command reads them through atomic_ops.env).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

import msgspec

from trading.backtest.config import (
    BacktestConfig,
    ConfigError,
    EngineSetup,
    build_engine_setup,
    parse_config,
)
from trading.binance.ids import check_prefix
from trading.engine.affinity import AffinityError, check_cpus
from trading.engine.paths import check_node_name
from trading.instruments import InstrumentError, InstrumentRegistry, InstrumentSpec

PosInt = Annotated[int, msgspec.Meta(ge=1, le=2**62)]
NonNegInt = Annotated[int, msgspec.Meta(ge=0, le=2**62)]
PosFloat = Annotated[float, msgspec.Meta(gt=0, le=86_400)]


class _Section(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    pass


class VenueIn(_Section):
    stream_url: str = "ws://127.0.0.1:9443"
    api_url: str = "ws://127.0.0.1:9443/ws-api/v3"
    market: Literal["spot", "usdm", "coinm"] = "spot"
    api_key: str | None = None  # None: from the environment
    hmac_secret: str | None = None  # one of hmac_secret / ed25519_key_file (or the environment)
    ed25519_key_file: str | None = None
    client_id_prefix: str | None = None  # default: derived from the node name
    recv_window_ms: Annotated[int, msgspec.Meta(ge=1, le=60_000)] = 5000


class InstrumentIn(_Section, kw_only=True):
    symbol: str
    market: str | None = None
    strategy: Literal["avellaneda", "mm", "taker", "none"] = "mm"
    config: dict[str, Any] = msgspec.field(default_factory=dict)


class EngineIn(_Section):
    hash_every: NonNegInt = 10_000
    stale_order_ms: NonNegInt = 30_000
    ack_timeout_ms: NonNegInt = 5_000
    timer_ms: Annotated[int, msgspec.Meta(ge=10, le=60_000)] = 100
    order_capacity: Annotated[int, msgspec.Meta(ge=16, le=1 << 20)] = 1024


class JournalIn(_Section):
    fsync_interval_ms: Annotated[float, msgspec.Meta(gt=0, le=1000)] = 5.0
    segment_max_mb: Annotated[int, msgspec.Meta(ge=1, le=4096)] = 64
    halt_backlog_records: PosInt = 200_000  # unsynced local records before HALTED
    halt_lag_records: PosInt = 5_000_000  # records not yet in PostgreSQL before HALTED
    resume_lag_records: PosInt = 500_000  # ... and below which trading resumes
    write_before_send: bool = True  # write-ahead: records hit the segment before orders leave


class ControlIn(_Section):
    enabled: bool = True
    max_age_s: PosFloat = 30.0


class MetricsIn(_Section):
    host: str = "127.0.0.1"
    port: Annotated[int, msgspec.Meta(ge=0, le=65535)] = 0  # 0: any free port
    panel_interval_ms: Annotated[int, msgspec.Meta(ge=20, le=10_000)] = 100


class RecoveryIn(_Section):
    snapshot_interval_s: PosFloat = 60.0
    snapshots_kept: Annotated[int, msgspec.Meta(ge=1, le=1000)] = 5
    unknown_orders: Literal["cancel", "adopt"] = "cancel"
    shutdown_timeout_s: PosFloat = 5.0


class FeedIn(_Section):
    stale_after_s: PosFloat = 5.0


class AffinityIn(_Section):
    """CPU pinning (None: let the scheduler place it). Checked against the machine at start."""

    node_cpus: list[int] | None = None  # the event loop and every node thread
    sink_cpus: list[int] | None = None  # the journal sink process


class NodeConfigIn(_Section, kw_only=True):
    node: str
    venue: VenueIn = msgspec.field(default_factory=VenueIn)
    instruments: list[InstrumentIn]
    risk: dict[str, Any] = msgspec.field(default_factory=dict)
    engine: EngineIn = msgspec.field(default_factory=EngineIn)
    journal: JournalIn = msgspec.field(default_factory=JournalIn)
    control: ControlIn = msgspec.field(default_factory=ControlIn)
    metrics: MetricsIn = msgspec.field(default_factory=MetricsIn)
    recovery: RecoveryIn = msgspec.field(default_factory=RecoveryIn)
    feed: FeedIn = msgspec.field(default_factory=FeedIn)
    affinity: AffinityIn = msgspec.field(default_factory=AffinityIn)


class InstrumentRuntime(msgspec.Struct, kw_only=True):
    index: int
    spec: InstrumentSpec
    strategy: str
    setup: EngineSetup  # instrument fields, limits, signal params, strategy params


class NodeConfig(msgspec.Struct, kw_only=True):
    """A validated node configuration, every value converted to what the runtime uses."""

    document: dict[str, Any]  # the source document (stored with the config version)
    node: str
    venue: VenueIn
    client_id_prefix: str
    instruments: list[InstrumentRuntime]
    risk_config: dict[str, int]  # hotpath RiskConfig fields
    engine_params: dict[str, int]  # hotpath EngineParams fields (node mode)
    engine: EngineIn
    journal: JournalIn
    control: ControlIn
    metrics: MetricsIn
    recovery: RecoveryIn
    feed: FeedIn
    node_cpus: frozenset[int] | None = None
    sink_cpus: frozenset[int] | None = None

    def symbols(self) -> dict[int, str]:
        return {i.index: i.spec.symbol for i in self.instruments}


def _decode(raw: bytes | str | dict) -> NodeConfigIn:
    try:
        if isinstance(raw, dict):
            return msgspec.convert(raw, type=NodeConfigIn, strict=False)
        if isinstance(raw, str):
            raw = raw.encode()
        return msgspec.json.decode(raw, type=NodeConfigIn, strict=False)
    except (msgspec.ValidationError, msgspec.DecodeError) as exc:
        raise ConfigError(f"invalid node config: {str(exc).replace('`', '')}") from exc


def parse_node_config(
    raw: bytes | str | dict,
    *,
    registry: InstrumentRegistry | None = None,
    reference_prices: dict[str, int] | None = None,
) -> NodeConfig:
    """Validate a node document. reference_prices (symbol -> ticks) centre the book windows;
    without them the engine re-centres on the first snapshot."""
    doc_in = _decode(raw)
    try:
        check_node_name(doc_in.node)
    except ValueError as exc:
        raise ConfigError(f"node: {exc}") from exc
    if not doc_in.instruments:
        raise ConfigError("instruments: at least one instrument is required")
    if len(doc_in.instruments) > 16:
        raise ConfigError("instruments: at most 16 per node")
    prefix = doc_in.venue.client_id_prefix or doc_in.node.replace("-", "_")[:16]
    try:
        check_prefix(prefix)
    except ValueError as exc:
        raise ConfigError(f"venue.client_id_prefix: {exc}") from exc
    if doc_in.venue.hmac_secret and doc_in.venue.ed25519_key_file:
        raise ConfigError("venue: give hmac_secret or ed25519_key_file, not both")
    if doc_in.journal.resume_lag_records >= doc_in.journal.halt_lag_records:
        raise ConfigError("journal.resume_lag_records must be below journal.halt_lag_records")
    for url_name in ("stream_url", "api_url"):
        url = getattr(doc_in.venue, url_name)
        if not url.startswith(("ws://", "wss://")):
            raise ConfigError(f"venue.{url_name}: must be a ws:// or wss:// URL, got {url!r}")
    cpus = {}
    for field in ("node_cpus", "sink_cpus"):
        value = getattr(doc_in.affinity, field)
        try:
            cpus[field] = None if value is None else check_cpus(value, f"affinity.{field}")
        except AffinityError as exc:
            raise ConfigError(str(exc)) from exc

    registry = registry or InstrumentRegistry()
    seen: set[tuple[str, str]] = set()
    runtimes: list[InstrumentRuntime] = []
    for index, item in enumerate(doc_in.instruments):
        where = f"instruments[{index}] ({item.symbol})"
        try:
            spec = registry.get(item.symbol, item.market or doc_in.venue.market)
        except InstrumentError as exc:
            raise ConfigError(f"{where}: {exc}") from exc
        if spec.key in seen:
            raise ConfigError(f"{where}: listed twice")
        seen.add(spec.key)
        config: BacktestConfig = parse_config(item.config)
        if config.venue != BacktestConfig().venue or config.engine != BacktestConfig().engine:
            raise ConfigError(
                f"{where}: 'venue' and 'engine' belong to the node document, not to an instrument"
            )
        center = (reference_prices or {}).get(spec.symbol, 1 << 20)
        try:
            setup = build_engine_setup(
                config,
                "mm" if item.strategy == "none" else item.strategy,
                spec,
                latency_us=0,
                center_price=center,
            )
        except ConfigError as exc:
            raise ConfigError(f"{where}: {exc}") from exc
        runtimes.append(InstrumentRuntime(index=index, spec=spec, strategy=item.strategy, setup=setup))

    # engine-wide risk: the same section as a backtest's "risk", read for its global fields
    global_setup = build_engine_setup(
        parse_config({"risk": doc_in.risk}), "mm", runtimes[0].spec, latency_us=0, center_price=1
    )
    engine_params = {
        "journal_inputs": 1,
        "hash_every": doc_in.engine.hash_every,
        "equity_sample_ns": 1_000_000_000,
        "md_latency_ns": 0,
        "stale_order_ns": doc_in.engine.stale_order_ms * 1_000_000,
        "ack_timeout_ns": doc_in.engine.ack_timeout_ms * 1_000_000,
        "order_capacity": 1 << (doc_in.engine.order_capacity - 1).bit_length(),
        "record_features": 0,
        "record_quotes": 1,
    }
    return NodeConfig(
        document=msgspec.to_builtins(doc_in),
        node=doc_in.node,
        venue=doc_in.venue,
        client_id_prefix=prefix,
        instruments=runtimes,
        risk_config=global_setup.risk_config,
        engine_params=engine_params,
        engine=doc_in.engine,
        journal=doc_in.journal,
        control=doc_in.control,
        metrics=doc_in.metrics,
        recovery=doc_in.recovery,
        feed=doc_in.feed,
        **cpus,
    )


def load_node_config_file(path: Path, **kwargs) -> NodeConfig:
    try:
        raw = Path(path).read_bytes()
    except OSError as exc:
        raise ConfigError(f"cannot read node config {path}: {exc.strerror or exc}") from exc
    if len(raw) > 1 << 20:
        raise ConfigError(f"node config {path} is larger than 1 MiB")
    return parse_node_config(raw, **kwargs)
