"""The operator control channel of one node, over Redis Streams.

Commands go to `atomic:node:<node>:control` (XADD, one entry per command):

    command         KILL | CANCEL_ALL | REDUCE_ONLY | DISCONNECT | RESUME | RELOAD_CONFIG
    operator_id     the operator's user id, a positive int64
    operator        the operator's username (1-150 printable characters)
    nonce           unique per command: 16-64 of [0-9A-Za-z_-] (send_command uses uuid4 hex)
    issued_at_ms    wall-clock milliseconds when the console issued it
    request_id      the audit entry's request id: 1-128 of [0-9A-Za-z._:/-]
    config_version  RELOAD_CONFIG only (and required there): the configuration version, int >= 0

Acknowledgements go to `atomic:node:<node>:control-ack`, one per command the node handled:

    nonce, request_id, command   as received ("" when the entry did not carry a valid one)
    accepted                     1 or 0
    reason                       why it was refused ("" when accepted)
    trading_state                0 ACTIVE, 1 REDUCING, 2 HALTED after the command
    seq                          the journal seq of the command's control record
    acked_at_ms                  wall-clock milliseconds at the node

Both streams are capped (MAXLEN ~ STREAM_MAXLEN) so that Redis never grows without bound.

The node side is `ControlListener`: a daemon thread reads the stream (so that a burst of market
data on the asyncio loop can never starve it), judges every entry - well formed, neither stale
nor from the future, nonce not seen before - and queues it; the kernel drains the queue with
`poll()` before every market message, journals each command (refused ones with F_REFUSED, so
that the journal shows every attempt) and calls `ack()`. A second daemon thread sends the acks,
so that a slow or absent Redis never blocks the kernel.

The console side is `send_command()`. Never imports Django.
"""

from __future__ import annotations

import collections
import dataclasses
import heapq
import logging
import queue
import re
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import redis
import xxhash
from redis.backoff import NoBackoff
from redis.retry import Retry

from hotpath.types import (
    CTL_CANCEL_ALL,
    CTL_DISCONNECT,
    CTL_KILL,
    CTL_NONE,
    CTL_REDUCE_ONLY,
    CTL_RELOAD_CONFIG,
    CTL_RESUME,
)
from trading.engine.paths import check_node_name

log = logging.getLogger(__name__)

COMMAND_CODES: dict[str, int] = {
    "KILL": int(CTL_KILL),
    "CANCEL_ALL": int(CTL_CANCEL_ALL),
    "REDUCE_ONLY": int(CTL_REDUCE_ONLY),
    "DISCONNECT": int(CTL_DISCONNECT),
    "RESUME": int(CTL_RESUME),
    "RELOAD_CONFIG": int(CTL_RELOAD_CONFIG),
}
TRADING_STATES = (0, 1, 2)  # hotpath/risk.pxd: ACTIVE, REDUCING, HALTED

STREAM_MAXLEN = 10_000
INT64_MAX = (1 << 63) - 1
NONCE_ID_MASK = INT64_MAX

REQUIRED_FIELDS = ("command", "operator_id", "operator", "nonce", "issued_at_ms", "request_id")
OPTIONAL_FIELDS = ("config_version",)
MAX_VALUE_BYTES = 1024
NONCE_PATTERN = re.compile(r"[0-9A-Za-z_-]{16,64}")
REQUEST_ID_PATTERN = re.compile(r"[0-9A-Za-z._:/-]{1,128}")
INT_PATTERN = re.compile(r"0|[1-9][0-9]{0,18}")
MAX_OPERATOR_CHARS = 150  # Django's username max_length

# Kinds of verdict; the reason text of a refusal starts with the kind's words.
ACCEPTED = "accepted"
MALFORMED = "malformed"
STALE = "stale"
FUTURE = "from the future"
REPLAYED = "replayed"
OVERLOADED = "overloaded"


def control_stream(node: str) -> str:
    return f"atomic:node:{check_node_name(node)}:control"


