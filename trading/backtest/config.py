"""Backtest configuration: a strict JSON schema in human units, converted to hot-path integers.

A config file has optional sections; every key is checked (unknown keys are errors, so a typo
never silently falls back to a default):

    {
      "strategy": {...},   parameters of the strategy chosen with --strategy (see *Params below)
      "signals":  {...},   SignalsConfig
      "risk":     {...},   RiskConfigIn
      "venue":    {...},   VenueConfig (latency, fees)
      "engine":   {...}    EngineConfigIn
    }

Quantities are decimal strings or numbers in the instrument's units (BTC, contracts), prices in
ticks, times in milliseconds or microseconds as named, ratios as decimals ("0.3"). They are
converted exactly (Decimal) to lots, ticks, ns, and e6 fixed point; a value that does not
convert exactly is refused.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Any, Literal

import msgspec

from trading.instruments import InstrumentSpec

INT64_MAX = 2**63 - 1
STRATEGIES = ("avellaneda", "mm", "taker")

NonNegInt = Annotated[int, msgspec.Meta(ge=0, le=2**62)]
PosInt = Annotated[int, msgspec.Meta(ge=1, le=2**62)]


class ConfigError(ValueError):
    """The configuration is invalid; the message names the field."""


def _e6(value: Decimal, name: str, *, lo: Decimal | None = None, hi: Decimal | None = None) -> int:
    if not value.is_finite():
        raise ConfigError(f"{name}: must be a finite number, got {value}")
    if lo is not None and value < lo:
        raise ConfigError(f"{name}: must be >= {lo}, got {value}")
    if hi is not None and value > hi:
        raise ConfigError(f"{name}: must be <= {hi}, got {value}")
    scaled = value * 1_000_000
    if scaled != scaled.to_integral_value():
        raise ConfigError(f"{name}: at most 6 decimal places, got {value}")
    return int(scaled)


def _ns(value: Decimal, unit_ns: int, name: str) -> int:
    if not value.is_finite() or value < 0:
        raise ConfigError(f"{name}: must be a finite number >= 0, got {value}")
    scaled = value * unit_ns
    if scaled != scaled.to_integral_value():
        raise ConfigError(f"{name}: finer than a nanosecond: {value}")
    if scaled > 10**18:
        raise ConfigError(f"{name}: too large: {value}")
    return int(scaled)


def _lots(spec: InstrumentSpec, value: Decimal | None, name: str, default_lots: int) -> int:
    if value is None:
        return default_lots
    try:
        lots = spec.qty_to_lots(str(value))
    except ValueError as exc:
        raise ConfigError(f"{name}: {exc}") from exc
    if lots <= 0:
        raise ConfigError(f"{name}: must be > 0, got {value}")
    return lots


def _money_nano(value: Decimal | None, name: str) -> int:
    if value is None:
        return INT64_MAX
    if not value.is_finite() or value <= 0:
        raise ConfigError(f"{name}: must be > 0 (omit it to disable the limit), got {value}")
    scaled = value * 1_000_000_000
    if scaled != scaled.to_integral_value():
        raise ConfigError(f"{name}: at most 9 decimal places, got {value}")
    return min(int(scaled), INT64_MAX)


class _Section(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    pass


class QuotingIn(_Section):
    order_qty: Decimal | None = None  # instrument units; default 100 lots
    max_position: Decimal | None = None  # instrument units; default 10 x order_qty
    requote_ticks: NonNegInt = 2
    decision_interval_ms: Decimal = Decimal(100)
    cooldown_ms: Decimal = Decimal(0)
    warmup_events: NonNegInt = 10
    post_only: bool = True


class MMParams(QuotingIn):
    half_spread_ticks: PosInt = 10
    skew_ticks: Decimal = Decimal("0.5")  # reservation shift in ticks per order_qty of inventory
    imbalance_widen: Decimal = Decimal(0)  # extra half spread per unit of |imbalance|


class AvellanedaParamsIn(QuotingIn):
    model: Literal["as", "glft"] = "as"
    gamma: Decimal = Decimal("0.1")  # risk aversion, per tick
    kappa: Decimal | None = None  # per tick; omitted = the trade-intensity estimate
    arrival_a: Decimal | None = None  # GLFT, per second; omitted = the trade-rate estimate
    sigma: Decimal | None = None  # ticks per sqrt(second); omitted = the EWMA volatility
    horizon_s: Decimal = Decimal(1)
    rolling_horizon: bool = False
    min_half_spread_ticks: NonNegInt = 1
    max_half_spread_ticks: NonNegInt = 1000
    vpin_widen: bool = False
    vpin_threshold: Decimal = Decimal("0.7")
    vpin_widen_factor: Decimal = Decimal(1)
    warmup_events: NonNegInt = 100


class TakerParamsIn(_Section):
    order_qty: Decimal | None = None
    max_position: Decimal | None = None
    threshold: Decimal = Decimal("0.3")
    fv_alpha: Decimal = Decimal("0.05")
    weight_fv: Decimal = Decimal("0.7")
    weight_imbalance: Decimal = Decimal("0.3")
    cooldown_ms: Decimal = Decimal(1000)
    slippage_ticks: NonNegInt = 0
    use_market: bool = False
    warmup_events: NonNegInt = 10


class SignalsConfig(_Section):
    imbalance_levels: Annotated[int, msgspec.Meta(ge=1, le=64)] = 5
    vpin_bucket_qty: Decimal | None = None  # instrument units; default 1000 x order lots
    vpin_window: Annotated[int, msgspec.Meta(ge=1, le=64)] = 50
    vol_sample_ms: Decimal = Decimal(100)
    vol_alpha: Decimal = Decimal("0.05")
    intensity_alpha: Decimal = Decimal("0.05")


class RiskConfigIn(_Section):
    """Limits; omit one to disable it (it is then INT64_MAX in the gate, never zero)."""

    max_order_qty: Decimal | None = None  # default 10 x order_qty
    max_position: Decimal | None = None  # default: the strategy's max_position
    max_notional: Decimal | None = None  # quote currency
    max_total_notional: Decimal | None = None
    price_collar_bps: Annotated[int, msgspec.Meta(ge=1, le=1_000_000)] = 500
    max_spread_ticks: PosInt | None = None
    max_open_orders: PosInt = 50
    max_open_orders_total: PosInt = 200
    rate_limit_per_sec: PosInt = 1000
    rate_limit_burst: PosInt = 2000
    max_drawdown: Decimal | None = None  # settlement currency
    max_daily_loss: Decimal | None = None
    day_offset_hours: Annotated[int, msgspec.Meta(ge=0, le=23)] = 0
    max_consecutive_losses: PosInt | None = None
    rapid_fill_count: Annotated[int, msgspec.Meta(ge=1, le=256)] = 256
    rapid_fill_window_ms: Decimal = Decimal(1)


class VenueConfig(_Section):
    entry_latency_us: Decimal | None = None  # default: --latency-us
    response_latency_us: Decimal | None = None  # default: --latency-us
    maker_fee_ppm: Annotated[int, msgspec.Meta(ge=-100_000, le=100_000)] | None = None  # default: instrument
    taker_fee_ppm: Annotated[int, msgspec.Meta(ge=-100_000, le=100_000)] | None = None
    md_latency_us: Decimal = Decimal(0)
    max_resting: PosInt = 1024


class EngineConfigIn(_Section):
    equity_sample_ms: Decimal = Decimal(1000)
    hash_every: NonNegInt = 0


class BacktestConfig(_Section):
    strategy: dict[str, Any] = msgspec.field(default_factory=dict)
    signals: SignalsConfig = msgspec.field(default_factory=SignalsConfig)
    risk: RiskConfigIn = msgspec.field(default_factory=RiskConfigIn)
    venue: VenueConfig = msgspec.field(default_factory=VenueConfig)
    engine: EngineConfigIn = msgspec.field(default_factory=EngineConfigIn)


STRATEGY_PARAMS = {"avellaneda": AvellanedaParamsIn, "mm": MMParams, "taker": TakerParamsIn}


def _decode_error(exc: msgspec.ValidationError | msgspec.DecodeError) -> str:
    return str(exc).replace("`", "")


def parse_config(raw: bytes | str | dict | None) -> BacktestConfig:
    """Parse and validate a config (JSON bytes/str or an already-parsed dict)."""
    if raw is None:
        return BacktestConfig()
    try:
        if isinstance(raw, dict):
            return msgspec.convert(raw, type=BacktestConfig, strict=False)
        if isinstance(raw, str):
            raw = raw.encode()
        return msgspec.json.decode(raw, type=BacktestConfig, strict=False)
    except (msgspec.ValidationError, msgspec.DecodeError) as exc:
        raise ConfigError(f"invalid config: {_decode_error(exc)}") from exc


def strategy_params(config: BacktestConfig, strategy: str):
    if strategy not in STRATEGY_PARAMS:
        raise ConfigError(f"unknown strategy {strategy!r}; choose one of {', '.join(STRATEGIES)}")
    try:
        return msgspec.convert(config.strategy, type=STRATEGY_PARAMS[strategy], strict=False)
    except msgspec.ValidationError as exc:
        raise ConfigError(f"invalid strategy parameters for {strategy}: {_decode_error(exc)}") from exc


class EngineSetup(msgspec.Struct, kw_only=True):
    """Everything the hot-path Engine needs, as plain ints (hotpath struct field names)."""

    instrument: dict[str, int]
    engine_params: dict[str, int]
    sim_params: dict[str, int]
    risk_config: dict[str, int]
    limits: dict[str, int]
    signal_params: dict[str, int]
    strategy_kind: str
    strategy_params: dict[str, Any]
    order_lots: int
    max_position_lots: int


def build_engine_setup(
    config: BacktestConfig, strategy: str, spec: InstrumentSpec, *, latency_us: int | None, center_price: int
) -> EngineSetup:
    params = strategy_params(config, strategy)
    order_lots = _lots(spec, params.order_qty, "strategy.order_qty", 100)
    max_pos_lots = _lots(spec, params.max_position, "strategy.max_position", 10 * order_lots)
    if max_pos_lots < order_lots:
        raise ConfigError("strategy.max_position must be >= strategy.order_qty")

    if strategy == "taker":
        strategy_fields: dict[str, Any] = {
            "order_qty": order_lots,
            "max_position": max_pos_lots,
            "threshold_e6": _e6(
                params.threshold, "strategy.threshold", lo=Decimal("0.000001"), hi=Decimal(1)
            ),
            "fv_alpha_e6": _e6(params.fv_alpha, "strategy.fv_alpha", lo=Decimal("0.000001"), hi=Decimal(1)),
            "weight_fv_e6": _e6(params.weight_fv, "strategy.weight_fv", lo=Decimal(0), hi=Decimal(1)),
            "weight_imbalance_e6": _e6(
                params.weight_imbalance, "strategy.weight_imbalance", lo=Decimal(0), hi=Decimal(1)
            ),
            "cooldown_ns": _ns(params.cooldown_ms, 1_000_000, "strategy.cooldown_ms"),
            "slippage_ticks": params.slippage_ticks,
            "use_market": int(params.use_market),
            "warmup_events": params.warmup_events,
        }
    else:
        quoting = {
            "order_qty": order_lots,
            "max_position": max_pos_lots,
            "requote_ticks": params.requote_ticks,
            "cooldown_ns": _ns(params.cooldown_ms, 1_000_000, "strategy.cooldown_ms"),
            "decision_interval_ns": _ns(
                params.decision_interval_ms, 1_000_000, "strategy.decision_interval_ms"
            ),
            "warmup_events": params.warmup_events,
            "post_only": int(params.post_only),
        }
        if strategy == "mm":
            strategy_fields = {
                "q": quoting,
                "half_spread_ticks": params.half_spread_ticks,
                "skew_e6": _e6(params.skew_ticks, "strategy.skew_ticks", lo=Decimal(0), hi=Decimal(10**9)),
                "imbalance_widen_e6": _e6(
                    params.imbalance_widen, "strategy.imbalance_widen", lo=Decimal(0), hi=Decimal(1000)
                ),
            }
        else:
            if params.min_half_spread_ticks > params.max_half_spread_ticks:
                raise ConfigError("strategy.min_half_spread_ticks must be <= strategy.max_half_spread_ticks")

            def auto(value: Decimal | None, name: str) -> int:
                # 0 tells the strategy to use the signals' estimate
                return 0 if value is None else _e6(value, name, lo=Decimal("0.000001"), hi=Decimal(10**9))

            strategy_fields = {
                "q": quoting,
                "model": 0 if params.model == "as" else 1,
                "gamma_e6": _e6(params.gamma, "strategy.gamma", lo=Decimal("0.000001"), hi=Decimal(10**6)),
                "kappa_e6": auto(params.kappa, "strategy.kappa"),
                "arrival_a_e6": auto(params.arrival_a, "strategy.arrival_a"),
                "sigma_e6": auto(params.sigma, "strategy.sigma"),
                "horizon_ns": _ns(params.horizon_s, 1_000_000_000, "strategy.horizon_s"),
                "rolling_horizon": int(params.rolling_horizon),
                "min_half_spread_ticks": params.min_half_spread_ticks,
                "max_half_spread_ticks": params.max_half_spread_ticks,
                "vpin_widen": int(params.vpin_widen),
                "vpin_threshold_e6": _e6(
                    params.vpin_threshold, "strategy.vpin_threshold", lo=Decimal(0), hi=Decimal("0.999999")
                ),
                "vpin_widen_e6": _e6(
                    params.vpin_widen_factor, "strategy.vpin_widen_factor", lo=Decimal(0), hi=Decimal(1000)
                ),
            }
            if strategy_fields["horizon_ns"] <= 0:
                raise ConfigError("strategy.horizon_s must be > 0")

    sig = config.signals
    signal_params = {
        "imbalance_levels": sig.imbalance_levels,
        "vpin_bucket_qty": _lots(spec, sig.vpin_bucket_qty, "signals.vpin_bucket_qty", 1000 * order_lots),
        "vpin_window": sig.vpin_window,
        "vol_sample_ns": max(1, _ns(sig.vol_sample_ms, 1_000_000, "signals.vol_sample_ms")),
        "vol_alpha_e6": _e6(sig.vol_alpha, "signals.vol_alpha", lo=Decimal("0.000001"), hi=Decimal(1)),
        "intensity_alpha_e6": _e6(
            sig.intensity_alpha, "signals.intensity_alpha", lo=Decimal("0.000001"), hi=Decimal(1)
        ),
    }

    risk = config.risk
    max_spread = risk.max_spread_ticks if risk.max_spread_ticks is not None else INT64_MAX
    limits = {
        "max_order_qty": _lots(spec, risk.max_order_qty, "risk.max_order_qty", 10 * order_lots),
        "max_position": _lots(spec, risk.max_position, "risk.max_position", max_pos_lots),
        "max_notional": _money_nano(risk.max_notional, "risk.max_notional"),
        "collar_ppm": risk.price_collar_bps * 100,
        "max_spread_ticks": max_spread,
        "max_open_orders": risk.max_open_orders,
    }
    risk_config = {
        "max_total_notional": _money_nano(risk.max_total_notional, "risk.max_total_notional"),
        "max_open_orders_total": risk.max_open_orders_total,
        "rate_capacity": risk.rate_limit_burst,
        "rate_per_sec": risk.rate_limit_per_sec,
        "max_drawdown": _money_nano(risk.max_drawdown, "risk.max_drawdown"),
        "max_daily_loss": _money_nano(risk.max_daily_loss, "risk.max_daily_loss"),
        "day_offset_ns": risk.day_offset_hours * 3_600_000_000_000,
        "max_consecutive_losses": risk.max_consecutive_losses or INT64_MAX,
        "rapid_fill_count": risk.rapid_fill_count,
        "rapid_fill_window_ns": max(
            1, _ns(risk.rapid_fill_window_ms, 1_000_000, "risk.rapid_fill_window_ms")
        ),
    }

    venue = config.venue
    default_latency = Decimal(latency_us if latency_us is not None else 1000)
    entry = venue.entry_latency_us if venue.entry_latency_us is not None else default_latency
    response = venue.response_latency_us if venue.response_latency_us is not None else default_latency
    sim_params = {
        "entry_latency_ns": _ns(entry, 1000, "venue.entry_latency_us"),
        "response_latency_ns": _ns(response, 1000, "venue.response_latency_us"),
        "max_resting": venue.max_resting,
        "queue_capacity": 1 << 16,
    }
    instrument = spec.hotpath_fields()
    if venue.maker_fee_ppm is not None:
        instrument["maker_fee_ppm"] = venue.maker_fee_ppm
    if venue.taker_fee_ppm is not None:
        instrument["taker_fee_ppm"] = venue.taker_fee_ppm
    instrument["center_price"] = center_price

    engine_params = {
        "equity_sample_ns": _ns(config.engine.equity_sample_ms, 1_000_000, "engine.equity_sample_ms"),
        "hash_every": config.engine.hash_every,
        "md_latency_ns": _ns(venue.md_latency_us, 1000, "venue.md_latency_us"),
    }
    return EngineSetup(
        instrument=instrument,
        engine_params=engine_params,
        sim_params=sim_params,
        risk_config=risk_config,
        limits=limits,
        signal_params=signal_params,
        strategy_kind=strategy,
        strategy_params=strategy_fields,
        order_lots=order_lots,
        max_position_lots=max_pos_lots,
    )
