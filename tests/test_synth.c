/* test_synth.c -- the synthetic ShanghaiTech-shaped set: real structure,
 * determinism, non-negative features, learnable anomalies, files on disk. */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "detector_int.h"
#include "internal.h"

static void make(uint64_t seed, uint32_t F, double scale, arnet_dataset **tr,
                 arnet_dataset **te)
{
    arnet_synth_options o;
    arnet_synth_options_init(&o);
    o.seed = seed;
    o.feature_dim = F;
    o.scale = scale;
    ck_assert_msg(arnet_synth_create(&o, tr, te) == ARNET_OK, "%s", arnet_last_error());
}

static const arnet__video *find(const arnet_dataset *ds, const char *name)
{
    for (size_t i = 0; i < ds->n_videos; i++)
        if (strcmp(ds->videos[i].name, name) == 0)
            return &ds->videos[i];
    return NULL;
}

START_TEST(options_defaults)
{
    arnet_synth_options o;
    arnet_synth_options_init(&o);
    ck_assert_uint_eq(o.struct_size, sizeof o);
    ck_assert_uint_eq(o.seed, 1);
    ck_assert_uint_eq(o.feature_dim, 2048);
    ck_assert(o.scale == 1.0);
}
END_TEST

START_TEST(real_structure)
{
    arnet_dataset *tr, *te;
    make(1, 4, 1.0, &tr, &te);
    ck_assert_uint_eq(arnet_dataset_count(tr, 0), 175);
    ck_assert_uint_eq(arnet_dataset_count(tr, 1), 63);
    ck_assert_uint_eq(arnet_dataset_count(te, 0), 155);
    ck_assert_uint_eq(arnet_dataset_count(te, 1), 44);
    /* The totals data/README.md gives for the real test set. */
    size_t frames = 0, anomalous = 0;
    for (size_t i = 0; i < te->n_videos; i++) {
        const arnet__video *v = &te->videos[i];
        ck_assert_ptr_nonnull(v->frame_labels);
        ck_assert_uint_eq(v->n_frames, v->n_clips * 16);
        size_t a = 0;
        for (size_t f = 0; f < v->n_frames; f++)
            a += v->frame_labels[f];
        ck_assert_int_eq(v->label, a > 0);
        frames += v->n_frames;
        anomalous += a;
    }
    ck_assert_uint_eq(frames, 142912);
    ck_assert_uint_eq(anomalous, 8028);
    /* Training videos are weakly labelled: no frame ground truth; lengths
     * come from the test distribution (208..1792 frames). */
    for (size_t i = 0; i < tr->n_videos; i++) {
        const arnet__video *v = &tr->videos[i];
        ck_assert_ptr_null(v->frame_labels);
        ck_assert_uint_ge(v->n_clips, 208 / 16);
        ck_assert_uint_le(v->n_clips, 1792 / 16);
    }
    ck_assert_ptr_nonnull(find(tr, "01_0014"));
    ck_assert_int_eq(find(tr, "01_0014")->label, 1);

    /* Frame by frame against a second real source: RTFM's concatenated
     * ground truth, in the order of RTFM's test list. */
    uint8_t *gt = NULL;
    size_t n_gt = 0;
    ck_assert_int_eq(arnet_npy_read_labels(ARNET_SOURCE_DIR "/tests/data/shanghaitech/rtfm_gt-sh.npy",
                                           &gt, &n_gt),
                     ARNET_OK);
    ck_assert_uint_eq(n_gt, 142912);
    FILE *f = fopen(ARNET_SOURCE_DIR "/tests/data/shanghaitech/rtfm_shanghai-i3d-test-10crop.list", "r");
    ck_assert_ptr_nonnull(f);
    char line[512];
    size_t pos = 0, listed = 0;
    while (fgets(line, sizeof line, f)) {
        char *base = strrchr(line, '/');
        base = base ? base + 1 : line;
        char *suffix = strstr(base, "_i3d.npy");
        ck_assert_ptr_nonnull(suffix);
        *suffix = 0;
        const arnet__video *v = find(te, base);
        ck_assert_msg(v != NULL, "test video %s missing", base);
        ck_assert_uint_le(pos + v->n_frames, n_gt);
        ck_assert_msg(memcmp(v->frame_labels, gt + pos, v->n_frames) == 0,
                      "ground truth of %s differs from rtfm_gt-sh.npy", base);
        pos += v->n_frames;
        listed++;
    }
    fclose(f);
    ck_assert_uint_eq(listed, 199);
    ck_assert_uint_eq(pos, n_gt);
    arnet_free(gt);
    arnet_dataset_free(tr);
    arnet_dataset_free(te);
}
END_TEST

