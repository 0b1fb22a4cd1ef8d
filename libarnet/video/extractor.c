/* extractor.c -- arnet_extractor_state: one camera's frames in, a clip
 * feature out every clip_frames frames, with every buffer made at creation.
 *
 * A frame is resized (preprocess.c) as it arrives and kept as uint8 in the
 * clip's slot: only its 224 x 224 centre crop with one crop, the whole
 * resized frame with ten.  When the clip is complete each crop is scaled to
 * floats into one clip buffer and run through the network
 * (arnet__i3d_forward); floats exist for one crop at a time, so a
 * 16-frame ten-crop state at 340 x 256 holds 4.2 MB of frames and 9.6 MB
 * of clip instead of 96 MB of float crops. */
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "i3d.h"
#include "internal.h"
#include "preprocess.h"

#define CLIP_FRAMES_MAX 256u
#define THREADS_MAX 256

struct arnet_extractor_state {
    const arnet_extractor *x;
    arnet_extractor_options opt; /* resolved */
    uint32_t slot_w, slot_h;     /* a stored frame: 224 x 224 or the resized frame */
    uint32_t ox[5], oy[5];       /* crop origins in a stored frame */
    size_t slot_bytes;
    uint8_t *ring;   /* clip_frames slots */
    uint32_t n_held; /* frames of the pending clip */
    arnet__resizer *resizer;
    float table[256];
    float *clip;     /* clip_frames x 224 x 224 x 3: one crop of the clip */
    float *features; /* crops x feature_dim, copied out on success only */
    arnet__i3d_scratch *scratch;
    int cancel; /* set by arnet_extractor_cancel, read atomically */
    size_t bytes;
};

void arnet_extractor_options_init(arnet_extractor_options *opt)
{
    if (!opt)
        return;
    memset(opt, 0, sizeof *opt);
    opt->struct_size = sizeof *opt;
    opt->resize = ARNET_RESIZE_SHORT256;
    opt->crops = 1;
    opt->last_clip = ARNET_LAST_CLIP_DROP;
    opt->threads = 1;
    opt->clip_frames = 16;
    opt->filter = ARNET_FILTER_BILINEAR;
    opt->flow_at = ARNET_FLOW_AT_CROP;
    opt->flow_values = ARNET_FLOW_VALUES_FLOAT;
    opt->flow_bound = 20.0f;
    opt->flow_channels = ARNET_FLOW_CHANNELS_XY;
}

/* Options as given, over the defaults for fields an older caller's struct
 * does not have (everything up to frame_height is required). */
int arnet__extractor_options_read(const char *fn, const arnet_extractor_options *in,
                                  arnet_extractor_options *o)
{
    arnet_extractor_options_init(o);
    if (!in)
        return arnet__error(ARNET_E_INVALID,
                            "%s: opt is NULL, but frame_width and frame_height are required",
                            fn);
    size_t need = offsetof(arnet_extractor_options, frame_height) + sizeof in->frame_height;
    if (in->struct_size < need)
        return arnet__error(ARNET_E_INVALID,
                            "%s: opt.struct_size %zu < %zu (call arnet_extractor_options_init)",
                            fn, in->struct_size, need);
    memcpy(o, in, in->struct_size < sizeof *o ? in->struct_size : sizeof *o);
    o->struct_size = sizeof *o;
    if (o->resize < ARNET_RESIZE_SHORT256 || o->resize > ARNET_RESIZE_NONE)
        return arnet__error(ARNET_E_INVALID, "%s: resize %d is unknown (ARNET_RESIZE_*)", fn,
                            o->resize);
    if (o->crops != 1 && o->crops != 10)
        return arnet__error(ARNET_E_INVALID, "%s: crops %u is neither 1 nor 10", fn, o->crops);
    if (o->last_clip != ARNET_LAST_CLIP_DROP && o->last_clip != ARNET_LAST_CLIP_PAD)
        return arnet__error(ARNET_E_INVALID, "%s: last_clip %d is unknown (ARNET_LAST_CLIP_*)",
                            fn, o->last_clip);
    if (o->threads == 0)
        o->threads = 1;
    if (o->threads < 1 || o->threads > THREADS_MAX)
        return arnet__error(ARNET_E_INVALID, "%s: threads %d out of range 1..%d", fn, o->threads,
                            THREADS_MAX);
    if (o->clip_frames < 1 || o->clip_frames > CLIP_FRAMES_MAX)
        return arnet__error(ARNET_E_INVALID, "%s: clip_frames %u out of range 1..%u", fn,
                            o->clip_frames, CLIP_FRAMES_MAX);
    if (o->frame_width < 1 || o->frame_height < 1 || o->frame_width > 16384 ||
        o->frame_height > 16384)
        return arnet__error(ARNET_E_INVALID,
                            "%s: frame size %ux%u out of range 1..16384 (set frame_width and "
                            "frame_height to the size of the camera's frames)",
                            fn, o->frame_width, o->frame_height);
    if (o->filter != ARNET_FILTER_BILINEAR && o->filter != ARNET_FILTER_LANCZOS)
        return arnet__error(ARNET_E_INVALID, "%s: filter %d is unknown (ARNET_FILTER_*)", fn,
                            o->filter);
    return ARNET_OK;
}

