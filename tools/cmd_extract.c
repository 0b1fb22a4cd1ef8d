/* cmd_extract.c -- `arnet extract`: I3D clip features from frames (.npy) or
 * video files, one .npy per input, resumable and shardable over the nodes
 * of a cluster (docs/video.md). */
#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"
#include "video.h"

#define CMD "extract"

static void usage(FILE *f)
{
    fprintf(f,
            "usage: arnet extract --extractor X.arnet --frames FRAMES.npy --out OUT.npy [options]\n"
            "       arnet extract --extractor X.arnet [options] --out DIR VIDEO...\n\n"
            "I3D features of every 16-frame clip: [T, 1024] float32 (or [T, 10, 1024] with\n"
            "--crops 10).  FRAMES.npy is [N, H, W, 3] uint8 RGB.  Videos are decoded with\n"
            "FFmpeg (any container and codec it reads) and each is written to\n"
            "DIR/<file name without extension>.npy; DIR/manifest.tsv (or\n"
            "manifest.K-of-N.tsv with --shard) lists what this run wrote or found.\n\n"
            "  --extractor X     extractor file (arnet import i3d)\n"
            "  --crops 1|10      centre crop (default) or ten crops\n"
            "  --resize R        short256 (default), 340x256, 224x224 or none\n"
            "  --filter F        resize filter: bilinear (default) or lanczos (UR-DMU's)\n"
            "  --last-clip M     drop (default) or pad a last clip of fewer than 16 frames\n"
            "  --threads K       threads working on each clip (default 1)\n"
            "  --list FILE       read more video paths from FILE, one per line ('-' = stdin)\n"
            "  --shard K/N       take videos K, K+N, K+2N, ... (1-based) of the sorted list:\n"
            "                    N runs with K = 1..N write exactly the files of one run\n"
            "  --force           extract again videos whose output exists (default: skip);\n"
            "                    with --frames, replace an existing OUT.npy\n"
            "  --quiet           no progress (default: a bar on a terminal, else a line per\n"
            "                    video and every 10 s)\n\n"
            "A video that cannot be decoded is reported (file and reason) and the others go\n"
            "on; the exit status is then 1.  Outputs are written atomically: an interrupted\n"
            "run leaves only finished files, and running it again resumes.\n");
    if (!cli_video_available())
        fprintf(f, "\nNote: %s.\n", cli_video_missing());
}

/* ---- options shared with `arnet watch` ----------------------------------- */

int cli_extractor_option(const char *cmd, int argc, char **argv, int *i,
                         arnet_extractor_options *opt)
{
    const char *v;
    int r;
    if ((r = cli_opt_value(cmd, argc, argv, i, "--crops", &v))) {
        if (r < 0)
            return -1;
        if (strcmp(v, "1") && strcmp(v, "10")) {
            cli_usage_error(cmd, "--crops: '%s' is not 1 or 10", v);
            return -1;
        }
        opt->crops = v[0] == '1' && v[1] == '0' ? 10 : 1;
        return 1;
    }
    if ((r = cli_opt_value(cmd, argc, argv, i, "--resize", &v))) {
        if (r < 0)
            return -1;
        if (!strcmp(v, "short256"))
            opt->resize = ARNET_RESIZE_SHORT256;
        else if (!strcmp(v, "340x256"))
            opt->resize = ARNET_RESIZE_340X256;
        else if (!strcmp(v, "224x224"))
            opt->resize = ARNET_RESIZE_224;
        else if (!strcmp(v, "none"))
            opt->resize = ARNET_RESIZE_NONE;
        else {
            cli_usage_error(cmd, "--resize: '%s' is not short256, 340x256, 224x224 or none", v);
            return -1;
        }
        return 1;
    }
    if ((r = cli_opt_value(cmd, argc, argv, i, "--filter", &v))) {
        if (r < 0)
            return -1;
        if (!strcmp(v, "bilinear"))
            opt->filter = ARNET_FILTER_BILINEAR;
        else if (!strcmp(v, "lanczos"))
            opt->filter = ARNET_FILTER_LANCZOS;
        else {
            cli_usage_error(cmd, "--filter: '%s' is not bilinear or lanczos", v);
            return -1;
        }
        return 1;
    }
    if ((r = cli_opt_value(cmd, argc, argv, i, "--last-clip", &v))) {
        if (r < 0)
            return -1;
        if (!strcmp(v, "drop"))
            opt->last_clip = ARNET_LAST_CLIP_DROP;
        else if (!strcmp(v, "pad"))
            opt->last_clip = ARNET_LAST_CLIP_PAD;
        else {
            cli_usage_error(cmd, "--last-clip: '%s' is not drop or pad", v);
            return -1;
        }
        return 1;
    }
    if ((r = cli_opt_value(cmd, argc, argv, i, "--threads", &v))) {
        uint64_t k;
        if (r < 0 || !cli_parse_u64(cmd, "--threads", v, 1, 1024, &k))
            return -1;
        opt->threads = (int)k;
        return 1;
    }
    return 0;
}

