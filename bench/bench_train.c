/* bench_train.c -- prints how fast training steps and evaluation run with the
 * paper's settings (30 + 30 videos a step, up to 300 clips each, hidden = F)
 * on the synthetic ShanghaiTech-shaped set, at several feature sizes and
 * thread counts side by side in one run.  Uses only the public interface.
 *
 *   bench_train            F = 256, 1024 and 2048; 1 and 2 threads
 *   bench_train --quick    tiny sizes, used by the tests to check it runs
 *   bench_train --step-ms F [--rounds R] [--steps S] [--threads T] [--busy]
 *               [--machine]
 *                          ms per training step at F (hidden = F), 1 and 2
 *                          threads interleaved (or T only), best of R rounds
 *                          of S steps (default 3) after one warm-up step;
 *                          --busy runs one other busy process (a spinning
 *                          child) meanwhile, the "loaded machine" case;
 *                          --machine prints one line per round and thread
 *                          count, "step threads=T ms=.. cpu_ms=..", for a
 *                          driver (bench/bench_train_torch.py runs it beside
 *                          PyTorch).  cpu_ms is the process's CPU time per
 *                          step (all its threads), which another busy
 *                          process disturbs less than wall time. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <arnet/arnet.h>

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static double cpu_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static int fail(const char *what)
{
    fprintf(stderr, "bench_train: %s: %s\n", what, arnet_last_error());
    return 1;
}

/* Steps per second over `steps` steps after one warm-up step; *cpu_s (may
 * be NULL) gets the process CPU seconds per step. */
static int bench_steps(arnet_dataset *train, uint32_t dim, int threads, int steps,
                       uint32_t per_class, double *steps_per_s, double *cpu_s)
{
    arnet_model_config cfg;
    arnet_model_config_init(&cfg);
    cfg.feature_dim = dim;
    arnet_model *m = NULL;
    if (arnet_model_create(&cfg, &m))
        return fail("model");
    arnet_train_options opt;
    arnet_train_options_init(&opt);
    opt.threads = threads;
    opt.normal_per_batch = opt.anomalous_per_batch = per_class;
    arnet_trainer *t = NULL;
    if (arnet_trainer_create(m, train, &opt, &t)) {
        arnet_model_free(m);
        return fail("trainer");
    }
    int rc = 0;
    if (arnet_trainer_step(t, NULL))
        rc = fail("step");
    double t0 = now(), c0 = cpu_now();
    for (int i = 0; i < steps && !rc; i++)
        if (arnet_trainer_step(t, NULL))
            rc = fail("step");
    *steps_per_s = steps / (now() - t0);
    if (cpu_s)
        *cpu_s = (cpu_now() - c0) / steps;
    arnet_trainer_free(t);
    arnet_model_free(m);
    return rc;
}

/* ms per step at dim, 1 and 2 threads interleaved (or `only`), best of
 * rounds. */
