/* test_dataset.c -- in-memory data sets, manifests (every malformed line) and
 * `arnet import` on the real ShanghaiTech and UCF-Crime annotation files. */
#include <check.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "internal.h"

#define SH_DIR ARNET_SOURCE_DIR "/tests/data/shanghaitech"
#define UCF_ANN ARNET_SOURCE_DIR "/tests/data/ucf-crime/Temporal_Anomaly_Annotation.txt"

static char tmpdir[64];

static void make_tmp(void)
{
    strcpy(tmpdir, "/tmp/arnet-ds-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(tmpdir));
}

static void remove_tmp(void)
{
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    ck_assert_int_eq(system(cmd), 0);
}

static void write_text(const char *path, const char *text)
{
    FILE *fp = fopen(path, "w");
    ck_assert_ptr_nonnull(fp);
    fputs(text, fp);
    fclose(fp);
}

static char *slurp_text(const char *path)
{
    FILE *fp = fopen(path, "rb");
    if (!fp)
        return NULL;
    fseek(fp, 0, SEEK_END);
    long n = ftell(fp);
    fseek(fp, 0, SEEK_SET);
    char *s = malloc((size_t)n + 1);
    s[fread(s, 1, (size_t)n, fp)] = '\0';
    fclose(fp);
    return s;
}

/* Features whose value says where it is: video v, clip t, feature f. */
static float feat_value(int v, size_t t, size_t f) { return (float)(v * 1000 + (int)t) + (float)f / 8; }

static void write_features(const char *path, int v, size_t T, size_t F)
{
    float *x = malloc(T * F * sizeof *x);
    for (size_t t = 0; t < T; t++)
        for (size_t f = 0; f < F; f++)
            x[t * F + f] = feat_value(v, t, f);
    size_t shape[2] = {T, F};
    ck_assert_int_eq(arnet_npy_write(path, x, shape, 2), ARNET_OK);
    free(x);
}

/* ---- in memory ---------------------------------------------------------------- */

START_TEST(add_copies_and_accessors)
{
    arnet_dataset *ds;
    ck_assert_int_eq(arnet_dataset_create(0, &ds), ARNET_OK);
    ck_assert_uint_eq(arnet_dataset_size(ds), 0);
    ck_assert_uint_eq(arnet_dataset_feature_dim(ds), 0);
    float x[9] = {1, 2, 3, 4, 5, 6, 7, 8, 9};
    uint8_t fl[5] = {0, 7, 1, 0, 255};
    char name[8] = "vid-a";
    ck_assert_int_eq(arnet_dataset_add(ds, name, x, 2, 3, 1, fl, 5), ARNET_OK);
    ck_assert_int_eq(arnet_dataset_add(ds, "vid-b", x, 3, 3, 0, NULL, 0),
                     ARNET_OK);
    /* The caller's buffers are free to change: the data set has its own. */
    x[0] = -99;
    fl[1] = 0;
    strcpy(name, "zzz");
    ck_assert_uint_eq(arnet_dataset_size(ds), 2);
    ck_assert_uint_eq(arnet_dataset_feature_dim(ds), 3);
    ck_assert_uint_eq(arnet_dataset_count(ds, 1), 1);
    ck_assert_uint_eq(arnet_dataset_count(ds, 0), 1);
    ck_assert_uint_eq(arnet_dataset_count(ds, 2), 0);
    arnet_video_info vi;
    arnet_video_info_init(&vi);
    ck_assert_int_eq(arnet_dataset_video(ds, 0, &vi), ARNET_OK);
    ck_assert_str_eq(vi.name, "vid-a");
    ck_assert_int_eq(vi.label, 1);
    ck_assert_uint_eq(vi.n_clips, 2);
    ck_assert(vi.features[0] == 1 && vi.features[5] == 6);
    ck_assert_uint_eq(vi.n_frames, 5);
    /* Stored as exact 0/1. */
    ck_assert_mem_eq(vi.frame_labels, ((uint8_t[]){0, 1, 1, 0, 1}), 5);
    ck_assert_int_eq(arnet_dataset_video(ds, 1, &vi), ARNET_OK);
    ck_assert_str_eq(vi.name, "vid-b");
    ck_assert_uint_eq(vi.n_clips, 3);
    ck_assert_uint_eq(vi.n_frames, 0);
    ck_assert_ptr_null(vi.frame_labels);
    ck_assert_int_eq(arnet_dataset_video(ds, 2, &vi), ARNET_E_INVALID);
    ck_assert_ptr_nonnull(strstr(arnet_last_error(), "index 2"));
    vi.struct_size = 8;
    ck_assert_int_eq(arnet_dataset_video(ds, 0, &vi), ARNET_E_INVALID);
    /* Many videos (growth). */
    for (int i = 0; i < 100; i++)
        ck_assert_int_eq(arnet_dataset_add(ds, NULL, x, 1, 3, i % 2, NULL, 0), ARNET_OK);
    ck_assert_uint_eq(arnet_dataset_size(ds), 102);
    ck_assert_uint_eq(arnet_dataset_count(ds, 1), 51);
    arnet_dataset_free(ds);
    arnet_dataset_free(NULL);
    ck_assert_uint_eq(arnet_dataset_size(NULL), 0);
}
END_TEST

START_TEST(add_rejects_bad_videos)
{
    arnet_dataset *ds;
    ck_assert_int_eq(arnet_dataset_create(4, &ds), ARNET_OK);
    float x[8] = {0};
    ck_assert_int_eq(arnet_dataset_add(ds, "wide", x, 1, 8, 1, NULL, 0), ARNET_E_SHAPE);
    ck_assert_ptr_nonnull(strstr(arnet_last_error(), "'wide'"));
    ck_assert_ptr_nonnull(strstr(arnet_last_error(), "8"));
    ck_assert_int_eq(arnet_dataset_add(ds, "lab", x, 2, 4, 2, NULL, 0), ARNET_E_INVALID);
    ck_assert_ptr_nonnull(strstr(arnet_last_error(), "label"));
    ck_assert_int_eq(arnet_dataset_add(ds, "lab", x, 2, 4, -1, NULL, 0), ARNET_E_INVALID);
    uint8_t fl[4] = {0, 0, 1, 0};
    ck_assert_int_eq(arnet_dataset_add(ds, "quiet", x, 2, 4, 0, fl, 4), ARNET_E_INVALID);
    ck_assert_ptr_nonnull(strstr(arnet_last_error(), "'quiet'"));
    ck_assert_ptr_nonnull(strstr(arnet_last_error(), "frame 2"));
    ck_assert_int_eq(arnet_dataset_add(ds, "empty", x, 0, 4, 0, NULL, 0), ARNET_E_INVALID);
    ck_assert_int_eq(arnet_dataset_add(ds, "null", NULL, 2, 4, 0, NULL, 0), ARNET_E_INVALID);
    ck_assert_int_eq(arnet_dataset_add(ds, "nolab", x, 2, 4, 1, NULL, 3), ARNET_E_INVALID);
    ck_assert_int_eq(arnet_dataset_add(ds, "f0", x, 2, 0, 1, NULL, 0), ARNET_E_INVALID);
    ck_assert_int_eq(arnet_dataset_add(ds, "huge", x, SIZE_MAX / 2, 4, 1, NULL, 0),
                     ARNET_E_INVALID);
    ck_assert_int_eq(arnet_dataset_add(NULL, "x", x, 2, 4, 1, NULL, 0), ARNET_E_INVALID);
    x[6] = NAN; /* would train NaN weights: refused, naming video, clip and value */
    ck_assert_int_eq(arnet_dataset_add(ds, "nan", x, 2, 4, 1, NULL, 0), ARNET_E_INVALID);
    ck_assert_ptr_nonnull(strstr(arnet_last_error(), "'nan': clip 1, value 2 is NaN"));
    x[6] = 0;
    /* Nothing was added by the failures; all-normal ground truth is fine. */
    ck_assert_uint_eq(arnet_dataset_size(ds), 0);
    fl[2] = 0;
    ck_assert_int_eq(arnet_dataset_add(ds, "quiet", x, 2, 4, 0, fl, 4), ARNET_OK);
    ck_assert_uint_eq(arnet_dataset_size(ds), 1);
    ck_assert_uint_eq(arnet_dataset_count(ds, 0), 1);
    arnet_dataset_free(ds);
    ck_assert_int_eq(arnet_dataset_create(0, NULL), ARNET_E_INVALID);
    arnet_load_options lo;
    arnet_load_options_init(&lo);
    ck_assert_int_eq(lo.crop, -1);
    ck_assert_uint_eq(lo.feature_dim, 0);
    ck_assert_uint_eq(lo.struct_size, sizeof lo);
}
END_TEST

/* ---- manifests ---------------------------------------------------------------- */

START_TEST(manifest_paths_comments_ground_truth)
{
    make_tmp();
    char p[512], m[512];
    snprintf(p, sizeof p, "%s/feats", tmpdir);
    ck_assert_int_eq(mkdir(p, 0777), 0);
    snprintf(p, sizeof p, "%s/feats/a.npy", tmpdir);
    write_features(p, 0, 5, 3);
    snprintf(p, sizeof p, "%s/feats/b.npy", tmpdir);
    write_features(p, 1, 4, 3);
    snprintf(p, sizeof p, "%s/c.npy", tmpdir);
    write_features(p, 2, 2, 3);
    snprintf(p, sizeof p, "%s/feats/a#b.npy", tmpdir);
    write_features(p, 3, 1, 3);
    /* A multi-crop file: [T=2, C=2, F=3]. */
    float mc[12];
    for (int i = 0; i < 12; i++)
        mc[i] = (float)i;
    size_t mshape[3] = {2, 2, 3};
    snprintf(p, sizeof p, "%s/feats/mc.npy", tmpdir);
    ck_assert_int_eq(arnet_npy_write(p, mc, mshape, 3), ARNET_OK);
    /* Frame ground truth as .npy (float 0/1, 37 frames, 3 anomalous). */
    float g[37] = {0};
    g[10] = g[11] = 1.0f;
    g[36] = 0.5f;
    size_t gs = 37;
    snprintf(p, sizeof p, "%s/feats/b_gt.npy", tmpdir);
    ck_assert_int_eq(arnet_npy_write(p, g, &gs, 1), ARNET_OK);

    char text[2048];
    snprintf(text, sizeof text,
             "# a comment line\n"
             "\n"
             "feats/a.npy 1 0-3,20-25 # trailing comment\n"
             "   \t\n"
             "feats/b.npy\t1\tfeats/b_gt.npy\r\n"
             "%s/c.npy 0 -\n"
             "feats/a.npy 0\n"
             "feats/a.npy 1 70-200\n"
             "feats/mc.npy 1\n"
             "feats/a#b.npy 0 # '#' inside a path is part of it\n",
             tmpdir);
    snprintf(m, sizeof m, "%s/train.txt", tmpdir);
    write_text(m, text);
    /* Loaded from another working directory: paths are relative to the
     * manifest, not to the process. */
    char cwd[PATH_MAX];
    ck_assert_ptr_nonnull(getcwd(cwd, sizeof cwd));
    ck_assert_int_eq(chdir("/"), 0);
    arnet_dataset *ds = NULL;
    int rc = arnet_dataset_load_manifest(m, NULL, &ds);
    ck_assert_int_eq(chdir(cwd), 0);
    ck_assert_msg(rc == ARNET_OK, "%s", arnet_last_error());
    ck_assert_uint_eq(arnet_dataset_size(ds), 7);
    ck_assert_uint_eq(arnet_dataset_count(ds, 1), 4);
    ck_assert_uint_eq(arnet_dataset_feature_dim(ds), 3);
    arnet_video_info vi;
    arnet_video_info_init(&vi);

    ck_assert_int_eq(arnet_dataset_video(ds, 0, &vi), ARNET_OK);
    ck_assert_str_eq(vi.name, "feats/a.npy");
    ck_assert_uint_eq(vi.n_clips, 5);
    for (size_t t = 0; t < 5; t++)
        for (size_t f = 0; f < 3; f++)
            ck_assert(vi.features[t * 3 + f] == feat_value(0, t, f));
    /* Ranges laid over 16 * T frames, inclusive at both ends. */
    ck_assert_uint_eq(vi.n_frames, 80);
    for (size_t i = 0; i < 80; i++)
        ck_assert_uint_eq(vi.frame_labels[i], (i <= 3 || (i >= 20 && i <= 25)) ? 1 : 0);

    ck_assert_int_eq(arnet_dataset_video(ds, 1, &vi), ARNET_OK);
    ck_assert_uint_eq(vi.n_clips, 4);
    ck_assert(vi.features[3] == feat_value(1, 1, 0));
    ck_assert_uint_eq(vi.n_frames, 37);
    for (size_t i = 0; i < 37; i++)
        ck_assert_uint_eq(vi.frame_labels[i], (i == 10 || i == 11 || i == 36) ? 1 : 0);

    ck_assert_int_eq(arnet_dataset_video(ds, 2, &vi), ARNET_OK);
    ck_assert_int_eq(vi.label, 0);
    ck_assert_uint_eq(vi.n_clips, 2);
    ck_assert_uint_eq(vi.n_frames, 0);
    ck_assert(vi.features[5] == feat_value(2, 1, 2));

    ck_assert_int_eq(arnet_dataset_video(ds, 3, &vi), ARNET_OK);
    ck_assert_int_eq(vi.label, 0);
    ck_assert_ptr_null(vi.frame_labels);

    /* A range past the end is clipped to the 80 frames. */
    ck_assert_int_eq(arnet_dataset_video(ds, 4, &vi), ARNET_OK);
    ck_assert_uint_eq(vi.n_frames, 80);
    for (size_t i = 0; i < 80; i++)
        ck_assert_uint_eq(vi.frame_labels[i], i >= 70 ? 1 : 0);

    /* Multi-crop: averaged by default. */
    ck_assert_int_eq(arnet_dataset_video(ds, 5, &vi), ARNET_OK);
    ck_assert_uint_eq(vi.n_clips, 2);
    ck_assert(vi.features[0] == 1.5f && vi.features[5] == 9.5f);
    ck_assert_int_eq(arnet_dataset_video(ds, 6, &vi), ARNET_OK);
    ck_assert_str_eq(vi.name, "feats/a#b.npy");
    ck_assert(vi.features[2] == feat_value(3, 0, 2));
    arnet_dataset_free(ds);

    /* Chosen crop through the load options; then a crop a file lacks. */
    snprintf(m, sizeof m, "%s/mc.txt", tmpdir);
    write_text(m, "feats/mc.npy 1\n");
    arnet_load_options lo;
    arnet_load_options_init(&lo);
    lo.crop = 1;
    ck_assert_int_eq(arnet_dataset_load_manifest(m, &lo, &ds), ARNET_OK);
    ck_assert_int_eq(arnet_dataset_video(ds, 0, &vi), ARNET_OK);
    ck_assert(vi.features[0] == 3.0f && vi.features[5] == 11.0f);
    arnet_dataset_free(ds);
    lo.crop = 2;
    ck_assert_int_eq(arnet_dataset_load_manifest(m, &lo, &ds), ARNET_E_INVALID);
    ck_assert_ptr_nonnull(strstr(arnet_last_error(), "mc.txt:1:"));
    lo.crop = -1;
    lo.struct_size = 1;
    ck_assert_int_eq(arnet_dataset_load_manifest(m, &lo, &ds), ARNET_E_INVALID);
    remove_tmp();
}
END_TEST

typedef struct bad_manifest {
    const char *line; /* becomes line 2, after a comment */
    int status;
    const char *expect;
} bad_manifest;

static const bad_manifest bad_lines[] = {
    {"a.npy", ARNET_E_FORMAT, "found 1 field"},
    {"a.npy 1 - extra", ARNET_E_FORMAT, "found 4 fields"},
    {"a.npy 2", ARNET_E_FORMAT, "label '2'"},
    {"a.npy yes", ARNET_E_FORMAT, "label 'yes'"},
    {"a.npy 01", ARNET_E_FORMAT, "label '01'"},
    {"a.npy 1 10-5", ARNET_E_FORMAT, "starts after it ends"},
    {"a.npy 1 abc", ARNET_E_FORMAT, "range 1 is not"},
    {"a.npy 1 1-2,", ARNET_E_FORMAT, "range 2 is not"},
    {"a.npy 1 1-2,x-4", ARNET_E_FORMAT, "range 2 is not"},
    {"a.npy 1 -5-6", ARNET_E_FORMAT, "range 1 is not"},
    {"a.npy 1 5", ARNET_E_FORMAT, "range 1 is not"},
    {"a.npy 1 99999999999999999999999-3", ARNET_E_FORMAT, "range 1 is not"},
    {"missing.npy 1", ARNET_E_IO, "missing.npy"},
    {"broken.npy 1", ARNET_E_FORMAT, "truncated"},
    {"a.npy 1 nogt.npy", ARNET_E_IO, "nogt.npy"},
    {"a.npy 1 a.npy", ARNET_E_FORMAT, "1-D"},
    {"a.npy 0 5-6", ARNET_E_INVALID, "'a.npy' is labelled normal"},
    {"a.npy 0 gt.npy", ARNET_E_INVALID, "frame 3 anomalous"},
    {"wide.npy 1", ARNET_E_SHAPE, "video 'wide.npy'"},
};

/* ---- writing manifests --------------------------------------------------------- */

static int entry_add(arnet_manifest_writer *w, const char *features, int label,
                     const char *gt_path, const uint64_t *ranges, size_t n_ranges,
                     const uint8_t *frames, size_t n_frames)
{
    arnet_manifest_entry e;
    arnet_manifest_entry_init(&e);
    e.features = features;
    e.label = label;
    e.gt_path = gt_path;
    e.gt_ranges = ranges;
    e.n_gt_ranges = n_ranges;
    e.frame_labels = frames;
    e.n_frames = n_frames;
    return arnet_manifest_writer_add(w, &e);
}

START_TEST(manifest_writer_round_trips_through_the_loader)
{
    make_tmp();
    char p[512], m[512];
    snprintf(p, sizeof p, "%s/a.npy", tmpdir);
    write_features(p, 0, 5, 3); /* 80 frames */
    snprintf(p, sizeof p, "%s/b.npy", tmpdir);
    write_features(p, 1, 2, 3);
    float g[20] = {0};
    g[3] = 1.0f;
    size_t gs = 20;
    snprintf(p, sizeof p, "%s/g.npy", tmpdir);
    ck_assert_int_eq(arnet_npy_write(p, g, &gs, 1), ARNET_OK);
    snprintf(m, sizeof m, "%s/out.txt", tmpdir);

    arnet_manifest_writer *w;
    ck_assert_int_eq(arnet_manifest_writer_create(m, &w), ARNET_OK);
    ck_assert_int_eq(arnet_manifest_writer_comment(w, "made by a test\nsecond line"), ARNET_OK);
    uint64_t ranges[4] = {2, 4, 70, 100};
    uint8_t frames[40] = {0};
    frames[0] = frames[1] = frames[39] = 1;
    ck_assert_int_eq(entry_add(w, "a.npy", 1, NULL, ranges, 2, NULL, 0), ARNET_OK);
    ck_assert_int_eq(entry_add(w, "b.npy", 1, "g.npy", NULL, 0, NULL, 0), ARNET_OK);
    ck_assert_int_eq(entry_add(w, "a.npy", 1, NULL, NULL, 0, frames, 40), ARNET_OK);
    ck_assert_int_eq(entry_add(w, "b.npy", 0, NULL, NULL, 0, NULL, 0), ARNET_OK);
    /* Nothing is on disk before the commit. */
    ck_assert_int_eq(access(m, F_OK), -1);
    ck_assert_int_eq(arnet_manifest_writer_commit(w), ARNET_OK);
    ck_assert_int_eq(arnet_manifest_writer_commit(w), ARNET_E_STATE);
    ck_assert_int_eq(entry_add(w, "b.npy", 0, NULL, NULL, 0, NULL, 0), ARNET_E_STATE);
    arnet_manifest_writer_free(w);

    char *text = slurp_text(m);
    ck_assert_str_eq(text, "# made by a test\n"
                           "# second line\n"
                           "a.npy 1 2-4,70-100\n"
                           "b.npy 1 g.npy\n"
                           "a.npy 1 0-1,39-39\n"
                           "b.npy 0 -\n");
    free(text);
    arnet_dataset *ds;
    ck_assert_msg(arnet_dataset_load_manifest(m, NULL, &ds) == ARNET_OK, "%s",
                  arnet_last_error());
    ck_assert_uint_eq(arnet_dataset_size(ds), 4);
    arnet_video_info vi;
    arnet_video_info_init(&vi);
    ck_assert_int_eq(arnet_dataset_video(ds, 0, &vi), ARNET_OK);
    ck_assert_uint_eq(vi.n_frames, 80); /* ranges past 16 T are clipped */
    for (size_t f = 0; f < 80; f++)
        ck_assert_int_eq(vi.frame_labels[f], (f >= 2 && f <= 4) || f >= 70);
    ck_assert_int_eq(arnet_dataset_video(ds, 1, &vi), ARNET_OK);
    ck_assert_uint_eq(vi.n_frames, 20);
    ck_assert_int_eq(vi.frame_labels[3], 1);
    ck_assert_int_eq(arnet_dataset_video(ds, 2, &vi), ARNET_OK);
    for (size_t f = 0; f < 40; f++)
        ck_assert_int_eq(vi.frame_labels[f], frames[f]);
    ck_assert_int_eq(arnet_dataset_video(ds, 3, &vi), ARNET_OK);
    ck_assert_int_eq(vi.label, 0);
    ck_assert_uint_eq(vi.n_frames, 0);
    arnet_dataset_free(ds);

    /* A writer freed without a commit leaves the old file as it was. */
    ck_assert_int_eq(arnet_manifest_writer_create(m, &w), ARNET_OK);
    ck_assert_int_eq(entry_add(w, "x.npy", 0, NULL, NULL, 0, NULL, 0), ARNET_OK);
    arnet_manifest_writer_free(w);
    text = slurp_text(m);
    ck_assert_ptr_nonnull(strstr(text, "a.npy 1 2-4,70-100"));
    free(text);
    remove_tmp();
}
END_TEST

START_TEST(manifest_writer_refuses_what_the_loader_would)
{
    arnet_manifest_writer *w;
    ck_assert_int_eq(arnet_manifest_writer_create("/tmp/never-written.txt", &w), ARNET_OK);
    uint64_t backwards[2] = {9, 3}, one[2] = {1, 1};
    uint8_t none[4] = {0}, some[4] = {0, 1, 0, 0};
    static const struct {
        const char *features;
        int label;
        const char *gt;
        int ranges, frames;
        const char *expect;
    } bad[] = {
        {NULL, 0, NULL, 0, 0, "features is NULL"},
        {"", 0, NULL, 0, 0, "features is empty"},
        {"a b.npy", 0, NULL, 0, 0, "has a blank"},
        {"a\tb.npy", 0, NULL, 0, 0, "has a blank"},
        {"a\nb.npy", 0, NULL, 0, 0, "control character"},
        {"#a.npy", 0, NULL, 0, 0, "starts with '#'"},
        {"a.npy", 2, NULL, 0, 0, "label 2"},
        {"a.npy", 1, "g.txt", 0, 0, "does not end in .npy"},
        {"a.npy", 1, "g x.npy", 0, 0, "has a blank"},
        {"a.npy", 1, "g.npy", 1, 0, "more than one"},
        {"a.npy", 1, NULL, 2, 0, "starts after it ends"},
        {"a.npy", 1, NULL, 0, 2, "no anomalous frame"},
        {"a.npy", 0, NULL, 1, 0, "labelled normal"},
        {"a.npy", 0, NULL, 0, 1, "labelled normal"},
    };
    for (size_t k = 0; k < sizeof bad / sizeof *bad; k++) {
        arnet_manifest_entry e;
        arnet_manifest_entry_init(&e);
        e.features = bad[k].features;
        e.label = bad[k].label;
        e.gt_path = bad[k].gt;
        if (bad[k].ranges) {
            e.gt_ranges = bad[k].ranges == 2 ? backwards : one;
            e.n_gt_ranges = 1;
        }
        if (bad[k].frames) {
            e.frame_labels = bad[k].frames == 2 ? none : some;
            e.n_frames = 4;
        }
        ck_assert_int_eq(arnet_manifest_writer_add(w, &e), ARNET_E_INVALID);
        ck_assert_msg(strstr(arnet_last_error(), bad[k].expect) != NULL, "case %zu: '%s'", k,
                      arnet_last_error());
        ck_assert_ptr_nonnull(strstr(arnet_last_error(), "never-written.txt video 1"));
    }
    ck_assert_int_eq(arnet_manifest_writer_comment(w, "bell\a"), ARNET_E_INVALID);
    arnet_manifest_writer_free(w);
    ck_assert_int_eq(access("/tmp/never-written.txt", F_OK), -1);
    ck_assert_int_eq(arnet_manifest_writer_create(NULL, &w), ARNET_E_INVALID);
    ck_assert_int_eq(arnet_manifest_writer_create("", &w), ARNET_E_INVALID);
    /* A folder that does not exist: ARNET_E_IO at the commit, naming it. */
    ck_assert_int_eq(arnet_manifest_writer_create("/nonexistent/dir/m.txt", &w), ARNET_OK);
    ck_assert_int_eq(arnet_manifest_writer_commit(w), ARNET_E_IO);
    ck_assert_ptr_nonnull(strstr(arnet_last_error(), "/nonexistent/dir/m.txt"));
    arnet_manifest_writer_free(w);
}
END_TEST

/* The digest is the data as a trainer sees it: order, labels, clip counts
 * and the first and last clips' features; not names. */
START_TEST(digest_sees_order_labels_and_features_not_names)
{
    float x[12] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12};
    arnet_dataset *a, *b;
    ck_assert_int_eq(arnet_dataset_create(3, &a), ARNET_OK);
    ck_assert_int_eq(arnet_dataset_add(a, "v1", x, 4, 3, 1, NULL, 0), ARNET_OK);
    ck_assert_int_eq(arnet_dataset_add(a, "v2", x, 2, 3, 0, NULL, 0), ARNET_OK);
    uint64_t da, db;
    ck_assert_int_eq(arnet_dataset_digest(a, &da), ARNET_OK);
    /* FNV-1a computed here independently, byte by byte. */
    uint64_t h = 0xcbf29ce484222325ull;
    const struct {
        unsigned char label;
        uint64_t clips;
    } vids[2] = {{1, 4}, {0, 2}};
    for (int v = 0; v < 2; v++) {
        unsigned char bytes[1 + 8 + 24];
        bytes[0] = vids[v].label;
        for (int k = 0; k < 8; k++)
            bytes[1 + k] = (unsigned char)(vids[v].clips >> (8 * k));
        const float *first = x, *last = x + (vids[v].clips - 1) * 3;
        for (int k = 0; k < 3; k++) {
            uint32_t u1, u2;
            memcpy(&u1, &first[k], 4);
            memcpy(&u2, &last[k], 4);
            for (int j = 0; j < 4; j++) {
                bytes[9 + 4 * k + j] = (unsigned char)(u1 >> (8 * j));
                bytes[21 + 4 * k + j] = (unsigned char)(u2 >> (8 * j));
            }
        }
        for (size_t k = 0; k < sizeof bytes; k++)
            h = (h ^ bytes[k]) * 0x100000001b3ull;
    }
    ck_assert_uint_eq(da, h);

    ck_assert_int_eq(arnet_dataset_create(3, &b), ARNET_OK);
    ck_assert_int_eq(arnet_dataset_add(b, "renamed", x, 4, 3, 1, NULL, 0), ARNET_OK);
    ck_assert_int_eq(arnet_dataset_add(b, "other", x, 2, 3, 0, NULL, 0), ARNET_OK);
    ck_assert_int_eq(arnet_dataset_digest(b, &db), ARNET_OK);
    ck_assert_uint_eq(da, db); /* names do not count */
    arnet_dataset_free(b);
    ck_assert_int_eq(arnet_dataset_create(3, &b), ARNET_OK);
    ck_assert_int_eq(arnet_dataset_add(b, "v2", x, 2, 3, 0, NULL, 0), ARNET_OK);
    ck_assert_int_eq(arnet_dataset_add(b, "v1", x, 4, 3, 1, NULL, 0), ARNET_OK);
    ck_assert_int_eq(arnet_dataset_digest(b, &db), ARNET_OK);
    ck_assert_uint_ne(da, db); /* order does */
    arnet_dataset_free(b);
    x[11] = 12.5f; /* the last clip of v1 */
    ck_assert_int_eq(arnet_dataset_create(3, &b), ARNET_OK);
    ck_assert_int_eq(arnet_dataset_add(b, "v1", x, 4, 3, 1, NULL, 0), ARNET_OK);
    ck_assert_int_eq(arnet_dataset_add(b, "v2", x, 2, 3, 0, NULL, 0), ARNET_OK);
    ck_assert_int_eq(arnet_dataset_digest(b, &db), ARNET_OK);
    ck_assert_uint_ne(da, db); /* features do */
    arnet_dataset_free(b);
    arnet_dataset_free(a);
    ck_assert_int_eq(arnet_dataset_digest(NULL, &da), ARNET_E_INVALID);
}
END_TEST

