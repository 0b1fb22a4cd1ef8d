/* cmd_watch.c -- `arnet watch`: frames in, alarms out, in one process: one
 * input or many cameras (--cameras FILE), each with its own thread,
 * extractor state, scorer and stream over one shared extractor network and
 * model.  Network inputs cannot hang: every FFmpeg wait has a timeout and
 * stops on SIGINT/SIGTERM, a lost stream is reopened with bounded back-off,
 * and events (alarm start/end, stream lost/back, heartbeats, clip scores)
 * go to standard output and optionally to an MQTT broker (docs/video.md). */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "mqtt_out.h"
#include "video.h"

#define CMD "watch"

/* Model metadata key of a calibrated alarm threshold, written by
 * `arnet calibrate --write` (docs/embedding.md). */
#define THRESHOLD_KEY ARNET_META_CALIBRATION_THRESHOLD
/* Longest camera id and camera-file line. */
#define MAX_ID 64
#define MAX_LINE 4096
#define MAX_CAMERAS 256

static void usage(FILE *f)
{
    fprintf(f,
            "usage: arnet watch --extractor X.arnet --model MODEL [options] VIDEO|URL\n"
            "       arnet watch --extractor X.arnet --model MODEL --cameras FILE [options]\n"
            "       arnet watch --extractor X.arnet --model MODEL --size WxH --fps F [options] -\n\n"
            "Decode a video file or a network stream (rtsp://, http://, udp://, rtmp://...;\n"
            "or raw RGB24 frames, W x H x 3 bytes each, on standard input), extract I3D\n"
            "features every 16 frames, score them and print one line per alarm start and end.\n\n"
            "  --extractor X       extractor file (arnet import i3d)\n"
            "  --flow-extractor F  I3D's flow network: score RGB + flow features (2048 per\n"
            "                      clip, a model trained on two-stream features), flow by\n"
            "                      TV-L1 computed as each frame arrives\n"
            "  --model MODEL       model file (arnet train)\n"
            "  --cameras FILE      many cameras in one process, one a line:\n"
            "                      'ID URL|- [threshold=T] [off=T] [transport=tcp|udp]'\n"
            "                      (# starts a comment); the network loaded once\n"
            "  --id NAME           camera id of the single input (default cam0)\n"
            "  --threshold T       alarm threshold on the smoothed score (default: the model's\n"
            "                      " THRESHOLD_KEY " metadata, else 0.5)\n"
            "  --off-threshold T   an alarm ends below this (default 0.6 x the threshold)\n"
            "  --min-on N          clips at or above the threshold before an alarm (default 3)\n"
            "  --min-off N         clips below the off threshold before it ends (default 5)\n"
            "  --window N          scores averaged (default 5; 1 = raw scores)\n"
            "  --json              one JSON object per line (camera, ISO 8601 UTC time,\n"
            "                      video_time) instead of text\n"
            "  --scores            also a line per scored clip (raw and smoothed score)\n"
            "  --heartbeat S       a heartbeat line per camera every S seconds (0 = none)\n"
            "  --status S          a status line on stderr every S seconds (default 60; 0 = none)\n"
            "  --snapshots DIR     write the frame at each alarm's peak as DIR/ID-...jpg (path\n"
            "                      in the end event)\n"
            "  --mqtt URL          also publish events to mqtt://HOST[:PORT][/PREFIX] (topic\n"
            "                      PREFIX/ID/EVENT, QoS 1, at least once; default prefix arnet)\n"
            "  --mqtt-queue N      events kept while the broker is away (default 10000)\n"
            "  --timeout S         a network input with no data for S seconds is lost\n"
            "                      (default 10)\n"
            "  --reconnect-max S   longest wait between reconnection attempts (default 30;\n"
            "                      waits double from 0.5 s)\n"
            "  --retries N         give a camera up after N failed attempts in a row\n"
            "                      (default 0: never)\n"
            "  --transport T       RTSP over tcp or udp (default: FFmpeg's, UDP then TCP)\n"
            "  --strict            the first damaged packet, frame or timestamp jump ends\n"
            "                      the input (default: skip, count and report them)\n"
            "  --realtime          pace a file at its frame rate (as a camera would)\n"
            "  --size WxH, --fps F frame size and rate of raw frames on standard input\n"
            "  --crops, --resize, --filter, --threads, --last-clip   as for arnet extract\n"
            "  --flow-at, --flow-values, --flow-bound, --flow-channels, --flow-preset,\n"
            "  --flow-inexact\n"
            "                      the flow recipe, as for arnet extract\n\n"
            "Text lines: 'HH:MM:SS.mmm alarm start clip C score S' and\n"
            "'HH:MM:SS.mmm alarm end clips C1-C2 from HH:MM:SS.mmm peak P' (video times; the\n"
            "end time is where the last clip of the alarm ends), 'HH:MM:SS.mmm stream lost:\n"
            "REASON' and '... stream back after S s'; with --cameras each line starts with\n"
            "the camera id.  A network input that fails or ends is reopened; an alarm open\n"
            "then ends with the reason.  SIGINT and SIGTERM stop every state within a second.\n"
            "Throughput and damage counts go to stderr at the end.\n");
    cli_print_exit_codes(f, CLI_EXITS_INTERRUPT);
    if (!cli_video_available())
        fprintf(f, "\nNote: %s.\n", cli_video_missing());
}

/* ---- settings shared by every camera ----------------------------------------- */

typedef struct settings {
    arnet_extractor_options xopt;
    arnet_flow_options fopt; /* with a flow network (--flow-extractor) */
    double threshold, off;
    uint64_t min_on, min_off, window;
    int json, scores, realtime, strict, multi;
    double heartbeat, status_every, timeout, reconnect_max;
    uint64_t retries;
    const char *transport;
    const char *snapshots;
    uint32_t raw_w, raw_h;
    double raw_fps;
} settings;

/* ---- events out: stdout and MQTT, one line at a time ---------------------------- */

static pthread_mutex_t out_lock = PTHREAD_MUTEX_INITIALIZER;
static cli_mqtt *mqtt;

static double wall_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* ISO 8601 UTC with milliseconds: 2026-12-06T12:34:56.789Z */
static void fmt_wall(double t, char *buf, size_t n)
{
    time_t s = (time_t)floor(t);
    int ms = (int)((t - floor(t)) * 1000.0);
    if (ms > 999)
        ms = 999;
    struct tm tm;
    char day[40] = "";
    gmtime_r(&s, &tm);
    strftime(day, sizeof day, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(buf, n, "%s.%03dZ", day, ms < 0 ? 0 : ms);
}

static void fmt_time(double t, char *buf, size_t n)
{
    if (!(t >= 0))
        t = 0;
    long long ms = llround(t * 1000.0);
    snprintf(buf, n, "%02lld:%02lld:%02lld.%03lld", ms / 3600000, ms / 60000 % 60, ms / 1000 % 60,
             ms % 1000);
}

/* A JSON string's characters (no quotes) into a buffer. */
static void json_escape(char *o, size_t n, const char *s)
{
    size_t k = 0;
    for (; *s && k + 7 < n; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\') {
            o[k++] = '\\';
            o[k++] = (char)c;
        } else if (c < 0x20) {
            k += (size_t)snprintf(o + k, n - k, "\\u%04x", c);
        } else {
            o[k++] = (char)c;
        }
    }
    o[k] = 0;
}

/* One event: standard output gets the JSON object (json_out, --json) or
 * the text line, the broker (--mqtt) the JSON object. */
static void emit(int json_out, const char *camera, const char *event, const char *json,
                 const char *text)
{
    pthread_mutex_lock(&out_lock);
    printf("%s\n", json_out ? json : text);
    fflush(stdout);
    pthread_mutex_unlock(&out_lock);
    if (mqtt)
        cli_mqtt_publish(mqtt, camera, event, json);
}

/* ---- one camera ------------------------------------------------------------------ */

