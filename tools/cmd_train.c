/* cmd_train.c -- `arnet train`: train a model from a manifest with the
 * paper's defaults, show progress, evaluate on a test list, save, resume. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"

#define CMD "train"

static void usage(FILE *f)
{
    fprintf(f,
        "usage: arnet train --train LIST --out MODEL [options]\n"
        "       arnet train --resume MODEL [--iterations N] [--threads K]\n\n"
        "Train an AR-Net model on the videos of a manifest (docs/data.md) with the\n"
        "paper's settings unless told otherwise (docs/training.md).  MODEL also holds\n"
        "the optimizer state and records the run (manifests, options), so\n"
        "--resume MODEL alone continues the run exactly.\n\n"
        "data and files:\n"
        "  --train LIST          training manifest (video labels; feature size from the data)\n"
        "  --out MODEL           model file to write (atomically), with training settings;\n"
        "                        an existing MODEL needs --force (or --resume MODEL)\n"
        "  --force               replace an existing --out or --keep-best file (never an\n"
        "                        input: a manifest or a feature file)\n"
        "  --test LIST           test manifest with frame ground truth: AUC and FAR\n"
        "  --eval-every N        evaluate on --test every N steps (default: at the end)\n"
        "  --keep-best FILE      also save the model with the best test AUC to FILE\n"
        "  --resume FILE         continue the run saved in FILE (by --out or --save-every)\n"
        "                        with its settings; only --iterations and --threads change.\n"
        "                        --train, --test, --out (default FILE itself), --crop,\n"
        "                        --eval-every, --save-every and --keep-best default to\n"
        "                        the run's\n"
        "  --save-every N        rewrite MODEL every N steps (default 0: at the end)\n"
        "  --crop C              crop of [T, C, F] feature files (default: mean of crops)\n"
        "  --crops mean|each     each: every crop its own bag (same label); evaluation\n"
        "                        averages the crops' clip scores\n"
        "  --layout auto|tcf|ctf crop axis of rank-3 files (default: auto, docs/data.md)\n"
        "  --mmap                map the feature files instead of loading them (sets\n"
        "                        larger than memory; same results, docs/data.md)\n"
        "training (defaults: the paper's):\n"
        "  --iterations N        total steps, counting those of a resumed run (4760)\n"
        "  --loss NAME           dmil-center, dmil or kmax-mil (dmil-center)\n"
        "  --reduce R            video (paper, eq. 5) or instance (authors' code) (video)\n"
        "  --alpha A             k = ceil(clips / A) top clips per video (4)\n"
        "  --lambda L            center loss weight (20)\n"
        "  --lr R                Adam learning rate (1e-4)\n"
        "  --weight-decay W      L2 added to the gradient, as torch's Adam (5e-4)\n"
        "  --batch-normal N      normal videos per step (30)\n"
        "  --batch-anomalous N   anomalous videos per step (30)\n"
        "  --max-clips N         clips per video and step (300)\n"
        "  --hidden H            hidden units (default: the feature size)\n"
        "  --dropout P           dropout rate while training (0.7)\n"
        "  --seed S              weights, sampling and dropout (1)\n"
        "  --threads K           BLIS threads (default: every processor); the same seed\n"
        "                        and K give the same model; on a busy machine or with few\n"
        "                        features, 1 can be faster (docs/training.md)\n"
        "output:\n"
        "  --progress-every N    on a log (stderr not a terminal), a progress line every\n"
        "                        N steps (default: every 5 %% of the run)\n"
        "  --progress            accepted for older scripts (progress is always shown)\n"
        "  -q, --quiet           print nothing but errors\n\n"
        "Ctrl-C stops after the current step and saves MODEL, so that\n"
        "`arnet train --resume MODEL` goes on from there.  While it runs, MODEL.lock\n"
        "beside MODEL keeps a second arnet from writing MODEL.\n");
    cli_print_exit_codes(f, CLI_EXITS_OUTPUT | CLI_EXITS_INTERRUPT);
}

/* ---- settings: one table drives parsing, metadata and resuming ---------- */

enum kind { K_U64, K_U32, K_INT, K_FLOAT, K_LOSS, K_REDUCE };

typedef struct setting {
    const char *opt; /* command-line option */
    const char *key; /* metadata key */
    enum kind kind;
    double min, max; /* accepted range; min_open: min itself refused */
    int min_open;
    void *field;
    int given; /* set on the command line */
} setting;

static const char *const loss_names[] = {"dmil-center", "dmil", "kmax-mil"};
static const char *const reduce_names[] = {"video", "instance"};

static int name_index(const char *const *names, int n, const char *s)
{
    for (int i = 0; i < n; i++)
        if (!strcmp(names[i], s))
            return i;
    return -1;
}

/* Parse s into the setting's field; 0 on failure (message printed when
 * cmd_line, since a bad metadata value is reported by the caller). */
