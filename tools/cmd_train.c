/* cmd_train.c -- `arnet train`: argv, progress lines, Ctrl-C and output
 * locking over the library's training run (arnet_run: data, evaluation,
 * keep-best, checkpoints and resuming are the library's). */
#define _POSIX_C_SOURCE 200809L
#include <limits.h>
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

/* ---- options ----------------------------------------------------------------- */

/* The training options on the command line: parsed here, checked by the
 * library (arnet_trainer_create names a bad field; the names map below
 * turns it into the option). */
enum kind { K_U64, K_U32, K_INT, K_FLOAT, K_LOSS, K_REDUCE };

typedef struct setting {
    const char *opt;
    enum kind kind;
    void *field;
    int given;
} setting;

typedef struct train_args {
    const char *train_path, *test_path, *out, *resume, *keep_best;
    arnet_train_options opt;
    arnet_model_config model;
    int crop, layout, mmap;
    uint64_t save_every, eval_every, progress_every;
    int progress_forced, quiet, force;
    int crop_given, layout_given, mmap_given, save_every_given, eval_every_given;
    int hidden_given, dropout_given;
    setting settings[12];
    size_t n_settings;
} train_args;

static void add_setting(train_args *a, const char *opt, enum kind kind, void *field)
{
    setting s = {opt, kind, field, 0};
    a->settings[a->n_settings++] = s;
}

static setting *find_setting(train_args *a, const char *opt)
{
    for (size_t i = 0; i < a->n_settings; i++)
        if (!strcmp(a->settings[i].opt, opt))
            return &a->settings[i];
    return NULL;
}

static void args_init(train_args *a)
{
    memset(a, 0, sizeof *a);
    arnet_train_options_init(&a->opt);
    arnet_model_config_init(&a->model);
    a->crop = -1;
    arnet_train_options *o = &a->opt;
    add_setting(a, "--iterations", K_U64, &o->iterations);
    add_setting(a, "--loss", K_LOSS, &o->loss);
    add_setting(a, "--reduce", K_REDUCE, &o->reduce);
    add_setting(a, "--alpha", K_FLOAT, &o->alpha);
    add_setting(a, "--lambda", K_FLOAT, &o->lambda);
    add_setting(a, "--lr", K_FLOAT, &o->lr);
    add_setting(a, "--weight-decay", K_FLOAT, &o->weight_decay);
    add_setting(a, "--batch-normal", K_U32, &o->normal_per_batch);
    add_setting(a, "--batch-anomalous", K_U32, &o->anomalous_per_batch);
    add_setting(a, "--max-clips", K_U32, &o->max_clips);
    add_setting(a, "--seed", K_U64, &o->seed);
    add_setting(a, "--threads", K_INT, &o->threads);
}

/* A loss or reduction by the library's name for it. */
static int parse_name(const char *opt, const char *s, int is_loss, int *out)
{
    const char *name;
    for (int i = 0; (name = is_loss ? arnet_loss_name(i) : arnet_reduce_name(i)); i++)
        if (!strcmp(name, s)) {
            *out = i;
            return 1;
        }
    char list[128] = "";
    for (int i = 0; (name = is_loss ? arnet_loss_name(i) : arnet_reduce_name(i)); i++)
        snprintf(list + strlen(list), sizeof list - strlen(list), "%s%s", i ? ", " : "", name);
    cli_usage_error(CMD, "%s: '%s' is not one of %s", opt, s, list);
    return 0;
}

static int setting_parse(setting *st, const char *s)
{
    uint64_t v;
    double d;
    switch (st->kind) {
    case K_LOSS:
    case K_REDUCE:
        return parse_name(st->opt, s, st->kind == K_LOSS, (int *)st->field);
    case K_U64:
        return cli_parse_u64(CMD, st->opt, s, 0, UINT64_MAX, (uint64_t *)st->field);
    case K_U32:
        if (!cli_parse_u64(CMD, st->opt, s, 0, UINT32_MAX, &v))
            return 0;
        *(uint32_t *)st->field = (uint32_t)v;
        return 1;
    case K_INT:
        if (!cli_parse_u64(CMD, st->opt, s, 0, INT_MAX, &v))
            return 0;
        *(int *)st->field = (int)v;
        return 1;
    case K_FLOAT:
        if (!cli_parse_double(CMD, st->opt, s, -HUGE_VAL, HUGE_VAL, &d))
            return 0;
        *(float *)st->field = (float)d;
        return 1;
    }
    return 0;
}

