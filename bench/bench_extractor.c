/* bench_extractor.c -- prints how long the I3D extractor takes per clip
 * (16 x 224 x 224 by default) at 1 and 2 threads, the rate in GFLOP/s of the
 * direct convolutions it computes, and that rate as a fraction of the
 * machine's sgemm rate measured in the same run at the same thread count.
 * bench/bench_i3d_torch.py runs it interleaved with the PyTorch reference.
 *
 *   bench_extractor [--weights W.pt|X.arnet] [--threads 1,2] [--reps N]
 *                   [--frames T] [--size S] [--no-sgemm] [--machine]
 *                   [--clip F.f32] [--features OUT.f32]
 *   bench_extractor --throughput N [--cores 1,2] ...
 *                                 clips/s over N clips on C cores, two ways:
 *                                 one state with a team of C threads taking
 *                                 the clips in turn ("team"), and C states of
 *                                 one thread each, each in its own thread,
 *                                 sharing the N clips ("jobs")
 *   bench_extractor --quick      a tiny clip, used by the tests to check it runs
 *   bench_extractor --blis-skx-index   BLIS_ARCH_TYPE's value for the SKX kernels
 *                                 in the BLIS we were built with (for the driver)
 *
 * Without --weights the weights are random (speed does not depend on them).
 * --machine prints one line per thread count for the driver script.
 * --clip reads the clip (T x S x S x 3 float32, channels last) instead of a
 * random one; --features writes the last pass's features (float32), so a
 * driver (bench_i3d_ort.py) can check them against PyTorch's. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <blis.h>

#include "conv3d.h"
#include "i3d.h"
#include "internal.h"

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* CPU time of the whole process (every thread): on a loaded machine the
 * one-thread figure that other processes disturb least. */
static double cpu_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void fill(float *x, size_t n, uint64_t seed, double lo, double hi)
{
    arnet__rng r;
    arnet__rng_seed(&r, seed);
    for (size_t i = 0; i < n; i++)
        x[i] = (float)(lo + (hi - lo) * arnet__rng_uniform(&r));
}

/* Weights of the right scale (He-like), so activations neither die nor
 * overflow through 57 units. */
static int random_extractor(arnet_extractor **out)
{
    if (arnet__extractor_alloc(out) != ARNET_OK)
        return 0;
    for (size_t i = 0; i < arnet__i3d_n_convs; i++) {
        const arnet__i3d_conv_desc *d = &arnet__i3d_convs[i];
        size_t fan_in = (size_t)d->in_ch * d->k[0] * d->k[1] * d->k[2];
        double a = 2.0 / (double)fan_in;
        fill((*out)->convs[i].w, fan_in * d->out_ch, 100 + i, -a, 2.5 * a);
        fill((*out)->convs[i].b, d->out_ch, 200 + i, 0.0, 0.05);
    }
    return arnet__i3d_prepare(*out) == ARNET_OK;
}

/* FLOPs of the direct convolutions of one clip (2 per multiply-add). */
static double network_flops(uint32_t t, uint32_t h, uint32_t w)
{
    double flops = 0;
    uint32_t dims[3] = {t, h, w}, od[3];
    for (size_t i = 0; i < arnet__i3d_n_steps; i++) {
        const arnet__i3d_step *st = &arnet__i3d_steps[i];
        const arnet__i3d_conv_desc *d = &arnet__i3d_convs[st->conv];
        int units = st->op == ARNET__I3D_MIXED ? 6 : st->op == ARNET__I3D_CONV ? 1 : 0;
        for (int u = 0; u < units; u++) {
            arnet__conv3d_out_dims(d[u].k, d[u].s, dims[0], dims[1], dims[2], od);
            flops += 2.0 * od[0] * od[1] * od[2] * d[u].out_ch * d[u].in_ch * d[u].k[0] *
                     d[u].k[1] * d[u].k[2];
        }
        if (st->op == ARNET__I3D_MAXPOOL)
            arnet__conv3d_out_dims(st->k, st->s, dims[0], dims[1], dims[2], od);
        else if (st->op == ARNET__I3D_CONV)
            arnet__conv3d_out_dims(d->k, d->s, dims[0], dims[1], dims[2], od);
        else
            memcpy(od, dims, sizeof od);
        memcpy(dims, od, sizeof dims);
    }
    return flops;
}

