/* test_two_stream.c -- the two-stream state: clips counted as the I3D
 * authors' rule says (N frames, N - 1 flows, floor((N - 1) / T) clips, each
 * ready on the frame after its RGB clip), each feature equal to the RGB
 * network on the clip's frames and the flow network on the clip's flows
 * computed here with arnet_flow_compute (every value mapping and channel
 * recipe), the flow at a size of its own, no allocation after creation,
 * cancel, reset, memory, and the arguments it refuses (streams mixed up).
 *
 * Random networks as test_extractor.c's; short clips, a cheap TV-L1 (few
 * iterations) and 224 x 224 frames with no resize keep it to seconds. */
#include <check.h>
#include <math.h>
#include <pthread.h>
#include <time.h>
#include <unistd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc_count.h"
#include "i3d.h"
#include "internal.h"
#include "preprocess.h"

#define C 224u

static arnet_extractor *make_extractor(uint64_t seed, int stream)
{
    arnet_extractor *x = NULL;
    ck_assert_int_eq(arnet__extractor_alloc(&x), ARNET_OK);
    arnet__extractor_set_stream(x, stream);
    x->source = arnet__strdup(stream == ARNET_STREAM_FLOW ? "flow_test.pt" : "rgb_test.pt");
    arnet__rng r;
    arnet__rng_seed(&r, seed);
    for (size_t i = 0; i < arnet__i3d_n_convs; i++) {
        const arnet__i3d_conv_desc *d = arnet__i3d_desc(x, i);
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

/* n frames of w x h: a smooth pattern moving 1.5 px right and 0.5 px down
 * per frame (something for the flow to find), with a little noise. */
static uint8_t *make_frames(size_t n, uint32_t w, uint32_t h)
{
    uint8_t *f = __libc_malloc(n * w * h * 3);
    uint64_t s = 99;
    for (size_t i = 0; i < n; i++)
        for (uint32_t y = 0; y < h; y++)
            for (uint32_t x = 0; x < w; x++) {
                double u = x - 1.5 * i, v = y - 0.5 * i;
                double base = 128 + 60 * sin(u * 0.21) * cos(v * 0.17) + 30 * sin((u + v) * 0.05);
                for (int c = 0; c < 3; c++) {
                    s = s * 6364136223846793005ull + 1442695040888963407ull;
                    double val = base + (c - 1) * 10 + (double)(s >> 61);
                    f[((i * h + y) * w + x) * 3 + c] =
                        (uint8_t)(val < 0 ? 0 : val > 255 ? 255 : val);
                }
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

/* A quick TV-L1: the state's arithmetic is the same whatever the counts. */
static arnet_flow_options quick_flow(void)
{
    arnet_flow_options fo;
    arnet_flow_options_init(&fo);
    fo.scales = 2;
    fo.warps = 1;
    fo.inner_iterations = 5;
    fo.outer_iterations = 1;
    return fo;
}

static arnet_extractor_options opts(uint32_t w, uint32_t h, uint32_t T)
{
    arnet_extractor_options o;
    arnet_extractor_options_init(&o);
    o.frame_width = w;
    o.frame_height = h;
    o.resize = ARNET_RESIZE_NONE;
    o.clip_frames = T;
    return o;
}

static float map_ref(float v, int mode, float b)
{
    v = v < -b ? -b : v > b ? b : v;
    if (mode == ARNET_FLOW_VALUES_FLOAT)
        return v / b;
    float q = nearbyintf(255.0f * (v + b) / (2.0f * b));
    return mode == ARNET_FLOW_VALUES_Q8 ? q / 255.0f * 2.0f - 1.0f : q;
}

/* Push every frame; the features of each ready clip into out (n_clips x
 * 2048), the frame index each was ready on into when. */
static size_t push_all(arnet_two_stream_state *st, const uint8_t *frames, size_t n, uint32_t w,
                       uint32_t h, float *out, size_t *when)
{
    size_t got = 0;
    for (size_t i = 0; i < n; i++) {
        arnet_frame f = rgb(frames + i * w * h * 3, w, h);
        int ready = -1;
        ck_assert_msg(arnet_two_stream_push(st, &f, out + got * 2048, &ready) == ARNET_OK, "%s",
                      arnet_last_error());
        ck_assert_int_ge(ready, 0);
        if (ready)
            when[got++] = i;
    }
    return got;
}

/* The expected features of clip t by hand: the RGB network on frames
 * T t .. T t + T - 1 scaled as v * 2 / 255 - 1, the flow network on the
 * flows between frames T t .. T t + T, computed here, mapped. */
static void expected(const arnet_extractor *xr, const arnet_extractor *xf, const uint8_t *frames,
                     uint32_t T, size_t t, const arnet_extractor_options *o,
                     const arnet_flow_options *fo, float *want)
{
    size_t px = (size_t)C * C;
    float *clip = __libc_malloc((size_t)T * px * 3 * sizeof(float));
    for (uint32_t k = 0; k < T; k++)
        for (size_t p = 0; p < px * 3; p++)
            clip[k * px * 3 + p] = (float)(frames[(t * T + k) * px * 3 + p] * 2.0 / 255.0 - 1.0);
    ck_assert_int_eq(arnet_extractor_clips(xr, clip, 1, T, C, C, 1, want), ARNET_OK);
    arnet_flow *fl = NULL;
    ck_assert_int_eq(arnet_flow_create(C, C, fo, &fl), ARNET_OK);
    uint8_t *g0 = __libc_malloc(px), *g1 = __libc_malloc(px);
    float *field = __libc_malloc(px * 2 * sizeof(float));
    for (uint32_t k = 0; k < T; k++) {
        const uint8_t *a = frames + (t * T + k) * px * 3, *b = a + px * 3;
        ck_assert_int_eq(arnet_rgb_to_grey(a, C * 3, C, C, g0), ARNET_OK);
        ck_assert_int_eq(arnet_rgb_to_grey(b, C * 3, C, C, g1), ARNET_OK);
        ck_assert_int_eq(arnet_flow_compute(fl, g0, C, g1, C, field), ARNET_OK);
        for (size_t p = 0; p < px; p++) {
            float fx = field[2 * p], fy = field[2 * p + 1];
            clip[(k * px + p) * 2] = map_ref(fx, o->flow_values, o->flow_bound);
            clip[(k * px + p) * 2 + 1] = map_ref(
                o->flow_channels == ARNET_FLOW_CHANNELS_XX ? fx : fy, o->flow_values,
                o->flow_bound);
        }
    }
    ck_assert_int_eq(arnet_extractor_clips(xf, clip, 1, T, C, C, 1, want + 1024), ARNET_OK);
    arnet_flow_free(fl);
    __libc_free(g0);
    __libc_free(g1);
    __libc_free(field);
    __libc_free(clip);
}

START_TEST(clips_counted_and_equal_to_the_parts)
{
    const uint32_t T = 2;
    const size_t N = 7; /* 6 flows: 3 clips, ready on frames 2, 4 and 6 */
    arnet_extractor *xr = make_extractor(1, ARNET_STREAM_RGB);
    arnet_extractor *xf = make_extractor(2, ARNET_STREAM_FLOW);
    uint8_t *frames = make_frames(N, C, C);
    arnet_flow_options fo = quick_flow();
    /* The default recipe, then 8-bit values with x in both channels, then
     * the raw 8-bit values and a bound of 2 pixels (which the motion of 1.5
     * px exceeds in places). */
    for (int recipe = 0; recipe < 3; recipe++) {
        arnet_extractor_options o = opts(C, C, T);
        if (recipe == 1) {
            o.flow_values = ARNET_FLOW_VALUES_Q8;
            o.flow_channels = ARNET_FLOW_CHANNELS_XX;
        } else if (recipe == 2) {
            o.flow_values = ARNET_FLOW_VALUES_Q8_RAW;
            o.flow_bound = 2.0f;
        }
        arnet_two_stream_state *st = NULL;
        ck_assert_int_eq(arnet_two_stream_state_create(xr, xf, &o, &fo, &st), ARNET_OK);
        ck_assert_uint_eq(arnet_two_stream_feature_dim(st), 2048);
        float got[3 * 2048], want[2048];
        size_t when[3];
        size_t n = push_all(st, frames, recipe == 0 ? N : 3, C, C, got, when);
        ck_assert_uint_eq(n, recipe == 0 ? 3 : 1);
        for (size_t t = 0; t < n; t++) {
            ck_assert_uint_eq(when[t], T * t + T);
            expected(xr, xf, frames, T, t, &o, &fo, want);
            ck_assert_msg(memcmp(got + t * 2048, want, sizeof want) == 0,
                          "recipe %d clip %zu: push and the parts differ", recipe, t);
        }
        float mf = 0;
        for (int i = 1024; i < 2048; i++)
            mf = fabsf(want[i]) > mf ? fabsf(want[i]) : mf;
        ck_assert_msg(mf > 1e-3f && isfinite(mf), "degenerate flow features (max %g)", mf);
        /* reset: a new video; the next T frames make no clip, the one after does */
        arnet_two_stream_reset(st);
        n = push_all(st, frames, T + 1, C, C, got, when);
        ck_assert_uint_eq(n, 1);
        ck_assert_uint_eq(when[0], T);
        arnet_two_stream_state_free(st);
    }
    __libc_free(frames);
    arnet_extractor_free(xr);
    arnet_extractor_free(xf);
}
END_TEST

/* Ten crops: the flow of the whole resized frame, cut like the frames
 * (UR-DMU's order; a mirrored crop mirrors the flow image, x keeping its
 * sign), each crop's [RGB, flow] equal to the networks on crops made here. */
START_TEST(ten_crops_cut_from_the_flow)
{
    const uint32_t w = 240, h = 232, T = 1;
    arnet_extractor *xr = make_extractor(15, ARNET_STREAM_RGB);
    arnet_extractor *xf = make_extractor(16, ARNET_STREAM_FLOW);
    uint8_t *frames = make_frames(2, w, h);
    arnet_flow_options fo = quick_flow();
    arnet_extractor_options o = opts(w, h, T);
    o.crops = 10;
    arnet_two_stream_state *st = NULL;
    ck_assert_int_eq(arnet_two_stream_state_create(xr, xf, &o, &fo, &st), ARNET_OK);
    float *got = __libc_malloc(10 * 2048 * sizeof(float));
    size_t when[1];
    ck_assert_uint_eq(push_all(st, frames, 2, w, h, got, when), 1);
    /* the flow of the whole frames, mapped */
    arnet_flow *fl = NULL;
    ck_assert_int_eq(arnet_flow_create(w, h, &fo, &fl), ARNET_OK);
    size_t px = (size_t)w * h;
    uint8_t *g0 = __libc_malloc(px), *g1 = __libc_malloc(px);
    float *field = __libc_malloc(px * 2 * sizeof(float));
    ck_assert_int_eq(arnet_rgb_to_grey(frames, (size_t)w * 3, w, h, g0), ARNET_OK);
    ck_assert_int_eq(arnet_rgb_to_grey(frames + px * 3, (size_t)w * 3, w, h, g1), ARNET_OK);
    ck_assert_int_eq(arnet_flow_compute(fl, g0, w, g1, w, field), ARNET_OK);
    for (size_t p = 0; p < 2 * px; p++)
        field[p] = map_ref(field[p], ARNET_FLOW_VALUES_FLOAT, 20.0f);
    uint32_t ox[5], oy[5];
    arnet__crop_origins(w, h, C, ox, oy);
    float *rclip = __libc_malloc((size_t)C * C * 3 * sizeof(float));
    float *fclip = __libc_malloc((size_t)C * C * 2 * sizeof(float));
    float want[2048];
    for (uint32_t c = 0; c < 10; c++) {
        uint32_t k = c % 5;
        int flip = c >= 5;
        for (uint32_t y = 0; y < C; y++)
            for (uint32_t x = 0; x < C; x++) {
                uint32_t sx = flip ? w - 1 - (ox[k] + x) : ox[k] + x;
                size_t sp = (size_t)(oy[k] + y) * w + sx, dp = (size_t)y * C + x;
                for (int ch = 0; ch < 3; ch++)
                    rclip[dp * 3 + ch] = (float)(frames[sp * 3 + ch] * 2.0 / 255.0 - 1.0);
                fclip[dp * 2] = field[sp * 2];
                fclip[dp * 2 + 1] = field[sp * 2 + 1];
            }
        ck_assert_int_eq(arnet_extractor_clips(xr, rclip, 1, T, C, C, 1, want), ARNET_OK);
        ck_assert_int_eq(arnet_extractor_clips(xf, fclip, 1, T, C, C, 1, want + 1024), ARNET_OK);
        ck_assert_msg(memcmp(got + (size_t)c * 2048, want, sizeof want) == 0,
                      "crop %u: push and the parts differ", c);
    }
    /* the crops differ from each other (a wrong origin would show) */
    ck_assert(memcmp(got + 1024, got + 2048 + 1024, 1024 * sizeof(float)) != 0);
    ck_assert(memcmp(got + 1024, got + 5 * 2048 + 1024, 1024 * sizeof(float)) != 0);
    arnet_flow_free(fl);
    arnet_two_stream_state_free(st);
    __libc_free(g0);
    __libc_free(g1);
    __libc_free(field);
    __libc_free(rclip);
    __libc_free(fclip);
    __libc_free(got);
    __libc_free(frames);
    arnet_extractor_free(xr);
    arnet_extractor_free(xf);
}
END_TEST

/* Flow at a size of its own (the AR-Net authors' 320 x 240, here smaller),
 * resized to 224 x 224: a clip per T flows, finite, and another flow size
 * gives other flow features but the same RGB ones. */
START_TEST(flow_at_its_own_size)
{
    const uint32_t w = 160, h = 120, T = 2;
    arnet_extractor *xr = make_extractor(3, ARNET_STREAM_RGB);
    arnet_extractor *xf = make_extractor(4, ARNET_STREAM_FLOW);
    uint8_t *frames = make_frames(T + 1, w, h);
    arnet_flow_options fo = quick_flow();
    float got[2][2048];
    for (int k = 0; k < 2; k++) {
        arnet_extractor_options o = opts(w, h, T);
        o.resize = ARNET_RESIZE_224;
        o.flow_at = ARNET_FLOW_AT_SIZE;
        o.flow_width = k ? 64 : 80;
        o.flow_height = k ? 48 : 60;
        arnet_two_stream_state *st = NULL;
        ck_assert_int_eq(arnet_two_stream_state_create(xr, xf, &o, &fo, &st), ARNET_OK);
        size_t when[1];
        ck_assert_uint_eq(push_all(st, frames, T + 1, w, h, got[k], when), 1);
        for (int i = 0; i < 2048; i++)
            ck_assert(isfinite(got[k][i]));
        arnet_two_stream_state_free(st);
    }
    ck_assert(memcmp(got[0], got[1], 1024 * sizeof(float)) == 0);
    ck_assert(memcmp(got[0] + 1024, got[1] + 1024, 1024 * sizeof(float)) != 0);
    __libc_free(frames);
    arnet_extractor_free(xr);
    arnet_extractor_free(xf);
}
END_TEST

START_TEST(frames_to_features_without_allocating)
{
    const uint32_t w = 240, h = 230, T = 2;
    arnet_extractor *xr = make_extractor(5, ARNET_STREAM_RGB);
    arnet_extractor *xf = make_extractor(6, ARNET_STREAM_FLOW);
    uint8_t *frames = make_frames(2 * T + 1, w, h);
    arnet_flow_options fo = quick_flow();
    arnet_extractor_options o = opts(w, h, T);
    arnet_two_stream_state *st = NULL;
    ck_assert_int_eq(arnet_two_stream_state_create(xr, xf, &o, &fo, &st), ARNET_OK);
    float feat[2 * 2048];
    /* The library's first BLIS call in a process sets BLIS up (setenv):
     * once per process, not per state; made here before counting. */
    float one[8 * 8 * 3] = { 0 };
    ck_assert_int_eq(arnet_extractor_clips(xr, one, 1, 1, 8, 8, 1, feat), ARNET_OK);
    int rc = 0;
    size_t got = 0;
    n_allocs = 0;
    counting = 1;
    for (size_t i = 0; i < 2 * T + 1; i++) {
        arnet_frame f = rgb(frames + i * w * h * 3, w, h);
        int ready = 0;
        rc |= arnet_two_stream_push(st, &f, feat + got * 2048, &ready);
        got += (size_t)ready;
    }
    arnet_two_stream_reset(st);
    counting = 0;
    ck_assert_int_eq(rc, 0);
    ck_assert_uint_eq(got, 2);
    ck_assert_int_lt(n_allocs, MAX_CALLERS);
    long blis = 0, ours = alloc_count_outside_blis("two-stream frames to features", &blis);
    ck_assert_msg(ours == 0, "%ld allocations outside BLIS from frames to features", ours);
    arnet_two_stream_state_free(st);
    __libc_free(frames);
    arnet_extractor_free(xr);
    arnet_extractor_free(xf);
}
END_TEST

START_TEST(cancel_drops_the_partial_clip)
{
    const uint32_t T = 2;
    arnet_extractor *xr = make_extractor(7, ARNET_STREAM_RGB);
    arnet_extractor *xf = make_extractor(8, ARNET_STREAM_FLOW);
    uint8_t *frames = make_frames(T + 2, C, C);
    arnet_flow_options fo = quick_flow();
    arnet_extractor_options o = opts(C, C, T);
    arnet_two_stream_state *st = NULL;
    ck_assert_int_eq(arnet_two_stream_state_create(xr, xf, &o, &fo, &st), ARNET_OK);
    float feat[2048];
    feat[0] = 777.0f;
    int ready = 1;
    arnet_frame f = rgb(frames, C, C);
    ck_assert_int_eq(arnet_two_stream_push(st, &f, feat, &ready), ARNET_OK);
    arnet_two_stream_cancel(st);
    f = rgb(frames + (size_t)C * C * 3, C, C);
    ck_assert_int_eq(arnet_two_stream_push(st, &f, feat, &ready), ARNET_E_CANCELLED);
    ck_assert_int_eq(ready, 0);
    ck_assert_ptr_nonnull(strstr(arnet_last_error(), "cancelled"));
    ck_assert(feat[0] == 777.0f);
    /* Consumed (the flow's own request, left over, is recognised as taken):
     * a new video of T + 1 frames makes one clip, on its last frame. */
    size_t when[1];
    ck_assert_uint_eq(push_all(st, frames, T + 1, C, C, feat, when), 1);
    ck_assert_uint_eq(when[0], T);
    arnet_two_stream_state_free(st);
    __libc_free(frames);
    arnet_extractor_free(xr);
    arnet_extractor_free(xf);
}
END_TEST

struct canceller {
    arnet_two_stream_state *st;
    useconds_t delay;
};

static void *cancel_later(void *arg)
{
    struct canceller *c = arg;
    usleep(c->delay);
    arnet_two_stream_cancel(c->st);
    return NULL;
}

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* A cancel from another thread while a push runs the flow and the flow
 * network (OpenCV's full TV-L1 and ten crops: seconds) stops it soon. */
START_TEST(cancel_from_another_thread_stops_a_running_push)
{
    const uint32_t T = 1;
    arnet_extractor *xr = make_extractor(13, ARNET_STREAM_RGB);
    arnet_extractor *xf = make_extractor(14, ARNET_STREAM_FLOW);
    uint8_t *frames = make_frames(2, C, C);
    arnet_extractor_options o = opts(C, C, T);
    o.crops = 10;
    arnet_two_stream_state *st = NULL;
    ck_assert_int_eq(arnet_two_stream_state_create(xr, xf, &o, NULL, &st), ARNET_OK);
    float *feat = __libc_malloc(10 * 2048 * sizeof(float));
    feat[0] = 777.0f;
    int ready = 1;
    arnet_frame f = rgb(frames, C, C);
    /* frame 0 runs the RGB network (its clip is one frame): not cancelled */
    ck_assert_int_eq(arnet_two_stream_push(st, &f, feat, &ready), ARNET_OK);
    ck_assert_int_eq(ready, 0);
    struct canceller c = { st, 30000 };
    pthread_t th;
    ck_assert_int_eq(pthread_create(&th, NULL, cancel_later, &c), 0);
    f = rgb(frames + (size_t)C * C * 3, C, C);
    double t0 = now();
    int rc = arnet_two_stream_push(st, &f, feat, &ready);
    double took = now() - t0;
    pthread_join(th, NULL);
    ck_assert_int_eq(rc, ARNET_E_CANCELLED);
    ck_assert_int_eq(ready, 0);
    ck_assert(feat[0] == 777.0f);
    ck_assert_msg(took < 3.0, "cancel took %.2f s to act", took);
    /* The state is empty: the next frame is a new video's first, which
     * has no flow, so it completes no clip (after frame 0 it would). */
    ck_assert_int_eq(arnet_two_stream_push(st, &f, feat, &ready), ARNET_OK);
    ck_assert_int_eq(ready, 0);
    arnet_two_stream_state_free(st);
    __libc_free(feat);
    __libc_free(frames);
    arnet_extractor_free(xr);
    arnet_extractor_free(xf);
}
END_TEST

START_TEST(memory_is_stated)
{
    const uint32_t T = 16;
    arnet_extractor *xr = make_extractor(9, ARNET_STREAM_RGB);
    arnet_extractor *xf = make_extractor(10, ARNET_STREAM_FLOW);
    arnet_extractor_options o = opts(C, C, T);
    arnet_two_stream_state *st = NULL;
    ck_assert_int_eq(arnet_two_stream_state_create(xr, xf, &o, NULL, &st), ARNET_OK);
    arnet__i3d_scratch *sc = NULL;
    ck_assert_int_eq(arnet__i3d_scratch_create(xr, T, C, C, 1, &sc), ARNET_OK);
    arnet_flow *fl = NULL;
    ck_assert_int_eq(arnet_flow_create(C, C, NULL, &fl), ARNET_OK);
    arnet__resizer *r = NULL;
    ck_assert_int_eq(arnet__resizer_create(C, C, C, C, 0, 0, 0, C, C, &r), ARNET_OK);
    size_t px = (size_t)C * C;
    size_t parts = arnet__i3d_scratch_memory(sc) + arnet_flow_memory(fl) +
                   arnet__resizer_memory(r) + T * px * 3 /* frames */ + 2 * px /* grey */ +
                   px * 2 * sizeof(float) /* a flow */ + T * px * 2 * sizeof(float) /* flows */ +
                   T * px * 3 * sizeof(float) /* clip */ + 3 * 1024 * sizeof(float);
    size_t m = arnet_two_stream_state_memory(st);
    ck_assert_uint_ge(m, parts);
    ck_assert_uint_le(m, parts + 4096);
    ck_assert_uint_eq(arnet_two_stream_state_memory(NULL), 0);
    ck_assert_uint_eq(arnet_two_stream_feature_dim(NULL), 0);
    arnet__resizer_free(r);
    arnet_flow_free(fl);
    arnet__i3d_scratch_free(sc);
    arnet_two_stream_state_free(st);
    arnet_extractor_free(xr);
    arnet_extractor_free(xf);
}
END_TEST

static void expect_invalid(const arnet_extractor *xr, const arnet_extractor *xf,
                           const arnet_extractor_options *o, const char *want)
{
    arnet_two_stream_state *st = (arnet_two_stream_state *)0x1;
    ck_assert_int_eq(arnet_two_stream_state_create(xr, xf, o, NULL, &st), ARNET_E_INVALID);
    ck_assert_ptr_null(st);
    ck_assert_msg(strstr(arnet_last_error(), want) != NULL, "\"%s\" lacks \"%s\"",
                  arnet_last_error(), want);
}

START_TEST(defaults_and_refusals)
{
    arnet_extractor_options o;
    memset(&o, 0x5a, sizeof o);
    arnet_extractor_options_init(&o);
    ck_assert_int_eq(o.flow_at, ARNET_FLOW_AT_CROP);
    ck_assert_uint_eq(o.flow_width, 0);
    ck_assert_uint_eq(o.flow_height, 0);
    ck_assert_int_eq(o.flow_values, ARNET_FLOW_VALUES_FLOAT);
    ck_assert(o.flow_bound == 20.0f);
    ck_assert_int_eq(o.flow_channels, ARNET_FLOW_CHANNELS_XY);

    arnet_extractor *xr = make_extractor(11, ARNET_STREAM_RGB);
    arnet_extractor *xf = make_extractor(12, ARNET_STREAM_FLOW);
    o = opts(320, 240, 16);
    o.resize = ARNET_RESIZE_SHORT256;
    /* the streams mixed up: named by the extractor's file */
    expect_invalid(xf, xf, &o, "the RGB extractor (flow_test.pt) is I3D's flow network");
    expect_invalid(xr, xr, &o, "the flow extractor (rgb_test.pt) is I3D's RGB network");
    /* loaded from a file (arnet_extractor_load records it): that file, and
     * the one it was imported from */
    xf->path = arnet__strdup("models/flow.arnet");
    expect_invalid(xf, xf, &o,
                   "the RGB extractor (models/flow.arnet, imported from flow_test.pt) is I3D's "
                   "flow network");
    free(xf->path);
    xf->path = arnet__strdup("models/flow_test.pt"); /* loaded straight from the import */
    expect_invalid(xf, xf, &o, "the RGB extractor (models/flow_test.pt) is I3D's flow network");
    expect_invalid(NULL, xf, &o, "rgb_x is NULL");
    expect_invalid(xr, NULL, &o, "flow_x is NULL");
    expect_invalid(xr, xf, NULL, "opt is NULL");
    arnet_extractor_options b = o;
    b.last_clip = ARNET_LAST_CLIP_PAD;
    expect_invalid(xr, xf, &b, "last_clip must be ARNET_LAST_CLIP_DROP");
    b = o;
    b.flow_at = 9;
    expect_invalid(xr, xf, &b, "flow_at 9 is unknown");
    b = o;
    b.flow_at = ARNET_FLOW_AT_SIZE;
    expect_invalid(xr, xf, &b, "flow size 0x0 out of range");
    b.flow_width = 320;
    b.flow_height = 240;
    b.crops = 10;
    expect_invalid(xr, xf, &b, "it takes crops 1, not 10");
    b = o;
    b.flow_values = 3;
    expect_invalid(xr, xf, &b, "flow_values 3 is unknown");
    b = o;
    b.flow_bound = 0.0f;
    expect_invalid(xr, xf, &b, "flow_bound 0 must be finite and above 0");
    b.flow_bound = NAN;
    expect_invalid(xr, xf, &b, "must be finite and above 0");
    b = o;
    b.flow_channels = 2;
    expect_invalid(xr, xf, &b, "flow_channels 2 is unknown");
    b = o;
    b.crops = 3;
    expect_invalid(xr, xf, &b, "crops 3 is neither 1 nor 10");
    /* a bad flow option is the flow state's message, under ours */
    arnet_flow_options fo;
    arnet_flow_options_init(&fo);
    fo.scale_step = 2.0f;
    arnet_two_stream_state *st = (arnet_two_stream_state *)0x1;
    ck_assert_int_eq(arnet_two_stream_state_create(xr, xf, &o, &fo, &st), ARNET_E_INVALID);
    ck_assert_ptr_null(st);
    ck_assert_ptr_nonnull(strstr(arnet_last_error(), "arnet_two_stream_state_create"));
    ck_assert_ptr_nonnull(strstr(arnet_last_error(), "scale_step"));
    /* pushes: NULLs, a frame of another size */
    ck_assert_int_eq(arnet_two_stream_state_create(xr, xf, &o, NULL, &st), ARNET_OK);
    float feat[2048];
    int ready = 1;
    uint8_t px[3 * 4 * 4] = { 0 };
    arnet_frame f = rgb(px, 4, 4);
    ck_assert_int_eq(arnet_two_stream_push(st, &f, feat, &ready), ARNET_E_SHAPE);
    ck_assert_int_eq(ready, 0);
    ck_assert_ptr_nonnull(strstr(arnet_last_error(), "frame 4x4 differs from the state's 320x240"));
    ck_assert_int_eq(arnet_two_stream_push(st, NULL, feat, &ready), ARNET_E_INVALID);
    ck_assert_int_eq(arnet_two_stream_push(st, &f, NULL, &ready), ARNET_E_INVALID);
    ck_assert_int_eq(arnet_two_stream_push(NULL, &f, feat, &ready), ARNET_E_INVALID);
    arnet_two_stream_state_free(st);
    arnet_two_stream_state_free(NULL);
    arnet_two_stream_reset(NULL);
    arnet_two_stream_cancel(NULL);
    arnet_extractor_free(xr);
    arnet_extractor_free(xf);
}
END_TEST

Suite *make_suite(void)
{
    Suite *s = suite_create("two_stream");
    TCase *tc = tcase_create("two_stream");
    tcase_set_timeout(tc, 300); /* generous: the machine is shared */
    tcase_add_test(tc, defaults_and_refusals);
    tcase_add_test(tc, memory_is_stated);
    tcase_add_test(tc, clips_counted_and_equal_to_the_parts);
    tcase_add_test(tc, flow_at_its_own_size);
    tcase_add_test(tc, ten_crops_cut_from_the_flow);
    tcase_add_test(tc, cancel_drops_the_partial_clip);
    tcase_add_test(tc, cancel_from_another_thread_stops_a_running_push);
#if COUNT_ALLOCATIONS
    tcase_add_test(tc, frames_to_features_without_allocating);
#endif
    suite_add_tcase(s, tc);
    return s;
}
