# L2 order book (contract: book.pxd).
#
# Per side: a dense window qty[price - base] of cap = 2**window_log2 ticks, a three-level
# bitmap over it (l0 bit = tick, l1 bit = non-empty l0 word, l2 bit = non-empty l1 word) and
# a sorted overflow array for levels outside the window. The window is shared by both sides.
#
# Invariants (every function keeps them; book_read and book_recenter rebuild them):
#   window qty[i] > 0  <=>  l0 bit i set;  l0 word w != 0 <=> l1 bit w;  l1 word v != 0 <=> l2 bit v
#   overflow prices are strictly ascending, all outside [base, base + cap), qty > 0
#   best = the highest bid / lowest ask over window and overflow, 0 if the side is empty
#   n_levels = set window bits + overflow entries
from cpython.bytes cimport PyBytes_FromStringAndSize
from libc.stdint cimport INT64_MAX, int64_t, uint8_t, uint64_t
from hotpath.intmath cimport am_add
from libc.stdlib cimport calloc, free, malloc, realloc
from libc.string cimport memcpy, memmove, memset

from hotpath.serial cimport (
    Reader,
    Writer,
    get_i64,
    put_i64,
    reader_init,
    writer_free,
    writer_init,
)
from hotpath.types cimport BUY, SELL

cdef extern from *:
    """
    #include <stdint.h>
    #define BK_ONE ((uint64_t)1)
    #define BK_ALL (~(uint64_t)0)
    static inline int bk_ctz(uint64_t x) { return __builtin_ctzll(x); }
    static inline int bk_msb(uint64_t x) { return 63 - __builtin_clzll(x); }
    """
    # Compile-time constants (macros, so the C compiler folds them into the bit tricks).
    const uint64_t ONE "BK_ONE"
    const uint64_t ALL "BK_ALL"
    # Index of the lowest / highest set bit; x must be non-zero.
    int bk_ctz(uint64_t x) noexcept nogil
    int bk_msb(uint64_t x) noexcept nogil

cdef enum:
    MIN_WINDOW_LOG2 = 12
    MAX_WINDOW_LOG2 = 26
    OVF_MIN_CAP = 16
    DEPTH_SCAN_WORDS = 4    # empty l0 words book_depth_qty reads before searching with book_next


# ---------------------------------------------------------------------------------------------
# bitmap search inside the window (indices relative to base)

cdef inline int64_t _win_next_from(const BookSide* s, int64_t cap, int64_t start) noexcept nogil:
    """Smallest non-empty window index >= start, or -1."""
    cdef int64_t w, w1, w2
    cdef uint64_t bits
    if start >= cap:
        return -1
    if start < 0:
        start = 0
    w = start >> 6
    bits = s.l0[w] & (ALL << (start & 63))
    if bits != 0:
        return (w << 6) | bk_ctz(bits)
    w += 1                                  # first l0 word still to search
    if w >= (cap >> 6):
        return -1
    w1 = w >> 6
    bits = s.l1[w1] & (ALL << (w & 63))
    if bits == 0:
        w1 += 1                             # first l1 word still to search
        if w1 >= (cap >> 12):
            return -1
        w2 = w1 >> 6
        bits = s.l2[w2] & (ALL << (w1 & 63))
        while bits == 0:                    # at most n_l2 (<= 256) words: bounded
            w2 += 1
            if w2 >= s.n_l2:
                return -1
            bits = s.l2[w2]
        w1 = (w2 << 6) | bk_ctz(bits)
        bits = s.l1[w1]
    w = (w1 << 6) | bk_ctz(bits)
    return (w << 6) | bk_ctz(s.l0[w])


cdef inline int64_t _win_prev_from(const BookSide* s, int64_t cap, int64_t end) noexcept nogil:
    """Largest non-empty window index <= end, or -1."""
    cdef int64_t w, w1, w2
    cdef uint64_t bits
    if end >= cap:
        end = cap - 1
    if end < 0:
        return -1
    w = end >> 6
    bits = s.l0[w] & (ALL >> (63 - (end & 63)))
    if bits != 0:
        return (w << 6) | bk_msb(bits)
    if w == 0:
        return -1
    w -= 1                                  # last l0 word still to search
    w1 = w >> 6
    bits = s.l1[w1] & (ALL >> (63 - (w & 63)))
    if bits == 0:
        if w1 == 0:
            return -1
        w1 -= 1                             # last l1 word still to search
        w2 = w1 >> 6
        bits = s.l2[w2] & (ALL >> (63 - (w1 & 63)))
        while bits == 0:
            if w2 == 0:
                return -1
            w2 -= 1
            bits = s.l2[w2]
        w1 = (w2 << 6) | bk_msb(bits)
        bits = s.l1[w1]
    w = (w1 << 6) | bk_msb(bits)
    return (w << 6) | bk_msb(s.l0[w])


