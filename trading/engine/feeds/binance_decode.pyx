"""Binance market-data payloads (already parsed by orjson) -> MarketEvent records, in compiled code.

The node's latency path: a depth diff of tens of levels becomes engine input in about a microsecond.
Decimal strings become int64 ticks and lots exactly, with the same answer and the same refusal
reason as InstrumentSpec.price_to_ticks / qty_to_lots (the plain-Python reference,
trading/engine/feeds/reference.py, is tested against this module under Hypothesis). Plain
`digits[.digits]` text is converted here; anything else (signs, exponents, NaN, non-ASCII, values
beyond 64 bits) is handed to the spec itself, so exactness never depends on this file alone.

A message is refused whole (Reject with a counted reason) and nothing of it stays in the buffer.
The buffer is reused: `view()` is valid until the next write; callers that keep events copy them.
"""

import numpy as np

from libc.stdint cimport INT64_MAX, int64_t, uint16_t, uint64_t
from libc.string cimport memset
from cpython.object cimport PyObject

from hotpath.types cimport (
    EV_BBO, EV_DEPTH, EV_DEPTH_CLEAR, EV_DEPTH_SNAPSHOT, EV_TRADE, F_LAST, F_SELL, MarketEvent,
)

from hotpath.types import MARKET_EVENT_DTYPE
from trading.instruments import MAX_NUMBER_CHARS, MAX_UNITS, BadValue
from trading.marketdata.reject import Reject


cdef extern from "Python.h":
    # borrowed references: the containers outlive the loop that reads them
    PyObject* PyList_GET_ITEM(object items, Py_ssize_t index)
    Py_ssize_t PyList_GET_SIZE(object items)
    PyObject* PyTuple_GET_ITEM(object items, Py_ssize_t index)
    Py_ssize_t PyTuple_GET_SIZE(object items)
    bint PyUnicode_IS_ASCII(object text)
    void* PyUnicode_DATA(object text)
    Py_ssize_t PyUnicode_GET_LENGTH(object text)


# Conversion outcomes; the names are InstrumentSpec's BadValue reasons.
cpdef enum ValueStatus:
    VS_OK = 0
    VS_NAN = 1
    VS_INF = 2
    VS_NEGATIVE = 3
    VS_OFF_TICK = 4
    VS_UNPARSABLE = 5
    VS_TOO_LARGE = 6

REASONS = ("ok", "nan", "inf", "negative", "off_tick", "unparsable", "too_large")
_REASON_CODES = {name: code for code, name in enumerate(REASONS)}

cdef int64_t MS = 1_000_000
cdef int64_t MAX_MS = INT64_MAX // 1_000_000
cdef uint64_t C_MAX_UNITS = MAX_UNITS
cdef Py_ssize_t C_MAX_NUMBER_CHARS = MAX_NUMBER_CHARS


cdef struct Scale:
    int digits          # decimals of the step
    uint64_t step       # step * 10**digits (>= 1)


cdef Scale scale_of(object step) except *:
    """The exact Scale of a positive Decimal step (as InstrumentSpec computes its own)."""
    cdef Scale sc
    _, digit_tuple, exponent = step.as_tuple()
    coefficient = int("".join(map(str, digit_tuple)))
    digits = max(0, -int(exponent))
    units = coefficient * 10 ** (int(exponent) + digits)
    if not 0 < units <= C_MAX_UNITS:
        raise ValueError(f"step {step} is outside the decoder's range")
    sc.digits = digits
    sc.step = units
    return sc


cdef int _by_reference(object text, object convert, int64_t* out) except -1:
    """The spec's own conversion: exact for every form, and the reason when it refuses."""
    try:
        value = convert(text)
    except BadValue as exc:
        return _REASON_CODES[exc.reason]
    out[0] = value
    return VS_OK


