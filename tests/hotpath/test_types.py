"""The numpy dtypes match the C structs field for field (size and every offset), and the
enums Python code imports are the ones the compiled code uses."""

import numpy as np
import pytest

from hotpath import types


@pytest.mark.parametrize(
    ("dtype", "layout"),
    [
        (types.MARKET_EVENT_DTYPE, types.market_event_layout),
        (types.JOURNAL_RECORD_DTYPE, types.journal_record_layout),
    ],
)
def test_dtype_matches_the_c_struct(dtype, layout):
    size, offsets = layout()
    assert dtype.itemsize == size
    assert list(dtype.names) == list(offsets), "same fields in the same order"
    for name, offset in offsets.items():
        assert dtype.fields[name][1] == offset, name


def test_struct_sizes_are_cache_friendly():
    assert types.MARKET_EVENT_DTYPE.itemsize == 64, "one event per cache line"
    assert types.JOURNAL_RECORD_DTYPE.itemsize == 96


def test_event_arrays_round_trip_through_bytes():
    events = types.empty_events(3)
    events["price"] = [1, 2**62, -5]
    events["kind"] = [types.EV_DEPTH, types.EV_TRADE, types.EV_BBO]
    back = np.frombuffer(events.tobytes(), dtype=types.MARKET_EVENT_DTYPE)
    assert np.array_equal(back, events)


def test_enum_members_are_plain_module_ints():
    assert types.EV_DEPTH == 1 and type(types.EV_DEPTH) is int
    assert types.F_SELL == 1 and types.F_LAST == 2 and types.F_MAKER == 4
    assert types.BUY == 0 and types.SELL == 1
    assert types.REC_FILL == types.RecordKind.REC_FILL
    assert types.MAX_INSTRUMENTS == 16
    kinds = [types.REC_ORDER_NEW, types.REC_FILL, types.REC_INPUT, types.REC_STATE_HASH]
    assert len(set(kinds)) == len(kinds)
