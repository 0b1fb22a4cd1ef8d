/* test_i3d_forward.c -- the forward pass (i3d_forward.c): argument checks of
 * arnet_extractor_clips, scratch sizing, threads, cancellation, and no
 * allocation once the scratch exists.  Agreement with PyTorch is the
 * i3d-reference test (tests/reference/compare_i3d.py). */
#include <check.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "i3d.h"
#include "internal.h"

#include "alloc_count.h"

/* ---- helpers -------------------------------------------------------------- */

static void fill(float *x, size_t n, uint64_t seed, double lo, double hi)
{
    arnet__rng r;
    arnet__rng_seed(&r, seed);
    for (size_t i = 0; i < n; i++)
        x[i] = (float)(lo + (hi - lo) * arnet__rng_uniform(&r));
}

/* Random weights of a scale that keeps activations alive through 57 units. */
static arnet_extractor *make_extractor(void)
{
    arnet_extractor *x = NULL;
    ck_assert_int_eq(arnet__extractor_alloc(&x), ARNET_OK);
    for (size_t i = 0; i < arnet__i3d_n_convs; i++) {
        const arnet__i3d_conv_desc *d = &arnet__i3d_convs[i];
        size_t fan_in = (size_t)d->in_ch * d->k[0] * d->k[1] * d->k[2];
        double a = 2.0 / (double)fan_in;
        fill(x->convs[i].w, fan_in * d->out_ch, 10 + i, -a, 2.5 * a);
        fill(x->convs[i].b, d->out_ch, 500 + i, -0.01, 0.05);
    }
    ck_assert_int_eq(arnet__i3d_prepare(x), ARNET_OK);
    return x;
}

/* One extractor for the tests that only read it (made once: 12 M weights). */
static arnet_extractor *shared;
static void shared_setup(void) { shared = make_extractor(); }
static void shared_teardown(void)
{
    arnet_extractor_free(shared);
    shared = NULL;
}

static float *make_clip(uint32_t t, uint32_t h, uint32_t w, uint64_t seed)
{
    size_t n = (size_t)t * h * w * 3;
    float *c = __libc_malloc(n * sizeof(float));
    fill(c, n, seed, -1.0, 1.0);
    return c;
}

static void assert_error_names(int rc, int want, const char *word)
{
    ck_assert_int_eq(rc, want);
    ck_assert_msg(strstr(arnet_last_error(), word) != NULL, "message '%s' does not name '%s'",
                  arnet_last_error(), word);
}

/* ---- tests ---------------------------------------------------------------- */

START_TEST(clips_checks_its_arguments)
{
    arnet_extractor *x = shared;
    float *clip = make_clip(4, 8, 8, 1);
    float feat[1024];
    assert_error_names(arnet_extractor_clips(NULL, clip, 1, 4, 8, 8, 1, feat), ARNET_E_INVALID,
                       "extractor");
    assert_error_names(arnet_extractor_clips(x, NULL, 1, 4, 8, 8, 1, feat), ARNET_E_INVALID,
                       "frames");
    assert_error_names(arnet_extractor_clips(x, clip, 1, 4, 8, 8, 1, NULL), ARNET_E_INVALID,
                       "features");
    assert_error_names(arnet_extractor_clips(x, clip, 1, 0, 8, 8, 1, feat), ARNET_E_INVALID,
                       "clip_frames 0");
    assert_error_names(arnet_extractor_clips(x, clip, 1, 4, 0, 8, 1, feat), ARNET_E_INVALID,
                       "height 0");
    assert_error_names(arnet_extractor_clips(x, clip, 1, 4, 8, 0, 1, feat), ARNET_E_INVALID,
                       "width 0");
    assert_error_names(arnet_extractor_clips(x, clip, 1, 4, 8, 8, -1, feat), ARNET_E_INVALID,
                       "threads");
    /* Sizes whose product overflows are refused before anything is allocated. */
    assert_error_names(arnet_extractor_clips(x, clip, SIZE_MAX / 4, 4, 8, 8, 1, feat),
                       ARNET_E_INVALID, "too large");
    assert_error_names(
        arnet_extractor_clips(x, clip, 1, UINT32_MAX, UINT32_MAX, UINT32_MAX, 1, feat),
        ARNET_E_INVALID, "too large");
    /* NaN and infinities are refused naming the clip and the value, as
     * arnet_model_score refuses them (one rule); features are left alone. */
    float *two = make_clip(4, 8, 8 * 2, 3); /* two clips of 4 x 8 x 8 x 3 */
    float feat2[2 * 1024];
    feat2[0] = 42.0f;
    two[768 + 5] = NAN;
    assert_error_names(arnet_extractor_clips(x, two, 2, 4, 8, 8, 1, feat2), ARNET_E_INVALID,
                       "frames: clip 1, value 5 is NaN");
    two[768 + 5] = -INFINITY;
    assert_error_names(arnet_extractor_clips(x, two, 2, 4, 8, 8, 1, feat2), ARNET_E_INVALID,
                       "frames: clip 1, value 5 is infinite");
    ck_assert(feat2[0] == 42.0f);
    /* Finite but far outside [-1, 1]: features are finite or refused. */
    for (int i = 0; i < 768; i++)
        two[768 + i] = 3e38f;
    int rc = arnet_extractor_clips(x, two, 2, 4, 8, 8, 1, feat2);
    if (rc == ARNET_OK) {
        for (int i = 0; i < 2 * 1024; i++)
            ck_assert(isfinite(feat2[i]));
    } else {
        assert_error_names(rc, ARNET_E_INVALID, "clip 1: its features overflow");
    }
    __libc_free(two);
    /* Nothing to do is not an error, and touches nothing. */
    feat[0] = 42.0f;
    ck_assert_int_eq(arnet_extractor_clips(x, NULL, 0, 4, 8, 8, 1, NULL), ARNET_OK);
    ck_assert(feat[0] == 42.0f);
    __libc_free(clip);
}
END_TEST

