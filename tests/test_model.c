/* test_model.c -- the model: defaults, initialisation, and the BLIS forward
 * pass against a naive double-precision loop. */
#include <check.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "fixtures.h"
#include "detector_int.h"
#include "internal.h"

static arnet_model *make_model(uint32_t F, uint32_t H, uint64_t seed)
{
    return fixture_model(F, H, 0.7f, seed);
}

START_TEST(default_config_is_the_papers)
{
    arnet_model_config cfg;
    memset(&cfg, 0xab, sizeof cfg);
    arnet_model_config_init(&cfg);
    ck_assert_uint_eq(cfg.struct_size, sizeof cfg);
    ck_assert_uint_eq(cfg.feature_dim, 2048);
    ck_assert_uint_eq(cfg.hidden_dim, 0);
    ck_assert_float_eq(cfg.dropout, 0.7f);
    ck_assert_uint_eq(cfg.seed, 1);
    arnet_model *m = NULL;
    ck_assert_int_eq(arnet_model_create(&cfg, &m), ARNET_OK);
    ck_assert_uint_eq(arnet_model_feature_dim(m), 2048);
    ck_assert_uint_eq(arnet_model_hidden_dim(m), 2048);
    arnet_model_config got;
    arnet_model_config_init(&got);
    ck_assert_int_eq(arnet_model_get_config(m, &got), ARNET_OK);
    ck_assert_uint_eq(got.hidden_dim, 2048);
    ck_assert_float_eq(got.dropout, 0.7f);
    arnet_model_free(m);
}
END_TEST

START_TEST(xavier_bounds_and_zero_biases)
{
    uint32_t F = 50, H = 30;
    arnet_model *m = make_model(F, H, 7);
    float *w1 = malloc(sizeof(float) * F * H), b1[30], w2[30], b2;
    ck_assert_int_eq(arnet_model_get_params(m, w1, b1, w2, &b2), ARNET_OK);
    double bound1 = sqrt(6.0 / (F + H)), bound2 = sqrt(6.0 / (H + 1));
    double sum = 0, sumsq = 0;
    for (size_t i = 0; i < (size_t)F * H; i++) {
        ck_assert(fabs(w1[i]) <= bound1);
        sum += w1[i];
        sumsq += (double)w1[i] * w1[i];
    }
    /* Uniform(-b, b) has variance b^2/3: a broken generator fails this. */
    double n = (double)F * H, var = sumsq / n - (sum / n) * (sum / n);
    ck_assert(fabs(var - bound1 * bound1 / 3) < 0.1 * bound1 * bound1 / 3);
    ck_assert(fabs(sum / n) < 0.05 * bound1);
    for (uint32_t i = 0; i < H; i++) {
        ck_assert_float_eq(b1[i], 0.0f);
        ck_assert(fabs(w2[i]) <= bound2);
    }
    ck_assert_float_eq(b2, 0.0f);
    free(w1);
    arnet_model_free(m);
}
END_TEST