const char *cli_resize_name(int resize)
{
    switch (resize) {
    case ARNET_RESIZE_SHORT256: return "short256";
    case ARNET_RESIZE_340X256: return "340x256";
    case ARNET_RESIZE_224: return "224x224";
    case ARNET_RESIZE_NONE: return "none";
    default: return "?";
    }
}

/* ---- interruption ---------------------------------------------------------- */

static arnet_extractor_state *volatile current_state;
static volatile sig_atomic_t interrupted;

static void on_signal(int sig)
{
    (void)sig;
    interrupted = 1;
    arnet_extractor_state *st = current_state;
    if (st)
        arnet_extractor_cancel(st);
}

/* ---- frames from a .npy file ----------------------------------------------- */

typedef struct npy_frames {
    FILE *f;
    uint64_t n, h, w;
    uint8_t *row; /* one frame */
    uint64_t index;
} npy_frames;

/* Parse "'key': value" of a NumPy header dict: returns where the value starts. */
static const char *npy_key(const char *hdr, const char *key)
{
    char pat[32];
    snprintf(pat, sizeof pat, "'%s':", key);
    const char *p = strstr(hdr, pat);
    if (!p)
        return NULL;
    p += strlen(pat);
    while (*p == ' ')
        p++;
    return p;
}

/* Open FRAMES.npy: [N, H, W, 3] uint8 in C order.  The header is checked
 * against the file's size before anything is allocated for the frames. */
static int npy_frames_open(const char *path, npy_frames *nf, char *err, size_t errlen)
{
    memset(nf, 0, sizeof *nf);
    FILE *f = cli_fopen_read(path);
    if (!f) {
        snprintf(err, errlen, "cannot open: %s", cli_open_error(path));
        return -1;
    }
    unsigned char pre[12];
    char *hdr = NULL;
    if (fread(pre, 1, 10, f) != 10 || memcmp(pre, "\x93NUMPY", 6)) {
        snprintf(err, errlen, "not a .npy file (no NumPy magic)");
        goto fail;
    }
    uint64_t hlen, off;
    if (pre[6] == 1) {
        hlen = pre[8] | (uint64_t)pre[9] << 8;
        off = 10;
    } else if (pre[6] == 2 || pre[6] == 3) {
        if (fread(pre + 10, 1, 2, f) != 2) {
            snprintf(err, errlen, "truncated .npy header");
            goto fail;
        }
        hlen = pre[8] | (uint64_t)pre[9] << 8 | (uint64_t)pre[10] << 16 | (uint64_t)pre[11] << 24;
        off = 12;
    } else {
        snprintf(err, errlen, ".npy format version %d is not 1, 2 or 3", pre[6]);
        goto fail;
    }
    if (hlen == 0 || hlen > 65536) {
        snprintf(err, errlen, ".npy header length %llu is not plausible", (unsigned long long)hlen);
        goto fail;
    }
    hdr = malloc(hlen + 1);
    if (!hdr || fread(hdr, 1, hlen, f) != hlen) {
        snprintf(err, errlen, "truncated .npy header");
        goto fail;
    }
    hdr[hlen] = 0;
    const char *d = npy_key(hdr, "descr"), *fo = npy_key(hdr, "fortran_order"),
               *sh = npy_key(hdr, "shape");
    if (!d || !fo || !sh) {
        snprintf(err, errlen, "the .npy header lacks descr, fortran_order or shape");
        goto fail;
    }
    if (strncmp(d, "'|u1'", 5) && strncmp(d, "'<u1'", 5) && strncmp(d, "'>u1'", 5) &&
        strncmp(d, "'|b1'", 5)) {
        size_t dl = strcspn(d, ",}");
        snprintf(err, errlen, "frames must be uint8 [N, H, W, 3] RGB, not descr %.*s",
                 (int)(dl < 16 ? dl : 16), d);
        goto fail;
    }
    if (strncmp(fo, "False", 5)) {
        snprintf(err, errlen, "frames must be in C order (fortran_order is True)");
        goto fail;
    }
    unsigned long long dims[5];
    int nd = 0;
    const char *p = sh;
    if (*p++ != '(') {
        snprintf(err, errlen, "malformed shape in the .npy header");
        goto fail;
    }
    while (*p && *p != ')' && nd < 5) {
        while (*p == ' ' || *p == ',')
            p++;
        if (*p == ')')
            break;
        char *end;
        errno = 0;
        dims[nd] = strtoull(p, &end, 10);
        if (end == p || errno) {
            snprintf(err, errlen, "malformed shape in the .npy header");
            goto fail;
        }
        nd++;
        p = end;
    }
    if (nd != 4 || dims[3] != 3) {
        snprintf(err, errlen, "frames must have shape [N, H, W, 3] (rank %d%s)", nd,
                 nd == 4 ? ", last dimension not 3" : "");
        goto fail;
    }
    if (dims[0] == 0 || dims[1] == 0 || dims[2] == 0 || dims[1] > 16384 || dims[2] > 16384) {
        snprintf(err, errlen, "frame shape [%llu, %llu, %llu, 3] is empty or too large", dims[0],
                 dims[1], dims[2]);
        goto fail;
    }
    struct stat stt;
    uint64_t frame_bytes = dims[1] * dims[2] * 3;
    if (fstat(fileno(f), &stt) != 0 || dims[0] > (UINT64_MAX - off - hlen) / frame_bytes ||
        (uint64_t)stt.st_size != off + hlen + dims[0] * frame_bytes) {
        snprintf(err, errlen, "file size %lld does not match shape [%llu, %llu, %llu, 3]",
                 (long long)stt.st_size, dims[0], dims[1], dims[2]);
        goto fail;
    }
    nf->row = malloc(frame_bytes);
    if (!nf->row) {
        snprintf(err, errlen, "out of memory for one frame");
        goto fail;
    }
    free(hdr);
    nf->f = f;
    nf->n = dims[0];
    nf->h = dims[1];
    nf->w = dims[2];
    return 0;
fail:
    free(hdr);
    fclose(f);
    return -1;
}

