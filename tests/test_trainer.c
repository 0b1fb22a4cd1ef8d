/* test_trainer.c -- the trainer: options and their errors, bit-for-bit
 * reproducibility (seed, threads, cancel and resume, checkpoints), Adam
 * against a double reference, one step against its parts, the sampler's
 * promises, and learning a small synthetic set. */
#define _GNU_SOURCE
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fixtures.h"
#include "detector_int.h"
#include "internal.h"

#define F 16
#define H 12

#include "alloc_count.h"

/* ---- helpers ---------------------------------------------------------------- */

static arnet_model *make_model(uint32_t feature_dim, uint32_t hidden, float dropout,
                               uint64_t seed)
{
    return fixture_model(feature_dim, hidden, dropout, seed);
}

/* n_normal normal and n_anom anomalous videos of lengths lens[i % n_lens];
 * anomalous videos carry a signal on feature 0 in a stretch of clips. */
static arnet_dataset *make_dataset(size_t n_normal, size_t n_anom, const size_t *lens,
                                   size_t n_lens, uint64_t seed)
{
    arnet_dataset *ds = NULL;
    ck_assert_int_eq(arnet_dataset_create(F, &ds), ARNET_OK);
    arnet__rng r;
    arnet__rng_seed(&r, seed);
    for (size_t i = 0; i < n_normal + n_anom; i++) {
        int label = i >= n_normal;
        size_t T = lens[i % n_lens];
        float *x = malloc(T * F * sizeof(float));
        for (size_t j = 0; j < T * F; j++)
            x[j] = (float)fabs(arnet__rng_normal(&r));
        if (label)
            for (size_t j = T / 3; j < T / 3 + 1 + T / 4; j++)
                x[j * F] += 2.0f;
        char name[32];
        snprintf(name, sizeof name, "v%zu", i);
        ck_assert_int_eq(arnet_dataset_add(ds, name, x, T, F, label, NULL, 0), ARNET_OK);
        free(x);
    }
    return ds;
}

static const size_t LENS[] = {5, 40, 1, 17, 90, 8, 33, 2, 61, 12};
#define N_LENS (sizeof LENS / sizeof LENS[0])

static arnet_dataset *small_set(void) { return make_dataset(12, 10, LENS, N_LENS, 3); }

static arnet_train_options small_options(uint64_t seed)
{
    arnet_train_options o;
    arnet_train_options_init(&o);
    o.normal_per_batch = 4;
    o.anomalous_per_batch = 3;
    o.max_clips = 30; /* the 33-, 40-, 61- and 90-clip videos get cut */
    o.lr = 1e-3f;
    o.seed = seed;
    return o;
}

typedef struct params {
    float w1[H * F], b1[H], w2[H], b2;
} params;

static params get_params(const arnet_model *m)
{
    params p;
    ck_assert_int_eq(arnet_model_get_params(m, p.w1, p.b1, p.w2, &p.b2), ARNET_OK);
    return p;
}

/* Train a fresh model (seed 7) for n steps; returns its parameters. */
static params train_steps(const arnet_dataset *ds, const arnet_train_options *o, int n)
{
    arnet_model *m = make_model(F, H, 0.7f, 7);
    arnet_trainer *t = NULL;
    ck_assert_int_eq(arnet_trainer_create(m, ds, o, &t), ARNET_OK);
    for (int i = 0; i < n; i++) {
        arnet_step_stats st;
        arnet_step_stats_init(&st);
        ck_assert_int_eq(arnet_trainer_step(t, &st), ARNET_OK);
        ck_assert_uint_eq(st.step, (uint64_t)i + 1);
        ck_assert(isfinite(st.loss) && st.loss > 0);
    }
    ck_assert_uint_eq(arnet_trainer_steps(t), (uint64_t)n);
    params p = get_params(m);
    arnet_trainer_free(t);
    arnet_model_free(m);
    return p;
}

/* ---- options ------------------------------------------------------------------ */

START_TEST(options_have_the_paper_defaults)
{
    arnet_train_options o;
    memset(&o, 0xab, sizeof o);
    arnet_train_options_init(&o);
    ck_assert_uint_eq(o.struct_size, sizeof o);
    ck_assert_uint_eq(o.normal_per_batch, 30);
    ck_assert_uint_eq(o.anomalous_per_batch, 30);
    ck_assert_float_eq(o.alpha, 4.0f);
    ck_assert_float_eq(o.lambda, 20.0f);
    ck_assert_float_eq(o.lr, 1e-4f);
    ck_assert_float_eq(o.beta1, 0.9f);
    ck_assert_float_eq(o.beta2, 0.999f);
    ck_assert_float_eq(o.eps, 1e-8f);
    ck_assert_float_eq(o.weight_decay, 5e-4f);
    ck_assert_uint_eq(o.max_clips, 300);
    ck_assert_int_eq(o.loss, ARNET_LOSS_DMIL_CENTER);
    ck_assert_int_eq(o.reduce, ARNET_REDUCE_VIDEO);
    ck_assert_uint_eq(o.seed, 1);
    ck_assert_int_eq(o.threads, 1);
    ck_assert_uint_eq(o.iterations, 4760);
    ck_assert_ptr_null(o.progress);
    ck_assert_ptr_null(o.progress_user);
    arnet_step_stats st;
    memset(&st, 0xab, sizeof st);
    arnet_step_stats_init(&st);
    ck_assert_uint_eq(st.struct_size, sizeof st);
    ck_assert_uint_eq(st.step, 0);
    ck_assert_double_eq(st.loss, 0.0);
    arnet_train_options_init(NULL);
    arnet_step_stats_init(NULL);
}
END_TEST

