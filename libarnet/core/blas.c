/* blas.c -- the only file that talks to BLIS: one-time kernel choice and
 * row-major GEMM/GEMV wrappers with per-call thread counts (rntm_t).
 *
 * Why the kernel choice: Debian's BLIS 0.9 does not recognise AMD Zen 4
 * (AVX-512) processors and falls back to its generic kernels, about 11 times
 * slower than its SKX kernels on the same machine.  BLIS picks its kernels
 * once per process, from the BLIS_ARCH_TYPE environment variable if set, else
 * from cpuid.  So before BLIS first initialises, and only when the user has
 * not set BLIS_ARCH_TYPE and the processor has every AVX-512 subset the SKX
 * kernels use, we set BLIS_ARCH_TYPE to SKX's index for the duration of BLIS's
 * initialisation and remove it again.  A BLIS already initialised by the host
 * application keeps its choice.  docs/blis.md says the same for users. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

#include <blis.h>

#include "internal.h"

static pthread_once_t blas_once = PTHREAD_ONCE_INIT;

static int cpu_has_skx_isa(void)
{
#if defined(__x86_64__) && defined(__GNUC__)
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512dq") &&
           __builtin_cpu_supports("avx512cd") && __builtin_cpu_supports("avx512bw") &&
           __builtin_cpu_supports("avx512vl");
#else
    return 0;
#endif
}

static void blas_init_once(void)
{
    /* ARNET_BLIS_AUTO=0 turns the override off without choosing an arch. */
    const char *auto_env = getenv("ARNET_BLIS_AUTO");
    int allowed = !(auto_env && auto_env[0] == '0');
    if (allowed && getenv("BLIS_ARCH_TYPE") == NULL && cpu_has_skx_isa()) {
        char idx[16];
        snprintf(idx, sizeof idx, "%d", (int)BLIS_ARCH_SKX);
        if (setenv("BLIS_ARCH_TYPE", idx, 0) == 0) {
            bli_init();
            (void)bli_arch_query_id();
            unsetenv("BLIS_ARCH_TYPE");
            return;
        }
    }
    bli_init();
}

void arnet__blas_init(void) { pthread_once(&blas_once, blas_init_once); }

const char *arnet_blas_arch(void)
{
    arnet__blas_init();
    return bli_arch_string(bli_arch_query_id());
}

static void rntm_for(rntm_t *rntm, int threads)
{
    bli_rntm_init(rntm);
    bli_rntm_set_num_threads(threads > 0 ? threads : 1, rntm);
}

void arnet__sgemm(int trans_a, int trans_b, size_t m, size_t n, size_t k, float alpha,
                  const float *a, size_t lda, const float *b, size_t ldb, float beta,
                  float *c, size_t ldc, int threads)
{
    if (m == 0 || n == 0)
        return;
    arnet__blas_init();
    rntm_t rntm;
    rntm_for(&rntm, threads);
    /* Row-major with row stride ld and column stride 1; BLIS takes general
     * strides, so no transposition trick is needed. */
    bli_sgemm_ex(trans_a ? BLIS_TRANSPOSE : BLIS_NO_TRANSPOSE,
                 trans_b ? BLIS_TRANSPOSE : BLIS_NO_TRANSPOSE, (dim_t)m, (dim_t)n, (dim_t)k,
                 &alpha, (float *)a, (inc_t)lda, 1, (float *)b, (inc_t)ldb, 1, &beta, c,
                 (inc_t)ldc, 1, NULL, &rntm);
}

/* ---- products shared by a team ---------------------------------------------
 *
 * BLIS's own threads (OpenMP in Debian's build) split every product into
 * parts joined by barriers at each packed block, and wait there spinning:
 * on a machine where another process holds a core, the thread that lost
 * its core holds up the others, which burn theirs (`arnet train --threads
 * 2` ran 2 times slower than one thread beside other work; docs/training.md).
 * Here the team (team.c: waiting members sleep) takes whole parts of the
 * product from a shared counter, each with single-threaded BLIS, so one
 * join per product and the member that is running takes more parts.  A
 * split along k sums each part into its own buffer, added in part order,
 * so results stay the same run to run for a given team size. */

typedef struct team_gemm {
    int ta, tb;
    size_t m, n, k;
    float alpha, beta;
    const float *a, *b;
    float *c;
    size_t lda, ldb, ldc;
    int split;          /* 0: rows of C, 1: columns of C, 2: k */
    size_t part, parts; /* rows / columns / k per part, number of parts */
    float *partial;     /* split k: (parts - 1) x m x n, part p > 0 at p - 1 */
    size_t next;
} team_gemm;

