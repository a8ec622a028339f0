"""The WebSocket API (`/ws-api/v3`): one JSON request per text frame, one JSON response per request.

ApiSession is one connection: it parses a frame, charges its request weight to the client's IP,
authenticates SIGNED methods (ad hoc apiKey + signature, or a session logged on with
session.logon), runs the method and returns the response frame. Every failure is a Binance-style
error response with the request's id (null when the id could not be read); the connection stays
open and nothing changes.

User Data Stream (current Binance framing): userDataStream.subscribe (logged-on session) and
userDataStream.subscribe.signature (any key, signed) answer {"subscriptionId": n}; events are
then pushed on this connection as {"subscriptionId": n, "event": {...}}; userDataStream.unsubscribe
takes an optional subscriptionId (none = all); session.subscriptions lists them.
"""

from __future__ import annotations

import json
import logging

import orjson

from trading.binance import errors as binance
from trading.simvenue.accounts import ED25519, ApiKey
from trading.simvenue.config import MAX_RECV_WINDOW_MS
from trading.simvenue.core import VenueCore
from trading.simvenue.errors import (
    BAD_RECV_WINDOW,
    MSG_DUPLICATE_PARAM,
    MSG_NOT_AUTHORIZED,
    SUBSCRIPTION_ACTIVE,
    SUBSCRIPTION_INACTIVE,
    UNAUTHORIZED,
    UNSUPPORTED_OPERATION,
    ApiError,
    invalid_json,
    mandatory,
)
from trading.simvenue.hub import Outbox
from trading.simvenue.market_methods import METHODS as MARKET_METHODS
from trading.simvenue.methods import SESSION, SIGNED, Method, Request
from trading.simvenue.params import API_KEY_RE, Params
from trading.simvenue.trading_methods import METHODS as TRADING_METHODS

log = logging.getLogger(__name__)

MAX_ID_CHARS = 64
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
TIMESTAMP_AHEAD_MS = 1000


class _DuplicateKey(ValueError):
    pass


def _object_without_duplicates(pairs: list[tuple[str, object]]) -> dict:
    out = dict(pairs)
    if len(out) != len(pairs):
        raise _DuplicateKey
    return out


def _refuse_constant(name: str) -> object:
    raise ValueError(f"{name} is not JSON")


def parse_request(frame: str | bytes, max_bytes: int) -> dict:
    """The request object of one frame; ApiError for anything that is not one."""
    if isinstance(frame, bytes):
        raise invalid_json("requests must be sent as JSON in text frames")
    if len(frame) > max_bytes:
        raise invalid_json(f"the request is larger than {max_bytes} bytes")
    try:
        request = json.loads(
            frame, object_pairs_hook=_object_without_duplicates, parse_constant=_refuse_constant
        )
    except _DuplicateKey:
        raise ApiError(binance.TOO_MANY_PARAMETERS, MSG_DUPLICATE_PARAM) from None
    except (ValueError, RecursionError):
        raise invalid_json() from None
    if type(request) is not dict:
        raise invalid_json("a request must be a JSON object")
    return request


def request_id_of(request: dict) -> object:
    """The request's id (int, string or null); ApiError (answered with id null) otherwise."""
    if "id" not in request:
        raise mandatory("id")
    request_id = request["id"]
    if request_id is None:
        return None
    if type(request_id) is int and INT64_MIN <= request_id <= INT64_MAX:
        return request_id
    if type(request_id) is str and 0 < len(request_id) <= MAX_ID_CHARS and request_id.isprintable():
        return request_id
    raise mandatory("id")