START_TEST(same_seed_same_weights_everywhere)
{
    arnet_model *a = make_model(16, 8, 42), *b = make_model(16, 8, 42), *c = make_model(16, 8, 43);
    float wa[128], wb[128], wc[128];
    ck_assert_int_eq(arnet_model_get_params(a, wa, NULL, NULL, NULL), ARNET_OK);
    ck_assert_int_eq(arnet_model_get_params(b, wb, NULL, NULL, NULL), ARNET_OK);
    ck_assert_int_eq(arnet_model_get_params(c, wc, NULL, NULL, NULL), ARNET_OK);
    ck_assert_mem_eq(wa, wb, sizeof wa);
    ck_assert(memcmp(wa, wc, sizeof wa) != 0);
    /* Pinned values: the generator and the initialisation order are part of
     * the reproducibility contract across machines and compilers.  Computed
     * independently: splitmix64/xoshiro256** in integer arithmetic. */
    arnet__rng r;
    arnet__rng_seed(&r, 42);
    double bound = sqrt(6.0 / 24.0);
    for (int i = 0; i < 128; i++) {
        float expect = (float)((2.0 * ((double)(arnet__rng_next(&r) >> 11) * 0x1.0p-53) - 1.0) * bound);
        ck_assert_float_eq(wa[i], expect);
    }
    /* Literal values, computed outside the library (Python integers and
     * numpy float32 from the algorithms' definitions), so a change to the
     * generator or to the initialisation cannot pass unnoticed. */
    static const float w_literal[4] = {-0x1.aa1fd4p-2f, -0x1.efb268p-4f, 0x1.70ba9ap-3f,
                                       0x1.b2e2b6p-2f};
    for (int i = 0; i < 4; i++)
        ck_assert_msg(wa[i] == w_literal[i], "w1[%d] = %a, pinned %a", i, (double)wa[i],
                      (double)w_literal[i]);
    arnet_model_free(a);
    arnet_model_free(b);
    arnet_model_free(c);
}
END_TEST

START_TEST(generator_matches_reference_values)
{
    /* xoshiro256** seeded by splitmix64(0): reference stream from the
     * algorithm's authors' C code, computed once and written down here. */
    arnet__rng r;
    arnet__rng_seed(&r, 0);
    ck_assert_uint_eq(r.s[0], 0xe220a8397b1dcdafULL);
    ck_assert_uint_eq(r.s[1], 0x6e789e6aa1b965f4ULL);
    ck_assert_uint_eq(r.s[2], 0x06c45d188009454fULL);
    ck_assert_uint_eq(r.s[3], 0xf88bb8a8724c81ecULL);
    /* Its first outputs (xoshiro256** of that state, computed outside the
     * library with Python integers). */
    static const uint64_t out[4] = {0x99ec5f36cb75f2b4ULL, 0xbf6e1f784956452aULL,
                                    0x1a5f849d4933e6e0ULL, 0x6aa594f1262d2d2cULL};
    for (int i = 0; i < 4; i++)
        ck_assert_uint_eq(arnet__rng_next(&r), out[i]);
    /* Unbiased bounded draws stay in range and reach both ends. */
    int seen[5] = {0};
    for (int i = 0; i < 1000; i++) {
        uint64_t v = arnet__rng_below(&r, 5);
        ck_assert_uint_lt(v, 5);
        seen[v]++;
    }
    for (int i = 0; i < 5; i++)
        ck_assert_int_gt(seen[i], 150);
}
END_TEST

/* Naive double-precision reference of eq. 1-2 without dropout. */
static void reference_scores(const arnet_model *m, const float *x, size_t n, double *out)
{
    size_t F = m->feature_dim, H = m->hidden_dim;
    for (size_t i = 0; i < n; i++) {
        double z = m->b2;
        for (size_t h = 0; h < H; h++) {
            double a = m->b1[h];
            for (size_t f = 0; f < F; f++)
                a += (double)x[i * F + f] * m->w1[h * F + f];
            if (a > 0)
                z += a * m->w2[h];
        }
        out[i] = 1.0 / (1.0 + exp(-z));
    }
}

static void check_forward(uint32_t F, uint32_t H, size_t n, uint64_t seed)
{
    arnet_model *m = make_model(F, H, seed);
    /* Non-zero biases so the broadcast is tested too. */
    float *b1 = malloc(sizeof(float) * H);
    for (uint32_t h = 0; h < H; h++)
        b1[h] = 0.01f * (float)((int)(h % 7) - 3);
    float b2 = 0.25f;
    ck_assert_int_eq(arnet_model_set_params(m, NULL, b1, NULL, &b2), ARNET_OK);
    float *x = malloc(sizeof(float) * n * F);
    arnet__rng r;
    arnet__rng_seed(&r, seed + 100);
    for (size_t i = 0; i < n * F; i++)
        x[i] = (float)(arnet__rng_uniform(&r) * 2.0);
    float *s = malloc(sizeof(float) * n);
    double *ref = malloc(sizeof(double) * n);
    ck_assert_int_eq(arnet_model_score(m, x, n, s), ARNET_OK);
    reference_scores(m, x, n, ref);
    for (size_t i = 0; i < n; i++) {
        ck_assert(s[i] >= 0.0f && s[i] <= 1.0f);
        ck_assert_msg(fabs(s[i] - ref[i]) < 2e-5, "clip %zu: %g vs %g", i, s[i], ref[i]);
    }
    free(b1);
    free(x);
    free(s);
    free(ref);
    arnet_model_free(m);
}

