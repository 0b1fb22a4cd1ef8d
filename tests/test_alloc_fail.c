/* test_alloc_fail.c -- allocation failure injection: for every public entry
 * point that allocates, allocation N (N = 0, 1, 2... until the call
 * succeeds) is refused, and each refused run must return ARNET_E_NOMEM with
 * a message, leave no block allocated (everything the call allocated is
 * freed again) and no object half-built (out-parameters untouched, inputs
 * unchanged, files on disk unchanged and no temporary left).
 *
 * Which allocations are numbered (tests/alloc_count.h): those made on
 * libarnet's behalf, by libarnet itself, by zlib, or by the C library
 * working for them (strdup, getline, fdopen...).  BLIS's and libgomp's own
 * memory pools are left alone: they are kept for the process's life, are
 * not libarnet's to free, and BLIS aborts when its pool cannot grow.  Not
 * under AddressSanitizer (it owns the allocator): the suite is then empty
 * but for one test saying so. */
#define _GNU_SOURCE
#include <check.h>
#include <dirent.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "alloc_count.h"
#include "arnet/arnet.h"
#include "fixtures.h"
#include "i3d.h"
#include "internal.h"
#include "remove_tree.h"

#define F 8
#define H 6

static char dir[64];

/* A folder on tmpfs when there is one: every refused run of a save writes
 * and fsyncs a file, and a real disk's fsync would make the sweep slow. */
static void make_dir(void)
{
    const char *base = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
    snprintf(dir, sizeof dir, "%s/arnet-allocfail-XXXXXX", base);
    ck_assert_ptr_nonnull(mkdtemp(dir));
}


static void setup(void) { make_dir(); }
static void teardown(void) { remove_tree(dir); }

static char *in_dir(const char *name)
{
    static char bufs[64][512]; /* a ring: paths stay valid for 64 calls */
    static int k;
    char *b = bufs[k++ % 64];
    snprintf(b, 512, "%s/%s", dir, name);
    return b;
}

/* Files in path's folder whose name contains ".tmp." (any depth 1). */
static int temporaries_in(const char *path)
{
    DIR *d = opendir(path);
    int n = 0;
    struct dirent *e;
    while (d && (e = readdir(d)) != NULL)
        n += strstr(e->d_name, ".tmp.") != NULL;
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
    uint8_t *b = __libc_malloc(len > 0 ? (size_t)len : 1);
    *n = fread(b, 1, (size_t)len, fp);
    fclose(fp);
    return b;
}

/* ---- the sweep ---------------------------------------------------------------- */

typedef struct sweep {
    const char *what;
    int (*call)(void *ctx);        /* the entry point; no ck_assert inside */
    void (*undo)(void *ctx);       /* frees what a successful call made (may be NULL) */
    const char *(*intact)(void *ctx); /* after a failure: NULL, or what is wrong */
    const char *(*good)(void *ctx);   /* after success: NULL, or what is wrong */
} sweep;

/* ALLOC_FAIL_EVERY=1 in the environment: sampled sweeps refuse every N. */
static int sample_all(void)
{
    const char *e = getenv("ALLOC_FAIL_EVERY");
    return e && *e == '1';
}

/* Which N a sampled sweep of a call making `total` allocations refuses:
 * the first and last 4, and every 80th between. */
static int sampled(long n, long total)
{
    return sample_all() || n < 4 || n >= total - 4 || n % 80 == 0;
}

static long run_sweep_ex(const sweep *s, void *ctx, int sample);

/* Returns the number of allocations of the successful run. */
static long run_sweep(const sweep *s, void *ctx) { return run_sweep_ex(s, ctx, 0); }

