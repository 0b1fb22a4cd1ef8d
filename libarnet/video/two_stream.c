/* two_stream.c -- arnet_two_stream_state: one camera's frames in, I3D-RGB
 * and I3D-flow features of every clip out, concatenated (AR-Net's
 * "I3D_Conc"), with every buffer made at creation.
 *
 * A frame is resized as the RGB stream does (preprocess.c) into the RGB
 * clip's slot; its grey copy (OpenCV's RGB2GRAY, arnet_rgb_to_grey) is
 * taken from that slot (ARNET_FLOW_AT_CROP, the I3D authors' rule) or from
 * the frame resized to a size of its own (ARNET_FLOW_AT_SIZE), and its
 * TV-L1 flow to the previous frame's grey (flow.c) is computed at once,
 * mapped to the network's values and kept.  Clip t is RGB frames 16t ..
 * 16t+15 and flows 16t .. 16t+15: the RGB network runs on frame 16t+15,
 * the flow network on frame 16t+16, which completes the clip.  Both
 * networks share one scratch (the flow network's first unit needs less
 * than the RGB one's). */
#include <math.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "i3d.h"
#include "internal.h"
#include "preprocess.h"

struct arnet_two_stream_state {
    const arnet_extractor *rgb_x, *flow_x;
    arnet_extractor_options opt; /* resolved */
    uint32_t slot_w, slot_h;     /* a stored RGB frame and a stored flow */
    uint32_t ox[5], oy[5];       /* crop origins in a stored frame */
    size_t slot_bytes, slot_px;
    uint8_t *ring;   /* clip_frames RGB slots */
    uint32_t n_rgb;  /* frames of the pending RGB clip */
    arnet__resizer *resizer;
    float table[256];
    /* flow */
    uint32_t fw, fh;              /* where the flow is computed */
    arnet__resizer *flow_resizer; /* ARNET_FLOW_AT_SIZE: frame -> fw x fh RGB */
    uint8_t *flow_rgb;            /* ARNET_FLOW_AT_SIZE: fw x fh x 3 */
    uint8_t *grey[2];             /* fw x fh, the previous and this frame */
    int cur;                      /* grey[cur] is this frame's */
    int have_prev;
    arnet_flow *flow;
    float *field;    /* fw x fh x 2: one raw flow */
    float *flows;    /* clip_frames x slot_h x slot_w x 2: mapped flows */
    uint32_t n_flow; /* flows of the pending flow clip */
    int rgb_ready;   /* RGB features of the pending clip are in rgb_feat */
    float *clip;     /* clip_frames x 224 x 224 x 3: one crop of a clip */
    float *rgb_feat; /* crops x 1024 */
    float *features; /* crops x 2048, copied out on success only */
    arnet__i3d_scratch *scratch;
    int cancel; /* set by arnet_two_stream_cancel, read atomically */
    size_t bytes;
};

#define FN_CREATE "arnet_two_stream_state_create"