START_TEST(deterministic_and_non_negative)
{
    arnet_dataset *tr1, *te1, *tr2, *te2, *tr3, *te3;
    make(7, 24, 0.1, &tr1, &te1);
    make(7, 24, 0.1, &tr2, &te2);
    make(8, 24, 0.1, &tr3, &te3);
    ck_assert_uint_eq(tr1->n_videos, tr2->n_videos);
    ck_assert_uint_eq(te1->n_videos, te2->n_videos);
    int differs = 0;
    for (int split = 0; split < 2; split++) {
        const arnet_dataset *a = split ? te1 : tr1, *b = split ? te2 : tr2, *c = split ? te3 : tr3;
        for (size_t i = 0; i < a->n_videos; i++) {
            const arnet__video *va = &a->videos[i], *vb = &b->videos[i];
            ck_assert_str_eq(va->name, vb->name);
            ck_assert_uint_eq(va->n_clips, vb->n_clips);
            ck_assert(memcmp(va->features, vb->features, va->n_clips * 24 * sizeof(float)) == 0);
            for (size_t j = 0; j < va->n_clips * 24; j++)
                ck_assert(va->features[j] >= 0.0f && isfinite(va->features[j]));
            const arnet__video *vc = find(c, va->name);
            if (vc && vc->n_clips == va->n_clips &&
                memcmp(va->features, vc->features, va->n_clips * 24 * sizeof(float)) != 0)
                differs = 1;
        }
    }
    ck_assert_msg(differs, "another seed gave the same features");
    /* A video kept at a small scale is the same video as at full scale. */
    arnet_dataset *trf, *tef;
    make(7, 24, 1.0, &trf, &tef);
    for (int split = 0; split < 2; split++) {
        const arnet_dataset *a = split ? te1 : tr1, *full = split ? tef : trf;
        for (size_t i = 0; i < a->n_videos; i++) {
            const arnet__video *va = &a->videos[i], *vf = find(full, va->name);
            ck_assert_ptr_nonnull(vf);
            ck_assert_uint_eq(va->n_clips, vf->n_clips);
            ck_assert(memcmp(va->features, vf->features, va->n_clips * 24 * sizeof(float)) == 0);
        }
    }
    arnet_dataset_free(trf);
    arnet_dataset_free(tef);
    /* A tenth keeps a tenth of each class (rounded up). */
    ck_assert_uint_eq(arnet_dataset_count(tr1, 0), 18);
    ck_assert_uint_eq(arnet_dataset_count(tr1, 1), 7);
    ck_assert_uint_eq(arnet_dataset_count(te1, 0), 16);
    ck_assert_uint_eq(arnet_dataset_count(te1, 1), 5);
    arnet_dataset_free(tr1);
    arnet_dataset_free(te1);
    arnet_dataset_free(tr2);
    arnet_dataset_free(te2);
    arnet_dataset_free(tr3);
    arnet_dataset_free(te3);
}
END_TEST

