/* cmd_eval.c -- `arnet eval`: the paper's frame-level evaluation of a model
 * on a test manifest, as a table, JSON, and per-video score plots. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

#define CMD "eval"

static void usage(FILE *f)
{
    fprintf(f,
            "usage: arnet eval --model MODEL --test LIST [--json] [--plots DIR] [options]\n\n"
            "Score every clip of every test video and compute the paper's frame-level\n"
            "metrics: ROC AUC over all frames, AUC over anomalous videos only, average\n"
            "precision, PR area, and the false alarm rate (frames of normal videos scoring\n"
            ">= the threshold).  docs/evaluation.md defines each.\n\n"
            "  --model MODEL       model or trainer checkpoint file\n"
            "  --test LIST         manifest with frame ground truth (docs/data.md)\n"
            "  --json              print one JSON object instead of the table\n"
            "  --plots DIR         write DIR/index.html and one SVG score curve per video;\n"
            "                      a DIR that holds an index.html needs --force\n"
            "  --force             replace the plots of an earlier run in DIR\n"
            "  --per-video         add a row per video to the table\n"
            "  --gt-rule RULE      truncate (AR-Net code, default) or pad-last (RTFM)\n"
            "  --threshold T       false-alarm threshold (default 0.5)\n"
            "  --crop C            crop of [T, C, F] feature files (default: average)\n"
            "  --crops mean|each   each: score every crop, average the crops' clip scores\n"
            "  --layout auto|tcf|ctf  crop axis of rank-3 files (default: auto, docs/data.md)\n"
            "  --mmap              map the feature files instead of loading them\n");
    cli_print_exit_codes(f, CLI_EXITS_OUTPUT);
}

typedef struct eval_args {
    const char *model, *test, *plots;
    int json, per_video, force;
    arnet_eval_options eopt;
    arnet_load_options lopt;
} eval_args;

static int parse(int argc, char **argv, eval_args *a)
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
        } else if (!strcmp(argv[i], "--per-video")) {
            a->per_video = 1;
        } else if ((r = cli_opt_value(CMD, argc, argv, &i, "--model", &v))) {
            a->model = v;
        } else if ((r = cli_opt_value(CMD, argc, argv, &i, "--test", &v))) {
            a->test = v;
        } else if ((r = cli_opt_value(CMD, argc, argv, &i, "--plots", &v))) {
            a->plots = v;
        } else if ((r = cli_opt_value(CMD, argc, argv, &i, "--gt-rule", &v))) {
            if (r > 0 && !strcmp(v, "truncate"))
                a->eopt.gt_rule = ARNET_GT_TRUNCATE;
            else if (r > 0 && !strcmp(v, "pad-last"))
                a->eopt.gt_rule = ARNET_GT_PAD_LAST;
            else if (r > 0)
                return cli_usage_error(CMD, "--gt-rule: '%s' is not truncate or pad-last", v);
        } else if ((r = cli_opt_value(CMD, argc, argv, &i, "--threshold", &v))) {
            double t;
            if (r < 0 || !cli_parse_double(CMD, "--threshold", v, 0.0, 1.0, &t))
                return CLI_EXIT_USAGE;
            a->eopt.far_threshold = (float)t;
        } else if ((r = cli_opt_value(CMD, argc, argv, &i, "--crop", &v))) {
            uint64_t c;
            if (r < 0 || !cli_parse_u64(CMD, "--crop", v, 0, 1023, &c))
                return CLI_EXIT_USAGE;
            a->lopt.crop = (int)c;
        } else if (!strcmp(argv[i], "--mmap")) {
            a->lopt.mmap = 1;
        } else if ((r = cli_crop_opts(CMD, argc, argv, &i, &a->lopt.layout, &a->lopt.crop))) {
        } else {
            return cli_usage_error(CMD, "unknown option or argument '%s'", argv[i]);
        }
        if (r < 0)
            return CLI_EXIT_USAGE;
    }
    if (!a->model || !a->test)
        return cli_usage_error(CMD, "--model MODEL and --test LIST are required");
    return 0;
}

/* --plots DIR: not an input, locked while written, and plots of an
 * earlier run (DIR/index.html) are replaced only with --force. */
