/* run.c -- arnet_run: a training run as the library owns it (data, model,
 * trainer, eval-every, keep-best, checkpoints) and resuming one from its file. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "detector_int.h"
#include "internal.h"

struct arnet_run {
    arnet_model *model;
    int own_model;
    arnet_dataset *train, *test; /* owned when loaded from manifests */
    const arnet_dataset *train_in, *test_in;
    arnet_trainer *trainer;
    char *train_manifest, *test_manifest, *out, *keep_best; /* owned copies */
    int crop, layout;
    uint64_t eval_every, save_every;
    arnet_progress_fn progress;
    arnet_run_eval_fn on_eval;
    void *user;
    int resumed;
    int have_eval;
    uint64_t eval_step, best_step;
    double eval_auc, eval_far, best_auc, best_far;
};

/* Keys arnet train 0.1 wrote into the model's metadata: read on resume,
 * dropped when the run next saves (the run's pairs replace them). */
static const char *const LEGACY_KEYS[] = {
    "train.iterations", "train.loss", "train.reduce", "train.alpha", "train.lambda",
    "train.lr", "train.weight_decay", "train.batch_normal", "train.batch_anomalous",
    "train.max_clips", "train.seed", "train.threads", "train.manifest", "train.crop",
    "train.save_every", "train.videos_normal", "train.videos_anomalous",
    "train.data_digest", "train.steps", "test.manifest", "test.eval_every",
    "test.keep_best", "test.step", "test.auc", "test.far", "test.best_step",
    "test.best_auc", "test.best_far"};

void arnet_run_options_init(arnet_run_options *opt)
{
    if (!opt)
        return;
    memset(opt, 0, sizeof *opt);
    opt->struct_size = sizeof *opt;
}

void arnet_run_eval_init(arnet_run_eval *ev)
{
    if (!ev)
        return;
    memset(ev, 0, sizeof *ev);
    ev->struct_size = sizeof *ev;
}

void arnet_run_info_init(arnet_run_info *info)
{
    if (!info)
        return;
    memset(info, 0, sizeof *info);
    info->struct_size = sizeof *info;
}

/* ---- helpers --------------------------------------------------------------- */

/* path made absolute against the working folder (the file need not exist),
 * so that a resumed run finds it from any folder. */
static char *abs_path(const char *path)
{
    if (path[0] == '/')
        return arnet__strdup(path);
    size_t cap = 256;
    for (;;) {
        char *cwd = arnet__alloc(cap, 1, "working folder name");
        if (!cwd)
            return NULL;
        if (getcwd(cwd, cap)) {
            size_t n = strlen(cwd), m = strlen(path);
            char *out = arnet__alloc(n + m + 2, 1, "path");
            if (out) {
                memcpy(out, cwd, n);
                out[n] = '/';
                memcpy(out + n + 1, path, m + 1);
            }
            free(cwd);
            return out;
        }
        free(cwd);
        if (errno != ERANGE || cap > (1u << 20)) {
            arnet__error(ARNET_E_IO, "%s: cannot tell the working folder: %s", path,
                         strerror(errno));
            return NULL;
        }
        cap *= 2;
    }
}

/* Two names of one existing file (or the same text). */
static int same_file(const char *a, const char *b)
{
    struct stat sa, sb;
    if (stat(a, &sa) == 0 && stat(b, &sb) == 0)
        return sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
    return strcmp(a, b) == 0;
}

/* An output's folder must be writable before training, not after it. */
static int check_folder(const char *path)
{
    const char *slash = strrchr(path, '/');
    size_t n = slash ? (size_t)(slash - path) : 0;
    char *dir = arnet__alloc(n + 2, 1, "folder name");
    if (!dir)
        return ARNET_E_NOMEM;
    if (!slash)
        memcpy(dir, ".", 2);
    else if (n == 0)
        memcpy(dir, "/", 2);
    else {
        memcpy(dir, path, n);
        dir[n] = '\0';
    }
    int rc = ARNET_OK;
    if (access(dir, W_OK | X_OK) != 0)
        rc = arnet__error(ARNET_E_IO, "%s: cannot write in its folder %s: %s", path, dir,
                          strerror(errno));
    free(dir);
    return rc;
}

