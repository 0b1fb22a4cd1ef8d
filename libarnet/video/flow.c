/* flow.c -- TV-L1 optical flow as OpenCV's DualTVL1OpticalFlow computes it
 * (opencv_contrib modules/optflow, the CPU path), written from its
 * documented semantics (Zach, Pock, Bischof 2007; Sanchez Perez et al.,
 * IPOL 2013) and checked against it (tests/reference/compare_flow.py):
 *
 *   - frames become floats (uint8 as they are, floats x 255); a pyramid of
 *     `scales` levels, each the previous one resized by scale_step
 *     (cv::resize INTER_LINEAR: no blur), stopping before a level under 16
 *     pixels on a side;
 *   - from the coarsest level, u = 0; per level: p = 0, centred gradients
 *     of the second frame; `warps` times: warp it and its gradients by u
 *     (bicubic remap, positions on a 1/32 pixel grid, zero outside), the
 *     data term's constants; then up to outer x inner iterations of
 *     v = TH(u) (thresholding), u = v + theta div p (backward
 *     differences), p = (p + taut grad u) / (1 + taut |grad u|) (forward
 *     differences), a 5 x 5 median of u before each outer block, stopping
 *     once an iteration changes u by a squared sum under epsilon^2 x area;
 *   - u resized (bilinear) to the next level and divided by scale_step.
 *
 * Speed: the primal and dual steps are fused into one pass over the rows
 * (the dual step of row y - 1 follows the primal step of row y, in place),
 * so each iteration reads and writes every array once; the rows are split
 * among a thread team (core/team.c) in tiles that meet once per iteration
 * (the stopping rule needs the sum anyway); the row kernels
 * (flow_kernels.h) are vectorised for AVX-512, AVX2 or the baseline,
 * chosen at run time, with the same bits on each. */
#include <float.h>
#include <math.h>
#include <limits.h>
#include <sched.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#ifdef __linux__
#include <linux/futex.h>
#include <sys/syscall.h>
#include <unistd.h>
#endif

#include "conv3d.h"
#include "flow.h"
#include "internal.h"

#define SCALES_MAX 64u
#define SIZE_MAX_SIDE 16384u
#define THREADS_MAX 256
#define MIN_LEVEL 16u /* OpenCV stops before a level this small */
/* Pauses a waiting member spins before it yields its core (a pause is
 * tens of cycles: a few microseconds in all, less than an iteration). */
#define SPINS 100u
/* Yields after that before it sleeps (each returns at once on an idle
 * machine: a few tens of microseconds in all, so that a quiet machine
 * never pays for a wake-up; a busy one gets the core meanwhile). */
#define YIELDS 64u

/* What a row kernel works on (pointers into the current level). */
typedef struct flow_row {
    const float *ix, *iy, *grad, *rho;
    const float *invg; /* 1 / grad (exact = 0) */
    float *u1, *u2;
    const float *un1, *un2; /* row below for the dual step */
    float *p11, *p12, *p21, *p22;
    const float *p12u, *p22u; /* row above for the divergence */
    float *e;                 /* scratch: each pixel's squared change */
    float l_t, theta, taut;
} flow_row;

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define KSUF _avx512
#if defined(__clang__)
#define KATTR __attribute__((target("avx512f,avx512vl,avx512dq,avx512bw")))
#else /* GCC would otherwise use 256-bit vectors for AVX-512 code */
#define KATTR __attribute__((target("avx512f,avx512vl,avx512dq,avx512bw,prefer-vector-width=512")))
#endif
#include "flow_kernels.h"
#undef KSUF
#undef KATTR
#define KSUF _avx2
#define KATTR __attribute__((target("avx2")))
#include "flow_kernels.h"
#undef KSUF
#undef KATTR
#define FLOW_X86 1

/* The float kernels of exact = 0 for AVX-512, by hand: fused multiply-adds,
 * the squared change summed in the same pass, and |grad u| and the
 * reciprocal from the approximations (14 bits) refined by one Newton step
 * each (relative error about 1e-7, a float's last bits). */
#include <immintrin.h>
#define X512 __attribute__((target("avx512f,avx512vl,avx512dq,avx512bw")))

X512 static inline __mmask16 tail_mask(uint32_t n)
{
    return n >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << n) - 1u);
}

/* sqrt(s) for s >= 0: s y (3/2 - s y^2 / 2) with y ~ 1 / sqrt(s), the
 * processor's 14-bit approximation (s = 0 gives 0). */
X512 static inline __m512 approx_sqrt(__m512 s)
{
    __m512 y = _mm512_rsqrt14_ps(_mm512_max_ps(s, _mm512_set1_ps(1e-30f)));
    __m512 sy = _mm512_mul_ps(s, y);
    return _mm512_mul_ps(sy, _mm512_fnmadd_ps(_mm512_mul_ps(sy, y), _mm512_set1_ps(0.5f),
                                              _mm512_set1_ps(1.5f)));
}

/* 1 / (1 + taut root): the 14-bit approximation and one Newton step. */
X512 static inline __m512 inv_one_plus(__m512 root, __m512 taut)
{
    __m512 ng = _mm512_fmadd_ps(taut, root, _mm512_set1_ps(1.0f));
    __m512 q = _mm512_rcp14_ps(ng);
    return _mm512_mul_ps(q, _mm512_fnmadd_ps(ng, q, _mm512_set1_ps(2.0f)));
}

/* The exact mode's row kernels by hand for AVX-512: the same operations in
 * the same order as flow_kernels.h's u_row_k and p_row_k (no fused
 * multiply-add; |grad u| in double), so the same bits, but on whole masked
 * vectors (the compiler's versions end each row in scalar divisions and
 * double square roots) and the squared change summed in the same pass. */
X512 static float u_row_exact_x512(const flow_row *r, uint32_t x0, uint32_t w)
{
    const __m512 lt = _mm512_set1_ps(r->l_t), nlt = _mm512_set1_ps(-r->l_t),
                 th = _mm512_set1_ps(r->theta), eps = _mm512_set1_ps(FLT_EPSILON),
                 sign = _mm512_set1_ps(-0.0f), zero = _mm512_setzero_ps();
    __m512 acc = zero;
    for (uint32_t x = x0; x < w; x += 16) {
        __mmask16 m = tail_mask(w - x);
        __m512 a = _mm512_maskz_loadu_ps(m, r->u1 + x), b = _mm512_maskz_loadu_ps(m, r->u2 + x);
        __m512 g = _mm512_maskz_loadu_ps(m, r->grad + x);
        __m512 ix = _mm512_maskz_loadu_ps(m, r->ix + x), iy = _mm512_maskz_loadu_ps(m, r->iy + x);
        __m512 rho = _mm512_add_ps(_mm512_maskz_loadu_ps(m, r->rho + x),
                                   _mm512_add_ps(_mm512_mul_ps(ix, a), _mm512_mul_ps(iy, b)));
        __m512 lg = _mm512_mul_ps(lt, g);
        __mmask16 below = _mm512_cmp_ps_mask(rho, _mm512_xor_ps(lg, sign), _CMP_LT_OQ);
        __mmask16 above = _mm512_cmp_ps_mask(rho, lg, _CMP_GT_OQ);
        __mmask16 some = _mm512_mask_cmp_ps_mask(m, g, eps, _CMP_GT_OQ);
        __m512 fi = _mm512_maskz_div_ps(some, _mm512_xor_ps(rho, sign), g);
        fi = _mm512_mask_blend_ps(above, fi, nlt);
        fi = _mm512_mask_blend_ps(below, fi, lt);
        __m512 v1 = _mm512_add_ps(a, _mm512_mul_ps(fi, ix)), v2 = _mm512_add_ps(b, _mm512_mul_ps(fi, iy));
        __m512 d1 = _mm512_add_ps(
            _mm512_sub_ps(_mm512_maskz_loadu_ps(m, r->p11 + x), _mm512_maskz_loadu_ps(m, r->p11 + x - 1)),
            _mm512_sub_ps(_mm512_maskz_loadu_ps(m, r->p12 + x), _mm512_maskz_loadu_ps(m, r->p12u + x)));
        __m512 d2 = _mm512_add_ps(
            _mm512_sub_ps(_mm512_maskz_loadu_ps(m, r->p21 + x), _mm512_maskz_loadu_ps(m, r->p21 + x - 1)),
            _mm512_sub_ps(_mm512_maskz_loadu_ps(m, r->p22 + x), _mm512_maskz_loadu_ps(m, r->p22u + x)));
        __m512 n1 = _mm512_add_ps(v1, _mm512_mul_ps(th, d1));
        __m512 n2 = _mm512_add_ps(v2, _mm512_mul_ps(th, d2));
        _mm512_mask_storeu_ps(r->u1 + x, m, n1);
        _mm512_mask_storeu_ps(r->u2 + x, m, n2);
        __m512 c1 = _mm512_sub_ps(n1, a), c2 = _mm512_sub_ps(n2, b);
        acc = _mm512_mask_add_ps(acc, m, acc,
                                 _mm512_add_ps(_mm512_mul_ps(c1, c1), _mm512_mul_ps(c2, c2)));
    }
    /* the 16 lanes summed in order, as u_row_k does */
    float lanes[16], err = 0.0f;
    _mm512_storeu_ps(lanes, acc);
    for (int k = 0; k < 16; k++)
        err += lanes[k];
    return err;
}

/* 1 + taut (float)sqrt((double)a a + (double)b b), as p_row_k. */
X512 static inline __m512 exact_norm(__m512 a, __m512 b, __m512 taut)
{
    __m512d al = _mm512_cvtps_pd(_mm512_castps512_ps256(a));
    __m512d ah = _mm512_cvtps_pd(_mm512_extractf32x8_ps(a, 1));
    __m512d bl = _mm512_cvtps_pd(_mm512_castps512_ps256(b));
    __m512d bh = _mm512_cvtps_pd(_mm512_extractf32x8_ps(b, 1));
    __m512d sl = _mm512_sqrt_pd(_mm512_add_pd(_mm512_mul_pd(al, al), _mm512_mul_pd(bl, bl)));
    __m512d sh = _mm512_sqrt_pd(_mm512_add_pd(_mm512_mul_pd(ah, ah), _mm512_mul_pd(bh, bh)));
    __m512 n = _mm512_insertf32x8(_mm512_castps256_ps512(_mm512_cvtpd_ps(sl)), _mm512_cvtpd_ps(sh), 1);
    return _mm512_add_ps(_mm512_set1_ps(1.0f), _mm512_mul_ps(taut, n));
}

