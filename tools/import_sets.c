/* import_sets.c -- `arnet import` for the feature sets as published: the
 * UCF-Crime training list (Anomaly_Train.txt) and XD-Violence (one file
 * per crop, label in the name, annotations.txt).  The formats are in
 * docs/data.md. */
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli.h"
#include "import_sets.h"

#define CMD "import"
#define FRAMES_PER_CLIP 16

static int exists(const char *p)
{
    struct stat st;
    return stat(p, &st) == 0 && S_ISREG(st.st_mode);
}

/* The folder's absolute path (so the manifest works from anywhere). */
static char *abs_dir(const char *opt, const char *dir)
{
    char buf[PATH_MAX];
    if (!realpath(dir, buf)) {
        fprintf(stderr, "arnet import: %s %s: %s\n", opt, dir, strerror(errno));
        return NULL;
    }
    return strdup(buf);
}

/* One line of a list: blanks trimmed; 0 for a blank line. */
static int trim_line(char *line)
{
    size_t len = strlen(line);
    while (len && (line[len - 1] == '\n' || line[len - 1] == '\r' || line[len - 1] == ' ' ||
                   line[len - 1] == '\t'))
        line[--len] = '\0';
    return len > 0;
}

static void strip_end(char *s, const char *end)
{
    size_t n = strlen(s), e = strlen(end);
    if (n > e && !strcmp(s + n - e, end))
        s[n - e] = '\0';
}

/* ---- UCF-Crime training list ------------------------------------------------ */

/* Sultani's folders of normal videos. */
static int ucf_normal_folder(const char *folder, size_t len)
{
    static const char *normal[] = {"Normal", "Training_Normal_Videos_Anomaly",
                                   "Testing_Normal_Videos_Anomaly", "Normal_Videos_event"};
    for (size_t k = 0; k < sizeof normal / sizeof *normal; k++)
        if (strlen(normal[k]) == len && !strncmp(folder, normal[k], len))
            return 1;
    return 0;
}

/* End of an importer's list: a list of no video is an error; the manifest
 * is published (atomically) only when all went well, and freed always. */
static int finish_manifest(arnet_manifest_writer *mw, int status, size_t n, const char *list)
{
    int rc;
    if (!status && n == 0) {
        fprintf(stderr, "arnet import: %s lists no videos\n", list);
        status = CLI_EXIT_FAIL;
    }
    if (!status && (rc = arnet_manifest_writer_commit(mw)))
        status = cli_fail(CMD, rc, "writing the manifest");
    arnet_manifest_writer_free(mw);
    return status;
}

/* DIR/<stem><suffix>, or DIR/<folder>/<stem><suffix> (sets kept in class
 * folders); 0 when neither exists (out holds the first). */
static int ucf_find(char *out, size_t cap, const char *dir, const char *folder, size_t flen,
                    const char *stem, const char *suffix)
{
    char alt[PATH_MAX + 2048];
    snprintf(alt, sizeof alt, "%s/%.*s/%s%s", dir, (int)flen, folder, stem, suffix);
    snprintf(out, cap, "%s/%s%s", dir, stem, suffix);
    if (exists(out))
        return 1;
    if (flen && exists(alt)) {
        snprintf(out, cap, "%s", alt);
        return 1;
    }
    return 0;
}

