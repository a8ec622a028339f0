"""The venue's instruments: each configured symbol resolved through the InstrumentRegistry, in the
market its data shows (spot, usdm, coinm), with the streams it serves and its fee overrides."""

from __future__ import annotations

import contextlib
import dataclasses
from dataclasses import dataclass
from pathlib import Path

from trading.instruments import BadValue, InstrumentError, InstrumentRegistry, InstrumentSpec
from trading.marketdata.detect import detect_market
from trading.marketdata.errors import DataError
from trading.marketdata.sources import sniff
from trading.simvenue.capture import probe_capture
from trading.simvenue.config import ConfigError, SimVenueConfig

DEFAULT_DEPTH_CHANNEL = "depth@100ms"
SPOT_DISPLAY_DECIMALS = 8  # Binance spot shows prices and quantities with 8 decimals


@dataclass(frozen=True)
class VenueInstrument:
    index: int  # instrument id in the hot path's simulated venue
    spec: InstrumentSpec
    files: tuple[Path, ...]
    depth_channel: str  # e.g. "depth@100ms" (spot) or "depth@0ms" (a futures capture)
    center_ticks: int  # centre of the hot-path book window

    @property
    def symbol(self) -> str:
        return self.spec.symbol.upper()

    @property
    def market(self) -> str:
        return self.spec.market

    @property
    def stream_prefix(self) -> str:
        return self.symbol.lower() + "@"

    @property
    def streams(self) -> tuple[str, ...]:
        base = self.symbol.lower()
        return (f"{base}@{self.depth_channel}", f"{base}@trade", f"{base}@bookTicker")

    @property
    def display_decimals(self) -> int:
        """Decimals of the wire format: 8 for spot (or the step's, if finer), the step's for futures."""
        steps = max(_decimals(self.spec.tick_size), _decimals(self.spec.lot_size))
        return max(SPOT_DISPLAY_DECIMALS, steps) if self.market == "spot" else steps


def _decimals(step) -> int:
    return max(0, -step.as_tuple().exponent)


def resolve_instruments(config: SimVenueConfig, registry: InstrumentRegistry) -> list[VenueInstrument]:
    """One VenueInstrument per configured symbol, in configuration order; ConfigError if a symbol,
    its data or its market cannot be resolved."""
    out = []
    for index, feed in enumerate(config.feeds):
        try:
            infos = [sniff(path) for path in feed.files]
            formats = {info.format for info in infos}
            if formats != {"binance"}:
                raise ConfigError(
                    f"{feed.symbol}: the simulated venue replays Binance captures, got {sorted(formats)} data"
                )
            market, _ = detect_market("binance", infos, feed.symbol, None)
            spec = registry.get(feed.symbol, market)
        except (DataError, InstrumentError) as exc:
            raise ConfigError(f"{feed.symbol}: {exc}") from None
        override = config.fees.get(feed.symbol)
        if override is not None:
            spec = dataclasses.replace(
                spec, maker_fee_ppm=override.maker_fee_ppm, taker_fee_ppm=override.taker_fee_ppm
            )
        probe = probe_capture(feed.files[0], feed.symbol)
        center = 1 << (spec.book_window_log2 - 1)
        if probe.first_price is not None:
            # an off-tick price is refused later, message by message; any centre works
            with contextlib.suppress(BadValue):
                center = max(1, spec.price_to_ticks(probe.first_price))
        out.append(
            VenueInstrument(
                index=index,
                spec=spec,
                files=feed.files,
                depth_channel=probe.depth_channel or DEFAULT_DEPTH_CHANNEL,
                center_ticks=center,
            )
        )
    return out
