/* flow.h -- TV-L1 optical flow internals (flow.c) for the benchmark and
 * tests. */
#ifndef ARNET_FLOW_H
#define ARNET_FLOW_H

#include <stdint.h>

#include "arnet/arnet.h"

/* Pixels x iterations of the last arnet_flow_compute (sum over the levels
 * of width x height x the inner iterations run): the work the stopping
 * rule left, for rates per pixel-iteration. */
uint64_t arnet__flow_pixel_iterations(const arnet_flow *f);
/* The row kernels in use: "avx512", "avx2" or "baseline". */
const char *arnet__flow_kernels(const arnet_flow *f);
/* Use the kernel set name ("avx512", "avx2", "baseline") from now on, for
 * tests that compare them: 0, or -1 (nothing changed) when this CPU or
 * build has not got it. */
int arnet__flow_use_kernels(arnet_flow *f, const char *name);
/* The exact mode's AVX-512 division by reciprocal (div_pair) against IEEE
 * division on about n random quotients (seeded): the number that differ,
 * or -1 without AVX-512. */
long arnet__flow_div_check(uint64_t seed, long n);

#endif
