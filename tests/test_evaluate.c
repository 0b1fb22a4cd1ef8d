/* test_evaluate.c -- the evaluation protocol on a three-video case worked out
 * by hand, under both ground-truth rules, and its error paths. */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

/* F = 1, H = 1, w1 = 1, b1 = 0, w2 = 1, b2 = -1: s = sigmoid(relu(x) - 1),
 * so a clip with feature x scores exactly what the comments below say. */
static arnet_model *model_of(uint32_t feature_dim, uint32_t hidden_dim)
{
    arnet_model_config cfg;
    arnet_model_config_init(&cfg);
    cfg.feature_dim = feature_dim;
    cfg.hidden_dim = hidden_dim;
    arnet_model *m = NULL;
    ck_assert_int_eq(arnet_model_create(&cfg, &m), ARNET_OK);
    return m;
}

static arnet_model *tiny_model(void)
{
    arnet_model *m = model_of(1, 1);
    const float w1 = 1.0f, b1 = 0.0f, w2 = 1.0f, b2 = -1.0f;
    ck_assert_int_eq(arnet_model_set_params(m, &w1, &b1, &w2, &b2), ARNET_OK);
    return m;
}

static double sig(double z) { return 1.0 / (1.0 + exp(-z)); }

/* Video A, anomalous: clips x = 0, 3, 2 -> s = s(-1) = .269, s(2) = .881,
 *   s(1) = .731; ground truth 40 frames (shorter than 3 x 16 = 48):
 *   frames 0-7 normal, 8-39 anomalous.
 * Video B, normal, no ground truth: x = 4, 0 -> .953, .269; 32 frames.
 * Video C, normal, 60 frames of zeros (longer than 48): x = 1.5, 0, 2 ->
 *   s(.5) = .622, .269, .731; both rules keep 48 frames. */
static arnet_dataset *three_videos(int a_has_gt)
{
    arnet_dataset *ds = NULL;
    ck_assert_int_eq(arnet_dataset_create(1, &ds), ARNET_OK);
    const float xa[] = {0.0f, 3.0f, 2.0f}, xb[] = {4.0f, 0.0f}, xc[] = {1.5f, 0.0f, 2.0f};
    uint8_t ga[40], gc[60];
    memset(ga, 0, sizeof ga);
    memset(ga + 8, 1, 32);
    memset(gc, 0, sizeof gc);
    ck_assert_int_eq(arnet_dataset_add(ds, "A", xa, 3, 1, 1, a_has_gt ? ga : NULL,
                                       a_has_gt ? 40 : 0),
                     ARNET_OK);
    ck_assert_int_eq(arnet_dataset_add(ds, "B", xb, 2, 1, 0, NULL, 0), ARNET_OK);
    ck_assert_int_eq(arnet_dataset_add(ds, "C", xc, 3, 1, 0, gc, 60), ARNET_OK);
    return ds;
}

