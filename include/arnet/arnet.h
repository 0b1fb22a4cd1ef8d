/* arnet.h -- public interface of libarnet, weakly supervised video anomaly
 * detection (AR-Net, Wan et al., ICME 2020) as an embeddable C library.
 *
 * This header is the manual.  It reads top to bottom: versions, status codes
 * and errors, the model, checkpoint files, scoring and camera streams, data
 * sets and evaluation, training, loss kernels, metrics.
 *
 * Conventions that hold for every function below:
 *  - Functions return ARNET_OK (0) or a negative ARNET_E_* status.  Results go
 *    through out-parameters, placed last; on failure they are left untouched
 *    unless stated otherwise, and arnet_last_error() says what went wrong.
 *  - Pointer ownership is written beside each argument:
 *      [borrowed]        read or written during the call only;
 *      [borrowed, life]  must stay valid for as long as the handle lives;
 *      [transferred]     the callee (or caller, for outputs) owns it after.
 *  - Destructors accept NULL.
 *  - Option and result structs start with `size_t struct_size`, set by their
 *    *_init() function.  Always call *_init() first; fields are only ever
 *    appended, so old callers keep working with new libraries.
 *  - The library never prints, never exits and never aborts on bad input.
 *
 * Threading (see also each function):
 *  - arnet_model is read-only once created or loaded: any number of threads
 *    may score with one model at once (arnet_model_score, scorers, streams,
 *    arnet_evaluate), as long as no thread modifies it at the same time
 *    (arnet_model_set_params, arnet_model_set_meta, a trainer using it).
 *  - arnet_scorer, arnet_stream, arnet_trainer and arnet_dataset are not
 *    internally locked: one thread at a time per handle.  Different handles
 *    may be used from different threads freely.
 *  - Error messages are per thread.
 *  - Functions without a handle (*_init, loaders, file readers and writers,
 *    loss kernels, metrics) share no state: thread-safe.  Destructors: only
 *    once no other thread, scorer or trainer uses the handle.
 *  - Callbacks (stream events, training progress, file listing) run
 *    synchronously on the thread that made the call, inside it.
 *  - The first call that runs BLIS initialises it once (pthread_once) and
 *    may set and unset BLIS_ARCH_TYPE meanwhile; setenv is not safe against
 *    another thread's getenv, so call arnet_blas_arch() before starting
 *    threads if that matters (docs/blis.md).
 *
 * Copyright and licence: see COPYING (MIT).
 */
#ifndef ARNET_ARNET_H
#define ARNET_ARNET_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------------------ */
/* Export and attribute macros                                              */
/* ------------------------------------------------------------------------ */

#if defined(_WIN32) && defined(ARNET_BUILDING_LIBRARY)
#define ARNET_API __declspec(dllexport)
#elif defined(_WIN32)
#define ARNET_API
#elif defined(__GNUC__) && __GNUC__ >= 4
#define ARNET_API __attribute__((visibility("default")))
#else
#define ARNET_API
#endif

#if defined(__GNUC__) && __GNUC__ >= 4
#define ARNET_NODISCARD __attribute__((warn_unused_result))
#else
#define ARNET_NODISCARD
#endif

/* ------------------------------------------------------------------------ */
/* Versions                                                                  */
/* ------------------------------------------------------------------------ */

#define ARNET_VERSION_MAJOR 0
#define ARNET_VERSION_MINOR 1
#define ARNET_VERSION_PATCH 0
#define ARNET_VERSION "0.1.0"
/* MAJOR * 10000 + MINOR * 100 + PATCH, for #if comparisons. */
#define ARNET_VERSION_NUMBER \
    (ARNET_VERSION_MAJOR * 10000 + ARNET_VERSION_MINOR * 100 + ARNET_VERSION_PATCH)
/* Changes only when the binary interface breaks (the SONAME's number). */
#define ARNET_ABI_VERSION 0

/* The library's version string ("0.1.0"), as compiled into the library that
 * was actually loaded.  Static storage. Thread-safe. */
ARNET_API const char *arnet_version(void);
/* ARNET_ABI_VERSION of the loaded library: bindings refuse a mismatch.
 * Thread-safe (pure function). */
ARNET_API int arnet_abi_version(void);
/* Checkpoint file format version this library writes: major * 100 + minor.
 * Readers accept any minor of their major (they skip unknown sections).
 * Thread-safe (pure function). */
ARNET_API int arnet_checkpoint_format_version(void);

/* Name of the BLIS kernel set that matrix products run on ("skx", "zen3",
 * "haswell", "generic", ...).  The first call initialises BLIS; see
 * docs/blis.md for how the library picks fast kernels on processors that
 * Debian's BLIS 0.9 does not recognise, and how BLIS_ARCH_TYPE (if the user
 * set it) always wins.  Static storage.  Thread-safe (pthread_once); see
 * the BLIS note at the top about the environment. */
ARNET_API const char *arnet_blas_arch(void);

/* ------------------------------------------------------------------------ */
/* Status codes and errors                                                   */
/* ------------------------------------------------------------------------ */

#define ARNET_OK 0
#define ARNET_E_INVALID (-1)   /* bad argument */
#define ARNET_E_NOMEM (-2)     /* out of memory */
#define ARNET_E_IO (-3)        /* file could not be read or written */
#define ARNET_E_FORMAT (-4)    /* malformed or unsupported file */
#define ARNET_E_SHAPE (-5)     /* dimension mismatch */
#define ARNET_E_STATE (-6)     /* call not valid now */
#define ARNET_E_CANCELLED (-7) /* a callback asked to stop */

/* Short name of a status code ("invalid argument", ...).  Never NULL; an
 * unknown code gives "unknown status".  Static storage.  Thread-safe. */
ARNET_API const char *arnet_strerror(int status);

/* Message for the last failure on the calling thread, saying what was wrong
 * and where (file, line, argument, dimension); "" when none.  Valid until the
 * next libarnet call on this thread.  Thread-safe (thread-local). */
ARNET_API const char *arnet_last_error(void);

/* Forget the calling thread's last error message.  Thread-safe
 * (thread-local). */
ARNET_API void arnet_clear_error(void);

/* Free memory the library handed over ([transferred] outputs such as
 * arnet_npy_read's data or arnet_model_save_buffer's buffer).  NULL is fine.
 * Thread-safe, as free(). */
ARNET_API void arnet_free(void *ptr);

/* ------------------------------------------------------------------------ */
/* Model                                                                     */
/* ------------------------------------------------------------------------ */

/* The AR-Net scorer network (METHOD.md eq. 1-2):
 *     H = Dropout_p(ReLU(X W1^T + b1)),  s = sigmoid(H w2 + b2)
 * X is n_clips x feature_dim (row-major), W1 is hidden_dim x feature_dim. */
typedef struct arnet_model arnet_model;

typedef struct arnet_model_config {
    size_t struct_size;
    uint32_t feature_dim; /* F >= 1; default 2048 (I3D RGB + flow) */
    uint32_t hidden_dim;  /* 0 means "equal to feature_dim" (the paper) */
    float dropout;        /* training only, in [0, 1); default 0.7 */
    uint64_t seed;        /* weight initialisation seed; default 1 */
} arnet_model_config;

