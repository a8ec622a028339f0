"""The depth fast path (EventWriter.stream_of + depth_frame: a depth frame read from its text)
against the general path (orjson, then EventWriter.depth): on every depth frame of the real spot
and USD-M captures it decodes and agrees record for record; on generated, re-serialised and
mutated frames it either agrees or declines, and it declines everything the general path refuses
and every frame that is not valid JSON."""

from __future__ import annotations

import gzip
import json
from itertools import islice

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.trading.node_clients.test_decoder import SPEC, TS, depth_payloads
from trading.engine.feeds.binance_decode import EventWriter, InstrumentCodec
from trading.marketdata.reject import Reject

DECLINED = "declined"
STREAM = "testusdt@depth@100ms"


def general(frame: str | bytes, codec: InstrumentCodec):
    """What the general path makes of a frame: records and ids, a refusal, or bad JSON."""
    try:
        message = orjson.loads(frame)
    except orjson.JSONDecodeError:
        return "bad_json"
    if type(message) is not dict or "data" not in message:
        return "not_a_stream_message"
    writer = EventWriter(16)
    try:
        writer.depth(codec, message["data"], TS)
    except Reject as exc:
        return ("refused", exc.args[0])
    ids = (writer.first_id, writer.final_id, writer.prev_id, writer.event_ns)
    return [tuple(r) for r in writer.view().tolist()], ids, message.get("stream")


def fast(frame, codec: InstrumentCodec):
    writer = EventWriter(16)
    writer.add(1, 0, 1, 1)  # records already in the buffer survive a declined frame
    stream = writer.stream_of(frame)
    if stream is None:
        return DECLINED
    count = writer.depth_frame(codec, TS)
    if count < 0:
        assert len(writer) == 1, "a declined frame leaves nothing behind"
        return DECLINED
    assert count == len(writer) - 1
    ids = (writer.first_id, writer.final_id, writer.prev_id, writer.event_ns)
    return [tuple(r) for r in writer.view()[1:].tolist()], ids, stream


def agrees_or_declines(frame, codec) -> str:
    got = fast(frame, codec)
    if got == DECLINED:
        return DECLINED
    assert got == general(frame, codec), frame[:300]
    return "decoded"


def _depth_frames(path, limit):
    with gzip.open(path, "rb") as lines:
        for line in islice(lines, limit):
            text = line[line.index(b" ") + 1 :].decode().rstrip("\n")
            if '"stream":' in text and "@depth" in text:
                yield text


@pytest.mark.parametrize("market", ["spot", "usdm"])
def test_every_real_depth_frame_takes_the_fast_path_and_agrees(data_dir, registry, market):
    spec = registry.get("BTCUSDT", market)
    codec = InstrumentCodec(3, spec, market == "usdm")
    decoded = 0
    for frame in _depth_frames(data_dir / "hftbacktest" / market / "btcusdt_20240808.gz", 40_000):
        assert agrees_or_declines(frame, codec) == "decoded", frame[:300]
        decoded += 1
    assert decoded > 1000


def _frame(payload: dict, dumps) -> str:
    return dumps({"stream": STREAM, "data": payload})


@settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(futures=st.booleans(), data=st.data())
def test_generated_frames_agree_or_decline_and_refusals_always_decline(futures, data):
    payload = data.draw(depth_payloads(futures))
    codec = InstrumentCodec(3, SPEC, futures)
    compact = {"separators": (",", ":")}
    for dumps in (lambda m: json.dumps(m, **compact), json.dumps):  # compact as Binance, and spaced
        frame = _frame(payload, dumps)
        outcome = agrees_or_declines(frame, codec)
        if general(frame, codec)[0] == "refused":
            assert outcome == DECLINED


def _level():
    price = st.integers(1, 10**9).map(lambda n: f"{n // 100}.{n % 100:02d}" + "0" * (n % 7))
    qty = st.integers(0, 10**9).map(lambda n: f"{n // 10**6}.{n % 10**6:06d}")
    return st.tuples(price, qty).map(list)


