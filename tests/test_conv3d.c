/* test_conv3d.c -- the extractor's kernels (conv3d.c) against direct loops
 * in double precision: every kernel/stride the network uses, odd extents
 * (SAME padding on remainders), channel slices, pools. */
#include <check.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "conv3d.h"
#include "internal.h"

/* ---- helpers -------------------------------------------------------------- */

static float *random_floats(size_t n, uint64_t seed, double lo, double hi)
{
    float *x = malloc((n ? n : 1) * sizeof(float));
    ck_assert_ptr_nonnull(x);
    arnet__rng r;
    arnet__rng_seed(&r, seed);
    for (size_t i = 0; i < n; i++)
        x[i] = (float)(lo + (hi - lo) * arnet__rng_uniform(&r));
    return x;
}

/* TF SAME padding, written out here independently of the library. */
static void same(uint32_t n, uint32_t k, uint32_t s, long *front, uint32_t *out)
{
    long p = n % s == 0 ? (long)k - (long)s : (long)k - (long)(n % s);
    if (p < 0)
        p = 0;
    *front = p / 2;
    *out = (n + s - 1) / s;
}

/* Direct convolution: in [t][h][w][C], w PyTorch [O][C][kt][kh][kw];
 * out [to][ho][wo][O] = ReLU(sum + b), in double. */
static double *conv_ref(const arnet__i3d_conv_desc *d, const float *in, uint32_t T, uint32_t H,
                        uint32_t W, const float *w, const float *b, uint32_t od[3])
{
    long f[3];
    same(T, d->k[0], d->s[0], &f[0], &od[0]);
    same(H, d->k[1], d->s[1], &f[1], &od[1]);
    same(W, d->k[2], d->s[2], &f[2], &od[2]);
    const uint32_t C = d->in_ch, O = d->out_ch;
    double *out = malloc((size_t)od[0] * od[1] * od[2] * O * sizeof(double));
    ck_assert_ptr_nonnull(out);
    for (uint32_t to = 0; to < od[0]; to++)
        for (uint32_t ho = 0; ho < od[1]; ho++)
            for (uint32_t wo = 0; wo < od[2]; wo++)
                for (uint32_t o = 0; o < O; o++) {
                    double acc = b[o];
                    for (uint32_t c = 0; c < C; c++)
                        for (int dt = 0; dt < d->k[0]; dt++)
                            for (int dh = 0; dh < d->k[1]; dh++)
                                for (int dw = 0; dw < d->k[2]; dw++) {
                                    long ti = (long)to * d->s[0] + dt - f[0];
                                    long hi = (long)ho * d->s[1] + dh - f[1];
                                    long wi = (long)wo * d->s[2] + dw - f[2];
                                    if (ti < 0 || hi < 0 || wi < 0 || ti >= (long)T ||
                                        hi >= (long)H || wi >= (long)W)
                                        continue;
                                    double x = in[(((size_t)ti * H + hi) * W + wi) * C + c];
                                    double k = w[((((size_t)o * C + c) * d->k[0] + dt) *
                                                      d->k[1] +
                                                  dh) *
                                                     d->k[2] +
                                                 dw];
                                    acc += x * k;
                                }
                    out[(((size_t)to * od[1] + ho) * od[2] + wo) * O + o] = acc > 0 ? acc : 0;
                }
    return out;
}

typedef void (*conv_fn)(const arnet__i3d_conv_desc *, const arnet__i3d_conv *,
                        const arnet__act *, const arnet__act *, float *, arnet__team *);

/* Run kernel fn on a T x H x W x C input, writing into channels
 * [slice_off, slice_off + O) of an output `wide` channels wide, and compare
 * with the direct loop; channels outside the slice must stay untouched. */