typedef struct clip_rec {
    double vt, wall; /* video time and wall clock of the clip's first frame */
    float smoothed;
} clip_rec;

typedef struct camera {
    char id[MAX_ID + 1];
    char *url;
    int raw, network;
    double threshold, off; /* < 0: the shared settings */
    const char *transport;
    const settings *set;
    int line; /* in the cameras file, 0 for the single input */
    /* the run */
    pthread_t thread;
    int started;
    arnet_extractor_state *volatile xs;
    arnet_two_stream_state *volatile ts; /* instead of xs with --flow-extractor */
    arnet_scorer *scorer;
    arnet_stream *stream;
    cli_video *video;
    float *feat, *mean;
    clip_rec *ring;
    size_t ring_n;
    uint64_t clip_base; /* clips before this stream's current numbering (streams restart at reset) */
    uint64_t clips_total;
    /* snapshots: the middle frame of the last ring_n clips and the alarm's peak */
    uint8_t **cand;
    uint8_t *peak;
    size_t frame_bytes;
    uint32_t fw, fh;
    float peak_score;
    uint64_t peak_clip;
    int have_peak;
    /* alarm in progress: times of its start */
    double alarm_vt, alarm_wall;
    const char *end_reason; /* why the next END comes: NULL = scores */
    /* times */
    double t_offset, last_t, last_end, dt;
    int have_t;
    uint64_t in_clip; /* frames of the clip in progress */
    /* counters (lock: mu) */
    pthread_mutex_t mu;
    uint64_t frames, alarms, losses, ts_jumps, damaged_packets, damaged_frames, missing;
    int up;            /* 1 while frames come */
    int done;          /* the thread ended */
    int rc;            /* its exit status */
    double t_start, t_end;
    double state_bytes;
    char info[160];
} camera;

static camera *cams;
static size_t n_cams;

/* SIGINT/SIGTERM: cancel every running extraction (async-signal-safe). */
static void cancel_all(void)
{
    for (size_t i = 0; i < n_cams; i++) {
        arnet_extractor_state *st = cams[i].xs;
        if (st)
            arnet_extractor_cancel(st);
        arnet_two_stream_state *ts = cams[i].ts;
        if (ts)
            arnet_two_stream_cancel(ts);
    }
}

static void cam_json_head(const camera *c, char *buf, size_t n, const char *event, double wall,
                          double vt)
{
    char w[64], id[2 * MAX_ID + 8];
    fmt_wall(wall, w, sizeof w);
    json_escape(id, sizeof id, c->id);
    snprintf(buf, n, "{\"event\": \"%s\", \"camera\": \"%s\", \"time\": \"%s\", \"video_time\": %.3f",
             event, id, w, vt);
}

static void cam_text_head(const camera *c, char *buf, size_t n, double vt)
{
    char a[32];
    fmt_time(vt, a, sizeof a);
    if (c->set->multi)
        snprintf(buf, n, "%s %s", c->id, a);
    else
        snprintf(buf, n, "%s", a);
}

static const clip_rec *clip_at(const camera *c, uint64_t clip)
{
    if (clip + c->ring_n <= c->clips_total || clip >= c->clips_total)
        return NULL;
    return &c->ring[clip % c->ring_n];
}

static double clip_vt(const camera *c, uint64_t clip)
{
    const clip_rec *r = clip_at(c, clip);
    return r ? r->vt : c->last_end;
}

static double clip_wall(const camera *c, uint64_t clip)
{
    const clip_rec *r = clip_at(c, clip);
    return r ? r->wall : wall_now();
}

/* Keep the candidate frame of clip as the alarm's peak. */
static void take_peak(camera *c, uint64_t clip, float score)
{
    c->peak_score = score;
    c->peak_clip = clip;
    c->have_peak = 0;
    if (c->cand && clip + c->ring_n > c->clips_total && clip < c->clips_total) {
        memcpy(c->peak, c->cand[clip % c->ring_n], c->frame_bytes);
        c->have_peak = 1;
    }
}

static void write_snapshot(camera *c, char *path, size_t n)
{
    path[0] = 0;
    if (!c->set->snapshots || !c->have_peak)
        return;
    char stamp[64];
    fmt_wall(clip_wall(c, c->peak_clip), stamp, sizeof stamp);
    for (char *p = stamp; *p; p++) /* no colons in file names */
        if (*p == ':')
            *p = '-';
    snprintf(path, n, "%s/%s-%s-clip%llu.jpg", c->set->snapshots, c->id, stamp,
             (unsigned long long)c->peak_clip);
    arnet_frame fr;
    arnet_frame_init(&fr);
    fr.format = ARNET_PIXEL_RGB24;
    fr.width = c->fw;
    fr.height = c->fh;
    fr.planes[0] = c->peak;
    fr.strides[0] = (size_t)c->fw * 3;
    char err[256];
    if (cli_video_write_jpeg(path, &fr, 3, err, sizeof err) < 0) {
        fprintf(stderr, "arnet watch: %s: snapshot: %s\n", c->id, err);
        path[0] = 0;
    }
}

static void on_event(void *user, const arnet_event *ev)
{
    camera *c = user;
    char js[2048], tx[1024], h[640];
    uint64_t base = c->clip_base;
    if (ev->type == ARNET_EVENT_ALARM_START) {
        uint64_t s = base + ev->start_clip;
        /* this clip's smoothed score, not yet in the ring */
        arnet_stream_state st;
        arnet_stream_state_init(&st);
        if (arnet_stream_get_state(c->stream, &st) == ARNET_OK && c->clips_total)
            c->ring[(c->clips_total - 1) % c->ring_n].smoothed = st.last_smoothed;
        c->have_peak = 0;
        c->peak_score = -1;
        for (uint64_t k = s; k < c->clips_total; k++) {
            const clip_rec *r = clip_at(c, k);
            if (r && r->smoothed > c->peak_score)
                take_peak(c, k, r->smoothed);
        }
        c->alarm_vt = clip_vt(c, s);
        c->alarm_wall = clip_wall(c, s);
        pthread_mutex_lock(&c->mu);
        c->alarms++;
        pthread_mutex_unlock(&c->mu);
        cam_json_head(c, h, sizeof h, "start", c->alarm_wall, c->alarm_vt);
        snprintf(js, sizeof js, "%s, \"clip\": %llu, \"score\": %.6g}", h, (unsigned long long)s,
                 (double)ev->peak_score);
        cam_text_head(c, h, sizeof h, c->alarm_vt);
        snprintf(tx, sizeof tx, "%s alarm start clip %llu score %.3f", h, (unsigned long long)s,
                 (double)ev->peak_score);
        emit(c->set->json, c->id, "start", js, tx);
    } else if (ev->type == ARNET_EVENT_ALARM_END) {
        uint64_t s = base + ev->start_clip, e = base + ev->end_clip;
        double vt = clip_vt(c, e + 1), wall = clip_wall(c, e + 1);
        char snap[1024], snap_js[1100] = "", esc[1024];
        write_snapshot(c, snap, sizeof snap);
        if (snap[0]) {
            json_escape(esc, sizeof esc, snap);
            snprintf(snap_js, sizeof snap_js, ", \"snapshot\": \"%s\"", esc);
        }
        const char *reason = c->end_reason ? c->end_reason : "scores";
        char st[64];
        fmt_wall(c->alarm_wall, st, sizeof st);
        cam_json_head(c, h, sizeof h, "end", wall, vt);
        snprintf(js, sizeof js,
                 "%s, \"start_time\": \"%s\", \"start_video_time\": %.3f, \"start_clip\": %llu, "
                 "\"end_clip\": %llu, \"peak\": %.6g, \"peak_clip\": %llu, \"reason\": \"%s\"%s}",
                 h, st, c->alarm_vt, (unsigned long long)s, (unsigned long long)e,
                 (double)ev->peak_score, (unsigned long long)c->peak_clip, reason, snap_js);
        char a[32];
        fmt_time(c->alarm_vt, a, sizeof a);
        cam_text_head(c, h, sizeof h, vt);
        int k = snprintf(tx, sizeof tx, "%s alarm end clips %llu-%llu from %s peak %.3f", h,
                         (unsigned long long)s, (unsigned long long)e, a, (double)ev->peak_score);
        if (c->end_reason && k > 0 && (size_t)k < sizeof tx)
            k += snprintf(tx + k, sizeof tx - (size_t)k, " (%s)", c->end_reason);
        if (snap[0] && k > 0 && (size_t)k < sizeof tx)
            snprintf(tx + k, sizeof tx - (size_t)k, " snapshot %s", snap);
        emit(c->set->json, c->id, "end", js, tx);
        c->have_peak = 0;
    }
}