/* The flow_* fields of a resolved options struct. */
static int check_flow_options(const arnet_extractor_options *o)
{
    const char *fn = FN_CREATE;
    if (o->last_clip != ARNET_LAST_CLIP_DROP)
        return arnet__error(ARNET_E_INVALID,
                            "%s: last_clip must be ARNET_LAST_CLIP_DROP: a two-stream clip "
                            "needs clip_frames flows, and a shorter tail is dropped",
                            fn);
    if (o->flow_at != ARNET_FLOW_AT_CROP && o->flow_at != ARNET_FLOW_AT_SIZE)
        return arnet__error(ARNET_E_INVALID, "%s: flow_at %d is unknown (ARNET_FLOW_AT_*)", fn,
                            o->flow_at);
    if (o->flow_at == ARNET_FLOW_AT_SIZE) {
        if (o->flow_width < 3 || o->flow_height < 3 || o->flow_width > 16384 ||
            o->flow_height > 16384)
            return arnet__error(ARNET_E_INVALID,
                                "%s: flow size %ux%u out of range 3..16384 (flow_width and "
                                "flow_height, for ARNET_FLOW_AT_SIZE)",
                                fn, o->flow_width, o->flow_height);
        if (o->crops != 1)
            return arnet__error(ARNET_E_INVALID,
                                "%s: ARNET_FLOW_AT_SIZE resizes the whole flow to 224 x 224: "
                                "it takes crops 1, not %u",
                                fn, o->crops);
    }
    if (o->flow_values < ARNET_FLOW_VALUES_FLOAT || o->flow_values > ARNET_FLOW_VALUES_Q8_RAW)
        return arnet__error(ARNET_E_INVALID,
                            "%s: flow_values %d is unknown (ARNET_FLOW_VALUES_*)", fn,
                            o->flow_values);
    if (!(o->flow_bound > 0.0f) || !isfinite(o->flow_bound))
        return arnet__error(ARNET_E_INVALID, "%s: flow_bound %g must be finite and above 0", fn,
                            (double)o->flow_bound);
    if (o->flow_channels != ARNET_FLOW_CHANNELS_XY && o->flow_channels != ARNET_FLOW_CHANNELS_XX)
        return arnet__error(ARNET_E_INVALID,
                            "%s: flow_channels %d is unknown (ARNET_FLOW_CHANNELS_*)", fn,
                            o->flow_channels);
    return ARNET_OK;
}

static int check_extractor(const arnet_extractor *x, int want, const char *role)
{
    if (x->stream == want)
        return ARNET_OK;
    char name[1024];
    return arnet__error(ARNET_E_INVALID,
                        "%s: the %s extractor (%s) is I3D's %s network, not the %s one", FN_CREATE,
                        role, arnet__extractor_name(x, name, sizeof name), x->stream == ARNET_STREAM_FLOW ? "flow" : "RGB",
                        want == ARNET_STREAM_FLOW ? "flow" : "RGB");
}

/* Sum of the sizes, 0 when it would wrap. */
static size_t add_bytes(size_t a, size_t n, size_t size)
{
    size_t b;
    if (!arnet__mul_size(n, size, &b) || a > SIZE_MAX - b)
        return 0;
    return a + b;
}

