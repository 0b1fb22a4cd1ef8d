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
