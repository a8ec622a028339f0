"""The backtest config schema: exact conversion to hot-path integers, and refusal of bad input."""

from decimal import Decimal

import pytest

from tests.conftest import MM_BENCH_CONFIG
from trading.backtest.config import INT64_MAX, ConfigError, build_engine_setup, parse_config
from trading.instruments import InstrumentRegistry


@pytest.fixture(scope="module")
def btc():
    return InstrumentRegistry().get("BTCUSDT", "spot")


def test_bench_config_converts_exactly(btc):
    setup = build_engine_setup(
        parse_config(MM_BENCH_CONFIG), "mm", btc, latency_us=None, center_price=6_183_763
    )
    q = setup.strategy_params["q"]
    assert q == {
        "order_qty": 1000,  # 0.001 BTC at lot 0.000001
        "max_position": 10000,
        "requote_ticks": 2,
        "cooldown_ns": 0,
        "decision_interval_ns": 100_000_000,
        "warmup_events": 0,
        "post_only": 1,
    }
    assert setup.strategy_params["half_spread_ticks"] == 10
    assert setup.strategy_params["skew_e6"] == 500_000
    assert setup.sim_params["entry_latency_ns"] == 1_000_000
    assert setup.sim_params["response_latency_ns"] == 1_000_000
    assert setup.instrument["maker_fee_ppm"] == 0 and setup.instrument["taker_fee_ppm"] == 0
    assert setup.instrument["center_price"] == 6_183_763
    assert setup.limits["max_position"] == 10000
    assert setup.limits["max_order_qty"] == 10000  # default 10 x order qty
    assert setup.limits["max_notional"] == INT64_MAX  # omitted limit = disabled, never zero
    assert setup.limits["collar_ppm"] == 50_000


def test_defaults_scale_with_the_instrument(btc):
    setup = build_engine_setup(parse_config(None), "avellaneda", btc, latency_us=250, center_price=1)
    assert setup.order_lots == 100 and setup.max_position_lots == 1000  # 100 lots by default
    assert setup.sim_params["entry_latency_ns"] == 250_000
    assert setup.strategy_params["kappa_e6"] == 0  # omitted: estimated from trades
    assert setup.strategy_params["gamma_e6"] == 100_000


def test_instrument_fees_are_kept_unless_overridden(btc):
    setup = build_engine_setup(parse_config({}), "taker", btc, latency_us=None, center_price=1)
    assert setup.instrument["maker_fee_ppm"] == btc.maker_fee_ppm
    assert setup.strategy_params["threshold_e6"] == 300_000


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (b"{", "invalid config"),
        (b"[]", "invalid config"),
        (b'{"strategyy": {}}', "strategyy"),
        (b'{"risk": {"max_position": "0.01", "max_posiiton": 1}}', "max_posiiton"),
        (b'{"risk": {"price_collar_bps": 0}}', "price_collar_bps"),
        (b'{"risk": {"max_open_orders": -1}}', "max_open_orders"),
        (b'{"risk": {"max_open_orders": "ten"}}', "max_open_orders"),
        (b'{"venue": {"maker_fee_ppm": 100001}}', "maker_fee_ppm"),
        (b'{"signals": {"imbalance_levels": 65}}', "imbalance_levels"),
        (b'{"engine": {"hash_every": 1e400}}', "invalid config"),
    ],
)
def test_malformed_configs_are_refused_with_the_field(raw, message):
    with pytest.raises(ConfigError, match=message):
        parse_config(raw)


@pytest.mark.parametrize(
    ("strategy", "section", "message"),
    [
        ("mm", {"order_qty": "0.0000001"}, "order_qty"),  # finer than a lot (0.000001)
        ("mm", {"order_qty": "-0.001"}, "order_qty"),
        ("mm", {"order_qty": "NaN"}, "order_qty"),
        ("mm", {"order_qty": "0.01", "max_position": "0.001"}, "max_position"),
        ("mm", {"half_spread_ticks": 0}, "half_spread_ticks"),
        ("mm", {"skew_ticks": "0.0000001"}, "6 decimal places"),
        ("mm", {"decision_interval_ms": "0.0000001"}, "nanosecond"),
        ("mm", {"gamma": "0.1"}, "gamma"),  # an Avellaneda key given to the MM
        ("avellaneda", {"gamma": "0"}, "gamma"),
        ("avellaneda", {"gamma": "Infinity"}, "gamma"),
        ("avellaneda", {"kappa": "often"}, "kappa"),
        ("avellaneda", {"min_half_spread_ticks": 5, "max_half_spread_ticks": 4}, "min_half_spread"),
        ("avellaneda", {"vpin_threshold": "1"}, "vpin_threshold"),
        ("avellaneda", {"horizon_s": "0"}, "horizon"),
        ("taker", {"threshold": "1.5"}, "threshold"),
        ("taker", {"threshold": "0"}, "threshold"),
        ("nosuch", {}, "unknown strategy"),
    ],
)
def test_bad_strategy_parameters_are_refused(btc, strategy, section, message):
    config = parse_config({"strategy": section})
    with pytest.raises(ConfigError, match=message):
        build_engine_setup(config, strategy, btc, latency_us=None, center_price=1)


def test_money_limits_are_exact_nano(btc):
    config = parse_config({"risk": {"max_notional": "1234.5", "max_drawdown": "0.000000001"}})
    setup = build_engine_setup(config, "mm", btc, latency_us=None, center_price=1)
    assert setup.limits["max_notional"] == 1_234_500_000_000
    assert setup.risk_config["max_drawdown"] == 1
    with pytest.raises(ConfigError, match="9 decimal places"):
        build_engine_setup(
            parse_config({"risk": {"max_drawdown": "0.0000000001"}}),
            "mm",
            btc,
            latency_us=None,
            center_price=1,
        )
    with pytest.raises(ConfigError, match="max_daily_loss"):
        build_engine_setup(
            parse_config({"risk": {"max_daily_loss": "0"}}), "mm", btc, latency_us=None, center_price=1
        )


def test_numbers_are_read_as_exact_decimals(btc):
    config = parse_config(b'{"strategy": {"order_qty": 0.003, "skew_ticks": 0.1}}')
    setup = build_engine_setup(config, "mm", btc, latency_us=None, center_price=1)
    assert setup.order_lots == 3000
    assert setup.strategy_params["skew_e6"] == 100_000
    assert Decimal("0.1") * 1_000_000 == setup.strategy_params["skew_e6"]
