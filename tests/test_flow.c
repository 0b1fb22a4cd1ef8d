/* test_flow.c -- TV-L1 optical flow (arnet_flow_*): the documented
 * defaults and presets, the arguments it refuses, a known shift recovered,
 * the same bits at any thread count and from uint8 or float frames, no
 * allocation after creation, cancel, the memory figure, the grey
 * conversion, and every kernel set this CPU has against the others.  Agreement with OpenCV itself is tests/reference/compare_flow.py. */
#include <check.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "alloc_count.h"
#include "flow.h"
#include "internal.h"

/* A smooth texture (sums of sines) sampled at (x - dx, y - dy): frame b of
 * make_pair is frame a moved by (dx, dy), so the flow from a to b is
 * (dx, dy) everywhere away from the borders. */
static float texture(double x, double y)
{
    return (float)(128.0 + 40.0 * sin(0.21 * x + 0.05 * y) + 35.0 * cos(0.17 * y - 0.08 * x) +
                   20.0 * sin(0.11 * (x + y)) * cos(0.13 * (x - y)));
}

static void make_pair(uint32_t w, uint32_t h, double dx, double dy, uint8_t *a, uint8_t *b)
{
    for (uint32_t y = 0; y < h; y++)
        for (uint32_t x = 0; x < w; x++) {
            a[y * w + x] = (uint8_t)lrintf(texture(x, y));
            b[y * w + x] = (uint8_t)lrintf(texture(x - dx, y - dy));
        }
}

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

START_TEST(defaults_are_opencv_and_presets_set_iterations)
{
    arnet_flow_options o;
    arnet_flow_options_init(&o);
    ck_assert_uint_eq(o.struct_size, sizeof o);
    ck_assert(o.tau == 0.25f && o.lambda == 0.15f && o.theta == 0.3f);
    ck_assert(o.epsilon == 0.01f && o.scale_step == 0.8f && o.gamma == 0.0f);
    ck_assert_uint_eq(o.scales, 5);
    ck_assert_uint_eq(o.warps, 5);
    ck_assert_uint_eq(o.inner_iterations, 30);
    ck_assert_uint_eq(o.outer_iterations, 10);
    ck_assert_int_eq(o.median_filtering, 5);
    ck_assert_int_eq(o.threads, 1);
    ck_assert_int_eq(o.exact, 1);
    o.threads = 3;
    o.exact = 0;
    ck_assert_int_eq(arnet_flow_options_preset(&o, ARNET_FLOW_PRESET_CUDA), ARNET_OK);
    ck_assert_uint_eq(o.inner_iterations, 300);
    ck_assert_uint_eq(o.outer_iterations, 1);
    ck_assert_int_eq(o.median_filtering, 0);
    ck_assert_int_eq(o.threads, 3); /* kept */
    ck_assert_int_eq(o.exact, 0);   /* kept */
    ck_assert(o.tau == 0.25f && o.epsilon == 0.01f);
    ck_assert_int_eq(arnet_flow_options_preset(&o, ARNET_FLOW_PRESET_OPENCV), ARNET_OK);
    ck_assert_uint_eq(o.inner_iterations, 30);
    ck_assert_int_eq(o.median_filtering, 5);
    arnet_flow_options before = o;
    ck_assert_int_eq(arnet_flow_options_preset(&o, 7), ARNET_E_INVALID);
    ck_assert_ptr_nonnull(strstr(arnet_last_error(), "preset 7"));
    ck_assert(memcmp(&before, &o, sizeof o) == 0);
    ck_assert_int_eq(arnet_flow_options_preset(NULL, 0), ARNET_E_INVALID);
    o.struct_size = 8;
    ck_assert_int_eq(arnet_flow_options_preset(&o, 0), ARNET_E_INVALID);
}
END_TEST

static void refused(arnet_flow_options *o, const char *field)
{
    arnet_flow *f = (arnet_flow *)&f;
    ck_assert_int_eq(arnet_flow_create(64, 48, o, &f), ARNET_E_INVALID);
    ck_assert_ptr_null(f);
    ck_assert_msg(strstr(arnet_last_error(), field), "'%s' does not name %s",
                  arnet_last_error(), field);
    arnet_flow_options_init(o);
}

