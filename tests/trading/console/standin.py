"""A stand-in node for console tests: the real node-side control listener on the real Redis,
acknowledging each command with the trading state a node would report (the engine itself is
left out; the end-to-end console tests drive a real node)."""

from __future__ import annotations

import threading
import time

from trading.engine.control import ControlListener

STATE_AFTER = {"KILL": 2, "REDUCE_ONLY": 1, "RESUME": 0}


class StandInNode:
    """Acknowledges every command on the node's control stream like a node would."""

    def __init__(self, redis_url: str, name: str):
        self.name = name
        self.state = 2
        self.received: list[tuple[str, str]] = []  # (command, operator)
        self.listener = ControlListener(redis_url, name)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> StandInNode:
        self.listener.start()
        self._thread.start()
        return self

    def _run(self) -> None:
        seq = 100
        while not self._stop.is_set():
            for command in self.listener.poll():
                seq += 1
                self.received.append((command.command, command.operator))
                if command.accepted:
                    self.state = STATE_AFTER.get(command.command, self.state)
                self.listener.ack(command, accepted=command.accepted, trading_state=self.state, seq=seq)
            time.sleep(0.002)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(5)
        self.listener.stop()
