/* loss.c -- the per-video loss kernels of docs/method.md: dynamic MIL (eq. 3-5),
 * the center loss (eq. 6-7) and the k-max MIL baseline, from logits. */
#include <math.h>
#include <string.h>

#include "detector_int.h"
#include "internal.h"

/* ---- top-k selection -------------------------------------------------------
 * The trainer calls these kernels for every video of every step, so the
 * selection must not allocate.  Instead of sorting a copy, find the k-th
 * largest logit by a binary search over its 32-bit order key (a radix
 * select): 32 counting passes over the logits, O(32 n) with no scratch
 * memory, exact for any n.  For n = 300 that is ~10^4 comparisons, far
 * below the cost of the network itself.  The selected set is then every
 * logit above that threshold plus, among those equal to it, the ones with
 * the lowest indices (the tie rule of the header). */

/* Map a float to an unsigned key with the same order (NaN already refused).
 * -0.0 and +0.0 are equal logits, so both get the key of +0.0. */
static uint32_t order_key(float z)
{
    uint32_t u;
    if (z == 0.0f)
        z = 0.0f;
    memcpy(&u, &z, sizeof u);
    return (u & 0x80000000u) ? ~u : (u | 0x80000000u);
}

typedef struct topk {
    uint32_t threshold; /* key of the k-th largest logit */
    size_t take_equal;  /* how many logits equal to it are selected */
    size_t k;
} topk;

static size_t count_at_least(const float *z, size_t n, uint32_t key)
{
    size_t c = 0;
    for (size_t j = 0; j < n; j++)
        c += order_key(z[j]) >= key;
    return c;
}

static void topk_find(const float *z, size_t n, size_t k, topk *t)
{
    t->k = k;
    uint32_t thr = 0;
    if (k == n) {
        /* Everything is selected: the smallest key is the threshold. */
        thr = UINT32_MAX;
        for (size_t j = 0; j < n; j++) {
            uint32_t key = order_key(z[j]);
            thr = key < thr ? key : thr;
        }
    } else {
        /* Largest thr with at least k keys >= thr, built bit by bit. */
        for (int bit = 31; bit >= 0; bit--) {
            uint32_t cand = thr | (1u << bit);
            if (count_at_least(z, n, cand) >= k)
                thr = cand;
        }
    }
    size_t above = 0;
    for (size_t j = 0; j < n; j++)
        above += order_key(z[j]) > thr;
    t->threshold = thr;
    t->take_equal = k - above;
}

/* Walk the selection in clip order: *taken counts ties selected so far. */
static int topk_selected(const topk *t, float z, size_t *taken)
{
    uint32_t key = order_key(z);
    if (key > t->threshold)
        return 1;
    if (key == t->threshold && *taken < t->take_equal) {
        (*taken)++;
        return 1;
    }
    return 0;
}

/* k = ceil(n / alpha), clamped to 1..n (alpha < 1 asks for more than n;
 * alpha = +inf for fewer than one). */
static size_t topk_count(size_t n, float alpha)
{
    double k = ceil((double)n / (double)alpha);
    if (!(k >= 1.0))
        return 1;
    if (k >= (double)n)
        return n;
    return (size_t)k;
}

/* ---- argument checks ------------------------------------------------------ */

static int check_args(const char *fn, const float *logits, size_t n, int label, int has_alpha,
                      float alpha, const float *loss)
{
    if (!logits)
        return arnet__error(ARNET_E_INVALID, "%s: logits is NULL", fn);
    if (!loss)
        return arnet__error(ARNET_E_INVALID, "%s: loss is NULL", fn);
    if (n == 0)
        return arnet__error(ARNET_E_INVALID, "%s: n is 0 (a video has at least one clip)", fn);
    if (label != 0 && label != 1)
        return arnet__error(ARNET_E_INVALID, "%s: label %d must be 0 or 1", fn, label);
    if (has_alpha && !(alpha > 0.0f))
        return arnet__error(ARNET_E_INVALID, "%s: alpha %g must be > 0", fn, (double)alpha);
    for (size_t j = 0; j < n; j++) {
        if (isnan(logits[j]))
            return arnet__error(ARNET_E_INVALID, "%s: logits[%zu] is NaN", fn, j);
        if (isinf(logits[j]))
            return arnet__error(ARNET_E_INVALID, "%s: logits[%zu] is infinite", fn, j);
    }
    return ARNET_OK;
}

/* Logistic function in double, both branches safe from overflow. */
static double sigmoid_d(double z)
{
    if (z >= 0.0)
        return 1.0 / (1.0 + exp(-z));
    double e = exp(z);
    return e / (1.0 + e);
}

/* ---- dynamic MIL (eq. 3-5) -------------------------------------------------
 * L = (1/k) sum_{selected} -[y log s + (1-y) log(1-s)], with
 * -log s = softplus(-z) and -log(1-s) = softplus(z): never log(0).
 * dL/dz = (s - y) / k on the selected clips. */

