/* manifest.c -- loading a data set from a manifest file (format in
 * docs/data.md): parsing, path resolution, frame-range ground truth. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

/* Frames per clip: range ground truth is laid over 16 * T frames because the
 * feature extractors (C3D, I3D) see 16-frame clips. */
#define FRAMES_PER_CLIP 16
#define MAX_FIELDS 3

typedef struct line_ctx {
    const char *manifest;
    size_t line;
} line_ctx;

/* dir of the manifest (with trailing '/') + rel, or rel itself if absolute. */
static char *resolve(const char *manifest, const char *rel)
{
    if (rel[0] == '/')
        return arnet__strdup(rel);
    const char *slash = strrchr(manifest, '/');
    size_t dlen = slash ? (size_t)(slash - manifest) + 1 : 0;
    size_t rlen = strlen(rel);
    char *out = arnet__alloc(dlen + rlen + 1, 1, "path");
    if (!out)
        return NULL;
    memcpy(out, manifest, dlen);
    memcpy(out + dlen, rel, rlen + 1);
    return out;
}

static int parse_u64(const char *s, const char *e, uint64_t *out)
{
    if (s == e)
        return 0;
    uint64_t v = 0;
    for (; s < e; s++) {
        if (*s < '0' || *s > '9')
            return 0;
        unsigned d = (unsigned)(*s - '0');
        if (v > (UINT64_MAX - d) / 10)
            return 0;
        v = v * 10 + d;
    }
    *out = v;
    return 1;
}

/* "a-b,c-d": validate the whole text first (so garbage is reported even when
 * frames is too short to hold it), marking frames as it goes; ranges beyond
 * the video's 16 * T frames are clipped. */
static int parse_ranges(const line_ctx *lc, const char *text, uint8_t *frames, size_t n)
{
    const char *p = text;
    size_t idx = 0;
    for (;;) {
        const char *comma = strchr(p, ',');
        const char *end = comma ? comma : p + strlen(p);
        const char *dash = memchr(p, '-', (size_t)(end - p));
        uint64_t a, b;
        idx++;
        if (!dash || !parse_u64(p, dash, &a) || !parse_u64(dash + 1, end, &b))
            return arnet__error(ARNET_E_FORMAT,
                                "%s:%zu: ground truth '%s': range %zu is not <start>-<end> "
                                "(inclusive frame numbers)",
                                lc->manifest, lc->line, text, idx);
        if (a > b)
            return arnet__error(ARNET_E_FORMAT,
                                "%s:%zu: ground truth '%s': range %zu starts after it ends "
                                "(%llu > %llu)",
                                lc->manifest, lc->line, text, idx, (unsigned long long)a,
                                (unsigned long long)b);
        for (uint64_t f = a; f <= b && f < n; f++)
            frames[f] = 1;
        if (!comma)
            break;
        p = comma + 1;
    }
    return ARNET_OK;
}

static int is_npy(const char *s)
{
    size_t n = strlen(s);
    return n >= 4 && strcmp(s + n - 4, ".npy") == 0;
}

/* One non-blank line, already split into fields. */
static int load_line(arnet_dataset *ds, const line_ctx *lc, char **field, int n_fields,
                     const arnet_npy_options *nopt)
{
    int label;
    if (strcmp(field[1], "0") == 0)
        label = 0;
    else if (strcmp(field[1], "1") == 0)
        label = 1;
    else
        return arnet__error(ARNET_E_FORMAT, "%s:%zu: label '%s' must be 0 or 1", lc->manifest,
                            lc->line, field[1]);
    const char *gt = n_fields == 3 ? field[2] : "-";
    int gt_npy = strcmp(gt, "-") != 0 && is_npy(gt);
    if (strcmp(gt, "-") != 0 && !gt_npy) {
        /* Validate range syntax before the (possibly large) features are read. */
        int rc = parse_ranges(lc, gt, NULL, 0);
        if (rc)
            return rc;
    }

    char *fpath = resolve(lc->manifest, field[0]);
    if (!fpath)
        return ARNET_E_NOMEM;
    float *feat = NULL;
    size_t T = 0;
    uint32_t F = 0;
    int rc = arnet_npy_read(fpath, nopt, &feat, &T, &F);
    free(fpath);
    if (rc) {
        arnet__error_prefix("%s:%zu", lc->manifest, lc->line);
        return rc;
    }

    uint8_t *frames = NULL;
    size_t n_frames = 0;
    if (gt_npy) {
        char *gpath = resolve(lc->manifest, gt);
        if (!gpath) {
            free(feat);
            return ARNET_E_NOMEM;
        }
        rc = arnet_npy_read_labels(gpath, &frames, &n_frames);
        free(gpath);
        if (rc) {
            free(feat);
            arnet__error_prefix("%s:%zu", lc->manifest, lc->line);
            return rc;
        }
    } else if (strcmp(gt, "-") != 0) {
        if (T > SIZE_MAX / FRAMES_PER_CLIP) {
            free(feat);
            return arnet__error(ARNET_E_FORMAT, "%s:%zu: too many clips", lc->manifest,
                                lc->line);
        }
        n_frames = T * FRAMES_PER_CLIP;
        frames = arnet__calloc(n_frames, 1, "frame labels");
        if (!frames) {
            free(feat);
            return ARNET_E_NOMEM;
        }
        rc = parse_ranges(lc, gt, frames, n_frames);
        if (rc) {
            free(feat);
            free(frames);
            return rc;
        }
    }
    char *name = arnet__strdup(field[0]);
    if (!name) {
        free(feat);
        free(frames);
        return ARNET_E_NOMEM;
    }
    rc = arnet__dataset_add_owned(ds, name, feat, T, F, label, frames, n_frames);
    if (rc)
        arnet__error_prefix("%s:%zu", lc->manifest, lc->line);
    return rc;
}

