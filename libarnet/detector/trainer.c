/* trainer.c -- arnet_trainer: options, one step (sample, pack, forward and
 * backward, Adam), runs with a cancelling progress callback, and trainer
 * checkpoints that resume to exactly the weights of an unbroken run. */
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "detector_int.h"
#include "internal.h"

#define MAX_PER_BATCH (1u << 16)
#define MAX_THREADS 1024
/* Version of the trainer sections' content (keys and tensors below). */
#define TRAINER_STATE_VERSION "1"

/* Everything whose size depends on the sampling options. */
typedef struct batch_buffers {
    arnet__sampler *sampler;
    size_t max_rows;
    float *x;              /* max_rows x F, the packed batch */
    arnet__pass_scratch ws;
    arnet__pick *picks;    /* normal + anomalous */
    uint32_t *clips;       /* max_rows */
    size_t *rows;          /* per video */
    int *labels;           /* per video */
} batch_buffers;

struct arnet_trainer {
    arnet_model *model;
    const arnet_dataset *train;
    arnet_train_options opt;
    arnet__adam_hyper adam; /* from opt, set with it (formatting is not for steps) */
    arnet__rng rng;
    uint64_t step;
    size_t n_params;
    float *grad;   /* flat [W1 | b1 | w2 | b2] */
    float *adam_m; /* same layout */
    float *adam_v;
    batch_buffers bb;
};

void arnet_train_options_init(arnet_train_options *opt)
{
    if (!opt)
        return;
    memset(opt, 0, sizeof *opt);
    opt->struct_size = sizeof *opt;
    opt->normal_per_batch = 30;
    opt->anomalous_per_batch = 30;
    opt->alpha = 4.0f;
    opt->lambda = 20.0f;
    opt->lr = 1e-4f;
    opt->beta1 = 0.9f;
    opt->beta2 = 0.999f;
    opt->eps = 1e-8f;
    opt->weight_decay = 5e-4f;
    opt->max_clips = 300;
    opt->loss = ARNET_LOSS_DMIL_CENTER;
    opt->reduce = ARNET_REDUCE_VIDEO;
    opt->seed = 1;
    opt->threads = 1;
    opt->iterations = 4760;
    opt->progress = NULL;
    opt->progress_user = NULL;
}

void arnet_step_stats_init(arnet_step_stats *st)
{
    if (!st)
        return;
    memset(st, 0, sizeof *st);
    st->struct_size = sizeof *st;
}

/* ---- options -------------------------------------------------------------- */

/* Appends "; field ..." descriptions so one message names every bad field. */
typedef struct problems {
    char msg[1024];
    size_t len;
    int count;
} problems;

static void problem(problems *p, const char *fmt, ...) ARNET_PRINTF(2, 3);

static void problem(problems *p, const char *fmt, ...)
{
    if (p->len + 3 >= sizeof p->msg)
        return;
    if (p->count++) {
        memcpy(p->msg + p->len, "; ", 2);
        p->len += 2;
    }
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(p->msg + p->len, sizeof p->msg - p->len, fmt, ap);
    va_end(ap);
    if (n > 0)
        p->len += (size_t)n < sizeof p->msg - p->len ? (size_t)n : sizeof p->msg - p->len - 1;
}

static int finite_pos(float x) { return isfinite(x) && x > 0.0f; }

static int check_options(const char *fn, const arnet_train_options *o)
{
    problems p = {{0}, 0, 0};
    if (o->normal_per_batch > MAX_PER_BATCH)
        problem(&p, "normal_per_batch %u is above %u", o->normal_per_batch, MAX_PER_BATCH);
    if (o->anomalous_per_batch > MAX_PER_BATCH)
        problem(&p, "anomalous_per_batch %u is above %u", o->anomalous_per_batch,
                MAX_PER_BATCH);
    if (o->normal_per_batch == 0 && o->anomalous_per_batch == 0)
        problem(&p, "normal_per_batch and anomalous_per_batch are both 0");
    if (!finite_pos(o->alpha))
        problem(&p, "alpha %g must be > 0", (double)o->alpha);
    if (!(isfinite(o->lambda) && o->lambda >= 0.0f))
        problem(&p, "lambda %g must be >= 0", (double)o->lambda);
    if (!finite_pos(o->lr))
        problem(&p, "lr %g must be > 0", (double)o->lr);
    if (!(o->beta1 >= 0.0f && o->beta1 < 1.0f))
        problem(&p, "beta1 %g must be in [0, 1)", (double)o->beta1);
    if (!(o->beta2 >= 0.0f && o->beta2 < 1.0f))
        problem(&p, "beta2 %g must be in [0, 1)", (double)o->beta2);
    if (!finite_pos(o->eps))
        problem(&p, "eps %g must be > 0", (double)o->eps);
    if (!(isfinite(o->weight_decay) && o->weight_decay >= 0.0f))
        problem(&p, "weight_decay %g must be >= 0", (double)o->weight_decay);
    if (o->max_clips < 1)
        problem(&p, "max_clips must be >= 1");
    if (o->loss < ARNET_LOSS_DMIL_CENTER || o->loss > ARNET_LOSS_KMAX_MIL)
        problem(&p, "loss %d is not an ARNET_LOSS_* value (0..2)", o->loss);
    if (o->reduce < ARNET_REDUCE_VIDEO || o->reduce > ARNET_REDUCE_INSTANCE)
        problem(&p, "reduce %d is not an ARNET_REDUCE_* value (0..1)", o->reduce);
    if (o->threads < 1 || o->threads > MAX_THREADS)
        problem(&p, "threads %d out of range 1..%d", o->threads, MAX_THREADS);
    if (p.count)
        return arnet__error(ARNET_E_INVALID, "%s: bad option%s: %s", fn,
                            p.count > 1 ? "s" : "", p.msg);
    return ARNET_OK;
}

