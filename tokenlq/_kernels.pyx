# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True, initializedcheck=False
"""Compiled single-pass kernels over pred_probs (n, K).

numpy needs one pass per question (minimum, row sums, argmax, confidence counts); these loops
answer them together in one pass, which is what makes validation plus scoring cost about as much
as reading the probabilities once. Callers have validated shapes, dtypes and label ranges.
"""

from cpython.buffer cimport PyBUF_C_CONTIGUOUS, PyBUF_FORMAT, PyBuffer_Release, PyObject_GetBuffer
from cpython.list cimport PyList_GET_ITEM, PyList_GET_SIZE
from cpython.long cimport PyLong_AsLongLong, PyLong_CheckExact
from libc.math cimport INFINITY, exp

ctypedef fused floating:
    float
    double


cdef extern from "_scan.h":
    void tq_scan_double(const double* block, Py_ssize_t n, Py_ssize_t K, const long long* labels,
                        double* self_confidence, double* s_lo, double* s_hi,
                        Py_ssize_t* negatives, int* finite) noexcept nogil
    void tq_scan_float(const float* block, Py_ssize_t n, Py_ssize_t K, const long long* labels,
                       float* self_confidence, double* s_lo, double* s_hi,
                       Py_ssize_t* negatives, int* finite) noexcept nogil


def scan_gather(const floating[:, ::1] pred_probs, const long long[::1] labels,
                floating[::1] self_confidence):
    """Write P[f, y_f] into ``self_confidence``; return (all finite, number of negative values,
    min row sum, max row sum)."""
    cdef Py_ssize_t n = pred_probs.shape[0], K = pred_probs.shape[1]
    if n == 0:
        return True, 0, INFINITY, -INFINITY
    return _scan_block(&pred_probs[0, 0], n, K, &labels[0], &self_confidence[0])


cdef tuple _scan_block(const floating* block, Py_ssize_t n, Py_ssize_t K, const long long* labels,
                       floating* self_confidence):
    cdef double s_lo = INFINITY, s_hi = -INFINITY
    cdef Py_ssize_t negatives = 0
    cdef int finite = 1
    with nogil:
        if floating is double:
            tq_scan_double(block, n, K, labels, self_confidence, &s_lo, &s_hi, &negatives, &finite)
        else:
            tq_scan_float(block, n, K, labels, self_confidence, &s_lo, &s_hi, &negatives, &finite)
    return bool(finite), negatives, s_lo, s_hi


def scan_gather_list(list arrays, const long long[::1] labels, floating[::1] self_confidence,
                     Py_ssize_t n_classes):
    """:func:`scan_gather` over per-sentence (T_i, K) arrays without concatenating them.

    Returns None when an array is not a C-contiguous 2-D buffer of K columns of the element
    type of ``self_confidence`` (the caller then takes the general path).
    """
    cdef Py_buffer view
    cdef Py_ssize_t start = 0, T
    cdef double s_lo = INFINITY, s_hi = -INFINITY
    cdef Py_ssize_t negatives = 0
    cdef bint finite = True
    cdef char expected = b"d" if floating is double else b"f"
    cdef const char* fmt
    cdef tuple part
    for array in arrays:
        try:
            PyObject_GetBuffer(array, &view, PyBUF_C_CONTIGUOUS | PyBUF_FORMAT)
        except (BufferError, TypeError, ValueError):
            return None
        try:
            T = view.shape[0] if view.ndim >= 1 else 0
            if T == 0:
                continue
            fmt = view.format
            if fmt[0] in (b"@", b"=", b"<"):
                fmt += 1
            if view.ndim != 2 or view.shape[1] != n_classes or fmt[0] != expected or fmt[1] != 0 \
                    or start + T > labels.shape[0]:
                return None
            part = _scan_block(<const floating*> view.buf, T, n_classes, &labels[start],
                               &self_confidence[start])
            finite = finite and part[0]
            negatives += <Py_ssize_t> part[1]
            s_lo = min(s_lo, <double> part[2])
            s_hi = max(s_hi, <double> part[3])
            start += T
        finally:
            PyBuffer_Release(&view)
    return finite, negatives, s_lo, s_hi