static void expect_bad(const arnet_model *m, const arnet_dataset *ds,
                       const arnet_train_options *o, const char *field)
{
    arnet_trainer *t = (arnet_trainer *)(uintptr_t)1;
    ck_assert_int_eq(arnet_trainer_create((arnet_model *)m, ds, o, &t), ARNET_E_INVALID);
    ck_assert_ptr_eq(t, (arnet_trainer *)(uintptr_t)1);
    if (!strstr(arnet_last_error(), field))
        ck_abort_msg("message '%s' does not name %s", arnet_last_error(), field);
}

START_TEST(bad_options_are_named)
{
    arnet_model *m = make_model(F, H, 0.7f, 1);
    arnet_dataset *ds = small_set();
    arnet_train_options o;
#define BAD(stmt, field)              \
    do {                              \
        o = small_options(1);         \
        stmt;                         \
        expect_bad(m, ds, &o, field); \
    } while (0)
    BAD(o.normal_per_batch = 1u << 20, "normal_per_batch");
    BAD(o.anomalous_per_batch = 1u << 20, "anomalous_per_batch");
    BAD((o.normal_per_batch = 0, o.anomalous_per_batch = 0), "anomalous_per_batch");
    BAD(o.alpha = 0.0f, "alpha");
    BAD(o.alpha = INFINITY, "alpha");
    BAD(o.lambda = -1.0f, "lambda");
    BAD(o.lr = 0.0f, "lr");
    BAD(o.lr = NAN, "lr");
    BAD(o.beta1 = 1.0f, "beta1");
    BAD(o.beta2 = -0.5f, "beta2");
    BAD(o.eps = 0.0f, "eps");
    BAD(o.weight_decay = NAN, "weight_decay");
    BAD(o.max_clips = 0, "max_clips");
    BAD(o.loss = 3, "loss");
    BAD(o.reduce = -1, "reduce");
    BAD(o.threads = 0, "threads");
    /* Every bad field in one message. */
    BAD((o.lr = -1.0f, o.threads = 5000), "lr");
    ck_assert_ptr_nonnull(strstr(arnet_last_error(), "threads"));
    BAD(o.struct_size = 8, "struct_size");
#undef BAD
    arnet_trainer *t = NULL;
    o = small_options(1);
    ck_assert_int_eq(arnet_trainer_create(NULL, ds, &o, &t), ARNET_E_INVALID);
    ck_assert_int_eq(arnet_trainer_create(m, NULL, &o, &t), ARNET_E_INVALID);
    ck_assert_int_eq(arnet_trainer_create(m, ds, &o, NULL), ARNET_E_INVALID);
    ck_assert_int_eq(arnet_trainer_step(NULL, NULL), ARNET_E_INVALID);
    ck_assert_int_eq(arnet_trainer_run(NULL), ARNET_E_INVALID);
    ck_assert_uint_eq(arnet_trainer_steps(NULL), 0);
    arnet_trainer_free(NULL);
    /* A step's stats struct is checked too. */
    ck_assert_int_eq(arnet_trainer_create(m, ds, &o, &t), ARNET_OK);
    arnet_step_stats st;
    arnet_step_stats_init(&st);
    st.struct_size = 4;
    ck_assert_int_eq(arnet_trainer_step(t, &st), ARNET_E_INVALID);
    ck_assert_ptr_nonnull(strstr(arnet_last_error(), "struct_size"));
    ck_assert_uint_eq(arnet_trainer_steps(t), 0);
    arnet_trainer_free(t);
    arnet_dataset_free(ds);
    arnet_model_free(m);
}
END_TEST

START_TEST(too_few_videos_says_which_class)
{
    arnet_model *m = make_model(F, H, 0.7f, 1);
    arnet_dataset *ds = make_dataset(3, 5, LENS, N_LENS, 1);
    arnet_train_options o = small_options(1);
    arnet_trainer *t = NULL;
    o.normal_per_batch = 4;
    o.anomalous_per_batch = 5;
    ck_assert_int_eq(arnet_trainer_create(m, ds, &o, &t), ARNET_E_INVALID);
    ck_assert_ptr_nonnull(strstr(arnet_last_error(), "3 normal videos"));
    ck_assert_ptr_nonnull(strstr(arnet_last_error(), "normal_per_batch = 4"));
    o.normal_per_batch = 3;
    o.anomalous_per_batch = 6;
    ck_assert_int_eq(arnet_trainer_create(m, ds, &o, &t), ARNET_E_INVALID);
    ck_assert_ptr_nonnull(strstr(arnet_last_error(), "5 anomalous videos"));
    ck_assert_ptr_nonnull(strstr(arnet_last_error(), "anomalous_per_batch = 6"));
    ck_assert_ptr_null(t);
    /* All videos of both classes in every batch is fine. */
    o.anomalous_per_batch = 5;
    ck_assert_int_eq(arnet_trainer_create(m, ds, &o, &t), ARNET_OK);
    ck_assert_int_eq(arnet_trainer_step(t, NULL), ARNET_OK);
    /* The data set must not grow under a trainer. */
    float x[F] = {0};
    ck_assert_int_eq(arnet_dataset_add(ds, "late", x, 1, F, 0, NULL, 0), ARNET_OK);
    ck_assert_int_eq(arnet_trainer_step(t, NULL), ARNET_E_STATE);
    ck_assert_ptr_nonnull(strstr(arnet_last_error(), "training set changed"));
    arnet_trainer_free(t);
    /* A model of another feature size. */
    arnet_model *m2 = make_model(F + 1, H, 0.7f, 1);
    t = NULL;
    ck_assert_int_eq(arnet_trainer_create(m2, ds, &o, &t), ARNET_E_SHAPE);
    ck_assert_ptr_null(t);
    arnet_model_free(m2);
    arnet_dataset_free(ds);
    arnet_model_free(m);
}
END_TEST