/* Fill *cfg with the paper's defaults: 2048, 0 (= feature_dim), 0.7, 1.
 * Thread-safe (writes *cfg only). */
ARNET_API void arnet_model_config_init(arnet_model_config *cfg);

/* Create a model with Xavier-uniform W1 and w2 drawn from the library's own
 * seeded generator (the same seed gives the same weights on every machine
 * and compiler) and zero biases.  cfg [borrowed]; *out [transferred], free
 * with arnet_model_free.  ARNET_E_INVALID names the bad field.  Thread-safe
 * (no shared state). */
ARNET_API ARNET_NODISCARD int arnet_model_create(const arnet_model_config *cfg,
                                                 arnet_model **out);
/* Only once no other thread, scorer or trainer uses m. */
ARNET_API void arnet_model_free(arnet_model *m);

/* Thread-safe with a shared model (read only). */
ARNET_API uint32_t arnet_model_feature_dim(const arnet_model *m);
ARNET_API uint32_t arnet_model_hidden_dim(const arnet_model *m);
/* Copy the model's configuration (hidden_dim resolved, never 0) to *cfg,
 * which must have been set up with arnet_model_config_init.  Thread-safe
 * with a shared model (read only). */
ARNET_API int arnet_model_get_config(const arnet_model *m, arnet_model_config *cfg);

/* Score n_clips clips: features [borrowed] is n_clips x feature_dim
 * row-major float32, scores [borrowed] receives n_clips values in [0, 1].
 * Dropout is off.  One matrix product per layer on one thread; it allocates
 * scratch memory per call (use an arnet_scorer on hot paths).  A NaN or
 * infinite feature value is ARNET_E_INVALID naming the clip and value (it
 * would otherwise vanish in the ReLU and look like an ordinary score);
 * nothing is written then.  Finite values so large (near 3.4e38) that the
 * hidden layer overflows give a NaN score: ARNET_E_INVALID naming the clip
 * (scores written, that one NaN).  Thread-safe with a shared model. */
ARNET_API ARNET_NODISCARD int arnet_model_score(const arnet_model *m, const float *features,
                                                size_t n_clips, float *scores);

/* Copy the parameters out (any pointer may be NULL to skip that tensor):
 * w1 hidden x feature, b1 hidden, w2 hidden, b2 one value.  Thread-safe
 * with a shared model (read only). */
ARNET_API int arnet_model_get_params(const arnet_model *m, float *w1, float *b1, float *w2,
                                     float *b2);
/* Deep-copy new parameters in (NULL leaves that tensor unchanged).  Writes
 * the model: no other thread may use it meanwhile (score, read or save). */
ARNET_API int arnet_model_set_params(arnet_model *m, const float *w1, const float *b1,
                                     const float *w2, const float *b2);

/* Free-form key/value metadata stored in checkpoints (training settings,
 * step count, data set name, library version...).  Keys are 1..255 bytes of
 * printable ASCII without spaces, values up to 64 KiB of UTF-8; value NULL
 * removes the key.  Strings are copied.  Writes the model: no other thread
 * may use it meanwhile, and pointers from arnet_model_get_meta or
 * arnet_model_meta_at may dangle after it. */
ARNET_API int arnet_model_set_meta(arnet_model *m, const char *key, const char *value);
/* The value for key, or NULL.  [borrowed, valid until the model's metadata
 * changes or the model is freed].  This, arnet_model_meta_count and
 * arnet_model_meta_at: thread-safe with a shared model (read only). */
ARNET_API const char *arnet_model_get_meta(const arnet_model *m, const char *key);
ARNET_API size_t arnet_model_meta_count(const arnet_model *m);
/* i-th pair in insertion order; both out-pointers [borrowed as above].
 * Thread-safe with a shared model (read only). */
ARNET_API int arnet_model_meta_at(const arnet_model *m, size_t i, const char **key,
                                  const char **value);

/* ------------------------------------------------------------------------ */
/* Checkpoint files (format: docs/checkpoint-format.md)                      */
/* ------------------------------------------------------------------------ */

#define ARNET_STORAGE_F32 0 /* exact (default) */
#define ARNET_STORAGE_F16 1 /* half the size; scores within 1e-3 */

typedef struct arnet_save_options {
    size_t struct_size;
    int storage;           /* ARNET_STORAGE_F32 or ARNET_STORAGE_F16 */
    int compression_level; /* zlib level 0..9; default 6 */
} arnet_save_options;

/* Thread-safe (writes *opt only). */
ARNET_API void arnet_save_options_init(arnet_save_options *opt);

/* Save atomically: write a temporary file beside path, fsync, rename.  A
 * crash or full disk never leaves a half-written file under path.  f32
 * storage, default compression.  Thread-safe with a shared model (read
 * only); temporary names are unique, so two saves to one path leave one
 * complete file (the last renamed). */
ARNET_API ARNET_NODISCARD int arnet_model_save(const arnet_model *m, const char *path);
/* As arnet_model_save with options (NULL = defaults); thread-safe likewise. */
ARNET_API ARNET_NODISCARD int arnet_model_save_ex(const arnet_model *m, const char *path,
                                                  const arnet_save_options *opt);
/* Serialise to memory: *buf [transferred] (free with arnet_free), *size bytes.
 * Thread-safe with a shared model (read only). */
ARNET_API ARNET_NODISCARD int arnet_model_save_buffer(const arnet_model *m,
                                                      const arnet_save_options *opt,
                                                      void **buf, size_t *size);
/* Load a model.  Every size and offset is validated before anything is
 * allocated: a truncated, corrupted, oversized, wrong-magic or
 * future-major-version file gives ARNET_E_FORMAT and a message saying what
 * is wrong.  Trainer sections, if present, are skipped.  Thread-safe (no
 * shared state; each call builds a new model). */
ARNET_API ARNET_NODISCARD int arnet_model_load(const char *path, arnet_model **out);
/* As arnet_model_load from size bytes at buf [borrowed]; the model keeps no
 * reference to buf.  Thread-safe; buf must not change during the call. */
ARNET_API ARNET_NODISCARD int arnet_model_load_buffer(const void *buf, size_t size,
                                                      arnet_model **out);

/* What a checkpoint file says about itself, without building a model. */
typedef struct arnet_file_info {
    size_t struct_size;
    uint32_t format_major;
    uint32_t format_minor;
    uint32_t feature_dim;
    uint32_t hidden_dim;
    float dropout;
    int storage;          /* ARNET_STORAGE_* of the model tensors */
    uint64_t file_size;   /* bytes */
    uint32_t n_tensors;   /* all tensors, model and trainer */
    uint32_t n_sections;  /* all sections, known or not */
    int has_trainer;      /* 1 when the file can resume training */
} arnet_file_info;

/* arnet_file_info_init writes *info only; arnet_file_info_read fills it from
 * the file at path (info set up by arnet_file_info_init).  Both thread-safe
 * (no shared state). */
