/* test_scorer.c -- scorers: bit identity with arnet_model_score across batch
 * sizes and threads, no allocation while scoring, batched streams, FAR thresholds. */
#define _GNU_SOURCE
#include <check.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

#include "alloc_count.h"

/* ---- helpers -------------------------------------------------------------- */

static arnet_model *make_model(uint32_t F, uint32_t H, uint64_t seed)
{
    arnet_model_config cfg;
    arnet_model_config_init(&cfg);
    cfg.feature_dim = F;
    cfg.hidden_dim = H;
    cfg.seed = seed;
    arnet_model *m = NULL;
    ck_assert_int_eq(arnet_model_create(&cfg, &m), ARNET_OK);
    /* Non-zero biases so they take part in the comparison. */
    float *b1 = __libc_malloc(H * sizeof(float));
    arnet__rng r;
    arnet__rng_seed(&r, seed + 100);
    for (uint32_t i = 0; i < H; i++)
        b1[i] = (float)(arnet__rng_uniform(&r) - 0.5) * 0.2f;
    float b2 = 0.05f;
    ck_assert_int_eq(arnet_model_set_params(m, NULL, b1, NULL, &b2), ARNET_OK);
    __libc_free(b1);
    return m;
}

static float *make_features(size_t n, size_t F, uint64_t seed)
{
    float *x = __libc_malloc(n * F * sizeof(float));
    arnet__rng r;
    arnet__rng_seed(&r, seed);
    for (size_t i = 0; i < n * F; i++)
        x[i] = (float)arnet__rng_normal(&r);
    return x;
}

static arnet_scorer *make_scorer(const arnet_model *m, size_t max_batch)
{
    arnet_scorer_options o;
    arnet_scorer_options_init(&o);
    o.max_batch = max_batch;
    arnet_scorer *s = NULL;
    ck_assert_int_eq(arnet_scorer_create(m, &o, &s), ARNET_OK);
    return s;
}

/* ---- tests ---------------------------------------------------------------- */

START_TEST(options_defaults_and_bad_options)
{
    arnet_scorer_options o;
    memset(&o, 0x5a, sizeof o);
    arnet_scorer_options_init(&o);
    ck_assert_uint_eq(o.struct_size, sizeof o);
    ck_assert_uint_eq(o.max_batch, 256);
    ck_assert_int_eq(o.threads, 1);
    arnet_model *m = make_model(16, 8, 1);
    arnet_scorer *s = (arnet_scorer *)0x1;
    ck_assert_int_eq(arnet_scorer_create(NULL, &o, &s), ARNET_E_INVALID);
    ck_assert_ptr_nonnull(strstr(arnet_last_error(), "model"));
    ck_assert_int_eq(arnet_scorer_create(m, &o, NULL), ARNET_E_INVALID);
    o.max_batch = 0;
    ck_assert_int_eq(arnet_scorer_create(m, &o, &s), ARNET_E_INVALID);
    ck_assert_ptr_nonnull(strstr(arnet_last_error(), "max_batch"));
    o.max_batch = (size_t)1 << 40;
    ck_assert_int_eq(arnet_scorer_create(m, &o, &s), ARNET_E_INVALID);
    arnet_scorer_options_init(&o);
    o.threads = 0;
    ck_assert_int_eq(arnet_scorer_create(m, &o, &s), ARNET_E_INVALID);
    ck_assert_ptr_nonnull(strstr(arnet_last_error(), "threads"));
    arnet_scorer_options_init(&o);
    o.struct_size = 4;
    ck_assert_int_eq(arnet_scorer_create(m, &o, &s), ARNET_E_INVALID);
    ck_assert_ptr_nonnull(strstr(arnet_last_error(), "struct_size"));
    ck_assert_ptr_eq(s, (arnet_scorer *)0x1); /* untouched on failure */
    ck_assert_int_eq(arnet_scorer_create(m, NULL, &s), ARNET_OK);
    ck_assert_uint_ge(arnet_scorer_memory(s), 4u * 256 * (8 + 1));
    float x[16] = {0}, y;
    ck_assert_int_eq(arnet_scorer_score(s, NULL, 1, &y), ARNET_E_INVALID);
    ck_assert_int_eq(arnet_scorer_score(s, x, 1, NULL), ARNET_E_INVALID);
    ck_assert_int_eq(arnet_scorer_score(NULL, x, 1, &y), ARNET_E_INVALID);
    ck_assert_int_eq(arnet_scorer_score(s, NULL, 0, NULL), ARNET_OK);
    x[5] = NAN;
    ck_assert_int_eq(arnet_scorer_score(s, x, 1, &y), ARNET_E_INVALID);
    ck_assert_ptr_nonnull(strstr(arnet_last_error(), "clip 0, value 5 is NaN"));
    arnet_scorer_free(s);
    arnet_scorer_free(NULL);
    arnet_model_free(m);
}
END_TEST

