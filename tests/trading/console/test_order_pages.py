"""Orders and fills of a node: decimal prices, keyset pages, latency colour bands."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest
from django.urls import reverse

from trading.models import Fill, Order
from trading.selectors.console import latency_band
from trading.services.nodes import node_config_activate

pytestmark = pytest.mark.django_db
DEMO = json.loads((Path(__file__).resolve().parents[3] / "configs" / "node_demo.json").read_text())
MS = 1_000_000


@pytest.fixture
def node():
    document = copy.deepcopy(DEMO)
    document["node"] = "orders-node"
    node, _, _ = node_config_activate(node_name="orders-node", document=document)
    for k, latency in enumerate([10 * MS, 120 * MS, 300 * MS, 900 * MS, None] * 12):
        Order.objects.create(
            node=node, client_id=k + 1, instrument=0, symbol="BTCUSDT", side="BUY", order_type="LIMIT_MAKER",
            tif="GTC", price=6_172_345, qty=1000, filled=500 if k % 2 else 0, status="ACKED",
            created_ns=1, sent_ns=1_000 if latency is not None else None,
            acked_ns=1_000 + latency if latency is not None else None, updated_ns=2, first_seq=k + 1, last_seq=k + 1,
        )  # fmt: skip
    Fill.objects.create(node=node, seq=99, client_order_id=2, instrument=0, symbol="BTCUSDT", side="BUY",
                        price=6_172_345, qty=500, fee=-10, is_maker=True, ts_event=1, ts_local=1, venue_trade_id=7,
                        position_after=500, realized_after=0, mid_x2=12_344_690)  # fmt: skip
    return node


@pytest.mark.parametrize(
    ("ns", "band"), [(None, "none"), (0, "green"), (49_999_999, "green"), (50 * MS, "cyan"), (199 * MS, "cyan"),
                     (200 * MS, "yellow"), (500 * MS, "red"), (10**12, "red")],
)  # fmt: skip
def test_latency_bands(ns, band):
    assert latency_band(ns) == band


def test_orders_page(client, make_user, node):
    client.force_login(make_user("viewer"))
    body = client.get(reverse("node-orders", args=["orders-node"])).content.decode()
    assert "61723.45" in body and "0.001000" in body and "0.000500" in body
    for band in ("green", "cyan", "yellow", "red", "none"):
        assert f'data-band="{band}"' in body
    assert "10.00 ms" in body and "900.00 ms" in body and 'id="fills"' in body and "maker" in body
    assert "before=11" in body, "the newest 50 (60..11), then older"
    older = client.get(reverse("node-orders", args=["orders-node"]), {"before": 11}).content.decode()
    assert 'id="older"' not in older and older.count('data-band="') == 10


@pytest.mark.parametrize("before", ["x", "-1", "1" * 30, ""])
def test_bad_keyset_is_refused(client, make_user, node, before):
    client.force_login(make_user("viewer"))
    response = client.get(reverse("node-orders", args=["orders-node"]), {"before": before})
    assert response.status_code == (200 if before == "" else 400)


def test_orders_need_the_view_permission(client, make_user, node):
    client.force_login(make_user(None))
    assert client.get(reverse("node-orders", args=["orders-node"])).status_code == 403
    client.force_login(make_user("viewer"))
    assert client.get(reverse("node-orders", args=["no-such"])).status_code == 404


def test_the_live_page_gets_instrument_specs_keyed_by_engine_index(client, make_user, node):
    import re

    client.force_login(make_user("viewer"))
    body = client.get(reverse("node-live", args=["orders-node"])).content.decode()
    specs = json.loads(
        re.search(r'<script id="instruments" type="application/json">(.*?)</script>', body).group(1)
    )
    assert specs == {"0": {"symbol": "BTCUSDT", "tick_size": "0.01", "lot_size": "0.000001",
                           "price_decimals": 2, "qty_decimals": 6}}  # fmt: skip
