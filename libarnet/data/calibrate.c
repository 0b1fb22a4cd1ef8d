/* calibrate.c -- score thresholds from data: the threshold that gives a
 * target false-alarm rate on normal videos (what VMS operators set). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "data_int.h"
#include "internal.h"

static int cmp_desc(const void *a, const void *b)
{
    float x = *(const float *)a, y = *(const float *)b;
    return (x < y) - (x > y);
}

int arnet_threshold_for_far(const float *scores, size_t n, double target_far,
                            float *threshold, double *achieved_far)
{
    static const char fn[] = "arnet_threshold_for_far";
    if (!scores || !threshold)
        return arnet__error(ARNET_E_INVALID, "%s: %s is NULL", fn,
                            !scores ? "scores" : "threshold");
    if (n < 1)
        return arnet__error(ARNET_E_INVALID, "%s: n is 0 (need at least one score)", fn);
    if (!(target_far >= 0.0 && target_far <= 1.0))
        return arnet__error(ARNET_E_INVALID, "%s: target_far %g must be in [0, 1]", fn,
                            target_far);
    for (size_t i = 0; i < n; i++)
        if (!isfinite(scores[i]))
            return arnet__error(ARNET_E_INVALID, "%s: scores[%zu] is not finite", fn, i);
    float *s = arnet__alloc(n, sizeof(float), "arnet_threshold_for_far sorted copy");
    if (!s)
        return ARNET_E_NOMEM;
    memcpy(s, scores, n * sizeof(float));
    qsort(s, n, sizeof(float), cmp_desc);
    /* Allowed alarms: k = floor(target * n) (with a little slack for the
     * rounding of target * n).  Thresholds are candidate values t where
     * count(score >= t) changes: the distinct scores, plus nextafter(max)
     * for "no alarms".  The smallest t with count(>= t) <= k is the next
     * float above the first score value whose run would push the count
     * past k, or a score value itself when the whole run fits. */
    double kd = floor(target_far * (double)n + 1e-9);
    size_t k = kd >= (double)n ? n : (size_t)kd;
    float t;
    size_t count;
    if (k >= n) {
        t = s[n - 1];
        count = n;
    } else {
        /* s[k] is the (k+1)-th highest score: t must exceed it. */
        t = nextafterf(s[k], INFINITY);
        count = 0;
        while (count < n && s[count] >= t)
            count++;
    }
    free(s);
    *threshold = t;
    if (achieved_far)
        *achieved_far = (double)count / (double)n;
    return ARNET_OK;
}
