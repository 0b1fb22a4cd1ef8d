/* test_stream.c -- camera streams: smoothing, hysteresis and minimum run
 * lengths on hand-made score sequences, events, reset, state, bad options. */
#include <check.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

#define MAX_EV 32
struct log {
    int n;
    arnet_event ev[MAX_EV];
};

static void on_event(void *user, const arnet_event *ev)
{
    struct log *l = user;
    if (l->n < MAX_EV)
        l->ev[l->n++] = *ev;
}

static arnet_stream *raw_stream(struct log *l, float on, float off, uint32_t min_on,
                                uint32_t min_off)
{
    arnet_stream_options o;
    arnet_stream_options_init(&o);
    o.stream_id = 42;
    o.smoothing = ARNET_SMOOTH_NONE;
    o.on_threshold = on;
    o.off_threshold = off;
    o.min_on_clips = min_on;
    o.min_off_clips = min_off;
    o.on_event = on_event;
    o.user = l;
    arnet_stream *st = NULL;
    ck_assert_int_eq(arnet_stream_create(&o, &st), ARNET_OK);
    return st;
}

START_TEST(defaults_are_documented_ones)
{
    arnet_stream_options o;
    memset(&o, 0x77, sizeof o);
    arnet_stream_options_init(&o);
    ck_assert_uint_eq(o.struct_size, sizeof o);
    ck_assert_int_eq(o.smoothing, ARNET_SMOOTH_WINDOW);
    ck_assert_uint_eq(o.window, 5);
    ck_assert_float_eq(o.ema_alpha, 0.3f);
    ck_assert_float_eq(o.on_threshold, 0.5f);
    ck_assert_float_eq(o.off_threshold, 0.3f);
    ck_assert_uint_eq(o.min_on_clips, 3);
    ck_assert_uint_eq(o.min_off_clips, 5);
    ck_assert_ptr_null(o.on_event);
    ck_assert_uint_eq(arnet_stream_memory(&o), arnet_stream_memory(NULL));
    ck_assert_uint_ge(arnet_stream_memory(&o), 5 * sizeof(float));
    o.window = 1000;
    ck_assert_uint_ge(arnet_stream_memory(&o), 1000 * sizeof(float));
}
END_TEST

/* on 0.5, off 0.3, min_on 3, min_off 2, no smoothing.
 * clip:   0    1    2    3    4    5    6    7    8    9   10   11   12
 * score: .6   .7   .2   .5   .9   .6   .4   .2   .35  .1   .1   .1   .8
 * Clips 0-1 are a run of two (too short), clip 3-5 a run of three: the alarm
 * starts at clip 5 with start_clip 3.  Clip 6 (.4) is between off and on:
 * nothing.  Clip 7 is below off, clip 8 (.35) breaks the off-run, clips 9-10
 * are two below off: the alarm ends at clip 10 with end_clip 8 (the last clip
 * before the off-run began).  Peak .9.  Clip 12 alone starts nothing. */
START_TEST(hysteresis_and_minimum_lengths_on_a_hand_made_sequence)
{
    struct log l = {0};
    arnet_stream *st = raw_stream(&l, 0.5f, 0.3f, 3, 2);
    const float s[] = {.6f, .7f, .2f, .5f, .9f, .6f, .4f, .2f, .35f, .1f, .1f, .1f, .8f};
    const int alarm[] = {0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 0, 0, 0};
    const int event[] = {0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 2, 0, 0};
    for (size_t i = 0; i < sizeof s / sizeof *s; i++) {
        arnet_stream_result r;
        arnet_stream_result_init(&r);
        ck_assert_int_eq(arnet_stream_update(st, s[i], &r), ARNET_OK);
        ck_assert_uint_eq(r.clip_index, i);
        ck_assert_float_eq(r.raw, s[i]);
        ck_assert_float_eq(r.smoothed, s[i]);
        ck_assert_msg(r.alarm == alarm[i], "clip %zu alarm %d", i, r.alarm);
        ck_assert_msg(r.event == event[i], "clip %zu event %d", i, r.event);
    }
    ck_assert_int_eq(l.n, 2);
    ck_assert_int_eq(l.ev[0].type, ARNET_EVENT_ALARM_START);
    ck_assert_uint_eq(l.ev[0].stream_id, 42);
    ck_assert_uint_eq(l.ev[0].start_clip, 3);
    ck_assert_uint_eq(l.ev[0].end_clip, 0);
    ck_assert_float_eq(l.ev[0].peak_score, .9f);
    ck_assert_int_eq(l.ev[1].type, ARNET_EVENT_ALARM_END);
    ck_assert_uint_eq(l.ev[1].start_clip, 3);
    ck_assert_uint_eq(l.ev[1].end_clip, 8);
    ck_assert_float_eq(l.ev[1].peak_score, .9f);
    arnet_stream_state state;
    arnet_stream_state_init(&state);
    ck_assert_int_eq(arnet_stream_get_state(st, &state), ARNET_OK);
    ck_assert_uint_eq(state.clips, 13);
    ck_assert_int_eq(state.alarm, 0);
    ck_assert_uint_eq(state.alarms, 1);
    ck_assert_uint_eq(state.run_length, 1); /* clip 12 above on */
    ck_assert_float_eq(state.last_raw, .8f);
    arnet_stream_free(st);
}
END_TEST