ARNET_API void arnet_file_info_init(arnet_file_info *info);
ARNET_API ARNET_NODISCARD int arnet_file_info_read(const char *path, arnet_file_info *info);

/* One thing a checkpoint file holds, as arnet_file_list reports it. */
#define ARNET_ENTRY_TENSOR 0  /* a named tensor */
#define ARNET_ENTRY_META 1    /* a metadata key/value pair */
#define ARNET_ENTRY_UNKNOWN 2 /* a section this library does not know (skipped) */

typedef struct arnet_file_entry {
    size_t struct_size;
    int kind;              /* ARNET_ENTRY_* */
    int trainer;           /* 1: trainer state, which arnet_model_load skips */
    const char *name;      /* tensor name or metadata key; NULL for UNKNOWN */
    const char *value;     /* metadata value; NULL otherwise */
    uint32_t ndim;         /* tensors: 1..4 */
    uint64_t dims[4];      /* tensors: the shape, unused entries 0 */
    int storage;           /* tensors: ARNET_STORAGE_* */
    uint32_t section_type; /* the section's type number in the file */
    uint64_t stored_bytes; /* tensors and UNKNOWN: the section's bytes in the file */
} arnet_file_entry;

/* Return nonzero to stop the listing (arnet_file_list then returns
 * ARNET_E_CANCELLED).  entry and its strings are [borrowed] for the call.
 * Called synchronously on the thread that called arnet_file_list. */
typedef int (*arnet_file_entry_fn)(void *user, const arnet_file_entry *entry);

/* Call fn for every tensor, metadata pair and unknown section of the
 * checkpoint at path, in file order (what `arnet info` prints), after the
 * same checks as arnet_file_info_read.  Tensor data is not decoded.
 * Thread-safe (no shared state); fn runs on the calling thread. */
ARNET_API ARNET_NODISCARD int arnet_file_list(const char *path, arnet_file_entry_fn fn,
                                              void *user);

/* ------------------------------------------------------------------------ */
/* Scorer: scratch memory for scoring with one model                         */
/* ------------------------------------------------------------------------ */

typedef struct arnet_scorer arnet_scorer;

typedef struct arnet_scorer_options {
    size_t struct_size;
    size_t max_batch; /* clips per matrix product; default 256 */
    int threads;      /* BLIS threads per product; default 1 */
} arnet_scorer_options;

/* Thread-safe (writes *opt only). */
ARNET_API void arnet_scorer_options_init(arnet_scorer_options *opt);
/* model [borrowed, life] (read only: share it between scorers and threads);
 * opt [borrowed] (NULL = defaults; max_batch 1..16384, threads 1..1024, else
 * ARNET_E_INVALID naming the field).  *out [transferred] (arnet_scorer_free).
 * All scratch memory (max_batch x (hidden_dim + 1) floats) is allocated here
 * and BLIS is warmed up: no scorer, stream push or push_streams call
 * allocates in libarnet afterwards (docs/embedding.md: BLIS's OpenMP runtime
 * may still malloc a small block per product).  Thread-safe: one scorer per
 * thread, any number of scorers per model. */
ARNET_API ARNET_NODISCARD int arnet_scorer_create(const arnet_model *model,
                                                  const arnet_scorer_options *opt,
                                                  arnet_scorer **out);
/* Only once no other thread uses s (score, push, push_streams). */
ARNET_API void arnet_scorer_free(arnet_scorer *s);
/* Score any number of clips, max_batch at a time; same contract as
 * arnet_model_score.  A clip's score is the same bit for bit whatever the
 * batch it is in, the max_batch, the thread or the number of threads
 * (both layers are GEMMs); it equals arnet_model_score's bit for bit.
 * One thread at a time per scorer (it writes the scratch); the model may be
 * shared with other scorers and threads. */
ARNET_API ARNET_NODISCARD int arnet_scorer_score(arnet_scorer *s, const float *features,
                                                 size_t n_clips, float *scores);
/* Bytes of memory the scorer holds (not counting the model):
 * 4 * max_batch * (hidden_dim + 1) plus a 40-byte struct.  Thread-safe
 * (reads only what is fixed at creation). */
ARNET_API size_t arnet_scorer_memory(const arnet_scorer *s);

/* ------------------------------------------------------------------------ */
/* Streams: one camera each, with smoothing and alarm hysteresis             */
/* ------------------------------------------------------------------------ */

typedef struct arnet_stream arnet_stream;

#define ARNET_SMOOTH_NONE 0
#define ARNET_SMOOTH_WINDOW 1 /* mean of the last `window` raw scores */
#define ARNET_SMOOTH_EMA 2    /* s = a * raw + (1 - a) * s, a = ema_alpha */

#define ARNET_EVENT_ALARM_START 1
#define ARNET_EVENT_ALARM_END 2

typedef struct arnet_event {
    size_t struct_size;
    int type;            /* ARNET_EVENT_* */
    uint64_t stream_id;  /* from the stream's options */
    uint64_t start_clip; /* first clip of the alarm (clip index in the stream) */
    uint64_t end_clip;   /* last clip of the alarm, i.e. the last one before
                          * the off-run that ended it (END events only; else 0) */
    float peak_score;    /* highest smoothed score so far within the alarm */
} arnet_event;

/* Called synchronously, on the calling thread, from the update/push/reset
 * call that produced the event, after the stream's state includes that clip;
 * ev [borrowed].  Must not call into the same stream (reading it with
 * arnet_stream_get_state is fine).  During arnet_scorer_push_streams it
 * must not call into that call's scorer either: the scorer's scratch still
 * holds the scores of the rows not yet applied, and any use of the scorer
 * would overwrite them. */
typedef void (*arnet_event_fn)(void *user, const arnet_event *ev);

typedef struct arnet_stream_options {
    size_t struct_size;
    uint64_t stream_id;
    int smoothing;          /* ARNET_SMOOTH_*; default WINDOW */
    uint32_t window;        /* default 5 */
    float ema_alpha;        /* default 0.3 */
    float on_threshold;     /* smoothed >= on counts towards an alarm; default 0.5 */
    float off_threshold;    /* smoothed < off counts towards its end; default 0.3 */
    uint32_t min_on_clips;  /* consecutive clips >= on before an alarm starts; default 3 */
    uint32_t min_off_clips; /* consecutive clips < off before it ends; default 5 */
    arnet_event_fn on_event; /* may be NULL */
    void *user;              /* passed to on_event */
} arnet_stream_options;

typedef struct arnet_stream_result {
    size_t struct_size;
    uint64_t clip_index; /* index of the clip just pushed */
    float raw;           /* model score */
    float smoothed;
    int alarm;           /* 1 while an alarm is on after this clip */
    int event;           /* ARNET_EVENT_* raised by this clip, or 0 */
} arnet_stream_result;

typedef struct arnet_stream_state {
    size_t struct_size;
    uint64_t clips;       /* clips pushed since creation or reset */
    int alarm;            /* 1 while an alarm is on */
    uint64_t alarm_start; /* start clip of the current alarm */
    float peak_score;     /* of the current alarm */
    float last_raw;
    float last_smoothed;
    uint32_t run_length;  /* clips in the current above-on / below-off run */
    uint64_t alarms;      /* alarms started since creation or reset */
} arnet_stream_state;

