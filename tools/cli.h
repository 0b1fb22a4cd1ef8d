/* cli.h -- what the arnet program's subcommands share: the command table,
 * option parsing helpers, error reporting and terminal progress.
 * The program uses only the public header <arnet/arnet.h>. */
#ifndef ARNET_CLI_H
#define ARNET_CLI_H

#include <stdint.h>
#include <stdio.h>

#include <arnet/arnet.h>

/* Each subcommand: argv[0] is the subcommand name. Returns the exit code. */
int cmd_info(int argc, char **argv);
int cmd_score(int argc, char **argv);
int cmd_eval(int argc, char **argv);
int cmd_synth(int argc, char **argv);
int cmd_import(int argc, char **argv);
int cmd_train(int argc, char **argv);
int cmd_demo(int argc, char **argv);
int cmd_calibrate(int argc, char **argv);
int cmd_extract(int argc, char **argv);
int cmd_watch(int argc, char **argv);
int cmd_flow(int argc, char **argv);

/* Exit codes: 0 ok, 1 failure reported by the library or I/O, 2 usage. */
#define CLI_EXIT_FAIL 1
#define CLI_EXIT_USAGE 2
#define CLI_EXIT_INTERRUPTED 130

/* The "exit status:" paragraph every --help ends with.  flags: CLI_EXITS_*. */
#define CLI_EXITS_OUTPUT 1    /* the command writes files (exists, in use) */
#define CLI_EXITS_INTERRUPT 2 /* Ctrl-C stops it cleanly (130) */
void cli_print_exit_codes(FILE *f, int flags);

/* Print the library's last error for a failure about `what` (a path, or a
 * word such as "trainer") to stderr as "arnet CMD: ..." and return
 * CLI_EXIT_FAIL.  The path appears once (not again when the library's
 * message names it), a long one after the cause rather than before it, and
 * library field names become the options of the command's option map
 * (cli_set_option_names). */
int cli_fail(const char *cmd, int status, const char *what);
/* Library field name -> command-line option, for the messages of cli_fail:
 * pairs {"anomalous_per_batch", "--batch-anomalous"}, ..., ended by {NULL,
 * NULL}.  The table is borrowed until replaced. */
void cli_set_option_names(const char *const (*map)[2]);
/* Rewrite msg into buf (cap bytes) with the option map applied and the
 * library's "arnet_function: " prefixes dropped. */