/* Strict decimal, as written by the run; 0 when malformed. */
static int parse_u64(const char *v, uint64_t *out)
{
    uint64_t x = 0;
    if (!v || !*v)
        return 0;
    for (const char *p = v; *p; p++) {
        uint64_t d = (uint64_t)(*p - '0');
        if (*p < '0' || *p > '9' || x > (UINT64_MAX - d) / 10)
            return 0;
        x = x * 10 + d;
    }
    *out = x;
    return 1;
}

static int parse_int(const char *v, int *out)
{
    uint64_t u;
    int neg = v && *v == '-';
    if (!parse_u64(v + neg, &u) || u > 1000000)
        return 0;
    *out = neg ? -(int)u : (int)u;
    return 1;
}

static int parse_double(const char *v, double *out)
{
    char *end;
    if (!v || !*v)
        return 0;
    if (!strcmp(v, "nan") || !strcmp(v, "-nan")) { /* %.9g of an AUC over one class */
        *out = NAN;
        return 1;
    }
    double x = strtod(v, &end);
    if (*end)
        return 0;
    *out = x;
    return 1;
}

static int dup_opt(char **dst, const char *src)
{
    if (!src)
        return ARNET_OK;
    *dst = arnet__strdup(src);
    return *dst ? ARNET_OK : ARNET_E_NOMEM;
}

void arnet_run_free(arnet_run *r)
{
    if (!r)
        return;
    arnet_trainer_free(r->trainer);
    if (r->own_model)
        arnet_model_free(r->model);
    arnet_dataset_free(r->train);
    arnet_dataset_free(r->test);
    free(r->train_manifest);
    free(r->test_manifest);
    free(r->out);
    free(r->keep_best);
    free(r);
}

/* ---- set-up shared by start and resume -------------------------------------- */

/* Paths, intervals and callbacks of the run, checked together. */
static int check_setup(const char *fn, const arnet_run *r)
{
    int has_test = r->test_manifest || r->test_in;
    if (!r->train_manifest && !r->train_in)
        return arnet__error(ARNET_E_INVALID, "%s: no training set (train_manifest or "
                            "train_set)", fn);
    if (r->keep_best && !has_test)
        return arnet__error(ARNET_E_INVALID, "%s: keep_best needs a test set", fn);
    if (r->eval_every && !has_test)
        return arnet__error(ARNET_E_INVALID, "%s: eval_every needs a test set", fn);
    if (r->save_every && !r->out)
        return arnet__error(ARNET_E_INVALID, "%s: save_every needs out", fn);
    if (r->out && r->keep_best && same_file(r->out, r->keep_best))
        return arnet__error(ARNET_E_INVALID, "%s: keep_best and out name the same file %s",
                            fn, r->out);
    int rc = ARNET_OK;
    if (r->out)
        rc = check_folder(r->out);
    if (!rc && r->keep_best)
        rc = check_folder(r->keep_best);
    return rc;
}

static int load_data(arnet_run *r, const arnet_load_options *given)
{
    arnet_load_options lo;
    arnet_load_options_init(&lo);
    if (given) {
        int rc = ARNET__STRUCT_IN("arnet_run", arnet_load_options, &lo, given);
        if (rc)
            return rc;
    }
    lo.crop = r->crop;
    lo.layout = r->layout;
    int rc;
    if (r->train_manifest && !r->train_in) {
        lo.feature_dim = 0;
        if ((rc = arnet_dataset_load_manifest(r->train_manifest, &lo, &r->train)))
            return rc;
        r->train_in = r->train;
    }
    if (r->test_manifest && !r->test_in) {
        lo.feature_dim = arnet_dataset_feature_dim(r->train_in);
        if ((rc = arnet_dataset_load_manifest(r->test_manifest, &lo, &r->test)))
            return rc;
        r->test_in = r->test;
    }
    if (r->test_in && arnet_dataset_feature_dim(r->test_in) !=
                          arnet_dataset_feature_dim(r->train_in))
        return arnet__error(ARNET_E_SHAPE, "the test set has %u features per clip, the "
                            "training set %u", arnet_dataset_feature_dim(r->test_in),
                            arnet_dataset_feature_dim(r->train_in));
    return ARNET_OK;
}

static arnet_run *run_new(const arnet_run_options *o)
{
    arnet_run *r = arnet__calloc(1, sizeof *r, "training run");
    if (!r)
        return NULL;
    r->train_in = o->train_set;
    r->test_in = o->test_set;
    r->progress = o->progress;
    r->on_eval = o->on_eval;
    r->user = o->user;
    r->crop = -1;
    return r;
}

