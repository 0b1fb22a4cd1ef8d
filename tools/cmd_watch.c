/* cmd_watch.c -- `arnet watch`: frames in, alarms out, in one process: a
 * video file (or raw RGB frames on standard input) through the per-camera
 * extractor state, the scorer and a stream, one line per alarm start and
 * end with its time in the video (docs/video.md). */
#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"
#include "video.h"

#define CMD "watch"

/* Model metadata key of a calibrated alarm threshold, written by
 * `arnet calibrate --write` (docs/embedding.md). */
#define THRESHOLD_KEY ARNET_META_CALIBRATION_THRESHOLD

static void usage(FILE *f)
{
    fprintf(f,
            "usage: arnet watch --extractor X.arnet --model MODEL [options] VIDEO\n"
            "       arnet watch --extractor X.arnet --model MODEL --size WxH --fps F [options] -\n\n"
            "Decode a video (or read raw RGB24 frames, W x H x 3 bytes each, from standard\n"
            "input), extract I3D features every 16 frames, score them and print one line per\n"
            "alarm start and end with its time in the video.\n\n"
            "  --extractor X       extractor file (arnet import i3d)\n"
            "  --flow-extractor F  I3D's flow network: score RGB + flow features (2048 per\n"
            "                      clip, a model trained on two-stream features), flow by\n"
            "                      TV-L1 computed as each frame arrives\n"
            "  --model MODEL       model file (arnet train)\n"
            "  --threshold T       alarm threshold on the smoothed score (default: the model's\n"
            "                      " THRESHOLD_KEY " metadata, else 0.5)\n"
            "  --off-threshold T   an alarm ends below this (default 0.6 x the threshold)\n"
            "  --min-on N          clips at or above the threshold before an alarm (default 3)\n"
            "  --min-off N         clips below the off threshold before it ends (default 5)\n"
            "  --window N          scores averaged (default 5; 1 = raw scores)\n"
            "  --json              one JSON object per line instead of text\n"
            "  --realtime          pace a file at its frame rate (as a camera would)\n"
            "  --size WxH, --fps F frame size and rate of raw frames on standard input\n"
            "  --crops, --resize, --filter, --threads, --last-clip   as for arnet extract\n"
            "  --flow-at, --flow-values, --flow-bound, --flow-channels, --flow-preset\n"
            "                      the flow recipe, as for arnet extract\n\n"
            "Text lines: 'HH:MM:SS.mmm alarm start clip C score S' and\n"
            "'HH:MM:SS.mmm alarm end clips C1-C2 from HH:MM:SS.mmm peak P' (the end time is\n"
            "where the last clip of the alarm ends).  Throughput goes to stderr at the end.\n");
    if (!cli_video_available())
        fprintf(f, "\nNote: %s.\n", cli_video_missing());
}

static volatile sig_atomic_t interrupted;
static arnet_extractor_state *volatile current_state;
static arnet_two_stream_state *volatile current_two;

static void on_signal(int sig)
{
    (void)sig;
    interrupted = 1;
    arnet_extractor_state *st = current_state;
    if (st)
        arnet_extractor_cancel(st);
    arnet_two_stream_state *ts = current_two;
    if (ts)
        arnet_two_stream_cancel(ts);
}

typedef struct watch {
    int json;
    double *clip_start; /* start time of every clip so far (seconds in the video) */
    size_t n_clips, cap;
    double last_end;    /* end time of the last frame seen */
    uint64_t alarms;
} watch;

static void fmt_time(double t, char *buf, size_t n)
{
    if (!(t >= 0))
        t = 0;
    long long ms = llround(t * 1000.0);
    snprintf(buf, n, "%02lld:%02lld:%02lld.%03lld", ms / 3600000, ms / 60000 % 60, ms / 1000 % 60,
             ms % 1000);
}

static double clip_time(const watch *w, uint64_t clip)
{
    return clip < w->n_clips ? w->clip_start[clip] : w->last_end;
}

