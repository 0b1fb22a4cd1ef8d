/* cmd_score.c -- `arnet score`: the anomaly score of every clip of one or
 * more feature files, as text, JSON or .npy. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

#define CMD "score"

static void usage(FILE *f)
{
    fprintf(f,
            "usage: arnet score --model MODEL [options] FEATURES.npy...\n\n"
            "Print the anomaly score (0..1) of every 16-frame clip of each feature file\n"
            "([T, F] or [T, C, F] .npy, docs/data.md).\n\n"
            "  --model MODEL   model or trainer checkpoint file\n"
            "  --json          one JSON object: {\"model\": ..., \"videos\": [{\"file\", \"clips\",\n"
            "                  \"scores\": [...]}, ...]}\n"
            "  --npy OUT       write the scores as float32 .npy of shape [T]: OUT is the file\n"
            "                  for one input, a folder (created) holding <name>.npy for several\n"
            "  --crop C        crop of [T, C, F] files (default: average of the crops)\n"
            "  --threads K     BLIS threads (default 1)\n\n"
            "Text output: a line '# FILE: T clips' per file, then 'CLIP SCORE' lines.\n");
}

/* OUT/<basename without .npy>.npy */
static char *npy_out_path(const char *out, const char *input)
{
    const char *base = strrchr(input, '/');
    base = base ? base + 1 : input;
    size_t len = strlen(base);
    if (len > 4 && !strcmp(base + len - 4, ".npy"))
        len -= 4;
    size_t n = strlen(out) + len + 8;
    char *p = malloc(n);
    if (p)
        snprintf(p, n, "%s/%.*s.npy", out, (int)len, base);
    return p;
}

typedef struct score_args {
    const char *model, *npy_out;
    int json, threads;
    arnet_npy_options nopt;
    const char **files;
    int n_files;
} score_args;

static int parse(int argc, char **argv, score_args *a)
{
    const char *v;
    for (int i = 1; i < argc; i++) {
        int r = 0;
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            usage(stdout);
            return -1;
        } else if (!strcmp(argv[i], "--json")) {
            a->json = 1;
        } else if ((r = cli_opt_value(CMD, argc, argv, &i, "--model", &v))) {
            a->model = v;
        } else if ((r = cli_opt_value(CMD, argc, argv, &i, "--npy", &v))) {
            a->npy_out = v;
        } else if ((r = cli_opt_value(CMD, argc, argv, &i, "--crop", &v))) {
            uint64_t c;
            if (r > 0 && !cli_parse_u64(CMD, "--crop", v, 0, 1023, &c))
                return CLI_EXIT_USAGE;
            a->nopt.crop = (int)c;
        } else if ((r = cli_opt_value(CMD, argc, argv, &i, "--threads", &v))) {
            uint64_t t;
            if (r > 0 && !cli_parse_u64(CMD, "--threads", v, 1, 1024, &t))
                return CLI_EXIT_USAGE;
            a->threads = (int)t;
        } else if (argv[i][0] == '-' && argv[i][1] != '\0') {
            return cli_usage_error(CMD, "unknown option '%s'", argv[i]);
        } else {
            a->files[a->n_files++] = argv[i];
        }
        if (r < 0)
            return CLI_EXIT_USAGE;
    }
    if (!a->model)
        return cli_usage_error(CMD, "--model MODEL is required");
    if (a->n_files == 0)
        return cli_usage_error(CMD, "no feature files given");
    if (a->json && a->npy_out)
        return cli_usage_error(CMD, "--json and --npy are alternatives: choose one");
    return 0;
}

