"""The event-log browser: keyset pages, filters, the durable high-water mark, detail."""

from __future__ import annotations

import re

import pytest
from django.db import connection
from django.urls import reverse

from bench.event_rows import T0, load_events, synthetic_records
from tests.integration.harness import database_url_for
from trading.models import Node

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def journal():
    """A node with 3,000 durable events (and 100 more in the table past its high-water mark)."""
    from django.conf import settings

    node = Node.objects.create(name="events-node")
    records = synthetic_records(1, 3_100)
    load_events(database_url_for(settings.DATABASE_URL, connection.settings_dict["NAME"]), node.pk, records,
                durable_seq=3_000)  # fmt: skip
    return node, records


def seqs(body: str) -> list[int]:
    return [int(s) for s in re.findall(r'href="/events/events-node/(\d+)/"', body)]


def test_pages_newest_first_never_past_the_durable_seq(client, make_user, journal):
    client.force_login(make_user("viewer"))
    body = client.get(reverse("event-list"), {"node": "events-node"}).content.decode()
    assert seqs(body) == list(range(3_000, 2_950, -1)) and 'id="durable">3000<' in body
    older = re.search(r"before=(\d+)", body).group(1)
    body2 = client.get(reverse("event-list"), {"node": "events-node", "before": older}).content.decode()
    assert seqs(body2) == list(range(2_950, 2_900, -1))
    last = client.get(reverse("event-list"), {"node": "events-node", "before": 30}).content.decode()
    assert seqs(last) == list(range(29, 0, -1)) and 'id="older"' not in last
    assert client.get(reverse("event-detail", args=["events-node", 3_050])).status_code == 404, (
        "past the mark"
    )
    detail = client.get(reverse("event-detail", args=["events-node", 42])).content.decode()
    assert "event #42" in detail and str(int(journal[1]["ts_local"][41])) in detail


def test_filters(client, make_user, journal):
    _, records = journal
    durable = records[records["seq"] <= 3_000]
    client.force_login(make_user("viewer"))

    def page(**params):
        return seqs(client.get(reverse("event-list"), {"node": "events-node", **params}).content.decode())

    fills = durable["seq"][durable["kind"] == 10][::-1][:50].tolist()
    assert page(kind=10) == fills and fills
    order = int(durable["order_id"][durable["order_id"] > 0][5])
    assert page(order_id=order) == durable["seq"][durable["order_id"] == order][::-1].tolist()
    assert page(seq_from=100, seq_to=120) == list(range(120, 99, -1))
    since = T0 + 500 * 50_000
    assert page(since="2024-08-08 00:00:00.025000", until="2024-08-08 00:00:00.026000") == list(
        range(519, 499, -1)
    )
    assert since == int(records["ts_local"][499])
    window = (durable["ts_local"] >= T0 + 100 * 50_000) & (durable["ts_local"] < T0 + 2_000 * 50_000)
    expected = durable["seq"][window & (durable["kind"] == 1)][::-1][:50].tolist()
    assert page(kind=1, since="2024-08-08 00:00:00.005000", until="2024-08-08 00:00:00.100000") == expected
    assert page(since="2024-08-08 00:00:00.005000", until="2024-08-08 00:00:00.100000", before=1_000) == list(
        range(999, 949, -1)
    ), "time window and keyset together"
    assert page(since="2030-01-01 00:00") == []


@pytest.mark.parametrize(
    "params",
    [
        {"node": "no-such-node"},
        {"kind": "99"},
        {"kind": "ORDER_NEW"},
        {"seq_from": "0"},
        {"seq_from": "10", "seq_to": "5"},
        {"before": "-1"},
        {"before": str(2**63)},
        {"order_id": "1; DROP TABLE trading_event"},
        {"since": "2024-13-01"},
    ],
)
def test_bad_filters_are_refused_with_a_message(client, make_user, journal, params):
    client.force_login(make_user("viewer"))
    response = client.get(reverse("event-list"), {"node": "events-node", **params})
    assert response.status_code == 200 and 'id="filter-error"' in response.content.decode()


def test_needs_the_view_permission(client, make_user, journal):
    client.force_login(make_user(None))
    assert client.get(reverse("event-list")).status_code == 403


def test_the_node_page_shows_durable_state_hashes_and_the_equity_curve(client, make_user):
    from django.conf import settings

    from hotpath.types import REC_EQUITY, REC_STATE_HASH

    node = Node.objects.create(name="hash-node")
    records = synthetic_records(1, 400)
    records["kind"] = 19  # inputs, then the records under test
    records["kind"][::50] = REC_STATE_HASH
    records["a"][::50] = -0x1234  # a 64-bit pattern with the top bit set
    records["b"][::50] = range(0, 400, 50)
    equity = slice(5, 400, 20)  # never on a hash record (every 50th)
    records["kind"][equity] = REC_EQUITY
    records["e"][equity] = [k * 1_000_000_000 for k in range(len(records[equity]))]
    load_events(database_url_for(settings.DATABASE_URL, connection.settings_dict["NAME"]), node.pk, records,
                durable_seq=300)  # fmt: skip
    client.force_login(make_user("viewer"))
    body = client.get(reverse("node-live", args=["hash-node"])).content.decode()
    hashes = re.findall(
        r'<td class="num">(\d+)</td><td class="num">\d+</td><td><code>([0-9a-f]{16})</code>', body
    )
    assert [int(seq) for seq, _ in hashes] == [251, 201, 151, 101, 51, 1], "durable ones only, newest first"
    assert hashes[0][1] == f"{-0x1234 & 0xFFFFFFFFFFFFFFFF:016x}"
    assert 'id="equity"' in body and body.count(",") > 10
    empty = Node.objects.create(name="quiet-node")
    body = client.get(reverse("node-live", args=[empty.name])).content.decode()
    assert 'id="no-hashes"' in body and 'id="no-equity"' in body
