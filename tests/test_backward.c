/* test_backward.c -- the training pass over a packed batch: gradients of
 * every parameter against central finite differences of an independent
 * double-precision forward pass (every loss variant and reduction, dropout
 * off and on), packing against one video at a time, the dropout mask's
 * generator use, and the forward against the scorer. */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "detector_int.h"
#include "internal.h"

#define F 6
#define H 5
#define NV 6

static const size_t LENS[NV] = {1, 3, 9, 4, 7, 2};
static const int LABELS[NV] = {0, 1, 0, 1, 1, 0};

typedef struct fixture {
    arnet_model *m;
    float *x;
    size_t n_rows;
    arnet__batch batch;
    arnet__pass_scratch ws;
    float *grad;
} fixture;

static void fixture_init(fixture *f, uint64_t seed)
{
    arnet_model_config cfg;
    arnet_model_config_init(&cfg);
    cfg.feature_dim = F;
    cfg.hidden_dim = H;
    cfg.dropout = 0.5f;
    cfg.seed = seed;
    ck_assert_int_eq(arnet_model_create(&cfg, &f->m), ARNET_OK);
    arnet__rng r;
    arnet__rng_seed(&r, seed + 77);
    float b1[H], b2 = 0.3f;
    for (int j = 0; j < H; j++)
        b1[j] = (float)(arnet__rng_uniform(&r) * 0.6 - 0.2);
    ck_assert_int_eq(arnet_model_set_params(f->m, NULL, b1, NULL, &b2), ARNET_OK);
    f->n_rows = 0;
    for (int i = 0; i < NV; i++)
        f->n_rows += LENS[i];
    f->x = malloc(f->n_rows * F * sizeof(float));
    for (size_t i = 0; i < f->n_rows * F; i++)
        f->x[i] = (float)arnet__rng_normal(&r);
    f->batch = (arnet__batch){NV, LENS, LABELS, f->n_rows, f->x};
    f->ws.hidden = malloc(f->n_rows * H * sizeof(float));
    f->ws.logits = malloc(f->n_rows * sizeof(float));
    f->ws.dlogits = malloc(f->n_rows * sizeof(float));
    f->ws.tmp = malloc(f->n_rows * sizeof(float));
    f->ws.colsum = malloc(H * sizeof(double));
    f->ws.team = NULL;
    f->ws.team_scratch = NULL;
    f->ws.keep = malloc((f->n_rows * H + 63) / 64 * sizeof(uint64_t));
    f->ws.nonzero = malloc(f->n_rows * sizeof(size_t));
    f->ws.x_nonzero = malloc(f->n_rows * F * sizeof(float));
    f->grad = malloc(arnet__param_count(f->m) * sizeof(float));
}

static void fixture_free(fixture *f)
{
    arnet_model_free(f->m);
    free(f->x);
    free(f->ws.hidden);
    free(f->ws.logits);
    free(f->ws.dlogits);
    free(f->ws.tmp);
    free(f->ws.colsum);
    free(f->ws.keep);
    free(f->ws.nonzero);
    free(f->ws.x_nonzero);
    free(f->grad);
}

/* ---- independent double-precision reference --------------------------------- */

static double sp(double z) { return z > 0 ? z + log1p(exp(-z)) : log1p(exp(z)); }
static double sig(double z) { return 1.0 / (1.0 + exp(-z)); }

static size_t kcount(size_t n, double alpha)
{
    size_t k = (size_t)ceil((double)n / alpha);
    return k < 1 ? 1 : k > n ? n : k;
}

/* Indices of the k largest logits, ties to the lower index (selection sort). */
static void topk_idx(const double *z, size_t n, size_t k, size_t *idx)
{
    int used[64] = {0};
    for (size_t a = 0; a < k; a++) {
        size_t best = n;
        for (size_t j = 0; j < n; j++)
            if (!used[j] && (best == n || z[j] > z[best]))
                best = j;
        used[best] = 1;
        idx[a] = best;
    }
}

