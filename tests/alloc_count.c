/* alloc_count.c -- the allocation counter of alloc_count.h. */
#define _GNU_SOURCE
#include "alloc_count.h"

#include <dlfcn.h>
#include <errno.h>
#include <execinfo.h>
#include <link.h>
#include <stdint.h>
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

/* ---- failure injection ------------------------------------------------------ */

typedef struct {
    uintptr_t lo, hi;
} code_range;
#define MAX_RANGES 8
static code_range exe_code[MAX_RANGES], z_code[MAX_RANGES], c_code[MAX_RANGES];
static int n_exe, n_z, n_c;

static volatile int injecting;
static long fail_index;
static long numbered;
static int refused;
static _Thread_local int in_hook; /* the unwinder's own allocations pass */

/* Blocks handed out on libarnet's behalf and not yet freed: open addressing
 * with linear probing and backward-shift deletion, under a spin lock. */
#define TRACK_SLOTS (1u << 16)
static void *tracked[TRACK_SLOTS];
static void *tracked_by[TRACK_SLOTS]; /* the caller, for the report of a leak */
static long n_tracked;
static volatile char track_lock;

static void lock(void)
{
    while (__atomic_test_and_set(&track_lock, __ATOMIC_ACQUIRE))
        ;
}
static void unlock(void) { __atomic_clear(&track_lock, __ATOMIC_RELEASE); }
static size_t slot_of(const void *p) { return ((uintptr_t)p >> 4) * 2654435761u % TRACK_SLOTS; }

static void track_add(void *p, void *by)
{
    lock();
    size_t i = slot_of(p);
    while (tracked[i])
        i = (i + 1) % TRACK_SLOTS;
    tracked[i] = p;
    tracked_by[i] = by;
    n_tracked++;
    unlock();
}

static void track_remove(void *p)
{
    lock();
    size_t i = slot_of(p);
    while (tracked[i] && tracked[i] != p)
        i = (i + 1) % TRACK_SLOTS;
    if (tracked[i]) {
        tracked[i] = NULL;
        n_tracked--;
        /* Re-place the entries after i that the hole would hide. */
        for (size_t j = (i + 1) % TRACK_SLOTS; tracked[j]; j = (j + 1) % TRACK_SLOTS) {
            void *q = tracked[j], *by = tracked_by[j];
            tracked[j] = NULL;
            size_t k = slot_of(q);
            while (tracked[k])
                k = (k + 1) % TRACK_SLOTS;
            tracked[k] = q;
            tracked_by[k] = by;
        }
    }
    unlock();
}

static int in_ranges(const code_range *r, int n, uintptr_t a)
{
    for (int i = 0; i < n; i++)
        if (a >= r[i].lo && a < r[i].hi)
            return 1;
    return 0;
}

static int ranges_cb(struct dl_phdr_info *info, size_t size, void *data)
{
    (void)size;
    int *first = data;
    code_range *r = NULL;
    int *n = NULL;
    const char *name = info->dlpi_name ? info->dlpi_name : "";
    if (*first) {
        r = exe_code, n = &n_exe;
        *first = 0;
    } else if (strstr(name, "/libz.so")) {
        r = z_code, n = &n_z;
    } else if (strstr(name, "/libc.so")) {
        r = c_code, n = &n_c;
    }
    if (!r)
        return 0;
    for (int i = 0; i < info->dlpi_phnum && *n < MAX_RANGES; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        if (ph->p_type == PT_LOAD && (ph->p_flags & PF_X)) {
            r[*n].lo = info->dlpi_addr + ph->p_vaddr;
            r[*n].hi = r[*n].lo + ph->p_memsz;
            (*n)++;
        }
    }
    return 0;
}

/* Whether an allocation called from `caller` is made on libarnet's behalf:
 * from libarnet (this executable) or zlib directly, or from the C library
 * working for them (strdup, getline, fdopen...). */
static int on_our_behalf(void *caller)
{
    uintptr_t a = (uintptr_t)caller;
    if (in_ranges(exe_code, n_exe, a) || in_ranges(z_code, n_z, a))
        return 1;
    if (!in_ranges(c_code, n_c, a))
        return 0;
    void *frames[64];
    int n = backtrace(frames, 64), i = 0;
    while (i < n && frames[i] != caller)
        i++;
    for (; i < n; i++) {
        a = (uintptr_t)frames[i];
        if (in_ranges(c_code, n_c, a))
            continue;
        return in_ranges(exe_code, n_exe, a) || in_ranges(z_code, n_z, a);
    }
    return 0;
}