static void check_conv(conv_fn fn, uint8_t k0, uint8_t k1, uint8_t k2, uint8_t s0, uint8_t s1,
                       uint8_t s2, uint32_t C, uint32_t O, uint32_t T, uint32_t H, uint32_t W,
                       uint32_t wide, uint32_t slice_off, int threads)
{
    arnet__i3d_conv_desc d = {"test", "test", C, O, {k0, k1, k2}, {s0, s1, s2}};
    size_t taps = (size_t)k0 * k1 * k2;
    uint64_t seed = (uint64_t)k0 * 1000003u + C * 101u + O * 7u + T + H * 13u + W * 17u;
    float *in = random_floats((size_t)T * H * W * C, seed, 0.0, 1.0);
    float *w = random_floats((size_t)O * C * taps, seed + 1, -1.0 / sqrt((double)C * taps),
                             1.0 / sqrt((double)C * taps));
    float *b = random_floats(O, seed + 2, -0.3, 0.3);
    arnet__i3d_conv cv = {w, b, NULL};
    ck_assert_int_eq(arnet__conv3d_prepare(&d, &cv), ARNET_OK);

    uint32_t od[3];
    double *ref = conv_ref(&d, in, T, H, W, w, b, od);
    uint32_t od2[3];
    arnet__conv3d_out_dims(d.k, d.s, T, H, W, od2);
    ck_assert_uint_eq(od[0], od2[0]);
    ck_assert_uint_eq(od[1], od2[1]);
    ck_assert_uint_eq(od[2], od2[2]);
    size_t P = (size_t)od[0] * od[1] * od[2];
    float *out = random_floats(P * wide, seed + 3, 5.0, 6.0); /* sentinel values */
    float *keep = malloc(P * wide * sizeof(float));
    memcpy(keep, out, P * wide * sizeof(float));
    size_t ns = arnet__conv3d_scratch_floats(&d, T, H, W, threads);
    float *scratch = malloc((ns ? ns : 1) * sizeof(float));
    arnet__act a_in = {in, T, H, W, C, C};
    arnet__act a_out = {out + slice_off, od[0], od[1], od[2], O, wide};
    arnet__team *team = NULL;
    ck_assert_int_eq(arnet__team_create(threads, &team), ARNET_OK);
    ck_assert_int_eq(arnet__team_size(team), threads);
    fn(&d, &cv, &a_in, &a_out, scratch, team);
    arnet__team_free(team);

    double max_err = 0, max_ref = 0;
    for (size_t p = 0; p < P; p++)
        for (uint32_t j = 0; j < wide; j++) {
            float got = out[p * wide + j];
            if (j < slice_off || j >= slice_off + O) {
                ck_assert_msg(got == keep[p * wide + j],
                              "channel %u outside the slice was written", j);
                continue;
            }
            double r = ref[p * O + (j - slice_off)];
            ck_assert_msg(got >= 0.0f, "ReLU output negative");
            double e = fabs(got - r);
            max_err = e > max_err ? e : max_err;
            max_ref = fabs(r) > max_ref ? fabs(r) : max_ref;
        }
    ck_assert_msg(max_ref > 0.01, "reference is all zeros (C %u O %u in %ux%ux%u): the test would not see errors", C, O, T, H, W);
    ck_assert_msg(max_err <= 1e-5 * (1.0 + max_ref),
                  "k %u%u%u s %u%u%u C %u O %u in %ux%ux%u: max error %g (max %g)", k0, k1, k2,
                  s0, s1, s2, C, O, T, H, W, max_err, max_ref);
    arnet__conv3d_unprepare(&cv);
    ck_assert_ptr_null(cv.prepared);
    free(in), free(w), free(b), free(ref), free(out), free(keep), free(scratch);
}

/* ---- tests ---------------------------------------------------------------- */

START_TEST(stem_7x7x7_stride2)
{
    /* Conv3d_1a's kernel on remainders of stride 2 in every dimension (odd
     * and even extents), with more positions than one im2col tile. */
    check_conv(arnet__conv3d, 7, 7, 7, 2, 2, 2, 3, 8, 5, 9, 7, 8, 0, 1);
    check_conv(arnet__conv3d, 7, 7, 7, 2, 2, 2, 3, 16, 4, 10, 13, 16, 0, 2);
    check_conv(arnet__conv3d, 7, 7, 7, 2, 2, 2, 3, 5, 1, 1, 2, 5, 0, 1);
    check_conv(arnet__conv3d, 7, 7, 7, 2, 2, 2, 3, 4, 3, 49, 47, 4, 0, 1);
}
END_TEST

START_TEST(pointwise_into_slices)
{
    check_conv(arnet__conv3d, 1, 1, 1, 1, 1, 1, 17, 9, 3, 5, 7, 9, 0, 1);
    check_conv(arnet__conv3d, 1, 1, 1, 1, 1, 1, 64, 32, 2, 7, 7, 100, 37, 1);
    check_conv(arnet__conv3d, 1, 1, 1, 1, 1, 1, 192, 48, 4, 13, 11, 80, 32, 2);
    check_conv(arnet__conv3d, 1, 1, 1, 1, 1, 1, 5, 3, 1, 1, 1, 7, 4, 1);
}
END_TEST