/* Best of reps of a square-ish sgemm, as bench_blis measures it. */
static double sgemm_gflops(size_t m, size_t n, size_t k, int threads, int reps)
{
    float *a = malloc(sizeof(float) * m * k), *b = malloc(sizeof(float) * n * k),
          *c = malloc(sizeof(float) * m * n);
    if (!a || !b || !c)
        return 0;
    fill(a, m * k, 1, 0, 1);
    fill(b, n * k, 2, 0, 1);
    double best = 1e30;
    for (int r = 0; r < reps; r++) {
        double t0 = now();
        arnet__sgemm(0, 1, m, n, k, 1.0f, a, k, b, k, 0.0f, c, n, threads);
        double dt = now() - t0;
        best = dt < best ? dt : best;
    }
    free(a), free(b), free(c);
    return 2.0 * (double)m * (double)n * (double)k / best * 1e-9;
}

/* ---- throughput: a team per clip against independent states ---------------- */

typedef struct tp_job {
    const arnet_extractor *x;
    const float *clip;
    uint32_t frames, size;
    size_t n_clips;
    size_t next; /* next clip, taken atomically */
    int failed;
} tp_job;

static void *tp_worker(void *arg)
{
    tp_job *j = arg;
    arnet__i3d_scratch *s = NULL;
    float feature[ARNET__I3D_FEATURE_DIM];
    if (arnet__i3d_scratch_create(j->x, j->frames, j->size, j->size, 1, &s) != ARNET_OK) {
        __atomic_store_n(&j->failed, 1, __ATOMIC_RELAXED);
        return NULL;
    }
    while (__atomic_fetch_add(&j->next, 1, __ATOMIC_RELAXED) < j->n_clips)
        if (arnet__i3d_forward(j->x, s, j->clip, feature, NULL) != ARNET_OK)
            __atomic_store_n(&j->failed, 1, __ATOMIC_RELAXED);
    arnet__i3d_scratch_free(s);
    return NULL;
}

/* Clips per second over n clips on `cores` cores: jobs = 0, one state with a
 * team of `cores` threads; jobs = 1, `cores` single-thread states in their
 * own threads.  Scratch creation is outside the time for the team, inside
 * for the jobs (each thread makes its own: a few ms against seconds). */
static double throughput(const arnet_extractor *x, const float *clip, uint32_t frames,
                         uint32_t size, size_t n, int cores, int jobs, double *per_cpu_s)
{
    float feature[ARNET__I3D_FEATURE_DIM];
    if (!jobs) {
        arnet__i3d_scratch *s = NULL;
        if (arnet__i3d_scratch_create(x, frames, size, size, cores, &s) != ARNET_OK)
            return -1;
        double t0 = now(), c0 = cpu_now();
        for (size_t i = 0; i < n; i++)
            if (arnet__i3d_forward(x, s, clip, feature, NULL) != ARNET_OK)
                return -1;
        double dt = now() - t0;
        *per_cpu_s = (double)n / (cpu_now() - c0);
        arnet__i3d_scratch_free(s);
        return (double)n / dt;
    }
    tp_job j = {x, clip, frames, size, n, 0, 0};
    pthread_t tid[64];
    if (cores > 64)
        cores = 64;
    double t0 = now(), c0 = cpu_now();
    int started = 0;
    for (; started < cores; started++)
        if (pthread_create(&tid[started], NULL, tp_worker, &j) != 0)
            break;
    for (int i = 0; i < started; i++)
        pthread_join(tid[i], NULL);
    double dt = now() - t0;
    *per_cpu_s = (double)n / (cpu_now() - c0);
    return started == cores && !j.failed ? (double)n / dt : -1;
}