/* Thread-safe (each writes its argument only). */
ARNET_API void arnet_stream_options_init(arnet_stream_options *opt);
ARNET_API void arnet_stream_result_init(arnet_stream_result *res);
ARNET_API void arnet_stream_state_init(arnet_stream_state *st);
/* opt [borrowed] (copied; NULL = defaults).  ARNET_E_INVALID when
 * off_threshold > on_threshold, a threshold is negative or not finite
 * (scores are in [0, 1]; an on_threshold above 1, as arnet_threshold_for_far
 * returns when normal clips score 1, never alarms), window is
 * outside 1..4096 (WINDOW smoothing), ema_alpha outside (0, 1] (EMA),
 * smoothing unknown or a min_*_clips is 0.  The window ring buffer is
 * allocated here.  *out [transferred] (arnet_stream_free).
 *
 * Alarm rules (docs/embedding.md has a worked example): an alarm starts when
 * the smoothed score is >= on_threshold for min_on_clips consecutive clips
 * (start_clip = first clip of that run; the START event comes with the clip
 * completing the run) and ends when it is < off_threshold for min_off_clips
 * consecutive clips (END event with the clip completing that run).  Window
 * smoothing averages the clips there are while fewer than `window`; EMA
 * starts from the first raw score.  Creating is thread-safe; a stream is not
 * thread-safe: one thread at a time per stream. */
ARNET_API ARNET_NODISCARD int arnet_stream_create(const arnet_stream_options *opt,
                                                  arnet_stream **out);
/* Only once no other thread uses st. */
ARNET_API void arnet_stream_free(arnet_stream *st);
/* Feed one raw score (already computed) through smoothing and hysteresis.
 * res [borrowed] may be NULL, else set up by arnet_stream_result_init.  A
 * non-finite raw_score is ARNET_E_INVALID and changes nothing.  One thread
 * at a time per stream; on_event runs on this thread. */
ARNET_API ARNET_NODISCARD int arnet_stream_update(arnet_stream *st, float raw_score,
                                                  arnet_stream_result *res);
/* Score one clip feature (feature_dim floats of the scorer's model) with
 * scorer and update.  A non-finite feature value is ARNET_E_INVALID and
 * changes nothing.  Uses both handles: neither may be used by another thread
 * during the call (the model may be shared).  on_event runs on this thread
 * after the score is taken, so it may use the scorer. */
ARNET_API ARNET_NODISCARD int arnet_stream_push(arnet_stream *st, arnet_scorer *scorer,
                                                const float *feature,
                                                arnet_stream_result *res);
/* Score one pending clip from each of n streams in one matrix product
 * (features: n x feature_dim row-major, row i belongs to streams[i]) and
 * update every stream.  results [borrowed] may be NULL, else n entries each
 * set up by arnet_stream_result_init.  A stream listed twice, a NULL
 * stream or a non-finite feature value is ARNET_E_INVALID before any stream
 * changes.  Products are max_batch rows each; results are the same as n
 * arnet_stream_push calls.  No stream nor the scorer may be used by another
 * thread during the call.  on_event callbacks run on this thread between
 * rows and must call into neither their stream nor this scorer (see
 * arnet_event_fn). */
ARNET_API ARNET_NODISCARD int arnet_scorer_push_streams(arnet_scorer *scorer,
                                                        arnet_stream *const *streams,
                                                        const float *features, size_t n,
                                                        arnet_stream_result *results);
/* Back to the state right after creation.  An open alarm is closed first:
 * its END event (end_clip = the last clip the stream saw) is delivered
 * before this returns, so an operator's display never keeps a dead alarm.
 * One thread at a time per stream; on_event runs on this thread. */
ARNET_API int arnet_stream_reset(arnet_stream *st);
/* Copy the stream's state to *state (set up by arnet_stream_state_init).
 * Reads only, but one thread at a time per stream: not alongside an update,
 * push or reset of it on another thread. */
ARNET_API int arnet_stream_get_state(const arnet_stream *st, arnet_stream_state *state);
/* Bytes of memory one stream holds with these options.  Thread-safe (pure
 * function). */
ARNET_API size_t arnet_stream_memory(const arnet_stream_options *opt);

/* Threshold t for a target false-alarm rate: the smallest score threshold
 * such that the fraction of scores >= t is at most target_far (0..1).
 * Ties are not split, so *achieved_far (that fraction, may be NULL) can be
 * below the target; target 1 gives the lowest score, target 0 the float
 * just above the highest.  scores [borrowed], n >= 1, all finite, else
 * ARNET_E_INVALID.  Allocates a sorted copy (4 n bytes).  Thread-safe. */
ARNET_API ARNET_NODISCARD int arnet_threshold_for_far(const float *scores, size_t n,
                                                      double target_far, float *threshold,
                                                      double *achieved_far);

/* ------------------------------------------------------------------------ */
/* NumPy .npy files                                                          */
/* ------------------------------------------------------------------------ */

typedef struct arnet_npy_options {
    size_t struct_size;
    int crop; /* for [T, C, F] arrays: -1 (default) averages crops, else 0..C-1 */
} arnet_npy_options;

/* Thread-safe (writes *opt only). */
ARNET_API void arnet_npy_options_init(arnet_npy_options *opt);
/* Read a feature array (format 1.0/2.0/3.0; float16/32/64, either byte
 * order, C or Fortran order; shape [T, F] or [T, C, F]) as T x F float32.
 * opt [borrowed] (NULL = defaults).  *data [transferred] (arnet_free).
 * One pass over the file; memory beyond the result is one row (C order) or
 * T doubles (Fortran order).  Errors: ARNET_E_IO (cannot open),
 * ARNET_E_FORMAT naming the file and the problem (bad magic or version, a
 * header that is not exactly NumPy's dict, unsupported dtype such as '|O',
 * rank not 2/3, T/C/F = 0, a size that disagrees with the file's length),
 * ARNET_E_INVALID for a crop the file does not have.  Nothing is allocated
 * before the header has been checked against the file size.  Thread-safe. */
ARNET_API ARNET_NODISCARD int arnet_npy_read(const char *path, const arnet_npy_options *opt,
                                             float **data, size_t *n_rows, uint32_t *n_cols);
/* Read a 1-D non-empty array of any bool, integer or float dtype as 0/1
 * labels (nonzero = 1; NaN is ARNET_E_FORMAT).  *labels [transferred]
 * (arnet_free).  Same header checks as arnet_npy_read.  Thread-safe. */
ARNET_API ARNET_NODISCARD int arnet_npy_read_labels(const char *path, uint8_t **labels,
                                                    size_t *n);
/* Write float32 little-endian C-order data with the given shape (ndim 1..3)
 * in NumPy's format 1.0.  data, shape [borrowed].  Atomic: written to a
 * temporary file beside path, fsynced, then renamed over path; on failure
 * (ARNET_E_IO naming the path) path is untouched.  Thread-safe (mkstemp
 * names; two writers of one path leave one complete file). */