START_TEST(clips_equal_forward_and_threads_agree)
{
    /* Odd extents; clips of a batch are independent; 1, 2 and 3 threads
     * give the same features (each output is summed in the same order). */
    arnet_extractor *x = shared;
    const uint32_t T = 9, H = 21, W = 19;
    size_t clip_floats = (size_t)T * H * W * 3;
    float *clips = __libc_malloc(2 * clip_floats * sizeof(float));
    fill(clips, 2 * clip_floats, 3, -1.0, 1.0);
    float f1[2048], f2[2048], f3[1024], one[1024];
    ck_assert_int_eq(arnet_extractor_clips(x, clips, 2, T, H, W, 1, f1), ARNET_OK);
    ck_assert_int_eq(arnet_extractor_clips(x, clips, 2, T, H, W, 2, f2), ARNET_OK);
    ck_assert_int_eq(arnet_extractor_clips(x, clips + clip_floats, 1, T, H, W, 3, f3), ARNET_OK);
    arnet__i3d_scratch *s = NULL;
    ck_assert_int_eq(arnet__i3d_scratch_create(x, T, H, W, 1, &s), ARNET_OK);
    ck_assert_int_eq(arnet__i3d_forward(x, s, clips, one, NULL), ARNET_OK);
    arnet__i3d_scratch_free(s);
    double scale = 0;
    for (size_t i = 0; i < 2048; i++)
        scale = fabs(f1[i]) > scale ? fabs(f1[i]) : scale;
    ck_assert_msg(scale > 0, "features are all zero: the test would see nothing");
    for (size_t i = 0; i < 2048; i++)
        ck_assert_msg(fabs(f1[i] - f2[i]) <= 1e-5 * scale, "1 vs 2 threads at %zu: %g vs %g", i,
                      f1[i], f2[i]);
    for (size_t i = 0; i < 1024; i++) {
        ck_assert(isfinite(f1[i]) && f1[i] >= 0.0f); /* a mean of ReLU outputs */
        ck_assert_msg(fabs(f1[1024 + i] - f3[i]) <= 1e-5 * scale, "clip 2 alone at %zu", i);
        ck_assert_msg(f1[i] == one[i], "arnet__i3d_forward differs at %zu", i);
    }
    /* The two clips differ, so the batch did not repeat one of them. */
    int differ = 0;
    for (size_t i = 0; i < 1024; i++)
        differ |= f1[i] != f1[1024 + i];
    ck_assert(differ);
    __libc_free(clips);
}
END_TEST

START_TEST(tiny_extents_run)
{
    /* One frame of one pixel: every SAME padding is at its extreme. */
    arnet_extractor *x = shared;
    float px[3] = {0.5f, -0.25f, 1.0f}, feat[1024];
    ck_assert_int_eq(arnet_extractor_clips(x, px, 1, 1, 1, 1, 2, feat), ARNET_OK);
    for (size_t i = 0; i < 1024; i++)
        ck_assert(isfinite(feat[i]));
}
END_TEST