/* *a / b and *c / b, each correctly rounded (IEEE division's bits) with
 * one division: y = RN(1 / b) by division, then for each quotient
 * q = RN(a y), the remainder a - b q exactly by a fused multiply-add, and
 * RN(q + (a - b q) y), which is RN(a / b) when y is RN(1 / b) (Markstein's
 * theorem; Muller et al., Handbook of Floating-Point Arithmetic, 4.7) for
 * b in [1, 2^100) and numerators that are zero or of normal size.  Any
 * other lane of the vector and the whole vector take two divisions. */
X512 static inline void div_pair(__m512 *a, __m512 *c, __m512 b)
{
    const __m512 tiny = _mm512_set1_ps(0x1p-100f), big = _mm512_set1_ps(0x1p100f);
    __m512 aa = _mm512_abs_ps(*a), ac = _mm512_abs_ps(*c);
    __mmask16 odd = _mm512_cmp_ps_mask(aa, tiny, _CMP_LT_OQ) & _mm512_cmp_ps_mask(aa, _mm512_setzero_ps(), _CMP_NEQ_UQ);
    odd |= _mm512_cmp_ps_mask(ac, tiny, _CMP_LT_OQ) & _mm512_cmp_ps_mask(ac, _mm512_setzero_ps(), _CMP_NEQ_UQ);
    odd |= _mm512_cmp_ps_mask(aa, big, _CMP_NLT_UQ) | _mm512_cmp_ps_mask(ac, big, _CMP_NLT_UQ);
    odd |= _mm512_cmp_ps_mask(b, _mm512_set1_ps(1.0f), _CMP_NGE_UQ) | _mm512_cmp_ps_mask(b, big, _CMP_NLT_UQ);
    if (odd) {
        *a = _mm512_div_ps(*a, b);
        *c = _mm512_div_ps(*c, b);
        return;
    }
    __m512 y = _mm512_div_ps(_mm512_set1_ps(1.0f), b);
    __m512 q = _mm512_mul_ps(*a, y);
    *a = _mm512_fmadd_ps(_mm512_fnmadd_ps(b, q, *a), y, q);
    q = _mm512_mul_ps(*c, y);
    *c = _mm512_fmadd_ps(_mm512_fnmadd_ps(b, q, *c), y, q);
}

X512 static void p_row_exact_x512(const flow_row *r, uint32_t w)
{
    const __m512 tt = _mm512_set1_ps(r->taut), one = _mm512_set1_ps(1.0f);
    const uint32_t n = w - 1;
    for (uint32_t x = 0; x < n; x += 16) {
        __mmask16 m = tail_mask(n - x);
        __m512 u1 = _mm512_maskz_loadu_ps(m, r->u1 + x), u2 = _mm512_maskz_loadu_ps(m, r->u2 + x);
        __m512 ax = _mm512_sub_ps(_mm512_maskz_loadu_ps(m, r->u1 + x + 1), u1);
        __m512 ay = _mm512_sub_ps(_mm512_maskz_loadu_ps(m, r->un1 + x), u1);
        __m512 bx = _mm512_sub_ps(_mm512_maskz_loadu_ps(m, r->u2 + x + 1), u2);
        __m512 by = _mm512_sub_ps(_mm512_maskz_loadu_ps(m, r->un2 + x), u2);
        /* masked-off lanes divide by one, not by zero */
        __m512 ng1 = _mm512_mask_blend_ps(m, one, exact_norm(ax, ay, tt));
        __m512 ng2 = _mm512_mask_blend_ps(m, one, exact_norm(bx, by, tt));
        __m512 p11 = _mm512_add_ps(_mm512_maskz_loadu_ps(m, r->p11 + x), _mm512_mul_ps(tt, ax));
        __m512 p12 = _mm512_add_ps(_mm512_maskz_loadu_ps(m, r->p12 + x), _mm512_mul_ps(tt, ay));
        __m512 p21 = _mm512_add_ps(_mm512_maskz_loadu_ps(m, r->p21 + x), _mm512_mul_ps(tt, bx));
        __m512 p22 = _mm512_add_ps(_mm512_maskz_loadu_ps(m, r->p22 + x), _mm512_mul_ps(tt, by));
        div_pair(&p11, &p12, ng1);
        div_pair(&p21, &p22, ng2);
        _mm512_mask_storeu_ps(r->p11 + x, m, p11);
        _mm512_mask_storeu_ps(r->p12 + x, m, p12);
        _mm512_mask_storeu_ps(r->p21 + x, m, p21);
        _mm512_mask_storeu_ps(r->p22 + x, m, p22);
    }
}

/* The dual step of row r (u of the row below: n1, n2; its p12, p22 before
 * the step: q12, q22) at columns x .. x + 15 of mask m (w the width); the
 * last column has no x difference, and there |grad u| = |ay| as dual_row
 * has it. */
X512 static inline void dual_vec(const flow_row *up, uint32_t x, __mmask16 m, uint32_t w,
                                 __m512 n1, __m512 n2, __m512 q12u, __m512 q22u, __m512 tt)
{
    __mmask16 mp = m, mx = w - x > 16 ? m : (__mmask16)(m >> 1);
    __m512 v1 = _mm512_maskz_loadu_ps(mp, up->u1 + x), v2 = _mm512_maskz_loadu_ps(mp, up->u2 + x);
    __m512 ax = _mm512_maskz_sub_ps(mx, _mm512_maskz_loadu_ps(mx, up->u1 + x + 1), v1);
    __m512 ay = _mm512_sub_ps(n1, v1);
    __m512 bx = _mm512_maskz_sub_ps(mx, _mm512_maskz_loadu_ps(mx, up->u2 + x + 1), v2);
    __m512 by = _mm512_sub_ps(n2, v2);
    __m512 g1 = approx_sqrt(_mm512_fmadd_ps(ay, ay, _mm512_mul_ps(ax, ax)));
    __m512 g2 = approx_sqrt(_mm512_fmadd_ps(by, by, _mm512_mul_ps(bx, bx)));
    if (mx != m) {
        __mmask16 last = (__mmask16)(m & ~mx);
        g1 = _mm512_mask_abs_ps(g1, last, ay);
        g2 = _mm512_mask_abs_ps(g2, last, by);
    }
    __m512 r1 = inv_one_plus(g1, tt), r2 = inv_one_plus(g2, tt);
    _mm512_mask_storeu_ps(up->p11 + x, mp,
        _mm512_mul_ps(_mm512_fmadd_ps(tt, ax, _mm512_maskz_loadu_ps(mp, up->p11 + x)), r1));
    _mm512_mask_storeu_ps(up->p12 + x, mp, _mm512_mul_ps(_mm512_fmadd_ps(tt, ay, q12u), r1));
    _mm512_mask_storeu_ps(up->p21 + x, mp,
        _mm512_mul_ps(_mm512_fmadd_ps(tt, bx, _mm512_maskz_loadu_ps(mp, up->p21 + x)), r2));
    _mm512_mask_storeu_ps(up->p22 + x, mp, _mm512_mul_ps(_mm512_fmadd_ps(tt, by, q22u), r2));
}

/* Both steps of exact = 0 in one pass: the primal step of row y (r) and,
 * with dual (r->... of row y - 1 in up), the dual step of row y - 1 for
 * x < w - 1, vector by vector: u of row y - 1 is final, u of row y comes
 * from the registers, and row y - 1's p is read by the primal step before
 * the dual step overwrites it (the last column with zero x differences, as
 * dual_row).  Returns row y's squared change. */
X512 static float fused_row_fast_x512(const flow_row *r, const flow_row *up, int dual,
                                      uint32_t w)
{
    const __m512 lt = _mm512_set1_ps(r->l_t), nlt = _mm512_set1_ps(-r->l_t),
                 th = _mm512_set1_ps(r->theta), tt = _mm512_set1_ps(r->taut),
                 zero = _mm512_setzero_ps();
    const float *p11l = r->p11 - 1, *p21l = r->p21 - 1;
    __m512 acc = zero;
    for (uint32_t x = 0; x < w; x += 16) {
        __mmask16 m = tail_mask(w - x);
        __m512 a = _mm512_maskz_loadu_ps(m, r->u1 + x), b = _mm512_maskz_loadu_ps(m, r->u2 + x);
        __m512 ix = _mm512_maskz_loadu_ps(m, r->ix + x), iy = _mm512_maskz_loadu_ps(m, r->iy + x);
        __m512 rho = _mm512_fmadd_ps(iy, b, _mm512_fmadd_ps(ix, a, _mm512_maskz_loadu_ps(m, r->rho + x)));
        __m512 fi = _mm512_fnmadd_ps(rho, _mm512_maskz_loadu_ps(m, r->invg + x), zero);
        fi = _mm512_min_ps(_mm512_max_ps(fi, nlt), lt);
        __m512 q12u = _mm512_maskz_loadu_ps(m, r->p12u + x), q22u = _mm512_maskz_loadu_ps(m, r->p22u + x);
        __m512 d1 = _mm512_add_ps(
            _mm512_sub_ps(_mm512_maskz_loadu_ps(m, r->p11 + x), _mm512_maskz_loadu_ps(m, p11l + x)),
            _mm512_sub_ps(_mm512_maskz_loadu_ps(m, r->p12 + x), q12u));
        __m512 d2 = _mm512_add_ps(
            _mm512_sub_ps(_mm512_maskz_loadu_ps(m, r->p21 + x), _mm512_maskz_loadu_ps(m, p21l + x)),
            _mm512_sub_ps(_mm512_maskz_loadu_ps(m, r->p22 + x), q22u));
        __m512 n1 = _mm512_fmadd_ps(th, d1, _mm512_fmadd_ps(fi, ix, a));
        __m512 n2 = _mm512_fmadd_ps(th, d2, _mm512_fmadd_ps(fi, iy, b));
        _mm512_mask_storeu_ps(r->u1 + x, m, n1);
        _mm512_mask_storeu_ps(r->u2 + x, m, n2);
        __m512 c1 = _mm512_sub_ps(n1, a), c2 = _mm512_sub_ps(n2, b);
        acc = _mm512_mask_add_ps(acc, m, acc, _mm512_fmadd_ps(c1, c1, _mm512_mul_ps(c2, c2)));
        if (dual)
            dual_vec(up, x, m, w, n1, n2, q12u, q22u, tt);
    }
    return _mm512_reduce_add_ps(acc);
}

