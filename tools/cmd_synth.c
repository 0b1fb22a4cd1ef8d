/* cmd_synth.c -- `arnet synth`: write the synthetic ShanghaiTech-shaped data
 * set (features, frame ground truth, train.txt and test.txt manifests). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

#define CMD "synth"

static void usage(FILE *f)
{
    fprintf(f,
            "usage: arnet synth --out DIR [--seed S] [--feature-dim F] [--scale X]\n\n"
            "Write a synthetic data set shaped like ShanghaiTech's weakly supervised split\n"
            "(175+63 training, 155+44 test videos, the real test frame counts and anomaly\n"
            "ranges) with I3D-like features: DIR/features/*.npy, DIR/gt/*.npy and the\n"
            "manifests DIR/train.txt and DIR/test.txt.  docs/synthetic-data.md says what it\n"
            "models.  The same seed gives the same bytes.\n\n"
            "  --out DIR          folder to write (created if needed)\n"
            "  --seed S           generator seed (default 1)\n"
            "  --feature-dim F    values per clip, 1..65536 (default 2048)\n"
            "  --scale X          fraction of the videos of each class, (0, 1] (default 1)\n"
            "  --force            replace the data set DIR already holds (train.txt,\n"
            "                     test.txt, features/, gt/); without it that is refused\n");
    cli_print_exit_codes(f, CLI_EXITS_OUTPUT);
}

/* Videos per label in a manifest just written, for the summary line. */
static int count_manifest(const char *path, size_t count[2])
{
    FILE *f = fopen(path, "r");
    if (!f)
        return 0;
    char line[4096];
    count[0] = count[1] = 0;
    while (fgets(line, sizeof line, f)) {
        char file[4000];
        int label;
        if (line[0] == '#' || sscanf(line, "%3999s %d", file, &label) != 2)
            continue;
        count[label != 0]++;
    }
    fclose(f);
    return 1;
}

/* Library field names in messages -> this command's options. */
static const char *const synth_option_names[][2] = {
    {"feature_dim", "--feature-dim"}, {"scale", "--scale"}, {"seed", "--seed"}, {NULL, NULL}};

int cmd_synth(int argc, char **argv)
{
    cli_set_option_names(synth_option_names);
    arnet_synth_options opt;
    arnet_synth_options_init(&opt);
    const char *out = NULL, *v;
    int force = 0;
    for (int i = 1; i < argc; i++) {
        int r;
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            usage(stdout);
            return 0;
        } else if (!strcmp(argv[i], "--force")) {
            force = 1;
        } else if ((r = cli_opt_value(CMD, argc, argv, &i, "--out", &v))) {
            if (r < 0)
                return CLI_EXIT_USAGE;
            out = v;
        } else if ((r = cli_opt_value(CMD, argc, argv, &i, "--seed", &v))) {
            uint64_t s;
            if (r < 0 || !cli_parse_u64(CMD, "--seed", v, 0, UINT64_MAX, &s))
                return CLI_EXIT_USAGE;
            opt.seed = s;
        } else if ((r = cli_opt_value(CMD, argc, argv, &i, "--feature-dim", &v))) {
            uint64_t d;
            if (r < 0 || !cli_parse_u64(CMD, "--feature-dim", v, 1, 65536, &d))
                return CLI_EXIT_USAGE;
            opt.feature_dim = (uint32_t)d;
        } else if ((r = cli_opt_value(CMD, argc, argv, &i, "--scale", &v))) {
            double x;
            if (r < 0 || !cli_parse_double(CMD, "--scale", v, 0.0, 1.0, &x))
                return CLI_EXIT_USAGE;
            if (x <= 0.0)
                return cli_usage_error(CMD, "--scale: must be above 0");
            opt.scale = x;
        } else {
            return cli_usage_error(CMD, "unknown option or argument '%s'", argv[i]);
        }
    }
    if (!out)
        return cli_usage_error(CMD, "--out DIR is required");

    /* DIR may hold other things; what the set would replace needs --force.
     * The folder is locked while it is written. */
    cli_output o;
    cli_output_init(&o, "--out", out, 1);
    if (cli_mkdir(out) != 0) {
        fprintf(stderr, "arnet %s: cannot create folder %s: %s\n", CMD, out, strerror(errno));
        return CLI_EXIT_FAIL;
    }
    int code = cli_output_lock(CMD, &o);
    static const char *const parts[] = {"train.txt", "test.txt", "features", "gt"};
    for (size_t k = 0; k < 4 && !code; k++) {
        char *path = malloc(strlen(out) + 16);
        if (!path) {
            code = CLI_EXIT_FAIL;
            break;
        }
        sprintf(path, "%s/%s", out, parts[k]);
        code = cli_output_absent(CMD, &o, path, force, NULL);
        free(path);
    }
    if (code) {
        cli_output_release(&o);
        return code;
    }
    double t0 = cli_now();
    int rc = arnet_synth_write(out, &opt);
    cli_output_release(&o);
    if (rc != ARNET_OK)
        return cli_fail(CMD, rc, out);
    double secs = cli_now() - t0;
    const char *lists[2] = {"train.txt", "test.txt"};
    printf("wrote %s in %.1f s (seed %llu, %u features per clip):\n", out, secs,
           (unsigned long long)opt.seed, opt.feature_dim);
    for (int k = 0; k < 2; k++) {
        size_t n = strlen(out) + 16;
        char *path = malloc(n);
        if (!path)
            return CLI_EXIT_FAIL;
        snprintf(path, n, "%s/%s", out, lists[k]);
        size_t c[2];
        if (count_manifest(path, c))
            printf("  %-9s %zu videos (%zu normal, %zu anomalous)\n", lists[k], c[0] + c[1],
                   c[0], c[1]);
        free(path);
    }
    printf("  features/ one .npy per video, gt/ frame ground truth of the test videos\n");
    return 0;
}
