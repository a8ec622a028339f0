"""The order commands in a batch of journal records, found in compiled code.

The kernel hands the gateway every record the engine drained in a turn (in node mode that
includes one REC_INPUT per input): scanning them in Python would cost more than sending the
order. This returns only what goes on the wire.
"""

import numpy as np

cimport numpy as cnp

from hotpath.types cimport REC_CANCEL_SENT, REC_ORDER_CANCELED, REC_ORDER_SENT, JournalRecord

from hotpath.types import JOURNAL_RECORD_DTYPE

cnp.import_array()


cdef object _DTYPE = JOURNAL_RECORD_DTYPE


def order_commands(records):
    """[(kind, order_id, instrument, price, qty, flags, order_type, tif)] of every REC_ORDER_SENT
    and REC_CANCEL_SENT, in order. A REC_CANCEL_SENT directly followed by the REC_ORDER_CANCELED of
    the same order is left out: the engine cancelled an order that never left it."""
    if type(records) is not np.ndarray or (records.dtype is not _DTYPE and records.dtype != _DTYPE):
        raise TypeError("records must be a JOURNAL_RECORD_DTYPE array")
    cdef cnp.ndarray array = records
    if not cnp.PyArray_IS_C_CONTIGUOUS(array):
        array = np.ascontiguousarray(array)
    cdef Py_ssize_t n = cnp.PyArray_DIM(array, 0), k
    cdef const JournalRecord* r = <const JournalRecord*>cnp.PyArray_DATA(array)
    out = []
    for k in range(n):
        if r[k].kind == REC_ORDER_SENT:
            out.append((REC_ORDER_SENT, r[k].order_id, r[k].instrument, r[k].price, r[k].qty, r[k].flags,
                        r[k].a, r[k].b))
        elif r[k].kind == REC_CANCEL_SENT:
            if k + 1 < n and r[k + 1].kind == REC_ORDER_CANCELED and r[k + 1].order_id == r[k].order_id:
                continue
            out.append((REC_CANCEL_SENT, r[k].order_id, r[k].instrument, r[k].price, r[k].qty, r[k].flags, 0, 0))
    return out