int arnet_two_stream_state_create(const arnet_extractor *rgb_x, const arnet_extractor *flow_x,
                                  const arnet_extractor_options *opt,
                                  const arnet_flow_options *flow_opt,
                                  arnet_two_stream_state **out)
{
    if (out)
        *out = NULL;
    if (!rgb_x || !flow_x || !out)
        return arnet__error(ARNET_E_INVALID, "%s: %s is NULL", FN_CREATE,
                            !rgb_x ? "rgb_x" : !flow_x ? "flow_x" : "out");
    int rc;
    if ((rc = check_extractor(rgb_x, ARNET_STREAM_RGB, "RGB")) ||
        (rc = check_extractor(flow_x, ARNET_STREAM_FLOW, "flow")))
        return rc;
    arnet_extractor_options o;
    if ((rc = arnet__extractor_options_read(FN_CREATE, opt, &o)) ||
        (rc = check_flow_options(&o)))
        return rc;
    uint32_t rw, rh;
    if ((rc = arnet__resize_size(o.resize, o.frame_width, o.frame_height, &rw, &rh))) {
        arnet__error_prefix(FN_CREATE);
        return rc;
    }
    arnet_two_stream_state *st = arnet__calloc(1, sizeof *st, "two-stream state");
    if (!st)
        return ARNET_E_NOMEM;
    st->rgb_x = rgb_x;
    st->flow_x = flow_x;
    st->opt = o;
    const uint32_t C = ARNET__CROP, T = o.clip_frames;
    rc = arnet__state_resizer(o.frame_width, o.frame_height, rw, rh, o.filter, o.crops,
                              &st->slot_w, &st->slot_h, st->ox, st->oy, &st->resizer);
    if (rc)
        goto fail;
    if (o.flow_at == ARNET_FLOW_AT_SIZE) {
        st->fw = o.flow_width;
        st->fh = o.flow_height;
        rc = arnet__resizer_create(o.frame_width, o.frame_height, st->fw, st->fh, o.filter, 0,
                                   0, st->fw, st->fh, &st->flow_resizer);
        if (rc)
            goto fail;
    } else {
        st->fw = st->slot_w;
        st->fh = st->slot_h;
    }
    if ((rc = arnet_flow_create(st->fw, st->fh, flow_opt, &st->flow)) != ARNET_OK) {
        arnet__error_prefix(FN_CREATE);
        goto fail;
    }
    arnet__pixel_table(st->table);
    st->slot_px = (size_t)st->slot_w * st->slot_h;
    st->slot_bytes = st->slot_px * 3;
    size_t fpx = (size_t)st->fw * st->fh;
    size_t clip_floats = (size_t)T * C * C * 3;
    size_t feat = (size_t)o.crops * ARNET__I3D_FEATURE_DIM;
    st->ring = arnet__alloc(T, st->slot_bytes, "two-stream frame buffer");
    st->grey[0] = arnet__alloc(fpx, 1, "two-stream grey frames");
    st->grey[1] = arnet__alloc(fpx, 1, "two-stream grey frames");
    st->field = arnet__alloc(fpx, 2 * sizeof(float), "two-stream flow field");
    st->flows = arnet__alloc((size_t)T * st->slot_px, 2 * sizeof(float), "two-stream flows");
    st->clip = arnet__alloc(clip_floats, sizeof(float), "two-stream clip buffer");
    st->rgb_feat = arnet__alloc(feat, sizeof(float), "two-stream RGB features");
    st->features = arnet__alloc(feat, 2 * sizeof(float), "two-stream features");
    if (o.flow_at == ARNET_FLOW_AT_SIZE)
        st->flow_rgb = arnet__alloc(fpx, 3, "two-stream flow frame");
    if (!st->ring || !st->grey[0] || !st->grey[1] || !st->field || !st->flows || !st->clip ||
        !st->rgb_feat || !st->features || (o.flow_at == ARNET_FLOW_AT_SIZE && !st->flow_rgb)) {
        rc = ARNET_E_NOMEM;
        goto fail;
    }
    /* One scratch for both networks: the RGB one's first unit is the wider. */
    if ((rc = arnet__i3d_scratch_create(rgb_x, T, C, C, o.threads, &st->scratch)) != ARNET_OK)
        goto fail;
    size_t b = sizeof *st;
    b = add_bytes(b, T, st->slot_bytes);
    b = add_bytes(b, 2 * fpx, 1);
    b = add_bytes(b, fpx, 2 * sizeof(float));
    b = add_bytes(b, (size_t)T * st->slot_px, 2 * sizeof(float));
    b = add_bytes(b, clip_floats, sizeof(float));
    b = add_bytes(b, 3 * feat, sizeof(float));
    if (st->flow_rgb)
        b = add_bytes(b, fpx, 3);
    st->bytes = b + arnet__resizer_memory(st->resizer) +
                (st->flow_resizer ? arnet__resizer_memory(st->flow_resizer) : 0) +
                arnet_flow_memory(st->flow) + arnet__i3d_scratch_memory(st->scratch);
    *out = st;
    return ARNET_OK;
fail:
    arnet_two_stream_state_free(st);
    return rc;
}

void arnet_two_stream_state_free(arnet_two_stream_state *st)
{
    if (!st)
        return;
    arnet__resizer_free(st->resizer);
    arnet__resizer_free(st->flow_resizer);
    arnet_flow_free(st->flow);
    arnet__i3d_scratch_free(st->scratch);
    free(st->ring);
    free(st->flow_rgb);
    free(st->grey[0]);
    free(st->grey[1]);
    free(st->field);
    free(st->flows);
    free(st->clip);
    free(st->rgb_feat);
    free(st->features);
    free(st);
}

uint32_t arnet_two_stream_feature_dim(const arnet_two_stream_state *st)
{
    return st ? 2 * ARNET__I3D_FEATURE_DIM : 0;
}

size_t arnet_two_stream_state_memory(const arnet_two_stream_state *st)
{
    return st ? st->bytes : 0;
}