int arnet_train_options_check(const arnet_train_options *opt)
{
    static const char fn[] = "arnet_train_options_check";
    if (!opt)
        return arnet__error(ARNET_E_INVALID, "%s: opt is NULL", fn);
    arnet_train_options o;
    arnet_train_options_init(&o);
    int rc = ARNET__STRUCT_IN(fn, arnet_train_options, &o, opt);
    return rc ? rc : check_options(fn, &o);
}

/* ---- buffers -------------------------------------------------------------- */

static void batch_buffers_free(batch_buffers *bb)
{
    arnet__sampler_free(bb->sampler);
    free(bb->x);
    free(bb->ws.hidden);
    free(bb->ws.logits);
    free(bb->ws.dlogits);
    free(bb->ws.tmp);
    free(bb->ws.colsum);
    free(bb->ws.keep);
    free(bb->ws.nonzero);
    free(bb->ws.x_nonzero);
    arnet__team_free(bb->ws.team);
    free(bb->ws.team_scratch);
    free(bb->picks);
    free(bb->clips);
    free(bb->rows);
    free(bb->labels);
    memset(bb, 0, sizeof *bb);
}

/* The sampler and every buffer a step needs, sized for the largest batch
 * these options can draw from ds, so that steps never allocate; and the
 * team of o->threads threads that runs the step's big products (blas.c:
 * members that wait sleep, so two threads beside another busy process are
 * not slower than one, as BLIS's own spinning threads were). */
static int batch_buffers_alloc(const arnet_model *m, const arnet_dataset *ds,
                               const arnet_train_options *o, batch_buffers *bb)
{
    memset(bb, 0, sizeof *bb);
    int rc = arnet__sampler_create(ds, o->normal_per_batch, o->anomalous_per_batch,
                                   o->max_clips, &bb->sampler);
    if (rc)
        return rc;
    size_t rows = arnet__sampler_max_rows(bb->sampler);
    size_t n = rows ? rows : 1, F = m->feature_dim, H = m->hidden_dim, nx, nh;
    size_t videos = (size_t)o->normal_per_batch + o->anomalous_per_batch;
    if (!arnet__mul_size(n, F, &nx) || !arnet__mul_size(n, H, &nh)) {
        batch_buffers_free(bb);
        return arnet__error(ARNET_E_NOMEM, "a batch of %zu clips does not fit in memory",
                            rows);
    }
    bb->max_rows = rows;
    bb->x = arnet__alloc(nx, sizeof(float), "packed batch features");
    bb->ws.hidden = arnet__alloc(nh, sizeof(float), "batch hidden activations");
    bb->ws.logits = arnet__alloc(n, sizeof(float), "batch logits");
    bb->ws.dlogits = arnet__alloc(n, sizeof(float), "batch logit gradients");
    bb->ws.tmp = arnet__alloc(n, sizeof(float), "batch center-loss gradients");
    bb->ws.colsum = arnet__alloc(H, sizeof(double), "bias gradient sums");
    bb->ws.keep = arnet__alloc(nh / 64 + 1, sizeof(uint64_t), "dropout mask");
    bb->ws.nonzero = arnet__alloc(n, sizeof(size_t), "rows with a gradient");
    bb->ws.x_nonzero = arnet__alloc(nx, sizeof(float), "features of the rows with a gradient");
    bb->picks = arnet__alloc(videos, sizeof *bb->picks, "batch videos");
    bb->clips = arnet__alloc(n, sizeof *bb->clips, "batch clip indices");
    bb->rows = arnet__alloc(videos, sizeof *bb->rows, "batch video lengths");
    bb->labels = arnet__alloc(videos, sizeof *bb->labels, "batch labels");
    if (!bb->x || !bb->ws.hidden || !bb->ws.logits || !bb->ws.dlogits || !bb->ws.tmp ||
        !bb->ws.colsum || !bb->ws.keep || !bb->ws.nonzero || !bb->ws.x_nonzero || !bb->picks ||
        !bb->clips || !bb->rows || !bb->labels) {
        batch_buffers_free(bb);
        return ARNET_E_NOMEM;
    }
    if (o->threads > 1) {
        if ((rc = arnet__team_create(o->threads, &bb->ws.team))) {
            batch_buffers_free(bb);
            return rc;
        }
        size_t ns = arnet__sgemm_team_scratch(bb->ws.team, H, F);
        if (ns && !(bb->ws.team_scratch = arnet__alloc(ns, sizeof(float),
                                                       "gradient partial sums of the threads"))) {
            batch_buffers_free(bb);
            return ARNET_E_NOMEM;
        }
    }
    return ARNET_OK;
}