int arnet_dataset_load_manifest(const char *path, const arnet_load_options *opt,
                                arnet_dataset **out)
{
    if (!path || !out)
        return arnet__error(ARNET_E_INVALID, "arnet_dataset_load_manifest: %s is NULL",
                            path ? "out" : "path");
    arnet_load_options o;
    arnet_load_options_init(&o);
    if (opt) {
        if (opt->struct_size < sizeof *opt)
            return arnet__error(ARNET_E_INVALID,
                                "arnet_dataset_load_manifest: options struct_size %zu < %zu "
                                "(call arnet_load_options_init first)",
                                opt->struct_size, sizeof *opt);
        o = *opt;
    }
    if (o.crop < -1)
        return arnet__error(ARNET_E_INVALID, "arnet_dataset_load_manifest: crop %d (use -1 "
                                             "or 0..C-1)",
                            o.crop);
    arnet_npy_options nopt;
    arnet_npy_options_init(&nopt);
    nopt.crop = o.crop;

    FILE *fp = fopen(path, "r");
    if (!fp)
        return arnet__error(ARNET_E_IO, "%s: cannot open: %s", path, strerror(errno));
    arnet_dataset *ds;
    int rc = arnet_dataset_create(o.feature_dim, &ds);
    if (rc) {
        fclose(fp);
        return rc;
    }
    char *line = NULL;
    size_t cap = 0;
    ssize_t len;
    line_ctx lc = {path, 0};
    errno = 0;
    while ((len = getline(&line, &cap, fp)) >= 0) {
        lc.line++;
        if ((size_t)len != strlen(line)) {
            rc = arnet__error(ARNET_E_FORMAT, "%s:%zu: NUL byte in the line", path, lc.line);
            break;
        }
        /* Split on blanks; '#' at the start of a field comments out the rest.
         * A UTF-8 byte order mark (Windows editors write one) is skipped. */
        char *field[MAX_FIELDS + 1];
        int nf = 0;
        char *p = line;
        if (lc.line == 1 && len >= 3 && !memcmp(line, "\xEF\xBB\xBF", 3))
            p += 3;
        for (;;) {
            while (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n')
                p++;
            if (*p == '\0' || *p == '#')
                break;
            if (nf <= MAX_FIELDS)
                field[nf] = p;
            nf++;
            while (*p && *p != ' ' && *p != '\t' && *p != '\r' && *p != '\n')
                p++;
            if (*p)
                *p++ = '\0';
            else
                break;
        }
        if (nf == 0)
            continue;
        if (nf < 2 || nf > MAX_FIELDS) {
            rc = arnet__error(ARNET_E_FORMAT,
                              "%s:%zu: expected '<features.npy> <label> [<ground truth>]', "
                              "found %d field%s",
                              path, lc.line, nf, nf == 1 ? "" : "s");
            break;
        }
        if ((rc = load_line(ds, &lc, field, nf, &nopt)))
            break;
        errno = 0;
    }
    if (!rc && ferror(fp))
        rc = arnet__error(ARNET_E_IO, "%s:%zu: read error: %s", path, lc.line + 1,
                          strerror(errno));
    if (!rc && ds->n_videos == 0)
        rc = arnet__error(ARNET_E_FORMAT, "%s: no videos in the manifest", path);
    free(line);
    fclose(fp);
    if (rc) {
        arnet_dataset_free(ds);
        return rc;
    }
    *out = ds;
    return ARNET_OK;
}