def labels_from_lists(list sentences, long long[::1] out):
    """Copy nested lists of Python ints into ``out``; return -1, or the flat position of the
    first item that is not exactly an int (bools and floats included) or not a list row.

    One pass that both converts and type-checks, where numpy would truncate 1.5 to 1.
    """
    cdef Py_ssize_t position = 0, j, length, n = out.shape[0]
    cdef object item
    for sentence in sentences:
        if type(sentence) is not list:
            return position
        length = PyList_GET_SIZE(sentence)
        if position + length > n:
            return position
        for j in range(length):
            item = <object> PyList_GET_ITEM(sentence, j)
            if not PyLong_CheckExact(item):
                return position + j
            out[position + j] = PyLong_AsLongLong(item)
        position += length
    return -1


def confident_counts(const floating[:, ::1] pred_probs, const long long[::1] labels,
                     const double[::1] cutoffs, long long[::1] counts, long long[::1] argmax,
                     unsigned char[::1] off_diagonal):
    """Confident-learning pass.

    For each token: ``argmax`` (lowest index on ties); the classes whose probability reaches
    ``cutoffs``; the guess (the single confident class, or the argmax when several are); adds 1
    to ``counts[guess * K + given]`` and marks ``off_diagonal`` where guess != given, for tokens
    confident for at least one class.
    """
    cdef Py_ssize_t n = pred_probs.shape[0], K = pred_probs.shape[1], f, k, top, guess
    cdef Py_ssize_t n_confident
    cdef const floating* row
    with nogil:
        for f in range(n):
            row = &pred_probs[f, 0]
            top = _argmax(row, K)
            argmax[f] = top
            # A plain count vectorizes; which class is confident matters only in the rare case
            # of a single confident class other than the argmax, found by a second look.
            n_confident = 0
            for k in range(K):
                n_confident += row[k] >= cutoffs[k]
            if n_confident == 0:
                off_diagonal[f] = 0
                continue
            guess = top
            if n_confident == 1 and not row[top] >= cutoffs[top]:
                for k in range(K):
                    if row[k] >= cutoffs[k]:
                        guess = k
            counts[guess * K + labels[f]] += 1
            off_diagonal[f] = guess != labels[f]


cdef inline Py_ssize_t _argmax(const floating* row, Py_ssize_t K) noexcept nogil:
    """Index of the largest value, lowest on ties."""
    cdef floating best = row[0]
    cdef Py_ssize_t top = 0, k
    for k in range(1, K):
        if row[k] > best:
            best = row[k]
            top = k
    return top


cdef inline bint _better(double value_a, long long index_a, double value_b, long long index_b) noexcept nogil:
    """Order for "the m largest": larger value first, then lower token index (a total order)."""
    return value_a > value_b or (value_a == value_b and index_a < index_b)


cdef void _select_largest(double* values, long long* index, Py_ssize_t n, Py_ssize_t m) noexcept nogil:
    """Quickselect: move the m best (value, index) pairs to the front, in any order."""
    cdef Py_ssize_t lo = 0, hi = n - 1, i, store, mid
    cdef double pivot_value, tv
    cdef long long pivot_index, ti
    if m <= 0 or m >= n:
        return
    while lo < hi:
        mid = lo + (hi - lo) // 2
        # Median of three as pivot, moved to hi.
        if _better(values[mid], index[mid], values[lo], index[lo]):
            values[mid], values[lo] = values[lo], values[mid]
            index[mid], index[lo] = index[lo], index[mid]
        if _better(values[hi], index[hi], values[lo], index[lo]):
            values[hi], values[lo] = values[lo], values[hi]
            index[hi], index[lo] = index[lo], index[hi]
        if _better(values[mid], index[mid], values[hi], index[hi]):
            values[mid], values[hi] = values[hi], values[mid]
            index[mid], index[hi] = index[hi], index[mid]
        pivot_value = values[hi]
        pivot_index = index[hi]
        store = lo
        for i in range(lo, hi):
            if _better(values[i], index[i], pivot_value, pivot_index):
                values[i], values[store] = values[store], values[i]
                index[i], index[store] = index[store], index[i]
                store += 1
        values[hi], values[store] = values[store], values[hi]
        index[hi], index[store] = index[store], index[hi]
        if store == m - 1 or store == m:
            return
        if store < m:
            lo = store + 1
        else:
            hi = store - 1


