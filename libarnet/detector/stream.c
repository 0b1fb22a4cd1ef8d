/* stream.c -- one camera's score stream: window or exponential smoothing,
 * alarm hysteresis with minimum run lengths, events, multi-stream batching. */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "detector_int.h"
#include "internal.h"

#define WINDOW_MAX 4096u

struct arnet_stream {
    arnet_stream_options opt;
    float *ring; /* window raw scores (WINDOW smoothing only) */
    uint32_t ring_pos;
    uint32_t ring_fill;
    uint64_t clips;
    float last_raw, last_smoothed;
    int alarm;
    uint64_t alarm_start;
    float peak;
    uint32_t run;        /* current above-on (idle) or below-off (alarm) run */
    uint64_t run_start;  /* first clip of that run */
    float run_peak;      /* highest smoothed score of the above-on run */
    uint64_t alarms;
    int batch_mark;      /* set while arnet_scorer_push_streams checks duplicates */
};

void arnet_stream_options_init(arnet_stream_options *opt)
{
    if (!opt)
        return;
    memset(opt, 0, sizeof *opt);
    opt->struct_size = sizeof *opt;
    opt->stream_id = 0;
    opt->smoothing = ARNET_SMOOTH_WINDOW;
    opt->window = 5;
    opt->ema_alpha = 0.3f;
    opt->on_threshold = 0.5f;
    opt->off_threshold = 0.3f;
    opt->min_on_clips = 3;
    opt->min_off_clips = 5;
    opt->on_event = NULL;
    opt->user = NULL;
    opt->fps = 0.0;
    opt->clip_frames = 16;
}

/* A calibration value: a finite number >= 0, or ARNET_E_FORMAT. */
static int meta_number(const arnet_model *m, const char *key, double *out, int *found)
{
    const char *v = arnet_model_get_meta(m, key);
    *found = v != NULL;
    if (!v)
        return ARNET_OK;
    char *end;
    errno = 0;
    double d = strtod(v, &end);
    if (errno || end == v || *end || !isfinite(d) || d < 0)
        return arnet__error(ARNET_E_FORMAT,
                            "arnet_stream_options_from_model: metadata %s = '%s' is not a "
                            "finite number >= 0",
                            key, v);
    *out = d;
    return ARNET_OK;
}

int arnet_stream_options_from_model(const arnet_model *m, arnet_stream_options *opt)
{
    if (!m || !opt)
        return arnet__error(ARNET_E_INVALID, "arnet_stream_options_from_model: %s is NULL",
                            m ? "opt" : "m");
    arnet_stream_options full;
    arnet_stream_options_init(&full);
    int rc = ARNET__STRUCT_IN("arnet_stream_options_from_model", arnet_stream_options, &full,
                              opt);
    if (rc)
        return rc;
    double thr = 0, fps = 0;
    int has_thr, has_fps;
    if ((rc = meta_number(m, ARNET_META_CALIBRATION_THRESHOLD, &thr, &has_thr)) ||
        (rc = meta_number(m, "calibration.fps", &fps, &has_fps)))
        return rc;
    if (!has_thr)
        return ARNET_OK;
    full.on_threshold = (float)thr;
    full.off_threshold = (float)(0.6 * thr);
    if (full.off_threshold > full.on_threshold)
        full.off_threshold = full.on_threshold;
    if (has_fps)
        full.fps = fps;
    ARNET__STRUCT_OUT(arnet_stream_options, opt, &full);
    return ARNET_OK;
}

void arnet_calibration_init(arnet_calibration *c)
{
    if (!c)
        return;
    memset(c, 0, sizeof *c);
    c->struct_size = sizeof *c;
    c->per_hour = -1;
    c->fps = 0; /* not known */
}

static int fraction(double x) { return isfinite(x) && x >= 0 && x <= 1; }