START_TEST(three_videos_truncate)
{
    /* Frames (TRUNCATE: A keeps its 40 ground-truth frames):
     *   positives: 16 @ .881, 8 @ .731, 8 @ .269            P = 32
     *   negatives: A 8 @ .269; B 16 @ .953, 16 @ .269;
     *              C 16 @ .622, 16 @ .269, 16 @ .731         N = 88
     * AUC: 16 x 72 (all but the .953s) + 8 x (56 + 16/2) + 8 x (40/2)
     *      = 1152 + 512 + 160 = 1824 over 32 x 88: 57/88.
     * Curve points (R, P): .953 (0, 0); .881 (1/2, 1/2); .731 (3/4, 3/7);
     *      .622 (3/4, 1/3); .269 (1, 4/15).
     * AP = 1/2 x 1/2 + 1/4 x 3/7 + 1/4 x 4/15 = 89/210.
     * PR area = 1/2 x 1/4 + 1/4 x (1/2 + 3/7)/2 + 1/4 x (1/3 + 4/15)/2
     *         = 1/8 + 13/112 + 3/40 = 177/560.
     * FAR: normal-video frames >= .5: B 16 + C 32 of 80 = 0.6.
     * A alone: 32 positives vs 8 negatives at .269: 8 x 8 / 2 ties
     *      + 16 x 8 + 8 x 8 = 224 of 256 = 7/8. */
    arnet_model *m = tiny_model();
    arnet_dataset *ds = three_videos(1);
    arnet_eval_result r;
    arnet_eval_result_init(&r);
    ck_assert_int_eq(arnet_evaluate(m, ds, &r), ARNET_OK);
    ck_assert_int_eq(r.gt_rule, ARNET_GT_TRUNCATE);
    ck_assert_uint_eq(r.frames, 120);
    ck_assert_uint_eq(r.videos, 3);
    ck_assert_uint_eq(r.anomalous_videos, 1);
    ck_assert_double_eq_tol(r.auc, 57.0 / 88.0, 1e-12);
    ck_assert_double_eq_tol(r.ap, 89.0 / 210.0, 1e-12);
    ck_assert_double_eq_tol(r.pr_auc, 177.0 / 560.0, 1e-12);
    ck_assert_double_eq_tol(r.far, 0.6, 1e-12);
    ck_assert_double_eq_tol(r.auc_abnormal, 7.0 / 8.0, 1e-12);

    ck_assert_uint_eq(r.n_per_video, 3);
    const arnet_video_result *a = &r.per_video[0], *b = &r.per_video[1], *c = &r.per_video[2];
    ck_assert_str_eq(a->name, "A");
    ck_assert_str_eq(b->name, "B");
    ck_assert_str_eq(c->name, "C");
    ck_assert_int_eq(a->label, 1);
    ck_assert_int_eq(b->label, 0);
    ck_assert_uint_eq(a->n_clips, 3);
    ck_assert_uint_eq(a->n_frames, 40);
    ck_assert_uint_eq(b->n_frames, 32);
    ck_assert_uint_eq(c->n_frames, 48);
    ck_assert_double_eq_tol(a->auc, 7.0 / 8.0, 1e-12);
    ck_assert(isnan(b->auc));
    ck_assert(isnan(c->auc));
    ck_assert_double_eq_tol(a->far, 0.0, 1e-12); /* its 8 normal frames score .269 */
    ck_assert_double_eq_tol(b->far, 0.5, 1e-12);
    ck_assert_double_eq_tol(c->far, 2.0 / 3.0, 1e-12);
    ck_assert_double_eq_tol(a->max_score, sig(2.0), 1e-6);
    ck_assert_double_eq_tol(a->mean_score, (sig(-1) + sig(2) + sig(1)) / 3.0, 1e-6);
    ck_assert_double_eq_tol(b->mean_score, (sig(3) + sig(-1)) / 2.0, 1e-6);

    arnet_eval_result_free(&r);
    ck_assert_ptr_null(r.per_video);
    arnet_eval_result_free(&r); /* twice is harmless */
    arnet_dataset_free(ds);
    arnet_model_free(m);
}
END_TEST