START_TEST(manifest_errors_name_file_and_line)
{
    make_tmp();
    char p[512], m[512];
    snprintf(p, sizeof p, "%s/a.npy", tmpdir);
    write_features(p, 0, 3, 4);
    snprintf(p, sizeof p, "%s/wide.npy", tmpdir);
    write_features(p, 0, 3, 5);
    snprintf(p, sizeof p, "%s/broken.npy", tmpdir);
    write_features(p, 0, 3, 4);
    ck_assert_int_eq(truncate(p, 140), 0); /* header 128 + 12 of 48 data bytes */
    float g[6] = {0, 0, 0, 1, 0, 0};
    size_t gs = 6;
    snprintf(p, sizeof p, "%s/gt.npy", tmpdir);
    ck_assert_int_eq(arnet_npy_write(p, g, &gs, 1), ARNET_OK);
    snprintf(m, sizeof m, "%s/bad.txt", tmpdir);
    for (size_t k = 0; k < sizeof bad_lines / sizeof *bad_lines; k++) {
        char text[256];
        /* Line 1: a good video, so that "wide" is a mismatch with it. */
        snprintf(text, sizeof text, "a.npy 1\n%s\na.npy 1\n", bad_lines[k].line);
        write_text(m, text);
        arnet_dataset *ds = (arnet_dataset *)0x1;
        int rc = arnet_dataset_load_manifest(m, NULL, &ds);
        ck_assert_msg(rc == bad_lines[k].status, "'%s': status %d (%s)", bad_lines[k].line, rc,
                      arnet_last_error());
        ck_assert_ptr_eq(ds, (arnet_dataset *)0x1);
        char where[600];
        snprintf(where, sizeof where, "%s:2: ", m);
        ck_assert_msg(strncmp(arnet_last_error(), where, strlen(where)) == 0,
                      "'%s': message '%s' does not start with '%s'", bad_lines[k].line,
                      arnet_last_error(), where);
        ck_assert_msg(strstr(arnet_last_error(), bad_lines[k].expect) != NULL,
                      "'%s': message '%s' lacks '%s'", bad_lines[k].line, arnet_last_error(),
                      bad_lines[k].expect);
    }
    /* The expected F from the options counts as the first video's. */
    write_text(m, "# only\n\nwide.npy 1\n");
    arnet_load_options lo;
    arnet_load_options_init(&lo);
    lo.feature_dim = 4;
    arnet_dataset *ds;
    ck_assert_int_eq(arnet_dataset_load_manifest(m, &lo, &ds), ARNET_E_SHAPE);
    ck_assert_ptr_nonnull(strstr(arnet_last_error(), "bad.txt:3: video 'wide.npy'"));
    write_text(m, "# nothing but comments\n\n   # and blanks\n");
    ck_assert_int_eq(arnet_dataset_load_manifest(m, NULL, &ds), ARNET_E_FORMAT);
    ck_assert_ptr_nonnull(strstr(arnet_last_error(), "no videos"));
    FILE *fp = fopen(m, "wb");
    fwrite("a.npy 1\na.n\0py 1\n", 1, 17, fp);
    fclose(fp);
    ck_assert_int_eq(arnet_dataset_load_manifest(m, NULL, &ds), ARNET_E_FORMAT);
    ck_assert_ptr_nonnull(strstr(arnet_last_error(), ":2: NUL"));
    snprintf(p, sizeof p, "%s/none.txt", tmpdir);
    ck_assert_int_eq(arnet_dataset_load_manifest(p, NULL, &ds), ARNET_E_IO);
    ck_assert_ptr_nonnull(strstr(arnet_last_error(), "none.txt"));
    ck_assert_int_eq(arnet_dataset_load_manifest(NULL, NULL, &ds), ARNET_E_INVALID);
    ck_assert_int_eq(arnet_dataset_load_manifest(m, NULL, NULL), ARNET_E_INVALID);
    remove_tmp();
}
END_TEST