@st.composite
def valid_depth_payloads(draw, futures: bool):
    """Payloads the general path decodes, written in Binance's key order."""
    first = draw(st.integers(1, 10**17))
    data: dict = {"e": "depthUpdate", "E": draw(st.integers(1, 9_223_372_036_854))}
    if futures and draw(st.booleans()):
        data["T"] = draw(st.integers(0, 10**13))
    data["s"] = "TESTUSDT"
    data["U"] = first
    data["u"] = first + draw(st.integers(0, 10**6))
    if futures:
        data["pu"] = draw(st.integers(0, first - 1))
    data["b"] = draw(st.lists(_level(), max_size=40))
    data["a"] = draw(st.lists(_level(), max_size=40))
    return data


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(futures=st.booleans(), data=st.data())
def test_valid_frames_in_binance_form_take_the_fast_path_and_agree(futures, data):
    payload = data.draw(valid_depth_payloads(futures))
    codec = InstrumentCodec(3, SPEC, futures)
    frame = _frame(payload, lambda m: json.dumps(m, separators=(",", ":")))
    assert agrees_or_declines(frame, codec) == "decoded"
    assert agrees_or_declines(_frame(payload, json.dumps), codec) == DECLINED  # spaces: general path


def _real_frames(data_dir, count=40):
    return list(
        islice(_depth_frames(data_dir / "hftbacktest" / "spot" / "btcusdt_20240808.gz", 2_000), count)
    )


@pytest.fixture(scope="module")
def spot_codec(registry):
    return InstrumentCodec(3, registry.get("BTCUSDT", "spot"), False)


@pytest.fixture(scope="module")
def real_frames(data_dir):
    return _real_frames(data_dir)


@settings(max_examples=800, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])  # fmt: skip
@given(data=st.data())
def test_mutated_real_frames_agree_or_decline_and_invalid_json_always_declines(real_frames, spot_codec, data):
    frame = data.draw(st.sampled_from(real_frames))
    for _ in range(data.draw(st.integers(1, 3))):
        at = data.draw(st.integers(0, len(frame)))
        action = data.draw(st.sampled_from(["delete", "insert", "replace", "cut"]))
        text = data.draw(st.text(alphabet='0123456789.-+eE"[],:{} \\\nabuUsSpP\x00é', min_size=1, max_size=3))
        if action == "delete":
            frame = frame[:at] + frame[at + 1 :]
        elif action == "insert":
            frame = frame[:at] + text + frame[at:]
        elif action == "replace":
            frame = frame[:at] + text + frame[at + len(text) :]
        else:
            frame = frame[:at]
    outcome = agrees_or_declines(frame, spot_codec)
    if (
        general(frame, spot_codec) in ("bad_json", "not_a_stream_message")
        or general(frame, spot_codec)[0] == "refused"
    ):
        assert outcome == DECLINED


BASE = (
    '{"stream":"btcusdt@depth@100ms","data":{"e":"depthUpdate","E":1723161255208,"s":"BTCUSDT",'
    '"U":50093239189,"u":50093239202,"b":[["61737.63000000","0.00000000"],["61730.17","1.5"]],'
    '"a":[["61837.64000000","1.54698000"]]}}'
)


