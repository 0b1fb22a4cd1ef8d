/* vms_frames.c -- a video management system's loop, frames in and alarms
 * out: N cameras, each with its own extractor state (frames -> I3D clip
 * features) and alarm stream, spread over T threads (default: one per
 * online core, each state single-threaded: the integration rule of
 * docs/extractor.md); each thread owns one scorer; the extractor and the
 * model are loaded once and shared read-only.
 *
 *   vms_frames --extractor i3d.arnet [--flow-extractor flow.arnet]
 *              [--model m.arnet] [--cameras N] [--threads T] [--frames F]
 *              [--size WxH] [--threshold S] [--scores] [--flow-inexact] [VIDEO...]
 *
 * With --flow-extractor each camera has a two-stream state instead (RGB
 * and TV-L1 optical flow, 2048 features per clip as AR-Net's paper; each
 * frame's flow computed as it arrives) and the model must take 2048;
 * --flow-inexact computes the flow in TV-L1's faster float arithmetic
 * (exact = 0) instead of OpenCV's.
 *
 * Cameras play the video files given (camera i plays file i mod count,
 * decoded with FFmpeg when this example was built with it), or generated
 * frames: a grey scene with a moving box, each camera at its own phase.
 * Without --model a random 1024-feature model is made (the alarms then
 * mean nothing; the throughput does).  Alarms are printed as they happen
 * (with --scores also each clip's score); at the end the frames per second
 * sustained, in total and per core. */
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <arnet/arnet.h>

#include "video.h"

static const arnet_extractor *extractor, *flow_extractor;
static const arnet_model *model;
static arnet_extractor_options xopt;
static float threshold = 0.5f;
static int print_scores;
static int flow_inexact; /* --flow-inexact: TV-L1's exact = 0 */
static unsigned n_frames = 64, width = 320, height = 240;
static char **videos;
static int n_videos;
static pthread_mutex_t print_lock = PTHREAD_MUTEX_INITIALIZER;

typedef struct camera {
    unsigned id;
    arnet_extractor_state *state;
    arnet_two_stream_state *two; /* with --flow-extractor, instead of state */
    arnet_stream *stream;
    cli_video *video;
    double fps;
    uint8_t *pixels; /* generated frames */
    uint64_t frames;
} camera;

typedef struct worker {
    camera *cams;
    unsigned n;
    int failed;
    uint64_t frames, clips;
} worker;

static void on_event(void *user, const arnet_event *ev)
{
    const camera *c = user;
    double fps = c->fps > 0 ? c->fps : 25.0;
    double t = (double)ev->start_clip * xopt.clip_frames / fps;
    pthread_mutex_lock(&print_lock);
    if (ev->type == ARNET_EVENT_ALARM_START)
        printf("camera %u: alarm start at %.2f s (clip %llu, score %.3f)\n", c->id, t,
               (unsigned long long)ev->start_clip, (double)ev->peak_score);
    else
        printf("camera %u: alarm end, clips %llu-%llu (from %.2f s), peak %.3f\n", c->id,
               (unsigned long long)ev->start_clip, (unsigned long long)ev->end_clip, t,
               (double)ev->peak_score);
    fflush(stdout);
    pthread_mutex_unlock(&print_lock);
}

/* A grey scene with a box moving across it, shifted per camera. */
static void generate(camera *c, uint64_t f, arnet_frame *fr)
{
    unsigned bx = (unsigned)((f * 3 + c->id * 37) % width), by = (unsigned)((c->id * 53) % height);
    for (unsigned y = 0; y < height; y++) {
        uint8_t *row = c->pixels + (size_t)y * width * 3;
        for (unsigned x = 0; x < width; x++) {
            int in_box = x - bx < width / 8 && y - by < height / 6;
            uint8_t g = (uint8_t)(in_box ? 220 : 90 + (x + y + f) % 16);
            row[3 * x] = g;
            row[3 * x + 1] = in_box ? 40 : g;
            row[3 * x + 2] = g;
        }
    }
    arnet_frame_init(fr);
    fr->format = ARNET_PIXEL_RGB24;
    fr->width = width;
    fr->height = height;
    fr->planes[0] = c->pixels;
    fr->strides[0] = (size_t)width * 3;
}

