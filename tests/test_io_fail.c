/* test_io_fail.c -- I/O fault injection: every way the library writes a
 * file (a checkpoint, a trainer checkpoint, an .npy file, a manifest, bytes
 * through arnet_write_file, a whole synthetic data set) is run with one
 * system call made to fail at a time -- the Nth write (full disk ENOSPC,
 * EIO, a short write followed by a full disk), the fsync, the close or the
 * rename -- for every N the save reaches.  Each refused save must return
 * ARNET_E_IO naming the path, leave the previous file byte for byte as it
 * was (and still loading), and leave no temporary behind.  A short write
 * alone, or a write interrupted by a signal (EINTR), is not an error: the
 * save must complete with the right bytes.
 *
 * The shim (io_fault.c): this test links the static libarnet, so the
 * write, pwrite, fsync, close and rename defined there are the ones
 * libarnet calls; they forward to the C library's unless a fault is armed.
 * No real disk is filled. */
#define _GNU_SOURCE
#include <check.h>
#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "arnet/arnet.h"
#include "fixtures.h"
#include "io_fault.h"
#include "remove_tree.h"

/* ---- files ------------------------------------------------------------------- */

#define F 8
#define H 6

static char dir[64];


/* On tmpfs when there is one (hundreds of saves, each fsynced). */
static void setup(void)
{
    const char *base = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
    snprintf(dir, sizeof dir, "%s/arnet-iofail-XXXXXX", base);
    ck_assert_ptr_nonnull(mkdtemp(dir));
}
static void teardown(void) { remove_tree(dir); }

static char *in_dir(const char *name)
{
    static char bufs[64][512]; /* a ring: paths stay valid for 64 calls */
    static int k;
    char *b = bufs[k++ % 64];
    snprintf(b, 512, "%s/%s", dir, name);
    return b;
}

/* Entries with ".tmp." in their name in folder and its sub-folders. */
static int temporaries_in(const char *folder)
{
    DIR *d = opendir(folder);
    int n = 0;
    struct dirent *e;
    while (d && (e = readdir(d)) != NULL) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
            continue;
        n += strstr(e->d_name, ".tmp.") != NULL;
        char p[600];
        snprintf(p, sizeof p, "%s/%s", folder, e->d_name);
        struct stat st;
        if (lstat(p, &st) == 0 && S_ISDIR(st.st_mode))
            n += temporaries_in(p);
    }
    if (d)
        closedir(d);
    return n;
}

static uint8_t *slurp(const char *path, size_t *n)
{
    FILE *fp = fopen(path, "rb");
    if (!fp)
        return NULL;
    fseek(fp, 0, SEEK_END);
    long len = ftell(fp);
    fseek(fp, 0, SEEK_SET);
    uint8_t *b = malloc(len > 0 ? (size_t)len : 1);
    *n = fread(b, 1, (size_t)len, fp);
    fclose(fp);
    return b;
}

static int same_bytes(const char *path, const uint8_t *want, size_t n)
{
    size_t got = 0;
    uint8_t *now = slurp(path, &got);
    int same = now && got == n && !memcmp(now, want, n);
    free(now);
    return same;
}

static void fill(float *x, size_t n, uint32_t seed) { fixture_fill(x, n, seed); }

static arnet_model *new_model(uint64_t seed) { return fixture_model(F, H, 0.f, seed); }

/* ---- one kind of save ----------------------------------------------------------- */

typedef struct saver {
    const char *what;
    const char *path;                /* the file replaced */
    int (*save_old)(struct saver *); /* writes the previous version (unfaulted) */
    int (*save_new)(struct saver *); /* the save under test */
    int (*loads)(struct saver *);    /* 1 when path loads as its kind */
    void *ctx;
    int (*before_new)(struct saver *); /* unfaulted set-up of save_new (may be NULL) */
} saver;

/* For every system call kind and fault, for N = 0, 1... until the save no
 * longer reaches an Nth call: the rules in the header comment. */