@pytest.mark.parametrize(
    "frame, why",
    [
        (BASE + " ", "trailing whitespace"),
        (BASE + "x", "trailing garbage"),
        (BASE[:-1], "unterminated"),
        (BASE.replace('"U":50093239189,', '"U":50093239189,"U":50093239189,'), "a key twice"),
        (BASE.replace('"b":[["61737.63000000","0.00000000"],["61730.17","1.5"]],', "")
         .replace('"a":[["61837.64000000","1.54698000"]]', '"a":[["61837.64000000","1.54698000"]],'
                  '"b":[["61737.63000000","0.00000000"]]'), "asks before bids"),
        (BASE.replace('"BTCUSDT"', '"BTC\\u0055SDT"'), "an escape (valid JSON: the general path decodes it)"),
        (BASE.replace('"s":"BTCUSDT"', '"s":"ETHUSDT"'), "another symbol"),
        (BASE.replace('"U":50093239189', '"U":050093239189'), "a leading zero (not JSON)"),
        (BASE.replace('"U":50093239189', '"U":-50093239189'), "a negative id"),
        (BASE.replace('"U":50093239189', '"U":5009323918.9'), "a float id"),
        (BASE.replace('"U":50093239189', '"U":5e10'), "an exponent"),
        (BASE.replace('"U":50093239189', '"U":1234567890123456789'), "19 digits"),
        (BASE.replace('"U":50093239189', '"U":50093239203'), "U after u"),
        (BASE.replace('"E":1723161255208', '"E":0'), "time zero"),
        (BASE.replace('"E":1723161255208,', ""), "no time"),
        (BASE.replace('"61730.17"', '"NaN"'), "NaN price"),
        (BASE.replace('"61730.17"', '"-61730.17"'), "negative price"),
        (BASE.replace('"61730.17"', '"61730.171"'), "off tick"),
        (BASE.replace('"61730.17"', '"0.00"'), "zero price"),
        (BASE.replace('"61730.17"', '"1e3"'), "exponent price"),
        (BASE.replace('"61730.17"', '"6173017' + "0" * 30 + '"'), "huge price"),
        (BASE.replace('["61730.17","1.5"]', '["61730.17","1.5","3"]'), "three values in a level"),
        (BASE.replace('["61730.17","1.5"]', '["61730.17"]'), "one value in a level"),
        (BASE.replace('["61730.17","1.5"]', '[61730.17,"1.5"]'), "a number, not a string"),
        (BASE.replace('"e":"depthUpdate"', '"e":"depth"'), "another event type"),
        (BASE.replace('"u":50093239202,', '"u":50093239202,"pu":50093239188,'), "futures field on spot"),
        (BASE.replace('"E":1723161255208,', '"E":1723161255208,"x":[1],'), "an unknown key with an array"),
        (BASE.replace('{"stream"', '{"data":{},"stream"'), "data first"),
        (BASE.replace('"stream":"btcusdt@depth@100ms"', '"stream":"btc\\"usdt"'), "an escaped stream"),
        (BASE.replace("}}", "}]"), "a bracket for a brace"),
        (BASE.replace('"61730.17"', '"61730.17\x00"'), "a NUL byte"),
        (BASE.replace('"61730.17"', '"61730.17é"'), "non-ASCII"),
        (BASE.encode(), "bytes, not text"),
        ("", "empty"),
        ('{"stream":"', "a prefix only"),
    ],
)  # fmt: skip
def test_hostile_and_unusual_frames_are_declined(frame, why, spot_codec):
    assert fast(frame, spot_codec) == DECLINED, why
    assert general(BASE, spot_codec) == fast(BASE, spot_codec), "the unmodified frame decodes"


def test_an_unknown_key_with_a_plain_value_is_skipped_as_the_general_path_does(spot_codec):
    frame = BASE.replace('"E":1723161255208,', '"E":1723161255208,"T":1723161255207,"x":"y",')
    assert agrees_or_declines(frame, spot_codec) == "decoded"


def test_empty_sides_decode_and_the_last_record_is_marked(spot_codec):
    frame = BASE.replace('"a":[["61837.64000000","1.54698000"]]', '"a":[]')
    assert agrees_or_declines(frame, spot_codec) == "decoded"
    empty = BASE.replace('"b":[["61737.63000000","0.00000000"],["61730.17","1.5"]]', '"b":[]').replace(
        '"a":[["61837.64000000","1.54698000"]]', '"a":[]'
    )
    records, ids, _ = fast(empty, spot_codec)
    assert records == [] and ids[:2] == (50093239189, 50093239202)


def test_depth_frame_without_stream_of_declines(spot_codec):
    writer = EventWriter(16)
    assert writer.depth_frame(spot_codec, TS) == -1
    assert writer.stream_of(BASE) == "btcusdt@depth@100ms"
    assert writer.depth_frame(spot_codec, TS) == 3
    assert writer.depth_frame(spot_codec, TS) == -1, "a frame is read once"
