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
            "       arnet extract --extractor X.arnet [options] --out DIR VIDEO...\n"
            "       arnet extract --extractor X.arnet --flow-extractor F.arnet [--split-streams]\n"
            "                     [flow options] ... (two streams, as AR-Net's features)\n\n"
            "I3D features of every 16-frame clip: [T, 1024] float32 (or [T, 10, 1024] with\n"
            "--crops 10).  With --flow-extractor, the RGB and the optical-flow streams:\n"
            "[T, 2048], each row RGB's 1024 values then flow's (TV-L1 flow of each frame\n"
            "to the one before; N frames give floor((N-1)/16) clips).  FRAMES.npy is\n"
            "[N, H, W, 3] uint8 RGB.  Videos are decoded with\n"
            "FFmpeg (any container and codec it reads) and each is written to\n"
            "DIR/<file name without extension>.npy; DIR/manifest.tsv (or\n"
            "manifest.K-of-N.tsv with --shard) lists what this run wrote or found.\n\n"
            "  --extractor X     extractor file (arnet import i3d)\n"
            "  --crops 1|10      centre crop (default) or ten crops\n"
            "  --resize R        short256 (default), 340x256, 224x224 or none\n"
            "  --filter F        resize filter: bilinear (default) or lanczos (UR-DMU's)\n"
            "  --last-clip M     drop (default) or pad a last clip of fewer than 16 frames\n"
            "  --threads K       threads working on each clip and each flow (default 1)\n"
            "  --flow-extractor F  I3D's flow network (arnet import i3d flow_imagenet.pt)\n"
            "  --split-streams   two files, as a manifest's rgb.npy+flow.npy pair reads them:\n"
            "                    DIR/rgb/<name>.npy and DIR/flow/<name>.npy, or --out (RGB)\n"
            "                    and --flow-out FLOW.npy with --frames\n"
            "  --flow-at A       where flow is computed: crop (default: on the RGB stream's\n"
            "                    resized and cropped frames, the I3D authors' rule) or WxH\n"
            "                    (the whole frame at that size, the flow resized to 224x224;\n"
            "                    320x240 as the AR-Net authors)\n"
            "  --flow-values V   float (default: clip to +-bound, / bound), q8 (8-bit images\n"
            "                    as dense_flow stores them, read back to [-1, 1]) or q8-raw\n"
            "                    (the 0..255 values the AR-Net authors' loader fed)\n"
            "  --flow-bound B    flow clip bound in pixels (default 20)\n"
            "  --flow-channels C xy (default) or xx (x in both, the AR-Net authors' loader)\n"
            "  --flow-preset P   TV-L1 parameters: opencv (CPU defaults) or cuda (300 inner\n"
            "                    iterations, as dense_flow/denseflow ran it)\n"
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