/* Score one file into *scores (grown as needed); returns clips or 0. */
static size_t score_file(const score_args *a, arnet_scorer *sc, uint32_t dim, const char *file,
                         float **scores, size_t *cap)
{
    float *x = NULL;
    size_t t = 0;
    uint32_t f = 0;
    int st = arnet_npy_read(file, &a->nopt, &x, &t, &f);
    if (st != ARNET_OK) {
        cli_fail(CMD, st, file);
        return 0;
    }
    if (f != dim) {
        fprintf(stderr, "arnet score: %s: %u features per clip, the model expects %u\n", file,
                f, dim);
        arnet_free(x);
        return 0;
    }
    if (t > *cap) {
        float *g = realloc(*scores, t * sizeof(float));
        if (!g) {
            fprintf(stderr, "arnet score: %s: out of memory for %zu scores\n", file, t);
            arnet_free(x);
            return 0;
        }
        *scores = g;
        *cap = t;
    }
    st = arnet_scorer_score(sc, x, t, *scores);
    arnet_free(x);
    if (st != ARNET_OK) {
        cli_fail(CMD, st, file);
        return 0;
    }
    return t;
}

int cmd_score(int argc, char **argv)
{
    score_args a;
    memset(&a, 0, sizeof a);
    a.threads = 1;
    arnet_npy_options_init(&a.nopt);
    a.files = calloc((size_t)argc + 1, sizeof *a.files);
    if (!a.files)
        return CLI_EXIT_FAIL;
    int rc = parse(argc, argv, &a);
    if (rc) {
        free(a.files);
        return rc < 0 ? 0 : rc;
    }
    int dir_out = a.npy_out && a.n_files > 1;
    if (dir_out && cli_mkdir(a.npy_out) != 0) {
        fprintf(stderr, "arnet score: cannot create folder %s: %s\n", a.npy_out,
                strerror(errno));
        free(a.files);
        return CLI_EXIT_FAIL;
    }

    arnet_model *m = NULL;
    arnet_scorer *sc = NULL;
    float *scores = NULL;
    size_t cap = 0;
    int st = arnet_model_load(a.model, &m);
    if (st != ARNET_OK) {
        rc = cli_fail(CMD, st, a.model);
        goto done;
    }
    arnet_scorer_options so;
    arnet_scorer_options_init(&so);
    so.threads = a.threads;
    st = arnet_scorer_create(m, &so, &sc);
    if (st != ARNET_OK) {
        rc = cli_fail(CMD, st, "scorer");
        goto done;
    }
    if (a.json) {
        printf("{\"model\": ");
        cli_json_string(stdout, a.model);
        printf(", \"videos\": [");
    }
    for (int k = 0; k < a.n_files; k++) {
        const char *file = a.files[k];
        size_t t = score_file(&a, sc, arnet_model_feature_dim(m), file, &scores, &cap);
        if (t == 0) {
            rc = CLI_EXIT_FAIL;
            break;
        }
        if (a.npy_out) {
            char *path = dir_out ? npy_out_path(a.npy_out, file) : strdup(a.npy_out);
            size_t shape[1] = {t};
            st = path ? arnet_npy_write(path, scores, shape, 1) : ARNET_E_NOMEM;
            if (st != ARNET_OK)
                rc = cli_fail(CMD, st, path ? path : a.npy_out);
            free(path);
            if (rc)
                break;
        } else if (a.json) {
            printf(k ? ",\n {\"file\": " : "\n {\"file\": ");
            cli_json_string(stdout, file);
            printf(", \"clips\": %zu, \"scores\": [", t);
            for (size_t i = 0; i < t; i++)
                printf(i ? ", %.7g" : "%.7g", scores[i]);
            printf("]}");
        } else {
            printf("# %s: %zu clips\n", file, t);
            for (size_t i = 0; i < t; i++)
                printf("%zu %.7g\n", i, scores[i]);
        }
    }
    if (a.json)
        printf("\n]}\n");
    if (a.npy_out && !rc)
        fprintf(stderr, "arnet score: wrote %d file%s to %s\n", a.n_files,
                a.n_files > 1 ? "s" : "", a.npy_out);
done:
    free(scores);
    arnet_scorer_free(sc);
    arnet_model_free(m);
    free(a.files);
    return rc;
}