static int setting_parse(setting *st, const char *s, int cmd_line)
{
    const char *cmd = cmd_line ? CMD : NULL;
    switch (st->kind) {
    case K_LOSS:
    case K_REDUCE: {
        int i = st->kind == K_LOSS ? name_index(loss_names, 3, s)
                                   : name_index(reduce_names, 2, s);
        if (i < 0) {
            if (cmd)
                cli_usage_error(cmd, "%s: '%s' is not one of %s", st->opt, s,
                                st->kind == K_LOSS ? "dmil-center, dmil, kmax-mil"
                                                   : "video, instance");
            return 0;
        }
        *(int *)st->field = i;
        return 1;
    }
    case K_U64:
    case K_U32:
    case K_INT: {
        uint64_t v, lo = (uint64_t)st->min;
        /* 2^64 itself does not convert: the top of the range is UINT64_MAX. */
        uint64_t hi = st->max >= 18446744073709551615.0 ? UINT64_MAX : (uint64_t)st->max;
        if (!cli_parse_u64(cmd, st->opt, s, lo, hi, &v))
            return 0;
        if (st->kind == K_U64)
            *(uint64_t *)st->field = v;
        else if (st->kind == K_U32)
            *(uint32_t *)st->field = (uint32_t)v;
        else
            *(int *)st->field = (int)v;
        return 1;
    }
    case K_FLOAT: {
        double v;
        if (!cli_parse_double(cmd, st->opt, s, st->min, st->max, &v))
            return 0;
        if (st->min_open && v <= st->min) {
            if (cmd)
                cli_usage_error(cmd, "%s: must be above %g", st->opt, st->min);
            return 0;
        }
        *(float *)st->field = (float)v;
        return 1;
    }
    }
    return 0;
}

static void setting_format(const setting *st, char *buf, size_t cap)
{
    switch (st->kind) {
    case K_LOSS: snprintf(buf, cap, "%s", loss_names[*(int *)st->field]); break;
    case K_REDUCE: snprintf(buf, cap, "%s", reduce_names[*(int *)st->field]); break;
    case K_U64: snprintf(buf, cap, "%llu", (unsigned long long)*(uint64_t *)st->field); break;
    case K_U32: snprintf(buf, cap, "%u", *(uint32_t *)st->field); break;
    case K_INT: snprintf(buf, cap, "%d", *(int *)st->field); break;
    case K_FLOAT: {
        /* The shortest form that reads back as the same float (0.002, not
         * 0.00200000009). */
        float x = *(float *)st->field;
        for (int digits = 6; digits <= 9; digits++) {
            snprintf(buf, cap, "%.*g", digits, (double)x);
            if (strtof(buf, NULL) == x)
                break;
        }
        break;
    }
    }
}

typedef struct train_args {
    const char *train_path, *test_path, *out, *resume, *keep_best;
    arnet_train_options opt;
    uint32_t hidden;
    float dropout;
    int crop;
    uint64_t save_every, eval_every, progress_every;
    int progress_forced, quiet, force;
    int crop_given, save_every_given, eval_every_given;
    int keep_best_own; /* --keep-best is the resumed run's own */
    char *owned[4]; /* paths taken from a resumed file's metadata */
    int layout;
    int mmap;
    int hidden_given, dropout_given;
    setting settings[16];
    size_t n_settings;
    setting *settings_threads;
} train_args;

static void add_setting(train_args *a, const char *opt, const char *key, enum kind kind,
                        double min, double max, int min_open, void *field)
{
    setting s = {opt, key, kind, min, max, min_open, field, 0};
    a->settings[a->n_settings++] = s;
}

static void args_init(train_args *a)
{
    memset(a, 0, sizeof *a);
    arnet_train_options_init(&a->opt);
    a->dropout = 0.7f;
    a->crop = -1;
    arnet_train_options *o = &a->opt;
    add_setting(a, "--iterations", "train.iterations", K_U64, 0, 1e15, 0, &o->iterations);
    add_setting(a, "--loss", "train.loss", K_LOSS, 0, 0, 0, &o->loss);
    add_setting(a, "--reduce", "train.reduce", K_REDUCE, 0, 0, 0, &o->reduce);
    add_setting(a, "--alpha", "train.alpha", K_FLOAT, 0, 1e9, 1, &o->alpha);
    add_setting(a, "--lambda", "train.lambda", K_FLOAT, 0, 1e9, 0, &o->lambda);
    add_setting(a, "--lr", "train.lr", K_FLOAT, 0, 10, 1, &o->lr);
    add_setting(a, "--weight-decay", "train.weight_decay", K_FLOAT, 0, 10, 0,
                &o->weight_decay);
    add_setting(a, "--batch-normal", "train.batch_normal", K_U32, 1, 1e6, 0,
                &o->normal_per_batch);
    add_setting(a, "--batch-anomalous", "train.batch_anomalous", K_U32, 1, 1e6, 0,
                &o->anomalous_per_batch);
    add_setting(a, "--max-clips", "train.max_clips", K_U32, 1, 4e9, 0, &o->max_clips);
    add_setting(a, "--seed", "train.seed", K_U64, 0, 1.8446744073709552e19, 0, &o->seed);
    add_setting(a, "--threads", "train.threads", K_INT, 1, 1024, 0, &o->threads);
    a->settings_threads = &a->settings[a->n_settings - 1];
}

