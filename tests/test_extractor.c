/* test_extractor.c -- the per-camera extractor state: features from pushed
 * frames equal arnet_extractor_clips on the same preprocessed clip, the
 * ten crops in UR-DMU's order, the last clip padded or dropped, reset,
 * cancel, memory, frames in and alarms out through a scorer and a stream
 * with no allocation, and the arguments it refuses.
 *
 * The network has random weights scaled so that activations stay O(1);
 * clips are 8 frames (or fewer) to keep the forward passes few and short. */
#include <check.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "alloc_count.h"
#include "i3d.h"
#include "internal.h"
#include "preprocess.h"

#define C 224u
#define PYTHON "/usr/bin/python3"

static arnet_extractor *make_extractor(uint64_t seed)
{
    arnet_extractor *x = NULL;
    ck_assert_int_eq(arnet__extractor_alloc(&x), ARNET_OK);
    arnet__rng r;
    arnet__rng_seed(&r, seed);
    for (size_t i = 0; i < arnet__i3d_n_convs; i++) {
        const arnet__i3d_conv_desc *d = &arnet__i3d_convs[i];
        size_t fan_in = (size_t)d->in_ch * d->k[0] * d->k[1] * d->k[2];
        size_t n = fan_in * d->out_ch;
        double a = sqrt(6.0 / (double)fan_in);
        for (size_t j = 0; j < n; j++)
            x->convs[i].w[j] = (float)((arnet__rng_uniform(&r) * 2 - 1) * a);
        for (uint32_t j = 0; j < d->out_ch; j++)
            x->convs[i].b[j] = (float)(arnet__rng_uniform(&r) * 0.1 - 0.02);
    }
    ck_assert_int_eq(arnet__i3d_prepare(x), ARNET_OK);
    return x;
}

static uint64_t lcg = 77;
static uint8_t rnd(void)
{
    lcg = lcg * 6364136223846793005ull + 1442695040888963407ull;
    return (uint8_t)(lcg >> 56);
}

/* n random RGB frames of w x h whose content also varies smoothly, so
 * that every crop position sees something different. */
static uint8_t *make_frames(size_t n, uint32_t w, uint32_t h)
{
    uint8_t *f = __libc_malloc(n * w * h * 3);
    for (size_t i = 0; i < n; i++)
        for (uint32_t y = 0; y < h; y++)
            for (uint32_t x = 0; x < w; x++)
                for (int c = 0; c < 3; c++) {
                    int v = (int)((x * (3 + c) + y * (5 - c) + i * 11) % 256) / 2 + rnd() / 2;
                    f[((i * h + y) * w + x) * 3 + c] = (uint8_t)v;
                }
    return f;
}

static arnet_frame rgb(const uint8_t *img, uint32_t w, uint32_t h)
{
    arnet_frame f;
    arnet_frame_init(&f);
    f.format = ARNET_PIXEL_RGB24;
    f.width = w;
    f.height = h;
    f.planes[0] = img;
    f.strides[0] = (size_t)w * 3;
    return f;
}

static arnet_extractor_options opts(uint32_t w, uint32_t h, int resize, uint32_t crops,
                                    uint32_t T)
{
    arnet_extractor_options o;
    arnet_extractor_options_init(&o);
    o.frame_width = w;
    o.frame_height = h;
    o.resize = resize;
    o.crops = crops;
    o.clip_frames = T;
    return o;
}

/* The whole resized frame, as the rules say (checked against Pillow in
 * test_preprocess). */
static uint8_t *resized(const uint8_t *img, uint32_t w, uint32_t h, uint32_t rw, uint32_t rh)
{
    arnet__resizer *r = NULL;
    ck_assert_int_eq(arnet__resizer_create(w, h, rw, rh, ARNET_FILTER_BILINEAR, 0, 0, rw, rh, &r),
                     ARNET_OK);
    uint8_t *out = __libc_malloc((size_t)rw * rh * 3);
    arnet_frame f = rgb(img, w, h);
    arnet__resizer_run(r, &f, out);
    arnet__resizer_free(r);
    return out;
}

/* Crop [y0:y0+224, x0:x0+224] of a rw-wide image, mirrored first when
 * flip (numpy's data[:, ::-1] then the slice), scaled as x * 2 / 255 - 1. */
