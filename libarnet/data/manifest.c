/* manifest.c -- manifests (format in docs/data.md): loading a data set from one
 * (parsing, path resolution, frame-range ground truth) and writing one. */
#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "data_int.h"
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

static int exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0;
}

/* One part of a line's first column, resolved: a file, or a crop set
 * "name__{0..4}.npy" (one [T, F] file per crop, as XD-Violence publishes
 * them), paths[0..n). */
typedef struct part {
    char **paths;
    size_t n;
    int set; /* a crop set, even of one file */
} part;

static void part_free(part *p)
{
    for (size_t i = 0; i < p->n; i++)
        free(p->paths[i]);
    free(p->paths);
    memset(p, 0, sizeof *p);
}

/* text[0..len) resolved; "{a..b}" in it (a <= b, at most 64 crops) is a
 * crop set unless the path exists whole. */
static int part_parse(const line_ctx *lc, const char *text, size_t len, part *out)
{
    memset(out, 0, sizeof *out);
    char *t = arnet__alloc(len + 1, 1, "path");
    if (!t)
        return ARNET_E_NOMEM;
    memcpy(t, text, len);
    t[len] = '\0';
    char *whole = resolve(lc->manifest, t);
    if (!whole) {
        free(t);
        return ARNET_E_NOMEM;
    }
    char *open = strchr(t, '{');
    unsigned a = 0, b = 0;
    int used = 0;
    if (open && !exists(whole) &&
        sscanf(open, "{%u..%u}%n", &a, &b, &used) == 2 && used > 0) {
        free(whole);
        if (a > b || b - a >= 64) {
            free(t);
            return arnet__error(ARNET_E_FORMAT,
                                "%s:%zu: crop set {%u..%u} must count up, at most 64 crops",
                                lc->manifest, lc->line, a, b);
        }
        out->set = 1;
        out->n = (size_t)(b - a) + 1;
        out->paths = arnet__calloc(out->n, sizeof *out->paths, "crop paths");
        int rc = out->paths ? ARNET_OK : ARNET_E_NOMEM;
        size_t plen = (size_t)(open - t), slen = strlen(open + used);
        for (size_t k = 0; k < out->n && !rc; k++) {
            char *one = arnet__alloc(plen + slen + 16, 1, "path");
            if (!one) {
                rc = ARNET_E_NOMEM;
                break;
            }
            snprintf(one, plen + slen + 16, "%.*s%zu%s", (int)plen, t, (size_t)a + k,
                     open + used);
            out->paths[k] = resolve(lc->manifest, one);
            free(one);
            if (!out->paths[k])
                rc = ARNET_E_NOMEM;
        }
        free(t);
        if (rc)
            part_free(out);
        return rc;
    }
    free(t);
    out->paths = arnet__alloc(1, sizeof *out->paths, "path");
    if (!out->paths) {
        free(whole);
        return ARNET_E_NOMEM;
    }
    out->paths[0] = whole;
    out->n = 1;
    return ARNET_OK;
}

/* The first column as one or two parts: "rgb.npy+flow.npy" splits just
 * after the first ".npy" followed by '+', unless the path exists whole
 * ('+' and all). */
static int field_parse(const line_ctx *lc, const char *field, part parts[2], int *n_parts)
{
    const char *p = strstr(field, ".npy+");
    int pair = 0;
    if (p && p[5]) {
        char *whole = resolve(lc->manifest, field);
        if (!whole)
            return ARNET_E_NOMEM;
        pair = !exists(whole);
        free(whole);
    }
    size_t n0 = pair ? (size_t)(p + 4 - field) : strlen(field);
    int rc = part_parse(lc, field, n0, &parts[0]);
    if (!rc && pair && (rc = part_parse(lc, p + 5, strlen(p + 5), &parts[1])))
        part_free(&parts[0]);
    *n_parts = pair ? 2 : 1;
    return rc;
}

/* Shape of one feature file as [T, C, F] (C = 1 for [T, F]), by the
 * layout rule; errors name the file. */
