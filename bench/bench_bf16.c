/* bench_bf16.c -- does a bf16 mode pay on this processor?  Measures, on one
 * core, the sustained rate of AVX512-BF16's vdpbf16ps (two bf16 products
 * per float32 lane) against float32 FMA (vfmadd231ps) in multiply-adds per
 * ns, and a bf16 matrix product (a small kernel of our own around vdpbf16ps,
 * float32 accumulation: BLIS 0.9 has none) against BLIS's sgemm on the
 * shapes of the extractor's products.  docs/extractor.md, "bf16", reports
 * what it found: on the project machine (an Intel Xeon, family 6 model 207,
 * under a hypervisor) vdpbf16ps sustains half the multiply-adds of float32
 * FMA, so a bf16 extractor would be slower there, and none was added.
 *
 *   bench_bf16 [--quick]
 *
 * Prints "skipped" where the processor lacks AVX512-BF16. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "internal.h"

/* The kernel needs GCC's AVX512-BF16 intrinsics (GCC 10 or later). */
#if defined(__GNUC__) && defined(__x86_64__) && !defined(__clang__) && __GNUC__ >= 10
#include <immintrin.h>
#define HAVE_BF16_KERNEL 1

static double cpu_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

#define NR 32   /* columns of a panel */
#define MR 12   /* rows of the micro-kernel: 24 accumulators of 32 registers */
#define KC 256  /* pairs of k per block (a panel's block: 32 KB) */

static size_t bf16_packed_elems(size_t k, size_t n)
{
    return ((n + NR - 1) / NR) * ((k + 1) / 2) * NR * 2;
}

static uint16_t to_bf16(float f)
{
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    if ((u & 0x7fffffffu) > 0x7f800000u) /* NaN stays NaN */
        return (uint16_t)((u >> 16) | 0x40u);
    u += 0x7fffu + ((u >> 16) & 1u); /* round to nearest even */
    return (uint16_t)(u >> 16);
}

static void bf16_pack_b(size_t k, size_t n, const float *b, size_t ldb, uint16_t *out)
{
    size_t pairs = (k + 1) / 2, panels = (n + NR - 1) / NR;
    for (size_t pn = 0; pn < panels; pn++)
        for (size_t p = 0; p < pairs; p++) {
            uint16_t *row = out + (pn * pairs + p) * NR * 2;
            for (size_t j = 0; j < NR; j++) {
                size_t col = pn * NR + j;
                for (size_t e = 0; e < 2; e++) {
                    size_t kk = 2 * p + e;
                    row[j * 2 + e] = col < n && kk < k ? to_bf16(b[kk * ldb + col]) : 0;
                }
            }
        }
}


static int bf16_available(void)
{
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512bf16") && __builtin_cpu_supports("avx512f");
}

#define BF16_TARGET __attribute__((target("avx512f,avx512bw,avx512vl,avx512bf16")))

/* Rows r0 .. r0+mr of A, pairs p0 .. p0+kp, into abuf[r][kp] (bf16 pairs as
 * uint32), zero for rows beyond mr and the odd k's missing half. */
BF16_TARGET static void convert_a(const float *a, size_t lda, size_t mr, size_t k, size_t p0,
                                  size_t kp, uint32_t *abuf)
{
    for (size_t r = 0; r < MR; r++) {
        uint32_t *dst = abuf + r * KC;
        if (r >= mr) {
            memset(dst, 0, kp * sizeof *dst);
            continue;
        }
        const float *src = a + r * lda + 2 * p0;
        size_t nk = k - 2 * p0 < 2 * kp ? k - 2 * p0 : 2 * kp; /* floats in this block */
        for (size_t i = 0; i < 2 * kp; i += 32) {
            size_t left = nk > i ? nk - i : 0;
            __mmask16 lo = left >= 16 ? 0xffff : (__mmask16)((1u << left) - 1);
            __mmask16 hi = left >= 32 ? 0xffff : left <= 16 ? 0 : (__mmask16)((1u << (left - 16)) - 1);
            __m512 x0 = _mm512_maskz_loadu_ps(lo, src + i);
            __m512 x1 = _mm512_maskz_loadu_ps(hi, src + i + 16);
            __m512bh v = _mm512_cvtne2ps_pbh(x1, x0);
            size_t words = 2 * kp - i < 32 ? (2 * kp - i) / 2 : 16;
            _mm512_mask_storeu_epi32(dst + i / 2, (__mmask16)((1u << words) - 1),
                                     (__m512i)v);
        }
    }
}