static void crop_clip(const uint8_t *img, uint32_t rw, uint32_t x0, uint32_t y0, int flip,
                      float *out)
{
    for (uint32_t y = 0; y < C; y++)
        for (uint32_t x = 0; x < C; x++) {
            uint32_t sx = flip ? rw - 1 - (x0 + x) : x0 + x;
            for (int c = 0; c < 3; c++)
                out[((size_t)y * C + x) * 3 + c] =
                    (float)(img[((size_t)(y0 + y) * rw + sx) * 3 + c] * 2.0 / 255.0 - 1.0);
        }
}

START_TEST(one_crop_equals_clips_on_the_same_preprocessed_frames)
{
    const uint32_t w = 320, h = 240, T = 8, rw = 341, rh = 256;
    arnet_extractor *x = make_extractor(1);
    uint8_t *frames = make_frames(T, w, h);
    arnet_extractor_options o = opts(w, h, ARNET_RESIZE_SHORT256, 1, T);
    arnet_extractor_state *st = NULL;
    ck_assert_int_eq(arnet_extractor_state_create(x, &o, &st), ARNET_OK);
    float got[1024], want[1024];
    for (uint32_t i = 0; i < T; i++) {
        arnet_frame f = rgb(frames + (size_t)i * w * h * 3, w, h);
        int ready = -1;
        ck_assert_int_eq(arnet_extractor_push(st, &f, got, &ready), ARNET_OK);
        ck_assert_int_eq(ready, i == T - 1);
    }
    /* The same clip made by hand: short side 256 (341 x 256), centre crop
     * at ((341 - 224) / 2, (256 - 224) / 2) = (58, 16). */
    float *clip = __libc_malloc((size_t)T * C * C * 3 * sizeof(float));
    for (uint32_t i = 0; i < T; i++) {
        uint8_t *r = resized(frames + (size_t)i * w * h * 3, w, h, rw, rh);
        crop_clip(r, rw, 58, 16, 0, clip + (size_t)i * C * C * 3);
        __libc_free(r);
    }
    ck_assert_int_eq(arnet_extractor_clips(x, clip, 1, T, C, C, 1, want), ARNET_OK);
    ck_assert_msg(memcmp(got, want, sizeof got) == 0, "push and clips differ");
    float mx = 0;
    for (int i = 0; i < 1024; i++)
        mx = fabsf(want[i]) > mx ? fabsf(want[i]) : mx;
    ck_assert_msg(mx > 1e-3f && isfinite(mx), "degenerate features (max %g)", mx);
    __libc_free(clip);
    __libc_free(frames);
    arnet_extractor_state_free(st);
    arnet_extractor_free(x);
}
END_TEST

START_TEST(ten_crops_in_ur_dmu_oversample_order)
{
    const uint32_t w = 400, h = 300, T = 2, rw = 340, rh = 256;
    arnet_extractor *x = make_extractor(2);
    uint8_t *frames = make_frames(T, w, h);
    arnet_extractor_options o = opts(w, h, ARNET_RESIZE_340X256, 10, T);
    arnet_extractor_state *st = NULL;
    ck_assert_int_eq(arnet_extractor_state_create(x, &o, &st), ARNET_OK);
    float *got = __libc_malloc(10 * 1024 * sizeof(float));
    float *want = __libc_malloc(10 * 1024 * sizeof(float));
    int ready = 0;
    for (uint32_t i = 0; i < T; i++) {
        arnet_frame f = rgb(frames + (size_t)i * w * h * 3, w, h);
        ck_assert_int_eq(arnet_extractor_push(st, &f, got, &ready), ARNET_OK);
    }
    ck_assert_int_eq(ready, 1);
    /* UR-DMU's oversample_data on [T, 256, 340, 3]: [:224, :224],
     * [:224, -224:], [16:240, 58:282], [-224:, :224], [-224:, -224:], then
     * the same five of data[:, :, ::-1] (mirrored left-right). */
    const uint32_t y0[5] = {0, 0, 16, rh - C, rh - C}, x0[5] = {0, rw - C, 58, 0, rw - C};
    size_t clip_floats = (size_t)T * C * C * 3;
    float *clips = __libc_malloc(10 * clip_floats * sizeof(float));
    for (uint32_t i = 0; i < T; i++) {
        uint8_t *r = resized(frames + (size_t)i * w * h * 3, w, h, rw, rh);
        for (int c = 0; c < 10; c++)
            crop_clip(r, rw, x0[c % 5], y0[c % 5], c >= 5,
                      clips + c * clip_floats + (size_t)i * C * C * 3);
        __libc_free(r);
    }
    ck_assert_int_eq(arnet_extractor_clips(x, clips, 10, T, C, C, 1, want), ARNET_OK);
    for (int c = 0; c < 10; c++)
        ck_assert_msg(memcmp(got + c * 1024, want + c * 1024, 1024 * sizeof(float)) == 0,
                      "crop %d differs from UR-DMU's crop %d", c, c);
    /* The crops really differ, so the order above is tested. */
    for (int a = 0; a < 10; a++)
        for (int b = a + 1; b < 10; b++)
            ck_assert_msg(memcmp(want + a * 1024, want + b * 1024, 1024 * sizeof(float)) != 0,
                          "crops %d and %d have equal features", a, b);
    __libc_free(clips);
    __libc_free(got);
    __libc_free(want);
    __libc_free(frames);
    arnet_extractor_state_free(st);
    arnet_extractor_free(x);
}
END_TEST