START_TEST(forward_matches_double_reference)
{
    check_forward(1, 1, 1, 1);
    check_forward(3, 5, 7, 2);
    check_forward(64, 64, 33, 3);
    check_forward(257, 129, 100, 4);
}
END_TEST

START_TEST(scores_saturate_without_nan)
{
    arnet_model *m = make_model(4, 4, 1);
    float w2[4] = {1e4f, 1e4f, 1e4f, 1e4f}, b2 = 0;
    ck_assert_int_eq(arnet_model_set_params(m, NULL, NULL, w2, &b2), ARNET_OK);
    float x[8] = {100, 100, 100, 100, -100, -100, -100, -100}, s[2];
    ck_assert_int_eq(arnet_model_score(m, x, 2, s), ARNET_OK);
    for (int i = 0; i < 2; i++)
        ck_assert(s[i] >= 0.0f && s[i] <= 1.0f && !isnan(s[i]));
    arnet_model_free(m);
}
END_TEST

START_TEST(non_finite_features_are_refused)
{
    /* A NaN would vanish in the ReLU and score like a plain clip: a broken
     * feature extractor must be an error, naming the clip and value. */
    arnet_model *m = make_model(4, 4, 1);
    float x[12] = {0}, s[3] = {-1, -1, -1};
    x[9] = NAN;
    ck_assert_int_eq(arnet_model_score(m, x, 3, s), ARNET_E_INVALID);
    ck_assert_ptr_nonnull(strstr(arnet_last_error(), "clip 2, value 1 is NaN"));
    x[9] = 0;
    x[3] = -INFINITY;
    ck_assert_int_eq(arnet_model_score(m, x, 3, s), ARNET_E_INVALID);
    ck_assert_ptr_nonnull(strstr(arnet_last_error(), "clip 0, value 3 is infinite"));
    ck_assert_float_eq(s[0], -1.0f); /* nothing written */
    /* Finite but huge: the hidden layer overflows to +-inf and the output
     * sums inf - inf.  An error, not a NaN score. */
    arnet_model_free(m);
    m = make_model(4, 4, 1);
    float w1[16], b1[4] = {0}, w2[4] = {1, -1, 1, -1}, b2 = 0;
    for (int i = 0; i < 16; i++)
        w1[i] = 1.0f;
    ck_assert_int_eq(arnet_model_set_params(m, w1, b1, w2, &b2), ARNET_OK);
    for (int i = 0; i < 12; i++)
        x[i] = i < 8 ? 1.0f : 3.0e38f; /* clip 2 overflows, clips 0-1 do not */
    ck_assert_int_eq(arnet_model_score(m, x, 3, s), ARNET_E_INVALID);
    ck_assert_ptr_nonnull(strstr(arnet_last_error(), "clip 2 scored NaN"));
    arnet_scorer *sc = NULL;
    ck_assert_int_eq(arnet_scorer_create(m, NULL, &sc), ARNET_OK);
    ck_assert_int_eq(arnet_scorer_score(sc, x, 3, s), ARNET_E_INVALID);
    ck_assert_ptr_nonnull(strstr(arnet_last_error(), "clip 2 scored NaN"));
    arnet_scorer_free(sc);
    arnet_model_free(m);
}
END_TEST

