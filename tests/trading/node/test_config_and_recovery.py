"""Node configuration validation, snapshots, configuration versions and journal replay."""

from __future__ import annotations

import numpy as np
import pytest

from hotpath.types import (
    CTL_KILL,
    CTL_RELOAD_CONFIG,
    EV_CONTROL,
    EV_TIMER,
    MARKET_EVENT_DTYPE,
    REC_STATE_HASH,
)
from trading.backtest.config import ConfigError
from trading.engine.config import parse_node_config
from trading.engine.recovery import RecoveryError, build_node_engine, recover
from trading.engine.snapshots import ConfigStore, SnapshotError, SnapshotStore, config_version
from trading.marketdata import load_events

DOC = {
    "node": "test-node",
    "venue": {"api_key": "k", "hmac_secret": "s"},
    "instruments": [
        {
            "symbol": "BTCUSDT",
            "market": "spot",
            "strategy": "mm",
            "config": {"strategy": {"order_qty": "0.001", "max_position": "0.01", "warmup_events": 0}},
        }
    ],
    "engine": {"hash_every": 2000},
}


def marker(version: int, ts: int) -> np.ndarray:
    ev = np.zeros(1, dtype=MARKET_EVENT_DTYPE)
    ev["kind"] = EV_CONTROL
    ev["aux"] = CTL_RELOAD_CONFIG
    ev["qty"] = version
    ev["ts_event"] = ev["ts_local"] = ts
    return ev


def control(cmd: int, ts: int) -> np.ndarray:
    ev = np.zeros(1, dtype=MARKET_EVENT_DTYPE)
    ev["kind"] = EV_CONTROL
    ev["aux"] = cmd
    ev["order_id"] = 7
    ev["ts_event"] = ev["ts_local"] = ts
    return ev


@pytest.fixture(scope="module")
def market(spot_btc_files, cache_dir):
    return load_events([spot_btc_files[0]], "BTCUSDT", cache_dir=cache_dir).events[:40_000]


def run_node_engine(config, events_batches):
    """What the kernel does: process each batch, drain, 'journal' the records."""
    engine = build_node_engine(config)
    journal = []
    for batch in events_batches:
        start = 0
        while start < len(batch):
            start = engine.process(batch, start)
            journal.append(engine.drain())
    return engine, journal


@pytest.fixture
def store(tmp_path):
    return ConfigStore(tmp_path / "configs")


def batches_with_marker(market, version, size=997):
    first_ts = int(market["ts_local"][0])
    out = [marker(version, first_ts)]
    for k in range(0, len(market), size):
        out.append(np.ascontiguousarray(market[k : k + size]))
    return out


def records_after_factory(journal):
    def records_after(seq):
        for chunk in journal:
            if len(chunk) and chunk["seq"][-1] > seq:
                yield chunk[chunk["seq"] > seq]

    return records_after