BF16_TARGET static void kernel(const uint32_t *abuf, const uint16_t *bp, size_t kp, size_t mr,
                               size_t ncols, int accumulate, float *c, size_t ldc)
{
    __m512 acc[MR][2];
    for (int r = 0; r < MR; r++)
        acc[r][0] = acc[r][1] = _mm512_setzero_ps();
    for (size_t p = 0; p < kp; p++) {
        __m512bh b0 = (__m512bh)_mm512_loadu_si512(bp + p * NR * 2);
        __m512bh b1 = (__m512bh)_mm512_loadu_si512(bp + p * NR * 2 + 32);
#pragma GCC unroll 12
        for (int r = 0; r < MR; r++) {
            __m512bh a = (__m512bh)_mm512_set1_epi32((int)abuf[r * KC + p]);
            acc[r][0] = _mm512_dpbf16_ps(acc[r][0], a, b0);
            acc[r][1] = _mm512_dpbf16_ps(acc[r][1], a, b1);
        }
    }
    __mmask16 m0 = ncols >= 16 ? 0xffff : (__mmask16)((1u << ncols) - 1);
    __mmask16 m1 = ncols >= 32 ? 0xffff : ncols <= 16 ? 0 : (__mmask16)((1u << (ncols - 16)) - 1);
    for (size_t r = 0; r < mr; r++) {
        float *cr = c + r * ldc;
        __m512 x0 = acc[r][0], x1 = acc[r][1];
        if (accumulate) {
            x0 = _mm512_add_ps(x0, _mm512_maskz_loadu_ps(m0, cr));
            x1 = _mm512_add_ps(x1, _mm512_maskz_loadu_ps(m1, cr + 16));
        }
        _mm512_mask_storeu_ps(cr, m0, x0);
        _mm512_mask_storeu_ps(cr + 16, m1, x1);
    }
}

BF16_TARGET static void sgemm_bf16(size_t m, size_t n, size_t k, const float *a, size_t lda,
                                   const uint16_t *bp, int accumulate, float *c, size_t ldc)
{
    if (m == 0 || n == 0)
        return;
    size_t pairs = (k + 1) / 2, panels = (n + NR - 1) / NR;
    uint32_t abuf[MR * KC] __attribute__((aligned(64)));
    for (size_t p0 = 0; p0 < pairs; p0 += KC) {
        size_t kp = pairs - p0 < KC ? pairs - p0 : KC;
        int acc = accumulate || p0 > 0;
        for (size_t r0 = 0; r0 < m; r0 += MR) {
            size_t mr = m - r0 < MR ? m - r0 : MR;
            convert_a(a + r0 * lda, lda, mr, k, p0, kp, abuf);
            for (size_t pn = 0; pn < panels; pn++) {
                size_t ncols = n - pn * NR < NR ? n - pn * NR : NR;
                kernel(abuf, bp + (pn * pairs + p0) * NR * 2, kp, mr, ncols, acc,
                       c + r0 * ldc + pn * NR, ldc);
            }
        }
    }
}

/* Sustained rate of n independent chains of one instruction, 16 chains
 * (more than latency x throughput for both). */
#define CHAINS 16
BF16_TARGET __attribute__((noinline)) static float run_dp(long n)
{
    __m512 a[CHAINS];
    for (int i = 0; i < CHAINS; i++)
        a[i] = _mm512_set1_ps((float)i * 0.001f);
    __m512bh x = (__m512bh)_mm512_set1_epi32(0x3f803f80), y = (__m512bh)_mm512_set1_epi32(0x3c003c00);
    for (long i = 0; i < n; i++) {
#pragma GCC unroll 16
        for (int j = 0; j < CHAINS; j++)
            a[j] = _mm512_dpbf16_ps(a[j], x, y);
    }
    float s = 0;
    for (int j = 0; j < CHAINS; j++)
        s += a[j][0];
    return s;
}