/* ---- reproducibility --------------------------------------------------------------- */

START_TEST(same_seed_same_weights_bit_for_bit)
{
    arnet_dataset *ds = small_set();
    for (int variant = 0; variant < 3; variant++) {
        arnet_train_options o = small_options(5);
        o.loss = variant;
        o.reduce = variant == 1 ? ARNET_REDUCE_INSTANCE : ARNET_REDUCE_VIDEO;
        params a = train_steps(ds, &o, 12);
        params b = train_steps(ds, &o, 12);
        ck_assert_mem_eq(&a, &b, sizeof a);
        o.seed = 6;
        params c = train_steps(ds, &o, 12);
        ck_assert(memcmp(a.w1, c.w1, sizeof a.w1) != 0);
        /* Training moved the weights at all. */
        arnet_model *fresh = make_model(F, H, 0.7f, 7);
        params init = get_params(fresh);
        arnet_model_free(fresh);
        ck_assert(memcmp(a.w1, init.w1, sizeof a.w1) != 0);
        ck_assert(a.b2 != init.b2);
    }
    arnet_dataset_free(ds);
}
END_TEST

START_TEST(two_threads_are_bitwise_stable)
{
    arnet_dataset *ds = small_set();
    arnet_train_options o = small_options(9);
    o.threads = 2;
    params a = train_steps(ds, &o, 10);
    params b = train_steps(ds, &o, 10);
    ck_assert_mem_eq(&a, &b, sizeof a);
    arnet_dataset_free(ds);
}
END_TEST

/* ---- Adam and one step --------------------------------------------------------------- */

START_TEST(adam_matches_double_reference)
{
    enum { N = 50, STEPS = 6 };
    arnet__adam_hyper h;
    arnet__adam_hyper_set(&h, 1e-3f, 0.9f, 0.999f, 1e-8f, 5e-4f);
    ck_assert_double_eq(h.lr, 1e-3);
    ck_assert_double_eq(h.beta1, 0.9);
    ck_assert_double_eq(h.beta2, 0.999);
    ck_assert_double_eq(h.eps, 1e-8);
    ck_assert_double_eq(h.weight_decay, 5e-4);
    float p[N], m[N] = {0}, v[N] = {0}, g[N];
    double pd[N], md[N] = {0}, vd[N] = {0}, gmax[N] = {0};
    arnet__rng r;
    arnet__rng_seed(&r, 4);
    for (int i = 0; i < N; i++)
        pd[i] = p[i] = (float)arnet__rng_normal(&r);
    for (int t = 1; t <= STEPS; t++) {
        for (int i = 0; i < N; i++)
            g[i] = (float)(arnet__rng_normal(&r) * (i % 5 == 0 ? 1e-3 : 1.0));
        g[0] = 0.0f; /* a parameter moved by weight decay alone */
        arnet__adam_update(&h, (uint64_t)t, p, g, m, v, N);
        for (int i = 0; i < N; i++) {
            double gd = g[i] + 5e-4 * pd[i];
            /* Rounding errors scale with the largest gradient seen: the
             * moments may cancel to much smaller values. */
            gmax[i] = fmax(gmax[i], fabs(g[i]) + fabs(5e-4 * pd[i]));
            md[i] = 0.9 * md[i] + 0.1 * gd;
            vd[i] = 0.999 * vd[i] + 0.001 * gd * gd;
            double mhat = md[i] / (1 - pow(0.9, t)), vhat = vd[i] / (1 - pow(0.999, t));
            pd[i] -= 1e-3 * mhat / (sqrt(vhat) + 1e-8);
            ck_assert_double_eq_tol(m[i], md[i], 1e-6 * (fabs(md[i]) + gmax[i]));
            ck_assert_double_eq_tol(v[i], vd[i], 2e-6 * vd[i] + 1e-9 * gmax[i] * gmax[i]);
            ck_assert_double_eq_tol(p[i], pd[i], 2e-7 * (fabs(pd[i]) + 1));
        }
    }
    /* Without weight decay a zero gradient leaves a fresh parameter alone. */
    h.weight_decay = 0.0f;
    float q = 0.5f, mq = 0.0f, vq = 0.0f, gq = 0.0f;
    arnet__adam_update(&h, 1, &q, &gq, &mq, &vq, 1);
    ck_assert_float_eq(q, 0.5f);
}
END_TEST

/* A trainer's first step equals: the sampler's draw with the generator
 * seeded by opt.seed, the packed pass with dropout from the same generator,
 * and Adam's first update (computed here in double). */
