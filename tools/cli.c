/* cli.c -- shared helpers of the arnet program: errors, option values,
 * number parsing, terminal progress, JSON strings, time. */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"

int cli_fail(const char *cmd, int status, const char *what)
{
    const char *msg = arnet_last_error();
    fprintf(stderr, "arnet %s: %s: %s%s%s\n", cmd, what, arnet_strerror(status),
            msg[0] ? ": " : "", msg);
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

int cli_parse_u64(const char *cmd, const char *opt, const char *s, uint64_t min, uint64_t max,
                  uint64_t *out)
{
    char *end;
    errno = 0;
    if (!s || !*s || *s == '-') {
        cli_usage_error(cmd, "%s: '%s' is not a non-negative whole number", opt, s ? s : "");
        return 0;
    }
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || *end) {
        cli_usage_error(cmd, "%s: '%s' is not a whole number", opt, s);
        return 0;
    }
    if (v < min || v > max) {
        cli_usage_error(cmd, "%s: %llu is out of range %llu..%llu", opt, v,
                        (unsigned long long)min, (unsigned long long)max);
        return 0;
    }
    *out = v;
    return 1;
}

int cli_parse_double(const char *cmd, const char *opt, const char *s, double min, double max,
                     double *out)
{
    char *end;
    errno = 0;
    if (!s || !*s) {
        cli_usage_error(cmd, "%s: empty value", opt);
        return 0;
    }
    double v = strtod(s, &end);
    if (errno || *end || !isfinite(v)) {
        cli_usage_error(cmd, "%s: '%s' is not a number", opt, s);
        return 0;
    }
    if (v < min || v > max) {
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

int cli_progress_enabled(int forced) { return forced || isatty(STDERR_FILENO); }

void cli_progress_line(const char *fmt, ...)
{
    va_list ap;
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

double cli_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}
