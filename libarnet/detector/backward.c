/* backward.c -- one training pass over a packed batch: forward with inverted
 * dropout, the per-video loss kernels and their reduction, and the gradients
 * of W1, b1, w2, b2 (all matrix products through BLIS).
 *
 * Packing: the clips of all videos of a step are stacked row after row, so
 * each layer is one GEMM over exactly the clips that exist (no padding).
 * The input features get no gradient: they are not trained. */
#include <math.h>
#include <string.h>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include "detector_int.h"
#include "internal.h"

size_t arnet__param_count(const arnet_model *m)
{
    size_t H = m->hidden_dim, F = m->feature_dim;
    return H * F + 2 * H + 1;
}

/* uniform = (next >> 11) * 2^-53 >= p exactly when next >> 11 >= ceil(p 2^53)
 * (p 2^53 is exact in double): the integer test the hot loop uses. */
static uint64_t keep_threshold(float p) { return (uint64_t)ceil((double)p * 0x1.0p53); }

/* Whether a draw keeps its unit: the one rule, for the hot loop below
 * (threshold computed once) and for arnet__dropout_keep. */
static inline int kept(uint64_t draw, uint64_t threshold) { return (draw >> 11) >= threshold; }

int arnet__dropout_keep(arnet__rng *r, float p)
{
    return kept(arnet__rng_next(r), keep_threshold(p));
}

/* Work of the passes over the n x H activations, shared by ws->team in
 * chunks of rows or of columns (arnet__team_for): every element and every
 * column sum is computed as one thread computes it, in the same order, so
 * the team's size does not change a bit of the result. */
typedef struct pass_job {
    const arnet_model *m;
    const arnet__batch *b;
    const arnet__pass_scratch *ws;
    arnet__rng *rng;
    uint64_t threshold;
    float scale; /* kept units' factor; 0: no dropout */
    float *grad;
    const float (*factors)[8]; /* forward with dropout: eight mask bits -> eight factors */
    const size_t *nonzero; /* backward: the rows whose logit gradient is not 0, or NULL: all */
    size_t n_nonzero;
} pass_job;

/* Rows of a chunk of the passes over the activations: 64 rows of 2,048
 * units are 512 KB, in the cache for the second layer's product. */
#define ROWS_PER_CHUNK 64
/* Columns of a chunk of the backward pass: half a kilobyte of each row
 * (fixed, so the chunks are the same whatever the team's size). */
#define COLS_PER_CHUNK 128

/* The dropout mask, one draw per element whatever its value, so the
 * generator advances by n * H every step; drawn while the team runs the
 * first layer's product, which does not touch it. */
static void draw_mask(void *arg)
{
    const pass_job *j = arg;
    arnet__rng_bits_at_least(j->rng, j->threshold, j->ws->keep,
                             j->b->n_rows * j->m->hidden_dim);
}

/* One unit: bias, ReLU, dropout factor. */
static inline float activate(float z, float bias, float factor)
{
    float a = z + bias;
    return (a > 0.0f ? a : 0.0f) * factor;
}

/* Unit e's dropout factor (1 without dropout). */
static inline float unit_factor(const pass_job *j, size_t e)
{
    if (!j->factors)
        return 1.0f;
    return (j->ws->keep[e >> 6] >> (e & 63)) & 1 ? j->scale : 0.0f;
}