/* The primal step alone (the kernel table's u_row_fast): the fused pass
 * without its dual step. */
X512 static float u_row_fast_x512(const flow_row *r, uint32_t w)
{
    return fused_row_fast_x512(r, r, 0, w);
}

/* The dual step of one row on its own (a tile's top boundary, the last
 * row): the same arithmetic as the fused pass, last column included. */
X512 static void p_row_fast_x512(const flow_row *r, uint32_t w)
{
    const __m512 tt = _mm512_set1_ps(r->taut);
    for (uint32_t x = 0; x < w; x += 16) {
        __mmask16 m = tail_mask(w - x);
        dual_vec(r, x, m, w, _mm512_maskz_loadu_ps(m, r->un1 + x),
                 _mm512_maskz_loadu_ps(m, r->un2 + x), _mm512_maskz_loadu_ps(m, r->p12 + x),
                 _mm512_maskz_loadu_ps(m, r->p22 + x), tt);
    }
}
#endif
#define KSUF _base
#define KATTR
#include "flow_kernels.h"
#undef KSUF
#undef KATTR

typedef struct flow_kernels {
    float (*u_row)(const flow_row *r, uint32_t x0, uint32_t w);
    float (*u_row_fast)(const flow_row *r, uint32_t w);
    void (*p_row)(const flow_row *r, uint32_t w);
    void (*p_row_fast)(const flow_row *r, uint32_t w);
    void (*median5_row)(const float *s, size_t ld, float *d, uint32_t w);
    void (*median5_pair)(const float *s, size_t ld, float *d0, float *d1, float *q, uint32_t w);
    void (*median3_row)(const float *s, size_t ld, float *d, uint32_t w);
    const char *name;
    int x512; /* the hand-written AVX-512 warp */
} flow_kernels;

/* The widest kernel set the CPU has, or (want not NULL) the one named
 * want if the CPU has it: 0, or -1 when it has not. */
static int pick_kernels(const char *want, flow_kernels *out)
{
    flow_kernels k = {u_row_base,       u_row_fast_base,  p_row_base, p_row_fast_base,
                      median5_row_base, median5_pair_base, median3_row_base, "baseline", 0};
    int found = !want || !strcmp(want, k.name);
#ifdef FLOW_X86
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512vl") &&
        __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512bw") &&
        (!want || !strcmp(want, "avx512"))) {
        flow_kernels a = {u_row_exact_x512,   u_row_fast_x512,    p_row_exact_x512,
                          p_row_fast_x512,    median5_row_avx512, median5_pair_avx512,
                          median3_row_avx512, "avx512",           1};
        k = a;
        found = 1;
    } else if (__builtin_cpu_supports("avx2") && (!want || !strcmp(want, "avx2"))) {
        flow_kernels a = {u_row_avx2,       u_row_fast_avx2,  p_row_avx2, p_row_fast_avx2,
                          median5_row_avx2, median5_pair_avx2, median3_row_avx2, "avx2", 0};
        k = a;
        found = 1;
    }
#endif
    if (!found)
        return -1;
    *out = k;
    return 0;
}

typedef struct flow_level {
    uint32_t w, h;
    size_t ld;         /* floats per row, >= w + 1, a multiple of 16 */
    float *i0, *i1;    /* the frames at this level */
    float *u1, *u2;    /* the flow */
    float *u3;         /* gamma's illumination field, or NULL */
} flow_level;

/* A barrier for the team's members: they spin briefly, yield a while, then
 * sleep on a futex (Linux; elsewhere they keep yielding).  A member whose
 * partner lost its core to another process then gives its own core away
 * instead of burning it in a loop of yields. */
typedef struct flow_barrier {
    int n;
    int count;
    int gen;      /* the futex word */
    int sleepers; /* members asleep on gen */
} flow_barrier;

struct arnet_flow {
    arnet_flow_options opt;
    uint32_t w, h;
    uint32_t n_levels;
    flow_level lv[SCALES_MAX];
    double scale; /* scale_step as the decimal the user wrote */
    float l_t, taut, theta, gamma, upscale;
    int median;
    flow_kernels k;
    /* scratch, sized for level 0 and used at every level with its ld */
    float *pk;             /* the second frame and its centred gradients packed
                            * as (I1, I1x, I1y, 0) per pixel, 4 x ld per row */
    float *wx, *wy;        /* those gradients, warped */
    float *grad, *rho;     /* |grad|^2 and the data term's constant */
    float *invg;           /* 1 / |grad|^2 (exact = 0), or NULL */
    float *p[6];           /* p11 p12 p21 p22 (p31 p32): padded (see p_at) */
    float *med[2];         /* padded copies of u1, u2 for the median */
    float *rows;           /* 4 rows of level-0 width per member (resize) */
    float *row_err[2];     /* per-row squared change, by iteration parity */
    float cubic[32][4];    /* bicubic weights by 1/32 pixel */
    float cubic16[32][16]; /* each weight 4 times */
    arnet__team *team;
    int n_threads;
    /* a compute's shared state */
    flow_barrier bar;
    long *flag;         /* per member: iteration of its top boundary's p row */
    int *flag_seq;      /* per member: a futex word bumped with each flag */
    int flag_sleepers;  /* members asleep on a flag_seq */
    int stop_req[2];    /* cancel seen by member 0, by iteration parity */
    const void *in0, *in1;
    size_t in_stride0, in_stride1;
    int in_f32;
    float *out;
    int cancelled;
    uint64_t pixel_iterations; /* of the last compute (member 0 counts) */
    int cancel; /* set by arnet_flow_cancel, read atomically */
    size_t bytes;
    void *arena;
};

/* ---- options ------------------------------------------------------------ */

void arnet_flow_options_init(arnet_flow_options *opt)
{
    if (!opt)
        return;
    memset(opt, 0, sizeof *opt);
    opt->struct_size = sizeof *opt;
    opt->tau = 0.25f;
    opt->lambda = 0.15f;
    opt->theta = 0.3f;
    opt->epsilon = 0.01f;
    opt->scale_step = 0.8f;
    opt->gamma = 0.0f;
    opt->scales = 5;
    opt->warps = 5;
    opt->inner_iterations = 30;
    opt->outer_iterations = 10;
    opt->median_filtering = 5;
    opt->threads = 1;
    opt->exact = 1;
}

int arnet_flow_options_preset(arnet_flow_options *opt, int preset)
{
    const char *fn = "arnet_flow_options_preset";
    if (!opt)
        return arnet__error(ARNET_E_INVALID, "%s: opt is NULL", fn);
    if (preset != ARNET_FLOW_PRESET_OPENCV && preset != ARNET_FLOW_PRESET_CUDA)
        return arnet__error(ARNET_E_INVALID,
                            "%s: preset %d is unknown (ARNET_FLOW_PRESET_OPENCV or _CUDA)", fn,
                            preset);
    int rc = ARNET__STRUCT_CHECK(fn, arnet_flow_options, opt);
    if (rc)
        return rc;
    arnet_flow_options d;
    arnet_flow_options_init(&d);
    d.threads = opt->threads;
    if (opt->struct_size >= ARNET__SIZE_TO(arnet_flow_options, exact))
        d.exact = opt->exact;
    if (preset == ARNET_FLOW_PRESET_CUDA) {
        d.inner_iterations = 300;
        d.outer_iterations = 1;
        d.median_filtering = 0;
    }
    ARNET__STRUCT_OUT(arnet_flow_options, opt, &d);
    return ARNET_OK;
}

static int read_options(const arnet_flow_options *in, arnet_flow_options *o)
{
    const char *fn = "arnet_flow_create";
    arnet_flow_options_init(o);
    if (in) {
        int rc = ARNET__STRUCT_IN(fn, arnet_flow_options, o, in);
        if (rc)
            return rc;
    }
    if (!(o->tau > 0.0f) || !isfinite(o->tau))
        return arnet__error(ARNET_E_INVALID, "%s: tau %g is not a positive number", fn,
                            (double)o->tau);
    if (!(o->lambda >= 0.0f) || !isfinite(o->lambda))
        return arnet__error(ARNET_E_INVALID, "%s: lambda %g is not a number >= 0", fn,
                            (double)o->lambda);
    if (!(o->theta > 0.0f) || !isfinite(o->theta))
        return arnet__error(ARNET_E_INVALID, "%s: theta %g is not a positive number", fn,
                            (double)o->theta);
    if (!(o->epsilon >= 0.0f) || !isfinite(o->epsilon))
        return arnet__error(ARNET_E_INVALID, "%s: epsilon %g is not a number >= 0", fn,
                            (double)o->epsilon);
    if (!(o->scale_step > 0.0f && o->scale_step < 1.0f))
        return arnet__error(ARNET_E_INVALID, "%s: scale_step %g is outside (0, 1)", fn,
                            (double)o->scale_step);
    if (!isfinite(o->gamma) || o->gamma < 0.0f)
        return arnet__error(ARNET_E_INVALID, "%s: gamma %g is not a number >= 0", fn,
                            (double)o->gamma);
    if (o->scales < 1 || o->scales > SCALES_MAX)
        return arnet__error(ARNET_E_INVALID, "%s: scales %u is outside 1..%u", fn, o->scales,
                            SCALES_MAX);
    if (o->warps < 1 || o->warps > 1000)
        return arnet__error(ARNET_E_INVALID, "%s: warps %u is outside 1..1000", fn, o->warps);
    if (o->inner_iterations < 1 || o->inner_iterations > 100000)
        return arnet__error(ARNET_E_INVALID, "%s: inner_iterations %u is outside 1..100000",
                            fn, o->inner_iterations);
    if (o->outer_iterations < 1 || o->outer_iterations > 100000)
        return arnet__error(ARNET_E_INVALID, "%s: outer_iterations %u is outside 1..100000",
                            fn, o->outer_iterations);
    if (o->median_filtering != 0 && o->median_filtering != 1 && o->median_filtering != 3 &&
        o->median_filtering != 5)
        return arnet__error(ARNET_E_INVALID,
                            "%s: median_filtering %d is not 0 or 1 (none), 3 or 5 (the "
                            "median sizes OpenCV has for floats)",
                            fn, o->median_filtering);
    if (o->threads < 0 || o->threads > THREADS_MAX)
        return arnet__error(ARNET_E_INVALID, "%s: threads %d is outside 0..%d", fn, o->threads,
                            THREADS_MAX);
    if (o->threads == 0)
        o->threads = 1;
    if (o->exact != 0 && o->exact != 1)
        return arnet__error(ARNET_E_INVALID, "%s: exact %d is not 0 or 1", fn, o->exact);
    return ARNET_OK;
}