int arnet_model_set_calibration(arnet_model *m, const arnet_calibration *cin)
{
    static const char fn[] = "arnet_model_set_calibration";
    if (!m || !cin)
        return arnet__error(ARNET_E_INVALID, "%s: %s is NULL", fn, m ? "c" : "m");
    arnet_calibration c;
    arnet_calibration_init(&c);
    int rc = ARNET__STRUCT_IN(fn, arnet_calibration, &c, cin);
    if (rc)
        return rc;
    const char *bad = !(isfinite(c.threshold) && c.threshold >= 0) ? "threshold"
                      : !fraction(c.far)                          ? "far"
                      : !(isfinite(c.fps) && c.fps >= 0)          ? "fps"
                      : !fraction(c.achieved_far)                 ? "achieved_far"
                      : isnan(c.per_hour) || isinf(c.per_hour)    ? "per_hour"
                                                                  : NULL;
    if (bad)
        return arnet__error(ARNET_E_INVALID, "%s: %s is out of its range", fn, bad);
    /* The threshold goes first and comes back last: a failure part way
     * (out of memory) leaves no threshold, so a half-written calibration
     * is never taken for a whole one. */
    const char *rule = c.per_hour >= 0 ? "per_hour" : "far";
    struct {
        const char *key;
        double v;
        int use;
    } num[] = {{"calibration.far", c.far, 1},
               {"calibration.per_hour", c.per_hour, c.per_hour >= 0},
               {"calibration.fps", c.fps, c.fps > 0},
               {"calibration.achieved_far", c.achieved_far, 1},
               {"calibration.clips", (double)c.clips, 1}};
    char val[64];
    if (arnet_model_get_meta(m, ARNET_META_CALIBRATION_THRESHOLD) &&
        (rc = arnet_model_set_meta(m, ARNET_META_CALIBRATION_THRESHOLD, NULL)))
        return rc;
    rc = arnet_model_set_meta(m, "calibration.rule", rule);
    for (size_t k = 0; k < sizeof num / sizeof *num && !rc; k++) {
        if (num[k].use) {
            snprintf(val, sizeof val, "%.9g", num[k].v);
            rc = arnet_model_set_meta(m, num[k].key, val);
        } else if (arnet_model_get_meta(m, num[k].key)) {
            rc = arnet_model_set_meta(m, num[k].key, NULL);
        }
    }
    if (!rc && c.data)
        rc = arnet_model_set_meta(m, "calibration.data", c.data);
    if (!rc) {
        snprintf(val, sizeof val, "%.9g", (double)c.threshold);
        rc = arnet_model_set_meta(m, ARNET_META_CALIBRATION_THRESHOLD, val);
    }
    if (rc)
        arnet__error_prefix("%s", fn);
    return rc;
}

void arnet_stream_result_init(arnet_stream_result *res)
{
    if (!res)
        return;
    memset(res, 0, sizeof *res);
    res->struct_size = sizeof *res;
}

void arnet_stream_state_init(arnet_stream_state *st)
{
    if (!st)
        return;
    memset(st, 0, sizeof *st);
    st->struct_size = sizeof *st;
}

static int check_options(const char *fn, const arnet_stream_options *o)
{
    if (o->smoothing != ARNET_SMOOTH_NONE && o->smoothing != ARNET_SMOOTH_WINDOW &&
        o->smoothing != ARNET_SMOOTH_EMA)
        return arnet__error(ARNET_E_INVALID, "%s: smoothing %d is not an ARNET_SMOOTH_* value",
                            fn, o->smoothing);
    if (o->smoothing == ARNET_SMOOTH_WINDOW && (o->window < 1 || o->window > WINDOW_MAX))
        return arnet__error(ARNET_E_INVALID, "%s: window %u out of range 1..%u", fn,
                            o->window, WINDOW_MAX);
    if (o->smoothing == ARNET_SMOOTH_EMA && !(o->ema_alpha > 0.0f && o->ema_alpha <= 1.0f))
        return arnet__error(ARNET_E_INVALID, "%s: ema_alpha %g must be in (0, 1]", fn,
                            (double)o->ema_alpha);
    /* Scores are in [0, 1]; a threshold above 1 never alarms, which is
     * what arnet_threshold_for_far returns when normal clips score 1. */
    if (!(o->on_threshold >= 0.0f && isfinite(o->on_threshold)))
        return arnet__error(ARNET_E_INVALID,
                            "%s: on_threshold %.9g must be finite and >= 0 (scores are in "
                            "[0, 1]; above 1 never alarms)",
                            fn, (double)o->on_threshold);
    if (!(o->off_threshold >= 0.0f && isfinite(o->off_threshold)))
        return arnet__error(ARNET_E_INVALID, "%s: off_threshold %.9g must be finite and >= 0",
                            fn, (double)o->off_threshold);
    if (o->off_threshold > o->on_threshold)
        return arnet__error(ARNET_E_INVALID,
                            "%s: off_threshold %.9g is above on_threshold %.9g (hysteresis "
                            "needs off <= on)",
                            fn, (double)o->off_threshold, (double)o->on_threshold);
    if (!(o->fps >= 0.0 && isfinite(o->fps)))
        return arnet__error(ARNET_E_INVALID, "%s: fps %g must be finite and >= 0 (0: unknown)",
                            fn, o->fps);
    if (o->clip_frames < 1)
        return arnet__error(ARNET_E_INVALID, "%s: clip_frames must be at least 1", fn);
    if (o->min_on_clips < 1 || o->min_off_clips < 1)
        return arnet__error(ARNET_E_INVALID, "%s: %s must be at least 1", fn,
                            o->min_on_clips < 1 ? "min_on_clips" : "min_off_clips");
    return ARNET_OK;
}

