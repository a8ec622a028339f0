"""Venues and instruments in the database: seeded from the shipped file, added (never edited) in
the admin, the registry node documents are validated against, venues closable to trading."""

from __future__ import annotations

import copy

import pytest
from django.db import IntegrityError, transaction

from tests.trading.console.test_limits import actor, document
from trading.backtest.config import ConfigError
from trading.instruments import InstrumentRegistry
from trading.models import AuditEntry, Instrument, Node, NodeConfigVersion, Venue
from trading.services.config_changes import propose_node_config
from trading.services.instrument_registry import (
    add_instrument,
    instrument_registry,
    parse_node_document,
    seed_shipped_instruments,
    set_venue_trading,
    spec_of,
)
from trading.services.nodes import node_config_activate
from trading.services.operations import OperationDenied

pytestmark = pytest.mark.django_db(transaction=True)

NEW = {"symbol": "SOLUSDT", "venue": "binance", "market": "spot", "base": "SOL", "quote": "USDT", "settle": "USDT",
       "tick_size": "0.01", "lot_size": "0.001", "contract_type": "linear", "multiplier": "1",
       "maker_fee_ppm": 1000, "taker_fee_ppm": 1000}  # fmt: skip


def test_the_shipped_instruments_are_seeded_once_and_equal_to_the_file():
    shipped = InstrumentRegistry().all()
    rows = Instrument.objects.select_related("venue")
    assert rows.count() == len(shipped) and {v.name for v in Venue.objects.all()} == {"binance", "bitmex"}
    assert {spec_of(row).key: spec_of(row) for row in rows} == {spec.key: spec for spec in shipped}
    assert seed_shipped_instruments() == 0, "seeding again creates nothing and changes nothing"


def test_the_database_refuses_nonsense_instruments():
    good = {**NEW, "venue": Venue.objects.get(name="binance")}
    for bad in ({"tick_size": 0}, {"lot_size": -1}, {"multiplier": 0}, {"contract_type": "perp"},
                {"maker_fee_ppm": 100_001}, {"taker_fee_ppm": -100_001}, {"book_window_log2": 27},
                {"symbol": "solusdt"}, {"symbol": "SOL USDT"}, {"symbol": "BTCUSDT"}):  # fmt: skip
        with pytest.raises(IntegrityError), transaction.atomic():
            Instrument.objects.create(**{**good, **bad})


def test_an_added_instrument_is_tradable_by_node_documents(stand_in_node, make_user):
    admin = make_user("admin")
    with pytest.raises(ConfigError, match="unknown instrument 'SOLUSDT'"):
        parse_node_document(
            {**document("sol-node"), "instruments": [{"symbol": "SOLUSDT", "market": "spot"}]}
        )
    row = add_instrument(actor(admin), dict(NEW))
    assert row.source == "admin" and row.created_by_username == admin.username
    assert instrument_registry().get("SOLUSDT", "spot").lot_size == spec_of(row).lot_size
    sol = copy.deepcopy(document("sol-node"))
    sol["instruments"] = [{"symbol": "SOLUSDT", "market": "spot", "strategy": "mm",
                           "config": {"strategy": {"order_qty": "1", "max_position": "10"}}}]  # fmt: skip
    node_config_activate(node_name="sol-node", document=sol)
    assert Node.objects.get(name="sol-node").active_config.document["instruments"][0]["symbol"] == "SOLUSDT"
    assert ("instrument.add", "SOLUSDT:spot") in AuditEntry.objects.values_list("action", "target_id")


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"tick_size": "0"}, "tick_size"),
        ({"tick_size": "NaN"}, "tick_size"),
        ({"lot_size": "-0.1"}, "lot_size"),
        ({"tick_size": 0.01}, "string"),  # floats are inexact: refused
        ({"symbol": "<script>"}, "symbol"),
        ({"symbol": "X" * 41}, "symbol"),
        ({"contract_type": "perp"}, "contract_type"),
        ({"maker_fee_ppm": 10**9}, "fee"),
        ({"venue": "ftx"}, "unknown venue 'ftx'"),
        ({"symbol": "BTCUSDT"}, "already exists: instruments are never edited"),
        ({"extra": 1}, "unknown keys"),
    ],
)
def test_bad_instruments_are_refused_and_nothing_is_stored(make_user, change, message):
    count = Instrument.objects.count()
    with pytest.raises(ConfigError, match=message):
        add_instrument(actor(make_user("admin")), {**NEW, **change})
    assert Instrument.objects.count() == count