START_TEST(last_clip_padded_or_dropped_and_reset_forgets)
{
    const uint32_t w = 150, h = 100, T = 4;
    arnet_extractor *x = make_extractor(3);
    uint8_t *frames = make_frames(6, w, h);
    arnet_extractor_options o = opts(w, h, ARNET_RESIZE_224, 1, T);
    o.last_clip = ARNET_LAST_CLIP_PAD;
    arnet_extractor_state *st = NULL;
    ck_assert_int_eq(arnet_extractor_state_create(x, &o, &st), ARNET_OK);
    float got[1024], want[1024];
    int ready = 0;
    /* Two frames, reset, three others, flush: the clip is the three, the
     * last repeated. */
    for (uint32_t i = 0; i < 5; i++) {
        if (i == 2)
            arnet_extractor_reset(st);
        arnet_frame f = rgb(frames + (size_t)i * w * h * 3, w, h);
        ck_assert_int_eq(arnet_extractor_push(st, &f, got, &ready), ARNET_OK);
        ck_assert_int_eq(ready, 0);
    }
    ck_assert_int_eq(arnet_extractor_flush(st, got, &ready), ARNET_OK);
    ck_assert_int_eq(ready, 1);
    float *clip = __libc_malloc((size_t)T * C * C * 3 * sizeof(float));
    for (uint32_t t = 0; t < T; t++) {
        uint32_t i = 2 + (t < 3 ? t : 2);
        uint8_t *r = resized(frames + (size_t)i * w * h * 3, w, h, C, C);
        crop_clip(r, C, 0, 0, 0, clip + (size_t)t * C * C * 3);
        __libc_free(r);
    }
    ck_assert_int_eq(arnet_extractor_clips(x, clip, 1, T, C, C, 1, want), ARNET_OK);
    ck_assert(memcmp(got, want, sizeof got) == 0);
    /* Flushed: empty now; a second flush gives nothing. */
    ck_assert_int_eq(arnet_extractor_flush(st, got, &ready), ARNET_OK);
    ck_assert_int_eq(ready, 0);
    arnet_extractor_state_free(st);
    /* DROP: the partial clip gives nothing and features are not touched. */
    o.last_clip = ARNET_LAST_CLIP_DROP;
    ck_assert_int_eq(arnet_extractor_state_create(x, &o, &st), ARNET_OK);
    arnet_frame f = rgb(frames, w, h);
    ck_assert_int_eq(arnet_extractor_push(st, &f, got, &ready), ARNET_OK);
    got[0] = 12345.0f;
    ck_assert_int_eq(arnet_extractor_flush(st, got, &ready), ARNET_OK);
    ck_assert_int_eq(ready, 0);
    ck_assert(got[0] == 12345.0f);
    arnet_extractor_state_free(st);
    __libc_free(clip);
    __libc_free(frames);
    arnet_extractor_free(x);
}
END_TEST

struct canceller {
    arnet_extractor_state *st;
    unsigned delay_us;
};