/* ---- creation ----------------------------------------------------------- */

static size_t round_up(size_t n, size_t m) { return (n + m - 1) / m * m; }

/* cv::saturate_cast<int>(double): round half to even. */
static uint32_t round_even(double v) { return (uint32_t)nearbyint(v); }

/* OpenCV's bicubic kernel (Keys, A = -0.75) at fraction x. */
static void cubic_weights(float x, float c[4])
{
    const float A = -0.75f;
    c[0] = ((A * (x + 1) - 5 * A) * (x + 1) + 8 * A) * (x + 1) - 4 * A;
    c[1] = ((A + 2) * x - (A + 3)) * x * x + 1;
    c[2] = ((A + 2) * (1 - x) - (A + 3)) * (1 - x) * (1 - x) + 1;
    c[3] = 1.f - c[0] - c[1] - c[2];
}

/* Carves 64-byte aligned buffers from one block: a first pass with base
 * NULL counts the bytes. */
typedef struct carver {
    char *base;
    size_t used;
} carver;

static float *carve(carver *c, size_t floats)
{
    size_t off = c->used;
    c->used += round_up(floats * sizeof(float), 64);
    return c->base ? (float *)(c->base + off) : NULL;
}

/* p arrays: row y of a level with stride ld starts at base + 16 + (y + 1) ld,
 * so row -1 and column -1 (the previous row's padding) read as zero. */
static float *p_at(float *base, size_t ld) { return base + 16 + ld; }

/* Floats of scratch rows per member: 4 rows of level 0's width (resize,
 * warp) or of the median's padded width. */
static size_t member_rows(uint32_t w) { return 4 * ((size_t)w + 32); }

static void lay_out(arnet_flow *f, carver *c)
{
    const flow_level *l0 = &f->lv[0];
    size_t ld = l0->ld, plane = ld * l0->h, pplane = 16 + ld * (l0->h + 1) + 16;
    for (uint32_t s = 0; s < f->n_levels; s++) {
        flow_level *l = &f->lv[s];
        size_t n = l->ld * l->h;
        l->i0 = carve(c, n);
        l->i1 = carve(c, n);
        l->u1 = carve(c, n);
        l->u2 = carve(c, n);
        l->u3 = f->gamma != 0.0f ? carve(c, n) : NULL;
    }
    f->pk = carve(c, 4 * plane);
    f->wx = carve(c, plane);
    f->wy = carve(c, plane);
    f->grad = carve(c, plane);
    f->invg = f->opt.exact ? NULL : carve(c, plane);
    f->rho = carve(c, plane);
    int np = f->gamma != 0.0f ? 6 : 4;
    for (int i = 0; i < 6; i++)
        f->p[i] = i < np ? carve(c, pplane) : NULL;
    size_t mplane = (size_t)(l0->w + 4) * (l0->h + 4) + 32; /* + whole vectors' reach */
    for (int i = 0; i < 2; i++)
        f->med[i] = f->median > 1 ? carve(c, mplane) : NULL;
    f->rows = carve(c, (size_t)f->n_threads * member_rows(l0->w));
    f->row_err[0] = carve(c, l0->h);
    f->row_err[1] = carve(c, l0->h);
    f->flag = (long *)carve(c, (size_t)f->n_threads * sizeof(long) / sizeof(float) + 1);
    f->flag_seq = (int *)carve(c, (size_t)f->n_threads);
}

int arnet_flow_create(uint32_t width, uint32_t height, const arnet_flow_options *opt,
                      arnet_flow **out)
{
    const char *fn = "arnet_flow_create";
    if (!out)
        return arnet__error(ARNET_E_INVALID, "%s: out is NULL", fn);
    *out = NULL;
    if (width < 3 || height < 3 || width > SIZE_MAX_SIDE || height > SIZE_MAX_SIDE)
        return arnet__error(ARNET_E_INVALID,
                            "%s: frame size %u x %u is outside 3..%u on each side", fn, width,
                            height, SIZE_MAX_SIDE);
    arnet_flow_options o;
    int rc = read_options(opt, &o);
    if (rc)
        return rc;
    arnet_flow *f = arnet__calloc(1, sizeof *f, "optical flow state");
    if (!f)
        return ARNET_E_NOMEM;
    f->opt = o;
    f->w = width;
    f->h = height;
    f->scale = arnet__float_decimal(o.scale_step);
    /* OpenCV holds these as doubles and rounds the products to float. */
    double tau = arnet__float_decimal(o.tau), lambda = arnet__float_decimal(o.lambda),
           theta = arnet__float_decimal(o.theta);
    f->l_t = (float)(lambda * theta);
    f->taut = (float)(tau / theta);
    f->theta = (float)theta;
    f->gamma = (float)arnet__float_decimal(o.gamma);
    f->upscale = (float)(1.0 / f->scale);
    f->median = o.median_filtering;
    f->n_threads = o.threads;
    (void)pick_kernels(NULL, &f->k);
    for (int i = 0; i < 32; i++) {
        cubic_weights(1.f / 32 * (float)i, f->cubic[i]);
        for (int j = 0; j < 16; j++)
            f->cubic16[i][j] = f->cubic[i][j / 4];
    }
    /* The pyramid's sizes, as cv::resize(fx = fy = scale_step) rounds them. */
    f->lv[0].w = width;
    f->lv[0].h = height;
    f->n_levels = 1;
    for (uint32_t s = 1; s < o.scales; s++) {
        uint32_t w = round_even(f->lv[s - 1].w * f->scale);
        uint32_t h = round_even(f->lv[s - 1].h * f->scale);
        if (w < MIN_LEVEL || h < MIN_LEVEL)
            break;
        f->lv[s].w = w;
        f->lv[s].h = h;
        f->n_levels = s + 1;
    }
    for (uint32_t s = 0; s < f->n_levels; s++)
        f->lv[s].ld = round_up((size_t)f->lv[s].w + 1, 16);
    carver c = {NULL, 0};
    lay_out(f, &c);
    f->arena = NULL;
    if (posix_memalign(&f->arena, 64, c.used) != 0) {
        free(f);
        return arnet__error(ARNET_E_NOMEM, "%s: cannot allocate %zu bytes for a %u x %u flow",
                            fn, c.used, width, height);
    }
    memset(f->arena, 0, c.used);
    c.base = f->arena;
    c.used = 0;
    lay_out(f, &c);
    f->bytes = sizeof *f + c.used;
    if (f->n_threads > 1) {
        rc = arnet__team_create(f->n_threads, &f->team);
        if (rc) {
            free(f->arena);
            free(f);
            arnet__error_prefix("%s", fn);
            return rc;
        }
    }
    f->bar.n = f->n_threads;
    *out = f;
    return ARNET_OK;
}

void arnet_flow_free(arnet_flow *f)
{
    if (!f)
        return;
    arnet__team_free(f->team);
    free(f->arena);
    free(f);
}

void arnet_flow_cancel(arnet_flow *f)
{
    if (f)
        __atomic_store_n(&f->cancel, 1, __ATOMIC_SEQ_CST);
}

size_t arnet_flow_memory(const arnet_flow *f) { return f ? f->bytes : 0; }

int arnet_rgb_to_grey(const uint8_t *rgb, size_t stride, uint32_t w, uint32_t h, uint8_t *grey)
{
    const char *fn = "arnet_rgb_to_grey";
    if (!rgb || !grey)
        return arnet__error(ARNET_E_INVALID, "%s: %s is NULL", fn, !rgb ? "rgb" : "grey");
    if (w == 0 || h == 0)
        return arnet__error(ARNET_E_INVALID, "%s: size %u x %u is empty", fn, w, h);
    if (stride / 3 < w)
        return arnet__error(ARNET_E_INVALID, "%s: stride %zu is below 3 x width %u", fn, stride,
                            w);
    for (uint32_t y = 0; y < h; y++) {
        const uint8_t *s = rgb + (size_t)y * stride;
        uint8_t *d = grey + (size_t)y * w;
        for (uint32_t x = 0; x < w; x++)
            d[x] = (uint8_t)((9798u * s[3 * x] + 19235u * s[3 * x + 1] + 3735u * s[3 * x + 2] +
                              16384u) >> 15);
    }
    return ARNET_OK;
}

/* ---- the team's meeting points ------------------------------------------ */

#ifdef __linux__
static void futex_wait(int *addr, int val)
{
    syscall(SYS_futex, addr, FUTEX_WAIT_PRIVATE, val, NULL, NULL, 0);
}

static void futex_wake(int *addr) { syscall(SYS_futex, addr, FUTEX_WAKE_PRIVATE, INT_MAX, NULL, NULL, 0); }
#endif

static void pause_once(void)
{
#ifdef FLOW_X86
    __builtin_ia32_pause();
#endif
}