def test_node_config_is_validated_and_converted():
    config = parse_node_config(DOC)
    assert config.node == "test-node" and config.client_id_prefix == "test_node"
    assert config.instruments[0].setup.order_lots == 1000
    assert config.engine_params["journal_inputs"] == 1 and config.engine_params["hash_every"] == 2000
    assert config.risk_config["max_open_orders_total"] == 200
    assert config.node_cpus is None and config.sink_cpus is None, "not pinned unless asked"
    pinned = parse_node_config({**DOC, "affinity": {"node_cpus": [1], "sink_cpus": [0]}})
    assert (pinned.node_cpus, pinned.sink_cpus) == (frozenset({1}), frozenset({0}))


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda d: d.update(node="Bad Name"), "node"),
        (lambda d: d.update(instruments=[]), "at least one"),
        (lambda d: d["instruments"].append(dict(d["instruments"][0])), "listed twice"),
        (lambda d: d["instruments"][0].update(symbol="NOPE"), "NOPE"),
        (lambda d: d["instruments"][0].update(strategy="yolo"), "strategy"),
        (lambda d: d["instruments"][0]["config"].update(venue={"maker_fee_ppm": 1}), "belong to the node"),
        (lambda d: d["instruments"][0]["config"]["strategy"].update(order_qty="-1"), "order_qty"),
        (lambda d: d.update(bogus=1), "bogus"),
        (lambda d: d["venue"].update(stream_url="http://x"), "ws://"),
        (lambda d: d["venue"].update(ed25519_key_file="/k.pem"), "not both"),
        (
            lambda d: d.update(journal={"halt_lag_records": 10, "resume_lag_records": 10}),
            "resume_lag_records",
        ),
        (lambda d: d.update(engine={"timer_ms": 1}), "timer_ms"),
        (lambda d: d["venue"].update(client_id_prefix="has space"), "prefix"),
        (lambda d: d.update(affinity={"node_cpus": []}), "affinity.node_cpus: give at least one"),
        (lambda d: d.update(affinity={"node_cpus": [-1]}), "affinity.node_cpus"),
        (lambda d: d.update(affinity={"sink_cpus": [0, 0]}), "affinity.sink_cpus: CPU listed twice"),
        (lambda d: d.update(affinity={"sink_cpus": [1 << 40]}), "affinity.sink_cpus"),
        (lambda d: d.update(affinity={"node_cpus": "0"}), "affinity.node_cpus"),
        (lambda d: d.update(affinity={"cpus": [0]}), "cpus"),
    ],
)
def test_bad_node_configs_are_refused_with_the_field(mutate, message):
    import copy

    doc = copy.deepcopy(DOC)
    mutate(doc)
    with pytest.raises(ConfigError, match=message):
        parse_node_config(doc)


def test_malformed_json_is_refused():
    for raw in (b"", b"{", b"[]", b'{"node": 1, "instruments": []}'):
        with pytest.raises(ConfigError):
            parse_node_config(raw)


def test_config_store_versions_are_content_hashes(store):
    version = store.save(DOC)
    assert version == config_version(dict(reversed(list(DOC.items())))), "key order does not matter"
    assert store.load(version) == DOC
    with pytest.raises(SnapshotError, match="not in"):
        store.load(version + 1)
    (store.directory / f"{version}.json").write_text('{"node": "tampered"}')
    with pytest.raises(SnapshotError, match="does not match"):
        store.load(version)


def test_snapshot_store_round_trip_pruning_and_damage(tmp_path):
    snaps = SnapshotStore(tmp_path / "s", keep=2)
    for seq in (10, 20, 30):
        snaps.save(seq=seq, engine_bytes=b"x" * seq, state_hash=seq * 3, config_version=5)
    assert [p.name for p in sorted((tmp_path / "s").iterdir())] == [
        "snap-00000000000000000020.bin",
        "snap-00000000000000000030.bin",
    ]
    latest = snaps.latest()
    assert (latest.seq, latest.state_hash, latest.engine_bytes) == (30, 90, b"x" * 30)
    assert snaps.latest(max_seq=25).seq == 20
    path = latest.path
    data = bytearray(path.read_bytes())
    data[-1] ^= 0xFF
    path.write_bytes(bytes(data))
    assert snaps.latest().seq == 20, "a damaged snapshot is skipped"


def test_straight_replay_reproduces_the_engine(market, store):
    config = parse_node_config(DOC)
    version = store.save(DOC)
    batches = batches_with_marker(market, version)
    ts = int(market["ts_local"][-1])
    timer = np.zeros(1, dtype=MARKET_EVENT_DTYPE)
    timer["kind"], timer["ts_local"], timer["ts_event"] = EV_TIMER, ts + 1, ts + 1
    batches += [timer, control(CTL_KILL, ts + 2)]
    live, journal = run_node_engine(config, batches)
    last_seq = int(journal[-1]["seq"][-1])
    result = recover(records_after_factory(journal), last_seq, store, None)
    assert result.engine.state_hash() == live.state_hash()
    assert result.last_seq == last_seq and result.config_version == version
    assert result.verified_hashes == sum(int((j["kind"] == REC_STATE_HASH).sum()) for j in journal) > 5
    assert result.engine.trading_state == live.trading_state == 2, "the kill survives replay"
    assert result.engine.next_seq == last_seq + 1


