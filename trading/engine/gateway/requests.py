"""WebSocket API requests of the order gateway: parameters, exact decimal strings, signatures, JSON.

SIGNED requests carry `timestamp` (and `recvWindow`). Without a logged-on session they also carry
`apiKey` and a `signature` of every other parameter (trading.binance.signing: sorted by name,
`name=value` joined with `&`); after `session.logon` (Ed25519 keys only) the session
authenticates them and they are not signed, which takes the signature off the order path.

order.place and order.cancel are on the latency path: their signed payload is written out directly
in parameter-name order (the tests hold it to signing.signature_payload for every order shape),
and recent price / quantity strings are remembered per instrument.
"""

from __future__ import annotations

from collections.abc import Callable

import orjson

from hotpath.types import OT_LIMIT, OT_LIMIT_MAKER, OT_MARKET, SELL, TIF_FOK, TIF_GTC, TIF_IOC
from trading.binance.orders import binance_order_type
from trading.binance.signing import Signer, sign_params
from trading.engine.venue_types import FeedInstrument
from trading.instruments import InstrumentSpec

MS = 1_000_000
FUTURES_MARKETS = ("usdm", "coinm")
MAX_CLIENT_NUMBER = 10**18  # `<prefix>-<n>` stays within Binance's 36 characters (prefix <= 16)
FORMAT_MEMO_LIMIT = 1 << 16

# (order type, tif) -> (Binance type, timeInForce or None), for every combination the engine uses
ORDER_TYPES = {
    (order_type, tif): binance_order_type(order_type, tif)
    for order_type in (OT_LIMIT, OT_LIMIT_MAKER, OT_MARKET)
    for tif in (TIF_GTC, TIF_IOC, TIF_FOK)
}


class DecimalStrings:
    """An instrument's exact price / quantity strings, remembered (quotes reuse the same prices)."""

    def __init__(self, spec: InstrumentSpec):
        self.spec = spec
        self._prices: dict[int, str] = {}
        self._qtys: dict[int, str] = {}

    def price(self, ticks: int) -> str:
        text = self._prices.get(ticks)
        if text is None:
            if len(self._prices) >= FORMAT_MEMO_LIMIT:
                self._prices.clear()
            text = self._prices[ticks] = self.spec.ticks_to_price(ticks)
        return text

    def qty(self, lots: int) -> str:
        text = self._qtys.get(lots)
        if text is None:
            if len(self._qtys) >= FORMAT_MEMO_LIMIT:
                self._qtys.clear()
            text = self._qtys[lots] = self.spec.lots_to_qty(lots)
        return text