static void bar_wait(flow_barrier *b)
{
    if (b->n <= 1)
        return;
    int g = __atomic_load_n(&b->gen, __ATOMIC_ACQUIRE);
    if (__atomic_add_fetch(&b->count, 1, __ATOMIC_ACQ_REL) == b->n) {
        __atomic_store_n(&b->count, 0, __ATOMIC_RELAXED);
        __atomic_store_n(&b->gen, g + 1, __ATOMIC_SEQ_CST);
#ifdef __linux__
        if (__atomic_load_n(&b->sleepers, __ATOMIC_SEQ_CST))
            futex_wake(&b->gen);
#endif
        return;
    }
    for (unsigned spins = 0; __atomic_load_n(&b->gen, __ATOMIC_ACQUIRE) == g; spins++) {
        if (spins < SPINS) {
            pause_once();
        } else if (spins < SPINS + YIELDS) {
            sched_yield();
        } else {
#ifdef __linux__
            __atomic_add_fetch(&b->sleepers, 1, __ATOMIC_SEQ_CST);
            futex_wait(&b->gen, g); /* returns at once if gen moved on */
            __atomic_sub_fetch(&b->sleepers, 1, __ATOMIC_SEQ_CST);
#else
            sched_yield();
#endif
        }
    }
}

/* Member m's flag is now it: tell a member waiting for it. */
static void set_flag(arnet_flow *f, int m, long it)
{
    __atomic_store_n(&f->flag[m], it, __ATOMIC_RELEASE);
    __atomic_add_fetch(&f->flag_seq[m], 1, __ATOMIC_SEQ_CST);
#ifdef __linux__
    if (__atomic_load_n(&f->flag_sleepers, __ATOMIC_SEQ_CST))
        futex_wake(&f->flag_seq[m]);
#endif
}

/* Wait until member m's flag reaches it. */
static void wait_flag(arnet_flow *f, int m, long it)
{
    for (unsigned spins = 0; __atomic_load_n(&f->flag[m], __ATOMIC_ACQUIRE) < it; spins++) {
        if (spins < SPINS) {
            pause_once();
        } else if (spins < SPINS + YIELDS) {
            sched_yield();
        } else {
#ifdef __linux__
            int seq = __atomic_load_n(&f->flag_seq[m], __ATOMIC_SEQ_CST);
            __atomic_add_fetch(&f->flag_sleepers, 1, __ATOMIC_SEQ_CST);
            if (__atomic_load_n(&f->flag[m], __ATOMIC_SEQ_CST) < it)
                futex_wait(&f->flag_seq[m], seq);
            __atomic_sub_fetch(&f->flag_sleepers, 1, __ATOMIC_SEQ_CST);
#else
            sched_yield();
#endif
        }
    }
}

/* Rows [*y0, *y1) of h for member m of n. */
static void tile(uint32_t h, int m, int n, uint32_t *y0, uint32_t *y1)
{
    *y0 = (uint32_t)((uint64_t)h * (uint64_t)m / (uint64_t)n);
    *y1 = (uint32_t)((uint64_t)h * (uint64_t)(m + 1) / (uint64_t)n);
}

/* ---- resampling ----------------------------------------------------------- */

/* The horizontal taps of cv::resize INTER_LINEAR for a dw-wide row of an
 * sw-wide source: source column ofs[dx] (and the next, unless it is the
 * last) with weight 1 - a[dx] (and a[dx]). */
static void hresize_taps(uint32_t sw, uint32_t dw, double scale_x, int32_t *ofs, float *a)
{
    for (uint32_t dx = 0; dx < dw; dx++) {
        float fx = (float)((dx + 0.5) * scale_x - 0.5);
        int sx = (int)floorf(fx);
        fx -= (float)sx;
        if (sx < 0) {
            fx = 0;
            sx = 0;
        }
        if (sx >= (int)sw - 1) {
            sx = (int)sw - 1;
            fx = -1.0f; /* marks the single-tap edge */
        }
        ofs[dx] = sx;
        a[dx] = fx;
    }
}

static void hresize(const float *s, float *d, uint32_t dw, const int32_t *ofs, const float *a)
{
    for (uint32_t dx = 0; dx < dw; dx++) {
        int32_t sx = ofs[dx];
        float fx = a[dx];
        d[dx] = fx < 0.0f ? s[sx] : s[sx] * (1.f - fx) + s[sx + 1] * fx;
    }
}

/* Rows [y0, y1) of dst = resize(src) (bilinear, OpenCV's coordinates and
 * clamping), times mul when mul != 1.  rows: 4 x dw floats of scratch. */
static void resize_rows(const float *src, uint32_t sw, uint32_t sh, size_t sld, float *dst,
                        uint32_t dw, size_t dld, double scale_x, double scale_y, uint32_t y0,
                        uint32_t y1, float *rows, float mul)
{
    int32_t *ofs = (int32_t *)(rows + 2 * (size_t)dw);
    float *a = rows + 3 * (size_t)dw;
    if (y1 > y0)
        hresize_taps(sw, dw, scale_x, ofs, a);
    for (uint32_t dy = y0; dy < y1; dy++) {
        float fy = (float)((dy + 0.5) * scale_y - 0.5);
        int sy = (int)floorf(fy);
        fy -= (float)sy;
        int ya = sy < 0 ? 0 : sy > (int)sh - 1 ? (int)sh - 1 : sy;
        int yb = sy + 1 < 0 ? 0 : sy + 1 > (int)sh - 1 ? (int)sh - 1 : sy + 1;
        hresize(src + (size_t)ya * sld, rows, dw, ofs, a);
        hresize(src + (size_t)yb * sld, rows + dw, dw, ofs, a);
        float b0 = 1.f - fy, b1 = fy;
        float *d = dst + (size_t)dy * dld;
        for (uint32_t x = 0; x < dw; x++)
            d[x] = rows[x] * b0 + rows[dw + x] * b1;
        if (mul != 1.0f)
            for (uint32_t x = 0; x < dw; x++)
                d[x] = d[x] * mul;
    }
}

/* Rows [y0, y1) of s and its centred gradient (one-sided halves at the
 * edges) packed into pk as (s, dx, dy, 0) per pixel. */
static void centred_gradient(const float *s, uint32_t w, uint32_t h, size_t ld, float *pk,
                             uint32_t y0, uint32_t y1)
{
    for (uint32_t y = y0; y < y1; y++) {
        const float *r = s + (size_t)y * ld;
        const float *up = s + (size_t)(y > 0 ? y - 1 : y) * ld;
        const float *dn = s + (size_t)(y + 1 < h ? y + 1 : y) * ld;
        float *o = pk + (size_t)y * ld * 4;
        for (uint32_t x = 0; x < w; x++) {
            float gx = x == 0       ? 0.5f * (r[1] - r[0])
                       : x + 1 == w ? 0.5f * (r[w - 1] - r[w - 2])
                                    : 0.5f * (r[x + 1] - r[x - 1]);
            o[4 * x] = r[x];
            o[4 * x + 1] = gx;
            o[4 * x + 2] = 0.5f * (dn[x] - up[x]);
            o[4 * x + 3] = 0.0f;
        }
    }
}

/* One pixel of the warp, the general way (any position, taps outside the
 * frame zero): (I1, I1x, I1y) at (mx, my) into out[0..2]. */
typedef float v4f __attribute__((vector_size(16)));

static v4f warp_pixel(const arnet_flow *f, const flow_level *l, float mx, float my)
{
    const uint32_t w = l->w, h = l->h;
    const size_t ld = l->ld;
    const long wl = (long)w - 3 > 0 ? (long)w - 3 : 0, hl = (long)h - 3 > 0 ? (long)h - 3 : 0;
    const v4f *pk = (const v4f *)f->pk; /* pixel (x, y) at pk[y ld + x] */
    /* the three images in the lanes of one vector: per lane, the same
     * products and sums in the same order as cv::remap */
    v4f sum = {0.0f, 0.0f, 0.0f, 0.0f};
    if (fabsf(mx) < 1e6f && fabsf(my) < 1e6f) {
        long X = lrintf(mx * 32.0f), Y = lrintf(my * 32.0f);
        long xi = X >= 0 ? X / 32 : -((-X + 31) / 32);
        long yi = Y >= 0 ? Y / 32 : -((-Y + 31) / 32);
        int fx = (int)(X - xi * 32), fy = (int)(Y - yi * 32);
        long sx = xi - 1, sy = yi - 1;
        const float *cx = f->cubic[fx], *cy = f->cubic[fy];
        float wt[4][4];
        for (int i = 0; i < 4; i++)
            for (int j = 0; j < 4; j++)
                wt[i][j] = cy[i] * cx[j];
        if (sx >= 0 && sx < wl && sy >= 0 && sy < hl) {
            const v4f *s = pk + (size_t)sy * ld + (size_t)sx;
            sum = s[0] * wt[0][0] + s[1] * wt[0][1] + s[2] * wt[0][2] + s[3] * wt[0][3];
            for (int i = 1; i < 4; i++) {
                s += ld;
                sum += s[0] * wt[i][0] + s[1] * wt[i][1] + s[2] * wt[i][2] + s[3] * wt[i][3];
            }
        } else if (!(sx >= (long)w || sx + 4 <= 0 || sy >= (long)h || sy + 4 <= 0)) {
            for (int i = 0; i < 4; i++) {
                long yy = sy + i;
                if (yy < 0 || yy >= (long)h)
                    continue;
                const v4f *s = pk + (size_t)yy * ld;
                for (int j = 0; j < 4; j++) {
                    long xx = sx + j;
                    if (xx >= 0 && xx < (long)w)
                        sum += s[xx] * wt[i][j];
                }
            }
        }
    }
    return sum;
}

#ifdef FLOW_X86
/* The same for the pixels of a row whose 4 x 4 taps are inside the frame,
 * AVX-512: one 16-float load per tap row (4 taps x (I1, I1x, I1y, 0)), the
 * weights cy[i] cx[j] as one product per row (the same floats as
 * warp_pixel's), and the sums in cv::remap's order: per tap row
 * ((t0 + t1) + t2) + t3 after a 4 x 4 transpose of the 128-bit lanes, then
 * the rows in order.  Other pixels go to warp_pixel.  Same bits. */
