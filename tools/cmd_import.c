/* cmd_import.c -- `arnet import`: turns the list and annotation formats users
 * already have (RTFM lists + gt .npy, UCF-Crime annotations) into manifests. */
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli.h"
#include "import_sets.h"

#define CMD "import"
#define FRAMES_PER_CLIP 16

static void usage(FILE *f)
{
    fprintf(f,
            "usage: arnet import rtfm --list LIST --anomalous N --out MANIFEST\n"
            "                         [--gt GT.npy] [--features-dir DIR] [--suffix SUFFIX]\n"
            "                         [--flow-dir DIR]\n"
            "       arnet import ucf --annotations FILE --features-dir DIR --out MANIFEST\n"
            "                        [--suffix SUFFIX] [--allow-no-event] [--flow-dir DIR]\n");
    import_sets_usage(f, 0);
    fprintf(f, "       arnet import i3d WEIGHTS.pt --out EXTRACTOR.arnet (see its --help)\n\n"
            "Write a manifest (see docs/data.md) with per-video frame ground truth.\n\n"
            "rtfm: LIST has one feature .npy path a line, the N anomalous videos first;\n"
            "  GT.npy holds the frame labels of all videos concatenated in list order,\n"
            "  16 frames per clip (leave --gt out for a training list: labels only).\n"
            "  Each video's clip count T is read from its features,\n"
            "  so the files must exist; --features-dir DIR looks them up as DIR/<basename>\n"
            "  instead of the list's paths (--suffix SUFFIX: DIR/<name>SUFFIX, name being\n"
            "  the basename without .npy and _i3d).  Anomalous videos get frame ranges in the\n"
            "  manifest (an .npy under MANIFEST_gt/ when they have no anomalous frame).\n"
            "ucf: FILE is Temporal_Anomaly_Annotation.txt (name class s1 e1 s2 e2, -1 for\n"
            "  no event); features are DIR/<name without .mp4><SUFFIX> (default .npy).\n"
            "  Class Normal gives label 0, every other class label 1 with its ranges\n"
            "  s-e, read as inclusive frame numbers counted from 0.  An event must\n"
            "  start within the 16*T frames of the features (T = their clip count);\n"
            "  one ending past them is clipped, with a warning.  An anomalous class\n"
            "  with no event (-1 -1 -1 -1) is an error; --allow-no-event writes it as\n"
            "  '1 -' instead (fine for training, arnet eval refuses it).\n");
    import_sets_usage(f, 1);
    fprintf(f, "All: an existing MANIFEST needs --force; MANIFEST may not be one of the\n"
               "  inputs (a list, the annotations, the ground truth or a feature file).\n");
    cli_print_exit_codes(f, CLI_EXITS_OUTPUT);
}

/* Absolute form of an existing path, so the manifest works from anywhere. */
static char *absolute(const char *path)
{
    char buf[PATH_MAX];
    if (!realpath(path, buf))
        return NULL;
    return strdup(buf);
}

/* "<a>+<b>" of two existing paths' absolute forms: an RGB + flow pair. */
static char *absolute_pair(const char *a, const char *b)
{
    char *x = absolute(a), *y = absolute(b);
    char *both = x && y ? malloc(strlen(x) + strlen(y) + 2) : NULL;
    if (both)
        sprintf(both, "%s+%s", x, y);
    free(x);
    free(y);
    return both;
}

/* dir/<name>suffix, name being entry's basename without ".npy" and "_i3d"
 * (RTFM's lists); dir NULL: entry's own folder; suffix NULL: the basename
 * as it is. */