/* Returns -1 when parsing should stop with exit code *code. */
static int parse_args(train_args *a, int argc, char **argv, int *code)
{
    const char *v;
    for (int i = 1; i < argc; i++) {
        int r = 0;
        const char *arg = argv[i];
        if (!strcmp(arg, "--help") || !strcmp(arg, "-h")) {
            usage(stdout);
            *code = 0;
            return -1;
        }
        if (!strcmp(arg, "--progress")) {
            a->progress_forced = 1;
            continue;
        }
        if (!strcmp(arg, "--quiet") || !strcmp(arg, "-q")) {
            a->quiet = 1;
            continue;
        }
        if (!strcmp(arg, "--force")) {
            a->force = 1;
            continue;
        }
        const char **paths[] = {&a->train_path, &a->test_path, &a->out, &a->resume,
                                &a->keep_best};
        const char *path_opts[] = {"--train", "--test", "--out", "--resume", "--keep-best"};
        int done = 0;
        for (size_t p = 0; p < 5 && !done; p++)
            if ((r = cli_opt_value(CMD, argc, argv, &i, path_opts[p], &v))) {
                if (r < 0)
                    goto usage;
                *paths[p] = v;
                done = 1;
            }
        for (size_t s = 0; s < a->n_settings && !done; s++)
            if ((r = cli_opt_value(CMD, argc, argv, &i, a->settings[s].opt, &v))) {
                if (r < 0 || !setting_parse(&a->settings[s], v, 1))
                    goto usage;
                a->settings[s].given = 1;
                done = 1;
            }
        if (done)
            continue;
        uint64_t u;
        double d;
        if ((r = cli_opt_value(CMD, argc, argv, &i, "--save-every", &v))) {
            if (r < 0 || !cli_parse_u64(CMD, "--save-every", v, 0, UINT64_MAX, &a->save_every))
                goto usage;
            a->save_every_given = 1;
        } else if ((r = cli_opt_value(CMD, argc, argv, &i, "--eval-every", &v))) {
            if (r < 0 || !cli_parse_u64(CMD, "--eval-every", v, 0, UINT64_MAX, &a->eval_every))
                goto usage;
            a->eval_every_given = 1;
        } else if ((r = cli_opt_value(CMD, argc, argv, &i, "--progress-every", &v))) {
            if (r < 0 ||
                !cli_parse_u64(CMD, "--progress-every", v, 1, UINT64_MAX, &a->progress_every))
                goto usage;
        } else if ((r = cli_opt_value(CMD, argc, argv, &i, "--hidden", &v))) {
            if (r < 0 || !cli_parse_u64(CMD, "--hidden", v, 0, 65536, &u))
                goto usage;
            a->hidden = (uint32_t)u;
            a->hidden_given = 1;
        } else if ((r = cli_opt_value(CMD, argc, argv, &i, "--dropout", &v))) {
            if (r < 0 || !cli_parse_double(CMD, "--dropout", v, 0.0, 0.999, &d))
                goto usage;
            a->dropout = (float)d;
            a->dropout_given = 1;
        } else if ((r = cli_opt_value(CMD, argc, argv, &i, "--crop", &v))) {
            if (r < 0 || !cli_parse_u64(CMD, "--crop", v, 0, 1000, &u))
                goto usage;
            a->crop = (int)u;
            a->crop_given = 1;
        } else if (!strcmp(arg, "--mmap")) {
            a->mmap = 1;
        } else if ((r = cli_crop_opts(CMD, argc, argv, &i, &a->layout, &a->crop))) {
            if (r < 0)
                goto usage;
        } else {
            cli_usage_error(CMD, "unknown option or argument '%s'", arg);
            goto usage;
        }
    }
    if (!a->resume && (!a->train_path || !a->out)) {
        cli_usage_error(CMD, "%s is required", !a->train_path ? "--train LIST" : "--out MODEL");
        goto usage;
    }
    return 0;
usage:
    *code = CLI_EXIT_USAGE;
    return -1;
}

/* What a resumed run records of itself (write_meta) fills in what the
 * command line leaves out, so that `arnet train --resume MODEL` alone
 * continues it.  Returns 0 or an exit code (message printed). */
static const char *meta_default(train_args *a, const arnet_model *m, const char *key, int slot)
{
    const char *v = arnet_model_get_meta(m, key);
    if (!v || !*v)
        return NULL;
    return (a->owned[slot] = strdup(v));
}

static int resume_defaults(train_args *a)
{
    arnet_model *m = NULL;
    int rc = arnet_model_load(a->resume, &m);
    if (rc != ARNET_OK)
        return cli_fail(CMD, rc, a->resume);
    const char *v;
    if (!a->train_path && !(a->train_path = meta_default(a, m, "train.manifest", 0))) {
        arnet_model_free(m);
        return cli_usage_error(CMD, "--resume %s: the file does not record its training "
                               "manifest: give --train LIST", a->resume);
    }
    if (!a->out)
        a->out = a->resume; /* continuing its own checkpoint */
    if (!a->test_path)
        a->test_path = meta_default(a, m, "test.manifest", 1);
    const char *kb = arnet_model_get_meta(m, "test.keep_best");
    if (!a->keep_best && kb)
        a->keep_best = meta_default(a, m, "test.keep_best", 2);
    a->keep_best_own = a->keep_best && kb && cli_same_file(a->keep_best, kb);
    /* Numbers the file records go through the options' own parser: one
     * that is not a number in range is refused, not wrapped or read as 0. */
    uint64_t u;
    const char *bad = NULL;
    if (!a->crop_given && (v = arnet_model_get_meta(m, "train.crop"))) {
        if (!strcmp(v, "-1"))
            a->crop = -1;
        else if (cli_parse_u64(NULL, NULL, v, 0, 1000, &u))
            a->crop = (int)u;
        else
            bad = "train.crop";
    }
    if (!a->save_every_given && (v = arnet_model_get_meta(m, "train.save_every"))) {
        if (!cli_parse_u64(NULL, NULL, v, 0, UINT64_MAX, &a->save_every))
            bad = "train.save_every";
    }
    if (!a->eval_every_given && (v = arnet_model_get_meta(m, "test.eval_every"))) {
        if (!cli_parse_u64(NULL, NULL, v, 0, UINT64_MAX, &a->eval_every))
            bad = "test.eval_every";
    }
    if (bad) {
        fprintf(stderr, "arnet train: --resume %s: its %s is '%s', not a number in range\n",
                a->resume, bad, arnet_model_get_meta(m, bad));
        arnet_model_free(m);
        return CLI_EXIT_FAIL;
    }
    arnet_model_free(m);
    return 0;
}

