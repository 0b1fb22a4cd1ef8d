/* bench_preprocess.c -- prints what the per-camera state costs before the
 * network: milliseconds per pushed frame (format conversion, resize into
 * the clip's slot; frames that complete no clip) and the bytes the state
 * holds, for camera sizes, formats, resize rules and crop counts.  Time is
 * the thread's CPU time (preprocessing runs on the calling thread only), so
 * that other processes on a shared machine do not count; best of several
 * rounds, configurations interleaved.
 *
 *   bench_preprocess [--rounds N]
 *   bench_preprocess --quick      one small round, used by the tests */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "i3d.h"
#include "internal.h"

typedef struct config {
    uint32_t w, h;
    int format, resize, filter;
    uint32_t crops;
    const char *name;
} config;

static const config configs[] = {
    {1920, 1080, ARNET_PIXEL_I420, ARNET_RESIZE_SHORT256, ARNET_FILTER_BILINEAR, 1,
     "1920x1080 I420 short256 bilinear 1 crop"},
    {1920, 1080, ARNET_PIXEL_I420, ARNET_RESIZE_SHORT256, ARNET_FILTER_BILINEAR, 10,
     "1920x1080 I420 short256 bilinear 10 crops"},
    {1920, 1080, ARNET_PIXEL_NV12, ARNET_RESIZE_340X256, ARNET_FILTER_LANCZOS, 10,
     "1920x1080 NV12 340x256 lanczos 10 crops"},
    {1280, 720, ARNET_PIXEL_BGR24, ARNET_RESIZE_224, ARNET_FILTER_BILINEAR, 1,
     "1280x720 BGR24 224 bilinear 1 crop"},
    {320, 240, ARNET_PIXEL_RGB24, ARNET_RESIZE_340X256, ARNET_FILTER_LANCZOS, 10,
     "320x240 RGB24 340x256 lanczos 10 crops"},
    {224, 224, ARNET_PIXEL_RGB24, ARNET_RESIZE_NONE, ARNET_FILTER_BILINEAR, 1,
     "224x224 RGB24 none 1 crop"},
};
#define N_CONFIGS (sizeof configs / sizeof *configs)

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
    return t.tv_sec + t.tv_nsec * 1e-9;
}

/* The network's weights do not matter here: zeros. */
static arnet_extractor *zero_extractor(void)
{
    arnet_extractor *x = NULL;
    if (arnet__extractor_alloc(&x) != ARNET_OK)
        return NULL;
    for (size_t i = 0; i < arnet__i3d_n_convs; i++) {
        memset(x->convs[i].w, 0, arnet__i3d_conv_weights(i) * sizeof(float));
        memset(x->convs[i].b, 0, arnet__i3d_convs[i].out_ch * sizeof(float));
    }
    if (arnet__i3d_prepare(x) != ARNET_OK) {
        arnet_extractor_free(x);
        return NULL;
    }
    return x;
}

/* A frame of c's size and format over buf (3 w h bytes of content). */
static arnet_frame frame_of(const config *c, uint8_t *buf)
{
    arnet_frame f;
    arnet_frame_init(&f);
    f.format = c->format;
    f.width = c->w;
    f.height = c->h;
    size_t cw = (c->w + 1) / 2, ch = (c->h + 1) / 2, ys = (size_t)c->w * c->h;
    f.planes[0] = buf;
    switch (c->format) {
    case ARNET_PIXEL_I420:
        f.strides[0] = c->w;
        f.planes[1] = buf + ys;
        f.planes[2] = buf + ys + cw * ch;
        f.strides[1] = f.strides[2] = cw;
        break;
    case ARNET_PIXEL_NV12:
        f.strides[0] = c->w;
        f.planes[1] = buf + ys;
        f.strides[1] = 2 * cw;
        break;
    default:
        f.strides[0] = (size_t)c->w * 3;
        break;
    }
    return f;
}

int main(int argc, char **argv)
{
    int rounds = 5, quick = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--quick")) {
            quick = 1;
            rounds = 1;
        } else if (!strcmp(argv[i], "--rounds") && i + 1 < argc) {
            rounds = atoi(argv[++i]);
        } else {
            fprintf(stderr, "usage: %s [--rounds N] | --quick\n", argv[0]);
            return !strcmp(argv[i], "--help") ? 0 : 2;
        }
    }
    if (rounds < 1)
        rounds = 1;
    arnet_extractor *x = zero_extractor();
    if (!x) {
        fprintf(stderr, "bench_preprocess: %s\n", arnet_last_error());
        return 1;
    }
    size_t n = quick ? 2 : N_CONFIGS;
    const size_t first = quick ? N_CONFIGS - 2 : 0;
    arnet_extractor_state *st[N_CONFIGS] = {0};
    uint8_t *buf[N_CONFIGS] = {0};
    double best[N_CONFIGS];
    float *feat = malloc(10 * 1024 * sizeof(float));
    for (size_t k = 0; k < n; k++) {
        const config *c = &configs[first + k];
        arnet_extractor_options o;
        arnet_extractor_options_init(&o);
        o.frame_width = c->w;
        o.frame_height = c->h;
        o.resize = c->resize;
        o.filter = c->filter;
        o.crops = c->crops;
        if (arnet_extractor_state_create(x, &o, &st[k]) != ARNET_OK) {
            fprintf(stderr, "bench_preprocess: %s\n", arnet_last_error());
            return 1;
        }
        size_t bytes = (size_t)c->w * c->h * 3;
        buf[k] = malloc(bytes);
        for (size_t i = 0; i < bytes; i++)
            buf[k][i] = (uint8_t)(i * 7 + i / 13);
        best[k] = 1e30;
    }
    const int pushes = quick ? 2 : 15; /* < clip_frames: the network never runs */
    for (int r = 0; r < rounds; r++)
        for (size_t k = 0; k < n; k++) {
            arnet_frame f = frame_of(&configs[first + k], buf[k]);
            int ready = 0;
            arnet_extractor_reset(st[k]);
            double t0 = now();
            for (int i = 0; i < pushes; i++)
                if (arnet_extractor_push(st[k], &f, feat, &ready) != ARNET_OK) {
                    fprintf(stderr, "bench_preprocess: %s\n", arnet_last_error());
                    return 1;
                }
            double t = (now() - t0) / pushes;
            if (t < best[k])
                best[k] = t;
        }
    printf("%-44s %12s %12s\n", "camera, format, rule, filter, crops", "CPU ms/frame", "state MB");
    for (size_t k = 0; k < n; k++) {
        printf("%-44s %12.2f %12.2f\n", configs[first + k].name, best[k] * 1e3,
               arnet_extractor_state_memory(st[k]) / 1048576.0);
        arnet_extractor_state_free(st[k]);
        free(buf[k]);
    }
    printf("best of %d rounds of %d frames each\n", rounds, pushes);
    free(feat);
    arnet_extractor_free(x);
    return 0;
}