static void feature_name(char *out, size_t cap, const char *dir, const char *entry,
                         const char *suffix)
{
    const char *b = cli_base_name(entry);
    int dlen = dir ? (int)strlen(dir) : (int)(b - entry);
    const char *d = dir ? dir : entry;
    char name[PATH_MAX];
    snprintf(name, sizeof name, "%s", b);
    size_t n = strlen(name);
    if (suffix) {
        if (n > 4 && !strcmp(name + n - 4, ".npy"))
            name[n -= 4] = '\0';
        if (n > 4 && !strcmp(name + n - 4, "_i3d"))
            name[n -= 4] = '\0';
    }
    snprintf(out, cap, "%.*s%s%s%s", dlen, d, dir ? "/" : "", name, suffix ? suffix : "");
}

/* The manifest goes through the library's writer: collected in memory and
 * written atomically at the end, so a failed import never leaves a
 * half-written manifest behind. */
static int manifest_fail(arnet_manifest_writer *mw, int rc)
{
    cli_fail(CMD, rc, "manifest");
    arnet_manifest_writer_free(mw);
    return CLI_EXIT_FAIL;
}

/* The output being written (cmd_import's guard), for the feature files
 * met on the way: a manifest never replaces one of them. */
static const cli_output *import_out;

/* ---- RTFM ---------------------------------------------------------------- */

typedef struct rtfm_video {
    char *features; /* absolute */
    size_t frames;  /* 16 * T */
} rtfm_video;

