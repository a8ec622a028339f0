"""The config page's document diff (trading.config_diff): pure, no database."""

from __future__ import annotations

import copy
import json
from pathlib import Path

from trading.config_diff import ABSENT, HIDDEN, MAX_SHOWN_CHARS, document_diff, version_diff

DEMO = json.loads((Path(__file__).resolve().parents[2] / "configs" / "node_demo.json").read_text())


def texts(changes) -> list[str]:
    return [change.text for change in changes]


def test_identical_documents_have_no_changes():
    assert document_diff(DEMO, copy.deepcopy(DEMO)) == []
    diff = version_diff(DEMO, copy.deepcopy(DEMO))
    assert diff.changes == () and diff.raised == () and diff.lowered == ()


def test_each_changed_field_is_one_line_node_wide_first():
    new = copy.deepcopy(DEMO)
    new["risk"]["max_daily_loss"] = "400"
    new["engine"]["hash_every"] = 20000
    new["instruments"][0]["config"]["strategy"]["half_spread_ticks"] = 12
    new["instruments"][0]["strategy"] = "avellaneda"
    assert texts(document_diff(DEMO, new)) == [
        "engine.hash_every: 10000 -> 20000",
        "risk.max_daily_loss: 500 -> 400",
        "BTCUSDT.strategy: mm -> avellaneda",
        "BTCUSDT.strategy.half_spread_ticks: 10 -> 12",
    ]


def test_added_and_removed_fields_show_absent():
    new = copy.deepcopy(DEMO)
    del new["risk"]["max_drawdown"]
    new["instruments"][0]["config"]["risk"]["max_order_qty"] = "0.002"
    assert texts(document_diff(DEMO, new)) == [
        f"risk.max_drawdown: 1000 -> {ABSENT}",
        f"BTCUSDT.risk.max_order_qty: {ABSENT} -> 0.002",
    ]


def test_values_compare_with_their_types():
    new = copy.deepcopy(DEMO)
    new["engine"]["hash_every"] = "10000"  # a string is not the number it spells
    new["instruments"][0]["config"]["strategy"]["post_only"] = 1  # 1 == True in Python, not here
    new["metrics"]["port"] = 9464.0
    assert texts(document_diff(DEMO, new)) == [
        "engine.hash_every: 10000 -> 10000",
        "metrics.port: 9464 -> 9464.0",
        "BTCUSDT.strategy.post_only: true -> 1",
    ]


def test_credentials_are_never_shown_only_that_they_changed():
    new = copy.deepcopy(DEMO)
    new["venue"]["hmac_secret"] = "a-new-secret-value"
    new["venue"]["api_key"] = "new-key"
    changes = document_diff(DEMO, new)
    assert texts(changes) == [
        f"venue.api_key: {HIDDEN} -> {HIDDEN}",
        f"venue.hmac_secret: {HIDDEN} -> {HIDDEN}",
    ]
    shown = " ".join(texts(changes))
    assert "secret-value" not in shown and "new-key" not in shown and "demo-hmac" not in shown


def test_long_values_are_cut_and_lists_compared_whole():
    new = copy.deepcopy(DEMO)
    new["venue"]["stream_url"] = "ws://" + "x" * 500
    new["affinity"] = {"node_cpus": [1, 0]}
    old = {**copy.deepcopy(DEMO), "affinity": {"node_cpus": [0, 1]}}
    changes = {c.path: c for c in document_diff(old, new)}
    assert len(changes["venue.stream_url"].new) == MAX_SHOWN_CHARS and changes[
        "venue.stream_url"
    ].new.endswith("…")
    assert changes["affinity.node_cpus"].text == "affinity.node_cpus: [0,1] -> [1,0]"


def test_raised_limits_are_marked_and_summarised_lowered_ones_not_marked():
    new = copy.deepcopy(DEMO)
    new["risk"]["max_daily_loss"] = "900"  # raised
    new["risk"]["max_drawdown"] = "10"  # lowered
    new["instruments"][0]["config"]["risk"]["max_position"] = "0.02"  # raised
    new["instruments"][0]["config"]["strategy"]["max_position"] = "0.02"  # a strategy parameter
    diff = version_diff(DEMO, new)
    marked = {c.path for c in diff.changes if c.raised}
    assert marked == {"risk.max_daily_loss", "BTCUSDT.risk.max_position"}
    assert diff.raised == ("node.max_daily_loss: 500 -> 900", "BTCUSDT.max_position: 0.01 -> 0.02")
    assert diff.lowered == ("node.max_drawdown: 1000 -> 10",)


def test_a_removed_limit_is_a_raise():
    new = copy.deepcopy(DEMO)
    del new["risk"]["max_daily_loss"]
    diff = version_diff(DEMO, new)
    assert [c.text for c in diff.changes if c.raised] == [f"risk.max_daily_loss: 500 -> {ABSENT}"]
    assert diff.raised == ("node.max_daily_loss: 500 -> unlimited",)


def test_a_new_instrument_brings_every_field_and_raises():
    new = copy.deepcopy(DEMO)
    new["instruments"].append({**copy.deepcopy(DEMO["instruments"][0]), "symbol": "ETHUSDT"})
    diff = version_diff(DEMO, new)
    paths = [c.path for c in diff.changes]
    assert all(p.startswith("ETHUSDT.") for p in paths) and "ETHUSDT.risk.max_position" in paths
    assert all(c.old == ABSENT for c in diff.changes)
    assert {c.path for c in diff.changes if c.raised} == {
        "ETHUSDT.risk.max_position",
        "ETHUSDT.risk.max_notional",
    }
    assert any(text.startswith("ETHUSDT.") for text in diff.raised)
    # and back: removing it shows every field going, and raises nothing
    back = version_diff(new, DEMO)
    assert all(c.new == ABSENT and not c.raised for c in back.changes) and back.raised == ()


def test_one_symbol_on_two_markets_is_told_apart():
    two = copy.deepcopy(DEMO)
    two["instruments"].append({**copy.deepcopy(DEMO["instruments"][0]), "market": "usdm"})
    changed = copy.deepcopy(two)
    changed["instruments"][1]["config"]["strategy"]["half_spread_ticks"] = 20
    assert texts(document_diff(two, changed)) == ["BTCUSDT/usdm.strategy.half_spread_ticks: 10 -> 20"]


def test_against_nothing_every_field_is_new():
    changes = document_diff(None, DEMO)
    assert changes and all(c.old == ABSENT for c in changes)
    assert "BTCUSDT.strategy.order_qty" in {c.path for c in changes}
