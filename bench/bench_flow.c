/* bench_flow.c -- TV-L1 optical flow: milliseconds per frame pair for
 * libarnet and for OpenCV's DualTVL1 (cv2.optflow, timed by the coprocess
 * bench_flow_cv.py in /usr/bin/python3) side by side, on the same frames
 * (OpenCV's vtest.avi made grey at 224 x 224) with the same parameters, at
 * 1 and 2 threads (cv2.setNumThreads), interleaved round after round, best
 * of the rounds; then what libarnet's rate is against the machine: ns per
 * pixel-iteration per core, and the fraction of this machine's measured
 * bandwidth (a triad over a buffer the size of the flow's working set) and
 * of its measured multiply/add rate, counting 55 FLOPs and 64 bytes per
 * pixel per inner iteration.  Wall-clock times: on a shared machine, read
 * the load average printed with them.
 *
 *   bench_flow [--rounds N] [--size WxH] [--pairs P] [--preset opencv|cuda]
 *              [--inexact] [--no-opencv]      (--inexact: arnet_flow_options.exact 0)
 *   bench_flow --quick      one small round without OpenCV, used by the tests */
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "flow.h"
#include "internal.h"

#define MAX_THREADS 2

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec * 1e-9;
}

/* CPU time of the whole process (every thread of the team). */
static double cpu_now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
    return t.tv_sec + t.tv_nsec * 1e-9;
}

/* ---- the OpenCV coprocess ------------------------------------------------ */

typedef struct coproc {
    pid_t pid;
    FILE *to, *from;
} coproc;

static int coproc_start(coproc *c, const char *dir, uint32_t w, uint32_t h, uint32_t pairs,
                        char *source, size_t cap)
{
    int in[2], out[2];
    memset(c, 0, sizeof *c);
    if (access("/usr/bin/python3", X_OK) != 0) {
        snprintf(source, cap, "/usr/bin/python3 missing");
        return -1;
    }
    if (pipe(in) || pipe(out))
        return -1;
    char ws[16], hs[16], ps[16];
    snprintf(ws, sizeof ws, "%u", w);
    snprintf(hs, sizeof hs, "%u", h);
    snprintf(ps, sizeof ps, "%u", pairs);
    c->pid = fork();
    if (c->pid < 0)
        return -1;
    if (c->pid == 0) {
        dup2(in[0], 0);
        dup2(out[1], 1);
        close(in[1]);
        close(out[0]);
        execl("/usr/bin/python3", "python3", ARNET_SOURCE_DIR "/bench/bench_flow_cv.py", dir, ws,
              hs, ps, (char *)NULL);
        _exit(127);
    }
    close(in[0]);
    close(out[1]);
    c->to = fdopen(in[1], "w");
    c->from = fdopen(out[0], "r");
    char line[512];
    if (!c->from || !fgets(line, sizeof line, c->from)) {
        snprintf(source, cap, "the OpenCV side did not start");
        return -1;
    }
    line[strcspn(line, "\n")] = 0;
    if (strncmp(line, "ready ", 6)) {
        snprintf(source, cap, "%s", line);
        return -1;
    }
    snprintf(source, cap, "%s", line + 6);
    return 0;
}

static double coproc_run(coproc *c, int threads, int preset, double *cpu_ms)
{
    char line[128];
    fprintf(c->to, "run %d %d\n", threads, preset);
    fflush(c->to);
    if (!fgets(line, sizeof line, c->from) || strncmp(line, "ms ", 3))
        return NAN;
    char *end;
    double ms = strtod(line + 3, &end);
    *cpu_ms = strtod(end, NULL);
    return ms;
}

static void coproc_stop(coproc *c)
{
    if (c->to) {
        fprintf(c->to, "quit\n");
        fclose(c->to);
    }
    if (c->from)
        fclose(c->from);
    if (c->pid > 0)
        waitpid(c->pid, NULL, 0);
}

/* ---- frames ------------------------------------------------------------------ */