/* A score flapping around one threshold raises one alarm, not many. */
START_TEST(flapping_scores_give_one_alarm)
{
    struct log l = {0};
    arnet_stream *st = raw_stream(&l, 0.5f, 0.3f, 2, 3);
    for (int i = 0; i < 40; i++)
        ck_assert_int_eq(arnet_stream_update(st, i < 4 ? 0.8f : (i % 2 ? 0.55f : 0.45f), NULL),
                         ARNET_OK);
    ck_assert_int_eq(l.n, 1);
    ck_assert_uint_eq(l.ev[0].start_clip, 0);
    /* off == on: no band, but still min lengths. */
    struct log l2 = {0};
    arnet_stream *st2 = raw_stream(&l2, 0.5f, 0.5f, 1, 1);
    const float s[] = {.5f, .49f, .5f};
    for (int i = 0; i < 3; i++)
        ck_assert_int_eq(arnet_stream_update(st2, s[i], NULL), ARNET_OK);
    ck_assert_int_eq(l2.n, 3); /* start 0, end after clip 1 (end_clip 0), start 2 */
    ck_assert_uint_eq(l2.ev[1].end_clip, 0);
    ck_assert_uint_eq(l2.ev[2].start_clip, 2);
    arnet_stream_free(st);
    arnet_stream_free(st2);
}
END_TEST

START_TEST(window_and_ema_smoothing)
{
    arnet_stream_options o;
    arnet_stream_options_init(&o);
    o.window = 3;
    arnet_stream *w = NULL, *e = NULL;
    ck_assert_int_eq(arnet_stream_create(&o, &w), ARNET_OK);
    o.smoothing = ARNET_SMOOTH_EMA;
    o.ema_alpha = 0.25f;
    ck_assert_int_eq(arnet_stream_create(&o, &e), ARNET_OK);
    const float s[] = {0.9f, 0.3f, 0.6f, 0.0f, 1.0f, 0.2f, 0.7f};
    double ema = 0;
    for (size_t i = 0; i < sizeof s / sizeof *s; i++) {
        arnet_stream_result r;
        arnet_stream_result_init(&r);
        ck_assert_int_eq(arnet_stream_update(w, s[i], &r), ARNET_OK);
        /* partial window at the start: mean of what there is */
        size_t from = i >= 2 ? i - 2 : 0;
        double sum = 0;
        for (size_t j = from; j <= i; j++)
            sum += s[j];
        ck_assert_double_eq_tol(r.smoothed, sum / (double)(i - from + 1), 1e-6);
        ck_assert_int_eq(arnet_stream_update(e, s[i], &r), ARNET_OK);
        ema = i == 0 ? s[0] : 0.25 * s[i] + 0.75 * ema;
        ck_assert_double_eq_tol(r.smoothed, ema, 1e-6);
    }
    /* Reset: as new (window forgotten, EMA restarts from the next score). */
    ck_assert_int_eq(arnet_stream_reset(w), ARNET_OK);
    ck_assert_int_eq(arnet_stream_reset(e), ARNET_OK);
    arnet_stream_result r;
    arnet_stream_result_init(&r);
    ck_assert_int_eq(arnet_stream_update(w, 0.4f, &r), ARNET_OK);
    ck_assert_float_eq(r.smoothed, 0.4f);
    ck_assert_uint_eq(r.clip_index, 0);
    ck_assert_int_eq(arnet_stream_update(e, 0.4f, &r), ARNET_OK);
    ck_assert_float_eq(r.smoothed, 0.4f);
    arnet_stream_free(w);
    arnet_stream_free(e);
}
END_TEST

