/* internal.h -- what the library's source files share and callers never see.
 * Nothing here is exported: everything is hidden by -fvisibility=hidden. */
#ifndef ARNET_INTERNAL_H
#define ARNET_INTERNAL_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "arnet/arnet.h"

#if defined(__GNUC__)
#define ARNET_PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define ARNET_PRINTF(a, b)
#endif

/* ---- errors (error.c) --------------------------------------------------- */

/* Record a message for the calling thread and return status, so that error
 * paths read `return arnet__error(ARNET_E_FORMAT, "%s: ...", path);`. */
int arnet__error(int status, const char *fmt, ...) ARNET_PRINTF(2, 3);
/* Prefix the current message with "prefix: " (adds context on the way out). */
void arnet__error_prefix(const char *fmt, ...) ARNET_PRINTF(1, 2);
/* As arnet__error(ARNET_E_IO, ...) for a failure of the system's, recording
 * err for arnet_last_errno() (the message still says strerror(err) itself). */
int arnet__error_os(int err, const char *fmt, ...) ARNET_PRINTF(2, 3);

/* Overflow-checked size arithmetic: return 0 on overflow. */
int arnet__mul_size(size_t a, size_t b, size_t *out);
int arnet__add_size(size_t a, size_t b, size_t *out);
/* malloc/calloc that set ARNET_E_NOMEM messages naming what was wanted. */
void *arnet__alloc(size_t n, size_t size, const char *what);
void *arnet__calloc(size_t n, size_t size, const char *what);
char *arnet__strdup(const char *s);

/* ---- versioned structs (error.c) ------------------------------------------ */

/* Every public struct starts with size_t struct_size, the caller's sizeof.
 * Fields are only appended, so a caller built against an older header has a
 * shorter struct: the library reads and writes only the prefix it has.  The
 * smallest size accepted is the end of the struct's last field in the
 * release that introduced it (tests/abi/structs-0.txt records the layouts). */
#define ARNET__SIZE_TO(type, field) (offsetof(type, field) + sizeof(((type *)0)->field))
/* 0.1.0 */
#define ARNET__MIN_arnet_model_config ARNET__SIZE_TO(arnet_model_config, seed)
#define ARNET__MIN_arnet_save_options ARNET__SIZE_TO(arnet_save_options, compression_level)
#define ARNET__MIN_arnet_file_info ARNET__SIZE_TO(arnet_file_info, has_trainer)
#define ARNET__MIN_arnet_file_entry ARNET__SIZE_TO(arnet_file_entry, stored_bytes)
#define ARNET__MIN_arnet_scorer_options ARNET__SIZE_TO(arnet_scorer_options, threads)
#define ARNET__MIN_arnet_event ARNET__SIZE_TO(arnet_event, peak_score)
#define ARNET__MIN_arnet_stream_options ARNET__SIZE_TO(arnet_stream_options, user)
#define ARNET__MIN_arnet_stream_result ARNET__SIZE_TO(arnet_stream_result, event)
#define ARNET__MIN_arnet_stream_state ARNET__SIZE_TO(arnet_stream_state, alarms)
#define ARNET__MIN_arnet_npy_options ARNET__SIZE_TO(arnet_npy_options, crop)
#define ARNET__MIN_arnet_load_options ARNET__SIZE_TO(arnet_load_options, feature_dim)
#define ARNET__MIN_arnet_video_info ARNET__SIZE_TO(arnet_video_info, frame_labels)
#define ARNET__MIN_arnet_synth_options ARNET__SIZE_TO(arnet_synth_options, scale)
#define ARNET__MIN_arnet_eval_options ARNET__SIZE_TO(arnet_eval_options, far_threshold)
#define ARNET__MIN_arnet_eval_result ARNET__SIZE_TO(arnet_eval_result, per_video)
#define ARNET__MIN_arnet_step_stats ARNET__SIZE_TO(arnet_step_stats, loss_center)
#define ARNET__MIN_arnet_train_options ARNET__SIZE_TO(arnet_train_options, progress_user)
/* 0.2.0 */
#define ARNET__MIN_arnet_extractor_options ARNET__SIZE_TO(arnet_extractor_options, clip_frames)
#define ARNET__MIN_arnet_frame ARNET__SIZE_TO(arnet_frame, strides)
#define ARNET__MIN_arnet_npy_info ARNET__SIZE_TO(arnet_npy_info, item_size)
#define ARNET__MIN_arnet_manifest_entry ARNET__SIZE_TO(arnet_manifest_entry, n_frames)
#define ARNET__MIN_arnet_run_options ARNET__SIZE_TO(arnet_run_options, user)
#define ARNET__MIN_arnet_run_eval ARNET__SIZE_TO(arnet_run_eval, result)
#define ARNET__MIN_arnet_run_info ARNET__SIZE_TO(arnet_run_info, best_far)
#define ARNET__MIN_arnet_calibration ARNET__SIZE_TO(arnet_calibration, data)
#define ARNET__MIN_arnet_flow_options ARNET__SIZE_TO(arnet_flow_options, threads)