BF16_TARGET __attribute__((noinline)) static float run_fma(long n)
{
    __m512 a[CHAINS];
    for (int i = 0; i < CHAINS; i++)
        a[i] = _mm512_set1_ps((float)i * 0.001f);
    __m512 x = _mm512_set1_ps(0.999f), y = _mm512_set1_ps(1e-9f);
    for (long i = 0; i < n; i++) {
#pragma GCC unroll 16
        for (int j = 0; j < CHAINS; j++)
            a[j] = _mm512_fmadd_ps(a[j], x, y);
    }
    float s = 0;
    for (int j = 0; j < CHAINS; j++)
        s += a[j][0];
    return s;
}
static void fill(float *x, size_t n, uint64_t seed)
{
    arnet__rng r;
    arnet__rng_seed(&r, seed);
    for (size_t i = 0; i < n; i++)
        x[i] = (float)(arnet__rng_uniform(&r) - 0.5);
}

#else
#define HAVE_BF16_KERNEL 0
static int bf16_available(void) { return 0; }
#endif

int main(int argc, char **argv)
{
    int quick = argc > 1 && !strcmp(argv[1], "--quick");
    (void)quick;
    if (!bf16_available()) {
        printf("bench_bf16: skipped: needs a processor with AVX512-BF16 and a GCC (10 or later) "
               "build\n");
        return 0;
    }
#if HAVE_BF16_KERNEL
    long n = quick ? 100000 : 50000000;
    double t0 = cpu_now();
    volatile float s1 = run_dp(n);
    double t_dp = cpu_now() - t0;
    t0 = cpu_now();
    volatile float s2 = run_fma(n);
    double t_fma = cpu_now() - t0;
    (void)s1, (void)s2;
    double ops = (double)n * CHAINS;
    printf("one core, CPU time: vdpbf16ps %.2f multiply-adds/ns (%.3f ns an instruction of 32), "
           "vfmadd231ps %.2f multiply-adds/ns (%.3f ns an instruction of 16): bf16/fp32 %.2f\n",
           32 * ops / t_dp * 1e-9, t_dp / ops * 1e9, 16 * ops / t_fma * 1e-9, t_fma / ops * 1e9,
           (32 * ops / t_dp) / (16 * ops / t_fma));
    /* the extractor's product shapes: Winograd Conv3d_2c / Mixed_3c b1b,
     * Conv3d_1a's im2col, a pointwise unit of Mixed_4 */
    static const size_t shapes[][3] = {{2048, 192, 64}, {2048, 192, 128}, {3136, 64, 1029},
                                       {784, 192, 512}};
    for (size_t t = 0; t < sizeof shapes / sizeof shapes[0]; t++) {
        size_t m = quick ? 64 : shapes[t][0], nn = shapes[t][1], k = shapes[t][2];
        float *a = malloc(sizeof(float) * m * k), *b = malloc(sizeof(float) * k * nn),
              *c = malloc(sizeof(float) * m * nn);
        uint16_t *bp = malloc(sizeof(uint16_t) * bf16_packed_elems(k, nn));
        if (!a || !b || !c || !bp)
            return 1;
        fill(a, m * k, 1);
        fill(b, k * nn, 2);
        bf16_pack_b(k, nn, b, nn, bp);
        double best_b = 1e30, best_s = 1e30;
        for (int r = 0; r < (quick ? 1 : 5); r++) {
            t0 = cpu_now();
            sgemm_bf16(m, nn, k, a, k, bp, 0, c, nn);
            double dt = cpu_now() - t0;
            best_b = dt < best_b ? dt : best_b;
            t0 = cpu_now();
            arnet__sgemm(0, 0, m, nn, k, 1.0f, a, k, b, nn, 0.0f, c, nn, 1);
            dt = cpu_now() - t0;
            best_s = dt < best_s ? dt : best_s;
        }
        double fl = 2.0 * (double)m * (double)nn * (double)k;
        printf("  %5zu x %3zu x %4zu: bf16 kernel %6.1f GFLOP/s, BLIS sgemm %6.1f GFLOP/s\n", m,
               nn, k, fl / best_b * 1e-9, fl / best_s * 1e-9);
        free(a), free(b), free(c), free(bp);
    }
#endif
    return 0;
}
