/* alloc_count.h -- counts every allocation made in a test process while
 * `counting` is on, with the address of each one's immediate caller, so a
 * test can tell libarnet's allocations from BLIS's and libgomp's.
 * alloc_count.c defines malloc & co. in the test executable (they forward to
 * glibc's own allocator), which interposes them for every shared object.
 * Not under AddressSanitizer, which owns the allocator: COUNT_ALLOCATIONS is
 * 0 there and the counting tests are left out. */
#ifndef ARNET_TESTS_ALLOC_COUNT_H
#define ARNET_TESTS_ALLOC_COUNT_H

#include <stddef.h>

/* GCC says __SANITIZE_ADDRESS__, clang only __has_feature(address_sanitizer). */
#if defined(__SANITIZE_ADDRESS__)
#define COUNT_ALLOCATIONS 0
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define COUNT_ALLOCATIONS 0
#endif
#endif
#ifndef COUNT_ALLOCATIONS
#define COUNT_ALLOCATIONS 1
#endif

/* glibc's allocator, for test buffers that must never be counted. */
extern void *__libc_malloc(size_t);
extern void *__libc_calloc(size_t, size_t);
extern void *__libc_realloc(void *, size_t);
extern void *__libc_memalign(size_t, size_t);
extern void __libc_free(void *);

#define MAX_CALLERS 4096
extern volatile int counting;
extern volatile long n_allocs;
extern void *callers[MAX_CALLERS]; /* of the first MAX_CALLERS allocations */

/* Of the allocations counted, how many came from outside BLIS and libgomp
 * (*blis gets the others; may be NULL).  Each outside one is described on
 * stderr as a TAP comment, prefixed by `what`. */
long alloc_count_outside_blis(const char *what, long *blis);

/* ---- failure injection (tests/test_alloc_fail.c) ----------------------------
 * Between alloc_fail_begin and alloc_fail_end, every allocation made on
 * libarnet's behalf is numbered 0, 1, 2...; number fail_at gets NULL
 * (ENOMEM), and the blocks they return are tracked until freed.  "On
 * libarnet's behalf": walking up the call stack past the C library's own
 * frames (strdup, getline, fdopen...), the first frame is in this
 * executable (the static libarnet) or in zlib.  Allocations BLIS or libgomp
 * make for themselves (their memory pools, kept for the process's life) are
 * neither failed nor tracked.  Also sets up malloc & co. for the counting
 * above, which stays independent. */
void alloc_fail_begin(long fail_at);
/* From now on refuse nothing (blocks are still tracked, so that checking
 * and freeing a successful call's result can follow); returns how many
 * allocations were numbered so far. */
long alloc_fail_settle(void);
/* Stop; returns how many allocations were numbered, *live (may be NULL)
 * gets the tracked blocks not freed since alloc_fail_begin. */
long alloc_fail_end(long *live);
/* Whether the allocation numbered fail_at was reached (and refused). */
int alloc_fail_hit(void);

#endif