/* After resume_defaults: the options that need a test list. */
static int check_test_options(const train_args *a)
{
    if (a->keep_best && !a->test_path)
        return cli_usage_error(CMD, "--keep-best needs --test LIST");
    if (a->eval_every && !a->test_path)
        return cli_usage_error(CMD, "--eval-every needs --test LIST");
    return 0;
}

/* ---- the run --------------------------------------------------------------- */

static volatile sig_atomic_t interrupted;

static void on_sigint(int sig)
{
    (void)sig;
    interrupted = 1;
}

typedef struct run {
    train_args *a;
    arnet_model *model;
    arnet_dataset *train, *test;
    arnet_trainer *trainer;
    int show_progress;
    int have_eval; /* last/best evaluation known */
    double last_auc, last_far, best_auc, best_far;
    uint64_t last_step, best_step;
} run;

static void format_duration(char *buf, size_t cap, double secs)
{
    if (!isfinite(secs) || secs < 0)
        snprintf(buf, cap, "?");
    else if (secs < 60)
        snprintf(buf, cap, "%.0fs", secs);
    else if (secs < 3600)
        snprintf(buf, cap, "%dm %02ds", (int)(secs / 60), (int)fmod(secs, 60));
    else
        snprintf(buf, cap, "%dh %02dm", (int)(secs / 3600), (int)fmod(secs / 60, 60));
}

static int set_meta(run *r, const char *key, const char *value)
{
    int rc = arnet_model_set_meta(r->model, key, value);
    if (rc != ARNET_OK)
        cli_fail(CMD, rc, key);
    return rc;
}

static int set_meta_double(run *r, const char *key, double v)
{
    char buf[64];
    snprintf(buf, sizeof buf, "%.9g", v);
    return set_meta(r, key, buf);
}

/* The library's digest of the training data (arnet_dataset_digest) as 16
 * hex digits, as arnet_trainer_save records it. */
static void data_digest(const arnet_dataset *ds, char out[17])
{
    uint64_t h = 0;
    if (arnet_dataset_digest(ds, &h) != ARNET_OK)
        h = 0;
    snprintf(out, 17, "%016llx", (unsigned long long)h);
}

static int set_meta_path(run *r, const char *key, const char *path)
{
    char *abs = cli_abs_path(path);
    int rc = set_meta(r, key, abs ? abs : path);
    free(abs);
    return rc;
}

/* Training settings and results into the model's metadata, so that the
 * file says how it was made (arnet info shows them) and --resume can
 * continue with the same settings. */
static int write_meta(run *r)
{
    char buf[64];
    train_args *a = r->a;
    /* The library that wrote the file (the checkpoint writer only adds it
     * when missing, which would keep a resumed file's first version). */
    int rc = set_meta(r, "library_version", arnet_version());
    for (size_t i = 0; i < a->n_settings && !rc; i++) {
        setting_format(&a->settings[i], buf, sizeof buf);
        rc = set_meta(r, a->settings[i].key, buf);
    }
    /* Absolute paths and the file options: what --resume alone needs. */
    if (!rc)
        rc = set_meta_path(r, "train.manifest", a->train_path);
    if (!rc) {
        snprintf(buf, sizeof buf, "%d", a->crop);
        rc = set_meta(r, "train.crop", buf);
    }
    if (!rc) {
        snprintf(buf, sizeof buf, "%llu", (unsigned long long)a->save_every);
        rc = set_meta(r, "train.save_every", buf);
    }
    if (!rc) {
        snprintf(buf, sizeof buf, "%zu", arnet_dataset_count(r->train, 0));
        rc = set_meta(r, "train.videos_normal", buf);
    }
    if (!rc) {
        snprintf(buf, sizeof buf, "%zu", arnet_dataset_count(r->train, 1));
        rc = set_meta(r, "train.videos_anomalous", buf);
    }
    if (!rc) {
        data_digest(r->train, buf);
        rc = set_meta(r, "train.data_digest", buf);
    }
    if (!rc) {
        snprintf(buf, sizeof buf, "%llu", (unsigned long long)arnet_trainer_steps(r->trainer));
        rc = set_meta(r, "train.steps", buf);
    }
    if (!rc && a->test_path)
        rc = set_meta_path(r, "test.manifest", a->test_path);
    if (!rc && a->test_path) {
        snprintf(buf, sizeof buf, "%llu", (unsigned long long)a->eval_every);
        rc = set_meta(r, "test.eval_every", buf);
    }
    if (!rc && a->keep_best)
        rc = set_meta_path(r, "test.keep_best", a->keep_best);
    if (!rc && r->have_eval) {
        snprintf(buf, sizeof buf, "%llu", (unsigned long long)r->last_step);
        rc = set_meta(r, "test.step", buf);
        if (!rc)
            rc = set_meta_double(r, "test.auc", r->last_auc);
        if (!rc)
            rc = set_meta_double(r, "test.far", r->last_far);
        snprintf(buf, sizeof buf, "%llu", (unsigned long long)r->best_step);
        if (!rc)
            rc = set_meta(r, "test.best_step", buf);
        if (!rc)
            rc = set_meta_double(r, "test.best_auc", r->best_auc);
        if (!rc)
            rc = set_meta_double(r, "test.best_far", r->best_far);
    }
    return rc;
}