static int usage(const char *msg)
{
    fprintf(stderr,
            "bench_extractor: %s\nusage: bench_extractor [--weights FILE] [--threads 1,2] "
            "[--reps N] [--frames T] [--size S] [--no-sgemm] [--machine] | --quick\n",
            msg);
    return 2;
}

int main(int argc, char **argv)
{
    const char *weights = NULL, *thread_list = "1,2", *clip_path = NULL, *features_path = NULL;
    const char *core_list = "1,2";
    size_t tp_clips = 0;
    int reps = 3, sgemm = 1, machine = 0;
    uint32_t frames = 16, size = 224;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--blis-skx-index")) {
            printf("%d\n", (int)BLIS_ARCH_SKX);
            return 0;
        } else if (!strcmp(a, "--quick")) {
            frames = 8, size = 32, reps = 1, sgemm = 0;
        } else if (!strcmp(a, "--no-sgemm")) {
            sgemm = 0;
        } else if (!strcmp(a, "--machine")) {
            machine = 1;
        } else if (!strcmp(a, "--help")) {
            printf("see the comment at the top of bench/bench_extractor.c\n");
            return 0;
        } else if (!v) {
            return usage("missing value or unknown option");
        } else if (!strcmp(a, "--weights")) {
            weights = v, i++;
        } else if (!strcmp(a, "--threads")) {
            thread_list = v, i++;
        } else if (!strcmp(a, "--throughput")) {
            tp_clips = (size_t)atol(v), i++;
        } else if (!strcmp(a, "--cores")) {
            core_list = v, i++;
        } else if (!strcmp(a, "--clip")) {
            clip_path = v, i++;
        } else if (!strcmp(a, "--features")) {
            features_path = v, i++;
        } else if (!strcmp(a, "--reps")) {
            reps = atoi(v), i++;
        } else if (!strcmp(a, "--frames")) {
            frames = (uint32_t)atoi(v), i++;
        } else if (!strcmp(a, "--size")) {
            size = (uint32_t)atoi(v), i++;
        } else {
            return usage(a);
        }
    }
    if (reps < 1 || frames < 1 || size < 1)
        return usage("--reps, --frames and --size must be at least 1");

    arnet_extractor *x = NULL;
    int ok;
    if (!weights)
        ok = random_extractor(&x);
    else if (strlen(weights) > 3 && !strcmp(weights + strlen(weights) - 3, ".pt"))
        ok = arnet_extractor_load_torch(weights, &x) == ARNET_OK;
    else
        ok = arnet_extractor_load(weights, &x) == ARNET_OK;
    if (!ok) {
        fprintf(stderr, "bench_extractor: %s\n", arnet_last_error());
        return 1;
    }
    size_t n = (size_t)frames * size * size * 3;
    float *clip = malloc(n * sizeof(float)), feature[ARNET__I3D_FEATURE_DIM];
    if (!clip)
        return 1;
    fill(clip, n, 7, -1.0, 1.0);
    if (clip_path) {
        FILE *f = fopen(clip_path, "rb");
        size_t got = f ? fread(clip, sizeof(float), n, f) : 0;
        if (f)
            fclose(f);
        if (got != n) {
            fprintf(stderr, "bench_extractor: %s: cannot read %zu floats\n", clip_path, n);
            return 1;
        }
    }
    double flops = network_flops(frames, size, size);
    if (tp_clips) {
        printf("libarnet %s I3D extractor, %u x %u x %u clips, throughput over %zu clips, BLIS "
               "kernels %s\n", arnet_version(), frames, size, size, tp_clips, arnet_blas_arch());
        for (const char *p = core_list; *p;) {
            int cores = atoi(p);
            if (cores < 1)
                return usage("--cores wants a list like 1,2");
            double team_cpu = 0, jobs_cpu = 0;
            double team = throughput(x, clip, frames, size, tp_clips, cores, 0, &team_cpu);
            double jobs = throughput(x, clip, frames, size, tp_clips, cores, 1, &jobs_cpu);
            if (team < 0 || jobs < 0) {
                fprintf(stderr, "bench_extractor: %s\n", arnet_last_error());
                return 1;
            }
            if (machine)
                printf("throughput cores=%d team=%.3f jobs=%.3f team_per_cpu_s=%.3f "
                       "jobs_per_cpu_s=%.3f\n",
                       cores, team, jobs, team_cpu, jobs_cpu);
            else
                printf("  %d core%s: team of %d threads %.2f clips/s (%.2f per core; %.2f per CPU "
                       "second), %d jobs of 1 thread %.2f clips/s (%.2f per core; %.2f per CPU "
                       "second)\n",
                       cores, cores > 1 ? "s" : " ", cores, team, team / cores, team_cpu, cores,
                       jobs, jobs / cores, jobs_cpu);
            fflush(stdout);
            while (*p && *p != ',')
                p++;
            if (*p == ',')
                p++;
        }
        free(clip);
        arnet_extractor_free(x);
        return 0;
    }
    if (!machine)
        printf("libarnet %s I3D extractor, %u x %u x %u clip, %.1f GFLOP of direct convolution, "
               "BLIS kernels %s, best of %d\n",
               arnet_version(), frames, size, size, flops * 1e-9, arnet_blas_arch(), reps);

    for (const char *p = thread_list; *p;) {
        int threads = atoi(p);
        if (threads < 1)
            return usage("--threads wants a list like 1,2");
        arnet__i3d_scratch *s = NULL;
        if (arnet__i3d_scratch_create(x, frames, size, size, threads, &s) != ARNET_OK) {
            fprintf(stderr, "bench_extractor: %s\n", arnet_last_error());
            return 1;
        }
        /* One untimed pass: first touch of the scratch, BLIS's buffers. */
        int rc = arnet__i3d_forward(x, s, clip, feature, NULL);
        double best = 1e30, best_cpu = 1e30;
        for (int r = 0; r < reps && rc == ARNET_OK; r++) {
            double t0 = now(), c0 = cpu_now();
            rc = arnet__i3d_forward(x, s, clip, feature, NULL);
            double dt = now() - t0, dc = cpu_now() - c0;
            best = dt < best ? dt : best;
            best_cpu = dc < best_cpu ? dc : best_cpu;
        }
        if (rc != ARNET_OK) {
            fprintf(stderr, "bench_extractor: %s\n", arnet_last_error());
            return 1;
        }
        double rate = flops / best * 1e-9;
        double peak = sgemm ? sgemm_gflops(2400, 2048, 2048, threads, 3) : 0;
        if (machine)
            printf("ours threads=%d ms=%.1f cpu_ms=%.1f gflops=%.1f sgemm=%.1f memory_mb=%.1f\n",
                   threads, best * 1e3, best_cpu * 1e3, rate, peak,
                   arnet__i3d_scratch_memory(s) / 1e6);
        else {
            printf("  %d thread%s: %8.1f ms per clip (CPU %.1f ms), %6.1f GFLOP/s", threads,
                   threads > 1 ? "s" : " ", best * 1e3, best_cpu * 1e3, rate);
            if (sgemm)
                printf(" = %.2f x sgemm (%.1f GFLOP/s)", rate / peak, peak);
            printf(", scratch %.1f MB\n", arnet__i3d_scratch_memory(s) / 1e6);
        }
        fflush(stdout);
        arnet__i3d_scratch_free(s);
        if (features_path) {
            FILE *f = fopen(features_path, "wb");
            if (!f || fwrite(feature, sizeof(float), ARNET__I3D_FEATURE_DIM, f) !=
                          ARNET__I3D_FEATURE_DIM || fclose(f)) {
                fprintf(stderr, "bench_extractor: cannot write %s\n", features_path);
                return 1;
            }
        }
        while (*p && *p != ',')
            p++;
        if (*p == ',')
            p++;
    }
    free(clip);
    arnet_extractor_free(x);
    return 0;
}