static uint64_t every(uint64_t v) { return v == ARNET_RUN_NEVER ? 0 : v; }

/* The run's pairs replace what arnet train 0.1 kept in the model's
 * metadata, and a best model's copy of the pairs (a model trained on from
 * a keep_best file): one record, in the trainer section. */
static int drop_old_records(arnet_model *m)
{
    int rc = ARNET_OK;
    for (size_t i = 0; !rc && i < sizeof LEGACY_KEYS / sizeof LEGACY_KEYS[0]; i++)
        if (arnet_model_get_meta(m, LEGACY_KEYS[i]))
            rc = arnet_model_set_meta(m, LEGACY_KEYS[i], NULL);
    for (size_t i = 0; !rc && i < m->n_meta;) {
        if (!strncmp(m->meta[i].key, "trainer.", 8))
            rc = arnet_model_set_meta(m, m->meta[i].key, NULL);
        else
            i++;
    }
    return rc;
}

/* ---- start ------------------------------------------------------------------ */

int arnet_run_start(const arnet_run_options *opt, arnet_run **out)
{
    static const char fn[] = "arnet_run_start";
    if (!opt || !out)
        return arnet__error(ARNET_E_INVALID, "%s: %s is NULL", fn, !opt ? "opt" : "out");
    arnet_run_options o;
    arnet_run_options_init(&o);
    int rc = ARNET__STRUCT_IN(fn, arnet_run_options, &o, opt);
    if (rc)
        return rc;
    arnet_train_options to;
    arnet_train_options_init(&to);
    if (o.train && (rc = ARNET__STRUCT_IN(fn, arnet_train_options, &to, o.train)))
        return rc;
    to.progress = NULL;
    to.progress_user = NULL;
    arnet_model_config cfg;
    arnet_model_config_init(&cfg);
    if (o.model && (rc = ARNET__STRUCT_IN(fn, arnet_model_config, &cfg, o.model)))
        return rc;
    arnet_run *r = run_new(&o);
    if (!r)
        return ARNET_E_NOMEM;
    if (o.load) {
        arnet_load_options lo;
        arnet_load_options_init(&lo);
        if (!(rc = ARNET__STRUCT_IN(fn, arnet_load_options, &lo, o.load))) {
            r->crop = lo.crop;
            r->layout = lo.layout;
        }
    }
    r->eval_every = every(o.eval_every);
    r->save_every = every(o.save_every);
    if (!rc && o.train_manifest && !(r->train_manifest = abs_path(o.train_manifest)))
        rc = ARNET_E_NOMEM;
    if (!rc && o.test_manifest && !(r->test_manifest = abs_path(o.test_manifest)))
        rc = ARNET_E_NOMEM;
    if (!rc && o.keep_best && !(r->keep_best = abs_path(o.keep_best)))
        rc = ARNET_E_NOMEM;
    if (!rc)
        rc = dup_opt(&r->out, o.out);
    if (!rc)
        rc = check_setup(fn, r);
    if (!rc)
        rc = load_data(r, o.load);
    if (!rc && o.model_in) {
        r->model = o.model_in;
        rc = drop_old_records(r->model);
    } else if (!rc) {
        cfg.feature_dim = arnet_dataset_feature_dim(r->train_in);
        cfg.seed = to.seed;
        rc = arnet_model_create(&cfg, &r->model);
        r->own_model = !rc;
    }
    if (!rc)
        rc = arnet_trainer_create(r->model, r->train_in, &to, &r->trainer);
    if (rc) {
        arnet__error_prefix("%s", fn);
        arnet_run_free(r);
        return rc;
    }
    *out = r;
    return ARNET_OK;
}

/* ---- resume ----------------------------------------------------------------- */

/* What the file records under key (the trainer's pairs), or under old (the
 * model metadata arnet train 0.1 wrote); NULL when neither. */
static const char *recorded(const arnet__loaded_extra *e, const arnet_model *lm,
                            const char *key, const char *old)
{
    const char *v = e ? arnet__extra_kv(e, key) : NULL;
    if (!v && old)
        v = arnet_model_get_meta(lm, old);
    return v && *v ? v : NULL;
}