static double ref_mil(const double *z, size_t n, int y, int loss, double alpha)
{
    size_t k = kcount(n, alpha), idx[64];
    topk_idx(z, n, k, idx);
    if (loss == ARNET_LOSS_KMAX_MIL) {
        double p = 0;
        for (size_t a = 0; a < k; a++)
            p += sig(z[idx[a]]);
        p /= (double)k;
        return y ? -log(p) : -log(1 - p);
    }
    double s = 0;
    for (size_t a = 0; a < k; a++)
        s += sp(y ? -z[idx[a]] : z[idx[a]]);
    return s / (double)k;
}

static double ref_center(const double *z, size_t n)
{
    double c = 0, v = 0;
    for (size_t j = 0; j < n; j++)
        c += sig(z[j]);
    c /= (double)n;
    for (size_t j = 0; j < n; j++)
        v += (sig(z[j]) - c) * (sig(z[j]) - c);
    return v / (double)n;
}

/* params: flat [W1 | b1 | w2 | b2] in double; keep: n_rows x H or NULL. */
static double ref_loss(const double *pr, const float *x, size_t n_rows, const uint8_t *keep,
                       double p, const arnet__loss_spec *spec, double *mil_out,
                       double *center_out)
{
    const double *w1 = pr, *b1 = pr + H * F, *w2 = b1 + H, b2 = w2[H];
    double z[64];
    for (size_t i = 0; i < n_rows; i++) {
        double acc = b2;
        for (int j = 0; j < H; j++) {
            double a = b1[j];
            for (int q = 0; q < F; q++)
                a += w1[j * F + q] * (double)x[i * F + q];
            a = a > 0 ? a : 0;
            if (keep)
                a = keep[i * H + j] ? a / (1.0 - p) : 0.0;
            acc += a * w2[j];
        }
        z[i] = acc;
    }
    double mil = 0, center = 0;
    size_t row0 = 0, n_normal = 0, ktot = 0;
    for (int i = 0; i < NV; i++) {
        n_normal += LABELS[i] == 0;
        ktot += kcount(LENS[i], spec->alpha);
    }
    for (int i = 0; i < NV; i++) {
        double l = ref_mil(z + row0, LENS[i], LABELS[i], spec->loss, spec->alpha);
        mil += spec->reduce == ARNET_REDUCE_INSTANCE
                   ? l * (double)kcount(LENS[i], spec->alpha) / (double)ktot
                   : l / NV;
        if (spec->loss == ARNET_LOSS_DMIL_CENTER && LABELS[i] == 0)
            center += ref_center(z + row0, LENS[i]) / (double)n_normal;
        row0 += LENS[i];
    }
    if (mil_out)
        *mil_out = mil;
    if (center_out)
        *center_out = center;
    return mil + spec->lambda * center;
}

static void params_double(const arnet_model *m, double *pr)
{
    size_t k = 0;
    for (size_t i = 0; i < (size_t)H * F; i++)
        pr[k++] = m->w1[i];
    for (int j = 0; j < H; j++)
        pr[k++] = m->b1[j];
    for (int j = 0; j < H; j++)
        pr[k++] = m->w2[j];
    pr[k] = m->b2;
}

/* ---- tests ---------------------------------------------------------------------- */

