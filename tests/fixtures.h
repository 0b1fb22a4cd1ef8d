/* fixtures.h -- the models and inputs the Check tests build, one way:
 * a model of a given shape (Xavier weights from its seed), and the
 * deterministic pseudo-random values the fault sweeps feed it.  Tests that
 * need other biases or a special dropout set them after. */
#ifndef ARNET_TESTS_FIXTURES_H
#define ARNET_TESTS_FIXTURES_H

#include <check.h>
#include <stddef.h>
#include <stdint.h>

#include "arnet/arnet.h"

/* F features, H hidden units (0 = F), dropout p, weights from seed. */
static inline arnet_model *fixture_model(uint32_t F, uint32_t H, float dropout, uint64_t seed)
{
    arnet_model_config cfg;
    arnet_model_config_init(&cfg);
    cfg.feature_dim = F;
    cfg.hidden_dim = H;
    cfg.dropout = dropout;
    cfg.seed = seed;
    arnet_model *m = NULL;
    ck_assert_msg(arnet_model_create(&cfg, &m) == ARNET_OK, "%s", arnet_last_error());
    return m;
}

/* n values in [-1, 1) from a linear congruential generator seeded by seed
 * (no libarnet call: a fault sweep counts nothing of it). */
static inline void fixture_fill(float *x, size_t n, uint32_t seed)
{
    uint32_t s = seed * 2654435761u + 1;
    for (size_t i = 0; i < n; i++) {
        s = s * 1664525u + 1013904223u;
        x[i] = (float)((s >> 8) % 2000) / 1000.f - 1.f;
    }
}

#endif