static int bad_record(const char *path, const char *key, const char *v)
{
    return arnet__error(ARNET_E_FORMAT, "%s: %s has a malformed value '%s'", path, key, v);
}

static int recorded_u64(const char *path, const arnet__loaded_extra *e, const arnet_model *lm,
                        const char *key, const char *old, uint64_t *out)
{
    const char *v = recorded(e, lm, key, old);
    if (v && !parse_u64(v, out))
        return bad_record(path, key, v);
    return ARNET_OK;
}

/* The evaluations the file records, when its test manifest is the run's
 * (so that keep_best only replaces its best with a better one). */
static int resume_evaluations(arnet_run *r, const char *path, const arnet__loaded_extra *e,
                              const arnet_model *lm)
{
    static const char *const keys[6][2] = {
        {"trainer.eval_step", "test.step"},     {"trainer.eval_auc", "test.auc"},
        {"trainer.eval_far", "test.far"},       {"trainer.best_step", "test.best_step"},
        {"trainer.best_auc", "test.best_auc"}, {"trainer.best_far", "test.best_far"}};
    const char *m = recorded(e, lm, "trainer.test_manifest", "test.manifest");
    const char *v[6];
    if (!r->test_manifest || !m || !same_file(m, r->test_manifest))
        return ARNET_OK;
    for (int i = 0; i < 6; i++)
        if (!(v[i] = recorded(e, lm, keys[i][0], keys[i][1])))
            return ARNET_OK;
    if (!parse_u64(v[0], &r->eval_step))
        return bad_record(path, keys[0][0], v[0]);
    if (!parse_double(v[1], &r->eval_auc))
        return bad_record(path, keys[1][0], v[1]);
    if (!parse_double(v[2], &r->eval_far))
        return bad_record(path, keys[2][0], v[2]);
    if (!parse_u64(v[3], &r->best_step))
        return bad_record(path, keys[3][0], v[3]);
    if (!parse_double(v[4], &r->best_auc))
        return bad_record(path, keys[4][0], v[4]);
    if (!parse_double(v[5], &r->best_far))
        return bad_record(path, keys[5][0], v[5]);
    r->have_eval = 1;
    return ARNET_OK;
}

/* The run's settings: opt's where given, else the file's. */
static int resume_settings(arnet_run *r, const char *path, const arnet_run_options *o,
                           const arnet__loaded_extra *e, const arnet_model *lm)
{
    const char *v;
    int rc;
    /* A manifest is recorded; a set given in its place is what trains. */
    const char *m = o->train_manifest;
    if (!m && !o->train_set &&
        !(m = recorded(e, lm, "trainer.train_manifest", "train.manifest")))
        return arnet__error(ARNET_E_INVALID, "%s: the file does not record its training "
                            "manifest: give one (train_manifest or train_set)", path);
    if (m && !(r->train_manifest = abs_path(m)))
        return ARNET_E_NOMEM;
    m = o->test_manifest;
    if (!m && !o->test_set)
        m = recorded(e, lm, "trainer.test_manifest", "test.manifest");
    if (m && !(r->test_manifest = abs_path(m)))
        return ARNET_E_NOMEM;
    const char *kb = o->keep_best ? o->keep_best
                                  : recorded(e, lm, "trainer.keep_best", "test.keep_best");
    if (kb && !(r->keep_best = abs_path(kb)))
        return ARNET_E_NOMEM;
    if ((rc = dup_opt(&r->out, o->out ? o->out : path)))
        return rc;
    /* The file's crop and layout (they decide the data, which the digest
     * checks); the caller's only for a file that does not record them. */
    arnet_load_options lo;
    arnet_load_options_init(&lo);
    lo.crop = -1;
    if (o->load && (rc = ARNET__STRUCT_IN("arnet_run_resume", arnet_load_options, &lo, o->load)))
        return rc;
    r->crop = lo.crop;
    r->layout = lo.layout;
    if ((v = recorded(e, lm, "trainer.crop", "train.crop")) && !parse_int(v, &r->crop))
        return bad_record(path, "trainer.crop", v);
    if ((v = recorded(e, lm, "trainer.layout", NULL)) && !parse_int(v, &r->layout))
        return bad_record(path, "trainer.layout", v);
    uint64_t u = 0;
    if (o->eval_every)
        r->eval_every = every(o->eval_every);
    else if (!(rc = recorded_u64(path, e, lm, "trainer.eval_every", "test.eval_every", &u)))
        r->eval_every = u;
    if (rc)
        return rc;
    u = 0;
    if (o->save_every)
        r->save_every = every(o->save_every);
    else if (!(rc = recorded_u64(path, e, lm, "trainer.save_every", "train.save_every", &u)))
        r->save_every = u;
    if (rc)
        return rc;
    /* Without a test set (none recorded, none given) nothing evaluates. */
    if (!r->test_manifest && !o->test_set)
        r->eval_every = 0;
    return ARNET_OK;
}