def ack_stream(node: str) -> str:
    return f"atomic:node:{check_node_name(node)}:control-ack"


def nonce_id(nonce: str) -> int:
    """The nonce as a stable non-zero 63-bit int: EV_CONTROL.venue_seq and REC_CONTROL.d."""
    value = xxhash.xxh3_64_intdigest(nonce.encode()) & NONCE_ID_MASK
    return value or 1  # 0 means "no nonce" (a malformed entry)


@dataclass(frozen=True, slots=True)
class Verdict:
    kind: str  # ACCEPTED, MALFORMED, STALE, FUTURE, REPLAYED or OVERLOADED
    reason: str = ""  # "" when accepted; otherwise starts with the kind

    @property
    def accepted(self) -> bool:
        return self.kind == ACCEPTED


VERDICT_ACCEPTED = Verdict(ACCEPTED)


@dataclass(frozen=True, slots=True)
class ControlCommand:
    """One entry of the control stream as judged by the node. Fields that the entry did not
    carry in a valid form are zero / empty, and the verdict says which one was wrong."""

    command: str  # a COMMAND_CODES name, "" when missing or unknown
    command_code: int  # CTL_*; CTL_NONE (0) when missing or unknown
    operator_id: int  # EV_CONTROL.order_id
    operator: str
    nonce: str
    nonce_id: int  # EV_CONTROL.venue_seq; 0 when the nonce was missing or malformed
    issued_at_ms: int
    request_id: str
    config_version: int | None  # RELOAD_CONFIG only
    entry_id: str  # the stream entry id; "" for a command that did not come from Redis
    received_ms: int  # the listener's clock when it judged the entry
    verdict: Verdict

    @property
    def accepted(self) -> bool:
        return self.verdict.kind == ACCEPTED


@dataclass(frozen=True, slots=True)
class ControlAck:
    nonce: str
    request_id: str
    command: str
    accepted: bool
    reason: str
    trading_state: int
    seq: int
    acked_at_ms: int
    entry_id: str


# ---------------------------------------------------------------------------- wire format


class _Malformed(ValueError):
    pass


def _show(raw: bytes) -> str:
    text = raw.decode("utf-8", "replace")
    return repr(text if len(text) <= 40 else text[:40] + "…")


def _text(fields: Mapping[str, bytes], name: str) -> str:
    raw = fields.get(name)
    if raw is None:
        raise _Malformed(f"missing field {name!r}")
    if len(raw) > MAX_VALUE_BYTES:
        raise _Malformed(f"{name} is longer than {MAX_VALUE_BYTES} bytes")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        raise _Malformed(f"{name} is not UTF-8: {_show(raw)}") from None


def _int(fields: Mapping[str, bytes], name: str, *, minimum: int) -> int:
    text = _text(fields, name)
    if not INT_PATTERN.fullmatch(text) or not minimum <= int(text) <= INT64_MAX:
        raise _Malformed(f"{name} must be an integer in [{minimum}, 2^63), got {text[:40]!r}")
    return int(text)


def _matching(fields: Mapping[str, bytes], name: str, pattern: re.Pattern, what: str) -> str:
    text = _text(fields, name)
    if not pattern.fullmatch(text):
        raise _Malformed(f"{name} must be {what}, got {text[:40]!r}")
    return text


def _operator(fields: Mapping[str, bytes]) -> str:
    text = _text(fields, "operator")
    if not 0 < len(text) <= MAX_OPERATOR_CHARS or not text.isprintable():
        raise _Malformed(f"operator must be 1-{MAX_OPERATOR_CHARS} printable characters, got {text[:40]!r}")
    return text