cdef inline void _bits_set(BookSide* s, int64_t idx) noexcept nogil:
    cdef int64_t w = idx >> 6
    cdef int64_t w1 = idx >> 12
    cdef uint64_t old = s.l0[w]
    s.l0[w] = old | (ONE << (idx & 63))
    if old == 0:
        old = s.l1[w1]
        s.l1[w1] = old | (ONE << (w & 63))
        if old == 0:
            s.l2[idx >> 18] |= ONE << (w1 & 63)


cdef inline void _bits_clear(BookSide* s, int64_t idx) noexcept nogil:
    cdef int64_t w = idx >> 6
    cdef int64_t w1 = idx >> 12
    cdef uint64_t word = s.l0[w] & ~(ONE << (idx & 63))
    s.l0[w] = word
    if word == 0:
        word = s.l1[w1] & ~(ONE << (w & 63))
        s.l1[w1] = word
        if word == 0:
            s.l2[idx >> 18] &= ~(ONE << (w1 & 63))


# ---------------------------------------------------------------------------------------------
# overflow (sorted arrays)

cdef inline int64_t _lower_bound(const int64_t* a, int64_t n, int64_t x) noexcept nogil:
    """First index whose value is >= x (n if none)."""
    cdef int64_t lo = 0
    cdef int64_t hi = n
    cdef int64_t mid
    while lo < hi:
        mid = (lo + hi) >> 1
        if a[mid] < x:
            lo = mid + 1
        else:
            hi = mid
    return lo


cdef int _ovf_reserve(BookSide* s, int64_t need) noexcept nogil:
    """Make room for `need` overflow entries. 0 ok, -1 allocation failure (contents intact)."""
    cdef int64_t cap = s.ovf_cap
    cdef int64_t* p
    if need <= cap:
        return 0
    if cap < OVF_MIN_CAP:
        cap = OVF_MIN_CAP
    while cap < need:
        cap *= 2
    # Two reallocs: if the second fails the first array is merely larger, ovf_cap stays put.
    p = <int64_t*>realloc(s.ovf_price, <size_t>cap * sizeof(int64_t))
    if p == NULL:
        return -1
    s.ovf_price = p
    p = <int64_t*>realloc(s.ovf_qty, <size_t>cap * sizeof(int64_t))
    if p == NULL:
        return -1
    s.ovf_qty = p
    s.ovf_cap = cap
    return 0


cdef inline bint _in_window(const Book* b, int64_t price) noexcept nogil:
    # price > 0 and base >= 1, so price - base cannot overflow.
    return <uint64_t>(price - b.base) < <uint64_t>b.cap


# ---------------------------------------------------------------------------------------------
# allocation

cdef int _side_alloc(BookSide* s, int64_t cap) noexcept nogil:
    s.qty = <int64_t*>calloc(<size_t>cap, sizeof(int64_t))
    s.l0 = <uint64_t*>calloc(<size_t>(cap >> 6), sizeof(uint64_t))
    s.l1 = <uint64_t*>calloc(<size_t>(cap >> 12), sizeof(uint64_t))
    s.n_l2 = cap >> 18 if cap >> 18 > 0 else 1
    s.l2 = <uint64_t*>calloc(<size_t>s.n_l2, sizeof(uint64_t))
    if s.qty == NULL or s.l0 == NULL or s.l1 == NULL or s.l2 == NULL:
        return -1
    return 0


cdef void _side_free(BookSide* s) noexcept nogil:
    free(s.qty)
    free(s.l0)
    free(s.l1)
    free(s.l2)
    free(s.ovf_price)
    free(s.ovf_qty)
    memset(s, 0, sizeof(BookSide))


