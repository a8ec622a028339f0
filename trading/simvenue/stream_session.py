"""A market-data connection (`/stream?streams=a/b/c`): its subscriptions and control messages.

Live control follows web-socket-streams.md: {"method": "SUBSCRIBE" | "UNSUBSCRIBE" |
"LIST_SUBSCRIPTIONS", "params": [...], "id": n} answered {"result": ..., "id": n}; a bad request
is answered {"error": {"code": 2 | 3, "msg": "..."}, "id": ...} and the connection stays open.
"""

from __future__ import annotations

import json

import orjson

from trading.simvenue.hub import Outbox, StreamHub

MAX_STREAMS = 1024
MAX_CONTROL_BYTES = 16_384
CONTROL_METHODS = ("SUBSCRIBE", "UNSUBSCRIBE", "LIST_SUBSCRIPTIONS")


class StreamRequestError(ValueError):
    """A stream list that cannot be served; the message is the close reason."""


def parse_stream_list(names: list[str], available: dict) -> list[str]:
    if not names or names == [""]:
        raise StreamRequestError("Invalid request: no streams given (use /stream?streams=a/b/c)")
    if len(names) > MAX_STREAMS:
        raise StreamRequestError(f"Invalid request: more than {MAX_STREAMS} streams")
    for name in names:
        if name not in available:
            shown = name if len(name) <= 40 else name[:37] + "..."
            raise StreamRequestError(f"Invalid request: unknown stream '{shown}'")
    return list(dict.fromkeys(names))


class StreamSession:
    def __init__(self, hub: StreamHub, outbox: Outbox, available: dict, streams: list[str]):
        self.hub = hub
        self.outbox = outbox
        self.available = available
        self.streams: list[str] = []
        self._add(streams)

    def _add(self, streams: list[str]) -> None:
        new = [s for s in streams if s not in self.streams]
        self.streams.extend(new)
        self.hub.subscribe(self.outbox, new)

    def close(self) -> None:
        self.hub.remove(self.outbox)

    def handle(self, frame: str | bytes) -> bytes:
        """Answer one control message."""
        request_id = None
        try:
            if isinstance(frame, bytes) or len(frame) > MAX_CONTROL_BYTES:
                raise _Invalid(3, "Invalid JSON: expected a text frame of at most 16384 bytes")
            try:
                message = json.loads(frame, parse_constant=_refuse)
            except (ValueError, RecursionError):
                raise _Invalid(3, "Invalid JSON: expected value") from None
            if type(message) is not dict:
                raise _Invalid(2, "Invalid request: expected a JSON object")
            request_id = message.get("id")
            if not (
                request_id is None
                or (type(request_id) is int and 0 <= request_id < 2**63)
                or (type(request_id) is str and 0 < len(request_id) <= 36 and request_id.isalnum())
            ):
                request_id = None
                raise _Invalid(2, "Invalid request: request ID must be an unsigned integer")
            method = message.get("method")
            if method not in CONTROL_METHODS:
                raise _Invalid(
                    2, f"Invalid request: unknown method, expected one of {', '.join(CONTROL_METHODS)}"
                )
            if set(message) - {"method", "params", "id"}:
                raise _Invalid(2, "Invalid request: too many parameters")
            result = self._run(method, message.get("params"))
            return orjson.dumps({"result": result, "id": request_id})
        except _Invalid as exc:
            return orjson.dumps({"error": {"code": exc.code, "msg": exc.msg}, "id": request_id})

    def _run(self, method: str, params: object) -> list[str] | None:
        if method == "LIST_SUBSCRIPTIONS":
            return list(self.streams)
        if type(params) is not list or not all(type(p) is str for p in params):
            raise _Invalid(2, "Invalid request: params must be a list of stream names")
        if method == "SUBSCRIBE":
            try:
                streams = parse_stream_list(params, self.available)
            except StreamRequestError as exc:
                raise _Invalid(2, str(exc)) from None
            if len(set(self.streams) | set(streams)) > MAX_STREAMS:
                raise _Invalid(2, f"Invalid request: more than {MAX_STREAMS} streams")
            self._add(streams)
        else:
            gone = [s for s in params if s in self.streams]
            self.streams = [s for s in self.streams if s not in gone]
            self.hub.unsubscribe(self.outbox, gone)
        return None


class _Invalid(Exception):
    def __init__(self, code: int, msg: str):
        self.code, self.msg = code, msg


def _refuse(name: str) -> object:
    raise ValueError(name)