/* Options and what is derived from them, together. */
static void set_options(arnet_trainer *t, const arnet_train_options *o)
{
    t->opt = *o;
    arnet__adam_hyper_set(&t->adam, o->lr, o->beta1, o->beta2, o->eps, o->weight_decay);
}

/* ---- create / free -------------------------------------------------------- */

int arnet_trainer_create(arnet_model *model, const arnet_dataset *train,
                         const arnet_train_options *opt, arnet_trainer **out)
{
    static const char fn[] = "arnet_trainer_create";
    if (!model || !train || !out)
        return arnet__error(ARNET_E_INVALID, "%s: %s is NULL", fn,
                            !model ? "model" : !train ? "train" : "out");
    arnet_train_options o;
    arnet_train_options_init(&o);
    if (opt) {
        int rc = ARNET__STRUCT_IN(fn, arnet_train_options, &o, opt);
        if (rc)
            return rc;
    }
    int rc = check_options(fn, &o);
    if (rc)
        return rc;
    if (train->n_videos && train->feature_dim != model->feature_dim)
        return arnet__error(ARNET_E_SHAPE,
                            "%s: the training set has %u features per clip, the model %u",
                            fn, train->feature_dim, model->feature_dim);
    arnet_trainer *t = arnet__calloc(1, sizeof *t, "trainer");
    if (!t)
        return ARNET_E_NOMEM;
    t->model = model;
    t->train = train;
    set_options(t, &o);
    /* Its own stream: arnet train seeds the model's weights with the same
     * number, and the first step's video picks and dropout masks must not
     * replay the draws that made W1. */
    arnet__rng_seed(&t->rng, o.seed ^ ARNET__TRAINER_STREAM);
    t->n_params = arnet__param_count(model);
    rc = batch_buffers_alloc(model, train, &o, &t->bb);
    if (rc) {
        arnet__error_prefix("%s", fn);
        free(t);
        return rc;
    }
    t->grad = arnet__alloc(t->n_params, sizeof(float), "gradients");
    t->adam_m = arnet__calloc(t->n_params, sizeof(float), "Adam first moments");
    t->adam_v = arnet__calloc(t->n_params, sizeof(float), "Adam second moments");
    if (!t->grad || !t->adam_m || !t->adam_v) {
        arnet_trainer_free(t);
        return ARNET_E_NOMEM;
    }
    /* BLIS (and its threading runtime) set themselves up on first use;
     * do it here so that the first step does not allocate either. */
    float one = 1.0f, out1 = 0.0f;
    arnet__sgemm(0, 0, 1, 1, 1, 1.0f, &one, 1, &one, 1, 0.0f, &out1, 1, 1);
    *out = t;
    return ARNET_OK;
}

void arnet_trainer_free(arnet_trainer *t)
{
    if (!t)
        return;
    batch_buffers_free(&t->bb);
    free(t->grad);
    free(t->adam_m);
    free(t->adam_v);
    free(t);
}

uint64_t arnet_trainer_steps(const arnet_trainer *t) { return t ? t->step : 0; }

int arnet_trainer_get_options(const arnet_trainer *t, arnet_train_options *opt)
{
    if (!t || !opt)
        return arnet__error(ARNET_E_INVALID, "arnet_trainer_get_options: %s is NULL",
                            !t ? "trainer" : "opt");
    int rc = ARNET__STRUCT_CHECK("arnet_trainer_get_options", arnet_train_options, opt);
    if (rc)
        return rc;
    ARNET__STRUCT_OUT(arnet_train_options, opt, &t->opt);
    return ARNET_OK;
}

/* ---- one step -------------------------------------------------------------- */

typedef struct adam_job {
    const arnet__adam_hyper *h;
    uint64_t step;
    float *param;
    const float *grad;
    float *m, *v;
} adam_job;