size_t arnet_stream_memory(const arnet_stream_options *opt)
{
    arnet_stream_options def;
    arnet_stream_options_init(&def);
    if (opt && ARNET__STRUCT_IN("arnet_stream_memory", arnet_stream_options, &def, opt))
        arnet_stream_options_init(&def); /* too small: the defaults' memory */
    size_t bytes = sizeof(struct arnet_stream);
    if (def.smoothing == ARNET_SMOOTH_WINDOW && def.window <= WINDOW_MAX)
        bytes += (size_t)def.window * sizeof(float);
    return bytes;
}

int arnet_stream_create(const arnet_stream_options *opt, arnet_stream **out)
{
    if (!out)
        return arnet__error(ARNET_E_INVALID, "arnet_stream_create: out is NULL");
    arnet_stream_options o;
    arnet_stream_options_init(&o);
    if (opt) {
        int rc = ARNET__STRUCT_IN("arnet_stream_create", arnet_stream_options, &o, opt);
        if (rc)
            return rc;
        rc = check_options("arnet_stream_create", &o);
        if (rc)
            return rc;
    }
    arnet_stream *st = arnet__calloc(1, sizeof *st, "stream");
    if (!st)
        return ARNET_E_NOMEM;
    st->opt = o;
    if (o.smoothing == ARNET_SMOOTH_WINDOW) {
        st->ring = arnet__calloc(o.window, sizeof(float), "stream window");
        if (!st->ring) {
            free(st);
            return ARNET_E_NOMEM;
        }
    }
    *out = st;
    return ARNET_OK;
}

void arnet_stream_free(arnet_stream *st)
{
    if (!st)
        return;
    free(st->ring);
    free(st);
}

static void emit(arnet_stream *st, int type, uint64_t end_clip)
{
    if (!st->opt.on_event)
        return;
    arnet_event ev;
    memset(&ev, 0, sizeof ev);
    ev.struct_size = sizeof ev;
    ev.type = type;
    ev.stream_id = st->opt.stream_id;
    ev.start_clip = st->alarm_start;
    ev.end_clip = end_clip;
    ev.peak_score = st->peak;
    ev.start_seconds = ev.end_seconds = NAN;
    if (st->opt.fps > 0) {
        double clip_s = (double)st->opt.clip_frames / st->opt.fps;
        ev.start_seconds = (double)ev.start_clip * clip_s;
        if (type == ARNET_EVENT_ALARM_END)
            ev.end_seconds = (double)(end_clip + 1) * clip_s;
    }
    st->opt.on_event(st->opt.user, &ev);
}

int arnet_stream_reset(arnet_stream *st)
{
    if (!st)
        return arnet__error(ARNET_E_INVALID, "arnet_stream_reset: stream is NULL");
    /* An open alarm is closed, so that whoever shows it to an operator
     * is told: END with the last clip the stream saw. */
    if (st->alarm)
        emit(st, ARNET_EVENT_ALARM_END, st->clips - 1);
    float *ring = st->ring;
    arnet_stream_options o = st->opt;
    memset(st, 0, sizeof *st);
    st->opt = o;
    st->ring = ring;
    if (ring)
        memset(ring, 0, (size_t)o.window * sizeof(float));
    return ARNET_OK;
}

int arnet_stream_get_state(const arnet_stream *st, arnet_stream_state *state)
{
    if (!st || !state)
        return arnet__error(ARNET_E_INVALID, "arnet_stream_get_state: %s is NULL",
                            !st ? "stream" : "state");
    int rc = ARNET__STRUCT_CHECK("arnet_stream_get_state", arnet_stream_state, state);
    if (rc)
        return rc;
    arnet_stream_state full;
    arnet_stream_state_init(&full);
    full.clips = st->clips;
    full.alarm = st->alarm;
    full.alarm_start = st->alarm ? st->alarm_start : 0;
    full.peak_score = st->alarm ? st->peak : 0.0f;
    full.last_raw = st->last_raw;
    full.last_smoothed = st->last_smoothed;
    full.run_length = st->run;
    full.alarms = st->alarms;
    ARNET__STRUCT_OUT(arnet_stream_state, state, &full);
    return ARNET_OK;
}

