"""One pass over a batch of journal records for the node's per-batch bookkeeping: are the seqs
contiguous (the journal refuses a batch that is not) and how many records of each kind (the
node's counters). numpy does each of these in several microseconds of call overhead per batch;
this is one call on the tick-to-order path."""

from cpython.buffer cimport PyBUF_C_CONTIGUOUS, PyBuffer_Release, PyObject_GetBuffer
from libc.stdint cimport INT64_MAX, int64_t

from hotpath.types cimport JournalRecord

import numpy as np

from hotpath.types import JOURNAL_RECORD_DTYPE


cdef BatchScan scan_batch(const JournalRecord* records, int64_t count, int64_t* kind_counts,
                          int64_t n_kinds) noexcept nogil:
    cdef BatchScan out
    cdef int64_t i, kind
    out.count = count
    out.first_seq = records[0].seq if count > 0 else 0
    out.last_seq = records[count - 1].seq if count > 0 else 0
    out.contiguous = 1
    for i in range(count):
        # each seq one past the previous, which must not be INT64_MAX (no wrap-around)
        if i > 0 and (records[i - 1].seq == INT64_MAX or records[i].seq != records[i - 1].seq + 1):
            out.contiguous = 0
        kind = records[i].kind
        if kind_counts != NULL and kind < n_kinds:
            kind_counts[kind] += 1
    return out


def scan_records(records, int64_t[::1] kind_counts=None):
    """(count, first_seq, last_seq, contiguous) of a 1-d C-contiguous JOURNAL_RECORD_DTYPE array;
    adds the number of records of each kind into kind_counts[kind] when given (kinds past its
    end are not counted). Raises TypeError for anything else."""
    if type(records) is not np.ndarray or records.dtype != JOURNAL_RECORD_DTYPE or records.ndim != 1:
        raise TypeError("scan_records() takes a 1-d numpy array of JOURNAL_RECORD_DTYPE")
    cdef Py_buffer view
    cdef BatchScan scan
    cdef int64_t* counts = NULL
    cdef int64_t n_kinds = 0
    if kind_counts is not None:
        n_kinds = kind_counts.shape[0]
        if n_kinds:
            counts = &kind_counts[0]
    PyObject_GetBuffer(records, &view, PyBUF_C_CONTIGUOUS)  # raises for a strided view
    try:
        with nogil:
            scan = scan_batch(<const JournalRecord*>view.buf, view.len // sizeof(JournalRecord),
                              counts, n_kinds)
    finally:
        PyBuffer_Release(&view)
    return scan.count, scan.first_seq, scan.last_seq, bool(scan.contiguous)