/* Rows of a GEMM never mix, so chunking must not change a bit; this is the
 * test that the claim holds for the BLIS kernels actually in use. */
START_TEST(scorer_equals_model_score_bit_for_bit_across_chunk_sizes)
{
    const size_t F = 96, H = 80, N = 700;
    arnet_model *m = make_model(F, H, 7);
    float *x = make_features(N, F, 11);
    float *ref = __libc_malloc(N * sizeof(float));
    float *got = __libc_malloc(N * sizeof(float));
    ck_assert_int_eq(arnet_model_score(m, x, N, ref), ARNET_OK);
    /* Independent double-precision reference (loose: float vs double). */
    float w1[96 * 80], b1[80], w2[80], b2;
    ck_assert_int_eq(arnet_model_get_params(m, w1, b1, w2, &b2), ARNET_OK);
    for (size_t i = 0; i < N; i += 37) {
        double z = b2;
        for (size_t j = 0; j < H; j++) {
            double h = b1[j];
            for (size_t k = 0; k < F; k++)
                h += (double)x[i * F + k] * w1[j * F + k];
            z += (h > 0 ? h : 0) * w2[j];
        }
        ck_assert_double_eq_tol(ref[i], 1.0 / (1.0 + exp(-z)), 1e-5);
    }
    /* The reference for bit identity is one scorer scoring all N at once;
     * arnet_model_score runs the same two GEMMs and must agree exactly. */
    arnet_scorer *whole = make_scorer(m, N);
    float *model_ref = ref;
    ref = __libc_malloc(N * sizeof(float));
    ck_assert_int_eq(arnet_scorer_score(whole, x, N, ref), ARNET_OK);
    arnet_scorer_free(whole);
    ck_assert_mem_eq(ref, model_ref, N * sizeof(float));
    __libc_free(model_ref);
    const size_t batches[] = {1, 2, 3, 16, 63, 256, 699, 700, 1024};
    for (size_t b = 0; b < sizeof batches / sizeof *batches; b++) {
        arnet_scorer *s = make_scorer(m, batches[b]);
        memset(got, 0xff, N * sizeof(float));
        ck_assert_int_eq(arnet_scorer_score(s, x, N, got), ARNET_OK);
        ck_assert_msg(memcmp(got, ref, N * sizeof(float)) == 0,
                      "max_batch %zu differs from scoring all clips at once", batches[b]);
        /* Sub-ranges too: a clip's score does not depend on its neighbours. */
        ck_assert_int_eq(arnet_scorer_score(s, x + 5 * F, 13, got), ARNET_OK);
        ck_assert_int_eq(memcmp(got, ref + 5, 13 * sizeof(float)), 0);
        arnet_scorer_free(s);
    }
    __libc_free(x);
    __libc_free(ref);
    __libc_free(got);
    arnet_model_free(m);
}
END_TEST

struct worker {
    const arnet_model *m;
    const float *x;
    size_t n, F, batch;
    int calls;
    float *out;
    int ok;
};