START_TEST(three_videos_pad_last)
{
    /* PAD_LAST: A is padded to 48 frames with its last label (1), so its
     * third clip gives 16 positives at .731 instead of 8:  P = 40, N = 88.
     * AUC = (16 x 72 + 16 x 64 + 8 x 20) / (40 x 88) = 2336/3520 = 73/110.
     * Points: (0, 0); (.4, .5); (.8, 32/64); (.8, 32/80); (1, 40/128):
     * AP = .4 x .5 + .4 x .5 + .2 x 5/16 = 0.4625.
     * PR area = .4 x .25 + .4 x .5 + .2 x (.4 + .3125)/2 = 0.37125.
     * A alone: (8 x 4 + 16 x 8 + 16 x 8) / (40 x 8) = 0.9.  FAR as before. */
    arnet_model *m = tiny_model();
    arnet_dataset *ds = three_videos(1);
    arnet_eval_options opt;
    arnet_eval_options_init(&opt);
    ck_assert_int_eq(opt.gt_rule, ARNET_GT_TRUNCATE);
    ck_assert_uint_eq(opt.clip_frames, 16);
    ck_assert(opt.far_threshold == 0.5f);
    opt.gt_rule = ARNET_GT_PAD_LAST;
    arnet_eval_result r;
    arnet_eval_result_init(&r);
    ck_assert_int_eq(arnet_evaluate_ex(m, ds, &opt, &r), ARNET_OK);
    ck_assert_int_eq(r.gt_rule, ARNET_GT_PAD_LAST);
    ck_assert_uint_eq(r.frames, 128);
    ck_assert_double_eq_tol(r.auc, 73.0 / 110.0, 1e-12);
    ck_assert_double_eq_tol(r.ap, 0.4625, 1e-12);
    ck_assert_double_eq_tol(r.pr_auc, 0.37125, 1e-12);
    ck_assert_double_eq_tol(r.auc_abnormal, 0.9, 1e-12);
    ck_assert_double_eq_tol(r.far, 0.6, 1e-12);
    ck_assert_uint_eq(r.per_video[0].n_frames, 48);
    ck_assert_uint_eq(r.per_video[2].n_frames, 48);

    /* A higher threshold: only B's .953 frames alarm: 16 of 80. */
    opt.far_threshold = 0.9f;
    ck_assert_int_eq(arnet_evaluate_ex(m, ds, &opt, &r), ARNET_OK); /* reuses r */
    ck_assert_double_eq_tol(r.far, 0.2, 1e-12);
    arnet_eval_result_free(&r);
    arnet_dataset_free(ds);
    arnet_model_free(m);
}
END_TEST

START_TEST(only_normal_videos)
{
    /* No anomalous frame anywhere: the ranking metrics are not computable
     * (NaN), FAR still is: B and C as above, 48 of 80. */
    arnet_model *m = tiny_model();
    arnet_dataset *ds = NULL;
    ck_assert_int_eq(arnet_dataset_create(1, &ds), ARNET_OK);
    const float xb[] = {4.0f, 0.0f}, xc[] = {1.5f, 0.0f, 2.0f};
    ck_assert_int_eq(arnet_dataset_add(ds, "B", xb, 2, 1, 0, NULL, 0), ARNET_OK);
    ck_assert_int_eq(arnet_dataset_add(ds, "C", xc, 3, 1, 0, NULL, 0), ARNET_OK);
    arnet_eval_result r;
    arnet_eval_result_init(&r);
    ck_assert_int_eq(arnet_evaluate(m, ds, &r), ARNET_OK);
    ck_assert(isnan(r.auc) && isnan(r.ap) && isnan(r.pr_auc) && isnan(r.auc_abnormal));
    ck_assert_double_eq_tol(r.far, 0.6, 1e-12);
    ck_assert_uint_eq(r.frames, 80);
    arnet_eval_result_free(&r);
    arnet_dataset_free(ds);
    arnet_model_free(m);
}
END_TEST