static void *cancel_later(void *arg)
{
    struct canceller *c = arg;
    usleep(c->delay_us);
    arnet_extractor_cancel(c->st);
    return NULL;
}

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

START_TEST(cancel_stops_a_running_clip_and_drops_it)
{
    const uint32_t w = 224, h = 224, T = 16;
    arnet_extractor *x = make_extractor(4);
    uint8_t *frames = make_frames(1, w, h);
    arnet_extractor_options o = opts(w, h, ARNET_RESIZE_NONE, 10, T);
    arnet_extractor_state *st = NULL;
    ck_assert_int_eq(arnet_extractor_state_create(x, &o, &st), ARNET_OK);
    float *feat = __libc_malloc(10 * 1024 * sizeof(float));
    feat[0] = 777.0f;
    arnet_frame f = rgb(frames, w, h);
    int ready = 1;
    /* A request made between calls stops the next one. */
    ck_assert_int_eq(arnet_extractor_push(st, &f, feat, &ready), ARNET_OK);
    arnet_extractor_cancel(st);
    ck_assert_int_eq(arnet_extractor_push(st, &f, feat, &ready), ARNET_E_CANCELLED);
    ck_assert_int_eq(ready, 0);
    ck_assert_ptr_nonnull(strstr(arnet_last_error(), "cancelled"));
    /* ... and is consumed; the partial clip is gone: T - 1 more frames do
     * not complete a clip. */
    for (uint32_t i = 0; i + 1 < T; i++) {
        ck_assert_int_eq(arnet_extractor_push(st, &f, feat, &ready), ARNET_OK);
        ck_assert_int_eq(ready, 0);
    }
    /* The frame completing the clip starts ten forward passes (seconds);
     * a cancel 50 ms in stops them within a layer. */
    struct canceller c = {st, 50000};
    pthread_t th;
    ck_assert_int_eq(pthread_create(&th, NULL, cancel_later, &c), 0);
    double t0 = now();
    int rc = arnet_extractor_push(st, &f, feat, &ready);
    double took = now() - t0;
    pthread_join(th, NULL);
    ck_assert_int_eq(rc, ARNET_E_CANCELLED);
    ck_assert_int_eq(ready, 0);
    ck_assert(feat[0] == 777.0f);
    ck_assert_msg(took < 1.5, "cancel took %.2f s to act", took);
    /* Consumed, state empty: the next frame starts a new clip. */
    ck_assert_int_eq(arnet_extractor_push(st, &f, feat, &ready), ARNET_OK);
    ck_assert_int_eq(ready, 0);
    arnet_extractor_state_free(st);
    __libc_free(feat);
    __libc_free(frames);
    arnet_extractor_free(x);
}
END_TEST

START_TEST(memory_is_stated_exactly)
{
    arnet_extractor *x = make_extractor(5);
    const uint32_t w = 640, h = 360, T = 16;
    arnet_extractor_options o1 = opts(w, h, ARNET_RESIZE_340X256, 1, T), o10 = o1;
    o10.crops = 10;
    arnet_extractor_state *s1 = NULL, *s10 = NULL;
    ck_assert_int_eq(arnet_extractor_state_create(x, &o1, &s1), ARNET_OK);
    ck_assert_int_eq(arnet_extractor_state_create(x, &o10, &s10), ARNET_OK);
    /* The same network scratch and clip buffer; they differ in the frames
     * kept (centre crop vs whole 340 x 256 frame), the resize window and the
     * features: exactly that difference. */
    arnet__resizer *r1 = NULL, *r10 = NULL;
    ck_assert_int_eq(arnet__resizer_create(w, h, 340, 256, 0, 58, 16, C, C, &r1), ARNET_OK);
    ck_assert_int_eq(arnet__resizer_create(w, h, 340, 256, 0, 0, 0, 340, 256, &r10), ARNET_OK);
    size_t m1 = arnet_extractor_state_memory(s1), m10 = arnet_extractor_state_memory(s10);
    size_t diff = (size_t)T * (340 * 256 * 3 - C * C * 3) + 9 * 1024 * sizeof(float) +
                  arnet__resizer_memory(r10) - arnet__resizer_memory(r1);
    ck_assert_uint_eq(m10 - m1, diff);
    arnet__i3d_scratch *sc = NULL;
    ck_assert_int_eq(arnet__i3d_scratch_create(x, T, C, C, 1, &sc), ARNET_OK);
    size_t parts = arnet__i3d_scratch_memory(sc) + (size_t)T * C * C * 3 * (sizeof(float) + 1) +
                   1024 * sizeof(float) + arnet__resizer_memory(r1);
    ck_assert_uint_ge(m1, parts);
    ck_assert_uint_le(m1, parts + 4096); /* + the handle itself */
    ck_assert_uint_eq(arnet_extractor_state_memory(NULL), 0);
    arnet__i3d_scratch_free(sc);
    arnet__resizer_free(r1);
    arnet__resizer_free(r10);
    arnet_extractor_state_free(s1);
    arnet_extractor_state_free(s10);
    arnet_extractor_free(x);
}
END_TEST

