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

void arnet__sgemv(int trans_a, size_t m, size_t n, float alpha, const float *a, size_t lda,
                  const float *x, float beta, float *y)
{
    if (m == 0 || n == 0)
        return;
    arnet__blas_init();
    rntm_t rntm;
    rntm_for(&rntm, 1);
    bli_sgemv_ex(trans_a ? BLIS_TRANSPOSE : BLIS_NO_TRANSPOSE, BLIS_NO_CONJUGATE, (dim_t)m,
                 (dim_t)n, &alpha, (float *)a, (inc_t)lda, 1, (float *)x, 1, &beta, y, 1, NULL,
                 &rntm);
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
 * join per product and the member that is running takes more parts.
 *
 * Each part packs the rows of op(A) and the columns of op(B) it needs, so
 * cutting C into tm x tn tiles packs A tn times and B tm times over, and
 * every part costs CPU time: at F = 2048 and 2,700 rows (bench_train),
 * one thread ran the first layer's product in 145 ms whole, 143-146 ms as
 * 2 parts, 150-153 ms as 4 and 178 ms as the 8 strips used before.  So
 * there is one part per member, cut the way that packs least.  Balance
 * when another process takes a member's core comes from the kernel: a
 * member that is done sleeps, its core goes idle, and the scheduler moves
 * a waiting thread there (the late member or the other process); with 2
 * members sharing one core beside a busy process, 2 parts cost 5 % less
 * than 4.  A split along k (where k dominates: a gradient summed over
 * many rows) sums each part into its own buffer, added in part order, so
 * results stay the same run to run for a given team size; tiles compute
 * every element of C exactly as one call does. */

typedef struct team_gemm {
    int ta, tb;
    size_t m, n, k;
    float alpha, beta;
    const float *a, *b;
    float *c;
    size_t lda, ldb, ldc;
    int split_k;        /* 0: tiles of C, 1: k */
    size_t pm, pn;      /* tiles: rows and columns of a tile */
    size_t tiles_n;     /* tiles: tiles across C */
    size_t part, parts; /* k per part (split k), number of parts */
    float *partial;     /* split k: (parts - 1) x m x n, part p > 0 at p - 1 */
    void (*side)(void *); /* NULL, or a task for the first member to ask */
    void *side_arg;
    size_t next;
} team_gemm;

static size_t min_size(size_t a, size_t b) { return a < b ? a : b; }

static void team_gemm_member(void *arg, int member)
{
    team_gemm *g = arg;
    (void)member;
    size_t first = g->side ? 1 : 0;
    for (size_t p; (p = arnet__team_take(&g->next)) < g->parts + first;) {
        if (p < first) {
            g->side(g->side_arg);
            continue;
        }
        p -= first;
        if (g->split_k) { /* part p into its own sum, whoever computes it */
            size_t lo = p * g->part, kk = min_size(g->k - lo, g->part);
            const float *a = g->ta ? g->a + lo * g->lda : g->a + lo;
            const float *b = g->tb ? g->b + lo : g->b + lo * g->ldb;
            float *c = p ? g->partial + (p - 1) * g->m * g->n : g->c;
            arnet__sgemm(g->ta, g->tb, g->m, g->n, kk, g->alpha, a, g->lda, b, g->ldb,
                         p ? 0.0f : g->beta, c, p ? g->n : g->ldc, 1);
        } else {
            size_t i0 = p / g->tiles_n * g->pm, j0 = p % g->tiles_n * g->pn;
            size_t rows = min_size(g->m - i0, g->pm), cols = min_size(g->n - j0, g->pn);
            const float *a = g->ta ? g->a + i0 : g->a + i0 * g->lda;
            const float *b = g->tb ? g->b + j0 * g->ldb : g->b + j0;
            arnet__sgemm(g->ta, g->tb, rows, cols, g->k, g->alpha, a, g->lda, b, g->ldb,
                         g->beta, g->c + i0 * g->ldc + j0, g->ldc, 1);
        }
    }
}

/* Parts of a product: one per member (see above). */
static size_t team_parts(int members) { return (size_t)members; }

size_t arnet__sgemm_team_scratch(const arnet__team *team, size_t m, size_t n)
{
    int members = arnet__team_size(team);
    return members > 1 ? (team_parts(members) - 1) * m * n : 0;
}

/* Whole micro-panels: a multiple of 16 rows or columns, the largest
 * register block of BLIS's kernels here. */
static size_t round16(size_t x) { return (x + 15) / 16 * 16; }

/* The tm x tn tiling of an m x n product into `parts` tiles (tm tn =
 * parts, or fewer where m or n has fewer than 16 per tile) that packs the
 * least: m tn + n tm (op(A) packed tn times, op(B) tm times). */
static void choose_tiles(team_gemm *g, size_t parts)
{
    size_t best_tm = 1;
    double best = -1.0;
    for (size_t tm = 1; tm <= parts; tm++) {
        if (parts % tm)
            continue;
        size_t tn = parts / tm;
        if ((tm > 1 && g->m < 16 * tm) || (tn > 1 && g->n < 16 * tn))
            continue;
        double cost = (double)g->m * (double)tn + (double)g->n * (double)tm;
        if (best < 0.0 || cost < best)
            best = cost, best_tm = tm;
    }
    size_t tm = best_tm, tn = parts / tm;
    if (best < 0.0) /* too small for `parts` tiles: strips along the longer side */
        tm = g->m >= g->n ? parts : 1, tn = g->m >= g->n ? 1 : parts;
    g->pm = round16((g->m + tm - 1) / tm);
    g->pn = round16((g->n + tn - 1) / tn);
    g->tiles_n = (g->n + g->pn - 1) / g->pn;
    g->parts = (g->m + g->pm - 1) / g->pm * g->tiles_n;
}

void arnet__sgemm_team(arnet__team *team, int trans_a, int trans_b, size_t m, size_t n, size_t k,
                       float alpha, const float *a, size_t lda, const float *b, size_t ldb,
                       float beta, float *c, size_t ldc, float *scratch)
{
    arnet__sgemm_team_side(team, trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc,
                           scratch, NULL, NULL);
}

void arnet__sgemm_team_side(arnet__team *team, int trans_a, int trans_b, size_t m, size_t n,
                            size_t k, float alpha, const float *a, size_t lda, const float *b,
                            size_t ldb, float beta, float *c, size_t ldc, float *scratch,
                            void (*side)(void *), void *side_arg)
{
    int members = arnet__team_size(team);
    /* Below about a million multiply-adds (a few tens of microseconds) a
     * team's wake-up and join cost more than they save. */
    if (members <= 1 || m == 0 || n == 0 || (double)m * (double)n * (double)k < 1e6) {
        if (side)
            side(side_arg);
        arnet__sgemm(trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc, 1);
        return;
    }
    team_gemm g;
    memset(&g, 0, sizeof g);
    g.side = side, g.side_arg = side_arg;
    g.ta = trans_a, g.tb = trans_b, g.m = m, g.n = n, g.k = k, g.alpha = alpha, g.beta = beta;
    g.a = a, g.b = b, g.c = c, g.lda = lda, g.ldb = ldb, g.ldc = ldc;
    size_t big = m > n ? m : n, parts = team_parts(members);
    if (scratch && k >= 4 * big) {
        g.split_k = 1;
        g.partial = scratch;
        g.part = (k + parts - 1) / parts;
        g.parts = (k + g.part - 1) / g.part;
    } else {
        choose_tiles(&g, parts);
    }
    arnet__team_run_shared(team, team_gemm_member, &g);
    if (g.split_k) /* add the other parts' sums, in part order */
        for (size_t pt = 1; pt < g.parts; pt++) {
            const float *p = g.partial + (pt - 1) * m * n;
            for (size_t i = 0; i < m; i++)
                for (size_t j = 0; j < n; j++)
                    c[i * ldc + j] += p[i * n + j];
        }
}