START_TEST(reset_closes_an_open_alarm)
{
    struct log l = {0};
    arnet_stream *st = raw_stream(&l, 0.5f, 0.3f, 1, 1);
    ck_assert_int_eq(arnet_stream_update(st, 0.2f, NULL), ARNET_OK);
    ck_assert_int_eq(arnet_stream_update(st, 0.9f, NULL), ARNET_OK);
    ck_assert_int_eq(arnet_stream_update(st, 0.7f, NULL), ARNET_OK);
    arnet_stream_state state;
    arnet_stream_state_init(&state);
    ck_assert_int_eq(arnet_stream_get_state(st, &state), ARNET_OK);
    ck_assert_int_eq(state.alarm, 1);
    ck_assert_float_eq(state.peak_score, 0.9f);
    ck_assert_int_eq(l.n, 1);
    ck_assert_int_eq(arnet_stream_reset(st), ARNET_OK);
    /* The alarm a VMS shows is closed: END, from clip 1 to the last clip seen. */
    ck_assert_int_eq(l.n, 2);
    ck_assert_int_eq(l.ev[1].type, ARNET_EVENT_ALARM_END);
    ck_assert_uint_eq(l.ev[1].stream_id, 42);
    ck_assert_uint_eq(l.ev[1].start_clip, 1);
    ck_assert_uint_eq(l.ev[1].end_clip, 2);
    ck_assert_float_eq(l.ev[1].peak_score, 0.9f);
    /* A second reset, with no alarm open, says nothing. */
    ck_assert_int_eq(arnet_stream_reset(st), ARNET_OK);
    ck_assert_int_eq(l.n, 2);
    ck_assert_int_eq(arnet_stream_get_state(st, &state), ARNET_OK);
    ck_assert_int_eq(state.alarm, 0);
    ck_assert_uint_eq(state.clips, 0);
    ck_assert_uint_eq(state.alarms, 0);
    arnet_stream_free(st);
}
END_TEST

START_TEST(threshold_above_one_never_alarms)
{
    /* arnet_threshold_for_far returns the float after 1 when normal clips
     * score 1: a stream must accept it, and never alarm. */
    struct log l = {0};
    arnet_stream *st = raw_stream(&l, nextafterf(1.0f, 2.0f), 0.3f, 1, 1);
    for (int i = 0; i < 10; i++)
        ck_assert_int_eq(arnet_stream_update(st, 1.0f, NULL), ARNET_OK);
    ck_assert_int_eq(l.n, 0);
    arnet_stream_free(st);
}
END_TEST

START_TEST(bad_options_and_arguments_are_refused)
{
    arnet_stream_options o;
    arnet_stream *st = (arnet_stream *)0x1;
#define BAD(stmt, word)                                                  \
    do {                                                                 \
        arnet_stream_options_init(&o);                                   \
        stmt;                                                            \
        ck_assert_int_eq(arnet_stream_create(&o, &st), ARNET_E_INVALID); \
        ck_assert_ptr_nonnull(strstr(arnet_last_error(), word));         \
    } while (0)
    BAD(o.off_threshold = 0.6f, "off_threshold");
    BAD(o.on_threshold = INFINITY, "on_threshold");
    BAD(o.on_threshold = -0.5f, "on_threshold");
    BAD(o.off_threshold = -0.1f, "off_threshold");
    BAD(o.on_threshold = NAN, "on_threshold");
    BAD(o.window = 0, "window");
    BAD(o.window = 4097, "window");
    BAD((o.smoothing = ARNET_SMOOTH_EMA, o.ema_alpha = 0.0f), "ema_alpha");
    BAD((o.smoothing = ARNET_SMOOTH_EMA, o.ema_alpha = 1.5f), "ema_alpha");
    BAD(o.smoothing = 9, "smoothing");
    BAD(o.min_on_clips = 0, "min_on_clips");
    BAD(o.min_off_clips = 0, "min_off_clips");
    BAD(o.struct_size = 8, "struct_size");
    ck_assert_ptr_eq(st, (arnet_stream *)0x1);
    ck_assert_int_eq(arnet_stream_create(NULL, NULL), ARNET_E_INVALID);
    ck_assert_int_eq(arnet_stream_create(NULL, &st), ARNET_OK);
    ck_assert_int_eq(arnet_stream_update(st, NAN, NULL), ARNET_E_INVALID);
    ck_assert_int_eq(arnet_stream_update(st, INFINITY, NULL), ARNET_E_INVALID);
    ck_assert_int_eq(arnet_stream_update(NULL, 0.5f, NULL), ARNET_E_INVALID);
    arnet_stream_result r;
    arnet_stream_result_init(&r);
    r.struct_size = 3;
    ck_assert_int_eq(arnet_stream_update(st, 0.5f, &r), ARNET_E_INVALID);
    arnet_stream_state s;
    arnet_stream_state_init(&s);
    s.struct_size = 3;
    ck_assert_int_eq(arnet_stream_get_state(st, &s), ARNET_E_INVALID);
    ck_assert_int_eq(arnet_stream_get_state(NULL, &s), ARNET_E_INVALID);
    ck_assert_int_eq(arnet_stream_reset(NULL), ARNET_E_INVALID);
    arnet_stream_state_init(&s);
    ck_assert_int_eq(arnet_stream_get_state(st, &s), ARNET_OK);
    ck_assert_uint_eq(s.clips, 0); /* refused updates changed nothing */
    arnet_stream_free(st);
    arnet_stream_free(NULL);
}
END_TEST

