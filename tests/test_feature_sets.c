/* test_feature_sets.c -- feature sets as the public ones are published:
 * the crop-axis rule and --layout, every crop its own bag (ARNET_CROP_EACH),
 * RGB + flow pairs concatenated at read time, and the importers for the
 * UCF-Crime training list and XD-Violence. */
#include <check.h>
#include <libgen.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "detector_int.h"
#include "internal.h"

#define DATA_DIR ARNET_SOURCE_DIR "/tests/data"

static char tmpdir[64];

static void make_tmp(void)
{
    strcpy(tmpdir, "/tmp/arnet-fs-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(tmpdir));
}

static void remove_tmp(void)
{
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    ck_assert_int_eq(system(cmd), 0);
}

static const char *tmp_path(const char *name)
{
    static char buf[4][PATH_MAX];
    static int k;
    k = (k + 1) % 4;
    snprintf(buf[k], sizeof buf[k], "%s/%s", tmpdir, name);
    return buf[k];
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

/* Deterministic values in [-1, 1) that differ everywhere. */
static float val(uint32_t seed, size_t i)
{
    uint32_t x = seed * 2654435761u + (uint32_t)i * 40503u + 12345u;
    x ^= x >> 13;
    x *= 0x5bd1e995u;
    x ^= x >> 15;
    return (float)(x % 20000u) / 10000.0f - 1.0f;
}

static float *make_array(uint32_t seed, size_t n)
{
    float *x = malloc(n * sizeof *x);
    for (size_t i = 0; i < n; i++)
        x[i] = val(seed, i);
    return x;
}

static void write3(const char *path, const float *x, size_t a, size_t b, size_t c)
{
    size_t shape[3] = {a, b, c};
    ck_assert_int_eq(arnet_npy_write(path, x, shape, 3), ARNET_OK);
}

static void write2(const char *path, const float *x, size_t a, size_t b)
{
    size_t shape[2] = {a, b};
    ck_assert_int_eq(arnet_npy_write(path, x, shape, 2), ARNET_OK);
}

static int read_with(const char *path, int crop, int layout, float **x, size_t *T, uint32_t *F)
{
    arnet_npy_options o;
    arnet_npy_options_init(&o);
    o.crop = crop;
    o.layout = layout;
    return arnet_npy_read(path, &o, x, T, F);
}

static void arnet_exe(char *out, size_t cap)
{
    char self[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    ck_assert_int_gt(n, 0);
    self[n] = '\0';
    snprintf(out, cap, "%s/../tools/arnet", dirname(self));
    ck_assert_msg(access(out, X_OK) == 0, "%s not built", out);
}

static int run(const char *cmd) { return WEXITSTATUS(system(cmd)); }

/* ---- the crop axis ------------------------------------------------------------ */

/* [T, 10, F]: B a crop count, A not: read as [T, C, F]; the mean is the
 * double sum of crops 0..C-1 divided by C, rounded once. */
START_TEST(layout_rule_reads_t_c_f)
{
    make_tmp();
    size_t T = 6, C = 10, F = 4;
    float *x = make_array(1, T * C * F);
    write3(tmp_path("a.npy"), x, T, C, F);
    float *y;
    size_t t;
    uint32_t f;
    ck_assert_int_eq(read_with(tmp_path("a.npy"), -1, ARNET_LAYOUT_AUTO, &y, &t, &f), ARNET_OK);
    ck_assert_uint_eq(t, T);
    ck_assert_uint_eq(f, F);
    for (size_t i = 0; i < T; i++)
        for (size_t j = 0; j < F; j++) {
            double s = 0;
            for (size_t c = 0; c < C; c++)
                s += x[(i * C + c) * F + j];
            ck_assert_float_eq(y[i * F + j], (float)(s / (double)C));
        }
    arnet_free(y);
    free(x);
    remove_tmp();
}
END_TEST

/* [10, 4, F] is crop-first by the rule: refused naming --layout ctf; read
 * with ARNET_LAYOUT_CTF it equals its [T, C, F] transpose bit for bit, for
 * the mean and for one crop; --layout tcf overrides the rule. */
START_TEST(layout_crop_first_refused_then_read)
{
    make_tmp();
    size_t C = 10, T = 4, F = 3;
    float *ctf = make_array(2, C * T * F);
    float *tcf = malloc(C * T * F * sizeof *tcf);
    for (size_t c = 0; c < C; c++)
        for (size_t t = 0; t < T; t++)
            memcpy(tcf + (t * C + c) * F, ctf + (c * T + t) * F, F * sizeof *tcf);
    write3(tmp_path("ctf.npy"), ctf, C, T, F);
    write3(tmp_path("tcf.npy"), tcf, T, C, F);
    float *y = NULL, *z = NULL;
    size_t t1, t2;
    uint32_t f1, f2;
    ck_assert_int_eq(read_with(tmp_path("ctf.npy"), -1, ARNET_LAYOUT_AUTO, &y, &t1, &f1),
                     ARNET_E_FORMAT);
    ck_assert_ptr_nonnull(strstr(arnet_last_error(), "--layout ctf"));
    ck_assert_ptr_nonnull(strstr(arnet_last_error(), "ctf.npy"));
    for (int crop = -1; crop < 10; crop += 8) { /* mean, crop 7 */
        ck_assert_int_eq(read_with(tmp_path("ctf.npy"), crop, ARNET_LAYOUT_CTF, &y, &t1, &f1),
                         ARNET_OK);
        ck_assert_int_eq(read_with(tmp_path("tcf.npy"), crop, ARNET_LAYOUT_AUTO, &z, &t2, &f2),
                         ARNET_OK);
        ck_assert_uint_eq(t1, T);
        ck_assert_uint_eq(t2, T);
        ck_assert_uint_eq(f1, F);
        ck_assert_int_eq(memcmp(y, z, T * F * sizeof *y), 0);
        arnet_free(y);
        arnet_free(z);
    }
    /* Crop 10 of 10 crops is out of range in either layout. */
    ck_assert_int_eq(read_with(tmp_path("ctf.npy"), 10, ARNET_LAYOUT_CTF, &y, &t1, &f1),
                     ARNET_E_INVALID);
    /* tcf overrides: 10 clips of 4 crops. */
    ck_assert_int_eq(read_with(tmp_path("ctf.npy"), -1, ARNET_LAYOUT_TCF, &y, &t1, &f1),
                     ARNET_OK);
    ck_assert_uint_eq(t1, C);
    arnet_free(y);
    free(ctf);
    free(tcf);
    remove_tmp();
}
END_TEST

/* [10, 10, F] (and [5, 10, F]) could be either: the caller must say. */
START_TEST(layout_ambiguous_needs_a_choice)
{
    make_tmp();
    float *x = make_array(3, 10 * 10 * 2);
    write3(tmp_path("amb.npy"), x, 10, 10, 2);
    write3(tmp_path("amb5.npy"), x, 5, 10, 2);
    float *y;
    size_t t;
    uint32_t f;
    for (int k = 0; k < 2; k++) {
        const char *p = tmp_path(k ? "amb5.npy" : "amb.npy");
        ck_assert_int_eq(read_with(p, -1, ARNET_LAYOUT_AUTO, &y, &t, &f), ARNET_E_FORMAT);
        ck_assert_ptr_nonnull(strstr(arnet_last_error(), "ambiguous"));
        ck_assert_ptr_nonnull(strstr(arnet_last_error(), "--layout tcf"));
        ck_assert_ptr_nonnull(strstr(arnet_last_error(), "--layout ctf"));
        ck_assert_int_eq(read_with(p, -1, ARNET_LAYOUT_CTF, &y, &t, &f), ARNET_OK);
        ck_assert_uint_eq(t, 10);
        arnet_free(y);
        ck_assert_int_eq(read_with(p, -1, ARNET_LAYOUT_TCF, &y, &t, &f), ARNET_OK);
        ck_assert_uint_eq(t, k ? 5 : 10);
        arnet_free(y);
    }
    /* An unknown layout value is the caller's error. */
    ck_assert_int_eq(read_with(tmp_path("amb.npy"), -1, 7, &y, &t, &f), ARNET_E_INVALID);
    ck_assert_ptr_nonnull(strstr(arnet_last_error(), "layout 7"));
    free(x);
    remove_tmp();
}
END_TEST

/* A crop-first file in Fortran order is refused by name (not misread). */
START_TEST(layout_crop_first_fortran_refused)
{
    make_tmp();
    float *x = make_array(4, 10 * 3 * 2);
    write3(tmp_path("f.npy"), x, 10, 3, 2);
    char *s = slurp_text(tmp_path("f.npy"));
    FILE *fp = fopen(tmp_path("f.npy"), "r+b");
    char *q = strstr(s + 10, "False");
    ck_assert_ptr_nonnull(q);
    fseek(fp, q - s, SEEK_SET);
    fwrite("True ", 1, 5, fp);
    fclose(fp);
    free(s);
    float *y;
    size_t t;
    uint32_t f;
    ck_assert_int_eq(read_with(tmp_path("f.npy"), -1, ARNET_LAYOUT_CTF, &y, &t, &f),
                     ARNET_E_FORMAT);
    ck_assert_ptr_nonnull(strstr(arnet_last_error(), "Fortran"));
    ck_assert_ptr_nonnull(strstr(arnet_last_error(), "f.npy"));
    free(x);
    remove_tmp();
}
END_TEST

/* ---- every crop its own bag ------------------------------------------------ */

static arnet_dataset *load(const char *manifest, int crop, int layout)
{
    arnet_load_options lo;
    arnet_load_options_init(&lo);
    lo.crop = crop;
    lo.layout = layout;
    arnet_dataset *ds = NULL;
    int rc = arnet_dataset_load_manifest(manifest, &lo, &ds);
    ck_assert_msg(rc == ARNET_OK, "%s", arnet_last_error());
    return ds;
}

/* Two ten-crop videos and one [T, F] video: ARNET_CROP_EACH gives 10 + 10 + 1
 * entries with the video's label and ground truth; each entry is its crop.
 * Evaluation counts each video once and scores a clip with the mean of its
 * crops' scores. */
START_TEST(crops_each_entries_and_evaluation)
{
    make_tmp();
    size_t C = 10, F = 6, T0 = 7, T1 = 6, T2 = 4;
    float *x0 = make_array(10, T0 * C * F), *x1 = make_array(11, T1 * C * F);
    float *x2 = make_array(12, T2 * F);
    write3(tmp_path("v0.npy"), x0, T0, C, F);
    write3(tmp_path("v1.npy"), x1, T1, C, F);
    write2(tmp_path("v2.npy"), x2, T2, F);
    write_text(tmp_path("m.txt"), "v0.npy 1 16-40\nv1.npy 0 -\nv2.npy 0\n");
    arnet_dataset *ds = load(tmp_path("m.txt"), ARNET_CROP_EACH, ARNET_LAYOUT_AUTO);
    ck_assert_uint_eq(arnet_dataset_size(ds), 21);
    ck_assert_uint_eq(arnet_dataset_count(ds, 1), 10);
    ck_assert_uint_eq(arnet_dataset_count(ds, 0), 11);
    for (size_t k = 0; k < C; k++) {
        arnet_video_info vi;
        arnet_video_info_init(&vi);
        ck_assert_int_eq(arnet_dataset_video(ds, k, &vi), ARNET_OK);
        ck_assert_int_eq(vi.label, 1);
        ck_assert_uint_eq(vi.n_clips, T0);
        ck_assert_uint_eq(vi.n_frames, 16 * T0);
        ck_assert_int_eq(vi.frame_labels[16], 1);
        ck_assert_int_eq(vi.frame_labels[41], 0);
        for (size_t t = 0; t < T0; t++)
            ck_assert_int_eq(memcmp(vi.features + t * F, x0 + (t * C + k) * F, F * 4), 0);
    }

    arnet_model_config cfg;
    arnet_model_config_init(&cfg);
    cfg.feature_dim = (uint32_t)F;
    cfg.hidden_dim = 5;
    arnet_model *m;
    ck_assert_int_eq(arnet_model_create(&cfg, &m), ARNET_OK);
    arnet_eval_result r;
    arnet_eval_result_init(&r);
    ck_assert_int_eq(arnet_evaluate(m, ds, &r), ARNET_OK);
    ck_assert_uint_eq(r.videos, 3);
    ck_assert_uint_eq(r.anomalous_videos, 1);
    ck_assert_uint_eq(r.n_per_video, 3);
    ck_assert_uint_eq(r.frames, 16 * (T0 + T1 + T2));
    /* Reference: each crop scored alone, averaged per clip in double. */
    const float *xs[2] = {x0, x1};
    size_t Ts[2] = {T0, T1};
    float crop_x[7 * 6], sc[10][7]; /* T0 >= T1 */
    for (int v = 0; v < 2; v++) {
        for (size_t k = 0; k < C; k++) {
            for (size_t t = 0; t < Ts[v]; t++)
                memcpy(crop_x + t * F, xs[v] + (t * C + k) * F, F * 4);
            ck_assert_int_eq(arnet_model_score(m, crop_x, Ts[v], sc[k]), ARNET_OK);
        }
        double sum = 0, mx = -1;
        for (size_t t = 0; t < Ts[v]; t++) {
            double s = 0;
            for (size_t k = 0; k < C; k++)
                s += sc[k][t];
            s /= (double)C;
            sum += s;
            mx = s > mx ? s : mx;
        }
        ck_assert_uint_eq(r.per_video[v].n_clips, Ts[v]);
        ck_assert_double_eq_tol(r.per_video[v].mean_score, sum / (double)Ts[v], 1e-6);
        ck_assert_double_eq_tol(r.per_video[v].max_score, mx, 1e-6);
    }
    ck_assert_str_eq(r.per_video[2].name, "v2.npy");
    arnet_eval_result_free(&r);

    /* A trainer takes the entries as separate bags. */
    arnet_train_options to;
    arnet_train_options_init(&to);
    to.normal_per_batch = 4;
    to.anomalous_per_batch = 4;
    arnet_trainer *tr;
    ck_assert_int_eq(arnet_trainer_create(m, ds, &to, &tr), ARNET_OK);
    ck_assert_int_eq(arnet_trainer_step(tr, NULL), ARNET_OK);
    arnet_trainer_free(tr);
    arnet_model_free(m);
    arnet_dataset_free(ds);
    free(x0);
    free(x1);
    free(x2);
    remove_tmp();
}
END_TEST

/* A crop-first manifest video is refused by line with the layout hint. */
START_TEST(crops_each_respects_layout)
{
    make_tmp();
    float *x = make_array(5, 10 * 4 * 3);
    write3(tmp_path("cf.npy"), x, 10, 4, 3);
    write_text(tmp_path("m.txt"), "cf.npy 0\n");
    arnet_load_options lo;
    arnet_load_options_init(&lo);
    lo.crop = ARNET_CROP_EACH;
    arnet_dataset *ds = NULL;
    ck_assert_int_eq(arnet_dataset_load_manifest(tmp_path("m.txt"), &lo, &ds), ARNET_E_FORMAT);
    ck_assert_ptr_nonnull(strstr(arnet_last_error(), "m.txt:1"));
    ck_assert_ptr_nonnull(strstr(arnet_last_error(), "--layout ctf"));
    ds = load(tmp_path("m.txt"), ARNET_CROP_EACH, ARNET_LAYOUT_CTF);
    ck_assert_uint_eq(arnet_dataset_size(ds), 10);
    arnet_video_info vi;
    arnet_video_info_init(&vi);
    ck_assert_int_eq(arnet_dataset_video(ds, 3, &vi), ARNET_OK);
    ck_assert_uint_eq(vi.n_clips, 4);
    ck_assert_int_eq(memcmp(vi.features, x + 3 * 4 * 3, 4 * 3 * 4), 0);
    arnet_dataset_free(ds);
    /* crop below ARNET_CROP_EACH is the caller's error. */
    lo.crop = -3;
    ck_assert_int_eq(arnet_dataset_load_manifest(tmp_path("m.txt"), &lo, &ds), ARNET_E_INVALID);
    free(x);
    remove_tmp();
}
END_TEST

/* The CLI: --crops each trains and evaluates; bad --crops / --layout
 * values are usage errors naming the option; score takes --layout. */
START_TEST(cli_crops_and_layout)
{
    make_tmp();
    char exe[PATH_MAX + 32], cmd[4 * PATH_MAX];
    arnet_exe(exe, sizeof exe);
    size_t C = 10, F = 8;
    char name[64], list[1024] = "";
    for (int v = 0; v < 6; v++) {
        size_t T = 11 + (size_t)v;
        float *x = make_array(20 + (uint32_t)v, T * C * F);
        snprintf(name, sizeof name, "v%d.npy", v);
        write3(tmp_path(name), x, T, C, F);
        free(x);
        size_t n = strlen(list);
        snprintf(list + n, sizeof list - n, "%s %d%s\n", name, v % 2, v % 2 ? " 0-31" : "");
    }
    write_text(tmp_path("m.txt"), list);
    snprintf(cmd, sizeof cmd,
             "cd '%s' && '%s' train --train m.txt --test m.txt --crops each --out a.arnet "
             "--iterations 3 --batch-normal 2 --batch-anomalous 2 --quiet 2>err.txt && "
             "'%s' eval --model a.arnet --test m.txt --crops each --json >e.json 2>>err.txt",
             tmpdir, exe, exe);
    int rc = run(cmd);
    char *err = slurp_text(tmp_path("err.txt"));
    ck_assert_msg(rc == 0, "exit %d: %s", rc, err);
    free(err);
    char *js = slurp_text(tmp_path("e.json"));
    ck_assert_ptr_nonnull(strstr(js, "\"videos\": 6"));
    /* --mmap gives the same evaluation, and trains the same model. */
    snprintf(cmd, sizeof cmd,
             "cd '%s' && '%s' eval --model a.arnet --test m.txt --crops each --mmap --json "
             ">e2.json 2>err.txt && '%s' train --train m.txt --test m.txt --crops each "
             "--mmap --out b.arnet --iterations 3 --batch-normal 2 --batch-anomalous 2 "
             "--quiet 2>>err.txt",
             tmpdir, exe, exe);
    ck_assert_int_eq(run(cmd), 0);
    char *js2 = slurp_text(tmp_path("e2.json"));
    ck_assert_str_eq(js, js2);
    free(js2);
    free(js);
    arnet_model *ma, *mb;
    ck_assert_int_eq(arnet_model_load(tmp_path("a.arnet"), &ma), ARNET_OK);
    ck_assert_int_eq(arnet_model_load(tmp_path("b.arnet"), &mb), ARNET_OK);
    float wa[8 * 8], wb[8 * 8];
    ck_assert_int_eq(arnet_model_get_params(ma, wa, NULL, NULL, NULL), ARNET_OK);
    ck_assert_int_eq(arnet_model_get_params(mb, wb, NULL, NULL, NULL), ARNET_OK);
    ck_assert_int_eq(memcmp(wa, wb, sizeof wa), 0);
    arnet_model_free(ma);
    arnet_model_free(mb);
    snprintf(cmd, sizeof cmd, "cd '%s' && '%s' eval --model a.arnet --test m.txt --crops all "
                              "2>err.txt", tmpdir, exe);
    ck_assert_int_eq(run(cmd), 2);
    err = slurp_text(tmp_path("err.txt"));
    ck_assert_ptr_nonnull(strstr(err, "--crops: 'all'"));
    free(err);
    snprintf(cmd, sizeof cmd, "cd '%s' && '%s' train --train m.txt --out b.arnet --layout cft "
                              "2>err.txt", tmpdir, exe);
    ck_assert_int_eq(run(cmd), 2);
    err = slurp_text(tmp_path("err.txt"));
    ck_assert_ptr_nonnull(strstr(err, "--layout: 'cft'"));
    free(err);
    /* score: a crop-first file is refused by name, then read with --layout ctf. */
    float *x = make_array(30, 10 * 4 * F);
    write3(tmp_path("cf.npy"), x, 10, 4, F);
    free(x);
    snprintf(cmd, sizeof cmd, "cd '%s' && '%s' score --model a.arnet cf.npy >s.txt 2>err.txt",
             tmpdir, exe);
    ck_assert_int_eq(run(cmd), 1);
    err = slurp_text(tmp_path("err.txt"));
    ck_assert_msg(strstr(err, "--layout ctf") != NULL, "%s", err);
    free(err);
    snprintf(cmd, sizeof cmd,
             "cd '%s' && '%s' score --model a.arnet --layout ctf cf.npy >s.txt 2>err.txt",
             tmpdir, exe);
    ck_assert_int_eq(run(cmd), 0);
    remove_tmp();
}
END_TEST

/* ---- RGB + flow --------------------------------------------------------- */

/* Train a few steps and evaluate: the model's weights and the metrics. */
static void train_eval(arnet_dataset *ds, float *w1, size_t nw, arnet_eval_result *r)
{
    arnet_model_config cfg;
    arnet_model_config_init(&cfg);
    cfg.feature_dim = arnet_dataset_feature_dim(ds);
    cfg.hidden_dim = 6;
    arnet_model *m;
    ck_assert_int_eq(arnet_model_create(&cfg, &m), ARNET_OK);
    arnet_train_options to;
    arnet_train_options_init(&to);
    to.normal_per_batch = 2;
    to.anomalous_per_batch = 2;
    to.iterations = 5;
    arnet_trainer *tr;
    ck_assert_int_eq(arnet_trainer_create(m, ds, &to, &tr), ARNET_OK);
    ck_assert_int_eq(arnet_trainer_run(tr), ARNET_OK);
    arnet_trainer_free(tr);
    ck_assert_uint_eq(nw, (size_t)cfg.feature_dim * 6);
    ck_assert_int_eq(arnet_model_get_params(m, w1, NULL, NULL, NULL), ARNET_OK);
    arnet_eval_result_init(r);
    ck_assert_int_eq(arnet_evaluate(m, ds, r), ARNET_OK);
    arnet_model_free(m);
}

/* rgb.npy+flow.npy trains and evaluates bit for bit as a pre-concatenated
 * copy; a flow one clip longer (or shorter) is trimmed; ten-crop pairs too. */
START_TEST(rgb_flow_equals_concatenated)
{
    make_tmp();
    size_t Fr = 5, Ff = 3, C = 10;
    char pair[2048] = "", cat[2048] = "", name[64];
    for (int v = 0; v < 6; v++) {
        size_t Tr = 12 + (size_t)v, Tf = Tr + (size_t)(v % 3) - 1; /* -1, 0, +1 */
        size_t T = Tr < Tf ? Tr : Tf;
        float *r = make_array(40 + (uint32_t)v, Tr * C * Fr);
        float *f = make_array(60 + (uint32_t)v, Tf * C * Ff);
        /* The mean over crops of each part, then concatenated: what the
         * reader must produce. */
        float *c = malloc(T * (Fr + Ff) * sizeof *c);
        for (size_t t = 0; t < T; t++) {
            for (size_t j = 0; j < Fr; j++) {
                double s = 0;
                for (size_t k = 0; k < C; k++)
                    s += r[(t * C + k) * Fr + j];
                c[t * (Fr + Ff) + j] = (float)(s / (double)C);
            }
            for (size_t j = 0; j < Ff; j++) {
                double s = 0;
                for (size_t k = 0; k < C; k++)
                    s += f[(t * C + k) * Ff + j];
                c[t * (Fr + Ff) + Fr + j] = (float)(s / (double)C);
            }
        }
        snprintf(name, sizeof name, "rgb/v%d.npy", v);
        mkdir(tmp_path("rgb"), 0777);
        mkdir(tmp_path("flow"), 0777);
        mkdir(tmp_path("cat"), 0777);
        write3(tmp_path(name), r, Tr, C, Fr);
        snprintf(name, sizeof name, "flow/v%d.npy", v);
        write3(tmp_path(name), f, Tf, C, Ff);
        snprintf(name, sizeof name, "cat/v%d.npy", v);
        write2(tmp_path(name), c, T, Fr + Ff);
        free(r);
        free(f);
        free(c);
        const char *gt = v % 2 ? " 0-40" : "";
        size_t n = strlen(pair);
        snprintf(pair + n, sizeof pair - n, "rgb/v%d.npy+flow/v%d.npy %d%s\n", v, v, v % 2, gt);
        n = strlen(cat);
        snprintf(cat + n, sizeof cat - n, "cat/v%d.npy %d%s\n", v, v % 2, gt);
    }
    write_text(tmp_path("pair.txt"), pair);
    write_text(tmp_path("cat.txt"), cat);
    arnet_dataset *a = load(tmp_path("pair.txt"), -1, ARNET_LAYOUT_AUTO);
    arnet_dataset *b = load(tmp_path("cat.txt"), -1, ARNET_LAYOUT_AUTO);
    ck_assert_uint_eq(arnet_dataset_feature_dim(a), Fr + Ff);
    uint64_t da, db;
    ck_assert_int_eq(arnet_dataset_digest(a, &da), ARNET_OK);
    ck_assert_int_eq(arnet_dataset_digest(b, &db), ARNET_OK);
    ck_assert(da == db);
    size_t nw = (Fr + Ff) * 6;
    float wa[48], wb[48];
    arnet_eval_result ra, rb;
    train_eval(a, wa, nw, &ra);
    train_eval(b, wb, nw, &rb);
    ck_assert_int_eq(memcmp(wa, wb, sizeof wa), 0);
    ck_assert_int_eq(memcmp(&ra.auc, &rb.auc, sizeof ra.auc), 0);
    ck_assert_int_eq(memcmp(&ra.ap, &rb.ap, sizeof ra.ap), 0);
    ck_assert_int_eq(memcmp(&ra.far, &rb.far, sizeof ra.far), 0);
    ck_assert_uint_eq(ra.frames, rb.frames);
    for (size_t i = 0; i < ra.n_per_video; i++)
        ck_assert_float_eq(ra.per_video[i].mean_score, rb.per_video[i].mean_score);
    arnet_eval_result_free(&ra);
    arnet_eval_result_free(&rb);
    arnet_dataset_free(a);
    arnet_dataset_free(b);
    /* Each crop its own bag: crop k of RGB beside crop k of flow. */
    a = load(tmp_path("pair.txt"), ARNET_CROP_EACH, ARNET_LAYOUT_AUTO);
    ck_assert_uint_eq(arnet_dataset_size(a), 60);
    arnet_dataset_free(a);
    remove_tmp();
}
END_TEST

/* Refusals: clip counts two apart (naming both files), crop counts that
 * differ under --crops each, a missing flow file; a file whose name holds
 * '+' and exists whole is read whole. */
START_TEST(rgb_flow_refusals_and_plus_in_names)
{
    make_tmp();
    float *x = make_array(70, 12 * 10 * 4);
    write3(tmp_path("r.npy"), x, 8, 10, 4);
    write2(tmp_path("f2.npy"), x, 10, 2);
    write_text(tmp_path("m.txt"), "r.npy+f2.npy 0\n");
    arnet_load_options lo;
    arnet_load_options_init(&lo);
    arnet_dataset *ds = NULL;
    ck_assert_int_eq(arnet_dataset_load_manifest(tmp_path("m.txt"), &lo, &ds), ARNET_E_SHAPE);
    const char *e = arnet_last_error();
    ck_assert_msg(strstr(e, "r.npy has 8 clips") && strstr(e, "f2.npy has 10"), "%s", e);
    ck_assert_ptr_nonnull(strstr(e, "m.txt:1"));

    write2(tmp_path("f9.npy"), x, 9, 2);
    write_text(tmp_path("m.txt"), "r.npy+f9.npy 0\n");
    lo.crop = ARNET_CROP_EACH;
    ck_assert_int_eq(arnet_dataset_load_manifest(tmp_path("m.txt"), &lo, &ds), ARNET_E_SHAPE);
    e = arnet_last_error();
    ck_assert_msg(strstr(e, "10 crops") && strstr(e, "f9.npy has 1"), "%s", e);
    lo.crop = -1;
    ck_assert_int_eq(arnet_dataset_load_manifest(tmp_path("m.txt"), &lo, &ds), ARNET_OK);
    ck_assert_uint_eq(arnet_dataset_feature_dim(ds), 6);
    ck_assert_uint_eq(ds->videos[0].n_clips, 8);
    arnet_dataset_free(ds);

    write_text(tmp_path("m.txt"), "r.npy+missing.npy 0\n");
    ck_assert_int_eq(arnet_dataset_load_manifest(tmp_path("m.txt"), &lo, &ds), ARNET_E_IO);
    ck_assert_ptr_nonnull(strstr(arnet_last_error(), "missing.npy"));

    write2(tmp_path("a.npy+b.npy"), x, 3, 7);
    write_text(tmp_path("m.txt"), "a.npy+b.npy 0\n");
    ck_assert_int_eq(arnet_dataset_load_manifest(tmp_path("m.txt"), &lo, &ds), ARNET_OK);
    ck_assert_uint_eq(arnet_dataset_feature_dim(ds), 7);
    arnet_dataset_free(ds);
    free(x);
    remove_tmp();
}
END_TEST


static arnet_dataset *load_map(const char *manifest, int crop, int layout, int map)
{
    arnet_load_options lo;
    arnet_load_options_init(&lo);
    lo.crop = crop;
    lo.layout = layout;
    lo.mmap = map;
    arnet_dataset *ds = NULL;
    int rc = arnet_dataset_load_manifest(manifest, &lo, &ds);
    ck_assert_msg(rc == ARNET_OK, "%s", arnet_last_error());
    return ds;
}

/* ---- importers ------------------------------------------------------------ */

/* A .npy header with the given shape and a sparse data hole: the right
 * shape at no disk cost (importers read headers only). */
static void write_sparse(const char *path, const size_t *shape, int ndim)
{
    char dict[160], dims[96] = "";
    size_t count = 1;
    for (int i = 0; i < ndim; i++) {
        size_t n = strlen(dims);
        snprintf(dims + n, sizeof dims - n, "%zu, ", shape[i]);
        count *= shape[i];
    }
    dims[strlen(dims) - 2] = '\0';
    int dl = snprintf(dict, sizeof dict,
                      "{'descr': '<f4', 'fortran_order': False, 'shape': (%s), }", dims);
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
    ck_assert_int_eq(truncate(path, (off_t)(total + count * 4)), 0);
}

static size_t count_lines(const char *text, const char *needle)
{
    size_t n = 0;
    for (const char *p = text; (p = strstr(p, needle)); p += strlen(needle))
        n++;
    return n;
}

/* The real Anomaly_Train.txt (1,610 videos): RTFM's flat ten-crop layout
 * (<video>_i3d.npy, [T, 10, 1024]) with --suffix; 800 normal, 810 anomalous;
 * RGB + flow with --flow-dir; the manifest loads. */
START_TEST(import_ucf_train_list_real)
{
    make_tmp();
    char exe[PATH_MAX + 32], cmd[4 * PATH_MAX], p[PATH_MAX], line[512];
    arnet_exe(exe, sizeof exe);
    mkdir(tmp_path("rgb"), 0777);
    mkdir(tmp_path("flow"), 0777);
    FILE *lf = fopen(DATA_DIR "/ucf-crime/Anomaly_Train.txt", "r");
    ck_assert_ptr_nonnull(lf);
    size_t n = 0;
    while (fgets(line, sizeof line, lf)) {
        char *slash = strchr(line, '/');
        ck_assert_ptr_nonnull(slash);
        char *dot = strstr(slash, ".mp4");
        ck_assert_ptr_nonnull(dot);
        *dot = '\0';
        size_t shape[3] = {20 + n % 97, 10, 1024};
        snprintf(p, sizeof p, "%s/rgb/%s_i3d.npy", tmpdir, slash + 1);
        write_sparse(p, shape, 3);
        shape[0] -= n % 2; /* flow one clip shorter for half of them */
        snprintf(p, sizeof p, "%s/flow/%s_i3d.npy", tmpdir, slash + 1);
        write_sparse(p, shape, 3);
        n++;
    }
    fclose(lf);
    ck_assert_uint_eq(n, 1610);
    snprintf(cmd, sizeof cmd,
             "cd '%s' && '%s' import ucf --train-list '%s/ucf-crime/Anomaly_Train.txt' "
             "--features-dir rgb --suffix _i3d.npy --out train.txt 2>err.txt",
             tmpdir, exe, DATA_DIR);
    int rc = run(cmd);
    char *err = slurp_text(tmp_path("err.txt"));
    ck_assert_msg(rc == 0, "exit %d: %s", rc, err);
    ck_assert_msg(strstr(err, "1610 videos, 810 anomalous") != NULL, "%s", err);
    free(err);
    char *m = slurp_text(tmp_path("train.txt"));
    ck_assert_uint_eq(count_lines(m, "_i3d.npy 1 -\n"), 810);
    ck_assert_uint_eq(count_lines(m, "_i3d.npy 0 -\n"), 800);
    ck_assert_ptr_nonnull(strstr(m, "/rgb/Abuse001_x264_i3d.npy 1 -\n"));
    ck_assert_ptr_nonnull(strstr(m, "/rgb/Normal_Videos004_x264_i3d.npy 0 -\n"));
    free(m);
    snprintf(cmd, sizeof cmd,
             "cd '%s' && '%s' import ucf --train-list '%s/ucf-crime/Anomaly_Train.txt' "
             "--features-dir rgb --flow-dir flow --suffix _i3d.npy --out pair.txt 2>err.txt",
             tmpdir, exe, DATA_DIR);
    ck_assert_int_eq(run(cmd), 0);
    m = slurp_text(tmp_path("pair.txt"));
    ck_assert_ptr_nonnull(strstr(m, "/rgb/Abuse001_x264_i3d.npy+"));
    ck_assert_ptr_nonnull(strstr(m, "/flow/Abuse001_x264_i3d.npy 1 -\n"));
    /* Its first videos load as 2048-wide RGB + flow (the files are zeros). */
    char *cut = m;
    for (int k = 0; k < 4; k++)
        cut = strchr(cut, '\n') + 1;
    *cut = '\0';
    write_text(tmp_path("head.txt"), m);
    free(m);
    arnet_dataset *ds = load(tmp_path("head.txt"), -1, ARNET_LAYOUT_AUTO);
    ck_assert_uint_eq(arnet_dataset_feature_dim(ds), 2048);
    arnet_dataset_free(ds);

    /* Refusals: a missing feature file, a line without a class folder, a
     * missing flow file; nothing written. */
    snprintf(cmd, sizeof cmd,
             "cd '%s' && '%s' import ucf --train-list '%s/ucf-crime/Anomaly_Train.txt' "
             "--features-dir rgb --out x.txt 2>err.txt",
             tmpdir, exe, DATA_DIR);
    ck_assert_int_eq(run(cmd), 1);
    err = slurp_text(tmp_path("err.txt"));
    ck_assert_msg(strstr(err, "Anomaly_Train.txt:1: features of Abuse001_x264.mp4 not found") &&
                      strstr(err, "rgb/Abuse001_x264.npy"),
                  "%s", err);
    free(err);
    write_text(tmp_path("l.txt"), "Abuse/Abuse001_x264.mp4\nAbuse002_x264.mp4\n");
    snprintf(cmd, sizeof cmd,
             "cd '%s' && '%s' import ucf --train-list l.txt --features-dir rgb "
             "--suffix _i3d.npy --out x.txt 2>err.txt",
             tmpdir, exe);
    ck_assert_int_eq(run(cmd), 1);
    err = slurp_text(tmp_path("err.txt"));
    ck_assert_msg(strstr(err, "l.txt:2: 'Abuse002_x264.mp4' is not <class folder>/<video>.mp4"),
                  "%s", err);
    free(err);
    ck_assert_int_ne(access(tmp_path("x.txt"), F_OK), 0);
    snprintf(p, sizeof p, "%s/flow/Abuse001_x264_i3d.npy", tmpdir);
    ck_assert_int_eq(unlink(p), 0);
    snprintf(cmd, sizeof cmd,
             "cd '%s' && '%s' import ucf --train-list l.txt --features-dir rgb --flow-dir flow "
             "--suffix _i3d.npy --out x.txt 2>err.txt",
             tmpdir, exe);
    ck_assert_int_eq(run(cmd), 1);
    err = slurp_text(tmp_path("err.txt"));
    ck_assert_msg(strstr(err, "l.txt:1: flow features of Abuse001_x264.mp4 not found"), "%s",
                  err);
    free(err);
    remove_tmp();
}
END_TEST

/* The UCF-Crime test annotations and RTFM lists take --flow-dir and
 * --suffix too. */
START_TEST(import_rtfm_suffix_and_flow)
{
    make_tmp();
    char exe[PATH_MAX + 32], cmd[4 * PATH_MAX];
    arnet_exe(exe, sizeof exe);
    mkdir(tmp_path("rgb"), 0777);
    mkdir(tmp_path("flow"), 0777);
    size_t shape[3] = {12, 10, 16};
    write_sparse(tmp_path("rgb/01_0014.npy"), shape, 3);
    write_sparse(tmp_path("flow/01_0014.npy"), shape, 3);
    write_sparse(tmp_path("rgb/02_0015.npy"), shape, 3);
    write_sparse(tmp_path("flow/02_0015.npy"), shape, 3);
    write_text(tmp_path("list.txt"), "/data/SH/01_0014_i3d.npy\n/data/SH/02_0015_i3d.npy\n");
    snprintf(cmd, sizeof cmd,
             "cd '%s' && '%s' import rtfm --list list.txt --anomalous 1 --features-dir rgb "
             "--suffix .npy --flow-dir flow --out m.txt 2>err.txt",
             tmpdir, exe);
    int rc = run(cmd);
    char *err = slurp_text(tmp_path("err.txt"));
    ck_assert_msg(rc == 0, "exit %d: %s", rc, err);
    free(err);
    char *m = slurp_text(tmp_path("m.txt"));
    ck_assert_msg(strstr(m, "/rgb/01_0014.npy+") && strstr(m, "/flow/01_0014.npy 1 -\n") &&
                      strstr(m, "/flow/02_0015.npy 0 -\n"),
                  "%s", m);
    free(m);
    ck_assert_int_eq(unlink(tmp_path("flow/02_0015.npy")), 0);
    ck_assert_int_eq(unlink(tmp_path("m.txt")), 0); /* an existing --out needs --force */
    ck_assert_int_eq(run(cmd), 1);
    err = slurp_text(tmp_path("err.txt"));
    ck_assert_msg(strstr(err, "list.txt line 2: flow features") && strstr(err, "02_0015.npy"),
                  "%s", err);
    free(err);
    remove_tmp();
}
END_TEST

/* A small XD-Violence-shaped set, made for this test: names as published
 * (<movie>__#<from>_<to>_label_<classes>), five crop files per video
 * (__0..__4, [T, 1024]), a list with one line per crop file as XDVioDet's
 * rgb_test.list (violent videos first), annotations.txt frame pairs. */
static const char *xd_names[] = {
    "Bad.Boys.1995__#01-11-55_01-17-12_label_G-B2-B6",
    "Brave.Heart.1995__#02-20-00_02-22-30_label_B1-0-0",
    "v=wVey5JHBvTw__#1_label_B4-0-0",
    "A.Beautiful.Mind.2001__#00-25-20_00-29-20_label_A",
    "Love.Actually.2003__#00-30-15_00-31-40_label_A",
};

static void xd_write_set(size_t F)
{
    mkdir(tmp_path("rgb"), 0777);
    mkdir(tmp_path("flow"), 0777);
    char p[PATH_MAX], list[8192] = "";
    for (int v = 0; v < 5; v++) {
        size_t T = 21 + 3 * (size_t)v;
        for (int c = 0; c < 5; c++) {
            float *x = make_array(100 + (uint32_t)(10 * v + c), T * F);
            snprintf(p, sizeof p, "%s/rgb/%s__%d.npy", tmpdir, xd_names[v], c);
            write2(p, x, T, F);
            snprintf(p, sizeof p, "%s/flow/%s__%d.npy", tmpdir, xd_names[v], c);
            write2(p, x, T - (size_t)(v % 2), F);
            free(x);
            size_t n = strlen(list);
            snprintf(list + n, sizeof list - n, "/data/XD/RGBTest/%s__%d.npy\n", xd_names[v],
                     c);
        }
    }
    write_text(tmp_path("rgb_test.list"), list);
    write_text(tmp_path("annotations.txt"),
               "Bad.Boys.1995__#01-11-55_01-17-12_label_G-B2-B6 16 95 200 260\n"
               "Brave.Heart.1995__#02-20-00_02-22-30_label_B1-0-0.mp4 0 40\n"
               "v=wVey5JHBvTw__#1_label_B4-0-0 100 300\n"
               "Other.Movie__#00-00-00_00-01-00_label_B5-0-0 1 2\n");
}

START_TEST(import_xd_gathers_crops)
{
    make_tmp();
    char exe[PATH_MAX + 32], cmd[4 * PATH_MAX];
    arnet_exe(exe, sizeof exe);
    size_t F = 32;
    xd_write_set(F);
    snprintf(cmd, sizeof cmd,
             "cd '%s' && '%s' import xd --list rgb_test.list --annotations annotations.txt "
             "--features-dir rgb --out test.txt 2>err.txt",
             tmpdir, exe);
    int rc = run(cmd);
    char *err = slurp_text(tmp_path("err.txt"));
    ck_assert_msg(rc == 0, "exit %d: %s", rc, err);
    ck_assert_msg(strstr(err, "5 videos, 3 violent; 1 annotated videos of annotations.txt are "
                              "not in the list"),
                  "%s", err);
    free(err);
    char *m = slurp_text(tmp_path("test.txt"));
    ck_assert_msg(strstr(m, "/rgb/Bad.Boys.1995__#01-11-55_01-17-12_label_G-B2-B6__{0..4}.npy "
                            "1 16-95,200-260\n") &&
                      strstr(m, "label_B1-0-0__{0..4}.npy 1 0-40\n") &&
                      strstr(m, "label_A__{0..4}.npy 0 -\n"),
                  "%s", m);
    free(m);
    /* Loaded: the mean of the five files, bit for bit as their [T, 5, F] stack. */
    arnet_dataset *ds = load(tmp_path("test.txt"), -1, ARNET_LAYOUT_AUTO);
    ck_assert_uint_eq(arnet_dataset_size(ds), 5);
    ck_assert_uint_eq(arnet_dataset_count(ds, 1), 3);
    arnet_video_info vi;
    arnet_video_info_init(&vi);
    ck_assert_int_eq(arnet_dataset_video(ds, 1, &vi), ARNET_OK);
    size_t T = 24;
    ck_assert_uint_eq(vi.n_clips, T);
    float *stack = malloc(T * 5 * F * sizeof *stack);
    for (int c = 0; c < 5; c++) {
        float *x = make_array(100 + (uint32_t)(10 + c), T * F);
        for (size_t t = 0; t < T; t++)
            memcpy(stack + (t * 5 + (size_t)c) * F, x + t * F, F * 4);
        free(x);
    }
    write3(tmp_path("stack.npy"), stack, T, 5, F);
    free(stack);
    float *y;
    size_t ty;
    uint32_t fy;
    ck_assert_int_eq(read_with(tmp_path("stack.npy"), -1, ARNET_LAYOUT_AUTO, &y, &ty, &fy),
                     ARNET_OK);
    ck_assert_int_eq(memcmp(y, vi.features, T * F * 4), 0);
    arnet_free(y);
    ck_assert_uint_eq(vi.n_frames, 16 * T);
    ck_assert_int_eq(vi.frame_labels[40], 1);
    ck_assert_int_eq(vi.frame_labels[41], 0);
    arnet_dataset_free(ds);
    /* Mapped: the same digest and evaluation (the five files of a video are
     * mapped and averaged per clip), for the mean and each crop. */
    for (int each = 0; each < 2; each++) {
        int crop = each ? ARNET_CROP_EACH : -1;
        arnet_dataset *a = load_map(tmp_path("test.txt"), crop, ARNET_LAYOUT_AUTO, 0);
        arnet_dataset *b = load_map(tmp_path("test.txt"), crop, ARNET_LAYOUT_AUTO, 1);
        ck_assert_ptr_nonnull(b->videos[0].src);
        uint64_t da, db;
        ck_assert_int_eq(arnet_dataset_digest(a, &da), ARNET_OK);
        ck_assert_int_eq(arnet_dataset_digest(b, &db), ARNET_OK);
        ck_assert(da == db);
        arnet_model_config cfg;
        arnet_model_config_init(&cfg);
        cfg.feature_dim = (uint32_t)F;
        cfg.hidden_dim = 7;
        arnet_model *m;
        ck_assert_int_eq(arnet_model_create(&cfg, &m), ARNET_OK);
        arnet_eval_result ra, rb;
        arnet_eval_result_init(&ra);
        arnet_eval_result_init(&rb);
        ck_assert_int_eq(arnet_evaluate(m, a, &ra), ARNET_OK);
        ck_assert_int_eq(arnet_evaluate(m, b, &rb), ARNET_OK);
        ck_assert_int_eq(memcmp(&ra.auc, &rb.auc, sizeof ra.auc), 0);
        for (size_t i = 0; i < ra.n_per_video; i++)
            ck_assert_float_eq(ra.per_video[i].mean_score, rb.per_video[i].mean_score);
        arnet_eval_result_free(&ra);
        arnet_eval_result_free(&rb);
        arnet_model_free(m);
        arnet_dataset_free(a);
        arnet_dataset_free(b);
    }
    /* Each crop its own bag: 25 entries; crop 3 is file __3. */
    ds = load(tmp_path("test.txt"), ARNET_CROP_EACH, ARNET_LAYOUT_AUTO);
    ck_assert_uint_eq(arnet_dataset_size(ds), 25);
    ck_assert_int_eq(arnet_dataset_video(ds, 5 + 3, &vi), ARNET_OK);
    float *x3 = make_array(113, T * F);
    ck_assert_int_eq(memcmp(x3, vi.features, T * F * 4), 0);
    free(x3);
    arnet_dataset_free(ds);
    /* RGB + flow: 2F wide, the flow one clip short on two videos. */
    snprintf(cmd, sizeof cmd,
             "cd '%s' && '%s' import xd --list rgb_test.list --features-dir rgb --flow-dir flow "
             "--out train.txt 2>err.txt",
             tmpdir, exe);
    ck_assert_int_eq(run(cmd), 0);
    ds = load(tmp_path("train.txt"), -1, ARNET_LAYOUT_AUTO);
    ck_assert_uint_eq(arnet_dataset_feature_dim(ds), 2 * F);
    ck_assert_int_eq(arnet_dataset_video(ds, 1, &vi), ARNET_OK);
    ck_assert_uint_eq(vi.n_clips, T - 1);
    ck_assert_uint_eq(vi.n_frames, 0);
    arnet_dataset_free(ds);
    remove_tmp();
}
END_TEST

static void xd_expect_fail(const char *args, const char *needle)
{
    char exe[PATH_MAX + 32], cmd[4 * PATH_MAX];
    arnet_exe(exe, sizeof exe);
    snprintf(cmd, sizeof cmd, "cd '%s' && '%s' import xd %s --out bad.txt 2>err.txt", tmpdir,
             exe, args);
    ck_assert_int_eq(run(cmd), 1);
    char *err = slurp_text(tmp_path("err.txt"));
    ck_assert_msg(strstr(err, needle) != NULL, "wanted '%s' in: %s", needle, err);
    free(err);
    ck_assert_int_ne(access(tmp_path("bad.txt"), F_OK), 0);
}

START_TEST(import_xd_refusals)
{
    make_tmp();
    xd_write_set(8);
    write_text(tmp_path("a1.txt"), "Bad.Boys.1995__#01-11-55_01-17-12_label_G-B2-B6 16 95 200\n");
    xd_expect_fail("--list rgb_test.list --annotations a1.txt --features-dir rgb",
                   "a1.txt:1: Bad.Boys.1995__#01-11-55_01-17-12_label_G-B2-B6: expected 'name "
                   "s1 e1 s2 e2 ...' (frame pairs), found 3 numbers");
    write_text(tmp_path("a2.txt"), "Bad.Boys.1995__#01-11-55_01-17-12_label_G-B2-B6 16 9x\n");
    xd_expect_fail("--list rgb_test.list --annotations a2.txt --features-dir rgb",
                   "a2.txt:1: '9x' is not a frame number");
    write_text(tmp_path("a3.txt"), "Bad.Boys.1995__#01-11-55_01-17-12_label_G-B2-B6 16 95\n");
    xd_expect_fail("--list rgb_test.list --annotations a3.txt --features-dir rgb",
                   "Brave.Heart.1995__#02-20-00_02-22-30_label_B1-0-0 is violent by its name "
                   "but a3.txt has no events for it");
    write_text(tmp_path("a4.txt"), "Love.Actually.2003__#00-30-15_00-31-40_label_A 1 5\n");
    write_text(tmp_path("l4.txt"), "Love.Actually.2003__#00-30-15_00-31-40_label_A__0.npy\n");
    xd_expect_fail("--list l4.txt --annotations a4.txt --features-dir rgb",
                   "label_A is normal by its name (label_A) but a4.txt gives it events");
    write_text(tmp_path("a5.txt"), "Bad.Boys.1995__#01-11-55_01-17-12_label_G-B2-B6 9000 9100\n");
    write_text(tmp_path("l5.txt"), "Bad.Boys.1995__#01-11-55_01-17-12_label_G-B2-B6__0.npy\n");
    xd_expect_fail("--list l5.txt --annotations a5.txt --features-dir rgb",
                   "event 9000-9100 starts past the 336 frames (21 clips x 16)");
    write_text(tmp_path("l6.txt"), "Missing.Movie__#1_label_A__0.npy\n");
    xd_expect_fail("--list l6.txt --features-dir rgb",
                   "l6.txt:1: no crop files of Missing.Movie__#1_label_A");
    ck_assert_int_eq(unlink(tmp_path("flow/v=wVey5JHBvTw__#1_label_B4-0-0__4.npy")), 0);
    xd_expect_fail("--list rgb_test.list --features-dir rgb --flow-dir flow",
                   "v=wVey5JHBvTw__#1_label_B4-0-0 has 5 RGB crop files");
    /* A crop file of another length is named with crop 0's. */
    float z[8 * 3] = {0};
    write2(tmp_path("rgb/Brave.Heart.1995__#02-20-00_02-22-30_label_B1-0-0__2.npy"), z, 3, 8);
    xd_expect_fail("--list rgb_test.list --features-dir rgb",
                   "label_B1-0-0__2.npy has 3 clips, crop 0 has 24");
    remove_tmp();
}
END_TEST

/* Crop sets in a manifest: files of other shapes are named. */
START_TEST(manifest_crop_set_refusals)
{
    make_tmp();
    float *x = make_array(7, 10 * 10 * 4);
    write2(tmp_path("v__0.npy"), x, 6, 4);
    write2(tmp_path("v__1.npy"), x, 7, 4);
    write3(tmp_path("w__0.npy"), x, 6, 10, 4);
    write_text(tmp_path("m.txt"), "v__{0..1}.npy 0\n");
    arnet_load_options lo;
    arnet_load_options_init(&lo);
    arnet_dataset *ds = NULL;
    for (int map = 0; map < 2; map++) { /* read, then mapped */
        lo.mmap = map;
        ck_assert_int_eq(arnet_dataset_load_manifest(tmp_path("m.txt"), &lo, &ds),
                         ARNET_E_SHAPE);
        ck_assert_msg(strstr(arnet_last_error(), "v__0.npy ([6, 4])") &&
                          strstr(arnet_last_error(), "v__1.npy ([7, 4]) differ in shape"),
                      "%s", arnet_last_error());
    }
    lo.mmap = 0;
    write_text(tmp_path("m.txt"), "w__{0..0}.npy 0\n");
    ck_assert_int_eq(arnet_dataset_load_manifest(tmp_path("m.txt"), &lo, &ds), ARNET_E_FORMAT);
    ck_assert_ptr_nonnull(strstr(arnet_last_error(), "must be [T, F] (one crop)"));
    write_text(tmp_path("m.txt"), "v__{0..2}.npy 0\n");
    ck_assert_int_eq(arnet_dataset_load_manifest(tmp_path("m.txt"), &lo, &ds), ARNET_E_IO);
    ck_assert_ptr_nonnull(strstr(arnet_last_error(), "v__2.npy"));
    write_text(tmp_path("m.txt"), "v__{3..1}.npy 0\n");
    ck_assert_int_eq(arnet_dataset_load_manifest(tmp_path("m.txt"), &lo, &ds), ARNET_E_FORMAT);
    ck_assert_ptr_nonnull(strstr(arnet_last_error(), "{3..1} must count up"));
    lo.crop = 2;
    write_text(tmp_path("m.txt"), "v__{0..1}.npy 0\n");
    ck_assert_int_eq(arnet_dataset_load_manifest(tmp_path("m.txt"), &lo, &ds), ARNET_E_INVALID);
    ck_assert_ptr_nonnull(strstr(arnet_last_error(), "crop 2 out of range: 2 crop files"));
    /* A file whose name has the braces and exists is taken whole. */
    write2(tmp_path("u__{0..1}.npy"), x, 5, 3);
    write_text(tmp_path("m.txt"), "u__{0..1}.npy 0\n");
    lo.crop = -1;
    ck_assert_int_eq(arnet_dataset_load_manifest(tmp_path("m.txt"), &lo, &ds), ARNET_OK);
    ck_assert_uint_eq(arnet_dataset_feature_dim(ds), 3);
    arnet_dataset_free(ds);
    free(x);
    remove_tmp();
}
END_TEST


/* ---- calibration in the model, streams in seconds ---------------------------- */

START_TEST(stream_options_from_model)
{
    arnet_model_config cfg;
    arnet_model_config_init(&cfg);
    cfg.feature_dim = 4;
    arnet_model *m;
    ck_assert_int_eq(arnet_model_create(&cfg, &m), ARNET_OK);
    arnet_stream_options o;
    arnet_stream_options_init(&o);
    ck_assert_double_eq(o.fps, 0.0);
    ck_assert_uint_eq(o.clip_frames, 16);
    o.smoothing = ARNET_SMOOTH_EMA;
    /* No calibration: unchanged. */
    ck_assert_int_eq(arnet_stream_options_from_model(m, &o), ARNET_OK);
    ck_assert_float_eq(o.on_threshold, 0.5f);
    ck_assert_int_eq(arnet_model_set_meta(m, "calibration.threshold", "0.42"), ARNET_OK);
    ck_assert_int_eq(arnet_model_set_meta(m, "calibration.fps", "25"), ARNET_OK);
    ck_assert_int_eq(arnet_stream_options_from_model(m, &o), ARNET_OK);
    ck_assert_float_eq(o.on_threshold, 0.42f);
    ck_assert_float_eq(o.off_threshold, (float)(0.6 * 0.42));
    ck_assert_double_eq(o.fps, 25.0);
    ck_assert_int_eq(o.smoothing, ARNET_SMOOTH_EMA);
    /* Bad values are named; opt unchanged. */
    ck_assert_int_eq(arnet_model_set_meta(m, "calibration.threshold", "0.3x"), ARNET_OK);
    ck_assert_int_eq(arnet_stream_options_from_model(m, &o), ARNET_E_FORMAT);
    ck_assert_ptr_nonnull(strstr(arnet_last_error(), "calibration.threshold = '0.3x'"));
    ck_assert_float_eq(o.on_threshold, 0.42f);
    ck_assert_int_eq(arnet_model_set_meta(m, "calibration.threshold", "0.5"), ARNET_OK);
    ck_assert_int_eq(arnet_model_set_meta(m, "calibration.fps", "-3"), ARNET_OK);
    ck_assert_int_eq(arnet_stream_options_from_model(m, &o), ARNET_E_FORMAT);
    ck_assert_ptr_nonnull(strstr(arnet_last_error(), "calibration.fps = '-3'"));
    ck_assert_int_eq(arnet_stream_options_from_model(NULL, &o), ARNET_E_INVALID);
    arnet_model_free(m);
}
END_TEST

typedef struct ev_log {
    int n;
    arnet_event ev[4];
} ev_log;

static void on_ev(void *user, const arnet_event *ev)
{
    ev_log *l = user;
    if (l->n < 4)
        l->ev[l->n++] = *ev;
}

START_TEST(stream_events_in_seconds)
{
    for (int known = 0; known < 2; known++) {
        ev_log log = {0};
        arnet_stream_options o;
        arnet_stream_options_init(&o);
        o.smoothing = ARNET_SMOOTH_NONE;
        o.min_on_clips = 2;
        o.min_off_clips = 2;
        o.on_event = on_ev;
        o.user = &log;
        if (known)
            o.fps = 25.0;
        arnet_stream *st;
        ck_assert_int_eq(arnet_stream_create(&o, &st), ARNET_OK);
        float raw[] = {0.1f, 0.1f, 0.9f, 0.9f, 0.9f, 0.1f, 0.1f, 0.1f};
        for (size_t i = 0; i < sizeof raw / sizeof *raw; i++)
            ck_assert_int_eq(arnet_stream_update(st, raw[i], NULL), ARNET_OK);
        arnet_stream_free(st);
        ck_assert_int_eq(log.n, 2);
        ck_assert_uint_eq(log.ev[0].struct_size, sizeof(arnet_event));
        ck_assert_uint_eq(log.ev[0].start_clip, 2);
        ck_assert_uint_eq(log.ev[1].end_clip, 4);
        if (known) {
            ck_assert_double_eq(log.ev[0].start_seconds, 2 * 16 / 25.0);
            ck_assert(isnan(log.ev[0].end_seconds));
            ck_assert_double_eq(log.ev[1].start_seconds, 2 * 16 / 25.0);
            ck_assert_double_eq(log.ev[1].end_seconds, 5 * 16 / 25.0);
        } else {
            ck_assert(isnan(log.ev[0].start_seconds) && isnan(log.ev[1].end_seconds));
        }
    }
    arnet_stream_options o;
    arnet_stream_options_init(&o);
    arnet_stream *st;
    o.fps = -1;
    ck_assert_int_eq(arnet_stream_create(&o, &st), ARNET_E_INVALID);
    ck_assert_ptr_nonnull(strstr(arnet_last_error(), "fps -1"));
    o.fps = NAN;
    ck_assert_int_eq(arnet_stream_create(&o, &st), ARNET_E_INVALID);
    o.fps = 30;
    o.clip_frames = 0;
    ck_assert_int_eq(arnet_stream_create(&o, &st), ARNET_E_INVALID);
    ck_assert_ptr_nonnull(strstr(arnet_last_error(), "clip_frames"));
}
END_TEST

/* arnet calibrate --write: the threshold and its rule in the model, read
 * back by arnet_stream_options_from_model; a checkpoint needs --out. */
START_TEST(cli_calibrate_write)
{
    make_tmp();
    char exe[PATH_MAX + 32], cmd[4 * PATH_MAX];
    arnet_exe(exe, sizeof exe);
    size_t F = 8;
    char list[512] = "", name[32];
    for (int v = 0; v < 4; v++) {
        float *x = make_array(200 + (uint32_t)v, 30 * F);
        snprintf(name, sizeof name, "n%d.npy", v);
        write2(tmp_path(name), x, 30, F);
        free(x);
        size_t n = strlen(list);
        snprintf(list + n, sizeof list - n, "%s %d%s\n", name, v == 3, v == 3 ? " 0-15" : "");
    }
    write_text(tmp_path("m.txt"), list);
    arnet_model_config cfg;
    arnet_model_config_init(&cfg);
    cfg.feature_dim = (uint32_t)F;
    arnet_model *m;
    ck_assert_int_eq(arnet_model_create(&cfg, &m), ARNET_OK);
    ck_assert_int_eq(arnet_model_save(m, tmp_path("a.arnet")), ARNET_OK);
    snprintf(cmd, sizeof cmd,
             "cd '%s' && '%s' calibrate --model a.arnet --normal m.txt --per-hour 100 "
             "--fps 25 --write --json >c.json 2>err.txt",
             tmpdir, exe);
    int rc = run(cmd);
    char *err = slurp_text(tmp_path("err.txt"));
    ck_assert_msg(rc == 0, "exit %d: %s", rc, err);
    free(err);
    char *js = slurp_text(tmp_path("c.json"));
    char *t = strstr(js, "\"threshold\": ");
    ck_assert_ptr_nonnull(t);
    float thr = strtof(t + 13, NULL);
    free(js);
    arnet_model *c;
    ck_assert_int_eq(arnet_model_load(tmp_path("a.arnet"), &c), ARNET_OK);
    ck_assert_str_eq(arnet_model_get_meta(c, "calibration.rule"), "per_hour");
    ck_assert_str_eq(arnet_model_get_meta(c, "calibration.per_hour"), "100");
    ck_assert_str_eq(arnet_model_get_meta(c, "calibration.fps"), "25");
    ck_assert_str_eq(arnet_model_get_meta(c, "calibration.clips"), "90");
    ck_assert_str_eq(arnet_model_get_meta(c, "calibration.data"), "m.txt");
    ck_assert_ptr_nonnull(arnet_model_get_meta(c, "calibration.far"));
    arnet_stream_options o;
    arnet_stream_options_init(&o);
    ck_assert_int_eq(arnet_stream_options_from_model(c, &o), ARNET_OK);
    ck_assert_float_eq(o.on_threshold, thr);
    ck_assert_double_eq(o.fps, 25.0);
    arnet_model_free(c);
    /* Recalibrating by FAR drops the per-hour figure. */
    snprintf(cmd, sizeof cmd,
             "cd '%s' && '%s' calibrate --model a.arnet --normal m.txt --far 0.05 --write "
             ">/dev/null 2>err.txt",
             tmpdir, exe);
    ck_assert_int_eq(run(cmd), 0);
    ck_assert_int_eq(arnet_model_load(tmp_path("a.arnet"), &c), ARNET_OK);
    ck_assert_str_eq(arnet_model_get_meta(c, "calibration.rule"), "far");
    ck_assert_ptr_null(arnet_model_get_meta(c, "calibration.per_hour"));
    ck_assert_str_eq(arnet_model_get_meta(c, "calibration.far"), "0.05");
    arnet_model_free(c);

    /* A training checkpoint: refused without --out (its trainer state would
     * be lost), written to --out with it. */
    arnet_dataset *ds = load(tmp_path("m.txt"), -1, ARNET_LAYOUT_AUTO);
    arnet_train_options to;
    arnet_train_options_init(&to);
    to.normal_per_batch = 1;
    to.anomalous_per_batch = 1;
    arnet_trainer *tr;
    ck_assert_int_eq(arnet_trainer_create(m, ds, &to, &tr), ARNET_OK);
    ck_assert_int_eq(arnet_trainer_step(tr, NULL), ARNET_OK);
    ck_assert_int_eq(arnet_trainer_save(tr, tmp_path("ck.arnet")), ARNET_OK);
    arnet_trainer_free(tr);
    arnet_dataset_free(ds);
    arnet_model_free(m);
    snprintf(cmd, sizeof cmd,
             "cd '%s' && '%s' calibrate --model ck.arnet --normal m.txt --far 0.1 --write "
             ">/dev/null 2>err.txt",
             tmpdir, exe);
    ck_assert_int_eq(run(cmd), 2);
    err = slurp_text(tmp_path("err.txt"));
    ck_assert_msg(strstr(err, "ck.arnet is a training checkpoint") && strstr(err, "--out FILE"),
                  "%s", err);
    free(err);
    snprintf(cmd, sizeof cmd,
             "cd '%s' && '%s' calibrate --model ck.arnet --normal m.txt --far 0.1 --write "
             "--out cal.arnet >/dev/null 2>err.txt",
             tmpdir, exe);
    ck_assert_int_eq(run(cmd), 0);
    ck_assert_int_eq(arnet_model_load(tmp_path("cal.arnet"), &c), ARNET_OK);
    ck_assert_ptr_nonnull(arnet_model_get_meta(c, "calibration.threshold"));
    arnet_model_free(c);
    snprintf(cmd, sizeof cmd,
             "cd '%s' && '%s' calibrate --model ck.arnet --normal m.txt --far 0.1 "
             "--out cal.arnet >/dev/null 2>err.txt",
             tmpdir, exe);
    ck_assert_int_eq(run(cmd), 2);
    err = slurp_text(tmp_path("err.txt"));
    ck_assert_ptr_nonnull(strstr(err, "--out FILE goes with --write"));
    free(err);
    remove_tmp();
}
END_TEST


/* ---- mapped features ------------------------------------------------------ */

/* Ten-crop [T, C, F], crop-first, RGB + flow pairs and [T, F] files,
 * mapped: the digest, a trained model and the evaluation equal the loaded
 * set's bit for bit, for the mean, one crop and each crop. */
START_TEST(mmap_equals_loaded)
{
    make_tmp();
    size_t C = 10, F = 6, Ff = 4;
    char list[4096] = "", name[64], flow[64];
    mkdir(tmp_path("f"), 0777);
    for (int v = 0; v < 8; v++) {
        size_t T = 11 + (size_t)v * 3;
        float *x = make_array(300 + (uint32_t)v, T * C * F);
        float *y = make_array(400 + (uint32_t)v, (T + 1) * C * Ff);
        snprintf(name, sizeof name, "f/v%d.npy", v);
        snprintf(flow, sizeof flow, "f/w%d.npy", v);
        if (v % 4 == 3) { /* crop-first files, read with --layout ctf */
            write3(tmp_path(name), x, C, T, F);
            write3(tmp_path(flow), y, C, T + (size_t)(v % 2), Ff);
        } else {
            write3(tmp_path(name), x, T, C, F);
            write3(tmp_path(flow), y, T + (size_t)(v % 2), C, Ff);
        }
        free(x);
        free(y);
        size_t n = strlen(list);
        snprintf(list + n, sizeof list - n, "%s+%s %d%s\n", name, flow, v % 2,
                 v % 2 ? " 20-90" : "");
    }
    write_text(tmp_path("m.txt"), list);
    /* v3 and v7 are crop-first: one layout for the manifest would not do,
     * so they get their own manifest. */
    char tcf[4096] = "", ctf[4096] = "";
    for (char *l = list; *l;) {
        char *e = strchr(l, '\n');
        int is_ctf = l[3] == '3' || l[3] == '7';
        strncat(is_ctf ? ctf : tcf, l, (size_t)(e - l + 1));
        l = e + 1;
    }
    write_text(tmp_path("tcf.txt"), tcf);
    write_text(tmp_path("ctf.txt"), ctf);
    const char *lists[2] = {"tcf.txt", "ctf.txt"};
    int layouts[2] = {ARNET_LAYOUT_AUTO, ARNET_LAYOUT_CTF};
    int crops[3] = {-1, 7, ARNET_CROP_EACH};
    for (int li = 0; li < 2; li++)
        for (int ci = 0; ci < 3; ci++) {
            arnet_dataset *a = load_map(tmp_path(lists[li]), crops[ci], layouts[li], 0);
            arnet_dataset *b = load_map(tmp_path(lists[li]), crops[ci], layouts[li], 1);
            ck_assert_uint_eq(arnet_dataset_size(a), arnet_dataset_size(b));
            ck_assert_uint_eq(arnet_dataset_feature_dim(b), F + Ff);
            ck_assert_ptr_nonnull(b->videos[0].src);
            arnet_video_info vi;
            arnet_video_info_init(&vi);
            ck_assert_int_eq(arnet_dataset_video(b, 0, &vi), ARNET_OK);
            ck_assert_ptr_null(vi.features);
            uint64_t da, db;
            ck_assert_int_eq(arnet_dataset_digest(a, &da), ARNET_OK);
            ck_assert_int_eq(arnet_dataset_digest(b, &db), ARNET_OK);
            ck_assert(da == db);
            if (li == 1) { /* ctf.txt holds normal videos only: no training */
                arnet_dataset_free(a);
                arnet_dataset_free(b);
                continue;
            }
            float wa[60], wb[60];
            arnet_eval_result ra, rb;
            train_eval(a, wa, (F + Ff) * 6, &ra);
            train_eval(b, wb, (F + Ff) * 6, &rb);
            ck_assert_int_eq(memcmp(wa, wb, (F + Ff) * 6 * sizeof *wa), 0);
            ck_assert_int_eq(memcmp(&ra.auc, &rb.auc, sizeof ra.auc), 0);
            ck_assert_int_eq(memcmp(&ra.far, &rb.far, sizeof ra.far), 0);
            for (size_t i = 0; i < ra.n_per_video; i++)
                ck_assert_float_eq(ra.per_video[i].max_score, rb.per_video[i].max_score);
            arnet_eval_result_free(&ra);
            arnet_eval_result_free(&rb);
            arnet_dataset_free(a);
            arnet_dataset_free(b);
        }
    /* A [T, F] float32 file is used in place: features point into the map. */
    float *x = make_array(500, 9 * F);
    write2(tmp_path("p.npy"), x, 9, F);
    write_text(tmp_path("p.txt"), "p.npy 0\n");
    arnet_dataset *d = load_map(tmp_path("p.txt"), -1, ARNET_LAYOUT_AUTO, 1);
    arnet_video_info vi;
    arnet_video_info_init(&vi);
    ck_assert_int_eq(arnet_dataset_video(d, 0, &vi), ARNET_OK);
    ck_assert_ptr_nonnull(vi.features);
    ck_assert_int_eq(memcmp(vi.features, x, 9 * F * 4), 0);
    ck_assert_ptr_nonnull(d->videos[0].src);
    arnet_dataset_free(d);
    free(x);
    remove_tmp();
}
END_TEST

/* Files that cannot be mapped are read (float64, big-endian, Fortran,
 * crop sets); the refusals are the reader's. */
START_TEST(mmap_falls_back_and_refuses)
{
    make_tmp();
    /* float64 via a header edit of a float32 file of twice the elements. */
    float *x = make_array(600, 8 * 6);
    write2(tmp_path("d.npy"), x, 4, 6 * 2); /* 48 floats = 24 doubles of [4, 6] */
    char *s = slurp_text(tmp_path("d.npy"));
    FILE *fp = fopen(tmp_path("d.npy"), "r+b");
    char *q = strstr(s + 10, "'<f4'");
    fseek(fp, q - s, SEEK_SET);
    fwrite("'<f8'", 1, 5, fp);
    q = strstr(s + 10, "(4, 12)");
    fseek(fp, q - s, SEEK_SET);
    fwrite("(4,  6)", 1, 7, fp);
    fclose(fp);
    free(s);
    write_text(tmp_path("m.txt"), "d.npy 0\n");
    arnet_dataset *d = load_map(tmp_path("m.txt"), -1, ARNET_LAYOUT_AUTO, 1);
    ck_assert_ptr_null(d->videos[0].src);
    ck_assert_uint_eq(arnet_dataset_feature_dim(d), 6);
    arnet_dataset_free(d);
    /* Refusals as when reading: crop out of range, crop-first, RGB + flow
     * clip counts two apart. */
    write3(tmp_path("t.npy"), x, 4, 2, 6);
    write3(tmp_path("c.npy"), x, 10, 4, 1);
    write2(tmp_path("g.npy"), x, 6, 2);
    arnet_load_options lo;
    arnet_load_options_init(&lo);
    lo.mmap = 1;
    lo.crop = 2;
    write_text(tmp_path("m.txt"), "t.npy 0\n");
    ck_assert_int_eq(arnet_dataset_load_manifest(tmp_path("m.txt"), &lo, &d), ARNET_E_INVALID);
    ck_assert_ptr_nonnull(strstr(arnet_last_error(), "crop 2 out of range"));
    lo.crop = -1;
    write_text(tmp_path("m.txt"), "c.npy 0\n");
    ck_assert_int_eq(arnet_dataset_load_manifest(tmp_path("m.txt"), &lo, &d), ARNET_E_FORMAT);
    ck_assert_ptr_nonnull(strstr(arnet_last_error(), "--layout ctf"));
    write_text(tmp_path("m.txt"), "t.npy+g.npy 0\n");
    ck_assert_int_eq(arnet_dataset_load_manifest(tmp_path("m.txt"), &lo, &d), ARNET_E_SHAPE);
    ck_assert_ptr_nonnull(strstr(arnet_last_error(), "m.txt:1"));
    ck_assert_ptr_nonnull(strstr(arnet_last_error(), "differ by more than one clip"));
    free(x);
    remove_tmp();
}
END_TEST

Suite *make_suite(void)
{
    Suite *s = suite_create("feature_sets");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, layout_rule_reads_t_c_f);
    tcase_add_test(tc, layout_crop_first_refused_then_read);
    tcase_add_test(tc, layout_ambiguous_needs_a_choice);
    tcase_add_test(tc, layout_crop_first_fortran_refused);
    tcase_add_test(tc, crops_each_entries_and_evaluation);
    tcase_add_test(tc, crops_each_respects_layout);
    tcase_add_test(tc, cli_crops_and_layout);
    tcase_add_test(tc, rgb_flow_equals_concatenated);
    tcase_add_test(tc, rgb_flow_refusals_and_plus_in_names);
    tcase_add_test(tc, import_ucf_train_list_real);
    tcase_add_test(tc, import_rtfm_suffix_and_flow);
    tcase_add_test(tc, import_xd_gathers_crops);
    tcase_add_test(tc, import_xd_refusals);
    tcase_add_test(tc, manifest_crop_set_refusals);
    tcase_add_test(tc, stream_options_from_model);
    tcase_add_test(tc, stream_events_in_seconds);
    tcase_add_test(tc, cli_calibrate_write);
    tcase_add_test(tc, mmap_equals_loaded);
    tcase_add_test(tc, mmap_falls_back_and_refuses);
    suite_add_tcase(s, tc);
    return s;
}