static void fault_sweep(saver *s)
{
    /* The bytes an unfaulted save writes. */
    if (s->before_new)
        ck_assert_int_eq(s->before_new(s), ARNET_OK);
    ck_assert_int_eq(s->save_new(s), ARNET_OK);
    size_t new_n = 0;
    uint8_t *new_bytes = slurp(s->path, &new_n);
    ck_assert_ptr_nonnull(new_bytes);

    static const int kinds[N_OPS][5] = {{K_ENOSPC, K_EIO, K_SHORT_THEN_ENOSPC, K_SHORT, K_EINTR},
                                        {K_EIO, K_ENOSPC, -1},
                                        {K_EIO, -1},
                                        {K_EIO, K_ENOSPC, -1}};
    long refused = 0, survived = 0;
    for (int op = 0; op < N_OPS; op++) {
        for (int ki = 0; ki < 5 && kinds[op][ki] >= 0; ki++) {
            int kind = kinds[op][ki];
            for (long n = 0;; n++) {
                ck_assert_msg(n < 10000, "%s: runaway", s->what);
                ck_assert_int_eq(s->save_old(s), ARNET_OK);
                size_t old_n = 0;
                uint8_t *old_bytes = slurp(s->path, &old_n);
                if (s->before_new)
                    ck_assert_int_eq(s->before_new(s), ARNET_OK);
                arnet_clear_error();
                arm(op, n, kind);
                int rc = s->save_new(s);
                int struck = disarm();
                int folder = hit_on_folder;
                if (!struck) {
                    ck_assert_msg(rc == ARNET_OK, "%s: %s", s->what, arnet_last_error());
                    free(old_bytes);
                    break;
                }
                /* A short write or an interrupted one is no error; nor is
                 * the folder's fsync or close after the rename (the new
                 * file is in place). */
                if (kind == K_SHORT || kind == K_EINTR || folder) {
                    ck_assert_msg(rc == ARNET_OK, "%s, %s at %s %ld: %s", s->what,
                                  kind_names[kind], op_names[op], n, arnet_last_error());
                    ck_assert_msg(same_bytes(s->path, new_bytes, new_n),
                                  "%s, %s at %s %ld: the new file is not what a save writes",
                                  s->what, kind_names[kind], op_names[op], n);
                    survived++;
                } else {
                    ck_assert_msg(rc == ARNET_E_IO, "%s, %s at %s %ld: %s (%s)", s->what,
                                  kind_names[kind], op_names[op], n, arnet_strerror(rc),
                                  arnet_last_error());
                    ck_assert_msg(strstr(arnet_last_error(), s->path),
                                  "%s, %s at %s %ld: the message does not name %s: %s",
                                  s->what, kind_names[kind], op_names[op], n, s->path,
                                  arnet_last_error());
                    ck_assert_msg(same_bytes(s->path, old_bytes, old_n),
                                  "%s, %s at %s %ld: the previous file changed", s->what,
                                  kind_names[kind], op_names[op], n);
                    ck_assert_msg(s->loads(s), "%s, %s at %s %ld: the previous file no "
                                  "longer loads", s->what, kind_names[kind], op_names[op], n);
                    refused++;
                }
                ck_assert_msg(temporaries_in(dir) == 0,
                              "%s, %s at %s %ld: a temporary file was left behind", s->what,
                              kind_names[kind], op_names[op], n);
                free(old_bytes);
            }
        }
    }
    fprintf(stderr, "# %s: %ld faulted saves refused cleanly, %ld completed\n", s->what,
            refused, survived);
    free(new_bytes);
}

/* ---- checkpoints -------------------------------------------------------------------- */

typedef struct {
    arnet_model *old, *neu;
    arnet_trainer *t;
    arnet_model *tm;
    arnet_dataset *ds;
} ckpt_ctx;

static int save_old_model(saver *s)
{
    ckpt_ctx *c = s->ctx;
    return arnet_model_save(c->old, s->path);
}
static int save_new_model(saver *s)
{
    ckpt_ctx *c = s->ctx;
    return arnet_model_save(c->neu, s->path);
}
static int model_loads(saver *s)
{
    arnet_model *m = NULL;
    int rc = arnet_model_load(s->path, &m);
    arnet_model_free(m);
    return rc == ARNET_OK;
}

START_TEST(checkpoint_save)
{
    ckpt_ctx c = {.old = new_model(1), .neu = new_model(2)};
    saver s = {"arnet_model_save", in_dir("model.arnet"), save_old_model, save_new_model,
               model_loads, &c, NULL};
    fault_sweep(&s);
    arnet_model_free(c.old);
    arnet_model_free(c.neu);
}
END_TEST

static arnet_dataset *new_dataset(void)
{
    arnet_dataset *ds;
    ck_assert_int_eq(arnet_dataset_create(F, &ds), ARNET_OK);
    for (int v = 0; v < 8; v++) {
        float x[10 * F];
        fill(x, (3 + (size_t)v) * F, (uint32_t)v);
        ck_assert_int_eq(arnet_dataset_add(ds, NULL, x, 3 + (size_t)v, F, v % 2, NULL, 0),
                         ARNET_OK);
    }
    return ds;
}