static void check_gradients(int loss, int reduce, int dropout)
{
    fixture f;
    fixture_init(&f, 11);
    arnet__loss_spec spec = {loss, reduce, 4.0f, 20.0f};
    const uint64_t mask_seed = 2024;
    uint8_t keep[64 * H];
    arnet__rng r;
    arnet__rng_seed(&r, mask_seed);
    int kept = 0;
    for (size_t i = 0; i < f.n_rows * H; i++)
        kept += keep[i] = (uint8_t)arnet__dropout_keep(&r, f.m->cfg.dropout);
    ck_assert_int_gt(kept, 0);
    ck_assert_int_lt(kept, (int)(f.n_rows * H));

    arnet_step_stats st;
    arnet_step_stats_init(&st);
    arnet__rng_seed(&r, mask_seed);
    ck_assert_int_eq(arnet__train_pass(f.m, &f.batch, &spec, dropout ? &r : NULL, &f.ws, f.grad,
                                       &st),
                     ARNET_OK);

    size_t np = arnet__param_count(f.m);
    ck_assert_uint_eq(np, H * F + 2 * H + 1);
    double pr[H * F + 2 * H + 1], mil, center;
    params_double(f.m, pr);
    const uint8_t *kp = dropout ? keep : NULL;
    double p = f.m->cfg.dropout;
    double l0 = ref_loss(pr, f.x, f.n_rows, kp, p, &spec, &mil, &center);
    ck_assert_double_eq_tol(st.loss, l0, 1e-5 * (1 + fabs(l0)));
    ck_assert_double_eq_tol(st.loss_dmil, mil, 1e-5 * (1 + fabs(mil)));
    ck_assert_double_eq_tol(st.loss_center, center, 1e-5 * (1 + fabs(center)));
    if (loss != ARNET_LOSS_DMIL_CENTER)
        ck_assert_double_eq(st.loss_center, 0.0);

    const double h = 1e-6;
    int nonzero = 0;
    for (size_t k = 0; k < np; k++) {
        double keepv = pr[k];
        pr[k] = keepv + h;
        double lp = ref_loss(pr, f.x, f.n_rows, kp, p, &spec, NULL, NULL);
        pr[k] = keepv - h;
        double lm = ref_loss(pr, f.x, f.n_rows, kp, p, &spec, NULL, NULL);
        pr[k] = keepv;
        double fd = (lp - lm) / (2 * h);
        double tol = 2e-5 + 1e-4 * fabs(fd);
        if (fabs(f.grad[k] - fd) > tol)
            ck_abort_msg("loss %d reduce %d dropout %d: parameter %zu: grad %.8g, finite "
                         "difference %.8g",
                         loss, reduce, dropout, k, (double)f.grad[k], fd);
        nonzero += fabs(fd) > 1e-4;
    }
    /* Most parameters take part (a check that can fail if, say, a whole
     * gradient stayed zero while the reference also saw none). */
    ck_assert_int_gt(nonzero, (int)np / 2);
    fixture_free(&f);
}

START_TEST(gradients_match_finite_differences)
{
    int loss = _i / 4, reduce = (_i / 2) % 2, dropout = _i % 2;
    check_gradients(loss, reduce, dropout);
}
END_TEST

START_TEST(packing_equals_one_video_at_a_time)
{
    fixture f;
    fixture_init(&f, 5);
    size_t np = arnet__param_count(f.m);
    arnet__loss_spec spec = {ARNET_LOSS_DMIL, ARNET_REDUCE_VIDEO, 4.0f, 20.0f};
    arnet_step_stats st;
    arnet_step_stats_init(&st);
    ck_assert_int_eq(arnet__train_pass(f.m, &f.batch, &spec, NULL, &f.ws, f.grad, &st),
                     ARNET_OK);
    double *sum = calloc(np, sizeof(double));
    float *g1 = malloc(np * sizeof(float));
    double mil = 0;
    size_t row0 = 0;
    for (int i = 0; i < NV; i++) {
        arnet__batch one = {1, &LENS[i], &LABELS[i], LENS[i], f.x + row0 * F};
        arnet_step_stats s1;
        arnet_step_stats_init(&s1);
        ck_assert_int_eq(arnet__train_pass(f.m, &one, &spec, NULL, &f.ws, g1, &s1),
                         ARNET_OK);
        for (size_t k = 0; k < np; k++)
            sum[k] += g1[k] / (double)NV;
        mil += s1.loss_dmil / NV;
        row0 += LENS[i];
    }
    ck_assert_double_eq_tol(st.loss_dmil, mil, 1e-6);
    for (size_t k = 0; k < np; k++)
        ck_assert_double_eq_tol(f.grad[k], sum[k], 1e-6 + 1e-5 * fabs(sum[k]));

    /* With the center loss, the reported parts are means over all videos
     * and over normal videos respectively. */
    spec.loss = ARNET_LOSS_DMIL_CENTER;
    ck_assert_int_eq(arnet__train_pass(f.m, &f.batch, &spec, NULL, &f.ws, f.grad, &st),
                     ARNET_OK);
    double c = 0, nn = 0;
    mil = 0;
    row0 = 0;
    for (int i = 0; i < NV; i++) {
        arnet__batch one = {1, &LENS[i], &LABELS[i], LENS[i], f.x + row0 * F};
        arnet_step_stats s1;
        arnet_step_stats_init(&s1);
        ck_assert_int_eq(arnet__train_pass(f.m, &one, &spec, NULL, &f.ws, g1, &s1),
                         ARNET_OK);
        mil += s1.loss_dmil / NV;
        if (LABELS[i] == 0) {
            c += s1.loss_center;
            nn++;
        } else {
            ck_assert_double_eq(s1.loss_center, 0.0);
        }
        row0 += LENS[i];
    }
    ck_assert_double_eq_tol(st.loss_dmil, mil, 1e-6);
    ck_assert_double_eq_tol(st.loss_center, c / nn, 1e-6);
    ck_assert_double_eq_tol(st.loss, mil + 20.0 * c / nn, 1e-5);
    free(sum);
    free(g1);
    fixture_free(&f);
}
END_TEST