void cli_user_message(const char *msg, char *buf, size_t cap);
/* Print "arnet CMD: message" plus a hint to try --help; returns CLI_EXIT_USAGE. */
int cli_usage_error(const char *cmd, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Before loading a manifest: 0 when path may be one, CLI_EXIT_FAIL (message
 * printed naming `option`) when it is a NumPy .npy file, a common slip
 * (features given where the list of them belongs).  Only regular files are
 * looked at; anything else is left to the library's checks. */
int cli_manifest_kind(const char *cmd, const char *option, const char *path);

/* fopen(path, "r") for a file the user named, refusing what is not a
 * regular file (a FIFO would block forever, a folder reads as nothing)
 * without ever blocking: NULL with errno set (EINVAL for the wrong kind;
 * cli_open_error says which) otherwise.  The tools' counterpart of the
 * library's own check. */
FILE *cli_fopen_read(const char *path);
/* "a pipe (FIFO), not a regular file", strerror(errno) otherwise: the
 * reason cli_fopen_read failed, for a message naming the path. */
const char *cli_open_error(const char *path);

/* The file name after the last '/' (the whole path when there is none). */
const char *cli_base_name(const char *path);
/* The clip count T of a feature file ([T, F] or [T, C, F] floats, no
 * dimension 0), from its header alone (arnet_npy_info_read); what names the
 * line in messages.  0, or CLI_EXIT_FAIL with the message printed. */
int cli_feature_clips(const char *cmd, const char *path, const char *what, size_t *T);
/* The options every importer of `arnet import` shares: --features-dir,
 * --flow-dir, --out, --suffix and --flow-suffix.  Returns as cli_opt_value
 * (1 matched, -1 missing value, reported; 0 another option). */
typedef struct cli_import_opts {
    const char *features_dir, *flow_dir, *out, *suffix, *flow_suffix;
} cli_import_opts;
int cli_import_opt(const char *cmd, int argc, char **argv, int *i, cli_import_opts *o);

/* Strict number parsing, the one way every numeric option (and number
 * read back from a file) is read: the whole string must be a number in
 * min..max.  A whole number is decimal digits only: no sign (so "-1"
 * cannot wrap to 2^64 - 1), no space, no trailing text, and a value past
 * 64 bits is refused rather than wrapped; a double is a plain decimal
 * number (no "nan", "inf" or hex) that neither overflows nor underflows.
 * On failure print which option was wrong and why (nothing when cmd is
 * NULL) and return 0; 1 on success. */
int cli_parse_u64(const char *cmd, const char *opt, const char *s, uint64_t min, uint64_t max,
                  uint64_t *out);
int cli_parse_double(const char *cmd, const char *opt, const char *s, double min, double max,
                     double *out);
/* Two whole numbers joined by sep, as form shows them ("WxH" with sep 'x',
 * "K/N" with '/'), each checked as cli_parse_u64 in min..max; the message
 * names the option and the part that is wrong. */
int cli_parse_u64_pair(const char *cmd, const char *opt, const char *s, char sep,
                       const char *form, uint64_t min, uint64_t max, uint64_t *a, uint64_t *b);

/* Value of an option that takes one (`--opt VALUE` or `--opt=VALUE`):
 * when argv[*i] matches opt, sets *value, advances *i and returns 1; on a
 * missing value prints an error and returns -1; otherwise 0. */
int cli_opt_value(const char *cmd, int argc, char **argv, int *i, const char *opt,
                  const char **value);

/* The crop options of the commands that read feature files: `--layout
 * auto|tcf|ctf` (sets *layout to ARNET_LAYOUT_*) and, when crop is not
 * NULL, `--crops mean|each` (*crop -1 or ARNET_CROP_EACH).  Returns as
 * cli_opt_value (1 matched, -1 bad or missing value, reported; 0 other). */
int cli_crop_opts(const char *cmd, int argc, char **argv, int *i, int *layout, int *crop);

/* Progress is shown unless --quiet: redrawn in place on a terminal, and one
 * line at a time (every few seconds) when stderr is a file or a pipe, for
 * logs and batch jobs.  forced (--progress) is kept for older scripts. */
int cli_progress_enabled(int forced);
/* Seconds between progress lines: 0.2 on a terminal, 5 otherwise. */
double cli_progress_interval(void);
/* Redraw one progress line on stderr ("\r...\033[K"), or print it as a
 * line of its own when stderr is not a terminal. */
void cli_progress_line(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* End the progress line (newline if one was drawn). */
void cli_progress_done(void);

/* Write s as a JSON string literal (with quotes) to f. */
void cli_json_string(FILE *f, const char *s);

/* Seconds since an arbitrary start (monotonic clock). */
double cli_now(void);

/* ---- interruption (cli.c): one rule for the commands that run long ---- */

/* From now on SIGINT and SIGTERM set the flag cli_interrupted() reads
 * instead of ending the process; a second signal of the same kind ends it
 * at once.  hook (may be NULL) runs inside the signal handler and must be
 * async-signal-safe (arnet_extractor_cancel is).  Calling it again only
 * replaces the hook. */
void cli_signals_catch(void (*hook)(void));
void cli_signals_set_hook(void (*hook)(void));
/* Back to the actions before cli_signals_catch (the flag stays). */
void cli_signals_restore(void);
/* 0, or the signal that asked the command to stop. */
int cli_interrupted(void);
/* The exit status of an interrupted command: 128 + the signal (130 for
 * Ctrl-C, 143 for SIGTERM), 130 when no signal came. */
int cli_interrupt_status(void);
/* "SIGINT" or "SIGTERM". */
const char *cli_interrupt_name(void);
/* Sleep, but return at once (-1) when a signal asks to stop; 0 after the
 * full time.  Thread-safe. */
int cli_sleep(double seconds);

/* Processors this process may run on (at least 1): the default thread count. */
int cli_cpu_count(void);

/* ---- outputs (output.c): never replace a user's file by surprise ---- */

typedef struct cli_output {
    const char *option; /* as typed: "--out" */
    const char *path;
    int is_dir;
    int lock_fd;     /* -1 until locked */
    char *lock_path; /* <path>.lock for a file; NULL for a folder */
} cli_output;

void cli_output_init(cli_output *o, const char *option, const char *path, int is_dir);
/* The absolute path p has or would have: realpath of its deepest existing
 * ancestor plus the components that do not exist yet (malloc'd; NULL when
 * out of memory or nothing resolves). */
char *cli_abs_path(const char *p);
/* Whether a and b are one file: same device and inode when both exist,
 * else the same resolved path (a file still to be written). */
int cli_same_file(const char *a, const char *b);
/* 0, or CLI_EXIT_USAGE (message printed) when the output is the input
 * (`what` says which, e.g. "the manifest --train"); --force cannot
 * override this. */
int cli_output_not_input(const char *cmd, const cli_output *o, const char *what,
                         const char *input);
/* The same against a manifest and every feature file of its data set ds
 * (may be NULL: the manifest only). */
int cli_output_not_in_dataset(const char *cmd, const cli_output *o, const char *list_option,
                              const char *list, const arnet_dataset *ds);
/* 0 when force or nothing is at `file` (NULL: the output itself), else
 * CLI_EXIT_USAGE with a message naming --force (and `resume_hint PATH`,
 * e.g. "--resume", when given). */
int cli_output_absent(const char *cmd, const cli_output *o, const char *file, int force,
                      const char *resume_hint);
/* Take the output for this process: a folder is locked itself (flock), a
 * file through <path>.lock beside it (flock, removed on release).  0, or
 * CLI_EXIT_FAIL with "... is in use" when another arnet holds it. */
int cli_output_lock(const char *cmd, cli_output *o);
/* Unlock (and remove the lock file).  Safe to call twice or unlocked. */
void cli_output_release(cli_output *o);

/* ---- evaluation output (eval_out.c), shared by eval, train and demo ---- */

/* Write r as one JSON object (auc, ap, pr_auc, far, auc_abnormal, frames,
 * videos, gt_rule, per_video list; NaN as null) followed by a newline.
 * model_path and test_path (may be NULL) are recorded as given.
 * Returns 0, or -1 when writing failed. */
int cli_eval_write_json(FILE *f, const arnet_eval_result *r, const char *model_path,
                        const char *test_path);
/* Print the readable summary table of r to f (per-video rows too when
 * per_video is nonzero). */
void cli_eval_print_table(FILE *f, const arnet_eval_result *r, int per_video);
/* Write one SVG per video of test (clip scores over frames, ground-truth
 * anomalies shaded, FAR threshold drawn) and DIR/index.html linking them,
 * into dir (created if needed).  r is arnet_evaluate's result for m on
 * test.  Returns 0, or prints "arnet CMD: ..." to stderr and returns -1. */
int cli_eval_write_plots(const char *cmd, const char *dir, const arnet_model *m,
                         const arnet_dataset *test, const arnet_eval_result *r,
                         float threshold);
/* Create dir if it does not exist (parent must).  0 or -1 with errno. */
int cli_mkdir(const char *dir);
/* A path's file name without folder and without a trailing ".npy": sets
 * *base to where it starts in path and returns its length. */
size_t cli_file_stem(const char *path, const char **base);
/* Write a whole file atomically (arnet_write_file) from a function that
 * writes to a FILE (a memory stream).  Returns 0 or -1 (message on stderr
 * naming path, prefixed "arnet CMD: "). */
int cli_write_file(const char *cmd, const char *path, int (*fill)(FILE *, void *), void *ctx);

/* ---- extractor options (cmd_extract.c), shared by extract and watch ---- */

/* --crops 1|10, --resize short256|340x256|224x224|none, --filter
 * bilinear|lanczos, --last-clip drop|pad, --threads K into opt: 1 when argv[*i] was one of them, 0 when
 * not, -1 after a usage error (printed). */
int cli_extractor_option(const char *cmd, int argc, char **argv, int *i,
                         arnet_extractor_options *opt);
/* The --resize name of an ARNET_RESIZE_* value. */
const char *cli_resize_name(int resize);
/* The flow stream's recipe: --flow-at crop|WxH, --flow-values
 * float|q8|q8-raw, --flow-bound B, --flow-channels xy|xx, --flow-preset
 * opencv|cuda, --flow-inexact (exact = 0), into opt and fopt; as
 * cli_extractor_option. */
int cli_flow_option(const char *cmd, int argc, char **argv, int *i, arnet_extractor_options *opt,
                    arnet_flow_options *fopt);
/* Load the RGB extractor and, when fpath is not NULL, the flow extractor,
 * each checked to be of its stream (a mix-up names the file and says which
 * option it belongs to).  0, or an exit code (message printed); on error
 * nothing is left loaded. */
int cli_load_extractors(const char *cmd, const char *xpath, const char *fpath,
                        arnet_extractor **x, arnet_extractor **fx);

#endif