static int import_rtfm(int argc, char **argv)
{
    const char *list = NULL, *gt = NULL, *anom = NULL;
    cli_import_opts c = {NULL, NULL, NULL, NULL, NULL};
    for (int i = 2; i < argc; i++) {
        const char *v;
        int r;
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            usage(stdout);
            return 0;
        }
        if ((r = cli_opt_value(CMD, argc, argv, &i, "--list", &v)) != 0) {
            if (r < 0)
                return CLI_EXIT_USAGE;
            list = v;
        } else if ((r = cli_opt_value(CMD, argc, argv, &i, "--gt", &v)) != 0) {
            if (r < 0)
                return CLI_EXIT_USAGE;
            gt = v;
        } else if ((r = cli_opt_value(CMD, argc, argv, &i, "--anomalous", &v)) != 0) {
            if (r < 0)
                return CLI_EXIT_USAGE;
            anom = v;
        } else if ((r = cli_import_opt(CMD, argc, argv, &i, &c)) != 0) {
            if (r < 0)
                return CLI_EXIT_USAGE;
        } else {
            return cli_usage_error(CMD, "unknown option '%s' for rtfm", argv[i]);
        }
    }
    if (c.flow_suffix)
        return cli_usage_error(CMD, "--flow-suffix is for ucf-train and xd (rtfm's flow files "
                                    "take --suffix)");
    const char *fdir = c.features_dir, *out = c.out, *suffix = c.suffix,
               *flow_dir = c.flow_dir;
    if (!list || !anom || !out)
        return cli_usage_error(CMD, "rtfm needs --list, --anomalous and --out");
    uint64_t n_anom;
    if (!cli_parse_u64(CMD, "--anomalous", anom, 0, UINT32_MAX, &n_anom))
        return CLI_EXIT_USAGE;

    uint8_t *labels = NULL;
    size_t n_gt = 0;
    int rc = gt ? arnet_npy_read_labels(gt, &labels, &n_gt) : ARNET_OK;
    if (rc)
        return cli_fail(CMD, rc, "reading the ground truth");

    FILE *lf = cli_fopen_read(list);
    if (!lf) {
        fprintf(stderr, "arnet import: cannot open %s: %s\n", list, cli_open_error(list));
        arnet_free(labels);
        return CLI_EXIT_FAIL;
    }
    rtfm_video *vids = NULL;
    size_t n = 0, cap = 0, total = 0, lineno = 0;
    char line[PATH_MAX + 2];
    int status = 0;
    while (!status && fgets(line, sizeof line, lf)) {
        lineno++;
        size_t len = strlen(line);
        if (len + 1 == sizeof line && line[len - 1] != '\n') {
            fprintf(stderr, "arnet import: %s:%zu: line too long\n", list, lineno);
            status = CLI_EXIT_FAIL;
            break;
        }
        while (len && (line[len - 1] == '\n' || line[len - 1] == '\r' || line[len - 1] == ' '))
            line[--len] = '\0';
        char *p = line;
        while (*p == ' ' || *p == '\t')
            p++;
        if (!*p)
            continue;
        char path[PATH_MAX], flow[PATH_MAX];
        if (suffix) /* <dir>/<name without .npy and _i3d><suffix> */
            feature_name(path, sizeof path, fdir, p, suffix);
        else if (fdir)
            snprintf(path, sizeof path, "%s/%s", fdir, cli_base_name(p));
        else
            snprintf(path, sizeof path, "%s", p);
        if (import_out &&
            (status = cli_output_not_input(CMD, import_out, "a feature file of --list", path)))
            break;
        if (flow_dir) {
            feature_name(flow, sizeof flow, flow_dir, p, suffix);
            if (stat(flow, &(struct stat){0}) != 0) {
                fprintf(stderr, "arnet import: %s line %zu: flow features %s: %s\n",
                        cli_base_name(list), lineno, flow, strerror(errno));
                status = CLI_EXIT_FAIL;
                break;
            }
        }
        size_t T = 0;
        if (gt) {
            char what[64];
            snprintf(what, sizeof what, "%s line %zu", cli_base_name(list), lineno);
            if ((status = cli_feature_clips(CMD, path, what, &T)) != 0)
                break;
        } else {
            /* Without ground truth only the labels are written: the
             * features are read (and checked) when the manifest is loaded. */
            struct stat st;
            if (stat(path, &st) != 0) {
                fprintf(stderr, "arnet import: %s line %zu: %s: %s\n", cli_base_name(list),
                        lineno, path, strerror(errno));
                status = CLI_EXIT_FAIL;
                break;
            }
        }
        if (n == cap) {
            cap = cap ? 2 * cap : 256;
            rtfm_video *nv = realloc(vids, cap * sizeof *vids);
            if (!nv) {
                fprintf(stderr, "arnet import: out of memory\n");
                status = CLI_EXIT_FAIL;
                break;
            }
            vids = nv;
        }
        vids[n].features = flow_dir ? absolute_pair(path, flow) : absolute(path);
        vids[n].frames = T * FRAMES_PER_CLIP;
        if (!vids[n].features) {
            fprintf(stderr, "arnet import: %s: %s\n", path, strerror(errno));
            status = CLI_EXIT_FAIL;
            break;
        }
        total += vids[n].frames;
        n++;
    }
    fclose(lf);
    if (!status && n == 0) {
        fprintf(stderr, "arnet import: %s lists no videos\n", list);
        status = CLI_EXIT_FAIL;
    }
    if (!status && n_anom > n) {
        fprintf(stderr, "arnet import: --anomalous %llu but %s lists only %zu videos\n",
                (unsigned long long)n_anom, list, n);
        status = CLI_EXIT_FAIL;
    }
    if (!status && gt && total != n_gt) {
        fprintf(stderr,
                "arnet import: %s has %zu frame labels but the %zu videos' features give "
                "%zu frames (16 per clip): wrong list, ground truth or features\n",
                gt, n_gt, n, total);
        status = CLI_EXIT_FAIL;
    }
    /* Per-video .npy ground truth (only needed for anomalous videos without
     * an anomalous frame) lives in <out>_gt/. */
    char gtdir[PATH_MAX];
    snprintf(gtdir, sizeof gtdir, "%s_gt", out);
    arnet_manifest_writer *mw = NULL;
    if (!status && (rc = arnet_manifest_writer_create(out, &mw)) != ARNET_OK)
        status = cli_fail(CMD, rc, out);
    if (!status) {
        char head[2 * PATH_MAX + 128];
        snprintf(head, sizeof head,
                 "imported by arnet import rtfm from %s and %s (%zu videos, %llu anomalous "
                 "first)",
                 cli_base_name(list), gt ? cli_base_name(gt) : "no ground truth", n,
                 (unsigned long long)n_anom);
        rc = arnet_manifest_writer_comment(mw, head);
        if (rc)
            status = cli_fail(CMD, rc, out);
        size_t at = 0;
        for (size_t i = 0; i < n && !status; i++) {
            int label = i < n_anom;
            arnet_manifest_entry e;
            arnet_manifest_entry_init(&e);
            e.features = vids[i].features;
            e.label = label;
            if (!gt) {
                if ((rc = arnet_manifest_writer_add(mw, &e)) != ARNET_OK)
                    status = cli_fail(CMD, rc, out);
                continue;
            }
            const uint8_t *l = labels + at;
            size_t ones = 0;
            for (size_t k = 0; k < vids[i].frames; k++)
                ones += l[k] != 0;
            if (!label && ones) {
                fprintf(stderr,
                        "arnet import: video %zu (%s) is past the %llu anomalous ones but "
                        "has %zu anomalous frames: is --anomalous right?\n",
                        i + 1, cli_base_name(vids[i].features), (unsigned long long)n_anom, ones);
                status = CLI_EXIT_FAIL;
                break;
            }
            char *ab = NULL;
            char gpath[2 * PATH_MAX];
            if (label && ones) {
                e.frame_labels = l;
                e.n_frames = vids[i].frames;
            } else if (label) {
                if (mkdir(gtdir, 0777) != 0 && errno != EEXIST) {
                    fprintf(stderr, "arnet import: cannot create %s: %s\n", gtdir,
                            strerror(errno));
                    status = CLI_EXIT_FAIL;
                    break;
                }
                snprintf(gpath, sizeof gpath, "%s/%s", gtdir, cli_base_name(vids[i].features));
                float *z = calloc(vids[i].frames, sizeof *z);
                size_t shape = vids[i].frames;
                rc = z ? arnet_npy_write(gpath, z, &shape, 1) : ARNET_E_NOMEM;
                free(z);
                if (rc) {
                    status = cli_fail(CMD, rc, "writing ground truth");
                    break;
                }
                ab = absolute(gpath);
                e.gt_path = ab ? ab : gpath;
            }
            rc = arnet_manifest_writer_add(mw, &e);
            free(ab);
            if (rc) {
                status = cli_fail(CMD, rc, out);
                break;
            }
            at += vids[i].frames;
        }
        if (!status && (rc = arnet_manifest_writer_commit(mw)) != ARNET_OK)
            status = cli_fail(CMD, rc, "writing the manifest");
    }
    arnet_manifest_writer_free(mw);
    for (size_t i = 0; i < n; i++)
        free(vids[i].features);
    free(vids);
    arnet_free(labels);
    if (!status && gt)
        fprintf(stderr, "arnet import: wrote %s (%zu videos, %llu anomalous, %zu frames)\n",
                out, n, (unsigned long long)n_anom, total);
    else if (!status)
        fprintf(stderr, "arnet import: wrote %s (%zu videos, %llu anomalous, no ground truth)\n",
                out, n, (unsigned long long)n_anom);
    return status;
}