/* b1, ReLU and dropout on rows [lo, hi), then their logits. */
static void activate_rows(void *arg, size_t lo, size_t hi)
{
    const pass_job *j = arg;
    size_t H = j->m->hidden_dim;
    const float *b1 = j->m->b1;
    const uint64_t *keep = j->ws->keep;
    /* torch's inverted dropout: the mask holds 1 / (1 - p) or 0 and the
     * activation is multiplied by it; without dropout the factor is 1.
     * Eight mask bits at a time become eight factors from a table: no
     * branch on the random mask, no shift per unit. */
    const float (*table)[8] = j->factors;
    static const float ones[8] = {1.0f, 1.0f, 1.0f, 1.0f, 1.0f, 1.0f, 1.0f, 1.0f};
    for (size_t i = lo; i < hi; i++) {
        float *h = j->ws->hidden + i * H;
        size_t e0 = i * H, c = 0;
        for (; c < H && ((e0 + c) & 7); c++)
            h[c] = activate(h[c], b1[c], unit_factor(j, e0 + c));
        for (; c + 8 <= H; c += 8) {
            const float *f = table ? table[(keep[(e0 + c) >> 6] >> ((e0 + c) & 63)) & 0xff] : ones;
#if defined(__SSE2__)
            /* maxps(a, 0) is a > 0 ? a : 0, exactly activate's select
             * (NaN and -0 give +0), without the branch the compiler makes
             * of the select, mispredicted on half the units. */
            __m128 zero = _mm_setzero_ps();
            for (int k = 0; k < 8; k += 4) {
                __m128 a = _mm_add_ps(_mm_loadu_ps(h + c + k), _mm_loadu_ps(b1 + c + k));
                _mm_storeu_ps(h + c + k, _mm_mul_ps(_mm_max_ps(a, zero), _mm_loadu_ps(f + k)));
            }
#else
            for (int k = 0; k < 8; k++)
                h[c + k] = activate(h[c + k], b1[c + k], f[k]);
#endif
        }
        for (; c < H; c++)
            h[c] = activate(h[c], b1[c], unit_factor(j, e0 + c));
    }
    /* Second layer: a matrix times a vector, on the rows just activated
     * (still in the cache); the chunks are the same whatever the team's
     * size. */
    for (size_t i = lo; i < hi; i++)
        j->ws->logits[i] = j->m->b2;
    arnet__sgemv(0, hi - lo, H, 1.0f, j->ws->hidden + lo * H, H, j->m->w2, 1.0f,
                 j->ws->logits + lo);
}

/* Z1 = X W1^T + b1, A = ReLU(Z1), A_d = A * mask (kept units scaled by
 * 1 / (1 - p), dropped ones 0), logits = A_d w2 + b2.  hidden keeps A_d.
 * b1 is added in the pass that applies ReLU and the mask, not put in
 * hidden for the product to add to: one pass over the n x H activations
 * fewer. */
static void forward(const arnet_model *m, const arnet__batch *b, arnet__rng *dropout_rng,
                    const arnet__pass_scratch *ws)
{
    size_t F = m->feature_dim, H = m->hidden_dim, n = b->n_rows;
    float p = m->cfg.dropout;
    int dropout = dropout_rng && p > 0.0f;
    pass_job j = {m, b, ws, dropout_rng, dropout ? keep_threshold(p) : 0,
                  dropout ? 1.0f / (1.0f - p) : 0.0f, NULL, NULL, NULL, n};
    float factors[256][8];
    if (dropout) {
        for (int byte = 0; byte < 256; byte++)
            for (int k = 0; k < 8; k++)
                factors[byte][k] = (byte >> k) & 1 ? j.scale : 0.0f;
        j.factors = (const float (*)[8])factors;
    }
    arnet__sgemm_team_side(ws->team, 0, 1, n, H, F, 1.0f, b->x, F, m->w1, F, 0.0f, ws->hidden,
                           H, NULL, dropout ? draw_mask : NULL, &j);
    arnet__team_for(ws->team, n, ROWS_PER_CHUNK, activate_rows, &j);
}

static size_t top_k(size_t n, float alpha)
{
    double k = ceil((double)n / (double)alpha);
    if (!(k >= 1.0))
        return 1;
    return k >= (double)n ? n : (size_t)k;
}

/* Per-video losses and dLoss/dlogits for the whole batch.  Video reduction
 * (eq. 5): L_DMIL = mean over videos, L_c = mean over normal videos.
 * Instance reduction (the authors' code): L_DMIL = sum of the BCE of every
 * selected clip over the number of selected clips, i.e. video i weighted by
 * k_i / sum k; the center loss stays a mean over normal videos. */
