"""Binance market-data payloads (parsed by orjson; depth frames in Binance's own compact form read
straight from their text, see the depth fast path below) -> MarketEvent records, in compiled code.

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
from libc.string cimport memcmp, memset
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


cdef enum:
    NOT_PLAIN = -1  # not `digits[.digits]` within 64 bits: the spec converts it


cdef int _plain_units(const unsigned char* s, Py_ssize_t n, const Scale* sc, int64_t* out) noexcept nogil:
    """Count of steps in plain ASCII `digits[.digits]` (n bytes at s) into out[0]: VS_OK, a
    refusal (VS_OFF_TICK, VS_TOO_LARGE) or NOT_PLAIN."""
    cdef Py_ssize_t i = 0, int_end, frac_start, frac_len, k
    cdef uint64_t units = 0
    cdef int digits = sc.digits
    if n > C_MAX_NUMBER_CHARS:
        return VS_TOO_LARGE
    while i < n and 48 <= s[i] <= 57:
        i += 1
    if i == 0:
        return NOT_PLAIN
    int_end = i
    frac_start = n
    if i < n:
        if s[i] != 46:  # '.'
            return NOT_PLAIN
        i += 1
        frac_start = i
        while i < n and 48 <= s[i] <= 57:
            i += 1
        if i == frac_start or i != n:
            return NOT_PLAIN
    frac_len = n - frac_start
    if int_end + digits > 19:
        # could pass 64 bits (10**19 < 2**64 < 10**20): exact big-int arithmetic there
        return NOT_PLAIN
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


cdef int parse_units(object text, const Scale* sc, object convert, int64_t* out) except -1:
    """Count of steps in the decimal string `text` into out[0]; a ValueStatus (VS_OK = 0)."""
    cdef int status
    if type(text) is not str:
        return VS_UNPARSABLE
    if not PyUnicode_IS_ASCII(text):
        return _by_reference(text, convert, out)
    status = _plain_units(<const unsigned char*>PyUnicode_DATA(text), PyUnicode_GET_LENGTH(text), sc, out)
    if status == NOT_PLAIN:
        return _by_reference(text, convert, out)
    return status


cdef class InstrumentCodec:
    """One instrument's decoding constants: engine slot, payload symbol, exact scales, market."""

    cdef readonly int index
    cdef readonly str symbol
    cdef bytes symbol_ascii  # for the frame parser (symbols are ASCII: InstrumentSpec checks them)
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
        self.symbol_ascii = self.symbol.encode("ascii", "replace")
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


# ---------------------------------------------------------------------------------------------
# The depth fast path: a combined-stream depth frame read straight from its text.
#
# orjson turns a diff of a hundred levels into some four hundred Python objects that the decoder
# then walks; in the node, between orders, that costs 50 us at the median. Binance writes these
# frames one way only (compact, keys in a fixed order, plain decimal strings), and for exactly
# that form the frame is read here, byte by byte, into events. Anything else (whitespace, escapes,
# other key orders, duplicate keys, numbers that are not plain, values the decoder would refuse)
# is declined and the frame takes the orjson path, which decodes it or refuses it with its reason:
# the fast path never refuses and never decides anything the general path would decide otherwise
# (tests hold it to the general path on every frame of the captures and on mutated frames).

cdef enum:
    DECLINE = -1
    STREAM_PREFIX_LEN = 11     # {"stream":"
    DATA_KEY_LEN = 8           # ,"data":
    MAX_ID_DIGITS = 18         # ids and times up to 10**18 - 1: no overflow check needed


cdef inline Py_ssize_t _string_end(const unsigned char* s, Py_ssize_t n, Py_ssize_t i) noexcept nogil:
    """Index of the closing quote of a JSON string whose first character is at i, for strings of
    printable ASCII without escapes; DECLINE otherwise."""
    while i < n:
        if s[i] == 34:  # '"'
            return i
        if s[i] < 0x20 or s[i] == 92 or s[i] > 0x7E:  # control, backslash (escape), non-ASCII
            return DECLINE
        i += 1
    return DECLINE


cdef inline Py_ssize_t _uint_end(const unsigned char* s, Py_ssize_t n, Py_ssize_t i, int64_t* out) noexcept nogil:
    """A JSON integer >= 0 without leading zeros and at most 18 digits (then it fits int64) at i;
    the index after it, or DECLINE (a sign, a fraction or exponent, more digits)."""
    cdef Py_ssize_t start = i
    cdef int64_t value = 0
    while i < n and 48 <= s[i] <= 57:
        value = value * 10 + (s[i] - 48)
        i += 1
        if i - start > MAX_ID_DIGITS:
            return DECLINE
    if i == start or (s[start] == 48 and i - start > 1):
        return DECLINE
    if i < n and (s[i] == 46 or s[i] == 101 or s[i] == 69):  # '.', 'e', 'E': not an int
        return DECLINE
    out[0] = value
    return i