def test_only_admins_add_instruments_or_close_venues(make_user):
    for role in ("viewer", "operator", "risk manager"):
        with pytest.raises(OperationDenied):
            add_instrument(actor(make_user(role)), dict(NEW))
        with pytest.raises(OperationDenied):
            set_venue_trading(actor(make_user(role)), "binance", False)
    assert not Instrument.objects.filter(symbol="SOLUSDT").exists()
    assert Venue.objects.get(name="binance").trading_enabled


def test_a_closed_venue_refuses_new_configurations_and_pending_raises(stand_in_node, make_user):
    node = stand_in_node("ven", lambda name: node_config_activate(node_name=name, document=document(name)))
    manager, admin = make_user("risk manager"), make_user("admin")
    raise_it = propose_node_config(actor(manager), node.name, document(node.name, risk__max_daily_loss="900"))
    set_venue_trading(actor(admin), "binance", False)
    versions = NodeConfigVersion.objects.count()
    with pytest.raises(ConfigError, match="venue binance is closed to trading"):
        propose_node_config(actor(manager), node.name, document(node.name, risk__max_daily_loss="100"))
    assert NodeConfigVersion.objects.count() == versions
    from trading.services.operations import decide_approval

    decided = decide_approval(actor(make_user("risk manager")), raise_it.approval.pk, approve=True)
    assert decided.status == "FAILED" and "closed to trading" in decided.outcome
    set_venue_trading(actor(admin), "binance", True)
    assert propose_node_config(
        actor(manager), node.name, document(node.name, risk__max_daily_loss="100")
    ).activated
    actions = list(
        AuditEntry.objects.filter(action="venue.trading").order_by("seq").values_list("after", flat=True)
    )
    assert actions == [{"trading_enabled": False}, {"trading_enabled": True}]


def test_the_admin_adds_instruments_and_never_edits_them(client, make_user):
    admin = make_user("admin", is_staff=True)
    client.force_login(admin)
    form = {**NEW, "venue": Venue.objects.get(name="binance").pk, "symbol": "solusdt", "book_window_log2": 22}
    bad = client.post("/admin/trading/instrument/add/", {**form, "lot_size": "0"})
    assert bad.status_code == 200 and not Instrument.objects.filter(symbol="SOLUSDT").exists()
    duplicate = client.post("/admin/trading/instrument/add/", {**form, "symbol": "btcusdt"})
    assert duplicate.status_code == 200 and "already exists" in duplicate.content.decode()
    assert client.post("/admin/trading/instrument/add/", form).status_code == 302
    row = Instrument.objects.get(symbol="SOLUSDT")
    page = client.get(f"/admin/trading/instrument/{row.pk}/change/")
    assert page.status_code == 200 and 'name="tick_size"' not in page.content.decode(), "read-only"
    assert (
        client.post(f"/admin/trading/instrument/{row.pk}/change/", {**form, "tick_size": "1"}).status_code
        == 403
    )
    assert Instrument.objects.get(pk=row.pk).tick_size == row.tick_size
    venue = Venue.objects.get(name="binance")
    client.post(f"/admin/trading/venue/{venue.pk}/change/", {"description": "spot", "trading_enabled": ""})
    assert not Venue.objects.get(pk=venue.pk).trading_enabled
    assert AuditEntry.objects.filter(action="venue.trading").count() == 1