static int feature_shape(const char *path, int layout, size_t *T, size_t *C, size_t *F)
{
    arnet_npy_info info;
    arnet_npy_info_init(&info);
    int rc = arnet_npy_info_read(path, &info);
    if (rc)
        return rc;
    if (info.ndim != 2 && info.ndim != 3)
        return arnet__error(ARNET_E_FORMAT, "%s: rank %d; features must be [T, F] or [T, C, F]",
                            path, info.ndim);
    int l = ARNET_LAYOUT_TCF;
    if (info.ndim == 3 && (rc = arnet__npy_layout(path, info.shape[0], info.shape[1], layout,
                                                  &l)))
        return rc;
    int ctf = info.ndim == 3 && l == ARNET_LAYOUT_CTF;
    *T = (size_t)info.shape[ctf ? 1 : 0];
    *C = info.ndim == 3 ? (size_t)info.shape[ctf ? 0 : 1] : 1;
    *F = (size_t)info.shape[info.ndim - 1];
    return ARNET_OK;
}

/* Crops of a part: a crop set's count (its files must be [T, F]), else
 * the file's crop axis (1 without one). */
static int part_crops(const part *p, int layout, size_t *crops)
{
    size_t T, C = 1, F;
    for (size_t k = 0; k < p->n; k++) {
        int rc = feature_shape(p->paths[k], layout, &T, &C, &F);
        if (rc)
            return rc;
        if (p->set && C != 1)
            return arnet__error(ARNET_E_FORMAT,
                                "%s: a file of a crop set must be [T, F] (one crop), this one "
                                "has %zu crops",
                                p->paths[k], C);
    }
    *crops = p->set ? p->n : C;
    return ARNET_OK;
}

/* A part's features as T x F: a file as arnet_npy_read reads it; a crop
 * set by crop (nopt->crop) or the mean of its files (summed in double in
 * file order, divided once: the [T, C, F] reader's floats). */
static int part_read(const part *p, const arnet_npy_options *nopt, float **feat, size_t *T,
                     uint32_t *F)
{
    if (!p->set)
        return arnet_npy_read(p->paths[0], nopt, feat, T, F);
    size_t crops;
    int rc = part_crops(p, nopt->layout, &crops);
    if (rc)
        return rc;
    arnet_npy_options one = *nopt;
    one.crop = -1;
    if (nopt->crop >= 0) {
        if ((size_t)nopt->crop >= p->n)
            return arnet__error(ARNET_E_INVALID, "%s...: crop %d out of range: %zu crop files",
                                p->paths[0], nopt->crop, p->n);
        return arnet_npy_read(p->paths[nopt->crop], &one, feat, T, F);
    }
    double *acc = NULL;
    float *x = NULL;
    size_t t0 = 0;
    uint32_t f0 = 0;
    for (size_t k = 0; k < p->n && !rc; k++) {
        size_t t;
        uint32_t f;
        if ((rc = arnet_npy_read(p->paths[k], &one, &x, &t, &f)))
            break;
        if (k == 0) {
            t0 = t;
            f0 = f;
            acc = arnet__calloc(t * f, sizeof *acc, "crop sums");
            if (!acc)
                rc = ARNET_E_NOMEM;
        } else if (t != t0 || f != f0) {
            rc = arnet__error(ARNET_E_SHAPE,
                              "crop files %s ([%zu, %u]) and %s ([%zu, %u]) differ in shape",
                              p->paths[0], t0, (unsigned)f0, p->paths[k], t, (unsigned)f);
        }
        for (size_t i = 0; !rc && i < t * f; i++)
            acc[i] += x[i];
        if (k + 1 < p->n || rc) {
            free(x);
            x = NULL;
        }
    }
    if (!rc) { /* x is the last file's buffer: reuse it for the mean */
        for (size_t i = 0; i < t0 * f0; i++)
            x[i] = (float)(acc[i] / (double)p->n);
        *feat = x;
        *T = t0;
        *F = f0;
    }
    free(acc);
    return rc;
}

/* The features of a line's first column: one part, or RGB + flow read
 * separately and concatenated per clip ([rgb_t, flow_t]).  Clip counts
 * that differ by one are trimmed to the shorter (public RGB and flow
 * extractions often do); more is ARNET_E_SHAPE naming both files. */