X512 static void warp_row_x512(const arnet_flow *f, const flow_level *l, uint32_t y,
                               const float *u1, const float *u2, float *out4)
{
    const uint32_t w = l->w, h = l->h;
    const size_t ld = l->ld;
    const long wl = (long)w - 3 > 0 ? (long)w - 3 : 0, hl = (long)h - 3 > 0 ? (long)h - 3 : 0;
    const float *pk = f->pk;
    for (uint32_t x = 0; x < w; x++) {
        float mx = (float)x + u1[x], my = (float)y + u2[x];
        if (fabsf(mx) < 1e6f && fabsf(my) < 1e6f) {
            long X = lrintf(mx * 32.0f), Y = lrintf(my * 32.0f);
            long sx = (X >> 5) - 1, sy = (Y >> 5) - 1;
            if (sx >= 0 && sx < wl && sy >= 0 && sy < hl) {
                const float *cy = f->cubic[Y & 31];
                const __m512 cx = _mm512_loadu_ps(f->cubic16[X & 31]);
                const float *s = pk + 4 * ((size_t)sy * ld + (size_t)sx);
                __m512 p0 = _mm512_mul_ps(_mm512_loadu_ps(s),
                                          _mm512_mul_ps(_mm512_set1_ps(cy[0]), cx));
                __m512 p1 = _mm512_mul_ps(_mm512_loadu_ps(s + 4 * ld),
                                          _mm512_mul_ps(_mm512_set1_ps(cy[1]), cx));
                __m512 p2 = _mm512_mul_ps(_mm512_loadu_ps(s + 8 * ld),
                                          _mm512_mul_ps(_mm512_set1_ps(cy[2]), cx));
                __m512 p3 = _mm512_mul_ps(_mm512_loadu_ps(s + 12 * ld),
                                          _mm512_mul_ps(_mm512_set1_ps(cy[3]), cx));
                __m512 a = _mm512_shuffle_f32x4(p0, p1, 0x44); /* p0.l0 p0.l1 p1.l0 p1.l1 */
                __m512 b = _mm512_shuffle_f32x4(p2, p3, 0x44);
                __m512 c = _mm512_shuffle_f32x4(p0, p1, 0xee); /* p0.l2 p0.l3 p1.l2 p1.l3 */
                __m512 d = _mm512_shuffle_f32x4(p2, p3, 0xee);
                __m512 t0 = _mm512_shuffle_f32x4(a, b, 0x88); /* lanes 0, 2 of a and b */
                __m512 t1 = _mm512_shuffle_f32x4(a, b, 0xdd); /* lanes 1, 3 */
                __m512 t2 = _mm512_shuffle_f32x4(c, d, 0x88);
                __m512 t3 = _mm512_shuffle_f32x4(c, d, 0xdd);
                __m512 r = _mm512_add_ps(_mm512_add_ps(_mm512_add_ps(t0, t1), t2), t3);
                __m128 sum = _mm512_castps512_ps128(r);
                sum = _mm_add_ps(sum, _mm512_extractf32x4_ps(r, 1));
                sum = _mm_add_ps(sum, _mm512_extractf32x4_ps(r, 2));
                sum = _mm_add_ps(sum, _mm512_extractf32x4_ps(r, 3));
                _mm_store_ps(out4 + 4 * x, sum);
                continue;
            }
        }
        v4f v = warp_pixel(f, l, mx, my);
        memcpy(out4 + 4 * x, &v, sizeof v);
    }
}
#endif

#ifdef FLOW_X86
/* The warp's outputs from its (I1, I1x, I1y, 0) per pixel, 16 pixels at a
 * time (the same operations as the scalar loop after it, so the same bits):
 * returns the pixels done (whole vectors). */
X512 static uint32_t warp_finish_x512(const float *out4, const float *u1, const float *u2,
                                      const float *i0, float *wx, float *wy, float *gr,
                                      float *rh, float *ig, uint32_t w)
{
    const __m512i k0 = _mm512_setr_epi32(0, 4, 8, 12, 16, 20, 24, 28, 0, 4, 8, 12, 16, 20, 24, 28);
    const __m512i one = _mm512_set1_epi32(1);
    const __m512 eps = _mm512_set1_ps(FLT_EPSILON), big = _mm512_set1_ps(1e30f),
                 unit = _mm512_set1_ps(1.0f);
    uint32_t x = 0;
    for (; x + 16 <= w; x += 16) {
        const float *o = out4 + 4 * (size_t)x;
        __m512 a = _mm512_loadu_ps(o), b = _mm512_loadu_ps(o + 16), c = _mm512_loadu_ps(o + 32),
               d = _mm512_loadu_ps(o + 48);
        __m512 ch[3];
        __m512i k = k0;
        for (int j = 0; j < 3; j++) {
            __m512 lo = _mm512_permutex2var_ps(a, k, b), hi = _mm512_permutex2var_ps(c, k, d);
            ch[j] = _mm512_shuffle_f32x4(lo, hi, 0x44);
            k = _mm512_add_epi32(k, one);
        }
        __m512 gx = ch[1], gy = ch[2];
        _mm512_storeu_ps(wx + x, gx);
        _mm512_storeu_ps(wy + x, gy);
        __m512 g = _mm512_add_ps(_mm512_mul_ps(gx, gx), _mm512_mul_ps(gy, gy));
        _mm512_storeu_ps(gr + x, g);
        __m512 r = _mm512_sub_ps(ch[0], _mm512_mul_ps(gx, _mm512_loadu_ps(u1 + x)));
        r = _mm512_sub_ps(r, _mm512_mul_ps(gy, _mm512_loadu_ps(u2 + x)));
        _mm512_storeu_ps(rh + x, _mm512_sub_ps(r, _mm512_loadu_ps(i0 + x)));
        if (ig) {
            __mmask16 m = _mm512_cmp_ps_mask(g, eps, _CMP_GT_OQ);
            _mm512_storeu_ps(ig + x, _mm512_mask_div_ps(big, m, unit, g));
        }
    }
    return x;
}
#endif

/* Rows [y0, y1): the second frame and its gradients warped by u (bicubic,
 * positions rounded to 1/32 pixel, taps outside the frame zero, as
 * cv::remap INTER_CUBIC with a constant zero border), then |grad|^2 and the
 * data term's constant rho = I1w - I1wx u1 - I1wy u2 - I0. */
static void warp_rows(arnet_flow *f, const flow_level *l, uint32_t y0, uint32_t y1, float *out4)
{
    const uint32_t w = l->w;
    const size_t ld = l->ld;
    for (uint32_t y = y0; y < y1; y++) {
        const float *u1 = l->u1 + y * ld, *u2 = l->u2 + y * ld, *i0 = l->i0 + y * ld;
        float *wx = f->wx + y * ld, *wy = f->wy + y * ld, *gr = f->grad + y * ld,
              *rh = f->rho + y * ld;
#ifdef FLOW_X86
        if (f->k.x512)
            warp_row_x512(f, l, y, u1, u2, out4);
        else
#endif
            for (uint32_t x = 0; x < w; x++) {
                v4f v = warp_pixel(f, l, (float)x + u1[x], (float)y + u2[x]);
                memcpy(out4 + 4 * x, &v, sizeof v);
            }
        uint32_t x0 = 0;
#ifdef FLOW_X86
        if (f->k.x512)
            x0 = warp_finish_x512(out4, u1, u2, i0, wx, wy, gr, rh, f->invg ? f->invg + y * ld : NULL, w);
#endif
        for (uint32_t x = x0; x < w; x++) {
            const float *sum = out4 + 4 * x;
            wx[x] = sum[1];
            wy[x] = sum[2];
            gr[x] = sum[1] * sum[1] + sum[2] * sum[2];
            rh[x] = sum[0] - sum[1] * u1[x] - sum[2] * u2[x] - i0[x];
        }
        if (f->invg) {
            float *ig = f->invg + y * ld;
            for (uint32_t x = x0; x < w; x++)
                ig[x] = gr[x] > FLT_EPSILON ? 1.0f / gr[x] : 1e30f;
        }
    }
}

/* ---- the iterations --------------------------------------------------- */

static inline __attribute__((always_inline)) void set_row(const arnet_flow *f, const flow_level *l, uint32_t y, flow_row *r)
{
    size_t ld = l->ld, o = (size_t)y * ld;
    r->ix = f->wx + o;
    r->iy = f->wy + o;
    r->grad = f->grad + o;
    r->invg = f->invg ? f->invg + o : NULL;
    r->rho = f->rho + o;
    r->u1 = l->u1 + o;
    r->u2 = l->u2 + o;
    size_t on = (size_t)(y + 1 < l->h ? y + 1 : y) * ld;
    r->un1 = l->u1 + on;
    r->un2 = l->u2 + on;
    r->p11 = p_at(f->p[0], ld) + o;
    r->p12 = p_at(f->p[1], ld) + o;
    r->p21 = p_at(f->p[2], ld) + o;
    r->p22 = p_at(f->p[3], ld) + o;
    r->p12u = r->p12 - ld;
    r->p22u = r->p22 - ld;
    r->l_t = f->l_t;
    r->theta = f->theta;
    r->taut = f->taut;
}