static uint8_t *read_frames(const char *path, uint32_t w, uint32_t h, uint32_t n)
{
    arnet_npy_info info;
    arnet_npy_info_init(&info);
    if (arnet_npy_info_read(path, &info) != ARNET_OK || info.ndim != 3 ||
        info.shape[0] != n || info.shape[1] != h || info.shape[2] != w || info.item_size != 1)
        return NULL;
    FILE *f = fopen(path, "rb");
    size_t bytes = (size_t)n * w * h;
    uint8_t *p = malloc(bytes);
    if (!f || !p || fseek(f, -(long)bytes, SEEK_END) || fread(p, 1, bytes, f) != bytes) {
        free(p);
        p = NULL;
    }
    if (f)
        fclose(f);
    return p;
}

/* A smooth texture drifting by (1.5, 0.75) pixels a frame. */
static uint8_t *synthetic_frames(uint32_t w, uint32_t h, uint32_t n)
{
    uint8_t *p = malloc((size_t)n * w * h);
    for (uint32_t i = 0; p && i < n; i++)
        for (uint32_t y = 0; y < h; y++)
            for (uint32_t x = 0; x < w; x++) {
                double u = x - 1.5 * i, v = y - 0.75 * i;
                p[((size_t)i * h + y) * w + x] =
                    (uint8_t)lrint(128 + 50 * sin(0.19 * u + 0.07 * v) * cos(0.13 * v - 0.05 * u) +
                                   40 * sin(0.31 * v));
            }
    return p;
}

/* ---- the machine's limits ------------------------------------------------- */

typedef struct limit_job {
    float *a, *b, *c;
    size_t n;
    int reps;
    double flops_out;
} limit_job;

static void *triad(void *p)
{
    limit_job *j = p;
    for (int r = 0; r < j->reps; r++) {
        for (size_t i = 0; i < j->n; i++)
            j->a[i] = j->b[i] + 1.0001f * j->c[i];
        __asm__ volatile("" ::: "memory");
    }
    return NULL;
}

/* Independent multiply-then-add chains (no fused multiply-add, as the
 * library is built), 256 floats wide: the separate mul/add rate the
 * kernels can reach. */
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
__attribute__((target("avx512f,prefer-vector-width=512")))
#endif
static void *
muladd(void *p)
{
    limit_job *j = p;
    float acc[256];
    for (int i = 0; i < 256; i++)
        acc[i] = (float)i * 1e-3f;
    for (int r = 0; r < j->reps; r++) {
        for (int i = 0; i < 256; i++)
            acc[i] = acc[i] * 0.999f + 0.001f;
        __asm__ volatile("" : : "r"(acc) : "memory");
    }
    float s = 0;
    for (int i = 0; i < 256; i++)
        s += acc[i];
    j->flops_out = s; /* keep the result */
    return NULL;
}

/* The divisions and square roots of one pixel-iteration (4 in the dual
 * step, 1 in the primal one; two square roots in double, as the library
 * computes |grad u|), over 1024 pixels in cache: the floor they set,
 * whatever else the kernels do. */
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
__attribute__((target("avx512f,avx512vl,avx512dq,prefer-vector-width=512")))
#endif
static void *
divsqrt(void *p)
{
    limit_job *j = p;
    float *a = j->a, *b = j->b, *c = j->c;
    for (int r = 0; r < j->reps; r++) {
        for (int i = 0; i < 1024; i++) {
            float x = a[i], y = b[i], z = c[i];
            float g1 = 1.0f + (float)__builtin_sqrt((double)x * x + (double)y * y);
            float g2 = 1.0f + (float)__builtin_sqrt((double)y * y + (double)z * z);
            a[i] = (x + z) / g1 + (y + z) / g1 + (x - z) / g2 + (y - x) / g2 + z / (y + 2.0f);
        }
        __asm__ volatile("" ::: "memory");
    }
    return NULL;
}