def prune_by_noise_rate(const floating[:, ::1] pred_probs, const long long[::1] argmax,
                        const long long[::1] order, const long long[::1] starts,
                        const long long[:, ::1] prune, const long long[::1] flaggable,
                        unsigned char[::1] flagged):
    """Confident learning's prune_by_noise_rate.

    For each class k in ``flaggable`` and each j != k with m = prune[j, k] > 0: flag the m
    tokens given k (``order[starts[k]:starts[k + 1]]``, ascending positions) with the largest
    margin P[j] - P[k], ties to the lower position. Tokens with a positive margin are never
    predicted as k, so the search runs over those first and over the whole class only when m
    exceeds their number.
    """
    cdef Py_ssize_t K = pred_probs.shape[1], c, k, j, t, n_members, n_disputed, m, n_positive
    cdef const long long* members
    cdef floating margin
    cdef Py_ssize_t largest = 0
    for c in range(flaggable.shape[0]):
        k = flaggable[c]
        largest = max(largest, starts[k + 1] - starts[k])
    import numpy as np
    values_buffer = np.empty(max(largest, 1), dtype=np.float64)
    index_buffer = np.empty(max(largest, 1), dtype=np.int64)
    disputed_buffer = np.empty(max(largest, 1), dtype=np.int64)
    cdef double[::1] values = values_buffer
    cdef long long[::1] index = index_buffer
    cdef long long[::1] disputed = disputed_buffer
    with nogil:
        for c in range(flaggable.shape[0]):
            k = flaggable[c]
            members = &order[starts[k]]
            n_members = starts[k + 1] - starts[k]
            n_disputed = 0
            for t in range(n_members):
                if argmax[members[t]] != k:
                    disputed[n_disputed] = members[t]
                    n_disputed += 1
            for j in range(K):
                m = prune[j, k]
                if j == k or m <= 0:
                    continue
                n_positive = 0
                for t in range(n_disputed):
                    # Subtract in the input's precision (as numpy would), then widen exactly.
                    margin = pred_probs[disputed[t], j] - pred_probs[disputed[t], k]
                    values[t] = margin
                    index[t] = disputed[t]
                    if margin > 0:
                        n_positive += 1
                if n_positive >= m:
                    _select_largest(&values[0], &index[0], n_disputed, m)
                else:
                    for t in range(n_members):
                        margin = pred_probs[members[t], j] - pred_probs[members[t], k]
                        values[t] = margin
                        index[t] = members[t]
                    _select_largest(&values[0], &index[0], n_members, m)
                    if m > n_members:
                        m = n_members
                for t in range(m):
                    flagged[index[t]] = 1


cdef inline double _segment_min(const floating[::1] scores, Py_ssize_t a, Py_ssize_t b) noexcept nogil:
    cdef double minimum = scores[a]
    cdef Py_ssize_t j
    for j in range(a + 1, b):
        if scores[j] < minimum:
            minimum = scores[j]
    return minimum


def sentence_min(const floating[::1] scores, const long long[::1] offsets, floating[::1] out):
    """Per-sentence minimum; an empty sentence scores 1.0."""
    cdef Py_ssize_t i
    with nogil:
        for i in range(offsets.shape[0] - 1):
            out[i] = 1.0 if offsets[i] == offsets[i + 1] else \
                _segment_min(scores, offsets[i], offsets[i + 1])


def sentence_softmin(const floating[::1] scores, const long long[::1] offsets, double temperature,
                     floating[::1] out):
    """Per sentence: sum_j w_j s_j with w = softmax((1 - s) / temperature), shifted by the
    sentence minimum so exp never overflows; an empty sentence scores 1.0."""
    cdef Py_ssize_t i, j, a, b
    cdef double minimum, weight, total, weighted, inverse = 1.0 / temperature
    with nogil:
        for i in range(offsets.shape[0] - 1):
            a = offsets[i]
            b = offsets[i + 1]
            if a == b:
                out[i] = 1.0
                continue
            minimum = _segment_min(scores, a, b)
            total = 0
            weighted = 0
            for j in range(a, b):
                weight = exp((minimum - scores[j]) * inverse)
                total += weight
                weighted += weight * scores[j]
            out[i] = weighted / total