static void count_event(void *user, const arnet_event *ev)
{
    (void)ev;
    (*(int *)user)++;
}

/* NV12 frames of a small camera, each clip's feature straight into a
 * stream: the raw scores are the model's scores of those features, an
 * alarm starts, and neither pushing frames nor scoring allocates. */
START_TEST(frames_in_alarms_out_without_allocating)
{
    const uint32_t w = 97, h = 61, T = 4, cw = (w + 1) / 2, ch = (h + 1) / 2, n_clips = 2;
    arnet_extractor *x = make_extractor(6);
    arnet_model_config cfg;
    arnet_model_config_init(&cfg);
    cfg.feature_dim = 1024;
    cfg.hidden_dim = 32;
    cfg.seed = 6;
    arnet_model *m = NULL;
    ck_assert_int_eq(arnet_model_create(&cfg, &m), ARNET_OK);
    arnet_scorer *sc = NULL;
    ck_assert_int_eq(arnet_scorer_create(m, NULL, &sc), ARNET_OK);
    int events = 0;
    arnet_stream_options so;
    arnet_stream_options_init(&so);
    so.smoothing = ARNET_SMOOTH_NONE;
    so.on_threshold = 0.0f; /* every score starts an alarm: an event fires */
    so.off_threshold = 0.0f;
    so.min_on_clips = 1;
    so.on_event = count_event;
    so.user = &events;
    arnet_stream *stream = NULL;
    ck_assert_int_eq(arnet_stream_create(&so, &stream), ARNET_OK);
    arnet_extractor_options o = opts(w, h, ARNET_RESIZE_224, 1, T);
    o.last_clip = ARNET_LAST_CLIP_PAD;
    arnet_extractor_state *st = NULL;
    ck_assert_int_eq(arnet_extractor_state_create(x, &o, &st), ARNET_OK);

    size_t n_frames = n_clips * T + 1; /* the last one flushed, padded */
    size_t ys = w, uvs = 2 * cw, fbytes = ys * h + uvs * ch;
    uint8_t *yuv = __libc_malloc(n_frames * fbytes);
    for (size_t i = 0; i < n_frames * fbytes; i++)
        yuv[i] = rnd();
    float *feat = __libc_malloc((n_clips + 1) * 1024 * sizeof(float));
    float raw[3];
    size_t got = 0;
    int rc = 0;
    n_allocs = 0;
    counting = 1;
    for (size_t i = 0; i < n_frames; i++) {
        arnet_frame f;
        arnet_frame_init(&f);
        f.format = ARNET_PIXEL_NV12;
        f.width = w;
        f.height = h;
        f.planes[0] = yuv + i * fbytes;
        f.planes[1] = yuv + i * fbytes + ys * h;
        f.strides[0] = ys;
        f.strides[1] = uvs;
        int ready = 0;
        rc |= arnet_extractor_push(st, &f, feat + got * 1024, &ready);
        if (ready) {
            arnet_stream_result res;
            arnet_stream_result_init(&res);
            rc |= arnet_stream_push(stream, sc, feat + got * 1024, &res);
            raw[got++] = res.raw;
        }
    }
    int ready = 0;
    rc |= arnet_extractor_flush(st, feat + got * 1024, &ready);
    if (ready) {
        arnet_stream_result res;
        arnet_stream_result_init(&res);
        rc |= arnet_stream_push(stream, sc, feat + got * 1024, &res);
        raw[got++] = res.raw;
    }
    arnet_extractor_reset(st);
    counting = 0;
    ck_assert_int_eq(rc, 0);
    ck_assert_uint_eq(got, n_clips + 1);
    ck_assert_int_ge(events, 1);
    ck_assert_int_lt(n_allocs, MAX_CALLERS);
    long blis = 0, ours = alloc_count_outside_blis("frames to alarms", &blis);
    ck_assert_msg(ours == 0, "%ld allocations outside BLIS from frames to alarms", ours);
    float scores[3];
    ck_assert_int_eq(arnet_model_score(m, feat, got, scores), ARNET_OK);
    for (size_t i = 0; i < got; i++)
        ck_assert_float_eq(raw[i], scores[i]);
    arnet_extractor_state_free(st);
    arnet_stream_free(stream);
    arnet_scorer_free(sc);
    arnet_model_free(m);
    __libc_free(feat);
    __libc_free(yuv);
    arnet_extractor_free(x);
}
END_TEST