static void *worker_main(void *arg)
{
    struct worker *w = arg;
    arnet_scorer_options o;
    arnet_scorer_options_init(&o);
    o.max_batch = w->batch;
    arnet_scorer *s = NULL;
    if (arnet_scorer_create(w->m, &o, &s) != ARNET_OK)
        return NULL;
    w->ok = 1;
    for (int c = 0; c < w->calls; c++) {
        /* Each call scores a different rotation of the clips so that the
         * threads are in different places of the data at the same time. */
        size_t start = (size_t)c * 7 % w->n;
        size_t first = w->n - start;
        if (arnet_scorer_score(s, w->x + start * w->F, first, w->out + ((size_t)c * w->n)) ||
            arnet_scorer_score(s, w->x, start, w->out + (size_t)c * w->n + first))
            w->ok = 0;
    }
    arnet_scorer_free(s);
    return NULL;
}

START_TEST(threads_with_own_scorers_equal_serial_bit_for_bit)
{
    enum { T = 8, CALLS = 40 };
    const size_t F = 64, H = 64, N = 100;
    arnet_model *m = make_model(F, H, 3);
    float *x = make_features(N, F, 5);
    float *serial = __libc_malloc(N * sizeof(float));
    arnet_scorer *one = make_scorer(m, N);
    ck_assert_int_eq(arnet_scorer_score(one, x, N, serial), ARNET_OK);
    arnet_scorer_free(one);
    struct worker w[T];
    pthread_t th[T];
    for (int t = 0; t < T; t++) {
        w[t] = (struct worker){m, x, N, F, (size_t)(t % 4) * 20 + 7, CALLS, NULL, 0};
        w[t].out = __libc_malloc((size_t)CALLS * N * sizeof(float));
        ck_assert_int_eq(pthread_create(&th[t], NULL, worker_main, &w[t]), 0);
    }
    for (int t = 0; t < T; t++)
        ck_assert_int_eq(pthread_join(th[t], NULL), 0);
    for (int t = 0; t < T; t++) {
        ck_assert(w[t].ok);
        for (int c = 0; c < CALLS; c++) {
            size_t start = (size_t)c * 7 % N;
            const float *o = w[t].out + (size_t)c * N;
            for (size_t i = 0; i < N; i++) {
                size_t clip = (start + i) % N;
                ck_assert_msg(memcmp(&o[i], &serial[clip], sizeof(float)) == 0,
                              "thread %d call %d clip %zu: %.9g vs serial %.9g", t, c, clip,
                              (double)o[i], (double)serial[clip]);
            }
        }
        __libc_free(w[t].out);
    }
    __libc_free(serial);
    __libc_free(x);
    arnet_model_free(m);
}
END_TEST

#if COUNT_ALLOCATIONS /* the counting cases; not under AddressSanitizer */
START_TEST(counter_sees_allocations)
{
    /* The counter must be able to fail: a known allocation is seen. */
    n_allocs = 0;
    counting = 1;
    void *(*volatile alloc)(size_t) = malloc; /* a call the compiler cannot elide */
    void *p = alloc(10);
    counting = 0;
    free(p);
    ck_assert_int_eq(n_allocs, 1);
    arnet_model *m = make_model(32, 16, 2);
    float x[32] = {0}, y;
    n_allocs = 0;
    counting = 1;
    ck_assert_int_eq(arnet_model_score(m, x, 1, &y), ARNET_OK); /* allocates */
    counting = 0;
    ck_assert_int_ge(n_allocs, 1);
    arnet_model_free(m);
}
END_TEST

static void count_events(void *user, const arnet_event *ev)
{
    (void)ev;
    ++*(int *)user;
}