/* 1: refuse this allocation; 0: go on (*track says whether to track it). */
static int inject(void *caller, int *track)
{
    *track = 0;
    if (!injecting || in_hook)
        return 0;
    in_hook = 1;
    int ours = on_our_behalf(caller);
    in_hook = 0;
    if (!ours)
        return 0;
    long k = __atomic_fetch_add(&numbered, 1, __ATOMIC_RELAXED);
    if (k == fail_index) {
        refused = 1;
        errno = ENOMEM;
        return 1;
    }
    *track = 1;
    return 0;
}

void alloc_fail_begin(long fail_at)
{
    if (!n_exe) {
        int first = 1;
        dl_iterate_phdr(ranges_cb, &first);
        void *warm[4];
        (void)backtrace(warm, 4); /* loads the unwinder now, not mid-test */
    }
    lock();
    memset(tracked, 0, sizeof tracked);
    n_tracked = 0;
    unlock();
    fail_index = fail_at;
    numbered = 0;
    refused = 0;
    __atomic_store_n(&injecting, 1, __ATOMIC_SEQ_CST);
}

long alloc_fail_settle(void)
{
    long n = __atomic_load_n(&numbered, __ATOMIC_SEQ_CST);
    fail_index = -2; /* go on tracking, refuse nothing more */
    return n;
}

long alloc_fail_end(long *live)
{
    __atomic_store_n(&injecting, 0, __ATOMIC_SEQ_CST);
    if (live)
        *live = n_tracked;
    for (size_t i = 0; i < TRACK_SLOTS && n_tracked; i++) {
        if (!tracked[i])
            continue;
        Dl_info info;
        memset(&info, 0, sizeof info);
        int known = dladdr(tracked_by[i], &info) && info.dli_fname;
        fprintf(stderr, "# not freed: %p, allocated from %p (%s %s)\n", tracked[i],
                tracked_by[i], known ? info.dli_fname : "?", info.dli_sname ? info.dli_sname : "?");
    }
    return numbered;
}

int alloc_fail_hit(void) { return refused; }

#define HOOK(ret_null)                             \
    int track_;                                    \
    if (counting)                                  \
        note(__builtin_return_address(0));         \
    if (inject(__builtin_return_address(0), &track_)) \
        return ret_null;

void *malloc(size_t n)
{
    HOOK(NULL)
    void *p = __libc_malloc(n);
    if (p && track_)
        track_add(p, __builtin_return_address(0));
    return p;
}
void *calloc(size_t a, size_t b)
{
    HOOK(NULL)
    void *p = __libc_calloc(a, b);
    if (p && track_)
        track_add(p, __builtin_return_address(0));
    return p;
}
void *realloc(void *old, size_t n)
{
    HOOK(NULL)
    void *p = __libc_realloc(old, n);
    if (p || n == 0) {
        if (old && injecting)
            track_remove(old);
        if (p && track_)
            track_add(p, __builtin_return_address(0));
    }
    return p;
}
void free(void *p)
{
    if (p && injecting)
        track_remove(p);
    __libc_free(p);
}
int posix_memalign(void **out, size_t align, size_t n)
{
    HOOK(ENOMEM)
    void *p = __libc_memalign(align, n);
    if (!p)
        return ENOMEM;
    if (track_)
        track_add(p, __builtin_return_address(0));
    *out = p;
    return 0;
}
void *aligned_alloc(size_t align, size_t n)
{
    HOOK(NULL)
    void *p = __libc_memalign(align, n);
    if (p && track_)
        track_add(p, __builtin_return_address(0));
    return p;
}
void *memalign(size_t align, size_t n)
{
    HOOK(NULL)
    void *p = __libc_memalign(align, n);
    if (p && track_)
        track_add(p, __builtin_return_address(0));
    return p;
}
#else
void alloc_fail_begin(long fail_at) { (void)fail_at; }
long alloc_fail_end(long *live)
{
    if (live)
        *live = 0;
    return 0;
}
int alloc_fail_hit(void) { return 0; }
long alloc_fail_settle(void) { return 0; }
#endif
