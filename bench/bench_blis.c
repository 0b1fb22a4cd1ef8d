/* bench_blis.c -- prints how fast the matrix products behind scoring run, on
 * the BLIS kernels the library picked and, side by side in the same run, on
 * the kernels BLIS would have picked by itself (a child process with the
 * library's kernel choice turned off: BLIS latches its choice per process).
 *
 *   bench_blis            full sizes (2400 x 2048 x 2048 sgemm, F = 2048)
 *   bench_blis --quick    tiny sizes, used by the tests to check it runs */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void fill(float *x, size_t n, uint64_t seed)
{
    arnet__rng r;
    arnet__rng_seed(&r, seed);
    for (size_t i = 0; i < n; i++)
        x[i] = (float)arnet__rng_uniform(&r);
}

/* Best of `reps` runs: the least disturbed by other load on a shared machine. */
static double gemm_gflops(size_t m, size_t n, size_t k, int threads, int reps)
{
    float *a = malloc(sizeof(float) * m * k), *b = malloc(sizeof(float) * n * k),
          *c = malloc(sizeof(float) * m * n);
    fill(a, m * k, 1);
    fill(b, n * k, 2);
    double best = 1e30;
    for (int r = 0; r < reps; r++) {
        double t0 = now();
        arnet__sgemm(0, 1, m, n, k, 1.0f, a, k, b, k, 0.0f, c, n, threads);
        double dt = now() - t0;
        if (dt < best)
            best = dt;
    }
    free(a);
    free(b);
    free(c);
    return 2.0 * (double)m * (double)n * (double)k / best * 1e-9;
}

static double score_clips_per_sec(uint32_t F, size_t clips, int threads, int reps)
{
    arnet_model_config cfg;
    arnet_model_config_init(&cfg);
    cfg.feature_dim = F;
    arnet_model *m;
    if (arnet_model_create(&cfg, &m) != ARNET_OK)
        return 0;
    (void)threads;
    float *x = malloc(sizeof(float) * clips * F), *out = malloc(sizeof(float) * clips);
    fill(x, clips * F, 3);
    double best = 1e30;
    for (int r = 0; r < reps; r++) {
        double t0 = now();
        if (arnet_model_score(m, x, clips, out) != ARNET_OK)
            break;
        double dt = now() - t0;
        if (dt < best)
            best = dt;
    }
    free(x);
    free(out);
    arnet_model_free(m);
    return (double)clips / best;
}

static void run(int quick)
{
    size_t m = quick ? 64 : 2400, n = quick ? 64 : 2048, k = quick ? 64 : 2048;
    uint32_t F = quick ? 64 : 2048;
    size_t clips = quick ? 32 : 1024;
    int reps = quick ? 1 : 5;
    printf("  kernels %-8s sgemm %zux%zux%zu: %7.1f GFLOP/s (1 thread) %7.1f GFLOP/s (2 threads)\n",
           arnet_blas_arch(), m, n, k, gemm_gflops(m, n, k, 1, reps),
           gemm_gflops(m, n, k, 2, reps));
    printf("  kernels %-8s scoring F=%u, %zu clips a call: %9.0f clips/s (1 thread)\n",
           arnet_blas_arch(), F, clips, score_clips_per_sec(F, clips, 1, reps));
    fflush(stdout);
}

int main(int argc, char **argv)
{
    int quick = argc > 1 && !strcmp(argv[1], "--quick");
    if (getenv("ARNET_BENCH_CHILD")) {
        run(quick);
        return 0;
    }
    printf("libarnet %s BLIS benchmark (best of repeated runs)\n", arnet_version());
    const char *modes[2][2] = {{"library's choice", "1"}, {"BLIS's own choice", "0"}};
    for (int i = 0; i < 2; i++) {
        printf("%s (ARNET_BLIS_AUTO=%s)%s:\n", modes[i][0], modes[i][1],
               getenv("BLIS_ARCH_TYPE") ? " [BLIS_ARCH_TYPE is set: it wins in both]" : "");
        fflush(stdout);
        pid_t pid = fork();
        if (pid == 0) {
            setenv("ARNET_BENCH_CHILD", "1", 1);
            setenv("ARNET_BLIS_AUTO", modes[i][1], 1);
            execv("/proc/self/exe", argv);
            _exit(127);
        }
        int status;
        if (pid < 0 || waitpid(pid, &status, 0) < 0 || !WIFEXITED(status) ||
            WEXITSTATUS(status) != 0) {
            fprintf(stderr, "bench_blis: child run failed\n");
            return 1;
        }
    }
    return 0;
}