static int claim_plots(const eval_args *a, cli_output *o)
{
    int rc = cli_output_not_input(CMD, o, "the --model file", a->model);
    if (!rc)
        rc = cli_output_not_input(CMD, o, "the manifest --test", a->test);
    if (rc)
        return rc;
    if (cli_mkdir(a->plots) != 0) {
        fprintf(stderr, "arnet %s: cannot create folder %s: %s\n", CMD, a->plots,
                strerror(errno));
        return CLI_EXIT_FAIL;
    }
    if ((rc = cli_output_lock(CMD, o)) != 0)
        return rc;
    char *index = malloc(strlen(a->plots) + 16);
    if (!index) {
        cli_output_release(o);
        return CLI_EXIT_FAIL;
    }
    sprintf(index, "%s/index.html", a->plots);
    rc = cli_output_absent(CMD, o, index, a->force, NULL);
    free(index);
    if (rc)
        cli_output_release(o);
    return rc;
}

/* Library field names in messages -> this command's options. */
static const char *const eval_option_names[][2] = {
    {"far_threshold", "--threshold"}, {"gt_rule", "--gt-rule"}, {"crop", "--crop"},
    {NULL, NULL}};

int cmd_eval(int argc, char **argv)
{
    cli_set_option_names(eval_option_names);
    eval_args a;
    memset(&a, 0, sizeof a);
    arnet_eval_options_init(&a.eopt);
    arnet_load_options_init(&a.lopt);
    int rc = parse(argc, argv, &a);
    if (rc)
        return rc < 0 ? 0 : rc;

    arnet_model *m = NULL;
    arnet_dataset *test = NULL;
    arnet_eval_result res;
    arnet_eval_result_init(&res);
    cli_output plots;
    cli_output_init(&plots, "--plots", a.plots, 1);
    if (a.plots && (rc = claim_plots(&a, &plots)) != 0)
        return rc;
    int st = arnet_model_load(a.model, &m);
    if (st != ARNET_OK) {
        rc = cli_fail(CMD, st, a.model);
        goto done;
    }
    if ((rc = cli_manifest_kind(CMD, "--test", a.test)) != 0)
        goto done;
    st = arnet_dataset_load_manifest(a.test, &a.lopt, &test);
    if (st != ARNET_OK) {
        rc = cli_fail(CMD, st, a.test);
        goto done;
    }
    if (arnet_dataset_feature_dim(test) != arnet_model_feature_dim(m)) {
        fprintf(stderr, "arnet eval: %s has %u features per clip but %s expects %u\n", a.test,
                arnet_dataset_feature_dim(test), a.model, arnet_model_feature_dim(m));
        rc = CLI_EXIT_FAIL;
        goto done;
    }
    st = arnet_evaluate_ex(m, test, &a.eopt, &res);
    if (st != ARNET_OK) {
        rc = cli_fail(CMD, st, a.test);
        goto done;
    }
    if (a.plots && cli_eval_write_plots(CMD, a.plots, m, test, &res, a.eopt.far_threshold)) {
        rc = CLI_EXIT_FAIL;
        goto done;
    }
    if (a.json) {
        if (cli_eval_write_json(stdout, &res, a.model, a.test) != 0)
            rc = CLI_EXIT_FAIL;
    } else {
        printf("model %s, test %s\n", a.model, a.test);
        cli_eval_print_table(stdout, &res, a.per_video);
        if (a.plots)
            printf("plots: %s/index.html\n", a.plots);
    }
done:
    cli_output_release(&plots);
    arnet_eval_result_free(&res);
    arnet_dataset_free(test);
    arnet_model_free(m);
    return rc;
}