START_TEST(no_allocation_while_scoring)
{
    const size_t F = 128, H = 96, N = 300, S = 40;
    arnet_model *m = make_model(F, H, 9);
    float *x = make_features(N, F, 13);
    float *y = __libc_malloc(N * sizeof(float));
    arnet_scorer *s = make_scorer(m, 64);
    arnet_stream *st[40];
    arnet_stream_result res[40];
    int events = 0;
    for (size_t i = 0; i < S; i++) {
        arnet_stream_options so;
        arnet_stream_options_init(&so);
        so.stream_id = i;
        so.on_threshold = 0.0f; /* alarms start at once, so events fire too */
        so.off_threshold = 0.0f;
        so.min_on_clips = 1;
        so.on_event = count_events;
        so.user = &events;
        ck_assert_int_eq(arnet_stream_create(&so, &st[i]), ARNET_OK);
        arnet_stream_result_init(&res[i]);
    }
    /* No warm-up call: creation is supposed to have done it. */
    n_allocs = 0;
    counting = 1;
    int rc = 0;
    for (int rep = 0; rep < 20; rep++) {
        rc |= arnet_scorer_score(s, x, N, y);
        rc |= arnet_stream_push(st[rep % S], s, x + rep * F, &res[0]);
        rc |= arnet_scorer_push_streams(s, st, x, S, res);
        rc |= arnet_stream_update(st[1], 0.5f, NULL);
    }
    counting = 0;
    ck_assert_int_eq(rc, 0);
    ck_assert_int_ge(events, 1);
    /* BLIS 0.9 with OpenMP enters a parallel region on every GEMM call, in
     * which libgomp may malloc and free its team (docs/embedding.md); what
     * libarnet promises is that nothing else allocates, so allocations are
     * split by the shared object of their immediate caller. */
    ck_assert_int_lt(n_allocs, MAX_CALLERS);
    long blis = 0, ours = alloc_count_outside_blis("scoring", &blis);
    ck_assert_msg(ours == 0, "%ld allocations outside BLIS while scoring", ours);
    /* 20 x (5 chunks + 1 push + 1 batch) = 140 GEMM pairs = 280 GEMMs: a
     * fixed small number per call, not growing with the batch. */
    ck_assert_msg(blis <= 4 * 280, "BLIS allocated %ld times in 280 GEMMs", blis);
    for (size_t i = 0; i < S; i++)
        arnet_stream_free(st[i]);
    arnet_scorer_free(s);
    __libc_free(x);
    __libc_free(y);
    arnet_model_free(m);
}
END_TEST
#endif