/* iterations and threads: opt's when not 0, else the file's; the rest of
 * the options come from the file. */
static int resume_train_options(const char *path, const arnet_run_options *o,
                                const arnet__loaded_extra *e, const arnet_model *lm,
                                arnet_train_options *to)
{
    arnet_train_options given;
    arnet_train_options_init(&given);
    given.iterations = 0;
    given.threads = 0;
    int rc;
    if (o->train && (rc = ARNET__STRUCT_IN("arnet_run_resume", arnet_train_options, &given,
                                           o->train)))
        return rc;
    arnet_train_options_init(to);
    if ((rc = arnet__trainer_read_options(e, path, to)))
        return rc;
    uint64_t u;
    if (given.iterations)
        to->iterations = given.iterations;
    else {
        u = 0;
        if ((rc = recorded_u64(path, e, lm, "trainer.iterations", "train.iterations", &u)))
            return rc;
        if (!u && (rc = recorded_u64(path, e, lm, "trainer.step", NULL, &u)))
            return rc;
        to->iterations = u;
    }
    if (given.threads)
        to->threads = given.threads;
    else {
        u = 1;
        if ((rc = recorded_u64(path, e, lm, "trainer.threads", "train.threads", &u)))
            return rc;
        to->threads = u >= 1 && u <= 1024 ? (int)u : 1;
    }
    return ARNET_OK;
}

static int resume(arnet_run *r, const char *path, const arnet_run_options *o)
{
    arnet_model *lm = NULL;
    arnet__loaded_extra *e = NULL;
    int rc = arnet__checkpoint_load(path, &lm, &e);
    if (!rc && !e)
        rc = arnet__error(ARNET_E_FORMAT, "%s: no trainer state in this file (a model-only "
                          "file: start a new run from it with model_in)", path);
    arnet_train_options to;
    if (!rc)
        rc = resume_settings(r, path, o, e, lm);
    if (!rc)
        rc = resume_train_options(path, o, e, lm, &to);
    if (!rc)
        rc = check_setup("arnet_run_resume", r);
    if (!rc)
        rc = load_data(r, o->load);
    if (!rc && arnet_dataset_feature_dim(r->train_in) != lm->feature_dim)
        rc = arnet__error(ARNET_E_SHAPE, "%s has %u features per clip, the training set %u",
                          path, lm->feature_dim, arnet_dataset_feature_dim(r->train_in));
    if (!rc) {
        if (o->model_in) {
            r->model = o->model_in;
        } else {
            r->model = lm;
            r->own_model = 1;
        }
        rc = arnet_trainer_create(r->model, r->train_in, &to, &r->trainer);
    }
    if (!rc)
        rc = arnet__trainer_restore_loaded(r->trainer, path, lm, e);
    if (!rc)
        rc = resume_evaluations(r, path, e, lm);
    if (!rc)
        rc = drop_old_records(r->model);
    if (!r->own_model || r->model != lm)
        arnet_model_free(lm);
    arnet__loaded_extra_free(e);
    return rc;
}

int arnet_run_resume(const char *path, const arnet_run_options *opt, arnet_run **out)
{
    static const char fn[] = "arnet_run_resume";
    if (!path || !out)
        return arnet__error(ARNET_E_INVALID, "%s: %s is NULL", fn, !path ? "path" : "out");
    arnet_run_options o;
    arnet_run_options_init(&o);
    int rc;
    if (opt && (rc = ARNET__STRUCT_IN(fn, arnet_run_options, &o, opt)))
        return rc;
    arnet_run *r = run_new(&o);
    if (!r)
        return ARNET_E_NOMEM;
    r->resumed = 1;
    if ((rc = resume(r, path, &o))) {
        arnet__error_prefix("%s", fn);
        arnet_run_free(r);
        return rc;
    }
    *out = r;
    return ARNET_OK;
}