static int npy_frames_read(npy_frames *nf, arnet_frame *frame, char *err, size_t errlen)
{
    if (nf->index == nf->n)
        return 0;
    size_t bytes = (size_t)(nf->h * nf->w * 3);
    if (fread(nf->row, 1, bytes, nf->f) != bytes) {
        snprintf(err, errlen, "read error at frame %llu", (unsigned long long)nf->index);
        return -1;
    }
    arnet_frame_init(frame);
    frame->format = ARNET_PIXEL_RGB24;
    frame->width = (uint32_t)nf->w;
    frame->height = (uint32_t)nf->h;
    frame->planes[0] = nf->row;
    frame->strides[0] = (size_t)nf->w * 3;
    nf->index++;
    return 1;
}

static void npy_frames_close(npy_frames *nf)
{
    if (nf->f)
        fclose(nf->f);
    free(nf->row);
    memset(nf, 0, sizeof *nf);
}

/* ---- one source to features ---------------------------------------------- */

typedef struct source {
    npy_frames *npy;
    cli_video *video;
} source;

static int source_read(source *s, arnet_frame *frame, char *err, size_t errlen)
{
    double t;
    if (s->npy)
        return npy_frames_read(s->npy, frame, err, errlen);
    return cli_video_read(s->video, frame, &t, err, errlen);
}

typedef struct progress {
    int on;
    size_t video, n_videos; /* 1-based index of this video in this run's share */
    const char *name;
    int64_t expected_clips; /* of this video, -1 unknown */
    double run_start;       /* of the whole run */
    double video_start;
    uint64_t clips_before;  /* clips of the finished videos of this run */
    double last_draw;
} progress;

static void fmt_eta(double s, char *buf, size_t n)
{
    if (!(s >= 0) || s > 1e7)
        snprintf(buf, n, "?");
    else if (s >= 3600)
        snprintf(buf, n, "%dh%02dm", (int)(s / 3600), (int)fmod(s / 60, 60));
    else if (s >= 60)
        snprintf(buf, n, "%dm%02ds", (int)(s / 60), (int)fmod(s, 60));
    else
        snprintf(buf, n, "%.0fs", s);
}

