/* internal.h -- the core's internal header: what every part of the library
 * may use (errors, versioned structs, random numbers, BLIS, the thread team,
 * numeric helpers, files).  The parts above it have their own: store/
 * container.h, data/data_int.h, detector/detector_int.h, video/'s i3d.h,
 * conv3d.h, preprocess.h, torchfile.h (tests/check_layers.sh holds the
 * rule).  Nothing here is exported: everything is hidden by
 * -fvisibility=hidden. */
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
/* n draws as bits: bit i (bits[i / 64] >> i % 64) is 1 when draw i's 53
 * high bits, next >> 11, are >= threshold: the same draws and test as n
 * calls of arnet__rng_next, about ten times faster (the state stays in
 * registers).  bits holds (n + 63) / 64 words; unused high bits are 0. */
void arnet__rng_bits_at_least(arnet__rng *r, uint64_t threshold, uint64_t *bits, size_t n);

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

/* Row-major single-precision GEMV through BLIS, one thread: A is m x n,
 *   y = alpha * op(A) * x + beta * y
 * x has n values and y m (trans_a: x has m, y n).  For a matrix times one
 * vector: BLIS's GEMM with one column packs A and wastes most of its
 * register block (several times slower). */
void arnet__sgemv(int trans_a, size_t m, size_t n, float alpha, const float *a, size_t lda,
                  const float *x, float beta, float *y);

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
/* The same, and side(side_arg) once meanwhile, by the first member free
 * (work that the product does not read or write, done while the others
 * run parts of the product; before it with one thread). */
void arnet__sgemm_team_side(arnet__team *team, int trans_a, int trans_b, size_t m, size_t n,
                            size_t k, float alpha, const float *a, size_t lda, const float *b,
                            size_t ldb, float beta, float *c, size_t ldc, float *scratch,
                            void (*side)(void *), void *side_arg);

/* ---- key/value pairs (model metadata, checkpoint sections) ---------------- */

typedef struct arnet__kv {
    char *key;
    char *value;
} arnet__kv;

/* ---- numeric helpers (numeric.c) ------------------------------------------ */

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

#endif /* ARNET_INTERNAL_H */