START_TEST(cube_3x3x3_stride1)
{
    /* Every 3x3x3 convolution of the network is stride 1; extents odd,
     * even, 1 and 2 along each dimension, into slices of a wider output. */
    check_conv(arnet__conv3d, 3, 3, 3, 1, 1, 1, 7, 5, 3, 5, 6, 5, 0, 1);
    check_conv(arnet__conv3d, 3, 3, 3, 1, 1, 1, 16, 24, 4, 9, 7, 40, 8, 1);
    check_conv(arnet__conv3d, 3, 3, 3, 1, 1, 1, 32, 20, 2, 14, 14, 64, 44, 2);
    check_conv(arnet__conv3d, 3, 3, 3, 1, 1, 1, 8, 12, 1, 1, 1, 12, 0, 1);
    check_conv(arnet__conv3d, 3, 3, 3, 1, 1, 1, 6, 6, 2, 2, 3, 6, 0, 1);
    check_conv(arnet__conv3d, 3, 3, 3, 1, 1, 1, 3, 4, 1, 8, 1, 4, 0, 1);
    /* More positions than one tile (K = 1728). */
    check_conv(arnet__conv3d, 3, 3, 3, 1, 1, 1, 64, 16, 2, 15, 13, 16, 0, 1);
}
END_TEST

START_TEST(cube_3x3x3_plain_method)
{
    /* The bounded im2col path on its own (the reference of faster ones). */
    check_conv(arnet__conv3d_im2col, 3, 3, 3, 1, 1, 1, 16, 24, 4, 9, 7, 40, 8, 1);
    check_conv(arnet__conv3d_im2col, 3, 3, 3, 1, 1, 1, 64, 16, 2, 15, 13, 16, 0, 2);
    check_conv(arnet__conv3d_im2col, 2, 3, 1, 2, 1, 3, 5, 7, 5, 6, 7, 7, 0, 1);
}
END_TEST

START_TEST(cube_3x3x3_winograd)
{
    /* The fast method directly, on any channel count: odd extents leave
     * half tiles at the bottom and right; t = 1 has no shifted products. */
    check_conv(arnet__conv3d_winograd, 3, 3, 3, 1, 1, 1, 7, 5, 3, 5, 6, 5, 0, 1);
    check_conv(arnet__conv3d_winograd, 3, 3, 3, 1, 1, 1, 16, 24, 4, 9, 7, 40, 8, 2);
    check_conv(arnet__conv3d_winograd, 3, 3, 3, 1, 1, 1, 8, 12, 1, 1, 1, 12, 0, 1);
    check_conv(arnet__conv3d_winograd, 3, 3, 3, 1, 1, 1, 6, 6, 2, 2, 3, 6, 0, 2);
    check_conv(arnet__conv3d_winograd, 3, 3, 3, 1, 1, 1, 5, 4, 1, 8, 1, 4, 0, 1);
    check_conv(arnet__conv3d_winograd, 3, 3, 3, 1, 1, 1, 3, 9, 2, 1, 9, 9, 0, 1);
    /* 6 and 7 frames, 3 x 3 and 5 x 9 positions (one partial tile). */
    check_conv(arnet__conv3d_winograd, 3, 3, 3, 1, 1, 1, 5, 7, 6, 5, 9, 7, 0, 2);
    check_conv(arnet__conv3d_winograd, 3, 3, 3, 1, 1, 1, 9, 4, 7, 3, 3, 4, 0, 1);
    /* Where arnet__conv3d chooses it (>= 64 channels, >= 8 x 8), with more
     * tiles than one block and blocks shared by two threads. */
    check_conv(arnet__conv3d, 3, 3, 3, 1, 1, 1, 64, 40, 3, 17, 15, 48, 8, 2);
    check_conv(arnet__conv3d, 3, 3, 3, 1, 1, 1, 96, 16, 8, 28, 28, 16, 0, 2);
    check_conv(arnet__conv3d, 3, 3, 3, 1, 1, 1, 160, 36, 2, 8, 9, 36, 0, 1);
}
END_TEST

