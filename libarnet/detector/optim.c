/* optim.c -- Adam as torch.optim.Adam computes it (single-tensor path), with
 * L2 weight decay added to the gradient before the moments (not AdamW). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

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
    for (size_t i = 0; i < n; i++) {
        float g = grad[i];
        if (wd != 0.0f)
            g = g + wd * param[i];
        m[i] = b1 * m[i] + one_b1 * g;
        v[i] = b2 * v[i] + one_b2 * g * g;
        float denom = sqrtf(v[i]) / bc2_sqrt + eps;
        param[i] = param[i] + neg_step * m[i] / denom;
    }
}
