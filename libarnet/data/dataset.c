/* dataset.c -- the in-memory data set: videos (features, label, optional
 * frame ground truth) sharing one feature dimension, and its accessors. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "data_int.h"
#include "internal.h"

void arnet_load_options_init(arnet_load_options *opt)
{
    if (!opt)
        return;
    memset(opt, 0, sizeof *opt);
    opt->struct_size = sizeof *opt;
    opt->crop = -1;
    opt->feature_dim = 0;
    opt->layout = ARNET_LAYOUT_AUTO;
}

void arnet_video_info_init(arnet_video_info *info)
{
    if (!info)
        return;
    memset(info, 0, sizeof *info);
    info->struct_size = sizeof *info;
}

int arnet_dataset_create(uint32_t feature_dim, arnet_dataset **out)
{
    if (!out)
        return arnet__error(ARNET_E_INVALID, "arnet_dataset_create: out is NULL");
    arnet_dataset *ds = arnet__calloc(1, sizeof *ds, "data set");
    if (!ds)
        return ARNET_E_NOMEM;
    ds->feature_dim = feature_dim;
    *out = ds;
    return ARNET_OK;
}

void arnet__src_free(arnet__src *src)
{
    if (!src)
        return;
    for (int k = 0; k < 2; k++) {
        arnet__map_free(&src->part[k]);
        for (size_t j = 0; src->extra[k] && j + 1 < src->n_files[k]; j++)
            arnet__map_free(&src->extra[k][j]);
        free(src->extra[k]);
    }
    free(src);
}

static void video_clear(arnet__video *v)
{
    free(v->name);
    if (v->src)
        arnet__src_free(v->src);
    else
        free(v->features);
    free(v->frame_labels);
    memset(v, 0, sizeof *v);
}

void arnet_dataset_free(arnet_dataset *ds)
{
    if (!ds)
        return;
    for (size_t i = 0; i < ds->n_videos; i++)
        video_clear(&ds->videos[i]);
    free(ds->videos);
    free(ds);
}

/* Checks shared by the copying and the owning add; name is never NULL here. */
static int check_video(const arnet_dataset *ds, const char *name, const float *features,
                       size_t n_clips, uint32_t feature_dim, int label,
                       const uint8_t *frame_labels, size_t n_frames, int check_values)
{
    if (label != 0 && label != 1)
        return arnet__error(ARNET_E_INVALID, "video '%s': label is %d, must be 0 or 1", name,
                            label);
    if (n_clips == 0 || !features)
        return arnet__error(ARNET_E_INVALID, "video '%s': no clip features (n_clips = %zu)",
                            name, n_clips);
    if (feature_dim == 0)
        return arnet__error(ARNET_E_INVALID, "video '%s': feature_dim is 0", name);
    if (ds->feature_dim != 0 && feature_dim != ds->feature_dim)
        return arnet__error(ARNET_E_SHAPE,
                            "video '%s': feature dimension %u differs from the data set's %u",
                            name, (unsigned)feature_dim, (unsigned)ds->feature_dim);
    size_t total;
    if (!arnet__mul_size(n_clips, feature_dim, &total) ||
        !arnet__mul_size(total, sizeof(float), &total))
        return arnet__error(ARNET_E_INVALID, "video '%s': %zu x %u features overflow", name,
                            n_clips, (unsigned)feature_dim);
    if (check_values && arnet__check_finite(NULL, features, n_clips, feature_dim) != ARNET_OK) {
        arnet__error_prefix("video '%s'", name);
        return ARNET_E_INVALID;
    }
    if (n_frames > 0 && !frame_labels)
        return arnet__error(ARNET_E_INVALID, "video '%s': n_frames is %zu but frame_labels is NULL",
                            name, n_frames);
    if (label == 0 && frame_labels) {
        for (size_t i = 0; i < n_frames; i++)
            if (frame_labels[i])
                return arnet__error(ARNET_E_INVALID,
                                    "video '%s' is labelled normal (0) but its ground truth "
                                    "marks frame %zu anomalous",
                                    name, i);
    }
    return ARNET_OK;
}