def decode_command(entry_id: str, raw_fields: Mapping[bytes, bytes], received_ms: int) -> ControlCommand:
    """Parse one stream entry. Never raises: a bad entry comes back refused as malformed, with
    every field that was valid filled in (so that its ack can still carry nonce and request id)."""
    errors: list[str] = []
    fields: dict[str, bytes] = {}
    for key, value in raw_fields.items():
        name = key.decode("utf-8", "replace") if isinstance(key, bytes) else str(key)
        if name not in REQUIRED_FIELDS and name not in OPTIONAL_FIELDS:
            errors.append(f"unknown field {name[:40]!r}")
        elif isinstance(value, bytes):
            fields[name] = value
        else:
            errors.append(f"{name} is not a string")

    def field(parse: Callable[[], object], default: object) -> object:
        try:
            return parse()
        except _Malformed as exc:
            errors.append(str(exc))
            return default

    nonce = field(lambda: _matching(fields, "nonce", NONCE_PATTERN, "16-64 of [0-9A-Za-z_-]"), "")
    request_id = field(
        lambda: _matching(fields, "request_id", REQUEST_ID_PATTERN, "1-128 of [0-9A-Za-z._:/-]"), ""
    )
    command = field(lambda: _text(fields, "command"), "")
    if command and command not in COMMAND_CODES:
        errors.append(f"unknown command {command[:40]!r} (known: {', '.join(COMMAND_CODES)})")
        command = ""
    operator_id = field(lambda: _int(fields, "operator_id", minimum=1), 0)
    operator = field(lambda: _operator(fields), "")
    issued_at_ms = field(lambda: _int(fields, "issued_at_ms", minimum=1), 0)
    config_version = None
    if command == "RELOAD_CONFIG" or "config_version" in fields:
        config_version = field(lambda: _int(fields, "config_version", minimum=0), None)
        if command and command != "RELOAD_CONFIG":
            errors.append(f"config_version is only allowed with RELOAD_CONFIG, not {command}")
            config_version = None
    verdict = Verdict(MALFORMED, f"malformed: {'; '.join(errors)}") if errors else VERDICT_ACCEPTED
    return ControlCommand(
        command=command,
        command_code=COMMAND_CODES.get(command, int(CTL_NONE)),
        operator_id=operator_id,
        operator=operator,
        nonce=nonce,
        nonce_id=nonce_id(nonce) if nonce else 0,
        issued_at_ms=issued_at_ms,
        request_id=request_id,
        config_version=config_version,
        entry_id=entry_id,
        received_ms=received_ms,
        verdict=verdict,
    )


def encode_command(
    command: str,
    *,
    operator_id: int,
    operator: str,
    nonce: str,
    issued_at_ms: int,
    request_id: str,
    config_version: int | None = None,
) -> dict[str, str]:
    """The XADD fields of one command; raises ValueError for anything the node would refuse."""
    fields = {
        "command": command,
        "operator_id": str(operator_id),
        "operator": operator,
        "nonce": nonce,
        "issued_at_ms": str(issued_at_ms),
        "request_id": request_id,
    }
    if config_version is not None:
        fields["config_version"] = str(config_version)
    if not isinstance(operator_id, int) or not isinstance(issued_at_ms, int):
        raise ValueError("operator_id and issued_at_ms must be integers")
    if config_version is not None and not isinstance(config_version, int):
        raise ValueError("config_version must be an integer")
    if command == "RELOAD_CONFIG" and config_version is None:
        raise ValueError("RELOAD_CONFIG needs config_version")
    decoded = decode_command("", {k.encode(): v.encode() for k, v in fields.items()}, 0)
    if not decoded.accepted:
        raise ValueError(decoded.verdict.reason.removeprefix("malformed: "))
    return fields


def _ack_fields(command: ControlCommand, accepted: bool, reason: str, state: int, seq: int, now_ms: int):
    return {
        "nonce": command.nonce,
        "request_id": command.request_id,
        "command": command.command,
        "accepted": "1" if accepted else "0",
        "reason": "" if accepted else (reason or "refused")[:500],
        "trading_state": str(state),
        "seq": str(seq),
        "acked_at_ms": str(now_ms),
    }


