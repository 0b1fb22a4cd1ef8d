/* test_threads.c -- the library's threading promises (include/arnet/arnet.h,
 * docs/embedding.md) exercised with real threads: many threads scoring one
 * model, threads each driving a scorer and streams over one shared model,
 * two trainers training at once on one shared data set, concurrent
 * saves and loads of one path, and optical flow states whose thread teams
 * meet every iteration (barrier and boundary flags), two at once.  Every result is compared bit for bit with a
 * serial run.  `./dev.sh test` also runs this file under ThreadSanitizer
 * (tests/tsan.supp, docs/testing.md), which reports the data races that the
 * comparisons alone could miss. */
#include <check.h>
#include <dirent.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fixtures.h"
#include "internal.h"

/* Under ThreadSanitizer: stop at the first report, with the suppressions
 * of tests/tsan.supp (BLIS and OpenMP internals only), however the test is
 * started (meson test, by hand); TSAN_OPTIONS in the environment adds to
 * these.  Other builds never call it. */
const char *__tsan_default_options(void);
const char *__tsan_default_options(void)
{
    return "halt_on_error=1:second_deadlock_stack=1:suppressions=" ARNET_SOURCE_DIR
           "/tests/tsan.supp";
}

/* ---- helpers -------------------------------------------------------------- */

static arnet_model *make_model(uint32_t F, uint32_t H, uint64_t seed)
{
    return fixture_model(F, H, 0.7f, seed);
}

static float *make_features(size_t n, size_t F, uint64_t seed)
{
    float *x = malloc(n * F * sizeof(float));
    ck_assert_ptr_nonnull(x);
    arnet__rng r;
    arnet__rng_seed(&r, seed);
    for (size_t i = 0; i < n * F; i++)
        x[i] = (float)arnet__rng_normal(&r);
    return x;
}

/* All four parameter tensors of a model, concatenated. */
static float *params_of(const arnet_model *m)
{
    size_t F = arnet_model_feature_dim(m), H = arnet_model_hidden_dim(m);
    float *p = malloc((F * H + 2 * H + 1) * sizeof(float));
    ck_assert_ptr_nonnull(p);
    ck_assert_int_eq(arnet_model_get_params(m, p, p + F * H, p + F * H + H, p + F * H + 2 * H),
                     ARNET_OK);
    return p;
}

static size_t params_size(const arnet_model *m)
{
    size_t F = arnet_model_feature_dim(m), H = arnet_model_hidden_dim(m);
    return (F * H + 2 * H + 1) * sizeof(float);
}

static void start_all(pthread_t *th, int n, void *(*fn)(void *), void *args, size_t arg_size)
{
    for (int t = 0; t < n; t++)
        ck_assert_int_eq(pthread_create(&th[t], NULL, fn, (char *)args + (size_t)t * arg_size), 0);
}

static void join_all(pthread_t *th, int n)
{
    for (int t = 0; t < n; t++)
        ck_assert_int_eq(pthread_join(th[t], NULL), 0);
}

/* ---- many threads, one model ---------------------------------------------- */

struct scorer_job {
    const arnet_model *m;
    const float *x;
    size_t n, F;
    const float *serial;
    int bad; /* first failure: 1 status, 2 different score, 3 metadata, 4 save */
};

static void *score_main(void *arg)
{
    struct scorer_job *j = arg;
    float *out = malloc(j->n * sizeof(float));
    for (int rep = 0; rep < 6 && !j->bad && out; rep++) {
        /* arnet_model_score on the shared model, in chunks of varying size. */
        size_t at = 0, chunk = 1 + (size_t)rep * 5;
        while (at < j->n) {
            size_t k = j->n - at < chunk ? j->n - at : chunk;
            if (arnet_model_score(j->m, j->x + at * j->F, k, out + at) != ARNET_OK)
                j->bad = 1;
            at += k;
        }
        if (!j->bad && memcmp(out, j->serial, j->n * sizeof(float)) != 0)
            j->bad = 2;
        /* Reading the model otherwise meanwhile is allowed too. */
        const char *v = arnet_model_get_meta(j->m, "camera");
        if (!v || strcmp(v, "gate 4") != 0)
            j->bad = 3;
        void *buf = NULL;
        size_t size = 0;
        if (arnet_model_save_buffer(j->m, NULL, &buf, &size) != ARNET_OK || size == 0)
            j->bad = 4;
        arnet_free(buf);
    }
    if (!out)
        j->bad = 1;
    free(out);
    return NULL;
}