static int grow(arnet_dataset *ds)
{
    if (ds->n_videos < ds->cap)
        return ARNET_OK;
    size_t cap = ds->cap ? ds->cap * 2 : 16;
    size_t bytes;
    if (!arnet__mul_size(cap, sizeof *ds->videos, &bytes))
        return arnet__error(ARNET_E_NOMEM, "data set: too many videos");
    arnet__video *v = realloc(ds->videos, bytes);
    if (!v)
        return arnet__error(ARNET_E_NOMEM, "data set: out of memory growing to %zu videos", cap);
    ds->videos = v;
    ds->cap = cap;
    return ARNET_OK;
}

/* Frame labels are stored as exact 0/1 so that callers and metrics never
 * have to normalise them again. */
static void normalise_labels(uint8_t *l, size_t n)
{
    for (size_t i = 0; i < n; i++)
        l[i] = l[i] ? 1 : 0;
}

static void commit_video(arnet_dataset *ds, char *name, float *features, size_t n_clips,
                         uint32_t feature_dim, int label, uint8_t *frame_labels,
                         size_t n_frames)
{
    arnet__video *v = &ds->videos[ds->n_videos++];
    v->name = name;
    v->label = label;
    v->n_clips = n_clips;
    v->features = features;
    v->n_frames = frame_labels ? n_frames : 0;
    v->frame_labels = frame_labels;
    v->crop = -1;
    v->group = 1;
    v->src = NULL;
    if (ds->feature_dim == 0)
        ds->feature_dim = feature_dim;
    ds->n_label[label]++;
}

int arnet_dataset_add(arnet_dataset *ds, const char *name, const float *features,
                      size_t n_clips, uint32_t feature_dim, int label,
                      const uint8_t *frame_labels, size_t n_frames)
{
    if (!ds)
        return arnet__error(ARNET_E_INVALID, "arnet_dataset_add: ds is NULL");
    char fallback[48];
    if (!name) {
        snprintf(fallback, sizeof fallback, "#%zu", ds->n_videos);
        name = fallback;
    }
    int rc = check_video(ds, name, features, n_clips, feature_dim, label, frame_labels,
                         n_frames, 1);
    if (rc)
        return rc;
    if ((rc = grow(ds)))
        return rc;
    char *nm = arnet__strdup(name);
    float *f = arnet__alloc(n_clips * feature_dim, sizeof(float), "video features");
    uint8_t *fl = NULL;
    if (frame_labels && n_frames > 0)
        fl = arnet__alloc(n_frames, 1, "frame labels");
    if (!nm || !f || (frame_labels && n_frames > 0 && !fl)) {
        free(nm);
        free(f);
        free(fl);
        return arnet__error(ARNET_E_NOMEM, "video '%s': out of memory copying it", name);
    }
    memcpy(f, features, n_clips * feature_dim * sizeof(float));
    if (fl) {
        memcpy(fl, frame_labels, n_frames);
        normalise_labels(fl, n_frames);
    }
    commit_video(ds, nm, f, n_clips, feature_dim, label, fl, n_frames);
    return ARNET_OK;
}

int arnet__dataset_add_owned(arnet_dataset *ds, char *name, float *features, size_t n_clips,
                             uint32_t feature_dim, int label, uint8_t *frame_labels,
                             size_t n_frames)
{
    int rc = check_video(ds, name, features, n_clips, feature_dim, label, frame_labels,
                         n_frames, 1);
    if (!rc)
        rc = grow(ds);
    if (rc) {
        free(name);
        free(features);
        free(frame_labels);
        return rc;
    }
    if (frame_labels)
        normalise_labels(frame_labels, n_frames);
    if (frame_labels && n_frames == 0) {
        free(frame_labels);
        frame_labels = NULL;
    }
    commit_video(ds, name, features, n_clips, feature_dim, label, frame_labels, n_frames);
    return ARNET_OK;
}