def test_snapshot_plus_tail_equals_straight_replay(market, store, tmp_path):
    config = parse_node_config(DOC)
    version = store.save(DOC)
    batches = batches_with_marker(market, version)
    half = len(batches) // 2
    engine, journal = run_node_engine(config, batches[:half])
    snap_seq = int(journal[-1]["seq"][-1])
    snaps = SnapshotStore(tmp_path / "snaps")
    snaps.save(
        seq=snap_seq, engine_bytes=engine.snapshot(), state_hash=engine.state_hash(), config_version=version
    )
    for batch in batches[half:]:
        start = 0
        while start < len(batch):
            start = engine.process(batch, start)
            journal.append(engine.drain())
    last_seq = int(journal[-1]["seq"][-1])
    result = recover(records_after_factory(journal), last_seq, store, snaps.latest())
    assert result.snapshot_seq == snap_seq and result.replayed_records == last_seq - snap_seq
    assert result.engine.state_hash() == engine.state_hash()
    straight = recover(records_after_factory(journal), last_seq, store, None)
    assert straight.engine.state_hash() == engine.state_hash()


def test_config_reload_mid_journal_is_replayed(market, store):
    version = store.save(DOC)
    wider = {**DOC, "instruments": [dict(DOC["instruments"][0])]}
    wider["instruments"][0] = {**wider["instruments"][0], "config": {"strategy": {"half_spread_ticks": 25}}}
    version2 = store.save(wider)
    batches = batches_with_marker(market, version)
    mid = len(batches) // 2
    config1, config2 = parse_node_config(DOC), parse_node_config(wider)
    engine = build_node_engine(config1)
    journal = []

    def feed(batch):
        start = 0
        while start < len(batch):
            start = engine.process(batch, start)
            journal.append(engine.drain())

    for batch in batches[:mid]:
        feed(batch)
    from trading.engine.recovery import apply_config

    apply_config(engine, config2)  # what the kernel does for a reload: apply, then the marker
    feed(marker(version2, int(batches[mid]["ts_local"][0])))
    for batch in batches[mid:]:
        feed(batch)
    result = recover(records_after_factory(journal), int(journal[-1]["seq"][-1]), store, None)
    assert result.engine.state_hash() == engine.state_hash()
    assert result.config_version == version2


def test_divergence_gap_and_missing_config_are_refused(market, store, tmp_path):
    version = store.save(DOC)
    _, journal = run_node_engine(parse_node_config(DOC), batches_with_marker(market[:5000], version))
    last_seq = int(journal[-1]["seq"][-1])
    from hotpath.types import EV_TRADE, REC_INPUT, REC_ORDER_NEW

    def tamper(pick, field):
        copy = [j.copy() for j in journal]
        for chunk in copy:
            rows = np.flatnonzero(pick(chunk))
            if len(rows):
                chunk[field][rows[0]] += 1
                return copy
        raise AssertionError("nothing to tamper with")

    # an output the engine would not produce, a state hash, an input with a lasting effect
    for pick, field in (
        (lambda c: c["kind"] == REC_ORDER_NEW, "price"),
        (lambda c: c["kind"] == REC_STATE_HASH, "a"),
        (lambda c: (c["kind"] == REC_INPUT) & (c["reason"] == EV_TRADE), "qty"),  # VPIN state persists
    ):
        with pytest.raises(RecoveryError, match="diverged at seq"):
            recover(records_after_factory(tamper(pick, field)), last_seq, store, None)
    victim = next(i for i, j in enumerate(journal) if len(j) > 10)
    gapped = [j for i, j in enumerate(journal) if i != victim]
    with pytest.raises(RecoveryError, match="gap"):
        recover(records_after_factory(gapped), last_seq, store, None)
    with pytest.raises(RecoveryError, match="not in"):
        recover(records_after_factory(journal), last_seq, ConfigStore(tmp_path / "empty"), None)
    assert recover(records_after_factory([]), 0, store, None) is None