START_TEST(bad_options_and_arguments_are_refused)
{
    arnet_flow_options o;
    arnet_flow_options_init(&o);
    o.tau = 0.0f;
    refused(&o, "tau");
    o.theta = NAN;
    refused(&o, "theta");
    o.lambda = -1.0f;
    refused(&o, "lambda");
    o.epsilon = INFINITY;
    refused(&o, "epsilon");
    o.scale_step = 1.0f;
    refused(&o, "scale_step");
    o.scales = 0;
    refused(&o, "scales");
    o.warps = 0;
    refused(&o, "warps");
    o.inner_iterations = 0;
    refused(&o, "inner_iterations");
    o.outer_iterations = 0;
    refused(&o, "outer_iterations");
    o.median_filtering = 4;
    refused(&o, "median_filtering");
    o.threads = -1;
    refused(&o, "threads");
    o.exact = 2;
    refused(&o, "exact");
    o.struct_size = 16;
    refused(&o, "struct_size");
    arnet_flow *f = NULL;
    ck_assert_int_eq(arnet_flow_create(2, 48, NULL, &f), ARNET_E_INVALID);
    ck_assert_ptr_nonnull(strstr(arnet_last_error(), "2 x 48"));
    ck_assert_int_eq(arnet_flow_create(64, 20000, NULL, &f), ARNET_E_INVALID);
    ck_assert_int_eq(arnet_flow_create(64, 48, NULL, NULL), ARNET_E_INVALID);
    ck_assert_int_eq(arnet_flow_create(64, 48, NULL, &f), ARNET_OK);
    uint8_t a[64 * 48] = {0};
    float fa[64 * 48] = {0};
    float *flow = malloc(64 * 48 * 2 * sizeof(float));
    ck_assert_int_eq(arnet_flow_compute(f, NULL, 64, a, 64, flow), ARNET_E_INVALID);
    ck_assert_ptr_nonnull(strstr(arnet_last_error(), "prev"));
    ck_assert_int_eq(arnet_flow_compute(f, a, 64, a, 64, NULL), ARNET_E_INVALID);
    ck_assert_int_eq(arnet_flow_compute(f, a, 64, a, 63, flow), ARNET_E_INVALID);
    ck_assert_ptr_nonnull(strstr(arnet_last_error(), "next stride 63"));
    ck_assert_int_eq(arnet_flow_compute(NULL, a, 64, a, 64, flow), ARNET_E_INVALID);
    fa[5 * 64 + 7] = NAN;
    ck_assert_int_eq(arnet_flow_compute_f32(f, fa, 64, fa, 64, flow),
                     ARNET_E_INVALID);
    ck_assert_ptr_nonnull(strstr(arnet_last_error(), "x 7, y 5"));
    ck_assert_int_eq(arnet_rgb_to_grey(NULL, 9, 3, 1, a), ARNET_E_INVALID);
    ck_assert_int_eq(arnet_rgb_to_grey(a, 8, 3, 1, a + 100), ARNET_E_INVALID);
    ck_assert_ptr_nonnull(strstr(arnet_last_error(), "stride 8"));
    free(flow);
    arnet_flow_free(f);
    arnet_flow_free(NULL);
    arnet_flow_cancel(NULL);
    ck_assert_uint_eq(arnet_flow_memory(NULL), 0);
}
END_TEST

/* A known shift, recovered to a small fraction of a pixel inside the frame
 * (TV-L1 at lambda 0.15 shortens it a little on this smooth texture:
 * OpenCV gives (1.204, -0.795) for (1.25, -0.75), as this does);
 * the same bits at 1, 2 and 3 threads and from float frames (/ 255). */