/* The same pixel-iteration with float square roots and one reciprocal in
 * the dual step (not OpenCV's bits: what a faster, inexact mode could reach). */
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
__attribute__((target("avx512f,avx512vl,avx512dq,prefer-vector-width=512")))
#endif
static void *
divsqrt_float(void *p)
{
    limit_job *j = p;
    float *a = j->a, *b = j->b, *c = j->c;
    for (int r = 0; r < j->reps; r++) {
        for (int i = 0; i < 1024; i++) {
            float x = a[i], y = b[i], z = c[i];
            float g1 = 1.0f / (1.0f + __builtin_sqrtf(x * x + y * y));
            float g2 = 1.0f / (1.0f + __builtin_sqrtf(y * y + z * z));
            a[i] = (x + z) * g1 + (y + z) * g1 + (x - z) * g2 + (y - x) * g2 + z / (y + 2.0f);
        }
        __asm__ volatile("" ::: "memory");
    }
    return NULL;
}

/* Best of 5 of fn over `threads` threads: CPU seconds of the process per
 * thread (the machine is shared: wall time would count others' work). */
static double run_threads(void *(*fn)(void *), limit_job *jobs, int threads)
{
    double best = INFINITY;
    for (int k = 0; k < 5; k++) {
        pthread_t th[MAX_THREADS];
        double t0 = cpu_now();
        for (int i = 1; i < threads; i++)
            pthread_create(&th[i], NULL, fn, &jobs[i]);
        fn(&jobs[0]);
        for (int i = 1; i < threads; i++)
            pthread_join(th[i], NULL);
        double t = (cpu_now() - t0) / threads;
        best = t < best ? t : best;
    }
    return best;
}

/* Per core: GB/s of a triad over `bytes` (split among threads), GFLOP/s
 * of mul+add, ns per pixel-iteration of the divisions and square roots. */
static void machine_limits(size_t bytes, int threads, double *gbs, double *gflops, double *dsns,
                           double *dsns_float)
{
    limit_job jobs[MAX_THREADS];
    size_t n = bytes / 3 / sizeof(float) / (size_t)threads;
    int reps = (int)(2e8 / (double)(n * threads)) + 1;
    for (int i = 0; i < threads; i++) {
        jobs[i].n = n;
        jobs[i].reps = reps;
        jobs[i].a = calloc(n, sizeof(float));
        jobs[i].b = calloc(n, sizeof(float));
        jobs[i].c = calloc(n, sizeof(float));
    }
    double t = run_threads(triad, jobs, threads);
    *gbs = 12.0 * (double)n * reps / t / 1e9;
    for (int i = 0; i < threads; i++) {
        free(jobs[i].a);
        free(jobs[i].b);
        free(jobs[i].c);
        jobs[i].reps = 2000000;
    }
    t = run_threads(muladd, jobs, threads);
    *gflops = 2.0 * 256 * 2000000.0 / t / 1e9;
    for (int i = 0; i < threads; i++) {
        jobs[i].a = calloc(1024, sizeof(float));
        jobs[i].b = calloc(1024, sizeof(float));
        jobs[i].c = calloc(1024, sizeof(float));
        for (int k = 0; k < 1024; k++) {
            jobs[i].a[k] = 0.5f + k * 1e-3f;
            jobs[i].b[k] = 0.25f + k * 2e-3f;
            jobs[i].c[k] = 0.75f - k * 1e-4f;
        }
        jobs[i].reps = 2000;
    }
    t = run_threads(divsqrt, jobs, threads);
    *dsns = t * 1e9 / (1024.0 * 2000);
    t = run_threads(divsqrt_float, jobs, threads);
    *dsns_float = t * 1e9 / (1024.0 * 2000);
    for (int i = 0; i < threads; i++) {
        free(jobs[i].a);
        free(jobs[i].b);
        free(jobs[i].c);
    }
}

/* ---- main ---------------------------------------------------------------------- */