/* ARNET_E_INVALID "<fn>: <type>.struct_size is N, below the M bytes of its
 * first release (call <type>_init first)" when s's struct_size < min_size. */
int arnet__struct_check(const char *fn, const char *type, const void *s, size_t min_size);
/* Read a caller's input struct: dst (dst_size bytes, already holding the
 * defaults) gets the first min(src->struct_size, dst_size) bytes of src, so
 * fields an older caller does not have keep their defaults; dst's
 * struct_size stays dst_size.  Fails as arnet__struct_check. */
int arnet__struct_in(const char *fn, const char *type, void *dst, size_t dst_size,
                     const void *src, size_t min_size);
/* Fill a caller's output struct from src (src_size bytes): only the first
 * min(dst->struct_size, src_size) bytes are written and dst's struct_size
 * is kept.  Check dst with arnet__struct_check first. */
void arnet__struct_out(void *dst, const void *src, size_t src_size);
/* The same, typed: type is the public struct's name; the pointers must be
 * of that type (a mismatch warns). */
#define ARNET__STRUCT_CHECK(fn, type, p) \
    arnet__struct_check(fn, #type, 1 ? (p) : (const type *)0, ARNET__MIN_##type)
#define ARNET__STRUCT_IN(fn, type, dst, src)                                          \
    arnet__struct_in(fn, #type, 1 ? (dst) : (type *)0, sizeof(type),                  \
                     1 ? (src) : (const type *)0, ARNET__MIN_##type)
#define ARNET__STRUCT_OUT(type, dst, src) \
    arnet__struct_out(1 ? (dst) : (type *)0, 1 ? (src) : (const type *)0, sizeof(type))

/* ---- random numbers (rng.c) ---------------------------------------------- */

/* xoshiro256** seeded through splitmix64: same seed, same stream on every
 * platform and compiler (integer arithmetic only, floats built from bits). */
typedef struct arnet__rng {
    uint64_t s[4];
} arnet__rng;

/* Mixed into the seed of a trainer's generator, so that its draws never
 * replay those that initialised a model created with the same seed. */
#define ARNET__TRAINER_STREAM 0x7a11e75eed0f5eedull
void arnet__rng_seed(arnet__rng *r, uint64_t seed);
uint64_t arnet__rng_next(arnet__rng *r);
/* Uniform in [0, 1) with 53 random bits. */
double arnet__rng_uniform(arnet__rng *r);
/* Uniform integer in [0, n), unbiased (n >= 1). */
uint64_t arnet__rng_below(arnet__rng *r, uint64_t n);
/* Standard normal (Box-Muller on the above; deterministic). */
double arnet__rng_normal(arnet__rng *r);

/* ---- teams of threads: team.h ------------------------------------------- */

#include "team.h"

/* ---- BLIS glue (blas.c) --------------------------------------------------- */

/* One-time BLIS set-up (kernel choice, see docs/blis.md).  Thread-safe. */
void arnet__blas_init(void);

/* Row-major single-precision GEMM through BLIS:
 *   C (m x n) = alpha * op(A) * op(B) + beta * C
 * op(A) is m x k (A is m x k, or k x m when trans_a), op(B) is k x n (B is
 * k x n, or n x k when trans_b).  lda/ldb/ldc are row strides.  threads is
 * the BLIS thread count for this call only (a per-call rntm_t: the host's
 * global BLIS settings are never touched). */
void arnet__sgemm(int trans_a, int trans_b, size_t m, size_t n, size_t k, float alpha,
                  const float *a, size_t lda, const float *b, size_t ldb, float beta,
                  float *c, size_t ldc, int threads);

/* The same product shared by a team (each member single-threaded BLIS on
 * whole parts taken from a counter; blas.c says why).  scratch: NULL, or
 * arnet__sgemm_team_scratch floats, which lets a product whose k dominates
 * be split along k into partial sums.  A NULL or one-member team is
 * arnet__sgemm with one thread.  Results depend on the team's size only
 * through the split along k (an order of additions). */
size_t arnet__sgemm_team_scratch(const arnet__team *team, size_t m, size_t n);
void arnet__sgemm_team(arnet__team *team, int trans_a, int trans_b, size_t m, size_t n, size_t k,
                       float alpha, const float *a, size_t lda, const float *b, size_t ldb,
                       float beta, float *c, size_t ldc, float *scratch);

/* ---- model (model.c) ---------------------------------------------------- */

typedef struct arnet__kv {
    char *key;
    char *value;
} arnet__kv;

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

/* Numerically safe sigmoid and softplus, shared by scoring and losses. */
float arnet__sigmoid(float z);
/* ARNET_E_INVALID "<where>: clip R, value C is NaN|infinite" (no prefix
 * when where is NULL) for the first non-finite value of a rows x cols
 * matrix, else ARNET_OK.  A NaN feature
 * would otherwise vanish in the ReLU and give a plausible score. */
int arnet__check_finite(const char *where, const float *x, size_t rows, size_t cols);
/* ARNET_E_INVALID "<where>: clip I scored NaN ..." for the first NaN of n
 * scores (finite features so large that the hidden layer overflowed), else
 * ARNET_OK. */
int arnet__check_scores(const char *where, const float *scores, size_t n, size_t first_clip);
double arnet__softplus(double z);
/* The shortest decimal (1 to 9 significant digits) that reads back as x,
 * as a double: the number a user wrote for a float option (0.8f -> 0.8),
 * for arithmetic that the references do in double (numeric.c). */
double arnet__float_decimal(float x);

/* ---- checkpoint (checkpoint.c) ----------------------------------------- */

/* A named float tensor handed to the writer ([borrowed]). */
typedef struct arnet__tensor {
    const char *name;
    uint32_t ndim;    /* 1..4 */
    uint64_t dims[4];
    const float *data;
} arnet__tensor;

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

/* ---- files (fileio.c) ------------------------------------------------------ */

/* Every file the library writes replaces its path atomically, one way:
 *   - the bytes go to "<path>.tmp.<host>.<pid>.<n>" beside it, created with
 *     O_EXCL and mode 0666 minus the umask (as any new file);
 *   - fsync of the file, close, rename over path, then fsync of the folder;
 *   - on any failure the temporary is removed and path is unchanged:
 *     ARNET_E_IO "<path>: <step> failed: <reason> (the file was left
 *     unchanged)", or "<path>: cannot create a temporary file beside it";
 *   - temporaries of path left by a process of this machine (its host
 *     name in the temporary's) that no longer exists (killed mid-write)
 *     are removed when path is next written; a live process's, and any
 *     other machine's (a shared file system), are left alone.
 * Streaming: arnet__wfile_open, any number of arnet__wfile_write, then
 * arnet__wfile_commit; or arnet__wfile_abort (safe after a failed call,
 * which has already cleaned up, and twice). */
typedef struct arnet__wfile {
    int fd;
    char *path, *tmp, *dir; /* owned; NULL once committed or aborted */
} arnet__wfile;
int arnet__wfile_open(arnet__wfile *f, const char *path);
int arnet__wfile_write(arnet__wfile *f, const void *data, size_t size);
int arnet__wfile_commit(arnet__wfile *f);
void arnet__wfile_abort(arnet__wfile *f);
/* The whole of data in one go (open, write, commit). */
int arnet__atomic_write(const char *path, const void *data, size_t size);

/* Every path the library reads is opened here: a regular file, or
 * ARNET_E_IO "<path>: a pipe (FIFO), not a regular file" (directory,
 * device, socket likewise) without ever blocking on a FIFO.  *size (may be
 * NULL) gets the file's size.  *fd / *fp [transferred]. */
int arnet__open_read(const char *path, int *fd, uint64_t *size);
int arnet__fopen_read(const char *path, FILE **fp, uint64_t *size);
/* The whole regular file at path: *out [transferred] (free), *size bytes. */
int arnet__read_file(const char *path, uint8_t **out, size_t *size);

/* ---- data sets (dataset.c) ------------------------------------------------ */

/* A feature file mapped read-only (arnet_load_options.mmap): the data
 * stay in the page cache, shared, and rows are computed when needed. */
typedef struct arnet__map {
    void *base;        /* for munmap */
    size_t len;
    const float *data; /* first element: native float32, C order */
    size_t T, C, F;    /* clips, crops (1 for [T, F]), features */
    int ctf;           /* [C, T, F] */
} arnet__map;

/* Where a mapped video's rows come from: one file, or RGB + flow side by
 * side (T is the shorter's); crop -1 = mean of the crops, else that crop. */
typedef struct arnet__src {
    arnet__map part[2];    /* a file, or the first file of a crop set */
    arnet__map *extra[2];  /* a crop set's other files (n_files - 1), or NULL */
    size_t n_files[2];     /* 1, or the crop set's files */
    int n_parts;
    int crop;
} arnet__src;

/* Unmap and free a source (NULL is fine). */
void arnet__src_free(arnet__src *src);

/* Map path's data when it is native float32 in C order, the data 4-byte
 * aligned: ARNET_OK; 1 when it is another kind of .npy (read it instead);
 * errors as arnet_npy_read's (the layout rule included). */
int arnet__npy_map(const char *path, int layout, arnet__map *out);
void arnet__map_free(arnet__map *m);

typedef struct arnet__video {
    char *name;
    int label;
    size_t n_clips;
    float *features;       /* n_clips x feature_dim */
    size_t n_frames;       /* 0 = no frame ground truth */
    uint8_t *frame_labels; /* n_frames 0/1, or NULL */
    int crop;              /* ARNET_CROP_EACH entries: the crop (0..group-1), else -1 */
    size_t group;          /* on crop 0 of such entries: the crops that follow it, 1..C */
    arnet__src *src;       /* mapped (features NULL unless one [T, F] file), or NULL */
} arnet__video;

/* Rows t0 .. t0 + n - 1 of v as n x F floats into out (F the data set's
 * feature_dim): the same floats arnet_npy_read gives (crop means in
 * double, rounded once). */
void arnet__video_rows(const arnet__video *v, size_t F, size_t t0, size_t n, float *out);
/* Done with v's rows for now: drop its mapped pages from this process
 * (they stay in the page cache), so that the resident set does not grow
 * with the data set.  Nothing for a loaded video. */
void arnet__video_release(const arnet__video *v);
/* Add a mapped video (src [transferred], freed on failure). */
int arnet__dataset_add_mapped(arnet_dataset *ds, char *name, arnet__src *src, size_t n_clips,
                              uint32_t feature_dim, int label, uint8_t *frame_labels,
                              size_t n_frames);

struct arnet_dataset {
    uint32_t feature_dim;
    size_t n_videos;
    size_t cap;
    arnet__video *videos;
    size_t n_label[2];
};

/* Add a video whose buffers the data set takes over (name, features,
 * frame_labels [transferred], freed on failure too), so that loading a
 * manifest never holds two copies of the features. */
int arnet__dataset_add_owned(arnet_dataset *ds, char *name, float *features, size_t n_clips,
                             uint32_t feature_dim, int label, uint8_t *frame_labels,
                             size_t n_frames);

/* The crop layout of a rank-3 feature file [a, b, F] (ARNET_LAYOUT_*),
 * resolving AUTO by the crop-count rule in arnet.h; errors name path. */
int arnet__npy_layout(const char *path, uint64_t a, uint64_t b, int layout, int *resolved);

/* ---- metrics (metrics.c) -------------------------------------------------- */

/* ROC AUC, average precision and trapezoidal PR area from one sort (any of
 * the outputs may be NULL).  fn names the public caller in error messages. */
int arnet__binary_metrics(const char *fn, const float *scores, const uint8_t *labels, size_t n,
                          double *auc, double *ap, double *pr_auc);

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
 * status if one fails (bad spec).  The big products run on ws->team;
 * deterministic for a given team size. */
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

#endif /* ARNET_INTERNAL_H */
