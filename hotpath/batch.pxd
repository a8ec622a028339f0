from libc.stdint cimport int64_t

from hotpath.types cimport JournalRecord

# Summary of a batch of journal records, read in one pass without the GIL.
cdef struct BatchScan:
    int64_t count
    int64_t first_seq
    int64_t last_seq
    bint contiguous         # seqs run first_seq, first_seq + 1, ... without a hole or repeat

cdef BatchScan scan_batch(const JournalRecord* records, int64_t count, int64_t* kind_counts,
                          int64_t n_kinds) noexcept nogil