cdef int64_t _base_for(int64_t center_price, int64_t cap) noexcept nogil:
    cdef int64_t base = center_price - (cap >> 1)
    if base < 1:
        base = 1
    if base > INT64_MAX - cap:              # keep base + cap representable
        base = INT64_MAX - cap
    return base


cdef int _init_at_base(Book* b, int64_t base, int64_t window_log2) noexcept nogil:
    cdef int64_t cap = (<int64_t>1) << window_log2
    b.base = base
    b.cap = cap
    b.window_log2 = window_log2
    if _side_alloc(&b.side[0], cap) != 0 or _side_alloc(&b.side[1], cap) != 0:
        book_free(b)
        return -1
    return 0


cdef int book_init(Book* b, int64_t center_price, int64_t window_log2) noexcept nogil:
    if window_log2 < MIN_WINDOW_LOG2 or window_log2 > MAX_WINDOW_LOG2 or center_price <= 0:
        return -1
    return _init_at_base(b, _base_for(center_price, (<int64_t>1) << window_log2), window_log2)


cdef void book_free(Book* b) noexcept nogil:
    _side_free(&b.side[0])
    _side_free(&b.side[1])
    memset(b, 0, sizeof(Book))


# ---------------------------------------------------------------------------------------------
# queries

cdef int64_t book_qty(const Book* b, int side, int64_t price) noexcept nogil:
    cdef const BookSide* s
    cdef int64_t k
    if <unsigned int>side > 1 or price <= 0:
        return 0
    s = &b.side[side]
    if _in_window(b, price):
        return s.qty[price - b.base]
    k = _lower_bound(s.ovf_price, s.ovf_n, price)
    if k < s.ovf_n and s.ovf_price[k] == price:
        return s.ovf_qty[k]
    return 0


cdef int64_t book_next(const Book* b, int side, int64_t price) noexcept nogil:
    cdef const BookSide* s
    cdef int64_t idx, w, k
    cdef int64_t found = 0
    if <unsigned int>side > 1:
        return 0
    s = &b.side[side]
    if side == BUY:
        # highest level < price
        if price <= 1:
            return 0
        idx = price - b.base
        if idx > 0:
            w = _win_prev_from(s, b.cap, idx - 1)
            if w >= 0:
                found = b.base + w
                if idx <= b.cap:
                    # price is inside (or just above) the window: overflow levels below it
                    # are below base, so the window level is the answer.
                    return found
        k = _lower_bound(s.ovf_price, s.ovf_n, price)
        if k > 0 and s.ovf_price[k - 1] > found:
            found = s.ovf_price[k - 1]
        return found
    # SELL: lowest level > price
    if price < 0:
        price = 0
    if price == INT64_MAX:
        return 0
    idx = price - b.base
    if idx < b.cap - 1:
        w = _win_next_from(s, b.cap, idx + 1)
        if w >= 0:
            found = b.base + w
            if idx >= -1:
                # overflow levels above price are then above the window
                return found
    k = _lower_bound(s.ovf_price, s.ovf_n, price + 1)
    if k < s.ovf_n and (found == 0 or s.ovf_price[k] < found):
        found = s.ovf_price[k]
    return found


cdef int book_depth(const Book* b, int side, int n, int64_t* prices, int64_t* qtys) noexcept nogil:
    cdef int count = 0
    cdef int64_t p
    if <unsigned int>side > 1:
        return 0
    p = b.side[side].best
    while p != 0 and count < n:
        prices[count] = p
        qtys[count] = book_qty(b, side, p)
        count += 1
        p = book_next(b, side, p)
    return count