ARNET_API ARNET_NODISCARD int arnet_npy_write(const char *path, const float *data,
                                              const size_t *shape, int ndim);

/* ------------------------------------------------------------------------ */
/* Data sets                                                                 */
/* ------------------------------------------------------------------------ */

typedef struct arnet_dataset arnet_dataset;

typedef struct arnet_load_options {
    size_t struct_size;
    int crop;             /* as arnet_npy_options.crop */
    uint32_t feature_dim; /* expected F, 0 = take the first video's */
} arnet_load_options;

typedef struct arnet_video_info {
    size_t struct_size;
    const char *name;           /* [borrowed, valid while the data set lives] */
    int label;                  /* 0 normal, 1 anomalous */
    size_t n_clips;
    const float *features;      /* n_clips x feature_dim [borrowed, same] */
    size_t n_frames;            /* 0 when there is no frame ground truth */
    const uint8_t *frame_labels;/* n_frames 0/1 values or NULL [borrowed, same] */
} arnet_video_info;

/* Thread-safe (each writes its argument only). */
ARNET_API void arnet_load_options_init(arnet_load_options *opt);
ARNET_API void arnet_video_info_init(arnet_video_info *info);
/* An empty data set; feature_dim 0 = set by the first video added.
 * Thread-safe (no shared state). */
ARNET_API ARNET_NODISCARD int arnet_dataset_create(uint32_t feature_dim, arnet_dataset **out);
/* Load a manifest (format in API.md / docs/data.md): one video per line,
 * `<features.npy> <label> [<ground truth>]`, paths relative to the
 * manifest's folder; range ground truth covers 16 * T frames.  opt
 * [borrowed] (NULL = defaults).  *out [transferred] (arnet_dataset_free).
 * Stops at the first bad line; the message starts "<path>:<line>: ".
 * Video names are the feature paths as written in the manifest.
 * Thread-safe (no shared state; each call builds a new data set). */
ARNET_API ARNET_NODISCARD int arnet_dataset_load_manifest(const char *path,
                                                          const arnet_load_options *opt,
                                                          arnet_dataset **out);
/* Add one video; features, frame_labels (may be NULL), name [borrowed]
 * (deep-copied; NULL name = "#<index>"; frame labels stored as 0/1).
 * A feature_dim different from the data set's is ARNET_E_SHAPE naming the
 * video; label not 0/1, n_clips 0, a NaN or infinite feature value, frame
 * labels marking an anomalous frame on a label-0 video are ARNET_E_INVALID
 * naming it (and the clip and value).  On failure the data
 * set is unchanged.  Writes the data set: one thread at a time, and no
 * other thread may read it meanwhile (arnet_evaluate, a trainer's step,
 * the accessors below). */
ARNET_API ARNET_NODISCARD int arnet_dataset_add(arnet_dataset *ds, const char *name,
                                                const float *features, size_t n_clips,
                                                uint32_t feature_dim, int label,
                                                const uint8_t *frame_labels,
                                                size_t n_frames);
/* Only once no other thread, evaluation or trainer uses ds. */
ARNET_API void arnet_dataset_free(arnet_dataset *ds);
/* The accessors (size, feature_dim, count, video) only read: thread-safe
 * with a shared data set, as long as no thread adds to it meanwhile. */
ARNET_API size_t arnet_dataset_size(const arnet_dataset *ds);
ARNET_API uint32_t arnet_dataset_feature_dim(const arnet_dataset *ds);
/* Number of videos with the given label (0 or 1).  Thread-safe (read only). */
ARNET_API size_t arnet_dataset_count(const arnet_dataset *ds, int label);
/* Fill info (set up by arnet_video_info_init) with video index's data;
 * ARNET_E_INVALID when index >= arnet_dataset_size.  Thread-safe (read
 * only). */
ARNET_API int arnet_dataset_video(const arnet_dataset *ds, size_t index,
                                  arnet_video_info *info);

/* A synthetic data set shaped like ShanghaiTech's weakly supervised split
 * (docs/synthetic-data.md says what it models). */
typedef struct arnet_synth_options {
    size_t struct_size;
    uint64_t seed;        /* default 1 */
    uint32_t feature_dim; /* default 2048 */
    double scale;         /* fraction of the videos of each class, (0, 1]; default 1 */
} arnet_synth_options;

/* Thread-safe (writes *opt only). */
ARNET_API void arnet_synth_options_init(arnet_synth_options *opt);
/* Build the training and test sets in memory.  *train, *test [transferred]
 * (arnet_dataset_free).  Test videos carry frame ground truth (ShanghaiTech's
 * real frame counts and anomalous ranges), training videos only labels.  The
 * same options give the same bytes everywhere.  opt [borrowed] may be NULL
 * (defaults); a bad field is ARNET_E_INVALID naming it.  At the default 2048
 * features the two sets hold about 160 MB.  Thread-safe (no shared state). */
ARNET_API ARNET_NODISCARD int arnet_synth_create(const arnet_synth_options *opt,
                                                 arnet_dataset **train,
                                                 arnet_dataset **test);
/* Write them to dir (created if needed, parent must exist): features/<video>.npy
 * ([T, F] float32), gt/<video>.npy (test videos' frame labels) and the
 * train.txt and test.txt manifests, each manifest written last under a
 * temporary name and renamed, so it never lists a missing file.  Generates
 * one video at a time (memory: one video).  ARNET_E_IO names the path.
 * Thread-safe for different dirs; two calls writing one dir at once clash
 * (the manifests' temporary names are fixed: <dir>/train.txt.tmp...). */
ARNET_API ARNET_NODISCARD int arnet_synth_write(const char *dir,
                                                const arnet_synth_options *opt);

/* ------------------------------------------------------------------------ */
/* Evaluation (METHOD.md "Evaluation")                                       */
/* ------------------------------------------------------------------------ */

#define ARNET_GT_TRUNCATE 0 /* ground truth cut to 16*T frames (AR-Net code) */
#define ARNET_GT_PAD_LAST 1 /* padded with its last label to 16*T (RTFM) */

typedef struct arnet_eval_options {
    size_t struct_size;
    int gt_rule;          /* ARNET_GT_*; default TRUNCATE */
    uint32_t clip_frames; /* frames per clip; default 16 */
    float far_threshold;  /* default 0.5 */
} arnet_eval_options;

typedef struct arnet_video_result {
    size_t struct_size;
    const char *name; /* [owned by the eval result] */
    int label;
    size_t n_clips;
    size_t n_frames;  /* frames evaluated */
    double auc;       /* NaN when the video has one class only */
    double far;       /* fraction of its normal frames scoring >= threshold */
    float max_score;
    float mean_score;
} arnet_video_result;