static int read_features(const part *parts, int n_parts, const arnet_npy_options *nopt,
                         float **feat, size_t *T, uint32_t *F)
{
    if (n_parts == 1)
        return part_read(&parts[0], nopt, feat, T, F);
    float *pf[2] = {NULL, NULL};
    size_t t[2] = {0, 0};
    uint32_t f[2] = {0, 0};
    float *out = NULL;
    int rc = ARNET_OK;
    for (int k = 0; k < 2 && !rc; k++)
        rc = part_read(&parts[k], nopt, &pf[k], &t[k], &f[k]);
    if (!rc && (t[0] > t[1] + 1 || t[1] > t[0] + 1))
        rc = arnet__error(ARNET_E_SHAPE,
                          "RGB %s has %zu clips and flow %s has %zu: they differ by more than "
                          "one clip",
                          parts[0].paths[0], t[0], parts[1].paths[0], t[1]);
    if (!rc && (uint64_t)f[0] + f[1] > UINT32_MAX)
        rc = arnet__error(ARNET_E_SHAPE, "%s + %s: feature dimension overflows",
                          parts[0].paths[0], parts[1].paths[0]);
    size_t n = t[0] < t[1] ? t[0] : t[1];
    size_t width = (size_t)f[0] + f[1];
    if (!rc && !(out = arnet__alloc(n * width, sizeof *out, "RGB + flow features")))
        rc = ARNET_E_NOMEM;
    if (!rc) {
        for (size_t i = 0; i < n; i++) {
            memcpy(out + i * width, pf[0] + i * f[0], f[0] * sizeof *out);
            memcpy(out + i * width + f[0], pf[1] + i * f[1], f[1] * sizeof *out);
        }
        *feat = out;
        *T = n;
        *F = (uint32_t)width;
    }
    free(pf[0]);
    free(pf[1]);
    return rc;
}

/* Crops of a line's feature file(s) for ARNET_CROP_EACH: RGB and flow
 * must have the same count. */
static int count_crops(const part *parts, int n_parts, int layout, size_t *crops)
{
    size_t c[2] = {0, 0};
    int rc = ARNET_OK;
    for (int k = 0; k < n_parts && !rc; k++)
        rc = part_crops(&parts[k], layout, &c[k]);
    if (!rc && n_parts == 2 && c[0] != c[1])
        rc = arnet__error(ARNET_E_SHAPE, "RGB %s has %zu crops and flow %s has %zu",
                          parts[0].paths[0], c[0], parts[1].paths[0], c[1]);
    if (!rc)
        *crops = c[0];
    return rc;
}

/* Map a line's files (arnet_load_options.mmap) for crop nopt->crop:
 * *src NULL when one of them cannot be mapped (another dtype or order):
 * the caller reads them instead.  Same checks and messages as
 * reading (crop range, RGB and flow clip counts). */
static int map_features(const part *parts, int n_parts, const arnet_npy_options *nopt,
                        arnet__src **out, size_t *T, uint32_t *F)
{
    *out = NULL;
    arnet__src *src = arnet__calloc(1, sizeof *src, "mapped video");
    if (!src)
        return ARNET_E_NOMEM;
    int rc = ARNET_OK, fallback = 0;
    for (int k = 0; k < n_parts && !rc && !fallback; k++) {
        const part *pt = &parts[k];
        src->n_parts = k + 1;
        src->n_files[k] = pt->n;
        if (pt->n > 1) {
            src->extra[k] = arnet__calloc(pt->n - 1, sizeof *src->extra[k], "crop maps");
            if (!src->extra[k]) {
                rc = ARNET_E_NOMEM;
                break;
            }
        }
        for (size_t j = 0; j < pt->n && !rc && !fallback; j++) {
            arnet__map *m = j == 0 ? &src->part[k] : &src->extra[k][j - 1];
            rc = arnet__npy_map(pt->paths[j], nopt->layout, m);
            if (rc == 1) {
                fallback = 1;
                rc = ARNET_OK;
            } else if (!rc && pt->set && m->C != 1) {
                rc = arnet__error(ARNET_E_FORMAT,
                                  "%s: a file of a crop set must be [T, F] (one crop), this "
                                  "one has %zu crops",
                                  pt->paths[j], m->C);
            } else if (!rc && j > 0 && (m->T != src->part[k].T || m->F != src->part[k].F)) {
                rc = arnet__error(ARNET_E_SHAPE,
                                  "crop files %s ([%zu, %zu]) and %s ([%zu, %zu]) differ in "
                                  "shape",
                                  pt->paths[0], src->part[k].T, src->part[k].F, pt->paths[j],
                                  m->T, m->F);
            }
        }
        if (rc || fallback)
            break;
        size_t crops = pt->set ? pt->n : src->part[k].C;
        if (nopt->crop >= 0 && (crops == 1 && !pt->set))
            rc = arnet__error(ARNET_E_INVALID, "%s: crop %d requested but the file has no crop "
                                               "axis",
                              pt->paths[0], nopt->crop);
        else if (nopt->crop >= 0 && (size_t)nopt->crop >= crops)
            rc = arnet__error(ARNET_E_INVALID, "%s: crop %d out of range: %zu crops",
                              pt->paths[0], nopt->crop, crops);
    }
    size_t t0 = src->part[0].T, t1 = n_parts > 1 ? src->part[1].T : t0;
    if (!rc && !fallback && (t0 > t1 + 1 || t1 > t0 + 1))
        rc = arnet__error(ARNET_E_SHAPE,
                          "RGB %s has %zu clips and flow %s has %zu: they differ by more than "
                          "one clip",
                          parts[0].paths[0], t0, parts[1].paths[0], t1);
    size_t width = src->part[0].F + (n_parts > 1 ? src->part[1].F : 0);
    if (!rc && !fallback && width > UINT32_MAX)
        rc = arnet__error(ARNET_E_SHAPE, "%s: feature dimension overflows", parts[0].paths[0]);
    if (rc || fallback) {
        arnet__src_free(src);
        return rc;
    }
    src->crop = nopt->crop;
    *T = t0 < t1 ? t0 : t1;
    *F = (uint32_t)width;
    *out = src;
    return ARNET_OK;
}

