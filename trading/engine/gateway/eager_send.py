"""Put a websocket message on the wire from synchronous code, without a trip through the event loop.

`send_text_now()` is the order path: when the connection is open, no fragmented message is in
progress and the transport's write buffer is empty, it frames the message with websockets'
sans-I/O protocol and writes it to the transport itself, which is exactly what `send()` does
in that state minus the coroutine and its async context manager (a large part of the cost of
an order when the CPU caches are cold). In any other state it returns False and the caller
takes the general path below.

websockets' `send()` is a coroutine, but on an open connection whose write buffer is not full it
frames the message, writes it to the transport (which sends it with one syscall when the buffer
is empty) and finishes without ever waiting. So the coroutine is stepped right here: in the
common case it completes in this call and the message has left. If it has to wait (the buffer
is above its high-water mark, or the transport is closing) the message is already written or the
connection is failing; a task finishes the coroutine, and its outcome is reported to `on_error`.

Only call this with an OPEN connection: a send on a closing connection waits for the close
inside `asyncio.timeout`, which must not be entered from another task's step.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any

from websockets.protocol import State

_pending: set[asyncio.Task] = set()  # tasks finishing suspended sends (kept alive until done)


def writable_now(ws: Any) -> bool:
    """True if a whole message may be written to the connection now: it is open, no fragmented
    message is in progress and nothing is queued in the protocol or the transport (whose flow
    control `send()` would respect)."""
    protocol = ws.protocol
    return not (
        protocol.state is not State.OPEN
        or ws.send_in_progress is not None
        or protocol.expect_continuation_frame
        or protocol.writes
        or ws.transport.is_closing()
        or ws.transport.get_write_buffer_size()
    )


def frame_route(ws: Any) -> tuple[bool, Any]:
    """(frames may be written here, the socket to write them to or None).

    A complete frame built elsewhere may go to this connection when no extension was negotiated
    (a permessage-deflate frame would have had to be compressed). It may go straight to the
    socket only on plain TCP; under TLS it has to go through the transport, which encrypts."""
    transport = ws.transport
    if ws.protocol.extensions:
        return False, None
    if transport.get_extra_info("ssl_object") is not None:
        return True, None
    return True, transport.get_extra_info("socket")


def send_text_now(ws: Any, data: bytes) -> bool:
    """Frame `data` (UTF-8 JSON) as a text message and write it now; False if the general path
    must be taken (see writable_now)."""
    if not writable_now(ws):
        return False
    ws.protocol.send_text(data)
    ws.send_data()  # transport.write: one send() syscall on an empty buffer
    return True


def send_now(coroutine: Coroutine[Any, Any, None], on_error: Callable[[BaseException], None]) -> bool:
    """Step `coroutine` (a websockets send); True if it completed here, False if a task finishes it."""
    try:
        waiting_on = coroutine.send(None)
    except StopIteration:
        return True
    except BaseException as exc:
        on_error(exc)
        return True
    task = asyncio.ensure_future(_finish(coroutine, waiting_on, on_error))
    _pending.add(task)
    task.add_done_callback(_pending.discard)
    return False


async def _finish(coroutine: Coroutine[Any, Any, None], waiting_on: Any, on_error) -> None:
    """Drive a suspended coroutine the way a Task would: wait for what it yielded, then resume it."""
    try:
        while True:
            if waiting_on is None:  # a bare yield (asyncio.sleep(0))
                await asyncio.sleep(0)
            else:
                waiting_on._asyncio_future_blocking = False
                await asyncio.wait([waiting_on])
            try:
                waiting_on = coroutine.send(None)
            except StopIteration:
                return
    except asyncio.CancelledError:
        coroutine.close()
        raise
    except BaseException as exc:
        on_error(exc)