static float smooth(arnet_stream *st, float raw)
{
    switch (st->opt.smoothing) {
    case ARNET_SMOOTH_WINDOW: {
        st->ring[st->ring_pos] = raw;
        st->ring_pos = st->ring_pos + 1 == st->opt.window ? 0 : st->ring_pos + 1;
        if (st->ring_fill < st->opt.window)
            st->ring_fill++;
        /* Summed afresh in double each clip: a running sum would drift and
         * make the result depend on how long the stream has run. */
        double sum = 0.0;
        for (uint32_t i = 0; i < st->ring_fill; i++)
            sum += st->ring[i];
        return (float)(sum / st->ring_fill);
    }
    case ARNET_SMOOTH_EMA:
        if (st->clips == 0)
            return raw;
        return st->opt.ema_alpha * raw + (1.0f - st->opt.ema_alpha) * st->last_smoothed;
    default:
        return raw;
    }
}


/* The update itself, after the caller has checked its arguments. */
static void update(arnet_stream *st, float raw, arnet_stream_result *res)
{
    uint64_t clip = st->clips;
    float s = smooth(st, raw);
    int event = 0;
    if (!st->alarm) {
        if (s >= st->opt.on_threshold) {
            if (st->run == 0) {
                st->run_start = clip;
                st->run_peak = s;
            }
            st->run++;
            if (s > st->run_peak)
                st->run_peak = s;
            if (st->run >= st->opt.min_on_clips) {
                st->alarm = 1;
                st->alarm_start = st->run_start;
                st->peak = st->run_peak;
                st->alarms++;
                st->run = 0;
                event = ARNET_EVENT_ALARM_START;
            }
        } else {
            st->run = 0;
        }
    } else {
        if (s > st->peak)
            st->peak = s;
        if (s < st->opt.off_threshold) {
            if (st->run == 0)
                st->run_start = clip;
            st->run++;
            if (st->run >= st->opt.min_off_clips) {
                st->alarm = 0;
                st->run = 0;
                event = ARNET_EVENT_ALARM_END;
            }
        } else {
            st->run = 0;
        }
    }
    st->clips = clip + 1;
    st->last_raw = raw;
    st->last_smoothed = s;
    /* The state is complete before the callback runs, so a callback that
     * reads the stream's state sees this clip. */
    if (event == ARNET_EVENT_ALARM_START)
        emit(st, event, 0);
    else if (event == ARNET_EVENT_ALARM_END)
        emit(st, event, st->run_start - 1);
    if (res) {
        arnet_stream_result full;
        arnet_stream_result_init(&full);
        full.clip_index = clip;
        full.raw = raw;
        full.smoothed = s;
        full.alarm = st->alarm;
        full.event = event;
        ARNET__STRUCT_OUT(arnet_stream_result, res, &full);
    }
}

static int check_result(const char *fn, const arnet_stream_result *res)
{
    return res ? ARNET__STRUCT_CHECK(fn, arnet_stream_result, res) : ARNET_OK;
}

int arnet_stream_update(arnet_stream *st, float raw_score, arnet_stream_result *res)
{
    if (!st)
        return arnet__error(ARNET_E_INVALID, "arnet_stream_update: stream is NULL");
    int rc = check_result("arnet_stream_update", res);
    if (rc)
        return rc;
    if (!isfinite(raw_score))
        return arnet__error(ARNET_E_INVALID,
                            "arnet_stream_update: raw_score of clip %llu of stream %llu is "
                            "not finite",
                            (unsigned long long)st->clips,
                            (unsigned long long)st->opt.stream_id);
    update(st, raw_score, res);
    return ARNET_OK;
}