/* One data set entry of a line: its features (by nopt->crop; mapped when
 * use_map and the files allow), its ground truth.  Errors carry the
 * "<manifest>:<line>: " prefix. */
static int load_entry(arnet_dataset *ds, const line_ctx *lc, const char *field0,
                      const part *parts, int n_parts, const arnet_npy_options *nopt, int label,
                      const char *gt, int gt_npy, int use_map)
{
    float *feat = NULL;
    arnet__src *src = NULL;
    size_t T = 0;
    uint32_t F = 0;
    int rc = use_map ? map_features(parts, n_parts, nopt, &src, &T, &F) : ARNET_OK;
    if (!rc && !src)
        rc = read_features(parts, n_parts, nopt, &feat, &T, &F);
    if (rc) {
        arnet__error_prefix("%s:%zu", lc->manifest, lc->line);
        return rc;
    }
    uint8_t *frames = NULL;
    size_t n_frames = 0;
    if (gt_npy) {
        char *gpath = resolve(lc->manifest, gt);
        rc = gpath ? arnet_npy_read_labels(gpath, &frames, &n_frames) : ARNET_E_NOMEM;
        free(gpath);
        if (rc && rc != ARNET_E_NOMEM)
            arnet__error_prefix("%s:%zu", lc->manifest, lc->line);
    } else if (strcmp(gt, "-") != 0) {
        if (T > SIZE_MAX / FRAMES_PER_CLIP) {
            rc = arnet__error(ARNET_E_FORMAT, "%s:%zu: too many clips", lc->manifest, lc->line);
        } else {
            n_frames = T * FRAMES_PER_CLIP;
            frames = arnet__calloc(n_frames, 1, "frame labels");
            rc = frames ? parse_ranges(lc, gt, frames, n_frames) : ARNET_E_NOMEM;
        }
    }
    char *name = rc ? NULL : arnet__strdup(field0);
    if (!rc && !name)
        rc = ARNET_E_NOMEM;
    if (rc) {
        free(feat);
        free(frames);
        arnet__src_free(src);
        return rc;
    }
    if (src)
        rc = arnet__dataset_add_mapped(ds, name, src, T, F, label, frames, n_frames);
    else
        rc = arnet__dataset_add_owned(ds, name, feat, T, F, label, frames, n_frames);
    if (rc)
        arnet__error_prefix("%s:%zu", lc->manifest, lc->line);
    return rc;
}

/* One non-blank line, already split into fields.  With ARNET_CROP_EACH
 * (each_crop) the video becomes one entry per crop, same label and ground
 * truth, marked as one group for the evaluation. */