START_TEST(bad_options_and_frames_are_refused)
{
    arnet_extractor *x = make_extractor(7);
    arnet_extractor_state *st = (arnet_extractor_state *)0x1;
    arnet_extractor_options o = opts(320, 240, ARNET_RESIZE_SHORT256, 1, 2);
    ck_assert_int_eq(arnet_extractor_state_create(NULL, &o, &st), ARNET_E_INVALID);
    ck_assert_int_eq(arnet_extractor_state_create(x, NULL, &st), ARNET_E_INVALID);
    ck_assert_ptr_nonnull(strstr(arnet_last_error(), "frame_width"));
    ck_assert_int_eq(arnet_extractor_state_create(x, &o, NULL), ARNET_E_INVALID);
    const char *field[] = {"resize 4",         "crops 5",
                           "last_clip 2",      "threads -1",
                           "clip_frames 0",    "frame size 0x240",
                           "frame size 320x20000", "filter 9",
                           "struct_size 8"};
    for (int i = 0; i < 9; i++) {
        arnet_extractor_options b = o;
        switch (i) {
        case 0: b.resize = 4; break;
        case 1: b.crops = 5; break;
        case 2: b.last_clip = 2; break;
        case 3: b.threads = -1; break;
        case 4: b.clip_frames = 0; break;
        case 5: b.frame_width = 0; break;
        case 6: b.frame_height = 20000; break;
        case 7: b.filter = 9; break;
        default: b.struct_size = 8; break;
        }
        ck_assert_int_eq(arnet_extractor_state_create(x, &b, &st), ARNET_E_INVALID);
        ck_assert_msg(strstr(arnet_last_error(), field[i]) != NULL, "%s: got '%s'", field[i],
                      arnet_last_error());
    }
    ck_assert_ptr_eq(st, (arnet_extractor_state *)0x1);
    arnet_extractor_options n = opts(223, 400, ARNET_RESIZE_NONE, 1, 2);
    ck_assert_int_eq(arnet_extractor_state_create(x, &n, &st), ARNET_E_SHAPE);
    ck_assert_ptr_nonnull(strstr(arnet_last_error(), "223x400"));

    /* Frames: errors change nothing, so one good frame, bad ones, one good
     * frame complete the two-frame clip. */
    ck_assert_int_eq(arnet_extractor_state_create(x, &o, &st), ARNET_OK);
    uint8_t *img = make_frames(1, 320, 240);
    float feat[1024];
    int ready = 7;
    arnet_frame f = rgb(img, 320, 240);
    ck_assert_int_eq(arnet_extractor_push(st, &f, feat, &ready), ARNET_OK);
    ck_assert_int_eq(ready, 0);
    arnet_frame g = rgb(img, 160, 240);
    g.strides[0] = 320 * 3;
    ck_assert_int_eq(arnet_extractor_push(st, &g, feat, &ready), ARNET_E_SHAPE);
    ck_assert_ptr_nonnull(strstr(arnet_last_error(), "160x240"));
    ck_assert_ptr_nonnull(strstr(arnet_last_error(), "320x240"));
    g = f;
    g.format = 42;
    ck_assert_int_eq(arnet_extractor_push(st, &g, feat, &ready), ARNET_E_INVALID);
    ck_assert_ptr_nonnull(strstr(arnet_last_error(), "format 42"));
    g = f;
    g.planes[0] = NULL;
    ck_assert_int_eq(arnet_extractor_push(st, &g, feat, &ready), ARNET_E_INVALID);
    ck_assert_ptr_nonnull(strstr(arnet_last_error(), "planes[0] is NULL"));
    g = f;
    g.strides[0] = 100;
    ck_assert_int_eq(arnet_extractor_push(st, &g, feat, &ready), ARNET_E_INVALID);
    ck_assert_ptr_nonnull(strstr(arnet_last_error(), "strides[0] 100"));
    ck_assert_int_eq(arnet_extractor_push(st, NULL, feat, &ready), ARNET_E_INVALID);
    ck_assert_int_eq(arnet_extractor_push(st, &f, NULL, &ready), ARNET_E_INVALID);
    ck_assert_int_eq(arnet_extractor_push(st, &f, feat, NULL), ARNET_E_INVALID);
    ck_assert_int_eq(arnet_extractor_push(NULL, &f, feat, &ready), ARNET_E_INVALID);
    ck_assert_int_eq(arnet_extractor_flush(NULL, feat, &ready), ARNET_E_INVALID);
    ck_assert_int_eq(arnet_extractor_push(st, &f, feat, &ready), ARNET_OK);
    ck_assert_int_eq(ready, 1);
    arnet_extractor_reset(NULL);
    arnet_extractor_cancel(NULL);
    arnet_extractor_state_free(NULL);
    arnet_extractor_options_init(NULL);
    arnet_extractor_state_free(st);
    __libc_free(img);
    arnet_extractor_free(x);
}
END_TEST

