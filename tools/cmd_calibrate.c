/* cmd_calibrate.c -- `arnet calibrate`: the score threshold that gives a
 * target false-alarm rate on normal videos, because VMS operators set alarms
 * by false alarms per hour, not by AUC. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

#define CMD "calibrate"

static void usage(FILE *f)
{
    fprintf(f,
            "usage: arnet calibrate --model MODEL --normal LIST (--far F | --per-hour N)\n"
            "                       [--fps R] [--json] [--layout L] [--write [--out FILE]]\n\n"
            "Score every clip of the normal (label 0) videos of LIST and print the lowest\n"
            "score threshold at which at most the target share of those clips would raise\n"
            "an alarm.  Anomalous videos in LIST are left out (and counted).\n\n"
            "  --model MODEL   model or trainer checkpoint file\n"
            "  --normal LIST   manifest of normal footage (docs/data.md)\n"
            "  --far F         target fraction of normal clips at or above the threshold,\n"
            "                  0..1 (0.001 = one clip in a thousand)\n"
            "  --per-hour N    target clips over the threshold per hour of normal video,\n"
            "                  converted with 16-frame clips at --fps (default 30)\n"
            "  --fps R         frames per second of the footage (default 30 for --per-hour);\n"
            "                  with --write, stored as calibration.fps only when given\n"
            "  --json          one JSON object\n"
            "  --layout L      crop axis of rank-3 feature files: auto, tcf or ctf\n"
            "  --write         store the threshold and its rule in MODEL's metadata\n"
            "                  (calibration.*, docs/embedding.md): streams and arnet\n"
            "                  watch take it as their alarm threshold\n"
            "  --out FILE      with --write: write the calibrated model to FILE instead\n"
            "                  (needed when MODEL is a training checkpoint: FILE then\n"
            "                  holds the model alone); an existing FILE needs --force,\n"
            "                  and FILE may not be LIST or one of its feature files\n"
            "  --force         with --out: replace an existing FILE\n\n"
            "The threshold is for raw clip scores.  Without stream smoothing, alarms per\n"
            "hour are at most the clips above it (min_on_clips merges and drops runs);\n"
            "smoothing changes which clips cross it (docs/embedding.md).\n");
    cli_print_exit_codes(f, CLI_EXITS_OUTPUT);
}

int cmd_calibrate(int argc, char **argv)
{
    const char *model = NULL, *list = NULL, *v;
    double far = -1.0, per_hour = -1.0, fps = 30.0;
    const char *out = NULL;
    int json = 0, write = 0, force = 0, layout = ARNET_LAYOUT_AUTO, fps_given = 0;
    for (int i = 1; i < argc; i++) {
        int r = 0;
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            usage(stdout);
            return 0;
        } else if (!strcmp(argv[i], "--json")) {
            json = 1;
        } else if (!strcmp(argv[i], "--write")) {
            write = 1;
        } else if (!strcmp(argv[i], "--force")) {
            force = 1;
        } else if ((r = cli_opt_value(CMD, argc, argv, &i, "--out", &v))) {
            out = v;
        } else if ((r = cli_crop_opts(CMD, argc, argv, &i, &layout, NULL))) {
        } else if ((r = cli_opt_value(CMD, argc, argv, &i, "--model", &v))) {
            model = v;
        } else if ((r = cli_opt_value(CMD, argc, argv, &i, "--normal", &v))) {
            list = v;
        } else if ((r = cli_opt_value(CMD, argc, argv, &i, "--far", &v))) {
            if (r > 0 && !cli_parse_double(CMD, "--far", v, 0.0, 1.0, &far))
                return CLI_EXIT_USAGE;
        } else if ((r = cli_opt_value(CMD, argc, argv, &i, "--per-hour", &v))) {
            if (r > 0 && !cli_parse_double(CMD, "--per-hour", v, 0.0, 1e9, &per_hour))
                return CLI_EXIT_USAGE;
        } else if ((r = cli_opt_value(CMD, argc, argv, &i, "--fps", &v))) {
            if (r > 0 && !cli_parse_double(CMD, "--fps", v, 0.01, 1e6, &fps))
                return CLI_EXIT_USAGE;
            fps_given = 1;
        } else {
            return cli_usage_error(CMD, "unknown option or argument '%s'", argv[i]);
        }
        if (r < 0)
            return CLI_EXIT_USAGE;
    }
    if (!model || !list)
        return cli_usage_error(CMD, "--model MODEL and --normal LIST are required");
    if ((far < 0) == (per_hour < 0))
        return cli_usage_error(CMD, "give exactly one of --far F and --per-hour N");
    if (out && !write)
        return cli_usage_error(CMD, "--out FILE goes with --write");
    if (force && !out)
        return cli_usage_error(CMD, "--force goes with --out FILE");
    /* --out naming MODEL itself is --write alone: the model is rewritten. */
    if (out && cli_same_file(out, model))
        out = NULL;
    const char *dest = out ? out : model;
    if (write && !out) {
        arnet_file_info fi;
        arnet_file_info_init(&fi);
        int fst = arnet_file_info_read(model, &fi);
        if (fst != ARNET_OK)
            return cli_fail(CMD, fst, model);
        if (fi.has_trainer) {
            fprintf(stderr,
                    "arnet calibrate: %s is a training checkpoint (it can resume training); "
                    "--write would drop its trainer state: give --out FILE for the "
                    "calibrated model\n",
                    model);
            return CLI_EXIT_USAGE;
        }
    }
    double clips_per_hour = 3600.0 * fps / 16.0;
    if (per_hour >= 0)
        far = fmin(1.0, per_hour / clips_per_hour);

    /* --out is a new file like any other output: not the manifest, not
     * replaced without --force, not written by two arnet at once. */
    cli_output o;
    cli_output_init(&o, "--out", out, 0);
    int rc = 0;
    if (out && ((rc = cli_output_not_input(CMD, &o, "the manifest --normal", list)) ||
                (rc = cli_output_lock(CMD, &o)) ||
                (rc = cli_output_absent(CMD, &o, NULL, force, NULL)))) {
        cli_output_release(&o);
        return rc;
    }

    arnet_model *m = NULL;
    arnet_dataset *ds = NULL;
    float *scores = NULL;
    int st = arnet_model_load(model, &m);
    if (st != ARNET_OK) {
        rc = cli_fail(CMD, st, model);
        goto done;
    }
    if ((rc = cli_manifest_kind(CMD, "--normal", list)) != 0)
        goto done;
    arnet_load_options lo;
    arnet_load_options_init(&lo);
    lo.layout = layout;
    st = arnet_dataset_load_manifest(list, &lo, &ds);
    if (st != ARNET_OK) {
        rc = cli_fail(CMD, st, list);
        goto done;
    }
    if (out && (rc = cli_output_not_in_dataset(CMD, &o, "--normal", list, ds)) != 0)
        goto done;
    size_t n_videos = arnet_dataset_size(ds), total = 0, used = 0;
    for (size_t i = 0; i < n_videos; i++) {
        arnet_video_info info;
        arnet_video_info_init(&info);
        if (arnet_dataset_video(ds, i, &info) == ARNET_OK && info.label == 0)
            total += info.n_clips;
    }
    if (total == 0) {
        fprintf(stderr, "arnet calibrate: %s lists no normal (label 0) videos\n", list);
        rc = CLI_EXIT_FAIL;
        goto done;
    }
    scores = malloc(total * sizeof *scores);
    if (!scores) {
        fprintf(stderr, "arnet calibrate: out of memory for %zu scores\n", total);
        rc = CLI_EXIT_FAIL;
        goto done;
    }
    size_t at = 0;
    for (size_t i = 0; i < n_videos; i++) {
        arnet_video_info info;
        arnet_video_info_init(&info);
        if (arnet_dataset_video(ds, i, &info) != ARNET_OK || info.label != 0)
            continue;
        st = arnet_model_score(m, info.features, info.n_clips, scores + at);
        if (st != ARNET_OK) {
            rc = cli_fail(CMD, st, info.name);
            goto done;
        }
        at += info.n_clips;
        used++;
    }
    float threshold;
    double achieved;
    st = arnet_threshold_for_far(scores, total, far, &threshold, &achieved);
    if (st != ARNET_OK) {
        rc = cli_fail(CMD, st, "threshold");
        goto done;
    }
    double hours = (double)total / clips_per_hour;
    if (write) {
        /* The rule and its inputs beside the threshold, so that a VMS (or
         * arnet watch) knows what the number promises: the library's keys. */
        arnet_calibration cal;
        arnet_calibration_init(&cal);
        cal.threshold = threshold;
        cal.far = far;
        cal.per_hour = per_hour;
        /* only a rate the user gave (0: none): streams take it for their event
         * times, and an assumed 30 would make a 10 fps camera's seconds 3x off */
        cal.fps = fps_given ? fps : 0;
        cal.achieved_far = achieved;
        cal.clips = total;
        cal.data = strrchr(list, '/') ? strrchr(list, '/') + 1 : list;
        st = arnet_model_set_calibration(m, &cal);
        arnet_file_info fi;
        arnet_file_info_init(&fi);
        arnet_save_options so;
        arnet_save_options_init(&so);
        if (st == ARNET_OK && arnet_file_info_read(model, &fi) == ARNET_OK)
            so.storage = fi.storage; /* keep the file's f16/f32 */
        if (st == ARNET_OK)
            st = arnet_model_save_ex(m, dest, &so);
        if (st != ARNET_OK) {
            rc = cli_fail(CMD, st, dest);
            goto done;
        }
    }
    if (json) {
        printf("{\"model\": ");
        cli_json_string(stdout, model);
        printf(", \"normal\": ");
        cli_json_string(stdout, list);
        printf(", \"threshold\": %.9g, \"target_far\": %.9g, \"achieved_far\": %.9g, "
               "\"clips\": %zu, \"videos\": %zu, \"skipped_anomalous\": %zu, "
               "\"hours\": %.6g, \"per_hour\": %.6g}\n",
               threshold, far, achieved, total, used, n_videos - used, hours,
               achieved * clips_per_hour);
    } else {
        printf("threshold %.6g\n", threshold);
        printf("  target false-alarm rate   %.6g of normal clips\n", far);
        printf("  achieved on this data     %.6g (%.0f of %zu clips)\n", achieved,
               achieved * (double)total, total);
        printf("  = %.3g clips over threshold per hour at %g fps (%.2f h of video)\n",
               achieved * clips_per_hour, fps, hours);
        printf("  from %zu normal videos of %s", used, list);
        if (n_videos > used)
            printf(" (%zu anomalous left out)", n_videos - used);
        printf("\n");
        if (write)
            printf("  written to %s as calibration.threshold\n", dest);
    }
done:
    cli_output_release(&o);
    free(scores);
    arnet_dataset_free(ds);
    arnet_model_free(m);
    return rc;
}