def decode_ack(entry_id: str, raw: Mapping[bytes, bytes]) -> ControlAck | None:
    """An ack entry, or None when it is not one this module wrote."""
    try:
        fields = {k.decode(): v.decode() for k, v in raw.items()}
        accepted = {"1": True, "0": False}[fields["accepted"]]
        state = int(fields["trading_state"])
        seq = int(fields["seq"])
        if state not in TRADING_STATES or seq < 0:
            return None
        return ControlAck(
            nonce=fields["nonce"],
            request_id=fields["request_id"],
            command=fields.get("command", ""),
            accepted=accepted,
            reason=fields["reason"],
            trading_state=state,
            seq=seq,
            acked_at_ms=int(fields["acked_at_ms"]),
            entry_id=entry_id,
        )
    except (KeyError, ValueError, UnicodeDecodeError):
        return None


def _client(redis_url: str, socket_timeout: float) -> redis.Redis:
    # No redis-py retries: the callers decide (the listener backs off, send_command gives up).
    return redis.Redis.from_url(
        redis_url,
        socket_timeout=socket_timeout,
        socket_connect_timeout=min(socket_timeout, 2.0),
        retry=Retry(NoBackoff(), 0),
    )


def _entry_key(entry_id: str) -> tuple[int, int]:
    ms, _, seq = entry_id.partition("-")
    return int(ms), int(seq or 0)


def _text_id(entry_id: bytes | str) -> str:
    return entry_id.decode() if isinstance(entry_id, bytes) else entry_id


def _entries(response) -> list:
    """The (id, fields) pairs of an XREAD reply: RESP2 gives [[key, entries]], redis-py's RESP3
    {key: [entries]} (one level deeper), for a REDIS_URL with ?protocol=3."""
    if not response:
        return []
    groups = response.values() if isinstance(response, dict) else (entries for _key, entries in response)
    out: list = []
    for group in groups:
        if group and isinstance(group[0], list):
            group = [entry for inner in group for entry in inner]
        out.extend(group)
    return out


# ---------------------------------------------------------------------------- console side


def send_command(
    redis_url: str,
    node: str,
    command: str,
    *,
    operator_id: int,
    operator: str,
    config_version: int | None = None,
    timeout_s: float = 2.0,
    wait_ack: bool = True,
    nonce: str | None = None,
    request_id: str | None = None,
    clock: Callable[[], float] = time.time,
) -> ControlAck | None:
    """Publish one command and wait for the node's ack.

    Returns the ack, or None when none came within timeout_s (the node is down or busy: the
    caller decides) or when wait_ack is False. nonce and request_id default to fresh uuid4 hex
    (pass them to record them in the audit entry first). Raises ValueError for a command the
    node would refuse as malformed and redis.RedisError when Redis cannot be reached.
    """
    fields = encode_command(
        command,
        operator_id=operator_id,
        operator=operator,
        nonce=nonce or uuid.uuid4().hex,
        issued_at_ms=int(clock() * 1000),
        request_id=request_id or uuid.uuid4().hex,
        config_version=config_version,
    )
    acks = ack_stream(node)
    client = _client(redis_url, socket_timeout=max(timeout_s, 0.1) + 1.0)
    try:
        # Acks newer than this id can only be for commands sent after it, ours among them.
        try:
            after = _text_id(client.xinfo_stream(acks)["last-generated-id"])
        except redis.ResponseError:  # no such key: no ack was ever written
            after = "0-0"
        client.xadd(control_stream(node), fields, maxlen=STREAM_MAXLEN, approximate=True)
        if not wait_ack:
            return None
        deadline = time.monotonic() + timeout_s
        while (remaining_ms := int((deadline - time.monotonic()) * 1000)) > 0:
            for entry_id, raw in _entries(client.xread({acks: after}, count=100, block=remaining_ms)):
                after = _text_id(entry_id)
                ack = decode_ack(after, raw)
                if ack is not None and ack.nonce == fields["nonce"]:
                    return ack
        return None
    finally:
        client.close()


