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

/* Exit codes: 0 ok, 1 failure reported by the library or I/O, 2 usage. */
#define CLI_EXIT_FAIL 1
#define CLI_EXIT_USAGE 2

/* Print "arnet CMD: what: <library message>" to stderr; returns CLI_EXIT_FAIL. */
int cli_fail(const char *cmd, int status, const char *what);
/* Print "arnet CMD: message" plus a hint to try --help; returns CLI_EXIT_USAGE. */
int cli_usage_error(const char *cmd, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Strict number parsing: the whole string must be a number in range.
 * On failure print which option was wrong and return 0. */
int cli_parse_u64(const char *cmd, const char *opt, const char *s, uint64_t min, uint64_t max,
                  uint64_t *out);
int cli_parse_double(const char *cmd, const char *opt, const char *s, double min, double max,
                     double *out);

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

/* Progress is shown when stderr is a terminal, or when forced (--progress). */
int cli_progress_enabled(int forced);
/* Redraw one progress line on stderr ("\r...\033[K"). */
void cli_progress_line(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* End the progress line (newline if one was drawn). */
void cli_progress_done(void);

/* Write s as a JSON string literal (with quotes) to f. */
void cli_json_string(FILE *f, const char *s);

/* Seconds since an arbitrary start (monotonic clock). */
double cli_now(void);

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

#endif