START_TEST(one_step_is_sample_pass_and_adam)
{
    arnet_dataset *ds = small_set();
    arnet_train_options o = small_options(21);
    o.weight_decay = 0.05f;
    arnet_model *m = make_model(F, H, 0.7f, 7);
    params before = get_params(m);
    arnet_trainer *t = NULL;
    ck_assert_int_eq(arnet_trainer_create(m, ds, &o, &t), ARNET_OK);
    arnet_step_stats st;
    arnet_step_stats_init(&st);
    ck_assert_int_eq(arnet_trainer_step(t, &st), ARNET_OK);
    params after = get_params(m);

    arnet_model *ref = make_model(F, H, 0.7f, 7);
    arnet__sampler *s = NULL;
    ck_assert_int_eq(arnet__sampler_create(ds, 4, 3, 30, &s), ARNET_OK);
    size_t max_rows = arnet__sampler_max_rows(s);
    arnet__pick picks[7];
    uint32_t *clips = malloc(max_rows * sizeof(uint32_t));
    arnet__rng r;
    arnet__rng_seed(&r, 21 ^ ARNET__TRAINER_STREAM);
    size_t n_rows = arnet__sampler_draw(s, &r, picks, clips);
    float *x = malloc(n_rows * F * sizeof(float));
    size_t rows[7];
    int labels[7];
    size_t k = 0;
    for (int i = 0; i < 7; i++) {
        arnet_video_info vi;
        arnet_video_info_init(&vi);
        ck_assert_int_eq(arnet_dataset_video(ds, picks[i].video, &vi), ARNET_OK);
        rows[i] = picks[i].n_rows;
        labels[i] = vi.label;
        for (size_t j = 0; j < rows[i]; j++, k++)
            memcpy(x + k * F, vi.features + (size_t)clips[k] * F, F * sizeof(float));
    }
    arnet__batch b = {7, rows, labels, n_rows, x};
    arnet__pass_scratch ws = {malloc(n_rows * H * sizeof(float)),
                              malloc(n_rows * sizeof(float)), malloc(n_rows * sizeof(float)),
                              malloc(n_rows * sizeof(float)), malloc(H * sizeof(double)),
                              NULL, NULL, malloc((n_rows * H + 63) / 64 * sizeof(uint64_t)),
                              malloc(n_rows * sizeof(size_t)),
                              malloc(n_rows * F * sizeof(float))};
    size_t np = arnet__param_count(ref);
    float *g = malloc(np * sizeof(float));
    arnet__loss_spec spec = {o.loss, o.reduce, o.alpha, o.lambda};
    arnet_step_stats rst;
    arnet_step_stats_init(&rst);
    ck_assert_int_eq(arnet__train_pass(ref, &b, &spec, &r, &ws, g, &rst), ARNET_OK);
    ck_assert_double_eq(st.loss, rst.loss);
    ck_assert_double_eq(st.loss_dmil, rst.loss_dmil);
    ck_assert_double_eq(st.loss_center, rst.loss_center);

    const float *p0 = (const float *)&before, *p1 = (const float *)&after;
    for (size_t i = 0; i < np; i++) {
        /* Step 1: mhat = g', vhat = g'^2, so p -= lr g' / (|g'| + eps). */
        double gd = (double)g[i] + 0.05 * p0[i];
        double want = p0[i] - 1e-3 * gd / (fabs(gd) + 1e-8);
        ck_assert_double_eq_tol(p1[i], want, 1e-6);
    }
    free(g);
    free(ws.hidden);
    free(ws.logits);
    free(ws.dlogits);
    free(ws.tmp);
    free(ws.colsum);
    free(ws.keep);
    free(ws.nonzero);
    free(ws.x_nonzero);
    free(x);
    free(clips);
    arnet__sampler_free(s);
    arnet_model_free(ref);
    arnet_trainer_free(t);
    arnet_model_free(m);
    arnet_dataset_free(ds);
}
END_TEST

/* ---- sampler ------------------------------------------------------------------------- */

