"""The backtest list: newest first, filters, keyset pages, hostile parameters refused."""

from __future__ import annotations

import re

import pytest

from tests.trading.test_views import make_run

pytestmark = pytest.mark.django_db


def ids(response) -> list[int]:
    return [int(i) for i in re.findall(r'href="/backtests/(\d+)/"', response.content.decode())]


def test_runs_are_listed_newest_first_in_pages(viewer_client):
    runs = [make_run(symbol="BTCUSDT" if i % 2 else "ETHUSDT") for i in range(120)]
    first = viewer_client.get("/backtests/")
    assert first.status_code == 200 and ids(first) == [r.pk for r in reversed(runs)][:50]
    older = re.search(r'id="older" href="\?before=(\d+)"', first.content.decode())
    second = viewer_client.get(f"/backtests/?before={older.group(1)}")
    assert ids(second) == [r.pk for r in reversed(runs)][50:100]
    third = viewer_client.get(f"/backtests/?before={ids(second)[-1]}")
    assert ids(third) == [r.pk for r in reversed(runs)][100:] and 'id="older"' not in third.content.decode()


def test_filters_keep_across_pages(viewer_client):
    runs = [make_run(symbol="BTCUSDT" if i % 2 else "ETHUSDT") for i in range(110)]
    page = viewer_client.get("/backtests/?symbol=ethusdt&strategy=")
    eth = [r.pk for r in reversed(runs) if r.symbol == "ETHUSDT"]
    assert ids(page) == eth[:50]
    assert re.search(r'href="\?symbol=ethusdt&amp;strategy=&amp;before=\d+"', page.content.decode())
    assert ids(viewer_client.get("/backtests/?strategy=taker")) == []


@pytest.mark.parametrize(
    "query",
    ["before=0", "before=-5", "before=abc", f"before={2**70}", "strategy=martingale", "symbol=%3Cscript%3E",
     "symbol=" + "A" * 41, "before=1e3"],
)  # fmt: skip
def test_hostile_parameters_are_refused_with_a_message(viewer_client, query):
    make_run()
    response = viewer_client.get(f"/backtests/?{query}")
    assert response.status_code == 400 and 'id="filter-errors"' in response.content.decode()
    assert ids(response) == [] and "<script>" not in response.content.decode()


def test_the_list_needs_a_signed_in_user_with_the_permission(client, make_user):
    assert client.get("/backtests/").status_code == 302
    client.force_login(make_user(None))
    assert client.get("/backtests/").status_code == 403
    assert client.post("/backtests/").status_code in (403, 405)