START_TEST(many_threads_score_one_model)
{
    enum { T = 8 };
    const size_t F = 48, H = 32, N = 60;
    arnet_model *m = make_model(F, H, 3);
    ck_assert_int_eq(arnet_model_set_meta(m, "camera", "gate 4"), ARNET_OK);
    float *x = make_features(N, F, 4);
    float *serial = malloc(N * sizeof(float));
    ck_assert_int_eq(arnet_model_score(m, x, N, serial), ARNET_OK);
    struct scorer_job jobs[T];
    pthread_t th[T];
    for (int t = 0; t < T; t++)
        jobs[t] = (struct scorer_job){m, x, N, F, serial, 0};
    start_all(th, T, score_main, jobs, sizeof jobs[0]);
    join_all(th, T);
    for (int t = 0; t < T; t++)
        ck_assert_msg(jobs[t].bad == 0, "thread %d: failure %d", t, jobs[t].bad);
    free(serial);
    free(x);
    arnet_model_free(m);
}
END_TEST

/* ---- scorers and streams, one per thread, over one model ----------------- */

enum { STREAMS = 3, CLIPS = 40 };

struct stream_job {
    const arnet_model *m;
    const float *x; /* CLIPS x STREAMS x F */
    size_t F;
    int threads; /* BLIS threads of the scorer */
    arnet_stream_result res[CLIPS][STREAMS];
    int events;
    int bad;
};

static void count_event(void *user, const arnet_event *ev)
{
    (void)ev;
    ((struct stream_job *)user)->events++;
}

static void run_streams(struct stream_job *j)
{
    arnet_scorer_options so;
    arnet_scorer_options_init(&so);
    so.max_batch = 2;
    so.threads = j->threads;
    arnet_scorer *s = NULL;
    arnet_stream *st[STREAMS] = {NULL};
    if (arnet_scorer_create(j->m, &so, &s) != ARNET_OK) {
        j->bad = 1;
        return;
    }
    arnet_stream_options o;
    arnet_stream_options_init(&o);
    o.on_threshold = 0.5f;
    o.off_threshold = 0.45f;
    o.min_on_clips = 2;
    o.min_off_clips = 2;
    o.on_event = count_event;
    o.user = j;
    for (int i = 0; i < STREAMS; i++) {
        o.stream_id = (uint64_t)i;
        if (arnet_stream_create(&o, &st[i]) != ARNET_OK)
            j->bad = 1;
    }
    for (int c = 0; c < CLIPS && !j->bad; c++) {
        for (int i = 0; i < STREAMS; i++)
            arnet_stream_result_init(&j->res[c][i]);
        /* Odd clips one stream at a time, even clips all streams in one batch. */
        if (c % 2) {
            for (int i = 0; i < STREAMS; i++)
                if (arnet_stream_push(st[i], s, j->x + ((size_t)c * STREAMS + i) * j->F,
                                      &j->res[c][i]) != ARNET_OK)
                    j->bad = 2;
        } else if (arnet_scorer_push_streams(s, st, j->x + (size_t)c * STREAMS * j->F, STREAMS,
                                             j->res[c]) != ARNET_OK) {
            j->bad = 3;
        }
    }
    for (int i = 0; i < STREAMS; i++)
        arnet_stream_free(st[i]);
    arnet_scorer_free(s);
}

static void *stream_main(void *arg)
{
    run_streams(arg);
    return NULL;
}

START_TEST(threads_drive_own_scorers_and_streams)
{
    enum { T = 4 };
    const size_t F = 32, H = 24;
    arnet_model *m = make_model(F, H, 8);
    float b2 = 0.3f;
    ck_assert_int_eq(arnet_model_set_params(m, NULL, NULL, NULL, &b2), ARNET_OK);
    float *x = make_features((size_t)CLIPS * STREAMS, F, 9);
    static struct stream_job serial, jobs[T];
    serial = (struct stream_job){.m = m, .x = x, .F = F, .threads = 1};
    run_streams(&serial);
    ck_assert_int_eq(serial.bad, 0);
    pthread_t th[T];
    for (int t = 0; t < T; t++)
        jobs[t] = (struct stream_job){.m = m, .x = x, .F = F, .threads = t == 0 ? 2 : 1};
    start_all(th, T, stream_main, jobs, sizeof jobs[0]);
    join_all(th, T);
    for (int t = 0; t < T; t++) {
        ck_assert_msg(jobs[t].bad == 0, "thread %d: failure %d", t, jobs[t].bad);
        ck_assert_int_eq(jobs[t].events, serial.events);
        for (int c = 0; c < CLIPS; c++)
            for (int i = 0; i < STREAMS; i++) {
                const arnet_stream_result *a = &jobs[t].res[c][i], *b = &serial.res[c][i];
                ck_assert_msg(memcmp(&a->raw, &b->raw, sizeof(float)) == 0 &&
                                  memcmp(&a->smoothed, &b->smoothed, sizeof(float)) == 0 &&
                                  a->alarm == b->alarm && a->event == b->event &&
                                  a->clip_index == (uint64_t)c,
                              "thread %d clip %d stream %d differs from the serial run", t, c, i);
            }
    }
    free(x);
    arnet_model_free(m);
}
END_TEST