static void on_event(void *user, const arnet_event *ev)
{
    watch *w = user;
    char a[32], b[32];
    if (ev->type == ARNET_EVENT_ALARM_START) {
        double t = clip_time(w, ev->start_clip);
        w->alarms++;
        if (w->json) {
            printf("{\"event\": \"start\", \"time\": %.3f, \"clip\": %llu, \"score\": %.6g}\n", t,
                   (unsigned long long)ev->start_clip, (double)ev->peak_score);
        } else {
            fmt_time(t, a, sizeof a);
            printf("%s alarm start clip %llu score %.3f\n", a, (unsigned long long)ev->start_clip,
                   (double)ev->peak_score);
        }
    } else if (ev->type == ARNET_EVENT_ALARM_END) {
        double t0 = clip_time(w, ev->start_clip), t1 = clip_time(w, ev->end_clip + 1);
        if (w->json) {
            printf("{\"event\": \"end\", \"time\": %.3f, \"start_time\": %.3f, \"start_clip\": "
                   "%llu, \"end_clip\": %llu, \"peak\": %.6g}\n",
                   t1, t0, (unsigned long long)ev->start_clip, (unsigned long long)ev->end_clip,
                   (double)ev->peak_score);
        } else {
            fmt_time(t1, a, sizeof a);
            fmt_time(t0, b, sizeof b);
            printf("%s alarm end clips %llu-%llu from %s peak %.3f\n", a,
                   (unsigned long long)ev->start_clip, (unsigned long long)ev->end_clip, b,
                   (double)ev->peak_score);
        }
    }
    fflush(stdout);
}

/* Raw RGB24 frames from standard input. */
typedef struct raw_in {
    uint32_t w, h;
    uint8_t *buf;
    uint64_t index;
    int partial; /* the input ended inside a frame */
} raw_in;

static int raw_read(raw_in *r, arnet_frame *fr)
{
    size_t n = (size_t)r->w * r->h * 3, got = fread(r->buf, 1, n, stdin);
    if (got < n) {
        r->partial = got > 0;
        return 0;
    }
    arnet_frame_init(fr);
    fr->format = ARNET_PIXEL_RGB24;
    fr->width = r->w;
    fr->height = r->h;
    fr->planes[0] = r->buf;
    fr->strides[0] = (size_t)r->w * 3;
    r->index++;
    return 1;
}

static void sleep_until(double t)
{
    double d = t - cli_now();
    if (d <= 0)
        return;
    struct timespec ts = {(time_t)d, (long)((d - floor(d)) * 1e9)};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR && !interrupted) {
    }
}

