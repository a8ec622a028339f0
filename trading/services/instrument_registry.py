"""The instrument registry in the database: seeded from the shipped file, grown in the admin,
and the one registry node documents are validated against (console, admin and runnode).

Rows are immutable once stored: a node's journal replays only with the spec it was recorded
with. A venue closed to trading refuses new node configurations that trade its instruments.
"""

from __future__ import annotations

from django.db import IntegrityError, transaction

from trading.audit import Actor, record_audit
from trading.backtest.config import ConfigError
from trading.instruments import InstrumentError, InstrumentRegistry, InstrumentSpec
from trading.models import Instrument, Venue
from trading.selectors.instruments import SPEC_FIELDS, instrument_registry, spec_of
from trading.services import operations

ADD_PERMISSION = "trading.add_instrument"
VENUE_PERMISSION = "trading.change_venue"


def seed_shipped_instruments() -> int:
    """Create the venues and instruments of the shipped file that have no row yet (never
    changes an existing row). Returns how many instruments were created."""
    created = 0
    with transaction.atomic():
        for spec in InstrumentRegistry().all():
            venue, _ = Venue.objects.get_or_create(name=spec.venue)
            data = spec.to_json()
            _, made = Instrument.objects.get_or_create(
                symbol=spec.symbol.upper(), market=spec.market,
                defaults={**{k: data[k] for k in SPEC_FIELDS if k not in ("symbol", "market")},
                          "venue": venue, "source": Instrument.Source.SHIPPED},
            )  # fmt: skip
            created += made
    return created


def add_instrument(actor: Actor, data: dict) -> Instrument:
    """Validate one spec (exactly as instrument files are validated) and store it, audited."""
    user = operations.require_permission(actor, ADD_PERMISSION, "instrument.add", "instrument",
                                         str(data.get("symbol", ""))[:40])  # fmt: skip
    try:
        spec = InstrumentSpec.from_json(data)
    except InstrumentError as exc:
        raise ConfigError(str(exc)) from exc
    venue = Venue.objects.filter(name=spec.venue).first()
    if venue is None:
        raise ConfigError(f"unknown venue {spec.venue!r}: add the venue first")
    fields = spec.to_json()
    try:
        with transaction.atomic():
            row = Instrument.objects.create(
                venue=venue, source=Instrument.Source.ADMIN, created_by_username=user.get_username(),
                **{k: fields[k] for k in SPEC_FIELDS if k != "symbol"}, symbol=spec.symbol.upper(),
            )  # fmt: skip
            record_audit(actor, "instrument.add", "instrument", f"{row.symbol}:{row.market}", after=fields)
    except IntegrityError as exc:
        raise ConfigError(
            f"{spec.symbol} ({spec.market}) already exists: instruments are never edited"
        ) from exc
    return row


def set_venue_trading(actor: Actor, venue_name: str, enabled: bool) -> Venue:
    operations.require_permission(actor, VENUE_PERMISSION, "venue.trading", "venue", str(venue_name)[:40])
    with transaction.atomic():
        venue = Venue.objects.select_for_update().filter(name=venue_name).first()
        if venue is None:
            raise LookupError(f"no venue named {venue_name!r}")
        before = venue.trading_enabled
        venue.trading_enabled = bool(enabled)
        venue.save(update_fields=["trading_enabled"])
        record_audit(actor, "venue.trading", "venue", venue.name, before={"trading_enabled": before},
                     after={"trading_enabled": venue.trading_enabled})  # fmt: skip
    return venue


def check_venues_open(config) -> None:
    """ConfigError if an instrument of this NodeConfig trades on a venue closed to trading."""
    venues = {item.spec.venue for item in config.instruments}
    closed = sorted(
        Venue.objects.filter(name__in=venues, trading_enabled=False).values_list("name", flat=True)
    )
    if closed:
        raise ConfigError(
            f"venue {', '.join(closed)} is closed to trading: no new configuration may trade it"
        )


def parse_node_document(document, **kwargs):
    """parse_node_config against the database registry, refusing closed venues."""
    from trading.engine.config import parse_node_config

    config = parse_node_config(document, registry=instrument_registry(), **kwargs)
    check_venues_open(config)
    return config


__all__ = [
    "add_instrument",
    "check_venues_open",
    "instrument_registry",
    "parse_node_document",
    "seed_shipped_instruments",
    "set_venue_trading",
    "spec_of",
]