/* One part's row t (its F values) into out, by the source's crop rule. */
static void part_row(const arnet__map *m, int crop, size_t t, float *out)
{
    size_t F = m->F, C = m->C;
    if (C == 1 || crop >= 0) {
        size_t c = crop < 0 ? 0 : (size_t)crop;
        const float *r = m->data + (m->ctf ? (c * m->T + t) : (t * C + c)) * F;
        memcpy(out, r, F * sizeof *out);
        return;
    }
    /* The reader's mean: double sums in crop order, one rounding.  The
     * accumulation is in chunks of 256 to keep the sums on the stack. */
    for (size_t f0 = 0; f0 < F; f0 += 256) {
        size_t n = F - f0 < 256 ? F - f0 : 256;
        double acc[256];
        for (size_t f = 0; f < n; f++)
            acc[f] = 0.0;
        for (size_t c = 0; c < C; c++) {
            const float *r = m->data + (m->ctf ? (c * m->T + t) : (t * C + c)) * F + f0;
            for (size_t f = 0; f < n; f++)
                acc[f] += r[f];
        }
        for (size_t f = 0; f < n; f++)
            out[f0 + f] = (float)(acc[f] / (double)C);
    }
}

/* Part k's row t: a file by part_row, or a crop set's file crop, or the
 * mean of its files (double sums in file order, one rounding: the
 * reader's floats). */
static void set_row(const arnet__src *s, int k, size_t t, float *out)
{
    size_t n = s->n_files[k];
    if (n <= 1) {
        part_row(&s->part[k], s->crop, t, out);
        return;
    }
    size_t F = s->part[k].F;
    if (s->crop >= 0) {
        const arnet__map *m = s->crop == 0 ? &s->part[k] : &s->extra[k][s->crop - 1];
        memcpy(out, m->data + t * F, F * sizeof *out);
        return;
    }
    for (size_t f0 = 0; f0 < F; f0 += 256) {
        size_t w = F - f0 < 256 ? F - f0 : 256;
        double acc[256];
        for (size_t f = 0; f < w; f++)
            acc[f] = 0.0;
        for (size_t j = 0; j < n; j++) {
            const arnet__map *m = j == 0 ? &s->part[k] : &s->extra[k][j - 1];
            const float *r = m->data + t * F + f0;
            for (size_t f = 0; f < w; f++)
                acc[f] += r[f];
        }
        for (size_t f = 0; f < w; f++)
            out[f0 + f] = (float)(acc[f] / (double)n);
    }
}

void arnet__video_rows(const arnet__video *v, size_t F, size_t t0, size_t n, float *out)
{
    if (v->features) {
        memcpy(out, v->features + t0 * F, n * F * sizeof *out);
        return;
    }
    const arnet__src *s = v->src;
    size_t width = s->part[0].F + (s->n_parts > 1 ? s->part[1].F : 0);
    for (size_t i = 0; i < n; i++) {
        float *o = out + i * width;
        set_row(s, 0, t0 + i, o);
        if (s->n_parts > 1)
            set_row(s, 1, t0 + i, o + s->part[0].F);
    }
}

void arnet__video_release(const arnet__video *v)
{
    if (!v->src)
        return;
    for (int k = 0; k < v->src->n_parts; k++) {
        madvise(v->src->part[k].base, v->src->part[k].len, MADV_DONTNEED);
        for (size_t j = 0; j + 1 < v->src->n_files[k]; j++)
            madvise(v->src->extra[k][j].base, v->src->extra[k][j].len, MADV_DONTNEED);
    }
}

int arnet__dataset_add_mapped(arnet_dataset *ds, char *name, arnet__src *src, size_t n_clips,
                              uint32_t feature_dim, int label, uint8_t *frame_labels,
                              size_t n_frames)
{
    /* Not the values: checking them for NaN would read the whole set. */
    float probe[1] = {0.0f};
    int rc = check_video(ds, name, probe, n_clips, feature_dim, label, frame_labels, n_frames,
                         0);
    if (!rc)
        rc = grow(ds);
    if (rc) {
        free(name);
        arnet__src_free(src);
        free(frame_labels);
        return rc;
    }
    if (frame_labels)
        normalise_labels(frame_labels, n_frames);
    if (frame_labels && n_frames == 0) {
        free(frame_labels);
        frame_labels = NULL;
    }
    int direct = src->n_parts == 1 && src->n_files[0] <= 1 && src->part[0].C == 1;
    commit_video(ds, name, direct ? (float *)src->part[0].data : NULL, n_clips, feature_dim,
                 label, frame_labels, n_frames);
    ds->videos[ds->n_videos - 1].src = src;
    return ARNET_OK;
}