typedef struct arnet_eval_result {
    size_t struct_size;
    double auc;          /* frame-level ROC AUC, all test videos */
    double ap;           /* sklearn average_precision_score */
    double pr_auc;       /* trapezoidal PR area (RTFM's "AP") */
    double far;          /* fraction of normal-video frames >= threshold */
    double auc_abnormal; /* ROC AUC over anomalous videos only */
    uint64_t frames;
    uint64_t videos;
    uint64_t anomalous_videos;
    int gt_rule;         /* the rule used */
    size_t n_per_video;
    arnet_video_result *per_video; /* [owned; arnet_eval_result_free] */
} arnet_eval_result;

/* Thread-safe (each writes its argument only). */
ARNET_API void arnet_eval_options_init(arnet_eval_options *opt);
ARNET_API void arnet_eval_result_init(arnet_eval_result *res);
/* Frees per_video and the names in it; the struct itself is the caller's.
 * Safe to call twice.  One thread at a time per result. */
ARNET_API void arnet_eval_result_free(arnet_eval_result *res);
/* Score every clip of every video and compute the paper's frame metrics
 * (docs/evaluation.md).  model, dataset [borrowed]; res set up by
 * arnet_eval_result_init (a result from an earlier call is freed and
 * replaced; on failure res is left untouched).  opt [borrowed] NULL =
 * defaults.  Each clip score goes to its clip_frames frames; the ground truth
 * is aligned by opt->gt_rule and res->gt_rule records it.  A normal video
 * without ground truth is normal in all 16*T frames; an anomalous one is
 * ARNET_E_INVALID naming it.  Metrics over one class only are NaN (a set of
 * normal videos still gets its FAR).  per_video follows the data set's order;
 * mean_score and max_score are over the video's clips.  Memory: about 13
 * bytes per frame at the peak.  Both forms: thread-safe with a shared model
 * and data set (read only; nobody may modify them meanwhile), one result
 * per thread. */
ARNET_API ARNET_NODISCARD int arnet_evaluate(const arnet_model *model,
                                             const arnet_dataset *dataset,
                                             arnet_eval_result *res);
ARNET_API ARNET_NODISCARD int arnet_evaluate_ex(const arnet_model *model,
                                                const arnet_dataset *dataset,
                                                const arnet_eval_options *opt,
                                                arnet_eval_result *res);

/* ------------------------------------------------------------------------ */
/* Training (METHOD.md eq. 3-8)                                              */
/* ------------------------------------------------------------------------ */

/* One step: draw normal_per_batch normal and anomalous_per_batch anomalous
 * videos at random (without replacement inside the step); a video longer
 * than max_clips is resampled to max_clips clips (anomalous: one random clip
 * from each of max_clips equal bins over the whole video) or cropped
 * (normal: a random window of max_clips consecutive clips).  The clips of
 * all videos are stacked row after row (no padding) and go through the
 * network as one matrix product per layer, with inverted dropout (the
 * model's dropout rate); the loss and its gradient follow, then one Adam
 * update of W1, b1, w2 and b2.  One generator, seeded with opt->seed, draws
 * the batch and then the dropout mask.
 *
 * Reproducibility: the same model, data set (same videos, same order),
 * options, seed and thread count give the same weights bit for bit, on any
 * run.  Another thread count may change the last bits (BLIS splits the
 * products differently).
 *
 * Memory: created with the trainer, for the largest batch the options can
 * draw from the data set (the longest capped videos of each class): about
 * 4 * rows * (feature_dim + hidden_dim) bytes, plus three copies of the
 * parameters (gradient and Adam moments).  Steps allocate nothing in
 * libarnet. */
typedef struct arnet_trainer arnet_trainer;

#define ARNET_LOSS_DMIL_CENTER 0 /* default: L_DMIL + lambda * L_c */
#define ARNET_LOSS_DMIL 1
#define ARNET_LOSS_KMAX_MIL 2

#define ARNET_REDUCE_VIDEO 0    /* mean over videos (paper eq. 5); default */
#define ARNET_REDUCE_INSTANCE 1 /* mean over all selected clips (authors' code) */
/* The reduction applies to the DMIL (or k-max MIL) part: per video it is the
 * mean of the videos' losses; per instance each video weighs k_i / sum k
 * (k_i = ceil(t_i / alpha), t_i its clips in the batch).  The center part
 * is always the mean over the batch's normal videos (0 when it has none). */

typedef struct arnet_step_stats {
    size_t struct_size;
    uint64_t step;      /* steps done after this one */
    double loss;        /* total */
    double loss_dmil;   /* DMIL (or k-max MIL) part */
    double loss_center; /* center part, before lambda; 0 unless DMIL_CENTER */
} arnet_step_stats;
/* loss = loss_dmil + lambda * loss_center. */

/* Return nonzero to cancel: the trainer stops with ARNET_E_CANCELLED after
 * the step just done (its state stays consistent). */
typedef int (*arnet_progress_fn)(void *user, const arnet_step_stats *stats,
                                 uint64_t total_steps);

typedef struct arnet_train_options {
    size_t struct_size;
    uint32_t normal_per_batch;    /* 30 */
    uint32_t anomalous_per_batch; /* 30 */
    float alpha;                  /* k = ceil(t / alpha); 4 */
    float lambda;                 /* center loss weight; 20 */
    float lr;                     /* Adam; 1e-4 */
    float beta1, beta2, eps;      /* 0.9, 0.999, 1e-8 */
    float weight_decay;           /* torch-style L2 added to the gradient; 5e-4 */
    uint32_t max_clips;           /* per video and step; 300 */
    int loss;                     /* ARNET_LOSS_*; DMIL_CENTER */
    int reduce;                   /* ARNET_REDUCE_*; VIDEO */
    uint64_t seed;                /* sampling and dropout; 1 */
    int threads;                  /* BLIS threads; 1 */
    uint64_t iterations;          /* total steps for arnet_trainer_run; 4760 */
    arnet_progress_fn progress;   /* may be NULL */
    void *progress_user;
} arnet_train_options;

/* Thread-safe (each writes its argument only). */
ARNET_API void arnet_train_options_init(arnet_train_options *opt);
ARNET_API void arnet_step_stats_init(arnet_step_stats *st);
/* model [borrowed, life] (modified by training: do not score with it from
 * other threads meanwhile); train [borrowed, life]; opt [borrowed, copied]
 * (NULL = defaults).
 * Too few videos of a class for the batch is ARNET_E_INVALID saying so.
 * Bad options are ARNET_E_INVALID with one message naming every bad field:
 * alpha, lr, eps > 0; lambda, weight_decay >= 0 (all finite); beta1, beta2
 * in [0, 1); max_clips >= 1; per-batch counts up to 65536 and not both 0;
 * threads 1..1024.  A data set whose feature_dim differs from the model's
 * is ARNET_E_SHAPE.  *out [transferred] (arnet_trainer_free).
 * A trainer is one thread at a time and writes its model; the data set is
 * only read, so other trainers and evaluations may share it while nobody
 * adds to it.  Two trainers must not share a model. */
ARNET_API ARNET_NODISCARD int arnet_trainer_create(arnet_model *model,
                                                   const arnet_dataset *train,
                                                   const arnet_train_options *opt,
                                                   arnet_trainer **out);
