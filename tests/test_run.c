/* test_run.c -- arnet_run, the training run the library owns: evaluation
 * every N steps and keep-best, resuming (after a stop, a cancel, from the
 * file alone, from a file of arnet train 0.1) to the bytes of an unbroken
 * run, the refusals, and beside them the run's own faults: every allocation
 * of start, resume and save refused in turn, and every write, fsync and
 * rename of a save failed in turn (io_fault.c). */
#define _GNU_SOURCE
#include <check.h>
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "alloc_count.h"
#include "arnet/arnet.h"
#include "io_fault.h"
#include "remove_tree.h"

static char dir[64];

/* A small synthetic set (17 + 6 training videos, 20 test videos, 8
 * features) in a fresh folder, on tmpfs when there is one (every save is
 * fsynced). */
static void setup(void)
{
    const char *base = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
    snprintf(dir, sizeof dir, "%s/arnet-run-XXXXXX", base);
    ck_assert_ptr_nonnull(mkdtemp(dir));
    arnet_synth_options so;
    arnet_synth_options_init(&so);
    so.feature_dim = 8;
    so.scale = 0.1;
    so.seed = 3;
    ck_assert_int_eq(arnet_synth_write(dir, &so), ARNET_OK);
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

static int same_files(const char *a, const char *b)
{
    size_t na = 0, nb = 0;
    uint8_t *x = slurp(a, &na), *y = slurp(b, &nb);
    int same = x && y && na == nb && !memcmp(x, y, na);
    __libc_free(x);
    __libc_free(y);
    return same;
}

static int temporaries(void)
{
    DIR *d = opendir(dir);
    int n = 0;
    struct dirent *e;
    while (d && (e = readdir(d)) != NULL)
        n += strstr(e->d_name, ".tmp.") != NULL;
    if (d)
        closedir(d);
    return n;
}

static arnet_train_options small_options(uint64_t iterations)
{
    arnet_train_options o;
    arnet_train_options_init(&o);
    o.normal_per_batch = 4;
    o.anomalous_per_batch = 4;
    o.lr = 1e-3f;
    o.seed = 2;
    o.iterations = iterations;
    return o;
}

/* Options of a run on the folder's manifests (pointers into statics). */
static arnet_run_options run_options(const arnet_train_options *to, int with_test)
{
    arnet_run_options ro;
    arnet_run_options_init(&ro);
    ro.train_manifest = in_dir("train.txt");
    ro.test_manifest = with_test ? in_dir("test.txt") : NULL;
    ro.train = to;
    return ro;
}

/* A run to `iterations` steps written to out (eval_every with a test set). */
static void straight_run(uint64_t iterations, uint64_t eval_every, const char *out)
{
    arnet_train_options to = small_options(iterations);
    arnet_run_options ro = run_options(&to, eval_every != 0);
    ro.eval_every = eval_every;
    ro.out = out;
    arnet_run *r = NULL;
    ck_assert_msg(arnet_run_start(&ro, &r) == ARNET_OK, "%s", arnet_last_error());
    ck_assert_msg(arnet_run_continue(r) == ARNET_OK, "%s", arnet_last_error());
    arnet_run_free(r);
}

static void weights(const arnet_model *m, float *w1, size_t n)
{
    (void)n;
    ck_assert_int_eq(arnet_model_get_params(m, w1, NULL, NULL, NULL), ARNET_OK);
}

/* ---- evaluation and keep-best ----------------------------------------------- */

typedef struct evals {
    int n;
    uint64_t step[16];
    int best[16], final[16];
    double auc[16];
} evals;

static int record_eval(void *user, const arnet_run_eval *ev)
{
    evals *e = user;
    if (e->n < 16) {
        e->step[e->n] = ev->step;
        e->best[e->n] = ev->is_best;
        e->final[e->n] = ev->final;
        e->auc[e->n] = ev->auc;
        e->n++;
    }
    return 0;
}

START_TEST(evaluates_every_n_steps_and_keeps_the_best)
{
    arnet_train_options to = small_options(8);
    arnet_run_options ro = run_options(&to, 1);
    evals e = {0};
    ro.eval_every = 2;
    ro.out = in_dir("run.arnet");
    ro.keep_best = in_dir("best.arnet");
    ro.on_eval = record_eval;
    ro.user = &e;
    arnet_run *r = NULL;
    ck_assert_msg(arnet_run_start(&ro, &r) == ARNET_OK, "%s", arnet_last_error());
    ck_assert_msg(arnet_run_continue(r) == ARNET_OK, "%s", arnet_last_error());
    /* Steps 2, 4, 6, then the final one at 8. */
    ck_assert_int_eq(e.n, 4);
    for (int i = 0; i < 4; i++) {
        ck_assert_uint_eq(e.step[i], 2u * (unsigned)(i + 1));
        ck_assert_int_eq(e.final[i], i == 3);
    }
    arnet_run_info in;
    arnet_run_info_init(&in);
    ck_assert_int_eq(arnet_run_get_info(r, &in), ARNET_OK);
    ck_assert_int_eq(in.evaluated, 1);
    ck_assert_uint_eq(in.steps, 8);
    ck_assert_uint_eq(in.eval_step, 8);
    double best = -1;
    uint64_t best_step = 0;
    for (int i = 0; i < 4; i++)
        if (e.auc[i] > best) {
            best = e.auc[i];
            best_step = e.step[i];
        }
    ck_assert_uint_eq(in.best_step, best_step);
    ck_assert(in.best_auc == best);
    arnet_run_free(r);

    /* The kept model is the run's at its best step, bit for bit. */
    straight_run(best_step, 0, in_dir("to_best.arnet"));
    arnet_model *kept = NULL, *ref = NULL;
    ck_assert_int_eq(arnet_model_load(in_dir("best.arnet"), &kept), ARNET_OK);
    ck_assert_int_eq(arnet_model_load(in_dir("to_best.arnet"), &ref), ARNET_OK);
    float a[8 * 8], b[8 * 8];
    weights(kept, a, 64);
    weights(ref, b, 64);
    ck_assert_msg(!memcmp(a, b, sizeof a), "the kept model is not the step-%llu one",
                  (unsigned long long)best_step);
    /* It records how it was made, in the run's one namespace. */
    ck_assert_ptr_nonnull(arnet_model_get_meta(kept, "trainer.best_auc"));
    ck_assert_ptr_nonnull(arnet_model_get_meta(kept, "trainer.lr"));
    ck_assert_ptr_null(arnet_model_get_meta(kept, "train.lr"));
    arnet_file_info fi;
    arnet_file_info_init(&fi);
    ck_assert_int_eq(arnet_file_info_read(in_dir("best.arnet"), &fi), ARNET_OK);
    ck_assert_int_eq(fi.has_trainer, 0);
    arnet_model_free(kept);
    arnet_model_free(ref);
}
END_TEST

/* ---- resuming ---------------------------------------------------------------- */

START_TEST(resume_equals_an_unbroken_run_byte_for_byte)
{
    straight_run(12, 2, in_dir("straight.arnet"));
    straight_run(5, 2, in_dir("resumed.arnet"));
    arnet_train_options to;
    arnet_train_options_init(&to);
    to.iterations = 12;
    to.threads = 0; /* the file's */
    arnet_run_options ro;
    arnet_run_options_init(&ro);
    ro.train = &to;
    arnet_run *r = NULL;
    ck_assert_msg(arnet_run_resume(in_dir("resumed.arnet"), &ro, &r) == ARNET_OK, "%s",
                  arnet_last_error());
    arnet_run_info in;
    arnet_run_info_init(&in);
    ck_assert_int_eq(arnet_run_get_info(r, &in), ARNET_OK);
    ck_assert_int_eq(in.resumed, 1);
    ck_assert_uint_eq(in.steps, 5);
    ck_assert_uint_eq(in.iterations, 12);
    ck_assert_uint_eq(in.eval_every, 2);
    ck_assert_int_eq(in.evaluated, 1); /* the file's evaluations on the same test list */
    ck_assert_str_eq(in.out, in_dir("resumed.arnet"));
    ck_assert_msg(arnet_run_continue(r) == ARNET_OK, "%s", arnet_last_error());
    arnet_run_free(r);
    ck_assert_msg(same_files(in_dir("resumed.arnet"), in_dir("straight.arnet")),
                  "5 + 7 steps differ from 12 straight");
}
END_TEST

static int cancel_at_7(void *user, const arnet_step_stats *st, uint64_t total)
{
    (void)user;
    (void)total;
    return st->step == 7;
}

START_TEST(a_cancelled_run_saved_and_resumed_ends_as_an_unbroken_one)
{
    straight_run(10, 0, in_dir("straight.arnet"));
    arnet_train_options to = small_options(10);
    arnet_run_options ro = run_options(&to, 0);
    ro.out = in_dir("stopped.arnet");
    ro.save_every = 3;
    ro.progress = cancel_at_7;
    arnet_run *r = NULL;
    ck_assert_int_eq(arnet_run_start(&ro, &r), ARNET_OK);
    ck_assert_int_eq(arnet_run_continue(r), ARNET_E_CANCELLED);
    ck_assert_ptr_nonnull(strstr(arnet_last_error(), "step 7"));
    ck_assert_uint_eq(arnet_trainer_steps(arnet_run_trainer(r)), 7);
    ck_assert_int_eq(arnet_run_save(r), ARNET_OK);
    arnet_run_free(r);
    /* Resumed from the file alone, from another folder: it records its
     * manifests as absolute paths. */
    char cwd[512];
    ck_assert_ptr_nonnull(getcwd(cwd, sizeof cwd));
    ck_assert_int_eq(chdir("/"), 0);
    int rc = arnet_run_resume(in_dir("stopped.arnet"), NULL, &r);
    ck_assert_int_eq(chdir(cwd), 0);
    ck_assert_msg(rc == ARNET_OK, "%s", arnet_last_error());
    ck_assert_msg(arnet_run_continue(r) == ARNET_OK, "%s", arnet_last_error());
    arnet_run_free(r);
    /* save_every is recorded, and the last save is at the end: the same
     * pairs as the straight run but for save_every itself. */
    arnet_model *a = NULL, *b = NULL;
    ck_assert_int_eq(arnet_model_load(in_dir("stopped.arnet"), &a), ARNET_OK);
    ck_assert_int_eq(arnet_model_load(in_dir("straight.arnet"), &b), ARNET_OK);
    float wa[64], wb[64];
    weights(a, wa, 64);
    weights(b, wb, 64);
    ck_assert_msg(!memcmp(wa, wb, sizeof wa), "7 + 3 steps differ from 10 straight");
    arnet_model_free(a);
    arnet_model_free(b);

    /* Continuing the same handle after a cancel goes on as well. */
    ro.out = in_dir("again.arnet");
    ro.save_every = 0;
    ck_assert_int_eq(arnet_run_start(&ro, &r), ARNET_OK);
    ck_assert_int_eq(arnet_run_continue(r), ARNET_E_CANCELLED);
    ck_assert_int_eq(arnet_run_continue(r), ARNET_OK);
    arnet_run_free(r);
    ck_assert(same_files(in_dir("again.arnet"), in_dir("straight.arnet")));
}
END_TEST

/* A checkpoint as arnet train 0.1 wrote it: the trainer's sections, and the
 * run's settings as model metadata under train.* and test.*. */
START_TEST(files_of_arnet_train_0_1_resume_with_their_settings)
{
    arnet_load_options lo;
    arnet_load_options_init(&lo);
    arnet_dataset *train = NULL;
    ck_assert_int_eq(arnet_dataset_load_manifest(in_dir("train.txt"), &lo, &train), ARNET_OK);
    arnet_model_config cfg;
    arnet_model_config_init(&cfg);
    cfg.feature_dim = 8;
    cfg.seed = 2;
    arnet_model *m = NULL;
    ck_assert_int_eq(arnet_model_create(&cfg, &m), ARNET_OK);
    arnet_train_options to = small_options(4);
    arnet_trainer *t = NULL;
    ck_assert_int_eq(arnet_trainer_create(m, train, &to, &t), ARNET_OK);
    ck_assert_int_eq(arnet_trainer_run(t), ARNET_OK);
    static const char *const old[][2] = {
        {"train.iterations", "4"},  {"train.lr", "0.001"},       {"train.threads", "1"},
        {"train.crop", "-1"},       {"train.save_every", "0"},   {"train.steps", "4"},
        {"test.eval_every", "2"},   {"test.step", "4"},          {"test.auc", "0.5"},
        {"test.far", "0.25"},       {"test.best_step", "2"},     {"test.best_auc", "0.75"},
        {"test.best_far", "0.125"}};
    for (size_t i = 0; i < sizeof old / sizeof old[0]; i++)
        ck_assert_int_eq(arnet_model_set_meta(m, old[i][0], old[i][1]), ARNET_OK);
    ck_assert_int_eq(arnet_model_set_meta(m, "train.manifest", in_dir("train.txt")), ARNET_OK);
    ck_assert_int_eq(arnet_model_set_meta(m, "test.manifest", in_dir("test.txt")), ARNET_OK);
    ck_assert_int_eq(arnet_model_set_meta(m, "user.note", "kept"), ARNET_OK);
    ck_assert_int_eq(arnet_trainer_save(t, in_dir("old.arnet")), ARNET_OK);
    arnet_trainer_free(t);
    arnet_model_free(m);
    arnet_dataset_free(train);

    arnet_train_options more;
    arnet_train_options_init(&more);
    more.iterations = 6;
    more.threads = 0;
    arnet_run_options ro;
    arnet_run_options_init(&ro);
    ro.train = &more;
    arnet_run *r = NULL;
    ck_assert_msg(arnet_run_resume(in_dir("old.arnet"), &ro, &r) == ARNET_OK, "%s",
                  arnet_last_error());
    arnet_run_info in;
    arnet_run_info_init(&in);
    ck_assert_int_eq(arnet_run_get_info(r, &in), ARNET_OK);
    ck_assert_str_eq(in.train_manifest, in_dir("train.txt"));
    ck_assert_str_eq(in.test_manifest, in_dir("test.txt"));
    ck_assert_uint_eq(in.eval_every, 2);
    ck_assert_int_eq(in.evaluated, 1);
    ck_assert_uint_eq(in.best_step, 2);
    ck_assert(in.best_auc == 0.75);
    ck_assert_msg(arnet_run_continue(r) == ARNET_OK, "%s", arnet_last_error());
    arnet_run_free(r);

    /* Saved again: one record, the trainer's; the user's own key kept. */
    arnet_model *again = NULL;
    ck_assert_int_eq(arnet_model_load(in_dir("old.arnet"), &again), ARNET_OK);
    for (size_t i = 0; i < sizeof old / sizeof old[0]; i++)
        ck_assert_msg(!arnet_model_get_meta(again, old[i][0]), "%s is still there", old[i][0]);
    ck_assert_ptr_null(arnet_model_get_meta(again, "train.manifest"));
    ck_assert_str_eq(arnet_model_get_meta(again, "user.note"), "kept");
    arnet_model_free(again);
}
END_TEST

/* ---- refusals ----------------------------------------------------------------- */

static int start_fails(arnet_run_options *ro, int want, const char *says)
{
    arnet_run *r = (arnet_run *)(uintptr_t)0x5e71;
    int rc = arnet_run_start(ro, &r);
    ck_assert_msg(rc == want, "got %s: %s", arnet_strerror(rc), arnet_last_error());
    ck_assert_msg(strstr(arnet_last_error(), says), "'%s' does not say '%s'",
                  arnet_last_error(), says);
    ck_assert_ptr_eq(r, (arnet_run *)(uintptr_t)0x5e71);
    return 1;
}

START_TEST(bad_runs_are_refused_naming_why)
{
    arnet_train_options to = small_options(4);
    arnet_run_options ro = run_options(&to, 0);
    ro.keep_best = in_dir("best.arnet");
    start_fails(&ro, ARNET_E_INVALID, "keep_best needs a test set");
    ro = run_options(&to, 0);
    ro.eval_every = 2;
    start_fails(&ro, ARNET_E_INVALID, "eval_every needs a test set");
    ro = run_options(&to, 0);
    ro.save_every = 2;
    start_fails(&ro, ARNET_E_INVALID, "save_every needs out");
    ro = run_options(&to, 1);
    ro.out = in_dir("same.arnet");
    ro.keep_best = in_dir("same.arnet");
    start_fails(&ro, ARNET_E_INVALID, "the same file");
    ro = run_options(&to, 0);
    ro.train_manifest = NULL;
    start_fails(&ro, ARNET_E_INVALID, "no training set");
    ro = run_options(&to, 0);
    ro.out = in_dir("no/such/folder/run.arnet");
    start_fails(&ro, ARNET_E_IO, "no/such/folder");
    arnet_train_options bad = small_options(4);
    bad.lr = -1;
    ro = run_options(&bad, 0);
    start_fails(&ro, ARNET_E_INVALID, "lr");

    /* Resuming a model-only file, and with other training data. */
    straight_run(3, 0, in_dir("run.arnet"));
    arnet_model *m = NULL;
    ck_assert_int_eq(arnet_model_load(in_dir("run.arnet"), &m), ARNET_OK);
    ck_assert_int_eq(arnet_model_save(m, in_dir("model_only.arnet")), ARNET_OK);
    arnet_model_free(m);
    arnet_run *r = NULL;
    ck_assert_int_eq(arnet_run_resume(in_dir("model_only.arnet"), NULL, &r), ARNET_E_FORMAT);
    ck_assert_ptr_nonnull(strstr(arnet_last_error(), "no trainer state"));
    ck_assert_ptr_null(r);
    arnet_run_options other;
    arnet_run_options_init(&other);
    other.train_manifest = in_dir("test.txt");
    ck_assert_int_eq(arnet_run_resume(in_dir("run.arnet"), &other, &r), ARNET_E_INVALID);
    ck_assert_ptr_nonnull(strstr(arnet_last_error(), "training data differ"));
    ck_assert_ptr_null(r);
    ck_assert_int_eq(arnet_run_save(NULL), ARNET_E_INVALID);
}
END_TEST

/* ---- faults ------------------------------------------------------------------- */

#if COUNT_ALLOCATIONS
/* Allocation n refused for n = 0, 1... until the call succeeds (the first
 * and last 20 and every 7th between, when there are many): NOMEM with a
 * message, *out untouched, nothing leaked. */
static void alloc_sweep(const char *what, const arnet_run_options *ro, const char *resume_path,
                        int save)
{
    for (long n = 0;; n++) {
        ck_assert_msg(n < 200000, "%s: runaway", what);
        arnet_run *r = NULL;
        if (save) {
            ck_assert_int_eq(arnet_run_start(ro, &r), ARNET_OK);
            ck_assert_int_eq(arnet_run_continue(r), ARNET_OK);
        }
        arnet_clear_error();
        alloc_fail_begin(n);
        int rc;
        arnet_run *out = NULL;
        if (save)
            rc = arnet_run_save(r);
        else if (resume_path)
            rc = arnet_run_resume(resume_path, ro, &out);
        else
            rc = arnet_run_start(ro, &out);
        (void)alloc_fail_settle();
        int hit = alloc_fail_hit();
        arnet_run_free(out);
        arnet_run_free(r);
        long live;
        long total = alloc_fail_end(&live);
        ck_assert_msg(live == 0, "%s, allocation %ld of %ld refused: %ld block(s) leaked", what,
                      n, total, live);
        ck_assert_int_eq(temporaries(), 0);
        if (!hit) {
            ck_assert_msg(rc == ARNET_OK, "%s: %s", what, arnet_last_error());
            fprintf(stderr, "# %s: %ld allocations refused in turn\n", what, total);
            return;
        }
        if (rc == ARNET_OK)
            continue; /* a best-effort allocation (as test_alloc_fail.c allows) */
        ck_assert_msg(rc == ARNET_E_NOMEM, "%s, allocation %ld refused: %s (%s)", what, n,
                      arnet_strerror(rc), arnet_last_error());
        ck_assert_msg(arnet_last_error()[0], "%s, allocation %ld refused: no message", what, n);
        ck_assert_msg(save || out == NULL, "%s: *out written", what);
    }
}

START_TEST(every_allocation_refused_in_turn)
{
    arnet_train_options to = small_options(3);
    to.threads = 1;
    arnet_run_options ro = run_options(&to, 1);
    ro.out = in_dir("run.arnet");
    ro.keep_best = in_dir("best.arnet");
    ro.eval_every = 1;
    alloc_sweep("arnet_run_start", &ro, NULL, 0);
    alloc_sweep("arnet_run_save", &ro, NULL, 1);
    /* run.arnet is now a finished 3-step run: resume it to 3 (no step). */
    alloc_sweep("arnet_run_resume", NULL, in_dir("run.arnet"), 0);
}
END_TEST
#endif

/* Every write, fsync and rename of a save failed in turn: ARNET_E_IO naming
 * the file, the previous file byte for byte, no temporary left. */
START_TEST(every_write_of_a_save_failed_in_turn)
{
    arnet_train_options to = small_options(3);
    arnet_run_options ro = run_options(&to, 0);
    ro.out = in_dir("run.arnet");
    arnet_run *r = NULL;
    ck_assert_int_eq(arnet_run_start(&ro, &r), ARNET_OK);
    ck_assert_int_eq(arnet_run_continue(r), ARNET_OK); /* the previous file: step 3 */
    size_t old_n = 0;
    uint8_t *old = slurp(ro.out, &old_n);
    /* The save under test writes other bytes (another step target). */
    ck_assert_int_eq(arnet_run_set_iterations(r, 5), ARNET_OK);
    const int ops[3] = {OP_WRITE, OP_FSYNC, OP_RENAME};
    long refused = 0;
    for (int k = 0; k < 3; k++) {
        for (int kind = K_ENOSPC; kind <= K_EIO; kind++) {
            for (long n = 0;; n++) {
                ck_assert_msg(n < 10000, "runaway");
                arnet_clear_error();
                arm(ops[k], n, kind);
                int rc = arnet_run_save(r);
                int struck = disarm();
                if (!struck) {
                    ck_assert_msg(rc == ARNET_OK, "%s", arnet_last_error());
                    /* Back to the previous file for the next kind. */
                    FILE *fp = fopen(ro.out, "wb");
                    ck_assert_uint_eq(fwrite(old, 1, old_n, fp), old_n);
                    fclose(fp);
                    break;
                }
                if (hit_on_folder) {
                    ck_assert_int_eq(rc, ARNET_OK);
                    continue;
                }
                ck_assert_msg(rc == ARNET_E_IO, "%s %s %ld: %s (%s)", kind_names[kind],
                              op_names[ops[k]], n, arnet_strerror(rc), arnet_last_error());
                ck_assert_msg(strstr(arnet_last_error(), ro.out), "%s", arnet_last_error());
                size_t now_n = 0;
                uint8_t *now = slurp(ro.out, &now_n);
                ck_assert_msg(now && now_n == old_n && !memcmp(now, old, old_n),
                              "%s %s %ld: the previous file changed", kind_names[kind],
                              op_names[ops[k]], n);
                __libc_free(now);
                ck_assert_int_eq(temporaries(), 0);
                refused++;
            }
        }
    }
    ck_assert_int_gt(refused, 3);
    fprintf(stderr, "# %ld faulted saves refused cleanly\n", refused);
    __libc_free(old);
    arnet_run_free(r);
}
END_TEST

Suite *make_suite(void)
{
    Suite *s = suite_create("run");
    TCase *tc = tcase_create("run");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, evaluates_every_n_steps_and_keeps_the_best);
    tcase_add_test(tc, resume_equals_an_unbroken_run_byte_for_byte);
    tcase_add_test(tc, a_cancelled_run_saved_and_resumed_ends_as_an_unbroken_one);
    tcase_add_test(tc, files_of_arnet_train_0_1_resume_with_their_settings);
    tcase_add_test(tc, bad_runs_are_refused_naming_why);
    suite_add_tcase(s, tc);
    TCase *faults = tcase_create("faults");
    tcase_add_checked_fixture(faults, setup, teardown);
    tcase_set_timeout(faults, 100);
#if COUNT_ALLOCATIONS
    tcase_add_test(faults, every_allocation_refused_in_turn);
#endif
    tcase_add_test(faults, every_write_of_a_save_failed_in_turn);
    suite_add_tcase(s, faults);
    return s;
}
