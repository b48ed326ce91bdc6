/* Validation scan over pred_probs rows, in C so that it can be compiled for AVX2 as well as
 * the baseline instruction set (GCC picks the clone at load time; other compilers build the
 * baseline only). One pass per row: its sum and whether it holds a negative value (the sum of
 * absolute values then exceeds the plain sum), the gathered P[f, y_f], and the running
 * min/max of row sums. NaN or +-inf anywhere makes a row sum non-finite. */
#ifndef TOKENLQ_SCAN_H
#define TOKENLQ_SCAN_H

#include <math.h>
#include <stddef.h>

#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && defined(__linux__)
#define TQ_CLONES __attribute__((target_clones("avx2", "default")))
#else
#define TQ_CLONES
#endif

#define TQ_DEFINE_SCAN(NAME, TYPE)                                                           \
    TQ_CLONES static void NAME(const TYPE* block, ptrdiff_t n, ptrdiff_t K,                  \
                               const long long* labels, TYPE* self_confidence,               \
                               double* s_lo, double* s_hi, ptrdiff_t* negatives,             \
                               int* finite) {                                                \
        double lo = *s_lo, hi = *s_hi;                                                       \
        ptrdiff_t negative = 0;                                                              \
        int all_finite = 1;                                                                  \
        for (ptrdiff_t f = 0; f < n; f++) {                                                  \
            const TYPE* row = block + f * K;                                                 \
            TYPE s = 0, a = 0;                                                               \
            for (ptrdiff_t k = 0; k < K; k++) {                                              \
                s += row[k];                                                                 \
                a += (TYPE)fabs(row[k]);                                                     \
            }                                                                                \
            negative += a != s;                                                              \
            if (!(s > -INFINITY && s < INFINITY)) all_finite = 0;                            \
            if (s < lo) lo = s;                                                              \
            if (s > hi) hi = s;                                                              \
            self_confidence[f] = row[labels[f]];                                             \
        }                                                                                    \
        *s_lo = lo;                                                                          \
        *s_hi = hi;                                                                          \
        *negatives += negative;                                                              \
        if (!all_finite) *finite = 0;                                                        \
    }

TQ_DEFINE_SCAN(tq_scan_double, double)
TQ_DEFINE_SCAN(tq_scan_float, float)

#endif