static int save_run(run *r)
{
    if (write_meta(r) != ARNET_OK)
        return -1;
    int rc = arnet_trainer_save(r->trainer, r->a->out);
    if (rc != ARNET_OK) {
        cli_progress_done();
        cli_fail(CMD, rc, r->a->out);
        return -1;
    }
    return 0;
}

/* Evaluate on the test list; prints one line, and the table at the end. */
static int evaluate(run *r, int final)
{
    arnet_eval_result res;
    arnet_eval_result_init(&res);
    int rc = arnet_evaluate(r->model, r->test, &res);
    if (rc != ARNET_OK) {
        cli_progress_done();
        cli_fail(CMD, rc, r->a->test_path);
        return -1;
    }
    uint64_t step = arnet_trainer_steps(r->trainer);
    int better = !r->have_eval || res.auc > r->best_auc || (isnan(r->best_auc) && !isnan(res.auc));
    r->last_auc = res.auc;
    r->last_far = res.far;
    r->last_step = step;
    if (better) {
        r->best_auc = res.auc;
        r->best_far = res.far;
        r->best_step = step;
    }
    r->have_eval = 1;
    int status = 0;
    if (better && r->a->keep_best) {
        if (write_meta(r) != ARNET_OK)
            status = -1;
        else if ((rc = arnet_model_save(r->model, r->a->keep_best)) != ARNET_OK) {
            cli_progress_done();
            cli_fail(CMD, rc, r->a->keep_best);
            status = -1;
        }
    }
    if (!r->a->quiet) {
        cli_progress_done();
        if (final) {
            printf("\ntest set %s after %llu steps:\n", r->a->test_path,
                   (unsigned long long)step);
            cli_eval_print_table(stdout, &res, 0);
            if (r->best_step != step)
                printf("  best test AUC %.2f %% (FAR %.2f %%) at step %llu%s%s\n",
                       100 * r->best_auc, 100 * r->best_far,
                       (unsigned long long)r->best_step, r->a->keep_best ? ", kept in " : "",
                       r->a->keep_best ? r->a->keep_best : "");
        } else {
            printf("step %llu: test AUC %.2f %%, FAR %.2f %%%s\n", (unsigned long long)step,
                   100 * res.auc, 100 * res.far,
                   better && r->a->keep_best ? " (best so far, saved)" : "");
        }
        fflush(stdout);
    }
    arnet_eval_result_free(&res);
    return status;
}

/* Step until the target, with progress, periodic saves and evaluations. */
static int train_loop(run *r, double *train_secs)
{
    train_args *a = r->a;
    uint64_t target = a->opt.iterations, start = arnet_trainer_steps(r->trainer);
    double t0 = cli_now(), eval_secs = 0, last_draw = 0;
    double sum_loss = 0, sum_mil = 0, sum_center = 0;
    uint64_t n_sum = 0;
    /* On a terminal the line is redrawn 5 times a second; in a log it is
     * a line every progress_every steps (default 5 % of the run). */
    int tty = isatty(STDERR_FILENO);
    uint64_t every = a->progress_every ? a->progress_every : (target + 19) / 20;
    if (every == 0)
        every = 1;
    while (arnet_trainer_steps(r->trainer) < target && !interrupted) {
        arnet_step_stats st;
        arnet_step_stats_init(&st);
        int rc = arnet_trainer_step(r->trainer, &st);
        if (rc != ARNET_OK) {
            cli_progress_done();
            return cli_fail(CMD, rc, "training step");
        }
        sum_loss += st.loss;
        sum_mil += st.loss_dmil;
        sum_center += st.loss_center;
        n_sum++;
        uint64_t step = st.step;
        double now = cli_now();
        if (r->show_progress &&
            (step == target || (tty ? now - last_draw >= cli_progress_interval()
                                    : step % every == 0))) {
            double secs = now - t0 - eval_secs;
            double rate = secs > 0 ? (double)(step - start) / secs : 0;
            char left[32];
            format_duration(left, sizeof left, rate > 0 ? (double)(target - step) / rate : -1);
            /* Under 80 columns even at 7-digit step counts: a wrapped line
             * cannot be redrawn with \r. */
            char parts[48] = "";
            if (a->opt.loss == ARNET_LOSS_DMIL_CENTER)
                snprintf(parts, sizeof parts, " (mil %.4f, center %.4f)", sum_mil / n_sum,
                         sum_center / n_sum);
            cli_progress_line("step %llu/%llu  loss %.4f%s  %.1f/s  %s left",
                              (unsigned long long)step, (unsigned long long)target,
                              sum_loss / n_sum, parts, rate, left);
            sum_loss = sum_mil = sum_center = 0;
            n_sum = 0;
            last_draw = now;
        }
        if (a->eval_every && step % a->eval_every == 0 && step < target) {
            double e0 = cli_now();
            if (evaluate(r, 0) != 0)
                return CLI_EXIT_FAIL;
            eval_secs += cli_now() - e0;
        }
        if (a->save_every && step % a->save_every == 0 && step < target) {
            double s0 = cli_now();
            if (save_run(r) != 0)
                return CLI_EXIT_FAIL;
            eval_secs += cli_now() - s0;
        }
    }
    cli_progress_done();
    *train_secs = cli_now() - t0 - eval_secs;
    return 0;
}

