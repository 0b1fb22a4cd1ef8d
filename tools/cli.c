/* cli.c -- shared helpers of the arnet program: errors, option values,
 * number parsing, terminal progress, JSON strings, time. */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"

void cli_print_exit_codes(FILE *f, int flags)
{
    fprintf(f, "\nexit status:\n"
               "  0    success\n"
               "  1    failure: a file could not be read or written, bad data, or an error\n"
               "       of the library (the message says which file and what)%s\n"
               "  2    usage error: an unknown or bad option%s\n",
            flags & CLI_EXITS_OUTPUT ? ", or an output\n       in use by another arnet process"
                                     : "",
            flags & CLI_EXITS_OUTPUT ? ", an output that exists (see\n"
                                       "       --force) or that is one of the inputs"
                                     : "");
    if (flags & CLI_EXITS_INTERRUPT)
        fprintf(f, "  130  interrupted by Ctrl-C (SIGINT), 143 by SIGTERM, after saving what it\n"
                   "       had done (or dropping the unfinished output) and removing its locks\n");
}

static const char *const (*option_names)[2];

void cli_set_option_names(const char *const (*map)[2]) { option_names = map; }

static int word_char(int c) { return isalnum(c) || c == '_'; }

void cli_user_message(const char *msg, char *buf, size_t cap)
{
    size_t o = 0;
    if (!cap)
        return;
    for (const char *p = msg; *p && o + 1 < cap;) {
        int at_word = p == msg || !word_char((unsigned char)p[-1]);
        /* "arnet_trainer_create: " or "arnet_trainer_step (step 3): ":
         * the library's function names mean nothing to a command's user. */
        if (at_word && !strncmp(p, "arnet_", 6)) {
            const char *q = p + 6;
            while (word_char((unsigned char)*q))
                q++;
            if (q[0] == ' ' && q[1] == '(') {
                const char *close = strchr(q, ')');
                q = close ? close + 1 : q;
            }
            if (q[0] == ':' && q[1] == ' ') {
                p = q + 2;
                continue;
            }
        }
        if (at_word && option_names && (isalpha((unsigned char)*p) || *p == '_')) {
            const char *q = p;
            while (word_char((unsigned char)*q))
                q++;
            size_t len = (size_t)(q - p);
            const char *opt = NULL;
            for (size_t i = 0; option_names[i][0] && !opt; i++)
                if (strlen(option_names[i][0]) == len && !strncmp(option_names[i][0], p, len))
                    opt = option_names[i][1];
            /* "opt.feature_dim", "opt->threads": the option alone. */
            static const char *const owners[] = {"opt.", "opt->", "cfg.", "cfg->"};
            size_t owner = 0;
            for (size_t k = 0; opt && k < 4 && !owner; k++) {
                size_t kl = strlen(owners[k]);
                if (o >= kl && !strncmp(buf + o - kl, owners[k], kl))
                    owner = kl;
            }
            /* A word inside a path ("/data/crop/x.npy", "seed.npy") is not
             * a field name. */
            char before = p > msg ? p[-1] : ' ';
            if (opt && !owner &&
                (before == '/' || before == '.' || before == '-' || *q == '/' || *q == '-' ||
                 (*q == '.' && isalnum((unsigned char)q[1]))))
                opt = NULL;
            /* A plain word ("crop", "seed") is a field only with its value
             * after it ("crop 3"); snake_case ones always are. */
            if (opt && !owner && !memchr(p, '_', len) &&
                !(q[0] == ' ' && (isdigit((unsigned char)q[1]) || q[1] == '-' || q[1] == '\'')))
                opt = NULL;
            if (opt) {
                o -= owner;
                size_t ol = strlen(opt);
                if (o + ol >= cap)
                    break;
                memcpy(buf + o, opt, ol);
                o += ol;
                p = q;
                continue;
            }
            /* Copy the whole word: no match inside it. */
            if (o + len >= cap)
                break;
            memcpy(buf + o, p, len);
            o += len;
            p = q;
            continue;
        }
        buf[o++] = *p++;
    }
    buf[o] = '\0';
}

/* Paths longer than this go after the cause, not before it. */
#define CLI_LONG_PATH 60

/* In place: each blank-free run longer than CLI_LONG_PATH + 20 (a nested
 * path) is cut in the middle to its first 24 and last 40 bytes around
 * "...", so that the cause after it stays in view. */
