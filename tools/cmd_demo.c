/* cmd_demo.c -- `arnet demo`: the quick start.  Writes the synthetic set,
 * trains with the paper's settings, evaluates, and leaves everything in a
 * folder: data, model, JSON results and per-video score plots. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

#define CMD "demo"

/* 256 features and 3000 steps: 40 s on the 2-core build machine when idle,
 * 60 s when shared (the paper's 4760 steps: 72 s idle); the synthetic test
 * AUC levels off after about 2000 steps.  docs/training.md has the numbers. */
#define DEMO_FEATURE_DIM 256
#define DEMO_ITERATIONS 3000

static void usage(FILE *f)
{
    fprintf(f,
            "usage: arnet demo [--out DIR] [--seed S] [--feature-dim F] [--iterations N]\n"
            "                  [--threads K] [--force] [--progress] [--quiet]\n\n"
            "Make the synthetic ShanghaiTech-shaped data set, train AR-Net on it with the\n"
            "paper's settings (but 3000 steps and 256 features instead of 4760 and 2048),\n"
            "evaluate it on the test half and print the frame-level AUC and false alarm\n"
            "rate.  Takes about a minute on a 2-core machine with the defaults.\n"
            "DIR then holds data/ (features and manifests), model.arnet, results.json\n"
            "(arnet eval --json) and plots/index.html (one score curve per test video).\n"
            "Synthetic numbers say that the code works, not how well AR-Net does on real\n"
            "video (docs/synthetic-data.md).  Run again with the same settings, it reuses\n"
            "the data and model DIR holds (a stamp file records them) and only evaluates.\n\n"
            "  --out DIR          folder to write (default arnet-demo)\n"
            "  --seed S           data, weights and sampling seed (default 1)\n"
            "  --feature-dim F    values per clip (default %d; the paper's I3D has 2048)\n"
            "  --iterations N     training steps (default %d; the paper's are 4760)\n"
            "  --threads K        BLIS threads (default 1)\n"
            "  --force            make the data and train again even if DIR has them\n"
            "  --progress         accepted for older scripts (progress is always shown)\n"
            "  -q, --quiet        print only the final AUC and FAR line\n",
            DEMO_FEATURE_DIM, DEMO_ITERATIONS);
    cli_print_exit_codes(f, CLI_EXITS_OUTPUT | CLI_EXITS_INTERRUPT);
}

static char *join(const char *dir, const char *name)
{
    size_t n = strlen(dir) + strlen(name) + 2;
    char *p = malloc(n);
    if (p)
        snprintf(p, n, "%s/%s", dir, name);
    return p;
}

/* DIR/demo.stamp: the settings of the last demo run that finished.  Written
 * last (atomically), removed before any new run starts, so its presence
 * means data/ and model.arnet are complete and were made with these. */
typedef struct stamp_ctx {
    uint64_t seed, fdim, iters, threads;
} stamp_ctx;

static void stamp_text(const stamp_ctx *c, char *buf, size_t size)
{
    snprintf(buf, size, "arnet demo %s seed %llu features %llu iterations %llu threads %llu\n",
             arnet_version(), (unsigned long long)c->seed, (unsigned long long)c->fdim,
             (unsigned long long)c->iters, (unsigned long long)c->threads);
}

static int fill_stamp(FILE *f, void *vctx)
{
    char text[256];
    stamp_text(vctx, text, sizeof text);
    return fputs(text, f) < 0 ? -1 : 0;
}

static int stamp_matches(const char *path, const stamp_ctx *c)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return 0;
    char have[256] = "", want[256];
    if (!fgets(have, sizeof have, f))
        have[0] = 0;
    fclose(f);
    stamp_text(c, want, sizeof want);
    return strcmp(have, want) == 0;
}

typedef struct json_ctx {
    const arnet_eval_result *res;
    const char *model, *test;
} json_ctx;

static int fill_json(FILE *f, void *vctx)
{
    const json_ctx *c = vctx;
    return cli_eval_write_json(f, c->res, c->model, c->test);
}