static int load_line(arnet_dataset *ds, const line_ctx *lc, char **field, int n_fields,
                     const arnet_npy_options *nopt_in, int each_crop, int use_map)
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
    arnet_npy_options nopt = *nopt_in;
    size_t crops = 1;
    part parts[2];
    int n_parts = 0;
    int rc = field_parse(lc, field[0], parts, &n_parts);
    if (rc)
        return rc;
    if (each_crop && (rc = count_crops(parts, n_parts, nopt.layout, &crops)))
        arnet__error_prefix("%s:%zu", lc->manifest, lc->line);
    for (size_t k = 0; k < crops && !rc; k++) {
        if (each_crop)
            nopt.crop = crops > 1 ? (int)k : -1;
        rc = load_entry(ds, lc, field[0], parts, n_parts, &nopt, label, gt, gt_npy, use_map);
        if (!rc && each_crop) {
            ds->videos[ds->n_videos - 1].crop = (int)k;
            ds->videos[ds->n_videos - k - 1].group = crops;
        }
    }
    for (int k = 0; k < n_parts; k++)
        part_free(&parts[k]);
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
        int rc = ARNET__STRUCT_IN("arnet_dataset_load_manifest", arnet_load_options, &o, opt);
        if (rc)
            return rc;
    }
    if (o.crop < ARNET_CROP_EACH)
        return arnet__error(ARNET_E_INVALID, "arnet_dataset_load_manifest: crop %d (use -1, "
                                             "ARNET_CROP_EACH or 0..C-1)",
                            o.crop);
    int each_crop = o.crop == ARNET_CROP_EACH;
    arnet_npy_options nopt;
    arnet_npy_options_init(&nopt);
    nopt.crop = each_crop ? -1 : o.crop;
    nopt.layout = o.layout;

    FILE *fp;
    int rc = arnet__fopen_read(path, &fp, NULL);
    if (rc)
        return rc;
    arnet_dataset *ds;
    rc = arnet_dataset_create(o.feature_dim, &ds);
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
        if ((rc = load_line(ds, &lc, field, nf, &nopt, each_crop, o.mmap)))
            break;
        errno = 0;
    }
    int read_errno = errno;
    if (!rc && ferror(fp))
        rc = arnet__error(ARNET_E_IO, "%s:%zu: read error: %s", path, lc.line + 1,
                          strerror(read_errno));
    else if (!rc && !feof(fp))
        /* getline stopped before the end without a stream error: it could
         * not grow its line buffer.  Not the end of the manifest. */
        rc = arnet__error(read_errno == ENOMEM || !read_errno ? ARNET_E_NOMEM : ARNET_E_IO,
                          "%s:%zu: cannot read the line: %s", path, lc.line + 1,
                          strerror(read_errno ? read_errno : ENOMEM));
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

/* ---- writing ---------------------------------------------------------------- */

struct arnet_manifest_writer {
    char *path;
    char *text; /* the lines so far */
    size_t len, cap;
    size_t lines;
    int committed;
};

void arnet_manifest_entry_init(arnet_manifest_entry *e)
{
    if (!e)
        return;
    memset(e, 0, sizeof *e);
    e->struct_size = sizeof *e;
}

int arnet_manifest_writer_create(const char *path, arnet_manifest_writer **out)
{
    if (!path || !out)
        return arnet__error(ARNET_E_INVALID, "arnet_manifest_writer_create: %s is NULL",
                            path ? "out" : "path");
    if (!*path)
        return arnet__error(ARNET_E_INVALID, "arnet_manifest_writer_create: path is empty");
    arnet_manifest_writer *w = arnet__calloc(1, sizeof *w, "manifest writer");
    if (!w)
        return ARNET_E_NOMEM;
    w->path = arnet__strdup(path);
    if (!w->path) {
        free(w);
        return ARNET_E_NOMEM;
    }
    *out = w;
    return ARNET_OK;
}

void arnet_manifest_writer_free(arnet_manifest_writer *w)
{
    if (!w)
        return;
    free(w->path);
    free(w->text);
    free(w);
}