START_TEST(bad_configs_are_rejected_with_a_message)
{
    arnet_model_config cfg;
    arnet_model *m = NULL;
    arnet_model_config_init(&cfg);
    cfg.feature_dim = 0;
    ck_assert_int_eq(arnet_model_create(&cfg, &m), ARNET_E_INVALID);
    ck_assert_ptr_null(m);
    ck_assert_ptr_nonnull(strstr(arnet_last_error(), "feature_dim"));
    arnet_model_config_init(&cfg);
    cfg.dropout = 1.0f;
    ck_assert_int_eq(arnet_model_create(&cfg, &m), ARNET_E_INVALID);
    ck_assert_ptr_nonnull(strstr(arnet_last_error(), "dropout"));
    cfg.dropout = NAN;
    ck_assert_int_eq(arnet_model_create(&cfg, &m), ARNET_E_INVALID);
    arnet_model_config_init(&cfg);
    cfg.struct_size = 4;
    ck_assert_int_eq(arnet_model_create(&cfg, &m), ARNET_E_INVALID);
    ck_assert_ptr_nonnull(strstr(arnet_last_error(), "struct_size"));
    ck_assert_int_eq(arnet_model_create(NULL, &m), ARNET_E_INVALID);
    arnet_model_config_init(&cfg);
    cfg.feature_dim = 8;
    ck_assert_int_eq(arnet_model_score(NULL, NULL, 1, NULL), ARNET_E_INVALID);
    arnet_model_free(NULL);
}
END_TEST

START_TEST(metadata_set_get_remove)
{
    arnet_model *m = make_model(2, 2, 1);
    ck_assert_int_eq(arnet_model_set_meta(m, "dataset", "shanghaitech"), ARNET_OK);
    ck_assert_int_eq(arnet_model_set_meta(m, "steps", "10"), ARNET_OK);
    ck_assert_int_eq(arnet_model_set_meta(m, "steps", "20"), ARNET_OK);
    ck_assert_str_eq(arnet_model_get_meta(m, "steps"), "20");
    ck_assert_uint_eq(arnet_model_meta_count(m), 2);
    ck_assert_int_eq(arnet_model_set_meta(m, "bad key", "x"), ARNET_E_INVALID);
    ck_assert_int_eq(arnet_model_set_meta(m, "", "x"), ARNET_E_INVALID);
    ck_assert_int_eq(arnet_model_set_meta(m, "dataset", NULL), ARNET_OK);
    ck_assert_ptr_null(arnet_model_get_meta(m, "dataset"));
    const char *k, *v;
    ck_assert_int_eq(arnet_model_meta_at(m, 0, &k, &v), ARNET_OK);
    ck_assert_str_eq(k, "steps");
    ck_assert_int_eq(arnet_model_meta_at(m, 1, &k, &v), ARNET_E_INVALID);
    arnet_model_free(m);
}
END_TEST

START_TEST(blas_arch_is_reported)
{
    const char *arch = arnet_blas_arch();
    ck_assert_ptr_nonnull(arch);
    ck_assert_int_gt(strlen(arch), 0);
}
END_TEST

Suite *make_suite(void)
{
    Suite *s = suite_create("model");
    TCase *tc = tcase_create("model");
    tcase_add_test(tc, default_config_is_the_papers);
    tcase_add_test(tc, xavier_bounds_and_zero_biases);
    tcase_add_test(tc, same_seed_same_weights_everywhere);
    tcase_add_test(tc, generator_matches_reference_values);
    tcase_add_test(tc, forward_matches_double_reference);
    tcase_add_test(tc, scores_saturate_without_nan);
    tcase_add_test(tc, non_finite_features_are_refused);
    tcase_add_test(tc, bad_configs_are_rejected_with_a_message);
    tcase_add_test(tc, metadata_set_get_remove);
    tcase_add_test(tc, blas_arch_is_reported);
    suite_add_tcase(s, tc);
    return s;
}