static void emit_stream(camera *c, const char *event, const char *detail_json,
                        const char *detail_text)
{
    char js[2048], tx[1024], h[640];
    cam_json_head(c, h, sizeof h, event, wall_now(), c->last_end);
    snprintf(js, sizeof js, "%s%s}", h, detail_json);
    cam_text_head(c, h, sizeof h, c->last_end);
    snprintf(tx, sizeof tx, "%s %s%s", h, event, detail_text);
    emit(c->set->json, c->id, event, js, tx);
}

/* The input is gone (err says why): counted, and a "stream lost" event. */
static void stream_lost(camera *c, const char *err)
{
    char dj[700], dt[700], esc[600];
    json_escape(esc, sizeof esc, err);
    snprintf(dj, sizeof dj, ", \"reason\": \"%s\"", esc);
    snprintf(dt, sizeof dt, ": %s", err);
    pthread_mutex_lock(&c->mu);
    c->losses++;
    pthread_mutex_unlock(&c->mu);
    emit_stream(c, "stream lost", dj, dt);
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

/* Shared, read-only during the run (net_fx: the flow network, or NULL). */
static arnet_extractor *net_x, *net_fx;
static arnet_model *net_m;

static int cam_fail(camera *c, int st, const char *what)
{
    char msg[600];
    cli_user_message(arnet_last_error(), msg, sizeof msg);
    fprintf(stderr, "arnet watch: %s: %s: %s\n", c->id, what, msg);
    (void)st;
    return CLI_EXIT_FAIL;
}

/* The per-camera state for frames of this size (again after a reconnect
 * that changed it). */
static int cam_size(camera *c, const arnet_frame *fr)
{
    if ((c->xs || c->ts) && fr->width == c->fw && fr->height == c->fh)
        return 0;
    arnet_extractor_state *old = c->xs;
    arnet_two_stream_state *old_ts = c->ts;
    c->xs = NULL;
    c->ts = NULL;
    arnet_extractor_state_free(old);
    arnet_two_stream_state_free(old_ts);
    for (size_t k = 0; c->cand && k < c->ring_n; k++)
        free(c->cand[k]);
    free(c->cand);
    free(c->peak);
    c->cand = NULL;
    c->peak = NULL;
    arnet_extractor_options o = c->set->xopt;
    o.frame_width = fr->width;
    o.frame_height = fr->height;
    arnet_extractor_state *xs = NULL;
    arnet_two_stream_state *ts = NULL;
    int st;
    if (net_fx) {
        arnet_flow_options fo = c->set->fopt;
        fo.threads = c->set->xopt.threads;
        st = arnet_two_stream_state_create(net_x, net_fx, &o, &fo, &ts);
    } else {
        st = arnet_extractor_state_create(net_x, &o, &xs);
    }
    if (st != ARNET_OK)
        return cam_fail(c, st, c->url);
    c->fw = fr->width;
    c->fh = fr->height;
    c->frame_bytes = (size_t)fr->width * fr->height * 3;
    size_t snap = 0;
    if (c->set->snapshots) {
        c->cand = calloc(c->ring_n, sizeof *c->cand);
        c->peak = malloc(c->frame_bytes);
        if (!c->cand || !c->peak) {
            arnet_extractor_state_free(xs);
            arnet_two_stream_state_free(ts);
            fprintf(stderr, "arnet watch: %s: out of memory for snapshots\n", c->id);
            return CLI_EXIT_FAIL;
        }
        for (size_t k = 0; k < c->ring_n; k++)
            if (!(c->cand[k] = malloc(c->frame_bytes))) {
                arnet_extractor_state_free(xs);
                arnet_two_stream_state_free(ts);
                fprintf(stderr, "arnet watch: %s: out of memory for snapshots\n", c->id);
                return CLI_EXIT_FAIL;
            }
        snap = (c->ring_n + 1) * c->frame_bytes;
    }
    c->xs = xs;
    c->ts = ts;
    size_t xmem = ts ? arnet_two_stream_state_memory(ts) : arnet_extractor_state_memory(xs);
    size_t mem = xmem + arnet_scorer_memory(c->scorer) + c->ring_n * sizeof(clip_rec) + snap;
    c->state_bytes = (double)mem;
    fprintf(stderr, "arnet watch: %s: %ux%u frames; this camera holds %.1f MB (%s state %.1f "
                        "MB, scorer %.1f KB, snapshots %.1f MB)\n",
                c->id, fr->width, fr->height, mem / 1e6, ts ? "two-stream" : "extractor",
                xmem / 1e6,
                arnet_scorer_memory(c->scorer) / 1e3, snap / 1e6);
    return 0;
}

/* Score a ready feature. */
static int cam_score(camera *c, uint32_t dim)
{
    const float *f = c->feat;
    uint32_t crops = c->set->xopt.crops;
    int st;
    if (crops > 1) { /* the crops' mean, as arnet_npy_read reads [T, C, F] */
        if ((st = arnet_crop_mean(c->feat, crops, dim, c->mean)) != ARNET_OK)
            return cam_fail(c, st, c->url);
        f = c->mean;
    }
    arnet_stream_result res;
    arnet_stream_result_init(&res);
    st = arnet_stream_push(c->stream, c->scorer, f, &res);
    if (st != ARNET_OK)
        return cam_fail(c, st, c->url);
    uint64_t clip = c->clip_base + res.clip_index;
    c->ring[clip % c->ring_n].smoothed = res.smoothed;
    if (res.alarm && res.event != ARNET_EVENT_ALARM_START && res.smoothed > c->peak_score)
        take_peak(c, clip, res.smoothed);
    if (c->set->scores) {
        char js[1536], tx[1024], h[640];
        const clip_rec *r = clip_at(c, clip);
        cam_json_head(c, h, sizeof h, "score", r ? r->wall : wall_now(), r ? r->vt : c->last_end);
        snprintf(js, sizeof js, "%s, \"clip\": %llu, \"raw\": %.6g, \"smoothed\": %.6g, "
                                "\"alarm\": %s}",
                 h, (unsigned long long)clip, (double)res.raw, (double)res.smoothed,
                 res.alarm ? "true" : "false");
        cam_text_head(c, h, sizeof h, r ? r->vt : c->last_end);
        snprintf(tx, sizeof tx, "%s score clip %llu raw %.4f smoothed %.4f%s", h,
                 (unsigned long long)clip, (double)res.raw, (double)res.smoothed,
                 res.alarm ? " alarm" : "");
        emit(c->set->json, c->id, "score", js, tx);
    }
    return 0;
}

/* Drop the partial clip and close an open alarm with a reason; clips keep
 * counting across (the stream restarts its numbering). */
static int cam_break(camera *c, const char *reason)
{
    if (c->xs)
        arnet_extractor_reset(c->xs);
    if (c->ts)
        arnet_two_stream_reset(c->ts);
    arnet_stream_state ss;
    arnet_stream_state_init(&ss);
    if (arnet_stream_get_state(c->stream, &ss) != ARNET_OK)
        ss.clips = 0;
    /* The END of an open alarm first: its last clip ends where the dropped
     * partial clip began (its first frame's time is still in the ring). */
    c->end_reason = reason;
    int st = arnet_stream_reset(c->stream);
    c->end_reason = NULL;
    c->clip_base += ss.clips;
    if (c->in_clip) { /* the partial clip is gone: its number is the next one's */
        pthread_mutex_lock(&c->mu);
        c->clips_total--;
        pthread_mutex_unlock(&c->mu);
        c->in_clip = 0;
    }
    return st == ARNET_OK ? 0 : cam_fail(c, st, c->url);
}

static void cam_sleep_until(double t)
{
    double d = t - cli_now();
    if (d > 0)
        cli_sleep(d);
}

/* One session: frames until the input ends or fails.  Returns 0 at the
 * end of the input, 1 when the input failed (reason in err), or an exit
 * status >= 2 for errors of the camera itself (CLI_EXIT_FAIL is 1: such
 * errors come back as -1). */
static int cam_session(camera *c, raw_in *rin, uint32_t dim, char *err, size_t errlen)
{
    const settings *s = c->set;
    uint32_t clip_frames = s->xopt.clip_frames ? s->xopt.clip_frames : 16;
    double anchor = cli_now() - c->last_end;
    for (;;) {
        if (cli_interrupted())
            return 0;
        arnet_frame fr;
        double t = 0;
        int got;
        if (c->raw) {
            got = raw_read(rin, &fr);
            t = (double)rin->index / s->raw_fps - 1.0 / s->raw_fps;
        } else {
            got = cli_video_read(c->video, &fr, &t, err, errlen);
            cli_video_damage d;
            cli_video_damage_get(c->video, &d);
            pthread_mutex_lock(&c->mu);
            c->damaged_packets = d.packets;
            c->damaged_frames = d.frames;
            pthread_mutex_unlock(&c->mu);
            if (got < 0)
                return cli_interrupted() ? 0 : 1;
        }
        if (!got) {
            if (c->xs && !c->network) { /* the end of a file: a padded last clip */
                int ready = 0;
                int st = arnet_extractor_flush(c->xs, c->feat, &ready);
                if (st == ARNET_E_CANCELLED)
                    return 0;
                if (st != ARNET_OK)
                    return -cam_fail(c, st, c->url);
                if (ready && cam_score(c, dim))
                    return -1;
                if (ready)
                    c->in_clip = 0; /* the padded clip was scored */
            }
            if (!c->raw && !c->network) {
                cli_video_damage d;
                cli_video_damage_get(c->video, &d);
                pthread_mutex_lock(&c->mu);
                c->missing = d.missing > 0 ? (uint64_t)d.missing : 0;
                pthread_mutex_unlock(&c->mu);
                if (d.missing > 0 && s->strict) {
                    snprintf(err, errlen, "the file ends %lld frames before the %lld it states",
                             (long long)d.missing, (long long)(c->frames + d.missing));
                    return 1;
                }
            }
            if (c->network) {
                snprintf(err, errlen, "the stream ended");
                return 1;
            }
            if (s->realtime && !c->raw)
                cam_sleep_until(anchor + c->last_end); /* the last frame lasts its time too */
            return 0;
        }
        /* Times: the input's, made continuous across reconnections and
         * over timestamp jumps (counted as damage). */
        double vt = t + c->t_offset;
        if (c->have_t) {
            double gap = vt - c->last_t, limit = c->dt > 0 ? 10 * c->dt : 1.0;
            if (limit < 2.0)
                limit = 2.0;
            if (gap > limit || gap < -limit) {
                pthread_mutex_lock(&c->mu);
                c->ts_jumps++;
                pthread_mutex_unlock(&c->mu);
                if (s->strict) {
                    snprintf(err, errlen, "a timestamp jump of %.3f s after frame %llu", gap,
                             (unsigned long long)c->frames);
                    return 1;
                }
                double step = c->dt > 0 ? c->dt : 0.04;
                c->t_offset += c->last_t + step - vt;
                vt = c->last_t + step;
            }
        }
        c->have_t = 1;
        c->last_t = vt;
        if (s->realtime && !c->network && !c->raw)
            cam_sleep_until(anchor + vt);
        if (cli_interrupted())
            return 0;
        int rc = cam_size(c, &fr);
        if (rc)
            return -rc;
        if (!c->up) {
            pthread_mutex_lock(&c->mu);
            c->up = 1;
            pthread_mutex_unlock(&c->mu);
        }
        if (c->in_clip == 0) {
            clip_rec *r = &c->ring[c->clips_total % c->ring_n];
            r->vt = vt;
            r->wall = wall_now();
            r->smoothed = 0;
            pthread_mutex_lock(&c->mu);
            c->clips_total++;
            pthread_mutex_unlock(&c->mu);
        }
        if (c->cand && c->in_clip == clip_frames / 2) {
            uint8_t *dst = c->cand[(c->clips_total - 1) % c->ring_n];
            for (uint32_t y = 0; y < fr.height; y++)
                memcpy(dst + (size_t)y * fr.width * 3, fr.planes[0] + (size_t)y * fr.strides[0],
                       (size_t)fr.width * 3);
        }
        c->in_clip = (c->in_clip + 1) % clip_frames;
        pthread_mutex_lock(&c->mu); /* the main thread reads these for status lines */
        c->frames++;
        c->last_end = vt + c->dt;
        pthread_mutex_unlock(&c->mu);
        int ready = 0;
        int st = c->ts ? arnet_two_stream_push(c->ts, &fr, c->feat, &ready)
                       : arnet_extractor_push(c->xs, &fr, c->feat, &ready);
        if (st == ARNET_E_CANCELLED)
            return 0;
        if (st != ARNET_OK)
            return -cam_fail(c, st, c->url);
        if (ready && cam_score(c, dim))
            return -1;
    }
}

/* A file or pipe input failed (it is not reconnected): said, and the
 * camera's exit status is a failure. */
static void input_failed(camera *c, const char *err)
{
    if (c->set->multi)
        fprintf(stderr, "arnet watch: %s: %s: %s\n", c->id, c->url, err);
    else
        fprintf(stderr, "arnet watch: %s: %s\n", c->url, err);
    c->rc = CLI_EXIT_FAIL;
}

static void *cam_thread(void *arg)
{
    camera *c = arg;
    const settings *s = c->set;
    char err[512];
    raw_in rin = {0};
    uint32_t dim = arnet_extractor_feature_dim(net_x) * (net_fx ? 2 : 1);
    c->t_start = cli_now();
    c->rc = 0;
    if (c->raw) {
        rin.w = s->raw_w;
        rin.h = s->raw_h;
        c->dt = 1.0 / s->raw_fps;
        if (!(rin.buf = malloc((size_t)rin.w * rin.h * 3))) {
            fprintf(stderr, "arnet watch: out of memory for a %ux%u frame\n", rin.w, rin.h);
            c->rc = CLI_EXIT_FAIL;
            goto out;
        }
        int r = cam_session(c, &rin, dim, err, sizeof err);
        if (r < 0)
            c->rc = -r;
        goto out;
    }
    cli_video_net net = {c->network ? s->timeout : 0, NULL, s->strict,
                         c->transport ? c->transport : s->transport};
    double backoff = 0.5, down_since = -1;
    uint64_t attempts = 0;
    int lost = 0;
    char reason[512] = "";
    while (!cli_interrupted()) {
        int r = cli_video_open_net(c->url, 0, &net, &c->video, err, sizeof err);
        if (r < 0) {
            if (cli_interrupted())
                break;
            if (!c->network) {
                input_failed(c, err);
                break;
            }
            attempts++;
            if (!lost) { /* down from the start: said once, like a loss */
                lost = 1;
                down_since = cli_now();
                snprintf(reason, sizeof reason, "%s", err);
                stream_lost(c, err);
            }
            if (s->retries && attempts >= s->retries) {
                fprintf(stderr, "arnet watch: %s: giving up after %llu attempts: %s\n", c->id,
                        (unsigned long long)attempts, err);
                c->rc = CLI_EXIT_FAIL;
                break;
            }
            pthread_mutex_lock(&c->mu);
            snprintf(c->info, sizeof c->info, "retry %llu in %.1f s: %.100s",
                     (unsigned long long)attempts + 1, backoff, err);
            pthread_mutex_unlock(&c->mu);
            cli_sleep(backoff);
            backoff = backoff * 2 > s->reconnect_max ? s->reconnect_max : backoff * 2;
            continue;
        }
        cli_video_info info;
        cli_video_info_get(c->video, &info);
        c->dt = info.fps > 0 ? 1.0 / info.fps : 0.04;
        c->t_offset = c->last_end; /* a new session's times go on from the last one's */
        c->have_t = 0;
        pthread_mutex_lock(&c->mu);
        snprintf(c->info, sizeof c->info, "%ux%u %s in %s, %.3g fps", info.width, info.height,
                 info.codec, info.container, info.fps);
        pthread_mutex_unlock(&c->mu);
        if (!s->json && !s->multi)
            fprintf(stderr, "arnet watch: %s: %ux%u, %s in %s, %.3g fps, threshold %g\n", c->url,
                    info.width, info.height, info.codec, info.container, info.fps,
                    c->threshold >= 0 ? c->threshold : s->threshold);
        if (lost) {
            char dj[128], dt[128];
            double down = cli_now() - down_since;
            /* attempts: the opens tried since the loss, this one included */
            snprintf(dj, sizeof dj, ", \"down_seconds\": %.3f, \"attempts\": %llu", down,
                     (unsigned long long)attempts + 1);
            snprintf(dt, sizeof dt, " after %.1f s (%llu attempts)", down,
                     (unsigned long long)attempts + 1);
            emit_stream(c, "stream back", dj, dt);
            lost = 0;
        }
        uint64_t frames_before = c->frames;
        r = cam_session(c, &rin, dim, err, sizeof err);
        cli_video_close(c->video);
        c->video = NULL;
        pthread_mutex_lock(&c->mu);
        c->up = 0;
        pthread_mutex_unlock(&c->mu);
        if (r < 0) {
            c->rc = -r;
            break;
        }
        if (cli_interrupted() || r == 0)
            break;
        /* r == 1: the input failed or (network) ended */
        if (!c->network) {
            input_failed(c, err);
            break;
        }
        lost = 1;
        down_since = cli_now();
        attempts = 0;
        if (c->frames > frames_before)
            backoff = 0.5;
        snprintf(reason, sizeof reason, "%s", err);
        stream_lost(c, err);
        if (cam_break(c, "stream lost")) {
            c->rc = CLI_EXIT_FAIL;
            break;
        }
        pthread_mutex_lock(&c->mu);
        snprintf(c->info, sizeof c->info, "reconnecting in %.1f s", backoff);
        pthread_mutex_unlock(&c->mu);
        cli_sleep(backoff);
        backoff = backoff * 2 > s->reconnect_max ? s->reconnect_max : backoff * 2;
    }
out:
    /* Close an alarm still on: at the end of the input, or interrupted. */
    if (cam_break(c, cli_interrupted() ? "interrupted" : c->rc ? "error" : "end of input") &&
        !c->rc)
        c->rc = CLI_EXIT_FAIL;
    if (rin.partial)
        fprintf(stderr, "arnet watch: standard input ended inside frame %llu (a partial frame "
                        "of %ux%u RGB24 was dropped)\n",
                (unsigned long long)c->frames, rin.w, rin.h);
    free(rin.buf);
    c->t_end = cli_now();
    pthread_mutex_lock(&c->mu);
    c->done = 1;
    pthread_mutex_unlock(&c->mu);
    return NULL;
}

/* ---- the cameras file ------------------------------------------------------------ */

static int parse_cameras(const char *path, settings *set, camera **out, size_t *n_out,
                         char ***owned, size_t *n_owned)
{
    FILE *f = cli_fopen_read(path);
    if (!f) {
        fprintf(stderr, "arnet watch: %s: %s\n", path, cli_open_error(path));
        return CLI_EXIT_FAIL;
    }
    camera *cs = calloc(MAX_CAMERAS, sizeof *cs);
    char **own = calloc(MAX_CAMERAS, sizeof *own);
    char line[MAX_LINE + 2];
    size_t n = 0;
    int lineno = 0, rc = 0, stdin_used = 0;
    if (!cs || !own) {
        fprintf(stderr, "arnet watch: out of memory\n");
        rc = CLI_EXIT_FAIL;
        goto out;
    }
    while (fgets(line, sizeof line, f)) {
        lineno++;
        size_t len = strlen(line);
        if (len > MAX_LINE && line[len - 1] != '\n') {
            fprintf(stderr, "arnet watch: %s:%d: line longer than %d bytes\n", path, lineno,
                    MAX_LINE);
            rc = CLI_EXIT_FAIL;
            goto out;
        }
        char *hash = strchr(line, '#');
        if (hash)
            *hash = 0;
        char *save = NULL, *id = strtok_r(line, " \t\r\n", &save);
        if (!id)
            continue;
        char *url = strtok_r(NULL, " \t\r\n", &save);
        if (!url) {
            fprintf(stderr, "arnet watch: %s:%d: camera '%s' has no URL (give one, or - for "
                            "raw frames on standard input)\n",
                    path, lineno, id);
            rc = CLI_EXIT_FAIL;
            goto out;
        }
        if (strlen(id) > MAX_ID) {
            fprintf(stderr, "arnet watch: %s:%d: camera id longer than %d characters\n", path,
                    lineno, MAX_ID);
            rc = CLI_EXIT_FAIL;
            goto out;
        }
        for (const char *p = id; *p; p++)
            if (!(isalnum((unsigned char)*p) || *p == '-' || *p == '_' || *p == '.')) {
                fprintf(stderr, "arnet watch: %s:%d: camera id '%s': letters, digits, '-', "
                                "'_' and '.' only (it names topics and files)\n",
                        path, lineno, id);
                rc = CLI_EXIT_FAIL;
                goto out;
            }
        for (size_t k = 0; k < n; k++)
            if (!strcmp(cs[k].id, id)) {
                fprintf(stderr, "arnet watch: %s:%d: camera id '%s' is already on line %d\n",
                        path, lineno, id, cs[k].line);
                rc = CLI_EXIT_FAIL;
                goto out;
            }
        if (n == MAX_CAMERAS) {
            fprintf(stderr, "arnet watch: %s:%d: more than %d cameras\n", path, lineno,
                    MAX_CAMERAS);
            rc = CLI_EXIT_FAIL;
            goto out;
        }
        camera *c = &cs[n];
        snprintf(c->id, sizeof c->id, "%s", id);
        c->line = lineno;
        c->threshold = c->off = -1;
        if (!(own[n] = strdup(url))) {
            fprintf(stderr, "arnet watch: out of memory\n");
            rc = CLI_EXIT_FAIL;
            goto out;
        }
        c->url = own[n];
        n++;
        c->raw = !strcmp(url, "-");
        if (c->raw) {
            if (stdin_used || !set->raw_w || set->raw_fps <= 0) {
                fprintf(stderr, "arnet watch: %s:%d: %s\n", path, lineno,
                        stdin_used ? "only one camera can read standard input (-)"
                                   : "raw frames on standard input (-) need --size WxH and --fps F");
                rc = CLI_EXIT_FAIL;
                goto out;
            }
            stdin_used = 1;
        }
        for (char *kv; (kv = strtok_r(NULL, " \t\r\n", &save));) {
            char *eq = strchr(kv, '=');
            char where[64];
            snprintf(where, sizeof where, "%s:%d", path, lineno);
            if (eq)
                *eq = 0;
            const char *val = eq ? eq + 1 : "";
            if (eq && !strcmp(kv, "threshold")) {
                if (!cli_parse_double(CMD, where, val, 0.0, 1e6, &c->threshold)) {
                    rc = CLI_EXIT_FAIL;
                    goto out;
                }
            } else if (eq && (!strcmp(kv, "off") || !strcmp(kv, "off-threshold"))) {
                if (!cli_parse_double(CMD, where, val, 0.0, 1e6, &c->off)) {
                    rc = CLI_EXIT_FAIL;
                    goto out;
                }
            } else if (eq && !strcmp(kv, "transport") &&
                       (!strcmp(val, "tcp") || !strcmp(val, "udp"))) {
                c->transport = !strcmp(val, "tcp") ? "tcp" : "udp";
            } else {
                fprintf(stderr, "arnet watch: %s:%d: unknown camera option '%s%s%s' (threshold=T, "
                                "off=T, transport=tcp|udp)\n",
                        path, lineno, kv, eq ? "=" : "", val);
                rc = CLI_EXIT_FAIL;
                goto out;
            }
        }
    }
    if (ferror(f)) {
        fprintf(stderr, "arnet watch: %s: read error: %s\n", path, strerror(errno));
        rc = CLI_EXIT_FAIL;
    } else if (!n) {
        fprintf(stderr, "arnet watch: %s: no camera in it (one a line: ID URL [options])\n",
                path);
        rc = CLI_EXIT_FAIL;
    }
out:
    fclose(f);
    *out = cs;
    *n_out = n;
    *owned = own;
    *n_owned = n;
    return rc;
}

/* ---- the program ------------------------------------------------------------------ */

static void emit_heartbeats(void)
{
    for (size_t i = 0; i < n_cams; i++) {
        camera *c = &cams[i];
        pthread_mutex_lock(&c->mu);
        int up = c->up, done = c->done;
        uint64_t frames = c->frames, alarms = c->alarms,
                 damaged = c->damaged_packets + c->damaged_frames + c->ts_jumps;
        double vt = c->last_end;
        pthread_mutex_unlock(&c->mu);
        if (done)
            continue;
        char js[1536], tx[1024], h[640];
        cam_json_head(c, h, sizeof h, "heartbeat", wall_now(), vt);
        snprintf(js, sizeof js, "%s, \"state\": \"%s\", \"frames\": %llu, \"alarms\": %llu, "
                                "\"damaged\": %llu}",
                 h, up ? "up" : "down", (unsigned long long)frames, (unsigned long long)alarms,
                 (unsigned long long)damaged);
        cam_text_head(c, h, sizeof h, vt);
        snprintf(tx, sizeof tx, "%s heartbeat %s frames %llu alarms %llu damaged %llu", h,
                 up ? "up" : "down", (unsigned long long)frames, (unsigned long long)alarms,
                 (unsigned long long)damaged);
        emit(c->set->json, c->id, "heartbeat", js, tx);
    }
}

static void print_status(int final, double t0)
{
    for (size_t i = 0; i < n_cams; i++) {
        camera *c = &cams[i];
        pthread_mutex_lock(&c->mu);
        uint64_t frames = c->frames, alarms = c->alarms, losses = c->losses, dp = c->damaged_packets,
                 df = c->damaged_frames, tj = c->ts_jumps, miss = c->missing;
        int up = c->up, done = c->done;
        char info[sizeof c->info];
        memcpy(info, c->info, sizeof info);
        double last_end = c->last_end;
        uint64_t clips = c->clips_total;
        pthread_mutex_unlock(&c->mu);
        double el = (done ? c->t_end : cli_now()) - (c->t_start > 0 ? c->t_start : t0);
        char dmg[200] = "";
        if (dp || df || tj || miss)
            snprintf(dmg, sizeof dmg, "; damage %s: %llu packets, %llu frames, %llu "
                                      "timestamp jumps, %llu frames missing at the end",
                     c->set->strict ? "(--strict stopped at it)" : "skipped",
                     (unsigned long long)dp, (unsigned long long)df, (unsigned long long)tj,
                     (unsigned long long)miss);
        else
            snprintf(dmg, sizeof dmg, "; no damage");
        char loss[64] = "";
        if (losses)
            snprintf(loss, sizeof loss, ", %llu times lost", (unsigned long long)losses);
        if (final) {
            fprintf(stderr,
                    "arnet watch: %s%s%llu frames (%.1f s of video), %llu clips scored in %.2f s: "
                    "%.1f frames/s, %.2f clips/s (%.2fx real time); %llu alarms%s%s%s\n",
                    n_cams > 1 ? c->id : "", n_cams > 1 ? ": " : "", (unsigned long long)frames,
                    last_end, (unsigned long long)clips, el,
                    el > 0 ? (double)frames / el : 0, el > 0 ? (double)clips / el : 0,
                    el > 0 ? last_end / el : 0, (unsigned long long)alarms, loss, dmg,
                    cli_interrupted() ? " (interrupted)" : "");
        } else {
            fprintf(stderr, "arnet watch: status %s: %s, %llu frames, %llu clips, %llu alarms%s%s%s%s\n",
                    c->id, done ? "ended" : up ? "up" : "down", (unsigned long long)frames,
                    (unsigned long long)clips, (unsigned long long)alarms, loss, dmg,
                    !up && !done && info[0] ? "; " : "", !up && !done ? info : "");
        }
    }
}

int cmd_watch(int argc, char **argv)
{
    const char *xpath = NULL, *fpath = NULL, *mpath = NULL, *input = NULL, *cameras_path = NULL,
               *v;
    int flow_opts = 0;
    const char *single_id = "cam0", *mqtt_url = NULL;
    uint64_t mqtt_queue = 10000;
    settings set;
    memset(&set, 0, sizeof set);
    arnet_extractor_options_init(&set.xopt);
    arnet_flow_options_init(&set.fopt);
    set.threshold = set.off = -1;
    set.min_on = 3;
    set.min_off = 5;
    set.window = 5;
    set.status_every = 60;
    set.timeout = 10;
    set.reconnect_max = 30;
    double fps = 0;
    uint32_t sw = 0, sh = 0;
    for (int i = 1; i < argc; i++) {
        int r = 0;
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            usage(stdout);
            return 0;
        } else if (!strcmp(argv[i], "--json")) {
            set.json = 1;
        } else if (!strcmp(argv[i], "--realtime")) {
            set.realtime = 1;
        } else if (!strcmp(argv[i], "--scores")) {
            set.scores = 1;
        } else if (!strcmp(argv[i], "--strict")) {
            set.strict = 1;
        } else if ((r = cli_extractor_option(CMD, argc, argv, &i, &set.xopt))) {
        } else if ((r = cli_flow_option(CMD, argc, argv, &i, &set.xopt, &set.fopt))) {
            flow_opts = 1;
        } else if ((r = cli_opt_value(CMD, argc, argv, &i, "--extractor", &v))) {
            xpath = v;
        } else if ((r = cli_opt_value(CMD, argc, argv, &i, "--flow-extractor", &v))) {
            fpath = v;
        } else if ((r = cli_opt_value(CMD, argc, argv, &i, "--model", &v))) {
            mpath = v;
        } else if ((r = cli_opt_value(CMD, argc, argv, &i, "--cameras", &v))) {
            cameras_path = v;
        } else if ((r = cli_opt_value(CMD, argc, argv, &i, "--id", &v))) {
            single_id = v;
        } else if ((r = cli_opt_value(CMD, argc, argv, &i, "--snapshots", &v))) {
            set.snapshots = v;
        } else if ((r = cli_opt_value(CMD, argc, argv, &i, "--mqtt", &v))) {
            mqtt_url = v;
        } else if ((r = cli_opt_value(CMD, argc, argv, &i, "--mqtt-queue", &v))) {
            if (r > 0 && !cli_parse_u64(CMD, "--mqtt-queue", v, 1, 10000000, &mqtt_queue))
                return CLI_EXIT_USAGE;
        } else if ((r = cli_opt_value(CMD, argc, argv, &i, "--transport", &v))) {
            if (r > 0 && strcmp(v, "tcp") && strcmp(v, "udp"))
                return cli_usage_error(CMD, "--transport: '%s' is not tcp or udp", v);
            set.transport = v;
        } else if ((r = cli_opt_value(CMD, argc, argv, &i, "--threshold", &v))) {
            if (r > 0 && !cli_parse_double(CMD, "--threshold", v, 0.0, 1e6, &set.threshold))
                return CLI_EXIT_USAGE;
        } else if ((r = cli_opt_value(CMD, argc, argv, &i, "--off-threshold", &v))) {
            if (r > 0 && !cli_parse_double(CMD, "--off-threshold", v, 0.0, 1e6, &set.off))
                return CLI_EXIT_USAGE;
        } else if ((r = cli_opt_value(CMD, argc, argv, &i, "--min-on", &v))) {
            if (r > 0 && !cli_parse_u64(CMD, "--min-on", v, 1, 100000, &set.min_on))
                return CLI_EXIT_USAGE;
        } else if ((r = cli_opt_value(CMD, argc, argv, &i, "--min-off", &v))) {
            if (r > 0 && !cli_parse_u64(CMD, "--min-off", v, 1, 100000, &set.min_off))
                return CLI_EXIT_USAGE;
        } else if ((r = cli_opt_value(CMD, argc, argv, &i, "--window", &v))) {
            if (r > 0 && !cli_parse_u64(CMD, "--window", v, 1, 4096, &set.window))
                return CLI_EXIT_USAGE;
        } else if ((r = cli_opt_value(CMD, argc, argv, &i, "--heartbeat", &v))) {
            if (r > 0 && !cli_parse_double(CMD, "--heartbeat", v, 0.0, 86400, &set.heartbeat))
                return CLI_EXIT_USAGE;
        } else if ((r = cli_opt_value(CMD, argc, argv, &i, "--status", &v))) {
            if (r > 0 && !cli_parse_double(CMD, "--status", v, 0.0, 86400, &set.status_every))
                return CLI_EXIT_USAGE;
        } else if ((r = cli_opt_value(CMD, argc, argv, &i, "--timeout", &v))) {
            if (r > 0 && !cli_parse_double(CMD, "--timeout", v, 0.1, 86400, &set.timeout))
                return CLI_EXIT_USAGE;
        } else if ((r = cli_opt_value(CMD, argc, argv, &i, "--reconnect-max", &v))) {
            if (r > 0 && !cli_parse_double(CMD, "--reconnect-max", v, 0.5, 86400,
                                           &set.reconnect_max))
                return CLI_EXIT_USAGE;
        } else if ((r = cli_opt_value(CMD, argc, argv, &i, "--retries", &v))) {
            if (r > 0 && !cli_parse_u64(CMD, "--retries", v, 0, 1000000000, &set.retries))
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
            return cli_usage_error(CMD, "one input only ('%s' and '%s'); for many cameras use "
                                        "--cameras FILE",
                                   input, argv[i]);
        } else {
            input = argv[i];
        }
        if (r < 0)
            return CLI_EXIT_USAGE;
    }
    if (!xpath || !mpath)
        return cli_usage_error(CMD, "--extractor X.arnet and --model MODEL are required");
    if (!input && !cameras_path)
        return cli_usage_error(CMD, "give a video file or URL, - for raw frames on standard "
                                    "input, or --cameras FILE");
    if (input && cameras_path)
        return cli_usage_error(CMD, "give either an input or --cameras FILE, not both");
    if (flow_opts && !fpath)
        return cli_usage_error(CMD, "a --flow-* option needs --flow-extractor FLOW.arnet");
    if (fpath && set.xopt.last_clip == ARNET_LAST_CLIP_PAD)
        return cli_usage_error(CMD, "--last-clip pad: two-stream clips need all their flows");
    if (strlen(single_id) > MAX_ID)
        return cli_usage_error(CMD, "--id: longer than %d characters", MAX_ID);
    set.raw_w = sw;
    set.raw_h = sh;
    set.raw_fps = fps;
    int raw = input && !strcmp(input, "-");
    if (raw && (!sw || fps <= 0))
        return cli_usage_error(CMD, "raw frames on standard input need --size WxH and --fps F");
    if (input && !raw && (sw || fps > 0))
        return cli_usage_error(CMD, "--size and --fps are for raw frames on standard input (-)");
    if (mqtt_url && !cli_mqtt_available()) {
        fprintf(stderr, "arnet watch: %s\n", cli_mqtt_missing());
        return CLI_EXIT_FAIL;
    }

    int rc = 0, st;
    char **owned = NULL;
    size_t n_owned = 0;
    double t0 = cli_now();
    if (cameras_path) {
        if ((rc = parse_cameras(cameras_path, &set, &cams, &n_cams, &owned, &n_owned)) != 0)
            goto done;
        set.multi = 1;
    } else {
        cams = calloc(1, sizeof *cams);
        if (!cams) {
            fprintf(stderr, "arnet watch: out of memory\n");
            return CLI_EXIT_FAIL;
        }
        n_cams = 1;
        snprintf(cams[0].id, sizeof cams[0].id, "%s", single_id);
        cams[0].url = (char *)input;
        cams[0].raw = raw;
        cams[0].threshold = cams[0].off = -1;
    }
    for (size_t i = 0; i < n_cams; i++) {
        camera *c = &cams[i];
        c->set = &set;
        c->network = !c->raw && cli_video_is_network(c->url);
        pthread_mutex_init(&c->mu, NULL);
        if (!c->raw && !cli_video_available()) {
            fprintf(stderr, "arnet watch: %s\n", cli_video_missing());
            rc = CLI_EXIT_FAIL;
            goto done;
        }
    }
    if (set.snapshots) {
        struct stat sb;
        if (stat(set.snapshots, &sb) != 0 || !S_ISDIR(sb.st_mode) ||
            access(set.snapshots, W_OK) != 0) {
            fprintf(stderr, "arnet watch: --snapshots %s: not a writable folder\n",
                    set.snapshots);
            rc = CLI_EXIT_FAIL;
            goto done;
        }
    }
    /* Ctrl-C or SIGTERM from here on (loading takes seconds) stops cleanly:
     * every FFmpeg wait and every extraction in progress is cut short. */
    cli_signals_catch(cancel_all);
    cli_video_set_interrupt(cli_interrupted);
    if ((st = arnet_model_load(mpath, &net_m)) != ARNET_OK) {
        rc = cli_fail(CMD, st, mpath);
        goto done;
    }
    /* The library reads the calibration (arnet_stream_options_from_model):
     * one rule for every front end. */
    arnet_stream_options so;
    arnet_stream_options_init(&so);
    if ((st = arnet_stream_options_from_model(net_m, &so)) != ARNET_OK) {
        rc = cli_fail(CMD, st, mpath);
        goto done;
    }
    if (set.threshold < 0) {
        if (arnet_model_get_meta(net_m, THRESHOLD_KEY)) {
            set.threshold = so.on_threshold;
            if (set.off < 0)
                set.off = so.off_threshold;
        } else {
            set.threshold = 0.5;
            int all_set = 1;
            for (size_t i = 0; i < n_cams; i++)
                all_set &= cams[i].threshold >= 0;
            if (!all_set)
                fprintf(stderr, "arnet watch: note: %s has no calibrated threshold (%s); using "
                                "0.5 (set one with --threshold, or arnet calibrate --write)\n",
                        mpath, THRESHOLD_KEY);
        }
    }
    if (set.off < 0)
        set.off = 0.6 * set.threshold; /* the library's rule for calibrated models */
    if (set.off > set.threshold) {
        rc = cli_usage_error(CMD, "--off-threshold %g is above the threshold %g", set.off,
                             set.threshold);
        goto done;
    }
    if (set.multi)
        fprintf(stderr, "arnet watch: %zu cameras from %s, threshold %g\n", n_cams,
                cameras_path, set.threshold);
    if (mqtt_url) {
        char err[512];
        if (cli_mqtt_open(mqtt_url, (size_t)mqtt_queue, &mqtt, err, sizeof err) < 0) {
            fprintf(stderr, "arnet watch: --mqtt %s: %s\n", mqtt_url, err);
            rc = CLI_EXIT_FAIL;
            goto done;
        }
    }
    /* The extractor last: loading it takes seconds. */
    if ((rc = cli_load_extractors(CMD, xpath, fpath, &net_x, fpath ? &net_fx : NULL)) != 0)
        goto done;
    if (cli_interrupted())
        goto done;
    uint32_t dim = arnet_extractor_feature_dim(net_x) * (net_fx ? 2 : 1);
    if (arnet_model_feature_dim(net_m) != dim) {
        fprintf(stderr, "arnet watch: %s scores %u features per clip, but %s%s%s makes %u%s\n",
                mpath, arnet_model_feature_dim(net_m), xpath, net_fx ? " with " : "",
                net_fx ? fpath : "", dim,
                !net_fx && arnet_model_feature_dim(net_m) == 2 * dim
                    ? " (a two-stream model: give the flow network as --flow-extractor)"
                : net_fx && arnet_model_feature_dim(net_m) == dim / 2
                    ? " (an RGB-only model: leave out --flow-extractor)"
                    : "");
        rc = CLI_EXIT_FAIL;
        goto done;
    }
    size_t ring_n = (size_t)(set.min_on > set.min_off ? set.min_on : set.min_off) + 4;
    for (size_t i = 0; i < n_cams; i++) {
        camera *c = &cams[i];
        arnet_stream_options o = so;
        o.on_threshold = (float)(c->threshold >= 0 ? c->threshold : set.threshold);
        o.off_threshold = (float)(c->off >= 0                         ? c->off
                                  : c->threshold >= 0 && set.off >= 0 ? 0.6 * c->threshold
                                                                      : set.off);
        if (c->threshold >= 0 && c->off < 0)
            o.off_threshold = (float)(0.6 * c->threshold);
        o.min_on_clips = (uint32_t)set.min_on;
        o.min_off_clips = (uint32_t)set.min_off;
        o.smoothing = set.window > 1 ? ARNET_SMOOTH_WINDOW : ARNET_SMOOTH_NONE;
        o.window = (uint32_t)set.window;
        o.on_event = on_event;
        o.user = c;
        o.stream_id = i;
        o.fps = 0; /* the times are ours (timestamps), not clips over a rate */
        arnet_scorer_options sco;
        arnet_scorer_options_init(&sco);
        sco.max_batch = 1;
        if ((st = arnet_stream_create(&o, &c->stream)) != ARNET_OK ||
            (st = arnet_scorer_create(net_m, &sco, &c->scorer)) != ARNET_OK) {
            if (set.multi && c->line)
                fprintf(stderr, "arnet watch: %s:%d: camera %s:\n", cameras_path, c->line, c->id);
            rc = cli_fail(CMD, st, "setting up");
            goto done;
        }
        c->ring_n = ring_n;
        c->feat = malloc((size_t)set.xopt.crops * dim * sizeof *c->feat);
        c->mean = malloc((size_t)dim * sizeof *c->mean);
        c->ring = calloc(ring_n, sizeof *c->ring);
        if (!c->feat || !c->mean || !c->ring) {
            fprintf(stderr, "arnet watch: out of memory\n");
            rc = CLI_EXIT_FAIL;
            goto done;
        }
    }
    if (n_cams > 1)
        fprintf(stderr, "arnet watch: one extractor network (%s) shared by %zu cameras, each "
                        "with its own thread, state, scorer and stream\n",
                xpath, n_cams);
    t0 = cli_now();
    for (size_t i = 0; i < n_cams; i++) {
        if (pthread_create(&cams[i].thread, NULL, cam_thread, &cams[i]) != 0) {
            fprintf(stderr, "arnet watch: cannot start a thread for camera %s\n", cams[i].id);
            rc = CLI_EXIT_FAIL;
            cli_signals_set_hook(cancel_all);
            break;
        }
        cams[i].started = 1;
    }
    /* The main thread: heartbeats and status lines until every camera ends. */
    double next_hb = set.heartbeat > 0 ? cli_now() + set.heartbeat : 0;
    double next_status = set.status_every > 0 ? cli_now() + set.status_every : 0;
    for (;;) {
        int running = 0;
        for (size_t i = 0; i < n_cams; i++) {
            pthread_mutex_lock(&cams[i].mu);
            running += cams[i].started && !cams[i].done;
            pthread_mutex_unlock(&cams[i].mu);
        }
        if (!running)
            break;
        cli_sleep(0.1);
        double now = cli_now();
        if (next_hb > 0 && now >= next_hb) {
            emit_heartbeats();
            next_hb += set.heartbeat;
        }
        if (next_status > 0 && now >= next_status) {
            print_status(0, t0);
            if (mqtt) {
                cli_mqtt_stats ms;
                cli_mqtt_stats_get(mqtt, &ms);
                fprintf(stderr, "arnet watch: status mqtt: %s, %llu sent, %llu acknowledged, "
                                "%llu waiting, %llu dropped\n",
                        ms.connected ? "connected" : "not connected",
                        (unsigned long long)ms.published, (unsigned long long)ms.acked,
                        (unsigned long long)ms.pending, (unsigned long long)ms.dropped);
            }
            next_status += set.status_every;
        }
    }
    for (size_t i = 0; i < n_cams; i++) {
        if (cams[i].started)
            pthread_join(cams[i].thread, NULL);
        if (cams[i].rc && !rc)
            rc = cams[i].rc;
    }
    print_status(1, t0);
    if (cli_interrupted() && !rc)
        rc = cli_interrupt_status();
done:
    if (mqtt) {
        cli_mqtt_stats ms;
        /* Events still waiting for the broker get a few seconds (less when
         * interrupted again: a second signal ends the process). */
        cli_mqtt_close(mqtt, cli_interrupted() ? 2.0 : 5.0, &ms);
        mqtt = NULL;
        fprintf(stderr, "arnet watch: mqtt: %llu events sent, %llu acknowledged, %llu not "
                        "acknowledged, %llu dropped (queue full)\n",
                (unsigned long long)ms.published, (unsigned long long)ms.acked,
                (unsigned long long)ms.pending, (unsigned long long)ms.dropped);
        if ((ms.pending || ms.dropped) && !rc)
            rc = CLI_EXIT_FAIL;
    }
    cli_signals_restore();
    cli_video_set_interrupt(NULL);
    if (cli_interrupted() && !rc)
        rc = cli_interrupt_status();
    for (size_t i = 0; cams && i < n_cams; i++) {
        camera *c = &cams[i];
        cli_video_close(c->video);
        arnet_extractor_state *xs = c->xs;
        arnet_two_stream_state *ts = c->ts;
        c->xs = NULL;
        c->ts = NULL;
        arnet_extractor_state_free(xs);
        arnet_two_stream_state_free(ts);
        arnet_stream_free(c->stream);
        arnet_scorer_free(c->scorer);
        free(c->feat);
        free(c->mean);
        free(c->ring);
        for (size_t k = 0; c->cand && k < c->ring_n; k++)
            free(c->cand[k]);
        free(c->cand);
        free(c->peak);
    }
    free(cams);
    cams = NULL;
    n_cams = 0;
    for (size_t i = 0; i < n_owned; i++)
        free(owned[i]);
    free(owned);
    arnet_model_free(net_m);
    arnet_extractor_free(net_x);
    arnet_extractor_free(net_fx);
    net_m = NULL;
    net_x = NULL;
    net_fx = NULL;
    return rc;
}
