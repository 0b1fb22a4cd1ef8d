/* error.c -- status names, the per-thread last-error message, versions and
 * the checked allocation helpers every other file uses. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

#define ARNET_ERRMSG_MAX 1024

static _Thread_local char last_error[ARNET_ERRMSG_MAX];
/* errno behind the message when the system refused (arnet__error_os), else 0. */
static _Thread_local int last_errno;

const char *arnet_version(void) { return ARNET_VERSION; }

int arnet_abi_version(void) { return ARNET_ABI_VERSION; }

const char *arnet_strerror(int status)
{
    switch (status) {
    case ARNET_OK: return "ok";
    case ARNET_E_INVALID: return "invalid argument";
    case ARNET_E_NOMEM: return "out of memory";
    case ARNET_E_IO: return "input/output error";
    case ARNET_E_FORMAT: return "malformed or unsupported file";
    case ARNET_E_SHAPE: return "dimension mismatch";
    case ARNET_E_STATE: return "call not valid now";
    case ARNET_E_CANCELLED: return "cancelled";
    default: return "unknown status";
    }
}

const char *arnet_last_error(void) { return last_error; }

void arnet_clear_error(void)
{
    last_error[0] = '\0';
    last_errno = 0;
}

int arnet_last_errno(void) { return last_errno; }

void arnet_free(void *ptr) { free(ptr); }

int arnet__error(int status, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(last_error, sizeof last_error, fmt, ap);
    va_end(ap);
    last_errno = 0;
    return status;
}

int arnet__error_os(int err, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(last_error, sizeof last_error, fmt, ap);
    va_end(ap);
    last_errno = err;
    return ARNET_E_IO;
}

void arnet__error_prefix(const char *fmt, ...)
{
    char prefix[ARNET_ERRMSG_MAX / 4];
    char old[ARNET_ERRMSG_MAX - ARNET_ERRMSG_MAX / 4 - 2];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(prefix, sizeof prefix, fmt, ap);
    va_end(ap);
    memcpy(old, last_error, sizeof old - 1);
    old[sizeof old - 1] = '\0';
    snprintf(last_error, sizeof last_error, "%s: %s", prefix, old);
}

int arnet__mul_size(size_t a, size_t b, size_t *out)
{
    if (a != 0 && b > SIZE_MAX / a)
        return 0;
    *out = a * b;
    return 1;
}

int arnet__add_size(size_t a, size_t b, size_t *out)
{
    if (b > SIZE_MAX - a)
        return 0;
    *out = a + b;
    return 1;
}

void *arnet__alloc(size_t n, size_t size, const char *what)
{
    size_t bytes;
    if (!arnet__mul_size(n, size, &bytes)) {
        arnet__error(ARNET_E_NOMEM, "%s: %zu x %zu bytes overflows", what, n, size);
        return NULL;
    }
    void *p = malloc(bytes ? bytes : 1);
    if (!p)
        arnet__error(ARNET_E_NOMEM, "%s: cannot allocate %zu bytes", what, bytes);
    return p;
}

void *arnet__calloc(size_t n, size_t size, const char *what)
{
    size_t bytes;
    if (!arnet__mul_size(n, size, &bytes)) {
        arnet__error(ARNET_E_NOMEM, "%s: %zu x %zu bytes overflows", what, n, size);
        return NULL;
    }
    void *p = calloc(n ? n : 1, size ? size : 1);
    if (!p)
        arnet__error(ARNET_E_NOMEM, "%s: cannot allocate %zu bytes", what, bytes);
    return p;
}

char *arnet__strdup(const char *s)
{
    size_t len = strlen(s) + 1;
    char *p = arnet__alloc(len, 1, "string");
    if (p)
        memcpy(p, s, len);
    return p;
}

/* ---- versioned structs ---------------------------------------------------- */

int arnet__struct_check(const char *fn, const char *type, const void *s, size_t min_size)
{
    size_t size;
    memcpy(&size, s, sizeof size);
    if (size < min_size)
        return arnet__error(ARNET_E_INVALID,
                            "%s: %s.struct_size is %zu, below the %zu bytes of its first "
                            "release (call %s_init first)",
                            fn, type, size, min_size, type);
    return ARNET_OK;
}

int arnet__struct_in(const char *fn, const char *type, void *dst, size_t dst_size,
                     const void *src, size_t min_size)
{
    int rc = arnet__struct_check(fn, type, src, min_size);
    if (rc)
        return rc;
    size_t size;
    memcpy(&size, src, sizeof size);
    memcpy(dst, src, size < dst_size ? size : dst_size);
    memcpy(dst, &dst_size, sizeof dst_size);
    return ARNET_OK;
}

void arnet__struct_out(void *dst, const void *src, size_t src_size)
{
    size_t size;
    memcpy(&size, dst, sizeof size);
    memcpy(dst, src, size < src_size ? size : src_size);
    memcpy(dst, &size, sizeof size);
}