cdef int64_t book_depth_qty(const Book* b, int side, int n) noexcept nogil:
    cdef const BookSide* s
    cdef int count = 0
    cdef int64_t total = 0
    cdef int64_t p, idx, w, last = -1
    cdef int64_t words_left = DEPTH_SCAN_WORDS
    cdef int64_t n_words
    cdef uint64_t bits
    cdef int j
    if <unsigned int>side > 1:
        return 0
    s = &b.side[side]
    p = s.best
    if p != 0 and n > 0 and _in_window(b, p):
        # Near the touch the levels sit in a few bitmap words: read them straight off l0
        # (one bit scan per level) instead of a book_next() search per level. The window holds
        # no overflow level between the best and its far edge, so this walk is exact; past a
        # few empty words, or at the window's edge, book_next() takes over from the last level.
        idx = p - b.base
        w = idx >> 6
        n_words = b.cap >> 6
        if side == BUY:
            bits = s.l0[w] & (ALL >> (63 - (idx & 63)))
        else:
            bits = s.l0[w] & (ALL << (idx & 63))
        while True:
            while bits != 0 and count < n:
                j = bk_msb(bits) if side == BUY else bk_ctz(bits)
                bits &= ~(ONE << j)
                last = (w << 6) | j
                if am_add(total, s.qty[last], &total):
                    return INT64_MAX
                count += 1
            if count >= n:
                return total
            if words_left == 0:
                break
            words_left -= 1
            if side == BUY:
                if w == 0:
                    break
                w -= 1
            else:
                if w + 1 >= n_words:
                    break
                w += 1
            bits = s.l0[w]
        p = book_next(b, side, b.base + last) if last >= 0 else p
    while p != 0 and count < n:
        if am_add(total, book_qty(b, side, p), &total):
            return INT64_MAX        # saturate: a sum of absurd quantities must not wrap negative
        count += 1
        p = book_next(b, side, p)
    return total


cdef bint book_crossed(const Book* b) noexcept nogil:
    cdef int64_t bid = b.side[<int>BUY].best
    cdef int64_t ask = b.side[<int>SELL].best
    return bid != 0 and ask != 0 and bid >= ask


# ---------------------------------------------------------------------------------------------
# updates

cdef int64_t _set_overflow(Book* b, int side, int64_t price, int64_t qty) noexcept nogil:
    cdef BookSide* s = &b.side[side]
    cdef int64_t k = _lower_bound(s.ovf_price, s.ovf_n, price)
    cdef int64_t prev
    if k < s.ovf_n and s.ovf_price[k] == price:
        prev = s.ovf_qty[k]
        if qty > 0:
            s.ovf_qty[k] = qty
        else:
            memmove(s.ovf_price + k, s.ovf_price + k + 1, <size_t>(s.ovf_n - k - 1) * sizeof(int64_t))
            memmove(s.ovf_qty + k, s.ovf_qty + k + 1, <size_t>(s.ovf_n - k - 1) * sizeof(int64_t))
            s.ovf_n -= 1
            s.n_levels -= 1
            if price == s.best:
                s.best = book_next(b, side, price)
        b.n_updates += 1
        return prev
    if qty == 0:
        b.n_updates += 1
        return 0
    if _ovf_reserve(s, s.ovf_n + 1) != 0:
        return -2
    memmove(s.ovf_price + k + 1, s.ovf_price + k, <size_t>(s.ovf_n - k) * sizeof(int64_t))
    memmove(s.ovf_qty + k + 1, s.ovf_qty + k, <size_t>(s.ovf_n - k) * sizeof(int64_t))
    s.ovf_price[k] = price
    s.ovf_qty[k] = qty
    s.ovf_n += 1
    s.n_levels += 1
    if s.best == 0 or (price > s.best if side == BUY else price < s.best):
        s.best = price
    b.n_updates += 1
    return 0


cdef int64_t _best_after_window_removal(const Book* b, int side, int64_t idx) noexcept nogil:
    # The removed level was the best, so every remaining level is worse. A window hit wins over
    # any overflow level (those lie beyond the window on the worse side); only an empty window
    # tail needs the overflow.
    cdef const BookSide* s = &b.side[side]
    cdef int64_t w, k
    if side == BUY:
        w = _win_prev_from(s, b.cap, idx - 1)
        if w >= 0:
            return b.base + w
        k = _lower_bound(s.ovf_price, s.ovf_n, b.base)
        return s.ovf_price[k - 1] if k > 0 else 0
    w = _win_next_from(s, b.cap, idx + 1)
    if w >= 0:
        return b.base + w
    k = _lower_bound(s.ovf_price, s.ovf_n, b.base + b.cap)
    return s.ovf_price[k] if k < s.ovf_n else 0


