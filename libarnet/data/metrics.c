/* metrics.c -- frame-level ranking metrics equal to scikit-learn's: ROC AUC,
 * average precision and the trapezoidal precision-recall area, in one sort. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "data_int.h"
#include "internal.h"

/* Map a float to a uint32 whose unsigned order is the float's order, so the
 * scores can be radix-sorted.  -0 becomes +0 first: sklearn groups them as
 * one threshold (np.diff(-0.0, 0.0) == 0). */
static uint32_t order_key(float f)
{
    uint32_t u;
    if (f == 0.0f)
        f = 0.0f;
    memcpy(&u, &f, sizeof u);
    return (u & 0x80000000u) ? ~u : (u | 0x80000000u);
}

/* LSD radix sort of keys[0..n) ascending, 8 bits per pass, scratch of n
 * entries.  Linear time and 4 bytes of scratch per key: what lets tens of
 * millions of frames sort in well under a second without 16-byte pairs.
 * Passes whose digit is the same for every key are skipped (scores in [0, 1]
 * share their top byte). */
static void radix_sort_u32(uint32_t *keys, uint32_t *scratch, size_t n)
{
    size_t count[4][256];
    memset(count, 0, sizeof count);
    for (size_t i = 0; i < n; i++) {
        uint32_t k = keys[i];
        count[0][k & 0xff]++;
        count[1][(k >> 8) & 0xff]++;
        count[2][(k >> 16) & 0xff]++;
        count[3][k >> 24]++;
    }
    uint32_t *src = keys, *dst = scratch;
    for (int pass = 0; pass < 4; pass++) {
        unsigned shift = 8u * (unsigned)pass;
        size_t *c = count[pass];
        if (c[(src[0] >> shift) & 0xff] == n)
            continue;
        size_t sum = 0;
        for (int d = 0; d < 256; d++) {
            size_t t = c[d];
            c[d] = sum;
            sum += t;
        }
        for (size_t i = 0; i < n; i++) {
            uint32_t k = src[i];
            dst[c[(k >> shift) & 0xff]++] = k;
        }
        uint32_t *t = src;
        src = dst;
        dst = t;
    }
    if (src != keys)
        memcpy(keys, src, n * sizeof *keys);
}

int arnet__binary_metrics(const char *fn, const float *scores, const uint8_t *labels, size_t n,
                          double *auc, double *ap, double *pr_auc)
{
    if (!scores || !labels)
        return arnet__error(ARNET_E_INVALID, "%s: %s is NULL", fn, !scores ? "scores" : "labels");
    if (n == 0)
        return arnet__error(ARNET_E_INVALID, "%s: n is 0 (no samples)", fn);
    /* 2 * area * P * N is accumulated exactly in 64 bits; it is at most
     * n^2 / 2, which fits for n below 4e9. */
    if (n > (size_t)4000000000u)
        return arnet__error(ARNET_E_INVALID, "%s: n = %zu exceeds the supported 4e9 samples",
                            fn, n);
    size_t n_pos = 0;
    for (size_t i = 0; i < n; i++) {
        if (isnan(scores[i]))
            return arnet__error(ARNET_E_INVALID, "%s: scores[%zu] is NaN", fn, i);
        n_pos += labels[i] != 0;
    }
    size_t n_neg = n - n_pos;
    if (n_pos == 0 || n_neg == 0)
        return arnet__error(ARNET_E_INVALID,
                            "%s: only one class present (%zu positive, %zu negative of %zu); "
                            "the metric is undefined",
                            fn, n_pos, n_neg, n);

    /* Positives and negatives sorted apart: 4 bytes per key, no label beside
     * it, and the walk below merges them by threshold. */
    size_t larger = n_pos > n_neg ? n_pos : n_neg;
    uint32_t *keys = arnet__alloc(n, sizeof *keys, "metric sort keys");
    if (!keys)
        return ARNET_E_NOMEM;
    uint32_t *scratch = arnet__alloc(larger, sizeof *scratch, "metric sort scratch");
    if (!scratch) {
        free(keys);
        return ARNET_E_NOMEM;
    }
    uint32_t *pos = keys, *neg = keys + n_pos;
    size_t ip = 0, in = 0;
    for (size_t i = 0; i < n; i++) {
        if (labels[i])
            pos[ip++] = order_key(scores[i]);
        else
            neg[in++] = order_key(scores[i]);
    }
    radix_sort_u32(pos, scratch, n_pos);
    radix_sort_u32(neg, scratch, n_neg);
    free(scratch);

    /* Walk the distinct thresholds from the highest score down, as sklearn's
     * _binary_clf_curve does: every sample with the same score joins one
     * point of the curves (ties grouped, hence counted as half in the AUC). */
    uint64_t tp = 0, fp = 0, area2 = 0;
    double P = (double)n_pos;
    double ap_sum = 0.0, pr_sum = 0.0;
    double prev_recall = 0.0, prev_precision = 1.0; /* sklearn's appended (0, 1) */
    size_t jp = n_pos, jn = n_neg; /* entries still unvisited: [0, jp), [0, jn) */
    while (jp > 0 || jn > 0) {
        uint32_t t;
        if (jp == 0)
            t = neg[jn - 1];
        else if (jn == 0)
            t = pos[jp - 1];
        else
            t = pos[jp - 1] > neg[jn - 1] ? pos[jp - 1] : neg[jn - 1];
        uint64_t dp = 0, dn = 0;
        while (jp > 0 && pos[jp - 1] == t) {
            jp--;
            dp++;
        }
        while (jn > 0 && neg[jn - 1] == t) {
            jn--;
            dn++;
        }
        uint64_t tp_prev = tp;
        tp += dp;
        fp += dn;
        /* ROC: trapezoid from (fp_prev, tp_prev) to (fp, tp), doubled, in
         * integers, so the AUC is exact before the final division. */
        area2 += dn * (tp_prev + tp);
        double recall = (double)tp / P;
        double precision = (double)tp / (double)(tp + fp);
        /* AP = sum (R_k - R_{k-1}) P_k; PR area = trapezoids over the same
         * points, starting from sklearn's (recall 0, precision 1). */
        if (dp > 0)
            ap_sum += (recall - prev_recall) * precision;
        pr_sum += (recall - prev_recall) * (precision + prev_precision) * 0.5;
        prev_recall = recall;
        prev_precision = precision;
    }
    free(keys);

    if (auc)
        *auc = (double)area2 / (2.0 * (double)n_pos * (double)n_neg);
    if (ap)
        *ap = ap_sum;
    if (pr_auc)
        *pr_auc = pr_sum;
    return ARNET_OK;
}

int arnet_roc_auc(const float *scores, const uint8_t *labels, size_t n, double *auc)
{
    if (!auc)
        return arnet__error(ARNET_E_INVALID, "arnet_roc_auc: auc is NULL");
    return arnet__binary_metrics("arnet_roc_auc", scores, labels, n, auc, NULL, NULL);
}

int arnet_average_precision(const float *scores, const uint8_t *labels, size_t n, double *ap)
{
    if (!ap)
        return arnet__error(ARNET_E_INVALID, "arnet_average_precision: ap is NULL");
    return arnet__binary_metrics("arnet_average_precision", scores, labels, n, NULL, ap, NULL);
}

int arnet_pr_auc(const float *scores, const uint8_t *labels, size_t n, double *area)
{
    if (!area)
        return arnet__error(ARNET_E_INVALID, "arnet_pr_auc: area is NULL");
    return arnet__binary_metrics("arnet_pr_auc", scores, labels, n, NULL, NULL, area);
}