# ---------------------------------------------------------------------------- node side


class _SeenNonces:
    """Nonces of commands judged within the window, forgotten once they would be stale anyway
    (a command issued at t is refused as stale after t + max_age, so remembering it longer
    adds nothing). Bounded: past `capacity` live nonces new commands are refused."""

    def __init__(self, max_age_ms: int, capacity: int) -> None:
        self.max_age_ms = max_age_ms
        self.capacity = capacity
        self._expiry: dict[int, int] = {}
        self._heap: list[tuple[int, int]] = []
        self.handled_before_start: set[int] = set()  # seeded from the journal by remember()

    def __len__(self) -> int:
        return len(self._expiry)

    def __contains__(self, nid: int) -> bool:
        return nid in self._expiry

    def prune(self, now_ms: int) -> None:
        heap = self._heap
        while heap and heap[0][0] < now_ms:
            expiry, nid = heapq.heappop(heap)
            if self._expiry.get(nid) == expiry:
                del self._expiry[nid]
                self.handled_before_start.discard(nid)

    def add(self, nid: int, issued_at_ms: int) -> None:
        expiry = issued_at_ms + self.max_age_ms
        if self._expiry.get(nid, -1) < expiry:
            self._expiry[nid] = expiry
            heapq.heappush(self._heap, (expiry, nid))