/* Append printf-formatted text to the writer's buffer. */
static int put(arnet_manifest_writer *w, const char *fmt, ...) ARNET_PRINTF(2, 3);
static int put(arnet_manifest_writer *w, const char *fmt, ...)
{
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(w->text ? w->text + w->len : NULL, w->cap - w->len, fmt, ap);
        va_end(ap);
        if (n < 0)
            return arnet__error(ARNET_E_INVALID, "%s: cannot format a line", w->path);
        if ((size_t)n < w->cap - w->len) {
            w->len += (size_t)n;
            return ARNET_OK;
        }
        size_t need;
        if (!arnet__add_size(w->len, (size_t)n + 1, &need) || need > SIZE_MAX / 2)
            return arnet__error(ARNET_E_NOMEM, "%s: manifest too large", w->path);
        size_t cap = w->cap ? w->cap : 4096;
        while (cap < need)
            cap *= 2;
        char *t = realloc(w->text, cap);
        if (!t)
            return arnet__error(ARNET_E_NOMEM, "%s: cannot grow the manifest to %zu bytes",
                                w->path, cap);
        w->text = t;
        w->cap = cap;
    }
}

static int writable(const arnet_manifest_writer *w, const char *fn)
{
    if (!w)
        return arnet__error(ARNET_E_INVALID, "%s: writer is NULL", fn);
    if (w->committed)
        return arnet__error(ARNET_E_STATE, "%s: %s is already written (committed)", fn,
                            w->path);
    return ARNET_OK;
}

int arnet_manifest_writer_comment(arnet_manifest_writer *w, const char *text)
{
    static const char fn[] = "arnet_manifest_writer_comment";
    int rc = writable(w, fn);
    if (rc)
        return rc;
    if (!text)
        return arnet__error(ARNET_E_INVALID, "%s: text is NULL", fn);
    for (const unsigned char *p = (const unsigned char *)text; *p; p++)
        if ((*p < 0x20 && *p != '\t' && *p != '\n') || *p == 0x7f)
            return arnet__error(ARNET_E_INVALID,
                                "%s: %s: comment has control character 0x%02x at byte %zu", fn,
                                w->path, *p, (size_t)(p - (const unsigned char *)text));
    size_t keep = w->len;
    const char *line = text;
    do {
        size_t n = strcspn(line, "\n");
        rc = n ? put(w, "# %.*s\n", (int)n, line) : put(w, "#\n");
        line += n;
    } while (!rc && *line++ == '\n' && *line);
    if (rc)
        w->len = keep;
    return rc;
}

/* A path the loader reads back as one field: not empty, no blank or
 * control character, no '#' in front (that starts a comment). */
static int check_path(const arnet_manifest_writer *w, const char *fn, const char *field,
                      const char *p)
{
    size_t line = w->lines + 1;
    if (!p || !*p)
        return arnet__error(ARNET_E_INVALID, "%s: %s video %zu: %s is %s", fn, w->path, line,
                            field, p ? "empty" : "NULL");
    if (*p == '#')
        return arnet__error(ARNET_E_INVALID,
                            "%s: %s video %zu: %s '%s' starts with '#' (a comment)", fn,
                            w->path, line, field, p);
    for (const unsigned char *c = (const unsigned char *)p; *c; c++)
        if (*c <= 0x20 || *c == 0x7f)
            return arnet__error(ARNET_E_INVALID,
                                "%s: %s video %zu: %s '%s' has a %s (manifest fields are "
                                "separated by blanks)",
                                fn, w->path, line, field, p,
                                *c == ' ' || *c == '\t' ? "blank" : "control character");
    return ARNET_OK;
}