int cli_flow_option(const char *cmd, int argc, char **argv, int *i, arnet_extractor_options *opt,
                    arnet_flow_options *fopt)
{
    const char *v;
    int r;
    if ((r = cli_opt_value(cmd, argc, argv, i, "--flow-at", &v))) {
        if (r < 0)
            return -1;
        unsigned w, h;
        char tail;
        if (!strcmp(v, "crop")) {
            opt->flow_at = ARNET_FLOW_AT_CROP;
        } else if (sscanf(v, "%ux%u%c", &w, &h, &tail) == 2 && w >= 3 && h >= 3 && w <= 16384 &&
                   h <= 16384) {
            opt->flow_at = ARNET_FLOW_AT_SIZE;
            opt->flow_width = w;
            opt->flow_height = h;
        } else {
            cli_usage_error(cmd, "--flow-at: '%s' is not crop or WxH (3..16384 each, e.g. "
                                 "320x240)", v);
            return -1;
        }
        return 1;
    }
    if ((r = cli_opt_value(cmd, argc, argv, i, "--flow-values", &v))) {
        if (r < 0)
            return -1;
        if (!strcmp(v, "float"))
            opt->flow_values = ARNET_FLOW_VALUES_FLOAT;
        else if (!strcmp(v, "q8"))
            opt->flow_values = ARNET_FLOW_VALUES_Q8;
        else if (!strcmp(v, "q8-raw"))
            opt->flow_values = ARNET_FLOW_VALUES_Q8_RAW;
        else {
            cli_usage_error(cmd, "--flow-values: '%s' is not float, q8 or q8-raw", v);
            return -1;
        }
        return 1;
    }
    if ((r = cli_opt_value(cmd, argc, argv, i, "--flow-bound", &v))) {
        double b;
        if (r < 0 || !cli_parse_double(cmd, "--flow-bound", v, 1e-3, 1e4, &b))
            return -1;
        opt->flow_bound = (float)b;
        return 1;
    }
    if ((r = cli_opt_value(cmd, argc, argv, i, "--flow-channels", &v))) {
        if (r < 0)
            return -1;
        if (!strcmp(v, "xy"))
            opt->flow_channels = ARNET_FLOW_CHANNELS_XY;
        else if (!strcmp(v, "xx"))
            opt->flow_channels = ARNET_FLOW_CHANNELS_XX;
        else {
            cli_usage_error(cmd, "--flow-channels: '%s' is not xy or xx", v);
            return -1;
        }
        return 1;
    }
    if ((r = cli_opt_value(cmd, argc, argv, i, "--flow-preset", &v))) {
        if (r < 0)
            return -1;
        int preset = !strcmp(v, "opencv") ? ARNET_FLOW_PRESET_OPENCV
                     : !strcmp(v, "cuda") ? ARNET_FLOW_PRESET_CUDA
                                          : -1;
        if (preset < 0 || arnet_flow_options_preset(fopt, preset) != ARNET_OK) {
            cli_usage_error(cmd, "--flow-preset: '%s' is not opencv or cuda", v);
            return -1;
        }
        return 1;
    }
    return 0;
}

void cli_flow_recipe(const arnet_extractor_options *opt, const arnet_flow_options *fopt,
                     char *buf, size_t n)
{
    char at[48];
    if (opt->flow_at == ARNET_FLOW_AT_SIZE)
        snprintf(at, sizeof at, "%ux%u resized to 224x224", opt->flow_width, opt->flow_height);
    else
        snprintf(at, sizeof at, "crop");
    const char *values = opt->flow_values == ARNET_FLOW_VALUES_Q8       ? "q8"
                         : opt->flow_values == ARNET_FLOW_VALUES_Q8_RAW ? "q8-raw"
                                                                        : "float";
    snprintf(buf, n,
             "flow at %s, values %s (bound %g), channels %s, TV-L1 %u scales x %u warps x "
             "%u outer x %u inner, median %d",
             at, values, (double)opt->flow_bound,
             opt->flow_channels == ARNET_FLOW_CHANNELS_XX ? "x,x" : "x,y", fopt->scales,
             fopt->warps, fopt->outer_iterations, fopt->inner_iterations,
             fopt->median_filtering);
}

int cli_load_extractors(const char *cmd, const char *xpath, const char *fpath,
                        arnet_extractor **x, arnet_extractor **fx)
{
    *x = NULL;
    if (fx)
        *fx = NULL;
    int st = arnet_extractor_load(xpath, x);
    if (st != ARNET_OK)
        return cli_fail(cmd, st, xpath);
    if (arnet_extractor_stream(*x) != ARNET_STREAM_RGB) {
        fprintf(stderr, "arnet %s: --extractor %s: I3D's flow network (stream flow), not the "
                        "RGB one: give it as --flow-extractor\n",
                cmd, xpath);
        arnet_extractor_free(*x);
        *x = NULL;
        return CLI_EXIT_USAGE;
    }
    if (!fpath)
        return 0;
    if ((st = arnet_extractor_load(fpath, fx)) != ARNET_OK) {
        arnet_extractor_free(*x);
        *x = NULL;
        return cli_fail(cmd, st, fpath);
    }
    if (arnet_extractor_stream(*fx) != ARNET_STREAM_FLOW) {
        fprintf(stderr, "arnet %s: --flow-extractor %s: I3D's RGB network (stream rgb), not "
                        "the flow one (import flow_imagenet.pt or model_flow.pth)\n",
                cmd, fpath);
        arnet_extractor_free(*x);
        arnet_extractor_free(*fx);
        *x = *fx = NULL;
        return CLI_EXIT_USAGE;
    }
    return 0;
}

