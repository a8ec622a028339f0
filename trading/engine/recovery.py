"""Rebuild the engine from a snapshot and the journal, proving it is the engine that wrote it.

The journal holds every input (REC_INPUT) and every record the engine produced from them, with
contiguous seqs. Replaying the inputs through an engine restored from a snapshot must produce
exactly the journaled records, byte for byte: the periodic REC_STATE_HASH records included. Any
difference is a divergence (a different binary, a corrupted journal, a missing configuration
version) and recovery refuses to continue rather than trade on a state it cannot prove.

Configuration changes are inputs too: an EV_CONTROL CTL_RELOAD_CONFIG input carries the
version (qty) of the node document to apply just before it; the very first input of a
journal is one, so a straight replay from seq 1 needs nothing but the journal and the
configuration store.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

import numpy as np

from hotpath.engine import Engine, EngineError
from hotpath.types import (
    CTL_RELOAD_CONFIG,
    EV_CONTROL,
    F_REFUSED,
    JOURNAL_RECORD_DTYPE,
    MARKET_EVENT_DTYPE,
    REC_INPUT,
    REC_STATE_HASH,
)
from trading.engine.config import NodeConfig, parse_node_config
from trading.engine.snapshots import ConfigStore, Snapshot, SnapshotError


class RecoveryError(RuntimeError):
    """The journal and the engine disagree, or something recovery needs is missing."""


class ReplayDiverged(RecoveryError):
    """A regenerated record differs from the journaled one; `seq` is the first that does."""

    def __init__(self, message: str, seq: int):
        super().__init__(message)
        self.seq = seq


class ReplayUnmatched(RecoveryError):
    """The replay ended with records on one side only (e.g. a journal cut inside the records of
    one input: the replay regenerated more than the journal holds)."""

    def __init__(self, message: str, journaled: int, regenerated: int):
        super().__init__(message)
        self.journaled = journaled
        self.regenerated = regenerated


def build_node_engine(config: NodeConfig) -> Engine:
    instruments = [dict(i.setup.instrument) for i in config.instruments]
    engine = Engine(instruments, config.risk_config, config.engine_params, None)
    apply_config(engine, config)
    return engine


def apply_config(engine: Engine, config: NodeConfig) -> None:
    """Limits, signals, strategies and engine-wide risk of a (re)loaded configuration."""
    engine.set_risk_config(config.risk_config)
    for item in config.instruments:
        engine.set_limits(item.index, item.setup.limits)
        engine.set_signal_params(item.index, item.setup.signal_params)
        engine.set_strategy(
            item.index, item.strategy, item.setup.strategy_params if item.strategy != "none" else {}
        )


def same_instruments(a: NodeConfig, b: NodeConfig) -> bool:
    return [(i.index, i.spec.key) for i in a.instruments] == [(i.index, i.spec.key) for i in b.instruments]


def inputs_from_records(records: np.ndarray) -> np.ndarray:
    """The MarketEvents that REC_INPUT records were made from (the inverse of journaling them)."""
    rows = records[records["kind"] == REC_INPUT]
    events = np.zeros(len(rows), dtype=MARKET_EVENT_DTYPE)
    events["ts_event"] = rows["ts_event"]
    events["ts_local"] = rows["ts_local"]
    events["price"] = rows["price"]
    events["qty"] = rows["qty"]
    events["venue_seq"] = rows["a"]
    events["aux"] = rows["b"]
    events["order_id"] = rows["order_id"]
    events["kind"] = rows["reason"]
    events["flags"] = rows["flags"]
    events["instrument"] = rows["instrument"]
    return events


def _config_marks(events: np.ndarray) -> np.ndarray:
    """Indexes of accepted CTL_RELOAD_CONFIG inputs (a config is applied just before each)."""
    return np.flatnonzero(
        (events["kind"] == EV_CONTROL)
        & (events["aux"] == CTL_RELOAD_CONFIG)
        & ((events["flags"] & F_REFUSED) == 0)
    )


@dataclass
class RecoveryResult:
    engine: Engine
    config: NodeConfig
    config_version: int
    last_seq: int
    snapshot_seq: int
    replayed_records: int
    verified_hashes: int


class Replayer:
    """Feeds journal records through an engine and checks every record it regenerates."""

    def __init__(
        self, config_store: ConfigStore, load_config: Callable[[dict], NodeConfig] = parse_node_config
    ):
        self.config_store = config_store
        self.load_config = load_config
        self.engine: Engine | None = None
        self.config: NodeConfig | None = None
        self.config_version = 0
        self.expected: list[np.ndarray] = []  # journaled records not yet matched
        self.regenerated: list[np.ndarray] = []  # replayed records not yet matched
        self.last_seq = 0
        self.replayed = 0
        self.hashes = 0

    def start_from(self, snapshot: Snapshot) -> None:
        self.config = self._config(snapshot.config_version)
        self.config_version = snapshot.config_version
        self.engine = build_node_engine(self.config)
        try:
            self.engine.restore(snapshot.engine_bytes)
        except EngineError as exc:
            raise RecoveryError(f"snapshot {snapshot.path.name} does not fit this engine: {exc}") from exc
        if self.engine.state_hash() != snapshot.state_hash:
            raise RecoveryError(f"snapshot {snapshot.path.name}: state hash mismatch after restore")
        self.last_seq = snapshot.seq

    def _config(self, version: int) -> NodeConfig:
        try:
            return self.load_config(self.config_store.load(version))
        except SnapshotError as exc:
            raise RecoveryError(str(exc)) from exc

    def feed(self, records: np.ndarray) -> None:
        if len(records) == 0:
            return
        first = int(records["seq"][0])
        if first != self.last_seq + 1:
            raise RecoveryError(f"journal gap: expected seq {self.last_seq + 1}, found {first}")
        self.last_seq = int(records["seq"][-1])
        self.expected.append(records)
        events = inputs_from_records(records)
        cuts = [0, *_config_marks(events).tolist(), len(events)]
        for start, end in zip(cuts[:-1], cuts[1:], strict=True):
            if start == end:
                continue
            if (
                events["kind"][start] == EV_CONTROL
                and events["aux"][start] == CTL_RELOAD_CONFIG
                and (events["flags"][start] & F_REFUSED) == 0
            ):
                self._reload(int(events["qty"][start]), first_seq=first)
            if self.engine is None:
                raise RecoveryError("the journal does not start with a configuration marker")
            self._run(events[start:end])
        self._verify()

    def _reload(self, version: int, first_seq: int) -> None:
        config = self._config(version)
        if self.engine is None:
            self.engine = build_node_engine(config)
            self.engine.set_next_seq(first_seq)
        else:
            if not same_instruments(config, self.config):
                raise RecoveryError(f"configuration {version} changes the instruments: not a reload")
            apply_config(self.engine, config)
        self.config, self.config_version = config, version

    def _run(self, events: np.ndarray) -> None:
        start = 0
        while start < len(events):
            start = self.engine.process(events, start)
            self.regenerated.append(self.engine.drain())

    def _verify(self) -> None:
        # Journal batches and replay output are cut at different places: compare what both
        # sides have, keep the rest for the next round.
        got = np.concatenate(self.regenerated) if self.regenerated else _EMPTY
        want = np.concatenate(self.expected) if self.expected else _EMPTY
        n = min(len(got), len(want))
        if n and not np.array_equal(got[:n], want[:n]):
            bad = int(np.flatnonzero(got[:n] != want[:n])[0])
            raise ReplayDiverged(
                f"replay diverged at seq {int(want['seq'][bad])}: journal kind {int(want['kind'][bad])}, "
                f"replay kind {int(got['kind'][bad])}",
                seq=int(want["seq"][bad]),
            )
        self.hashes += int(np.count_nonzero(want[:n]["kind"] == REC_STATE_HASH))
        self.replayed += n
        self.regenerated = [got[n:]] if len(got) > n else []
        self.expected = [want[n:]] if len(want) > n else []

    def finish(self) -> None:
        leftover_got = sum(len(a) for a in self.regenerated)
        leftover_want = sum(len(a) for a in self.expected)
        if leftover_got or leftover_want:
            raise ReplayUnmatched(
                f"replay ended with {leftover_want} journaled and {leftover_got} regenerated records unmatched",
                journaled=leftover_want,
                regenerated=leftover_got,
            )


_EMPTY = np.zeros(0, dtype=JOURNAL_RECORD_DTYPE)


def recover(
    records_after: Callable[[int], Iterable[np.ndarray]],
    last_seq: int,
    config_store: ConfigStore,
    snapshot: Snapshot | None,
    load_config: Callable[[dict], NodeConfig] = parse_node_config,
) -> RecoveryResult | None:
    """Engine state at the end of the journal. records_after(seq) yields the journal's records
    with seq > seq in order; last_seq is the journal's last seq (0 = empty journal: None)."""
    if last_seq == 0:
        return None
    if snapshot is not None and snapshot.seq > last_seq:
        raise RecoveryError(f"snapshot at seq {snapshot.seq} is newer than the journal (last seq {last_seq})")
    replayer = Replayer(config_store, load_config)
    if snapshot is not None:
        replayer.start_from(snapshot)
    for records in records_after(replayer.last_seq):
        replayer.feed(records)
    replayer.finish()
    if replayer.last_seq != last_seq:
        raise RecoveryError(f"journal ends at seq {replayer.last_seq}, expected {last_seq}")
    if replayer.engine is None:
        raise RecoveryError("the journal holds no configuration marker")
    return RecoveryResult(
        engine=replayer.engine,
        config=replayer.config,
        config_version=replayer.config_version,
        last_seq=replayer.last_seq,
        snapshot_seq=snapshot.seq if snapshot else 0,
        replayed_records=replayer.replayed,
        verified_hashes=replayer.hashes,
    )
