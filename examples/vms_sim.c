/* vms_sim.c -- a video management system in miniature: many cameras, a few
 * threads each owning a scorer and a share of the camera streams, alarms
 * printed as they happen, throughput at the end.  Uses only <arnet/arnet.h>.
 *
 *   vms_sim [--cameras N] [--threads T] [--clips C] [--dim F] [--check]
 *
 * Features are generated: a per-camera random walk, plus, on every seventh
 * camera, an injected anomaly (a push along the direction that raises the
 * model's score) for clips 20..34.  The alarm threshold is calibrated on the
 * first clips of every camera with arnet_threshold_for_far (0.5 % of normal
 * clips), as an operator would.  --check exits 1 unless every anomalous
 * camera raised an alarm that started inside its anomaly. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <arnet/arnet.h>

static int n_cams = 64, n_threads = 2, n_clips = 60, dim = 64;
static arnet_model *model;
static float *push_dir; /* dim: raises the score */
static float on_threshold;
static pthread_mutex_t print_lock = PTHREAD_MUTEX_INITIALIZER;
static int *alarm_seen; /* per camera: an alarm started inside the anomaly */

#define ANOMALY_FROM 20
#define ANOMALY_TO 34

static int anomalous(int cam) { return cam % 7 == 3; }

static uint64_t rng_next(uint64_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}
static float rng_uniform(uint64_t *s) { return (float)(rng_next(s) >> 40) / 16777216.0f; }

/* Clip feature of one camera at one clip: the camera's walk state moves a
 * little every clip. */
static void make_feature(int cam, int clip, float *walk, uint64_t *rng, float *out)
{
    for (int k = 0; k < dim; k++) {
        walk[k] = 0.9f * walk[k] + 0.3f * (rng_uniform(rng) - 0.5f);
        out[k] = walk[k];
    }
    if (anomalous(cam) && clip >= ANOMALY_FROM && clip <= ANOMALY_TO)
        for (int k = 0; k < dim; k++)
            out[k] += 3.0f * push_dir[k];
}

static void on_event(void *user, const arnet_event *ev)
{
    (void)user;
    pthread_mutex_lock(&print_lock);
    if (ev->type == ARNET_EVENT_ALARM_START) {
        printf("ALARM START camera %llu clip %llu peak %.3f\n",
               (unsigned long long)ev->stream_id, (unsigned long long)ev->start_clip,
               (double)ev->peak_score);
        if (ev->start_clip >= ANOMALY_FROM - 5 && ev->start_clip <= ANOMALY_TO)
            alarm_seen[ev->stream_id] = 1;
    } else {
        printf("ALARM END   camera %llu clips %llu..%llu peak %.3f\n",
               (unsigned long long)ev->stream_id, (unsigned long long)ev->start_clip,
               (unsigned long long)ev->end_clip, (double)ev->peak_score);
    }
    fflush(stdout);
    pthread_mutex_unlock(&print_lock);
}

struct worker {
    int first, count;
    int failed;
};

static void *worker_main(void *arg)
{
    struct worker *w = arg;
    arnet_scorer_options so;
    arnet_scorer_options_init(&so);
    so.max_batch = (size_t)w->count;
    arnet_scorer *scorer = NULL;
    arnet_stream **streams = calloc((size_t)w->count, sizeof *streams);
    float *x = malloc((size_t)w->count * (size_t)dim * sizeof(float));
    float *walk = calloc((size_t)w->count * (size_t)dim, sizeof(float));
    uint64_t *rng = malloc((size_t)w->count * sizeof *rng);
    if (!streams || !x || !walk || !rng || arnet_scorer_create(model, &so, &scorer)) {
        w->failed = 1;
        goto out;
    }
    for (int i = 0; i < w->count; i++) {
        arnet_stream_options o;
        arnet_stream_options_init(&o);
        o.stream_id = (uint64_t)(w->first + i);
        o.smoothing = ARNET_SMOOTH_WINDOW;
        o.window = 3;
        o.on_threshold = on_threshold;
        o.off_threshold = on_threshold * 0.9f;
        o.min_on_clips = 3;
        o.min_off_clips = 3;
        o.on_event = on_event;
        rng[i] = 0x9E3779B97F4A7C15ull * (uint64_t)(w->first + i + 1);
        if (arnet_stream_create(&o, &streams[i])) {
            w->failed = 1;
            goto out;
        }
    }
    /* One tick = one clip from every camera of this thread = one GEMM. */
    for (int clip = 0; clip < n_clips; clip++) {
        for (int i = 0; i < w->count; i++)
            make_feature(w->first + i, clip, walk + (size_t)i * dim, &rng[i],
                         x + (size_t)i * dim);
        if (arnet_scorer_push_streams(scorer, streams, x, (size_t)w->count, NULL)) {
            pthread_mutex_lock(&print_lock);
            fprintf(stderr, "vms_sim: %s\n", arnet_last_error());
            pthread_mutex_unlock(&print_lock);
            w->failed = 1;
            break;
        }
    }
out:
    if (streams)
        for (int i = 0; i < w->count; i++)
            arnet_stream_free(streams[i]);
    free(streams);
    arnet_scorer_free(scorer);
    free(x);
    free(walk);
    free(rng);
    return NULL;
}