/* ---- saving ----------------------------------------------------------------- */

enum { MAX_PAIRS = 16, NUM_LEN = 40 };

typedef struct pairs {
    const char *kv[2 * MAX_PAIRS];
    char num[MAX_PAIRS][NUM_LEN];
    size_t n;
} pairs;

static void add(pairs *p, const char *key, const char *value)
{
    p->kv[2 * p->n] = key;
    p->kv[2 * p->n + 1] = value;
    p->n++;
}

static void add_u64(pairs *p, const char *key, uint64_t v)
{
    snprintf(p->num[p->n], NUM_LEN, "%" PRIu64, v);
    add(p, key, p->num[p->n]);
}

static void add_double(pairs *p, const char *key, double v)
{
    snprintf(p->num[p->n], NUM_LEN, "%.9g", v);
    add(p, key, p->num[p->n]);
}

/* The run's settings and evaluations, next to the trainer's pairs. */
static void run_pairs(const arnet_run *r, pairs *p)
{
    p->n = 0;
    if (r->train_manifest)
        add(p, "trainer.train_manifest", r->train_manifest);
    if (r->test_manifest)
        add(p, "trainer.test_manifest", r->test_manifest);
    snprintf(p->num[p->n], NUM_LEN, "%d", r->crop);
    add(p, "trainer.crop", p->num[p->n]);
    snprintf(p->num[p->n], NUM_LEN, "%d", r->layout);
    add(p, "trainer.layout", p->num[p->n]);
    add_u64(p, "trainer.save_every", r->save_every);
    add_u64(p, "trainer.eval_every", r->eval_every);
    if (r->keep_best)
        add(p, "trainer.keep_best", r->keep_best);
    if (r->have_eval) {
        add_u64(p, "trainer.eval_step", r->eval_step);
        add_double(p, "trainer.eval_auc", r->eval_auc);
        add_double(p, "trainer.eval_far", r->eval_far);
        add_u64(p, "trainer.best_step", r->best_step);
        add_double(p, "trainer.best_auc", r->best_auc);
        add_double(p, "trainer.best_far", r->best_far);
    }
}

/* state 1: the checkpoint to out; 0: the best model to keep_best. */
static int write_run(arnet_run *r, int state)
{
    /* The library that wrote the file (the writer adds it only when
     * missing, which would keep a resumed file's first version). */
    int rc = arnet_model_set_meta(r->model, "library_version", arnet_version());
    if (rc)
        return rc;
    pairs p;
    run_pairs(r, &p);
    return arnet__trainer_save_with(r->trainer, p.kv, p.n, state, state ? r->out : r->keep_best);
}

int arnet_run_save(arnet_run *r)
{
    if (!r)
        return arnet__error(ARNET_E_INVALID, "arnet_run_save: run is NULL");
    if (!r->out)
        return arnet__error(ARNET_E_STATE, "arnet_run_save: the run has no out path");
    int rc = write_run(r, 1);
    if (rc)
        arnet__error_prefix("arnet_run_save");
    return rc;
}

/* ---- the loop --------------------------------------------------------------- */

/* Evaluate on the test set, keep the best, tell the caller.  Returns
 * ARNET_E_CANCELLED when on_eval asked to stop (and not final). */
static int evaluate(arnet_run *r, int final)
{
    arnet_eval_result res;
    arnet_eval_result_init(&res);
    int rc = arnet_evaluate(r->model, r->test_in, &res);
    if (rc) {
        arnet__error_prefix("test set%s%s", r->test_manifest ? " " : "",
                            r->test_manifest ? r->test_manifest : "");
        return rc;
    }
    uint64_t step = arnet_trainer_steps(r->trainer);
    int better = !r->have_eval || res.auc > r->best_auc ||
                 (isnan(r->best_auc) && !isnan(res.auc));
    r->eval_auc = res.auc;
    r->eval_far = res.far;
    r->eval_step = step;
    if (better) {
        r->best_auc = res.auc;
        r->best_far = res.far;
        r->best_step = step;
    }
    r->have_eval = 1;
    if (better && r->keep_best && (rc = write_run(r, 0))) {
        arnet_eval_result_free(&res);
        return rc;
    }
    if (r->on_eval) {
        arnet_run_eval ev;
        arnet_run_eval_init(&ev);
        ev.step = step;
        ev.auc = res.auc;
        ev.far = res.far;
        ev.best_step = r->best_step;
        ev.best_auc = r->best_auc;
        ev.best_far = r->best_far;
        ev.is_best = better;
        ev.final = final;
        ev.result = &res;
        if (r->on_eval(r->user, &ev) && !final)
            rc = ARNET_E_CANCELLED;
    }
    arnet_eval_result_free(&res);
    if (rc)
        return arnet__error(rc, "cancelled by the evaluation callback after step %" PRIu64,
                            step);
    return ARNET_OK;
}