/* Evaluate the trained model, print the table, write results.json and the
 * plots.  Returns an exit code. */
static int evaluate(const char *dir, const char *model_path, const char *test_path, int quiet,
                    double *auc, double *far)
{
    arnet_model *m = NULL;
    arnet_dataset *test = NULL;
    arnet_eval_result res;
    arnet_eval_result_init(&res);
    char *json = join(dir, "results.json"), *plots = join(dir, "plots");
    int code = CLI_EXIT_FAIL, rc;
    if (!json || !plots) {
        fprintf(stderr, "arnet %s: out of memory\n", CMD);
        goto done;
    }
    if ((rc = arnet_model_load(model_path, &m)) != ARNET_OK) {
        cli_fail(CMD, rc, model_path);
        goto done;
    }
    if ((rc = arnet_dataset_load_manifest(test_path, NULL, &test)) != ARNET_OK) {
        cli_fail(CMD, rc, test_path);
        goto done;
    }
    if ((rc = arnet_evaluate(m, test, &res)) != ARNET_OK) {
        cli_fail(CMD, rc, "evaluation");
        goto done;
    }
    if (!quiet) {
        printf("\n");
        cli_eval_print_table(stdout, &res, 0);
    }
    json_ctx jc = {&res, model_path, test_path};
    if (cli_write_file(CMD, json, fill_json, &jc) != 0)
        goto done;
    if (cli_eval_write_plots(CMD, plots, m, test, &res, 0.5f) != 0)
        goto done;
    *auc = res.auc;
    *far = res.far;
    code = 0;
done:
    arnet_eval_result_free(&res);
    arnet_dataset_free(test);
    arnet_model_free(m);
    free(json);
    free(plots);
    return code;
}