class ApiSession:
    """One `/ws-api/v3` connection."""

    def __init__(self, core: VenueCore, outbox: Outbox, client_ip: str, return_rate_limits: bool = True):
        self.core = core
        self.outbox = outbox
        self.client_ip = client_ip
        self.return_rate_limits = return_rate_limits
        self.connected_since = core.clock.now_ms()
        self.key: ApiKey | None = None  # session.logon
        self.authorized_since: int | None = None
        self.subscriptions: dict[int, str] = {}  # subscription id -> account
        self.logon_subscription: int | None = None  # the one userDataStream.subscribe opened
        self._next_subscription_id = 0

    # -- one frame --

    def handle(self, frame: str | bytes) -> bytes:
        core = self.core
        now_ms = core.clock.now_ms()
        weight = core.weight_window(self.client_ip)
        request_id: object = None
        params = Params({})
        request: Request | None = None
        try:
            try:
                raw = parse_request(frame, core.config.max_request_bytes)
                request_id = request_id_of(raw)
                method = self._method(raw)
                params = self._params(raw)
            except ApiError:
                self._charge(weight, 1, now_ms)  # malformed requests cost weight too: flooding is not free
                raise
            self._charge(weight, method.weight_of(params) if method is not None else 1, now_ms)
            if method is None:
                raise ApiError(UNSUPPORTED_OPERATION, f"Unknown method '{str(raw['method'])[:40]}'.")
            params.check_known(method.allowed())
            params.boolean("returnRateLimits")
            request = Request(core, self, params, now_ms)
            if method.security == SIGNED:
                request.key = self._authenticate(params, now_ms)
            response = {"id": request_id, "status": 200, "result": method.handler(request)}
        except ApiError as exc:
            response = exc.response(request_id)
        except Exception:
            log.exception("internal error answering a request")
            response = ApiError(
                binance.UNKNOWN, "An unknown error occurred while processing the request."
            ).response(request_id)
        show = params.boolean("returnRateLimits") if _valid_flag(params) else None
        if show if show is not None else self.return_rate_limits:
            limits = request.rate_limits if request is not None else []
            response["rateLimits"] = [*limits, weight.report(now_ms)]
        return orjson.dumps(response)

    def _method(self, raw: dict) -> Method | None:
        name = raw.get("method")
        if type(name) is not str or not name:
            raise mandatory("method")
        unknown = sorted(set(raw) - {"id", "method", "params"})
        if unknown:
            raise ApiError(binance.UNKNOWN_PARAM, f"An unknown parameter was sent: '{str(unknown[0])[:40]}'.")
        if name.startswith("v3/"):
            name = name[3:]
        return METHODS.get(name)

    @staticmethod
    def _params(raw: dict) -> Params:
        raw_params = raw.get("params")
        if raw_params is None:
            return Params({})
        if type(raw_params) is not dict:
            raise invalid_json("Invalid 'params' in JSON request; expected an object")
        return Params(raw_params)

    def _charge(self, window, cost: int, now_ms: int) -> None:
        if not window.fits(cost, now_ms):
            raise ApiError(
                binance.TOO_MANY_REQUESTS,
                f"Too much request weight used; current limit is {window.describe()}. "
                "Please use WebSocket Streams for live updates to avoid polling the API.",
                data={"serverTime": now_ms, "retryAfter": window.retry_after_ms(now_ms)},
            )
        window.add(cost, now_ms)

    # -- SIGNED requests --

    def _authenticate(self, params: Params, now_ms: int) -> ApiKey:
        api_key = params.raw.get("apiKey")
        signature = params.raw.get("signature")
        if api_key is None:
            if self.key is None or signature is not None:
                raise mandatory("apiKey")
            key = self.key
        else:
            key = self._key(api_key)
        timestamp = params.long("timestamp", required=True)
        recv_window = params.long("recvWindow")
        if recv_window is None:
            recv_window = self.core.config.recv_window_ms
        elif not 0 < recv_window <= MAX_RECV_WINDOW_MS:
            raise ApiError(BAD_RECV_WINDOW, f"recvWindow must be less than or equal to {MAX_RECV_WINDOW_MS}.")
        if timestamp >= now_ms + TIMESTAMP_AHEAD_MS:
            raise ApiError(
                binance.INVALID_TIMESTAMP, "Timestamp for this request was 1000ms ahead of the server's time."
            )
        if now_ms - timestamp > recv_window:
            raise ApiError(binance.INVALID_TIMESTAMP, binance.MSG_INVALID_TIMESTAMP)
        if api_key is not None:
            if signature is None or signature == "":
                raise mandatory("signature")
            if not key.verify(params.raw, signature):
                raise ApiError(binance.INVALID_SIGNATURE, binance.MSG_INVALID_SIGNATURE)
        return key

    def _key(self, api_key: object) -> ApiKey:
        if type(api_key) is not str or not API_KEY_RE.match(api_key):
            raise ApiError(binance.BAD_API_KEY_FMT, "API-key format invalid.")
        key = self.core.keys.get(api_key)
        if key is None:
            raise ApiError(binance.REJECTED_MBX_KEY, binance.MSG_INVALID_API_KEY)
        return key

    # -- session --

    def status(self, now_ms: int) -> dict:
        return {
            "apiKey": self.key.api_key if self.key else None,
            "authorizedSince": self.authorized_since,
            "connectedSince": self.connected_since,
            "returnRateLimits": self.return_rate_limits,
            "serverTime": now_ms,
            "userDataStream": bool(self.subscriptions),
        }

    def subscribe(self, account: str) -> int:
        if account in self.subscriptions.values():
            raise ApiError(SUBSCRIPTION_ACTIVE, "User Data Stream subscription already active.")
        subscription_id = self._next_subscription_id
        self._next_subscription_id += 1
        self.subscriptions[subscription_id] = account
        self.core.user_data.add(account, self.outbox, subscription_id)
        return subscription_id

    def unsubscribe(self, subscription_id: int) -> None:
        account = self.subscriptions.pop(subscription_id, None)
        if account is None:
            raise ApiError(SUBSCRIPTION_INACTIVE, "User Data Stream subscription not active.")
        self.core.user_data.remove(account, self.outbox, subscription_id)
        if self.logon_subscription == subscription_id:
            self.logon_subscription = None

    def close(self) -> None:
        """The connection ended: forget its subscriptions."""
        for subscription_id in list(self.subscriptions):
            self.unsubscribe(subscription_id)


