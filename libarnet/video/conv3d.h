/* conv3d.h -- the extractor's convolution and pooling kernels (internal),
 * shared by conv3d.c, i3d_forward.c and their tests.
 *
 * Layout: one clip's activation is channels-last, [t][h][w][c] floats, the
 * positions in row-major (t, h, w) order; `ld` floats separate consecutive
 * positions, so a view with ld > c is a channel slice of a wider tensor
 * (how an Inception block writes its branches straight into the
 * concatenation).  Inputs of the kernels are dense (ld == c). */
#ifndef ARNET_CONV3D_H
#define ARNET_CONV3D_H

#include <stddef.h>
#include <stdint.h>

#include "i3d.h"

typedef struct arnet__act {
    float *data;
    uint32_t t, h, w, c;
    size_t ld; /* floats between positions, >= c */
} arnet__act;

/* The team of threads that runs a kernel together: core/team.h. */

/* Repack one unit's weights (cv->w, PyTorch layout) into cv->prepared for
 * these kernels; arnet__i3d_prepare does this for every unit. */
int arnet__conv3d_prepare(const arnet__i3d_conv_desc *d, arnet__i3d_conv *cv);
void arnet__conv3d_unprepare(arnet__i3d_conv *cv);

/* Output extent of a kernel k / stride s over an input (TF SAME). */
void arnet__conv3d_out_dims(const uint8_t k[3], const uint8_t s[3], uint32_t t, uint32_t h,
                            uint32_t w, uint32_t out[3]);

/* Floats of scratch arnet__conv3d needs for unit d on a t x h x w input, for
 * a team of `threads` (every member's part). */
size_t arnet__conv3d_scratch_floats(const arnet__i3d_conv_desc *d, uint32_t t, uint32_t h,
                                    uint32_t w, int threads);

/* out = ReLU(conv(in, w) + b), TF SAME padding with zeros.  cv must be
 * prepared (arnet__i3d_prepare); out's extent must be what
 * arnet__conv3d_out_dims gives, out->c == d->out_ch, in->c == d->in_ch.
 * scratch holds arnet__conv3d_scratch_floats(...) floats.  Never allocates. */
void arnet__conv3d(const arnet__i3d_conv_desc *d, const arnet__i3d_conv *cv,
                   const arnet__act *in, const arnet__act *out, float *scratch, arnet__team *team);

/* The plain method (tiled im2col + GEMM), kept as the reference for the
 * fast one and chosen by arnet__conv3d where the fast one does not apply. */
void arnet__conv3d_im2col(const arnet__i3d_conv_desc *d, const arnet__i3d_conv *cv,
                          const arnet__act *in, const arnet__act *out, float *scratch,
                          arnet__team *team);

/* The fast method for 3x3x3 stride-1 units: Winograd F(2x2, 3x3) along h
 * and w, direct along t (2.25 times fewer multiplications), chosen by
 * arnet__conv3d where it pays (enough channels and extent).  Exposed for
 * the tests, which run it on any such unit. */
int arnet__conv3d_winograd_applies(const arnet__i3d_conv_desc *d);
void arnet__conv3d_winograd(const arnet__i3d_conv_desc *d, const arnet__i3d_conv *cv,
                            const arnet__act *in, const arnet__act *out, float *scratch,
                            arnet__team *team);

/* Max pool k / s, TF SAME padding with zeros (the inputs are post-ReLU, as
 * the PyTorch ports pad with zeros before pooling). */
void arnet__maxpool3d(const uint8_t k[3], const uint8_t s[3], const arnet__act *in,
                      const arnet__act *out, arnet__team *team);

#endif /* ARNET_CONV3D_H */