START_TEST(sampler_keeps_its_promises)
{
    /* 6 normal, 5 anomalous; some far longer than max_clips = 50. */
    static const size_t lens[] = {500, 3, 50, 51, 120, 7, 1000, 49, 51, 300, 2};
    arnet_dataset *ds = NULL;
    ck_assert_int_eq(arnet_dataset_create(2, &ds), ARNET_OK);
    for (int i = 0; i < 11; i++) {
        float *x = calloc(lens[i] * 2, sizeof(float));
        ck_assert_int_eq(arnet_dataset_add(ds, NULL, x, lens[i], 2, i >= 6, NULL, 0),
                         ARNET_OK);
        free(x);
    }
    arnet__sampler *s = NULL;
    ck_assert_int_eq(arnet__sampler_create(ds, 4, 5, 50, &s), ARNET_OK);
    /* Largest batch: the 4 longest normal (capped) + all 5 anomalous. */
    ck_assert_uint_eq(arnet__sampler_max_rows(s), 4 * 50 + (50 + 49 + 50 + 50 + 2));
    arnet__rng r;
    arnet__rng_seed(&r, 12);
    arnet__pick picks[9];
    uint32_t clips[500];
    int seen[11] = {0}, first_bin[20] = {0}, starts[1000] = {0};
    for (int step = 0; step < 400; step++) {
        size_t n = arnet__sampler_draw(s, &r, picks, clips);
        ck_assert_uint_le(n, arnet__sampler_max_rows(s));
        int in_step[11] = {0};
        size_t row = 0;
        for (int i = 0; i < 9; i++) {
            uint32_t vid = picks[i].video;
            size_t T = lens[vid];
            ck_assert_int_eq(vid >= 6, i >= 4); /* normals first */
            ck_assert_int_eq(in_step[vid]++, 0); /* no video twice in a step */
            seen[vid]++;
            ck_assert_uint_eq(picks[i].n_rows, T < 50 ? T : 50);
            const uint32_t *c = clips + row;
            if (T <= 50) {
                for (size_t j = 0; j < T; j++)
                    ck_assert_uint_eq(c[j], j);
            } else if (vid < 6) {
                /* Normal: a contiguous window inside the video. */
                ck_assert_uint_le(c[0] + 50, T);
                for (int j = 1; j < 50; j++)
                    ck_assert_uint_eq(c[j], c[0] + j);
                if (vid == 0)
                    starts[c[0]]++;
            } else {
                /* Anomalous: one clip in each of 50 equal bins. */
                for (size_t b = 0; b < 50; b++) {
                    ck_assert_uint_ge(c[b], b * T / 50);
                    ck_assert_uint_lt(c[b], (b + 1) * T / 50);
                }
                if (vid == 6)
                    first_bin[c[0]]++;
            }
            row += picks[i].n_rows;
        }
        ck_assert_uint_eq(row, n);
    }
    /* Every normal video drawn (4 of 6 per step), every anomalous every step. */
    for (int v = 0; v < 6; v++)
        ck_assert_int_gt(seen[v], 200);
    for (int v = 6; v < 11; v++)
        ck_assert_int_eq(seen[v], 400);
    /* The random parts vary: all 20 clips of video 6's first bin appear,
     * and many window starts of video 0 (451 possible). */
    for (int j = 0; j < 20; j++)
        ck_assert_int_gt(first_bin[j], 0);
    int distinct = 0;
    for (int j = 0; j < 1000; j++)
        distinct += starts[j] > 0;
    ck_assert_int_gt(distinct, 100);
    arnet__sampler_free(s);
    arnet_dataset_free(ds);
}
END_TEST

#if COUNT_ALLOCATIONS
START_TEST(steps_do_not_allocate)
{
    arnet_dataset *ds = small_set();
    for (int threads = 1; threads <= 2; threads++) {
        arnet_train_options o = small_options(3);
        o.threads = threads;
        o.loss = threads == 1 ? ARNET_LOSS_DMIL_CENTER : ARNET_LOSS_KMAX_MIL;
        arnet_model *m = make_model(F, H, 0.7f, 7);
        arnet_trainer *t = NULL;
        ck_assert_int_eq(arnet_trainer_create(m, ds, &o, &t), ARNET_OK);
        arnet_step_stats st;
        arnet_step_stats_init(&st);
        n_allocs = 0;
        counting = 1;
        int rc = 0;
        for (int i = 0; i < 8; i++)
            rc |= arnet_trainer_step(t, &st);
        counting = 0;
        ck_assert_int_eq(rc, 0);
        /* BLIS's OpenMP runtime may allocate per parallel region (see
         * test_scorer.c); libarnet itself must not. */
        ck_assert_int_lt(n_allocs, MAX_CALLERS);
        char what[32];
        snprintf(what, sizeof what, "threads %d", threads);
        long ours = alloc_count_outside_blis(what, NULL);
        ck_assert_int_eq(ours, 0);
        arnet_trainer_free(t);
        arnet_model_free(m);
    }
    arnet_dataset_free(ds);
}
END_TEST

START_TEST(counter_sees_a_trainer_allocate)
{
    /* The counter works: creating a trainer allocates in libarnet. */
    arnet_dataset *ds = small_set();
    arnet_train_options o = small_options(3);
    arnet_model *m = make_model(F, H, 0.7f, 7);
    arnet_trainer *t = NULL;
    n_allocs = 0;
    counting = 1;
    int rc = arnet_trainer_create(m, ds, &o, &t);
    counting = 0;
    ck_assert_int_eq(rc, ARNET_OK);
    ck_assert_int_ge(n_allocs, 5);
    arnet_trainer_free(t);
    arnet_model_free(m);
    arnet_dataset_free(ds);
}
END_TEST
#endif

/* ---- cancel, checkpoints ---------------------------------------------------------------- */

typedef struct cancel_state {
    uint64_t cancel_at;
    uint64_t last_step;
    uint64_t total;
    int calls;
} cancel_state;

static int progress_cb(void *user, const arnet_step_stats *st, uint64_t total)
{
    cancel_state *c = user;
    ck_assert_uint_eq(st->step, c->last_step + 1);
    ck_assert(isfinite(st->loss));
    c->last_step = st->step;
    c->total = total;
    c->calls++;
    if (st->step == c->cancel_at) {
        c->cancel_at = 0;
        return 1;
    }
    return 0;
}

