"""Market-data loaders: venue captures -> MARKET_EVENT_DTYPE arrays for the backtester and benchmarks.

    loaded = load_events([path, ...], "BTCUSDT")
    loaded.events, loaded.instrument, loaded.report, loaded.format, loaded.market

Never imports Django (import-linter contract): used by the node runtime and the backtester.
"""

from trading.marketdata.cache import LOADER_VERSION
from trading.marketdata.errors import DataError
from trading.marketdata.loader import LoadedData, load_events
from trading.marketdata.report import LoadReport

__all__ = ["LOADER_VERSION", "DataError", "LoadReport", "LoadedData", "load_events"]