/* Primal step of row y (u, and u3 with gamma); returns its squared change. */
static float primal_row(const arnet_flow *f, const flow_level *l, uint32_t y, float *e)
{
    flow_row r;
    set_row(f, l, y, &r);
    r.e = e;
    if (f->invg && f->gamma == 0.0f)
        return f->k.u_row_fast(&r, l->w);
    const uint32_t w = l->w;
    if (f->gamma != 0.0f) {
        /* The illumination term: a scalar loop (no preset uses it). */
        size_t ld = l->ld, o = (size_t)y * ld;
        float *u3 = l->u3 + o;
        const float *p31 = p_at(f->p[4], ld) + o, *p32 = p_at(f->p[5], ld) + o;
        const float *p32u = p32 - ld;
        float err = 0.0f, gm = f->gamma, l_t = f->l_t;
        for (uint32_t x = 0; x < w; x++) {
            float a = r.u1[x], b = r.u2[x], c = u3[x], g = r.grad[x];
            float rho = r.rho[x] + (r.ix[x] * a + r.iy[x] * b) + gm * c;
            float d1 = 0.0f, d2 = 0.0f, d3 = 0.0f;
            if (rho < -l_t * g) {
                d1 = l_t * r.ix[x];
                d2 = l_t * r.iy[x];
                d3 = l_t * gm;
            } else if (rho > l_t * g) {
                d1 = -l_t * r.ix[x];
                d2 = -l_t * r.iy[x];
                d3 = -l_t * gm;
            } else if (g > FLT_EPSILON) {
                float fi = -rho / g;
                d1 = fi * r.ix[x];
                d2 = fi * r.iy[x];
                d3 = fi * gm;
            }
            float e1, e2, e3;
            if (x == 0 && y > 0) {
                e1 = r.p11[0] + r.p12[0] - r.p12u[0];
                e2 = r.p21[0] + r.p22[0] - r.p22u[0];
                e3 = p31[0] + p32[0] - p32u[0];
            } else {
                /* x = 0 on row 0: column -1 is zero padding */
                e1 = (r.p11[x] - r.p11[(ptrdiff_t)x - 1]) + (r.p12[x] - r.p12u[x]);
                e2 = (r.p21[x] - r.p21[(ptrdiff_t)x - 1]) + (r.p22[x] - r.p22u[x]);
                e3 = (p31[x] - p31[(ptrdiff_t)x - 1]) + (p32[x] - p32u[x]);
            }
            float n1 = (a + d1) + f->theta * e1, n2 = (b + d2) + f->theta * e2,
                  n3 = (c + d3) + f->theta * e3;
            r.u1[x] = n1;
            r.u2[x] = n2;
            u3[x] = n3;
            err += (n1 - a) * (n1 - a) + (n2 - b) * (n2 - b) + (n3 - c) * (n3 - c);
        }
        return err;
    }
    uint32_t x0 = 0;
    float err = 0.0f;
    if (y > 0) {
        /* Column 0 below the first row: OpenCV's (p1 + p2) - p2_above. */
        float a = r.u1[0], b = r.u2[0], g = r.grad[0];
        float rho = r.rho[0] + (r.ix[0] * a + r.iy[0] * b);
        float lg = f->l_t * g;
        float fi = rho < -lg ? f->l_t : rho > lg ? -f->l_t : g > FLT_EPSILON ? -rho / g : 0.0f;
        float v1 = a + fi * r.ix[0], v2 = b + fi * r.iy[0];
        float d1 = r.p11[0] + r.p12[0] - r.p12u[0], d2 = r.p21[0] + r.p22[0] - r.p22u[0];
        float n1 = v1 + f->theta * d1, n2 = v2 + f->theta * d2;
        r.u1[0] = n1;
        r.u2[0] = n2;
        err = (n1 - a) * (n1 - a) + (n2 - b) * (n2 - b);
        x0 = 1;
    }
    return err + f->k.u_row(&r, x0, w);
}

/* Dual step of row y (u of rows y and y + 1 already updated). */
static void dual_row(const arnet_flow *f, const flow_level *l, uint32_t y)
{
    flow_row r;
    set_row(f, l, y, &r);
    const uint32_t w = l->w;
    const float taut = f->taut;
    /* Last column: no x difference. */
    uint32_t x = w - 1;
    float ay = r.un1[x] - r.u1[x], by = r.un2[x] - r.u2[x];
    float ng1 = 1.0f + taut * fabsf(ay), ng2 = 1.0f + taut * fabsf(by);
    if (f->opt.exact) {
        f->k.p_row(&r, w);
        r.p11[x] = (r.p11[x] + taut * 0.0f) / ng1;
        r.p12[x] = (r.p12[x] + taut * ay) / ng1;
        r.p21[x] = (r.p21[x] + taut * 0.0f) / ng2;
        r.p22[x] = (r.p22[x] + taut * by) / ng2;
    } else if (f->k.x512) {
        f->k.p_row_fast(&r, w); /* the last column too */
    } else {
        f->k.p_row_fast(&r, w);
        float r1 = 1.0f / ng1, r2 = 1.0f / ng2;
        r.p11[x] = (r.p11[x] + taut * 0.0f) * r1;
        r.p12[x] = (r.p12[x] + taut * ay) * r1;
        r.p21[x] = (r.p21[x] + taut * 0.0f) * r2;
        r.p22[x] = (r.p22[x] + taut * by) * r2;
    }
    if (f->gamma != 0.0f) {
        size_t ld = l->ld, o = (size_t)y * ld;
        const float *u3 = l->u3 + o, *un3 = l->u3 + (size_t)(y + 1 < l->h ? y + 1 : y) * ld;
        float *p31 = p_at(f->p[4], ld) + o, *p32 = p_at(f->p[5], ld) + o;
        for (uint32_t i = 0; i < w; i++) {
            float cx = i + 1 < w ? u3[i + 1] - u3[i] : 0.0f, cy = un3[i] - u3[i];
            float ng3 = 1.0f + taut * (float)sqrt((double)cx * cx + (double)cy * cy);
            p31[i] = (p31[i] + taut * cx) / ng3;
            p32[i] = (p32[i] + taut * cy) / ng3;
        }
    }
}

#ifdef FLOW_X86
/* exact = 0 with the AVX-512 kernels: the primal step of row y and, with
 * dual, the dual step of row y - 1 in one pass (fused_row_fast_x512). */
static float fused_row(const arnet_flow *f, const flow_level *l, uint32_t y, float *e, int dual)
{
    flow_row r, up;
    set_row(f, l, y, &r);
    r.e = e;
    if (!dual)
        return fused_row_fast_x512(&r, &r, 0, l->w);
    set_row(f, l, y - 1, &up);
    return fused_row_fast_x512(&r, &up, 1, l->w);
}
#endif

/* Everything a member needs to know about the team's split of a level. */
typedef struct member_tiles {
    uint32_t y0, y1;
    int below;  /* member owning row y1 (the next non-empty tile), or -1 */
} member_tiles;

static member_tiles tiles_of(const arnet_flow *f, uint32_t h, int m)
{
    member_tiles t;
    int n = f->n_threads;
    tile(h, m, n, &t.y0, &t.y1);
    t.below = -1;
    if (t.y1 < h && t.y1 > t.y0)
        for (int k = m + 1; k < n; k++) {
            uint32_t a, b;
            tile(h, k, n, &a, &b);
            if (b > a) {
                t.below = k;
                break;
            }
        }
    return t;
}

/* One inner loop (up to inner_iterations iterations, stopping when the
 * squared change is at most seps).  *err in/out; *it the global iteration
 * count.  Returns 1 when cancelled. */
static int inner_loop(arnet_flow *f, const flow_level *l, int m, const member_tiles *t,
                      double seps, double *err, long *it)
{
    const uint32_t h = l->h;
    const int has_top = t->y0 > 0 && t->y1 > t->y0;
    float *e = f->rows + (size_t)m * member_rows(f->lv[0].w); /* the member's scratch row */
    int first = 1;
#ifdef FLOW_X86
    const int fused = f->k.x512 && f->invg && f->gamma == 0.0f;
#endif
    for (uint32_t n = 0; *err > seps && n < f->opt.inner_iterations; n++) {
        long k = ++*it;
        int par = (int)(k & 1);
        if (has_top) {
            if (!first)
                dual_row(f, l, t->y0 - 1);
            set_flag(f, m, k);
        }
        float *re = f->row_err[par];
        for (uint32_t y = t->y0; y < t->y1; y++) {
            if (y + 1 == t->y1 && t->below >= 0)
                wait_flag(f, t->below, k);
#ifdef FLOW_X86
            if (fused) {
                re[y] = fused_row(f, l, y, e, y > t->y0);
                continue;
            }
#endif
            re[y] = primal_row(f, l, y, e);
            if (y > t->y0)
                dual_row(f, l, y - 1);
        }
        if (t->y1 == h && t->y1 > t->y0)
            dual_row(f, l, h - 1);
        if (m == 0)
            f->stop_req[par] = __atomic_load_n(&f->cancel, __ATOMIC_ACQUIRE) != 0;
        bar_wait(&f->bar);
        double e = 0.0;
        for (uint32_t y = 0; y < h; y++)
            e += re[y];
        *err = e;
        first = 0;
        if (m == 0)
            f->pixel_iterations += (uint64_t)l->w * h;
        if (f->stop_req[par])
            return 1;
    }
    /* The dual step of each tile's top boundary, left from the last iteration. */
    if (!first && f->n_threads > 1) {
        if (has_top)
            dual_row(f, l, t->y0 - 1);
        bar_wait(&f->bar);
    }
    return 0;
}

/* Median of u1 and u2 (size f->median), rows split among members. */
static void median_step(arnet_flow *f, const flow_level *l, const member_tiles *t, float *q)
{
    const uint32_t w = l->w, h = l->h, mw = w + 4, r = (uint32_t)f->median / 2;
    float *u[2] = {l->u1, l->u2};
    /* padded copies (replicated border), rows y0 .. y1 of the padded frame's
     * h + 2r rows split as the level's */
    for (int c = 0; c < 2 && t->y1 > t->y0; c++) {
        uint32_t py0 = t->y0 == 0 ? 0 : t->y0 + r, py1 = t->y1 == h ? h + 2 * r : t->y1 + r;
        for (uint32_t py = py0; py < py1; py++) {
            long sy = (long)py - (long)r;
            sy = sy < 0 ? 0 : sy >= (long)h ? (long)h - 1 : sy;
            const float *s = u[c] + (size_t)sy * l->ld;
            float *d = f->med[c] + (size_t)py * mw;
            for (uint32_t i = 0; i < r; i++) {
                d[i] = s[0];
                d[r + w + i] = s[w - 1];
            }
            memcpy(d + r, s, w * sizeof(float));
        }
    }
    bar_wait(&f->bar);
    for (int c = 0; c < 2; c++)
        for (uint32_t y = t->y0; y < t->y1; y++) {
            if (f->median == 5 && y + 1 < t->y1) {
                f->k.median5_pair(f->med[c] + (size_t)y * mw, mw, u[c] + (size_t)y * l->ld,
                                  u[c] + (size_t)(y + 1) * l->ld, q, w);
                y++;
            } else if (f->median == 5)
                f->k.median5_row(f->med[c] + (size_t)y * mw, mw, u[c] + (size_t)y * l->ld, w);
            else
                f->k.median3_row(f->med[c] + (size_t)y * mw, mw, u[c] + (size_t)y * l->ld, w);
        }
    bar_wait(&f->bar);
}