void arnet_two_stream_reset(arnet_two_stream_state *st)
{
    if (!st)
        return;
    st->n_rgb = st->n_flow = 0;
    st->have_prev = st->rgb_ready = 0;
}

void arnet_two_stream_cancel(arnet_two_stream_state *st)
{
    if (!st)
        return;
    /* Ours first: a flow that sees its own request without ours knows the
     * request is one already taken (see compute_flow). */
    __atomic_store_n(&st->cancel, 1, __ATOMIC_SEQ_CST);
    arnet_flow_cancel(st->flow);
}

static int cancelled(arnet_two_stream_state *st, const char *fn)
{
    arnet_two_stream_reset(st);
    return arnet__error(ARNET_E_CANCELLED, "%s: cancelled (the partial clip is dropped)", fn);
}

/* ---- flow values ------------------------------------------------------------ */

/* v (pixels) -> the 8-bit level q = round(255 (v + b) / 2b) of a stored flow
 * image (ARNET_FLOW_VALUES_Q8*), or clip(v, -b, b) / b (FLOAT). */
static inline float map_value(float v, int mode, float b)
{
    if (!(v >= -b))
        v = -b; /* (NaN too) */
    if (v > b)
        v = b;
    if (mode == ARNET_FLOW_VALUES_FLOAT)
        return v / b;
    return nearbyintf(255.0f * (v + b) / (2.0f * b));
}

/* A level q (0..255) as the network reads it. */
static inline float read_level(float q, int mode)
{
    return mode == ARNET_FLOW_VALUES_Q8 ? q / 255.0f * 2.0f - 1.0f : q;
}

/* The raw field (fw x fh x 2) into slot s of the flows, mapped.  At
 * ARNET_FLOW_AT_SIZE the flow is mapped at its own size, as the flow images
 * of the AR-Net authors' pipeline were stored, and that image resized to
 * the slot (bilinear with half-pixel centres and edge replication, as
 * OpenCV's INTER_LINEAR; the displacements keep their pixels); an 8-bit
 * image's resize rounds to a level again (half up, as OpenCV's fixed-point
 * resize of uint8).  The field is overwritten. */
static void store_flow(arnet_two_stream_state *st, float *dst)
{
    const arnet_extractor_options *o = &st->opt;
    const float b = o->flow_bound;
    const int mode = o->flow_values, xx = o->flow_channels == ARNET_FLOW_CHANNELS_XX;
    const uint32_t W = st->slot_w, H = st->slot_h;
    if (st->fw == W && st->fh == H) {
        for (size_t p = 0; p < st->slot_px; p++) {
            float fx = st->field[2 * p], fy = st->field[2 * p + 1];
            dst[2 * p] = read_level(map_value(fx, mode, b), mode);
            dst[2 * p + 1] = read_level(map_value(xx ? fx : fy, mode, b), mode);
        }
        return;
    }
    float *img = st->field;
    for (size_t p = 0; p < (size_t)st->fw * st->fh; p++) {
        float fx = img[2 * p], fy = img[2 * p + 1];
        img[2 * p] = map_value(fx, mode, b);
        img[2 * p + 1] = map_value(xx ? fx : fy, mode, b);
    }
    const int q8 = mode != ARNET_FLOW_VALUES_FLOAT;
    const double sx = (double)st->fw / W, sy = (double)st->fh / H;
    for (uint32_t y = 0; y < H; y++) {
        double fy = (y + 0.5) * sy - 0.5;
        if (fy < 0)
            fy = 0;
        uint32_t y0 = (uint32_t)fy;
        if (y0 > st->fh - 1)
            y0 = st->fh - 1;
        uint32_t y1 = y0 + 1 < st->fh ? y0 + 1 : y0;
        float wy = (float)(fy - y0);
        for (uint32_t x = 0; x < W; x++) {
            double fx = (x + 0.5) * sx - 0.5;
            if (fx < 0)
                fx = 0;
            uint32_t x0 = (uint32_t)fx;
            if (x0 > st->fw - 1)
                x0 = st->fw - 1;
            uint32_t x1 = x0 + 1 < st->fw ? x0 + 1 : x0;
            float wx = (float)(fx - x0);
            size_t p = (size_t)y * W + x;
            for (int c = 0; c < 2; c++) {
                const float *f = img + c;
                float a = f[2 * ((size_t)y0 * st->fw + x0)] * (1 - wx) +
                          f[2 * ((size_t)y0 * st->fw + x1)] * wx;
                float d = f[2 * ((size_t)y1 * st->fw + x0)] * (1 - wx) +
                          f[2 * ((size_t)y1 * st->fw + x1)] * wx;
                float v = a * (1 - wy) + d * wy;
                dst[2 * p + c] = q8 ? read_level(floorf(v + 0.5f), mode) : v;
            }
        }
    }
}