static void *run(void *arg)
{
    worker *w = arg;
    arnet_scorer *scorer = NULL;
    uint32_t dim = arnet_extractor_feature_dim(extractor) * (flow_extractor ? 2 : 1);
    float *feat = malloc((size_t)xopt.crops * dim * sizeof *feat);
    if (!feat || arnet_scorer_create(model, NULL, &scorer) != ARNET_OK) {
        fprintf(stderr, "vms_frames: scorer: %s\n", feat ? arnet_last_error() : "out of memory");
        w->failed = 1;
        free(feat);
        return NULL;
    }
    unsigned live = w->n;
    for (uint64_t f = 0; f < n_frames && live > 0 && !w->failed; f++) {
        live = 0;
        for (unsigned i = 0; i < w->n; i++) {
            camera *c = &w->cams[i];
            arnet_frame fr;
            char err[256];
            if (c->video) {
                double t;
                int got = cli_video_read(c->video, &fr, &t, err, sizeof err);
                if (got < 0) {
                    fprintf(stderr, "vms_frames: camera %u: %s\n", c->id, err);
                    w->failed = 1;
                    break;
                }
                if (got == 0)
                    continue; /* this camera's file has ended */
            } else {
                generate(c, f, &fr);
            }
            live++;
            int ready = 0;
            int st = c->two ? arnet_two_stream_push(c->two, &fr, feat, &ready)
                            : arnet_extractor_push(c->state, &fr, feat, &ready);
            if (st != ARNET_OK) {
                fprintf(stderr, "vms_frames: camera %u: %s\n", c->id, arnet_last_error());
                w->failed = 1;
                break;
            }
            c->frames++;
            w->frames++;
            if (!ready)
                continue;
            w->clips++;
            /* Score the crops' mean (in place: the first crop's row). */
            arnet_stream_result res;
            arnet_stream_result_init(&res);
            if ((xopt.crops > 1 && arnet_crop_mean(feat, xopt.crops, dim, feat) != ARNET_OK) ||
                arnet_stream_push(c->stream, scorer, feat, &res) != ARNET_OK) {
                fprintf(stderr, "vms_frames: camera %u: %s\n", c->id, arnet_last_error());
                w->failed = 1;
                break;
            }
            if (print_scores) {
                pthread_mutex_lock(&print_lock);
                printf("camera %u: clip %llu score %.7g smoothed %.7g\n", c->id,
                       (unsigned long long)res.clip_index, (double)res.raw, (double)res.smoothed);
                fflush(stdout);
                pthread_mutex_unlock(&print_lock);
            }
        }
    }
    for (unsigned i = 0; i < w->n; i++) /* close alarms still on */
        if (arnet_stream_reset(w->cams[i].stream) != ARNET_OK)
            w->failed = 1;
    arnet_scorer_free(scorer);
    free(feat);
    return NULL;
}

static int usage(void)
{
    fprintf(stderr, "usage: vms_frames --extractor X.arnet [--flow-extractor F.arnet] "
                    "[--model M] [--cameras N] [--threads T] [--frames F] [--size WxH] "
                    "[--threshold S] [--scores] [--flow-inexact] [VIDEO...]\n");
    return 2;
}