static void progress_draw(progress *p, uint64_t clips, int force)
{
    double now = cli_now();
    /* A redraw at most every 0.2 s on a terminal, every 10 s in a log. */
    double every = isatty(2) ? 0.2 : 10.0;
    if (!p->on || (!force && now - p->last_draw < every))
        return;
    p->last_draw = now;
    double el = now - p->run_start, rate = el > 0 ? (double)(p->clips_before + clips) / el : 0;
    char eta[32] = "?";
    if (rate > 0 && p->expected_clips >= 0) {
        int64_t rest = p->expected_clips - (int64_t)clips;
        double left = (double)(rest > 0 ? rest : 0) / rate;
        /* The videos after this one: at this run's mean time per finished
         * video, or as long as this one when none has finished. */
        double per_video = p->video > 1 ? (p->video_start - p->run_start) / (double)(p->video - 1)
                                        : (double)p->expected_clips / rate;
        left += per_video * (double)(p->n_videos - p->video);
        fmt_eta(left, eta, sizeof eta);
    }
    char total[32] = "";
    if (p->expected_clips >= 0)
        snprintf(total, sizeof total, "/~%lld", (long long)p->expected_clips);
    cli_progress_line("[%zu/%zu] %s: clip %llu%s, %.2f clips/s, ETA %s", p->video, p->n_videos,
                      p->name, (unsigned long long)clips, total, rate, eta);
}

/* Features of every clip of s into a growing array (*out, *n_clips).
 * Returns 0, or -1 with a reason in err (ARNET_E_CANCELLED: "interrupted"). */
static int extract_source(const arnet_extractor *x, const arnet_extractor_options *opt, source *s,
                          progress *p, float **out, size_t *n_clips, uint64_t *n_frames,
                          char *err, size_t errlen)
{
    size_t per = (size_t)opt->crops * arnet_extractor_feature_dim(x);
    size_t cap = 64, n = 0;
    uint64_t frames = 0;
    float *feat = malloc(cap * per * sizeof *feat);
    arnet_extractor_state *st = NULL; /* made for the first frame's size */
    if (!feat) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    int rc = 0;
    for (;;) {
        if (interrupted) {
            snprintf(err, errlen, "interrupted");
            rc = -1;
            break;
        }
        if (n == cap) {
            float *g = realloc(feat, 2 * cap * per * sizeof *feat);
            if (!g) {
                snprintf(err, errlen, "out of memory for %zu clips", 2 * cap);
                rc = -1;
                break;
            }
            feat = g;
            cap *= 2;
        }
        arnet_frame fr;
        int got = source_read(s, &fr, err, errlen);
        int ready = 0, status;
        if (got < 0) {
            rc = -1;
            break;
        }
        if (got > 0 && !st) {
            arnet_extractor_options o = *opt;
            o.frame_width = fr.width;
            o.frame_height = fr.height;
            if (arnet_extractor_state_create(x, &o, &st) != ARNET_OK) {
                snprintf(err, errlen, "%s", arnet_last_error());
                rc = -1;
                break;
            }
            current_state = st;
        }
        if (got == 0)
            status = st ? arnet_extractor_flush(st, feat + n * per, &ready) : ARNET_OK;
        else {
            frames++;
            status = arnet_extractor_push(st, &fr, feat + n * per, &ready);
        }
        if (status != ARNET_OK) {
            snprintf(err, errlen, "%s", status == ARNET_E_CANCELLED ? "interrupted"
                                                                   : arnet_last_error());
            rc = -1;
            break;
        }
        n += (size_t)ready;
        if (got == 0)
            break;
        if (ready)
            progress_draw(p, n, 0);
    }
    current_state = NULL;
    arnet_extractor_state_free(st);
    if (rc == 0 && n == 0 && frames == 0) {
        snprintf(err, errlen, "no frame decoded (an empty video)");
        rc = -1;
    } else if (rc == 0 && n == 0) { /* with --last-clip pad, any frame makes a clip */
        snprintf(err, errlen, "%llu frames: no complete %u-frame clip%s",
                 (unsigned long long)frames, opt->clip_frames,
                 opt->last_clip == ARNET_LAST_CLIP_PAD ? ""
                                                       : " (--last-clip pad keeps a shorter one)");
        rc = -1;
    }
    if (rc < 0) {
        free(feat);
        return -1;
    }
    *out = feat;
    *n_clips = n;
    *n_frames = frames;
    return 0;
}

static int write_features(const char *path, const float *feat, size_t n, uint32_t crops,
                          uint32_t dim)
{
    size_t shape[3] = {n, crops, dim};
    if (crops == 1) {
        shape[1] = dim;
        return arnet_npy_write(path, feat, shape, 2);
    }
    return arnet_npy_write(path, feat, shape, 3);
}