/* ---- set-up ------------------------------------------------------------------- */

static int load_data(run *r)
{
    arnet_load_options lo;
    arnet_load_options_init(&lo);
    lo.crop = r->a->crop;
    int rc = cli_manifest_kind(CMD, "--train", r->a->train_path);
    if (!rc && r->a->test_path)
        rc = cli_manifest_kind(CMD, "--test", r->a->test_path);
    if (rc)
        return rc;
    lo.layout = r->a->layout;
    lo.mmap = r->a->mmap;
    rc = arnet_dataset_load_manifest(r->a->train_path, &lo, &r->train);
    if (rc != ARNET_OK)
        return cli_fail(CMD, rc, r->a->train_path);
    if (r->a->test_path) {
        lo.feature_dim = arnet_dataset_feature_dim(r->train);
        rc = arnet_dataset_load_manifest(r->a->test_path, &lo, &r->test);
        if (rc != ARNET_OK)
            return cli_fail(CMD, rc, r->a->test_path);
    }
    return 0;
}

/* A rate recorded by set_meta_double: 0..1, or NaN (an AUC with one class). */
static int meta_rate(const char *s, double *out)
{
    if (!strcmp(s, "nan") || !strcmp(s, "-nan")) {
        *out = NAN;
        return 1;
    }
    return cli_parse_double(NULL, NULL, s, 0.0, 1.0, out);
}

/* The evaluations of the resumed run on the same test list, so that
 * --keep-best only replaces its best with a better one. */
static void resume_best(run *r)
{
    const char *m = arnet_model_get_meta(r->model, "test.manifest");
    const char *keys[6] = {"test.step", "test.auc", "test.far", "test.best_step",
                           "test.best_auc", "test.best_far"};
    const char *v[6];
    if (!r->a->test_path || !m || !cli_same_file(m, r->a->test_path))
        return;
    for (int i = 0; i < 6; i++)
        if (!(v[i] = arnet_model_get_meta(r->model, keys[i])))
            return;
    uint64_t ls, bs;
    double la, lf, ba, bf;
    /* a record that does not read as numbers is ignored (no best to keep) */
    if (!cli_parse_u64(NULL, NULL, v[0], 0, UINT64_MAX, &ls) ||
        !meta_rate(v[1], &la) || !meta_rate(v[2], &lf) ||
        !cli_parse_u64(NULL, NULL, v[3], 0, UINT64_MAX, &bs) || !meta_rate(v[4], &ba) ||
        !meta_rate(v[5], &bf))
        return;
    r->last_step = ls;
    r->last_auc = la;
    r->last_far = lf;
    r->best_step = bs;
    r->best_auc = ba;
    r->best_far = bf;
    r->have_eval = 1;
}

/* A resumed run keeps its settings: arnet_trainer_restore takes them from
 * the file (all but the step target and the thread count).  Settings not
 * given on the command line are read from the file's metadata; given ones
 * must agree with it, so that the command that started a run, plus
 * --resume, continues it, and a changed value is refused rather than
 * silently ignored. */
static int may_change_on_resume(const setting *st)
{
    return !strcmp(st->opt, "--iterations") || !strcmp(st->opt, "--threads");
}

/* Whether text v (from the file) holds the setting's current value,
 * compared as values, not spellings. */
static int same_value(const setting *st, const char *v)
{
    union {
        uint64_t u64;
        uint32_t u32;
        int i;
        float f;
    } tmp;
    setting copy = *st;
    copy.field = &tmp;
    if (!setting_parse(&copy, v, 0))
        return 0;
    char a[64], b[64];
    setting_format(st, a, sizeof a);
    setting_format(&copy, b, sizeof b);
    return !strcmp(a, b);
}

static int resume_settings(run *r)
{
    train_args *a = r->a;
    char buf[64];
    for (size_t i = 0; i < a->n_settings; i++) {
        setting *st = &a->settings[i];
        const char *v = arnet_model_get_meta(r->model, st->key);
        if (st->given) {
            if (may_change_on_resume(st))
                continue;
            setting_format(st, buf, sizeof buf);
            if (v && same_value(st, v))
                continue;
            fprintf(stderr,
                    "arnet %s: %s: a resumed run keeps its settings; %s %s %s%s\n", CMD,
                    a->resume, st->opt, buf,
                    v ? "differs from the file's " : "cannot be checked against the file "
                                                     "(no training metadata): leave it out",
                    v ? v : "");
            return CLI_EXIT_USAGE;
        }
        if (v && !setting_parse(st, v, 0)) {
            fprintf(stderr, "arnet %s: %s: bad %s value '%s' in the file\n", CMD, a->resume,
                    st->key, v);
            return CLI_EXIT_FAIL;
        }
    }
    /* The same data, in the same order: the sampler draws video indices. */
    const char *was = arnet_model_get_meta(r->model, "train.data_digest");
    if (was) {
        char now[17];
        data_digest(r->train, now);
        if (strcmp(was, now) != 0) {
            const char *vn = arnet_model_get_meta(r->model, "train.videos_normal");
            const char *va = arnet_model_get_meta(r->model, "train.videos_anomalous");
            fprintf(stderr,
                    "arnet %s: %s: the training data differ from the run's (it trained on "
                    "%s normal + %s anomalous videos, data digest %s; %s gives %zu + %zu, "
                    "digest %s).  A resumed run needs the same videos in the same order "
                    "and the same --crop.\n",
                    CMD, a->resume, vn ? vn : "?", va ? va : "?", was, a->train_path,
                    arnet_dataset_count(r->train, 0), arnet_dataset_count(r->train, 1), now);
            return CLI_EXIT_USAGE;
        }
    }
    resume_best(r);
    arnet_model_config cfg;
    arnet_model_config_init(&cfg);
    int rc = arnet_model_get_config(r->model, &cfg);
    if (rc != ARNET_OK)
        return cli_fail(CMD, rc, a->resume);
    if ((a->hidden_given && a->hidden && a->hidden != cfg.hidden_dim) ||
        (a->dropout_given && a->dropout != cfg.dropout)) {
        fprintf(stderr, "arnet %s: --hidden and --dropout are fixed by the model in %s "
                        "(%u hidden units, dropout %g)\n",
                CMD, a->resume, cfg.hidden_dim, (double)cfg.dropout);
        return CLI_EXIT_USAGE;
    }
    return 0;
}