/* Only once no other thread uses t; the model and data set stay the caller's. */
ARNET_API void arnet_trainer_free(arnet_trainer *t);
/* One optimisation step on a freshly drawn batch.  stats [borrowed] may be
 * NULL (else set up by arnet_step_stats_init).  ARNET_E_STATE when videos
 * were added to the data set after the trainer was created.  A failed step
 * leaves the weights and the Adam state as they were.  One thread at a time
 * per trainer; no other thread may use its model meanwhile, nor add to the
 * data set. */
ARNET_API ARNET_NODISCARD int arnet_trainer_step(arnet_trainer *t, arnet_step_stats *stats);
/* Step until `iterations` total steps are done, calling progress after each.
 * When progress returns nonzero: ARNET_E_CANCELLED after that step, with
 * everything consistent; arnet_trainer_save can checkpoint it, and calling
 * arnet_trainer_run again continues to the same weights as an unbroken run.
 * Returns ARNET_OK at once when the steps are already done.  Threading as
 * arnet_trainer_step; progress runs on the calling thread between steps. */
ARNET_API ARNET_NODISCARD int arnet_trainer_run(arnet_trainer *t);
/* Steps done so far.  One thread at a time per trainer (not during a step
 * or run on another thread). */
ARNET_API uint64_t arnet_trainer_steps(const arnet_trainer *t);
/* Save the model plus trainer sections (Adam moments, step count, generator
 * state, options) atomically: arnet_model_load still reads it for scoring.
 * Always f32 storage (an f16 copy would not resume exactly).  The options
 * are readable key/value pairs ("trainer.lr" = "0.0001 (0x38d1b717)", with
 * the float's exact bits) that `arnet info` shows.  path [borrowed].
 * Reads the trainer and its model: not during a step, run or restore on
 * another thread; other threads may score with the model meanwhile. */
ARNET_API ARNET_NODISCARD int arnet_trainer_save(const arnet_trainer *t, const char *path);
/* Restore model weights and trainer state from a file written by
 * arnet_trainer_save; the trainer must have been created with a model of the
 * same shape.  Resuming then ends with exactly the weights of an
 * uninterrupted run.
 * What comes from the file: the weights, the model's dropout rate, the Adam
 * moments, the step count, the generator state and every option that shapes
 * the trajectory (per-batch counts, alpha, lambda, lr, betas, eps,
 * weight_decay, max_clips, loss, reduce, seed), so a resumed run continues
 * the saved one whatever options the trainer was created with.  What stays
 * the trainer's: threads, iterations and the progress callback (use the
 * saved thread count for a bit-exact resume; raise iterations to train
 * longer).  The data set is not in the file: resume with the same one.
 * Errors leave the trainer unchanged: ARNET_E_SHAPE for another model
 * shape, ARNET_E_FORMAT for a model-only file or bad trainer sections, the
 * same errors as arnet_model_load otherwise.  path [borrowed].  Writes the
 * trainer and its model: no other thread may use either meanwhile. */
ARNET_API ARNET_NODISCARD int arnet_trainer_restore(arnet_trainer *t, const char *path);

/* ------------------------------------------------------------------------ */
/* Loss kernels (one video each; logits z, s = sigmoid(z))                   */
/* ------------------------------------------------------------------------ */

/* Each writes the loss and, when grad is not NULL, dLoss/dz for every clip
 * (0 where a clip takes no part).  n >= 1, label 0 or 1, alpha > 0, else
 * ARNET_E_INVALID.  Finite for logits of +-1e4.  Top-k ties: lower index.
 * k = ceil(n / alpha) clamped to 1..n.  A NaN or infinite logit is
 * ARNET_E_INVALID naming its index.  No allocation; O(n).  All three:
 * thread-safe (pure functions). */
ARNET_API ARNET_NODISCARD int arnet_loss_dmil(const float *logits, size_t n, int label,
                                              float alpha, float *loss, float *grad);
ARNET_API ARNET_NODISCARD int arnet_loss_center(const float *logits, size_t n, int label,
                                                float *loss, float *grad);
ARNET_API ARNET_NODISCARD int arnet_loss_kmax_mil(const float *logits, size_t n, int label,
                                                  float alpha, float *loss, float *grad);

/* ------------------------------------------------------------------------ */
/* Metrics (equal to scikit-learn's)                                         */
/* ------------------------------------------------------------------------ */

/* scores [borrowed] n values, labels [borrowed] n values, nonzero = positive.
 * Equal to sklearn's roc_auc_score, average_precision_score and
 * auc(recall, precision) over precision_recall_curve (the trapezoidal PR area
 * RTFM and XD-Violence code call "AP"): ties grouped as sklearn does, ROC ties
 * counted as half (docs/evaluation.md).  n = 0, one class only, or a NaN score
 * (the message names its index) is ARNET_E_INVALID.  Linear-time radix sort,
 * 8 bytes of scratch per sample: 50 million samples take about 2 s.
 * All three: thread-safe (no shared state). */
ARNET_API ARNET_NODISCARD int arnet_roc_auc(const float *scores, const uint8_t *labels,
                                            size_t n, double *auc);
ARNET_API ARNET_NODISCARD int arnet_average_precision(const float *scores,
                                                      const uint8_t *labels, size_t n,
                                                      double *ap);
ARNET_API ARNET_NODISCARD int arnet_pr_auc(const float *scores, const uint8_t *labels,
                                           size_t n, double *area);

/* ------------------------------------------------------------------------ */
/* Feature extraction: I3D (RGB) from frames                                 */
/* ------------------------------------------------------------------------ */

/* An extractor turns decoded video frames into the clip features AR-Net
 * scores: Inception-I3D (Carreira & Zisserman, CVPR 2017), RGB stream, one
 * 1024-value feature per 16-frame clip (or crops x 1024).  The split follows
 * the scorer's: an arnet_extractor is the read-only network, loaded once and
 * shared by any number of threads; an arnet_extractor_state is one camera's
 * frame buffer and scratch (docs/extractor.md). */
typedef struct arnet_extractor arnet_extractor;
typedef struct arnet_extractor_state arnet_extractor_state;

/* Resize rules, each reproducing a published feature set (docs/extractor.md). */
#define ARNET_RESIZE_SHORT256 0 /* short side to 256, long side rounded down (default) */
#define ARNET_RESIZE_340X256 1  /* 340 x 256 ignoring the aspect (UR-DMU's extractor) */
#define ARNET_RESIZE_224 2      /* whole frame squashed to 224 x 224 (AR-Net authors') */
#define ARNET_RESIZE_NONE 3     /* no resize: frames of at least 224 x 224, cropped */

/* Resampling filter of the resize: Pillow's, bit for bit (docs/extractor.md). */
#define ARNET_FILTER_BILINEAR 0 /* Image.BILINEAR, antialiased (default) */
#define ARNET_FILTER_LANCZOS 1  /* Image.LANCZOS = Image.ANTIALIAS (UR-DMU's extractor) */

/* What happens to a last clip of fewer than clip_frames frames. */
#define ARNET_LAST_CLIP_DROP 0 /* dropped (default) */
#define ARNET_LAST_CLIP_PAD 1  /* padded with copies of its last frame */