/* ---- UCF-Crime ------------------------------------------------------------ */

static int parse_frame(const char *s, long long *out)
{
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno || *end || end == s || v < -1)
        return 0;
    *out = v;
    return 1;
}

static int import_ucf(int argc, char **argv)
{
    const char *ann = NULL;
    cli_import_opts c = {NULL, NULL, NULL, ".npy", NULL};
    int allow_no_event = 0;
    for (int i = 2; i < argc; i++) {
        const char *v;
        int r;
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            usage(stdout);
            return 0;
        }
        if (!strcmp(argv[i], "--allow-no-event")) {
            allow_no_event = 1;
        } else if ((r = cli_opt_value(CMD, argc, argv, &i, "--annotations", &v)) != 0) {
            if (r < 0)
                return CLI_EXIT_USAGE;
            ann = v;
        } else if ((r = cli_import_opt(CMD, argc, argv, &i, &c)) != 0) {
            if (r < 0)
                return CLI_EXIT_USAGE;
        } else {
            return cli_usage_error(CMD, "unknown option '%s' for ucf", argv[i]);
        }
    }
    if (c.flow_suffix)
        return cli_usage_error(CMD, "--flow-suffix is for ucf-train and xd (ucf's flow files "
                                    "take --suffix)");
    const char *fdir = c.features_dir, *out = c.out, *suffix = c.suffix,
               *flow_dir = c.flow_dir;    if (!ann || !fdir || !out)
        return cli_usage_error(CMD, "ucf needs --annotations, --features-dir and --out");
    char *adir = absolute(fdir);
    if (!adir) {
        fprintf(stderr, "arnet import: --features-dir %s: %s\n", fdir, strerror(errno));
        return CLI_EXIT_FAIL;
    }
    FILE *af = cli_fopen_read(ann);
    if (!af) {
        fprintf(stderr, "arnet import: cannot open %s: %s\n", ann, cli_open_error(ann));
        free(adir);
        return CLI_EXIT_FAIL;
    }
    arnet_manifest_writer *mw = NULL;
    char head[PATH_MAX + 64];
    snprintf(head, sizeof head, "imported by arnet import ucf from %s", cli_base_name(ann));
    int rc = arnet_manifest_writer_create(out, &mw);
    if (rc == ARNET_OK)
        rc = arnet_manifest_writer_comment(mw, head);
    if (rc != ARNET_OK) {
        fclose(af);
        free(adir);
        return manifest_fail(mw, rc);
    }
    char line[4096];
    size_t lineno = 0, n = 0, n_anom = 0, n_clipped = 0;
    int status = 0;
    while (!status && fgets(line, sizeof line, af)) {
        lineno++;
        char *tok[7];
        int nt = 0;
        for (char *s = strtok(line, " \t\r\n"); s; s = strtok(NULL, " \t\r\n"))
            if (nt < 7)
                tok[nt++] = s;
            else
                nt++;
        if (nt == 0)
            continue;
        long long fr[4];
        int ok = nt == 6;
        for (int k = 0; ok && k < 4; k++)
            ok = parse_frame(tok[2 + k], &fr[k]);
        if (!ok) {
            fprintf(stderr,
                    "arnet import: %s:%zu: expected 'name class s1 e1 s2 e2' with frame "
                    "numbers or -1\n",
                    ann, lineno);
            status = CLI_EXIT_FAIL;
            break;
        }
        int normal = strcmp(tok[1], "Normal") == 0;
        int bad = 0;
        for (int k = 0; k < 4; k += 2) {
            if ((fr[k] < 0) != (fr[k + 1] < 0) || (fr[k] >= 0 && fr[k] > fr[k + 1]))
                bad = 1;
        }
        if (bad || (normal && (fr[0] >= 0 || fr[2] >= 0)) || (fr[0] < 0 && fr[2] >= 0)) {
            fprintf(stderr,
                    "arnet import: %s:%zu: %s: event frames %lld %lld %lld %lld are not "
                    "start <= end pairs (or -1 -1)%s\n",
                    ann, lineno, tok[0], fr[0], fr[1], fr[2], fr[3],
                    normal ? " for a Normal video, which has none" : "");
            status = CLI_EXIT_FAIL;
            break;
        }
        char stem[1024];
        snprintf(stem, sizeof stem, "%s", tok[0]);
        size_t sl = strlen(stem);
        if (sl > 4 && !strcmp(stem + sl - 4, ".mp4"))
            stem[sl - 4] = '\0';
        char fpath[PATH_MAX + 1100];
        snprintf(fpath, sizeof fpath, "%s/%s%s", adir, stem, suffix);
        if (import_out && (status = cli_output_not_input(CMD, import_out,
                                                         "a feature file of --features-dir",
                                                         fpath)))
            break;
        struct stat st;
        if (stat(fpath, &st) != 0) {
            fprintf(stderr, "arnet import: %s:%zu: features of %s not found: %s: %s\n", ann,
                    lineno, tok[0], fpath, strerror(errno));
            status = CLI_EXIT_FAIL;
            break;
        }
        if (!normal && fr[0] < 0) {
            /* Sultani's file always has an event for anomalous classes.  A
             * video written as "1 -" trains but arnet eval refuses it, so
             * this is the user's explicit choice, not a silent warning. */
            if (!allow_no_event) {
                fprintf(stderr,
                        "arnet import: %s:%zu: %s is %s (anomalous) but has no event "
                        "(-1 -1 -1 -1): give its frames, or --allow-no-event to write "
                        "it without ground truth (training only)\n",
                        ann, lineno, tok[0], tok[1]);
                status = CLI_EXIT_FAIL;
                break;
            }
            fprintf(stderr, "arnet import: %s:%zu: warning: %s (%s) has no event; "
                            "written without ground truth (arnet eval will refuse it)\n",
                    ann, lineno, tok[0], tok[1]);
        }
        if (!normal && fr[0] >= 0) {
            /* Events against the video's length, 16 frames per clip. */
            size_t T = 0;
            char what[64 + 32];
            snprintf(what, sizeof what, "%s:%zu", cli_base_name(ann), lineno);
            if ((status = cli_feature_clips(CMD, fpath, what, &T)) != 0)
                break;
            long long frames = (long long)T * FRAMES_PER_CLIP;
            for (int k = 0; k < 4 && !status; k += 2) {
                if (fr[k] < 0)
                    continue;
                if (fr[k] >= frames) {
                    fprintf(stderr,
                            "arnet import: %s:%zu: %s: event %lld-%lld starts past the "
                            "%lld frames (%zu clips x 16) of %s: wrong features file?\n",
                            ann, lineno, tok[0], fr[k], fr[k + 1], frames, T, fpath);
                    status = CLI_EXIT_FAIL;
                } else if (fr[k + 1] >= frames) {
                    fprintf(stderr,
                            "arnet import: %s:%zu: warning: %s: event %lld-%lld ends past "
                            "the %lld frames (%zu clips x 16) of its features; frames from "
                            "%lld on are dropped\n",
                            ann, lineno, tok[0], fr[k], fr[k + 1], frames, T, frames);
                    n_clipped++;
                }
            }
            if (status)
                break;
        }
        char both[2 * PATH_MAX + 2300];
        if (flow_dir) { /* the flow features of the same name: "rgb.npy+flow.npy" */
            char flow[PATH_MAX + 1100];
            snprintf(flow, sizeof flow, "%s/%s%s", flow_dir, stem, suffix);
            char *af = absolute(flow);
            if (!af) {
                fprintf(stderr, "arnet import: %s:%zu: flow features of %s: %s: %s\n", ann,
                        lineno, tok[0], flow, strerror(errno));
                status = CLI_EXIT_FAIL;
                break;
            }
            snprintf(both, sizeof both, "%s+%s", fpath, af);
            free(af);
        }
        arnet_manifest_entry e;
        arnet_manifest_entry_init(&e);
        e.features = flow_dir ? both : fpath;
        e.label = !normal;
        uint64_t ranges[4] = {(uint64_t)fr[0], (uint64_t)fr[1], (uint64_t)fr[2],
                              (uint64_t)fr[3]};
        if (!normal && fr[0] >= 0) {
            e.gt_ranges = ranges;
            e.n_gt_ranges = fr[2] >= 0 ? 2 : 1;
        }
        if ((rc = arnet_manifest_writer_add(mw, &e)) != ARNET_OK) {
            status = cli_fail(CMD, rc, out);
            break;
        }
        n_anom += !normal;
        n++;
    }
    fclose(af);
    free(adir);
    if (!status && n == 0) {
        fprintf(stderr, "arnet import: %s has no annotations\n", ann);
        status = CLI_EXIT_FAIL;
    }
    if (!status && (rc = arnet_manifest_writer_commit(mw)) != ARNET_OK)
        status = cli_fail(CMD, rc, "writing the manifest");
    arnet_manifest_writer_free(mw);
    if (status)
        return status;
    fprintf(stderr, "arnet import: wrote %s (%zu videos, %zu anomalous", out, n, n_anom);
    if (n_clipped)
        fprintf(stderr, ", %zu event%s ending past the features", n_clipped,
                n_clipped > 1 ? "s" : "");
    fprintf(stderr, ")\n");
    return 0;
}

