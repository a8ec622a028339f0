# Plumbing of the strategy wrapper classes (AvellanedaStoikov, SkewedMarketMaker, LiquidityTaker),
# in one place: keyword parameters -> params struct dict, strategy input dict -> StrategyInputs.
# Only cdef inline functions, like hotpath/pywrap.pxd; never used by the kernels.
from hotpath.pywrap cimport merge_params
from hotpath.signals cimport SignalEngine
from hotpath.strategy.common cimport StrategyInputs


# StrategyInputs fields a strategy input dict may name (the signals come as a SignalEngine).
cdef inline tuple input_fields():
    return ("ts_event", "best_bid", "best_bid_qty", "best_ask", "best_ask_qty", "position",
            "open_buy", "open_sell", "book_valid", "last_quote_change_ts")


# QuotingParams fields: a quoting strategy takes them as flat keyword parameters.
cdef inline tuple quoting_fields():
    return ("order_qty", "max_position", "requote_ticks", "cooldown_ns", "decision_interval_ns",
            "warmup_events", "post_only")


# Keyword parameters of a strategy over its defaults (order_qty and max_position have none):
# TypeError on an unknown or a missing name.
cdef inline dict strategy_params(dict params, dict defaults):
    return merge_params(params, defaults, ("order_qty", "max_position"))


# The same for a quoting strategy, with the QuotingParams fields nested under "q" as in its
# params struct (the dict converts to the struct).
cdef inline dict quoting_strategy_params(dict params, dict defaults):
    merged = strategy_params(params, defaults)
    merged["q"] = {k: merged.pop(k) for k in quoting_fields()}
    return merged


# The inverse, for the params property: a quoting params struct's dict with "q" flattened into it.
cdef inline dict flat_quoting_params(dict d):
    d.update(d.pop("q"))
    return d


# Fill x from a strategy input dict and the optional signals. Missing fields are 0 except
# book_valid (1); unknown names are refused with ValueError (typos must not pass).
cdef inline int inputs_from_dict(dict d, SignalEngine signals, StrategyInputs* x) except -1:
    unknown = set(d) - set(input_fields())
    if unknown:
        raise ValueError(f"unknown strategy input fields: {sorted(unknown)}")
    x.ts_event = d.get("ts_event", 0)
    x.best_bid = d.get("best_bid", 0)
    x.best_bid_qty = d.get("best_bid_qty", 0)
    x.best_ask = d.get("best_ask", 0)
    x.best_ask_qty = d.get("best_ask_qty", 0)
    x.position = d.get("position", 0)
    x.open_buy = d.get("open_buy", 0)
    x.open_sell = d.get("open_sell", 0)
    x.book_valid = d.get("book_valid", 1)
    x.last_quote_change_ts = d.get("last_quote_change_ts", 0)
    x.sig = NULL if signals is None else &signals.sig
    return 0