int import_ucf_train(int argc, char **argv)
{
    cli_import_opts c = {NULL, NULL, NULL, ".npy", NULL};
    const char *list = NULL;
    for (int i = 2; i < argc; i++) {
        const char *v;
        int r;
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            import_sets_usage(stdout, 0);
            import_sets_usage(stdout, 1);
            return 0;
        }
        if ((r = cli_opt_value(CMD, argc, argv, &i, "--train-list", &v)))
            list = v;
        else if (!(r = cli_import_opt(CMD, argc, argv, &i, &c)))
            return cli_usage_error(CMD, "unknown option '%s' for ucf --train-list", argv[i]);
        if (r < 0)
            return CLI_EXIT_USAGE;
    }
    if (!list || !c.features_dir || !c.out)
        return cli_usage_error(CMD, "ucf --train-list needs --features-dir and --out");
    if (!c.flow_suffix)
        c.flow_suffix = c.suffix;
    char *dir = abs_dir("--features-dir", c.features_dir);
    char *fdir = dir && c.flow_dir ? abs_dir("--flow-dir", c.flow_dir) : NULL;
    if (!dir || (c.flow_dir && !fdir)) {
        free(dir);
        return CLI_EXIT_FAIL;
    }
    FILE *lf = cli_fopen_read(list);
    if (!lf) {
        fprintf(stderr, "arnet import: cannot open %s: %s\n", list, cli_open_error(list));
        free(dir);
        free(fdir);
        return CLI_EXIT_FAIL;
    }
    arnet_manifest_writer *mw = NULL;
    int rc = arnet_manifest_writer_create(c.out, &mw);
    char head[PATH_MAX + 64];
    snprintf(head, sizeof head, "imported by arnet import ucf from %s (labels only)",
             cli_base_name(list));
    if (!rc)
        rc = arnet_manifest_writer_comment(mw, head);
    int status = rc ? cli_fail(CMD, rc, c.out) : 0;
    char line[PATH_MAX];
    size_t lineno = 0, n = 0, n_anom = 0;
    while (!status && fgets(line, sizeof line, lf)) {
        lineno++;
        if (!trim_line(line))
            continue;
        /* "Abuse/Abuse001_x264.mp4": the folder is the class. */
        const char *slash = strrchr(line, '/');
        const char *folder = line;
        size_t flen = slash ? (size_t)(slash - line) : 0;
        const char *f0 = memchr(line, '/', flen) ? NULL : folder; /* one level only */
        if (!slash || !f0 || flen == 0) {
            fprintf(stderr,
                    "arnet import: %s:%zu: '%s' is not <class folder>/<video>.mp4 (the "
                    "label comes from the folder)\n",
                    list, lineno, line);
            status = CLI_EXIT_FAIL;
            break;
        }
        char stem[PATH_MAX];
        snprintf(stem, sizeof stem, "%s", slash + 1);
        strip_end(stem, ".mp4");
        int label = !ucf_normal_folder(folder, flen);
        char rgb[PATH_MAX + 2048], flow[PATH_MAX + 2048], both[2 * (PATH_MAX + 2048) + 2];
        if (!ucf_find(rgb, sizeof rgb, dir, folder, flen, stem, c.suffix)) {
            fprintf(stderr, "arnet import: %s:%zu: features of %s not found: %s\n", list,
                    lineno, slash + 1, rgb);
            status = CLI_EXIT_FAIL;
            break;
        }
        char what[128];
        snprintf(what, sizeof what, "%s:%zu", cli_base_name(list), lineno);
        size_t T;
        if ((status = cli_feature_clips(CMD, rgb, what, &T)))
            break;
        const char *features = rgb;
        if (fdir) {
            if (!ucf_find(flow, sizeof flow, fdir, folder, flen, stem, c.flow_suffix)) {
                fprintf(stderr, "arnet import: %s:%zu: flow features of %s not found: %s\n",
                        list, lineno, slash + 1, flow);
                status = CLI_EXIT_FAIL;
                break;
            }
            if ((status = cli_feature_clips(CMD, flow, what, &T)))
                break;
            snprintf(both, sizeof both, "%s+%s", rgb, flow);
            features = both;
        }
        arnet_manifest_entry e;
        arnet_manifest_entry_init(&e);
        e.features = features;
        e.label = label;
        if ((rc = arnet_manifest_writer_add(mw, &e))) {
            status = cli_fail(CMD, rc, c.out);
            break;
        }
        n++;
        n_anom += (size_t)label;
    }
    fclose(lf);
    status = finish_manifest(mw, status, n, list);
    free(dir);
    free(fdir);
    if (!status)
        fprintf(stderr, "arnet import: wrote %s (%zu videos, %zu anomalous, labels only)\n",
                c.out, n, n_anom);
    return status;
}

/* ---- XD-Violence ---------------------------------------------------------------- */

typedef struct xd_ann {
    char *name;
    uint64_t *ranges; /* pairs */
    size_t n;         /* pairs */
} xd_ann;

static void anns_free(xd_ann *a, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(a[i].name);
        free(a[i].ranges);
    }
    free(a);
}

/* annotations.txt: "name s1 e1 s2 e2 ..." in frames (names sometimes end
 * in .mp4). */
