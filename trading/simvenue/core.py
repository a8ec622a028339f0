"""The venue without its network: instruments, books, matching, accounts, limits, replay.

SimVenueServer (server.py) puts WebSocket connections in front of one VenueCore; tests and tools
can drive a VenueCore's replay directly (core.replay.advance). Everything here runs on one event
loop thread, so each request and each replayed line is applied atomically.
"""

from __future__ import annotations

import orjson

from trading.instruments import InstrumentRegistry
from trading.simvenue.accounts import KeyRing
from trading.simvenue.clock import VenueClock
from trading.simvenue.config import SimVenueConfig, parse_amount
from trading.simvenue.exchange import Exchange
from trading.simvenue.hub import DropCount, Outbox, StreamHub
from trading.simvenue.instruments import VenueInstrument, resolve_instruments
from trading.simvenue.ratelimit import FixedWindow, order_windows, weight_window
from trading.simvenue.replay import Replay, SymbolReplay
from trading.simvenue.venue_book import VenueBook


class UserDataRouter:
    """Execution reports to the user-data subscriptions of their account.

    An event is pushed on the subscribing connection as {"subscriptionId": n, "event": {...}}.
    """

    def __init__(self) -> None:
        self._subscriptions: dict[str, dict[tuple[Outbox, int], None]] = {}
        self.events_sent = 0

    def add(self, account: str, outbox: Outbox, subscription_id: int) -> None:
        self._subscriptions.setdefault(account, {})[(outbox, subscription_id)] = None

    def remove(self, account: str, outbox: Outbox, subscription_id: int) -> None:
        self._subscriptions.get(account, {}).pop((outbox, subscription_id), None)

    def publish(self, events: list[tuple[str, dict]]) -> None:
        for account, event in events:
            subscribers = self._subscriptions.get(account)
            if not subscribers:
                continue
            for outbox, subscription_id in list(subscribers):
                if outbox.offer(orjson.dumps({"subscriptionId": subscription_id, "event": event})):
                    self.events_sent += 1
                else:
                    del subscribers[(outbox, subscription_id)]


class VenueCore:
    def __init__(self, config: SimVenueConfig, registry: InstrumentRegistry | None = None):
        self.config = config
        self.clock = VenueClock()
        self.instruments: list[VenueInstrument] = resolve_instruments(
            config, registry or InstrumentRegistry()
        )
        self.by_symbol = {i.symbol: i for i in self.instruments}
        self.streams = {name: i for i in self.instruments for name in i.streams}
        self.keys = KeyRing(config.api_keys)
        balances = {asset: parse_amount(amount, asset) for asset, amount in config.starting_balances.items()}
        self.exchange = Exchange(
            self.instruments,
            self.keys.accounts(),
            self.clock,
            max_open_orders=config.max_open_orders,
            starting_balances=balances,
        )
        self.books = [VenueBook(i, self.exchange.venue, self.clock) for i in self.instruments]
        self.drops = DropCount()
        self.hub = StreamHub(config.slow_subscriber_seconds)
        self.user_data = UserDataRouter()
        self.replay = Replay(
            [SymbolReplay(book, self.hub, self.after_market_event, loop=config.loop) for book in self.books],
            self.hub,
            config.speed,
        )
        self._weights: dict[str, FixedWindow] = {}
        self._orders: dict[str, tuple[FixedWindow, FixedWindow]] = {}

    # -- events --

    def after_market_event(self) -> None:
        """After each replayed line: fills of resting orders become execution reports."""
        self.exchange.collect()
        self.route_events()

    def route_events(self) -> None:
        events = self.exchange.take_events()
        if events:
            self.user_data.publish(events)

    # -- limits --

    def weight_window(self, client_ip: str) -> FixedWindow:
        window = self._weights.get(client_ip)
        if window is None:
            window = self._weights[client_ip] = weight_window(self.config.rate_limits)
        return window

    def order_windows(self, account: str) -> tuple[FixedWindow, FixedWindow]:
        windows = self._orders.get(account)
        if windows is None:
            windows = self._orders[account] = order_windows(self.config.rate_limits)
        return windows

    # -- stats --

    def stats(self) -> dict:
        return {
            "symbols": self.replay.summary(),
            "stream_messages_sent": self.hub.messages_sent,
            "stream_subscribers": self.hub.subscriber_count(),
            "connections_dropped_slow": self.drops.dropped,
            "user_data_events_sent": self.user_data.events_sent,
            "orders_resting": self.exchange.venue.counters["n_resting"],
        }