cdef int parse_units(object text, const Scale* sc, object convert, int64_t* out) except -1:
    """Count of steps in the decimal string `text` into out[0]; a ValueStatus (VS_OK = 0)."""
    cdef const unsigned char* s
    cdef Py_ssize_t n, i, int_end, frac_start, frac_len, k
    cdef uint64_t units = 0
    cdef int digits = sc.digits
    if type(text) is not str:
        return VS_UNPARSABLE
    if not PyUnicode_IS_ASCII(text):
        return _by_reference(text, convert, out)
    n = PyUnicode_GET_LENGTH(text)
    if n > C_MAX_NUMBER_CHARS:
        return VS_TOO_LARGE
    s = <const unsigned char*>PyUnicode_DATA(text)
    i = 0
    while i < n and 48 <= s[i] <= 57:
        i += 1
    if i == 0:
        return _by_reference(text, convert, out)
    int_end = i
    frac_start = n
    if i < n:
        if s[i] != 46:  # '.'
            return _by_reference(text, convert, out)
        i += 1
        frac_start = i
        while i < n and 48 <= s[i] <= 57:
            i += 1
        if i == frac_start or i != n:
            return _by_reference(text, convert, out)
    frac_len = n - frac_start
    if int_end + digits > 19:
        # could pass 64 bits (10**19 < 2**64 < 10**20): exact big-int arithmetic there
        return _by_reference(text, convert, out)
    for k in range(int_end):
        units = units * 10 + (s[k] - 48)
    for k in range(digits):
        units = units * 10 + ((s[frac_start + k] - 48) if k < frac_len else 0)
    for k in range(digits, frac_len):
        if s[frac_start + k] != 48:
            return VS_OFF_TICK  # finer than the step
    if sc.step != 1:
        if units % sc.step:
            return VS_OFF_TICK
        units = units // sc.step
    if units > C_MAX_UNITS:
        return VS_TOO_LARGE
    out[0] = <int64_t>units
    return VS_OK


cdef class InstrumentCodec:
    """One instrument's decoding constants: engine slot, payload symbol, exact scales, market."""

    cdef readonly int index
    cdef readonly str symbol
    cdef readonly bint futures
    cdef Scale price_scale
    cdef Scale qty_scale
    cdef object price_convert
    cdef object qty_convert

    def __init__(self, int index, spec, bint futures):
        if not 0 <= index < 65536:
            raise ValueError("instrument index out of range")
        self.index = index
        self.symbol = spec.symbol.upper()
        self.futures = futures
        self.price_scale = scale_of(spec.tick_size)
        self.qty_scale = scale_of(spec.lot_size)
        self.price_convert = spec.price_to_ticks
        self.qty_convert = spec.qty_to_lots

    def price_to_ticks(self, text):
        """The compiled conversion (tests compare it with the spec's): ticks, or BadValue."""
        cdef int64_t out = 0
        cdef int status = parse_units(text, &self.price_scale, self.price_convert, &out)
        if status != VS_OK:
            raise BadValue(REASONS[status], text)
        return out

    def qty_to_lots(self, text):
        cdef int64_t out = 0
        cdef int status = parse_units(text, &self.qty_scale, self.qty_convert, &out)
        if status != VS_OK:
            raise BadValue(REASONS[status], text)
        return out


cdef inline bint _is_id(object value):
    """A positive int64 sequence number (bool is not an int here)."""
    return type(value) is int and 0 < value <= INT64_MAX


cdef inline bint _is_ms(object value):
    return type(value) is int and 0 < value <= MAX_MS