int arnet_loss_dmil(const float *logits, size_t n, int label, float alpha, float *loss,
                    float *grad)
{
    int rc = check_args("arnet_loss_dmil", logits, n, label, 1, alpha, loss);
    if (rc)
        return rc;
    topk t;
    topk_find(logits, n, topk_count(n, alpha), &t);
    double sum = 0.0, inv_k = 1.0 / (double)t.k;
    size_t taken = 0;
    for (size_t j = 0; j < n; j++) {
        double z = logits[j];
        if (!topk_selected(&t, logits[j], &taken)) {
            if (grad)
                grad[j] = 0.0f;
            continue;
        }
        sum += arnet__softplus(label ? -z : z);
        if (grad)
            grad[j] = (float)((sigmoid_d(z) - (double)label) * inv_k);
    }
    *loss = (float)(sum * inv_k);
    return ARNET_OK;
}

/* ---- center loss (eq. 6-7) -------------------------------------------------
 * For a normal video, L = (1/n) sum_j (s_j - c)^2 with c the mean score: the
 * biased variance.  dL/ds_j = (2/n)(s_j - c) - (2/n^2) sum_i (s_i - c), and
 * the second term is zero because the deviations from the mean sum to zero,
 * so dL/dz_j = (2/n)(s_j - c) s_j (1 - s_j).  s (1 - s) is computed as
 * sigmoid(z) sigmoid(-z), which stays exact where 1 - s would round to 0. */

int arnet_loss_center(const float *logits, size_t n, int label, float *loss, float *grad)
{
    int rc = check_args("arnet_loss_center", logits, n, label, 0, 1.0f, loss);
    if (rc)
        return rc;
    if (label == 1) {
        *loss = 0.0f;
        if (grad)
            memset(grad, 0, n * sizeof *grad);
        return ARNET_OK;
    }
    double mean = 0.0;
    for (size_t j = 0; j < n; j++)
        mean += sigmoid_d(logits[j]);
    mean /= (double)n;
    double var = 0.0, scale = 2.0 / (double)n;
    for (size_t j = 0; j < n; j++) {
        double s = sigmoid_d(logits[j]), d = s - mean;
        var += d * d;
        if (grad)
            grad[j] = (float)(scale * d * s * sigmoid_d(-(double)logits[j]));
    }
    *loss = (float)(var / (double)n);
    return ARNET_OK;
}

/* ---- k-max MIL baseline ----------------------------------------------------
 * m = mean of the k highest scores, L = -[y log m + (1-y) log(1-m)].
 * Worked in log space so that neither m nor 1 - m is ever rounded to 0 or 1:
 * with a_i = log s_i = -softplus(-z_i) (label 1) or a_i = log(1 - s_i) =
 * -softplus(z_i) (label 0), L = log k - logsumexp(a).  With the softmax
 * weights w_i = exp(a_i) / sum exp(a), the gradient is
 *   label 1: dL/dz_j = -w_j (1 - s_j)      (d log s / dz = 1 - s)
 *   label 0: dL/dz_j =  w_j s_j            (d log(1-s) / dz = -s)
 * which equals -(1/k) s_j (1-s_j) / m and (1/k) s_j (1-s_j) / (1-m), and
 * stays finite and exact for logits of +-1e4. */

static double kmax_term(float z, int label)
{
    return -arnet__softplus(label ? -(double)z : (double)z);
}

int arnet_loss_kmax_mil(const float *logits, size_t n, int label, float alpha, float *loss,
                        float *grad)
{
    int rc = check_args("arnet_loss_kmax_mil", logits, n, label, 1, alpha, loss);
    if (rc)
        return rc;
    topk t;
    topk_find(logits, n, topk_count(n, alpha), &t);
    double amax = -HUGE_VAL;
    size_t taken = 0;
    for (size_t j = 0; j < n; j++)
        if (topk_selected(&t, logits[j], &taken)) {
            double a = kmax_term(logits[j], label);
            amax = a > amax ? a : amax;
        }
    double sum = 0.0;
    taken = 0;
    for (size_t j = 0; j < n; j++)
        if (topk_selected(&t, logits[j], &taken))
            sum += exp(kmax_term(logits[j], label) - amax);
    /* sum >= 1 (the largest term contributes exp(0)).  Each a_i <= 0, so
     * the exact value is >= 0: clamp away a rounding-sized negative. */
    double l = log((double)t.k) - (amax + log(sum));
    *loss = (float)(l > 0.0 ? l : 0.0);
    if (!grad)
        return ARNET_OK;
    taken = 0;
    for (size_t j = 0; j < n; j++) {
        if (!topk_selected(&t, logits[j], &taken)) {
            grad[j] = 0.0f;
            continue;
        }
        double z = logits[j];
        double w = exp(kmax_term(logits[j], label) - amax) / sum;
        grad[j] = (float)(label ? -w * sigmoid_d(-z) : w * sigmoid_d(z));
    }
    return ARNET_OK;
}