static int have_torch_and_pil(void)
{
    return system("'" PYTHON "' -c 'import numpy, torch, PIL.Image' >/dev/null 2>&1") == 0;
}

static void run(const char *cmd)
{
    int rc = system(cmd);
    ck_assert_msg(rc == 0, "'%s' failed (%d)", cmd, rc);
}

/* The whole pipeline against independent code: UR-DMU's preprocessing in
 * Pillow and NumPy as their extractor writes it (pil_resize.py urdmu) and
 * the PyTorch I3D (i3d_torch.py) with random weights and BatchNorm, read
 * by arnet_extractor_load_torch from the same torch.save file.  Frames of
 * odd size, resized to 340 x 256 with Lanczos (their Image.ANTIALIAS), ten
 * crops of 4-frame clips (to keep 20 forward passes short): every crop's
 * feature within 1e-3 of the largest. */
START_TEST(frames_to_features_equal_ur_dmu_in_pytorch)
{
    const uint32_t w = 333, h = 251, T = 4;
    char dir[] = "/tmp/arnet-urdmu-XXXXXX";
    ck_assert_ptr_nonnull(mkdtemp(dir));
    char path[256], cmd[1024];
    uint8_t *frames = make_frames(T, w, h);
    snprintf(path, sizeof path, "%s/frames.rgb", dir);
    FILE *fp = fopen(path, "wb");
    ck_assert_ptr_nonnull(fp);
    ck_assert_uint_eq(fwrite(frames, 1, (size_t)T * w * h * 3, fp), (size_t)T * w * h * 3);
    ck_assert_int_eq(fclose(fp), 0);
    snprintf(cmd, sizeof cmd, "'%s' '%s/tests/reference/i3d_torch.py' weights --out '%s/w.pt' --seed 5 >/dev/null",
             PYTHON, ARNET_SOURCE_DIR, dir);
    run(cmd);
    snprintf(cmd, sizeof cmd,
             "'%s' '%s/tests/reference/pil_resize.py' urdmu '%s/frames.rgb' %u %u %u '%s/crops.npy'",
             PYTHON, ARNET_SOURCE_DIR, dir, T, w, h, dir);
    run(cmd);
    snprintf(cmd, sizeof cmd,
             "'%s' '%s/tests/reference/i3d_torch.py' features --weights '%s/w.pt' "
             "--frames '%s/crops.npy' --out '%s/ref.npy' --clip-frames %u --threads 1",
             PYTHON, ARNET_SOURCE_DIR, dir, dir, dir, T);
    run(cmd);
    snprintf(path, sizeof path, "%s/ref.npy", dir);
    float *ref = NULL;
    size_t rows = 0;
    uint32_t cols = 0;
    ck_assert_int_eq(arnet_npy_read(path, NULL, &ref, &rows, &cols), ARNET_OK);
    ck_assert(rows == 10 && cols == 1024);

    arnet_extractor *x = NULL;
    snprintf(path, sizeof path, "%s/w.pt", dir);
    ck_assert_int_eq(arnet_extractor_load_torch(path, &x), ARNET_OK);
    arnet_extractor_options o = opts(w, h, ARNET_RESIZE_340X256, 10, T);
    o.filter = ARNET_FILTER_LANCZOS;
    arnet_extractor_state *st = NULL;
    ck_assert_int_eq(arnet_extractor_state_create(x, &o, &st), ARNET_OK);
    float *got = __libc_malloc(10 * 1024 * sizeof(float));
    int ready = 0;
    for (uint32_t i = 0; i < T; i++) {
        arnet_frame f = rgb(frames + (size_t)i * w * h * 3, w, h);
        ck_assert_int_eq(arnet_extractor_push(st, &f, got, &ready), ARNET_OK);
    }
    ck_assert_int_eq(ready, 1);
    float big = 0, worst = 0;
    for (size_t i = 0; i < 10 * 1024; i++)
        big = fabsf(ref[i]) > big ? fabsf(ref[i]) : big;
    for (int c = 0; c < 10; c++)
        for (int j = 0; j < 1024; j++) {
            float d = fabsf(got[c * 1024 + j] - ref[c * 1024 + j]);
            worst = d > worst ? d : worst;
            ck_assert_msg(d <= 1e-3f * big, "crop %d feature %d: %g, PyTorch %g (largest %g)",
                          c, j, got[c * 1024 + j], ref[c * 1024 + j], big);
        }
    printf("# UR-DMU pipeline: largest feature %g, largest difference %g\n", big, worst);
    ck_assert(big > 1e-3f);
    arnet_free(ref);
    __libc_free(got);
    __libc_free(frames);
    arnet_extractor_state_free(st);
    arnet_extractor_free(x);
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    run(cmd);
}
END_TEST