int cmd_import_i3d(int argc, char **argv); /* cmd_import_i3d.c */

int cmd_import(int argc, char **argv)
{
    if (argc < 2)
        return cli_usage_error(CMD, "which format: rtfm, ucf or xd?");
    if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
        usage(stdout);
        return 0;
    }
    int (*run)(int, char **) = !strcmp(argv[1], "rtfm") ? import_rtfm
                               : !strcmp(argv[1], "ucf") ? import_ucf
                               : !strcmp(argv[1], "xd") ? import_xd
                               : !strcmp(argv[1], "i3d") ? cmd_import_i3d : NULL;
    if (!run)
        return cli_usage_error(CMD, "unknown format '%s' (rtfm, ucf, xd or i3d)", argv[1]);
    if (run == import_ucf)
        for (int i = 2; i < argc; i++)
            if (!strncmp(argv[i], "--train-list", 12))
                run = import_ucf_train;

    /* Every format: --out is not an input, exists only with --force, and
     * is locked while written.  --force is taken out here.  i3d's input is
     * its one positional argument (the weights). */
    char **args = malloc(((size_t)argc + 1) * sizeof *args);
    if (!args) {
        fprintf(stderr, "arnet %s: out of memory\n", CMD);
        return CLI_EXIT_FAIL;
    }
    static const char *const in_opts[] = {"--list", "--gt", "--annotations", "--train-list"};
    static const char *const in_what[] = {"the list --list", "the ground truth --gt",
                                          "the annotations --annotations",
                                          "the list --train-list", "the weights"};
    const char *out = NULL, *in[5] = {NULL, NULL, NULL, NULL, NULL};
    int n = 0, force = 0;
    for (int i = 0; i < argc; i++) {
        if (i >= 2 && !strcmp(argv[i], "--force")) {
            force = 1;
            continue;
        }
        args[n++] = argv[i];
        if (run == cmd_import_i3d && i >= 2 && argv[i][0] != '-' && !in[4] &&
            strcmp(argv[i - 1], "--out") && strcmp(argv[i - 1], "--level"))
            in[4] = argv[i];
        const char *v;
        int j = i;
        if (i + 1 >= argc && !strchr(argv[i], '='))
            continue; /* a missing value: the format's parser says so */
        if (i >= 2 && cli_opt_value(CMD, argc, argv, &j, "--out", &v) == 1)
            out = v;
        for (int k = 0; k < 4; k++)
            if (i >= 2 && (j = i, cli_opt_value(CMD, argc, argv, &j, in_opts[k], &v) == 1))
                in[k] = v;
    }
    args[n] = NULL;
    cli_output o;
    int code = 0;
    if (out) {
        cli_output_init(&o, "--out", out, 0);
        for (int k = 0; k < 5 && !code; k++)
            if (in[k])
                code = cli_output_not_input(CMD, &o, in_what[k], in[k]);
        if (!code)
            code = cli_output_lock(CMD, &o);
        if (!code)
            import_out = &o;
        if (!code)
            code = cli_output_absent(CMD, &o, NULL, force, NULL);
    }
    if (!code)
        code = run(n, args);
    if (import_out)
        cli_output_release(&o);
    import_out = NULL;
    free(args);
    return code;
}
