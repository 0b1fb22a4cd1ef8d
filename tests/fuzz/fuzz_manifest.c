/* fuzz_manifest.c -- libFuzzer target: the manifest parser, then evaluation.
 *
 * The input is a manifest's text, written as manifest.txt into a scratch
 * folder that also holds small valid feature files (a.npy: 3 clips, b.npy:
 * 2 clips, c.npy: 3 clips x 2 crops, all of 4 features) and frame labels
 * (gt.npy: 48 frames, gt2.npy: 32 frames); the seeds name them.  A manifest
 * that loads is evaluated with a tiny model (4 features, 3 hidden units);
 * checked beyond "no crash": every failure has a message, a loaded data set
 * has videos, each with 0/1 labels and finite features, and evaluation
 * either succeeds with one result per video or says why. */
#include <math.h>

#include "fuzz_common.h"

static arnet_model *model;

static void setup(void)
{
    char p[300];
    float a[12], c[24];
    for (int i = 0; i < 12; i++)
        a[i] = (float)i / 12.0f;
    for (int i = 0; i < 24; i++)
        c[i] = (float)(i % 5) / 5.0f;
    size_t sa[2] = {3, 4}, sb[2] = {2, 4}, sc[3] = {3, 2, 4}, sg[1] = {48}, sg2[1] = {32};
    float g[48] = {0}, g2[32] = {0};
    for (int i = 10; i < 30; i++)
        g[i] = 1.0f;
    fuzz_path(p, sizeof p, "a.npy");
    FUZZ_CHECK(arnet_npy_write(p, a, sa, 2) == ARNET_OK, "a.npy");
    fuzz_path(p, sizeof p, "b.npy");
    FUZZ_CHECK(arnet_npy_write(p, a, sb, 2) == ARNET_OK, "b.npy");
    fuzz_path(p, sizeof p, "c.npy");
    FUZZ_CHECK(arnet_npy_write(p, c, sc, 3) == ARNET_OK, "c.npy");
    fuzz_path(p, sizeof p, "gt.npy");
    FUZZ_CHECK(arnet_npy_write(p, g, sg, 1) == ARNET_OK, "gt.npy");
    fuzz_path(p, sizeof p, "gt2.npy");
    FUZZ_CHECK(arnet_npy_write(p, g2, sg2, 1) == ARNET_OK, "gt2.npy");
    arnet_model_config cfg;
    arnet_model_config_init(&cfg);
    cfg.feature_dim = 4;
    cfg.hidden_dim = 3;
    FUZZ_CHECK(arnet_model_create(&cfg, &model) == ARNET_OK, "model");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static char path[300];
    if (!path[0]) {
        setup();
        fuzz_path(path, sizeof path, "manifest.txt");
    }
    fuzz_write(path, data, size);

    arnet_load_options lo;
    arnet_load_options_init(&lo);
    /* A last byte 1 or 2 asks for crop 0 or 1 (else the mean of the crops). */
    lo.crop = size && data[size - 1] >= 1 && data[size - 1] <= 2 ? data[size - 1] - 1 : -1;
    arnet_dataset *ds = NULL;
    arnet_clear_error();
    int rc = arnet_dataset_load_manifest(path, &lo, &ds);
    FUZZ_CHECK_MESSAGE(rc);
    FUZZ_CHECK((rc == ARNET_OK) == (ds != NULL), "status %d, data set %p", rc, (void *)ds);
    FUZZ_DEBUG("manifest: %d", rc);
    if (rc != ARNET_OK)
        return 0;

    size_t n = arnet_dataset_size(ds);
    FUZZ_CHECK(n == arnet_dataset_count(ds, 0) + arnet_dataset_count(ds, 1), "class counts");
    for (size_t i = 0; i < n; i++) {
        arnet_video_info v;
        arnet_video_info_init(&v);
        FUZZ_CHECK(arnet_dataset_video(ds, i, &v) == ARNET_OK, "video %zu", i);
        FUZZ_CHECK(v.label == 0 || v.label == 1, "label %d", v.label);
        FUZZ_CHECK(v.n_clips > 0 && v.name != NULL, "video %zu", i);
        for (size_t k = 0; k < v.n_clips * arnet_dataset_feature_dim(ds); k++)
            FUZZ_CHECK(isfinite(v.features[k]), "feature %zu of video %zu", k, i);
        for (size_t k = 0; k < v.n_frames; k++)
            FUZZ_CHECK(v.frame_labels[k] <= 1, "frame label");
    }
    uint64_t digest;
    FUZZ_CHECK(arnet_dataset_digest(ds, &digest) == ARNET_OK, "digest");

    if (arnet_dataset_feature_dim(ds) == 4) {
        arnet_eval_options eo;
        arnet_eval_options_init(&eo);
        eo.gt_rule = (int)(size % 2); /* ARNET_GT_TRUNCATE or ARNET_GT_PAD_LAST */
        arnet_eval_result res;
        arnet_eval_result_init(&res);
        rc = arnet_evaluate_ex(model, ds, &eo, &res);
        FUZZ_CHECK_MESSAGE(rc);
        FUZZ_DEBUG("evaluate: %d, auc %g", rc, res.auc);
        if (rc == ARNET_OK)
            FUZZ_CHECK(res.n_per_video == n && res.videos == n, "%zu results for %zu videos", res.n_per_video, n);
        arnet_eval_result_free(&res);
    }
    arnet_dataset_free(ds);
    return 0;
}