/* The flow from the previous grey frame to this one.  A cancel request the
 * flow sees while ours was already taken is one an earlier call took: the
 * flow runs again. */
static int compute_flow(arnet_two_stream_state *st, const char *fn)
{
    for (;;) {
        const uint8_t *prev = st->grey[st->cur ^ 1], *next = st->grey[st->cur];
        int rc = arnet_flow_compute(st->flow, prev, st->fw, next, st->fw, st->field);
        if (rc == ARNET_OK)
            return ARNET_OK;
        if (rc != ARNET_E_CANCELLED) {
            arnet_two_stream_reset(st);
            arnet__error_prefix("%s", fn);
            return rc;
        }
        if (__atomic_exchange_n(&st->cancel, 0, __ATOMIC_SEQ_CST))
            return cancelled(st, fn);
    }
}

/* ---- the networks ------------------------------------------------------------ */

/* One crop of the stored flows into clip_frames x 224 x 224 x 2 floats,
 * mirrored as an image (the x component keeps its sign, as pipelines that
 * flip stored flow images do). */
static void crop_flows(const arnet_two_stream_state *st, uint32_t c, float *out)
{
    const uint32_t C = ARNET__CROP, W = st->slot_w, k = c % 5;
    const int flip = c >= 5;
    for (uint32_t t = 0; t < st->opt.clip_frames; t++) {
        const float *f = st->flows + (size_t)t * st->slot_px * 2;
        float *o = out + (size_t)t * C * C * 2;
        for (uint32_t y = 0; y < C; y++) {
            const float *row = f + ((size_t)(st->oy[k] + y) * W) * 2;
            for (uint32_t x = 0; x < C; x++) {
                /* in the mirrored image, column ox + x is column W - 1 - (ox + x) */
                uint32_t sx = flip ? W - 1 - (st->ox[k] + x) : st->ox[k] + x;
                o[((size_t)y * C + x) * 2] = row[2 * sx];
                o[((size_t)y * C + x) * 2 + 1] = row[2 * sx + 1];
            }
        }
    }
}

static int network_error(arnet_two_stream_state *st, int rc, const char *fn)
{
    if (rc == ARNET_E_CANCELLED) {
        __atomic_store_n(&st->cancel, 0, __ATOMIC_SEQ_CST);
        return cancelled(st, fn);
    }
    arnet_two_stream_reset(st);
    arnet__error_prefix("%s", fn);
    return rc;
}

/* The RGB network over every crop of the held frames, into rgb_feat. */
static int run_rgb(arnet_two_stream_state *st, const char *fn)
{
    const uint32_t C = ARNET__CROP, T = st->opt.clip_frames, F = ARNET__I3D_FEATURE_DIM;
    const size_t crop_floats = (size_t)C * C * 3;
    for (uint32_t c = 0; c < st->opt.crops; c++) {
        uint32_t k = c % 5;
        for (uint32_t t = 0; t < T; t++)
            arnet__crop_float(st->ring + t * st->slot_bytes, st->slot_w, st->ox[k], st->oy[k], C,
                              c >= 5, st->table, st->clip + t * crop_floats);
        int rc = arnet__i3d_forward(st->rgb_x, st->scratch, st->clip,
                                    st->rgb_feat + (size_t)c * F, &st->cancel);
        if (rc)
            return network_error(st, rc, fn);
    }
    return ARNET_OK;
}