static void adam_range(void *arg, size_t lo, size_t hi)
{
    const adam_job *j = arg;
    arnet__adam_update(j->h, j->step, j->param + lo, j->grad + lo, j->m + lo, j->v + lo,
                       hi - lo);
}

/* Adam on every parameter; W1's millions of independent elements are
 * shared by the team (each element computed as one thread computes it). */
static void adam_step(arnet_trainer *t)
{
    const arnet__adam_hyper *h = &t->adam;
    arnet_model *m = t->model;
    size_t H = m->hidden_dim, HF = H * m->feature_dim;
    uint64_t s = t->step + 1;
    float *g = t->grad, *am = t->adam_m, *av = t->adam_v;
    adam_job j = {h, s, m->w1, g, am, av};
    arnet__team_for(t->bb.ws.team, HF, (size_t)1 << 16, adam_range, &j);
    arnet__adam_update(h, s, m->b1, g + HF, am + HF, av + HF, H);
    arnet__adam_update(h, s, m->w2, g + HF + H, am + HF + H, av + HF + H, H);
    arnet__adam_update(h, s, &m->b2, g + HF + 2 * H, am + HF + 2 * H, av + HF + 2 * H, 1);
}

static int stats_ok(const char *fn, const arnet_step_stats *st)
{
    return st ? ARNET__STRUCT_CHECK(fn, arnet_step_stats, st) : ARNET_OK;
}

/* Videos [lo, hi) of a step's picks into their rows of the packed batch
 * (different videos: the team's members read and write apart). */
typedef struct gather_job {
    const arnet_dataset *ds;
    batch_buffers *bb;
    size_t F;
} gather_job;

static void gather_videos(void *arg, size_t lo, size_t hi)
{
    const gather_job *g = arg;
    batch_buffers *bb = g->bb;
    size_t r = 0;
    for (size_t i = 0; i < lo; i++)
        r += bb->rows[i];
    for (size_t i = lo; i < hi; i++) {
        const arnet__video *v = &g->ds->videos[bb->picks[i].video];
        for (size_t j = 0; j < bb->rows[i]; j++, r++)
            arnet__video_rows(v, g->F, (size_t)bb->clips[r], 1, bb->x + r * g->F);
        arnet__video_release(v);
    }
}

static int do_step(arnet_trainer *t, arnet_step_stats *out)
{
    int rc = arnet__sampler_check(t->bb.sampler);
    if (rc)
        return rc;
    batch_buffers *bb = &t->bb;
    const arnet_dataset *ds = t->train;
    size_t F = t->model->feature_dim;
    size_t n_videos = (size_t)t->opt.normal_per_batch + t->opt.anomalous_per_batch;
    size_t n_rows = arnet__sampler_draw(bb->sampler, &t->rng, bb->picks, bb->clips);
    for (size_t i = 0; i < n_videos; i++) {
        bb->rows[i] = bb->picks[i].n_rows;
        bb->labels[i] = ds->videos[bb->picks[i].video].label;
    }
    gather_job gj = {ds, bb, F};
    arnet__team_for(bb->ws.team, n_videos, 1, gather_videos, &gj);
    arnet__batch batch = {n_videos, bb->rows, bb->labels, n_rows, bb->x};
    arnet__loss_spec spec = {t->opt.loss, t->opt.reduce, t->opt.alpha, t->opt.lambda};
    arnet_step_stats st;
    arnet_step_stats_init(&st);
    rc = arnet__train_pass(t->model, &batch, &spec, &t->rng, &bb->ws, t->grad, &st);
    if (rc)
        return rc;
    adam_step(t);
    t->step++;
    st.step = t->step;
    if (out)
        ARNET__STRUCT_OUT(arnet_step_stats, out, &st);
    return ARNET_OK;
}

int arnet_trainer_step(arnet_trainer *t, arnet_step_stats *stats)
{
    if (!t)
        return arnet__error(ARNET_E_INVALID, "arnet_trainer_step: trainer is NULL");
    int rc = stats_ok("arnet_trainer_step", stats);
    if (rc)
        return rc;
    rc = do_step(t, stats);
    if (rc)
        arnet__error_prefix("arnet_trainer_step (step %" PRIu64 ")", t->step + 1);
    return rc;
}

int arnet_trainer_run(arnet_trainer *t)
{
    if (!t)
        return arnet__error(ARNET_E_INVALID, "arnet_trainer_run: trainer is NULL");
    while (t->step < t->opt.iterations) {
        arnet_step_stats st;
        arnet_step_stats_init(&st);
        int rc = do_step(t, &st);
        if (rc) {
            arnet__error_prefix("arnet_trainer_run (step %" PRIu64 ")", t->step + 1);
            return rc;
        }
        if (t->opt.progress && t->opt.progress(t->opt.progress_user, &st, t->opt.iterations))
            return arnet__error(ARNET_E_CANCELLED,
                                "arnet_trainer_run: cancelled by the progress callback after "
                                "step %" PRIu64 " of %" PRIu64,
                                t->step, t->opt.iterations);
    }
    return ARNET_OK;
}