static int run_loop(arnet_run *r)
{
    arnet_train_options o;
    arnet_train_options_init(&o);
    int rc = arnet_trainer_get_options(r->trainer, &o);
    if (rc)
        return rc;
    uint64_t target = o.iterations;
    while (arnet_trainer_steps(r->trainer) < target) {
        arnet_step_stats st;
        arnet_step_stats_init(&st);
        if ((rc = arnet_trainer_step(r->trainer, &st)))
            return rc;
        int cancel = r->progress && r->progress(r->user, &st, target);
        uint64_t step = st.step;
        if (r->eval_every && step % r->eval_every == 0 && step < target) {
            rc = evaluate(r, 0);
            if (rc == ARNET_E_CANCELLED)
                cancel = 1;
            else if (rc)
                return rc;
        }
        if (r->save_every && step % r->save_every == 0 && step < target &&
            (rc = write_run(r, 1)))
            return rc;
        if (cancel)
            return arnet__error(ARNET_E_CANCELLED, "cancelled after step %" PRIu64
                                " of %" PRIu64, step, target);
    }
    if (r->test_in && (rc = evaluate(r, 1)))
        return rc;
    if (r->out && (rc = write_run(r, 1)))
        return rc;
    return ARNET_OK;
}

int arnet_run_continue(arnet_run *r)
{
    if (!r)
        return arnet__error(ARNET_E_INVALID, "arnet_run_continue: run is NULL");
    int rc = run_loop(r);
    if (rc)
        arnet__error_prefix("arnet_run_continue");
    return rc;
}

int arnet_run_set_iterations(arnet_run *r, uint64_t iterations)
{
    if (!r)
        return arnet__error(ARNET_E_INVALID, "arnet_run_set_iterations: run is NULL");
    return arnet__trainer_set_iterations(r->trainer, iterations);
}

int arnet_run_get_info(const arnet_run *r, arnet_run_info *info)
{
    if (!r || !info)
        return arnet__error(ARNET_E_INVALID, "arnet_run_get_info: %s is NULL",
                            !r ? "run" : "info");
    int rc = ARNET__STRUCT_CHECK("arnet_run_get_info", arnet_run_info, info);
    if (rc)
        return rc;
    arnet_train_options o;
    arnet_train_options_init(&o);
    if ((rc = arnet_trainer_get_options(r->trainer, &o)))
        return rc;
    arnet_run_info in;
    arnet_run_info_init(&in);
    in.train_manifest = r->train_manifest;
    in.test_manifest = r->test_manifest;
    in.out = r->out;
    in.keep_best = r->keep_best;
    in.crop = r->crop;
    in.layout = r->layout;
    in.eval_every = r->eval_every;
    in.save_every = r->save_every;
    in.steps = arnet_trainer_steps(r->trainer);
    in.iterations = o.iterations;
    in.resumed = r->resumed;
    in.evaluated = r->have_eval;
    in.eval_step = r->eval_step;
    in.best_step = r->best_step;
    in.eval_auc = r->eval_auc;
    in.eval_far = r->eval_far;
    in.best_auc = r->best_auc;
    in.best_far = r->best_far;
    ARNET__STRUCT_OUT(arnet_run_info, info, &in);
    return ARNET_OK;
}

arnet_model *arnet_run_model(const arnet_run *r) { return r ? r->model : NULL; }
arnet_trainer *arnet_run_trainer(const arnet_run *r) { return r ? r->trainer : NULL; }
const arnet_dataset *arnet_run_train_set(const arnet_run *r) { return r ? r->train_in : NULL; }
const arnet_dataset *arnet_run_test_set(const arnet_run *r) { return r ? r->test_in : NULL; }