class ControlListener:
    """Reads and judges the node's control stream on its own thread; see the module docstring.

    Call remember() for every control record in the journal before start(), so that commands
    handled before a restart are neither re-delivered nor accepted again. `on_pending`, if
    given, is called from the listener thread whenever commands were queued (e.g.
    `lambda: loop.call_soon_threadsafe(wake.set)`), so that a quiet market does not delay them.
    """

    def __init__(
        self,
        redis_url: str,
        node: str,
        *,
        max_age_s: float = 30.0,
        max_future_s: float = 5.0,
        clock: Callable[[], float] = time.time,
        block_ms: int = 100,
        max_pending: int = 1024,
        max_nonces: int = 100_000,
        on_pending: Callable[[], None] | None = None,
    ) -> None:
        if not max_age_s > 0 or not max_future_s >= 0:
            raise ValueError("max_age_s must be > 0 and max_future_s >= 0")
        if not 1 <= block_ms <= 10_000:
            raise ValueError("block_ms must be between 1 and 10000")
        self.redis_url = redis_url
        self.node = check_node_name(node)
        self.stream = control_stream(node)
        self.ack_stream = ack_stream(node)
        self.max_age_ms = int(max_age_s * 1000)
        self.max_future_ms = int(max_future_s * 1000)
        self.clock = clock
        self.block_ms = block_ms
        self.max_pending = max_pending
        self.on_pending = on_pending
        self._pending: collections.deque[ControlCommand] = collections.deque()
        self._seen = _SeenNonces(self.max_age_ms, max_nonces)
        self._seen_lock = threading.Lock()
        self._acks: queue.SimpleQueue[tuple[float, dict[str, str]] | None] = queue.SimpleQueue()
        self._stopping = threading.Event()
        self._threads: list[threading.Thread] = []
        self._cursor: str | None = None  # the last entry id read; None before the first connect
        self._backlog_end: tuple[int, int] | None = None  # the stream's last id at the first connect
        self._client = _client(redis_url, socket_timeout=block_ms / 1000 + 2.0)
        # Observability (read by the kernel for its metrics; written by the listener threads only).
        self.connected = False
        self.reconnects = 0
        self.last_error = ""
        self.entries_read = 0
        self.skipped_handled = 0
        self.acks_sent = 0
        self.acks_dropped = 0

    # -- kernel side (the asyncio thread)

    def poll(self) -> list[ControlCommand]:
        """Everything judged since the last call, oldest first. Never blocks."""
        pending = self._pending
        if not pending:
            return []
        out = []
        while pending:
            out.append(pending.popleft())  # deque ends are thread-safe; we are the only consumer
        return out

    def remember(self, nonce: str | int, issued_at_ms: int) -> None:
        """A command the journal already holds (its nonce, or its nonce_id from REC_CONTROL.d)."""
        nid = nonce_id(nonce) if isinstance(nonce, str) else int(nonce)
        if not 0 < nid <= INT64_MAX:
            return  # a malformed entry's command (no nonce): nothing to recognise it by
        with self._seen_lock:
            self._seen.prune(int(self.clock() * 1000))
            self._seen.add(nid, issued_at_ms)
            self._seen.handled_before_start.add(nid)

    def ack(
        self, command: ControlCommand, *, accepted: bool, trading_state: int, seq: int, reason: str = ""
    ) -> None:
        """Queue the ack of a journaled command for the ack thread; returns at once. Commands
        that did not come from Redis (entry_id "") have nobody waiting and are not acked."""
        if trading_state not in TRADING_STATES:
            raise ValueError(f"trading_state must be 0, 1 or 2, got {trading_state!r}")
        if not command.entry_id:
            return
        if not accepted and not reason:
            reason = command.verdict.reason
        now = self.clock()
        self._acks.put((now, _ack_fields(command, accepted, reason, trading_state, seq, int(now * 1000))))

    # -- lifecycle

    def start(self) -> None:
        if self._threads:
            raise RuntimeError("the control listener is already running")
        self._stopping.clear()
        self._threads = [
            threading.Thread(target=self._read_loop, name=f"control-{self.node}", daemon=True),
            threading.Thread(target=self._ack_loop, name=f"control-ack-{self.node}", daemon=True),
        ]
        for thread in self._threads:
            thread.start()

    def stop(self, timeout_s: float = 3.0) -> None:
        """Stop reading, send the acks already queued (while Redis answers), join the threads."""
        self._stopping.set()
        self._acks.put(None)
        deadline = time.monotonic() + timeout_s
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        self._threads = []
        self._client.close()

    # -- listener thread

    def _window_start_id(self) -> str:
        start_ms = int(self.clock() * 1000) - self.max_age_ms
        return f"{max(start_ms - 1, 0)}-{(1 << 64) - 1}"  # XREAD returns ids after this one

    def _on_connect(self) -> None:
        """Place the cursor: on the first connect at the window start (anything older is stale);
        after a reconnect where we were, unless the stream was recreated meanwhile (a Redis
        restart without persistence), whose new entries may have ids below our cursor."""
        try:
            last = _text_id(self._client.xinfo_stream(self.stream)["last-generated-id"])
        except redis.ResponseError:  # no such key
            last = None
        if self._cursor is None:
            self._backlog_end = _entry_key(last) if last else None
            self._cursor = self._window_start_id()
        elif last is None or _entry_key(last) < _entry_key(self._cursor):
            log.warning("control stream %s was recreated: reading it from the window start", self.stream)
            self._cursor = self._window_start_id()

    def _read_loop(self) -> None:
        backoff = 0.05
        need_connect = True
        while not self._stopping.is_set():
            try:
                if need_connect:
                    self._on_connect()
                    need_connect = False
                    if not self.connected:
                        self.connected = True
                        log.info("control listener for %s connected", self.node)
                if len(self._pending) >= self.max_pending:
                    # The kernel is not draining: leave further commands in Redis until it does.
                    self._stopping.wait(0.01)
                    continue
                response = self._client.xread({self.stream: self._cursor}, count=100, block=self.block_ms)
                queued = False
                for entry_id, fields in _entries(response):
                    self._cursor = _text_id(entry_id)
                    self.entries_read += 1
                    queued |= self._admit(self._cursor, fields)
                if queued and self.on_pending is not None:
                    self.on_pending()
                backoff = 0.05
            except Exception as exc:  # never die: a dead listener would leave the node deaf to KILL
                if self.connected:
                    log.warning("control listener for %s lost Redis: %s", self.node, exc)
                if not isinstance(exc, (redis.RedisError, OSError)):
                    log.exception("control listener for %s: unexpected error", self.node)
                self.connected = False
                self.last_error = f"{type(exc).__name__}: {exc}"
                self.reconnects += 1
                need_connect = True
                self._stopping.wait(backoff)
                backoff = min(backoff * 2, 2.0)
        self.connected = False

    def _admit(self, entry_id: str, fields: Mapping[bytes, bytes]) -> bool:
        """Judge one entry and queue it; False when it was already handled before a restart."""
        now_ms = int(self.clock() * 1000)
        try:
            command = self._judge(decode_command(entry_id, fields, now_ms), now_ms)
        except Exception as exc:  # a bug here must not lose the entry silently
            log.exception("control entry %s could not be judged", entry_id)
            command = decode_command(entry_id, {}, now_ms)
            command = dataclasses.replace(
                command, verdict=Verdict(MALFORMED, f"malformed: internal error {exc!r}")
            )
        if command is None:
            self.skipped_handled += 1
            return False
        self._pending.append(command)
        return True

    def _judge(self, command: ControlCommand, now_ms: int) -> ControlCommand | None:
        if not command.accepted:
            return command
        age_ms = now_ms - command.issued_at_ms
        if age_ms > self.max_age_ms:
            return _refused(
                command,
                STALE,
                f"stale: issued {age_ms / 1000:.1f} s ago (limit {self.max_age_ms / 1000:g} s)",
            )
        if -age_ms > self.max_future_ms:
            return _refused(
                command,
                FUTURE,
                f"from the future: issued {-age_ms / 1000:.1f} s ahead of the node's clock "
                f"(limit {self.max_future_ms / 1000:g} s)",
            )
        nid = command.nonce_id
        with self._seen_lock:
            seen = self._seen
            seen.prune(now_ms)
            if nid in seen:
                if nid in seen.handled_before_start and self._is_backlog(command.entry_id):
                    return None  # journaled and acked before this restart: not news
                return _refused(command, REPLAYED, "replayed: this nonce was already used")
            if len(seen) >= seen.capacity:
                return _refused(
                    command, OVERLOADED, f"overloaded: more than {seen.capacity} commands in the window"
                )
            seen.add(nid, command.issued_at_ms)
        return command

    def _is_backlog(self, entry_id: str) -> bool:
        return self._backlog_end is not None and _entry_key(entry_id) <= self._backlog_end

    # -- ack thread

    def _ack_loop(self) -> None:
        backoff = 0.05
        item: tuple[float, dict[str, str]] | None = None
        stopping_since: float | None = None
        while True:
            if item is None:
                try:
                    item = self._acks.get(timeout=0.2)
                except queue.Empty:
                    item = None
                if item is None:
                    if self._stopping.is_set() and self._acks.empty():
                        return
                    continue
            queued_at, fields = item
            if self.clock() - queued_at > self.max_age_ms / 1000:
                # The sender gave up long ago; the journal still holds the command and its outcome.
                self.acks_dropped += 1
                log.warning("dropped the ack of control nonce %s: Redis unreachable", fields["nonce"])
                item = None
                continue
            try:
                self._client.xadd(self.ack_stream, fields, maxlen=STREAM_MAXLEN, approximate=True)
                self.acks_sent += 1
                item = None
                backoff = 0.05
            except Exception as exc:
                self.last_error = f"{type(exc).__name__}: {exc}"
                if self._stopping.is_set():
                    stopping_since = stopping_since or time.monotonic()
                    if time.monotonic() - stopping_since > 1.0:
                        return  # stopping and Redis is gone: the journal has the outcome
                time.sleep(backoff)
                backoff = min(backoff * 2, 1.0)


def _refused(command: ControlCommand, kind: str, reason: str) -> ControlCommand:
    return dataclasses.replace(command, verdict=Verdict(kind, reason))