cdef int64_t book_set(Book* b, int side, int64_t price, int64_t qty) noexcept nogil:
    cdef BookSide* s
    cdef int64_t idx, prev
    if price <= 0 or qty < 0 or <unsigned int>side > 1:
        b.n_rejected += 1
        return -1
    s = &b.side[side]
    idx = price - b.base
    if <uint64_t>idx >= <uint64_t>b.cap:
        return _set_overflow(b, side, price, qty)
    prev = s.qty[idx]
    s.qty[idx] = qty
    b.n_updates += 1
    if prev == 0:
        if qty != 0:
            _bits_set(s, idx)
            s.n_levels += 1
            if s.best == 0 or (price > s.best if side == BUY else price < s.best):
                s.best = price
    elif qty == 0:
        _bits_clear(s, idx)
        s.n_levels -= 1
        if price == s.best:
            s.best = _best_after_window_removal(b, side, idx)
    return prev


cdef void book_clear(Book* b) noexcept nogil:
    cdef BookSide* s
    cdef int sd
    cdef int64_t i2, w1, w, base_idx
    cdef uint64_t bits2, bits1, bits0
    for sd in range(2):
        s = &b.side[sd]
        if s.l2 != NULL:
            # Only non-empty words are visited: l2 -> l1 -> l0 -> ticks.
            for i2 in range(s.n_l2):
                bits2 = s.l2[i2]
                while bits2 != 0:
                    w1 = (i2 << 6) | bk_ctz(bits2)
                    bits2 &= bits2 - 1
                    bits1 = s.l1[w1]
                    while bits1 != 0:
                        w = (w1 << 6) | bk_ctz(bits1)
                        bits1 &= bits1 - 1
                        bits0 = s.l0[w]
                        base_idx = w << 6
                        while bits0 != 0:
                            s.qty[base_idx | bk_ctz(bits0)] = 0
                            bits0 &= bits0 - 1
                        s.l0[w] = 0
                    s.l1[w1] = 0
                s.l2[i2] = 0
        s.ovf_n = 0
        s.best = 0
        s.n_levels = 0


# ---------------------------------------------------------------------------------------------
# bulk placement (recenter, read): levels arrive in ascending price order

cdef inline void _place_ascending(BookSide* s, int64_t base, int64_t cap, int64_t price, int64_t qty) noexcept nogil:
    # Caller reserved overflow room for every level and guarantees ascending prices.
    cdef int64_t idx = price - base
    if <uint64_t>idx < <uint64_t>cap:
        s.qty[idx] = qty
        _bits_set(s, idx)
    else:
        s.ovf_price[s.ovf_n] = price
        s.ovf_qty[s.ovf_n] = qty
        s.ovf_n += 1


cdef int book_recenter(Book* b, int64_t center_price) noexcept nogil:
    cdef BookSide fresh[2]
    cdef BookSide* old
    cdef int64_t new_base, k, w, price
    cdef int sd
    if center_price <= 0 or b.cap == 0:
        return -1
    new_base = _base_for(center_price, b.cap)
    if new_base == b.base:
        return 0
    memset(fresh, 0, sizeof(fresh))
    for sd in range(2):
        if _side_alloc(&fresh[sd], b.cap) != 0 or _ovf_reserve(&fresh[sd], b.side[sd].n_levels) != 0:
            _side_free(&fresh[0])
            _side_free(&fresh[1])
            return -1
    for sd in range(2):
        old = &b.side[sd]
        # Ascending walk over the old layout: overflow below the window, window, overflow above.
        k = 0
        while k < old.ovf_n and old.ovf_price[k] < b.base:
            _place_ascending(&fresh[sd], new_base, b.cap, old.ovf_price[k], old.ovf_qty[k])
            k += 1
        w = _win_next_from(old, b.cap, 0)
        while w >= 0:
            _place_ascending(&fresh[sd], new_base, b.cap, b.base + w, old.qty[w])
            w = _win_next_from(old, b.cap, w + 1)
        while k < old.ovf_n:
            _place_ascending(&fresh[sd], new_base, b.cap, old.ovf_price[k], old.ovf_qty[k])
            k += 1
        fresh[sd].best = old.best
        fresh[sd].n_levels = old.n_levels
        _side_free(old)
        memcpy(old, &fresh[sd], sizeof(BookSide))
    b.base = new_base
    return 0


# ---------------------------------------------------------------------------------------------
# canonical bytes