int cmd_watch(int argc, char **argv)
{
    const char *xpath = NULL, *fpath = NULL, *mpath = NULL, *input = NULL, *v;
    arnet_extractor_options xopt;
    arnet_extractor_options_init(&xopt);
    arnet_flow_options fopt;
    arnet_flow_options_init(&fopt);
    int flow_opts = 0;
    double threshold = -1, off = -1, fps = 0;
    uint64_t min_on = 3, min_off = 5, window = 5;
    uint32_t sw = 0, sh = 0;
    int json = 0, realtime = 0;
    for (int i = 1; i < argc; i++) {
        int r = 0;
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            usage(stdout);
            return 0;
        } else if (!strcmp(argv[i], "--json")) {
            json = 1;
        } else if (!strcmp(argv[i], "--realtime")) {
            realtime = 1;
        } else if ((r = cli_extractor_option(CMD, argc, argv, &i, &xopt))) {
        } else if ((r = cli_flow_option(CMD, argc, argv, &i, &xopt, &fopt))) {
            flow_opts = 1;
        } else if ((r = cli_opt_value(CMD, argc, argv, &i, "--extractor", &v))) {
            xpath = v;
        } else if ((r = cli_opt_value(CMD, argc, argv, &i, "--flow-extractor", &v))) {
            fpath = v;
        } else if ((r = cli_opt_value(CMD, argc, argv, &i, "--model", &v))) {
            mpath = v;
        } else if ((r = cli_opt_value(CMD, argc, argv, &i, "--threshold", &v))) {
            if (r > 0 && !cli_parse_double(CMD, "--threshold", v, 0.0, 1e6, &threshold))
                return CLI_EXIT_USAGE;
        } else if ((r = cli_opt_value(CMD, argc, argv, &i, "--off-threshold", &v))) {
            if (r > 0 && !cli_parse_double(CMD, "--off-threshold", v, 0.0, 1e6, &off))
                return CLI_EXIT_USAGE;
        } else if ((r = cli_opt_value(CMD, argc, argv, &i, "--min-on", &v))) {
            if (r > 0 && !cli_parse_u64(CMD, "--min-on", v, 1, 1000000, &min_on))
                return CLI_EXIT_USAGE;
        } else if ((r = cli_opt_value(CMD, argc, argv, &i, "--min-off", &v))) {
            if (r > 0 && !cli_parse_u64(CMD, "--min-off", v, 1, 1000000, &min_off))
                return CLI_EXIT_USAGE;
        } else if ((r = cli_opt_value(CMD, argc, argv, &i, "--window", &v))) {
            if (r > 0 && !cli_parse_u64(CMD, "--window", v, 1, 4096, &window))
                return CLI_EXIT_USAGE;
        } else if ((r = cli_opt_value(CMD, argc, argv, &i, "--fps", &v))) {
            if (r > 0 && !cli_parse_double(CMD, "--fps", v, 0.001, 1e6, &fps))
                return CLI_EXIT_USAGE;
        } else if ((r = cli_opt_value(CMD, argc, argv, &i, "--size", &v))) {
            uint64_t w, h;
            if (r > 0 && !cli_parse_u64_pair(CMD, "--size", v, 'x', "WxH", 1, 16384, &w, &h))
                return CLI_EXIT_USAGE;
            if (r > 0) {
                sw = (uint32_t)w;
                sh = (uint32_t)h;
            }
        } else if (argv[i][0] == '-' && argv[i][1]) {
            return cli_usage_error(CMD, "unknown option '%s'", argv[i]);
        } else if (input) {
            return cli_usage_error(CMD, "one input only ('%s' and '%s')", input, argv[i]);
        } else {
            input = argv[i];
        }
        if (r < 0)
            return CLI_EXIT_USAGE;
    }
    if (!xpath || !mpath)
        return cli_usage_error(CMD, "--extractor X.arnet and --model MODEL are required");
    if (!input)
        return cli_usage_error(CMD, "give a video file, or - for raw frames on standard input");
    if (flow_opts && !fpath)
        return cli_usage_error(CMD, "a --flow-* option needs --flow-extractor FLOW.arnet");
    if (fpath && xopt.last_clip == ARNET_LAST_CLIP_PAD)
        return cli_usage_error(CMD, "--last-clip pad: two-stream clips need all their flows");
    int raw = !strcmp(input, "-");
    if (raw && (!sw || fps <= 0))
        return cli_usage_error(CMD, "raw frames on standard input need --size WxH and --fps F");
    if (!raw && (sw || fps > 0))
        return cli_usage_error(CMD, "--size and --fps are for raw frames on standard input (-)");
    if (!raw && !cli_video_available()) {
        fprintf(stderr, "arnet watch: %s\n", cli_video_missing());
        return CLI_EXIT_FAIL;
    }

    int rc = 0, st;
    arnet_extractor *x = NULL, *fx = NULL;
    arnet_extractor_state *xs = NULL;
    arnet_two_stream_state *ts = NULL;
    arnet_model *m = NULL;
    arnet_scorer *scorer = NULL;
    arnet_stream *stream = NULL;
    cli_video *video = NULL;
    raw_in rin = {0};
    float *feat = NULL, *mean = NULL;
    watch w = {0};
    w.json = json;
    /* Ctrl-C from here on (loading takes seconds) stops cleanly. */
    struct sigaction sa, old_int, old_term;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, &old_int);
    sigaction(SIGTERM, &sa, &old_term);
    if ((st = arnet_model_load(mpath, &m)) != ARNET_OK) {
        rc = cli_fail(CMD, st, mpath);
        goto done;
    }
    /* The library reads the calibration (arnet_stream_options_from_model):
     * one rule for every front end. */
    arnet_stream_options so;
    arnet_stream_options_init(&so);
    if (threshold < 0) {
        if ((st = arnet_stream_options_from_model(m, &so)) != ARNET_OK) {
            rc = cli_fail(CMD, st, mpath);
            goto done;
        }
        if (arnet_model_get_meta(m, THRESHOLD_KEY)) {
            threshold = so.on_threshold;
            if (off < 0)
                off = so.off_threshold;
        } else {
            threshold = 0.5;
            fprintf(stderr, "arnet watch: note: %s has no calibrated threshold (%s); using 0.5 "
                            "(set one with --threshold, or arnet calibrate --write)\n",
                    mpath, THRESHOLD_KEY);
        }
    }
    if (off < 0)
        off = 0.6 * threshold; /* the library's rule for calibrated models */
    if (off > threshold) {
        rc = cli_usage_error(CMD, "--off-threshold %g is above the threshold %g", off, threshold);
        goto done;
    }
    char err[512];
    if (raw) {
        rin.w = sw;
        rin.h = sh;
        if (!(rin.buf = malloc((size_t)sw * sh * 3))) {
            fprintf(stderr, "arnet watch: out of memory for a %ux%u frame\n", sw, sh);
            rc = CLI_EXIT_FAIL;
            goto done;
        }
    } else {
        if (cli_video_open(input, 0, &video, err, sizeof err) < 0) {
            fprintf(stderr, "arnet watch: %s: %s\n", input, err);
            rc = CLI_EXIT_FAIL;
            goto done;
        }
        cli_video_info info;
        cli_video_info_get(video, &info);
        fps = info.fps;
        if (!json)
            fprintf(stderr, "arnet watch: %s: %ux%u, %s in %s, %.3g fps, threshold %g\n", input,
                    info.width, info.height, info.codec, info.container, fps, threshold);
    }
    /* The extractor last: loading it takes seconds. */
    if ((rc = cli_load_extractors(CMD, xpath, fpath, &x, fpath ? &fx : NULL)) != 0)
        goto done;
    if (interrupted)
        goto done;
    uint32_t dim = arnet_extractor_feature_dim(x) * (fx ? 2 : 1);
    if (arnet_model_feature_dim(m) != dim) {
        fprintf(stderr, "arnet watch: %s scores %u features per clip, but %s%s%s makes %u%s\n",
                mpath, arnet_model_feature_dim(m), xpath, fx ? " with " : "", fx ? fpath : "",
                dim,
                !fx && arnet_model_feature_dim(m) == 2 * dim
                    ? " (a two-stream model: give the flow network as --flow-extractor)"
                    : fx && arnet_model_feature_dim(m) == dim / 2
                          ? " (an RGB-only model: leave out --flow-extractor)"
                          : "");
        rc = CLI_EXIT_FAIL;
        goto done;
    }
    so.on_threshold = (float)threshold;
    so.off_threshold = (float)off;
    so.min_on_clips = (uint32_t)min_on;
    so.min_off_clips = (uint32_t)min_off;
    so.smoothing = window > 1 ? ARNET_SMOOTH_WINDOW : ARNET_SMOOTH_NONE;
    so.window = (uint32_t)window;
    so.on_event = on_event;
    so.user = &w;
    arnet_scorer_options sco;
    arnet_scorer_options_init(&sco);
    sco.max_batch = 1;
    if ((st = arnet_stream_create(&so, &stream)) != ARNET_OK ||
        (st = arnet_scorer_create(m, &sco, &scorer)) != ARNET_OK) {
        rc = cli_fail(CMD, st, "setting up");
        goto done;
    }
    feat = malloc((size_t)xopt.crops * dim * sizeof *feat);
    mean = malloc((size_t)dim * sizeof *mean);
    if (!feat || !mean) {
        fprintf(stderr, "arnet watch: out of memory\n");
        rc = CLI_EXIT_FAIL;
        goto done;
    }
    double t0 = cli_now(), t = 0, dt = fps > 0 ? 1.0 / fps : 0;
    uint64_t frames = 0, in_clip = 0;
    for (;;) {
        if (interrupted)
            break;
        arnet_frame fr;
        int got;
        if (raw) {
            got = raw_read(&rin, &fr);
            t = (double)frames / fps;
        } else {
            got = cli_video_read(video, &fr, &t, err, sizeof err);
            if (got < 0) {
                fprintf(stderr, "arnet watch: %s: %s\n", input, err);
                rc = CLI_EXIT_FAIL;
                break;
            }
        }
        if (got && realtime)
            sleep_until(t0 + t);
        int ready = 0;
        if (got && !xs && !ts) { /* the state is sized for the first frame */
            arnet_extractor_options o = xopt;
            o.frame_width = fr.width;
            o.frame_height = fr.height;
            if (fx) {
                arnet_flow_options fo = fopt;
                fo.threads = xopt.threads;
                st = arnet_two_stream_state_create(x, fx, &o, &fo, &ts);
                current_two = ts;
            } else {
                st = arnet_extractor_state_create(x, &o, &xs);
                current_state = xs;
            }
            if (st != ARNET_OK) {
                rc = cli_fail(CMD, st, input);
                break;
            }
        }
        if (got) {
            /* The clip this frame starts: its time is the frame's. */
            if (in_clip == 0) {
                if (w.n_clips == w.cap) {
                    size_t c = w.cap ? 2 * w.cap : 1024;
                    double *g = realloc(w.clip_start, c * sizeof *g);
                    if (!g) {
                        fprintf(stderr, "arnet watch: out of memory\n");
                        rc = CLI_EXIT_FAIL;
                        break;
                    }
                    w.clip_start = g;
                    w.cap = c;
                }
                w.clip_start[w.n_clips++] = t;
            }
            in_clip = (in_clip + 1) % xopt.clip_frames;
            frames++;
            w.last_end = t + dt;
            st = ts ? arnet_two_stream_push(ts, &fr, feat, &ready)
                    : arnet_extractor_push(xs, &fr, feat, &ready);
        } else { /* two streams: a tail without all its flows is dropped */
            st = xs ? arnet_extractor_flush(xs, feat, &ready) : ARNET_OK;
        }
        if (st == ARNET_E_CANCELLED)
            break;
        if (st != ARNET_OK) {
            rc = cli_fail(CMD, st, input);
            break;
        }
        if (ready) {
            const float *f = feat;
            if (xopt.crops > 1) { /* the crops' mean, as arnet_npy_read reads [T, C, F] */
                if ((st = arnet_crop_mean(feat, xopt.crops, dim, mean)) != ARNET_OK) {
                    rc = cli_fail(CMD, st, input);
                    break;
                }
                f = mean;
            }
            if ((st = arnet_stream_push(stream, scorer, f, NULL)) != ARNET_OK) {
                rc = cli_fail(CMD, st, input);
                break;
            }
        }
        if (!got)
            break;
    }
    current_state = NULL;
    current_two = NULL;
    if (realtime && !interrupted && rc == 0)
        sleep_until(t0 + w.last_end); /* the last frame lasts its duration too */
    arnet_stream_state ss;
    arnet_stream_state_init(&ss);
    if (arnet_stream_get_state(stream, &ss) != ARNET_OK)
        ss.clips = 0;
    /* Close an alarm still on at the end of the input (its END event). */
    if (arnet_stream_reset(stream) != ARNET_OK && !rc)
        rc = cli_fail(CMD, ARNET_E_STATE, input);
    if (rin.partial)
        fprintf(stderr, "arnet watch: standard input ended inside frame %llu (a partial frame "
                        "of %ux%u RGB24 was dropped)\n",
                (unsigned long long)frames, sw, sh);
    double el = cli_now() - t0;
    fprintf(stderr,
            "arnet watch: %llu frames (%.1f s of video), %llu clips scored in %.2f s: %.1f "
            "frames/s, %.2f clips/s (%.2fx real time); %llu alarms%s\n",
            (unsigned long long)frames, w.last_end, (unsigned long long)ss.clips, el,
            el > 0 ? (double)frames / el : 0, el > 0 ? (double)ss.clips / el : 0,
            el > 0 ? w.last_end / el : 0, (unsigned long long)w.alarms,
            interrupted ? " (interrupted)" : "");
    if (interrupted && !rc)
        rc = 130;
done:
    sigaction(SIGINT, &old_int, NULL);
    sigaction(SIGTERM, &old_term, NULL);
    cli_video_close(video);
    free(rin.buf);
    free(feat);
    free(mean);
    free(w.clip_start);
    arnet_extractor_state_free(xs);
    arnet_two_stream_state_free(ts);
    arnet_stream_free(stream);
    arnet_scorer_free(scorer);
    arnet_model_free(m);
    arnet_extractor_free(x);
    arnet_extractor_free(fx);
    return rc;
}