/* ---- checkpoints ----------------------------------------------------------- */

static const char *const LOSS_NAME[3] = {"dmil-center", "dmil", "kmax-mil"};
static const char *const REDUCE_NAME[2] = {"video", "instance"};

const char *arnet_loss_name(int loss)
{
    return loss >= 0 && loss < 3 ? LOSS_NAME[loss] : NULL;
}

const char *arnet_reduce_name(int reduce)
{
    return reduce >= 0 && reduce < 2 ? REDUCE_NAME[reduce] : NULL;
}

/* Floats are written as "<decimal> (0x<bits>)": the decimal for people
 * (arnet info), the bit pattern for an exact, locale-independent read. */
static void fmt_float(char *buf, size_t size, float x)
{
    uint32_t bits;
    memcpy(&bits, &x, sizeof bits);
    snprintf(buf, size, "%.9g (0x%08" PRIx32 ")", (double)x, bits);
}

enum { N_KV = 21, KV_LEN = 80 };

typedef struct kv_text {
    const char *ptr[2 * N_KV];
    char val[N_KV][KV_LEN];
    size_t n;
} kv_text;

static char *kv_add(kv_text *kv, const char *key)
{
    kv->ptr[2 * kv->n] = key;
    kv->ptr[2 * kv->n + 1] = kv->val[kv->n];
    return kv->val[kv->n++];
}

static void trainer_kv(const arnet_trainer *t, kv_text *kv)
{
    const arnet_train_options *o = &t->opt;
    kv->n = 0;
    snprintf(kv_add(kv, "trainer.version"), KV_LEN, "%s", TRAINER_STATE_VERSION);
    snprintf(kv_add(kv, "trainer.step"), KV_LEN, "%" PRIu64, t->step);
    snprintf(kv_add(kv, "trainer.rng"), KV_LEN, "%016" PRIx64 "%016" PRIx64 "%016" PRIx64
             "%016" PRIx64, t->rng.s[0], t->rng.s[1], t->rng.s[2], t->rng.s[3]);
    snprintf(kv_add(kv, "trainer.normal_per_batch"), KV_LEN, "%" PRIu32, o->normal_per_batch);
    snprintf(kv_add(kv, "trainer.anomalous_per_batch"), KV_LEN, "%" PRIu32,
             o->anomalous_per_batch);
    fmt_float(kv_add(kv, "trainer.alpha"), KV_LEN, o->alpha);
    fmt_float(kv_add(kv, "trainer.lambda"), KV_LEN, o->lambda);
    fmt_float(kv_add(kv, "trainer.lr"), KV_LEN, o->lr);
    fmt_float(kv_add(kv, "trainer.beta1"), KV_LEN, o->beta1);
    fmt_float(kv_add(kv, "trainer.beta2"), KV_LEN, o->beta2);
    fmt_float(kv_add(kv, "trainer.eps"), KV_LEN, o->eps);
    fmt_float(kv_add(kv, "trainer.weight_decay"), KV_LEN, o->weight_decay);
    snprintf(kv_add(kv, "trainer.max_clips"), KV_LEN, "%" PRIu32, o->max_clips);
    snprintf(kv_add(kv, "trainer.loss"), KV_LEN, "%s", LOSS_NAME[o->loss]);
    snprintf(kv_add(kv, "trainer.reduce"), KV_LEN, "%s", REDUCE_NAME[o->reduce]);
    snprintf(kv_add(kv, "trainer.seed"), KV_LEN, "%" PRIu64, o->seed);
    snprintf(kv_add(kv, "trainer.threads"), KV_LEN, "%d", o->threads);
    snprintf(kv_add(kv, "trainer.iterations"), KV_LEN, "%" PRIu64, o->iterations);
    /* The data the run trains on, so that a restore can tell other data. */
    uint64_t digest = 0;
    (void)!arnet_dataset_digest(t->train, &digest); /* cannot fail: both non-NULL */
    snprintf(kv_add(kv, "trainer.data_digest"), KV_LEN, "%016" PRIx64, digest);
    snprintf(kv_add(kv, "trainer.videos_normal"), KV_LEN, "%zu", t->train->n_label[0]);
    snprintf(kv_add(kv, "trainer.videos_anomalous"), KV_LEN, "%zu", t->train->n_label[1]);
}

static const char *const TENSOR_PART[4] = {"w1", "b1", "w2", "b2"};