START_TEST(long_videos_batched)
{
    /* More clips than one forward batch: per-video max and mean must match
     * arnet_model_score on the whole video. */
    arnet_model *m = model_of(8, 5);
    const size_t T = 700;
    float *x = malloc(T * 8 * sizeof *x);
    float *s = malloc(T * sizeof *s);
    uint8_t *gt = calloc(T * 16, 1);
    ck_assert(x && s && gt);
    arnet__rng rng;
    arnet__rng_seed(&rng, 5);
    for (size_t i = 0; i < T * 8; i++)
        x[i] = (float)arnet__rng_normal(&rng);
    memset(gt + 3000, 1, 2000);
    arnet_dataset *ds = NULL;
    ck_assert_int_eq(arnet_dataset_create(8, &ds), ARNET_OK);
    ck_assert_int_eq(arnet_dataset_add(ds, "long", x, T, 8, 1, gt, T * 16), ARNET_OK);
    ck_assert_int_eq(arnet_model_score(m, x, T, s), ARNET_OK);
    double sum = 0.0;
    float mx = -1.0f;
    for (size_t i = 0; i < T; i++) {
        sum += s[i];
        mx = s[i] > mx ? s[i] : mx;
    }
    arnet_eval_result r;
    arnet_eval_result_init(&r);
    ck_assert_int_eq(arnet_evaluate(m, ds, &r), ARNET_OK);
    ck_assert_uint_eq(r.frames, T * 16);
    ck_assert_float_eq_tol(r.per_video[0].max_score, mx, 1e-6f);
    ck_assert_double_eq_tol(r.per_video[0].mean_score, sum / (double)T, 1e-6);
    /* One video: its AUC is the overall and the anomalous-only AUC. */
    ck_assert_double_eq_tol(r.per_video[0].auc, r.auc, 1e-12);
    ck_assert_double_eq_tol(r.auc_abnormal, r.auc, 1e-12);
    ck_assert(isnan(r.far)); /* no normal video */
    arnet_eval_result_free(&r);
    arnet_dataset_free(ds);
    arnet_model_free(m);
    free(x);
    free(s);
    free(gt);
}
END_TEST

START_TEST(many_videos_gathered)
{
    /* Videos of every length around the forward batch (512 clips): short
     * ones are gathered into one batch, long ones cut; each video's max and
     * mean must still be those of arnet_model_score on that video alone. */
    static const size_t lens[] = {1, 37, 511, 513, 1100, 3, 512, 2, 600, 45};
    const size_t nv = sizeof lens / sizeof lens[0];
    arnet_model *m = model_of(8, 6);
    arnet_dataset *ds = NULL;
    ck_assert_int_eq(arnet_dataset_create(8, &ds), ARNET_OK);
    arnet__rng rng;
    arnet__rng_seed(&rng, 11);
    float mx[10], *x[10];
    double mean[10];
    for (size_t v = 0; v < nv; v++) {
        size_t T = lens[v];
        x[v] = malloc(T * 8 * sizeof(float));
        float *s = malloc(T * sizeof *s);
        ck_assert(x[v] && s);
        for (size_t i = 0; i < T * 8; i++)
            x[v][i] = (float)arnet__rng_normal(&rng);
        char name[16];
        snprintf(name, sizeof name, "v%zu", v);
        uint8_t *gt = calloc(T * 16, 1);
        ck_assert(gt);
        if (v % 2)
            memset(gt + T * 4, 1, T * 8); /* anomalous: the middle half */
        ck_assert_msg(arnet_dataset_add(ds, name, x[v], T, 8, (int)(v % 2), gt, T * 16) ==
                          ARNET_OK,
                      "%s", arnet_last_error());
        free(gt);
        ck_assert_int_eq(arnet_model_score(m, x[v], T, s), ARNET_OK);
        double sum = 0.0;
        mx[v] = -1.0f;
        for (size_t i = 0; i < T; i++) {
            sum += s[i];
            mx[v] = s[i] > mx[v] ? s[i] : mx[v];
        }
        mean[v] = sum / (double)T;
        free(s);
    }
    arnet_eval_result r;
    arnet_eval_result_init(&r);
    ck_assert_msg(arnet_evaluate(m, ds, &r) == ARNET_OK, "%s", arnet_last_error());
    ck_assert_uint_eq(r.n_per_video, nv);
    for (size_t v = 0; v < nv; v++) {
        ck_assert_uint_eq(r.per_video[v].n_clips, lens[v]);
        ck_assert_float_eq_tol(r.per_video[v].max_score, mx[v], 1e-6f);
        ck_assert_double_eq_tol(r.per_video[v].mean_score, mean[v], 1e-6);
    }
    arnet_eval_result_free(&r);
    arnet_dataset_free(ds);
    arnet_model_free(m);
    for (size_t v = 0; v < nv; v++)
        free(x[v]);
}
END_TEST