static int step_ms(uint32_t dim, int rounds, int steps, int only, int busy, int machine)
{
    arnet_synth_options so;
    arnet_synth_options_init(&so);
    so.feature_dim = dim;
    arnet_dataset *train = NULL, *test = NULL;
    if (arnet_synth_create(&so, &train, &test))
        return fail("synth");
    pid_t child = -1;
    if (busy && (child = fork()) == 0)
        for (volatile unsigned long x = 0;; x++)
            ;
    double best[65], best_cpu[65];
    for (int i = 0; i < 65; i++)
        best[i] = best_cpu[i] = 1e30;
    int lo = only ? only : 1, hi = only ? only : 2, rc = 0;
    for (int r = 0; r < rounds && !rc; r++)
        for (int threads = lo; threads <= hi && !rc; threads++) {
            double sps = 0, cpu = 0;
            if ((rc = bench_steps(train, dim, threads, steps, 30, &sps, &cpu)))
                break;
            if (machine)
                printf("step threads=%d ms=%.2f cpu_ms=%.2f\n", threads, 1e3 / sps, 1e3 * cpu);
            else
                printf("  round %d, %d thread%s: %.0f ms per step (CPU %.0f ms)\n", r + 1,
                       threads, threads > 1 ? "s" : "", 1e3 / sps, 1e3 * cpu);
            fflush(stdout);
            if (1e3 / sps < best[threads])
                best[threads] = 1e3 / sps;
            if (1e3 * cpu < best_cpu[threads])
                best_cpu[threads] = 1e3 * cpu;
        }
    if (child > 0) {
        kill(child, SIGKILL);
        waitpid(child, NULL, 0);
    }
    if (rc)
        return rc;
    if (!machine && !only)
        printf("F = %u, 30 + 30 videos a step%s: best %.0f ms at 1 thread, %.0f ms at 2 (2 "
               "threads: %.2fx the speed of 1; CPU per step %.0f and %.0f ms)\n",
               dim, busy ? ", one other busy process" : "", best[1], best[2],
               best[1] / best[2], best_cpu[1], best_cpu[2]);
    arnet_dataset_free(train);
    arnet_dataset_free(test);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc >= 3 && !strcmp(argv[1], "--step-ms")) {
        int rounds = 3, steps = 3, only = 0, busy = 0, machine = 0;
        for (int i = 3; i < argc; i++)
            if (!strcmp(argv[i], "--busy"))
                busy = 1;
            else if (!strcmp(argv[i], "--machine"))
                machine = 1;
            else if (!strcmp(argv[i], "--rounds") && i + 1 < argc)
                rounds = atoi(argv[++i]);
            else if (!strcmp(argv[i], "--steps") && i + 1 < argc)
                steps = atoi(argv[++i]);
            else if (!strcmp(argv[i], "--threads") && i + 1 < argc)
                only = atoi(argv[++i]);
            else
                return fprintf(stderr, "bench_train: unknown option %s\n", argv[i]), 2;
        int dim = atoi(argv[2]);
        if (dim < 1 || dim > 65536 || rounds < 1 || steps < 1 || only < 0 || only > 64)
            return fprintf(stderr, "bench_train: --step-ms F wants 1 <= F <= 65536, "
                                   "--rounds and --steps >= 1, --threads 1..64\n"), 2;
        if (!machine)
            printf("libarnet %s, BLIS kernels %s\n", arnet_version(), arnet_blas_arch());
        return step_ms((uint32_t)dim, rounds, steps, only, busy, machine);
    }
    int quick = argc == 2 && !strcmp(argv[1], "--quick");
    if (argc > 2 || (argc == 2 && !quick)) {
        int help = argc == 2 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"));
        fprintf(help ? stdout : stderr,
                "usage: bench_train [--quick]\n"
                "       bench_train --step-ms F [--rounds R] [--steps S] [--threads T] [--busy]\n"
                "                   [--machine]\n"
                "  prints training steps/s and evaluation clips/s; --quick: tiny sizes;\n"
                "  --step-ms: ms per step at F features (hidden = F), 1 and 2 threads\n"
                "  interleaved or T only, best of R rounds of S steps\n");
        return help ? 0 : 2;
    }
    static const uint32_t full_dims[] = {256, 1024, 2048};
    static const uint32_t quick_dims[] = {16};
    const uint32_t *dims = quick ? quick_dims : full_dims;
    size_t n_dims = quick ? 1 : 3;
    int steps = quick ? 2 : 10;
    uint32_t per_class = quick ? 3 : 30;

    printf("libarnet %s, BLIS kernels %s\n", arnet_version(), arnet_blas_arch());
    printf("training steps of %u + %u videos (max 300 clips each), hidden = F, "
           "synthetic ShanghaiTech-shaped set\n\n",
           per_class, per_class);
    printf("%6s %8s %12s %14s %16s\n", "F", "threads", "steps/s", "4760 steps", "eval clips/s");
    for (size_t d = 0; d < n_dims; d++) {
        arnet_synth_options so;
        arnet_synth_options_init(&so);
        so.feature_dim = dims[d];
        so.scale = quick ? 0.1 : 1.0;
        arnet_dataset *train = NULL, *test = NULL;
        if (arnet_synth_create(&so, &train, &test))
            return fail("synth");
        for (int threads = 1; threads <= 2; threads++) {
            double sps = 0;
            if (bench_steps(train, dims[d], threads, steps, per_class, &sps, NULL))
                return 1;
            /* Evaluation speed: every clip of the test set, one thread. */
            double eval_cps = 0;
            if (threads == 1) {
                arnet_model_config cfg;
                arnet_model_config_init(&cfg);
                cfg.feature_dim = dims[d];
                arnet_model *m = NULL;
                arnet_eval_result r;
                arnet_eval_result_init(&r);
                if (arnet_model_create(&cfg, &m))
                    return fail("model");
                double t0 = now();
                if (arnet_evaluate(m, test, &r))
                    return fail("evaluate");
                double secs = now() - t0;
                uint64_t clips = 0;
                for (size_t i = 0; i < r.n_per_video; i++)
                    clips += r.per_video[i].n_clips;
                eval_cps = (double)clips / secs;
                arnet_eval_result_free(&r);
                arnet_model_free(m);
            }
            printf("%6u %8d %12.2f %12.0f s ", dims[d], threads, sps, 4760.0 / sps);
            if (eval_cps > 0)
                printf("%16.0f\n", eval_cps);
            else
                printf("%16s\n", "-");
            fflush(stdout);
        }
        arnet_dataset_free(train);
        arnet_dataset_free(test);
    }
    return 0;
}
