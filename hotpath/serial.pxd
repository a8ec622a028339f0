# Canonical state bytes. Every hot-path module writes its state through a Writer in a fixed
# order, little-endian int64 fields only (no floats, no padding, no pointers), and reads it back
# through a Reader. The engine's snapshot() is exactly these bytes, and state_hash() is the
# xxh3-64 of them: so "same state" and "same hash" are the same statement.
from libc.stdint cimport int64_t, uint8_t
from libc.stdlib cimport free, realloc
from libc.string cimport memcpy


cdef struct Writer:
    uint8_t* buf
    int64_t len
    int64_t cap
    int failed              # set on allocation failure; later writes are ignored


cdef struct Reader:
    const uint8_t* buf
    int64_t len
    int64_t pos
    int failed              # set when reading past the end or a check fails


cdef inline void writer_init(Writer* w) noexcept nogil:
    w.buf = NULL
    w.len = 0
    w.cap = 0
    w.failed = 0


cdef inline void writer_free(Writer* w) noexcept nogil:
    free(w.buf)
    w.buf = NULL
    w.len = 0
    w.cap = 0


cdef inline void writer_reset(Writer* w) noexcept nogil:
    w.len = 0
    w.failed = 0


cdef inline int writer_reserve(Writer* w, int64_t extra) noexcept nogil:
    cdef int64_t need = w.len + extra
    cdef int64_t cap
    cdef uint8_t* nbuf
    if w.failed:
        return -1
    if need <= w.cap:
        return 0
    cap = w.cap * 2 if w.cap > 0 else 4096
    while cap < need:
        cap *= 2
    nbuf = <uint8_t*>realloc(w.buf, <size_t>cap)
    if nbuf == NULL:
        w.failed = 1
        return -1
    w.buf = nbuf
    w.cap = cap
    return 0


cdef inline void put_i64(Writer* w, int64_t v) noexcept nogil:
    # x86-64 and aarch64 are little-endian: a memcpy is the canonical encoding.
    if writer_reserve(w, 8) == 0:
        memcpy(w.buf + w.len, &v, 8)
        w.len += 8


cdef inline void put_i64s(Writer* w, const int64_t* values, int64_t n) noexcept nogil:
    if n <= 0:
        return
    if writer_reserve(w, 8 * n) == 0:
        memcpy(w.buf + w.len, values, <size_t>(8 * n))
        w.len += 8 * n


cdef inline void reader_init(Reader* r, const uint8_t* buf, int64_t n) noexcept nogil:
    r.buf = buf
    r.len = n
    r.pos = 0
    r.failed = 0


cdef inline int64_t get_i64(Reader* r) noexcept nogil:
    cdef int64_t v = 0
    if r.failed or r.pos + 8 > r.len:
        r.failed = 1
        return 0
    memcpy(&v, r.buf + r.pos, 8)
    r.pos += 8
    return v


cdef inline void get_i64s(Reader* r, int64_t* out, int64_t n) noexcept nogil:
    if n <= 0:
        return
    if r.failed or r.pos + 8 * n > r.len:
        r.failed = 1
        return
    memcpy(out, r.buf + r.pos, <size_t>(8 * n))
    r.pos += 8 * n


cdef inline void expect_i64(Reader* r, int64_t expected) noexcept nogil:
    # Section markers and versions: a mismatch marks the whole read as failed.
    if get_i64(r) != expected:
        r.failed = 1