int main(int argc, char **argv)
{
    int rounds = 5, quick = 0, use_cv = 1, preset = ARNET_FLOW_PRESET_OPENCV, exact = 1;
    uint32_t w = 224, h = 224, pairs = 4;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--quick")) {
            quick = 1;
        } else if (!strcmp(argv[i], "--no-opencv")) {
            use_cv = 0;
        } else if (!strcmp(argv[i], "--inexact")) {
            exact = 0;
        } else if (!strcmp(argv[i], "--rounds") && i + 1 < argc) {
            rounds = atoi(argv[++i]);
        } else if (!strcmp(argv[i], "--pairs") && i + 1 < argc) {
            pairs = (uint32_t)atoi(argv[++i]);
        } else if (!strcmp(argv[i], "--size") && i + 1 < argc) {
            if (sscanf(argv[++i], "%ux%u", &w, &h) != 2) {
                fprintf(stderr, "bench_flow: --size WxH\n");
                return 2;
            }
        } else if (!strcmp(argv[i], "--preset") && i + 1 < argc) {
            i++;
            preset = !strcmp(argv[i], "cuda") ? ARNET_FLOW_PRESET_CUDA : ARNET_FLOW_PRESET_OPENCV;
        } else {
            fprintf(stderr, "usage: bench_flow [--quick] [--rounds N] [--size WxH] [--pairs P] "
                            "[--preset opencv|cuda] [--inexact] [--no-opencv]\n");
            return 2;
        }
    }
    if (quick) {
        rounds = 1;
        w = 64;
        h = 48;
        pairs = 1;
        use_cv = 0;
    }
    if (rounds < 1 || pairs < 1 || w < 3 || h < 3 || w > 4096 || h > 4096) {
        fprintf(stderr, "bench_flow: bad --rounds, --pairs or --size\n");
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);
    char dir[] = "/tmp/bench_flow.XXXXXX", source[512] = "synthetic (--no-opencv)";
    coproc cv;
    memset(&cv, 0, sizeof cv);
    uint8_t *frames = NULL;
    if (use_cv && mkdtemp(dir)) {
        if (coproc_start(&cv, dir, w, h, pairs, source, sizeof source) == 0) {
            char path[600];
            snprintf(path, sizeof path, "%s/frames.npy", dir);
            frames = read_frames(path, w, h, pairs + 1);
            unlink(path);
        } else {
            fprintf(stderr, "bench_flow: OpenCV not measured: %s\n", source);
            use_cv = 0;
            snprintf(source, sizeof source, "synthetic (OpenCV not measured)");
        }
        rmdir(dir);
    } else {
        use_cv = 0;
    }
    if (!frames)
        frames = synthetic_frames(w, h, pairs + 1);
    if (!frames)
        return 1;
    const size_t plane = (size_t)w * h;
    float *flow = malloc(plane * 2 * sizeof(float));
    arnet_flow *f[MAX_THREADS + 1] = {NULL};
    for (int t = 1; t <= MAX_THREADS; t++) {
        arnet_flow_options o;
        arnet_flow_options_init(&o);
        if (arnet_flow_options_preset(&o, preset) != ARNET_OK)
            return 1;
        o.threads = t;
        o.exact = exact;
        if (arnet_flow_create(w, h, &o, &f[t]) != ARNET_OK) {
            fprintf(stderr, "bench_flow: %s\n", arnet_last_error());
            return 1;
        }
    }
    double best_ours[MAX_THREADS + 1], best_cv[MAX_THREADS + 1];
    double cpu_ours[MAX_THREADS + 1], cpu_cv[MAX_THREADS + 1];
    uint64_t pix_it = 0;
    for (int t = 0; t <= MAX_THREADS; t++)
        best_ours[t] = best_cv[t] = cpu_ours[t] = cpu_cv[t] = INFINITY;
    for (int r = 0; r < rounds; r++)
        for (int t = 1; t <= MAX_THREADS; t++) {
            double t0 = now(), c0 = cpu_now();
            uint64_t it = 0;
            for (uint32_t p = 0; p < pairs; p++) {
                if (arnet_flow_compute(f[t], frames + p * plane, w, frames + (p + 1) * plane, w,
                                       flow) != ARNET_OK) {
                    fprintf(stderr, "bench_flow: %s\n", arnet_last_error());
                    return 1;
                }
                it += arnet__flow_pixel_iterations(f[t]);
            }
            double ms = (now() - t0) * 1000.0 / pairs;
            double cms = (cpu_now() - c0) * 1000.0 / pairs;
            best_ours[t] = ms < best_ours[t] ? ms : best_ours[t];
            cpu_ours[t] = cms < cpu_ours[t] ? cms : cpu_ours[t];
            pix_it = it / pairs;
            if (use_cv) {
                double cc = NAN, c = coproc_run(&cv, t, preset, &cc);
                best_cv[t] = c < best_cv[t] ? c : best_cv[t];
                cpu_cv[t] = cc < cpu_cv[t] ? cc : cpu_cv[t];
            }
        }
    coproc_stop(&cv);
    double load[3] = {0, 0, 0};
    FILE *la = fopen("/proc/loadavg", "r");
    if (la) {
        if (fscanf(la, "%lf %lf %lf", &load[0], &load[1], &load[2]) != 3)
            load[0] = load[1] = load[2] = NAN;
        fclose(la);
    }
    printf("TV-L1 optical flow, %u x %u, preset %s%s, %u pair%s of %s frames, best of %d "
           "round%s (wall clock; load average %.2f %.2f %.2f; kernels %s)\n",
           w, h, preset == ARNET_FLOW_PRESET_CUDA ? "cuda" : "opencv",
           exact ? "" : " (exact = 0: float arithmetic of our own)", pairs,
           pairs == 1 ? "" : "s", source, rounds, rounds == 1 ? "" : "s", load[0], load[1],
           load[2], arnet__flow_kernels(f[1]));
    printf("  %.2f M pixel-iterations per pair (the stopping rule's count)\n", pix_it / 1e6);
    printf("  wall clock (ms per pair), and CPU time of all threads (ms per pair):\n");
    printf("  threads  libarnet wall  OpenCV wall  speed-up  libarnet CPU  OpenCV CPU  speed-up"
           "  ns/pixel-it/core (CPU)\n");
    for (int t = 1; t <= MAX_THREADS; t++) {
        double ns = cpu_ours[t] * 1e6 / (double)pix_it;
        if (use_cv)
            printf("  %7d  %13.2f  %11.1f  %7.1fx  %12.2f  %10.1f  %7.1fx  %22.2f\n", t,
                   best_ours[t], best_cv[t], best_cv[t] / best_ours[t], cpu_ours[t], cpu_cv[t],
                   cpu_cv[t] / cpu_ours[t], ns);
        else
            printf("  %7d  %13.2f  %11s  %8s  %12.2f  %10s  %8s  %22.2f\n", t, best_ours[t], "-",
                   "-", cpu_ours[t], "-", "-", ns);
    }
    if (!quick) {
        /* The flow's working set: 16 floats per pixel of level 0 (the
         * iteration's arrays) -- the triad runs over the same bytes.  Rates
         * per core from CPU time, for libarnet and the limits alike. */
        size_t ws = plane * 16 * sizeof(float);
        printf("  per core, from CPU time (machine measured here: a triad over %.1f MB, separate\n"
               "  multiply and add, the divisions and double square roots of a pixel-iteration):\n",
               ws / 1e6);
        for (int t = 1; t <= MAX_THREADS; t++) {
            double gbs, gflops, dsns, dsf;
            machine_limits(ws, t, &gbs, &gflops, &dsns, &dsf);
            double ns = cpu_ours[t] * 1e6 / (double)pix_it, rate = 1e9 / ns;
            printf("  %d thread%s: machine %.1f GB/s, %.1f GFLOP/s, %s div/sqrt floor %.2f ns per "
                   "pixel-iteration;\n             libarnet %.2f ns: %.1f GB/s (%.0f%%), %.1f "
                   "GFLOP/s (%.0f%%), %.0f%% of the %s div/sqrt floor (%s: %.2f ns)\n",
                   t, t == 1 ? " " : "s", gbs, gflops, exact ? "exact" : "float", exact ? dsns : dsf,
                   ns, rate * 64 / 1e9,
                   100 * rate * 64 / 1e9 / gbs, rate * 55 / 1e9, 100 * rate * 55 / 1e9 / gflops,
                   100 * (exact ? dsns : dsf) / ns, exact ? "exact" : "float",
                   exact ? "in float with reciprocals, not OpenCV's bits, the floor is"
                         : "exact, as OpenCV, it is",
                   exact ? dsf : dsns);
        }
    }
    for (int t = 1; t <= MAX_THREADS; t++)
        arnet_flow_free(f[t]);
    free(flow);
    free(frames);
    return 0;
}