size_t arnet_dataset_size(const arnet_dataset *ds) { return ds ? ds->n_videos : 0; }

uint32_t arnet_dataset_feature_dim(const arnet_dataset *ds) { return ds ? ds->feature_dim : 0; }

size_t arnet_dataset_count(const arnet_dataset *ds, int label)
{
    if (!ds || (label != 0 && label != 1))
        return 0;
    return ds->n_label[label];
}

int arnet_dataset_video(const arnet_dataset *ds, size_t index, arnet_video_info *info)
{
    if (!ds || !info)
        return arnet__error(ARNET_E_INVALID, "arnet_dataset_video: %s is NULL",
                            ds ? "info" : "ds");
    int rc = ARNET__STRUCT_CHECK("arnet_dataset_video", arnet_video_info, info);
    if (rc)
        return rc;
    if (index >= ds->n_videos)
        return arnet__error(ARNET_E_INVALID,
                            "arnet_dataset_video: index %zu out of range (%zu videos)", index,
                            ds->n_videos);
    const arnet__video *v = &ds->videos[index];
    arnet_video_info full;
    arnet_video_info_init(&full);
    full.name = v->name;
    full.label = v->label;
    full.n_clips = v->n_clips;
    full.features = v->features;
    full.n_frames = v->n_frames;
    full.frame_labels = v->frame_labels;
    ARNET__STRUCT_OUT(arnet_video_info, info, &full);
    return ARNET_OK;
}

/* FNV-1a, 64 bits, over bytes. */
static uint64_t fnv1a(uint64_t h, const unsigned char *b, size_t n)
{
    for (size_t k = 0; k < n; k++)
        h = (h ^ b[k]) * 0x100000001b3ull;
    return h;
}

/* n floats as little-endian bytes, whatever the host's order. */
static uint64_t fnv1a_floats(uint64_t h, const float *x, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        uint32_t u;
        memcpy(&u, &x[i], sizeof u);
        unsigned char b[4] = {(unsigned char)u, (unsigned char)(u >> 8),
                              (unsigned char)(u >> 16), (unsigned char)(u >> 24)};
        h = fnv1a(h, b, 4);
    }
    return h;
}

int arnet_dataset_digest(const arnet_dataset *ds, uint64_t *digest)
{
    if (!ds || !digest)
        return arnet__error(ARNET_E_INVALID, "arnet_dataset_digest: %s is NULL",
                            ds ? "digest" : "ds");
    uint64_t h = 0xcbf29ce484222325ull;
    size_t F = ds->feature_dim;
    for (size_t i = 0; i < ds->n_videos; i++) {
        const arnet__video *v = &ds->videos[i];
        unsigned char label = (unsigned char)v->label;
        uint64_t clips = v->n_clips;
        unsigned char c[8];
        for (int k = 0; k < 8; k++)
            c[k] = (unsigned char)(clips >> (8 * k));
        h = fnv1a(h, &label, 1);
        h = fnv1a(h, c, 8);
        if (v->features) {
            h = fnv1a_floats(h, v->features, F);
            h = fnv1a_floats(h, v->features + (v->n_clips - 1) * F, F);
            continue;
        }
        float *row = arnet__alloc(F, sizeof *row, "digest row");
        if (!row)
            return ARNET_E_NOMEM;
        arnet__video_rows(v, F, 0, 1, row);
        h = fnv1a_floats(h, row, F);
        arnet__video_rows(v, F, v->n_clips - 1, 1, row);
        h = fnv1a_floats(h, row, F);
        free(row);
        arnet__video_release(v);
    }
    *digest = h;
    return ARNET_OK;
}