/* The calibration's keys have one owner: what arnet_model_set_calibration
 * writes, arnet_stream_options_from_model reads. */
START_TEST(calibration_written_is_the_calibration_read)
{
    arnet_model_config cfg;
    arnet_model_config_init(&cfg);
    cfg.feature_dim = 4;
    arnet_model *m = NULL;
    ck_assert_int_eq(arnet_model_create(&cfg, &m), ARNET_OK);
    arnet_calibration c;
    arnet_calibration_init(&c);
    ck_assert(c.per_hour < 0 && c.fps == 0);
    c.threshold = 0.625f;
    c.far = 0.01;
    c.per_hour = 12;
    c.fps = 25;
    c.achieved_far = 0.0095;
    c.clips = 1000;
    c.data = "normal.txt";
    ck_assert_int_eq(arnet_model_set_calibration(m, &c), ARNET_OK);
    ck_assert_str_eq(arnet_model_get_meta(m, "calibration.rule"), "per_hour");
    ck_assert_str_eq(arnet_model_get_meta(m, ARNET_META_CALIBRATION_THRESHOLD), "0.625");
    ck_assert_str_eq(arnet_model_get_meta(m, "calibration.data"), "normal.txt");
    arnet_stream_options so;
    arnet_stream_options_init(&so);
    ck_assert_int_eq(arnet_stream_options_from_model(m, &so), ARNET_OK);
    ck_assert(so.on_threshold == 0.625f);
    ck_assert(so.off_threshold == (float)(0.6 * 0.625));
    ck_assert(so.fps == 25);
    /* A second calibration by the far rule drops the per-hour target. */
    c.per_hour = -1;
    ck_assert_int_eq(arnet_model_set_calibration(m, &c), ARNET_OK);
    ck_assert_str_eq(arnet_model_get_meta(m, "calibration.rule"), "far");
    ck_assert_ptr_null(arnet_model_get_meta(m, "calibration.per_hour"));
    /* A rate not known is not recorded (a stream would take it for its
     * seconds), and an earlier one goes. */
    ck_assert_str_eq(arnet_model_get_meta(m, "calibration.fps"), "25");
    c.fps = 0;
    ck_assert_int_eq(arnet_model_set_calibration(m, &c), ARNET_OK);
    ck_assert_ptr_null(arnet_model_get_meta(m, "calibration.fps"));
    arnet_stream_options_init(&so);
    ck_assert_int_eq(arnet_stream_options_from_model(m, &so), ARNET_OK);
    ck_assert(so.fps == 0 && so.on_threshold == 0.625f);
    /* Out of range: refused naming the field, the model unchanged. */
    c.far = 1.5;
    ck_assert_int_eq(arnet_model_set_calibration(m, &c), ARNET_E_INVALID);
    ck_assert_ptr_nonnull(strstr(arnet_last_error(), "far"));
    ck_assert_str_eq(arnet_model_get_meta(m, "calibration.far"), "0.01");
    c.far = 0.01;
    c.threshold = NAN;
    ck_assert_int_eq(arnet_model_set_calibration(m, &c), ARNET_E_INVALID);
    ck_assert_ptr_nonnull(strstr(arnet_last_error(), "threshold"));
    ck_assert_int_eq(arnet_model_set_calibration(NULL, &c), ARNET_E_INVALID);
    arnet_model_free(m);
}
END_TEST

Suite *make_suite(void)
{
    Suite *s = suite_create("stream");
    TCase *tc = tcase_create("stream");
    tcase_add_test(tc, defaults_are_documented_ones);
    tcase_add_test(tc, hysteresis_and_minimum_lengths_on_a_hand_made_sequence);
    tcase_add_test(tc, flapping_scores_give_one_alarm);
    tcase_add_test(tc, window_and_ema_smoothing);
    tcase_add_test(tc, reset_closes_an_open_alarm);
    tcase_add_test(tc, threshold_above_one_never_alarms);
    tcase_add_test(tc, bad_options_and_arguments_are_refused);
    tcase_add_test(tc, calibration_written_is_the_calibration_read);
    suite_add_tcase(s, tc);
    return s;
}