START_TEST(scratch_sizes_and_errors)
{
    arnet_extractor *x = shared;
    arnet__i3d_scratch *s = (arnet__i3d_scratch *)1;
    assert_error_names(arnet__i3d_scratch_create(x, 0, 8, 8, 1, &s), ARNET_E_INVALID, "zero");
    ck_assert_ptr_null(s);
    assert_error_names(arnet__i3d_scratch_create(x, UINT32_MAX, UINT32_MAX, UINT32_MAX, 1, &s),
                       ARNET_E_INVALID, "too large");
    arnet__i3d_scratch *a = NULL, *b = NULL;
    ck_assert_int_eq(arnet__i3d_scratch_create(x, 16, 224, 224, 1, &a), ARNET_OK);
    ck_assert_int_eq(arnet__i3d_scratch_create(x, 16, 112, 112, 1, &b), ARNET_OK);
    size_t big = arnet__i3d_scratch_memory(a), small = arnet__i3d_scratch_memory(b);
    /* Two ping-pong activations of 64 x 8 x 112 x 112 floats at least. */
    ck_assert_uint_ge(big, 2 * (size_t)64 * 8 * 112 * 112 * sizeof(float));
    ck_assert_uint_lt(big, (size_t)200 * 1000 * 1000);
    ck_assert_uint_lt(small, big);
    arnet__i3d_scratch_free(a);
    arnet__i3d_scratch_free(b);
}
END_TEST

START_TEST(cancel_is_seen_between_steps)
{
    arnet_extractor *x = shared;
    float *clip = make_clip(4, 16, 16, 5), feat[1024];
    arnet__i3d_scratch *s = NULL;
    ck_assert_int_eq(arnet__i3d_scratch_create(x, 4, 16, 16, 2, &s), ARNET_OK);
    volatile int cancel = 1;
    feat[0] = -7.0f;
    assert_error_names(arnet__i3d_forward(x, s, clip, feat, &cancel), ARNET_E_CANCELLED,
                       "cancelled");
    ck_assert(feat[0] == -7.0f);
    cancel = 0;
    ck_assert_int_eq(arnet__i3d_forward(x, s, clip, feat, &cancel), ARNET_OK);
    arnet__i3d_scratch_free(s);
    __libc_free(clip);
}
END_TEST

START_TEST(unprepared_extractor_is_refused)
{
    arnet_extractor *x = make_extractor();
    arnet__i3d_unprepare(x);
    float *clip = make_clip(2, 8, 8, 6), feat[1024];
    assert_error_names(arnet_extractor_clips(x, clip, 1, 2, 8, 8, 1, feat), ARNET_E_INVALID,
                       "not prepared");
    __libc_free(clip);
    arnet_extractor_free(x);
}
END_TEST

#if COUNT_ALLOCATIONS
START_TEST(no_allocation_in_forward)
{
    arnet_extractor *x = shared;
    float *clip = make_clip(8, 40, 40, 7), feat[1024];
    for (int threads = 1; threads <= 2; threads++) {
        arnet__i3d_scratch *s = NULL;
        ck_assert_int_eq(arnet__i3d_scratch_create(x, 8, 40, 40, threads, &s), ARNET_OK);
        ck_assert_int_eq(arnet__i3d_forward(x, s, clip, feat, NULL), ARNET_OK); /* BLIS warm */
        n_allocs = 0;
        counting = 1;
        int rc = arnet__i3d_forward(x, s, clip, feat, NULL);
        counting = 0;
        ck_assert_int_eq(rc, ARNET_OK);
        ck_assert_int_lt(n_allocs, MAX_CALLERS);
        long blis = 0, ours = alloc_count_outside_blis("forward", &blis);
        ck_assert_msg(ours == 0, "%ld allocations outside BLIS in a forward pass (%d threads)",
                      ours, threads);
        arnet__i3d_scratch_free(s);
    }
    __libc_free(clip);
}
END_TEST
#endif

Suite *make_suite(void)
{
    Suite *s = suite_create("i3d_forward");
    TCase *tc = tcase_create("forward");
    tcase_set_timeout(tc, 120);
    tcase_add_unchecked_fixture(tc, shared_setup, shared_teardown);
    tcase_add_test(tc, clips_checks_its_arguments);
    tcase_add_test(tc, clips_equal_forward_and_threads_agree);
    tcase_add_test(tc, tiny_extents_run);
    tcase_add_test(tc, scratch_sizes_and_errors);
    tcase_add_test(tc, cancel_is_seen_between_steps);
    tcase_add_test(tc, unprepared_extractor_is_refused);
#if COUNT_ALLOCATIONS
    tcase_add_test(tc, no_allocation_in_forward);
#endif
    suite_add_tcase(s, tc);
    return s;
}
