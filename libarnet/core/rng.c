/* rng.c -- the library's own random numbers: xoshiro256** seeded by
 * splitmix64, so weights, sampling and dropout masks are identical on every
 * machine and compiler (no rand(), no platform generator). */
#include <math.h>

#include "internal.h"

static uint64_t splitmix64(uint64_t *x)
{
    uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

void arnet__rng_seed(arnet__rng *r, uint64_t seed)
{
    uint64_t x = seed;
    for (int i = 0; i < 4; i++)
        r->s[i] = splitmix64(&x);
}

static inline uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

/* One xoshiro256** step on a state the caller may keep in registers. */
static inline uint64_t next_of(uint64_t s[4])
{
    uint64_t result = rotl(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return result;
}

uint64_t arnet__rng_next(arnet__rng *r) { return next_of(r->s); }

void arnet__rng_bits_at_least(arnet__rng *r, uint64_t threshold, uint64_t *bits, size_t n)
{
    uint64_t s[4] = {r->s[0], r->s[1], r->s[2], r->s[3]};
    for (size_t w = 0; w * 64 < n; w++) {
        size_t count = n - w * 64 < 64 ? n - w * 64 : 64;
        uint64_t word = 0;
        for (size_t b = 0; b < count; b++)
            word |= (uint64_t)((next_of(s) >> 11) >= threshold) << b;
        bits[w] = word;
    }
    for (int i = 0; i < 4; i++)
        r->s[i] = s[i];
}

double arnet__rng_uniform(arnet__rng *r)
{
    /* 53 high bits times 2^-53: exact in double, identical everywhere. */
    return (double)(arnet__rng_next(r) >> 11) * 0x1.0p-53;
}

uint64_t arnet__rng_below(arnet__rng *r, uint64_t n)
{
    /* Rejection sampling: drop the top partial block so every value in
     * [0, n) is equally likely. */
    uint64_t limit = UINT64_MAX - UINT64_MAX % n;
    uint64_t x;
    do
        x = arnet__rng_next(r);
    while (x >= limit);
    return x % n;
}

double arnet__rng_normal(arnet__rng *r)
{
    /* Box-Muller; u1 in (0, 1] so log never sees 0. */
    double u1 = 1.0 - arnet__rng_uniform(r);
    double u2 = arnet__rng_uniform(r);
    return sqrt(-2.0 * log(u1)) * cos(6.283185307179586476925 * u2);
}
