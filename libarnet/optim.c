/* optim.c -- Adam as torch.optim.Adam computes it (single-tensor path), with
 * L2 weight decay added to the gradient before the moments (not AdamW). */
#include <math.h>

#include "internal.h"

/* torch:
 *   g = g + wd * p
 *   m = beta1 * m + (1 - beta1) * g
 *   v = beta2 * v + (1 - beta2) * g * g
 *   step_size = lr / (1 - beta1^t)                      (double, Python side)
 *   denom = sqrt(v) / sqrt(1 - beta2^t) + eps
 *   p = p + (-step_size) * m / denom                    (addcdiv)
 * Element-wise arithmetic is float as torch does it for float tensors; the
 * scalar bias corrections are computed in double and rounded once. */
void arnet__adam_update(const arnet__adam_hyper *h, uint64_t step, float *param,
                        const float *grad, float *m, float *v, size_t n)
{
    double t = (double)step;
    double bc1 = 1.0 - pow((double)h->beta1, t);
    double bc2 = 1.0 - pow((double)h->beta2, t);
    float neg_step = (float)(-(double)h->lr / bc1);
    float bc2_sqrt = (float)sqrt(bc2);
    float b1 = h->beta1, b2 = h->beta2, wd = h->weight_decay, eps = h->eps;
    float one_b1 = 1.0f - b1, one_b2 = 1.0f - b2;
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