/* The setting's value in o (an arnet_train_options laid out as a->opt). */
static int setting_equal(const train_args *a, const setting *st, const arnet_train_options *o)
{
    size_t off = (size_t)((const char *)st->field - (const char *)&a->opt);
    const void *x = st->field, *y = (const char *)o + off;
    switch (st->kind) {
    case K_LOSS:
    case K_REDUCE:
    case K_INT: return *(const int *)x == *(const int *)y;
    case K_U64: return *(const uint64_t *)x == *(const uint64_t *)y;
    case K_U32: return *(const uint32_t *)x == *(const uint32_t *)y;
    case K_FLOAT: return *(const float *)x == *(const float *)y;
    }
    return 0;
}

static void setting_format(const setting *st, const void *field, char *buf, size_t cap)
{
    switch (st->kind) {
    case K_LOSS: snprintf(buf, cap, "%s", arnet_loss_name(*(const int *)field)); break;
    case K_REDUCE: snprintf(buf, cap, "%s", arnet_reduce_name(*(const int *)field)); break;
    case K_U64: snprintf(buf, cap, "%llu", (unsigned long long)*(const uint64_t *)field); break;
    case K_U32: snprintf(buf, cap, "%u", *(const uint32_t *)field); break;
    case K_INT: snprintf(buf, cap, "%d", *(const int *)field); break;
    case K_FLOAT: snprintf(buf, cap, "%g", (double)*(const float *)field); break;
    }
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
        if (!strcmp(arg, "--mmap")) {
            a->mmap = a->mmap_given = 1;
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
                if (r < 0 || !setting_parse(&a->settings[s], v))
                    goto usage;
                a->settings[s].given = 1;
                done = 1;
            }
        if (done)
            continue;
        uint64_t u;
        double d;
        int layout = a->layout;
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
            a->model.hidden_dim = (uint32_t)u;
            a->hidden_given = 1;
        } else if ((r = cli_opt_value(CMD, argc, argv, &i, "--dropout", &v))) {
            if (r < 0 || !cli_parse_double(CMD, "--dropout", v, 0.0, 0.999, &d))
                goto usage;
            a->model.dropout = (float)d;
            a->dropout_given = 1;
        } else if ((r = cli_opt_value(CMD, argc, argv, &i, "--crop", &v))) {
            if (r < 0 || !cli_parse_u64(CMD, "--crop", v, 0, 1000, &u))
                goto usage;
            a->crop = (int)u;
            a->crop_given = 1;
        } else if ((r = cli_crop_opts(CMD, argc, argv, &i, &a->layout, &a->crop))) {
            if (r < 0)
                goto usage;
            if (a->layout != layout)
                a->layout_given = 1;
            else
                a->crop_given = 1;
        } else {
            cli_usage_error(CMD, "unknown option or argument '%s'", arg);
            goto usage;
        }
    }
    /* The library's ranges, one option at a time, before anything is read. */
    for (size_t s = 0; s < a->n_settings; s++) {
        const setting *st = &a->settings[s];
        if (!st->given)
            continue;
        arnet_train_options one;
        arnet_train_options_init(&one);
        size_t off = (size_t)((const char *)st->field - (const char *)&a->opt);
        size_t size = st->kind == K_U64 ? sizeof(uint64_t)
                      : st->kind == K_U32 ? sizeof(uint32_t)
                      : st->kind == K_FLOAT ? sizeof(float) : sizeof(int);
        memcpy((char *)&one + off, st->field, size);
        if (arnet_train_options_check(&one) != ARNET_OK) {
            char msg[1024];
            cli_user_message(arnet_last_error(), msg, sizeof msg);
            cli_usage_error(CMD, "%s: out of range (%s)", st->opt, msg);
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

/* ---- progress, evaluation lines, Ctrl-C --------------------------------------- */

typedef struct view {
    const train_args *a;
    const char *keep_best;
    int show_progress, tty;
    uint64_t start, every;
    double t0, last_draw, eval_secs, eval_t0;
    double sum_loss, sum_mil, sum_center;
    uint64_t n_sum;
    int center; /* the loss has a center part */
} view;

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

/* After each step: the progress line (redrawn 5 times a second on a
 * terminal; in a log a line every progress_every steps, default 5 % of
 * the run), and Ctrl-C, which cancels the run after this step. */
static int on_step(void *user, const arnet_step_stats *st, uint64_t target)
{
    view *w = user;
    w->sum_loss += st->loss;
    w->sum_mil += st->loss_dmil;
    w->sum_center += st->loss_center;
    w->n_sum++;
    uint64_t step = st->step;
    double now = cli_now();
    if (w->show_progress &&
        (step == target ||
         (w->tty ? now - w->last_draw >= cli_progress_interval() : step % w->every == 0))) {
        double secs = now - w->t0 - w->eval_secs;
        double rate = secs > 0 ? (double)(step - w->start) / secs : 0;
        char left[32];
        format_duration(left, sizeof left, rate > 0 ? (double)(target - step) / rate : -1);
        /* Under 80 columns even at 7-digit step counts: a wrapped line
         * cannot be redrawn with \r. */
        char parts[48] = "";
        if (w->center)
            snprintf(parts, sizeof parts, " (mil %.4f, center %.4f)", w->sum_mil / w->n_sum,
                     w->sum_center / w->n_sum);
        cli_progress_line("step %llu/%llu  loss %.4f%s  %.1f/s  %s left",
                          (unsigned long long)step, (unsigned long long)target,
                          w->sum_loss / w->n_sum, parts, rate, left);
        w->sum_loss = w->sum_mil = w->sum_center = 0;
        w->n_sum = 0;
        w->last_draw = now;
    }
    w->eval_t0 = cli_now(); /* what follows the step until the next one is not training */
    return cli_interrupted() != 0;
}

static int on_eval(void *user, const arnet_run_eval *ev)
{
    view *w = user;
    if (!w->a->quiet) {
        cli_progress_done();
        if (ev->final) {
            printf("\ntest set %s after %llu steps:\n", w->a->test_path,
                   (unsigned long long)ev->step);
            cli_eval_print_table(stdout, ev->result, 0);
            if (ev->best_step != ev->step)
                printf("  best test AUC %.2f %% (FAR %.2f %%) at step %llu%s%s\n",
                       100 * ev->best_auc, 100 * ev->best_far,
                       (unsigned long long)ev->best_step, w->keep_best ? ", kept in " : "",
                       w->keep_best ? w->keep_best : "");
        } else {
            printf("step %llu: test AUC %.2f %%, FAR %.2f %%%s\n", (unsigned long long)ev->step,
                   100 * ev->auc, 100 * ev->far,
                   ev->is_best && w->keep_best ? " (best so far, saved)" : "");
        }
        fflush(stdout);
    }
    w->eval_secs += cli_now() - w->eval_t0;
    w->eval_t0 = cli_now();
    return cli_interrupted() != 0;
}

/* ---- outputs ------------------------------------------------------------------ */

/* The --keep-best file a checkpoint records (the run's pair, or arnet
 * train 0.1's metadata), so that resuming with it is not "replacing an
 * existing file". */
typedef struct recorded {
    char *keep_best;
} recorded;

static int find_keep_best(void *user, const arnet_file_entry *e)
{
    recorded *r = user;
    if (e->kind == ARNET_ENTRY_META && e->name && e->value &&
        (!strcmp(e->name, "trainer.keep_best") || !strcmp(e->name, "test.keep_best"))) {
        free(r->keep_best);
        r->keep_best = strdup(e->value);
    }
    return 0;
}

/* The outputs (--out, --keep-best): not an input, not an existing file
 * unless --force (or --out continuing its own --resume), locked for the
 * run.  Before the data are loaded (the manifests given) and after (every
 * feature file). */
static int check_outputs(const char *train, const char *test, cli_output *outs, size_t n,
                         const arnet_dataset *train_set, const arnet_dataset *test_set)
{
    int rc = 0;
    for (size_t k = 0; k < n && !rc; k++) {
        if (train)
            rc = cli_output_not_in_dataset(CMD, &outs[k], "--train", train, train_set);
        if (!rc && test)
            rc = cli_output_not_in_dataset(CMD, &outs[k], "--test", test, test_set);
    }
    return rc;
}

static int claim_outputs(const train_args *a, cli_output *outs, size_t n, int keep_best_own)
{
    int rc = check_outputs(a->train_path, a->test_path, outs, n, NULL, NULL);
    if (!rc && n == 2 && cli_same_file(outs[0].path, outs[1].path))
        rc = cli_usage_error(CMD, "--keep-best and --out name the same file %s", outs[0].path);
    /* Locked before the existence check, so that a second arnet writing
     * the same file hears "in use", not "exists". */
    for (size_t k = 0; k < n && !rc; k++)
        rc = cli_output_lock(CMD, &outs[k]);
    for (size_t k = 0; k < n && !rc; k++) {
        int own = k == 0 ? a->resume && cli_same_file(outs[0].path, a->resume) : keep_best_own;
        if (!own)
            rc = cli_output_absent(CMD, &outs[k], NULL, a->force, k == 0 ? "--resume" : NULL);
    }
    return rc;
}

/* ---- the run ------------------------------------------------------------------ */

/* Library field names in messages -> the options of this command. */
static const char *const train_option_names[][2] = {
    {"normal_per_batch", "--batch-normal"}, {"anomalous_per_batch", "--batch-anomalous"},
    {"alpha", "--alpha"}, {"lambda", "--lambda"}, {"lr", "--lr"},
    {"weight_decay", "--weight-decay"}, {"max_clips", "--max-clips"},
    {"threads", "--threads"}, {"iterations", "--iterations"}, {"seed", "--seed"},
    {"hidden_dim", "--hidden"}, {"dropout", "--dropout"}, {"crop", "--crop"},
    {"keep_best", "--keep-best"}, {"eval_every", "--eval-every"},
    {"save_every", "--save-every"}, {NULL, NULL}};

/* A resumed run that refuses what it was given (other training data,
 * ARNET_E_INVALID) is a usage error, as a changed setting is. */
static int run_fail(int rc, const char *what, int resuming)
{
    int code = cli_fail(CMD, rc, what);
    return resuming && rc == ARNET_E_INVALID ? CLI_EXIT_USAGE : code;
}

/* A resumed run keeps its settings (the file's): the command line may
 * repeat them, so that the command that started a run plus --resume
 * continues it, but a different value is refused rather than ignored. */
static int same_settings(train_args *a, const arnet_run *run)
{
    arnet_train_options in_effect;
    arnet_train_options_init(&in_effect);
    int rc = arnet_trainer_get_options(arnet_run_trainer(run), &in_effect);
    if (rc != ARNET_OK)
        return cli_fail(CMD, rc, a->resume);
    for (size_t i = 0; i < a->n_settings; i++) {
        setting *st = &a->settings[i];
        if (!st->given || !strcmp(st->opt, "--iterations") || !strcmp(st->opt, "--threads"))
            continue;
        if (setting_equal(a, st, &in_effect))
            continue;
        char given[64], was[64];
        size_t off = (size_t)((const char *)st->field - (const char *)&a->opt);
        setting_format(st, st->field, given, sizeof given);
        setting_format(st, (const char *)&in_effect + off, was, sizeof was);
        fprintf(stderr, "arnet %s: %s: a resumed run keeps its settings; %s %s differs from "
                        "the file's %s\n", CMD, a->resume, st->opt, given, was);
        return CLI_EXIT_USAGE;
    }
    arnet_model_config cfg;
    arnet_model_config_init(&cfg);
    if ((rc = arnet_model_get_config(arnet_run_model(run), &cfg)) != ARNET_OK)
        return cli_fail(CMD, rc, a->resume);
    if ((a->hidden_given && a->model.hidden_dim && a->model.hidden_dim != cfg.hidden_dim) ||
        (a->dropout_given && a->model.dropout != cfg.dropout)) {
        fprintf(stderr, "arnet %s: --hidden and --dropout are fixed by the model in %s "
                        "(%u hidden units, dropout %g)\n",
                CMD, a->resume, cfg.hidden_dim, (double)cfg.dropout);
        return CLI_EXIT_USAGE;
    }
    return 0;
}

static int open_run(train_args *a, view *w, arnet_run **run)
{
    arnet_load_options lo;
    arnet_load_options_init(&lo);
    lo.crop = a->crop;
    lo.layout = a->layout;
    lo.mmap = a->mmap;
    arnet_run_options ro;
    arnet_run_options_init(&ro);
    ro.train_manifest = a->train_path;
    ro.test_manifest = a->test_path;
    ro.out = a->out;
    ro.keep_best = a->keep_best;
    ro.progress = on_step;
    ro.on_eval = on_eval;
    ro.user = w;
    ro.train = &a->opt;
    ro.model = &a->model;
    if (!a->resume) {
        ro.load = &lo;
        ro.eval_every = a->eval_every;
        ro.save_every = a->save_every;
        int rc = arnet_run_start(&ro, run);
        return rc != ARNET_OK ? run_fail(rc, "training run", 0) : 0;
    }
    /* Resuming: what is not given is the file's (crop and layout always,
     * checked below). */
    ro.load = &lo;
    ro.eval_every = a->eval_every_given ? (a->eval_every ? a->eval_every : ARNET_RUN_NEVER) : 0;
    ro.save_every = a->save_every_given ? (a->save_every ? a->save_every : ARNET_RUN_NEVER) : 0;
    a->opt.iterations = find_setting(a, "--iterations")->given ? a->opt.iterations : 0;
    a->opt.threads = find_setting(a, "--threads")->given ? a->opt.threads : 0;
    int rc = arnet_run_resume(a->resume, &ro, run);
    if (rc != ARNET_OK)
        return run_fail(rc, a->resume, 1);
    arnet_run_info in;
    arnet_run_info_init(&in);
    if ((rc = arnet_run_get_info(*run, &in)) != ARNET_OK)
        return cli_fail(CMD, rc, a->resume);
    if ((a->crop_given && a->crop != in.crop) || (a->layout_given && a->layout != in.layout)) {
        fprintf(stderr, "arnet %s: %s: a resumed run keeps its settings; --crop/--crops and "
                        "--layout must be the run's (crop %d, layout %d)\n",
                CMD, a->resume, in.crop, in.layout);
        return CLI_EXIT_USAGE;
    }
    return same_settings(a, *run);
}

static void print_header(const train_args *a, const arnet_run *run, const arnet_run_info *in)
{
    arnet_train_options o;
    arnet_train_options_init(&o);
    const arnet_dataset *train = arnet_run_train_set(run);
    const arnet_model *m = arnet_run_model(run);
    arnet_model_config cfg;
    arnet_model_config_init(&cfg);
    if (arnet_trainer_get_options(arnet_run_trainer(run), &o) != ARNET_OK ||
        arnet_model_get_config(m, &cfg) != ARNET_OK)
        return;
    printf("training on %s: %zu videos (%zu normal, %zu anomalous), %u features per clip\n",
           a->train_path ? a->train_path : in->train_manifest, arnet_dataset_size(train),
           arnet_dataset_count(train, 0), arnet_dataset_count(train, 1),
           arnet_dataset_feature_dim(train));
    printf("model %u -> %u -> 1, dropout %g; loss %s (alpha %g", arnet_model_feature_dim(m),
           arnet_model_hidden_dim(m), (double)cfg.dropout, arnet_loss_name(o.loss),
           (double)o.alpha);
    if (o.loss == ARNET_LOSS_DMIL_CENTER)
        printf(", lambda %g", (double)o.lambda);
    printf("), reduce %s; Adam lr %g, weight decay %g; %u + %u videos per step, "
           "at most %u clips each; seed %llu, %d thread%s\n",
           arnet_reduce_name(o.reduce), (double)o.lr, (double)o.weight_decay,
           o.normal_per_batch, o.anomalous_per_batch, o.max_clips,
           (unsigned long long)o.seed, o.threads, o.threads == 1 ? "" : "s");
    if (a->resume)
        printf("resuming %s at step %llu of %llu\n", a->resume, (unsigned long long)in->steps,
               (unsigned long long)in->iterations);
    else
        printf("%llu steps\n", (unsigned long long)in->iterations);
    fflush(stdout);
}

int cmd_train(int argc, char **argv)
{
    train_args a;
    args_init(&a);
    int code = 0;
    cli_set_option_names(train_option_names);
    if (parse_args(&a, argc, argv, &code) < 0) {
        cli_set_option_names(NULL);
        return code;
    }
    arnet_run *run = NULL;
    cli_output outs[2];
    size_t n_outs = 0;
    recorded rec = {NULL};
    view w;
    memset(&w, 0, sizeof w);
    w.a = &a;
    /* Every processor unless told (a resumed run keeps its file's count). */
    if (!find_setting(&a, "--threads")->given && !a.resume)
        a.opt.threads = cli_cpu_count();
    if (a.resume) {
        if (!a.out)
            a.out = a.resume; /* continuing its own checkpoint */
        int rc = arnet_file_list(a.resume, find_keep_best, &rec);
        if (rc != ARNET_OK) {
            code = cli_fail(CMD, rc, a.resume);
            goto done;
        }
    }
    if (a.train_path && (code = cli_manifest_kind(CMD, "--train", a.train_path)) != 0)
        goto done;
    if (a.test_path && (code = cli_manifest_kind(CMD, "--test", a.test_path)) != 0)
        goto done;
    const char *keep_best = a.keep_best ? a.keep_best : rec.keep_best;
    int keep_best_own = keep_best && rec.keep_best && cli_same_file(keep_best, rec.keep_best);
    if (keep_best && !a.test_path && !a.resume) {
        code = cli_usage_error(CMD, "--keep-best needs --test LIST");
        goto done;
    }
    if (a.eval_every && !a.test_path && !a.resume) {
        code = cli_usage_error(CMD, "--eval-every needs --test LIST");
        goto done;
    }
    cli_output_init(&outs[n_outs++], "--out", a.out, 0);
    if (keep_best)
        cli_output_init(&outs[n_outs++], "--keep-best", keep_best, 0);
    /* SIGINT or SIGTERM (Slurm, systemd, timeout) from here on: the run is
     * saved as a checkpoint --resume continues, the locks go, and the exit
     * status is 130 or 143 (cli_signals_catch, one rule for every command). */
    cli_signals_catch(NULL);
    if ((code = claim_outputs(&a, outs, n_outs, keep_best_own)) != 0)
        goto done;
    w.show_progress = !a.quiet && cli_progress_enabled(a.progress_forced);
    w.tty = isatty(STDERR_FILENO);
    if ((code = open_run(&a, &w, &run)) != 0)
        goto done;
    arnet_run_info in;
    arnet_run_info_init(&in);
    if (arnet_run_get_info(run, &in) != ARNET_OK) {
        code = cli_fail(CMD, ARNET_E_INVALID, "run");
        goto done;
    }
    if (!a.test_path)
        a.test_path = in.test_manifest;
    w.keep_best = in.keep_best;
    code = check_outputs(in.train_manifest, in.test_manifest, outs, n_outs,
                         arnet_run_train_set(run), arnet_run_test_set(run));
    if (code)
        goto done;
    if (!a.quiet)
        print_header(&a, run, &in);
    arnet_train_options o;
    arnet_train_options_init(&o);
    if (arnet_trainer_get_options(arnet_run_trainer(run), &o) == ARNET_OK)
        w.center = o.loss == ARNET_LOSS_DMIL_CENTER;
    w.every = a.progress_every ? a.progress_every : (in.iterations + 19) / 20;
    if (w.every == 0)
        w.every = 1;
    w.start = in.steps;
    w.t0 = w.eval_t0 = cli_now();

    int rc = cli_interrupted() ? ARNET_E_CANCELLED : arnet_run_continue(run);
    double secs = cli_now() - w.t0 - w.eval_secs;
    cli_progress_done();
    uint64_t steps = arnet_trainer_steps(arnet_run_trainer(run));
    if (rc == ARNET_E_CANCELLED && cli_interrupted()) {
        if ((rc = arnet_run_save(run)) != ARNET_OK) {
            code = cli_fail(CMD, rc, a.out);
            goto done;
        }
        fprintf(stderr,
                "arnet %s: interrupted after step %llu (%s); saved %s (continue with: arnet "
                "train --resume %s)\n",
                CMD, (unsigned long long)steps, cli_interrupt_name(), a.out, a.out);
        code = cli_interrupt_status();
        goto done;
    }
    if (rc != ARNET_OK) {
        code = cli_fail(CMD, rc, "training");
        goto done;
    }
    if (!a.quiet) {
        char d[32];
        format_duration(d, sizeof d, secs);
        if (steps > in.steps)
            printf("\n%llu steps in %s (%.1f steps/s); wrote %s\n",
                   (unsigned long long)(steps - in.steps), d,
                   (double)(steps - in.steps) / secs, a.out);
        else
            printf("\nalready at %llu of %llu steps; wrote %s\n", (unsigned long long)steps,
                   (unsigned long long)in.iterations, a.out);
    }
done:
    cli_signals_restore();
    if (cli_interrupted() && code == 0)
        code = cli_interrupt_status();
    arnet_run_free(run);
    for (size_t k = 0; k < n_outs; k++)
        cli_output_release(&outs[k]);
    free(rec.keep_best);
    cli_set_option_names(NULL);
    return code;
}