/* ---- --frames FRAMES.npy --out OUT.npy ------------------------------------ */

static int run_frames(const arnet_extractor *x, const arnet_extractor_options *opt,
                      npy_frames *nfp, const char *frames_path, const char *out_path, int show)
{
    npy_frames nf = *nfp;
    char err[512];
    memset(nfp, 0, sizeof *nfp);
    source s = {&nf, NULL};
    progress p = {0};
    p.on = show;
    p.video = p.n_videos = 1;
    p.name = frames_path;
    p.expected_clips = (int64_t)(nf.n / opt->clip_frames) +
                       (opt->last_clip == ARNET_LAST_CLIP_PAD && nf.n % opt->clip_frames);
    p.run_start = p.video_start = cli_now();
    float *feat = NULL;
    size_t n = 0;
    uint64_t frames = 0;
    int rc = extract_source(x, opt, &s, &p, &feat, &n, &frames, err, sizeof err);
    npy_frames_close(&nf);
    cli_progress_done();
    if (rc < 0) {
        fprintf(stderr, "arnet extract: %s: %s\n", frames_path, err);
        return interrupted ? 130 : CLI_EXIT_FAIL;
    }
    int st = write_features(out_path, feat, n, opt->crops, arnet_extractor_feature_dim(x));
    free(feat);
    if (st != ARNET_OK)
        return cli_fail(CMD, st, out_path);
    double el = cli_now() - p.run_start;
    fprintf(stderr, "arnet extract: %s: %llu frames -> %zu clips in %s (%.1f s, %.2f clips/s)\n",
            frames_path, (unsigned long long)frames, n, out_path, el, el > 0 ? (double)n / el : 0);
    return 0;
}

/* ---- videos -> DIR --------------------------------------------------------- */

typedef struct entry {
    const char *path;
    char *stem;      /* file name without folder and extension */
    int status;      /* 0 pending, 1 written, 2 existed, -1 failed */
    size_t clips;
    uint64_t frames;
    double fps;
} entry;

static char *video_stem(const char *path)
{
    const char *b = strrchr(path, '/');
    b = b ? b + 1 : path;
    const char *dot = strrchr(b, '.');
    size_t len = dot && dot != b ? (size_t)(dot - b) : strlen(b);
    char *s = malloc(len + 1);
    if (s) {
        memcpy(s, b, len);
        s[len] = 0;
    }
    return s;
}

static int cmp_entry(const void *a, const void *b)
{
    return strcmp(((const entry *)a)->path, ((const entry *)b)->path);
}

typedef struct manifest_ctx {
    const entry *e;
    size_t n;
    const char *extractor;
    const arnet_extractor_options *opt;
    unsigned shard_k, shard_n;
} manifest_ctx;

static int fill_manifest(FILE *f, void *vctx)
{
    const manifest_ctx *m = vctx;
    fprintf(f, "# arnet extract: extractor %s, crops %u, resize %s, filter %s, last clip %s, "
               "%u frames per clip",
            m->extractor, m->opt->crops, cli_resize_name(m->opt->resize),
            m->opt->filter == ARNET_FILTER_LANCZOS ? "lanczos" : "bilinear",
            m->opt->last_clip == ARNET_LAST_CLIP_PAD ? "pad" : "drop", m->opt->clip_frames);
    if (m->shard_n > 1)
        fprintf(f, ", shard %u/%u", m->shard_k, m->shard_n);
    fprintf(f, "\n# output\tclips\tframes\tfps\tsource\n");
    for (size_t i = 0; i < m->n; i++) {
        const entry *e = &m->e[i];
        if (e->status == 1)
            fprintf(f, "%s.npy\t%zu\t%llu\t%.6g\t%s\n", e->stem, e->clips,
                    (unsigned long long)e->frames, e->fps, e->path);
        else if (e->status == 2) /* written by an earlier run */
            fprintf(f, "%s.npy\t-\t-\t-\t%s\n", e->stem, e->path);
    }
    return ferror(f) ? -1 : 0;
}

