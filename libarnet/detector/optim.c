/* optim.c -- Adam as torch.optim.Adam computes it (single-tensor path), with
 * L2 weight decay added to the gradient before the moments (not AdamW). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include "detector_int.h"
#include "internal.h"

void arnet__adam_hyper_set(arnet__adam_hyper *h, float lr, float beta1, float beta2, float eps,
                           float weight_decay)
{
    h->lr = arnet__float_decimal(lr);
    h->beta1 = arnet__float_decimal(beta1);
    h->beta2 = arnet__float_decimal(beta2);
    h->eps = arnet__float_decimal(eps);
    h->weight_decay = arnet__float_decimal(weight_decay);
}

/* torch 1.x's single-tensor Adam (Python scalars are doubles, tensors
 * float); torch 2.x computes the first moment as m.lerp_(g, 1 - beta1),
 * equal in exact arithmetic but not always in the last bit:
 *   g = g + wd * p
 *   m = beta1 * m + (1 - beta1) * g
 *   v = beta2 * v + (1 - beta2) * g * g
 *   step_size = lr / (1 - beta1^t)
 *   denom = sqrt(v) / sqrt(1 - beta2^t) + eps
 *   p = p + (-step_size) * m / denom                    (addcdiv)
 * Each scalar is computed in double and rounded to float once, as torch
 * does when it hands a Python float to a float32 kernel. */
void arnet__adam_update(const arnet__adam_hyper *h, uint64_t step, float *param,
                        const float *grad, float *m, float *v, size_t n)
{
    double t = (double)step;
    double bc1 = 1.0 - pow(h->beta1, t);
    double bc2 = 1.0 - pow(h->beta2, t);
    float neg_step = (float)(-h->lr / bc1);
    float bc2_sqrt = (float)sqrt(bc2);
    float b1 = (float)h->beta1, b2 = (float)h->beta2;
    float one_b1 = (float)(1.0 - h->beta1), one_b2 = (float)(1.0 - h->beta2);
    float wd = (float)h->weight_decay, eps = (float)h->eps;
    size_t i = 0;
#if defined(__SSE2__)
    /* Four at a time, the same operations in the same order (sqrtps and
     * divps round as sqrtf and / do; no fused multiply-add): the same bits
     * as the loop below, which the compiler does not vectorise itself
     * (sqrtf may set errno). */
    __m128 vb1 = _mm_set1_ps(b1), vb2 = _mm_set1_ps(b2), v1b1 = _mm_set1_ps(one_b1);
    __m128 v1b2 = _mm_set1_ps(one_b2), vwd = _mm_set1_ps(wd), veps = _mm_set1_ps(eps);
    __m128 vstep = _mm_set1_ps(neg_step), vbc2 = _mm_set1_ps(bc2_sqrt);
    for (; i + 4 <= n; i += 4) {
        __m128 p = _mm_loadu_ps(param + i), g = _mm_loadu_ps(grad + i);
        if (wd != 0.0f)
            g = _mm_add_ps(g, _mm_mul_ps(vwd, p));
        __m128 mi = _mm_add_ps(_mm_mul_ps(vb1, _mm_loadu_ps(m + i)), _mm_mul_ps(v1b1, g));
        __m128 vi = _mm_add_ps(_mm_mul_ps(vb2, _mm_loadu_ps(v + i)),
                               _mm_mul_ps(_mm_mul_ps(v1b2, g), g));
        _mm_storeu_ps(m + i, mi);
        _mm_storeu_ps(v + i, vi);
        __m128 denom = _mm_add_ps(_mm_div_ps(_mm_sqrt_ps(vi), vbc2), veps);
        _mm_storeu_ps(param + i, _mm_add_ps(p, _mm_div_ps(_mm_mul_ps(vstep, mi), denom)));
    }
#endif
    for (; i < n; i++) {
        float g = grad[i];
        if (wd != 0.0f)
            g = g + wd * param[i];
        m[i] = b1 * m[i] + one_b1 * g;
        v[i] = b2 * v[i] + one_b2 * g * g;
        float denom = sqrtf(v[i]) / bc2_sqrt + eps;
        param[i] = param[i] + neg_step * m[i] / denom;
    }
}