static void load_frames(arnet_flow *f, uint32_t y0, uint32_t y1)
{
    const flow_level *l = &f->lv[0];
    for (uint32_t y = y0; y < y1; y++) {
        float *d0 = l->i0 + (size_t)y * l->ld, *d1 = l->i1 + (size_t)y * l->ld;
        if (f->in_f32) {
            const float *a = (const float *)f->in0 + y * f->in_stride0;
            const float *b = (const float *)f->in1 + y * f->in_stride1;
            for (uint32_t x = 0; x < l->w; x++) {
                d0[x] = a[x] * 255.0f;
                d1[x] = b[x] * 255.0f;
            }
        } else {
            const uint8_t *a = (const uint8_t *)f->in0 + y * f->in_stride0;
            const uint8_t *b = (const uint8_t *)f->in1 + y * f->in_stride1;
            for (uint32_t x = 0; x < l->w; x++) {
                d0[x] = (float)a[x];
                d1[x] = (float)b[x];
            }
        }
    }
}

/* The whole computation, run by every member of the team. */
static void flow_member(void *arg, int m)
{
    arnet_flow *f = arg;
    const int n = f->n_threads;
    float *rows = f->rows + (size_t)m * member_rows(f->lv[0].w);
    long it = 0;
    uint32_t y0, y1;
    tile(f->lv[0].h, m, n, &y0, &y1);
    load_frames(f, y0, y1);
    bar_wait(&f->bar);
    /* The pyramid: each level from the one above it. */
    double inv = 1.0 / f->scale;
    for (uint32_t s = 1; s < f->n_levels; s++) {
        const flow_level *a = &f->lv[s - 1], *b = &f->lv[s];
        tile(b->h, m, n, &y0, &y1);
        resize_rows(a->i0, a->w, a->h, a->ld, b->i0, b->w, b->ld, inv, inv, y0, y1, rows, 1.0f);
        resize_rows(a->i1, a->w, a->h, a->ld, b->i1, b->w, b->ld, inv, inv, y0, y1, rows, 1.0f);
        bar_wait(&f->bar);
    }
    for (uint32_t s = f->n_levels; s-- > 0;) {
        const flow_level *l = &f->lv[s];
        const size_t ld = l->ld;
        member_tiles t = tiles_of(f, l->h, m);
        if (s == f->n_levels - 1)
            for (uint32_t y = t.y0; y < t.y1; y++) {
                memset(l->u1 + y * ld, 0, ld * sizeof(float));
                memset(l->u2 + y * ld, 0, ld * sizeof(float));
                if (l->u3)
                    memset(l->u3 + y * ld, 0, ld * sizeof(float));
            }
        /* p = 0 (padding included: another level left its values there). */
        size_t pfloats = 16 + ld * (l->h + 1) + 16;
        size_t c0 = pfloats * (size_t)m / (size_t)n, c1 = pfloats * (size_t)(m + 1) / (size_t)n;
        for (int i = 0; i < 6; i++)
            if (f->p[i])
                memset(f->p[i] + c0, 0, (c1 - c0) * sizeof(float));
        centred_gradient(l->i1, l->w, l->h, ld, f->pk, t.y0, t.y1);
        bar_wait(&f->bar);
        /* OpenCV: (float)(epsilon^2 x area) in double, against a float sum. */
        const double eps = arnet__float_decimal(f->opt.epsilon);
        const double seps = (float)(eps * eps * ((double)l->w * (double)l->h));
        for (uint32_t wp = 0; wp < f->opt.warps; wp++) {
            warp_rows(f, l, t.y0, t.y1, rows);
            bar_wait(&f->bar);
            double err = DBL_MAX;
            for (uint32_t o = 0; err > seps && o < f->opt.outer_iterations; o++) {
                if (f->median > 1)
                    median_step(f, l, &t, rows);
                if (inner_loop(f, l, m, &t, seps, &err, &it)) {
                    if (m == 0)
                        f->cancelled = 1;
                    return;
                }
            }
        }
        if (s == 0)
            break;
        const flow_level *d = &f->lv[s - 1];
        tile(d->h, m, n, &y0, &y1);
        double sx = 1.0 / ((double)d->w / l->w), sy = 1.0 / ((double)d->h / l->h);
        resize_rows(l->u1, l->w, l->h, ld, d->u1, d->w, d->ld, sx, sy, y0, y1, rows, f->upscale);
        resize_rows(l->u2, l->w, l->h, ld, d->u2, d->w, d->ld, sx, sy, y0, y1, rows, f->upscale);
        if (l->u3)
            resize_rows(l->u3, l->w, l->h, ld, d->u3, d->w, d->ld, sx, sy, y0, y1, rows, 1.0f);
        bar_wait(&f->bar);
    }
    const flow_level *l = &f->lv[0];
    tile(l->h, m, n, &y0, &y1);
    for (uint32_t y = y0; y < y1; y++) {
        const float *a = l->u1 + y * l->ld, *b = l->u2 + y * l->ld;
        float *o = f->out + (size_t)y * l->w * 2;
        for (uint32_t x = 0; x < l->w; x++) {
            o[2 * x] = a[x];
            o[2 * x + 1] = b[x];
        }
    }
}

static int run(arnet_flow *f, const char *fn, const void *prev, size_t prev_stride,
               const void *next, size_t next_stride, int f32, float *flow)
{
    if (!f)
        return arnet__error(ARNET_E_INVALID, "%s: f is NULL", fn);
    if (!prev || !next || !flow)
        return arnet__error(ARNET_E_INVALID, "%s: %s is NULL", fn,
                            !prev ? "prev" : !next ? "next" : "flow");
    if (prev_stride < f->w || next_stride < f->w)
        return arnet__error(ARNET_E_INVALID, "%s: %s stride %zu is below the width %u", fn,
                            prev_stride < f->w ? "prev" : "next",
                            prev_stride < f->w ? prev_stride : next_stride, f->w);
    if (f32) {
        for (int k = 0; k < 2; k++) {
            const float *p = k ? next : prev;
            size_t st = k ? next_stride : prev_stride;
            for (uint32_t y = 0; y < f->h; y++)
                for (uint32_t x = 0; x < f->w; x++)
                    if (!isfinite(p[(size_t)y * st + x]))
                        return arnet__error(ARNET_E_INVALID,
                                            "%s: %s frame, pixel (x %u, y %u) is %s", fn,
                                            k ? "next" : "prev", x, y,
                                            isnan(p[(size_t)y * st + x]) ? "NaN" : "infinite");
        }
    }
    if (__atomic_exchange_n(&f->cancel, 0, __ATOMIC_SEQ_CST))
        return arnet__error(ARNET_E_CANCELLED, "%s: cancelled", fn);
    f->in0 = prev;
    f->in1 = next;
    f->in_stride0 = prev_stride;
    f->in_stride1 = next_stride;
    f->in_f32 = f32;
    f->out = flow;
    f->cancelled = 0;
    f->pixel_iterations = 0;
    f->stop_req[0] = f->stop_req[1] = 0;
    f->bar.count = 0;
    f->bar.sleepers = 0;
    f->flag_sleepers = 0;
    for (int i = 0; i < f->n_threads; i++)
        f->flag[i] = 0;
    arnet__team_run(f->team, flow_member, f);
    if (f->cancelled) {
        __atomic_store_n(&f->cancel, 0, __ATOMIC_SEQ_CST);
        return arnet__error(ARNET_E_CANCELLED, "%s: cancelled", fn);
    }
    return ARNET_OK;
}

int arnet_flow_compute(arnet_flow *f, const uint8_t *prev, size_t prev_stride,
                       const uint8_t *next, size_t next_stride, float *flow)
{
    return run(f, "arnet_flow_compute", prev, prev_stride, next, next_stride, 0, flow);
}

int arnet_flow_compute_f32(arnet_flow *f, const float *prev, size_t prev_stride_floats,
                           const float *next, size_t next_stride_floats, float *flow)
{
    return run(f, "arnet_flow_compute_f32", prev, prev_stride_floats, next,
               next_stride_floats, 1, flow);
}

uint64_t arnet__flow_pixel_iterations(const arnet_flow *f) { return f->pixel_iterations; }

const char *arnet__flow_kernels(const arnet_flow *f) { return f->k.name; }

int arnet__flow_use_kernels(arnet_flow *f, const char *name) { return pick_kernels(name, &f->k); }

#ifdef FLOW_X86
X512 static long div_check_x512(uint64_t seed, long n)
{
    long bad = 0;
    uint64_t s = seed | 1;
    for (long it = 0; it < n; it += 32) {
        float av[16], cv[16], bv[16], q1[16], q2[16];
        for (int k = 0; k < 16; k++) {
            uint32_t r[4];
            for (int j = 0; j < 4; j++) {
                s ^= s << 13;
                s ^= s >> 7;
                s ^= s << 17;
                r[j] = (uint32_t)s;
            }
            /* b in [1, 2^100), numerators of normal size in either sign,
             * significands of all ones a quarter of the time */
            uint32_t bm = r[0] % 4 == 0 ? 0x7fffffu : r[1] & 0x7fffffu;
            uint32_t bb = (127u + r[2] % 100u) << 23 | bm;
            uint32_t ab = (r[3] & 1u) << 31 | (27u + (r[3] >> 1) % 200u) << 23 |
                          (r[0] % 4 == 1 ? 0x7fffffu : r[2] >> 9);
            uint32_t cb = (r[1] & 1u) << 31 | (27u + (r[1] >> 1) % 200u) << 23 | (r[0] >> 9);
            memcpy(&bv[k], &bb, 4);
            memcpy(&av[k], &ab, 4);
            memcpy(&cv[k], &cb, 4);
        }
        __m512 a = _mm512_loadu_ps(av), c = _mm512_loadu_ps(cv), b = _mm512_loadu_ps(bv);
        div_pair(&a, &c, b);
        _mm512_storeu_ps(q1, a);
        _mm512_storeu_ps(q2, c);
        for (int k = 0; k < 16; k++) {
            float ea = av[k] / bv[k], ec = cv[k] / bv[k];
            bad += memcmp(&ea, &q1[k], 4) != 0;
            bad += memcmp(&ec, &q2[k], 4) != 0;
        }
    }
    return bad;
}
#endif

long arnet__flow_div_check(uint64_t seed, long n)
{
#ifdef FLOW_X86
    flow_kernels k;
    if (pick_kernels("avx512", &k) == 0)
        return div_check_x512(seed, n);
#endif
    (void)seed;
    (void)n;
    return -1;
}