/* ---- arnet import on the real annotation files ---------------------------------- */

static void arnet_exe(char *out, size_t cap)
{
    char self[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    ck_assert_int_gt(n, 0);
    self[n] = '\0';
    /* <build>/tests/test_dataset -> <build>/tools/arnet */
    snprintf(out, cap, "%s/../tools/arnet", dirname(self));
    ck_assert_msg(access(out, X_OK) == 0, "%s not built", out);
}

static int run(const char *cmd) { return WEXITSTATUS(system(cmd)); }

/* A .npy of shape [T, F] float32 whose data is a hole: sparse, no disk
 * space, 4 T F bytes long. */
static void write_sparse_features(const char *path, size_t T, size_t F)
{
    char dict[128];
    int dl = snprintf(dict, sizeof dict,
                      "{'descr': '<f4', 'fortran_order': False, 'shape': (%zu, %zu), }", T, F);
    size_t total = (10 + (size_t)dl + 1 + 63) / 64 * 64, hlen = total - 10;
    FILE *fp = fopen(path, "wb");
    ck_assert_ptr_nonnull(fp);
    fwrite("\x93NUMPY\x01\x00", 1, 8, fp);
    fputc((int)(hlen & 0xff), fp);
    fputc((int)(hlen >> 8), fp);
    fwrite(dict, 1, (size_t)dl, fp);
    for (size_t i = (size_t)dl; i + 1 < hlen; i++)
        fputc(' ', fp);
    fputc('\n', fp);
    fclose(fp);
    ck_assert_int_eq(truncate(path, (off_t)(total + T * F * 4)), 0);
}

/* arnet import counts a video's clips from its feature file's header: a
 * 1 GiB feature file imports within a 256 MiB address space (reading the
 * array to count its rows needed 1 GiB).  Under AddressSanitizer, whose
 * shadow memory needs terabytes of address space, the allocator's own
 * limit stands in for ulimit -v. */
#if defined(__SANITIZE_ADDRESS__)
#define MEMORY_LIMIT "ASAN_OPTIONS=max_allocation_size_mb=256:allocator_may_return_null=1"
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define MEMORY_LIMIT "ASAN_OPTIONS=max_allocation_size_mb=256:allocator_may_return_null=1"
#endif
#endif
#ifndef MEMORY_LIMIT
#define MEMORY_LIMIT "ulimit -v 262144 &&"
#endif

START_TEST(import_counts_clips_from_headers_only)
{
    make_tmp();
    char exe[PATH_MAX + 32], cmd[3 * PATH_MAX], p[1024];
    arnet_exe(exe, sizeof exe);
    size_t T = 4096, F = 65536;
    snprintf(p, sizeof p, "%s/big.npy", tmpdir);
    write_sparse_features(p, T, F);
    snprintf(p, sizeof p, "%s/list.txt", tmpdir);
    write_text(p, "big.npy\n");
    float *g = calloc(16 * T, sizeof *g);
    for (size_t f = 160; f < 320; f++)
        g[f] = 1.0f;
    size_t gs = 16 * T;
    snprintf(p, sizeof p, "%s/gt.npy", tmpdir);
    ck_assert_int_eq(arnet_npy_write(p, g, &gs, 1), ARNET_OK);
    free(g);
    snprintf(cmd, sizeof cmd,
             MEMORY_LIMIT " '%s' import rtfm --list '%s/list.txt' --gt '%s/gt.npy' "
             "--anomalous 1 --features-dir '%s' --out '%s/m.txt' 2>'%s/err.txt'",
             exe, tmpdir, tmpdir, tmpdir, tmpdir, tmpdir);
    int rc = run(cmd);
    snprintf(p, sizeof p, "%s/err.txt", tmpdir);
    char *err = slurp_text(p);
    ck_assert_msg(rc == 0, "exit %d: %s", rc, err);
    free(err);
    snprintf(p, sizeof p, "%s/m.txt", tmpdir);
    char *text = slurp_text(p);
    ck_assert_ptr_nonnull(strstr(text, "big.npy 1 160-319\n"));
    free(text);
    /* A file that is not clip features is named, with what it holds. */
    snprintf(p, sizeof p, "%s/big.npy", tmpdir);
    size_t shape1 = 16;
    float one[16] = {0};
    ck_assert_int_eq(arnet_npy_write(p, one, &shape1, 1), ARNET_OK);
    snprintf(cmd, sizeof cmd,
             "'%s' import rtfm --list '%s/list.txt' --gt '%s/gt.npy' --anomalous 1 "
             "--features-dir '%s' --out '%s/m2.txt' 2>'%s/err.txt'",
             exe, tmpdir, tmpdir, tmpdir, tmpdir, tmpdir);
    ck_assert_int_eq(run(cmd), 1);
    snprintf(p, sizeof p, "%s/err.txt", tmpdir);
    err = slurp_text(p);
    ck_assert_msg(strstr(err, "not clip features (dtype <f4, 1 dimension)") != NULL, "%s", err);
    ck_assert_ptr_nonnull(strstr(err, "list.txt line 1"));
    free(err);
    remove_tmp();
}
END_TEST

typedef struct sh_video {
    char name[32];
    size_t frames;
    uint8_t *labels;
} sh_video;

/* Minimal reader for S3R's {"video": {"num_frames": N, "labels": [...]}}. */
static sh_video *read_sh_json(size_t *n_out)
{
    char *s = slurp_text(SH_DIR "/ground_truth_test.json");
    ck_assert_ptr_nonnull(s);
    sh_video *v = calloc(400, sizeof *v);
    size_t n = 0;
    for (char *p = s; (p = strstr(p, "{\"num_frames\": ")) != NULL;) {
        char *q = p - 1;
        while (q > s && *q != '"')
            q--; /* closing quote of the key */
        char *k = q - 1;
        while (k > s && *k != '"')
            k--;
        ck_assert_int_lt(n, 400);
        snprintf(v[n].name, sizeof v[n].name, "%.*s", (int)(q - k - 1), k + 1);
        p += strlen("{\"num_frames\": ");
        v[n].frames = strtoul(p, &p, 10);
        p = strstr(p, "[") + 1;
        v[n].labels = malloc(v[n].frames);
        for (size_t i = 0; i < v[n].frames; i++) {
            double x = strtod(p, &p);
            v[n].labels[i] = x != 0;
            while (*p == ',' || *p == ' ')
                p++;
        }
        ck_assert_int_eq(*p, ']');
        n++;
    }
    free(s);
    *n_out = n;
    return v;
}

static const sh_video *find_sh(const sh_video *v, size_t n, const char *name)
{
    for (size_t i = 0; i < n; i++)
        if (!strcmp(v[i].name, name))
            return &v[i];
    return NULL;
}

START_TEST(import_rtfm_shanghaitech)
{
    make_tmp();
    char exe[PATH_MAX + 32], cmd[3 * PATH_MAX], p[1024];
    arnet_exe(exe, sizeof exe);
    size_t nj;
    sh_video *sv = read_sh_json(&nj);
    ck_assert_uint_eq(nj, 199);
    /* Fake [T, 2, 3] features with the real clip counts, named as the list. */
    snprintf(p, sizeof p, "%s/feat", tmpdir);
    ck_assert_int_eq(mkdir(p, 0777), 0);
    FILE *lf = fopen(SH_DIR "/rtfm_shanghai-i3d-test-10crop.list", "r");
    ck_assert_ptr_nonnull(lf);
    char line[512];
    const sh_video *order[199];
    size_t n = 0;
    while (fgets(line, sizeof line, lf)) {
        line[strcspn(line, "\r\n")] = '\0';
        char *base = strrchr(line, '/') + 1;
        char vname[32];
        snprintf(vname, sizeof vname, "%.*s", (int)(strstr(base, "_i3d.npy") - base), base);
        const sh_video *v = find_sh(sv, nj, vname);
        ck_assert_msg(v != NULL, "%s not in the json", vname);
        ck_assert_int_lt(n, 199);
        order[n++] = v;
        size_t T = v->frames / 16, shape[3] = {T, 2, 3};
        float *z = calloc(T * 6, sizeof *z);
        snprintf(p, sizeof p, "%s/feat/%s", tmpdir, base);
        ck_assert_int_eq(arnet_npy_write(p, z, shape, 3), ARNET_OK);
        free(z);
    }
    fclose(lf);
    ck_assert_uint_eq(n, 199);

    snprintf(cmd, sizeof cmd,
             "'%s' import rtfm --list '%s/rtfm_shanghai-i3d-test-10crop.list' --gt "
             "'%s/rtfm_gt-sh.npy' --anomalous 44 --features-dir '%s/feat' --out "
             "'%s/test.txt' 2>'%s/err.txt'",
             exe, SH_DIR, SH_DIR, tmpdir, tmpdir, tmpdir);
    ck_assert_int_eq(run(cmd), 0);
    snprintf(p, sizeof p, "%s/test.txt", tmpdir);
    arnet_dataset *ds;
    ck_assert_msg(arnet_dataset_load_manifest(p, NULL, &ds) == ARNET_OK, "%s",
                  arnet_last_error());
    ck_assert_uint_eq(arnet_dataset_size(ds), 199);
    ck_assert_uint_eq(arnet_dataset_count(ds, 1), 44);
    size_t frames = 0, anomalous = 0;
    for (size_t i = 0; i < 199; i++) {
        arnet_video_info vi;
        arnet_video_info_init(&vi);
        ck_assert_int_eq(arnet_dataset_video(ds, i, &vi), ARNET_OK);
        ck_assert_int_eq(vi.label, i < 44);
        ck_assert_uint_eq(vi.n_clips, order[i]->frames / 16);
        frames += order[i]->frames;
        if (vi.label == 0) {
            ck_assert_uint_eq(vi.n_frames, 0);
            for (size_t f = 0; f < order[i]->frames; f++)
                ck_assert_uint_eq(order[i]->labels[f], 0);
            continue;
        }
        /* RTFM's concatenated gt, split by our import, equals S3R's json. */
        ck_assert_uint_eq(vi.n_frames, order[i]->frames);
        ck_assert_msg(memcmp(vi.frame_labels, order[i]->labels, vi.n_frames) == 0,
                      "%s differs from the json", order[i]->name);
        for (size_t f = 0; f < vi.n_frames; f++)
            anomalous += vi.frame_labels[f];
    }
    ck_assert_uint_eq(frames, 142912);
    ck_assert_uint_eq(anomalous, 8028);
    arnet_dataset_free(ds);

    /* Wrong anomalous count: video 44 is anomalous but would be labelled 0. */
    snprintf(p, sizeof p, "%s/test2.txt", tmpdir);
    snprintf(cmd, sizeof cmd,
             "'%s' import rtfm --list '%s/rtfm_shanghai-i3d-test-10crop.list' --gt "
             "'%s/rtfm_gt-sh.npy' --anomalous 43 --features-dir '%s/feat' --out '%s' "
             "2>'%s/err.txt'",
             exe, SH_DIR, SH_DIR, tmpdir, p, tmpdir);
    ck_assert_int_eq(run(cmd), 1);
    ck_assert_int_ne(access(p, F_OK), 0);
    snprintf(p, sizeof p, "%s/err.txt", tmpdir);
    char *err = slurp_text(p);
    ck_assert_ptr_nonnull(strstr(err, "is --anomalous right?"));
    free(err);
    /* One video one clip longer: the total no longer matches the gt. */
    snprintf(p, sizeof p, "%s/feat/01_0015_i3d.npy", tmpdir);
    size_t T = order[0]->frames / 16 + 1, shape[3] = {T, 2, 3};
    float *z = calloc(T * 6, sizeof *z);
    ck_assert_int_eq(arnet_npy_write(p, z, shape, 3), ARNET_OK);
    free(z);
    snprintf(cmd, sizeof cmd,
             "'%s' import rtfm --list '%s/rtfm_shanghai-i3d-test-10crop.list' --gt "
             "'%s/rtfm_gt-sh.npy' --anomalous 44 --features-dir '%s/feat' --out '%s/t3.txt' "
             "2>'%s/err.txt'",
             exe, SH_DIR, SH_DIR, tmpdir, tmpdir, tmpdir);
    ck_assert_int_eq(run(cmd), 1);
    snprintf(p, sizeof p, "%s/err.txt", tmpdir);
    err = slurp_text(p);
    ck_assert_ptr_nonnull(strstr(err, "142912 frame labels"));
    ck_assert_ptr_nonnull(strstr(err, "142928 frames"));
    free(err);
    /* A missing feature file is named. */
    snprintf(p, sizeof p, "%s/feat/12_0174_i3d.npy", tmpdir);
    ck_assert_int_eq(unlink(p), 0);
    ck_assert_int_eq(run(cmd), 1);
    snprintf(p, sizeof p, "%s/err.txt", tmpdir);
    err = slurp_text(p);
    ck_assert_ptr_nonnull(strstr(err, "12_0174_i3d.npy"));
    ck_assert_ptr_nonnull(strstr(err, "line 44"));
    free(err);
    for (size_t i = 0; i < nj; i++)
        free(sv[i].labels);
    free(sv);
    remove_tmp();
}
END_TEST

/* The training list has no frame ground truth: labels only. */
START_TEST(import_rtfm_training_list)
{
    make_tmp();
    char exe[PATH_MAX + 32], cmd[3 * PATH_MAX], p[1024];
    arnet_exe(exe, sizeof exe);
    snprintf(p, sizeof p, "%s/feat", tmpdir);
    ck_assert_int_eq(mkdir(p, 0777), 0);
    FILE *lf = fopen(SH_DIR "/rtfm_shanghai-i3d-train-10crop.list", "r");
    ck_assert_ptr_nonnull(lf);
    char line[512];
    int n = 0, first_normal = -1;
    while (fgets(line, sizeof line, lf)) {
        line[strcspn(line, "\r\n")] = '\0';
        const char *base = strrchr(line, '/') + 1;
        /* Anomalous ShanghaiTech names have four digits after the scene. */
        int anomalous = strcspn(base + 3, "_") == 4;
        if (!anomalous && first_normal < 0)
            first_normal = n;
        ck_assert_msg(anomalous == (first_normal < 0), "%s out of order", base);
        snprintf(p, sizeof p, "%s/feat/%s", tmpdir, base);
        write_features(p, n, 1 + (size_t)n % 7, 2);
        n++;
    }
    fclose(lf);
    ck_assert_int_eq(n, 238);
    ck_assert_int_eq(first_normal, 63);
    snprintf(cmd, sizeof cmd,
             "'%s' import rtfm --list '%s/rtfm_shanghai-i3d-train-10crop.list' --anomalous 63 "
             "--features-dir '%s/feat' --out '%s/train.txt' 2>/dev/null",
             exe, SH_DIR, tmpdir, tmpdir);
    ck_assert_int_eq(run(cmd), 0);
    snprintf(p, sizeof p, "%s/train.txt", tmpdir);
    arnet_dataset *ds;
    ck_assert_msg(arnet_dataset_load_manifest(p, NULL, &ds) == ARNET_OK, "%s",
                  arnet_last_error());
    ck_assert_uint_eq(arnet_dataset_size(ds), 238);
    ck_assert_uint_eq(arnet_dataset_count(ds, 1), 63);
    for (size_t i = 0; i < 238; i++) {
        arnet_video_info vi;
        arnet_video_info_init(&vi);
        ck_assert_int_eq(arnet_dataset_video(ds, i, &vi), ARNET_OK);
        ck_assert_int_eq(vi.label, i < 63);
        ck_assert_uint_eq(vi.n_clips, 1 + i % 7);
        ck_assert(vi.features[0] == feat_value((int)i, 0, 0));
        ck_assert_uint_eq(vi.n_frames, 0);
    }
    arnet_dataset_free(ds);
    /* More anomalous videos than the list has. */
    snprintf(cmd, sizeof cmd,
             "'%s' import rtfm --list '%s/rtfm_shanghai-i3d-train-10crop.list' --anomalous 239 "
             "--features-dir '%s/feat' --out '%s/t2.txt' 2>/dev/null",
             exe, SH_DIR, tmpdir, tmpdir);
    ck_assert_int_eq(run(cmd), 1);
    remove_tmp();
}
END_TEST

START_TEST(import_ucf_crime)
{
    make_tmp();
    char exe[PATH_MAX + 32], cmd[3 * PATH_MAX], p[1024];
    arnet_exe(exe, sizeof exe);
    snprintf(p, sizeof p, "%s/feat", tmpdir);
    ck_assert_int_eq(mkdir(p, 0777), 0);
    /* Our own reading of the annotation file, and features long enough for
     * every event plus a margin. */
    FILE *af = fopen(UCF_ANN, "r");
    ck_assert_ptr_nonnull(af);
    struct ucf {
        char name[64];
        int normal;
        long s[4];
        size_t T;
    } *u = calloc(400, sizeof *u);
    size_t n = 0, n_anom = 0;
    char cls[64];
    while (n < 400 && fscanf(af, "%63s %63s %ld %ld %ld %ld", u[n].name, cls, &u[n].s[0],
                             &u[n].s[1], &u[n].s[2], &u[n].s[3]) == 6) {
        u[n].normal = strcmp(cls, "Normal") == 0;
        n_anom += !u[n].normal;
        long last = u[n].s[1] > u[n].s[3] ? u[n].s[1] : u[n].s[3];
        u[n].T = last > 0 ? (size_t)last / 16 + 3 : 20;
        char stem[64];
        snprintf(stem, sizeof stem, "%.*s", (int)(strlen(u[n].name) - 4), u[n].name);
        snprintf(p, sizeof p, "%s/feat/%s_i3d.npy", tmpdir, stem);
        write_features(p, (int)n, u[n].T, 2);
        n++;
    }
    fclose(af);
    ck_assert_uint_eq(n, 290);
    ck_assert_uint_eq(n_anom, 140);
    snprintf(cmd, sizeof cmd,
             "'%s' import ucf --annotations '%s' --features-dir '%s/feat' --suffix _i3d.npy "
             "--out '%s/ucf.txt' 2>'%s/err.txt'",
             exe, UCF_ANN, tmpdir, tmpdir, tmpdir);
    ck_assert_int_eq(run(cmd), 0);
    snprintf(p, sizeof p, "%s/ucf.txt", tmpdir);
    arnet_dataset *ds;
    ck_assert_msg(arnet_dataset_load_manifest(p, NULL, &ds) == ARNET_OK, "%s",
                  arnet_last_error());
    ck_assert_uint_eq(arnet_dataset_size(ds), 290);
    ck_assert_uint_eq(arnet_dataset_count(ds, 1), 140);
    for (size_t i = 0; i < n; i++) {
        arnet_video_info vi;
        arnet_video_info_init(&vi);
        ck_assert_int_eq(arnet_dataset_video(ds, i, &vi), ARNET_OK);
        ck_assert_int_eq(vi.label, !u[i].normal);
        ck_assert_uint_eq(vi.n_clips, u[i].T);
        ck_assert(vi.features[2] == feat_value((int)i, 1, 0));
        if (u[i].normal) {
            ck_assert_uint_eq(vi.n_frames, 0);
            continue;
        }
        ck_assert_uint_eq(vi.n_frames, 16 * u[i].T);
        for (size_t f = 0; f < vi.n_frames; f++) {
            long fl = (long)f;
            int want = (fl >= u[i].s[0] && fl <= u[i].s[1]) ||
                       (u[i].s[2] >= 0 && fl >= u[i].s[2] && fl <= u[i].s[3]);
            ck_assert_msg(vi.frame_labels[f] == want, "%s frame %zu", u[i].name, f);
        }
    }
    arnet_dataset_free(ds);

    /* A malformed annotation line, a reversed event, a Normal video with an
     * event, a missing feature file: each named by file and line, and no
     * manifest written. */
    const char *bad[] = {"Abuse028_x264.mp4 Abuse 165 240 -1\n",
                         "Abuse028_x264.mp4 Abuse 240 165 -1 -1\n",
                         "Abuse028_x264.mp4 Abuse 165 x -1 -1\n",
                         "Abuse028_x264.mp4 Abuse 165 240 7 -1\n",
                         "Normal_Videos_003_x264.mp4 Normal 5 9 -1 -1\n",
                         "Nothing_here_x264.mp4 Abuse 1 2 -1 -1\n"};
    const char *expect[] = {"ann.txt:2: expected", "ann.txt:2: Abuse028", "ann.txt:2: expected",
                            "ann.txt:2: Abuse028", "for a Normal video", "ann.txt:2: features"};
    for (size_t k = 0; k < 6; k++) {
        char text[256];
        snprintf(text, sizeof text, "Arrest001_x264.mp4  Arrest  1185  1485  -1  -1\n%s",
                 bad[k]);
        snprintf(p, sizeof p, "%s/ann.txt", tmpdir);
        write_text(p, text);
        snprintf(cmd, sizeof cmd,
                 "'%s' import ucf --annotations '%s/ann.txt' --features-dir '%s/feat' "
                 "--suffix _i3d.npy --out '%s/bad.txt' 2>'%s/err.txt'",
                 exe, tmpdir, tmpdir, tmpdir, tmpdir);
        ck_assert_int_eq(run(cmd), 1);
        snprintf(p, sizeof p, "%s/bad.txt", tmpdir);
        ck_assert_int_ne(access(p, F_OK), 0);
        snprintf(p, sizeof p, "%s/bad.txt.tmp", tmpdir);
        ck_assert_int_ne(access(p, F_OK), 0);
        snprintf(p, sizeof p, "%s/err.txt", tmpdir);
        char *err = slurp_text(p);
        ck_assert_msg(strstr(err, expect[k]) != NULL, "case %zu: '%s'", k, err);
        free(err);
    }
    /* Usage errors exit 2; --help exits 0. */
    snprintf(cmd, sizeof cmd, "'%s' import ucf --annotations x --bogus 2>/dev/null", exe);
    ck_assert_int_eq(run(cmd), 2);
    snprintf(cmd, sizeof cmd, "'%s' import ucf --annotations x 2>/dev/null", exe);
    ck_assert_int_eq(run(cmd), 2);
    snprintf(cmd, sizeof cmd, "'%s' import tsv 2>/dev/null", exe);
    ck_assert_int_eq(run(cmd), 2);
    snprintf(cmd, sizeof cmd, "'%s' import rtfm --list l --gt g --anomalous -3 --out o 2>/dev/null",
             exe);
    ck_assert_int_eq(run(cmd), 2);
    snprintf(cmd, sizeof cmd, "'%s' import --help >/dev/null", exe);
    ck_assert_int_eq(run(cmd), 0);
    free(u);
    remove_tmp();
}
END_TEST

Suite *make_suite(void)
{
    Suite *s = suite_create("dataset");
    TCase *tc = tcase_create("dataset");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, add_copies_and_accessors);
    tcase_add_test(tc, add_rejects_bad_videos);
    tcase_add_test(tc, manifest_paths_comments_ground_truth);
    tcase_add_test(tc, manifest_errors_name_file_and_line);
    tcase_add_test(tc, manifest_writer_round_trips_through_the_loader);
    tcase_add_test(tc, manifest_writer_refuses_what_the_loader_would);
    tcase_add_test(tc, digest_sees_order_labels_and_features_not_names);
    tcase_add_test(tc, import_rtfm_shanghaitech);
    tcase_add_test(tc, import_rtfm_training_list);
    tcase_add_test(tc, import_ucf_crime);
    tcase_add_test(tc, import_counts_clips_from_headers_only);
    suite_add_tcase(s, tc);
    return s;
}