START_TEST(dropout_uses_one_draw_per_hidden_unit)
{
    fixture f;
    fixture_init(&f, 3);
    arnet__loss_spec spec = {ARNET_LOSS_DMIL_CENTER, ARNET_REDUCE_VIDEO, 4.0f, 20.0f};
    arnet__rng r, ref;
    arnet__rng_seed(&r, 9);
    arnet__rng_seed(&ref, 9);
    ck_assert_int_eq(arnet__train_pass(f.m, &f.batch, &spec, &r, &f.ws, f.grad, NULL),
                     ARNET_OK);
    for (size_t i = 0; i < f.n_rows * H; i++)
        (void)arnet__rng_next(&ref);
    ck_assert_mem_eq(r.s, ref.s, sizeof r.s);
    /* Keep probability 1 - p: about half of 100000 draws at p = 0.5, and
     * about 30 % at the paper's p = 0.7. */
    int kept = 0, kept7 = 0;
    for (int i = 0; i < 100000; i++) {
        kept += arnet__dropout_keep(&r, 0.5f);
        kept7 += arnet__dropout_keep(&r, 0.7f);
    }
    ck_assert_int_gt(kept, 49000);
    ck_assert_int_lt(kept, 51000);
    ck_assert_int_gt(kept7, 29000);
    ck_assert_int_lt(kept7, 31000);
    fixture_free(&f);
}
END_TEST

START_TEST(forward_without_dropout_equals_scoring)
{
    fixture f;
    fixture_init(&f, 4);
    arnet__loss_spec spec = {ARNET_LOSS_DMIL, ARNET_REDUCE_VIDEO, 4.0f, 20.0f};
    ck_assert_int_eq(arnet__train_pass(f.m, &f.batch, &spec, NULL, &f.ws, f.grad, NULL),
                     ARNET_OK);
    float *s = malloc(f.n_rows * sizeof(float));
    ck_assert_int_eq(arnet_model_score(f.m, f.x, f.n_rows, s), ARNET_OK);
    for (size_t i = 0; i < f.n_rows; i++)
        ck_assert_float_eq_tol(arnet__sigmoid(f.ws.logits[i]), s[i], 1e-6f);
    free(s);
    fixture_free(&f);
}
END_TEST

START_TEST(two_threads_give_the_same_gradient_every_time)
{
    fixture f;
    fixture_init(&f, 8);
    size_t np = arnet__param_count(f.m);
    arnet__loss_spec spec = {ARNET_LOSS_DMIL_CENTER, ARNET_REDUCE_INSTANCE, 4.0f, 20.0f};
    float *g = malloc(np * sizeof(float)), *g1 = malloc(np * sizeof(float));
    arnet__rng r;
    arnet__rng_seed(&r, 1);
    ck_assert_int_eq(arnet__train_pass(f.m, &f.batch, &spec, &r, &f.ws, g1, NULL), ARNET_OK);
    ck_assert_int_eq(arnet__team_create(2, &f.ws.team), ARNET_OK);
    f.ws.team_scratch = malloc(arnet__sgemm_team_scratch(f.ws.team, H, F) * sizeof(float));
    arnet__rng_seed(&r, 1);
    ck_assert_int_eq(arnet__train_pass(f.m, &f.batch, &spec, &r, &f.ws, g, NULL), ARNET_OK);
    for (size_t i = 0; i < np; i++) /* the same gradient as one thread, up to rounding */
        ck_assert_msg(fabsf(g[i] - g1[i]) <= 1e-5f * (1.0f + fabsf(g1[i])), "%zu: %g vs %g", i,
                      g[i], g1[i]);
    for (int rep = 0; rep < 3; rep++) {
        arnet__rng_seed(&r, 1);
        ck_assert_int_eq(arnet__train_pass(f.m, &f.batch, &spec, &r, &f.ws, f.grad, NULL),
                         ARNET_OK);
        ck_assert_mem_eq(g, f.grad, np * sizeof(float));
    }
    arnet__team_free(f.ws.team);
    free(f.ws.team_scratch);
    f.ws.team = NULL;
    free(g);
    free(g1);
    fixture_free(&f);
}
END_TEST