START_TEST(push_streams_equals_one_by_one)
{
    const size_t F = 48, H = 40, S = 23;
    arnet_model *m = make_model(F, H, 21);
    arnet_scorer *s = make_scorer(m, 5); /* several chunks */
    arnet_stream *a[23], *b[23];
    arnet_stream_options so;
    arnet_stream_options_init(&so);
    so.on_threshold = 0.45f;
    so.off_threshold = 0.4f;
    so.min_on_clips = 2;
    so.min_off_clips = 2;
    for (size_t i = 0; i < S; i++) {
        so.stream_id = 1000 + i;
        ck_assert_int_eq(arnet_stream_create(&so, &a[i]), ARNET_OK);
        ck_assert_int_eq(arnet_stream_create(&so, &b[i]), ARNET_OK);
    }
    arnet_stream_result ra[23], rb;
    for (int step = 0; step < 30; step++) {
        float *x = make_features(S, F, 100 + step);
        for (size_t i = 0; i < S; i++)
            arnet_stream_result_init(&ra[i]);
        ck_assert_int_eq(arnet_scorer_push_streams(s, a, x, S, ra), ARNET_OK);
        for (size_t i = 0; i < S; i++) {
            arnet_stream_result_init(&rb);
            ck_assert_int_eq(arnet_stream_push(b[i], s, x + i * F, &rb), ARNET_OK);
            ck_assert_int_eq(memcmp(&ra[i].raw, &rb.raw, sizeof(float)), 0);
            ck_assert_int_eq(memcmp(&ra[i].smoothed, &rb.smoothed, sizeof(float)), 0);
            ck_assert_uint_eq(ra[i].clip_index, (uint64_t)step);
            ck_assert_int_eq(ra[i].alarm, rb.alarm);
            ck_assert_int_eq(ra[i].event, rb.event);
            float ref;
            ck_assert_int_eq(arnet_scorer_score(s, x + i * F, 1, &ref), ARNET_OK);
            ck_assert_int_eq(memcmp(&ra[i].raw, &ref, sizeof(float)), 0);
        }
        __libc_free(x);
    }
    /* A duplicate is refused before any stream changes. */
    arnet_stream *dup[4] = {a[0], a[1], a[2], a[1]};
    float *x = make_features(4, F, 1);
    ck_assert_int_eq(arnet_scorer_push_streams(s, dup, x, 4, NULL), ARNET_E_INVALID);
    ck_assert_ptr_nonnull(strstr(arnet_last_error(), "twice"));
    arnet_stream_state st;
    arnet_stream_state_init(&st);
    ck_assert_int_eq(arnet_stream_get_state(a[0], &st), ARNET_OK);
    ck_assert_uint_eq(st.clips, 30);
    /* Marks were cleared: the same streams work in the next batch. */
    ck_assert_int_eq(arnet_scorer_push_streams(s, dup, x, 3, NULL), ARNET_OK);
    arnet_stream *withnull[2] = {a[0], NULL};
    ck_assert_int_eq(arnet_scorer_push_streams(s, withnull, x, 2, NULL), ARNET_E_INVALID);
    ck_assert_int_eq(arnet_scorer_push_streams(s, a, NULL, 2, NULL), ARNET_E_INVALID);
    ck_assert_int_eq(arnet_scorer_push_streams(s, a, x, 0, NULL), ARNET_OK);
    /* NaN in a feature: refused before any stream changes. */
    x[F + 3] = NAN;
    ck_assert_int_eq(arnet_scorer_push_streams(s, a, x, 3, NULL), ARNET_E_INVALID);
    ck_assert_ptr_nonnull(strstr(arnet_last_error(), "features[1][3]"));
    ck_assert_int_eq(arnet_stream_get_state(a[0], &st), ARNET_OK);
    ck_assert_uint_eq(st.clips, 31);
    ck_assert_int_eq(arnet_stream_push(a[0], s, x + F, NULL), ARNET_E_INVALID);
    __libc_free(x);
    for (size_t i = 0; i < S; i++) {
        arnet_stream_free(a[i]);
        arnet_stream_free(b[i]);
    }
    arnet_scorer_free(s);
    arnet_model_free(m);
}
END_TEST

/* Brute force over every candidate threshold, in double. */
static void far_reference(const float *s, size_t n, double target, float *t, double *far)
{
    float best = INFINITY;
    for (size_t c = 0; c <= n; c++) {
        float cand = c < n ? s[c] : INFINITY;
        float cands[2] = {cand, nextafterf(cand, INFINITY)};
        for (int j = 0; j < 2; j++) {
            size_t cnt = 0;
            for (size_t i = 0; i < n; i++)
                cnt += s[i] >= cands[j];
            if ((double)cnt <= target * (double)n + 1e-9 && cands[j] < best)
                best = cands[j];
        }
    }
    size_t cnt = 0;
    for (size_t i = 0; i < n; i++)
        cnt += s[i] >= best;
    *t = best;
    *far = (double)cnt / (double)n;
}