def _valid_flag(params: Params) -> bool:
    value = params.raw.get("returnRateLimits")
    return value is None or type(value) is bool or value in ("true", "false")


# -- session and user-data methods --


def session_logon(request: Request) -> dict:
    session, params = request.session, request.params
    if params.raw.get("apiKey") is None:
        raise mandatory("apiKey")
    key = request.key
    if key.kind != ED25519:
        raise ApiError(
            binance.REJECTED_MBX_KEY,
            "Invalid API-key, IP, or permissions for action: session.logon needs an Ed25519 key.",
        )
    session.key = key
    session.authorized_since = request.now_ms
    return session.status(request.now_ms)


def session_status(request: Request) -> dict:
    return request.session.status(request.now_ms)


def session_logout(request: Request) -> dict:
    session = request.session
    if session.logon_subscription is not None:
        session.unsubscribe(session.logon_subscription)
    session.key = None
    session.authorized_since = None
    return session.status(request.now_ms)


def session_subscriptions(request: Request) -> list:
    return [{"subscriptionId": s} for s in sorted(request.session.subscriptions)]


def user_data_subscribe(request: Request) -> dict:
    session = request.session
    if session.key is None:
        raise ApiError(
            UNAUTHORIZED,
            MSG_NOT_AUTHORIZED + " Log on with session.logon, or use userDataStream.subscribe.signature.",
        )
    subscription_id = session.subscribe(session.key.account)
    session.logon_subscription = subscription_id
    return {"subscriptionId": subscription_id}


def user_data_subscribe_signature(request: Request) -> dict:
    if request.params.raw.get("apiKey") is None:
        raise mandatory("apiKey")
    return {"subscriptionId": request.session.subscribe(request.key.account)}


def user_data_unsubscribe(request: Request) -> dict:
    session = request.session
    subscription_id = request.params.long("subscriptionId")
    if subscription_id is None:
        session.close()
        session.logon_subscription = None
    else:
        session.unsubscribe(subscription_id)
    return {}


METHODS: dict[str, Method] = {
    **MARKET_METHODS,
    **TRADING_METHODS,
    "session.logon": Method(session_logon, SIGNED, frozenset(), 2),
    "session.status": Method(session_status, SESSION, frozenset(), 2),
    "session.logout": Method(session_logout, SESSION, frozenset(), 2),
    "session.subscriptions": Method(session_subscriptions, SESSION, frozenset(), 2),
    "userDataStream.subscribe": Method(user_data_subscribe, SESSION, frozenset(), 2),
    "userDataStream.subscribe.signature": Method(user_data_subscribe_signature, SIGNED, frozenset(), 2),
    "userDataStream.unsubscribe": Method(user_data_unsubscribe, SESSION, frozenset({"subscriptionId"}), 2),
}
