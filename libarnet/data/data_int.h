/* data_int.h -- what the data part (data/) shares with the parts above it:
 * the data set's videos and mapped feature files, and the metrics kernel.
 * On the core (internal.h). */
#ifndef ARNET_DATA_INT_H
#define ARNET_DATA_INT_H

#include "internal.h"

/* ---- data sets (dataset.c) ------------------------------------------------ */

/* A feature file mapped read-only (arnet_load_options.mmap): the data
 * stay in the page cache, shared, and rows are computed when needed. */
typedef struct arnet__map {
    void *base;        /* for munmap */
    size_t len;
    const float *data; /* first element: native float32, C order */
    size_t T, C, F;    /* clips, crops (1 for [T, F]), features */
    int ctf;           /* [C, T, F] */
} arnet__map;

/* Where a mapped video's rows come from: one file, or RGB + flow side by
 * side (T is the shorter's); crop -1 = mean of the crops, else that crop. */
typedef struct arnet__src {
    arnet__map part[2];    /* a file, or the first file of a crop set */
    arnet__map *extra[2];  /* a crop set's other files (n_files - 1), or NULL */
    size_t n_files[2];     /* 1, or the crop set's files */
    int n_parts;
    int crop;
} arnet__src;

/* Unmap and free a source (NULL is fine). */
void arnet__src_free(arnet__src *src);

/* Map path's data when it is native float32 in C order, the data 4-byte
 * aligned: ARNET_OK; 1 when it is another kind of .npy (read it instead);
 * errors as arnet_npy_read's (the layout rule included). */
int arnet__npy_map(const char *path, int layout, arnet__map *out);
void arnet__map_free(arnet__map *m);

typedef struct arnet__video {
    char *name;
    int label;
    size_t n_clips;
    float *features;       /* n_clips x feature_dim */
    size_t n_frames;       /* 0 = no frame ground truth */
    uint8_t *frame_labels; /* n_frames 0/1, or NULL */
    int crop;              /* ARNET_CROP_EACH entries: the crop (0..group-1), else -1 */
    size_t group;          /* on crop 0 of such entries: the crops that follow it, 1..C */
    arnet__src *src;       /* mapped (features NULL unless one [T, F] file), or NULL */
} arnet__video;

/* Rows t0 .. t0 + n - 1 of v as n x F floats into out (F the data set's
 * feature_dim): the same floats arnet_npy_read gives (crop means in
 * double, rounded once). */
void arnet__video_rows(const arnet__video *v, size_t F, size_t t0, size_t n, float *out);
/* Done with v's rows for now: drop its mapped pages from this process
 * (they stay in the page cache), so that the resident set does not grow
 * with the data set.  Nothing for a loaded video. */
void arnet__video_release(const arnet__video *v);
/* Add a mapped video (src [transferred], freed on failure). */
int arnet__dataset_add_mapped(arnet_dataset *ds, char *name, arnet__src *src, size_t n_clips,
                              uint32_t feature_dim, int label, uint8_t *frame_labels,
                              size_t n_frames);

struct arnet_dataset {
    uint32_t feature_dim;
    size_t n_videos;
    size_t cap;
    arnet__video *videos;
    size_t n_label[2];
};

/* Add a video whose buffers the data set takes over (name, features,
 * frame_labels [transferred], freed on failure too), so that loading a
 * manifest never holds two copies of the features. */
int arnet__dataset_add_owned(arnet_dataset *ds, char *name, float *features, size_t n_clips,
                             uint32_t feature_dim, int label, uint8_t *frame_labels,
                             size_t n_frames);

/* The crop layout of a rank-3 feature file [a, b, F] (ARNET_LAYOUT_*),
 * resolving AUTO by the crop-count rule in arnet.h; errors name path. */
int arnet__npy_layout(const char *path, uint64_t a, uint64_t b, int layout, int *resolved);

/* ---- metrics (metrics.c) -------------------------------------------------- */

/* ROC AUC, average precision and trapezoidal PR area from one sort (any of
 * the outputs may be NULL).  fn names the public caller in error messages. */
int arnet__binary_metrics(const char *fn, const float *scores, const uint8_t *labels, size_t n,
                          double *auc, double *ap, double *pr_auc);

#endif /* ARNET_DATA_INT_H */
