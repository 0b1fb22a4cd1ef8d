/* detector_int.h -- what the detector's files (detector/) share: the model's
 * layout, checkpoints, the scorer, the training internals and the run's
 * hooks into the trainer.  On the core, the store and the data part. */
#ifndef ARNET_DETECTOR_INT_H
#define ARNET_DETECTOR_INT_H

#include "container.h"
#include "data_int.h"
#include "internal.h"

/* ---- model (model.c) ---------------------------------------------------- */


struct arnet_model {
    arnet_model_config cfg; /* hidden_dim resolved (never 0) */
    uint32_t feature_dim;   /* F */
    uint32_t hidden_dim;    /* H */
    float *w1;              /* H x F row-major */
    float *b1;              /* H */
    float *w2;              /* H */
    float b2;
    arnet__kv *meta;
    size_t n_meta;
};

/* Allocate a model with the given shape, parameters uninitialised
 * (checkpoint loading fills them). */
int arnet__model_alloc(uint32_t feature_dim, uint32_t hidden_dim, float dropout,
                       uint64_t seed, arnet_model **out);

/* Forward pass without dropout: hidden (n x H scratch, may be reused) gets
 * ReLU(X W1^T + b1); logits (n) get H w2 + b2.  Two GEMMs (the second
 * one column wide), so a row's result does not depend on n. */
void arnet__model_forward(const arnet_model *m, const float *x, size_t n, float *hidden,
                          float *logits, int threads);

/* ---- checkpoint (checkpoint.c) ----------------------------------------- */


/* Extra (trainer) content for a checkpoint: tensors, always stored f32, and
 * key/value strings.  Written as sections that model-only readers skip. */
typedef struct arnet__extra {
    const arnet__tensor *tensors;
    size_t n_tensors;
    const char *const *kv; /* key0, value0, key1, value1, ... */
    size_t n_kv;           /* number of pairs */
    int kv_as_meta;        /* 1: the pairs go into the model's metadata (a
                            * model-only file); n_tensors must be 0 */
} arnet__extra;

/* The same, owned, as read back. */
typedef struct arnet__loaded_tensor {
    char *name;
    uint32_t ndim;
    uint64_t dims[4];
    float *data;
} arnet__loaded_tensor;

typedef struct arnet__loaded_extra {
    arnet__loaded_tensor *tensors;
    size_t n_tensors;
    arnet__kv *kv;
    size_t n_kv;
} arnet__loaded_extra;

/* Write model (+ extra when not NULL) atomically to path. */
int arnet__checkpoint_save(const arnet_model *m, const arnet_save_options *opt,
                           const arnet__extra *extra, const char *path);
/* Read path; *extra is set to NULL when the file has no trainer sections
 * (extra itself may be NULL when the caller does not want them). */
int arnet__checkpoint_load(const char *path, arnet_model **model,
                           arnet__loaded_extra **extra);
void arnet__loaded_extra_free(arnet__loaded_extra *e);
/* Tensor with this name and exactly `count` elements, or NULL. */
const float *arnet__extra_tensor(const arnet__loaded_extra *e, const char *name,
                                 uint64_t count);
/* Value for key, or NULL. */
const char *arnet__extra_kv(const arnet__loaded_extra *e, const char *key);

/* The model configuration of an opened container (container.h), checked
 * (docs/checkpoint-format.md step 8); ARNET_E_FORMAT naming the file when it
 * is of another kind than "model".  Used by loading and fileinfo.c. */
typedef struct arnet__container arnet__container;
typedef struct arnet__ckp_config {
    uint32_t feature_dim, hidden_dim;
    float dropout;
    uint64_t seed;
} arnet__ckp_config;
int arnet__checkpoint_config(const arnet__container *c, arnet__ckp_config *cfg);

/* ---- scorer (scorer.c) --------------------------------------------------- */

/* The model a scorer was created with and its batch size. */
const arnet_model *arnet__scorer_model(const arnet_scorer *s);
size_t arnet__scorer_max_batch(const arnet_scorer *s);
/* Score m <= max_batch clips without argument checks; the m scores live in
 * the scorer's scratch until its next call. */
const float *arnet__scorer_run(arnet_scorer *s, const float *features, size_t m);

/* ---- training internals (backward.c, optim.c, sampler.c, trainer.c) ------ */

/* One step's videos packed row after row (no padding): video i owns rows
 * [row0_i, row0_i + rows[i]) with row0_i = rows[0] + ... + rows[i-1]. */
typedef struct arnet__batch {
    size_t n_videos;
    const size_t *rows; /* clips of each video in the batch */
    const int *labels;  /* 0 / 1 per video */
    size_t n_rows;      /* sum of rows[] */
    const float *x;     /* n_rows x feature_dim [borrowed] */
} arnet__batch;

/* Which loss and how it is reduced over the batch (ARNET_LOSS_*, ARNET_REDUCE_*). */
typedef struct arnet__loss_spec {
    int loss;
    int reduce;
    float alpha;
    float lambda;
} arnet__loss_spec;

