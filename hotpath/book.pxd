# L2 order book: absolute quantity per price level, both sides, integer ticks and lots.
#
# Layout (per side): a dense window of 2**window_log2 ticks starting at Book.base holds the
# quantity per tick; a three-level bitmap (l0: one bit per tick, l1: one bit per l0 word,
# l2: one bit per l1 word) finds the next non-empty level with a handful of count-leading/
# trailing-zero instructions, so best bid/ask after a removal is O(1) (bounded by the bitmap
# depth, never by the distance in ticks). Arrays are calloc'ed: the OS commits only the pages
# that are touched, so a 4M-tick window costs what the book actually uses.
# Levels outside the window (Binance diffs touch prices thousands of ticks away, BitMEX dumps
# carry absurd far quotes) go to a sorted overflow array per side, so the book is correct for
# any positive price; book_recenter() moves the window when the market drifts far.
#
# Best prices are cached: side[BUY].best is the highest bid, side[SELL].best the lowest ask,
# 0 when the side is empty. All functions are noexcept nogil and allocate only in book_init,
# when the overflow grows, or in book_recenter.
from libc.stdint cimport int64_t, uint64_t

from hotpath.serial cimport Reader, Writer


cdef struct BookSide:
    int64_t* qty            # window: qty[price - base], 0 = empty level
    uint64_t* l0            # 1 bit per tick of the window           (cap / 64 words)
    uint64_t* l1            # 1 bit per l0 word                       (cap / 4096 words)
    uint64_t* l2            # 1 bit per l1 word                       (max(1, cap / 262144) words)
    int64_t n_l2            # number of l2 words
    int64_t best            # best price on this side, 0 if the side is empty
    int64_t n_levels        # non-empty levels, window + overflow
    int64_t* ovf_price      # overflow levels, ascending price, qty > 0
    int64_t* ovf_qty
    int64_t ovf_n
    int64_t ovf_cap


cdef struct Book:
    BookSide side[2]        # [BUY] = bids, [SELL] = asks
    int64_t base            # price of window index 0 (same for both sides), >= 1
    int64_t cap             # window size in ticks = 1 << window_log2
    int64_t window_log2     # 12 .. 26
    int64_t last_update_id  # venue sequence id (Binance u) of the last applied depth message
    int64_t ts_event        # of the last applied update
    int64_t ts_local
    int64_t valid           # 1 when the book can be trusted (snapshot applied, no gap since)
    int64_t n_updates       # level sets applied
    int64_t n_rejected      # level sets refused (price <= 0, qty < 0)
    int64_t n_crossed       # complete messages after which the book was crossed
    int64_t n_gaps          # sequence gaps reported to the book


# Allocate a book whose window is centred on center_price (ticks, > 0). window_log2 in [12, 26].
# Returns 0, or -1 on bad arguments / allocation failure (the book is then unusable but safe
# to book_free). Must be called on a zeroed struct.
cdef int book_init(Book* b, int64_t center_price, int64_t window_log2) noexcept nogil

# Release all memory; the struct can be book_init'ed again.
cdef void book_free(Book* b) noexcept nogil

# Remove every level of both sides (O(levels), touches only non-empty levels). Counters, ids,
# timestamps and validity are left to the caller.
cdef void book_clear(Book* b) noexcept nogil

# Set the absolute quantity at price on side (qty 0 removes the level). Returns the previous
# quantity (>= 0), or -1 if the update was refused (price <= 0 or qty < 0: counted in
# n_rejected, book unchanged), or -2 on allocation failure of the overflow (book unchanged).
cdef int64_t book_set(Book* b, int side, int64_t price, int64_t qty) noexcept nogil

# Quantity at price on side (0 if empty or price <= 0).
cdef int64_t book_qty(const Book* b, int side, int64_t price) noexcept nogil

# Next non-empty level strictly worse than price on side (lower for bids, higher for asks),
# 0 if none. book_next(b, side, best) walks the side from the touch outward.
cdef int64_t book_next(const Book* b, int side, int64_t price) noexcept nogil

# Copy up to n best levels of side into prices/qtys (best first). Returns the count copied.
cdef int book_depth(const Book* b, int side, int n, int64_t* prices, int64_t* qtys) noexcept nogil

# Sum of quantity over the best n levels of side, saturating at INT64_MAX.
cdef int64_t book_depth_qty(const Book* b, int side, int n) noexcept nogil

# 1 if both sides are non-empty and best bid >= best ask.
cdef bint book_crossed(const Book* b) noexcept nogil

# Move the window to be centred on center_price, migrating levels between window and overflow.
# O(levels). Returns 0, or -1 on allocation failure (book unchanged).
cdef int book_recenter(Book* b, int64_t center_price) noexcept nogil

# Canonical bytes: base, cap, window_log2, last_update_id, ts_event, ts_local, valid, counters,
# then per side the level count and (price, qty) pairs best-first. book_read restores a book
# previously book_init'ed with any window (it re-inits to the stored window). 0 ok, -1 failure.
cdef void book_write(const Book* b, Writer* w) noexcept nogil
cdef int book_read(Book* b, Reader* r) noexcept nogil


# Python-visible wrapper (tests, tools, Python-level consumers). Declared here so other modules
# can cimport it and reach the struct (e.g. signals tests pass an L2Book to SignalEngine).
# Constructor: L2Book(center_price: int, window_log2: int = 22).
cdef class L2Book:
    cdef Book book