START_TEST(errors)
{
    arnet_model *m = tiny_model();
    arnet_eval_result r;
    arnet_eval_result_init(&r);

    /* An anomalous video without frame ground truth cannot be evaluated. */
    arnet_dataset *nogt = three_videos(0);
    ck_assert_int_eq(arnet_evaluate(m, nogt, &r), ARNET_E_INVALID);
    ck_assert_ptr_nonnull(strstr(arnet_last_error(), "'A'"));
    ck_assert_ptr_nonnull(strstr(arnet_last_error(), "ground truth"));
    ck_assert_ptr_null(r.per_video);
    ck_assert(isnan(r.auc));

    arnet_dataset *ds = three_videos(1);
    arnet_eval_options opt;
    arnet_eval_options_init(&opt);
    opt.gt_rule = 7;
    ck_assert_int_eq(arnet_evaluate_ex(m, ds, &opt, &r), ARNET_E_INVALID);
    ck_assert_ptr_nonnull(strstr(arnet_last_error(), "gt_rule"));
    arnet_eval_options_init(&opt);
    opt.clip_frames = 0;
    ck_assert_int_eq(arnet_evaluate_ex(m, ds, &opt, &r), ARNET_E_INVALID);
    ck_assert_ptr_nonnull(strstr(arnet_last_error(), "clip_frames"));
    arnet_eval_options_init(&opt);
    opt.far_threshold = NAN;
    ck_assert_int_eq(arnet_evaluate_ex(m, ds, &opt, &r), ARNET_E_INVALID);
    arnet_eval_options_init(&opt);
    opt.struct_size = 4;
    ck_assert_int_eq(arnet_evaluate_ex(m, ds, &opt, &r), ARNET_E_INVALID);
    ck_assert_ptr_nonnull(strstr(arnet_last_error(), "struct_size"));

    arnet_eval_result bad;
    memset(&bad, 0, sizeof bad);
    ck_assert_int_eq(arnet_evaluate(m, ds, &bad), ARNET_E_INVALID);
    ck_assert_ptr_nonnull(strstr(arnet_last_error(), "arnet_eval_result_init"));
    ck_assert_int_eq(arnet_evaluate(NULL, ds, &r), ARNET_E_INVALID);
    ck_assert_int_eq(arnet_evaluate(m, NULL, &r), ARNET_E_INVALID);
    ck_assert_int_eq(arnet_evaluate(m, ds, NULL), ARNET_E_INVALID);

    /* Feature dimension differs from the model's. */
    arnet_dataset *wide = NULL;
    ck_assert_int_eq(arnet_dataset_create(2, &wide), ARNET_OK);
    const float x2[] = {1.0f, 2.0f};
    ck_assert_int_eq(arnet_dataset_add(wide, "w", x2, 1, 2, 0, NULL, 0), ARNET_OK);
    ck_assert_int_eq(arnet_evaluate(m, wide, &r), ARNET_E_SHAPE);

    /* Empty data set. */
    arnet_dataset *empty = NULL;
    ck_assert_int_eq(arnet_dataset_create(1, &empty), ARNET_OK);
    ck_assert_int_eq(arnet_evaluate(m, empty, &r), ARNET_E_INVALID);
    ck_assert_ptr_null(r.per_video);

    arnet_dataset_free(empty);
    arnet_dataset_free(wide);
    arnet_dataset_free(ds);
    arnet_dataset_free(nogt);
    arnet_model_free(m);
}
END_TEST

Suite *make_suite(void)
{
    Suite *s = suite_create("evaluate");
    TCase *tc = tcase_create("protocol");
    tcase_add_test(tc, three_videos_truncate);
    tcase_add_test(tc, three_videos_pad_last);
    tcase_add_test(tc, only_normal_videos);
    tcase_add_test(tc, long_videos_batched);
    tcase_add_test(tc, many_videos_gathered);
    tcase_add_test(tc, errors);
    suite_add_tcase(s, tc);
    return s;
}