/* Pixel formats of arnet_frame. */
#define ARNET_PIXEL_RGB24 1 /* packed R,G,B bytes; planes[0] */
#define ARNET_PIXEL_BGR24 2 /* packed B,G,R bytes; planes[0] */
#define ARNET_PIXEL_I420 3  /* planar Y, U, V (U and V (w+1)/2 x (h+1)/2) */
#define ARNET_PIXEL_NV12 4  /* planar Y, then interleaved U,V at half resolution */
/* YUV is BT.601 limited range, FFmpeg's default for SD (docs/extractor.md). */

typedef struct arnet_frame {
    size_t struct_size;
    int format;               /* ARNET_PIXEL_* */
    uint32_t width, height;   /* pixels, each >= 1 */
    const uint8_t *planes[3]; /* [borrowed] for the call */
    size_t strides[3];        /* bytes per row of each plane (>= its row) */
} arnet_frame;

typedef struct arnet_extractor_options {
    size_t struct_size;
    int resize;           /* ARNET_RESIZE_*; default SHORT256 */
    uint32_t crops;       /* 1 (centre crop 224, default) or 10 (UR-DMU's order) */
    int last_clip;        /* ARNET_LAST_CLIP_*; default DROP */
    int threads;          /* BLIS threads per convolution; default 1 */
    uint32_t clip_frames; /* frames per clip; default 16 */
    /* Size of every frame the camera delivers (required, 1..16384 each): a
     * state's buffers are sized for it at creation, so that push never
     * allocates.  A frame of another size is ARNET_E_SHAPE naming both;
     * a camera that changes resolution needs a new state. */
    uint32_t frame_width, frame_height;
    int filter; /* ARNET_FILTER_*; default BILINEAR */
} arnet_extractor_options;

/* Thread-safe (writes its argument only). */
ARNET_API void arnet_extractor_options_init(arnet_extractor_options *opt);
ARNET_API void arnet_frame_init(arnet_frame *frame);

/* Load an extractor file (`arnet import i3d` writes one: the library's
 * checkpoint container with kind "extractor", BatchNorm already folded).
 * *out [transferred] (arnet_extractor_free).  Thread-safe. */
ARNET_API ARNET_NODISCARD int arnet_extractor_load(const char *path, arnet_extractor **out);
/* Read PyTorch I3D weights (a state dict saved by torch.save, zip or legacy
 * format, piergiaj or hassony2 names) without executing anything, and fold
 * each BatchNorm into its convolution in double precision.  Thread-safe. */
ARNET_API ARNET_NODISCARD int arnet_extractor_load_torch(const char *path,
                                                         arnet_extractor **out);
/* Write x as an extractor file, atomically (as arnet_model_save_ex; opt may
 * be NULL).  Thread-safe while nothing modifies x. */
ARNET_API ARNET_NODISCARD int arnet_extractor_save(const arnet_extractor *x, const char *path,
                                                   const arnet_save_options *opt);
/* Only once no other thread and no state uses x. */
ARNET_API void arnet_extractor_free(arnet_extractor *x);
/* Length of one crop's feature (1024 for I3D).  Thread-safe. */
ARNET_API uint32_t arnet_extractor_feature_dim(const arnet_extractor *x);

/* Features of n_clips preprocessed clips: frames holds n_clips x clip_frames
 * x height x width x 3 floats (RGB, channels last, values in [-1, 1]);
 * features gets n_clips x feature_dim floats, each the mean of the last
 * block's output over all remaining positions (for 16 x 224 x 224: 2 x 7 x
 * 7).  clip_frames >= 1, height and width >= 1.  Allocates its scratch for
 * the call.  threads as in the options (0 = 1).  Thread-safe: x is only
 * read. */
ARNET_API ARNET_NODISCARD int arnet_extractor_clips(const arnet_extractor *x, const float *frames,
                                                    size_t n_clips, uint32_t clip_frames,
                                                    uint32_t height, uint32_t width,
                                                    int threads, float *features);

/* One camera: frames in, a feature every clip_frames frames.  x [borrowed,
 * life]; opt [borrowed] (copied; required: frame_width and frame_height
 * give the size of every frame).  Every buffer is allocated here (the
 * clip's frames as resized uint8 -- the 224 x 224 centre crop with one
 * crop, the whole resized frame with ten -- one clip of floats, the
 * network's scratch): push, flush and reset never allocate.
 * ARNET_E_INVALID names a bad field (resize, crops not 1 or 10, last_clip,
 * threads outside 0..256 (0 = 1), clip_frames outside 1..256, frame size
 * 0 or above 16384, filter); ARNET_E_SHAPE for ARNET_RESIZE_NONE with a
 * frame smaller than 224 x 224.  *out [transferred].  Thread-safe: one
 * state per thread, any number of states per extractor. */
ARNET_API ARNET_NODISCARD int arnet_extractor_state_create(const arnet_extractor *x,
                                                           const arnet_extractor_options *opt,
                                                           arnet_extractor_state **out);
ARNET_API void arnet_extractor_state_free(arnet_extractor_state *st);
/* Take one frame (of the size given at creation; the state resizes and
 * crops it).  When the frame completes a clip, features (crops x
 * feature_dim floats, crops in the order of docs/extractor.md) gets the
 * clip's features and *ready is 1; otherwise *ready is 0 and features is
 * not touched, also on error.  A bad frame (unknown format, NULL plane,
 * stride smaller than a row, zero size) is ARNET_E_INVALID naming the
 * field, a frame of another size ARNET_E_SHAPE naming both sizes; neither
 * changes the state.  One thread at a time per state. */
ARNET_API ARNET_NODISCARD int arnet_extractor_push(arnet_extractor_state *st,
                                                   const arnet_frame *frame, float *features,
                                                   int *ready);
/* End of the video: with ARNET_LAST_CLIP_PAD and a partial clip pending,
 * its features (the clip padded with copies of its last frame) are written
 * and *ready is 1; otherwise *ready is 0.  The state is then empty, as
 * after reset. */
ARNET_API ARNET_NODISCARD int arnet_extractor_flush(arnet_extractor_state *st, float *features,
                                                    int *ready);
/* Drop any partial clip (a pending cancel request stays).  One thread at a
 * time per state. */
ARNET_API void arnet_extractor_reset(arnet_extractor_state *st);
/* Ask a push or flush running on another thread to stop: the network
 * polls the request between layers, so the call returns ARNET_E_CANCELLED
 * within one layer's time, the partial clip dropped and features
 * untouched.  A request made while no call runs stops the next push or
 * flush the same way.  The request holds until a call has seen it.
 * Thread-safe (an atomic flag). */
ARNET_API void arnet_extractor_cancel(arnet_extractor_state *st);
/* Bytes the state holds (frame buffer, clip buffer, resize tables and
 * scratch, network scratch), not counting x. */
ARNET_API size_t arnet_extractor_state_memory(const arnet_extractor_state *st);

#ifdef __cplusplus
}
#endif

#endif /* ARNET_ARNET_H */