static int save_old_trainer(saver *s)
{
    /* The previous file: the same trainer one step earlier (restore it back). */
    ckpt_ctx *c = s->ctx;
    return arnet_trainer_restore(c->t, in_dir("step1.arnet")) ||
           arnet_trainer_save(c->t, s->path);
}
static int to_step2(saver *s)
{
    ckpt_ctx *c = s->ctx;
    return arnet_trainer_restore(c->t, in_dir("step2.arnet"));
}
static int save_new_trainer(saver *s)
{
    ckpt_ctx *c = s->ctx;
    return arnet_trainer_save(c->t, s->path);
}
static int trainer_loads(saver *s)
{
    ckpt_ctx *c = s->ctx;
    arnet_model *m = new_model(5);
    arnet_train_options o;
    arnet_train_options_init(&o);
    o.normal_per_batch = o.anomalous_per_batch = 2;
    o.max_clips = 6;
    arnet_trainer *t = NULL;
    int ok = arnet_trainer_create(m, c->ds, &o, &t) == ARNET_OK &&
             arnet_trainer_restore(t, s->path) == ARNET_OK && arnet_trainer_steps(t) == 1;
    if (!ok)
        fprintf(stderr, "# %s: %s (step %llu)\n", s->path, arnet_last_error(),
                t ? (unsigned long long)arnet_trainer_steps(t) : 0ull);
    arnet_trainer_free(t);
    arnet_model_free(m);
    return ok;
}

START_TEST(trainer_save)
{
    ckpt_ctx c = {.tm = new_model(3), .ds = new_dataset()};
    arnet_train_options o;
    arnet_train_options_init(&o);
    o.normal_per_batch = o.anomalous_per_batch = 2;
    o.max_clips = 6;
    ck_assert_int_eq(arnet_trainer_create(c.tm, c.ds, &o, &c.t), ARNET_OK);
    ck_assert_int_eq(arnet_trainer_step(c.t, NULL), ARNET_OK);
    ck_assert_int_eq(arnet_trainer_save(c.t, in_dir("step1.arnet")), ARNET_OK);
    ck_assert_int_eq(arnet_trainer_step(c.t, NULL), ARNET_OK);
    ck_assert_int_eq(arnet_trainer_save(c.t, in_dir("step2.arnet")), ARNET_OK);
    saver s = {"arnet_trainer_save", in_dir("trainer.arnet"), save_old_trainer,
               save_new_trainer, trainer_loads, &c, to_step2};
    fault_sweep(&s);
    arnet_trainer_free(c.t);
    arnet_model_free(c.tm);
    arnet_dataset_free(c.ds);
}
END_TEST

/* ---- .npy, manifests, arnet_write_file --------------------------------------------- */

static float npy_data[2][300 * F];

static int save_old_npy(saver *s)
{
    size_t shape[2] = {300, F};
    return arnet_npy_write(s->path, npy_data[0], shape, 2);
}
static int save_new_npy(saver *s)
{
    size_t shape[3] = {100, 3, F};
    return arnet_npy_write(s->path, npy_data[1], shape, 3);
}
static int npy_loads(saver *s)
{
    float *d = NULL;
    size_t rows = 0;
    uint32_t cols = 0;
    int rc = arnet_npy_read(s->path, NULL, &d, &rows, &cols);
    int ok = rc == ARNET_OK && rows == 300 && cols == F && !memcmp(d, npy_data[0], sizeof npy_data[0]);
    arnet_free(d);
    return ok;
}

START_TEST(npy_write)
{
    fill(npy_data[0], 300 * F, 1);
    fill(npy_data[1], 300 * F, 2);
    saver s = {"arnet_npy_write", in_dir("features.npy"), save_old_npy, save_new_npy, npy_loads,
               NULL, NULL};
    fault_sweep(&s);
}
END_TEST

static int write_manifest(const char *path, int videos)
{
    arnet_manifest_writer *w;
    int rc = arnet_manifest_writer_create(path, &w);
    if (rc)
        return rc;
    arnet_manifest_entry e;
    arnet_manifest_entry_init(&e);
    uint64_t ranges[2] = {3, 9};
    rc = arnet_manifest_writer_comment(w, "a test manifest");
    for (int v = 0; v < videos && !rc; v++) {
        e.features = v % 2 ? "b.npy" : "a.npy";
        e.label = v % 2;
        e.gt_ranges = v % 2 ? ranges : NULL;
        e.n_gt_ranges = v % 2 ? 1 : 0;
        rc = arnet_manifest_writer_add(w, &e);
    }
    if (!rc)
        rc = arnet_manifest_writer_commit(w);
    arnet_manifest_writer_free(w);
    return rc;
}
static int save_old_manifest(saver *s) { return write_manifest(s->path, 2); }
static int save_new_manifest(saver *s) { return write_manifest(s->path, 300); }
static int manifest_loads(saver *s)
{
    arnet_dataset *ds = NULL;
    int rc = arnet_dataset_load_manifest(s->path, NULL, &ds);
    int ok = rc == ARNET_OK && arnet_dataset_size(ds) == 2;
    arnet_dataset_free(ds);
    return ok;
}