class RequestBuilder:
    """Builds the JSON text of WebSocket API requests for one account."""

    def __init__(
        self,
        api_key: str,
        signer: Signer,
        *,
        prefix: str,
        recv_window_ms: int,
        clock: Callable[[], int],
        instruments: list[FeedInstrument] = (),
    ):
        if not 0 < recv_window_ms <= 60_000:
            raise ValueError("recv_window_ms must be in (0, 60000]")
        self.api_key = api_key
        self.signer = signer
        self.prefix = prefix
        self.recv_window_ms = recv_window_ms
        self.clock = clock
        self.session_authenticated = False  # set once session.logon succeeded on the connection
        self._strings = {item.index: DecimalStrings(item.spec) for item in instruments}

    def _strings_of(self, instrument: FeedInstrument) -> DecimalStrings:
        strings = self._strings.get(instrument.index)
        if strings is None or strings.spec is not instrument.spec:
            strings = self._strings[instrument.index] = DecimalStrings(instrument.spec)
        return strings

    def _secure(self, params: dict) -> dict:
        params["recvWindow"] = self.recv_window_ms
        params["timestamp"] = self.clock() // MS
        if not self.session_authenticated:
            params["apiKey"] = self.api_key
            sign_params(params, self.signer)
        return params

    @staticmethod
    def text(request_id: int, method: str, params: dict | None = None) -> str:
        request: dict = {"id": request_id, "method": method}
        if params is not None:
            request["params"] = params
        return orjson.dumps(request).decode()

    def signed(self, request_id: int, method: str, params: dict | None = None) -> tuple[str, dict]:
        """(JSON text, params as sent) of a SIGNED (TRADE / USER_DATA) request."""
        params = self._secure(dict(params or {}))
        return self.text(request_id, method, params), params

    def session_logon(self, request_id: int) -> tuple[str, dict]:
        """session.logon: always signed (Ed25519), whatever the session state."""
        params = {"apiKey": self.api_key, "timestamp": self.clock() // MS, "recvWindow": self.recv_window_ms}
        sign_params(params, self.signer)
        return self.text(request_id, "session.logon", params), params

    def _client_order_id(self, client_id: int) -> str:
        if not 0 < client_id < MAX_CLIENT_NUMBER:
            raise ValueError(f"client id {client_id} out of range")
        return f"{self.prefix}-{client_id}"

    def _serialise(self, request_id: int, method: str, params: dict, payload: str) -> tuple[bytes, dict]:
        """Sign `payload` (the params' signed text) unless the session authenticates, and serialise
        (UTF-8 JSON bytes: what goes on the wire, with no str round trip on the order path)."""
        if not self.session_authenticated:
            params["signature"] = self.signer.sign(payload)
        return orjson.dumps({"id": request_id, "method": method, "params": params}), params

    def order_place(
        self,
        request_id: int,
        instrument: FeedInstrument,
        client_id: int,
        side: int,
        order_type: int,
        tif: int,
        price: int,
        qty: int,
        reduce_only: bool = False,
    ) -> tuple[bytes, dict]:
        """order.place for the engine's order `client_id` (ticks and lots in, decimal strings out)."""
        binance_type, time_in_force = ORDER_TYPES.get((order_type, tif)) or binance_order_type(
            order_type, tif
        )
        if qty <= 0 or (order_type != OT_MARKET and price <= 0):
            raise ValueError("an order needs a positive quantity and (unless MARKET) a positive price")
        strings = self._strings_of(instrument)
        client_order_id = self._client_order_id(client_id)
        qty_text = strings.qty(qty)
        side_text = "SELL" if side == SELL else "BUY"
        symbol = instrument.symbol
        timestamp = self.clock() // MS
        recv_window = self.recv_window_ms
        params: dict = {
            "symbol": symbol,
            "side": side_text,
            "type": binance_type,
            "quantity": qty_text,
            "newClientOrderId": client_order_id,
            "newOrderRespType": "ACK",
            "recvWindow": recv_window,
            "timestamp": timestamp,
        }
        # the signed payload written out in parameter-name order (signing.signature_payload)
        price_part = tif_part = reduce_part = ""
        if order_type != OT_MARKET:
            params["price"] = price_text = strings.price(price)
            price_part = f"&price={price_text}"
        if time_in_force is not None:
            params["timeInForce"] = time_in_force
            tif_part = f"&timeInForce={time_in_force}"
        if reduce_only and instrument.spec.market in FUTURES_MARKETS:
            params["reduceOnly"] = "true"
            reduce_part = "&reduceOnly=true"
        if self.session_authenticated:
            return self._serialise(request_id, "order.place", params, "")
        params["apiKey"] = api_key = self.api_key
        payload = (
            f"apiKey={api_key}&newClientOrderId={client_order_id}&newOrderRespType=ACK{price_part}"
            f"&quantity={qty_text}&recvWindow={recv_window}{reduce_part}&side={side_text}&symbol={symbol}"
            f"{tif_part}&timestamp={timestamp}&type={binance_type}"
        )
        return self._serialise(request_id, "order.place", params, payload)

    def order_cancel(self, request_id: int, instrument: FeedInstrument, client_id: int) -> tuple[bytes, dict]:
        client_order_id = self._client_order_id(client_id)
        symbol = instrument.symbol
        timestamp = self.clock() // MS
        params: dict = {
            "symbol": symbol,
            "origClientOrderId": client_order_id,
            "recvWindow": self.recv_window_ms,
            "timestamp": timestamp,
        }
        if self.session_authenticated:
            return self._serialise(request_id, "order.cancel", params, "")
        params["apiKey"] = self.api_key
        payload = (
            f"apiKey={self.api_key}&origClientOrderId={client_order_id}&recvWindow={self.recv_window_ms}"
            f"&symbol={symbol}&timestamp={timestamp}"
        )
        return self._serialise(request_id, "order.cancel", params, payload)