static int loss_and_grad(const arnet__batch *b, const arnet__loss_spec *spec,
                         const arnet__pass_scratch *ws, arnet_step_stats *st)
{
    size_t n_normal = 0, k_total = 0;
    for (size_t i = 0; i < b->n_videos; i++) {
        n_normal += b->labels[i] == 0;
        k_total += top_k(b->rows[i], spec->alpha);
    }
    int use_center = spec->loss == ARNET_LOSS_DMIL_CENTER;
    double sum_mil = 0.0, sum_center = 0.0;
    size_t row0 = 0;
    for (size_t i = 0; i < b->n_videos; i++) {
        size_t n = b->rows[i];
        int y = b->labels[i];
        const float *z = ws->logits + row0;
        float *g = ws->dlogits + row0;
        double w_mil = spec->reduce == ARNET_REDUCE_INSTANCE
                           ? (double)top_k(n, spec->alpha) / (double)k_total
                           : 1.0 / (double)b->n_videos;
        float l_mil = 0.0f;
        int rc = spec->loss == ARNET_LOSS_KMAX_MIL
                     ? arnet_loss_kmax_mil(z, n, y, spec->alpha, &l_mil, g)
                     : arnet_loss_dmil(z, n, y, spec->alpha, &l_mil, g);
        if (rc)
            return rc;
        sum_mil += w_mil * (double)l_mil;
        float fw_mil = (float)w_mil;
        if (use_center && y == 0) {
            float l_c = 0.0f;
            rc = arnet_loss_center(z, n, y, &l_c, ws->tmp);
            if (rc)
                return rc;
            double w_c = 1.0 / (double)n_normal;
            sum_center += w_c * (double)l_c;
            float fw_c = (float)(w_c * (double)spec->lambda);
            for (size_t j = 0; j < n; j++)
                g[j] = fw_mil * g[j] + fw_c * ws->tmp[j];
        } else {
            for (size_t j = 0; j < n; j++)
                g[j] = fw_mil * g[j];
        }
        row0 += n;
    }
    if (st) {
        st->loss_dmil = sum_mil;
        st->loss_center = sum_center;
        st->loss = sum_mil + (double)spec->lambda * sum_center;
    }
    return ARNET_OK;
}

/* Columns [lo, hi) of the backward pass: their part of dw2 = A_d^T
 * dlogits, then dZ1 = (dlogits w2^T) * mask * ReLU'(Z1) in place of A_d,
 * and db1 = the column sums of dZ1 (in double, in row order).  With
 * j->nonzero, only those rows of dZ1 (the others are 0 and add nothing)
 * are computed, stored packed: row nonzero[r] of A_d becomes row r of dZ1.
 * r <= nonzero[r] and rows go in order, so a row is read before it is
 * overwritten; other chunks touch other columns. */
static void backward_columns(void *arg, size_t lo, size_t hi)
{
    const pass_job *j = arg;
    size_t H = j->m->hidden_dim, F = j->m->feature_dim, n = j->b->n_rows;
    float *g_b1 = j->grad + H * F, *g_w2 = g_b1 + H;
    float *hidden = j->ws->hidden;
    const float *dl = j->ws->dlogits, *w2 = j->m->w2;
    for (size_t c = lo; c < hi; c++)
        g_w2[c] = 0.0f;
    arnet__sgemv(1, n, hi - lo, 1.0f, hidden + lo, H, dl, 1.0f, g_w2 + lo);
    /* A_d > 0 exactly when the unit was kept and Z1 > 0 (a positive float
     * times a scale >= 1 never rounds to 0), so A_d alone tells where the
     * gradient passes: the mask is not read again. */
    float scale = j->scale > 0.0f ? j->scale : 1.0f;
    double *cs = j->ws->colsum;
    for (size_t c = lo; c < hi; c++)
        cs[c] = 0.0;
    for (size_t r = 0; r < j->n_nonzero; r++) {
        size_t i = j->nonzero ? j->nonzero[r] : r;
        const float *row = hidden + i * H;
        float *out = hidden + r * H;
        float d = dl[i];
        size_t c = lo;
#if defined(__SSE2__)
        /* The same operations four units at a time: the select as a mask
         * (g or +0), no branch on the sign of the activation. */
        __m128 dv = _mm_set1_ps(d), sv = _mm_set1_ps(scale), zero = _mm_setzero_ps();
        for (; c + 4 <= hi; c += 4) {
            __m128 g = _mm_mul_ps(_mm_mul_ps(dv, _mm_loadu_ps(w2 + c)), sv);
            __m128 v = _mm_and_ps(_mm_cmpgt_ps(_mm_loadu_ps(row + c), zero), g);
            _mm_storeu_ps(out + c, v);
            _mm_storeu_pd(cs + c, _mm_add_pd(_mm_loadu_pd(cs + c), _mm_cvtps_pd(v)));
            _mm_storeu_pd(cs + c + 2, _mm_add_pd(_mm_loadu_pd(cs + c + 2),
                                                 _mm_cvtps_pd(_mm_movehl_ps(v, v))));
        }
#endif
        for (; c < hi; c++) {
            float g = d * w2[c] * scale;
            out[c] = row[c] > 0.0f ? g : 0.0f;
            cs[c] += out[c];
        }
    }
    for (size_t c = lo; c < hi; c++)
        g_b1[c] = (float)cs[c];
}