START_TEST(manifest_commit)
{
    float x[4 * F];
    size_t shape[2] = {4, F};
    fill(x, 4 * F, 3);
    ck_assert_int_eq(arnet_npy_write(in_dir("a.npy"), x, shape, 2), ARNET_OK);
    ck_assert_int_eq(arnet_npy_write(in_dir("b.npy"), x, shape, 2), ARNET_OK);
    saver s = {"arnet_manifest_writer_commit", in_dir("list.txt"), save_old_manifest,
               save_new_manifest, manifest_loads, NULL, NULL};
    fault_sweep(&s);
}
END_TEST

static int save_old_bytes(saver *s) { return arnet_write_file(s->path, "old contents\n", 13); }
static int save_new_bytes(saver *s)
{
    static char big[100000];
    memset(big, 'n', sizeof big);
    return arnet_write_file(s->path, big, sizeof big);
}
static int bytes_load(saver *s) { return same_bytes(s->path, (const uint8_t *)"old contents\n", 13); }

START_TEST(write_file)
{
    saver s = {"arnet_write_file", in_dir("bytes.bin"), save_old_bytes, save_new_bytes,
               bytes_load, NULL, NULL};
    fault_sweep(&s);
}
END_TEST

/* ---- a whole synthetic data set -------------------------------------------------------- */

/* Each refused arnet_synth_write must name a path in the folder, leave no
 * temporary, and leave train.txt and test.txt loading (the previous ones:
 * the manifests are written last, so they never list a missing file). */
START_TEST(synth_write)
{
    arnet_synth_options o;
    arnet_synth_options_init(&o);
    o.feature_dim = 4;
    o.scale = 0.02;
    const char *out = in_dir("synth");
    ck_assert_int_eq(arnet_synth_write(out, &o), ARNET_OK);
    char train[600], test[600];
    snprintf(train, sizeof train, "%s/train.txt", out);
    snprintf(test, sizeof test, "%s/test.txt", out);
    size_t train_n = 0, test_n = 0;
    uint8_t *train_old = slurp(train, &train_n), *test_old = slurp(test, &test_n);
    long refused = 0;
    for (int op = 0; op < N_OPS; op++) {
        for (long n = 0;; n++) {
            o.seed = 2 + (uint64_t)n % 2; /* other bytes than the files there */
            arnet_clear_error();
            arm(op, n, K_ENOSPC);
            int rc = arnet_synth_write(out, &o);
            int struck = disarm();
            if (!struck) {
                ck_assert_int_eq(rc, ARNET_OK);
                break;
            }
            ck_assert_int_eq(temporaries_in(dir), 0);
            if (hit_on_folder) {
                ck_assert_int_eq(rc, ARNET_OK);
            } else {
                ck_assert_msg(rc == ARNET_E_IO, "synth_write, %s %ld: %s", op_names[op], n,
                              arnet_last_error());
                ck_assert_msg(strstr(arnet_last_error(), out), "synth_write: %s",
                              arnet_last_error());
                refused++;
            }
            arnet_dataset *ds = NULL;
            ck_assert_msg(arnet_dataset_load_manifest(train, NULL, &ds) == ARNET_OK, "%s",
                          arnet_last_error());
            arnet_dataset_free(ds);
            ck_assert_msg(arnet_dataset_load_manifest(test, NULL, &ds) == ARNET_OK, "%s",
                          arnet_last_error());
            arnet_dataset_free(ds);
        }
    }
    /* The manifests are whole versions (the same text for any seed at one
     * scale: they list names, labels and ground truth). */
    ck_assert(same_bytes(train, train_old, train_n));
    ck_assert(same_bytes(test, test_old, test_n));
    fprintf(stderr, "# arnet_synth_write: %ld faulted writes refused cleanly\n", refused);
    free(train_old);
    free(test_old);
}
END_TEST

Suite *make_suite(void)
{
    Suite *s = suite_create("io_fail");
    TCase *tc = tcase_create("io_fail");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, checkpoint_save);
    tcase_add_test(tc, trainer_save);
    tcase_add_test(tc, npy_write);
    tcase_add_test(tc, manifest_commit);
    tcase_add_test(tc, write_file);
    tcase_add_test(tc, synth_write);
    suite_add_tcase(s, tc);
    return s;
}