cdef inline bint _units(const unsigned char* s, Py_ssize_t n, const Scale* sc, int64_t* out) noexcept nogil:
    """parse_units from bytes, for the fast path: True with the exact count, False for anything
    parse_units would hand to the spec or refuse."""
    return _plain_units(s, n, sc, out) == VS_OK


cdef inline int _depth_key(const unsigned char* k, Py_ssize_t n) noexcept nogil:
    """The bit of a depthUpdate key in Binance's order (e E s U u pu b a), 0 for any other key."""
    if n == 1:
        if k[0] == 101: return 1     # e
        if k[0] == 69: return 2      # E
        if k[0] == 115: return 4     # s
        if k[0] == 85: return 8      # U
        if k[0] == 117: return 16    # u
        if k[0] == 98: return 64     # b
        if k[0] == 97: return 128    # a
        return 0
    if n == 2 and k[0] == 112 and k[1] == 117:
        return 32                    # pu
    return 0


cdef inline void _set_event(MarketEvent* e, int64_t ts_event, int64_t ts_local, int64_t price, int64_t qty,
                            int64_t seq, int64_t aux, uint16_t kind, uint16_t flags,
                            uint16_t instrument) noexcept nogil:
    e.ts_event = ts_event
    e.ts_local = ts_local
    e.price = price
    e.qty = qty
    e.venue_seq = seq
    e.aux = aux
    e.order_id = 0
    e.kind = kind
    e.flags = flags
    e.instrument = instrument
    e.reserved = 0


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
    cdef object frame          # the frame stream_of() accepted (kept alive for depth_frame)
    cdef Py_ssize_t data_at    # where its data object starts

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
            _set_event(&e[k], ts_event, ts_local, price, qty, seq, aux, kind, side, <uint16_t>c.index)
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
        return self._diff_done(start, first, final, prev, ts_event)

    cdef Py_ssize_t _diff_done(self, Py_ssize_t start, int64_t first, int64_t final, int64_t prev,
                               int64_t ts_event) noexcept:
        """A diff's records are written: mark the last, remember its ids; its record count."""
        if self.n > start:
            self.ev[self.n - 1].flags |= F_LAST
        self.first_id = first
        self.final_id = final
        self.prev_id = prev
        self.event_ns = ts_event
        return self.n - start

    def stream_of(self, object frame):
        """The depth fast path, first step: the stream name of a frame written
        `{"stream":"<name>","data":{...` (printable ASCII, no escapes), or None (the orjson path
        decodes the frame). depth_frame() then reads the data of this frame."""
        cdef const unsigned char* s
        cdef Py_ssize_t n, end
        self.frame = None
        if type(frame) is not str or not PyUnicode_IS_ASCII(frame):
            return None
        n = PyUnicode_GET_LENGTH(frame)
        s = <const unsigned char*>PyUnicode_DATA(frame)
        if n < STREAM_PREFIX_LEN + DATA_KEY_LEN + 2 or memcmp(s, b'{"stream":"', STREAM_PREFIX_LEN) != 0:
            return None
        end = _string_end(s, n, STREAM_PREFIX_LEN)
        if end == DECLINE or end + 1 + DATA_KEY_LEN >= n or memcmp(s + end + 1, b',"data":', DATA_KEY_LEN) != 0:
            return None
        self.frame = frame
        self.data_at = end + 1 + DATA_KEY_LEN
        return (<str>frame)[STREAM_PREFIX_LEN:end]

    def depth_frame(self, InstrumentCodec c, int64_t ts_local):
        """The depth fast path, second step: the data of the frame stream_of() accepted, as
        depth() would decode it (same records, same first_id / final_id / prev_id / event_ns).
        Returns the number of records, or -1 (nothing written): the orjson path must decode it."""
        frame = self.frame  # our own reference: the text must outlive the parse
        if frame is None:
            return DECLINE
        self.frame = None  # a frame is read once
        cdef Py_ssize_t start = self.n
        cdef Py_ssize_t count = DECLINE
        try:
            count = self._depth_text(c, frame, ts_local)
        finally:
            if count == DECLINE:  # declined, or an error (MemoryError): nothing stays behind
                self.n = start
        return count

    cdef Py_ssize_t _depth_text(self, InstrumentCodec c, str frame, int64_t ts_local) except -2:
        cdef const unsigned char* s = <const unsigned char*>PyUnicode_DATA(frame)
        cdef Py_ssize_t n = PyUnicode_GET_LENGTH(frame), i = self.data_at, key_end, end
        cdef Py_ssize_t start = self.n
        cdef const unsigned char* symbol = <const unsigned char*>(<bytes>c.symbol_ascii)
        cdef Py_ssize_t symbol_n = len(c.symbol_ascii)
        cdef int64_t event_ms = 0, first = 0, final = 0, prev = 0, ignored = 0, price = 0, qty = 0
        cdef int64_t ts_event = 0, aux = 0
        cdef int seen = 0, bit, side
        cdef bint headed = False  # the header fields checked (at the first side)
        # keys in Binance's order; each at most once (bits: e E s U u pu b a)
        if i >= n or s[i] != 123:  # '{'
            return DECLINE
        i += 1
        while True:
            if i >= n or s[i] != 34:
                return DECLINE
            key_end = _string_end(s, n, i + 1)
            if key_end == DECLINE or key_end + 1 >= n or s[key_end + 1] != 58:  # ':'
                return DECLINE
            bit = _depth_key(s + i + 1, key_end - i - 1)
            if bit and (seen & bit or seen >= bit * 2):
                return DECLINE  # a key twice, or out of Binance's order
            seen |= bit
            i = key_end + 2
            if bit == 1 or bit == 4:  # "e" / "s": a string
                if i >= n or s[i] != 34:
                    return DECLINE
                end = _string_end(s, n, i + 1)
                if end == DECLINE:
                    return DECLINE
                if bit == 1 and not (end - i - 1 == 11 and memcmp(s + i + 1, b"depthUpdate", 11) == 0):
                    return DECLINE
                if bit == 4 and not (end - i - 1 == symbol_n and memcmp(s + i + 1, symbol, symbol_n) == 0):
                    return DECLINE
                i = end + 1
            elif bit == 64 or bit == 128:  # "b" / "a": [["price","qty"],...]
                if not headed:
                    # Binance's key order puts every header field before the levels: check them
                    # as depth() would, so each level is written whole in one pass
                    if (seen & (1 | 2 | 4 | 8 | 16)) != (1 | 2 | 4 | 8 | 16) or bool(seen & 32) != c.futures:
                        return DECLINE
                    if first <= 0 or first > final or event_ms <= 0 or event_ms > MAX_MS:
                        return DECLINE
                    if c.futures and not 0 <= prev < first:
                        return DECLINE
                    ts_event = event_ms * MS
                    aux = prev if c.futures else first
                    headed = True
                side = F_SELL if bit == 128 else 0
                if i >= n or s[i] != 91:  # '['
                    return DECLINE
                i += 1
                if i < n and s[i] == 93:  # ']': no levels
                    i += 1
                else:
                    while True:
                        if i + 1 >= n or s[i] != 91 or s[i + 1] != 34:
                            return DECLINE
                        end = _string_end(s, n, i + 2)
                        if end == DECLINE or not _units(s + i + 2, end - i - 2, &c.price_scale, &price) or price == 0:
                            return DECLINE
                        i = end + 1
                        if i + 1 >= n or s[i] != 44 or s[i + 1] != 34:  # ',"'
                            return DECLINE
                        end = _string_end(s, n, i + 2)
                        if end == DECLINE or not _units(s + i + 2, end - i - 2, &c.qty_scale, &qty):
                            return DECLINE
                        i = end + 1
                        if i >= n or s[i] != 93:
                            return DECLINE
                        i += 1
                        _set_event(self._reserve(1), ts_event, ts_local, price, qty, final, aux, EV_DEPTH,
                                   <uint16_t>side, <uint16_t>c.index)
                        self.n += 1
                        if i < n and s[i] == 44:  # ','
                            i += 1
                            continue
                        if i < n and s[i] == 93:
                            i += 1
                            break
                        return DECLINE
            else:  # an int: E U u pu, or a key depth() does not read (futures' "T")
                if bit == 0 and i < n and s[i] == 34:  # an unread string value
                    end = _string_end(s, n, i + 1)
                    if end == DECLINE:
                        return DECLINE
                    i = end + 1
                else:
                    i = _uint_end(s, n, i, &ignored)
                    if i == DECLINE:
                        return DECLINE
                    if bit == 2:
                        event_ms = ignored
                    elif bit == 8:
                        first = ignored
                    elif bit == 16:
                        final = ignored
                    elif bit == 32:
                        prev = ignored
            if i < n and s[i] == 44:  # ','
                i += 1
                continue
            if i + 2 == n and s[i] == 125 and s[i + 1] == 125:  # '}}' and the end of the frame
                break
            return DECLINE
        if (seen & (64 | 128)) != (64 | 128):  # depth() refuses a diff without both sides
            return DECLINE
        return self._diff_done(start, first, final, prev, ts_event)

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