START_TEST(smooth_in_time)
{
    /* Consecutive clips are closer than clips far apart in one video. */
    arnet_dataset *tr, *te;
    make(2, 64, 0.05, &tr, &te);
    double near = 0.0, far = 0.0;
    size_t n = 0;
    for (size_t i = 0; i < tr->n_videos; i++) {
        const arnet__video *v = &tr->videos[i];
        for (size_t t = 0; t + 20 < v->n_clips; t++) {
            for (size_t j = 0; j < 64; j++) {
                double d1 = v->features[t * 64 + j] - v->features[(t + 1) * 64 + j];
                double d2 = v->features[t * 64 + j] - v->features[(t + 20) * 64 + j];
                near += d1 * d1;
                far += d2 * d2;
            }
            n++;
        }
    }
    ck_assert_uint_gt(n, 0);
    ck_assert_msg(near < 0.8 * far, "near %g far %g", near / n, far / n);
    arnet_dataset_free(tr);
    arnet_dataset_free(te);
}
END_TEST

START_TEST(learnable_not_trivial)
{
    /* A linear read-out along the difference of the training set's
     * anomalous and normal video means (weak labels only) must find the
     * anomalies in the test set better than chance, yet far from
     * perfectly: subtle events and busy normal stretches stay hard. */
    const uint32_t F = 64;
    arnet_dataset *tr, *te;
    make(1, F, 1.0, &tr, &te);
    double ma[64] = {0}, mn[64] = {0};
    size_t na = 0, nn = 0;
    for (size_t i = 0; i < tr->n_videos; i++) {
        const arnet__video *v = &tr->videos[i];
        for (size_t t = 0; t < v->n_clips; t++)
            for (uint32_t j = 0; j < F; j++)
                (v->label ? ma : mn)[j] += v->features[t * F + j];
        *(v->label ? &na : &nn) += v->n_clips;
    }
    float w[64];
    for (uint32_t j = 0; j < F; j++)
        w[j] = (float)(ma[j] / (double)na - mn[j] / (double)nn);
    /* s = sigmoid(0.001 * relu(x.w + 1000) - 1): monotone in x.w. */
    arnet_model_config cfg;
    arnet_model_config_init(&cfg);
    cfg.feature_dim = F;
    cfg.hidden_dim = 1;
    arnet_model *m;
    ck_assert_int_eq(arnet_model_create(&cfg, &m), ARNET_OK);
    const float b1 = 1000.0f, w2 = 0.001f, b2 = -1.0f;
    ck_assert_int_eq(arnet_model_set_params(m, w, &b1, &w2, &b2), ARNET_OK);
    arnet_eval_result r;
    arnet_eval_result_init(&r);
    ck_assert_int_eq(arnet_evaluate(m, te, &r), ARNET_OK);
    ck_assert_msg(r.auc > 0.65 && r.auc < 0.97, "weak linear probe AUC %g", r.auc);
    /* Anomalous test videos peak higher than normal ones on average. */
    double peak[2] = {0, 0};
    size_t cnt[2] = {0, 0};
    for (size_t i = 0; i < r.n_per_video; i++) {
        peak[r.per_video[i].label] += r.per_video[i].max_score;
        cnt[r.per_video[i].label]++;
    }
    ck_assert(peak[1] / cnt[1] > peak[0] / cnt[0]);
    arnet_eval_result_free(&r);
    arnet_model_free(m);
    arnet_dataset_free(tr);
    arnet_dataset_free(te);
}
END_TEST