static int read_anns(const char *path, xd_ann **out, size_t *n_out)
{
    FILE *fp = cli_fopen_read(path);
    if (!fp) {
        fprintf(stderr, "arnet import: cannot open %s: %s\n", path, cli_open_error(path));
        return CLI_EXIT_FAIL;
    }
    xd_ann *a = NULL;
    size_t n = 0, cap = 0, lineno = 0;
    char line[8192];
    int status = 0;
    while (!status && fgets(line, sizeof line, fp)) {
        lineno++;
        char *save = NULL, *tok = strtok_r(line, " \t\r\n", &save);
        if (!tok)
            continue;
        if (n == cap) {
            cap = cap ? 2 * cap : 256;
            xd_ann *na = realloc(a, cap * sizeof *a);
            if (!na) {
                status = CLI_EXIT_FAIL;
                break;
            }
            a = na;
        }
        xd_ann *e = &a[n++];
        memset(e, 0, sizeof *e);
        e->name = strdup(tok);
        strip_end(e->name, ".mp4");
        size_t k = 0, rcap = 8;
        e->ranges = malloc(rcap * sizeof *e->ranges);
        while ((tok = strtok_r(NULL, " \t\r\n", &save))) {
            char *end;
            errno = 0;
            unsigned long long v = strtoull(tok, &end, 10);
            if (errno || *end || end == tok || tok[0] == '-') {
                fprintf(stderr, "arnet import: %s:%zu: '%s' is not a frame number\n", path,
                        lineno, tok);
                status = CLI_EXIT_FAIL;
                break;
            }
            if (k == rcap) {
                rcap *= 2;
                e->ranges = realloc(e->ranges, rcap * sizeof *e->ranges);
            }
            e->ranges[k++] = v;
        }
        if (status)
            break;
        if (k == 0 || k % 2) {
            fprintf(stderr,
                    "arnet import: %s:%zu: %s: expected 'name s1 e1 s2 e2 ...' (frame "
                    "pairs), found %zu number%s\n",
                    path, lineno, e->name, k, k == 1 ? "" : "s");
            status = CLI_EXIT_FAIL;
            break;
        }
        for (size_t j = 0; j < k; j += 2)
            if (e->ranges[j] > e->ranges[j + 1]) {
                fprintf(stderr, "arnet import: %s:%zu: %s: event %llu-%llu ends before it "
                                "starts\n",
                        path, lineno, e->name, (unsigned long long)e->ranges[j],
                        (unsigned long long)e->ranges[j + 1]);
                status = CLI_EXIT_FAIL;
                break;
            }
        e->n = k / 2;
    }
    fclose(fp);
    if (status) {
        anns_free(a, n);
        return status;
    }
    *out = a;
    *n_out = n;
    return 0;
}

/* "…/NAME__3.npy" (or NAME.npy, NAME.mp4, NAME): the video's name. */
static void xd_video_name(const char *entry, const char *suffix, char *out, size_t cap)
{
    snprintf(out, cap, "%s", cli_base_name(entry));
    strip_end(out, suffix);
    strip_end(out, ".npy");
    strip_end(out, ".mp4");
    size_t n = strlen(out);
    if (n > 3 && out[n - 3] == '_' && out[n - 2] == '_' && out[n - 1] >= '0' &&
        out[n - 1] <= '9')
        out[n - 3] = '\0';
}

/* Crops DIR/NAME__0SUF, __1SUF, ... present, counted from 0. */
static size_t xd_crops(const char *dir, const char *name, const char *suffix)
{
    char p[PATH_MAX + 2048];
    size_t k = 0;
    for (; k < 10; k++) {
        snprintf(p, sizeof p, "%s/%s__%zu%s", dir, name, k, suffix);
        if (!exists(p))
            break;
    }
    return k;
}