/* Offset and size of part i in the flat parameter layout. */
static void part_range(const arnet_model *m, int i, size_t *off, size_t *count)
{
    size_t H = m->hidden_dim, HF = H * m->feature_dim;
    size_t offs[4] = {0, HF, HF + H, HF + 2 * H}, counts[4] = {HF, H, H, 1};
    *off = offs[i];
    *count = counts[i];
}

/* The checkpoint (state: Adam moments and every trainer pair) or, without
 * state, a model-only file whose metadata gets the trainer's pairs; either
 * way followed by the caller's n_more pairs (a run's settings). */
static int save_with(const arnet_trainer *t, const char *const *more, size_t n_more,
                     int state, const char *path)
{
    const arnet_model *m = t->model;
    char names[8][16];
    arnet__tensor tensors[8];
    for (int k = 0; k < 8; k++) {
        int part = k % 4;
        size_t off, count;
        part_range(m, part, &off, &count);
        snprintf(names[k], sizeof names[k], "adam.%c.%s", k < 4 ? 'm' : 'v', TENSOR_PART[part]);
        arnet__tensor *tt = &tensors[k];
        memset(tt, 0, sizeof *tt);
        tt->name = names[k];
        tt->data = (k < 4 ? t->adam_m : t->adam_v) + off;
        if (part == 0) {
            tt->ndim = 2;
            tt->dims[0] = m->hidden_dim;
            tt->dims[1] = m->feature_dim;
        } else {
            tt->ndim = 1;
            tt->dims[0] = count;
        }
    }
    kv_text kv;
    trainer_kv(t, &kv);
    const char **all = arnet__alloc(2 * (kv.n + n_more), sizeof *all, "checkpoint settings");
    if (!all)
        return ARNET_E_NOMEM;
    memcpy(all, kv.ptr, 2 * kv.n * sizeof *all);
    if (n_more)
        memcpy(all + 2 * kv.n, more, 2 * n_more * sizeof *all);
    arnet__extra extra = {tensors, state ? 8 : 0, all, kv.n + n_more, !state};
    arnet_save_options so;
    arnet_save_options_init(&so);
    int rc = arnet__checkpoint_save(m, &so, &extra, path);
    free(all);
    return rc;
}

int arnet_trainer_save(const arnet_trainer *t, const char *path)
{
    if (!t || !path)
        return arnet__error(ARNET_E_INVALID, "arnet_trainer_save: %s is NULL",
                            !t ? "trainer" : "path");
    int rc = save_with(t, NULL, 0, 1, path);
    if (rc)
        arnet__error_prefix("arnet_trainer_save");
    return rc;
}

int arnet__trainer_save_with(const arnet_trainer *t, const char *const *kv, size_t n_kv,
                             int state, const char *path)
{
    return save_with(t, kv, n_kv, state, path);
}

/* ---- restore --------------------------------------------------------------- */

static int get_kv(const arnet__loaded_extra *e, const char *path, const char *key,
                  const char **out)
{
    *out = arnet__extra_kv(e, key);
    if (!*out)
        return arnet__error(ARNET_E_FORMAT, "%s: trainer key %s is missing", path, key);
    return ARNET_OK;
}

static int bad_value(const char *path, const char *key, const char *v)
{
    return arnet__error(ARNET_E_FORMAT, "%s: trainer key %s has a malformed value '%s'", path,
                        key, v);
}

static int parse_u64(const arnet__loaded_extra *e, const char *path, const char *key,
                     uint64_t max, uint64_t *out)
{
    const char *v;
    int rc = get_kv(e, path, key, &v);
    if (rc)
        return rc;
    uint64_t x = 0;
    if (!*v)
        return bad_value(path, key, v);
    for (const char *p = v; *p; p++) {
        uint64_t d = (uint64_t)(*p - '0');
        if (*p < '0' || *p > '9' || x > (UINT64_MAX - d) / 10)
            return bad_value(path, key, v);
        x = x * 10 + d;
    }
    if (x > max)
        return bad_value(path, key, v);
    *out = x;
    return ARNET_OK;
}