START_TEST(cancel_keeps_a_consistent_state)
{
    arnet_dataset *ds = small_set();
    arnet_train_options o = small_options(31);
    o.iterations = 14;
    params whole = train_steps(ds, &o, 14);

    cancel_state c = {5, 0, 0, 0};
    o.progress = progress_cb;
    o.progress_user = &c;
    arnet_model *m = make_model(F, H, 0.7f, 7);
    arnet_trainer *t = NULL;
    ck_assert_int_eq(arnet_trainer_create(m, ds, &o, &t), ARNET_OK);
    ck_assert_int_eq(arnet_trainer_run(t), ARNET_E_CANCELLED);
    ck_assert_ptr_nonnull(strstr(arnet_last_error(), "cancel"));
    ck_assert_uint_eq(arnet_trainer_steps(t), 5);
    ck_assert_int_eq(c.calls, 5);
    ck_assert_uint_eq(c.total, 14);
    /* Running again finishes the job: the same weights as never stopping. */
    ck_assert_int_eq(arnet_trainer_run(t), ARNET_OK);
    ck_assert_uint_eq(arnet_trainer_steps(t), 14);
    ck_assert_int_eq(c.calls, 14);
    params p = get_params(m);
    ck_assert_mem_eq(&p, &whole, sizeof p);
    /* Nothing left to do. */
    ck_assert_int_eq(arnet_trainer_run(t), ARNET_OK);
    ck_assert_uint_eq(arnet_trainer_steps(t), 14);
    arnet_trainer_free(t);
    arnet_model_free(m);
    arnet_dataset_free(ds);
}
END_TEST

static void temp_path(char *buf, size_t size, const char *tag)
{
    snprintf(buf, size, "/tmp/arnet-test-trainer-%ld-%s.arnet", (long)getpid(), tag);
}

START_TEST(resume_from_checkpoint_equals_unbroken_run)
{
    arnet_dataset *ds = small_set();
    arnet_train_options o = small_options(41);
    o.reduce = ARNET_REDUCE_INSTANCE;
    o.threads = 2;
    params whole = train_steps(ds, &o, 20);

    char path[256], model_only[256];
    temp_path(path, sizeof path, "ckpt");
    temp_path(model_only, sizeof model_only, "model");
    arnet_model *m = make_model(F, H, 0.7f, 7);
    arnet_trainer *t = NULL;
    ck_assert_int_eq(arnet_trainer_create(m, ds, &o, &t), ARNET_OK);
    for (int i = 0; i < 10; i++)
        ck_assert_int_eq(arnet_trainer_step(t, NULL), ARNET_OK);
    ck_assert_int_eq(arnet_trainer_save(t, path), ARNET_OK);
    params at10 = get_params(m);
    ck_assert_int_eq(arnet_model_save(m, model_only), ARNET_OK);
    arnet_trainer_free(t);
    arnet_model_free(m);

    /* The trainer file loads as a plain model for scoring. */
    arnet_model *loaded = NULL;
    ck_assert_int_eq(arnet_model_load(path, &loaded), ARNET_OK);
    params lp = get_params(loaded);
    ck_assert_mem_eq(&lp, &at10, sizeof lp);
    arnet_file_info info;
    arnet_file_info_init(&info);
    ck_assert_int_eq(arnet_file_info_read(path, &info), ARNET_OK);
    ck_assert_int_eq(info.has_trainer, 1);
    arnet_model_free(loaded);

    /* A fresh trainer made with other weights and other sampling and
     * optimiser options: the file's options win, so the run continues as
     * if never stopped. */
    arnet_model *m2 = make_model(F, H, 0.7f, 99);
    arnet_train_options o2 = small_options(1);
    o2.threads = 2;
    o2.normal_per_batch = 2;
    o2.max_clips = 10;
    o2.lr = 0.5f;
    o2.loss = ARNET_LOSS_KMAX_MIL;
    o2.iterations = 20;
    ck_assert_int_eq(arnet_trainer_create(m2, ds, &o2, &t), ARNET_OK);
    ck_assert_int_eq(arnet_trainer_restore(t, path), ARNET_OK);
    ck_assert_uint_eq(arnet_trainer_steps(t), 10);
    ck_assert_int_eq(arnet_trainer_run(t), ARNET_OK);
    ck_assert_uint_eq(arnet_trainer_steps(t), 20);
    params p = get_params(m2);
    ck_assert_mem_eq(&p, &whole, sizeof p);

    /* A model-only file cannot resume; the trainer is unchanged. */
    ck_assert_int_eq(arnet_trainer_restore(t, model_only), ARNET_E_FORMAT);
    ck_assert_ptr_nonnull(strstr(arnet_last_error(), "no trainer state"));
    ck_assert_uint_eq(arnet_trainer_steps(t), 20);
    params q = get_params(m2);
    ck_assert_mem_eq(&q, &whole, sizeof q);
    ck_assert_int_eq(arnet_trainer_restore(t, "/nonexistent/dir/x.arnet"), ARNET_E_IO);
    ck_assert_int_eq(arnet_trainer_restore(t, NULL), ARNET_E_INVALID);
    ck_assert_int_eq(arnet_trainer_save(t, NULL), ARNET_E_INVALID);
    arnet_trainer_free(t);

    /* Another shape is refused. */
    arnet_model *m3 = make_model(F, H + 1, 0.7f, 7);
    ck_assert_int_eq(arnet_trainer_create(m3, ds, &o, &t), ARNET_OK);
    ck_assert_int_eq(arnet_trainer_restore(t, path), ARNET_E_SHAPE);
    ck_assert_uint_eq(arnet_trainer_steps(t), 0);
    arnet_trainer_free(t);
    arnet_model_free(m3);
    arnet_model_free(m2);
    unlink(path);
    unlink(model_only);
    arnet_dataset_free(ds);
}
END_TEST

/* Rewrite a trainer file without the library's digest keys and with
 * train.data_digest set to digest in the model's metadata: what arnet train
 * 0.1 wrote. */