static void team_gemm_member(void *arg, int member)
{
    team_gemm *g = arg;
    (void)member;
    for (size_t p; (p = arnet__team_take(&g->next)) < g->parts;) {
        size_t lo = p * g->part;
        if (g->split == 2) { /* part p into its own sum, whoever computes it */
            size_t kk = g->k - lo < g->part ? g->k - lo : g->part;
            const float *a = g->ta ? g->a + lo * g->lda : g->a + lo;
            const float *b = g->tb ? g->b + lo : g->b + lo * g->ldb;
            float *c = p ? g->partial + (p - 1) * g->m * g->n : g->c;
            arnet__sgemm(g->ta, g->tb, g->m, g->n, kk, g->alpha, a, g->lda, b, g->ldb,
                         p ? 0.0f : g->beta, c, p ? g->n : g->ldc, 1);
        } else if (g->split == 0) {
            size_t rows = g->m - lo < g->part ? g->m - lo : g->part;
            const float *a = g->ta ? g->a + lo : g->a + lo * g->lda;
            arnet__sgemm(g->ta, g->tb, rows, g->n, g->k, g->alpha, a, g->lda, g->b, g->ldb,
                         g->beta, g->c + lo * g->ldc, g->ldc, 1);
        } else if (g->split == 1) {
            size_t cols = g->n - lo < g->part ? g->n - lo : g->part;
            const float *b = g->tb ? g->b + lo * g->ldb : g->b + lo;
            arnet__sgemm(g->ta, g->tb, g->m, cols, g->k, g->alpha, g->a, g->lda, b, g->ldb,
                         g->beta, g->c + lo, g->ldc, 1);
        }
    }
}

/* Parts of a split along k: twice the members, so that a member that has
 * its core takes more of them. */
static size_t k_parts(int members) { return 2 * (size_t)members; }

size_t arnet__sgemm_team_scratch(const arnet__team *team, size_t m, size_t n)
{
    int members = arnet__team_size(team);
    return members > 1 ? (k_parts(members) - 1) * m * n : 0;
}

void arnet__sgemm_team(arnet__team *team, int trans_a, int trans_b, size_t m, size_t n, size_t k,
                       float alpha, const float *a, size_t lda, const float *b, size_t ldb,
                       float beta, float *c, size_t ldc, float *scratch)
{
    int members = arnet__team_size(team);
    /* Below about a million multiply-adds (a few tens of microseconds) a
     * team's wake-up and join cost more than they save. */
    if (members <= 1 || m == 0 || n == 0 || (double)m * (double)n * (double)k < 1e6) {
        arnet__sgemm(trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc, 1);
        return;
    }
    team_gemm g;
    memset(&g, 0, sizeof g);
    g.ta = trans_a, g.tb = trans_b, g.m = m, g.n = n, g.k = k, g.alpha = alpha, g.beta = beta;
    g.a = a, g.b = b, g.c = c, g.lda = lda, g.ldb = ldb, g.ldc = ldc;
    /* Every part packs all of the operand it does not split, so split the
     * dimension whose other operand is small; when k dominates (a gradient
     * summed over many rows) split k into per-member partial sums. */
    size_t big = m > n ? m : n;
    size_t parts = (size_t)members * 4;
    if (scratch && k >= 4 * big) {
        g.split = 2;
        g.partial = scratch;
        g.part = (k + k_parts(members) - 1) / k_parts(members);
    } else if (m >= n) {
        g.split = 0;
        g.part = (m + parts - 1) / parts;
        g.part = (g.part + 15) / 16 * 16; /* whole micro-panels */
    } else {
        g.split = 1;
        g.part = (n + parts - 1) / parts;
        g.part = (g.part + 15) / 16 * 16;
    }
    size_t dim = g.split == 0 ? m : g.split == 1 ? n : k;
    g.parts = (dim + g.part - 1) / g.part;
    arnet__team_run(team, team_gemm_member, &g);
    if (g.split == 2) /* add the other parts' sums, in part order */
        for (size_t pt = 1; pt < g.parts; pt++) {
            const float *p = g.partial + (pt - 1) * m * n;
            for (size_t i = 0; i < m; i++)
                for (size_t j = 0; j < n; j++)
                    c[i * ldc + j] += p[i * n + j];
        }
}