/* ---- interruption ---------------------------------------------------------- */

static arnet_extractor_state *volatile current_state;
static arnet_two_stream_state *volatile current_two;
static volatile sig_atomic_t interrupted;

static void on_signal(int sig)
{
    (void)sig;
    interrupted = 1;
    arnet_extractor_state *st = current_state;
    if (st)
        arnet_extractor_cancel(st);
    arnet_two_stream_state *ts = current_two;
    if (ts)
        arnet_two_stream_cancel(ts);
}

/* What a run extracts: RGB alone, or RGB and flow (fx not NULL). */
typedef struct streams {
    const arnet_extractor *x, *fx;
    const arnet_extractor_options *opt;
    const arnet_flow_options *fopt;
    int split; /* --split-streams */
} streams;

/* Clips a source of n frames gives (-1 unknown). */
static int64_t expected_clips(const streams *sm, int64_t n)
{
    if (n < 0)
        return -1;
    uint32_t T = sm->opt->clip_frames;
    if (sm->fx) /* n - 1 flows */
        return n > 0 ? (n - 1) / T : 0;
    return n / T + (sm->opt->last_clip == ARNET_LAST_CLIP_PAD && n % T);
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
static int extract_source(const streams *sm, source *s, progress *p, float **out,
                          size_t *n_clips, uint64_t *n_frames, char *err, size_t errlen)
{
    const arnet_extractor *x = sm->x;
    const arnet_extractor_options *opt = sm->opt;
    size_t per = (size_t)opt->crops * arnet_extractor_feature_dim(x) * (sm->fx ? 2 : 1);
    size_t cap = 64, n = 0;
    uint64_t frames = 0;
    float *feat = malloc(cap * per * sizeof *feat);
    arnet_extractor_state *st = NULL; /* made for the first frame's size */
    arnet_two_stream_state *ts = NULL; /* or this, with a flow extractor */
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
        if (got > 0 && !st && !ts) {
            arnet_extractor_options o = *opt;
            o.frame_width = fr.width;
            o.frame_height = fr.height;
            int cs;
            if (sm->fx) {
                arnet_flow_options fo = *sm->fopt;
                fo.threads = opt->threads;
                cs = arnet_two_stream_state_create(x, sm->fx, &o, &fo, &ts);
                current_two = ts;
            } else {
                cs = arnet_extractor_state_create(x, &o, &st);
                current_state = st;
            }
            if (cs != ARNET_OK) {
                snprintf(err, errlen, "%s", arnet_last_error());
                rc = -1;
                break;
            }
        }
        if (got == 0) /* two streams: a clip needs its flows; a tail is dropped */
            status = st ? arnet_extractor_flush(st, feat + n * per, &ready) : ARNET_OK;
        else {
            frames++;
            status = ts ? arnet_two_stream_push(ts, &fr, feat + n * per, &ready)
                        : arnet_extractor_push(st, &fr, feat + n * per, &ready);
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
    current_two = NULL;
    arnet_extractor_state_free(st);
    arnet_two_stream_state_free(ts);
    if (rc == 0 && n == 0) {
        if (sm->fx)
            snprintf(err, errlen, "%llu frames: no complete two-stream clip (%u frames for the "
                                  "RGB stream and one more for its %u flows)",
                     (unsigned long long)frames, opt->clip_frames, opt->clip_frames);
        else
            snprintf(err, errlen, "%llu frames: no complete %u-frame clip (--last-clip pad "
                                  "keeps a shorter one)",
                     (unsigned long long)frames, opt->clip_frames);
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

/* A run's features to its file(s): [T, F] (or [T, crops, F]), F = 2048
 * with two streams (RGB then flow per crop); with --split-streams the RGB
 * half to path and the flow half to flow_path, [T, 1024] each, as a
 * manifest's rgb.npy+flow.npy pair reads them.  ARNET_OK or a status with
 * arnet_last_error naming the file; no half-written pair is left. */
static int write_streams(const streams *sm, const char *path, const char *flow_path,
                         const float *feat, size_t n)
{
    uint32_t dim = arnet_extractor_feature_dim(sm->x), crops = sm->opt->crops;
    if (!sm->fx || !sm->split)
        return write_features(path, feat, n, crops, dim * (sm->fx ? 2 : 1));
    size_t rows = n * crops;
    float *half = malloc((rows ? rows : 1) * dim * sizeof *half);
    if (!half)
        return ARNET_E_NOMEM;
    int st = ARNET_OK;
    for (int k = 0; k < 2 && st == ARNET_OK; k++) {
        for (size_t r = 0; r < rows; r++)
            memcpy(half + r * dim, feat + (r * 2 + (size_t)k) * dim, dim * sizeof *half);
        st = write_features(k ? flow_path : path, half, n, crops, dim);
        if (st != ARNET_OK && k == 1)
            unlink(path);
    }
    free(half);
    return st;
}

/* ---- --frames FRAMES.npy --out OUT.npy ------------------------------------ */

static int run_frames(const streams *sm, npy_frames *nfp, const char *frames_path,
                      const char *out_path, const char *flow_out, int show)
{
    npy_frames nf = *nfp;
    char err[512];
    memset(nfp, 0, sizeof *nfp);
    source s = {&nf, NULL};
    progress p = {0};
    p.on = show;
    p.video = p.n_videos = 1;
    p.name = frames_path;
    p.expected_clips = expected_clips(sm, (int64_t)nf.n);
    p.run_start = p.video_start = cli_now();
    float *feat = NULL;
    size_t n = 0;
    uint64_t frames = 0;
    int rc = extract_source(sm, &s, &p, &feat, &n, &frames, err, sizeof err);
    npy_frames_close(&nf);
    cli_progress_done();
    if (rc < 0) {
        fprintf(stderr, "arnet extract: %s: %s\n", frames_path, err);
        return interrupted ? 130 : CLI_EXIT_FAIL;
    }
    int st = write_streams(sm, out_path, flow_out, feat, n);
    free(feat);
    if (st != ARNET_OK)
        return cli_fail(CMD, st, out_path);
    double el = cli_now() - p.run_start;
    fprintf(stderr, "arnet extract: %s: %llu frames -> %zu clips in %s%s%s (%.1f s, %.2f "
                    "clips/s)\n",
            frames_path, (unsigned long long)frames, n, out_path, flow_out ? " and " : "",
            flow_out ? flow_out : "", el, el > 0 ? (double)n / el : 0);
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
    const char *extractor, *flow_extractor;
    const arnet_extractor_options *opt;
    const arnet_flow_options *fopt;
    int split;
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
    if (m->flow_extractor) {
        char recipe[256];
        cli_flow_recipe(m->opt, m->fopt, recipe, sizeof recipe);
        fprintf(f, "\n# flow extractor %s, %s; %s", m->flow_extractor, recipe,
                m->split ? "rgb/ and flow/ [T, 1024] each" : "[T, 2048]: RGB then flow");
    }
    fprintf(f, "\n# output\tclips\tframes\tfps\tsource\n");
    for (size_t i = 0; i < m->n; i++) {
        const entry *e = &m->e[i];
        char name[64 + 2 * 4096];
        if (m->flow_extractor && m->split)
            snprintf(name, sizeof name, "rgb/%s.npy+flow/%s.npy", e->stem, e->stem);
        else
            snprintf(name, sizeof name, "%s.npy", e->stem);
        if (e->status == 1)
            fprintf(f, "%s\t%zu\t%llu\t%.6g\t%s\n", name, e->clips,
                    (unsigned long long)e->frames, e->fps, e->path);
        else if (e->status == 2) /* written by an earlier run */
            fprintf(f, "%s\t-\t-\t-\t%s\n", name, e->path);
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

static int run_videos(const streams *sm, const char *xpath, const char *fpath, entry *es,
                      size_t n, const char *dir, unsigned shard_k, unsigned shard_n, int force,
                      int show)
{
    int split = sm->fx && sm->split;
    size_t plen = strlen(dir) + 24;
    for (size_t i = 0; i < n; i++)
        plen = strlen(es[i].stem) + strlen(dir) + 16 > plen ? strlen(es[i].stem) + strlen(dir) + 16
                                                           : plen;
    plen += 8;
    char *out = malloc(plen), *fout = malloc(plen);
    if (!out || !fout) {
        free(out);
        free(fout);
        fprintf(stderr, "arnet extract: out of memory\n");
        return CLI_EXIT_FAIL;
    }
    if (split) { /* DIR/rgb and DIR/flow, as a manifest's pairs name them */
        snprintf(out, plen, "%s/rgb", dir);
        snprintf(fout, plen, "%s/flow", dir);
        if (cli_mkdir(out) != 0 || cli_mkdir(fout) != 0) {
            fprintf(stderr, "arnet extract: cannot create folder %s: %s\n",
                    cli_mkdir(out) != 0 ? out : fout, strerror(errno));
            free(out);
            free(fout);
            return CLI_EXIT_FAIL;
        }
    }
    progress p = {0};
    p.on = show;
    p.n_videos = n;
    p.run_start = cli_now();
    size_t failed = 0, written = 0, skipped = 0;
    uint64_t total_clips = 0;
    for (size_t i = 0; i < n && !interrupted; i++) {
        entry *e = &es[i];
        if (split) {
            snprintf(out, plen, "%s/rgb/%s.npy", dir, e->stem);
            snprintf(fout, plen, "%s/flow/%s.npy", dir, e->stem);
        } else {
            snprintf(out, plen, "%s/%s.npy", dir, e->stem);
        }
        struct stat sb;
        if (!force && stat(out, &sb) == 0 && (!split || stat(fout, &sb) == 0)) {
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
        p.expected_clips = expected_clips(sm, info.frames);
        p.video_start = cli_now();
        p.clips_before = total_clips;
        source s = {NULL, v};
        float *feat = NULL;
        int rc = extract_source(sm, &s, &p, &feat, &e->clips, &e->frames, err, sizeof err);
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
        int st = write_streams(sm, out, fout, feat, e->clips);
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
        manifest_ctx mc = {es, n, xpath, sm->fx ? fpath : NULL, sm->opt, sm->fopt, split,
                           shard_k, shard_n};
        if (cli_write_file(CMD, mpath, fill_manifest, &mc) != 0)
            rc = CLI_EXIT_FAIL;
    }
    double el = cli_now() - p.run_start;
    fprintf(stderr,
            "arnet extract: %zu written, %zu already there, %zu failed%s; %llu clips in %.1f s "
            "(%.2f clips/s)%s%s\n",
            written, skipped, failed, interrupted ? ", interrupted" : "",
            (unsigned long long)total_clips, el, el > 0 ? (double)total_clips / el : 0.0,
            mpath ? "; manifest " : "", mpath ? mpath : "");
    free(mpath);
    free(out);
    free(fout);
    for (size_t i = 0; i < n; i++)
        free(es[i].stem);
    if (interrupted)
        return 130;
    return rc ? rc : failed ? CLI_EXIT_FAIL : 0;
}

int cmd_extract(int argc, char **argv)
{
    const char *xpath = NULL, *fpath = NULL, *frames = NULL, *out = NULL, *flow_out = NULL, *v;
    arnet_extractor_options opt;
    arnet_extractor_options_init(&opt);
    arnet_flow_options fopt;
    arnet_flow_options_init(&fopt);
    unsigned shard_k = 1, shard_n = 1;
    int force = 0, show = 1, rc = 0, split = 0, flow_opts = 0;
    entry *es = NULL;
    size_t n = 0, cap = 0, n_owned = 0;
    char **owned = NULL;
    npy_frames nf;
    memset(&nf, 0, sizeof nf);
    cli_output o, fo;
    int o_used = 0, fo_used = 0;
    for (int i = 1; i < argc; i++) {
        int r = 0;
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            usage(stdout);
            goto done;
        } else if (!strcmp(argv[i], "--force")) {
            force = 1;
        } else if (!strcmp(argv[i], "--quiet")) {
            show = 0;
        } else if (!strcmp(argv[i], "--split-streams")) {
            split = 1;
        } else if ((r = cli_extractor_option(CMD, argc, argv, &i, &opt))) {
        } else if ((r = cli_flow_option(CMD, argc, argv, &i, &opt, &fopt))) {
            flow_opts = 1;
        } else if ((r = cli_opt_value(CMD, argc, argv, &i, "--extractor", &v))) {
            xpath = v;
        } else if ((r = cli_opt_value(CMD, argc, argv, &i, "--flow-extractor", &v))) {
            fpath = v;
        } else if ((r = cli_opt_value(CMD, argc, argv, &i, "--flow-out", &v))) {
            flow_out = v;
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
    if (!fpath && (split || flow_opts || flow_out)) {
        rc = cli_usage_error(CMD, "%s needs --flow-extractor FLOW.arnet (the flow stream)",
                             split ? "--split-streams" : flow_out ? "--flow-out" : "a --flow-* option");
        goto done;
    }
    if (fpath && opt.last_clip == ARNET_LAST_CLIP_PAD) {
        rc = cli_usage_error(CMD, "--last-clip pad: two-stream clips need all their flows; a "
                                  "shorter tail is dropped");
        goto done;
    }
    if (frames && split && !flow_out) {
        rc = cli_usage_error(CMD, "--split-streams with --frames: give the flow half's file "
                                  "as --flow-out FLOW.npy (--out gets the RGB half)");
        goto done;
    }
    if (flow_out && !(frames && split)) {
        rc = cli_usage_error(CMD, "--flow-out is for --frames with --split-streams (videos "
                                  "go to DIR/rgb and DIR/flow)");
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
                   (fpath && (rc = cli_output_not_input(CMD, &o, "the flow extractor "
                                                                 "--flow-extractor", fpath))) ||
                   (rc = cli_output_absent(CMD, &o, NULL, force, NULL)) ||
                   (rc = cli_output_lock(CMD, &o))))
        goto done;
    if (flow_out) {
        cli_output_init(&fo, "--flow-out", flow_out, 0);
        fo_used = 1;
        if ((rc = cli_output_not_input(CMD, &fo, "the frames --frames", frames)) ||
            (rc = cli_output_not_input(CMD, &fo, "the extractor --extractor", xpath)) ||
            (rc = cli_output_not_input(CMD, &fo, "the flow extractor --flow-extractor", fpath)) ||
            (rc = cli_output_not_input(CMD, &fo, "the RGB half --out", out)) ||
            (rc = cli_output_absent(CMD, &fo, NULL, force, NULL)) ||
            (rc = cli_output_lock(CMD, &fo)))
            goto done;
    }
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
    arnet_extractor *x = NULL, *fx = NULL;
    streams sm = {NULL, NULL, &opt, &fopt, split};
    if ((rc = cli_load_extractors(CMD, xpath, fpath, &x, fpath ? &fx : NULL)) != 0) {
    } else if (interrupted) {
        fprintf(stderr, "arnet extract: interrupted\n");
        rc = 130;
    } else {
        sm.x = x;
        sm.fx = fx;
        if (frames)
            rc = run_frames(&sm, &nf, frames, out, flow_out, show);
        else
            rc = run_videos(&sm, xpath, fpath, es, n_run, out, shard_k, shard_n, force, show);
    }
    sigaction(SIGINT, &old_int, NULL);
    sigaction(SIGTERM, &old_term, NULL);
    arnet_extractor_free(x);
    arnet_extractor_free(fx);
done:
    if (o_used)
        cli_output_release(&o);
    if (fo_used)
        cli_output_release(&fo);
    npy_frames_close(&nf);
    for (size_t i = 0; i < n_owned; i++)
        free(owned[i]);
    free(owned);
    free(es);
    return rc;
}