static double seconds(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static long run_sweep_ex(const sweep *s, void *ctx, int sample)
{
    long total_ok = -1;
    double t0 = seconds();
    if (sample) {
        /* How many there are, from one run refusing nothing. */
        alloc_fail_begin(-1);
        int rc = s->call(ctx);
        total_ok = alloc_fail_settle();
        if (rc == ARNET_OK && s->undo)
            s->undo(ctx);
        (void)alloc_fail_end(NULL);
        ck_assert_msg(rc == ARNET_OK, "%s: %s", s->what, arnet_last_error());
        fprintf(stderr, "# %s: one call takes %.2f s\n", s->what, seconds() - t0);
    }
    for (long n = 0; n < 100000; n++) {
        if (sample && n < total_ok && !sampled(n, total_ok))
            continue;
        arnet_clear_error();
        alloc_fail_begin(n);
        int rc = s->call(ctx);
        long calls = alloc_fail_settle();
        const char *bad_result = NULL;
        if (rc == ARNET_OK && s->good)
            bad_result = s->good(ctx);
        if (rc == ARNET_OK && s->undo)
            s->undo(ctx);
        long live;
        (void)alloc_fail_end(&live);
        long total = calls;
        int hit = alloc_fail_hit();
        ck_assert_msg(!bad_result, "%s, allocation %ld refused, succeeded: %s", s->what, n,
                      bad_result ? bad_result : "");
        ck_assert_msg(live == 0, "%s: allocation %ld of %ld refused (%s): %ld block(s) leaked",
                      s->what, n, total, hit ? "hit" : "not reached", live);
        if (!hit) {
            ck_assert_msg(rc == ARNET_OK, "%s without a refused allocation: %s (%s)", s->what,
                          arnet_strerror(rc), arnet_last_error());
            fprintf(stderr, "# %s: %ld allocations, %s refused in turn (%.1f s)\n", s->what,
                    total, sample && !sample_all() ? "a sample" : "each", seconds() - t0);
            return total;
        }
        if (rc == ARNET_OK)
            continue; /* a best-effort allocation (checked by good above) */
        ck_assert_msg(rc == ARNET_E_NOMEM, "%s: allocation %ld refused gave %s: %s", s->what, n,
                      arnet_strerror(rc), arnet_last_error());
        ck_assert_msg(arnet_last_error()[0] != '\0', "%s: allocation %ld refused: no message",
                      s->what, n);
        if (s->intact) {
            const char *why = s->intact(ctx);
            ck_assert_msg(!why, "%s: allocation %ld refused: %s", s->what, n, why ? why : "");
        }
    }
    ck_abort_msg("%s: never succeeded", s->what);
    return 0;
}

/* A pointer value no call may write. */
#define UNTOUCHED ((void *)(uintptr_t)0x5e71)

/* ---- fixtures ---------------------------------------------------------------- */

static arnet_model *new_model(uint64_t seed) { return fixture_model(F, H, 0.f, seed); }

static void fill(float *x, size_t n, uint32_t seed) { fixture_fill(x, n, seed); }

/* 4 normal and 4 anomalous videos of 3..10 clips, test videos with frame labels. */
static arnet_dataset *new_dataset(int with_frames)
{
    arnet_dataset *ds;
    ck_assert_int_eq(arnet_dataset_create(F, &ds), ARNET_OK);
    for (int v = 0; v < 8; v++) {
        size_t clips = 3 + (size_t)v;
        float x[10 * F];
        fill(x, clips * F, (uint32_t)v);
        uint8_t fl[160];
        int label = v % 2;
        for (size_t i = 0; i < clips * 16; i++)
            fl[i] = label && i >= 16 && i < 40;
        char name[16];
        snprintf(name, sizeof name, "v%d", v);
        ck_assert_int_eq(arnet_dataset_add(ds, name, x, clips, F, label, with_frames ? fl : NULL,
                                           with_frames ? clips * 16 : 0),
                         ARNET_OK);
    }
    return ds;
}

static arnet_train_options train_options(void)
{
    arnet_train_options o;
    arnet_train_options_init(&o);
    o.normal_per_batch = 2;
    o.anomalous_per_batch = 2;
    o.max_clips = 6;
    o.iterations = 3;
    return o;
}

/* ---- models and checkpoints ---------------------------------------------------- */

typedef struct {
    arnet_model *m, *out;
    const char *path;
    void *buf;
    size_t size;
    uint8_t *before;
    size_t before_size;
    arnet_file_info info;
} model_ctx;

static int call_create(void *c)
{
    model_ctx *x = c;
    arnet_model_config cfg;
    arnet_model_config_init(&cfg);
    cfg.feature_dim = F;
    cfg.hidden_dim = H;
    return arnet_model_create(&cfg, &x->out);
}
static void undo_out(void *c)
{
    model_ctx *x = c;
    arnet_model_free(x->out);
    x->out = UNTOUCHED;
}
static const char *out_untouched(void *c)
{
    model_ctx *x = c;
    return x->out == UNTOUCHED || x->out == NULL ? NULL : "*out was written";
}
static const char *model_scores(void *c)
{
    model_ctx *x = c;
    float in[3 * F], a[3], b[3];
    fill(in, 3 * F, 7);
    if (arnet_model_score(x->m, in, 3, a) || arnet_model_score(x->out, in, 3, b))
        return "cannot score";
    return memcmp(a, b, sizeof a) ? "the loaded model scores differently" : NULL;
}

START_TEST(model_create)
{
    model_ctx x = {.out = UNTOUCHED};
    sweep s = {"arnet_model_create", call_create, undo_out, out_untouched, NULL};
    run_sweep(&s, &x);
}
END_TEST

static int call_set_meta(void *c)
{
    model_ctx *x = c;
    return arnet_model_set_meta(x->m, "origin", "a test of allocation failures");
}
static void undo_meta(void *c)
{
    model_ctx *x = c;
    arnet_model_free(x->m);
    x->m = NULL;
}
static const char *meta_unchanged(void *c)
{
    model_ctx *x = c;
    return arnet_model_meta_count(x->m) == 1 && arnet_model_get_meta(x->m, "origin") == NULL
               ? NULL
               : "the metadata changed";
}

START_TEST(model_set_meta)
{
    /* The model is made before the window and freed in it (undo) only on
     * success; a refused run must leave its one earlier pair alone. */
    model_ctx x = {0};
    for (long n = 0;; n++) {
        x.m = new_model(1);
        ck_assert_int_eq(arnet_model_set_meta(x.m, "first", "1"), ARNET_OK);
        arnet_clear_error();
        alloc_fail_begin(n);
        int rc = call_set_meta(&x);
        long total = alloc_fail_settle();
        /* Checked, then freed inside the window: the model may own a
         * larger array now, never a block nobody frees. */
        const char *why = rc ? meta_unchanged(&x) : NULL;
        int set = !rc && arnet_model_get_meta(x.m, "origin") &&
                  !strcmp(arnet_model_get_meta(x.m, "origin"), "a test of allocation failures");
        undo_meta(&x);
        long live;
        (void)alloc_fail_end(&live);
        ck_assert_msg(live == 0, "set_meta, allocation %ld refused: %ld leaked", n, live);
        if (!alloc_fail_hit()) {
            ck_assert_int_eq(rc, ARNET_OK);
            ck_assert(set);
            fprintf(stderr, "# arnet_model_set_meta: %ld allocations\n", total);
            break;
        }
        ck_assert_msg(rc == ARNET_E_NOMEM, "set_meta, allocation %ld refused: %s", n,
                      arnet_last_error());
        ck_assert(arnet_last_error()[0]);
        ck_assert_msg(!why, "set_meta, allocation %ld refused: %s", n, why);
    }
}
END_TEST

static int call_save(void *c)
{
    model_ctx *x = c;
    return arnet_model_save(x->m, x->path);
}
static int call_save_f16(void *c)
{
    model_ctx *x = c;
    arnet_save_options o;
    arnet_save_options_init(&o);
    o.storage = ARNET_STORAGE_F16;
    return arnet_model_save_ex(x->m, x->path, &o);
}
static const char *file_intact(void *c)
{
    model_ctx *x = c;
    size_t n = 0;
    uint8_t *now = slurp(x->path, &n);
    int same = now && n == x->before_size && !memcmp(now, x->before, n);
    __libc_free(now);
    if (!same)
        return "the previous file changed";
    if (temporaries_in(dir))
        return "a temporary file was left behind";
    return NULL;
}
static const char *saved_loads(void *c)
{
    (void)c;
    return temporaries_in(dir) ? "a temporary file was left behind" : NULL;
}

/* Save over an existing file (the previous bytes must survive every failure). */
static void save_sweep(const char *what, int (*call)(void *), model_ctx *x)
{
    x->path = in_dir("model.arnet");
    arnet_model *old = new_model(99);
    ck_assert_int_eq(arnet_model_save(old, x->path), ARNET_OK);
    arnet_model_free(old);
    x->before = slurp(x->path, &x->before_size);
    sweep s = {what, call, NULL, file_intact, saved_loads};
    run_sweep(&s, x);
    /* The file is now the new model's. */
    x->out = NULL;
    ck_assert_int_eq(arnet_model_load(x->path, &x->out), ARNET_OK);
    arnet_model_free(x->out);
    __libc_free(x->before);
}

START_TEST(model_save)
{
    model_ctx x = {.m = new_model(2)};
    ck_assert_int_eq(arnet_model_set_meta(x.m, "k", "v"), ARNET_OK);
    save_sweep("arnet_model_save", call_save, &x);
    save_sweep("arnet_model_save_ex (f16)", call_save_f16, &x);
    arnet_model_free(x.m);
}
END_TEST

static int call_save_buffer(void *c)
{
    model_ctx *x = c;
    return arnet_model_save_buffer(x->m, NULL, &x->buf, &x->size);
}
static void undo_buffer(void *c)
{
    model_ctx *x = c;
    arnet_free(x->buf);
    x->buf = UNTOUCHED;
}
static const char *buffer_untouched(void *c)
{
    model_ctx *x = c;
    return x->buf == UNTOUCHED || x->buf == NULL ? NULL : "*buf was written";
}

START_TEST(model_save_buffer)
{
    model_ctx x = {.m = new_model(3), .buf = UNTOUCHED};
    sweep s = {"arnet_model_save_buffer", call_save_buffer, undo_buffer, buffer_untouched, NULL};
    run_sweep(&s, &x);
    arnet_model_free(x.m);
}
END_TEST

static int call_load(void *c)
{
    model_ctx *x = c;
    return arnet_model_load(x->path, &x->out);
}
static int call_load_buffer(void *c)
{
    model_ctx *x = c;
    return arnet_model_load_buffer(x->buf, x->size, &x->out);
}
static const char *loaded_scores(void *c) { return model_scores(c); }

START_TEST(model_load)
{
    model_ctx x = {.m = new_model(4), .out = UNTOUCHED, .path = in_dir("load.arnet")};
    /* The first product starts BLIS, whose set-up makes the C library keep
     * a few blocks for the process's life: done before the sweep. */
    x.out = x.m;
    ck_assert_ptr_null(model_scores(&x));
    x.out = UNTOUCHED;
    ck_assert_int_eq(arnet_model_set_meta(x.m, "k", "v"), ARNET_OK);
    ck_assert_int_eq(arnet_model_save(x.m, x.path), ARNET_OK);
    sweep s = {"arnet_model_load", call_load, undo_out, out_untouched, loaded_scores};
    run_sweep(&s, &x);
    ck_assert_int_eq(arnet_model_save_buffer(x.m, NULL, &x.buf, &x.size), ARNET_OK);
    sweep b = {"arnet_model_load_buffer", call_load_buffer, undo_out, out_untouched,
               loaded_scores};
    run_sweep(&b, &x);
    arnet_free(x.buf);
    arnet_model_free(x.m);
}
END_TEST

static int call_info(void *c)
{
    model_ctx *x = c;
    arnet_file_info_init(&x->info);
    return arnet_file_info_read(x->path, &x->info);
}
static int list_cb(void *user, const arnet_file_entry *e)
{
    (void)e;
    ++*(int *)user;
    return 0;
}
static int call_list(void *c)
{
    model_ctx *x = c;
    int n = 0;
    return arnet_file_list(x->path, list_cb, &n);
}

START_TEST(file_info_and_list)
{
    arnet_model *m = new_model(5);
    arnet_dataset *ds = new_dataset(0);
    arnet_train_options o = train_options();
    arnet_trainer *t;
    ck_assert_int_eq(arnet_trainer_create(m, ds, &o, &t), ARNET_OK);
    model_ctx x = {.path = in_dir("trainer.arnet")};
    ck_assert_int_eq(arnet_trainer_save(t, x.path), ARNET_OK);
    sweep s = {"arnet_file_info_read", call_info, NULL, NULL, NULL};
    run_sweep(&s, &x);
    sweep l = {"arnet_file_list", call_list, NULL, NULL, NULL};
    run_sweep(&l, &x);
    arnet_trainer_free(t);
    arnet_dataset_free(ds);
    arnet_model_free(m);
}
END_TEST

/* ---- .npy and arnet_write_file ------------------------------------------------- */

typedef struct {
    const char *path;
    float *data;
    uint8_t *labels;
    size_t rows;
    uint32_t cols;
    int crop;
    float src[6 * 3 * F]; /* 6 clips of 3 crops: neither count is a crop count (5, 10) */
    uint8_t *before;
    size_t before_size;
} npy_ctx;

static int call_npy_read(void *c)
{
    npy_ctx *x = c;
    arnet_npy_options o;
    arnet_npy_options_init(&o);
    o.crop = x->crop;
    return arnet_npy_read(x->path, &o, &x->data, &x->rows, &x->cols);
}
static void undo_npy(void *c)
{
    npy_ctx *x = c;
    if (x->data != UNTOUCHED)
        arnet_free(x->data);
    if (x->labels != UNTOUCHED)
        arnet_free(x->labels);
    x->data = UNTOUCHED;
    x->labels = UNTOUCHED;
}
static const char *npy_untouched(void *c)
{
    npy_ctx *x = c;
    return (x->data == UNTOUCHED || !x->data) && (x->labels == UNTOUCHED || !x->labels)
               ? NULL
               : "an output pointer was written";
}
static const char *npy_good(void *c)
{
    npy_ctx *x = c;
    return x->data != UNTOUCHED && x->rows == 6 && x->cols == F ? NULL : "wrong shape read";
}
static int call_npy_labels(void *c)
{
    npy_ctx *x = c;
    return arnet_npy_read_labels(x->path, &x->labels, &x->rows);
}
static int call_npy_info(void *c)
{
    npy_ctx *x = c;
    arnet_npy_info info;
    arnet_npy_info_init(&info);
    return arnet_npy_info_read(x->path, &info);
}

START_TEST(npy_read)
{
    npy_ctx x = {.data = UNTOUCHED, .labels = UNTOUCHED};
    fill(x.src, 6 * 3 * F, 11);
    size_t shape3[3] = {6, 3, F};
    x.path = in_dir("crops.npy");
    ck_assert_int_eq(arnet_npy_write(x.path, x.src, shape3, 3), ARNET_OK);
    x.crop = -1;
    sweep s = {"arnet_npy_read (crops averaged)", call_npy_read, undo_npy, npy_untouched,
               npy_good};
    run_sweep(&s, &x);
    x.crop = 1;
    s.what = "arnet_npy_read (crop 1)";
    run_sweep(&s, &x);
    sweep i = {"arnet_npy_info_read", call_npy_info, NULL, NULL, NULL};
    run_sweep(&i, &x);
    size_t shape1[1] = {7};
    x.path = in_dir("labels.npy");
    ck_assert_int_eq(arnet_npy_write(x.path, x.src, shape1, 1), ARNET_OK);
    sweep l = {"arnet_npy_read_labels", call_npy_labels, undo_npy, npy_untouched, NULL};
    run_sweep(&l, &x);
}
END_TEST

static int call_npy_write(void *c)
{
    npy_ctx *x = c;
    size_t shape[2] = {5, F};
    return arnet_npy_write(x->path, x->src, shape, 2);
}
static int call_write_file(void *c)
{
    npy_ctx *x = c;
    return arnet_write_file(x->path, "new contents\n", 13);
}
static const char *npy_file_intact(void *c)
{
    npy_ctx *x = c;
    size_t n = 0;
    uint8_t *now = slurp(x->path, &n);
    int same = now && n == x->before_size && !memcmp(now, x->before, n);
    __libc_free(now);
    if (!same)
        return "the previous file changed";
    return temporaries_in(dir) ? "a temporary file was left behind" : NULL;
}
static const char *no_temporaries(void *c)
{
    (void)c;
    return temporaries_in(dir) ? "a temporary file was left behind" : NULL;
}

START_TEST(npy_write_and_write_file)
{
    npy_ctx x = {0};
    fill(x.src, 5 * F, 12);
    x.path = in_dir("out.npy");
    ck_assert_int_eq(arnet_write_file(x.path, "old\n", 4), ARNET_OK);
    x.before = slurp(x.path, &x.before_size);
    sweep s = {"arnet_npy_write", call_npy_write, NULL, npy_file_intact, no_temporaries};
    run_sweep(&s, &x);
    __libc_free(x.before);
    ck_assert_int_eq(arnet_write_file(x.path, "old\n", 4), ARNET_OK);
    x.before = slurp(x.path, &x.before_size);
    sweep w = {"arnet_write_file", call_write_file, NULL, npy_file_intact, no_temporaries};
    run_sweep(&w, &x);
    __libc_free(x.before);
}
END_TEST

/* ---- data sets and manifests ---------------------------------------------------- */

typedef struct {
    arnet_dataset *ds, *out, *test;
    const char *path;
    uint64_t digest;
    size_t size;
    arnet_manifest_writer *w;
    arnet_synth_options so;
    uint8_t *before;
    size_t before_size;
} ds_ctx;

static int call_ds_create(void *c)
{
    ds_ctx *x = c;
    return arnet_dataset_create(F, &x->out);
}
static void undo_ds(void *c)
{
    ds_ctx *x = c;
    arnet_dataset_free(x->out);
    x->out = UNTOUCHED;
    if (x->test != UNTOUCHED)
        arnet_dataset_free(x->test);
    x->test = UNTOUCHED;
}
static const char *ds_untouched(void *c)
{
    ds_ctx *x = c;
    if (x->out != UNTOUCHED && x->out != NULL)
        return "*out was written";
    return x->test == UNTOUCHED || x->test == NULL ? NULL : "*test was written";
}

static int call_ds_add(void *c)
{
    ds_ctx *x = c;
    float f[4 * F];
    uint8_t fl[64] = {0};
    fill(f, 4 * F, 21);
    fl[20] = 1;
    return arnet_dataset_add(x->ds, "a rather long name for a video", f, 4, F, 1, fl, 64);
}
static const char *ds_unchanged(void *c)
{
    ds_ctx *x = c;
    uint64_t d;
    if (arnet_dataset_size(x->ds) != x->size || arnet_dataset_digest(x->ds, &d) || d != x->digest)
        return "the data set changed";
    return NULL;
}

START_TEST(dataset_create_add)
{
    ds_ctx x = {.out = UNTOUCHED, .test = UNTOUCHED};
    sweep s = {"arnet_dataset_create", call_ds_create, undo_ds, ds_untouched, NULL};
    run_sweep(&s, &x);
    /* Adding to a data set that has to grow its video array, and to an empty one. */
    for (int empty = 1; empty >= 0; empty--) {
        for (long n = 0;; n++) {
            if (empty)
                ck_assert_int_eq(arnet_dataset_create(0, &x.ds), ARNET_OK);
            else
                x.ds = new_dataset(1);
            x.size = arnet_dataset_size(x.ds);
            ck_assert_int_eq(arnet_dataset_digest(x.ds, &x.digest), ARNET_OK);
            arnet_clear_error();
            alloc_fail_begin(n);
            int rc = call_ds_add(&x);
            const char *why = rc ? ds_unchanged(&x) : NULL;
            arnet_dataset_free(x.ds);
            long live;
            long total = alloc_fail_end(&live);
            ck_assert_msg(live == 0, "dataset_add, allocation %ld refused: %ld leaked", n, live);
            if (!alloc_fail_hit()) {
                ck_assert_int_eq(rc, ARNET_OK);
                fprintf(stderr, "# arnet_dataset_add (%s): %ld allocations\n",
                        empty ? "empty" : "8 videos", total);
                break;
            }
            ck_assert_msg(rc == ARNET_E_NOMEM, "dataset_add, allocation %ld refused: %s", n,
                          arnet_last_error());
            ck_assert(arnet_last_error()[0]);
            ck_assert_msg(!why, "dataset_add, allocation %ld refused: %s", n, why);
        }
    }
}
END_TEST

static int call_manifest_load(void *c)
{
    ds_ctx *x = c;
    return arnet_dataset_load_manifest(x->path, NULL, &x->out);
}
static const char *manifest_good(void *c)
{
    ds_ctx *x = c;
    return arnet_dataset_size(x->out) == x->size ? NULL : "videos are missing";
}

/* A manifest of 5 videos: range ground truth, a ground-truth .npy, none. */
static void write_manifest_files(ds_ctx *x)
{
    float f[6 * F];
    size_t shape[2] = {6, F};
    for (int v = 0; v < 5; v++) {
        fill(f, 6 * F, (uint32_t)v + 30);
        char name[32];
        snprintf(name, sizeof name, "f%d.npy", v);
        ck_assert_int_eq(arnet_npy_write(in_dir(name), f, shape, 2), ARNET_OK);
    }
    float gt[96] = {0};
    gt[50] = 1;
    size_t gshape[1] = {96};
    ck_assert_int_eq(arnet_npy_write(in_dir("gt1.npy"), gt, gshape, 1), ARNET_OK);
    const char *text = "# a manifest\n"
                       "f0.npy 0\n"
                       "f1.npy 1 gt1.npy\n"
                       "f2.npy 1 10-20,40-41\n"
                       "\n"
                       "f3.npy 0 -\n"
                       "f4.npy 1\n";
    x->path = in_dir("list.txt");
    ck_assert_int_eq(arnet_write_file(x->path, text, strlen(text)), ARNET_OK);
    x->size = 5;
}

START_TEST(manifest_load)
{
    ds_ctx x = {.out = UNTOUCHED, .test = UNTOUCHED};
    write_manifest_files(&x);
    sweep s = {"arnet_dataset_load_manifest", call_manifest_load, undo_ds, ds_untouched,
               manifest_good};
    run_sweep(&s, &x);
}
END_TEST

static int call_writer(void *c)
{
    ds_ctx *x = c;
    arnet_manifest_writer *w;
    int rc = arnet_manifest_writer_create(x->path, &w);
    if (rc)
        return rc;
    arnet_manifest_entry e;
    arnet_manifest_entry_init(&e);
    uint64_t ranges[4] = {10, 20, 40, 41};
    rc = arnet_manifest_writer_comment(w, "written\nby a test");
    for (int v = 0; v < 40 && !rc; v++) {
        char p[32];
        snprintf(p, sizeof p, "features/video_%03d.npy", v);
        e.features = p;
        e.label = v % 2;
        e.gt_ranges = v % 2 ? ranges : NULL;
        e.n_gt_ranges = v % 2 ? 2 : 0;
        rc = arnet_manifest_writer_add(w, &e);
    }
    if (!rc)
        rc = arnet_manifest_writer_commit(w);
    arnet_manifest_writer_free(w);
    return rc;
}
static const char *manifest_intact(void *c)
{
    ds_ctx *x = c;
    size_t n = 0;
    uint8_t *now = slurp(x->path, &n);
    int same = now && n == x->before_size && !memcmp(now, x->before, n);
    __libc_free(now);
    if (!same)
        return "the previous manifest changed";
    return temporaries_in(dir) ? "a temporary file was left behind" : NULL;
}

START_TEST(manifest_writer)
{
    ds_ctx x = {.path = in_dir("written.txt")};
    ck_assert_int_eq(arnet_write_file(x.path, "old 0\n", 6), ARNET_OK);
    x.before = slurp(x.path, &x.before_size);
    sweep s = {"arnet_manifest_writer (create, comment, 40 add, commit)", call_writer, NULL,
               manifest_intact, no_temporaries};
    run_sweep(&s, &x);
    __libc_free(x.before);
}
END_TEST

static int call_synth_create(void *c)
{
    ds_ctx *x = c;
    return arnet_synth_create(&x->so, &x->out, &x->test);
}
static const char *synth_good(void *c)
{
    ds_ctx *x = c;
    return arnet_dataset_size(x->out) > 0 && arnet_dataset_size(x->test) > 0 ? NULL
                                                                              : "empty sets";
}
static int call_synth_write(void *c)
{
    ds_ctx *x = c;
    return arnet_synth_write(x->path, &x->so);
}
/* A refused synth_write may leave some of the .npy files (each whole), but
 * never a manifest that lists a missing file, nor a temporary. */
static const char *synth_dir_consistent(void *c)
{
    ds_ctx *x = c;
    char sub[600];
    snprintf(sub, sizeof sub, "%s/features", x->path);
    if (temporaries_in(x->path) || temporaries_in(sub))
        return "a temporary file was left behind";
    snprintf(sub, sizeof sub, "%s/gt", x->path);
    if (temporaries_in(sub))
        return "a temporary file was left behind";
    const char *names[2] = {"train.txt", "test.txt"};
    for (int i = 0; i < 2; i++) {
        snprintf(sub, sizeof sub, "%s/%s", x->path, names[i]);
        if (access(sub, F_OK) != 0)
            continue;
        /* Loading here would allocate inside the window: check the listed
         * files exist instead. */
        FILE *fp = fopen(sub, "r");
        char line[512];
        while (fp && fgets(line, sizeof line, fp)) {
            if (line[0] == '#' || line[0] == '\n')
                continue;
            char *sp = strchr(line, ' ');
            if (sp)
                *sp = '\0';
            char p[1200];
            snprintf(p, sizeof p, "%s/%s", x->path, line);
            if (access(p, F_OK) != 0) {
                fclose(fp);
                return "a manifest lists a missing file";
            }
        }
        if (fp)
            fclose(fp);
    }
    return NULL;
}

START_TEST(synth)
{
    ds_ctx x = {.out = UNTOUCHED, .test = UNTOUCHED};
    arnet_synth_options_init(&x.so);
    x.so.feature_dim = 4;
    x.so.scale = 0.02;
    sweep s = {"arnet_synth_create", call_synth_create, undo_ds, ds_untouched, synth_good};
    run_sweep(&s, &x);
    x.path = in_dir("synth");
    sweep w = {"arnet_synth_write", call_synth_write, NULL, synth_dir_consistent,
               synth_dir_consistent};
    run_sweep(&w, &x);
}
END_TEST

/* ---- scoring, evaluation, streams ----------------------------------------------- */

typedef struct {
    arnet_model *m;
    arnet_dataset *ds;
    arnet_scorer *scorer;
    arnet_stream *stream;
    arnet_eval_result res, before;
    arnet_trainer *t;
    const char *path;
    float w1[H * F], b1[H], w2[H], b2;
    uint64_t steps;
} run_ctx;

static int call_scorer(void *c)
{
    run_ctx *x = c;
    arnet_scorer_options o;
    arnet_scorer_options_init(&o);
    o.max_batch = 16;
    return arnet_scorer_create(x->m, &o, &x->scorer);
}
static void undo_scorer(void *c)
{
    run_ctx *x = c;
    arnet_scorer_free(x->scorer);
    x->scorer = UNTOUCHED;
}
static const char *scorer_untouched(void *c)
{
    run_ctx *x = c;
    return x->scorer == UNTOUCHED || !x->scorer ? NULL : "*out was written";
}
static int call_stream(void *c)
{
    run_ctx *x = c;
    arnet_stream_options o;
    arnet_stream_options_init(&o);
    o.window = 9;
    return arnet_stream_create(&o, &x->stream);
}
static void undo_stream(void *c)
{
    run_ctx *x = c;
    arnet_stream_free(x->stream);
    x->stream = UNTOUCHED;
}
static const char *stream_untouched(void *c)
{
    run_ctx *x = c;
    return x->stream == UNTOUCHED || !x->stream ? NULL : "*out was written";
}
static int call_score(void *c)
{
    run_ctx *x = c;
    float in[40 * F], out[40];
    fill(in, 40 * F, 5);
    return arnet_scorer_score(x->scorer, in, 40, out);
}

START_TEST(scorer_and_stream)
{
    run_ctx x = {.m = new_model(6), .scorer = UNTOUCHED, .stream = UNTOUCHED};
    sweep s = {"arnet_scorer_create", call_scorer, undo_scorer, scorer_untouched, NULL};
    run_sweep(&s, &x);
    sweep st = {"arnet_stream_create", call_stream, undo_stream, stream_untouched, NULL};
    run_sweep(&st, &x);
    ck_assert_int_eq(call_scorer(&x), ARNET_OK);
    sweep sc = {"arnet_scorer_score", call_score, NULL, NULL, NULL};
    ck_assert_int_eq(run_sweep(&sc, &x), 0); /* scoring never allocates */
    arnet_scorer_free(x.scorer);
    arnet_model_free(x.m);
}
END_TEST

static int call_evaluate(void *c)
{
    run_ctx *x = c;
    return arnet_evaluate(x->m, x->ds, &x->res);
}
static void undo_eval(void *c)
{
    run_ctx *x = c;
    arnet_eval_result_free(&x->res);
    arnet_eval_result_init(&x->res);
}
static const char *eval_untouched(void *c)
{
    run_ctx *x = c;
    return memcmp(&x->res, &x->before, sizeof x->res) ? "the result was written" : NULL;
}

START_TEST(evaluate)
{
    run_ctx x = {.m = new_model(7), .ds = new_dataset(1)};
    arnet_eval_result_init(&x.res);
    x.before = x.res;
    sweep s = {"arnet_evaluate", call_evaluate, undo_eval, eval_untouched, NULL};
    run_sweep(&s, &x);
    arnet_dataset_free(x.ds);
    arnet_model_free(x.m);
}
END_TEST

/* ---- training --------------------------------------------------------------------- */

static int call_trainer_create(void *c)
{
    run_ctx *x = c;
    arnet_train_options o = train_options();
    return arnet_trainer_create(x->m, x->ds, &o, &x->t);
}
static void undo_trainer(void *c)
{
    run_ctx *x = c;
    arnet_trainer_free(x->t);
    x->t = UNTOUCHED;
}
static const char *trainer_untouched(void *c)
{
    run_ctx *x = c;
    return x->t == UNTOUCHED || !x->t ? NULL : "*out was written";
}
static int call_restore(void *c)
{
    run_ctx *x = c;
    return arnet_trainer_restore(x->t, x->path);
}
static const char *trainer_unchanged(void *c)
{
    run_ctx *x = c;
    float w1[H * F], b1[H], w2[H], b2;
    if (arnet_model_get_params(x->m, w1, b1, w2, &b2))
        return "cannot read the weights";
    if (memcmp(w1, x->w1, sizeof w1) || memcmp(b1, x->b1, sizeof b1) ||
        memcmp(w2, x->w2, sizeof w2) || memcmp(&b2, &x->b2, sizeof b2))
        return "the weights changed";
    return arnet_trainer_steps(x->t) == x->steps ? NULL : "the step count changed";
}
static const char *restored(void *c)
{
    run_ctx *x = c;
    return arnet_trainer_steps(x->t) == 2 ? NULL : "not at the saved step";
}
static int call_trainer_save(void *c)
{
    run_ctx *x = c;
    return arnet_trainer_save(x->t, x->path);
}
static int call_step(void *c)
{
    run_ctx *x = c;
    return arnet_trainer_step(x->t, NULL);
}
static int call_run(void *c)
{
    run_ctx *x = c;
    return arnet_trainer_run(x->t);
}

START_TEST(trainer)
{
    run_ctx x = {.m = new_model(8), .ds = new_dataset(0), .t = UNTOUCHED};
    sweep s = {"arnet_trainer_create", call_trainer_create, undo_trainer, trainer_untouched,
               NULL};
    run_sweep(&s, &x);

    /* A file two steps in, then a trainer at step 0 restoring it. */
    ck_assert_int_eq(call_trainer_create(&x), ARNET_OK);
    ck_assert_int_eq(arnet_trainer_step(x.t, NULL), ARNET_OK);
    ck_assert_int_eq(arnet_trainer_step(x.t, NULL), ARNET_OK);
    x.path = in_dir("train.arnet");
    ck_assert_int_eq(arnet_trainer_save(x.t, x.path), ARNET_OK);
    arnet_trainer_free(x.t);
    arnet_model_free(x.m);
    x.m = new_model(8);
    ck_assert_int_eq(call_trainer_create(&x), ARNET_OK);
    ck_assert_int_eq(arnet_model_get_params(x.m, x.w1, x.b1, x.w2, &x.b2), ARNET_OK);
    x.steps = 0;
    sweep r = {"arnet_trainer_restore", call_restore, NULL, trainer_unchanged, restored};
    for (long n = 0;; n++) {
        /* Each successful restore moves the trainer: a fresh one per run. */
        arnet_clear_error();
        alloc_fail_begin(n);
        int rc = call_restore(&x);
        long live;
        long total = alloc_fail_end(&live);
        ck_assert_msg(live == 0, "trainer_restore, allocation %ld refused: %ld leaked", n, live);
        if (!alloc_fail_hit()) {
            ck_assert_int_eq(rc, ARNET_OK);
            ck_assert_ptr_null(restored(&x));
            fprintf(stderr, "# %s: %ld allocations\n", r.what, total);
            break;
        }
        ck_assert_msg(rc == ARNET_E_NOMEM, "trainer_restore, allocation %ld refused: %s", n,
                      arnet_last_error());
        ck_assert(arnet_last_error()[0]);
        const char *why = trainer_unchanged(&x);
        ck_assert_msg(!why, "trainer_restore, allocation %ld refused: %s", n, why);
    }

    /* Saving over the file must keep it whole; a step allocates nothing. */
    model_ctx mc = {.path = x.path};
    mc.before = slurp(x.path, &mc.before_size);
    sweep sv = {"arnet_trainer_save", call_trainer_save, NULL, NULL, no_temporaries};
    for (long n = 0;; n++) {
        arnet_clear_error();
        alloc_fail_begin(n);
        int rc = call_trainer_save(&x);
        long live;
        long total = alloc_fail_end(&live);
        ck_assert_msg(live == 0, "trainer_save, allocation %ld refused: %ld leaked", n, live);
        if (!alloc_fail_hit()) {
            ck_assert_int_eq(rc, ARNET_OK);
            fprintf(stderr, "# %s: %ld allocations\n", sv.what, total);
            break;
        }
        if (rc == ARNET_OK)
            continue; /* the best-effort clean-up of stale temporaries */
        ck_assert_msg(rc == ARNET_E_NOMEM, "trainer_save, allocation %ld refused: %s", n,
                      arnet_last_error());
        const char *why = file_intact(&mc);
        ck_assert_msg(!why, "trainer_save, allocation %ld refused: %s", n, why);
    }
    __libc_free(mc.before);
    ck_assert_int_eq(arnet_trainer_steps(x.t), 2);
    sweep ru = {"arnet_trainer_run (step 2 to 3)", call_run, NULL, NULL, NULL};
    ck_assert_int_eq(run_sweep(&ru, &x), 0);
    ck_assert_int_eq(arnet_trainer_steps(x.t), 3);
    sweep st = {"arnet_trainer_step", call_step, NULL, NULL, NULL};
    ck_assert_int_eq(run_sweep(&st, &x), 0);
    ck_assert_int_eq(arnet_trainer_steps(x.t), 4);
    arnet_trainer_free(x.t);
    arnet_dataset_free(x.ds);
    arnet_model_free(x.m);
}
END_TEST

/* ---- metrics and streaming ------------------------------------------------------- */

typedef struct {
    float scores[300];
    uint8_t labels[300];
    double value, before;
    float thr;
    arnet_scorer *scorer;
    arnet_stream *streams[3];
    float feats[3 * F];
} metric_ctx;

static int call_auc(void *c)
{
    metric_ctx *x = c;
    return arnet_roc_auc(x->scores, x->labels, 300, &x->value);
}
static int call_ap(void *c)
{
    metric_ctx *x = c;
    return arnet_average_precision(x->scores, x->labels, 300, &x->value);
}
static int call_pr(void *c)
{
    metric_ctx *x = c;
    return arnet_pr_auc(x->scores, x->labels, 300, &x->value);
}
static int call_far(void *c)
{
    metric_ctx *x = c;
    return arnet_threshold_for_far(x->scores, 300, 0.1, &x->thr, &x->value);
}
static const char *value_untouched(void *c)
{
    metric_ctx *x = c;
    return memcmp(&x->value, &x->before, sizeof x->value) ? "the output was written" : NULL;
}
static int call_push(void *c)
{
    metric_ctx *x = c;
    return arnet_stream_push(x->streams[0], x->scorer, x->feats, NULL);
}
static int call_push_streams(void *c)
{
    metric_ctx *x = c;
    return arnet_scorer_push_streams(x->scorer, x->streams, x->feats, 3, NULL);
}

START_TEST(metrics_and_streams)
{
    metric_ctx x;
    memset(&x, 0, sizeof x);
    fill(x.scores, 300, 9);
    for (int i = 0; i < 300; i++)
        x.labels[i] = (i * 7) % 5 == 0;
    x.value = x.before = -12345.0;
    sweep s[4] = {{"arnet_roc_auc", call_auc, NULL, value_untouched, NULL},
                  {"arnet_average_precision", call_ap, NULL, value_untouched, NULL},
                  {"arnet_pr_auc", call_pr, NULL, value_untouched, NULL},
                  {"arnet_threshold_for_far", call_far, NULL, value_untouched, NULL}};
    for (int i = 0; i < 4; i++) {
        x.value = x.before;
        run_sweep(&s[i], &x);
    }
    /* Streams allocate nothing once created. */
    arnet_model *m = new_model(10);
    ck_assert_int_eq(arnet_scorer_create(m, NULL, &x.scorer), ARNET_OK);
    for (int i = 0; i < 3; i++) {
        arnet_stream_options o;
        arnet_stream_options_init(&o);
        o.stream_id = (uint64_t)i;
        ck_assert_int_eq(arnet_stream_create(&o, &x.streams[i]), ARNET_OK);
    }
    fill(x.feats, 3 * F, 4);
    sweep p = {"arnet_stream_push", call_push, NULL, NULL, NULL};
    ck_assert_int_eq(run_sweep(&p, &x), 0);
    sweep ps = {"arnet_scorer_push_streams", call_push_streams, NULL, NULL, NULL};
    ck_assert_int_eq(run_sweep(&ps, &x), 0);
    for (int i = 0; i < 3; i++)
        arnet_stream_free(x.streams[i]);
    arnet_scorer_free(x.scorer);
    arnet_model_free(m);
}
END_TEST

/* ---- the I3D extractor ------------------------------------------------------------- */

/* The real network's shapes with small random weights (the weights'
 * values do not matter here). */
static arnet_extractor *new_extractor(void)
{
    arnet_extractor *x = NULL;
    ck_assert_int_eq(arnet__extractor_alloc(&x), ARNET_OK);
    for (size_t i = 0; i < arnet__i3d_n_convs; i++) {
        const arnet__i3d_conv_desc *d = &arnet__i3d_convs[i];
        size_t n = (size_t)d->in_ch * d->k[0] * d->k[1] * d->k[2] * d->out_ch;
        fill(x->convs[i].w, n, (uint32_t)i);
        for (size_t j = 0; j < n; j++)
            x->convs[i].w[j] *= 0.01f;
        fill(x->convs[i].b, d->out_ch, (uint32_t)i + 1000);
    }
    ck_assert_int_eq(arnet__i3d_prepare(x), ARNET_OK);
    return x;
}

typedef struct {
    arnet_extractor *x, *out;
    arnet_extractor_state *st;
    const char *path;
} xt_ctx;

static int call_xt_load(void *c)
{
    xt_ctx *x = c;
    return arnet_extractor_load(x->path, &x->out);
}
static void undo_xt(void *c)
{
    xt_ctx *x = c;
    arnet_extractor_free(x->out);
    x->out = UNTOUCHED;
}
static const char *xt_untouched(void *c)
{
    xt_ctx *x = c;
    return x->out == UNTOUCHED || !x->out ? NULL : "*out was written";
}
static int call_xt_state(void *c)
{
    xt_ctx *x = c;
    arnet_extractor_options o;
    arnet_extractor_options_init(&o);
    o.frame_width = 96;
    o.frame_height = 64;
    o.clip_frames = 8;
    return arnet_extractor_state_create(x->x, &o, &x->st);
}
static void undo_xt_state(void *c)
{
    xt_ctx *x = c;
    arnet_extractor_state_free(x->st);
    x->st = UNTOUCHED;
}
static const char *xt_state_untouched(void *c)
{
    xt_ctx *x = c;
    return x->st == UNTOUCHED || !x->st ? NULL : "*out was written";
}

START_TEST(extractor)
{
    xt_ctx x = {.x = new_extractor(), .out = UNTOUCHED, .st = UNTOUCHED,
                .path = in_dir("i3d.arnet")};
    arnet_save_options so;
    arnet_save_options_init(&so);
    so.compression_level = 0; /* 48 MB: each load at memory speed */
    ck_assert_int_eq(arnet_extractor_save(x.x, x.path, &so), ARNET_OK);
    /* 486 allocations (a few per unit), each load a second or so: a
     * sampled sweep (ALLOC_FAIL_EVERY=1 for all of them, 3 to 8 minutes;
     * all passed when this was written). */
    sweep l = {"arnet_extractor_load (sampled)", call_xt_load, undo_xt, xt_untouched, NULL};
    run_sweep_ex(&l, &x, 1);
    sweep s = {"arnet_extractor_state_create", call_xt_state, undo_xt_state, xt_state_untouched,
               NULL};
    run_sweep(&s, &x);
    arnet_extractor_free(x.x);
}
END_TEST

START_TEST(not_under_asan)
{
    /* AddressSanitizer owns malloc: nothing can be refused here. */
    ck_assert(!COUNT_ALLOCATIONS);
}
END_TEST

Suite *make_suite(void)
{
    Suite *s = suite_create("alloc_fail");
    TCase *tc = tcase_create("alloc_fail");
    tcase_add_checked_fixture(tc, setup, teardown);
    if (!COUNT_ALLOCATIONS) {
        tcase_add_test(tc, not_under_asan);
    } else {
        tcase_add_test(tc, model_create);
        tcase_add_test(tc, model_set_meta);
        tcase_add_test(tc, model_save);
        tcase_add_test(tc, model_save_buffer);
        tcase_add_test(tc, model_load);
        tcase_add_test(tc, file_info_and_list);
        tcase_add_test(tc, npy_read);
        tcase_add_test(tc, npy_write_and_write_file);
        tcase_add_test(tc, dataset_create_add);
        tcase_add_test(tc, manifest_load);
        tcase_add_test(tc, manifest_writer);
        tcase_add_test(tc, synth);
        tcase_add_test(tc, scorer_and_stream);
        tcase_add_test(tc, evaluate);
        tcase_add_test(tc, trainer);
        tcase_add_test(tc, metrics_and_streams);
        tcase_add_test(tc, extractor);
    }
    suite_add_tcase(s, tc);
    return s;
}