static void shorten_long_words(char *s)
{
    char *w = s, *r = s;
    while (*r) {
        if (*r == ' ') {
            *w++ = *r++;
            continue;
        }
        size_t n = strcspn(r, " ");
        if (n > CLI_LONG_PATH + 20) {
            memmove(w, r, 24);
            memcpy(w + 24, "...", 3);
            memmove(w + 27, r + n - 40, 40);
            w += 67;
        } else {
            memmove(w, r, n);
            w += n;
        }
        r += n;
    }
    *w = '\0';
}

int cli_fail(const char *cmd, int status, const char *what)
{
    char msg[4096];
    cli_user_message(arnet_last_error(), msg, sizeof msg);
    size_t wl = strlen(what);
    if (!msg[0]) {
        fprintf(stderr, "arnet %s: %s: %s\n", cmd, what, arnet_strerror(status));
    } else if (wl && !strncmp(msg, what, wl) && msg[wl] == ':') {
        /* "<path>: cause" or "<path>:<line>: cause" */
        if (wl <= CLI_LONG_PATH) {
            fprintf(stderr, "arnet %s: %s\n", cmd, msg);
        } else {
            char *rest = msg + wl + 1;
            shorten_long_words(rest);
            const char *d = rest;
            while (isdigit((unsigned char)*d))
                d++;
            if (d > rest && d[0] == ':' && d[1] == ' ')
                fprintf(stderr, "arnet %s: line %.*s: %s (%s)\n", cmd, (int)(d - rest), rest,
                        d + 2, what);
            else
                fprintf(stderr, "arnet %s: %s (%s)\n", cmd, rest + (*rest == ' '), what);
        }
    } else if (wl && strstr(msg, what)) {
        fprintf(stderr, "arnet %s: %s\n", cmd, msg);
    } else if (wl > CLI_LONG_PATH) {
        shorten_long_words(msg);
        fprintf(stderr, "arnet %s: %s (%s)\n", cmd, msg, what);
    } else {
        fprintf(stderr, "arnet %s: %s: %s\n", cmd, what, msg);
    }
    return CLI_EXIT_FAIL;
}

int cli_usage_error(const char *cmd, const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "arnet %s: ", cmd);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\nTry 'arnet %s --help'.\n", cmd);
    return CLI_EXIT_USAGE;
}

FILE *cli_fopen_read(const char *path)
{
    int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0)
        return NULL;
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        int e = errno;
        close(fd);
        errno = S_ISREG(st.st_mode) ? e : EINVAL;
        return NULL;
    }
    int flags = fcntl(fd, F_GETFL);
    if (flags >= 0)
        (void)fcntl(fd, F_SETFL, flags & ~O_NONBLOCK);
    FILE *f = fdopen(fd, "r");
    if (!f)
        close(fd);
    return f;
}

const char *cli_open_error(const char *path)
{
    struct stat st;
    if (errno == EINVAL && stat(path, &st) == 0) {
        if (S_ISFIFO(st.st_mode))
            return "a pipe (FIFO), not a regular file";
        if (S_ISDIR(st.st_mode))
            return "a folder, not a regular file";
        if (!S_ISREG(st.st_mode))
            return "not a regular file";
    }
    return strerror(errno);
}

int cli_manifest_kind(const char *cmd, const char *option, const char *path)
{
    struct stat st;
    if (stat(path, &st) != 0 || !S_ISREG(st.st_mode))
        return 0;
    FILE *f = fopen(path, "rb");
    if (!f)
        return 0;
    unsigned char head[6];
    size_t n = fread(head, 1, sizeof head, f);
    fclose(f);
    if (n == sizeof head && !memcmp(head, "\x93NUMPY", 6)) {
        fprintf(stderr, "arnet %s: %s %s is a NumPy .npy file, not a manifest: give the text "
                        "file that lists the videos, one '<features.npy> <label> [<ground "
                        "truth>]' a line (docs/data.md; arnet import writes one)\n",
                cmd, option, path);
        return CLI_EXIT_FAIL;
    }
    return 0;
}

/* The one scanner under every whole-number option: decimal digits only (no
 * sign, space or base prefix, so "-1" cannot turn into 2^64 - 1 the way
 * strtoull makes it), stopping at `stop` or the end of s.  Returns 0 with
 * *v and *end set, 1 when there is no number (empty, or not a digit
 * first), 2 when it is negative, 3 when it does not fit in 64 bits. */
