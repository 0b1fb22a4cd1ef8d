/* cmd_score.c -- `arnet score`: the anomaly score of every clip of one or
 * more feature files, as text, JSON or .npy. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

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
            "                  \"scores\": [...]}, ...]} (a non-finite score is null)\n"
            "  --npy OUT       write the scores as float32 .npy of shape [T]: OUT is the file\n"
            "                  for one input, a folder (created) holding <name>.npy for several\n"
            "                  (or when OUT is an existing folder).  Inputs sharing a basename\n"
            "                  are written as NNNN-<name>.npy, NNNN their 0-based position on\n"
            "                  the command line; the summary lists them.  An OUT ending in\n"
            "                  .npy, or an existing file, with several inputs is refused.  An\n"
            "                  output file that exists needs --force; one that is an input\n"
            "                  is refused.\n"
            "  --force         replace existing output files of --npy\n"
            "  --crop C        crop of [T, C, F] files (default: average of the crops)\n"
            "  --layout L      crop axis of rank-3 files: auto (default), tcf or ctf\n"
            "  --threads K     BLIS threads (default 1)\n\n"
            "Text output: a line '# FILE: T clips' per file, then 'CLIP SCORE' lines.\n");
    cli_print_exit_codes(f, CLI_EXITS_OUTPUT);
}

static int same_stem(const char *x, const char *y)
{
    const char *bx, *by;
    size_t lx = cli_file_stem(x, &bx), ly = cli_file_stem(y, &by);
    return lx == ly && !memcmp(bx, by, lx);
}

/* The file name (no folder) each input gets in an output folder:
 * <stem>.npy, or NNNN-<stem>.npy (NNNN = position on the command line, as
 * `arnet eval --plots` names its SVGs) when another input has the same
 * stem, so no output replaces another.  *renamed counts the prefixed ones.
 * Returns 0 with *out set, or an exit code (message printed). */
static int out_names(const char **files, int n, char ***out, int *renamed)
{
    char **names = calloc((size_t)n, sizeof *names);
    int rc = CLI_EXIT_FAIL;
    if (!names)
        goto oom;
    *renamed = 0;
    for (int k = 0; k < n; k++) {
        int clash = 0;
        for (int j = 0; j < n && !clash; j++)
            clash = j != k && same_stem(files[k], files[j]);
        const char *base;
        size_t len = cli_file_stem(files[k], &base);
        size_t cap = len + 32;
        if (!(names[k] = malloc(cap)))
            goto oom;
        if (clash)
            snprintf(names[k], cap, "%04d-%.*s.npy", k, (int)len, base);
        else
            snprintf(names[k], cap, "%.*s.npy", (int)len, base);
        *renamed += clash;
    }
    /* A prefixed name can still meet an input's own ("0001-x.npy"). */
    for (int k = 0; k < n; k++)
        for (int j = k + 1; j < n; j++)
            if (!strcmp(names[k], names[j])) {
                rc = cli_usage_error(CMD, "%s and %s would both be written as %s: rename one",
                                     files[k], files[j], names[k]);
                goto fail;
            }
    *out = names;
    return 0;
oom:
    fprintf(stderr, "arnet score: out of memory\n");
fail:
    if (names)
        for (int k = 0; k < n; k++)
            free(names[k]);
    free(names);
    return rc;
}