START_TEST(defaults_are_documented_ones)
{
    arnet_extractor_options o;
    memset(&o, 0x5a, sizeof o);
    arnet_extractor_options_init(&o);
    ck_assert_uint_eq(o.struct_size, sizeof o);
    ck_assert_int_eq(o.resize, ARNET_RESIZE_SHORT256);
    ck_assert_uint_eq(o.crops, 1);
    ck_assert_int_eq(o.last_clip, ARNET_LAST_CLIP_DROP);
    ck_assert_int_eq(o.threads, 1);
    ck_assert_uint_eq(o.clip_frames, 16);
    ck_assert_uint_eq(o.frame_width, 0);
    ck_assert_uint_eq(o.frame_height, 0);
    ck_assert_int_eq(o.filter, ARNET_FILTER_BILINEAR);
}
END_TEST

Suite *make_suite(void)
{
    Suite *s = suite_create("extractor");
    TCase *tc = tcase_create("extractor");
    tcase_set_timeout(tc, 240); /* generous: the machine is shared */
    tcase_add_test(tc, defaults_are_documented_ones);
    tcase_add_test(tc, bad_options_and_frames_are_refused);
    tcase_add_test(tc, memory_is_stated_exactly);
    tcase_add_test(tc, one_crop_equals_clips_on_the_same_preprocessed_frames);
    tcase_add_test(tc, ten_crops_in_ur_dmu_oversample_order);
    tcase_add_test(tc, last_clip_padded_or_dropped_and_reset_forgets);
    tcase_add_test(tc, cancel_stops_a_running_clip_and_drops_it);
#if COUNT_ALLOCATIONS
    tcase_add_test(tc, frames_in_alarms_out_without_allocating);
#endif
    if (have_torch_and_pil())
        tcase_add_test(tc, frames_to_features_equal_ur_dmu_in_pytorch);
    else /* Not run, so not counted: say so in the TAP stream. */
        printf("# SKIP frames_to_features_equal_ur_dmu_in_pytorch: %s cannot import numpy, "
               "torch and PIL\n", PYTHON);
    fflush(stdout); /* before Check forks, or every child repeats it */
    suite_add_tcase(s, tc);
    return s;
}