static void as_written_by_cli_0_1(const char *path, const char *digest)
{
    arnet_model *m = NULL;
    arnet__loaded_extra *e = NULL;
    ck_assert_int_eq(arnet__checkpoint_load(path, &m, &e), ARNET_OK);
    ck_assert_ptr_nonnull(e);
    const char **kv = malloc(2 * e->n_kv * sizeof *kv);
    size_t n = 0;
    for (size_t i = 0; i < e->n_kv; i++)
        if (strcmp(e->kv[i].key, "trainer.data_digest") &&
            strcmp(e->kv[i].key, "trainer.videos_normal") &&
            strcmp(e->kv[i].key, "trainer.videos_anomalous")) {
            kv[2 * n] = e->kv[i].key;
            kv[2 * n + 1] = e->kv[i].value;
            n++;
        }
    ck_assert_uint_eq(n, e->n_kv - 3);
    arnet__tensor *ts = malloc(e->n_tensors * sizeof *ts);
    for (size_t i = 0; i < e->n_tensors; i++) {
        ts[i].name = e->tensors[i].name;
        ts[i].ndim = e->tensors[i].ndim;
        memcpy(ts[i].dims, e->tensors[i].dims, sizeof ts[i].dims);
        ts[i].data = e->tensors[i].data;
    }
    ck_assert_int_eq(arnet_model_set_meta(m, "train.data_digest", digest), ARNET_OK);
    arnet__extra extra = {ts, e->n_tensors, kv, n, 0};
    ck_assert_int_eq(arnet__checkpoint_save(m, NULL, &extra, path), ARNET_OK);
    free(ts);
    free(kv);
    arnet__loaded_extra_free(e);
    arnet_model_free(m);
}

START_TEST(restore_refuses_other_training_data)
{
    arnet_dataset *ds = small_set();
    arnet_dataset *other = make_dataset(12, 10, LENS, N_LENS, 4); /* other features */
    arnet_train_options o = small_options(5);
    char path[256];
    temp_path(path, sizeof path, "digest");
    arnet_model *m = make_model(F, H, 0.7f, 7);
    arnet_trainer *t = NULL;
    ck_assert_int_eq(arnet_trainer_create(m, ds, &o, &t), ARNET_OK);
    ck_assert_int_eq(arnet_trainer_step(t, NULL), ARNET_OK);
    ck_assert_int_eq(arnet_trainer_save(t, path), ARNET_OK);
    arnet_trainer_free(t);
    uint64_t d;
    ck_assert_int_eq(arnet_dataset_digest(ds, &d), ARNET_OK);
    char digest[17];
    snprintf(digest, sizeof digest, "%016llx", (unsigned long long)d);

    /* The same data resumes; other data is refused, naming both digests,
     * and the trainer is unchanged. */
    arnet_model *m2 = make_model(F, H, 0.7f, 8);
    params fresh = get_params(m2);
    ck_assert_int_eq(arnet_trainer_create(m2, other, &o, &t), ARNET_OK);
    ck_assert_int_eq(arnet_trainer_restore(t, path), ARNET_E_INVALID);
    ck_assert_ptr_nonnull(strstr(arnet_last_error(), "training data differ"));
    ck_assert_ptr_nonnull(strstr(arnet_last_error(), digest));
    ck_assert_ptr_nonnull(strstr(arnet_last_error(), "12 normal + 10 anomalous"));
    ck_assert_uint_eq(arnet_trainer_steps(t), 0);
    params still = get_params(m2);
    ck_assert_mem_eq(&still, &fresh, sizeof still);
    arnet_trainer_free(t);
    ck_assert_int_eq(arnet_trainer_create(m2, ds, &o, &t), ARNET_OK);
    ck_assert_int_eq(arnet_trainer_restore(t, path), ARNET_OK);
    ck_assert_uint_eq(arnet_trainer_steps(t), 1);
    arnet_trainer_free(t);

    /* Files of arnet train 0.1 carry the digest as model metadata. */
    as_written_by_cli_0_1(path, digest);
    ck_assert_int_eq(arnet_trainer_create(m2, other, &o, &t), ARNET_OK);
    ck_assert_int_eq(arnet_trainer_restore(t, path), ARNET_E_INVALID);
    ck_assert_ptr_nonnull(strstr(arnet_last_error(), digest));
    arnet_trainer_free(t);
    ck_assert_int_eq(arnet_trainer_create(m2, ds, &o, &t), ARNET_OK);
    ck_assert_int_eq(arnet_trainer_restore(t, path), ARNET_OK);
    arnet_trainer_free(t);
    arnet_model_free(m2);
    arnet_model_free(m);
    unlink(path);
    arnet_dataset_free(other);
    arnet_dataset_free(ds);
}
END_TEST

static int count_progress(void *user, const arnet_step_stats *st, uint64_t total)
{
    (void)st;
    (void)total;
    ++*(int *)user;
    return 0;
}