/* Scratch of one forward/backward pass over up to max_rows packed rows. */
typedef struct arnet__pass_scratch {
    float *hidden;  /* max_rows x H: activations, then dZ1 in place */
    float *logits;  /* max_rows */
    float *dlogits; /* max_rows */
    float *tmp;     /* max_rows: a second loss gradient */
    double *colsum; /* H */
    /* The threads of the pass's big products (NULL: one thread) and their
     * scratch, arnet__sgemm_team_scratch(team, H, F) floats (may be NULL). */
    arnet__team *team;
    float *team_scratch;
    /* (max_rows x H + 63) / 64 words: the dropout mask, one bit a unit
     * (may be NULL when the pass has no dropout). */
    uint64_t *keep;
    /* max_rows indices and max_rows x F floats, or both NULL: room to run
     * dW1's product on the rows whose logit gradient is not 0 only. */
    size_t *nonzero;
    float *x_nonzero;
} arnet__pass_scratch;

/* Parameters and gradients are laid out flat as [W1 (H x F) | b1 (H) | w2 (H) | b2]. */
size_t arnet__param_count(const arnet_model *m);

/* Inverted dropout draw for one hidden unit: 1 when kept (probability
 * 1 - p).  The training forward pass makes the same test (backward.c's
 * one rule) once per element of the n_rows x H activation matrix,
 * row-major, whatever the unit's value: tests replay the mask with it. */
int arnet__dropout_keep(arnet__rng *r, float p);

/* Forward and backward pass of one packed batch: the model's training
 * forward (dropout p = m->cfg.dropout with draws from dropout_rng, or no
 * dropout when dropout_rng is NULL), the loss of spec, and its gradient for
 * every parameter into grad (flat, arnet__param_count floats).  st (may be
 * NULL) gets loss, loss_dmil and loss_center.  Returns a loss kernel's error
 * status if one fails (bad spec).  The products and the passes over the
 * activations run on ws->team; deterministic for a given team size (only
 * a product split along k depends on it). */
int arnet__train_pass(const arnet_model *m, const arnet__batch *b, const arnet__loss_spec *spec,
                      arnet__rng *dropout_rng, const arnet__pass_scratch *ws, float *grad,
                      arnet_step_stats *st);

/* Adam with torch.optim.Adam's L2 weight decay (added to the gradient).
 * Hyper-parameters are doubles, as torch holds them (Python floats). */
typedef struct arnet__adam_hyper {
    double lr, beta1, beta2, eps, weight_decay;
} arnet__adam_hyper;

/* From the float options: each becomes the shortest decimal that rounds to
 * that float (0.999f -> 0.999), i.e. the number the user wrote, so that
 * 1 - beta2 is 0.001 as in torch and not 1 - 0.999f = 0.00099998713. */
void arnet__adam_hyper_set(arnet__adam_hyper *h, float lr, float beta1, float beta2, float eps,
                           float weight_decay);

/* One Adam update of n parameters; step is 1-based (bias corrections). */
void arnet__adam_update(const arnet__adam_hyper *h, uint64_t step, float *param,
                        const float *grad, float *m, float *v, size_t n);

/* Sampling of a step's batch (docs/method.md): per class, videos drawn without
 * replacement inside the step; a video longer than max_clips is resampled
 * (anomalous: one random clip from each of max_clips equal bins) or cropped
 * (normal: a random contiguous window). */
typedef struct arnet__sampler arnet__sampler;

typedef struct arnet__pick {
    uint32_t video;  /* index in the data set */
    uint32_t n_rows; /* clips taken, min(n_clips, max_clips) */
} arnet__pick;

/* ARNET_E_INVALID (naming the class) when the data set has fewer videos of
 * a class than asked for.  Keeps a reference to ds. */
int arnet__sampler_create(const arnet_dataset *ds, uint32_t n_normal, uint32_t n_anomalous,
                          uint32_t max_clips, arnet__sampler **out);
void arnet__sampler_free(arnet__sampler *s);
/* Rows of the largest batch the sampler can draw (what scratch must hold). */
size_t arnet__sampler_max_rows(const arnet__sampler *s);
/* ARNET_E_STATE when the data set gained videos since creation. */
int arnet__sampler_check(const arnet__sampler *s);
/* Draw one step: picks gets n_normal then n_anomalous entries, clips gets,
 * for every packed row, the clip index inside its video (increasing within
 * a video).  Returns the number of rows.  Never allocates. */
size_t arnet__sampler_draw(arnet__sampler *s, arnet__rng *r, arnet__pick *picks,
                           uint32_t *clips);

/* For runs (run.c): save the trainer (state 1: the checkpoint; 0: a
 * model-only file whose metadata gets the trainer's pairs) with the n_kv
 * pairs kv (key0, value0, ...) added; read the options a checkpoint's
 * trainer pairs hold over *o (checked); restore from a loaded file, whose
 * model lm may be the trainer's own (its weights are then already there). */
int arnet__trainer_save_with(const arnet_trainer *t, const char *const *kv, size_t n_kv,
                             int state, const char *path);
int arnet__trainer_read_options(const arnet__loaded_extra *e, const char *path,
                                arnet_train_options *o);
int arnet__trainer_restore_loaded(arnet_trainer *t, const char *path, const arnet_model *lm,
                                  const arnet__loaded_extra *e);
/* A new step target (the run's arnet_run_set_iterations). */
int arnet__trainer_set_iterations(arnet_trainer *t, uint64_t iterations);

#endif /* ARNET_DETECTOR_INT_H */
