/* alloc_count.c -- the allocation counter of alloc_count.h. */
#define _GNU_SOURCE
#include "alloc_count.h"

#include <dlfcn.h>
#include <stdio.h>
#include <string.h>

volatile int counting;
volatile long n_allocs;
void *callers[MAX_CALLERS];

long alloc_count_outside_blis(const char *what, long *blis)
{
    long ours = 0, theirs = 0, n = n_allocs < MAX_CALLERS ? n_allocs : MAX_CALLERS;
    for (long i = 0; i < n; i++) {
        Dl_info info;
        memset(&info, 0, sizeof info);
        int known = dladdr(callers[i], &info) && info.dli_fname;
        if (known && (strstr(info.dli_fname, "libblis") || strstr(info.dli_fname, "libgomp"))) {
            theirs++;
            continue;
        }
        ours++;
        fprintf(stderr, "# %s: allocation from %p (%s %s)\n", what, callers[i],
                known ? info.dli_fname : "?", info.dli_sname ? info.dli_sname : "?");
    }
    if (blis)
        *blis = theirs;
    return ours;
}

#if COUNT_ALLOCATIONS
static void note(void *caller)
{
    long i = __atomic_fetch_add(&n_allocs, 1, __ATOMIC_RELAXED);
    if (i < MAX_CALLERS)
        callers[i] = caller;
}

void *malloc(size_t n)
{
    if (counting)
        note(__builtin_return_address(0));
    return __libc_malloc(n);
}
void *calloc(size_t a, size_t b)
{
    if (counting)
        note(__builtin_return_address(0));
    return __libc_calloc(a, b);
}
void *realloc(void *p, size_t n)
{
    if (counting)
        note(__builtin_return_address(0));
    return __libc_realloc(p, n);
}
void free(void *p) { __libc_free(p); }
int posix_memalign(void **out, size_t align, size_t n)
{
    if (counting)
        note(__builtin_return_address(0));
    void *p = __libc_memalign(align, n);
    if (!p)
        return 12; /* ENOMEM */
    *out = p;
    return 0;
}
void *aligned_alloc(size_t align, size_t n)
{
    if (counting)
        note(__builtin_return_address(0));
    return __libc_memalign(align, n);
}
void *memalign(size_t align, size_t n)
{
    if (counting)
        note(__builtin_return_address(0));
    return __libc_memalign(align, n);
}
#endif