/* Scores of normal clips (every camera, anomaly left out) to set the
 * alarm threshold from a false-alarm rate. */
static int calibrate(void)
{
    int n = 0, per = 30;
    float *scores = malloc((size_t)n_cams * per * sizeof(float));
    float *walk = calloc((size_t)dim, sizeof(float)), *x = malloc((size_t)dim * sizeof(float));
    arnet_scorer *s = NULL;
    int rc = (!scores || !walk || !x) ? -1 : arnet_scorer_create(model, NULL, &s);
    for (int cam = 0; rc == 0 && cam < n_cams; cam++) {
        uint64_t r = 0xD1B54A32D192ED03ull * (uint64_t)(cam + 1);
        memset(walk, 0, (size_t)dim * sizeof(float));
        for (int c = 0; rc == 0 && c < per; c++) {
            make_feature(cam, -1, walk, &r, x); /* clip -1: never anomalous */
            rc = arnet_scorer_score(s, x, 1, &scores[n++]);
        }
    }
    double far = 0;
    if (rc == 0)
        rc = arnet_threshold_for_far(scores, (size_t)n, 0.005, &on_threshold, &far);
    if (rc == 0)
        printf("calibrated on %d normal clips: threshold %.4f gives %.2f%% false alarms\n", n,
               (double)on_threshold, 100.0 * far);
    arnet_scorer_free(s);
    free(scores);
    free(walk);
    free(x);
    return rc;
}

int main(int argc, char **argv)
{
    int check = 0;
    for (int i = 1; i < argc; i++) {
        int *target = NULL;
        if (strcmp(argv[i], "--check") == 0)
            check = 1;
        else if (strcmp(argv[i], "--cameras") == 0)
            target = &n_cams;
        else if (strcmp(argv[i], "--threads") == 0)
            target = &n_threads;
        else if (strcmp(argv[i], "--clips") == 0)
            target = &n_clips;
        else if (strcmp(argv[i], "--dim") == 0)
            target = &dim;
        else {
            fprintf(stderr, "vms_sim: unknown option '%s'\n", argv[i]);
            return 2;
        }
        if (target) {
            if (i + 1 >= argc || (*target = atoi(argv[++i])) < 1) {
                fprintf(stderr, "vms_sim: %s needs a positive number\n", argv[i - 1]);
                return 2;
            }
        }
    }
    if (n_threads > n_cams)
        n_threads = n_cams;
    arnet_model_config cfg;
    arnet_model_config_init(&cfg);
    cfg.feature_dim = (uint32_t)dim;
    cfg.hidden_dim = (uint32_t)dim;
    if (arnet_model_create(&cfg, &model)) {
        fprintf(stderr, "vms_sim: %s\n", arnet_last_error());
        return 1;
    }
    /* The direction that raises the score: W1^T relu-ish(w2). */
    float *w1 = malloc((size_t)dim * dim * sizeof(float)), *w2 = malloc((size_t)dim * sizeof(float));
    push_dir = calloc((size_t)dim, sizeof(float));
    alarm_seen = calloc((size_t)n_cams, sizeof(int));
    if (!w1 || !w2 || !push_dir || !alarm_seen ||
        arnet_model_get_params(model, w1, NULL, w2, NULL))
        return 1;
    for (int j = 0; j < dim; j++)
        if (w2[j] > 0)
            for (int k = 0; k < dim; k++)
                push_dir[k] += w2[j] * w1[(size_t)j * dim + k];
    if (calibrate()) {
        fprintf(stderr, "vms_sim: %s\n", arnet_last_error());
        return 1;
    }
    pthread_t *th = malloc((size_t)n_threads * sizeof *th);
    struct worker *w = calloc((size_t)n_threads, sizeof *w);
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (int t = 0; t < n_threads; t++) {
        w[t].first = n_cams * t / n_threads;
        w[t].count = n_cams * (t + 1) / n_threads - w[t].first;
        pthread_create(&th[t], NULL, worker_main, &w[t]);
    }
    int failed = 0;
    for (int t = 0; t < n_threads; t++) {
        pthread_join(th[t], NULL);
        failed |= w[t].failed;
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double secs = (double)(t1.tv_sec - t0.tv_sec) + 1e-9 * (double)(t1.tv_nsec - t0.tv_nsec);
    double clips = (double)n_cams * n_clips;
    printf("%d cameras x %d clips on %d threads: %.0f clips/s\n", n_cams, n_clips, n_threads,
           secs > 0 ? clips / secs : 0.0);
    int missed = 0;
    for (int c = 0; c < n_cams; c++)
        if (anomalous(c) && !alarm_seen[c]) {
            printf("camera %d: injected anomaly raised no alarm\n", c);
            missed++;
        }
    free(w1);
    free(w2);
    free(push_dir);
    free(alarm_seen);
    free(th);
    free(w);
    arnet_model_free(model);
    if (failed)
        return 1;
    return check && missed ? 1 : 0;
}
