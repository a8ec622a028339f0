"""Which market (and Tardis exchange) a set of recognised files holds, for one symbol, from content."""

from __future__ import annotations

import orjson

from trading.instruments import InstrumentSpec
from trading.marketdata import binance, tardis
from trading.marketdata.errors import DataError
from trading.marketdata.sources import SNIFF_BYTES, SourceInfo, iter_lines


def detect_market(
    fmt: str, infos: list[SourceInfo], symbol: str, instrument: InstrumentSpec | None
) -> tuple[str, str]:
    """(market, tardis exchange id or "") from the content."""
    wanted = symbol.upper()
    if fmt == "bitmex":
        needle = b'"symbol":"' + wanted.encode() + b'"'
        if not any(
            needle in line.replace(b" ", b"") for info in infos for line in iter_lines(info.path, SNIFF_BYTES)
        ):
            raise DataError(f"no rows for {wanted} in {', '.join(str(i.path) for i in infos)}")
        return "bitmex", ""
    if fmt == "tardis":
        exchanges = {tardis_exchange(info, wanted) for info in infos} - {None}
        if not exchanges:
            raise DataError(f"no rows for {wanted} in {', '.join(str(i.path) for i in infos)}")
        if len(exchanges) > 1:
            raise DataError(f"Tardis files from different exchanges: {sorted(exchanges)}")
        exchange = exchanges.pop()
        return tardis.market_of_exchange(exchange), exchange
    lower = wanted.lower().encode()
    for info in infos:
        for line in iter_lines(info.path, SNIFF_BYTES):
            if lower not in line and wanted.encode() not in line:
                continue
            try:
                message = orjson.loads(line.partition(b" ")[2])
            except orjson.JSONDecodeError:
                continue
            if isinstance(message, dict):
                market = binance.detect_market(message, wanted)
                if market:
                    return market, ""
    if instrument is not None:
        return instrument.market, ""
    raise DataError(f"no Binance messages for {wanted} in {', '.join(str(i.path) for i in infos)}")


def tardis_exchange(info: SourceInfo, symbol: str) -> str | None:
    """Exchange id of the first row for the symbol (None if the file has none)."""
    first = True
    for line in iter_lines(info.path, SNIFF_BYTES):
        if first:
            first = False
            continue
        fields = line.split(b",", 2)
        if len(fields) == 3 and fields[1].upper() == symbol.encode():
            try:
                return fields[0].decode("ascii")
            except UnicodeDecodeError:
                continue
    return None