cdef void book_write(const Book* b, Writer* w) noexcept nogil:
    cdef int sd
    cdef int64_t p
    put_i64(w, b.base)
    put_i64(w, b.cap)
    put_i64(w, b.window_log2)
    put_i64(w, b.last_update_id)
    put_i64(w, b.ts_event)
    put_i64(w, b.ts_local)
    put_i64(w, b.valid)
    put_i64(w, b.n_updates)
    put_i64(w, b.n_rejected)
    put_i64(w, b.n_crossed)
    put_i64(w, b.n_gaps)
    for sd in range(2):
        put_i64(w, b.side[sd].n_levels)
        p = b.side[sd].best
        while p != 0:
            put_i64(w, p)
            put_i64(w, book_qty(b, sd, p))
            p = book_next(b, sd, p)


cdef int _read_side(Book* t, int sd, Reader* r) noexcept nogil:
    # Levels are stored best-first (bids descending, asks ascending); placement needs ascending
    # order, so bids are placed from the far end: their overflow run is reversed afterwards.
    cdef BookSide* s = &t.side[sd]
    cdef int64_t n = get_i64(r)
    cdef int64_t i, price, qty, last = 0, tmp
    cdef int64_t lo, hi
    if r.failed or n < 0 or n > (r.len - r.pos) // 16:
        r.failed = 1
        return -1
    if _ovf_reserve(s, n) != 0:
        return -1
    for i in range(n):
        price = get_i64(r)
        qty = get_i64(r)
        if r.failed or price <= 0 or qty <= 0:
            r.failed = 1
            return -1
        if i > 0 and ((sd == BUY and price >= last) or (sd == SELL and price <= last)):
            r.failed = 1                    # not strictly best-first: not canonical
            return -1
        last = price
        if i == 0:
            s.best = price
        _place_ascending(s, t.base, t.cap, price, qty)
    if sd == BUY:
        lo = 0
        hi = s.ovf_n - 1
        while lo < hi:
            tmp = s.ovf_price[lo]
            s.ovf_price[lo] = s.ovf_price[hi]
            s.ovf_price[hi] = tmp
            tmp = s.ovf_qty[lo]
            s.ovf_qty[lo] = s.ovf_qty[hi]
            s.ovf_qty[hi] = tmp
            lo += 1
            hi -= 1
    s.n_levels = n
    return 0


cdef int book_read(Book* b, Reader* r) noexcept nogil:
    cdef Book t
    cdef int64_t base = get_i64(r)
    cdef int64_t cap = get_i64(r)
    cdef int64_t window_log2 = get_i64(r)
    memset(&t, 0, sizeof(Book))
    t.last_update_id = get_i64(r)
    t.ts_event = get_i64(r)
    t.ts_local = get_i64(r)
    t.valid = get_i64(r)
    t.n_updates = get_i64(r)
    t.n_rejected = get_i64(r)
    t.n_crossed = get_i64(r)
    t.n_gaps = get_i64(r)
    if r.failed:
        return -1
    if (window_log2 < MIN_WINDOW_LOG2 or window_log2 > MAX_WINDOW_LOG2
            or cap != (<int64_t>1) << window_log2 or base < 1 or base > INT64_MAX - cap):
        r.failed = 1
        return -1
    if _init_at_base(&t, base, window_log2) != 0:
        return -1
    if _read_side(&t, BUY, r) != 0 or _read_side(&t, SELL, r) != 0:
        book_free(&t)
        return -1
    # Built aside so a failed read leaves the caller's book untouched.
    book_free(b)
    memcpy(b, &t, sizeof(Book))
    return 0


# ---------------------------------------------------------------------------------------------
# Python wrapper

