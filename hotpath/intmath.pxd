# Checked 64-bit integer arithmetic for the hot path. Everything money-like is int64; products
# that can exceed 64 bits go through __int128 inside these helpers and report overflow instead
# of wrapping. All helpers are inline C: no call overhead, no Python objects, no exceptions.
from libc.stdint cimport int64_t, uint64_t

cdef extern from *:
    """
    #include <stdint.h>
    /* 1 on overflow, result in *out otherwise */
    static inline int am_mul(int64_t a, int64_t b, int64_t *out) { return __builtin_mul_overflow(a, b, out); }
    static inline int am_add(int64_t a, int64_t b, int64_t *out) { return __builtin_add_overflow(a, b, out); }
    static inline int am_sub(int64_t a, int64_t b, int64_t *out) { return __builtin_sub_overflow(a, b, out); }
    /* floor(x/y) in 64 bits, y != 0 (C division truncates toward zero) */
    static inline int64_t am_floordiv64(int64_t x, int64_t y) {
        int64_t q = x / y, r = x % y;
        return (r != 0 && ((r < 0) != (y < 0))) ? q - 1 : q;
    }
    static inline int am_fit64(__int128 q, int64_t *out) {
        if (q > (__int128)INT64_MAX || q < (__int128)INT64_MIN) return 1;
        *out = (int64_t)q; return 0;
    }
    /* floor(a*b/c); 1 on overflow of the result or c == 0. The product is exact in 128 bits;
       when it fits in 64 bits (the common case) the much cheaper 64-bit division is used. */
    static inline int am_muldiv_floor(int64_t a, int64_t b, int64_t c, int64_t *out) {
        int64_t p64;
        if (c == 0) return 1;
        if (!__builtin_mul_overflow(a, b, &p64)) {
            if (c == 1) { *out = p64; return 0; }
            if (!(p64 == INT64_MIN && c == -1)) { *out = am_floordiv64(p64, c); return 0; }
        }
        __int128 p = (__int128)a * (__int128)b;
        __int128 q = p / c, r = p % c;
        if (r != 0 && ((r < 0) != (c < 0))) q -= 1;
        return am_fit64(q, out);
    }
    /* round(a*b/c), halves away from zero; 1 on overflow or c == 0 */
    static inline int am_muldiv_round(int64_t a, int64_t b, int64_t c, int64_t *out) {
        int64_t p64;
        if (c == 0) return 1;
        if (!__builtin_mul_overflow(a, b, &p64) && p64 != INT64_MIN && c != INT64_MIN) {
            if (c == 1) { *out = p64; return 0; }
            int64_t ap = p64 < 0 ? -p64 : p64, ac = c < 0 ? -c : c;
            if (ap <= INT64_MAX - ac / 2) {
                int64_t q = (ap + ac / 2) / ac;
                *out = ((p64 < 0) != (c < 0)) ? -q : q;
                return 0;
            }
        }
        __int128 p = (__int128)a * (__int128)b;
        int neg = (p < 0) != (c < 0);
        __int128 ap = p < 0 ? -p : p, ac = c < 0 ? -(__int128)c : (__int128)c;
        __int128 q = (ap + ac / 2) / ac;
        if (neg) q = -q;
        return am_fit64(q, out);
    }
    /* floor(a*b*c/d) (a*b*c must fit in 127 bits); 1 on overflow or d == 0 */
    static inline int am_mul3div_floor(int64_t a, int64_t b, int64_t c, int64_t d, int64_t *out) {
        int64_t p64;
        if (d == 0) return 1;
        if (!__builtin_mul_overflow(a, b, &p64) && !__builtin_mul_overflow(p64, c, &p64)) {
            if (d == 1) { *out = p64; return 0; }
            if (!(p64 == INT64_MIN && d == -1)) { *out = am_floordiv64(p64, d); return 0; }
        }
        __int128 p;
        if (__builtin_mul_overflow((__int128)a * (__int128)b, (__int128)c, &p)) return 1;
        __int128 q = p / d, r = p % d;
        if (r != 0 && ((r < 0) != (d < 0))) q -= 1;
        return am_fit64(q, out);
    }
    /* integer square root: floor(sqrt(x)) for x >= 0, exact */
    static inline uint64_t am_isqrt(uint64_t x) {
        if (x < 2) return x;
        uint64_t r = (uint64_t)__builtin_sqrt((double)x);
        while (r * r > x) r--;
        while ((r + 1) * (r + 1) <= x) r++;
        return r;
    }
    static inline int64_t am_abs(int64_t a) { return a < 0 ? -a : a; }
    static inline int64_t am_min(int64_t a, int64_t b) { return a < b ? a : b; }
    static inline int64_t am_max(int64_t a, int64_t b) { return a > b ? a : b; }
    static inline int64_t am_clamp(int64_t v, int64_t lo, int64_t hi) { return v < lo ? lo : (v > hi ? hi : v); }
    """
    bint am_mul(int64_t a, int64_t b, int64_t* out) noexcept nogil
    bint am_add(int64_t a, int64_t b, int64_t* out) noexcept nogil
    bint am_sub(int64_t a, int64_t b, int64_t* out) noexcept nogil
    bint am_muldiv_floor(int64_t a, int64_t b, int64_t c, int64_t* out) noexcept nogil
    bint am_muldiv_round(int64_t a, int64_t b, int64_t c, int64_t* out) noexcept nogil
    bint am_mul3div_floor(int64_t a, int64_t b, int64_t c, int64_t d, int64_t* out) noexcept nogil
    uint64_t am_isqrt(uint64_t x) noexcept nogil
    int64_t am_abs(int64_t a) noexcept nogil
    int64_t am_min(int64_t a, int64_t b) noexcept nogil
    int64_t am_max(int64_t a, int64_t b) noexcept nogil
    int64_t am_clamp(int64_t v, int64_t lo, int64_t hi) noexcept nogil