int import_xd(int argc, char **argv)
{
    cli_import_opts c = {NULL, NULL, NULL, ".npy", NULL};
    const char *list = NULL, *ann = NULL;
    for (int i = 2; i < argc; i++) {
        const char *v;
        int r;
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            import_sets_usage(stdout, 0);
            import_sets_usage(stdout, 1);
            return 0;
        }
        if ((r = cli_opt_value(CMD, argc, argv, &i, "--list", &v)))
            list = v;
        else if ((r = cli_opt_value(CMD, argc, argv, &i, "--annotations", &v)))
            ann = v;
        else if (!(r = cli_import_opt(CMD, argc, argv, &i, &c)))
            return cli_usage_error(CMD, "unknown option '%s' for xd", argv[i]);
        if (r < 0)
            return CLI_EXIT_USAGE;
    }
    if (!list || !c.features_dir || !c.out)
        return cli_usage_error(CMD, "xd needs --list, --features-dir and --out");
    if (!c.flow_suffix)
        c.flow_suffix = c.suffix;
    xd_ann *anns = NULL;
    size_t n_anns = 0;
    if (ann && read_anns(ann, &anns, &n_anns))
        return CLI_EXIT_FAIL;
    char *dir = abs_dir("--features-dir", c.features_dir);
    char *fdir = dir && c.flow_dir ? abs_dir("--flow-dir", c.flow_dir) : NULL;
    FILE *lf = dir && (!c.flow_dir || fdir) ? cli_fopen_read(list) : NULL;
    if (!lf) {
        if (dir && (!c.flow_dir || fdir))
            fprintf(stderr, "arnet import: cannot open %s: %s\n", list, cli_open_error(list));
        free(dir);
        free(fdir);
        anns_free(anns, n_anns);
        return CLI_EXIT_FAIL;
    }
    arnet_manifest_writer *mw = NULL;
    int rc = arnet_manifest_writer_create(c.out, &mw);
    char head[2 * PATH_MAX + 64];
    snprintf(head, sizeof head, "imported by arnet import xd from %s%s%s", cli_base_name(list),
             ann ? " and " : " (labels only)", ann ? cli_base_name(ann) : "");
    if (!rc)
        rc = arnet_manifest_writer_comment(mw, head);
    int status = rc ? cli_fail(CMD, rc, c.out) : 0;
    char line[PATH_MAX], name[PATH_MAX], prev[PATH_MAX] = "";
    size_t lineno = 0, n = 0, n_anom = 0, n_used_anns = 0;
    uint8_t *used = n_anns ? calloc(n_anns, 1) : NULL;
    while (!status && fgets(line, sizeof line, lf)) {
        lineno++;
        if (!trim_line(line))
            continue;
        xd_video_name(line, c.suffix, name, sizeof name);
        if (!strcmp(name, prev))
            continue; /* the next crop of the same video */
        snprintf(prev, sizeof prev, "%s", name);
        int label = strstr(name, "label_A") == NULL;
        size_t crops = xd_crops(dir, name, c.suffix);
        if (crops == 0) {
            fprintf(stderr, "arnet import: %s:%zu: no crop files of %s: %s/%s__0%s not found\n",
                    list, lineno, name, dir, name, c.suffix);
            status = CLI_EXIT_FAIL;
            break;
        }
        char what[128];
        snprintf(what, sizeof what, "%s:%zu", cli_base_name(list), lineno);
        char p[PATH_MAX + 2048];
        size_t T = 0, T1;
        for (size_t k = 0; k < crops && !status; k++) {
            snprintf(p, sizeof p, "%s/%s__%zu%s", dir, name, k, c.suffix);
            status = cli_feature_clips(CMD, p, what, k ? &T1 : &T);
            if (!status && k && T1 != T) {
                fprintf(stderr, "arnet import: %s: %s has %zu clips, crop 0 has %zu\n", what,
                        p, T1, T);
                status = CLI_EXIT_FAIL;
            }
        }
        if (status)
            break;
        char feat[3 * (PATH_MAX + 2048)];
        int len = snprintf(feat, sizeof feat, "%s/%s__{0..%zu}%s", dir, name, crops - 1,
                           c.suffix);
        if (fdir) {
            size_t fc = xd_crops(fdir, name, c.flow_suffix);
            if (fc != crops) {
                fprintf(stderr,
                        "arnet import: %s:%zu: %s has %zu RGB crop files in %s but %zu flow "
                        "crop files in %s\n",
                        list, lineno, name, crops, dir, fc, fdir);
                status = CLI_EXIT_FAIL;
                break;
            }
            snprintf(feat + len, sizeof feat - (size_t)len, "+%s/%s__{0..%zu}%s", fdir, name,
                     crops - 1, c.flow_suffix);
        }
        const xd_ann *a = NULL;
        for (size_t k = 0; k < n_anns && !a; k++)
            if (!strcmp(anns[k].name, name)) {
                a = &anns[k];
                if (!used[k]++)
                    n_used_anns++;
            }
        if (a && !label) {
            fprintf(stderr,
                    "arnet import: %s: %s is normal by its name (label_A) but %s gives it "
                    "events\n",
                    what, name, ann);
            status = CLI_EXIT_FAIL;
            break;
        }
        if (ann && label && !a) {
            fprintf(stderr,
                    "arnet import: %s: %s is violent by its name but %s has no events for "
                    "it: wrong annotations file?\n",
                    what, name, ann);
            status = CLI_EXIT_FAIL;
            break;
        }
        arnet_manifest_entry e;
        arnet_manifest_entry_init(&e);
        e.features = feat;
        e.label = label;
        if (a) {
            uint64_t frames = (uint64_t)T * FRAMES_PER_CLIP;
            for (size_t k = 0; k < a->n && !status; k++)
                if (a->ranges[2 * k] >= frames) {
                    fprintf(stderr,
                            "arnet import: %s: %s: event %llu-%llu starts past the %llu "
                            "frames (%zu clips x 16) of its features: wrong features?\n",
                            what, name, (unsigned long long)a->ranges[2 * k],
                            (unsigned long long)a->ranges[2 * k + 1],
                            (unsigned long long)frames, T);
                    status = CLI_EXIT_FAIL;
                }
            if (status)
                break;
            e.gt_ranges = a->ranges;
            e.n_gt_ranges = a->n;
        }
        if ((rc = arnet_manifest_writer_add(mw, &e))) {
            status = cli_fail(CMD, rc, c.out);
            break;
        }
        n++;
        n_anom += (size_t)label;
    }
    fclose(lf);
    status = finish_manifest(mw, status, n, list);
    if (!status) {
        fprintf(stderr, "arnet import: wrote %s (%zu videos, %zu violent", c.out, n, n_anom);
        if (ann && n_used_anns < n_anns)
            fprintf(stderr, "; %zu annotated videos of %s are not in the list",
                    n_anns - n_used_anns, cli_base_name(ann));
        fprintf(stderr, ")\n");
    }
    free(used);
    free(dir);
    free(fdir);
    anns_free(anns, n_anns);
    return status;
}

