/* i3d_forward.c -- the I3D forward pass: one loop over the layer table
 * (i3d_net.c) calling the kernels of conv3d.c, its scratch, and the public
 * arnet_extractor_clips.
 *
 * Memory: two ping-pong activations (the largest step output, 64 x 8 x 112
 * x 112 floats for 16 x 224 x 224), three branch temporaries of an
 * Inception block, and the kernels' own scratch, all sized once in
 * arnet__i3d_scratch_create by walking the table over the clip's extent;
 * arnet__i3d_forward never allocates.  An Inception block's four branches
 * write straight into their channel slices of the next activation. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "conv3d.h"
#include "internal.h"

#define MAX_THREADS 256

struct arnet__i3d_scratch {
    uint32_t t, h, w;
    int threads;
    float *act[2];
    float *branch[3]; /* b1a, b2a outputs and the b3a pool */
    float *conv;      /* kernel scratch (every team member's part) */
    arnet__team *team;
    size_t act_floats, branch_floats, conv_floats;
};

/* Sizes a walk over the table needs for a t x h x w x 3 clip. */
typedef struct walk_sizes {
    size_t act, branch, conv;
} walk_sizes;

static int grow(size_t *max, size_t a, size_t b, size_t c, size_t d)
{
    size_t n;
    if (!arnet__mul_size(a, b, &n) || !arnet__mul_size(n, c, &n) || !arnet__mul_size(n, d, &n))
        return 0;
    if (n > *max)
        *max = n;
    return 1;
}

static int conv_scratch(const arnet__i3d_conv_desc *d, const uint32_t dims[3], int threads,
                        size_t *max)
{
    /* The kernels' own need is bounded (tiles), but its input-dependent
     * part is computed without overflow only for sane extents. */
    size_t n = arnet__conv3d_scratch_floats(d, dims[0], dims[1], dims[2], threads);
    if (n > *max)
        *max = n;
    return 1;
}

static int measure(const arnet_extractor *x, uint32_t t, uint32_t h, uint32_t w, int threads,
                   walk_sizes *ws)
{
    memset(ws, 0, sizeof *ws);
    uint32_t dims[3] = {t, h, w}, od[3];
    size_t ch = arnet__extractor_channels(x);
    for (size_t i = 0; i < arnet__i3d_n_steps; i++) {
        const arnet__i3d_step *st = &arnet__i3d_steps[i];
        if (st->op == ARNET__I3D_CONV) {
            const arnet__i3d_conv_desc *d = arnet__i3d_desc(x, st->conv);
            arnet__conv3d_out_dims(d->k, d->s, dims[0], dims[1], dims[2], od);
            ch = d->out_ch;
            if (!grow(&ws->act, od[0], od[1], od[2], ch))
                return 0;
            conv_scratch(d, dims, threads, &ws->conv);
        } else if (st->op == ARNET__I3D_MAXPOOL) {
            arnet__conv3d_out_dims(st->k, st->s, dims[0], dims[1], dims[2], od);
            if (!grow(&ws->act, od[0], od[1], od[2], ch))
                return 0;
        } else {
            const arnet__i3d_conv_desc *d = &arnet__i3d_convs[st->conv];
            memcpy(od, dims, sizeof od);
            ch = d[0].out_ch + d[2].out_ch + d[4].out_ch + d[5].out_ch;
            if (!grow(&ws->act, od[0], od[1], od[2], ch) ||
                !grow(&ws->branch, od[0], od[1], od[2], d[1].out_ch) ||
                !grow(&ws->branch, od[0], od[1], od[2], d[3].out_ch) ||
                !grow(&ws->branch, od[0], od[1], od[2], d[0].in_ch))
                return 0;
            for (int u = 0; u < 6; u++)
                conv_scratch(&d[u], dims, threads, &ws->conv);
        }
        memcpy(dims, od, sizeof dims);
    }
    return 1;
}

void arnet__i3d_scratch_free(arnet__i3d_scratch *s)
{
    if (!s)
        return;
    free(s->act[0]);
    free(s->act[1]);
    for (int i = 0; i < 3; i++)
        free(s->branch[i]);
    free(s->conv);
    arnet__team_free(s->team);
    free(s);
}