/* The flow network over every crop of the held flows, into features with
 * the RGB features before each crop's. */
static int run_flow(arnet_two_stream_state *st, const char *fn)
{
    const uint32_t F = ARNET__I3D_FEATURE_DIM;
    for (uint32_t c = 0; c < st->opt.crops; c++) {
        crop_flows(st, c, st->clip);
        float *out = st->features + (size_t)c * 2 * F;
        int rc = arnet__i3d_forward(st->flow_x, st->scratch, st->clip, out + F, &st->cancel);
        if (rc)
            return network_error(st, rc, fn);
        memcpy(out, st->rgb_feat + (size_t)c * F, F * sizeof(float));
    }
    return ARNET_OK;
}

int arnet_two_stream_push(arnet_two_stream_state *st, const arnet_frame *frame, float *features,
                          int *ready)
{
    const char *fn = "arnet_two_stream_push";
    if (ready)
        *ready = 0;
    if (!st || !features || !ready)
        return arnet__error(ARNET_E_INVALID, "%s: %s is NULL", fn,
                            !st ? "state" : !features ? "features" : "ready");
    if (__atomic_exchange_n(&st->cancel, 0, __ATOMIC_SEQ_CST))
        return cancelled(st, fn);
    int rc;
    if ((rc = arnet__frame_check(fn, frame)) != ARNET_OK)
        return rc;
    if (frame->width != st->opt.frame_width || frame->height != st->opt.frame_height)
        return arnet__error(ARNET_E_SHAPE,
                            "%s: frame %ux%u differs from the state's %ux%u (its frame_width "
                            "and frame_height; a new size needs a new state)",
                            fn, frame->width, frame->height, st->opt.frame_width,
                            st->opt.frame_height);
    const uint32_t T = st->opt.clip_frames;
    uint8_t *slot = st->ring + (size_t)st->n_rgb * st->slot_bytes;
    arnet__resizer_run(st->resizer, frame, slot);
    /* This frame's grey, and its flow from the previous frame. */
    st->cur ^= 1;
    if (st->flow_resizer) {
        arnet__resizer_run(st->flow_resizer, frame, st->flow_rgb);
        rc = arnet_rgb_to_grey(st->flow_rgb, (size_t)st->fw * 3, st->fw, st->fh,
                               st->grey[st->cur]);
    } else {
        rc = arnet_rgb_to_grey(slot, (size_t)st->slot_w * 3, st->fw, st->fh, st->grey[st->cur]);
    }
    if (rc) {
        arnet_two_stream_reset(st);
        arnet__error_prefix("%s", fn);
        return rc;
    }
    if (st->have_prev) {
        if ((rc = compute_flow(st, fn)) != ARNET_OK)
            return rc;
        store_flow(st, st->flows + (size_t)st->n_flow * st->slot_px * 2);
        st->n_flow++;
    }
    st->have_prev = 1;
    /* The flow clip completes on the frame after the RGB clip's last, which
     * starts the next RGB clip: the flow network first, while the RGB
     * features of the same clip wait in rgb_feat. */
    int done = 0;
    if (st->n_flow == T) {
        if (!st->rgb_ready) { /* cannot happen: RGB clip t ends one frame earlier */
            arnet_two_stream_reset(st);
            return arnet__error(ARNET_E_INVALID, "%s: internal: flow clip without RGB clip", fn);
        }
        if ((rc = run_flow(st, fn)) != ARNET_OK)
            return rc;
        st->n_flow = 0;
        st->rgb_ready = 0;
        done = 1;
    }
    if (++st->n_rgb == T) {
        if ((rc = run_rgb(st, fn)) != ARNET_OK)
            return rc;
        st->n_rgb = 0;
        st->rgb_ready = 1;
    }
    if (done) {
        memcpy(features, st->features,
               (size_t)st->opt.crops * 2 * ARNET__I3D_FEATURE_DIM * sizeof(float));
        *ready = 1;
    }
    return ARNET_OK;
}