cdef class L2Book:
    """L2 book for tests and Python callers. Sides: hotpath.types.BUY (bids) / SELL (asks)."""

    def __cinit__(self, int64_t center_price, int64_t window_log2=22):
        if book_init(&self.book, center_price, window_log2) != 0:
            book_free(&self.book)
            raise ValueError(f"bad book arguments: center_price={center_price} window_log2={window_log2}")

    def __dealloc__(self):
        book_free(&self.book)

    def set(self, int side, int64_t price, int64_t qty):
        """Previous qty (>= 0), -1 refused (counted in n_rejected), -2 allocation failure."""
        return book_set(&self.book, side, price, qty)

    def set_many(self, const int64_t[::1] sides, const int64_t[::1] prices, const int64_t[::1] qtys):
        """Apply book_set over arrays in one compiled loop; returns how many were refused."""
        cdef Py_ssize_t i, n = sides.shape[0]
        cdef int64_t refused = 0
        cdef int side
        if prices.shape[0] != n or qtys.shape[0] != n:
            raise ValueError("sides, prices and qtys must have the same length")
        with nogil:
            for i in range(n):
                # an int64 side must not wrap into a valid int: anything else than 0/1 is refused
                side = <int>sides[i] if sides[i] == 0 or sides[i] == 1 else -1
                if book_set(&self.book, side, prices[i], qtys[i]) < 0:
                    refused += 1
        return refused

    def qty(self, int side, int64_t price):
        return book_qty(&self.book, side, price)

    def next(self, int side, int64_t price):
        return book_next(&self.book, side, price)

    def depth(self, int side, int n):
        cdef int64_t* prices
        cdef int64_t* qtys
        cdef int count, i
        if side != BUY and side != SELL:
            return []
        if n > self.book.side[side].n_levels:
            n = <int>self.book.side[side].n_levels
        if n <= 0:
            return []
        prices = <int64_t*>malloc(<size_t>n * sizeof(int64_t))
        qtys = <int64_t*>malloc(<size_t>n * sizeof(int64_t))
        try:
            if prices == NULL or qtys == NULL:
                raise MemoryError()
            count = book_depth(&self.book, side, n, prices, qtys)
            return [(prices[i], qtys[i]) for i in range(count)]
        finally:
            free(prices)
            free(qtys)

    def depth_qty(self, int side, int n):
        return book_depth_qty(&self.book, side, n)

    def crossed(self):
        return bool(book_crossed(&self.book))

    def clear(self):
        book_clear(&self.book)

    def recenter(self, int64_t center_price):
        return book_recenter(&self.book, center_price)

    def n_levels(self, int side):
        if side != BUY and side != SELL:
            raise ValueError("side must be BUY (0) or SELL (1)")
        return self.book.side[side].n_levels

    def n_overflow(self, int side):
        """Levels held outside the dense window (introspection for tests)."""
        if side != BUY and side != SELL:
            raise ValueError("side must be BUY (0) or SELL (1)")
        return self.book.side[side].ovf_n

    @property
    def best_bid(self):
        return self.book.side[<int>BUY].best

    @property
    def best_ask(self):
        return self.book.side[<int>SELL].best

    @property
    def base(self):
        return self.book.base

    @property
    def cap(self):
        return self.book.cap

    @property
    def window_log2(self):
        return self.book.window_log2

    @property
    def n_updates(self):
        return self.book.n_updates

    @property
    def n_rejected(self):
        return self.book.n_rejected

    @property
    def n_crossed(self):
        return self.book.n_crossed

    @n_crossed.setter
    def n_crossed(self, int64_t value):
        self.book.n_crossed = value

    @property
    def n_gaps(self):
        return self.book.n_gaps

    @n_gaps.setter
    def n_gaps(self, int64_t value):
        self.book.n_gaps = value

    @property
    def last_update_id(self):
        return self.book.last_update_id

    @last_update_id.setter
    def last_update_id(self, int64_t value):
        self.book.last_update_id = value

    @property
    def valid(self):
        return self.book.valid

    @valid.setter
    def valid(self, int64_t value):
        self.book.valid = value

    @property
    def ts_event(self):
        return self.book.ts_event

    @ts_event.setter
    def ts_event(self, int64_t value):
        self.book.ts_event = value

    @property
    def ts_local(self):
        return self.book.ts_local

    @ts_local.setter
    def ts_local(self, int64_t value):
        self.book.ts_local = value

    def to_bytes(self):
        cdef Writer w
        writer_init(&w)
        book_write(&self.book, &w)
        try:
            if w.failed:
                raise MemoryError()
            return PyBytes_FromStringAndSize(<char*>w.buf, w.len)
        finally:
            writer_free(&w)

    @staticmethod
    def from_bytes(data):
        """A new L2Book restored from to_bytes() output; ValueError if the bytes are not valid."""
        cdef bytes raw = bytes(data)
        cdef Reader r
        cdef L2Book out = L2Book(1, MIN_WINDOW_LOG2)
        reader_init(&r, <const uint8_t*><const char*>raw, len(raw))
        if book_read(&out.book, &r) != 0:
            raise ValueError("invalid book bytes")
        if r.pos != r.len:
            raise ValueError("trailing bytes after the book")
        return out