START_TEST(known_shift_recovered_same_at_any_thread_count)
{
    const uint32_t w = 96, h = 80;
    const double dx = 1.25, dy = -0.75;
    uint8_t *a = malloc(w * h), *b = malloc(w * h);
    float *fa = malloc(w * h * sizeof(float)), *fb = malloc(w * h * sizeof(float));
    make_pair(w, h, dx, dy, a, b);
    for (uint32_t i = 0; i < w * h; i++) {
        fa[i] = (float)a[i] / 255.0f;
        fb[i] = (float)b[i] / 255.0f;
    }
    float *flow[4];
    for (int t = 1; t <= 3; t++) {
        arnet_flow_options o;
        arnet_flow_options_init(&o);
        o.threads = t;
        arnet_flow *f = NULL;
        ck_assert_int_eq(arnet_flow_create(w, h, &o, &f), ARNET_OK);
        flow[t] = malloc(w * h * 2 * sizeof(float));
        ck_assert_int_eq(arnet_flow_compute(f, a, w, b, w, flow[t]), ARNET_OK);
        if (t == 2) {
            flow[0] = malloc(w * h * 2 * sizeof(float));
            ck_assert_int_eq(arnet_flow_compute_f32(f, fa, w, fb, w, flow[0]), ARNET_OK);
        }
        arnet_flow_free(f);
    }
    double sx = 0, sy = 0, worst = 0;
    size_t n = 0;
    for (uint32_t y = 8; y + 8 < h; y++)
        for (uint32_t x = 8; x + 8 < w; x++) {
            const float *v = flow[1] + 2 * (y * w + x);
            sx += v[0];
            sy += v[1];
            double e = hypot(v[0] - dx, v[1] - dy);
            worst = e > worst ? e : worst;
            n++;
        }
    ck_assert_msg(fabs(sx / n - dx) < 0.08 && fabs(sy / n - dy) < 0.08,
                  "mean flow (%g, %g), moved by (%g, %g)", sx / n, sy / n, dx, dy);
    ck_assert_msg(worst < 0.4, "worst end-point error inside %g px", worst);
    for (int t = 2; t <= 3; t++)
        ck_assert_msg(memcmp(flow[1], flow[t], w * h * 2 * sizeof(float)) == 0,
                      "%d threads differ from 1", t);
    /* a / 255 * 255 is not always a exactly; the flow is still the same to
     * a thousandth of a pixel */
    for (uint32_t i = 0; i < w * h * 2; i++)
        ck_assert_msg(fabsf(flow[0][i] - flow[1][i]) < 1e-3f, "float frames: %g vs %g at %u",
                      flow[0][i], flow[1][i], i);
    for (int t = 0; t <= 3; t++)
        free(flow[t]);
    free(a);
    free(b);
    free(fa);
    free(fb);
}
END_TEST

/* exact = 0 (float arithmetic of our own): the same shift, to the same
 * accuracy, and within a hundredth of a pixel of the exact flow on average;
 * its bits too do not depend on the thread count (a tile's boundary row
 * takes the same arithmetic as the rows inside it). */
START_TEST(inexact_mode_close_to_exact)
{
    const uint32_t w = 96, h = 80;
    uint8_t *a = malloc(w * h), *b = malloc(w * h);
    make_pair(w, h, 1.25, -0.75, a, b);
    float *fl[2];
    for (int exact = 0; exact <= 1; exact++) {
        arnet_flow_options o;
        arnet_flow_options_init(&o);
        o.exact = exact;
        arnet_flow *f = NULL;
        ck_assert_int_eq(arnet_flow_create(w, h, &o, &f), ARNET_OK);
        fl[exact] = malloc(w * h * 2 * sizeof(float));
        ck_assert_int_eq(arnet_flow_compute(f, a, w, b, w, fl[exact]), ARNET_OK);
        arnet_flow_free(f);
    }
    float *ft = malloc(w * h * 2 * sizeof(float));
    for (int t = 2; t <= 4; t++) {
        arnet_flow_options o;
        arnet_flow_options_init(&o);
        o.exact = 0;
        o.threads = t;
        arnet_flow *f = NULL;
        ck_assert_int_eq(arnet_flow_create(w, h, &o, &f), ARNET_OK);
        ck_assert_int_eq(arnet_flow_compute(f, a, w, b, w, ft), ARNET_OK);
        arnet_flow_free(f);
        ck_assert_msg(memcmp(ft, fl[0], w * h * 2 * sizeof(float)) == 0,
                      "exact = 0: %d threads differ from 1", t);
    }
    free(ft);
    double sum = 0;
    for (uint32_t i = 0; i < w * h; i++)
        sum += hypot(fl[0][2 * i] - fl[1][2 * i], fl[0][2 * i + 1] - fl[1][2 * i + 1]);
    ck_assert_msg(sum / (w * h) < 0.01, "inexact: mean end-point difference %g px", sum / (w * h));
    ck_assert_msg(memcmp(fl[0], fl[1], w * h * 2 * sizeof(float)) != 0,
                  "exact = 0 gave the exact bits (not in use?)");
    free(fl[0]);
    free(fl[1]);
    free(a);
    free(b);
}
END_TEST

/* Each instruction set's kernels (the AVX-512 ones by hand, the others
 * the compiler's): the exact mode gives the same bits on all of them (a
 * 160 x 120 shift and rotation-like pair, so that the coarse levels' odd
 * widths and the frame's edges are in it); exact = 0 is each set's own
 * arithmetic, the same at 1 and 3 threads and within a fiftieth of a pixel
 * of the exact flow on average. */