/* Rows [lo, hi) of the packed copy of X's rows that have a gradient. */
static void pack_rows(void *arg, size_t lo, size_t hi)
{
    const pass_job *j = arg;
    size_t F = j->m->feature_dim;
    for (size_t r = lo; r < hi; r++)
        memcpy(j->ws->x_nonzero + r * F, j->b->x + j->nonzero[r] * F, F * sizeof(float));
}

/* dw2 = A_d^T dlogits, db2 = sum dlogits, dZ1 = (dlogits w2^T) * mask *
 * ReLU'(Z1), dW1 = dZ1^T X, db1 = column sums of dZ1.
 *
 * A row whose logit gradient is 0 has a zero row of dZ1 and adds nothing
 * to dW1: with the DMIL loss that is every clip of an anomalous video
 * outside its top k (3/4 of them at alpha = 4), over a third of a step's
 * clips.  When ws has room for it, the product runs on the other rows only
 * (packed, with their rows of X), a third fewer multiply-adds for the
 * cost of copying those rows: the same sum without its zero terms, in
 * other blocks of BLIS's k loop (so not always the same last bit). */
static void backward(const arnet_model *m, const arnet__batch *b, arnet__rng *dropout_rng,
                     const arnet__pass_scratch *ws, float *grad)
{
    size_t F = m->feature_dim, H = m->hidden_dim, n = b->n_rows;
    float *g_w1 = grad, *g_b2 = grad + H * F + 2 * H;
    const float *dl = ws->dlogits;
    double db2 = 0.0;
    for (size_t i = 0; i < n; i++)
        db2 += dl[i];
    *g_b2 = (float)db2;
    int dropout = dropout_rng && m->cfg.dropout > 0.0f;
    pass_job j = {m, b, ws, NULL, 0, dropout ? 1.0f / (1.0f - m->cfg.dropout) : 0.0f, grad,
                  NULL, NULL, n};
    const float *x = b->x;
    if (ws->nonzero && ws->x_nonzero) {
        size_t r = 0;
        for (size_t i = 0; i < n; i++)
            if (dl[i] != 0.0f)
                ws->nonzero[r++] = i;
        if (n - r >= n / 16 && n - r > 0) { /* enough to pay for the copy */
            j.nonzero = ws->nonzero;
            j.n_nonzero = r;
            x = ws->x_nonzero;
        }
    }
    arnet__team_for(ws->team, H, COLS_PER_CHUNK, backward_columns, &j);
    if (j.nonzero)
        arnet__team_for(ws->team, j.n_nonzero, ROWS_PER_CHUNK, pack_rows, &j);
    if (j.n_nonzero == 0) {
        memset(g_w1, 0, H * F * sizeof(float));
        return;
    }
    arnet__sgemm_team(ws->team, 1, 0, H, F, j.n_nonzero, 1.0f, ws->hidden, H, x, F, 0.0f, g_w1,
                      F, ws->team_scratch);
}

int arnet__train_pass(const arnet_model *m, const arnet__batch *b, const arnet__loss_spec *spec,
                      arnet__rng *dropout_rng, const arnet__pass_scratch *ws, float *grad,
                      arnet_step_stats *st)
{
    forward(m, b, dropout_rng, ws);
    int rc = loss_and_grad(b, spec, ws, st);
    if (rc)
        return rc;
    backward(m, b, dropout_rng, ws, grad);
    return ARNET_OK;
}