/* The team's products against one thread's: split by rows, by columns
 * (bit for bit: each element is computed the same way) and along k
 * (partial sums: within rounding), with every transposition. */
START_TEST(team_products_match_one_thread)
{
    /* above the million multiply-adds below which one thread does it all */
    static const size_t shapes[][3] = {{403, 47, 61}, {19, 150, 400}, {13, 11, 8000}, {1, 1, 1}};
    arnet__team *team = NULL;
    ck_assert_int_eq(arnet__team_create(3, &team), ARNET_OK);
    arnet__rng r;
    arnet__rng_seed(&r, 5);
    for (size_t sh = 0; sh < 4; sh++)
        for (int tr = 0; tr < 4; tr++) {
            size_t m = shapes[sh][0], n = shapes[sh][1], k = shapes[sh][2];
            int ta = tr & 1, tb = tr >> 1;
            float *a = malloc(m * k * sizeof(float)), *b = malloc(k * n * sizeof(float));
            float *c1 = malloc(m * n * sizeof(float)), *c2 = malloc(m * n * sizeof(float));
            float *scratch = malloc(arnet__sgemm_team_scratch(team, m, n) * sizeof(float));
            for (size_t i = 0; i < m * k; i++)
                a[i] = (float)arnet__rng_normal(&r);
            for (size_t i = 0; i < k * n; i++)
                b[i] = (float)arnet__rng_normal(&r);
            for (size_t i = 0; i < m * n; i++)
                c1[i] = c2[i] = (float)i * 0.01f;
            size_t lda = ta ? m : k, ldb = tb ? k : n;
            arnet__sgemm(ta, tb, m, n, k, 0.5f, a, lda, b, ldb, 0.25f, c1, n, 1);
            arnet__sgemm_team(team, ta, tb, m, n, k, 0.5f, a, lda, b, ldb, 0.25f, c2, n, scratch);
            int split_k = k >= 4 * (m > n ? m : n);
            for (size_t i = 0; i < m * n; i++)
                if (split_k) { /* another order of additions: within float rounding of the
                                * sum of |terms| */
                    double mag = 0;
                    for (size_t l = 0; l < k; l++)
                        mag += fabs(0.5 * (ta ? a[l * m + i / n] : a[i / n * k + l]) *
                                    (tb ? b[(i % n) * k + l] : b[l * n + i % n]));
                    ck_assert_msg(fabsf(c1[i] - c2[i]) <= 1e-6 * mag + 1e-6,
                                  "shape %zu tr %d at %zu: %g vs %g", sh, tr, i, c1[i], c2[i]);
                } else
                    ck_assert_msg(c1[i] == c2[i], "shape %zu tr %d at %zu: %g vs %g", sh, tr, i,
                                  c1[i], c2[i]);
            free(a), free(b), free(c1), free(c2), free(scratch);
        }
    arnet__team_free(team);
}
END_TEST

Suite *make_suite(void)
{
    Suite *s = suite_create("backward");
    TCase *tc = tcase_create("backward");
    tcase_add_test(tc, team_products_match_one_thread);
    /* 3 losses x 2 reductions x dropout off/on. */
    tcase_add_loop_test(tc, gradients_match_finite_differences, 0, 12);
    tcase_add_test(tc, packing_equals_one_video_at_a_time);
    tcase_add_test(tc, dropout_uses_one_draw_per_hidden_unit);
    tcase_add_test(tc, forward_without_dropout_equals_scoring);
    tcase_add_test(tc, two_threads_give_the_same_gradient_every_time);
    suite_add_tcase(s, tc);
    return s;
}