static int scan_u64(const char *s, char stop, uint64_t *v, const char **end)
{
    uint64_t x = 0;
    const char *p = s;
    if (*p == '-' && isdigit((unsigned char)p[1]))
        return 2;
    if (!isdigit((unsigned char)*p))
        return 1;
    for (; isdigit((unsigned char)*p); p++) {
        unsigned d = (unsigned)(*p - '0');
        if (x > (UINT64_MAX - d) / 10)
            return 3;
        x = x * 10 + d;
    }
    if (*p != stop && *p != '\0')
        return 1;
    *v = x;
    *end = p;
    return 0;
}

/* Print (when cmd is not NULL) why s is not a whole number in min..max for
 * opt.  For a pair, part names the piece ("W" of "WxH") and piece is its
 * text; both NULL/s for a single number. */
static int u64_error(const char *cmd, const char *opt, const char *s, const char *part,
                     const char *piece, int why, uint64_t v, uint64_t min, uint64_t max)
{
    if (!cmd)
        return 0;
    char head[160];
    if (part)
        snprintf(head, sizeof head, "%s '%s': %s", opt, s, part);
    else
        snprintf(head, sizeof head, "%s:", opt);
    if (!*s)
        cli_usage_error(cmd, "%s: empty value (a whole number %llu..%llu)", opt,
                        (unsigned long long)min, (unsigned long long)max);
    else if (why == 2 || why == 3)
        cli_usage_error(cmd, "%s '%s' is %s (a whole number %llu..%llu)", head, piece,
                        why == 2 ? "negative" : "too large", (unsigned long long)min,
                        (unsigned long long)max);
    else if (why == 1)
        cli_usage_error(cmd, "%s: '%s' is not a whole number %llu..%llu", opt, s,
                        (unsigned long long)min, (unsigned long long)max);
    else
        cli_usage_error(cmd, "%s %llu is out of range %llu..%llu", head, (unsigned long long)v,
                        (unsigned long long)min, (unsigned long long)max);
    return 0;
}

int cli_parse_u64(const char *cmd, const char *opt, const char *s, uint64_t min, uint64_t max,
                  uint64_t *out)
{
    uint64_t v = 0;
    const char *end;
    if (!s)
        s = "";
    int why = scan_u64(s, '\0', &v, &end);
    if (why || v < min || v > max)
        return u64_error(cmd, opt, s, NULL, s, why, v, min, max);
    *out = v;
    return 1;
}

int cli_parse_u64_pair(const char *cmd, const char *opt, const char *s, char sep,
                       const char *form, uint64_t min, uint64_t max, uint64_t *a, uint64_t *b)
{
    uint64_t x = 0, y = 0;
    const char *end;
    if (!s)
        s = "";
    const char *sp = strchr(s, sep);
    if (!*s || !sp) {
        if (cmd)
            cli_usage_error(cmd, "%s: '%s' is not %s (whole numbers %llu..%llu)", opt, s, form,
                            (unsigned long long)min, (unsigned long long)max);
        return 0;
    }
    char first[32], second[32];
    snprintf(first, sizeof first, "%.*s", (int)(sp - s) < 31 ? (int)(sp - s) : 31, s);
    snprintf(second, sizeof second, "%s", sp + 1);
    char na[8] = "", nb[8] = "";
    /* "W" and "H" of "WxH", "K" and "N" of "K/N" */
    snprintf(na, sizeof na, "%.*s", (int)(strchr(form, sep) - form), form);
    snprintf(nb, sizeof nb, "%s", strchr(form, sep) + 1);
    int why = scan_u64(s, sep, &x, &end);
    if (why == 1 || (!why && end != sp)) {
        if (cmd)
            cli_usage_error(cmd, "%s: '%s' is not %s (whole numbers %llu..%llu)", opt, s, form,
                            (unsigned long long)min, (unsigned long long)max);
        return 0;
    }
    if (why || x < min || x > max)
        return u64_error(cmd, opt, s, na, first, why, x, min, max);
    why = scan_u64(sp + 1, '\0', &y, &end);
    if (why == 1) {
        if (cmd)
            cli_usage_error(cmd, "%s: '%s' is not %s (whole numbers %llu..%llu)", opt, s, form,
                            (unsigned long long)min, (unsigned long long)max);
        return 0;
    }
    if (why || y < min || y > max)
        return u64_error(cmd, opt, s, nb, second, why, y, min, max);
    *a = x;
    *b = y;
    return 1;
}