/* ---- two trainers at once on one data set --------------------------------- */

static arnet_dataset *make_dataset(uint32_t F)
{
    arnet_dataset *ds = NULL;
    ck_assert_int_eq(arnet_dataset_create(F, &ds), ARNET_OK);
    for (int v = 0; v < 8; v++) {
        size_t T = 5 + (size_t)v * 3;
        float *x = make_features(T, F, 50 + (uint64_t)v);
        if (v >= 4)
            for (size_t i = 0; i < T * F; i += 3)
                x[i] += 1.5f;
        ck_assert_int_eq(arnet_dataset_add(ds, NULL, x, T, F, v >= 4, NULL, 0), ARNET_OK);
        free(x);
    }
    return ds;
}

struct train_job {
    arnet_model *m;
    const arnet_dataset *ds;
    arnet_train_options o;
    int rc;
};

static void *train_main(void *arg)
{
    struct train_job *j = arg;
    arnet_trainer *t = NULL;
    j->rc = arnet_trainer_create(j->m, j->ds, &j->o, &t);
    if (j->rc == ARNET_OK)
        j->rc = arnet_trainer_run(t);
    arnet_trainer_free(t);
    return NULL;
}

START_TEST(two_trainers_train_at_once_on_one_data_set)
{
    const uint32_t F = 24, H = 16;
    arnet_dataset *ds = make_dataset(F);
    arnet_train_options o;
    arnet_train_options_init(&o);
    o.normal_per_batch = 3;
    o.anomalous_per_batch = 3;
    o.lr = 1e-3f;
    o.iterations = 8;
    o.seed = 11;
    /* Serial references: one per thread count (BLIS may sum in another order). */
    struct train_job ref[2], jobs[2];
    for (int k = 0; k < 2; k++) {
        ref[k] = (struct train_job){make_model(F, H, 2), ds, o, -1};
        ref[k].o.threads = 1 + k;
        train_main(&ref[k]);
        ck_assert_int_eq(ref[k].rc, ARNET_OK);
        jobs[k] = (struct train_job){make_model(F, H, 2), ds, o, -1};
        jobs[k].o.threads = 1 + k;
    }
    pthread_t th[2];
    start_all(th, 2, train_main, jobs, sizeof jobs[0]);
    join_all(th, 2);
    for (int k = 0; k < 2; k++) {
        ck_assert_int_eq(jobs[k].rc, ARNET_OK);
        float *a = params_of(jobs[k].m), *b = params_of(ref[k].m);
        ck_assert_msg(memcmp(a, b, params_size(jobs[k].m)) == 0,
                      "trainer with %d threads: weights differ from the serial run", k + 1);
        free(a);
        free(b);
        arnet_model_free(jobs[k].m);
        arnet_model_free(ref[k].m);
    }
    arnet_dataset_free(ds);
}
END_TEST

/* ---- concurrent saves and loads of one path ------------------------------- */

struct file_job {
    const char *path;
    const arnet_model *save; /* NULL: a reader */
    const float *pa, *pb;    /* the two models' parameters */
    size_t psize;
    int loads_a, loads_b;
    int bad;
    char msg[256];
};

static void *file_main(void *arg)
{
    struct file_job *j = arg;
    for (int i = 0; i < 12 && !j->bad; i++) {
        if (j->save) {
            if (arnet_model_save(j->save, j->path) != ARNET_OK) {
                j->bad = 1;
                snprintf(j->msg, sizeof j->msg, "save: %s", arnet_last_error());
            }
            continue;
        }
        arnet_model *m = NULL;
        if (arnet_model_load(j->path, &m) != ARNET_OK) {
            j->bad = 2;
            snprintf(j->msg, sizeof j->msg, "load: %s", arnet_last_error());
            break;
        }
        float *p = params_of(m);
        if (memcmp(p, j->pa, j->psize) == 0)
            j->loads_a++;
        else if (memcmp(p, j->pb, j->psize) == 0)
            j->loads_b++;
        else {
            j->bad = 3;
            snprintf(j->msg, sizeof j->msg, "load %d: neither model", i);
        }
        free(p);
        arnet_model_free(m);
    }
    return NULL;
}

