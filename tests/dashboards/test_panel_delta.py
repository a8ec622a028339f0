"""Panel deltas: what the relay sends between two frames, merged back exactly as the page does."""

from __future__ import annotations

import copy

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from dashboards.panels import REMOVED, apply_panel_delta, panel_delta

KEYS = st.sampled_from(["a", "b", "c", "stages", "book", "p99_ns", "0", "BTCUSDT"])
SCALARS = st.none() | st.booleans() | st.integers(-(2**53), 2**53) | st.text(max_size=5)
VALUES = st.recursive(
    SCALARS,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(KEYS, inner, max_size=4),
    max_leaves=12,
)
PANELS = st.dictionaries(KEYS, VALUES, max_size=5)


@settings(max_examples=400, deadline=None)
@given(previous=PANELS, current=PANELS)
def test_merging_the_delta_gives_the_new_panel_exactly(previous, current):
    delta = orjson.loads(orjson.dumps(panel_delta(previous, current)))  # as it travels
    assert apply_panel_delta(copy.deepcopy(previous), delta) == current
    if previous == current:
        assert delta == {}


def test_only_what_changed_inside_objects_travels():
    previous = {
        "seq": 1,
        "metrics": {"stages": {"engine": {"p99_ns": 10, "count": 5}, "risk": {"p99_ns": 3}}, "uptime": 1},
        "live_orders": [{"id": 1}],
        "gone": {"x": 1},
    }
    current = {
        "seq": 2,
        "metrics": {"stages": {"engine": {"p99_ns": 12, "count": 5}, "risk": {"p99_ns": 3}}, "uptime": 1},
        "live_orders": [{"id": 1}, {"id": 2}],
    }
    assert panel_delta(previous, current) == {
        "seq": 2,
        "metrics": {"stages": {"engine": {"p99_ns": 12}}},
        "live_orders": [{"id": 1}, {"id": 2}],  # lists travel whole
        REMOVED: ["gone"],
    }
    assert panel_delta(None, current) == current
    # an object that becomes something else, and back
    assert panel_delta({"risk": {"a": 1}}, {"risk": None}) == {"risk": None}
    assert panel_delta({"risk": None}, {"risk": {"a": 1}}) == {"risk": {"a": 1}}
    assert panel_delta({"risk": {"a": 1, "b": 2}}, {"risk": {"a": 1}}) == {"risk": {REMOVED: ["b"]}}