int cli_parse_double(const char *cmd, const char *opt, const char *s, double min, double max,
                     double *out)
{
    char *end;
    if (!s)
        s = "";
    if (!*s) {
        if (cmd)
            cli_usage_error(cmd, "%s: empty value (a number %g..%g)", opt, min, max);
        return 0;
    }
    /* strtod skips leading space and reads "0x..." and "nan": only a plain
     * decimal number (sign, digits, point, exponent) is one here. */
    int plain = strspn(s, "+-0123456789.eE") == strlen(s) &&
                (isdigit((unsigned char)*s) || *s == '.' || *s == '-' || *s == '+');
    errno = 0;
    double v = plain ? strtod(s, &end) : 0.0;
    if (!plain || *end || end == s) {
        if (cmd)
            cli_usage_error(cmd, "%s: '%s' is not a number (%g..%g)", opt, s, min, max);
        return 0;
    }
    if (errno == ERANGE || !isfinite(v)) {
        /* 1e999 overflows to infinity, 1e-999 underflows to 0 */
        if (cmd)
            cli_usage_error(cmd, "%s: '%s' is out of range %g..%g", opt, s, min, max);
        return 0;
    }
    if (!(v >= min && v <= max)) {
        if (cmd)
            cli_usage_error(cmd, "%s: %g is out of range %g..%g", opt, v, min, max);
        return 0;
    }
    *out = v;
    return 1;
}

int cli_opt_value(const char *cmd, int argc, char **argv, int *i, const char *opt,
                  const char **value)
{
    const char *a = argv[*i];
    size_t len = strlen(opt);
    if (strncmp(a, opt, len) != 0)
        return 0;
    if (a[len] == '=') {
        *value = a + len + 1;
        return 1;
    }
    if (a[len] != '\0')
        return 0;
    if (*i + 1 >= argc) {
        cli_usage_error(cmd, "%s needs a value", opt);
        return -1;
    }
    *value = argv[++*i];
    return 1;
}

int cli_crop_opts(const char *cmd, int argc, char **argv, int *i, int *layout, int *crop)
{
    const char *v;
    int r;
    if ((r = cli_opt_value(cmd, argc, argv, i, "--layout", &v))) {
        if (r < 0)
            return r;
        if (!strcmp(v, "auto"))
            *layout = ARNET_LAYOUT_AUTO;
        else if (!strcmp(v, "tcf"))
            *layout = ARNET_LAYOUT_TCF;
        else if (!strcmp(v, "ctf"))
            *layout = ARNET_LAYOUT_CTF;
        else {
            cli_usage_error(cmd, "--layout: '%s' is not auto, tcf or ctf", v);
            return -1;
        }
        return 1;
    }
    if (crop && (r = cli_opt_value(cmd, argc, argv, i, "--crops", &v))) {
        if (r < 0)
            return r;
        if (!strcmp(v, "mean"))
            *crop = -1;
        else if (!strcmp(v, "each"))
            *crop = ARNET_CROP_EACH;
        else {
            cli_usage_error(cmd, "--crops: '%s' is not mean or each (one crop: --crop C)", v);
            return -1;
        }
        return 1;
    }
    return 0;
}

static int progress_drawn;

int cli_progress_enabled(int forced)
{
    (void)forced; /* on everywhere now; --progress stays accepted */
    return 1;
}

double cli_progress_interval(void) { return isatty(STDERR_FILENO) ? 0.2 : 5.0; }

void cli_progress_line(const char *fmt, ...)
{
    va_list ap;
    if (isatty(STDERR_FILENO))
        fputc('\r', stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputs(isatty(STDERR_FILENO) ? "\033[K" : "\n", stderr);
    fflush(stderr);
    progress_drawn = isatty(STDERR_FILENO);
}

void cli_progress_done(void)
{
    if (progress_drawn)
        fputc('\n', stderr);
    progress_drawn = 0;
}

void cli_json_string(FILE *f, const char *s)
{
    fputc('"', f);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        switch (*p) {
        case '"': fputs("\\\"", f); break;
        case '\\': fputs("\\\\", f); break;
        case '\n': fputs("\\n", f); break;
        case '\r': fputs("\\r", f); break;
        case '\t': fputs("\\t", f); break;
        default:
            if (*p < 0x20)
                fprintf(f, "\\u%04x", *p);
            else
                fputc(*p, f);
        }
    }
    fputc('"', f);
}

int cli_cpu_count(void)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n < 1 ? 1 : n > 1024 ? 1024 : (int)n;
}

double cli_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* ---- interruption: SIGINT and SIGTERM ---------------------------------------- */

static volatile sig_atomic_t interrupt_signal;
static void (*volatile interrupt_hook)(void);
static int wake_pipe[2] = {-1, -1};
static struct sigaction old_int_action, old_term_action;
static int signals_caught;