static int make_model(run *r)
{
    train_args *a = r->a;
    int rc;
    uint32_t F = arnet_dataset_feature_dim(r->train);
    if (a->resume) {
        rc = arnet_model_load(a->resume, &r->model);
        if (rc != ARNET_OK)
            return cli_fail(CMD, rc, a->resume);
        if (arnet_model_feature_dim(r->model) != F) {
            fprintf(stderr, "arnet %s: %s has %u features per clip but %s has %u\n", CMD,
                    a->resume, arnet_model_feature_dim(r->model), a->train_path, F);
            return CLI_EXIT_FAIL;
        }
        return resume_settings(r);
    }
    arnet_model_config cfg;
    arnet_model_config_init(&cfg);
    cfg.feature_dim = F;
    cfg.hidden_dim = a->hidden;
    cfg.dropout = a->dropout;
    cfg.seed = a->opt.seed;
    rc = arnet_model_create(&cfg, &r->model);
    if (rc != ARNET_OK)
        return cli_fail(CMD, rc, "model");
    return 0;
}

static int make_trainer(run *r)
{
    int rc = arnet_trainer_create(r->model, r->train, &r->a->opt, &r->trainer);
    if (rc != ARNET_OK)
        return cli_fail(CMD, rc, "trainer");
    if (r->a->resume) {
        rc = arnet_trainer_restore(r->trainer, r->a->resume);
        if (rc != ARNET_OK)
            return cli_fail(CMD, rc, r->a->resume);
    }
    return 0;
}

/* Refuse an output folder that cannot be written before training, not
 * after it. */
static int writable_folder(const char *path)
{
    const char *slash = strrchr(path, '/');
    size_t n = slash ? (size_t)(slash - path) : 1;
    char *dir = malloc(n + 1);
    if (!dir)
        return 1;
    if (!slash)
        memcpy(dir, ".", 2);
    else if (n == 0)
        memcpy(dir, "/", 2);
    else {
        memcpy(dir, path, n);
        dir[n] = '\0';
    }
    int ok = access(dir, W_OK | X_OK) == 0;
    if (!ok)
        fprintf(stderr, "arnet %s: cannot write %s: folder %s: %s\n", CMD, path, dir,
                strerror(errno));
    free(dir);
    return ok;
}

static void print_header(const run *r)
{
    const train_args *a = r->a;
    /* The options in effect: after a restore, the run's own. */
    arnet_train_options in_effect;
    arnet_train_options_init(&in_effect);
    const arnet_train_options *o =
        arnet_trainer_get_options(r->trainer, &in_effect) == ARNET_OK ? &in_effect : &a->opt;
    arnet_model_config cfg;
    arnet_model_config_init(&cfg);
    if (arnet_model_get_config(r->model, &cfg) != ARNET_OK)
        cfg.dropout = a->dropout;
    printf("training on %s: %zu videos (%zu normal, %zu anomalous), %u features per clip\n",
           a->train_path, arnet_dataset_size(r->train), arnet_dataset_count(r->train, 0),
           arnet_dataset_count(r->train, 1), arnet_dataset_feature_dim(r->train));
    printf("model %u -> %u -> 1, dropout %g; loss %s (alpha %g", arnet_model_feature_dim(r->model),
           arnet_model_hidden_dim(r->model), (double)cfg.dropout, loss_names[o->loss],
           (double)o->alpha);
    if (o->loss == ARNET_LOSS_DMIL_CENTER)
        printf(", lambda %g", (double)o->lambda);
    printf("), reduce %s; Adam lr %g, weight decay %g; %u + %u videos per step, "
           "at most %u clips each; seed %llu, %d thread%s\n",
           reduce_names[o->reduce], (double)o->lr, (double)o->weight_decay,
           o->normal_per_batch, o->anomalous_per_batch, o->max_clips,
           (unsigned long long)o->seed, o->threads, o->threads == 1 ? "" : "s");
    uint64_t done = arnet_trainer_steps(r->trainer);
    if (a->resume)
        printf("resuming %s at step %llu of %llu\n", a->resume, (unsigned long long)done,
               (unsigned long long)o->iterations);
    else
        printf("%llu steps\n", (unsigned long long)o->iterations);
    fflush(stdout);
}

/* Library field names in messages -> the options of this command. */
static const char *const train_option_names[][2] = {
    {"normal_per_batch", "--batch-normal"}, {"anomalous_per_batch", "--batch-anomalous"},
    {"alpha", "--alpha"}, {"lambda", "--lambda"}, {"lr", "--lr"},
    {"weight_decay", "--weight-decay"}, {"max_clips", "--max-clips"},
    {"threads", "--threads"}, {"iterations", "--iterations"}, {"seed", "--seed"},
    {"hidden_dim", "--hidden"}, {"dropout", "--dropout"}, {"crop", "--crop"},
    {NULL, NULL}};