START_TEST(kernel_sets_agree)
{
    const uint32_t w = 150, h = 110;
    uint8_t *a = malloc(w * h), *b = malloc(w * h);
    make_pair(w, h, 2.3, -1.1, a, b);
    const char *sets[] = {"avx512", "avx2", "baseline"};
    float *ref = malloc(w * h * 2 * sizeof(float)), *got = malloc(w * h * 2 * sizeof(float)),
          *fast1 = malloc(w * h * 2 * sizeof(float));
    int n_sets = 0, have_ref = 0;
    for (int exact = 1; exact >= 0; exact--)
        for (int s = 0; s < 3; s++)
            for (int t = 1; t <= 3; t += 2) {
                arnet_flow_options o;
                arnet_flow_options_init(&o);
                o.exact = exact;
                o.threads = t;
                arnet_flow *f = NULL;
                ck_assert_int_eq(arnet_flow_create(w, h, &o, &f), ARNET_OK);
                if (arnet__flow_use_kernels(f, sets[s]) != 0) {
                    arnet_flow_free(f);
                    continue;
                }
                n_sets += exact && t == 1;
                ck_assert_str_eq(arnet__flow_kernels(f), sets[s]);
                /* the first exact flow is the reference; exact = 0 at one
                 * thread goes to fast1; the rest to got */
                float *out = exact && !have_ref ? ref : !exact && t == 1 ? fast1 : got;
                ck_assert_int_eq(arnet_flow_compute(f, a, w, b, w, out), ARNET_OK);
                arnet_flow_free(f);
                if (out == ref) {
                    have_ref = 1;
                    continue;
                }
                if (exact)
                    ck_assert_msg(memcmp(ref, got, w * h * 2 * sizeof(float)) == 0,
                                  "exact mode: %s kernels at %d threads differ from the first set",
                                  sets[s], t);
                if (!exact && t == 3)
                    ck_assert_msg(memcmp(fast1, got, w * h * 2 * sizeof(float)) == 0,
                                  "exact = 0: %s kernels differ between 1 and 3 threads", sets[s]);
                if (!exact && t == 1) {
                    double sum = 0;
                    for (uint32_t i = 0; i < w * h; i++)
                        sum += hypot(fast1[2 * i] - ref[2 * i], fast1[2 * i + 1] - ref[2 * i + 1]);
                    ck_assert_msg(sum / (w * h) < 0.02,
                                  "exact = 0 with %s kernels: mean %g px from the exact flow",
                                  sets[s], sum / (w * h));
                }
            }
    ck_assert_msg(n_sets >= 1, "no kernel set could be chosen by name");
    free(ref);
    free(got);
    free(fast1);
    free(a);
    free(b);
}
END_TEST

/* The exact mode's two quotients from one division on AVX-512 (flow.c,
 * div_pair) are IEEE division's bits: 4 M random quotients over the range
 * the kernel lets through (a quarter with all-ones significands). */
START_TEST(division_by_reciprocal_is_ieee)
{
    long bad = arnet__flow_div_check(20261206u, 4000000);
    if (bad < 0)
        return; /* no AVX-512 here: the kernel is not used */
    ck_assert_msg(bad == 0, "%ld quotients differ from IEEE division", bad);
}
END_TEST

#if COUNT_ALLOCATIONS
START_TEST(compute_never_allocates)
{
    const uint32_t w = 64, h = 48;
    uint8_t *a = __libc_malloc(w * h), *b = __libc_malloc(w * h);
    float *flow = __libc_malloc(w * h * 2 * sizeof(float));
    make_pair(w, h, 0.5, 0.5, a, b);
    for (int t = 1; t <= 2; t++) {
        arnet_flow_options o;
        arnet_flow_options_init(&o);
        o.threads = t;
        o.gamma = t == 2 ? 0.1f : 0.0f;
        arnet_flow *f = NULL;
        ck_assert_int_eq(arnet_flow_create(w, h, &o, &f), ARNET_OK);
        n_allocs = 0;
        counting = 1;
        int rc = arnet_flow_compute(f, a, w, b, w, flow);
        rc |= arnet_flow_compute(f, b, w, a, w, flow);
        counting = 0;
        ck_assert_int_eq(rc, ARNET_OK);
        ck_assert_msg(n_allocs == 0, "%ld allocations in compute at %d threads", n_allocs, t);
        arnet_flow_free(f);
    }
    __libc_free(a);
    __libc_free(b);
    __libc_free(flow);
}
END_TEST
#endif

struct canceller {
    arnet_flow *f;
    useconds_t after;
};

static void *cancel_later(void *p)
{
    struct canceller *c = p;
    usleep(c->after);
    arnet_flow_cancel(c->f);
    return NULL;
}

