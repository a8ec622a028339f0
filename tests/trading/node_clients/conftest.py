"""Fixtures of the venue-client tests: instruments and a scripted venue on loopback."""

from __future__ import annotations

import pytest
import pytest_asyncio

from tests.trading.node_clients.scripted_venue import ScriptedVenue
from trading.engine.venue_types import FeedInstrument
from trading.instruments import InstrumentRegistry


@pytest.fixture(scope="session")
def registry() -> InstrumentRegistry:
    return InstrumentRegistry()


@pytest.fixture(scope="session")
def btc(registry) -> FeedInstrument:
    return FeedInstrument(0, registry.get("BTCUSDT", "spot"))


@pytest.fixture(scope="session")
def eth(registry) -> FeedInstrument:
    return FeedInstrument(1, registry.get("ETHUSDT", "spot"))


@pytest.fixture(scope="session")
def btc_usdm(registry) -> FeedInstrument:
    return FeedInstrument(0, registry.get("BTCUSDT", "usdm"))


@pytest_asyncio.fixture
async def venue():
    scripted = await ScriptedVenue().start()
    try:
        yield scripted
    finally:
        await scripted.close()