START_TEST(written_files_match_memory)
{
    char dir[] = "/tmp/arnet-synth-XXXXXX";
    ck_assert_ptr_nonnull(mkdtemp(dir));
    char out[256], path[512];
    snprintf(out, sizeof out, "%s/set", dir);
    arnet_synth_options o;
    arnet_synth_options_init(&o);
    o.feature_dim = 8;
    o.scale = 0.05;
    o.seed = 3;
    ck_assert_msg(arnet_synth_write(out, &o) == ARNET_OK, "%s", arnet_last_error());
    arnet_dataset *tr, *te;
    make(3, 8, 0.05, &tr, &te);
    for (int split = 0; split < 2; split++) {
        snprintf(path, sizeof path, "%s/%s", out, split ? "test.txt" : "train.txt");
        arnet_dataset *ds = NULL;
        ck_assert_msg(arnet_dataset_load_manifest(path, NULL, &ds) == ARNET_OK, "%s",
                      arnet_last_error());
        const arnet_dataset *mem = split ? te : tr;
        ck_assert_uint_eq(ds->n_videos, mem->n_videos);
        for (size_t i = 0; i < ds->n_videos; i++) {
            const arnet__video *a = &ds->videos[i], *b = &mem->videos[i];
            ck_assert_int_eq(a->label, b->label);
            ck_assert_uint_eq(a->n_clips, b->n_clips);
            ck_assert(memcmp(a->features, b->features, a->n_clips * 8 * sizeof(float)) == 0);
            ck_assert_uint_eq(a->n_frames, b->n_frames);
            if (b->n_frames)
                ck_assert(memcmp(a->frame_labels, b->frame_labels, b->n_frames) == 0);
        }
        arnet_dataset_free(ds);
    }
    /* Writing again over the same folder works (files replaced). */
    ck_assert_int_eq(arnet_synth_write(out, &o), ARNET_OK);
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    ck_assert_int_eq(system(cmd), 0);
    arnet_dataset_free(tr);
    arnet_dataset_free(te);
}
END_TEST

START_TEST(bad_options)
{
    arnet_synth_options o;
    arnet_dataset *tr = NULL, *te = NULL;
    arnet_synth_options_init(&o);
    o.scale = 0.0;
    ck_assert_int_eq(arnet_synth_create(&o, &tr, &te), ARNET_E_INVALID);
    ck_assert_ptr_nonnull(strstr(arnet_last_error(), "scale"));
    o.scale = 1.5;
    ck_assert_int_eq(arnet_synth_create(&o, &tr, &te), ARNET_E_INVALID);
    o.scale = NAN;
    ck_assert_int_eq(arnet_synth_create(&o, &tr, &te), ARNET_E_INVALID);
    arnet_synth_options_init(&o);
    o.feature_dim = 0;
    ck_assert_int_eq(arnet_synth_create(&o, &tr, &te), ARNET_E_INVALID);
    ck_assert_ptr_nonnull(strstr(arnet_last_error(), "feature_dim"));
    arnet_synth_options_init(&o);
    o.struct_size = 3;
    ck_assert_int_eq(arnet_synth_create(&o, &tr, &te), ARNET_E_INVALID);
    ck_assert_ptr_nonnull(strstr(arnet_last_error(), "struct_size"));
    ck_assert_int_eq(arnet_synth_create(NULL, NULL, &te), ARNET_E_INVALID);
    ck_assert_ptr_null(tr);
    ck_assert_ptr_null(te);
    ck_assert_int_eq(arnet_synth_write(NULL, NULL), ARNET_E_INVALID);
    ck_assert_int_eq(arnet_synth_write("", NULL), ARNET_E_INVALID);
    /* A file where the folder should be. */
    char dir[] = "/tmp/arnet-synth-XXXXXX";
    ck_assert_ptr_nonnull(mkdtemp(dir));
    char file[256];
    snprintf(file, sizeof file, "%s/plain", dir);
    FILE *f = fopen(file, "w");
    ck_assert_ptr_nonnull(f);
    fclose(f);
    arnet_synth_options_init(&o);
    o.feature_dim = 4;
    o.scale = 0.01;
    ck_assert_int_eq(arnet_synth_write(file, &o), ARNET_E_IO);
    ck_assert_ptr_nonnull(strstr(arnet_last_error(), "plain"));
    remove(file);
    rmdir(dir);
}
END_TEST

Suite *make_suite(void)
{
    Suite *s = suite_create("synth");
    TCase *tc = tcase_create("synth");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, options_defaults);
    tcase_add_test(tc, real_structure);
    tcase_add_test(tc, deterministic_and_non_negative);
    tcase_add_test(tc, smooth_in_time);
    tcase_add_test(tc, learnable_not_trivial);
    tcase_add_test(tc, written_files_match_memory);
    tcase_add_test(tc, bad_options);
    suite_add_tcase(s, tc);
    return s;
}