static int read_list(const char *list, entry **es, size_t *n, size_t *cap, char ***owned,
                     size_t *n_owned)
{
    /* A list from a pipe comes as "-" (standard input); a named FIFO would
     * wait for a writer forever. */
    FILE *f = strcmp(list, "-") ? cli_fopen_read(list) : stdin;
    if (!f) {
        fprintf(stderr, "arnet extract: --list %s: %s\n", list, cli_open_error(list));
        return -1;
    }
    char *line = NULL;
    size_t lcap = 0;
    ssize_t len;
    int rc = 0;
    while ((len = getline(&line, &lcap, f)) >= 0) {
        while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r'))
            line[--len] = 0;
        if (len == 0 || line[0] == '#')
            continue;
        char *copy = strdup(line);
        char **o = realloc(*owned, (*n_owned + 1) * sizeof **owned);
        if (o)
            *owned = o;
        if (*n == *cap) {
            entry *g = realloc(*es, (*cap * 2 + 16) * sizeof **es);
            if (g) {
                *es = g;
                *cap = *cap * 2 + 16;
            }
        }
        if (!copy || !o || *n == *cap) {
            free(copy);
            fprintf(stderr, "arnet extract: out of memory reading %s\n", list);
            rc = -1;
            break;
        }
        (*owned)[(*n_owned)++] = copy;
        memset(&(*es)[*n], 0, sizeof **es);
        (*es)[(*n)++].path = copy;
    }
    free(line);
    if (f != stdin)
        fclose(f);
    return rc;
}

/* Before the extractor is loaded: sort, name the outputs over the whole
 * list (so every shard agrees), refuse clashes, make DIR and keep this
 * run's share (entries K, K+N, ... of the sorted list, 1-based) at the
 * front of all: *n of them.  0, or an exit code (message printed). */
static int plan_videos(entry *all, size_t n_all, const char *dir, unsigned shard_k,
                       unsigned shard_n, size_t *n_out)
{
    qsort(all, n_all, sizeof *all, cmp_entry);
    for (size_t i = 0; i < n_all; i++) {
        if (!(all[i].stem = video_stem(all[i].path))) {
            fprintf(stderr, "arnet extract: out of memory\n");
            return CLI_EXIT_FAIL;
        }
        if (i > 0 && !strcmp(all[i].path, all[i - 1].path))
            return cli_usage_error(CMD, "%s is listed twice", all[i].path);
        if (!all[i].stem[0])
            return cli_usage_error(CMD, "%s: no file name to name its output after",
                                   all[i].path);
    }
    for (size_t i = 0; i < n_all; i++)
        for (size_t j = i + 1; j < n_all; j++)
            if (!strcmp(all[i].stem, all[j].stem))
                return cli_usage_error(CMD, "%s and %s would both be written as %s/%s.npy: "
                                            "rename one",
                                       all[i].path, all[j].path, dir, all[i].stem);
    if (cli_mkdir(dir) != 0) {
        fprintf(stderr, "arnet extract: cannot create folder %s: %s\n", dir, strerror(errno));
        return CLI_EXIT_FAIL;
    }
    size_t n = 0;
    for (size_t i = 0; i < n_all; i++) {
        if (i % shard_n == shard_k - 1)
            all[n++] = all[i];
        else
            free(all[i].stem);
    }
    *n_out = n;
    return 0;
}