static void on_interrupt(int sig)
{
    int saved = errno;
    if (!interrupt_signal)
        interrupt_signal = sig;
    void (*hook)(void) = interrupt_hook;
    if (hook)
        hook();
    if (wake_pipe[1] >= 0) {
        char c = 1;
        ssize_t w = write(wake_pipe[1], &c, 1); /* full pipe: it is readable already */
        (void)w;
    }
    errno = saved;
}

void cli_signals_catch(void (*hook)(void))
{
    interrupt_hook = hook;
    if (signals_caught)
        return;
    if (wake_pipe[0] < 0 && pipe(wake_pipe) == 0) {
        for (int k = 0; k < 2; k++) {
            fcntl(wake_pipe[k], F_SETFD, FD_CLOEXEC);
            fcntl(wake_pipe[k], F_SETFL, fcntl(wake_pipe[k], F_GETFL) | O_NONBLOCK);
        }
    }
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_interrupt;
    sa.sa_flags = SA_RESETHAND; /* a second signal of the kind ends the process at once */
    sigemptyset(&sa.sa_mask);
    sigaddset(&sa.sa_mask, SIGINT);
    sigaddset(&sa.sa_mask, SIGTERM);
    sigaction(SIGINT, &sa, &old_int_action);
    sigaction(SIGTERM, &sa, &old_term_action);
    signals_caught = 1;
}

void cli_signals_set_hook(void (*hook)(void)) { interrupt_hook = hook; }

void cli_signals_restore(void)
{
    interrupt_hook = NULL;
    if (!signals_caught)
        return;
    sigaction(SIGINT, &old_int_action, NULL);
    sigaction(SIGTERM, &old_term_action, NULL);
    signals_caught = 0;
}

int cli_interrupted(void) { return interrupt_signal; }

int cli_interrupt_status(void)
{
    return interrupt_signal ? 128 + interrupt_signal : CLI_EXIT_INTERRUPTED;
}

const char *cli_interrupt_name(void)
{
    return interrupt_signal == SIGTERM ? "SIGTERM" : interrupt_signal ? "SIGINT" : "nothing";
}

int cli_sleep(double seconds)
{
    double end = cli_now() + seconds;
    for (;;) {
        if (interrupt_signal)
            return -1;
        double d = end - cli_now();
        if (d <= 0)
            return 0;
        int ms = d > 1000.0 ? 1000000 : (int)ceil(d * 1000.0);
        if (wake_pipe[0] >= 0) {
            struct pollfd p = {wake_pipe[0], POLLIN, 0};
            poll(&p, 1, ms);
        } else { /* no pipe: short naps, so that a signal is seen within 50 ms */
            struct timespec ts = {0, (long)(ms < 50 ? ms : 50) * 1000000L};
            nanosleep(&ts, NULL);
        }
    }
}

const char *cli_base_name(const char *path)
{
    const char *s = strrchr(path, '/');
    return s ? s + 1 : path;
}

int cli_feature_clips(const char *cmd, const char *path, const char *what, size_t *T)
{
    arnet_npy_info info;
    arnet_npy_info_init(&info);
    int rc = arnet_npy_info_read(path, &info);
    if (rc)
        return cli_fail(cmd, rc, what);
    int empty = 0;
    for (int i = 0; i < info.ndim; i++)
        empty |= info.shape[i] == 0;
    if ((info.ndim != 2 && info.ndim != 3) || info.dtype[1] != 'f' || empty) {
        fprintf(stderr,
                "arnet %s: %s: %s: not clip features (dtype %s, %d dimension%s%s): "
                "features are [T, F] or [T, C, F] float16/32/64 arrays\n",
                cmd, what, path, info.dtype, info.ndim, info.ndim == 1 ? "" : "s",
                empty ? ", one of them 0" : "");
        return CLI_EXIT_FAIL;
    }
    *T = (size_t)info.shape[0];
    return 0;
}

int cli_import_opt(const char *cmd, int argc, char **argv, int *i, cli_import_opts *o)
{
    static const char *const names[] = {"--features-dir", "--flow-dir", "--out", "--suffix",
                                        "--flow-suffix"};
    const char **fields[] = {&o->features_dir, &o->flow_dir, &o->out, &o->suffix,
                             &o->flow_suffix};
    for (size_t k = 0; k < sizeof names / sizeof names[0]; k++) {
        const char *v;
        int r = cli_opt_value(cmd, argc, argv, i, names[k], &v);
        if (r > 0)
            *fields[k] = v;
        if (r)
            return r;
    }
    return 0;
}