static int hex_digit(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* n hex digits at s into *out; 0 when one is not a hex digit. */
static int parse_hex(const char *s, int n, uint64_t *out)
{
    uint64_t x = 0;
    for (int i = 0; i < n; i++) {
        int d = hex_digit(s[i]);
        if (d < 0)
            return 0;
        x = x << 4 | (uint64_t)d;
    }
    *out = x;
    return 1;
}

static int parse_float(const arnet__loaded_extra *e, const char *path, const char *key,
                       float *out)
{
    const char *v;
    int rc = get_kv(e, path, key, &v);
    if (rc)
        return rc;
    const char *p = strstr(v, "(0x");
    uint64_t bits;
    if (!p || !parse_hex(p + 3, 8, &bits) || strcmp(p + 11, ")") != 0)
        return bad_value(path, key, v);
    uint32_t b32 = (uint32_t)bits;
    memcpy(out, &b32, sizeof *out);
    return ARNET_OK;
}

static int parse_name(const arnet__loaded_extra *e, const char *path, const char *key,
                      const char *const *names, int n, int *out)
{
    const char *v;
    int rc = get_kv(e, path, key, &v);
    if (rc)
        return rc;
    for (int i = 0; i < n; i++)
        if (strcmp(v, names[i]) == 0) {
            *out = i;
            return ARNET_OK;
        }
    return bad_value(path, key, v);
}

/* The trainer state a file holds, read and checked before anything of the
 * trainer changes. */
typedef struct saved_state {
    arnet_train_options opt;
    uint64_t step;
    arnet__rng rng;
    const float *moment[8];
} saved_state;

static int read_options(const arnet__loaded_extra *e, const char *path,
                        arnet_train_options *o);

static int read_state(const arnet_trainer *t, const arnet__loaded_extra *e, const char *path,
                      saved_state *s)
{
    int rc;
    const char *v;
    if ((rc = get_kv(e, path, "trainer.version", &v)))
        return rc;
    if (strcmp(v, TRAINER_STATE_VERSION) != 0)
        return arnet__error(ARNET_E_FORMAT, "%s: trainer state version %s is not supported "
                            "(this library reads %s)", path, v, TRAINER_STATE_VERSION);
    if ((rc = parse_u64(e, path, "trainer.step", UINT64_MAX, &s->step)))
        return rc;
    if ((rc = get_kv(e, path, "trainer.rng", &v)))
        return rc;
    if (strlen(v) != 64)
        return bad_value(path, "trainer.rng", v);
    for (int i = 0; i < 4; i++)
        if (!parse_hex(v + 16 * i, 16, &s->rng.s[i]))
            return bad_value(path, "trainer.rng", v);
    if (!(s->rng.s[0] | s->rng.s[1] | s->rng.s[2] | s->rng.s[3]))
        return bad_value(path, "trainer.rng", v);
    s->opt = t->opt;
    if ((rc = read_options(e, path, &s->opt)))
        return rc;
    for (int k = 0; k < 8; k++) {
        char name[16];
        size_t off, count;
        part_range(t->model, k % 4, &off, &count);
        snprintf(name, sizeof name, "adam.%c.%s", k < 4 ? 'm' : 'v', TENSOR_PART[k % 4]);
        s->moment[k] = arnet__extra_tensor(e, name, count);
        if (!s->moment[k])
            return arnet__error(ARNET_E_FORMAT,
                                "%s: trainer tensor %s is missing or does not hold %zu values",
                                path, name, count);
    }
    return ARNET_OK;
}

/* The options that shape the trajectory, from the file, over *o (the rest
 * of *o is kept); checked as arnet_trainer_create checks them. */
static int read_options(const arnet__loaded_extra *e, const char *path, arnet_train_options *o)
{
    uint64_t u;
    int rc;
    if ((rc = parse_u64(e, path, "trainer.normal_per_batch", UINT32_MAX, &u)))
        return rc;
    o->normal_per_batch = (uint32_t)u;
    if ((rc = parse_u64(e, path, "trainer.anomalous_per_batch", UINT32_MAX, &u)))
        return rc;
    o->anomalous_per_batch = (uint32_t)u;
    if ((rc = parse_u64(e, path, "trainer.max_clips", UINT32_MAX, &u)))
        return rc;
    o->max_clips = (uint32_t)u;
    if ((rc = parse_u64(e, path, "trainer.seed", UINT64_MAX, &o->seed)) ||
        (rc = parse_float(e, path, "trainer.alpha", &o->alpha)) ||
        (rc = parse_float(e, path, "trainer.lambda", &o->lambda)) ||
        (rc = parse_float(e, path, "trainer.lr", &o->lr)) ||
        (rc = parse_float(e, path, "trainer.beta1", &o->beta1)) ||
        (rc = parse_float(e, path, "trainer.beta2", &o->beta2)) ||
        (rc = parse_float(e, path, "trainer.eps", &o->eps)) ||
        (rc = parse_float(e, path, "trainer.weight_decay", &o->weight_decay)) ||
        (rc = parse_name(e, path, "trainer.loss", LOSS_NAME, 3, &o->loss)) ||
        (rc = parse_name(e, path, "trainer.reduce", REDUCE_NAME, 2, &o->reduce)))
        return rc;
    if ((rc = check_options("file", o))) {
        arnet__error_prefix("%s: trainer options", path);
        return ARNET_E_FORMAT;
    }
    return ARNET_OK;
}

int arnet__trainer_read_options(const arnet__loaded_extra *e, const char *path,
                                arnet_train_options *o)
{
    return read_options(e, path, o);
}

/* The run's training data against the trainer's: the digest the file
 * records (trainer.data_digest; files written by arnet train 0.1 carry it
 * as the model's train.data_digest metadata), when it records one. */
static int check_data(const arnet_trainer *t, const char *path, const arnet_model *lm,
                      const arnet__loaded_extra *e)
{
    const char *was = arnet__extra_kv(e, "trainer.data_digest");
    const char *vn = arnet__extra_kv(e, "trainer.videos_normal");
    const char *va = arnet__extra_kv(e, "trainer.videos_anomalous");
    if (!was) {
        was = arnet_model_get_meta(lm, "train.data_digest");
        vn = arnet_model_get_meta(lm, "train.videos_normal");
        va = arnet_model_get_meta(lm, "train.videos_anomalous");
    }
    if (!was)
        return ARNET_OK;
    uint64_t now;
    (void)!arnet_dataset_digest(t->train, &now);
    char buf[17];
    snprintf(buf, sizeof buf, "%016" PRIx64, now);
    if (strcmp(was, buf) == 0)
        return ARNET_OK;
    return arnet__error(ARNET_E_INVALID,
                        "%s: the training data differ from the run's (it trained on %s "
                        "normal + %s anomalous videos, data digest %s; the trainer's data set "
                        "has %zu + %zu, digest %s): a resumed run needs the same videos in "
                        "the same order",
                        path, vn ? vn : "?", va ? va : "?", was, t->train->n_label[0],
                        t->train->n_label[1], buf);
}

static int restore_from(arnet_trainer *t, const char *path, const arnet_model *lm,
                        const arnet__loaded_extra *e)
{
    arnet_model *m = t->model;
    if (lm->feature_dim != m->feature_dim || lm->hidden_dim != m->hidden_dim)
        return arnet__error(ARNET_E_SHAPE,
                            "%s: the file's model is %u features x %u hidden units, the "
                            "trainer's %u x %u",
                            path, lm->feature_dim, lm->hidden_dim, m->feature_dim,
                            m->hidden_dim);
    if (!e)
        return arnet__error(ARNET_E_FORMAT,
                            "%s: no trainer state in this file (a model-only file: load it "
                            "with arnet_model_load, or train from it with a new trainer)",
                            path);
    saved_state s;
    int rc = read_state(t, e, path, &s);
    if (rc)
        return rc;
    if ((rc = check_data(t, path, lm, e)))
        return rc;
    /* New sampling settings need a new sampler and buffers: made first, so
     * that a failure leaves the trainer as it was. */
    const arnet_train_options *o = &t->opt;
    if (s.opt.normal_per_batch != o->normal_per_batch ||
        s.opt.anomalous_per_batch != o->anomalous_per_batch ||
        s.opt.max_clips != o->max_clips || s.opt.threads != o->threads) {
        batch_buffers bb;
        if ((rc = batch_buffers_alloc(m, t->train, &s.opt, &bb)))
            return rc;
        batch_buffers_free(&t->bb);
        t->bb = bb;
    }
    size_t H = m->hidden_dim, HF = H * m->feature_dim;
    if (lm != m) { /* a run restores into the model it loaded */
        memcpy(m->w1, lm->w1, HF * sizeof(float));
        memcpy(m->b1, lm->b1, H * sizeof(float));
        memcpy(m->w2, lm->w2, H * sizeof(float));
        m->b2 = lm->b2;
        m->cfg.dropout = lm->cfg.dropout;
    }
    for (int k = 0; k < 8; k++) {
        size_t off, count;
        part_range(m, k % 4, &off, &count);
        memcpy((k < 4 ? t->adam_m : t->adam_v) + off, s.moment[k], count * sizeof(float));
    }
    set_options(t, &s.opt);
    t->step = s.step;
    t->rng = s.rng;
    return ARNET_OK;
}

int arnet_trainer_restore(arnet_trainer *t, const char *path)
{
    if (!t || !path)
        return arnet__error(ARNET_E_INVALID, "arnet_trainer_restore: %s is NULL",
                            !t ? "trainer" : "path");
    arnet_model *lm = NULL;
    arnet__loaded_extra *e = NULL;
    int rc = arnet__checkpoint_load(path, &lm, &e);
    if (rc == ARNET_OK)
        rc = restore_from(t, path, lm, e);
    arnet_model_free(lm);
    arnet__loaded_extra_free(e);
    if (rc)
        arnet__error_prefix("arnet_trainer_restore");
    return rc;
}

int arnet__trainer_restore_loaded(arnet_trainer *t, const char *path, const arnet_model *lm,
                                  const arnet__loaded_extra *e)
{
    return restore_from(t, path, lm, e);
}

int arnet__trainer_set_iterations(arnet_trainer *t, uint64_t iterations)
{
    t->opt.iterations = iterations;
    return ARNET_OK;
}