int arnet__i3d_scratch_create(const arnet_extractor *x, uint32_t t, uint32_t h, uint32_t w,
                              int threads, arnet__i3d_scratch **out)
{
    if (!out)
        return arnet__error(ARNET_E_INVALID, "arnet__i3d_scratch_create: out is NULL");
    *out = NULL;
    if (!x)
        return arnet__error(ARNET_E_INVALID, "arnet__i3d_scratch_create: extractor is NULL");
    if (t == 0 || h == 0 || w == 0)
        return arnet__error(ARNET_E_INVALID,
                            "I3D scratch: clip extent %u x %u x %u has a zero dimension", t, h,
                            w);
    if (threads <= 0)
        threads = 1;
    if (threads > MAX_THREADS)
        threads = MAX_THREADS;
    walk_sizes ws;
    if (!measure(x, t, h, w, threads, &ws))
        return arnet__error(ARNET_E_INVALID,
                            "I3D scratch: clip extent %u x %u x %u is too large to address", t,
                            h, w);
    arnet__i3d_scratch *s = arnet__calloc(1, sizeof *s, "I3D scratch");
    if (!s)
        return ARNET_E_NOMEM;
    s->t = t;
    s->h = h;
    s->w = w;
    s->threads = threads;
    s->act_floats = ws.act;
    s->branch_floats = ws.branch;
    s->conv_floats = ws.conv ? ws.conv : 1;
    s->act[0] = arnet__alloc(ws.act, sizeof(float), "I3D activations");
    s->act[1] = s->act[0] ? arnet__alloc(ws.act, sizeof(float), "I3D activations") : NULL;
    for (int i = 0; i < 3 && s->act[1]; i++)
        if (!(s->branch[i] = arnet__alloc(ws.branch, sizeof(float), "I3D branch activations")))
            break;
    s->conv = s->branch[2] ? arnet__alloc(s->conv_floats, sizeof(float), "I3D kernel scratch")
                           : NULL;
    if (!s->conv) {
        arnet__i3d_scratch_free(s);
        return ARNET_E_NOMEM;
    }
    int rc = arnet__team_create(threads, &s->team);
    if (rc != ARNET_OK) {
        arnet__i3d_scratch_free(s);
        return rc;
    }
    *out = s;
    return ARNET_OK;
}

size_t arnet__i3d_scratch_memory(const arnet__i3d_scratch *s)
{
    if (!s)
        return 0;
    return sizeof *s + (2 * s->act_floats + 3 * s->branch_floats + s->conv_floats) * sizeof(float);
}

static arnet__act act_of(float *data, const uint32_t dims[3], uint32_t c)
{
    arnet__act a = {data, dims[0], dims[1], dims[2], c, c};
    return a;
}

/* An Inception block: b0 | b1a -> b1b | b2a -> b2b | pool -> b3b, each
 * branch into its slice of out. */
static void mixed(const arnet_extractor *x, arnet__i3d_scratch *s, uint32_t first,
                  const arnet__act *in, const arnet__act *out)
{
    static const uint8_t pool_k[3] = {3, 3, 3}, pool_s[3] = {1, 1, 1};
    const arnet__i3d_conv_desc *d = &arnet__i3d_convs[first];
    const arnet__i3d_conv *cv = &x->convs[first];
    uint32_t dims[3] = {in->t, in->h, in->w};
    arnet__act b1a = act_of(s->branch[0], dims, d[1].out_ch);
    arnet__act b2a = act_of(s->branch[1], dims, d[3].out_ch);
    arnet__act b3a = act_of(s->branch[2], dims, in->c);
    arnet__act slice = *out;
    size_t off = 0;

    slice.data = out->data + off;
    slice.c = d[0].out_ch;
    arnet__conv3d(&d[0], &cv[0], in, &slice, s->conv, s->team);
    off += d[0].out_ch;

    arnet__conv3d(&d[1], &cv[1], in, &b1a, s->conv, s->team);
    slice.data = out->data + off;
    slice.c = d[2].out_ch;
    arnet__conv3d(&d[2], &cv[2], &b1a, &slice, s->conv, s->team);
    off += d[2].out_ch;

    arnet__conv3d(&d[3], &cv[3], in, &b2a, s->conv, s->team);
    slice.data = out->data + off;
    slice.c = d[4].out_ch;
    arnet__conv3d(&d[4], &cv[4], &b2a, &slice, s->conv, s->team);
    off += d[4].out_ch;

    arnet__maxpool3d(pool_k, pool_s, in, &b3a, s->team);
    slice.data = out->data + off;
    slice.c = d[5].out_ch;
    arnet__conv3d(&d[5], &cv[5], &b3a, &slice, s->conv, s->team);
}