static int is_dir(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

/* --npy OUT names one file: it ends in .npy or is an existing non-folder. */
static int is_single_file_out(const char *out)
{
    size_t len = strlen(out);
    struct stat st;
    if (len >= 4 && !strcmp(out + len - 4, ".npy"))
        return 1;
    return stat(out, &st) == 0 && !S_ISDIR(st.st_mode);
}

typedef struct score_args {
    const char *model, *npy_out;
    int json, threads, force;
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
        } else if (!strcmp(argv[i], "--force")) {
            a->force = 1;
        } else if ((r = cli_opt_value(CMD, argc, argv, &i, "--model", &v))) {
            a->model = v;
        } else if ((r = cli_opt_value(CMD, argc, argv, &i, "--npy", &v))) {
            a->npy_out = v;
        } else if ((r = cli_opt_value(CMD, argc, argv, &i, "--crop", &v))) {
            uint64_t c = 0;
            if (r > 0 && !cli_parse_u64(CMD, "--crop", v, 0, 1023, &c))
                return CLI_EXIT_USAGE;
            a->nopt.crop = (int)c;
        } else if ((r = cli_crop_opts(CMD, argc, argv, &i, &a->nopt.layout, NULL))) {
        } else if ((r = cli_opt_value(CMD, argc, argv, &i, "--threads", &v))) {
            uint64_t t = 1;
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
    if (a->npy_out && a->n_files > 1 && is_single_file_out(a->npy_out)) {
        /* Every input would be written to the same file, each replacing the
         * one before: refuse before scoring anything. */
        fprintf(stderr, "arnet score: --npy %s is one file, but %d inputs would all be "
                        "written to it, each replacing the last:", a->npy_out, a->n_files);
        for (int k = 0; k < a->n_files && k < 10; k++)
            fprintf(stderr, " %s", a->files[k]);
        if (a->n_files > 10)
            fprintf(stderr, " ... (%d more)", a->n_files - 10);
        fputc('\n', stderr);
        return cli_usage_error(CMD, "give a folder to --npy for several inputs");
    }
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

/* Each --npy output file: never an input (a feature file or the model),
 * not an existing file unless --force.  names: the file names in the
 * output folder, or NULL for a single output file. */
static int check_outputs(const score_args *a, const cli_output *out, char **names)
{
    int rc = 0;
    for (int k = 0; k < (names ? a->n_files : 1) && !rc; k++) {
        char *path = NULL;
        if (names) {
            size_t n = strlen(a->npy_out) + strlen(names[k]) + 2;
            if ((path = malloc(n)))
                snprintf(path, n, "%s/%s", a->npy_out, names[k]);
        } else {
            path = strdup(a->npy_out);
        }
        if (!path) {
            fprintf(stderr, "arnet score: out of memory\n");
            return CLI_EXIT_FAIL;
        }
        cli_output file;
        cli_output_init(&file, "--npy", path, 0);
        rc = cli_output_not_input(CMD, &file, "the --model file", a->model);
        for (int j = 0; j < a->n_files && !rc; j++)
            rc = cli_output_not_input(CMD, &file, "a FEATURES file", a->files[j]);
        if (!rc)
            rc = cli_output_absent(CMD, out, names ? path : NULL, a->force, NULL);
        free(path);
    }
    return rc;
}

/* Library field names in messages -> this command's options. */
static const char *const score_option_names[][2] = {
    {"threads", "--threads"}, {"crop", "--crop"}, {NULL, NULL}};

int cmd_score(int argc, char **argv)
{
    cli_set_option_names(score_option_names);
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
    arnet_model *m = NULL;
    arnet_scorer *sc = NULL;
    float *scores = NULL;
    size_t cap = 0;
    int dir_out = a.npy_out && (a.n_files > 1 || is_dir(a.npy_out));
    char **names = NULL;
    int renamed = 0;
    cli_output out;
    cli_output_init(&out, "--npy", a.npy_out, dir_out);
    if (dir_out && (rc = out_names(a.files, a.n_files, &names, &renamed)) != 0)
        goto done;
    if (dir_out && cli_mkdir(a.npy_out) != 0) {
        fprintf(stderr, "arnet score: cannot create folder %s: %s\n", a.npy_out,
                strerror(errno));
        rc = CLI_EXIT_FAIL;
        goto done;
    }
    /* Locked first, so that a second arnet writing here hears "in use". */
    if (a.npy_out && (rc = cli_output_lock(CMD, &out)) != 0)
        goto done;
    if (a.npy_out && (rc = check_outputs(&a, &out, names)) != 0)
        goto done;

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
        /* Every score is finite here: the scorer refuses non-finite
         * features and reports a NaN score as an error (score_file). */
        if (a.npy_out) {
            char *path = NULL;
            if (dir_out) {
                size_t n = strlen(a.npy_out) + strlen(names[k]) + 2;
                if ((path = malloc(n)))
                    snprintf(path, n, "%s/%s", a.npy_out, names[k]);
            } else {
                path = strdup(a.npy_out);
            }
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
    if (a.npy_out && !rc) {
        fprintf(stderr, "arnet score: wrote %d file%s to %s", a.n_files,
                a.n_files > 1 ? "s" : "", a.npy_out);
        if (renamed) {
            fprintf(stderr, " (%d with a shared basename, prefixed with their position:",
                    renamed);
            for (int k = 0, any = 0; k < a.n_files; k++)
                if (!same_stem(names[k], a.files[k]))
                    fprintf(stderr, "%s %s -> %s", any++ ? "," : "", a.files[k], names[k]);
            fputc(')', stderr);
        }
        fputc('\n', stderr);
    }
done:
    cli_output_release(&out);
    if (names)
        for (int k = 0; k < a.n_files; k++)
            free(names[k]);
    free(names);
    free(scores);
    arnet_scorer_free(sc);
    arnet_model_free(m);
    free(a.files);
    return rc;
}
