/* numeric.c -- numeric helpers every part may use: a sigmoid and softplus
 * that never overflow (scoring and the losses), and the check that a block
 * of floats holds no NaN or infinity (data sets, the model, the scorer). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "internal.h"

float arnet__sigmoid(float z)
{
    /* Two branches so exp never overflows. */
    if (z >= 0.0f) {
        float e = expf(-z);
        return 1.0f / (1.0f + e);
    }
    float e = expf(z);
    return e / (1.0f + e);
}

double arnet__softplus(double z)
{
    /* log(1 + e^z) without overflow: z + log1p(e^-z) for z > 0. */
    if (z > 0.0)
        return z + log1p(exp(-z));
    return log1p(exp(z));
}

int arnet__check_finite(const char *where, const float *x, size_t rows, size_t cols)
{
    size_t n = rows * cols; /* the caller's buffer holds that many */
    for (size_t i = 0; i < n; i++)
        if (!isfinite(x[i]))
            return arnet__error(ARNET_E_INVALID, "%s%sclip %zu, value %zu is %s",
                                where ? where : "", where ? ": " : "", i / cols, i % cols,
                                isnan(x[i]) ? "NaN" : "infinite");
    return ARNET_OK;
}

/* The shortest decimal (1 to 9 significant digits) that reads back as x:
 * printing and reading both follow the current locale, so the round trip
 * holds whatever it is. */
double arnet__float_decimal(float x)
{
    if (!isfinite(x))
        return (double)x;
    char buf[32];
    for (int digits = 1; digits <= 9; digits++) {
        snprintf(buf, sizeof buf, "%.*g", digits, (double)x);
        double d = strtod(buf, NULL);
        if ((float)d == x)
            return d;
    }
    return (double)x;
}
