/* i3d_net.c -- Inception-I3D described as data (RGB; the flow network
 * differs in unit 0's input channels only, arnet_extractor.stem): the 57 convolution
 * units with their names in both PyTorch ports, the 15 steps of the forward
 * walk, and TensorFlow's SAME padding rule. */
#include <string.h>

#include "i3d.h"

/* One Inception block's six units: b0 1x1; b1a 1x1 -> b1b 3x3x3;
 * b2a 1x1 -> b2b 3x3x3; (b3a: 3x3x3 max pool) -> b3b 1x1. */
#define UNIT1(blk, lo, br, hbr, cin, cout)                                                      \
    { blk "." br, lo "." hbr, cin, cout, { 1, 1, 1 }, { 1, 1, 1 } }
#define UNIT3(blk, lo, br, hbr, cin, cout)                                                      \
    { blk "." br, lo "." hbr, cin, cout, { 3, 3, 3 }, { 1, 1, 1 } }
#define BLOCK(blk, lo, cin, c0, c1a, c1b, c2a, c2b, c3b)                                        \
    UNIT1(blk, lo, "b0", "branch_0", cin, c0), UNIT1(blk, lo, "b1a", "branch_1.0", cin, c1a),   \
        UNIT3(blk, lo, "b1b", "branch_1.1", c1a, c1b),                                          \
        UNIT1(blk, lo, "b2a", "branch_2.0", cin, c2a),                                          \
        UNIT3(blk, lo, "b2b", "branch_2.1", c2a, c2b),                                          \
        UNIT1(blk, lo, "b3b", "branch_3.1", cin, c3b)

const arnet__i3d_conv_desc arnet__i3d_convs[] = {
    { "Conv3d_1a_7x7", "conv3d_1a_7x7", 3, 64, { 7, 7, 7 }, { 2, 2, 2 } },
    { "Conv3d_2b_1x1", "conv3d_2b_1x1", 64, 64, { 1, 1, 1 }, { 1, 1, 1 } },
    { "Conv3d_2c_3x3", "conv3d_2c_3x3", 64, 192, { 3, 3, 3 }, { 1, 1, 1 } },
    BLOCK("Mixed_3b", "mixed_3b", 192, 64, 96, 128, 16, 32, 32),
    BLOCK("Mixed_3c", "mixed_3c", 256, 128, 128, 192, 32, 96, 64),
    BLOCK("Mixed_4b", "mixed_4b", 480, 192, 96, 208, 16, 48, 64),
    BLOCK("Mixed_4c", "mixed_4c", 512, 160, 112, 224, 24, 64, 64),
    BLOCK("Mixed_4d", "mixed_4d", 512, 128, 128, 256, 24, 64, 64),
    BLOCK("Mixed_4e", "mixed_4e", 512, 112, 144, 288, 32, 64, 64),
    BLOCK("Mixed_4f", "mixed_4f", 528, 256, 160, 320, 32, 128, 128),
    BLOCK("Mixed_5b", "mixed_5b", 832, 256, 160, 320, 32, 128, 128),
    BLOCK("Mixed_5c", "mixed_5c", 832, 384, 192, 384, 48, 128, 128),
};
const size_t arnet__i3d_n_convs = sizeof arnet__i3d_convs / sizeof arnet__i3d_convs[0];

#define CONV(name, i) { ARNET__I3D_CONV, name, i, { 0, 0, 0 }, { 0, 0, 0 } }
#define POOL(name, kt, kh, kw, st, sh, sw)                                                      \
    { ARNET__I3D_MAXPOOL, name, 0, { kt, kh, kw }, { st, sh, sw } }
#define MIXED(name, i) { ARNET__I3D_MIXED, name, i, { 0, 0, 0 }, { 0, 0, 0 } }

const arnet__i3d_step arnet__i3d_steps[] = {
    CONV("Conv3d_1a_7x7", 0),
    POOL("MaxPool3d_2a_3x3", 1, 3, 3, 1, 2, 2),
    CONV("Conv3d_2b_1x1", 1),
    CONV("Conv3d_2c_3x3", 2),
    POOL("MaxPool3d_3a_3x3", 1, 3, 3, 1, 2, 2),
    MIXED("Mixed_3b", 3),
    MIXED("Mixed_3c", 9),
    POOL("MaxPool3d_4a_3x3", 3, 3, 3, 2, 2, 2),
    MIXED("Mixed_4b", 15),
    MIXED("Mixed_4c", 21),
    MIXED("Mixed_4d", 27),
    MIXED("Mixed_4e", 33),
    MIXED("Mixed_4f", 39),
    POOL("MaxPool3d_5a_2x2", 2, 2, 2, 2, 2, 2),
    MIXED("Mixed_5b", 45),
    MIXED("Mixed_5c", 51),
};
const size_t arnet__i3d_n_steps = sizeof arnet__i3d_steps / sizeof arnet__i3d_steps[0];

void arnet__same_pad(uint32_t n, uint32_t k, uint32_t s, uint32_t *front, uint32_t *back,
                     uint32_t *out)
{
    uint32_t r = n % s;
    uint32_t p = r == 0 ? (k > s ? k - s : 0) : (k > r ? k - r : 0);
    if (front)
        *front = p / 2;
    if (back)
        *back = p - p / 2;
    if (out)
        *out = n / s + (r != 0);
}

size_t arnet__i3d_conv_weights(size_t i)
{
    return arnet__i3d_desc_weights(&arnet__i3d_convs[i]);
}

size_t arnet__i3d_desc_weights(const arnet__i3d_conv_desc *d)
{
    return (size_t)d->out_ch * d->in_ch * d->k[0] * d->k[1] * d->k[2];
}

size_t arnet__i3d_parameters(void)
{
    size_t n = 0;
    for (size_t i = 0; i < arnet__i3d_n_convs; i++)
        n += arnet__i3d_conv_weights(i) + arnet__i3d_convs[i].out_ch;
    return n;
}

int arnet__i3d_conv_lookup(const char *name, size_t len, int *port)
{
    for (size_t i = 0; i < arnet__i3d_n_convs; i++) {
        const char *n[2] = { arnet__i3d_convs[i].name, arnet__i3d_convs[i].alt_name };
        for (int p = 0; p < 2; p++)
            if (strlen(n[p]) == len && memcmp(n[p], name, len) == 0) {
                if (port)
                    *port = p;
                return (int)i;
            }
    }
    return -1;
}