START_TEST(concurrent_saves_and_loads_of_one_path)
{
    enum { T = 6 };
    char dir[] = "/tmp/arnet-threads-XXXXXX", path[64];
    ck_assert_ptr_nonnull(mkdtemp(dir));
    snprintf(path, sizeof path, "%s/m.arnet", dir);
    arnet_model *a = make_model(40, 40, 1), *b = make_model(40, 40, 2);
    float *pa = params_of(a), *pb = params_of(b);
    ck_assert_int_eq(arnet_model_save(a, path), ARNET_OK);
    /* Two writers (one per model) and four readers. */
    struct file_job jobs[T];
    for (int t = 0; t < T; t++)
        jobs[t] = (struct file_job){path, t == 0 ? a : t == 1 ? b : NULL, pa, pb, params_size(a),
                                    0, 0, 0, ""};
    pthread_t th[T];
    start_all(th, T, file_main, jobs, sizeof jobs[0]);
    join_all(th, T);
    for (int t = 0; t < T; t++)
        ck_assert_msg(jobs[t].bad == 0, "thread %d: %s", t, jobs[t].msg);
    /* Only the file itself is left: no temporary of either writer. */
    DIR *d = opendir(dir);
    ck_assert_ptr_nonnull(d);
    struct dirent *e;
    int files = 0;
    while ((e = readdir(d)) != NULL) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
            continue;
        ck_assert_str_eq(e->d_name, "m.arnet");
        files++;
    }
    closedir(d);
    ck_assert_int_eq(files, 1);
    ck_assert_int_eq(unlink(path), 0);
    ck_assert_int_eq(rmdir(dir), 0);
    free(pa);
    free(pb);
    arnet_model_free(a);
    arnet_model_free(b);
}
END_TEST

/* ---- optical flow: a team per state ------------------------------------------ */

typedef struct flow_job {
    int threads;
    const uint8_t *a, *b;
    float *out;
    int rc;
} flow_job;

static void *flow_run(void *p)
{
    flow_job *j = p;
    arnet_flow_options o;
    arnet_flow_options_init(&o);
    o.threads = j->threads;
    o.warps = 2;
    o.outer_iterations = 2;
    arnet_flow *f = NULL;
    j->rc = arnet_flow_create(48, 40, &o, &f);
    for (int k = 0; !j->rc && k < 2; k++)
        j->rc = arnet_flow_compute(f, j->a, 48, j->b, 48, j->out);
    arnet_flow_free(f);
    return NULL;
}

START_TEST(flow_teams_equal_one_thread)
{
    uint8_t a[48 * 40], b[48 * 40];
    for (int y = 0; y < 40; y++)
        for (int x = 0; x < 48; x++) {
            a[y * 48 + x] = (uint8_t)((x * 7 + y * 13 + (x * y) / 5) & 255);
            b[y * 48 + x] = (uint8_t)(((x + 1) * 7 + y * 13 + ((x + 1) * y) / 5) & 255);
        }
    static float out[4][48 * 40 * 2];
    flow_job serial = {1, a, b, out[0], 0};
    flow_run(&serial);
    ck_assert_int_eq(serial.rc, ARNET_OK);
    /* A team of 3 (boundaries between every tile) next to one of 2. */
    flow_job jobs[2] = {{3, a, b, out[1], 0}, {2, a, b, out[2], 0}};
    pthread_t th[2];
    for (int i = 0; i < 2; i++)
        ck_assert_int_eq(pthread_create(&th[i], NULL, flow_run, &jobs[i]), 0);
    for (int i = 0; i < 2; i++) {
        pthread_join(th[i], NULL);
        ck_assert_int_eq(jobs[i].rc, ARNET_OK);
        ck_assert_msg(memcmp(out[0], out[1 + i], sizeof out[0]) == 0,
                      "%d threads differ from one", jobs[i].threads);
    }
}
END_TEST

Suite *make_suite(void)
{
    Suite *s = suite_create("threads");
    TCase *tc = tcase_create("threads");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, many_threads_score_one_model);
    tcase_add_test(tc, threads_drive_own_scorers_and_streams);
    tcase_add_test(tc, two_trainers_train_at_once_on_one_data_set);
    tcase_add_test(tc, concurrent_saves_and_loads_of_one_path);
    tcase_add_test(tc, flow_teams_equal_one_thread);
    suite_add_tcase(s, tc);
    return s;
}