START_TEST(threshold_for_far_matches_brute_force)
{
    arnet__rng r;
    arnet__rng_seed(&r, 77);
    float s[200];
    for (int trial = 0; trial < 60; trial++) {
        size_t n = 1 + arnet__rng_below(&r, 200);
        int levels = 1 + (int)arnet__rng_below(&r, 12); /* many ties */
        for (size_t i = 0; i < n; i++)
            s[i] = (float)arnet__rng_below(&r, (uint64_t)levels) / (float)levels;
        const double targets[] = {0.0, 0.001, 0.01, 0.05, 0.1, 0.25, 0.5, 0.9, 0.999};
        for (size_t k = 0; k < sizeof targets / sizeof *targets; k++) {
            float t, rt;
            double far, rfar;
            ck_assert_int_eq(arnet_threshold_for_far(s, n, targets[k], &t, &far), ARNET_OK);
            far_reference(s, n, targets[k], &rt, &rfar);
            ck_assert_msg(t == rt, "n %zu target %g: %.9g vs reference %.9g", n, targets[k],
                          (double)t, (double)rt);
            ck_assert_double_eq(far, rfar);
            ck_assert(far <= targets[k] + 1e-12);
        }
    }
    /* Worked case: scores 0.1..1.0, 10 % allowed -> one alarm (1.0). */
    float ten[10] = {0.5f, 0.1f, 1.0f, 0.2f, 0.9f, 0.3f, 0.8f, 0.4f, 0.7f, 0.6f};
    float t;
    double far;
    ck_assert_int_eq(arnet_threshold_for_far(ten, 10, 0.1, &t, &far), ARNET_OK);
    ck_assert_float_gt(t, 0.9f);
    ck_assert_float_le(t, 1.0f);
    ck_assert_double_eq(far, 0.1);
    ck_assert_int_eq(arnet_threshold_for_far(ten, 10, 0.0, &t, NULL), ARNET_OK);
    ck_assert_float_gt(t, 1.0f);
    ck_assert_int_eq(arnet_threshold_for_far(ten, 10, 1.0, &t, &far), ARNET_OK);
    ck_assert_float_eq(t, 0.1f);
    ck_assert_double_eq(far, 1.0);
}
END_TEST

START_TEST(threshold_for_far_rejects_garbage)
{
    float s[3] = {0.1f, 0.2f, 0.3f}, t = 42.0f;
    ck_assert_int_eq(arnet_threshold_for_far(NULL, 3, 0.1, &t, NULL), ARNET_E_INVALID);
    ck_assert_int_eq(arnet_threshold_for_far(s, 0, 0.1, &t, NULL), ARNET_E_INVALID);
    ck_assert_int_eq(arnet_threshold_for_far(s, 3, -0.1, &t, NULL), ARNET_E_INVALID);
    ck_assert_ptr_nonnull(strstr(arnet_last_error(), "target_far"));
    ck_assert_int_eq(arnet_threshold_for_far(s, 3, NAN, &t, NULL), ARNET_E_INVALID);
    ck_assert_int_eq(arnet_threshold_for_far(s, 3, 1.5, &t, NULL), ARNET_E_INVALID);
    ck_assert_int_eq(arnet_threshold_for_far(s, 3, 0.1, NULL, NULL), ARNET_E_INVALID);
    s[2] = NAN;
    ck_assert_int_eq(arnet_threshold_for_far(s, 3, 0.1, &t, NULL), ARNET_E_INVALID);
    ck_assert_ptr_nonnull(strstr(arnet_last_error(), "scores[2]"));
    ck_assert_float_eq(t, 42.0f);
}
END_TEST

Suite *make_suite(void)
{
    Suite *s = suite_create("scorer");
    TCase *tc = tcase_create("scorer");
    tcase_add_test(tc, options_defaults_and_bad_options);
    tcase_add_test(tc, scorer_equals_model_score_bit_for_bit_across_chunk_sizes);
    tcase_add_test(tc, threads_with_own_scorers_equal_serial_bit_for_bit);
#if COUNT_ALLOCATIONS
    tcase_add_test(tc, counter_sees_allocations);
    tcase_add_test(tc, no_allocation_while_scoring);
#endif
    tcase_add_test(tc, push_streams_equals_one_by_one);
    tcase_add_test(tc, threshold_for_far_matches_brute_force);
    tcase_add_test(tc, threshold_for_far_rejects_garbage);
    suite_add_tcase(s, tc);
    return s;
}
