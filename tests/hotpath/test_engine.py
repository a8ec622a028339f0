"""The compiled engine end to end: determinism, snapshot/restore, kill switch, exec reports.

Synthetic streams pin exact behaviour; the real Binance capture proves determinism at scale.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from hotpath.engine import Engine, EngineError
from hotpath.orders import OS_ACKED
from hotpath.risk import RR_OPERATOR, STATE_ACTIVE, STATE_HALTED, STATE_REDUCING
from hotpath.types import (
    AL_BAD_EVENT,
    AL_DUPLICATE_FILL,
    AL_UNKNOWN_ORDER,
    BSR_CROSSED,
    BSR_GAP,
    BSR_SNAPSHOT,
    CTL_KILL,
    CTL_REDUCE_ONLY,
    CTL_RESUME,
    EV_BOOK_INVALID,
    EV_CONTROL,
    EV_DEPTH,
    EV_ORDER_ACK,
    EV_ORDER_FILL,
    EV_TRADE,
    F_LAST,
    F_MAKER,
    F_SELL,
    MARKET_EVENT_DTYPE,
    REC_ALERT,
    REC_BOOK_STATE,
    REC_CANCEL_SENT,
    REC_CONTROL,
    REC_FILL,
    REC_ORDER_CANCELED,
    REC_ORDER_NEW,
    REC_ORDER_SENT,
    REC_QUOTE,
    REC_ROUND_TRIP,
    REC_STATE_HASH,
    REC_TRADING_STATE,
)
from tests.conftest import MM_BENCH_CONFIG as MM
from tests.support.engine_streams import MS, Stream, quiet_book
from trading.backtest.config import build_engine_setup, parse_config
from trading.backtest.runner import build_engine, center_price, run_engine
from trading.instruments import InstrumentRegistry
from trading.marketdata import load_events

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def btc():
    return InstrumentRegistry().get("BTCUSDT", "spot")


@pytest.fixture(scope="module")
def real_events(spot_btc_files, cache_dir):
    return load_events(list(spot_btc_files), "BTCUSDT", cache_dir=cache_dir).events


def make_engine(btc, config=MM, strategy="mm", *, sim=True, center=6_000_000, **engine_params):
    setup = build_engine_setup(parse_config(config), strategy, btc, latency_us=None, center_price=center)
    setup.engine_params.update(engine_params)
    return build_engine(setup, with_sim=sim)


def kinds(records) -> list[int]:
    return records["kind"].tolist()


# ----------------------------------------------------------------------- configuration


def test_process_refuses_bad_arrays(btc):
    engine = make_engine(btc)
    with pytest.raises(EngineError, match="MARKET_EVENT_DTYPE"):
        engine.process(np.zeros(3, dtype=np.int64))
    events = np.zeros(6, dtype=MARKET_EVENT_DTYPE)
    with pytest.raises(EngineError, match="contiguous"):
        engine.process(events[::2])
    with pytest.raises(EngineError, match="start"):
        engine.process(events, 5, 2)


def test_engine_refuses_to_run_unconfigured(btc):
    setup = build_engine_setup(parse_config(MM), "mm", btc, latency_us=None, center_price=6_000_000)
    engine = Engine([setup.instrument], setup.risk_config, setup.engine_params, setup.sim_params)
    with pytest.raises(EngineError, match="set_signal_params"):
        engine.process(np.zeros(1, dtype=MARKET_EVENT_DTYPE))
    engine.set_signal_params(0, setup.signal_params)
    engine.set_strategy(0, "mm", setup.strategy_params)
    with pytest.raises(EngineError, match="set_limits"):
        engine.process(np.zeros(1, dtype=MARKET_EVENT_DTYPE))


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda s: s.risk_config.update(max_open_orders_total=0), "risk config"),
        (lambda s: s.instrument.update(book_window_log2=40), "book"),
        (lambda s: s.instrument.update(value_den=0), "value_num"),
        (lambda s: s.engine_params.update(order_capacity=1000), "power of two"),
        (lambda s: s.engine_params.update(bogus=1), "unknown engine params"),
        (lambda s: s.sim_params.update(max_resting=0), "simulated venue"),
    ],
)
def test_bad_engine_configuration_is_refused(btc, mutate, message):
    setup = build_engine_setup(parse_config(MM), "mm", btc, latency_us=None, center_price=6_000_000)
    mutate(setup)
    with pytest.raises(EngineError, match=message):
        Engine([setup.instrument], setup.risk_config, setup.engine_params, setup.sim_params)


# ----------------------------------------------------------------------- quoting on a synthetic book


def test_market_maker_quotes_around_the_mid_and_the_venue_acks(btc):
    engine = make_engine(btc)
    events = quiet_book(Stream()).array()
    records, _, _ = run_engine(engine, events)
    new = records[records["kind"] == REC_ORDER_NEW]
    assert len(new) == 2, "one bid and one ask"
    bid = new[(new["flags"] & F_SELL) == 0][0]
    ask = new[(new["flags"] & F_SELL) != 0][0]
    # mid = 6_000_000 exactly, half spread 10 ticks, flat inventory
    assert bid["price"] == 5_999_990 and ask["price"] == 6_000_010
    assert bid["qty"] == ask["qty"] == 1000
    sent = records[records["kind"] == REC_ORDER_SENT]
    assert (sent["c"] - sent["ts_local"] == 1_000_000).all(), "arrival = send + 1 ms entry latency"
    live = engine.live_orders()
    assert [o["status"] for o in live] == [OS_ACKED, OS_ACKED]
    assert REC_QUOTE in kinds(records)
    assert engine.stats()["instruments"][0]["book_valid"]
    book_states = records[records["kind"] == REC_BOOK_STATE]
    assert book_states[0]["reason"] == BSR_SNAPSHOT and book_states[0]["a"] == 1


def test_requote_threshold_keeps_quotes_until_the_mid_moves_two_ticks(btc):
    engine = make_engine(btc)
    stream = quiet_book(Stream())
    # move the book up by one tick: no requote; then by two more: requote both sides
    stream.depth([(0, 6_000_000, 10), (F_SELL, 6_000_001, 0), (F_SELL, 6_000_003, 10)], seq=20)
    run_engine(engine, stream.array())
    first = {o["price"] for o in engine.live_orders()}
    assert first == {5_999_990, 6_000_010}
    stream2 = Stream()
    stream2.ts = stream.ts
    stream2.depth(
        [(F_SELL, 6_000_002, 0), (F_SELL, 6_000_003, 0), (F_SELL, 6_000_004, 10), (0, 6_000_002, 10)], seq=21
    )
    records, _, _ = run_engine(engine, stream2.array())
    assert kinds(records).count(REC_CANCEL_SENT) == 2
    assert kinds(records).count(REC_ORDER_NEW) == 2


def test_crossed_book_stops_quoting_and_is_reported(btc):
    engine = make_engine(btc)
    stream = quiet_book(Stream())
    stream.depth([(0, 6_000_005, 10)], seq=30)  # bid above the ask: crossed
    records, _, _ = run_engine(engine, stream.array())
    crossed = records[(records["kind"] == REC_BOOK_STATE) & (records["reason"] == BSR_CROSSED)]
    assert len(crossed) == 1 and crossed[0]["a"] == 0
    assert engine.stats()["instruments"][0]["book_crossed"] == 1
    after = records[records["seq"] > crossed[0]["seq"]]
    assert REC_ORDER_NEW not in kinds(after)
    assert kinds(after).count(REC_CANCEL_SENT) == 2


def test_book_invalid_cancels_quotes_until_the_next_snapshot(btc):
    engine = make_engine(btc)
    stream = quiet_book(Stream())
    stream.add(EV_BOOK_INVALID, seq=99, flags=F_LAST, dt_ms=10)
    stream.depth([(0, 5_999_999, 7)], seq=100)  # diffs after a gap: the book stays invalid
    records, _, _ = run_engine(engine, stream.array())
    gap = records[(records["kind"] == REC_BOOK_STATE) & (records["reason"] == BSR_GAP)]
    assert len(gap) == 1
    after = records[records["seq"] > gap[0]["seq"]]
    assert REC_ORDER_NEW not in kinds(after)
    assert kinds(after).count(REC_CANCEL_SENT) == 2
    resync = Stream()
    resync.ts = stream.ts + 50 * MS
    quiet_book(resync, n_messages=2)
    records, _, _ = run_engine(engine, resync.array())
    assert kinds(records).count(REC_ORDER_NEW) == 2


def test_fills_update_position_and_round_trips(btc):
    engine = make_engine(btc)
    stream = quiet_book(Stream())
    # a seller hits through our bid: the whole bid fills (trade through)
    stream.add(EV_TRADE, price=5_999_980, qty=5_000, flags=F_SELL | F_LAST, seq=1, dt_ms=10)
    stream.depth([(0, 5_999_999, 1)], seq=50)
    # a buyer lifts through our (re-quoted) ask
    stream.add(EV_TRADE, price=6_000_100, qty=5_000, flags=F_LAST, seq=2, dt_ms=200)
    stream.depth([(0, 5_999_998, 1)], seq=51)
    records, _, _ = run_engine(engine, stream.array())
    fills = records[records["kind"] == REC_FILL]
    assert len(fills) == 2
    assert (fills["flags"] & F_MAKER).all()
    assert fills[0]["a"] == 1000 and fills[1]["a"] == 0, "position after each fill"
    trips = records[records["kind"] == REC_ROUND_TRIP]
    assert len(trips) == 1
    buy, sell = int(fills[0]["price"]), int(fills[1]["price"])
    # 1000 lots of 1e-6 BTC, tick 0.01: pnl nano = (sell - buy) ticks * 1000 lots * 10 nano
    assert trips[0]["a"] == (sell - buy) * 1000 * 10
    pos = engine.position(0)
    assert pos["qty"] == 0 and pos["round_trips"] == 1 and pos["realized"] == trips[0]["a"]


# ----------------------------------------------------------------------- control: kill switch


def test_kill_switch_halts_cancels_everything_and_denies_new_orders(btc):
    engine = make_engine(btc)
    stream = quiet_book(Stream())
    stream.add(EV_CONTROL, aux=CTL_KILL, order_id=7, seq=12345, dt_ms=5)
    for k in range(10):
        stream.depth([(0, 6_000_000 + 5 * k, 10), (F_SELL, 6_000_010 + 5 * k, 10)], seq=200 + k)
    records, _, _ = run_engine(engine, stream.array())
    control = records[records["kind"] == REC_CONTROL]
    assert len(control) == 1
    assert control[0]["a"] == CTL_KILL and control[0]["order_id"] == 7 and control[0]["d"] == 12345
    assert control[0]["b"] == STATE_HALTED
    state = records[records["kind"] == REC_TRADING_STATE]
    assert (
        state[0]["a"] == STATE_ACTIVE and state[0]["b"] == STATE_HALTED and state[0]["reason"] == RR_OPERATOR
    )
    after = records[records["seq"] > control[0]["seq"]]
    assert REC_ORDER_NEW not in kinds(after), "no order after the kill"
    assert kinds(after).count(REC_CANCEL_SENT) == 2
    assert kinds(after).count(REC_ORDER_CANCELED) == 2, "the venue confirmed both cancels"
    assert engine.live_orders() == []
    assert engine.trading_state == STATE_HALTED


def test_reduce_only_then_resume(btc):
    engine = make_engine(btc)
    stream = quiet_book(Stream())
    stream.add(EV_CONTROL, aux=CTL_REDUCE_ONLY, order_id=1, seq=1, dt_ms=5)
    stream.depth([(0, 5_999_999, 3)], seq=300)
    records, _, _ = run_engine(engine, stream.array())
    assert engine.trading_state == STATE_REDUCING
    cut = records[records["kind"] == REC_CONTROL][0]["seq"]
    after = records[records["seq"] > cut]
    assert REC_ORDER_NEW not in kinds(after), "flat: no order reduces exposure"
    resume = Stream()
    resume.ts = stream.ts
    resume.add(EV_CONTROL, aux=CTL_RESUME, order_id=2, seq=2, dt_ms=200)
    resume.depth([(0, 5_999_998, 3)], seq=301)
    records, _, _ = run_engine(engine, resume.array())
    assert engine.trading_state == STATE_ACTIVE
    assert kinds(records).count(REC_ORDER_NEW) == 2


# ----------------------------------------------------------------------- execution reports (live mode)


def test_duplicate_and_unknown_execution_reports_are_applied_once(btc):
    engine = make_engine(btc, sim=False)
    stream = quiet_book(Stream())
    run_engine(engine, stream.array())
    orders = engine.live_orders()
    assert len(orders) == 2
    bid = next(o for o in orders if o["side"] == 0)
    reports = Stream()
    reports.ts = stream.ts
    reports.add(EV_ORDER_ACK, order_id=bid["client_id"], aux=555, dt_ms=1)
    reports.add(EV_ORDER_ACK, order_id=bid["client_id"], aux=555, dt_ms=1)  # duplicate ack
    fill = {"order_id": bid["client_id"], "price": bid["price"], "qty": 400, "seq": 9001, "flags": F_MAKER}
    reports.add(EV_ORDER_FILL, dt_ms=1, **fill)
    reports.add(EV_ORDER_FILL, dt_ms=1, **fill)  # same trade id again
    reports.add(
        EV_ORDER_FILL, order_id=424242, price=bid["price"], qty=100, seq=9002, dt_ms=1
    )  # unknown order
    records, _, _ = run_engine(engine, reports.array())
    assert engine.position(0)["qty"] == 400 + 100, "the unknown order's fill is still booked (money moved)"
    alerts = records[records["kind"] == REC_ALERT]["reason"].tolist()
    assert alerts.count(AL_DUPLICATE_FILL) == 1
    assert AL_UNKNOWN_ORDER in alerts
    assert kinds(records).count(REC_FILL) == 2
    stats = engine.stats()
    assert stats["duplicate_fills"] == 1 and stats["unknown_reports"] >= 1


def test_live_mode_sends_orders_through_records_only(btc):
    engine = make_engine(btc, sim=False)
    records, _, _ = run_engine(engine, quiet_book(Stream()).array())
    sent = records[records["kind"] == REC_ORDER_SENT]
    assert len(sent) == 2
    assert (sent["c"] == 0).all(), "no simulated venue arrival time"
    assert {int(s["price"]) for s in sent} == {5_999_990, 6_000_010}


def test_bad_inputs_are_counted_and_never_reach_the_book(btc):
    engine = make_engine(btc)
    stream = quiet_book(Stream())
    stream.add(EV_DEPTH, price=-5, qty=1, flags=F_LAST, seq=77, dt_ms=1)
    stream.add(EV_DEPTH, price=6_000_000, qty=-1, flags=F_LAST, seq=78, dt_ms=1)
    stream.add(EV_TRADE, price=0, qty=10, flags=F_LAST, dt_ms=1)
    stream.add(99, dt_ms=1)  # unknown kind
    stream.add(EV_DEPTH, price=6_000_000, qty=1, flags=F_LAST, instrument=3, dt_ms=1)  # no such instrument
    records, _, _ = run_engine(engine, stream.array())
    stats = engine.stats()
    assert stats["bad_events"] == 5
    assert stats["instruments"][0]["book_rejected"] == 2
    assert records[records["kind"] == REC_ALERT]["reason"].tolist().count(AL_BAD_EVENT) == 5
    assert engine.book(0, 1)["bids"] == [(5_999_999, 50_000)]


# ----------------------------------------------------------------------- determinism on real data


def run_real(btc, events, **params):
    engine = make_engine(btc, center=center_price(events), **params)
    records, _, _ = run_engine(engine, events)
    return engine, records


def test_same_data_twice_gives_the_same_hash_and_journal(btc, real_events):
    e1, r1 = run_real(btc, real_events)
    e2, r2 = run_real(btc, real_events)
    assert e1.state_hash() == e2.state_hash()
    assert np.array_equal(r1, r2)
    assert e1.stats()["fills"] > 0, "the strategy must actually trade on the real data"


def test_snapshot_then_replay_of_the_rest_equals_a_straight_run(btc, real_events):
    straight, _ = run_real(btc, real_events)
    n = len(real_events)
    for k in (1, n // 3, (2 * n) // 3 + 17, n - 1):
        first = make_engine(btc, center=center_price(real_events))
        run_engine(first, real_events[:k])
        snap = first.snapshot()
        assert first.state_hash() == __import__("xxhash").xxh3_64_intdigest(snap)
        second = make_engine(btc, center=center_price(real_events))
        second.restore(snap)
        assert second.state_hash() == first.state_hash()
        run_engine(second, real_events[k:])
        assert second.state_hash() == straight.state_hash(), f"diverged after a snapshot at {k}"


def test_restore_refuses_foreign_or_corrupt_snapshots(btc, real_events):
    engine, _ = run_real(btc, real_events[:5000])
    snap = engine.snapshot()
    other = make_engine(btc, sim=False)
    with pytest.raises(EngineError):
        other.restore(snap)
    fresh = make_engine(btc)
    for bad in (snap[:-8], snap + b"\0" * 8, b"", b"\xff" * 64):
        with pytest.raises(EngineError):
            fresh.restore(bad)


def test_periodic_state_hashes_are_journaled(btc, real_events):
    engine, records = run_real(btc, real_events[:20_000], hash_every=5000)
    hashes = records[records["kind"] == REC_STATE_HASH]
    assert hashes["b"].tolist() == [5000, 10000, 15000, 20000]
    assert len(set(hashes["a"].tolist())) == 4


def test_hash_is_identical_across_processes_and_hash_seeds(
    btc, real_events, spot_btc_files, cache_dir, tmp_path
):
    script = (
        "import sys, json; from pathlib import Path\n"
        "from trading.backtest.runner import BacktestRequest, run_backtest\n"
        "from trading.backtest.config import parse_config\n"
        f"cfg = parse_config({MM!r})\n"
        "r = run_backtest(BacktestRequest(data=tuple(Path(p) for p in sys.argv[1:3]), symbol='BTCUSDT', strategy='mm',"
        " config=cfg, cache_dir=Path(sys.argv[3])))\n"
        "print(r.report['state_hash'])\n"
    )
    hashes = set()
    for seed in ("0", "1", "12345"):
        env = {**os.environ, "PYTHONHASHSEED": seed}
        out = subprocess.run(
            [sys.executable, "-c", script, *map(str, spot_btc_files), str(cache_dir)],
            cwd=ROOT, env=env, capture_output=True, text=True, timeout=300, check=True,
        )  # fmt: skip
        hashes.add(out.stdout.strip().splitlines()[-1])
    assert len(hashes) == 1
    engine, _ = run_real(btc, real_events)
    assert hashes == {f"{engine.state_hash():016x}"}


# ----------------------------------------------------------------------- system halts, refused commands, adoption


def test_system_halt_and_resume_never_override_an_operator_kill(btc):
    from hotpath.risk import RR_JOURNAL
    from hotpath.types import CTL_HALT_SYSTEM, CTL_RESUME_SYSTEM

    engine = make_engine(btc)
    stream = quiet_book(Stream())
    stream.add(EV_CONTROL, aux=CTL_HALT_SYSTEM, qty=RR_JOURNAL, dt_ms=1)
    run_engine(engine, stream.array())
    assert engine.trading_state == STATE_HALTED and engine.trading_state_reason == RR_JOURNAL
    assert engine.live_orders() == [] or all(o["status"] >= 4 for o in engine.live_orders())
    more = Stream()
    more.ts = stream.ts
    more.add(EV_CONTROL, aux=CTL_RESUME_SYSTEM, qty=RR_JOURNAL, dt_ms=1)
    run_engine(engine, more.array())
    assert engine.trading_state == STATE_ACTIVE, "the journal drained: trading resumes"
    # now a system halt, an operator kill on top, and the system resume: the kill holds
    again = Stream()
    again.ts = more.ts
    again.add(EV_CONTROL, aux=CTL_HALT_SYSTEM, qty=RR_JOURNAL, dt_ms=1)
    again.add(EV_CONTROL, aux=CTL_KILL, order_id=3, dt_ms=1)
    again.add(EV_CONTROL, aux=CTL_RESUME_SYSTEM, qty=RR_JOURNAL, dt_ms=1)
    records, _, _ = run_engine(engine, again.array())
    assert engine.trading_state == STATE_HALTED and engine.trading_state_reason == RR_OPERATOR
    controls = records[records["kind"] == REC_CONTROL]
    assert controls[-1]["reason"] == 1, "the system resume found nothing of its own to resume"


def test_system_resume_restores_reduce_only(btc):
    from hotpath.risk import RR_FEED
    from hotpath.types import CTL_HALT_SYSTEM, CTL_RESUME_SYSTEM

    engine = make_engine(btc)
    stream = quiet_book(Stream())
    stream.add(EV_CONTROL, aux=CTL_REDUCE_ONLY, order_id=1, dt_ms=1)
    stream.add(EV_CONTROL, aux=CTL_HALT_SYSTEM, qty=RR_FEED, dt_ms=1)
    stream.add(EV_CONTROL, aux=CTL_RESUME_SYSTEM, qty=RR_FEED, dt_ms=1)
    run_engine(engine, stream.array())
    assert engine.trading_state == STATE_REDUCING


def test_refused_and_unknown_commands_are_journaled_without_effect(btc):
    from hotpath.types import CTL_HALT_SYSTEM, F_REFUSED

    engine = make_engine(btc)
    stream = quiet_book(Stream())
    stream.add(EV_CONTROL, aux=CTL_KILL, order_id=9, seq=777, flags=F_REFUSED, dt_ms=1)
    stream.add(EV_CONTROL, aux=99, order_id=9, dt_ms=1)
    stream.add(EV_CONTROL, aux=CTL_HALT_SYSTEM, qty=0, dt_ms=1)  # not a system reason
    records, _, _ = run_engine(engine, stream.array())
    controls = records[records["kind"] == REC_CONTROL]
    assert len(controls) == 3
    assert controls[0]["flags"] & F_REFUSED and controls[0]["d"] == 777
    assert controls[1]["reason"] == 1 and controls[2]["reason"] == 1
    assert engine.trading_state == STATE_ACTIVE
    assert REC_TRADING_STATE not in kinds(records)


def test_adopted_orders_are_tracked_and_fill_normally(btc):
    from hotpath.types import EV_ORDER_ADOPT, F_POST_ONLY, REC_ORDER_ADOPTED

    engine = make_engine(btc, sim=False)
    stream = quiet_book(Stream())
    stream.add(EV_ORDER_ADOPT, order_id=500, price=5_999_000, qty=2000, seq=300, aux=8888,
               flags=F_POST_ONLY, dt_ms=1)  # fmt: skip
    stream.add(EV_ORDER_ADOPT, order_id=500, price=5_999_000, qty=2000, dt_ms=1)  # the id is taken now
    stream.add(EV_ORDER_ADOPT, order_id=501, price=5_999_000, qty=2000, seq=2000, dt_ms=1)  # fully filled: no
    stream.add(EV_ORDER_FILL, order_id=500, price=5_999_000, qty=1700, seq=42, flags=F_MAKER, dt_ms=1)
    records, _, _ = run_engine(engine, stream.array())
    adopted = records[records["kind"] == REC_ORDER_ADOPTED]
    assert len(adopted) == 1
    assert (adopted[0]["order_id"], adopted[0]["a"], adopted[0]["b"]) == (500, 300, 8888)
    assert engine.stats()["bad_events"] == 2
    assert engine.position(0)["qty"] == 1700
    assert 500 not in [o["client_id"] for o in engine.live_orders()], "filled (300 + 1700): done"
    # ids handed out later never collide with the adopted one
    later = Stream()
    later.ts = stream.ts
    later.depth([(0, 5_999_997, 5)], seq=90, dt_ms=200)
    records, _, _ = run_engine(engine, later.array())
    assert all(int(r["order_id"]) > 500 for r in records[records["kind"] == REC_ORDER_NEW])