/* The outputs (--out, --keep-best): not an input, not an existing file
 * unless --force (or --out continuing its own --resume), locked for the
 * run.  Before the data are loaded (manifests only) and after (every
 * feature file: ds given).  Returns 0 or an exit code. */
static int check_outputs(train_args *a, cli_output *outs, size_t n, const arnet_dataset *train,
                         const arnet_dataset *test)
{
    int rc = 0;
    for (size_t k = 0; k < n && !rc; k++) {
        rc = cli_output_not_in_dataset(CMD, &outs[k], "--train", a->train_path, train);
        if (!rc && a->test_path)
            rc = cli_output_not_in_dataset(CMD, &outs[k], "--test", a->test_path, test);
    }
    return rc;
}

static int claim_outputs(train_args *a, cli_output *outs, size_t n)
{
    int rc = check_outputs(a, outs, n, NULL, NULL);
    if (!rc && n == 2 && cli_same_file(outs[0].path, outs[1].path))
        rc = cli_usage_error(CMD, "--keep-best and --out name the same file %s", a->out);
    /* Locked before the existence check, so that a second arnet writing
     * the same file hears "in use", not "exists". */
    for (size_t k = 0; k < n && !rc; k++)
        rc = cli_output_lock(CMD, &outs[k]);
    for (size_t k = 0; k < n && !rc; k++) {
        int own = k == 0 ? a->resume && cli_same_file(a->out, a->resume) : a->keep_best_own;
        if (!own)
            rc = cli_output_absent(CMD, &outs[k], NULL, a->force, k == 0 ? "--resume" : NULL);
    }
    return rc;
}

int cmd_train(int argc, char **argv)
{
    train_args a;
    args_init(&a);
    int code = 0;
    cli_set_option_names(train_option_names);
    if (parse_args(&a, argc, argv, &code) < 0)
        return code;
    run r;
    memset(&r, 0, sizeof r);
    r.a = &a;
    cli_output outs[2];
    size_t n_outs = 0;
    if (a.resume && (code = resume_defaults(&a)) != 0)
        goto done;
    if ((code = check_test_options(&a)) != 0)
        goto done;
    /* Every processor unless told (a resumed run keeps its file's count). */
    if (!a.settings_threads->given && !a.resume)
        a.opt.threads = cli_cpu_count();
    r.show_progress = !a.quiet && cli_progress_enabled(a.progress_forced);
    if (!writable_folder(a.out) || (a.keep_best && !writable_folder(a.keep_best))) {
        code = CLI_EXIT_FAIL;
        goto done;
    }
    cli_output_init(&outs[n_outs++], "--out", a.out, 0);
    if (a.keep_best)
        cli_output_init(&outs[n_outs++], "--keep-best", a.keep_best, 0);
    if ((code = claim_outputs(&a, outs, n_outs)) != 0)
        goto done;
    code = load_data(&r);
    if (!code)
        code = check_outputs(&a, outs, n_outs, r.train, r.test);
    if (!code)
        code = make_model(&r);
    if (!code)
        code = make_trainer(&r);
    if (code)
        goto done;
    if (!a.quiet)
        print_header(&r);

    struct sigaction sa, old;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_sigint;
    sa.sa_flags = SA_RESETHAND; /* a second Ctrl-C stops at once */
    sigemptyset(&sa.sa_mask);
    interrupted = 0;
    sigaction(SIGINT, &sa, &old);
    double secs = 0;
    uint64_t before = arnet_trainer_steps(r.trainer);
    code = train_loop(&r, &secs);
    sigaction(SIGINT, &old, NULL);
    if (code)
        goto done;
    uint64_t steps = arnet_trainer_steps(r.trainer);
    if (interrupted) {
        if (save_run(&r) != 0) {
            code = CLI_EXIT_FAIL;
            goto done;
        }
        fprintf(stderr,
                "arnet %s: interrupted after step %llu; saved %s (continue with: arnet train "
                "--resume %s)\n",
                CMD, (unsigned long long)steps, a.out, a.out);
        code = CLI_EXIT_INTERRUPTED;
        goto done;
    }
    if (r.test && evaluate(&r, 1) != 0) {
        code = CLI_EXIT_FAIL;
        goto done;
    }
    if (save_run(&r) != 0) {
        code = CLI_EXIT_FAIL;
        goto done;
    }
    if (!a.quiet) {
        char d[32];
        format_duration(d, sizeof d, secs);
        if (steps > before)
            printf("\n%llu steps in %s (%.1f steps/s); wrote %s\n",
                   (unsigned long long)(steps - before), d, (double)(steps - before) / secs,
                   a.out);
        else
            printf("\nalready at %llu of %llu steps; wrote %s\n", (unsigned long long)steps,
                   (unsigned long long)a.opt.iterations, a.out);
    }
done:
    arnet_trainer_free(r.trainer);
    arnet_model_free(r.model);
    arnet_dataset_free(r.train);
    arnet_dataset_free(r.test);
    for (size_t k = 0; k < n_outs; k++)
        cli_output_release(&outs[k]);
    for (size_t k = 0; k < sizeof a.owned / sizeof a.owned[0]; k++)
        free(a.owned[k]);
    cli_set_option_names(NULL);
    return code;
}
