"""Looping a recording: every pass after the first is shifted so the stream stays well-formed.

Pass k adds to every message:
  time_ms    event times (E, T) keep increasing: k * (recording span + a pause)
  ids        book update ids (U, u, pu, bookTicker u, snapshot lastUpdateId) keep increasing but
             jump by LOOP_ID_GAP at each loop point, so subscribers see a sequence gap and resync
  trade_ids  trade ids (t) stay unique and increasing, without a gap
  local_ns   the pacing clock (receive times), consistent with time_ms
An optional time base (rebase_time) is added to the event times of every pass, the first included.
"""

from __future__ import annotations

from dataclasses import dataclass

from trading.simvenue.capture import SNAPSHOT, CaptureLine

LOOP_PAUSE_MS = 100  # quiet time between the end of a pass and the start of the next
LOOP_ID_GAP = 1000
NS_PER_MS = 1_000_000
_TIME_FIELDS = ("E", "T")
_ID_FIELDS = ("U", "u", "pu")


@dataclass
class RecordingBounds:
    """Ranges seen during the first pass (they size the shift of the next passes)."""

    first_ts: int | None = None
    last_ts: int = 0
    min_time_ms: int | None = None
    max_time_ms: int = 0
    min_id: int | None = None
    max_id: int = 0
    min_trade_id: int | None = None
    max_trade_id: int = 0

    def observe(self, line: CaptureLine) -> None:
        if self.first_ts is None:
            self.first_ts = line.ts_local
        self.last_ts = max(self.last_ts, line.ts_local)
        if line.kind == SNAPSHOT:
            message = line.message
            self._ids(message.get("lastUpdateId"))
        else:
            message = line.message["data"]
            for name in _ID_FIELDS:
                self._ids(message.get(name))
            trade_id = message.get("t")
            if line.channel == "trade" and type(trade_id) is int:
                if self.min_trade_id is None or trade_id < self.min_trade_id:
                    self.min_trade_id = trade_id
                self.max_trade_id = max(self.max_trade_id, trade_id)
        for name in _TIME_FIELDS:
            value = message.get(name)
            if type(value) is int:
                if self.min_time_ms is None or value < self.min_time_ms:
                    self.min_time_ms = value
                self.max_time_ms = max(self.max_time_ms, value)

    def _ids(self, value: object) -> None:
        if type(value) is int and value > 0:
            if self.min_id is None or value < self.min_id:
                self.min_id = value
            self.max_id = max(self.max_id, value)

    def shift(self, loop_index: int, time_base_ms: int) -> LoopShift:
        """The shift of pass `loop_index` (0 = the recording as it is, plus the time base)."""
        if loop_index == 0:
            return LoopShift(0, time_base_ms, 0, 0)
        local_span_ms = -(-(self.last_ts - (self.first_ts or 0)) // NS_PER_MS)
        time_span_ms = self.max_time_ms - (self.min_time_ms if self.min_time_ms is not None else 0)
        time_step = max(local_span_ms, time_span_ms) + LOOP_PAUSE_MS
        id_step = self.max_id - (self.min_id or 0) + 1 + LOOP_ID_GAP
        trade_step = self.max_trade_id - (self.min_trade_id or 0) + 1
        return LoopShift(
            local_ns=loop_index * time_step * NS_PER_MS,
            time_ms=time_base_ms + loop_index * time_step,
            ids=loop_index * id_step,
            trade_ids=loop_index * trade_step,
        )


@dataclass(frozen=True)
class LoopShift:
    local_ns: int
    time_ms: int
    ids: int
    trade_ids: int

    @property
    def is_zero(self) -> bool:
        return not (self.time_ms or self.ids or self.trade_ids)

    def payload(self, payload: dict, channel: str) -> dict:
        """A shifted copy of one stream payload (or REST snapshot when channel is "")."""
        out = dict(payload)
        for name in _TIME_FIELDS:
            if type(out.get(name)) is int:
                out[name] += self.time_ms
        if channel == "":
            if type(out.get("lastUpdateId")) is int:
                out["lastUpdateId"] += self.ids
            return out
        for name in _ID_FIELDS:
            if type(out.get(name)) is int:
                out[name] += self.ids
        if channel == "trade" and type(out.get("t")) is int:
            out["t"] += self.trade_ids
        return out