int arnet_stream_push(arnet_stream *st, arnet_scorer *scorer, const float *feature,
                      arnet_stream_result *res)
{
    if (!st || !scorer || !feature)
        return arnet__error(ARNET_E_INVALID, "arnet_stream_push: %s is NULL",
                            !st ? "stream" : !scorer ? "scorer" : "feature");
    int rc = check_result("arnet_stream_push", res);
    if (rc)
        return rc;
    const arnet_model *m = arnet__scorer_model(scorer);
    for (uint32_t k = 0; k < m->feature_dim; k++)
        if (!isfinite(feature[k]))
            return arnet__error(ARNET_E_INVALID,
                                "arnet_stream_push: feature[%u] of clip %llu of stream %llu "
                                "is not finite",
                                k, (unsigned long long)st->clips,
                                (unsigned long long)st->opt.stream_id);
    float raw = arnet__scorer_run(scorer, feature, 1)[0];
    if (!isfinite(raw))
        return arnet__error(ARNET_E_INVALID,
                            "arnet_stream_push: score of clip %llu of stream %llu is not "
                            "finite (NaN in the feature?)",
                            (unsigned long long)st->clips,
                            (unsigned long long)st->opt.stream_id);
    update(st, raw, res);
    return ARNET_OK;
}

/* Element i of the caller's result array of the given stride. */
static arnet_stream_result *result_at(arnet_stream_result *results, size_t stride, size_t i)
{
    return (arnet_stream_result *)((char *)results + i * stride);
}

int arnet_scorer_push_streams(arnet_scorer *scorer, arnet_stream *const *streams,
                              const float *features, size_t n, arnet_stream_result *results)
{
    static const char fn[] = "arnet_scorer_push_streams";
    if (!scorer || (n && (!streams || !features)))
        return arnet__error(ARNET_E_INVALID, "%s: %s is NULL", fn,
                            !scorer ? "scorer" : !streams ? "streams" : "features");
    /* The caller's array: its elements are the caller's struct, so the
     * stride is results[0].struct_size (an older caller's is smaller). */
    size_t stride = 0;
    if (results && n) {
        int rc = check_result(fn, results);
        if (rc) {
            arnet__error_prefix("results[0]");
            return rc;
        }
        stride = results->struct_size;
        if (stride % _Alignof(arnet_stream_result))
            return arnet__error(ARNET_E_INVALID,
                                "%s: results[0].struct_size %zu is not a multiple of the "
                                "struct's alignment (call arnet_stream_result_init)",
                                fn, stride);
    }
    for (size_t i = 0; i < n; i++) {
        if (!streams[i])
            return arnet__error(ARNET_E_INVALID, "%s: streams[%zu] is NULL", fn, i);
        if (results && result_at(results, stride, i)->struct_size != stride)
            return arnet__error(ARNET_E_INVALID,
                                "%s: results[%zu].struct_size %zu differs from results[0]'s "
                                "%zu (call arnet_stream_result_init on each)",
                                fn, i, result_at(results, stride, i)->struct_size, stride);
    }
    /* Duplicates in O(n) with a mark on each stream; the marks are cleared
     * before returning, whatever happens. */
    size_t dup = n;
    for (size_t i = 0; i < n; i++) {
        if (streams[i]->batch_mark) {
            dup = i;
            break;
        }
        streams[i]->batch_mark = 1;
    }
    for (size_t i = 0; i < (dup < n ? dup : n); i++)
        streams[i]->batch_mark = 0;
    if (dup < n)
        return arnet__error(ARNET_E_INVALID,
                            "%s: streams[%zu] (stream_id %llu) appears twice in one batch", fn,
                            dup, (unsigned long long)streams[dup]->opt.stream_id);
    const arnet_model *m = arnet__scorer_model(scorer);
    size_t F = m->feature_dim, B = arnet__scorer_max_batch(scorer);
    /* NaN would vanish in the ReLU and give a plausible score: refuse it
     * before any stream changes (cheap next to the product itself). */
    for (size_t i = 0; i < n * F; i++)
        if (!isfinite(features[i]))
            return arnet__error(ARNET_E_INVALID,
                                "%s: features[%zu][%zu] (stream_id %llu) is not finite", fn,
                                i / F, i % F, (unsigned long long)streams[i / F]->opt.stream_id);
    for (size_t off = 0; off < n; off += B) {
        size_t c = n - off < B ? n - off : B;
        const float *sc = arnet__scorer_run(scorer, features + off * F, c);
        for (size_t i = 0; i < c; i++)
            if (!isfinite(sc[i]))
                return arnet__error(ARNET_E_INVALID,
                                    "%s: score of row %zu (stream_id %llu) is not finite (NaN "
                                    "in the feature?); rows before %zu were applied",
                                    fn, off + i,
                                    (unsigned long long)streams[off + i]->opt.stream_id, off);
        for (size_t i = 0; i < c; i++)
            update(streams[off + i], sc[i], results ? result_at(results, stride, off + i) : NULL);
    }
    return ARNET_OK;
}