static void check_pool(uint8_t k0, uint8_t k1, uint8_t k2, uint8_t s0, uint8_t s1, uint8_t s2,
                       uint32_t T, uint32_t H, uint32_t W, uint32_t C, uint32_t wide,
                       int threads)
{
    uint8_t k[3] = {k0, k1, k2}, s[3] = {s0, s1, s2};
    /* Some negative inputs, so that the zero padding shows in the result. */
    float *in = random_floats((size_t)T * H * W * C, T * 31u + H * 7u + W + C, -0.5, 1.0);
    long f[3];
    uint32_t od[3];
    same(T, k0, s0, &f[0], &od[0]);
    same(H, k1, s1, &f[1], &od[1]);
    same(W, k2, s2, &f[2], &od[2]);
    size_t P = (size_t)od[0] * od[1] * od[2];
    float *out = malloc(P * wide * sizeof(float));
    for (size_t i = 0; i < P * wide; i++)
        out[i] = 7.0f;
    arnet__act a_in = {in, T, H, W, C, C};
    arnet__act a_out = {out, od[0], od[1], od[2], C, wide};
    arnet__team *team = NULL;
    ck_assert_int_eq(arnet__team_create(threads, &team), ARNET_OK);
    arnet__maxpool3d(k, s, &a_in, &a_out, team);
    arnet__team_free(team);
    for (uint32_t to = 0; to < od[0]; to++)
        for (uint32_t ho = 0; ho < od[1]; ho++)
            for (uint32_t wo = 0; wo < od[2]; wo++)
                for (uint32_t c = 0; c < wide; c++) {
                    size_t p = ((size_t)to * od[1] + ho) * od[2] + wo;
                    if (c >= C) {
                        ck_assert(out[p * wide + c] == 7.0f);
                        continue;
                    }
                    /* max over the zero-padded window (F.pad then max_pool3d) */
                    double m = -INFINITY;
                    for (int dt = 0; dt < k0; dt++)
                        for (int dh = 0; dh < k1; dh++)
                            for (int dw = 0; dw < k2; dw++) {
                                long ti = (long)to * s0 + dt - f[0];
                                long hi = (long)ho * s1 + dh - f[1];
                                long wi = (long)wo * s2 + dw - f[2];
                                double v = 0.0;
                                if (ti >= 0 && hi >= 0 && wi >= 0 && ti < (long)T &&
                                    hi < (long)H && wi < (long)W)
                                    v = in[(((size_t)ti * H + hi) * W + wi) * C + c];
                                m = v > m ? v : m;
                            }
                    ck_assert_msg(out[p * wide + c] == (float)m,
                                  "pool k %u%u%u s %u%u%u at %u,%u,%u,%u: %g vs %g", k0, k1, k2,
                                  s0, s1, s2, to, ho, wo, c, out[p * wide + c], m);
                }
    free(in);
    free(out);
}

START_TEST(pools_of_the_network)
{
    /* MaxPool3d_2a/3a (1,3,3 / 1,2,2), 4a (3,3,3 / 2,2,2), 5a (2,2,2 /
     * 2,2,2), the Inception b3a (3,3,3 / 1,1,1): odd and even extents. */
    check_pool(1, 3, 3, 1, 2, 2, 3, 9, 8, 5, 5, 2);
    check_pool(1, 3, 3, 1, 2, 2, 2, 1, 2, 3, 4, 2);
    check_pool(3, 3, 3, 2, 2, 2, 5, 7, 6, 4, 4, 2);
    check_pool(3, 3, 3, 2, 2, 2, 4, 8, 9, 3, 3, 1);
    check_pool(2, 2, 2, 2, 2, 2, 3, 7, 8, 6, 9, 1);
    check_pool(2, 2, 2, 2, 2, 2, 1, 1, 1, 2, 2, 1);
    check_pool(3, 3, 3, 1, 1, 1, 3, 5, 4, 7, 10, 2);
    check_pool(3, 3, 3, 1, 1, 1, 1, 1, 1, 2, 2, 2);
    /* Rows wider than one run of the separable method's buffer (16384
     * floats: 23 columns of 700 channels), and channels too many for it
     * (the direct method). */
    check_pool(3, 3, 3, 1, 1, 1, 2, 3, 40, 700, 700, 2);
    check_pool(3, 3, 3, 2, 2, 2, 3, 3, 41, 700, 704, 1);
    check_pool(1, 3, 3, 1, 2, 2, 1, 3, 3, 6000, 6000, 1);
}
END_TEST

START_TEST(same_padding_extents)
{
    /* ceil(n / s) outputs whatever the kernel, e.g. 7 -> 4 at stride 2. */
    uint8_t k[3] = {7, 3, 2}, s[3] = {2, 2, 2};
    uint32_t od[3];
    arnet__conv3d_out_dims(k, s, 7, 8, 1, od);
    ck_assert_uint_eq(od[0], 4);
    ck_assert_uint_eq(od[1], 4);
    ck_assert_uint_eq(od[2], 1);
}
END_TEST

Suite *make_suite(void)
{
    Suite *s = suite_create("conv3d");
    TCase *tc = tcase_create("kernels");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, stem_7x7x7_stride2);
    tcase_add_test(tc, pointwise_into_slices);
    tcase_add_test(tc, cube_3x3x3_stride1);
    tcase_add_test(tc, cube_3x3x3_plain_method);
    tcase_add_test(tc, cube_3x3x3_winograd);
    tcase_add_test(tc, pools_of_the_network);
    tcase_add_test(tc, same_padding_extents);
    suite_add_tcase(s, tc);
    return s;
}