int cmd_demo(int argc, char **argv)
{
    const char *out = "arnet-demo", *v;
    uint64_t seed = 1, fdim = DEMO_FEATURE_DIM, iters = DEMO_ITERATIONS, threads = 1;
    int progress = 0, quiet = 0, force = 0;
    for (int i = 1; i < argc; i++) {
        int r;
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            usage(stdout);
            return 0;
        } else if (!strcmp(argv[i], "--progress")) {
            progress = 1;
        } else if (!strcmp(argv[i], "--quiet") || !strcmp(argv[i], "-q")) {
            quiet = 1;
        } else if (!strcmp(argv[i], "--force")) {
            force = 1;
        } else if ((r = cli_opt_value(CMD, argc, argv, &i, "--out", &v))) {
            if (r < 0)
                return CLI_EXIT_USAGE;
            out = v;
        } else if ((r = cli_opt_value(CMD, argc, argv, &i, "--seed", &v))) {
            if (r < 0 || !cli_parse_u64(CMD, "--seed", v, 0, UINT64_MAX, &seed))
                return CLI_EXIT_USAGE;
        } else if ((r = cli_opt_value(CMD, argc, argv, &i, "--feature-dim", &v))) {
            if (r < 0 || !cli_parse_u64(CMD, "--feature-dim", v, 1, 65536, &fdim))
                return CLI_EXIT_USAGE;
        } else if ((r = cli_opt_value(CMD, argc, argv, &i, "--iterations", &v))) {
            if (r < 0 || !cli_parse_u64(CMD, "--iterations", v, 1, UINT64_MAX / 2, &iters))
                return CLI_EXIT_USAGE;
        } else if ((r = cli_opt_value(CMD, argc, argv, &i, "--threads", &v))) {
            if (r < 0 || !cli_parse_u64(CMD, "--threads", v, 1, 1024, &threads))
                return CLI_EXIT_USAGE;
        } else {
            return cli_usage_error(CMD, "unknown option or argument '%s'", argv[i]);
        }
    }

    double t0 = cli_now();
    int code = CLI_EXIT_FAIL;
    char *data = join(out, "data"), *model = join(out, "model.arnet");
    char *train_list = data ? join(data, "train.txt") : NULL;
    char *test_list = data ? join(data, "test.txt") : NULL;
    char *stamp = join(out, "demo.stamp");
    stamp_ctx sc = {seed, fdim, iters, threads};
    if (!data || !model || !train_list || !test_list || !stamp) {
        fprintf(stderr, "arnet %s: out of memory\n", CMD);
        goto done;
    }
    if (cli_mkdir(out) != 0) {
        fprintf(stderr, "arnet %s: cannot create folder %s: %s\n", CMD, out, strerror(errno));
        goto done;
    }

    /* A finished run with the same settings: evaluate its model again. */
    if (!force && stamp_matches(stamp, &sc)) {
        if (!quiet) {
            printf("%s holds the data and model of an earlier demo run with these settings;\n"
                   "evaluating it again (--force makes and trains everything anew)\n",
                   out);
            fflush(stdout);
        }
        goto evaluate;
    }
    if (remove(stamp) != 0 && errno != ENOENT) {
        fprintf(stderr, "arnet %s: cannot remove %s: %s\n", CMD, stamp, strerror(errno));
        goto done;
    }

    /* 1. Data. */
    arnet_synth_options so;
    arnet_synth_options_init(&so);
    so.seed = seed;
    so.feature_dim = (uint32_t)fdim;
    if (!quiet) {
        printf("[1/3] synthetic ShanghaiTech-shaped data, %u features per clip -> %s\n",
               so.feature_dim, data);
        fflush(stdout);
    }
    int rc = arnet_synth_write(data, &so);
    if (rc != ARNET_OK) {
        cli_fail(CMD, rc, data);
        goto done;
    }

    /* 2. Training: exactly `arnet train` with these arguments. */
    char s_seed[32], s_iters[32], s_threads[32];
    snprintf(s_seed, sizeof s_seed, "%llu", (unsigned long long)seed);
    snprintf(s_iters, sizeof s_iters, "%llu", (unsigned long long)iters);
    snprintf(s_threads, sizeof s_threads, "%llu", (unsigned long long)threads);
    char *targv[16] = {"train", "--train", train_list, "--out", model, "--seed", s_seed,
                       "--iterations", s_iters, "--threads", s_threads};
    int targc = 11;
    if (!quiet) {
        printf("[2/3] training with the paper's settings (%s steps):\n      arnet", s_iters);
        for (int i = 0; i < targc; i++)
            printf(" %s", targv[i]);
        printf("\n\n");
        fflush(stdout);
    }
    /* The demo's own folder: a model left by an earlier run is replaced. */
    targv[targc++] = "--force";
    if (progress)
        targv[targc++] = "--progress";
    if (quiet)
        targv[targc++] = "--quiet";
    targv[targc] = NULL;
    if ((code = cmd_train(targc, targv)) != 0)
        goto done;

    /* 3. Evaluation, JSON and plots (as `arnet eval --json --plots`). */
evaluate:
    if (!quiet) {
        printf("\n[3/3] evaluating on %s\n", test_list);
        fflush(stdout);
    }
    double auc = 0, far = 0;
    if ((code = evaluate(out, model, test_list, quiet, &auc, &far)) != 0)
        goto done;
    if (cli_write_file(CMD, stamp, fill_stamp, &sc) != 0) {
        code = CLI_EXIT_FAIL;
        goto done;
    }
    if (!quiet)
        printf("\ndone in %.0f s.  %s/ holds data/, model.arnet, results.json and\n"
               "plots/index.html (one score curve per test video).  The paper reports\n"
               "91.24 %% AUC and 0.10 %% FAR on real ShanghaiTech I3D features; this set is\n"
               "synthetic (docs/synthetic-data.md), so its numbers say that the code works.\n\n",
               cli_now() - t0, out);
    printf("AUC %.2f %%  FAR %.2f %%  (synthetic test set, %llu steps, %llu features)\n",
           100 * auc, 100 * far, (unsigned long long)iters, (unsigned long long)fdim);
done:
    free(data);
    free(model);
    free(train_list);
    free(test_list);
    free(stamp);
    return code;
}
