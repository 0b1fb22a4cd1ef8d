/* backward.c -- one training pass over a packed batch: forward with inverted
 * dropout, the per-video loss kernels and their reduction, and the gradients
 * of W1, b1, w2, b2 (all matrix products through BLIS).
 *
 * Packing: the clips of all videos of a step are stacked row after row, so
 * each layer is one GEMM over exactly the clips that exist (no padding).
 * The input features get no gradient: they are not trained. */
#include <math.h>
#include <string.h>

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

/* Z1 = X W1^T + b1, A = ReLU(Z1), A_d = A * mask (kept units scaled by
 * 1 / (1 - p), dropped ones 0), logits = A_d w2 + b2.  hidden keeps A_d. */
static void forward(const arnet_model *m, const arnet__batch *b, arnet__rng *dropout_rng,
                    const arnet__pass_scratch *ws)
{
    size_t F = m->feature_dim, H = m->hidden_dim, n = b->n_rows;
    float *hidden = ws->hidden;
    for (size_t i = 0; i < n; i++)
        memcpy(hidden + i * H, m->b1, H * sizeof(float));
    arnet__sgemm_team(ws->team, 0, 1, n, H, F, 1.0f, b->x, F, m->w1, F, 1.0f, hidden, H, NULL);
    float p = m->cfg.dropout;
    if (dropout_rng && p > 0.0f) {
        /* torch's inverted dropout: the mask holds 1 / (1 - p) or 0 and the
         * activation is multiplied by it.  One draw per element, whatever
         * its value, so the generator advances by n * H every step. */
        float scale = 1.0f / (1.0f - p);
        uint64_t threshold = keep_threshold(p);
        for (size_t i = 0; i < n * H; i++) {
            /* Selects, not branches: the mask is random, so branches on
             * it would be mispredicted half the time. */
            float mask = kept(arnet__rng_next(dropout_rng), threshold) ? scale : 0.0f;
            float a = hidden[i] > 0.0f ? hidden[i] : 0.0f;
            hidden[i] = a * mask;
        }
    } else {
        for (size_t i = 0; i < n * H; i++)
            hidden[i] = hidden[i] > 0.0f ? hidden[i] : 0.0f;
    }
    /* Second layer as a GEMM with one column (as the scorer does): a row's
     * result does not depend on how many rows there are. */
    for (size_t i = 0; i < n; i++)
        ws->logits[i] = m->b2;
    arnet__sgemm(0, 0, n, 1, H, 1.0f, hidden, H, m->w2, 1, 1.0f, ws->logits, 1, 1);
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

/* dw2 = A_d^T dlogits, db2 = sum dlogits, dZ1 = (dlogits w2^T) * mask *
 * ReLU'(Z1), dW1 = dZ1^T X, db1 = column sums of dZ1. */
static void backward(const arnet_model *m, const arnet__batch *b, arnet__rng *dropout_rng,
                     const arnet__pass_scratch *ws, float *grad)
{
    size_t F = m->feature_dim, H = m->hidden_dim, n = b->n_rows;
    float *g_w1 = grad, *g_b1 = grad + H * F, *g_w2 = g_b1 + H, *g_b2 = g_w2 + H;
    float *hidden = ws->hidden;
    const float *dl = ws->dlogits;
    arnet__sgemm(1, 0, H, 1, n, 1.0f, hidden, H, dl, 1, 0.0f, g_w2, 1, 1);
    double db2 = 0.0;
    for (size_t i = 0; i < n; i++)
        db2 += dl[i];
    *g_b2 = (float)db2;
    /* A_d > 0 exactly when the unit was kept and Z1 > 0 (a positive float
     * times a scale >= 1 never rounds to 0), so A_d alone tells where the
     * gradient passes: no mask needs to be stored. */
    float scale = 1.0f;
    if (dropout_rng && m->cfg.dropout > 0.0f)
        scale = 1.0f / (1.0f - m->cfg.dropout);
    const float *w2 = m->w2;
    for (size_t i = 0; i < n; i++) {
        float *row = hidden + i * H;
        float d = dl[i];
        for (size_t j = 0; j < H; j++) {
            float g = d * w2[j] * scale;
            row[j] = row[j] > 0.0f ? g : 0.0f;
        }
    }
    arnet__sgemm_team(ws->team, 1, 0, H, F, n, 1.0f, hidden, H, b->x, F, 0.0f, g_w1, F,
                      ws->team_scratch);
    double *cs = ws->colsum;
    for (size_t j = 0; j < H; j++)
        cs[j] = 0.0;
    for (size_t i = 0; i < n; i++) {
        const float *row = hidden + i * H;
        for (size_t j = 0; j < H; j++)
            cs[j] += row[j];
    }
    for (size_t j = 0; j < H; j++)
        g_b1[j] = (float)cs[j];
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