int arnet_manifest_writer_add(arnet_manifest_writer *w, const arnet_manifest_entry *e_in)
{
    static const char fn[] = "arnet_manifest_writer_add";
    int rc = writable(w, fn);
    if (rc)
        return rc;
    if (!e_in)
        return arnet__error(ARNET_E_INVALID, "%s: entry is NULL", fn);
    arnet_manifest_entry e;
    arnet_manifest_entry_init(&e);
    if ((rc = ARNET__STRUCT_IN(fn, arnet_manifest_entry, &e, e_in)))
        return rc;
    size_t line = w->lines + 1;
    if ((rc = check_path(w, fn, "features", e.features)))
        return rc;
    if (e.label != 0 && e.label != 1)
        return arnet__error(ARNET_E_INVALID, "%s: %s video %zu (%s): label %d is not 0 or 1",
                            fn, w->path, line, e.features, e.label);
    int forms = (e.gt_path != NULL) + (e.gt_ranges != NULL || e.n_gt_ranges != 0) +
                (e.frame_labels != NULL || e.n_frames != 0);
    if (forms > 1)
        return arnet__error(ARNET_E_INVALID,
                            "%s: %s video %zu (%s): more than one of gt_path, gt_ranges and "
                            "frame_labels",
                            fn, w->path, line, e.features);
    if (e.gt_path) {
        if ((rc = check_path(w, fn, "gt_path", e.gt_path)))
            return rc;
        size_t n = strlen(e.gt_path);
        if (n < 4 || strcmp(e.gt_path + n - 4, ".npy") != 0)
            return arnet__error(ARNET_E_INVALID,
                                "%s: %s video %zu (%s): gt_path '%s' does not end in .npy "
                                "(the loader would read it as frame ranges)",
                                fn, w->path, line, e.features, e.gt_path);
    }
    if ((e.gt_ranges == NULL) != (e.n_gt_ranges == 0) ||
        (e.frame_labels == NULL) != (e.n_frames == 0))
        return arnet__error(ARNET_E_INVALID,
                            "%s: %s video %zu (%s): %s without its count (or a count without "
                            "the array)",
                            fn, w->path, line, e.features,
                            (e.gt_ranges == NULL) != (e.n_gt_ranges == 0) ? "gt_ranges"
                                                                          : "frame_labels");
    for (size_t i = 0; i < e.n_gt_ranges; i++)
        if (e.gt_ranges[2 * i] > e.gt_ranges[2 * i + 1])
            return arnet__error(ARNET_E_INVALID,
                                "%s: %s video %zu (%s): range %zu starts after it ends "
                                "(%llu > %llu)",
                                fn, w->path, line, e.features, i + 1,
                                (unsigned long long)e.gt_ranges[2 * i],
                                (unsigned long long)e.gt_ranges[2 * i + 1]);
    size_t first = e.n_frames;
    for (size_t i = 0; i < e.n_frames && first == e.n_frames; i++)
        if (e.frame_labels[i])
            first = i;
    if (e.n_frames && first == e.n_frames)
        return arnet__error(ARNET_E_INVALID,
                            "%s: %s video %zu (%s): frame_labels mark no anomalous frame, which "
                            "ranges cannot say (write them as a .npy and give gt_path)",
                            fn, w->path, line, e.features);
    if (e.label == 0 && (e.n_gt_ranges || e.n_frames))
        return arnet__error(ARNET_E_INVALID,
                            "%s: %s video %zu (%s): labelled normal (0) but its ground truth "
                            "marks frame %llu anomalous",
                            fn, w->path, line, e.features,
                            (unsigned long long)(e.n_frames ? first : e.gt_ranges[0]));
    size_t keep = w->len;
    rc = put(w, "%s %d ", e.features, e.label);
    if (!rc && e.gt_path)
        rc = put(w, "%s", e.gt_path);
    for (size_t i = 0; !rc && i < e.n_gt_ranges; i++)
        rc = put(w, "%s%llu-%llu", i ? "," : "", (unsigned long long)e.gt_ranges[2 * i],
                 (unsigned long long)e.gt_ranges[2 * i + 1]);
    int any = 0;
    for (size_t i = 0; !rc && i < e.n_frames;) {
        if (!e.frame_labels[i]) {
            i++;
            continue;
        }
        size_t j = i;
        while (j + 1 < e.n_frames && e.frame_labels[j + 1])
            j++;
        rc = put(w, "%s%zu-%zu", any ? "," : "", i, j);
        any = 1;
        i = j + 1;
    }
    if (!rc && forms == 0)
        rc = put(w, "-");
    if (!rc)
        rc = put(w, "\n");
    if (rc) {
        w->len = keep;
        return rc;
    }
    w->lines++;
    return ARNET_OK;
}

int arnet_manifest_writer_commit(arnet_manifest_writer *w)
{
    static const char fn[] = "arnet_manifest_writer_commit";
    int rc = writable(w, fn);
    if (rc)
        return rc;
    rc = arnet__atomic_write(w->path, w->text ? w->text : "", w->len);
    if (rc) {
        arnet__error_prefix("%s", fn);
        return rc;
    }
    w->committed = 1;
    return ARNET_OK;
}