void import_sets_usage(FILE *f, int details)
{
    if (!details) {
        fprintf(f,
                "       arnet import ucf --train-list Anomaly_Train.txt --features-dir DIR\n"
                "                        --out MANIFEST [--suffix SUFFIX] [--flow-dir DIR]\n"
                "       arnet import xd --list LIST [--annotations annotations.txt]\n"
                "                       --features-dir DIR --out MANIFEST [--suffix SUFFIX]\n"
                "                       [--flow-dir DIR]\n");
        return;
    }
    fprintf(f,
            "ucf --train-list: lines <class>/<video>.mp4; label 0 for the folders Normal,\n"
            "  Training_Normal_Videos_Anomaly (and Testing_..., Normal_Videos_event), else 1;\n"
            "  features DIR/<video><SUFFIX> or DIR/<class>/<video><SUFFIX> (default .npy;\n"
            "  RTFM's ten-crop set: --suffix _i3d.npy).  Labels only: training.\n"
            "xd: LIST names the videos' feature files (one line per crop, as XDVioDet's\n"
            "  rgb.list, or one per video); a video's crops DIR/<name>__0<SUFFIX>,\n"
            "  __1, ... become one entry <name>__{0..4}.npy; label 0 when the name holds\n"
            "  label_A, else 1; annotations.txt lines 'name s1 e1 s2 e2 ...' (frames,\n"
            "  16 per clip) give the violent videos' ground truth.\n"
            "--flow-dir DIR (rtfm, ucf, xd): also the flow features of the same name in\n"
            "  DIR (ucf --train-list and xd: --flow-suffix S, default SUFFIX), written as\n"
            "  rgb.npy+flow.npy: read and concatenated per clip when loaded (1024 + 1024 =\n"
            "  2048 for I3D).\n");
}