int arnet_extractor_state_create(const arnet_extractor *x, const arnet_extractor_options *opt,
                                 arnet_extractor_state **out)
{
    if (!x || !out)
        return arnet__error(ARNET_E_INVALID, "arnet_extractor_state_create: %s is NULL",
                            !x ? "extractor" : "out");
    char name[1024];
    if (x->stream != ARNET_STREAM_RGB)
        return arnet__error(ARNET_E_INVALID,
                            "arnet_extractor_state_create: the extractor (%s) is I3D's flow "
                            "network, which takes optical flow, not frames (give it as the "
                            "flow extractor of a two-stream state)",
                            arnet__extractor_name(x, name, sizeof name));
    arnet_extractor_options o;
    int rc = arnet__extractor_options_read("arnet_extractor_state_create", opt, &o);
    if (rc)
        return rc;
    uint32_t rw, rh;
    if ((rc = arnet__resize_size(o.resize, o.frame_width, o.frame_height, &rw, &rh)) != ARNET_OK) {
        arnet__error_prefix("arnet_extractor_state_create");
        return rc;
    }
    arnet_extractor_state *st = arnet__calloc(1, sizeof *st, "extractor state");
    if (!st)
        return ARNET_E_NOMEM;
    st->x = x;
    st->opt = o;
    const uint32_t C = ARNET__CROP;
    rc = arnet__state_resizer(o.frame_width, o.frame_height, rw, rh, o.filter, o.crops,
                              &st->slot_w, &st->slot_h, st->ox, st->oy, &st->resizer);
    if (rc) {
        arnet_extractor_state_free(st);
        return rc;
    }
    arnet__pixel_table(st->table);
    st->slot_bytes = (size_t)st->slot_w * st->slot_h * 3;
    size_t clip_floats = (size_t)o.clip_frames * C * C * 3;
    size_t feat_floats = (size_t)o.crops * x->feature_dim;
    st->ring = arnet__alloc(o.clip_frames, st->slot_bytes, "extractor frame buffer");
    st->clip = arnet__alloc(clip_floats, sizeof(float), "extractor clip buffer");
    st->features = arnet__alloc(feat_floats, sizeof(float), "extractor features");
    if (!st->ring || !st->clip || !st->features) {
        arnet_extractor_state_free(st);
        return ARNET_E_NOMEM;
    }
    rc = arnet__i3d_scratch_create(x, o.clip_frames, C, C, o.threads, &st->scratch);
    if (rc) {
        arnet_extractor_state_free(st);
        return rc;
    }
    st->bytes = sizeof *st + o.clip_frames * st->slot_bytes + clip_floats * sizeof(float) +
                feat_floats * sizeof(float) + arnet__resizer_memory(st->resizer) +
                arnet__i3d_scratch_memory(st->scratch);
    *out = st;
    return ARNET_OK;
}

void arnet_extractor_state_free(arnet_extractor_state *st)
{
    if (!st)
        return;
    arnet__resizer_free(st->resizer);
    arnet__i3d_scratch_free(st->scratch);
    free(st->ring);
    free(st->clip);
    free(st->features);
    free(st);
}

size_t arnet_extractor_state_memory(const arnet_extractor_state *st)
{
    return st ? st->bytes : 0;
}

void arnet_extractor_reset(arnet_extractor_state *st)
{
    if (st)
        st->n_held = 0;
}

void arnet_extractor_cancel(arnet_extractor_state *st)
{
    if (st)
        __atomic_store_n(&st->cancel, 1, __ATOMIC_SEQ_CST);
}