static int run_videos(const arnet_extractor *x, const char *xpath,
                      const arnet_extractor_options *opt, entry *es, size_t n, const char *dir,
                      unsigned shard_k, unsigned shard_n, int force, int show)
{
    uint32_t dim = arnet_extractor_feature_dim(x);
    size_t plen = strlen(dir) + 16;
    for (size_t i = 0; i < n; i++)
        plen = strlen(es[i].stem) + strlen(dir) + 16 > plen ? strlen(es[i].stem) + strlen(dir) + 16
                                                           : plen;
    char *out = malloc(plen);
    if (!out) {
        fprintf(stderr, "arnet extract: out of memory\n");
        return CLI_EXIT_FAIL;
    }
    progress p = {0};
    p.on = show;
    p.n_videos = n;
    p.run_start = cli_now();
    size_t failed = 0, written = 0, skipped = 0;
    uint64_t total_clips = 0;
    for (size_t i = 0; i < n && !interrupted; i++) {
        entry *e = &es[i];
        snprintf(out, plen, "%s/%s.npy", dir, e->stem);
        struct stat sb;
        if (!force && stat(out, &sb) == 0) {
            e->status = 2;
            skipped++;
            continue;
        }
        char err[512];
        cli_video *v = NULL;
        if (cli_video_open(e->path, 1, &v, err, sizeof err) < 0) {
            cli_progress_done();
            fprintf(stderr, "arnet extract: %s: %s\n", e->path, err);
            e->status = -1;
            failed++;
            continue;
        }
        cli_video_info info;
        cli_video_info_get(v, &info);
        e->fps = info.fps;
        p.video = i + 1;
        p.name = e->path;
        p.expected_clips = info.frames >= 0 ? info.frames / opt->clip_frames : -1;
        p.video_start = cli_now();
        p.clips_before = total_clips;
        source s = {NULL, v};
        float *feat = NULL;
        int rc = extract_source(x, opt, &s, &p, &feat, &e->clips, &e->frames, err, sizeof err);
        cli_video_close(v);
        if (rc < 0) {
            cli_progress_done();
            if (interrupted)
                break;
            fprintf(stderr, "arnet extract: %s: %s\n", e->path, err);
            e->status = -1;
            failed++;
            continue;
        }
        int st = write_features(out, feat, e->clips, opt->crops, dim);
        free(feat);
        if (st != ARNET_OK) {
            cli_progress_done();
            fprintf(stderr, "arnet extract: %s: %s\n", e->path, arnet_last_error());
            e->status = -1;
            failed++;
            continue;
        }
        e->status = 1;
        written++;
        total_clips += e->clips;
        double el = cli_now() - p.video_start;
        if (p.on) {
            if (isatty(2)) { /* the bar's last state, then the line */
                progress_draw(&p, e->clips, 1);
                cli_progress_done();
            }
            fprintf(stderr, "[%zu/%zu] %s -> %s: %llu frames, %zu clips, %.1f s\n", i + 1, n,
                    e->path, out, (unsigned long long)e->frames, e->clips, el);
        }
    }
    cli_progress_done();
    char mpath_tail[64];
    if (shard_n > 1)
        snprintf(mpath_tail, sizeof mpath_tail, "manifest.%u-of-%u.tsv", shard_k, shard_n);
    else
        snprintf(mpath_tail, sizeof mpath_tail, "manifest.tsv");
    char *mpath = malloc(strlen(dir) + sizeof mpath_tail + 2);
    int rc = 0;
    if (mpath) {
        sprintf(mpath, "%s/%s", dir, mpath_tail);
        manifest_ctx mc = {es, n, xpath, opt, shard_k, shard_n};
        if (cli_write_file(CMD, mpath, fill_manifest, &mc) != 0)
            rc = CLI_EXIT_FAIL;
    }
    double el = cli_now() - p.run_start;
    fprintf(stderr,
            "arnet extract: %zu written, %zu already there, %zu failed%s; %llu clips in %.1f s "
            "(%.2f clips/s)%s%s\n",
            written, skipped, failed, interrupted ? ", interrupted" : "",
            (unsigned long long)total_clips, el, el > 0 ? (double)total_clips / el : 0.0,
            !mpath ? "" : rc ? "; manifest not written: " : "; manifest ", mpath ? mpath : "");
    free(mpath);
    free(out);
    for (size_t i = 0; i < n; i++)
        free(es[i].stem);
    if (interrupted)
        return 130;
    return rc ? rc : failed ? CLI_EXIT_FAIL : 0;
}