cdef class EventWriter:
    """A growable, reused MARKET_EVENT_DTYPE buffer and the decoders that append to it.

    After a successful `depth()`, first_id / final_id / prev_id / event_ns describe the diff
    (Binance U, u, pu (futures; 0 on spot) and E in ns)."""

    cdef readonly object array
    cdef MarketEvent* ev
    cdef Py_ssize_t n
    cdef Py_ssize_t cap
    cdef public int64_t first_id
    cdef public int64_t final_id
    cdef public int64_t prev_id
    cdef public int64_t event_ns

    def __init__(self, Py_ssize_t capacity=4096):
        self.n = 0
        self._allocate(max(capacity, 16))

    cdef void _allocate(self, Py_ssize_t cap) except *:
        new = np.zeros(cap, dtype=MARKET_EVENT_DTYPE)
        if self.n:
            new[: self.n] = self.array[: self.n]
        self.array = new
        cdef const unsigned char[::1] raw = new.view(np.uint8).reshape(-1)
        self.ev = <MarketEvent*>&raw[0]
        self.cap = cap

    cdef inline MarketEvent* _reserve(self, Py_ssize_t extra) except NULL:
        if self.n + extra > self.cap:
            self._allocate(max(self.cap * 2, self.n + extra))
        return &self.ev[self.n]

    def __len__(self):
        return self.n

    def reset(self):
        self.n = 0

    def view(self):
        """The records written since the last reset (a view into the reused buffer)."""
        return self.array[: self.n]

    def add(self, int kind, int flags, int64_t ts_event, int64_t ts_local, int64_t price=0, int64_t qty=0,
            int64_t venue_seq=0, int64_t aux=0, int64_t order_id=0, int instrument=0):
        cdef MarketEvent* e = self._reserve(1)
        e.ts_event = ts_event
        e.ts_local = ts_local
        e.price = price
        e.qty = qty
        e.venue_seq = venue_seq
        e.aux = aux
        e.order_id = order_id
        e.kind = <uint16_t>kind
        e.flags = <uint16_t>flags
        e.instrument = <uint16_t>instrument
        e.reserved = 0
        self.n += 1

    cdef Py_ssize_t _levels(self, InstrumentCodec c, object levels, uint16_t kind, uint16_t side,
                            int64_t ts_event, int64_t ts_local, int64_t seq, int64_t aux,
                            bint refuse_zero_qty, str what) except -1:
        """Append one record per [price, qty] level; Reject (nothing kept) on any bad level."""
        cdef Py_ssize_t count, k
        cdef int64_t price = 0, qty = 0
        cdef int status
        cdef MarketEvent* e
        if type(levels) is not list:
            raise Reject(f"{what}_malformed")
        count = len(<list>levels)
        e = self._reserve(count)
        for k in range(count):
            level = <object>PyList_GET_ITEM(levels, k)
            if type(level) is list:
                if PyList_GET_SIZE(level) != 2:
                    raise Reject(f"{what}_malformed")
                price_text = <object>PyList_GET_ITEM(level, 0)
                qty_text = <object>PyList_GET_ITEM(level, 1)
            elif type(level) is tuple and PyTuple_GET_SIZE(level) == 2:
                price_text = <object>PyTuple_GET_ITEM(level, 0)
                qty_text = <object>PyTuple_GET_ITEM(level, 1)
            else:
                raise Reject(f"{what}_malformed")
            status = parse_units(price_text, &c.price_scale, c.price_convert, &price)
            if status != VS_OK:
                raise Reject(f"{what}_{REASONS[status]}")
            if price == 0:
                raise Reject(f"{what}_zero_price")
            status = parse_units(qty_text, &c.qty_scale, c.qty_convert, &qty)
            if status != VS_OK:
                raise Reject(f"{what}_{REASONS[status]}")
            if refuse_zero_qty and qty == 0:
                raise Reject(f"{what}_zero_qty")
            e[k].ts_event = ts_event
            e[k].ts_local = ts_local
            e[k].price = price
            e[k].qty = qty
            e[k].venue_seq = seq
            e[k].aux = aux
            e[k].order_id = 0
            e[k].kind = kind
            e[k].flags = side
            e[k].instrument = <uint16_t>c.index
            e[k].reserved = 0
        return count

    def depth(self, InstrumentCodec c, object data, int64_t ts_local):
        """One depth diff: an EV_DEPTH per level (bids, then asks with F_SELL; F_LAST on the last),
        venue_seq = u, aux = U (spot) or pu (futures). Returns the number of records."""
        cdef Py_ssize_t start = self.n, n_bids, n_asks
        cdef int64_t first, final, prev = 0, aux
        if type(data) is not dict:
            raise Reject("depth_malformed")
        if data.get("e") != "depthUpdate":
            raise Reject("depth_malformed")
        if data.get("s") != c.symbol:
            raise Reject("depth_symbol_mismatch")
        if ("pu" in data) != c.futures:
            raise Reject("depth_market_mismatch")
        first_obj = data.get("U")
        final_obj = data.get("u")
        if not _is_id(first_obj) or not _is_id(final_obj) or first_obj > final_obj:
            raise Reject("depth_bad_sequence")
        first = first_obj
        final = final_obj
        if c.futures:
            prev_obj = data.get("pu")
            if type(prev_obj) is not int or not 0 <= prev_obj < first:
                raise Reject("depth_bad_sequence")
            prev = prev_obj
        event_ms = data.get("E")
        if not _is_ms(event_ms):
            raise Reject("depth_bad_timestamp")
        cdef int64_t ts_event = <int64_t>event_ms * MS
        aux = prev if c.futures else first
        try:
            n_bids = self._levels(c, data.get("b"), EV_DEPTH, 0, ts_event, ts_local, final, aux, False, "depth")
            self.n += n_bids
            n_asks = self._levels(c, data.get("a"), EV_DEPTH, F_SELL, ts_event, ts_local, final, aux, False,
                                  "depth")
            self.n += n_asks
        except BaseException:
            self.n = start
            raise
        if self.n > start:
            self.ev[self.n - 1].flags |= F_LAST
        self.first_id = first
        self.final_id = final
        self.prev_id = prev
        self.event_ns = ts_event
        return self.n - start

    def snapshot(self, InstrumentCodec c, object result, int64_t ts_local):
        """A depth snapshot (WS API `depth` result): EV_DEPTH_CLEAR then an EV_DEPTH_SNAPSHOT per
        level, all with venue_seq = lastUpdateId, F_LAST on the final record. Returns lastUpdateId."""
        cdef Py_ssize_t start = self.n, n_bids, n_asks, k
        cdef int64_t ts_event = ts_local  # spot snapshots carry no venue time
        cdef MarketEvent* e
        if type(result) is not dict:
            raise Reject("snapshot_malformed")
        last_obj = result.get("lastUpdateId")
        if not _is_id(last_obj):
            raise Reject("snapshot_bad_sequence")
        cdef int64_t last_id = last_obj
        if c.futures:
            event_ms = result.get("E")
            if not _is_ms(event_ms):
                raise Reject("snapshot_bad_timestamp")
            ts_event = <int64_t>event_ms * MS
        self.add(EV_DEPTH_CLEAR, 0, ts_event, ts_local, 0, 0, last_id, 0, 0, c.index)
        try:
            n_bids = self._levels(c, result.get("bids"), EV_DEPTH_SNAPSHOT, 0, ts_event, ts_local, last_id, 0,
                                  True, "snapshot")
            self.n += n_bids
            n_asks = self._levels(c, result.get("asks"), EV_DEPTH_SNAPSHOT, F_SELL, ts_event, ts_local, last_id,
                                  0, True, "snapshot")
            self.n += n_asks
            e = &self.ev[start + 1]
            bids = [e[k].price for k in range(n_bids)]
            asks = [e[k].price for k in range(n_bids, n_bids + n_asks)]
            if len(set(bids)) != n_bids or len(set(asks)) != n_asks:
                raise Reject("snapshot_duplicate_level")
            if n_bids and n_asks and max(bids) >= min(asks):
                raise Reject("snapshot_crossed")
        except BaseException:
            self.n = start
            raise
        self.ev[self.n - 1].flags |= F_LAST
        return last_id

    def trade(self, InstrumentCodec c, object data, int64_t ts_local):
        """A public trade: EV_TRADE (F_SELL when the buyer was the maker, i.e. the aggressor sold),
        venue_seq = trade id, ts_event = T. Returns 1, or 0 for a futures non-MARKET print."""
        cdef int64_t price = 0, qty = 0
        cdef int status
        if type(data) is not dict or data.get("e") != "trade":
            raise Reject("trade_malformed")
        if data.get("s") != c.symbol:
            raise Reject("trade_symbol_mismatch")
        if c.futures and data.get("X", "MARKET") != "MARKET":
            return 0  # insurance fund / ADL prints are not market trades
        trade_id = data.get("t")
        trade_ms = data.get("T")
        buyer_maker = data.get("m")
        if type(trade_id) is not int or not 0 <= trade_id <= INT64_MAX:
            raise Reject("trade_bad_id")
        if not _is_ms(trade_ms):
            raise Reject("trade_bad_timestamp")
        if type(buyer_maker) is not bool:
            raise Reject("trade_malformed")
        status = parse_units(data.get("p"), &c.price_scale, c.price_convert, &price)
        if status != VS_OK:
            raise Reject(f"trade_{REASONS[status]}")
        status = parse_units(data.get("q"), &c.qty_scale, c.qty_convert, &qty)
        if status != VS_OK:
            raise Reject(f"trade_{REASONS[status]}")
        if price == 0:
            raise Reject("trade_zero_price")
        if qty == 0:
            raise Reject("trade_zero_qty")
        self.add(EV_TRADE, (F_LAST | F_SELL) if buyer_maker else F_LAST, <int64_t>trade_ms * MS, ts_local,
                 price, qty, <int64_t>trade_id, 0, 0, c.index)
        return 1

    def bbo(self, InstrumentCodec c, object data, int64_t ts_local):
        """A bookTicker: EV_BBO bid then ask (F_SELL | F_LAST), venue_seq = u; ts_event = E on
        futures, the receipt time on spot (its payload has no time). Returns 2."""
        cdef int64_t bid = 0, bid_qty = 0, ask = 0, ask_qty = 0, ts_event = ts_local
        cdef int status
        if type(data) is not dict:
            raise Reject("bbo_malformed")
        if data.get("s") != c.symbol:
            raise Reject("bbo_symbol_mismatch")
        update_id = data.get("u")
        if not _is_id(update_id):
            raise Reject("bbo_bad_sequence")
        if c.futures:
            event_ms = data.get("E")
            if not _is_ms(event_ms):
                raise Reject("bbo_bad_timestamp")
            ts_event = <int64_t>event_ms * MS
        status = parse_units(data.get("b"), &c.price_scale, c.price_convert, &bid)
        if status == VS_OK:
            status = parse_units(data.get("B"), &c.qty_scale, c.qty_convert, &bid_qty)
        if status == VS_OK:
            status = parse_units(data.get("a"), &c.price_scale, c.price_convert, &ask)
        if status == VS_OK:
            status = parse_units(data.get("A"), &c.qty_scale, c.qty_convert, &ask_qty)
        if status != VS_OK:
            raise Reject(f"bbo_{REASONS[status]}")
        if (bid == 0) != (bid_qty == 0) or (ask == 0) != (ask_qty == 0):
            raise Reject("bbo_zero_side")
        if bid and ask and bid >= ask:
            raise Reject("bbo_crossed")
        self.add(EV_BBO, 0, ts_event, ts_local, bid, bid_qty, <int64_t>update_id, 0, 0, c.index)
        self.add(EV_BBO, F_SELL | F_LAST, ts_event, ts_local, ask, ask_qty, <int64_t>update_id, 0, 0, c.index)
        return 2
