# Plumbing of the Python-visible wrapper classes (tests, tools, Python-level callers), in one place:
# canonical bytes out of a Writer, a Reader over a buffer with the trailing-bytes check, keyword
# parameters merged over defaults, an Instrument from a dict. Never used by the kernels.
#
# Only cdef inline functions: a .pxd-only module needs no .pyx, each user compiles its own copy.
from libc.stdint cimport uint8_t
from libc.string cimport memset

from hotpath.instrument cimport Instrument
from hotpath.serial cimport Reader, Writer, reader_init, writer_free


# The bytes a kernel wrote into w (writer_init'ed by the caller); w is freed in every case.
# MemoryError(what) if a write failed (allocation).
cdef inline bytes writer_take_bytes(Writer* w, str what):
    try:
        if w.failed:
            raise MemoryError(what)
        return (<char*>w.buf)[:w.len] if w.len > 0 else b""
    finally:
        writer_free(w)


# Any bytes-like object as a contiguous byte view (the caller keeps it alive while reading).
cdef inline const uint8_t[::1] byte_view(object data):
    return memoryview(bytes(data)).cast("B")


# r reads data (which must outlive r).
cdef inline void reader_over(Reader* r, const uint8_t[::1] data) noexcept:
    reader_init(r, &data[0] if data.shape[0] > 0 else NULL, data.shape[0])


# After a kernel's *_read returned rc: ValueError(message) unless it succeeded and consumed every
# byte (trailing bytes are malformed input, not ignored).
cdef inline int check_read_all(int rc, const Reader* r, str message) except -1:
    if rc != 0 or r.pos != r.len:
        raise ValueError(message)
    return 0


# Keyword parameters over defaults: TypeError on a name that is neither a default nor required,
# and on a required name still missing. A new dict; the arguments are not changed.
cdef inline dict merge_params(dict params, dict defaults, tuple required):
    unknown = set(params) - (set(defaults) | set(required))
    if unknown:
        raise TypeError(f"unknown parameters: {sorted(unknown)}")
    merged = dict(defaults)
    merged.update(params)
    missing = set(required) - set(merged)
    if missing:
        raise TypeError(f"missing parameters: {sorted(missing)}")
    return merged


# An Instrument from a dict of its field names: contract_type, value_num and value_den required
# (KeyError), the others 0 when missing; an unknown name is a KeyError.
cdef inline Instrument instrument_from_dict(dict d) except *:
    cdef Instrument ins
    unknown = set(d) - {"id", "contract_type", "value_num", "value_den", "inv_num", "inv_den",
                        "maker_fee_ppm", "taker_fee_ppm", "book_window_log2"}
    if unknown:
        raise KeyError(f"unknown instrument fields: {sorted(unknown)}")
    memset(&ins, 0, sizeof(Instrument))
    ins.id = d.get("id", 0)
    ins.contract_type = d["contract_type"]
    ins.value_num = d["value_num"]
    ins.value_den = d["value_den"]
    ins.inv_num = d.get("inv_num", 0)
    ins.inv_den = d.get("inv_den", 0)
    ins.maker_fee_ppm = d.get("maker_fee_ppm", 0)
    ins.taker_fee_ppm = d.get("taker_fee_ppm", 0)
    ins.book_window_log2 = d.get("book_window_log2", 0)
    return ins