int cmd_extract(int argc, char **argv)
{
    const char *xpath = NULL, *frames = NULL, *out = NULL, *v;
    arnet_extractor_options opt;
    arnet_extractor_options_init(&opt);
    unsigned shard_k = 1, shard_n = 1;
    int force = 0, show = 1, rc = 0;
    entry *es = NULL;
    size_t n = 0, cap = 0, n_owned = 0;
    char **owned = NULL;
    npy_frames nf;
    memset(&nf, 0, sizeof nf);
    cli_output o;
    int o_used = 0;
    for (int i = 1; i < argc; i++) {
        int r = 0;
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            usage(stdout);
            goto done;
        } else if (!strcmp(argv[i], "--force")) {
            force = 1;
        } else if (!strcmp(argv[i], "--quiet")) {
            show = 0;
        } else if ((r = cli_extractor_option(CMD, argc, argv, &i, &opt))) {
        } else if ((r = cli_opt_value(CMD, argc, argv, &i, "--extractor", &v))) {
            xpath = v;
        } else if ((r = cli_opt_value(CMD, argc, argv, &i, "--frames", &v))) {
            frames = v;
        } else if ((r = cli_opt_value(CMD, argc, argv, &i, "--out", &v))) {
            out = v;
        } else if ((r = cli_opt_value(CMD, argc, argv, &i, "--list", &v))) {
            if (r > 0 && read_list(v, &es, &n, &cap, &owned, &n_owned) < 0) {
                rc = CLI_EXIT_FAIL;
                goto done;
            }
        } else if ((r = cli_opt_value(CMD, argc, argv, &i, "--shard", &v))) {
            uint64_t k, nn;
            if (r > 0 && !cli_parse_u64_pair(CMD, "--shard", v, '/', "K/N", 1, 1000000, &k, &nn)) {
                rc = CLI_EXIT_USAGE;
                goto done;
            }
            if (r > 0 && k > nn) {
                rc = cli_usage_error(CMD, "--shard: '%s' is not K/N with 1 <= K <= N", v);
                goto done;
            }
            if (r > 0) {
                shard_k = (unsigned)k;
                shard_n = (unsigned)nn;
            }
        } else if (argv[i][0] == '-' && argv[i][1]) {
            rc = cli_usage_error(CMD, "unknown option '%s'", argv[i]);
            goto done;
        } else {
            if (n == cap) {
                entry *g = realloc(es, (cap * 2 + 16) * sizeof *es);
                if (!g) {
                    fprintf(stderr, "arnet extract: out of memory\n");
                    rc = CLI_EXIT_FAIL;
                    goto done;
                }
                es = g;
                cap = cap * 2 + 16;
            }
            memset(&es[n], 0, sizeof *es);
            es[n++].path = argv[i];
        }
        if (r < 0) {
            rc = CLI_EXIT_USAGE;
            goto done;
        }
    }
    if (!xpath) {
        rc = cli_usage_error(CMD, "--extractor X.arnet is required");
        goto done;
    }
    if (!out) {
        rc = cli_usage_error(CMD, "--out is required");
        goto done;
    }
    if (frames && n > 0) {
        rc = cli_usage_error(CMD, "give either --frames FRAMES.npy or video files, not both");
        goto done;
    }
    if (!frames && n == 0) {
        rc = cli_usage_error(CMD, "nothing to extract: give --frames FRAMES.npy or video files");
        goto done;
    }
    size_t ol = strlen(out);
    if (!frames && ol > 4 && !strcmp(out + ol - 4, ".npy")) {
        rc = cli_usage_error(CMD, "--out %s: videos are written into a folder (--out DIR), "
                                  "one DIR/<name>.npy each", out);
        goto done;
    }
    if (!frames && !cli_video_available()) {
        fprintf(stderr, "arnet extract: %s\n", cli_video_missing());
        rc = CLI_EXIT_FAIL;
        goto done;
    }
    /* --frames: OUT.npy is not an input, and not replaced without --force.
     * (Video mode writes DIR/<name>.npy, and shards share DIR: no lock.) */
    cli_output_init(&o, "--out", out, 0);
    o_used = 1;
    if (frames && ((rc = cli_output_not_input(CMD, &o, "the frames --frames", frames)) ||
                   (rc = cli_output_not_input(CMD, &o, "the extractor --extractor", xpath)) ||
                   (rc = cli_output_absent(CMD, &o, NULL, force, NULL)) ||
                   (rc = cli_output_lock(CMD, &o))))
        goto done;
    /* The inputs are checked before the extractor is loaded (seconds). */
    size_t n_run = 0;
    if (frames) {
        char err[512];
        if (npy_frames_open(frames, &nf, err, sizeof err) < 0) {
            fprintf(stderr, "arnet extract: %s: %s\n", frames, err);
            rc = CLI_EXIT_FAIL;
            goto done;
        }
    } else if ((rc = plan_videos(es, n, out, shard_k, shard_n, &n_run)) != 0) {
        goto done;
    }
    /* Ctrl-C from here on (loading takes seconds) stops cleanly. */
    struct sigaction sa, old_int, old_term;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, &old_int);
    sigaction(SIGTERM, &sa, &old_term);
    arnet_extractor *x = NULL;
    int st = arnet_extractor_load(xpath, &x);
    if (st != ARNET_OK) {
        rc = cli_fail(CMD, st, xpath);
    } else if (interrupted) {
        fprintf(stderr, "arnet extract: interrupted\n");
        rc = 130;
    } else if (frames)
        rc = run_frames(x, &opt, &nf, frames, out, show);
    else
        rc = run_videos(x, xpath, &opt, es, n_run, out, shard_k, shard_n, force, show);
    sigaction(SIGINT, &old_int, NULL);
    sigaction(SIGTERM, &old_term, NULL);
    arnet_extractor_free(x);
done:
    if (o_used)
        cli_output_release(&o);
    npy_frames_close(&nf);
    for (size_t i = 0; i < n_owned; i++)
        free(owned[i]);
    free(owned);
    free(es);
    return rc;
}