/* A pending cancel request, consumed: the call that sees it drops the
 * partial clip and returns ARNET_E_CANCELLED. */
static int take_cancel(arnet_extractor_state *st, const char *fn)
{
    if (!__atomic_exchange_n(&st->cancel, 0, __ATOMIC_SEQ_CST))
        return ARNET_OK;
    st->n_held = 0;
    return arnet__error(ARNET_E_CANCELLED, "%s: cancelled (the partial clip is dropped)", fn);
}

/* The network over every crop of the held frames (n_held >= 1), padded to
 * clip_frames with the last of them, into st->features.  Crop c < 5 is
 * origin c of the stored frame, crop c >= 5 origin c - 5 of its mirror
 * image (UR-DMU's oversample_data order). */
static int run_clip(arnet_extractor_state *st, const char *fn)
{
    const uint32_t C = ARNET__CROP, T = st->opt.clip_frames, F = st->x->feature_dim;
    const size_t crop_floats = (size_t)C * C * 3;
    for (uint32_t c = 0; c < st->opt.crops; c++) {
        uint32_t k = c % 5;
        for (uint32_t t = 0; t < T; t++) {
            uint32_t slot = t < st->n_held ? t : st->n_held - 1;
            arnet__crop_float(st->ring + slot * st->slot_bytes, st->slot_w, st->ox[k], st->oy[k],
                              C, c >= 5, st->table, st->clip + t * crop_floats);
        }
        int rc = arnet__i3d_forward(st->x, st->scratch, st->clip, st->features + (size_t)c * F,
                                    &st->cancel);
        if (rc == ARNET_E_CANCELLED) {
            __atomic_store_n(&st->cancel, 0, __ATOMIC_SEQ_CST);
            st->n_held = 0;
            return arnet__error(ARNET_E_CANCELLED, "%s: cancelled (the partial clip is dropped)",
                                fn);
        }
        if (rc) {
            st->n_held = 0;
            arnet__error_prefix("%s", fn);
            return rc;
        }
    }
    st->n_held = 0;
    return ARNET_OK;
}

int arnet_extractor_push(arnet_extractor_state *st, const arnet_frame *frame, float *features,
                         int *ready)
{
    const char *fn = "arnet_extractor_push";
    if (ready)
        *ready = 0;
    if (!st || !features || !ready)
        return arnet__error(ARNET_E_INVALID, "%s: %s is NULL", fn,
                            !st ? "state" : !features ? "features" : "ready");
    int rc = take_cancel(st, fn);
    if (rc)
        return rc;
    if ((rc = arnet__frame_check(fn, frame)) != ARNET_OK)
        return rc;
    if (frame->width != st->opt.frame_width || frame->height != st->opt.frame_height)
        return arnet__error(ARNET_E_SHAPE,
                            "%s: frame %ux%u differs from the state's %ux%u (its frame_width "
                            "and frame_height; a new size needs a new state)",
                            fn, frame->width, frame->height, st->opt.frame_width,
                            st->opt.frame_height);
    arnet__resizer_run(st->resizer, frame, st->ring + st->n_held * st->slot_bytes);
    if (++st->n_held < st->opt.clip_frames)
        return ARNET_OK;
    if ((rc = run_clip(st, fn)) != ARNET_OK)
        return rc;
    memcpy(features, st->features,
           (size_t)st->opt.crops * st->x->feature_dim * sizeof(float));
    *ready = 1;
    return ARNET_OK;
}

int arnet_extractor_flush(arnet_extractor_state *st, float *features, int *ready)
{
    const char *fn = "arnet_extractor_flush";
    if (ready)
        *ready = 0;
    if (!st || !features || !ready)
        return arnet__error(ARNET_E_INVALID, "%s: %s is NULL", fn,
                            !st ? "state" : !features ? "features" : "ready");
    int rc = take_cancel(st, fn);
    if (rc)
        return rc;
    if (st->n_held == 0 || st->opt.last_clip == ARNET_LAST_CLIP_DROP) {
        st->n_held = 0;
        return ARNET_OK;
    }
    if ((rc = run_clip(st, fn)) != ARNET_OK)
        return rc;
    memcpy(features, st->features,
           (size_t)st->opt.crops * st->x->feature_dim * sizeof(float));
    *ready = 1;
    return ARNET_OK;
}