START_TEST(get_options_reports_the_options_in_effect)
{
    arnet_dataset *ds = small_set();
    arnet_train_options o = small_options(9);
    o.lambda = 3.5f;
    o.iterations = 2;
    char path[256];
    temp_path(path, sizeof path, "options");
    arnet_model *m = make_model(F, H, 0.7f, 7);
    arnet_trainer *t = NULL;
    ck_assert_int_eq(arnet_trainer_create(m, ds, &o, &t), ARNET_OK);
    arnet_train_options got;
    arnet_train_options_init(&got);
    ck_assert_int_eq(arnet_trainer_get_options(t, &got), ARNET_OK);
    ck_assert_mem_eq(&got, &o, sizeof got);
    ck_assert_int_eq(arnet_trainer_step(t, NULL), ARNET_OK);
    ck_assert_int_eq(arnet_trainer_save(t, path), ARNET_OK);
    arnet_trainer_free(t);

    /* After a restore: the file's trajectory options, the trainer's
     * threads, iterations and callback. */
    int calls = 0;
    arnet_train_options o2 = small_options(1);
    o2.lr = 0.5f;
    o2.normal_per_batch = 2;
    o2.threads = 2;
    o2.iterations = 3;
    o2.progress = count_progress;
    o2.progress_user = &calls;
    ck_assert_int_eq(arnet_trainer_create(m, ds, &o2, &t), ARNET_OK);
    ck_assert_int_eq(arnet_trainer_restore(t, path), ARNET_OK);
    arnet_train_options_init(&got);
    ck_assert_int_eq(arnet_trainer_get_options(t, &got), ARNET_OK);
    ck_assert_float_eq(got.lr, o.lr);
    ck_assert_float_eq(got.lambda, 3.5f);
    ck_assert_uint_eq(got.normal_per_batch, o.normal_per_batch);
    ck_assert_uint_eq(got.seed, 9);
    ck_assert_int_eq(got.threads, 2);
    ck_assert_uint_eq(got.iterations, 3);
    ck_assert(got.progress == count_progress && got.progress_user == &calls);
    ck_assert_int_eq(arnet_trainer_run(t), ARNET_OK);
    ck_assert_int_eq(calls, 2);
    ck_assert_int_eq(arnet_trainer_get_options(NULL, &got), ARNET_E_INVALID);
    ck_assert_int_eq(arnet_trainer_get_options(t, NULL), ARNET_E_INVALID);
    arnet_trainer_free(t);
    arnet_model_free(m);
    unlink(path);
    arnet_dataset_free(ds);
}
END_TEST

/* ---- learning ------------------------------------------------------------------------------ */

START_TEST(learns_the_synthetic_set)
{
    arnet_synth_options so;
    arnet_synth_options_init(&so);
    so.feature_dim = 64;
    so.scale = 0.25;
    so.seed = 1;
    arnet_dataset *train = NULL, *test = NULL;
    ck_assert_int_eq(arnet_synth_create(&so, &train, &test), ARNET_OK);
    arnet_model *m = make_model(64, 64, 0.7f, 1);
    arnet_eval_result before, after;
    arnet_eval_result_init(&before);
    arnet_eval_result_init(&after);
    ck_assert_int_eq(arnet_evaluate(m, test, &before), ARNET_OK);

    arnet_train_options o;
    arnet_train_options_init(&o);
    o.normal_per_batch = 10;
    o.anomalous_per_batch = 10;
    o.lr = 1e-3f;
    arnet_trainer *t = NULL;
    ck_assert_int_eq(arnet_trainer_create(m, train, &o, &t), ARNET_OK);
    double first = 0, last = 0;
    const int steps = 300, window = 30;
    for (int i = 0; i < steps; i++) {
        arnet_step_stats st;
        arnet_step_stats_init(&st);
        ck_assert_int_eq(arnet_trainer_step(t, &st), ARNET_OK);
        if (i < window)
            first += st.loss / window;
        if (i >= steps - window)
            last += st.loss / window;
    }
    ck_assert_int_eq(arnet_evaluate(m, test, &after), ARNET_OK);
    fprintf(stderr, "# synthetic: loss %.4f -> %.4f, test AUC %.4f -> %.4f, FAR %.4f\n",
            first, last, before.auc, after.auc, after.far);
    ck_assert_double_lt(last, 0.7 * first);
    ck_assert_double_gt(after.auc, 0.7);
    ck_assert_double_gt(after.auc, before.auc + 0.05);
    arnet_eval_result_free(&before);
    arnet_eval_result_free(&after);
    arnet_trainer_free(t);
    arnet_model_free(m);
    arnet_dataset_free(train);
    arnet_dataset_free(test);
}
END_TEST

Suite *make_suite(void)
{
    Suite *s = suite_create("trainer");
    TCase *tc = tcase_create("trainer");
    tcase_add_test(tc, options_have_the_paper_defaults);
    tcase_add_test(tc, bad_options_are_named);
    tcase_add_test(tc, too_few_videos_says_which_class);
    tcase_add_test(tc, same_seed_same_weights_bit_for_bit);
    tcase_add_test(tc, two_threads_are_bitwise_stable);
    tcase_add_test(tc, adam_matches_double_reference);
    tcase_add_test(tc, one_step_is_sample_pass_and_adam);
    tcase_add_test(tc, sampler_keeps_its_promises);
#if COUNT_ALLOCATIONS
    tcase_add_test(tc, counter_sees_a_trainer_allocate);
    tcase_add_test(tc, steps_do_not_allocate);
#endif
    tcase_add_test(tc, cancel_keeps_a_consistent_state);
    tcase_add_test(tc, resume_from_checkpoint_equals_unbroken_run);
    tcase_add_test(tc, restore_refuses_other_training_data);
    tcase_add_test(tc, get_options_reports_the_options_in_effect);
    tcase_add_test(tc, learns_the_synthetic_set);
    suite_add_tcase(s, tc);
    return s;
}