START_TEST(cancel_stops_a_running_compute)
{
    const uint32_t w = 160, h = 120;
    uint8_t *a = malloc(w * h), *b = malloc(w * h);
    float *flow = malloc(w * h * 2 * sizeof(float));
    make_pair(w, h, 2.0, 1.0, a, b);
    for (int t = 1; t <= 2; t++) {
        arnet_flow_options o;
        arnet_flow_options_init(&o);
        o.threads = t;
        o.epsilon = 0.0f; /* never converges: every iteration runs */
        o.inner_iterations = 100000;
        arnet_flow *f = NULL;
        ck_assert_int_eq(arnet_flow_create(w, h, &o, &f), ARNET_OK);
        /* A request made between calls stops the next one, and is consumed. */
        arnet_flow_cancel(f);
        ck_assert_int_eq(arnet_flow_compute(f, a, w, b, w, flow), ARNET_E_CANCELLED);
        ck_assert_ptr_nonnull(strstr(arnet_last_error(), "cancelled"));
        struct canceller c = {f, 50000};
        pthread_t th;
        ck_assert_int_eq(pthread_create(&th, NULL, cancel_later, &c), 0);
        double t0 = now();
        int rc = arnet_flow_compute(f, a, w, b, w, flow);
        double took = now() - t0;
        pthread_join(th, NULL);
        ck_assert_int_eq(rc, ARNET_E_CANCELLED);
        ck_assert_msg(took < 2.0, "cancel took %.2f s to act", took);
        arnet_flow_free(f);
    }
    /* After a cancel the state computes normally again. */
    arnet_flow *f = NULL;
    ck_assert_int_eq(arnet_flow_create(w, h, NULL, &f), ARNET_OK);
    arnet_flow_cancel(f);
    ck_assert_int_eq(arnet_flow_compute(f, a, w, b, w, flow), ARNET_E_CANCELLED);
    ck_assert_int_eq(arnet_flow_compute(f, a, w, b, w, flow), ARNET_OK);
    arnet_flow_free(f);
    free(a);
    free(b);
    free(flow);
}
END_TEST

/* The figure covers the buffers the algorithm needs (at least the two
 * frames, the flow, p and the warped data of level 0, and the levels
 * below: 1 + 0.64 + ... of them) and is not wildly more. */
START_TEST(memory_is_stated)
{
    arnet_flow *f = NULL, *g = NULL;
    ck_assert_int_eq(arnet_flow_create(224, 224, NULL, &f), ARNET_OK);
    ck_assert_int_eq(arnet_flow_create(448, 448, NULL, &g), ARNET_OK);
    size_t plane = 224 * 224 * sizeof(float), m = arnet_flow_memory(f);
    ck_assert_msg(m >= 20 * plane && m <= 40 * plane, "%zu bytes for 224 x 224", m);
    size_t m4 = arnet_flow_memory(g);
    ck_assert_msg(m4 > 3 * m && m4 < 5 * m, "%zu bytes at 448 x 448, %zu at 224", m4, m);
    arnet_flow_free(f);
    arnet_flow_free(g);
}
END_TEST

START_TEST(grey_is_opencv_rgb2gray)
{
    uint8_t rgb[4 * 3 + 2] = {255, 255, 255, 0, 0, 0, 10, 200, 30, 255, 0, 0, 9, 9};
    uint8_t grey[4];
    ck_assert_int_eq(arnet_rgb_to_grey(rgb, 14, 4, 1, grey), ARNET_OK);
    ck_assert_uint_eq(grey[0], 255);
    ck_assert_uint_eq(grey[1], 0);
    ck_assert_uint_eq(grey[2], (9798 * 10 + 19235 * 200 + 3735 * 30 + 16384) >> 15);
    ck_assert_uint_eq(grey[3], 76); /* cv2: RGB (255, 0, 0) -> 76 */
}
END_TEST

Suite *make_suite(void);
Suite *make_suite(void)
{
    Suite *s = suite_create("flow");
    TCase *tc = tcase_create("flow");
    tcase_set_timeout(tc, 120); /* generous: the machine is shared */
    tcase_add_test(tc, defaults_are_opencv_and_presets_set_iterations);
    tcase_add_test(tc, bad_options_and_arguments_are_refused);
    tcase_add_test(tc, known_shift_recovered_same_at_any_thread_count);
    tcase_add_test(tc, inexact_mode_close_to_exact);
    tcase_add_test(tc, kernel_sets_agree);
    tcase_add_test(tc, division_by_reciprocal_is_ieee);
#if COUNT_ALLOCATIONS
    tcase_add_test(tc, compute_never_allocates);
#endif
    tcase_add_test(tc, cancel_stops_a_running_compute);
    tcase_add_test(tc, memory_is_stated);
    tcase_add_test(tc, grey_is_opencv_rgb2gray);
    suite_add_tcase(s, tc);
    return s;
}
