"""The trading node: one asyncio loop around the compiled engine.

Start-up: open the journal (a torn tail is cut off), restore the newest snapshot and replay the
journal after it, proving record by record that the engine is the one that wrote it; a fresh
node starts from its configuration instead (the first journal input names that configuration
version). The node then holds itself HALTED (reason RR_RECONCILE) until the order gateway is
connected and the venue's open orders, fills and positions agree with the engine; a kill
marker left by `manage.py killswitch` is applied before anything else.

Running: the feed and the gateway call the kernel for every message (control commands first);
a timer feeds EV_TIMER inputs (stale orders, daily reset), checks the journal's backlog and
PostgreSQL lag (HALTED past a threshold, trading again when drained), snapshots the engine and
publishes a conflated panel snapshot (~10 Hz) on Redis.

Stopping (SIGINT/SIGTERM): HALTED with RR_SHUTDOWN cancels every open order, the node waits
(bounded) for the venue to confirm, writes a final snapshot, flushes the journal and the
PostgreSQL sink. SIGUSR1 is the local kill switch.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import orjson

from hotpath.risk import RR_FEED, RR_JOURNAL, RR_RECONCILE, RR_SHUTDOWN, RR_VENUE, STATE_HALTED
from hotpath.types import CTL_RELOAD_CONFIG, CTL_RESUME, REC_CONTROL
from trading.binance.errors import NO_SUCH_ORDER
from trading.binance.signing import Signer
from trading.engine import paths
from trading.engine.affinity import AffinityError, pin_process
from trading.engine.config import NodeConfig, parse_node_config
from trading.engine.control import COMMAND_CODES, ControlCommand, ControlListener
from trading.engine.feeds.binance import BinanceMarketData
from trading.engine.gateway.binance import BinanceOrderGateway, VenueError
from trading.engine.journal import Journal, read_journal
from trading.engine.kernel import Kernel
from trading.engine.killswitch import clear_kill_marker, kill_command, read_kill_marker
from trading.engine.metrics import COUNTERS, MetricsServer, NodeMetrics
from trading.engine.reconcile import VenueOrder, VenueTrade, plan, position_differences
from trading.engine.recovery import RecoveryError, apply_config, build_node_engine, recover, same_instruments
from trading.engine.snapshots import ConfigStore, SnapshotStore, config_version
from trading.engine.venue_types import FeedInstrument
from trading.instruments import InstrumentRegistry

log = logging.getLogger("atomic_ops.node")

SYSTEM_REASONS = (RR_JOURNAL, RR_FEED, RR_VENUE, RR_RECONCILE, RR_SHUTDOWN)


async def with_venue_ids(gateway, live_orders: list[dict], symbols: dict[int, str]) -> list[dict]:
    """The live orders, each with the venue's order id. An order whose acknowledgement was never
    journaled (the node stopped between sending it and reading the answer) has none; the venue's
    trades name orders by that id only, so without it a fill of our own order would look like a
    fill of an unknown one and keep the node halted. order.status by our client id gives it; an
    order the venue never received keeps none (the reconciliation plan closes it)."""
    for order in live_orders:
        if order["venue_id"] or order["instrument"] not in symbols:
            continue
        try:
            known = await gateway.order_status(symbols[order["instrument"]], client_id=order["client_id"])
        except VenueError as exc:
            if exc.code == NO_SUCH_ORDER:
                continue
            raise
        order["venue_id"] = known.venue_order_id
    return live_orders


class NodeError(RuntimeError):
    """The node cannot start or continue; the message says why."""


@dataclass
class NodeServices:
    """What the runnode command hands the Django-free node."""

    state_dir: Path
    api_key: str
    signer: Signer
    node_id: int = 0
    conninfo: str | None = None  # PostgreSQL for the journal sink; None: segments only
    redis_url: str | None = None  # control channel and panels; None: neither
    fetch_config: Callable[[int], dict] | None = None  # RELOAD_CONFIG: version -> document (blocking)
    report_status: Callable[[dict], None] | None = None  # heartbeat for the console (blocking)
    make_sink: Callable[..., object] | None = None  # JournalSink factory (trading.journal_sink)
    session_logon: bool = False  # Ed25519 keys: session.logon instead of signing every request
    restore_journal: Callable[..., int] | None = None  # (conninfo, node_id, journal) -> records restored
    instruments: InstrumentRegistry | None = None  # what node documents name; None: the shipped file


@dataclass
class NodeStatus:
    started_ns: int = 0
    reconciled: bool = False
    reconcile_problems: list[str] = field(default_factory=list)
    last_snapshot_seq: int = 0
    metrics_port: int = 0
    stopping: bool = False


class Node:
    def __init__(
        self, config: NodeConfig, services: NodeServices, *, clock: Callable[[], int] = time.time_ns
    ):
        self.config = config
        self.services = services
        self.clock = clock
        self.state_dir = Path(services.state_dir)
        self.status = NodeStatus()
        self.metrics = NodeMetrics(config.node)
        self.instruments = [FeedInstrument(index=i.index, spec=i.spec) for i in config.instruments]
        self.config_store = ConfigStore(self.state_dir / "configs", fallback=services.fetch_config)
        self.snapshots = SnapshotStore(
            paths.snapshot_dir(self.state_dir), keep=config.recovery.snapshots_kept
        )
        self.journal: Journal | None = None
        self.kernel: Kernel | None = None
        self.sink = None
        self.control: ControlListener | None = None
        self.gateway: BinanceOrderGateway | None = None
        self.feed: BinanceMarketData | None = None
        self.metrics_server: MetricsServer | None = None
        self.config_version = 0
        self._stop = asyncio.Event()
        self._wake = asyncio.Event()
        self._tasks: list[asyncio.Task] = []
        self._reconciling: asyncio.Task | None = None
        self._last_snapshot_ns = 0
        self._redis = None
        self.failure = ""
        self._mirrored: dict[str, int] = {}
        self._bad_fills_seen = 0

    # ------------------------------------------------------------------ start-up

    def prepare(self) -> None:
        """Everything before the network: state dir, journal, recovery, start-up halts."""
        self.state_dir.mkdir(parents=True, exist_ok=True)
        self._write_pid()
        journal_dir = paths.journal_dir(self.state_dir)
        self.journal = Journal(
            journal_dir,
            segment_max_bytes=self.config.journal.segment_max_mb << 20,
            fsync_interval_s=self.config.journal.fsync_interval_ms / 1000,
        )
        self.journal.on_synced = self.metrics.stage("journal_lag").record
        last_seq = self.journal.open()
        if last_seq == 0 and self.services.conninfo and self.services.restore_journal is not None:
            # the segments are gone (new disk, new host): PostgreSQL holds the durable journal
            restored = self.services.restore_journal(
                self.services.conninfo, self.services.node_id, self.journal
            )
            if restored:
                log.warning(
                    "node %s: local journal rebuilt from PostgreSQL (%d records)", self.config.node, restored
                )
                last_seq = self.journal.last_seq
        self._last_journal_ns = self.clock()
        if last_seq:
            for chunk in read_journal(journal_dir, last_seq):
                self._last_journal_ns = int(chunk["ts_local"][-1])
        try:
            result = recover(
                lambda seq: read_journal(journal_dir, seq + 1),
                last_seq,
                self.config_store,
                self.snapshots.latest(last_seq),
                load_config=self.parse_config,
            )
        except RecoveryError as exc:
            self.journal.close()
            raise NodeError(f"recovery refused: {exc}") from exc
        version = config_version(self.config.document)
        if result is None:
            engine = build_node_engine(self.config)
            self._make_kernel(engine)
            self.config_version = self.config_store.save(self.config.document)
            self.kernel.control(CTL_RELOAD_CONFIG, value=self.config_version)
            log.info("node %s: fresh journal, configuration %d", self.config.node, self.config_version)
        else:
            self._record_recovery(result)  # the proven state, before anything new is applied
            self._make_kernel(result.engine)
            self.config_version = result.config_version
            log.info(
                "node %s: recovered to seq %d (snapshot %d, %d records replayed, %d hashes verified)",
                self.config.node, result.last_seq, result.snapshot_seq, result.replayed_records,
                result.verified_hashes,
            )  # fmt: skip
            if version != result.config_version:
                self._reload(self.config, version)
        self._startup_halts()

    def _record_recovery(self, result) -> None:
        """What recovery proved, for operators and for the crash tests (recovered.json)."""
        report = {
            "at_ns": self.clock(),
            "last_seq": result.last_seq,
            "snapshot_seq": result.snapshot_seq,
            "replayed_records": result.replayed_records,
            "verified_hashes": result.verified_hashes,
            "state_hash": f"{result.engine.state_hash():016x}",
            "config_version": result.config_version,
        }
        path = self.state_dir / "recovered.json"
        tmp = path.with_suffix(".json.tmp")
        tmp.write_bytes(orjson.dumps(report))
        os.replace(tmp, path)

    def _make_kernel(self, engine) -> None:
        self.kernel = Kernel(
            engine,
            self._append,
            self._submit,
            self.metrics,
            write_before_send=self.config.journal.write_before_send,
            sent_at=self._first_sent_ns,
        )
        self.kernel.on_command = self._on_command

    def _startup_halts(self) -> None:
        engine = self.kernel.engine
        # A halt a previous process set for its own condition does not outlive it: lift it and
        # hold a single RR_RECONCILE halt until the venue agrees with us. Operator halts stay.
        if engine.trading_state == STATE_HALTED and engine.trading_state_reason in SYSTEM_REASONS:
            reason = engine.trading_state_reason
            self.kernel.system_resume(reason)
        self.kernel.system_halt(RR_RECONCILE)
        marker = read_kill_marker(self.state_dir)
        if marker is not None:
            command = kill_command(marker, self.clock() // 1_000_000)
            if command.nonce_id not in self._journaled_nonces():
                log.warning("node %s: kill marker found: halting", self.config.node)
                self.kernel.commands([command])

    def _journaled_nonces(self, since_ns: int = 0) -> dict[int, int]:
        """nonce_id -> ts_local (ms) of the control records in the journal (newest segment scan)."""
        found: dict[int, int] = {}
        for chunk in read_journal(paths.journal_dir(self.state_dir), 1):
            rows = chunk[(chunk["kind"] == REC_CONTROL) & (chunk["ts_local"] >= since_ns)]
            for row in rows:
                found[int(row["d"])] = int(row["ts_local"]) // 1_000_000
        return found

    # ------------------------------------------------------------------ running

    async def run(self) -> int:
        self.status.started_ns = self.clock()
        loop = asyncio.get_running_loop()
        # before the pid file exists: SIGUSR1's default action would terminate the process
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, self.request_stop)
        loop.add_signal_handler(signal.SIGUSR1, self._on_sigusr1)
        if self.config.node_cpus:
            try:  # first: the threads prepare() starts inherit it
                pin_process(self.config.node_cpus, f"node {self.config.node}")
            except AffinityError as exc:
                raise NodeError(str(exc)) from exc
        if self.kernel is None:
            self.prepare()
        try:
            self._start_sink()
            self._start_control(loop)
            await self._start_metrics()
            self.gateway = BinanceOrderGateway(
                self.config.venue.api_url,
                self.services.api_key,
                self.services.signer,
                prefix=self.config.client_id_prefix,
                instruments=self.instruments,
                on_events=self.kernel.process,
                on_state=self._on_gateway_state,
                recv_window_ms=self.config.venue.recv_window_ms,
                on_latency=self._on_latency,
                # an Ed25519 key logs the session on once: requests then go out unsigned
                use_session_logon=self.services.session_logon,
            )
            self.feed = BinanceMarketData(
                self.config.venue.stream_url,
                self.config.venue.api_url,
                self.instruments,
                on_events=self.kernel.process,
                on_latency=self._on_latency,
                market=self.config.venue.market,
                stale_after_s=self.config.feed.stale_after_s,
            )
            self._tasks = [
                asyncio.create_task(self.gateway.run(), name="gateway"),
                asyncio.create_task(self.feed.run(), name="feed"),
                asyncio.create_task(self._timer_loop(), name="timer"),
                asyncio.create_task(self._panel_loop(), name="panels"),
            ]
            for task in self._tasks:
                task.add_done_callback(self._component_done)
            await self._stop.wait()
            await self._shutdown()
        finally:
            await self._teardown()
        return 1 if self.failure else 0

    def _component_done(self, task: asyncio.Task) -> None:
        """A component that ends on its own is a failure: stop the node (orders are cancelled)."""
        if task.cancelled() or self._stop.is_set():
            return
        exc = task.exception()
        if exc is not None:
            log.error("node %s: %s failed", self.config.node, task.get_name(), exc_info=exc)
            self.failure = f"{task.get_name()} failed: {type(exc).__name__}: {exc}"
        else:
            log.error("node %s: %s stopped unexpectedly", self.config.node, task.get_name())
            self.failure = f"{task.get_name()} stopped unexpectedly"
        self.request_stop()

    def request_stop(self) -> None:
        self.status.stopping = True
        self._stop.set()

    def _on_sigusr1(self) -> None:
        log.warning("node %s: SIGUSR1: kill", self.config.node)
        if self.kernel is None:
            return  # still starting: prepare() applies the marker the kill switch wrote
        marker = read_kill_marker(self.state_dir) or {"nonce": "", "operator": "SIGUSR1"}
        self.kernel.commands([kill_command(marker, self.clock() // 1_000_000)])

    def _append(self, records: np.ndarray) -> None:
        self.journal.append(records)
        if self.sink is not None:
            self.sink.wake()

    def _first_sent_ns(self) -> int:
        sent = getattr(self.gateway, "first_sent_ns", 0)
        return sent or self.clock()

    def _submit(self, records: np.ndarray) -> int:
        return self.gateway.submit(records) if self.gateway is not None else 0

    LATENCY_STAGES = {
        "ack": "order_submit_to_ack",
        "cancel_ack": "cancel_submit_to_ack",
        "send": "order_send",
        "fill": "ack_to_fill",
        "feed_recv_to_decode": "feed_recv_to_decode",
        "decode_to_engine": "decode_to_engine",
    }

    def _on_latency(self, stage: str, ns: int) -> None:
        name = self.LATENCY_STAGES.get(stage)
        if name is not None:
            self.metrics.stage(name).record(ns)

    def _on_command(self, command: ControlCommand) -> bool:
        """Commands the kernel should not pass straight to the engine. True: handled here."""
        if command.accepted and command.command_code == COMMAND_CODES["RELOAD_CONFIG"]:
            asyncio.get_running_loop().create_task(self._reload_from_source(command))
            return True
        if command.accepted and command.command_code == CTL_RESUME:
            clear_kill_marker(self.state_dir)
        return False

    # -- configuration reloads

    async def _reload_from_source(self, command: ControlCommand) -> None:
        version = command.config_version
        problem = ""
        document = None
        if self.services.fetch_config is None:
            problem = "refused: this node has no configuration source"
        else:
            try:
                document = await asyncio.to_thread(self.services.fetch_config, version)
            except Exception as exc:  # the source's failure is reported, not fatal
                problem = f"refused: configuration {version} unavailable: {exc}"
        config = None
        if document is not None:
            try:
                config = self.parse_config(document)
                if config_version(document) != version:
                    problem = f"refused: configuration {version} does not match its content"
                elif not same_instruments(config, self.config):
                    problem = "refused: a reload cannot change the instruments (restart the node)"
            except Exception as exc:  # ConfigError or anything the schema raises
                problem = f"refused: invalid configuration {version}: {exc}"
        if problem:
            self._refuse(command, problem)
            return
        self._reload(config, version, command)

    def _reload(self, config: NodeConfig, version: int, command: ControlCommand | None = None) -> None:
        if not same_instruments(config, self.config):
            raise NodeError(
                "the configuration changes the instruments: start a new journal or restore the old config"
            )
        self.config_store.save(config.document)
        apply_config(self.kernel.engine, config)
        self.config = config
        self.config_version = version
        if command is not None:
            self.kernel.pending_acks[command.nonce_id] = command
            self.kernel.control(CTL_RELOAD_CONFIG, operator_id=command.operator_id, nonce_id=command.nonce_id,
                                value=version)  # fmt: skip
        else:
            self.kernel.control(CTL_RELOAD_CONFIG, value=version)
        log.info("node %s: configuration %d applied", self.config.node, version)

    def _refuse(self, command: ControlCommand, reason: str) -> None:
        """Journal a command the node refused after accepting it for processing, and say why."""
        self.kernel.control(command.command_code, operator_id=command.operator_id, nonce_id=command.nonce_id,
                            refused=True)  # fmt: skip
        if self.control is not None:
            self.control.ack(command, accepted=False, trading_state=self.kernel.engine.trading_state,
                             seq=self.kernel.engine.next_seq - 1, reason=reason)  # fmt: skip

    # -- components

    def _start_sink(self) -> None:
        if self.services.conninfo and self.services.make_sink is not None:
            self.sink = self.services.make_sink(
                paths.journal_dir(self.state_dir),
                self.services.node_id,
                self.services.conninfo,
                instruments=self.config.symbols(),
                # ship only what is on stable storage: a power cut cannot take back from the
                # segments what PostgreSQL already holds
                limit_seq=lambda: self.journal.synced_seq,
                **({"cpus": self.config.sink_cpus} if self.config.sink_cpus else {}),
            )
            self.sink.start()

    def _start_control(self, loop: asyncio.AbstractEventLoop) -> None:
        if not (self.services.redis_url and self.config.control.enabled):
            return
        self.control = ControlListener(
            self.services.redis_url,
            self.config.node,
            max_age_s=self.config.control.max_age_s,
            on_pending=lambda: loop.call_soon_threadsafe(self._wake.set),
        )
        window_ns = self.clock() - int(self.config.control.max_age_s * 2e9)
        for nid, ts_ms in self._journaled_nonces(since_ns=window_ns).items():
            self.control.remember(nid, ts_ms)
        self.kernel.poll_control = self.control.poll
        self.kernel.ack_control = self.control.ack
        self.control.start()

    async def _start_metrics(self) -> None:
        self.metrics_server = MetricsServer(
            self.metrics, self.config.metrics.host, self.config.metrics.port, health=self.health
        )
        self.status.metrics_port = await self.metrics_server.start()
        (self.state_dir / "metrics.port").write_text(str(self.status.metrics_port))

    # -- the gateway's connection and reconciliation

    def _on_gateway_state(self, connected: bool) -> None:
        self.metrics.set("gateway_connected", 1.0 if connected else 0.0)
        if not connected:
            self.status.reconciled = False
            if self.kernel.engine.trading_state != STATE_HALTED:
                self.kernel.system_halt(RR_VENUE)
            return
        if self._reconciling is None or self._reconciling.done():
            self._reconciling = asyncio.get_running_loop().create_task(self._reconcile())

    async def _reconcile(self) -> None:
        gateway, kernel, engine = self.gateway, self.kernel, self.kernel.engine
        try:
            venue_orders = await gateway.open_orders()
            # fills from before this journal's last record are journaled already (or belong to a
            # previous life of the account); a minute of margin covers clock differences
            since_ms = max(0, (self._last_journal_ns - 60 * 10**9) // 1_000_000)
            trades = []
            for item in self.instruments:
                trades += await gateway.my_trades(item.symbol, start_time_ms=since_ms)
            account = await gateway.account_status()
            symbols = {item.index: item.spec.symbol for item in self.instruments}
            live_orders = await with_venue_ids(gateway, engine.live_orders(), symbols)
        except Exception as exc:  # any failure leaves the node halted, with the reason
            self.status.reconcile_problems = [f"venue queries failed: {exc}"]
            log.error("node %s: reconciliation failed: %s", self.config.node, exc)
            return
        reconciliation = plan(
            live_orders,
            [_venue_order(o) for o in venue_orders],
            [_venue_trade(t, self.instruments) for t in trades],
            policy=self.config.recovery.unknown_orders,
            now_ns=self.clock(),
            booked=engine.has_fill,
        )
        if len(reconciliation.events):
            kernel.process(reconciliation.events)
        if reconciliation.cancel_all and (reconciliation.adopted or venue_orders):
            kernel.control(COMMAND_CODES["CANCEL_ALL"])
        problems = position_differences(
            {i.index: engine.position(i.index)["qty"] for i in self.instruments},
            _venue_positions(account, self.instruments),
        )
        if reconciliation.unknown_fills:
            problems.append(f"fills of unknown orders: trade ids {reconciliation.unknown_fills[:10]}")
        self.status.reconcile_problems = problems
        if problems:
            log.error(
                "node %s: stays HALTED, venue and node disagree: %s", self.config.node, "; ".join(problems)
            )
            return
        self.status.reconciled = True
        self.metrics.inc("reconciliations")
        for reason in (RR_RECONCILE, RR_VENUE):
            if engine.trading_state == STATE_HALTED and engine.trading_state_reason == reason:
                kernel.system_resume(reason)
        log.info(
            "node %s: reconciled (%d adopted, %d fills, %d closed)",
            self.config.node, len(reconciliation.adopted), reconciliation.fills, len(reconciliation.closed),
        )  # fmt: skip

    # -- periodic work

    async def _timer_loop(self) -> None:
        interval = self.config.engine.timer_ms / 1000
        while not self._stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=interval)
            self._wake.clear()
            self.kernel.timer()
            self._check_health()
            if self.clock() - self._last_snapshot_ns >= self.config.recovery.snapshot_interval_s * 1e9:
                await self._snapshot()

    def _check_health(self) -> None:
        journal, engine, cfg = self.journal, self.kernel.engine, self.config.journal
        if journal.error:
            raise NodeError(f"journal failed: {journal.error}")
        backlog = journal.backlog
        restart = getattr(self.sink, "restart_if_dead", None)
        if restart is not None and restart():
            self.metrics.inc("alerts")
        lag = self.sink.lag if self.sink is not None else 0
        self.metrics.set("journal_backlog", float(backlog))
        self.metrics.set("pg_lag", float(lag))
        if self.sink is not None:
            self.metrics.set("durable_seq", float(self.sink.durable_seq))
        over = backlog > cfg.halt_backlog_records or lag > cfg.halt_lag_records
        under = backlog < cfg.halt_backlog_records // 2 and lag < cfg.resume_lag_records
        if over and engine.trading_state != STATE_HALTED:
            log.error("node %s: journal behind (backlog %d, lag %d): HALTED", self.config.node, backlog, lag)
            self.kernel.system_halt(RR_JOURNAL)
        elif under and engine.trading_state == STATE_HALTED and engine.trading_state_reason == RR_JOURNAL:
            log.warning("node %s: journal drained: trading again", self.config.node)
            self.kernel.system_resume(RR_JOURNAL)
        self._mirror_counters()
        stale = self.feed is not None and self.feed.stale
        self.metrics.set("feeds_connected", 0.0 if stale or self.feed is None else 1.0)
        if self.gateway is not None and self.status.reconciled:
            bad_fills = sum(n for reason, n in self.gateway.stats.bad.items() if reason.startswith("fill"))
            if bad_fills > self._bad_fills_seen:
                # a fill we could not read exactly: money moved that the engine does not know of
                self._bad_fills_seen = bad_fills
                log.error("node %s: an unreadable fill report: HALTED until reconciled", self.config.node)
                self.status.reconciled = False
                self.kernel.system_halt(RR_RECONCILE)
                self._on_gateway_state(True)
        if self.control is not None:
            self.metrics.set("control_connected", 1.0 if self.control.connected else 0.0)

    def _mirror_counters(self) -> None:
        """The kernel's, feed's and gateway's counters into the node's metrics (as increments)."""
        if self.kernel is not None:
            self.kernel.sync_counters()
        sources = []
        if self.feed is not None:
            stats = self.feed.stats
            sources += [("sequence_gaps", stats.gaps), ("resyncs", stats.resyncs),
                        ("bad_messages", sum(stats.bad.values())), ("feed_reconnects", stats.reconnects),
                        ("depth_fast", stats.depth_fast)]  # fmt: skip
        if self.gateway is not None:
            stats = self.gateway.stats
            sources += [
                ("gateway_reconnects", max(0, stats.connects - 1)),
                ("bad_messages_gw", sum(stats.bad.values())),
                ("requests_compiled", stats.compiled_sends),
            ]
        for name, value in sources:
            delta = value - self._mirrored.get(name, 0)
            if delta > 0:
                self.metrics.inc(name.removesuffix("_gw"), delta)
                self._mirrored[name] = value

    async def _snapshot(self) -> None:
        engine = self.kernel.engine
        seq = engine.next_seq - 1
        data, state_hash = engine.snapshot(), engine.state_hash()
        self._last_snapshot_ns = self.clock()
        t0 = time.perf_counter_ns()
        # a snapshot must never be newer than the journal on disk
        while self.journal.synced_seq < seq and not self.journal.error:
            await asyncio.sleep(0.001)
        await asyncio.to_thread(
            self.snapshots.save,
            seq=seq,
            engine_bytes=data,
            state_hash=state_hash,
            config_version=self.config_version,
        )
        self.metrics.stage("state_hash").record(time.perf_counter_ns() - t0)
        self.status.last_snapshot_seq = seq
        if self.sink is not None:
            # segments covered by both a snapshot and PostgreSQL are no longer needed here
            self.journal.prune(min(seq, self.sink.durable_seq))

    async def _panel_loop(self) -> None:
        interval = self.config.metrics.panel_interval_ms / 1000
        next_status = 0.0
        if self.services.redis_url:
            import redis.asyncio as aioredis

            self._redis = aioredis.Redis.from_url(self.services.redis_url)
        while not self._stop.is_set():
            await asyncio.sleep(interval)
            snapshot = self.panel_snapshot()
            if self._redis is not None:
                with contextlib.suppress(Exception):  # panels drop frames rather than slow the node
                    await self._redis.publish(f"atomic:node:{self.config.node}:panel", orjson.dumps(snapshot))
            if self.services.report_status is not None and time.monotonic() >= next_status:
                next_status = time.monotonic() + 1.0
                with contextlib.suppress(Exception):
                    await asyncio.to_thread(self.services.report_status, snapshot)

    def parse_config(self, document: dict) -> NodeConfig:
        """A node document checked against this node's instrument registry."""
        return parse_node_config(document, registry=self.services.instruments)

    def health(self) -> dict:
        """The node's state for /healthz (operators, supervisors and end-to-end tests)."""
        self._mirror_counters()
        engine = self.kernel.engine
        return {
            "trading_state": engine.trading_state,
            "trading_state_reason": engine.trading_state_reason,
            "reconciled": self.status.reconciled,
            "reconcile_problems": self.status.reconcile_problems,
            "seq": engine.next_seq - 1,
            "durable_seq": self.sink.durable_seq if self.sink is not None else 0,
            "journal_backlog": self.journal.backlog,
            "pg_lag": self.sink.lag if self.sink is not None else 0,
            "sink_healthy": self.sink.healthy if self.sink is not None else None,
            "live_orders": len(engine.live_orders()),
            "position": {i.spec.symbol: engine.position(i.index)["qty"] for i in self.instruments},
            "config_version": self.config_version,
            "last_snapshot_seq": self.status.last_snapshot_seq,
            "state_hash": f"{engine.state_hash():016x}",
            "stats": {k: v for k, v in engine.stats().items() if k != "instruments"},
            "counters": {name: self.metrics.counter(name) for name in COUNTERS},
            "feed": self.feed.stats.as_dict() if self.feed is not None else {},
        }

    def panel_snapshot(self) -> dict:
        self._mirror_counters()
        engine = self.kernel.engine
        return {
            "node": self.config.node,
            "ts_ns": self.clock(),
            "seq": engine.next_seq - 1,
            "durable_seq": self.sink.durable_seq if self.sink is not None else 0,
            "trading_state": engine.trading_state,
            "trading_state_reason": engine.trading_state_reason,
            "reconciled": self.status.reconciled,
            "reconcile_problems": self.status.reconcile_problems,
            "config_version": self.config_version,
            "instruments": [
                {
                    "index": item.index,
                    "symbol": item.spec.symbol,
                    "position": engine.position(item.index),
                    "book": engine.book(item.index, 20),
                    "signals": engine.signals(item.index),
                    "quotes": engine.quotes(item.index),
                    "risk": engine.risk_usage(item.index),
                    "strategy": engine.strategy_state(item.index),
                }
                for item in self.instruments
            ],
            "risk": engine.risk_status(),
            "live_orders": engine.live_orders()[:200],
            "stats": engine.stats(),
            "metrics": self.metrics.snapshot(),
            "connectivity": self.connectivity(),
        }

    def connectivity(self) -> dict[str, bool | None]:
        """Each link of the node, True when working (None: not configured)."""
        return {
            "market_data": bool(self.feed is not None and self.feed.connected and not self.feed.stale),
            "order_entry": bool(self.gateway is not None and self.gateway.connected),
            "journal_sink": self.sink.healthy if self.sink is not None else None,
            "control": self.control.connected if self.control is not None else None,
        }

    # ------------------------------------------------------------------ stopping

    async def _shutdown(self) -> None:
        log.info("node %s: stopping: cancelling open orders", self.config.node)
        engine = self.kernel.engine
        self.kernel.system_halt(RR_SHUTDOWN)
        deadline = time.monotonic() + self.config.recovery.shutdown_timeout_s
        while (
            engine.live_orders()
            and time.monotonic() < deadline
            and self.gateway is not None
            and self.gateway.connected
        ):
            await asyncio.sleep(0.02)
        if engine.live_orders():
            log.error("node %s: %d orders still open at the venue after the timeout", self.config.node,
                      len(engine.live_orders()))  # fmt: skip
        await self._snapshot()

    async def _teardown(self) -> None:
        for component in (self.feed, self.gateway):
            if component is not None:
                component.stop()
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        if self.control is not None:
            self.control.stop()
        if self.metrics_server is not None:
            await self.metrics_server.stop()
        if self._redis is not None:
            with contextlib.suppress(Exception):
                await self._redis.aclose()
        if self.journal is not None:
            self.journal.close()
        if self.sink is not None:
            # ship the whole journal before stopping: wait for the last seq itself, not for a
            # zero lag (the sink may not have seen the last batches yet; lag would read 0)
            target = self.journal.last_seq if self.journal is not None else 0
            deadline = time.monotonic() + 10.0
            # a sink still starting (no failure yet) is waited for; a failing one is not
            while (
                self.sink.durable_seq < target
                and (self.sink.healthy or self.sink.stats()["failures"] == 0)
                and time.monotonic() < deadline
            ):
                await asyncio.sleep(0.02)
            if self.sink.durable_seq < target:
                log.warning("node %s: stopping with PostgreSQL at seq %d of %d; the segments keep the rest "
                            "for the next start", self.config.node, self.sink.durable_seq, target)  # fmt: skip
            self.sink.stop()
        with contextlib.suppress(FileNotFoundError):
            paths.pid_file(self.state_dir).unlink()

    def _write_pid(self) -> None:
        pid_path = paths.pid_file(self.state_dir)
        if pid_path.exists():
            try:
                other = int(pid_path.read_text().strip())
            except ValueError:
                other = 0
            if other and other != os.getpid() and _alive(other):
                raise NodeError(f"node {self.config.node} already runs as pid {other} ({pid_path})")
        pid_path.write_text(str(os.getpid()))


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _venue_order(order) -> VenueOrder:
    return VenueOrder(
        instrument=order.instrument,
        client_id=order.client_id,
        venue_id=order.venue_order_id,
        side=order.side,
        order_type=order.order_type,
        price=order.price,
        qty=order.qty,
        filled=order.filled,
    )


def _venue_trade(trade, instruments: list[FeedInstrument]) -> VenueTrade:
    settle = {i.index: i.spec.settle for i in instruments}
    fee = (
        trade.fee_nano
        if trade.fee_asset == settle.get(trade.instrument) and trade.fee_nano is not None
        else 0
    )
    return VenueTrade(
        instrument=trade.instrument,
        trade_id=trade.trade_id,
        venue_order_id=trade.venue_order_id,
        client_id=None,
        side=trade.side,
        price=trade.price,
        qty=trade.qty,
        fee_nano=fee,
        maker=trade.maker,
        ts_ns=trade.time_ns,
    )


def _venue_positions(account, instruments: list[FeedInstrument]) -> dict[int, int]:
    """Net positions the venue reports, in lots (the simulated venue's account extension)."""
    positions = getattr(account, "positions", None) or {}
    return {i.index: positions.get(i.spec.symbol, 0) for i in instruments}
