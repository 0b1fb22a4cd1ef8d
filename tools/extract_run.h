/* extract_run.h -- the record of an `arnet extract` run, kept in
 * DIR/arnet-extract/ beside the features so that any task on any machine
 * that sees DIR (a shared file system) can tell what is done, what failed
 * and what is being worked on (docs/video.md, "Many machines"):
 *
 *   DIR/arnet-extract/plan                 the list, its shards and settings
 *   DIR/arnet-extract/shard-K.claim        the task running shard K
 *   DIR/arnet-extract/videos/<stem>.claim  the process extracting a video
 *   DIR/arnet-extract/videos/<stem>.done   how DIR/<stem>.npy was made
 *   DIR/arnet-extract/videos/<stem>.failed why it could not be, attempts
 *
 * Every file is written whole (arnet_write_file) or, for claims, created
 * atomically with link(2).  Used by cmd_extract.c only. */
#ifndef ARNET_EXTRACT_RUN_H
#define ARNET_EXTRACT_RUN_H

#include <stddef.h>
#include <stdint.h>

/* ---- the plan ------------------------------------------------------------ */

typedef struct xr_video {
    char *path;  /* as listed */
    char *stem;  /* output name: DIR/<stem>.npy */
    int label;   /* 0, 1, or -1 when the list has none */
    char *gt;    /* ground truth as a manifest writes it ("-", ranges, a .npy) */
} xr_video;

typedef struct xr_plan {
    unsigned shards;
    size_t n;
    xr_video *v;      /* sorted by path */
    char *extractor;  /* the extractor's path when the plan was made */
    char *settings;   /* "key=value ..." (xr_settings_diff compares them) */
    double lease;     /* seconds a claim lives without renewal */
    uint64_t digest;  /* of the sorted list with labels */
} xr_plan;

void xr_plan_free(xr_plan *p);
/* FNV-1a 64 of the sorted list (path, label, ground truth): p->digest. */
void xr_plan_digest(xr_plan *p);
/* DIR/arnet-extract/plan into *p: 1 read, 0 there is none, -1 unreadable
 * or malformed (reason in err). */
int xr_plan_read(const char *dir, xr_plan *p, char *err, size_t errlen);
/* Write p as DIR's plan unless one is there (atomic: the first of several
 * tasks wins).  1 written, 0 one was already there, -1 error (err). */
int xr_plan_create(const char *dir, const xr_plan *p, char *err, size_t errlen);
/* 0 when the two lists are the same, else -1 with the first difference
 * named in why ("list.txt has 9 videos, the plan 8: /v/new.mp4 is not in
 * the plan"). */
int xr_plan_same_list(const xr_plan *plan, const xr_plan *mine, char *why, size_t whylen);
/* 0 when settings strings a and b agree, else -1 with the first key that
 * differs named in why ("crops: 10 here, 1 in the plan"); here/there name
 * the two sides. */
int xr_settings_diff(const char *a, const char *b, const char *here, const char *there,
                     char *why, size_t whylen);
/* The value of key in a settings string, copied into buf (NULL if absent). */
const char *xr_settings_get(const char *settings, const char *key, char *buf, size_t n);

/* ---- the folder ------------------------------------------------------------ */

/* Make DIR, DIR/arnet-extract and its videos/ folder.  0 or -1 (err). */
int xr_dir_make(const char *dir, char *err, size_t errlen);
/* This machine's name for claims and records. */
const char *xr_host(void);

/* ---- claims ------------------------------------------------------------------ */

typedef struct xr_claim xr_claim;

/* Take the claim `name` (a video's stem, or "shard-K" with is_shard) for
 * this process: 1 taken (*out), 0 held by another live process (who in
 * holder: "host vm pid 123 since 12:00:01"), -1 error (err).  A claim whose
 * process is gone (same machine) or whose lease ran out (any machine) is
 * taken over. */
int xr_claim_take(const char *dir, const char *name, int is_shard, double lease, xr_claim **out,
                  char *holder, size_t holderlen);
/* 1 while the claim is still this process's (its file read now). */
int xr_claim_held(xr_claim *c);
/* Remove the claim file (if still ours) and free c.  NULL is fine. */
void xr_claim_release(xr_claim *c);
/* A thread that renews every claim this process holds, every lease/4 s. */
int xr_renewer_start(double lease);
void xr_renewer_stop(void);

/* ---- records of finished videos ------------------------------------------ */

typedef struct xr_done {
    char *output;    /* the features, relative to DIR ("<stem>.npy", or
                        "rgb/<stem>.npy" with a flow file beside) */
    char *source;    /* the video's path */
    char *settings;
    uint64_t clips, frames;
    double fps;
    uint32_t crops, dim;
    char *flow;      /* the flow stream's file when the streams are written
                        apart ("flow/<stem>.npy"), relative to DIR, or NULL */
    int label;       /* -1 none */
    char *gt;        /* NULL none */
    char *host;
    long long time;  /* when it was finished (seconds since 1970) */
} xr_done;

void xr_done_free(xr_done *d);
int xr_done_write(const char *dir, const char *stem, const xr_done *d, char *err, size_t errlen);
/* 1 read, 0 none, -1 malformed (err). */
int xr_done_read(const char *dir, const char *stem, xr_done *d, char *err, size_t errlen);
/* Remove a video's done and failed records. */
void xr_records_remove(const char *dir, const char *stem);

/* A failure: attempts so far (this one included) and the reason. */
int xr_failed_write(const char *dir, const char *stem, const char *source, unsigned attempts,
                    const char *reason);
/* 1 read (*attempts, reason), 0 none. */
int xr_failed_read(const char *dir, const char *stem, unsigned *attempts, char *reason,
                   size_t reasonlen);

/* ---- the state of one video ------------------------------------------------ */

enum {
    XR_MISSING,  /* no output, no record: to do */
    XR_DONE,     /* output and record agree with the settings */
    XR_REDO,     /* our own record, the output absent or damaged: to do again */
    XR_FAILED,   /* a failure record and no output */
    XR_FOREIGN,  /* an output without a record of how it was made */
    XR_OTHER     /* an output made with other settings or from another source */
};
/* Judge a video's output(s) against its record, the expected files
 * (output relative to DIR, NULL: "<stem>.npy"; flow relative to DIR or
 * NULL), source and settings (NULL: any).  why gets the reason for every
 * state but XR_MISSING; *d the record when one was read (free with
 * xr_done_free). */
int xr_video_state(const char *dir, const char *stem, const char *output, const char *flow,
                   const char *source, const char *settings, xr_done *d, char *why,
                   size_t whylen);

/* ---- the whole run ---------------------------------------------------------- */

/* Rewrite DIR/outputs.tsv from the records (output, clips, frames, fps,
 * source of every finished video).  0 or -1 (err). */
int xr_write_outputs(const char *dir, char *err, size_t errlen);

typedef struct xr_status_options {
    int quiet;            /* summary only */
    const char *manifest; /* write the training manifest here, or NULL */
    int partial;          /* write it although the run is not complete */
} xr_status_options;
/* `arnet extract --status DIR`: prints the state of every video and shard
 * to stdout; 0 when every video is done, 1 otherwise, 2 usage errors. */
int xr_status(const char *cmd, const char *dir, const xr_status_options *o);

#endif