int main(int argc, char **argv)
{
    const char *xpath = NULL, *fpath = NULL, *mpath = NULL;
    /* The integration rule (docs/extractor.md, "Throughput across cores"):
     * one worker thread per core, each camera's state single-threaded. */
    long online = sysconf(_SC_NPROCESSORS_ONLN);
    unsigned n_cams = 4, n_threads = online > 0 ? (unsigned)online : 1;
    arnet_extractor_options_init(&xopt);
    xopt.threads = 1;
    videos = calloc((size_t)argc, sizeof *videos);
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--extractor") && v)
            xpath = argv[++i];
        else if (!strcmp(a, "--flow-extractor") && v)
            fpath = argv[++i];
        else if (!strcmp(a, "--model") && v)
            mpath = argv[++i];
        else if (!strcmp(a, "--cameras") && v)
            n_cams = (unsigned)atoi(argv[++i]);
        else if (!strcmp(a, "--threads") && v)
            n_threads = (unsigned)atoi(argv[++i]);
        else if (!strcmp(a, "--frames") && v)
            n_frames = (unsigned)atoi(argv[++i]);
        else if (!strcmp(a, "--threshold") && v)
            threshold = (float)atof(argv[++i]);
        else if (!strcmp(a, "--scores"))
            print_scores = 1;
        else if (!strcmp(a, "--flow-inexact"))
            flow_inexact = 1;
        else if (!strcmp(a, "--size") && v) {
            if (sscanf(argv[++i], "%ux%u", &width, &height) != 2 || !width || !height)
                return usage();
        } else if (a[0] == '-')
            return usage();
        else
            videos[n_videos++] = argv[i];
    }
    if (!xpath || n_cams < 1 || n_threads < 1 || n_frames < 1)
        return usage();
    if (n_videos > 0 && !cli_video_available()) {
        fprintf(stderr, "vms_frames: %s\n", cli_video_missing());
        return 1;
    }
    if (n_threads > n_cams)
        n_threads = n_cams;

    arnet_extractor *x = NULL, *fx = NULL;
    arnet_model *m = NULL;
    if (arnet_extractor_load(xpath, &x) != ARNET_OK ||
        (fpath && arnet_extractor_load(fpath, &fx) != ARNET_OK)) {
        fprintf(stderr, "vms_frames: %s\n", arnet_last_error());
        return 1;
    }
    /* Each stream where it belongs (the library would refuse a mix-up too). */
    if (arnet_extractor_stream(x) != ARNET_STREAM_RGB ||
        (fx && arnet_extractor_stream(fx) != ARNET_STREAM_FLOW)) {
        int bad_x = arnet_extractor_stream(x) != ARNET_STREAM_RGB;
        fprintf(stderr, "vms_frames: %s %s is I3D's %s network, not the %s one\n",
                bad_x ? "--extractor" : "--flow-extractor", bad_x ? xpath : fpath,
                bad_x ? "flow" : "RGB", bad_x ? "RGB" : "flow");
        return 1;
    }
    uint32_t dim = arnet_extractor_feature_dim(x) * (fx ? 2 : 1);
    if (mpath) {
        if (arnet_model_load(mpath, &m) != ARNET_OK) {
            fprintf(stderr, "vms_frames: %s\n", arnet_last_error());
            return 1;
        }
    } else {
        arnet_model_config cfg;
        arnet_model_config_init(&cfg);
        cfg.feature_dim = dim;
        cfg.seed = 1;
        if (arnet_model_create(&cfg, &m) != ARNET_OK) {
            fprintf(stderr, "vms_frames: %s\n", arnet_last_error());
            return 1;
        }
    }
    if (arnet_model_feature_dim(m) != dim) {
        fprintf(stderr, "vms_frames: %s scores %u features per clip, but %s%s%s makes %u\n",
                mpath, arnet_model_feature_dim(m), xpath, fx ? " with " : "", fx ? fpath : "",
                dim);
        return 1;
    }
    extractor = x;
    flow_extractor = fx;
    model = m;

    camera *cams = calloc(n_cams, sizeof *cams);
    worker *ws = calloc(n_threads, sizeof *ws);
    pthread_t *tids = calloc(n_threads, sizeof *tids);
    int rc = 0;
    if (!cams || !ws || !tids) {
        fprintf(stderr, "vms_frames: out of memory\n");
        return 1;
    }
    size_t memory = 0;
    for (unsigned i = 0; i < n_cams && !rc; i++) {
        camera *c = &cams[i];
        c->id = i;
        c->fps = 25.0;
        arnet_stream_options so;
        arnet_stream_options_init(&so);
        so.stream_id = i;
        so.on_threshold = threshold;
        so.off_threshold = threshold * 0.9f;
        so.min_on_clips = 1;
        so.min_off_clips = 2;
        so.window = 2;
        so.on_event = on_event;
        so.user = c;
        arnet_extractor_options o = xopt;
        o.frame_width = width;
        o.frame_height = height;
        if (n_videos > 0) {
            char err[256];
            const char *path = videos[i % (unsigned)n_videos];
            if (cli_video_open(path, 1, &c->video, err, sizeof err) < 0) {
                fprintf(stderr, "vms_frames: %s: %s\n", path, err);
                rc = 1;
                break;
            }
            cli_video_info info;
            cli_video_info_get(c->video, &info);
            if (info.fps > 0)
                c->fps = info.fps;
            o.frame_width = info.width;
            o.frame_height = info.height;
        } else if (!(c->pixels = malloc((size_t)width * height * 3))) {
            fprintf(stderr, "vms_frames: out of memory\n");
            rc = 1;
            break;
        }
        arnet_flow_options fo;
        arnet_flow_options_init(&fo);
        fo.exact = !flow_inexact;
        int st = fx ? arnet_two_stream_state_create(x, fx, &o, &fo, &c->two)
                    : arnet_extractor_state_create(x, &o, &c->state);
        if (st != ARNET_OK || arnet_stream_create(&so, &c->stream) != ARNET_OK) {
            fprintf(stderr, "vms_frames: camera %u: %s\n", i, arnet_last_error());
            rc = 1;
            break;
        }
        memory += fx ? arnet_two_stream_state_memory(c->two)
                     : arnet_extractor_state_memory(c->state);
    }
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    unsigned started = 0;
    for (unsigned t = 0; t < n_threads && !rc; t++) {
        unsigned lo = t * n_cams / n_threads, hi = (t + 1) * n_cams / n_threads;
        ws[t].cams = cams + lo;
        ws[t].n = hi - lo;
        if (pthread_create(&tids[t], NULL, run, &ws[t]) != 0) {
            fprintf(stderr, "vms_frames: cannot start thread %u\n", t);
            rc = 1;
            break;
        }
        started++;
    }
    uint64_t frames = 0, clips = 0;
    for (unsigned t = 0; t < started; t++) {
        pthread_join(tids[t], NULL);
        rc |= ws[t].failed;
        frames += ws[t].frames;
        clips += ws[t].clips;
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double el = (double)(t1.tv_sec - t0.tv_sec) + 1e-9 * (double)(t1.tv_nsec - t0.tv_nsec);
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    double used = (double)(cores > 0 && (long)n_threads > cores ? cores : (long)n_threads);
    if (!rc)
        printf("%u cameras (%s) on %u threads: %llu frames, %llu clips in %.2f s: %.1f frames/s, "
               "%.1f frames/s per core, %.2f clips/s; %s state %.1f MB per camera\n",
               n_cams, n_videos ? "video files" : "generated frames", n_threads,
               (unsigned long long)frames, (unsigned long long)clips, el,
               el > 0 ? (double)frames / el : 0, el > 0 ? (double)frames / el / used : 0,
               el > 0 ? (double)clips / el : 0, fx ? "two-stream" : "extractor",
               (double)memory / n_cams / 1e6);
    for (unsigned i = 0; i < n_cams; i++) {
        arnet_extractor_state_free(cams[i].state);
        arnet_two_stream_state_free(cams[i].two);
        arnet_stream_free(cams[i].stream);
        cli_video_close(cams[i].video);
        free(cams[i].pixels);
    }
    free(cams);
    free(ws);
    free(tids);
    free(videos);
    arnet_model_free(m);
    arnet_extractor_free(x);
    arnet_extractor_free(fx);
    return rc;
}
