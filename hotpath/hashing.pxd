# xxHash3-64 from the vendored official single header (hotpath/vendor/xxhash.h, BSD-2),
# compiled inline into each module that cimports this file.
from libc.stdint cimport uint64_t

cdef extern from *:
    """
    #define XXH_INLINE_ALL
    #include "xxhash.h"
    """
    uint64_t XXH3_64bits(const void* data, size_t length) noexcept nogil