int arnet__i3d_forward(const arnet_extractor *x, arnet__i3d_scratch *s, const float *in,
                       float *feature, const volatile int *cancel)
{
    if (!x || !s || !in || !feature)
        return arnet__error(ARNET_E_INVALID, "arnet__i3d_forward: NULL argument");
    for (size_t i = 0; i < arnet__i3d_n_convs; i++)
        if (!x->convs[i].prepared)
            return arnet__error(ARNET_E_INVALID,
                                "I3D forward: unit %s is not prepared (arnet__i3d_prepare)",
                                arnet__i3d_convs[i].name);
    uint32_t dims[3] = {s->t, s->h, s->w}, od[3];
    arnet__act cur = act_of((float *)in, dims, arnet__extractor_channels(x));
    int next = 0;
    for (size_t i = 0; i < arnet__i3d_n_steps; i++) {
        if (cancel && *cancel)
            return arnet__error(ARNET_E_CANCELLED, "I3D forward: cancelled before %s",
                                arnet__i3d_steps[i].name);
        const arnet__i3d_step *st = &arnet__i3d_steps[i];
        arnet__act out;
        if (st->op == ARNET__I3D_CONV) {
            const arnet__i3d_conv_desc *d = arnet__i3d_desc(x, st->conv);
            arnet__conv3d_out_dims(d->k, d->s, cur.t, cur.h, cur.w, od);
            out = act_of(s->act[next], od, d->out_ch);
            arnet__conv3d(d, &x->convs[st->conv], &cur, &out, s->conv, s->team);
        } else if (st->op == ARNET__I3D_MAXPOOL) {
            arnet__conv3d_out_dims(st->k, st->s, cur.t, cur.h, cur.w, od);
            out = act_of(s->act[next], od, cur.c);
            arnet__maxpool3d(st->k, st->s, &cur, &out, s->team);
        } else {
            const arnet__i3d_conv_desc *d = &arnet__i3d_convs[st->conv];
            od[0] = cur.t;
            od[1] = cur.h;
            od[2] = cur.w;
            out = act_of(s->act[next], od,
                         d[0].out_ch + d[2].out_ch + d[4].out_ch + d[5].out_ch);
            mixed(x, s, st->conv, &cur, &out);
        }
        cur = out;
        next ^= 1;
    }
    /* The feature: mean over the remaining positions, summed in double. */
    size_t P = (size_t)cur.t * cur.h * cur.w;
    for (uint32_t c = 0; c < cur.c && c < x->feature_dim; c++) {
        double sum = 0.0;
        for (size_t p = 0; p < P; p++)
            sum += cur.data[p * cur.ld + c];
        feature[c] = (float)(sum / (double)P);
    }
    return ARNET_OK;
}

int arnet_extractor_clips(const arnet_extractor *x, const float *frames, size_t n_clips,
                          uint32_t clip_frames, uint32_t height, uint32_t width, int threads,
                          float *features)
{
    if (!x)
        return arnet__error(ARNET_E_INVALID, "arnet_extractor_clips: extractor is NULL");
    if (n_clips == 0)
        return ARNET_OK;
    if (!frames)
        return arnet__error(ARNET_E_INVALID, "arnet_extractor_clips: frames is NULL");
    if (!features)
        return arnet__error(ARNET_E_INVALID, "arnet_extractor_clips: features is NULL");
    if (clip_frames == 0 || height == 0 || width == 0)
        return arnet__error(ARNET_E_INVALID,
                            "arnet_extractor_clips: clip_frames %u, height %u, width %u: each "
                            "must be at least 1",
                            clip_frames, height, width);
    if (threads < 0)
        return arnet__error(ARNET_E_INVALID,
                            "arnet_extractor_clips: threads is %d (0 means 1)", threads);
    size_t clip_floats;
    if (!arnet__mul_size((size_t)clip_frames * height,
                         (size_t)width * arnet__extractor_channels(x), &clip_floats) ||
        !arnet__mul_size(clip_floats, n_clips, &(size_t){0}))
        return arnet__error(ARNET_E_INVALID,
                            "arnet_extractor_clips: %zu clips of %u x %u x %u frames are too "
                            "large to address",
                            n_clips, clip_frames, height, width);
    /* The library's one rule for numbers coming in (arnet_model_score's):
     * NaN and infinities are refused, naming the clip and the value. */
    int rc = arnet__check_finite("arnet_extractor_clips: frames", frames, n_clips, clip_floats);
    if (rc != ARNET_OK)
        return rc;
    arnet__i3d_scratch *s = NULL;
    rc = arnet__i3d_scratch_create(x, clip_frames, height, width, threads, &s);
    if (rc != ARNET_OK) {
        arnet__error_prefix("arnet_extractor_clips");
        return rc;
    }
    for (size_t i = 0; i < n_clips && rc == ARNET_OK; i++) {
        float *f = features + i * (size_t)x->feature_dim;
        rc = arnet__i3d_forward(x, s, frames + i * clip_floats, f, NULL);
        if (rc != ARNET_OK)
            arnet__error_prefix("arnet_extractor_clips");
        /* Finite values far outside [-1, 1] (1e30) overflow inside the
         * network: refused rather than handed on as features. */
        for (uint32_t k = 0; rc == ARNET_OK && k < x->feature_dim; k++)
            if (!isfinite(f[k])) {
                float big = 0.0f;
                for (size_t j = 0; j < clip_floats; j++)
                    big = fmaxf(big, fabsf(frames[i * clip_floats + j]));
                rc = arnet__error(ARNET_E_INVALID,
                                  "arnet_extractor_clips: clip %zu: its features overflow (frame "
                                  "values reach %g; they belong in [-1, 1])", i, (double)big);
            }
    }
    arnet__i3d_scratch_free(s);
    return rc;
}
