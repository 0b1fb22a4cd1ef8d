/* cmd_extract.c -- `arnet extract`: I3D clip features from frames (.npy) or
 * video files, one .npy per input, resumable and shardable over the nodes
 * of a cluster (docs/video.md).  In order: the options shared with watch,
 * interruption, frames from .npy, one source to features (extract_source),
 * --frames, the list of videos, the settings that make an output (every
 * option that changes the features adds a key there), videos -> DIR over
 * --jobs threads (job_main: judge, claim, extract, record), the command.
 * The run's record (plan, claims, records, --status) is extract_run.c. */
#define _GNU_SOURCE /* sched_getaffinity, CPU_COUNT */
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"
#include "extract_run.h"
#include "video.h"

#define CMD "extract"

static void usage(FILE *f)
{
    fprintf(f,
            "usage: arnet extract --extractor X.arnet --frames FRAMES.npy --out OUT.npy [options]\n"
            "       arnet extract --extractor X.arnet [options] --out DIR VIDEO...\n"
            "       arnet extract --plan --shards N --extractor X.arnet [options] --out DIR VIDEO...\n"
            "       arnet extract --out DIR [--shard K] [--jobs J]     (a task of DIR's plan)\n"
            "       arnet extract --status DIR [--manifest OUT.txt [--partial]] [--quiet]\n"
            "       arnet extract --extractor X.arnet --flow-extractor F.arnet [--split-streams]\n"
            "                     [flow options] ...          (two streams, as AR-Net's features)\n\n"
            "I3D features of every 16-frame clip: [T, 1024] float32 (or [T, 10, 1024] with\n"
            "--crops 10).  With --flow-extractor, the RGB and the optical-flow streams:\n"
            "[T, 2048], each row RGB's 1024 values then flow's (TV-L1 flow of each frame to\n"
            "the one before; N frames give floor((N-1)/16) clips).\n"
            "FRAMES.npy is [N, H, W, 3] uint8 RGB.  Videos are decoded with\n"
            "FFmpeg (any container and codec it reads) and each is written to\n"
            "DIR/<file name without extension>.npy, with a record of how it was made in\n"
            "DIR/arnet-extract/; DIR/outputs.tsv lists every finished output.\n\n"
            "  --extractor X     extractor file (arnet import i3d)\n"
            "  --crops 1|10      centre crop (default) or ten crops\n"
            "  --resize R        short256 (default), 340x256, 224x224 or none\n"
            "  --filter F        resize filter: bilinear (default) or lanczos (UR-DMU's)\n"
            "  --last-clip M     drop (default) or pad a last clip of fewer than 16 frames\n"
            "  --threads K       threads working on each clip (default: the usable cores\n"
            "                    divided by --jobs)\n"
            "  --jobs J          extract J videos at once, each with its own state (default 1)\n"
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
            "  --flow-inexact    TV-L1 in float arithmetic of its own (about 2x faster,\n"
            "                    not OpenCV's bits: docs/extractor.md, \"Optical flow\")\n"
            "  --list FILE       read more video paths from FILE, one per line ('-' = stdin)\n"
            "  --labels FILE     read videos with labels: '<video> <0|1> [<ground truth>]' a\n"
            "                    line; --status --manifest then writes a training manifest\n"
            "  --force           extract again videos whose output exists (default: skip\n"
            "                    those whose record matches; refuse other files);\n"
            "                    with --frames, replace an existing OUT.npy\n"
            "  --max-attempts N  a video that failed N times is not tried again (default 3)\n"
            "  --strict          a damaged packet or frame, or a file that ends before the\n"
            "                    frames it states, fails the video (default: skipped, the\n"
            "                    video written and named with its damage, counted at the end)\n"
            "  --quiet           no progress (default: a bar on a terminal, else a line per\n"
            "                    video and every 10 s)\n\n"
            "Many tasks, many machines (DIR on a file system they share):\n"
            "  --plan            write the plan (the sorted list, its digest, --shards and the\n"
            "                    settings) into DIR/arnet-extract/plan and stop\n"
            "  --shards N        with --plan: the number of shards (default 1)\n"
            "  --shard K         take videos K, K+N, K+2N, ... (1-based) of the plan; K/N\n"
            "                    makes the plan from this list when DIR has none.  Without\n"
            "                    --shard: SLURM_ARRAY_TASK_ID, else the whole plan.  A list\n"
            "                    or settings given to a task must be the plan's\n"
            "  --lease S         a claim not renewed for S seconds is taken over (default 600)\n"
            "  --status DIR      every video's state (done, failed, running, missing) and each\n"
            "                    shard's; exit status 0 only when all are done\n"
            "  --manifest OUT    with --status: the training manifest of the labelled videos\n"
            "                    (only a complete run unless --partial)\n\n"
            "A video that cannot be decoded is reported (file and reason), recorded, and the\n"
            "others go on; the exit status is then 1.  Each video is claimed while it is\n"
            "extracted (host and process in DIR/arnet-extract/videos/NAME.claim), so tasks\n"
            "never extract one video twice at once.  Outputs are written atomically: an\n"
            "interrupted run leaves only finished files, and running it again resumes.\n");
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
    if (!strcmp(argv[*i], "--flow-inexact")) {
        fopt->exact = 0;
        return 1;
    }
    if ((r = cli_opt_value(cmd, argc, argv, i, "--flow-at", &v))) {
        if (r < 0)
            return -1;
        uint64_t w, h;
        if (!strcmp(v, "crop")) {
            opt->flow_at = ARNET_FLOW_AT_CROP;
        } else if (cli_parse_u64_pair(cmd, "--flow-at", v, 'x', "WxH", 3,
                                      16384, &w, &h)) {
            opt->flow_at = ARNET_FLOW_AT_SIZE;
            opt->flow_width = (uint32_t)w;
            opt->flow_height = (uint32_t)h;
        } else {
            return -1; /* cli_parse_u64_pair said why */
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

/* The extractor state of each job (--jobs), cancelled by Ctrl-C/SIGTERM
 * (cli_signals_catch: one rule for the long commands). */
#define MAX_JOBS 256
static arnet_extractor_state *volatile job_state[MAX_JOBS];
static arnet_two_stream_state *volatile job_two[MAX_JOBS]; /* two streams */

static void cancel_jobs(void)
{
    for (int j = 0; j < MAX_JOBS; j++) {
        arnet_extractor_state *st = job_state[j];
        if (st)
            arnet_extractor_cancel(st);
        arnet_two_stream_state *ts = job_two[j];
        if (ts)
            arnet_two_stream_cancel(ts);
    }
}

/* The flow stream of a run: its network (NULL: RGB only) and TV-L1. */
typedef struct flow_cfg {
    const arnet_extractor *fx;
    const arnet_flow_options *fopt;
    int split; /* --split-streams */
} flow_cfg;

/* Clips a source of n frames gives (-1 unknown): n - 1 flows with two
 * streams. */
static int64_t expected_clips(const arnet_extractor_options *opt, const flow_cfg *fc, int64_t n)
{
    if (n < 0)
        return -1;
    uint32_t T = opt->clip_frames;
    if (fc && fc->fx)
        return n > 0 ? (n - 1) / T : 0;
    return n / T + (opt->last_clip == ARNET_LAST_CLIP_PAD && n % T);
}

/* ---- frames from a .npy file ----------------------------------------------- */

typedef struct npy_frames {
    FILE *f;
    uint64_t n, h, w;
    uint8_t *row; /* one frame */
    uint64_t index;
} npy_frames;

/* Open FRAMES.npy: [N, H, W, 3] uint8 in C order.  The header is read by
 * the library's strict reader (arnet_npy_info_read: magic, NumPy's dict,
 * a data size that matches the file's) before anything is allocated for
 * the frames; the data are the file's last N x H x W x 3 bytes. */
static int npy_frames_open(const char *path, npy_frames *nf, char *err, size_t errlen)
{
    memset(nf, 0, sizeof *nf);
    arnet_npy_info info;
    arnet_npy_info_init(&info);
    if (arnet_npy_info_read(path, &info) != ARNET_OK) {
        char msg[512];
        cli_user_message(arnet_last_error(), msg, sizeof msg);
        /* The library's message names the file; ours is prefixed with it. */
        size_t pl = strlen(path);
        const char *m = !strncmp(msg, path, pl) && msg[pl] == ':' ? msg + pl + 1 : msg;
        snprintf(err, errlen, "%s", m + (*m == ' '));
        return -1;
    }
    if (info.item_size != 1 || (strcmp(info.dtype, "|u1") && strcmp(info.dtype, "<u1") &&
                                strcmp(info.dtype, ">u1") && strcmp(info.dtype, "|b1"))) {
        snprintf(err, errlen, "frames must be uint8 [N, H, W, 3] RGB, not dtype %s", info.dtype);
        return -1;
    }
    if (info.fortran_order) {
        snprintf(err, errlen, "frames must be in C order (fortran_order is True)");
        return -1;
    }
    if (info.ndim != 4 || info.shape[3] != 3) {
        snprintf(err, errlen, "frames must have shape [N, H, W, 3] (rank %d%s)", info.ndim,
                 info.ndim == 4 ? ", last dimension not 3" : "");
        return -1;
    }
    unsigned long long dims[3] = {info.shape[0], info.shape[1], info.shape[2]};
    if (dims[0] == 0 || dims[1] == 0 || dims[2] == 0 || dims[1] > 16384 || dims[2] > 16384) {
        snprintf(err, errlen, "frame shape [%llu, %llu, %llu, 3] is empty or too large", dims[0],
                 dims[1], dims[2]);
        return -1;
    }
    FILE *f = cli_fopen_read(path);
    if (!f) {
        snprintf(err, errlen, "cannot open: %s", cli_open_error(path));
        return -1;
    }
    /* The reader checked that the data fill the file to its end. */
    uint64_t frame_bytes = dims[1] * dims[2] * 3;
    struct stat stt;
    if (fstat(fileno(f), &stt) != 0 || dims[0] > (uint64_t)stt.st_size / frame_bytes ||
        fseeko(f, (off_t)((uint64_t)stt.st_size - dims[0] * frame_bytes), SEEK_SET) != 0) {
        snprintf(err, errlen, "the file changed while it was read");
        fclose(f);
        return -1;
    }
    nf->row = malloc(frame_bytes);
    if (!nf->row) {
        snprintf(err, errlen, "out of memory for one frame");
        fclose(f);
        return -1;
    }
    nf->f = f;
    nf->n = dims[0];
    nf->h = dims[1];
    nf->w = dims[2];
    return 0;
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
static int extract_source(const arnet_extractor *x, const arnet_extractor_options *opt,
                          const flow_cfg *fc, source *s, int job, progress *p, float **out,
                          size_t *n_clips, uint64_t *n_frames, char *err, size_t errlen)
{
    const arnet_extractor *fx = fc ? fc->fx : NULL;
    size_t per = (size_t)opt->crops * arnet_extractor_feature_dim(x) * (fx ? 2 : 1);
    size_t cap = 64, n = 0;
    uint64_t frames = 0;
    float *feat = malloc(cap * per * sizeof *feat);
    arnet_extractor_state *st = NULL; /* made for the first frame's size */
    arnet_two_stream_state *ts = NULL; /* or this, with a flow network */
    if (!feat) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    int rc = 0;
    for (;;) {
        if (cli_interrupted()) {
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
            if (fx) {
                arnet_flow_options fo = *fc->fopt;
                fo.threads = opt->threads;
                cs = arnet_two_stream_state_create(x, fx, &o, &fo, &ts);
                job_two[job] = ts;
            } else {
                cs = arnet_extractor_state_create(x, &o, &st);
                job_state[job] = st;
            }
            if (cs != ARNET_OK) {
                snprintf(err, errlen, "%s", arnet_last_error());
                rc = -1;
                break;
            }
        }
        if (got == 0) /* two streams: a tail without all its flows is dropped */
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
    job_state[job] = NULL;
    job_two[job] = NULL;
    arnet_extractor_state_free(st);
    arnet_two_stream_state_free(ts);
    if (rc == 0 && n == 0 && frames == 0) {
        snprintf(err, errlen, "no frame decoded (an empty video)");
        rc = -1;
    } else if (rc == 0 && n == 0 && fx) {
        snprintf(err, errlen, "%llu frames: no complete two-stream clip (%u frames for the RGB "
                              "stream and one more for its %u flows)",
                 (unsigned long long)frames, opt->clip_frames, opt->clip_frames);
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

/* A run's features to its file(s): [T, F] (or [T, crops, F]), F = 2048
 * with two streams (RGB then flow per crop); with --split-streams the RGB
 * half to path and the flow half to flow_path, [T, 1024] each, as a
 * manifest's rgb.npy+flow.npy pair reads them.  ARNET_OK or a status with
 * arnet_last_error naming the file; no half-written pair is left. */
static int write_streams(const flow_cfg *fc, uint32_t dim, uint32_t crops, const char *path,
                         const char *flow_path, const float *feat, size_t n)
{
    if (!fc->fx || !fc->split)
        return write_features(path, feat, n, crops, dim * (fc->fx ? 2 : 1));
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

static int run_frames(const arnet_extractor *x, const arnet_extractor_options *opt,
                      const flow_cfg *fc, npy_frames *nfp, const char *frames_path,
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
    p.expected_clips = expected_clips(opt, fc, (int64_t)nf.n);
    p.run_start = p.video_start = cli_now();
    float *feat = NULL;
    size_t n = 0;
    uint64_t frames = 0;
    int rc = extract_source(x, opt, fc, &s, 0, &p, &feat, &n, &frames, err, sizeof err);
    npy_frames_close(&nf);
    cli_progress_done();
    if (rc < 0) {
        fprintf(stderr, "arnet extract: %s: %s\n", frames_path, err);
        return cli_interrupted() ? cli_interrupt_status() : CLI_EXIT_FAIL;
    }
    int st = write_streams(fc, arnet_extractor_feature_dim(x), opt->crops, out_path, flow_out,
                           feat, n);
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

/* ---- the list of videos ------------------------------------------------------ */

/* Videos from the command line, --list and --labels, as a plan (unsorted
 * until plan_videos). */
typedef struct vlist {
    xr_plan p;
    size_t cap;
} vlist;

static int vlist_add(vlist *l, const char *path, int label, const char *gt)
{
    if (l->p.n == l->cap) {
        xr_video *g = realloc(l->p.v, (l->cap * 2 + 16) * sizeof *g);
        if (!g)
            return -1;
        l->p.v = g;
        l->cap = l->cap * 2 + 16;
    }
    xr_video *v = &l->p.v[l->p.n];
    memset(v, 0, sizeof *v);
    v->path = strdup(path);
    v->label = label;
    v->gt = gt && strcmp(gt, "-") ? strdup(gt) : NULL;
    l->p.n++;
    return v->path && (!gt || !strcmp(gt, "-") || v->gt) ? 0 : -1;
}

/* --list FILE: one path a line.  --labels FILE (labelled): "<video> <label>
 * [<ground truth>]" a line, blank-separated, as a training manifest with
 * videos in place of features.  '-' is standard input (a named FIFO would
 * wait for a writer forever).  0, or an exit code (message printed). */
static int read_list(const char *opt, const char *list, int labelled, vlist *l)
{
    FILE *f = strcmp(list, "-") ? cli_fopen_read(list) : stdin;
    if (!f) {
        fprintf(stderr, "arnet extract: %s %s: %s\n", opt, list, cli_open_error(list));
        return CLI_EXIT_FAIL;
    }
    char *line = NULL;
    size_t lcap = 0, lineno = 0;
    ssize_t len;
    int rc = 0;
    while ((len = getline(&line, &lcap, f)) >= 0) {
        lineno++;
        while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r'))
            line[--len] = 0;
        if (len == 0 || line[0] == '#')
            continue;
        if ((size_t)len != strlen(line)) {
            fprintf(stderr, "arnet extract: %s:%zu: NUL byte in the line\n", list, lineno);
            rc = CLI_EXIT_FAIL;
            break;
        }
        int label = -1;
        const char *gt = NULL, *path = line;
        if (labelled) {
            char *fld[4];
            int nf = 0;
            for (char *t = strtok(line, " \t"); t && nf < 4; t = strtok(NULL, " \t")) {
                if (t[0] == '#')
                    break;
                fld[nf++] = t;
            }
            if (nf == 0)
                continue;
            if (nf < 2 || nf > 3) {
                fprintf(stderr, "arnet extract: %s:%zu: expected '<video> <label> [<ground "
                                "truth>]', found %d field%s\n",
                        list, lineno, nf, nf == 1 ? "" : "s");
                rc = CLI_EXIT_FAIL;
                break;
            }
            if (strcmp(fld[1], "0") && strcmp(fld[1], "1")) {
                fprintf(stderr, "arnet extract: %s:%zu: label '%s' must be 0 or 1\n", list,
                        lineno, fld[1]);
                rc = CLI_EXIT_FAIL;
                break;
            }
            path = fld[0];
            label = fld[1][0] - '0';
            gt = nf == 3 ? fld[2] : NULL;
        }
        if (vlist_add(l, path, label, gt) != 0) {
            fprintf(stderr, "arnet extract: out of memory reading %s\n", list);
            rc = CLI_EXIT_FAIL;
            break;
        }
    }
    free(line);
    if (f != stdin)
        fclose(f);
    return rc;
}

static char *video_stem(const char *path)
{
    const char *b = strrchr(path, '/');
    b = b ? b + 1 : path;
    const char *dot = strrchr(b, '.');
    size_t len = dot && dot != b ? (size_t)(dot - b) : strlen(b);
    return strndup(b, len);
}

static int cmp_video(const void *a, const void *b)
{
    return strcmp(((const xr_video *)a)->path, ((const xr_video *)b)->path);
}

static int cmp_stem(const void *a, const void *b)
{
    return strcmp((*(const xr_video *const *)a)->stem, (*(const xr_video *const *)b)->stem);
}

/* Sort the list, name the outputs (so every shard agrees) and refuse what
 * cannot be planned: 0 or an exit code (message printed). */
static int plan_videos(xr_plan *p, const char *dir)
{
    qsort(p->v, p->n, sizeof *p->v, cmp_video);
    for (size_t i = 0; i < p->n; i++) {
        xr_video *v = &p->v[i];
        if (!(v->stem = video_stem(v->path))) {
            fprintf(stderr, "arnet extract: out of memory\n");
            return CLI_EXIT_FAIL;
        }
        if (i > 0 && !strcmp(v->path, p->v[i - 1].path))
            return cli_usage_error(CMD, "%s is listed twice", v->path);
        if (!v->stem[0])
            return cli_usage_error(CMD, "%s: no file name to name its output after", v->path);
        if (strpbrk(v->path, "\t\n\r"))
            return cli_usage_error(CMD, "%s: a tab or line end in a video's path", v->path);
    }
    /* Two outputs of one name: sorted by name, neighbours clash. */
    xr_video **by = malloc((p->n ? p->n : 1) * sizeof *by);
    if (!by) {
        fprintf(stderr, "arnet extract: out of memory\n");
        return CLI_EXIT_FAIL;
    }
    for (size_t i = 0; i < p->n; i++)
        by[i] = &p->v[i];
    qsort(by, p->n, sizeof *by, cmp_stem);
    for (size_t i = 1; i < p->n; i++)
        if (!strcmp(by[i]->stem, by[i - 1]->stem)) {
            int rc = cli_usage_error(CMD, "%s and %s would both be written as %s/%s.npy: "
                                          "rename one",
                                     by[i - 1]->path, by[i]->path, dir, by[i]->stem);
            free(by);
            return rc;
        }
    free(by);
    xr_plan_digest(p);
    return 0;
}

/* ---- settings: what makes an output ------------------------------------------- */

/* The extractor file's identity: FNV-1a 64 of its bytes, as 16 hex digits. */
static int file_digest(const char *path, char out[17])
{
    FILE *f = cli_fopen_read(path);
    if (!f)
        return -1;
    uint64_t h = 0xcbf29ce484222325ull;
    unsigned char buf[1 << 16];
    size_t k;
    while ((k = fread(buf, 1, sizeof buf, f)) > 0)
        for (size_t i = 0; i < k; i++) {
            h ^= buf[i];
            h *= 0x100000001b3ull;
        }
    int bad = ferror(f);
    fclose(f);
    if (bad)
        return -1;
    snprintf(out, 17, "%016llx", (unsigned long long)h);
    return 0;
}

/* "key=value ..." of everything that changes an output; recorded in the
 * plan and beside every output (extract_run.h), compared on resume.  A new
 * option that changes the features adds its key here. */
static void settings_string(const char *xdigest, const arnet_extractor_options *opt, char *buf,
                            size_t n)
{
    snprintf(buf, n, "extractor=%s crops=%u resize=%s filter=%s last_clip=%s clip_frames=%u",
             xdigest, opt->crops, cli_resize_name(opt->resize),
             opt->filter == ARNET_FILTER_LANCZOS ? "lanczos" : "bilinear",
             opt->last_clip == ARNET_LAST_CLIP_PAD ? "pad" : "drop", opt->clip_frames);
}

/* The TV-L1 preset name of fo (the command line sets presets only). */
static const char *preset_name(const arnet_flow_options *fo)
{
    return fo->inner_iterations == 300 && fo->outer_iterations == 1 ? "cuda" : "opencv";
}

/* With two streams, the flow's settings after the RGB ones: the flow
 * network's digest and the recipe (compared on resume like the others). */
static void flow_settings(char *buf, size_t n, const char *fdigest,
                          const arnet_extractor_options *opt, const arnet_flow_options *fo,
                          int split)
{
    size_t l = strlen(buf);
    char at[32];
    if (opt->flow_at == ARNET_FLOW_AT_SIZE)
        snprintf(at, sizeof at, "%ux%u", opt->flow_width, opt->flow_height);
    else
        snprintf(at, sizeof at, "crop");
    snprintf(buf + l, n > l ? n - l : 0,
             " flow_extractor=%s flow_at=%s flow_values=%s flow_bound=%g flow_channels=%s "
             "flow_preset=%s%s split=%s",
             fdigest, at,
             opt->flow_values == ARNET_FLOW_VALUES_Q8       ? "q8"
             : opt->flow_values == ARNET_FLOW_VALUES_Q8_RAW ? "q8-raw"
                                                            : "float",
             (double)opt->flow_bound, opt->flow_channels == ARNET_FLOW_CHANNELS_XX ? "xx" : "xy",
             preset_name(fo), fo->exact ? "" : " flow_arith=inexact", split ? "yes" : "no");
}

/* The options of a settings string (the plan's): 0, or -1 for one this
 * arnet cannot read back. */
static int settings_options(const char *set, arnet_extractor_options *opt)
{
    char v[64];
    const char *crops = xr_settings_get(set, "crops", v, sizeof v);
    if (!crops || (strcmp(crops, "1") && strcmp(crops, "10")))
        return -1;
    opt->crops = strcmp(crops, "10") ? 1 : 10;
    const char *r = xr_settings_get(set, "resize", v, sizeof v);
    int resizes[] = {ARNET_RESIZE_SHORT256, ARNET_RESIZE_340X256, ARNET_RESIZE_224,
                     ARNET_RESIZE_NONE};
    int found = 0;
    for (int i = 0; r && i < 4; i++)
        if (!strcmp(r, cli_resize_name(resizes[i]))) {
            opt->resize = resizes[i];
            found = 1;
        }
    const char *f = xr_settings_get(set, "filter", v, sizeof v);
    if (!found || !f || (strcmp(f, "bilinear") && strcmp(f, "lanczos")))
        return -1;
    opt->filter = !strcmp(f, "lanczos") ? ARNET_FILTER_LANCZOS : ARNET_FILTER_BILINEAR;
    const char *l = xr_settings_get(set, "last_clip", v, sizeof v);
    if (!l || (strcmp(l, "pad") && strcmp(l, "drop")))
        return -1;
    opt->last_clip = !strcmp(l, "pad") ? ARNET_LAST_CLIP_PAD : ARNET_LAST_CLIP_DROP;
    const char *c = xr_settings_get(set, "clip_frames", v, sizeof v);
    char *end;
    unsigned long cf = c && *c >= '1' && *c <= '9' ? strtoul(c, &end, 10) : 0;
    if (!cf || *end || cf > 4096)
        return -1;
    opt->clip_frames = (uint32_t)cf;
    return 0;
}

/* ---- videos -> DIR, over --jobs threads ---------------------------------------- */

typedef struct run {
    const arnet_extractor *x;
    flow_cfg fc; /* the flow stream (fc.fx NULL: RGB only) */
    arnet_extractor_options opt;
    const char *dir;
    const char *settings;
    xr_video **share; /* this run's videos */
    size_t n;
    int force, show, jobs, strict;
    unsigned max_attempts;
    double lease;
    size_t next; /* the next video to take (atomic) */
    pthread_mutex_t mu; /* counters and stderr */
    size_t written, skipped, failed, refused, busy, gave_up, finished, damaged;
    unsigned shard; /* K, or 0 for the whole list */
    uint64_t clips;
    double start;
} run;

typedef struct job {
    run *r;
    int index;
    progress p;
} job;

static void job_say(run *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void job_say(run *r, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    pthread_mutex_lock(&r->mu);
    cli_progress_done();
    fputs("arnet extract: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    pthread_mutex_unlock(&r->mu);
    va_end(ap);
}

#define COUNT(r, field)                                                                        \
    do {                                                                                       \
        pthread_mutex_lock(&(r)->mu);                                                          \
        (r)->field++;                                                                          \
        pthread_mutex_unlock(&(r)->mu);                                                        \
    } while (0)

/* One video, claimed: extract, record, publish.  0 written, -1 failed
 * (recorded), -2 interrupted, -3 the claim was lost (nothing written). */
static int do_video(job *jb, const xr_video *v, const char *out, xr_claim *claim,
                    unsigned attempts)
{
    run *r = jb->r;
    char err[512];
    uint32_t dim = arnet_extractor_feature_dim(r->x);
    cli_video *vid = NULL;
    xr_done d;
    memset(&d, 0, sizeof d);
    /* One damage policy with arnet watch (docs/video.md): damaged packets
     * and frames are skipped and counted, --strict fails at the first. */
    cli_video_net net = {0, NULL, r->strict, NULL};
    if (cli_video_open_net(v->path, 1, &net, &vid, err, sizeof err) < 0)
        goto failed;
    cli_video_info info;
    cli_video_info_get(vid, &info);
    d.fps = info.fps;
    progress *p = &jb->p;
    p->name = v->path;
    p->expected_clips = expected_clips(&r->opt, &r->fc, info.frames);
    p->video_start = cli_now();
    pthread_mutex_lock(&r->mu);
    p->clips_before = r->clips;
    p->video = r->finished + 1;
    pthread_mutex_unlock(&r->mu);
    source s = {NULL, vid};
    float *feat = NULL;
    size_t clips = 0;
    int rc = extract_source(r->x, &r->opt, &r->fc, &s, jb->index, p, &feat, &clips, &d.frames,
                            err, sizeof err);
    cli_video_damage dmg;
    cli_video_damage_get(vid, &dmg);
    cli_video_close(vid);
    if (rc < 0) {
        if (cli_interrupted())
            return -2;
        goto failed;
    }
    char dmg_text[320] = "";
    if (dmg.packets || dmg.frames || dmg.missing > 0) {
        snprintf(dmg_text, sizeof dmg_text,
                 "damaged: %llu packets and %llu frames skipped, %lld of the frames the file "
                 "states never came%s%s",
                 (unsigned long long)dmg.packets, (unsigned long long)dmg.frames,
                 (long long)(dmg.missing > 0 ? dmg.missing : 0), dmg.first[0] ? "; first: " : "",
                 dmg.first);
        if (r->strict) { /* a file cut short: the packets themselves were whole */
            free(feat);
            snprintf(err, sizeof err, "%s (--strict)", dmg_text);
            goto failed;
        }
    }
    if (!xr_claim_held(claim)) {
        free(feat);
        snprintf(err, sizeof err, "another task took over this video's claim (was this one "
                                  "stopped longer than the lease?): not written");
        job_say(r, "%s: %s", v->path, err);
        COUNT(r, busy); /* the other task's record stands */
        return -3;
    }
    /* The record first, then the output: a record without its output (a
     * kill between the two) is redone; an output is never newer than its
     * record.  An old output goes before either. */
    d.output = (char *)out + strlen(r->dir) + 1;
    d.source = v->path;
    d.settings = (char *)r->settings;
    d.clips = clips;
    d.crops = r->opt.crops;
    /* Two streams: [T, 2048] in one file, or with --split-streams the
     * halves in DIR/rgb/<stem>.npy and DIR/flow/<stem>.npy, recorded as
     * the pair. */
    int split = r->fc.fx && r->fc.split;
    d.dim = r->fc.fx && !split ? 2 * dim : dim;
    char flow_rel[64 + 4096], rgb_rel[64 + 4096], *flow_abs = NULL, *rgb_abs = NULL;
    const char *dest = out;
    if (split) {
        snprintf(flow_rel, sizeof flow_rel, "flow/%s.npy", v->stem);
        snprintf(rgb_rel, sizeof rgb_rel, "rgb/%s.npy", v->stem);
        size_t fl = strlen(r->dir) + strlen(flow_rel) + 2;
        flow_abs = malloc(fl);
        rgb_abs = malloc(fl);
        if (!flow_abs || !rgb_abs) {
            free(feat);
            free(flow_abs);
            free(rgb_abs);
            snprintf(err, sizeof err, "out of memory");
            goto failed;
        }
        snprintf(flow_abs, fl, "%s/%s", r->dir, flow_rel);
        snprintf(rgb_abs, fl, "%s/%s", r->dir, rgb_rel);
        d.flow = flow_rel;
        d.output = rgb_rel;
        dest = rgb_abs;
        unlink(flow_abs);
    }
    d.label = v->label;
    d.gt = v->gt;
    unlink(dest);
    if (xr_done_write(r->dir, v->stem, &d, err, sizeof err) != 0) {
        free(feat);
        free(flow_abs);
        free(rgb_abs);
        goto failed;
    }
    int st = write_streams(&r->fc, dim, r->opt.crops, dest, flow_abs, feat, clips);
    free(feat);
    free(flow_abs);
    if (st != ARNET_OK) {
        free(rgb_abs);
        xr_records_remove(r->dir, v->stem);
        snprintf(err, sizeof err, "%s", arnet_last_error());
        goto failed;
    }
    if (dmg_text[0])
        job_say(r, "%s: %s; written from the %llu frames decoded", v->path, dmg_text,
                (unsigned long long)d.frames);
    pthread_mutex_lock(&r->mu);
    r->written++;
    r->damaged += dmg_text[0] != 0;
    r->finished++;
    r->clips += clips;
    double el = cli_now() - p->video_start;
    if (r->show) {
        if (r->jobs == 1 && isatty(2)) { /* the bar's last state, then the line */
            progress_draw(p, clips, 1);
            cli_progress_done();
        }
        fprintf(stderr, "[%zu/%zu] %s -> %s%s: %llu frames, %zu clips, %.1f s\n", r->finished,
                r->n, v->path, dest, split ? " + flow/" : "", (unsigned long long)d.frames,
                clips, el);
    }
    pthread_mutex_unlock(&r->mu);
    free(rgb_abs);
    return 0;
failed:
    job_say(r, "%s: %s", v->path, err);
    if (xr_failed_write(r->dir, v->stem, v->path, attempts + 1, err) != 0)
        job_say(r, "warning: cannot record the failure of %s", v->path);
    pthread_mutex_lock(&r->mu);
    r->failed++;
    r->finished++;
    pthread_mutex_unlock(&r->mu);
    return -1;
}

static void *job_main(void *arg)
{
    job *jb = arg;
    run *r = jb->r;
    size_t plen = strlen(r->dir) + 16;
    for (size_t i = 0; i < r->n; i++)
        if (strlen(r->share[i]->stem) + strlen(r->dir) + 16 > plen)
            plen = strlen(r->share[i]->stem) + strlen(r->dir) + 16;
    char *out = malloc(plen);
    if (!out) {
        job_say(r, "out of memory");
        return NULL;
    }
    for (;;) {
        size_t i = __atomic_fetch_add(&r->next, 1, __ATOMIC_RELAXED);
        if (i >= r->n || cli_interrupted())
            break;
        const xr_video *v = r->share[i];
        /* The output's name in DIR; two streams written apart name
         * "rgb/<stem>.npy" and the flow file "flow/<stem>.npy". */
        int split = r->fc.fx && r->fc.split;
        char *rel = out + strlen(r->dir) + 1;
        char flow_rel[64 + 4096];
        snprintf(out, plen, "%s/%s%s.npy", r->dir, split ? "rgb/" : "", v->stem);
        snprintf(flow_rel, sizeof flow_rel, "flow/%s.npy", v->stem);
        const char *flow = split ? flow_rel : NULL;
        char why[1024];
        xr_done d;
        int state = xr_video_state(r->dir, v->stem, rel, flow, v->path, r->settings, &d, why,
                                   sizeof why);
        xr_done_free(&d);
        unsigned attempts = 0;
        char reason[600];
        if (state == XR_FAILED)
            xr_failed_read(r->dir, v->stem, &attempts, reason, sizeof reason);
        if (state == XR_DONE && !r->force) {
            COUNT(r, skipped);
            continue;
        }
        if (state == XR_REDO && r->show)
            job_say(r, "%s: extracting again: %s", v->path, why);
        if ((state == XR_FOREIGN || state == XR_OTHER) && !r->force) {
            job_say(r, "%s: refused: %s; --force extracts it again, or choose another --out",
                    v->path, why);
            COUNT(r, refused);
            continue;
        }
        if (state == XR_FAILED && !r->force && attempts >= r->max_attempts) {
            job_say(r, "%s: failed %u time%s (%s): not tried again (--max-attempts %u; "
                       "--force tries again)",
                    v->path, attempts, attempts == 1 ? "" : "s", reason, r->max_attempts);
            COUNT(r, gave_up);
            continue;
        }
        xr_claim *c = NULL;
        char holder[512];
        int got = xr_claim_take(r->dir, v->stem, 0, r->lease, &c, holder, sizeof holder);
        if (got < 0) {
            job_say(r, "%s: %s", v->path, holder);
            COUNT(r, failed);
            continue;
        }
        if (got == 0) {
            job_say(r, "%s: being extracted by %s: left to it", v->path, holder);
            COUNT(r, busy);
            continue;
        }
        /* Claimed: done meanwhile by the task whose claim this was? */
        state = xr_video_state(r->dir, v->stem, rel, flow, v->path, r->settings, &d, why,
                               sizeof why);
        xr_done_free(&d);
        if (state == XR_DONE && !r->force) {
            xr_claim_release(c);
            COUNT(r, skipped);
            continue;
        }
        int rc = do_video(jb, v, out, c, attempts);
        if (rc == 0) { /* an earlier attempt's failure record goes */
            char *fp = NULL;
            size_t n = strlen(r->dir) + strlen(v->stem) + 64;
            fp = malloc(n);
            if (fp) {
                snprintf(fp, n, "%s/arnet-extract/videos/%s.failed", r->dir, v->stem);
                unlink(fp);
                free(fp);
            }
        }
        xr_claim_release(c);
        if (rc == -2)
            break;
    }
    free(out);
    return NULL;
}

/* Processors this process may run on (its affinity: a Slurm task's CPUs). */
static int usable_cores(void)
{
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof set, &set) == 0 && CPU_COUNT(&set) > 0)
        return CPU_COUNT(&set);
    return cli_cpu_count();
}

static int run_videos(run *r)
{
    pthread_mutex_init(&r->mu, NULL);
    r->start = cli_now();
    job *jobs = calloc((size_t)r->jobs, sizeof *jobs);
    pthread_t *th = calloc((size_t)r->jobs, sizeof *th);
    int rc = 0;
    if (!jobs || !th || xr_renewer_start(r->lease) != 0) {
        fprintf(stderr, "arnet extract: out of memory\n");
        free(jobs);
        free(th);
        return CLI_EXIT_FAIL;
    }
    int started = 0;
    for (int j = 0; j < r->jobs; j++) {
        jobs[j].r = r;
        jobs[j].index = j;
        /* One redrawn bar for one job; with several, a line per video. */
        jobs[j].p.on = r->show && r->jobs == 1;
        jobs[j].p.n_videos = r->n;
        jobs[j].p.run_start = r->start;
        if (j == 0 || pthread_create(&th[j], NULL, job_main, &jobs[j]) == 0)
            started++;
        else
            break;
    }
    job_main(&jobs[0]); /* job 0 on this thread */
    for (int j = 1; j < started; j++)
        pthread_join(th[j], NULL);
    xr_renewer_stop();
    cli_progress_done();
    char err[512];
    int out_ok = xr_write_outputs(r->dir, err, sizeof err) == 0;
    if (!out_ok)
        fprintf(stderr, "arnet extract: %s\n", err);
    double el = cli_now() - r->start;
    char extra[256] = "";
    size_t k = 0;
    if (r->refused)
        k += (size_t)snprintf(extra + k, sizeof extra - k, ", %zu refused", r->refused);
    if (r->gave_up)
        k += (size_t)snprintf(extra + k, sizeof extra - k, ", %zu given up", r->gave_up);
    if (r->busy)
        k += (size_t)snprintf(extra + k, sizeof extra - k, ", %zu left to other tasks", r->busy);
    if (r->damaged)
        k += (size_t)snprintf(extra + k, sizeof extra - k,
                              ", %zu of those written damaged (named above)", r->damaged);
    fprintf(stderr,
            "arnet extract: %zu written, %zu already there, %zu failed%s%s; %llu clips in %.1f s "
            "(%.2f clips/s); %s%s/outputs.tsv\n",
            r->written, r->skipped, r->failed, extra, cli_interrupted() ? ", interrupted" : "",
            (unsigned long long)r->clips, el, el > 0 ? (double)r->clips / el : 0.0,
            out_ok ? "" : "not written: ", r->dir);
    free(jobs);
    free(th);
    pthread_mutex_destroy(&r->mu);
    if (cli_interrupted())
        return cli_interrupt_status();
    if (!out_ok)
        rc = CLI_EXIT_FAIL;
    return rc ? rc : (r->failed || r->refused || r->gave_up) ? CLI_EXIT_FAIL : 0;
}

/* ---- the command ------------------------------------------------------------------ */

typedef struct args {
    const char *xpath, *frames, *out, *status, *manifest, *shard;
    const char *fpath, *flow_out; /* --flow-extractor, --flow-out */
    arnet_flow_options fopt;
    int split, flow_given;        /* --split-streams, a --flow-* option */
    char fdigest[17];             /* of --flow-extractor's file */
    arnet_extractor_options opt;
    int settings_given, threads_given, force, show, plan, partial, xpath_owned, strict;
    unsigned shards, jobs, max_attempts;
    unsigned shard_k, shard_n; /* --shard K[/N]; 0 when not given */
    double lease;
    vlist videos;
} args;

/* K of "K" or "K/N" (*n 0 without N), range-checked: 0 or an exit code. */
static int parse_shard(const char *v, unsigned *k, unsigned *n, const char *from)
{
    uint64_t kk, nn = 0;
    if (strchr(v, '/')) {
        if (!cli_parse_u64_pair(CMD, from, v, '/', "K/N", 1, 1000000, &kk, &nn))
            return CLI_EXIT_USAGE;
        if (kk > nn)
            return cli_usage_error(CMD, "%s: '%s' is not K/N with 1 <= K <= N", from, v);
    } else if (!cli_parse_u64(CMD, from, v, 1, 1000000, &kk))
        return CLI_EXIT_USAGE;
    *k = (unsigned)kk;
    *n = (unsigned)nn;
    return 0;
}

/* Which videos this task does, from the plan in DIR (made here from the
 * list when --plan or --shard K/N asks for one and there is none).
 * Fills r->share; 0, or an exit code (message printed); *stop for --plan. */
static int choose_videos(args *a, const char *xdigest, xr_plan *plan, run *r, int *stop)
{
    char err[1024], why[1024], settings[1024];
    settings_string(xdigest, &a->opt, settings, sizeof settings);
    if (a->fpath)
        flow_settings(settings, sizeof settings, a->fdigest, &a->opt, &a->fopt, a->split);
    xr_plan *mine = &a->videos.p;
    unsigned k = a->shard_k, n = a->shard_n;
    const char *k_from = "--shard";
    int rc;
    if ((rc = plan_videos(mine, a->out)))
        return rc;
    if (xr_dir_make(a->out, err, sizeof err) != 0) {
        fprintf(stderr, "arnet extract: %s\n", err);
        return CLI_EXIT_FAIL;
    }
    int pr = xr_plan_read(a->out, plan, err, sizeof err);
    if (pr < 0) {
        fprintf(stderr, "arnet extract: %s\n", err);
        return CLI_EXIT_FAIL;
    }
    unsigned want_n = a->plan ? (a->shards ? a->shards : 1) : n;
    if (pr == 0 && (a->plan || n > 0)) {
        if (mine->n == 0)
            return cli_usage_error(CMD, "nothing to plan: give videos, --list or --labels");
        mine->shards = want_n;
        mine->settings = strdup(settings);
        mine->extractor = cli_abs_path(a->xpath);
        mine->lease = a->lease;
        if (!mine->settings || !mine->extractor) {
            fprintf(stderr, "arnet extract: out of memory\n");
            return CLI_EXIT_FAIL;
        }
        int cr = xr_plan_create(a->out, mine, err, sizeof err);
        if (cr < 0) {
            fprintf(stderr, "arnet extract: %s\n", err);
            return CLI_EXIT_FAIL;
        }
        if (cr > 0 && a->plan) {
            printf("arnet extract: planned %zu videos in %u shard%s in %s/arnet-extract/plan "
                   "(list digest %016llx)\n",
                   mine->n, want_n, want_n == 1 ? "" : "s", a->out,
                   (unsigned long long)mine->digest);
            *stop = 1;
            return 0;
        }
        if ((pr = xr_plan_read(a->out, plan, err, sizeof err)) <= 0) {
            fprintf(stderr, "arnet extract: %s\n", pr < 0 ? err : "the plan vanished");
            return CLI_EXIT_FAIL;
        }
    }
    if (pr == 0) {
        if (k > 0)
            return cli_usage_error(CMD, "--shard %s: %s has no plan (make one with arnet "
                                        "extract --plan --shards N ...)",
                                   a->shard, a->out);
        /* No plan, no shards: this task's own list, as given. */
        r->n = mine->n;
        r->settings = NULL;
        r->share = malloc((mine->n ? mine->n : 1) * sizeof *r->share);
        if (!r->share)
            return CLI_EXIT_FAIL;
        for (size_t i = 0; i < mine->n; i++)
            r->share[i] = &mine->v[i];
        return 0;
    }
    /* A plan: this task's list and settings must be the plan's. */
    if (mine->n > 0 && xr_plan_same_list(plan, mine, why, sizeof why) != 0) {
        fprintf(stderr, "arnet extract: this task's videos differ from the plan in "
                        "%s/arnet-extract/plan: %s\n(a list made again while tasks ran? extract "
                        "from the plan's list: leave out the videos, or plan another --out)\n",
                a->out, why);
        return CLI_EXIT_FAIL;
    }
    if (a->settings_given &&
        xr_settings_diff(settings, plan->settings, "here", "in the plan", why, sizeof why)) {
        fprintf(stderr, "arnet extract: the settings differ from the plan's (%s): leave them "
                        "out to use the plan's\n",
                why);
        return CLI_EXIT_FAIL;
    }
    if (a->plan) {
        if (want_n != plan->shards) {
            fprintf(stderr, "arnet extract: %s already has a plan of %u shards, not %u\n",
                    a->out, plan->shards, want_n);
            return CLI_EXIT_FAIL;
        }
        printf("arnet extract: the plan in %s/arnet-extract/plan is already this one (%zu "
               "videos in %u shards)\n",
               a->out, plan->n, plan->shards);
        *stop = 1;
        return 0;
    }
    if (n > 0 && n != plan->shards) {
        fprintf(stderr, "arnet extract: --shard %s: the plan in %s has %u shards, not %u\n",
                a->shard, a->out, plan->shards, n);
        return CLI_EXIT_FAIL;
    }
    if (k == 0 && plan->shards > 1) {
        const char *id = getenv("SLURM_ARRAY_TASK_ID");
        if (id && *id) {
            unsigned nn;
            if ((rc = parse_shard(id, &k, &nn, "SLURM_ARRAY_TASK_ID")))
                return rc;
            k_from = "SLURM_ARRAY_TASK_ID";
        }
    }
    if (k > plan->shards) {
        fprintf(stderr, "arnet extract: shard %u (%s) is past the plan's %u shards (submit "
                        "the array as --array=1-%u)\n",
                k, k_from, plan->shards, plan->shards);
        return CLI_EXIT_FAIL;
    }
    char fv[64];
    if (!a->fpath && xr_settings_get(plan->settings, "flow_extractor", fv, sizeof fv)) {
        fprintf(stderr, "arnet extract: the plan in %s/arnet-extract/plan extracts two streams: "
                        "give --flow-extractor and the plan's flow options (%s)\n",
                a->out, plan->settings);
        return CLI_EXIT_FAIL;
    }
    if (settings_options(plan->settings, &a->opt) != 0) {
        fprintf(stderr, "arnet extract: %s/arnet-extract/plan: settings '%s' are not this "
                        "arnet's\n",
                a->out, plan->settings);
        return CLI_EXIT_FAIL;
    }
    r->settings = plan->settings;
    if (plan->lease >= 1)
        r->lease = plan->lease;
    r->share = malloc((plan->n ? plan->n : 1) * sizeof *r->share);
    if (!r->share)
        return CLI_EXIT_FAIL;
    r->n = 0;
    for (size_t i = 0; i < plan->n; i++)
        if (k == 0 || i % plan->shards == k - 1)
            r->share[r->n++] = &plan->v[i];
    if (a->show)
        fprintf(stderr, "arnet extract: %s %u/%u of the plan in %s: %zu videos\n",
                k ? "shard" : "all", k ? k : plan->shards, plan->shards, a->out, r->n);
    r->shard = k;
    return 0;
}

/* Parse argv into a: 0 to go on, -1 done (--help), or an exit code. */
static int parse_args(int argc, char **argv, args *a)
{
    const char *v;
    for (int i = 1; i < argc; i++) {
        int r = 0;
        const char *arg = argv[i];
        if (!strcmp(arg, "--help") || !strcmp(arg, "-h")) {
            usage(stdout);
            return -1;
        } else if (!strcmp(argv[i], "--force")) {
            a->force = 1;
        } else if (!strcmp(argv[i], "--quiet")) {
            a->show = 0;
        } else if (!strcmp(argv[i], "--plan")) {
            a->plan = 1;
        } else if (!strcmp(argv[i], "--partial")) {
            a->partial = 1;
        } else if (!strcmp(argv[i], "--strict")) {
            a->strict = 1;
        } else if ((r = cli_extractor_option(CMD, argc, argv, &i, &a->opt))) {
            if (strncmp(arg, "--threads", 9))
                a->settings_given = 1;
            else
                a->threads_given = 1;
        } else if (!strcmp(argv[i], "--split-streams")) {
            a->split = 1;
            a->settings_given = 1;
        } else if ((r = cli_flow_option(CMD, argc, argv, &i, &a->opt, &a->fopt))) {
            a->flow_given = 1;
            a->settings_given = 1;
        } else if ((r = cli_opt_value(CMD, argc, argv, &i, "--extractor", &v))) {
            a->xpath = v;
            a->settings_given = 1;
        } else if ((r = cli_opt_value(CMD, argc, argv, &i, "--flow-extractor", &v))) {
            a->fpath = v;
            a->settings_given = 1;
        } else if ((r = cli_opt_value(CMD, argc, argv, &i, "--flow-out", &v))) {
            a->flow_out = v;
        } else if ((r = cli_opt_value(CMD, argc, argv, &i, "--frames", &v))) {
            a->frames = v;
        } else if ((r = cli_opt_value(CMD, argc, argv, &i, "--out", &v))) {
            a->out = v;
        } else if ((r = cli_opt_value(CMD, argc, argv, &i, "--status", &v))) {
            a->status = v;
        } else if ((r = cli_opt_value(CMD, argc, argv, &i, "--manifest", &v))) {
            a->manifest = v;
        } else if ((r = cli_opt_value(CMD, argc, argv, &i, "--list", &v)) ||
                   (r = cli_opt_value(CMD, argc, argv, &i, "--labels", &v))) {
            int rc;
            int labelled = !strncmp(arg, "--labels", 8);
            if (r > 0 && (rc = read_list(labelled ? "--labels" : "--list", v, labelled,
                                         &a->videos)))
                return rc;
        } else if ((r = cli_opt_value(CMD, argc, argv, &i, "--shard", &v))) {
            int rc;
            if (r > 0 && (rc = parse_shard(v, &a->shard_k, &a->shard_n, "--shard")))
                return rc;
            a->shard = v;
        } else if ((r = cli_opt_value(CMD, argc, argv, &i, "--shards", &v))) {
            uint64_t k;
            if (r > 0 && !cli_parse_u64(CMD, "--shards", v, 1, 1000000, &k))
                return CLI_EXIT_USAGE;
            a->shards = (unsigned)k;
        } else if ((r = cli_opt_value(CMD, argc, argv, &i, "--jobs", &v))) {
            uint64_t k;
            if (r > 0 && !cli_parse_u64(CMD, "--jobs", v, 1, MAX_JOBS, &k))
                return CLI_EXIT_USAGE;
            a->jobs = (unsigned)k;
        } else if ((r = cli_opt_value(CMD, argc, argv, &i, "--max-attempts", &v))) {
            uint64_t k;
            if (r > 0 && !cli_parse_u64(CMD, "--max-attempts", v, 1, 1000000, &k))
                return CLI_EXIT_USAGE;
            a->max_attempts = (unsigned)k;
        } else if ((r = cli_opt_value(CMD, argc, argv, &i, "--lease", &v))) {
            if (r > 0 && !cli_parse_double(CMD, "--lease", v, 1, 1e7, &a->lease))
                return CLI_EXIT_USAGE;
        } else if (argv[i][0] == '-' && argv[i][1]) {
            return cli_usage_error(CMD, "unknown option '%s'", argv[i]);
        } else if (vlist_add(&a->videos, argv[i], -1, NULL) != 0) {
            fprintf(stderr, "arnet extract: out of memory\n");
            return CLI_EXIT_FAIL;
        }
        if (r < 0)
            return CLI_EXIT_USAGE;
    }
    return 0;
}

/* --frames FRAMES.npy --out OUT.npy: one file, no plan or records. */
static int cmd_frames(args *a)
{
    if (a->videos.p.n > 0)
        return cli_usage_error(CMD, "give either --frames FRAMES.npy or video files, not both");
    if (!a->xpath)
        return cli_usage_error(CMD, "--extractor X.arnet is required");
    if (a->split && !a->flow_out)
        return cli_usage_error(CMD, "--split-streams with --frames: give the flow half's file "
                                    "as --flow-out FLOW.npy (--out gets the RGB half)");
    if (a->flow_out && !a->split)
        return cli_usage_error(CMD, "--flow-out goes with --split-streams");
    /* OUT.npy is not an input, and not replaced without --force. */
    cli_output o, fo;
    cli_output_init(&o, "--out", a->out, 0);
    cli_output_init(&fo, "--flow-out", a->flow_out ? a->flow_out : "", 0);
    npy_frames nf;
    memset(&nf, 0, sizeof nf);
    int rc;
    char err[512];
    if ((rc = cli_output_not_input(CMD, &o, "the frames --frames", a->frames)) ||
        (rc = cli_output_not_input(CMD, &o, "the extractor --extractor", a->xpath)) ||
        (a->fpath && (rc = cli_output_not_input(CMD, &o, "the flow extractor --flow-extractor",
                                                a->fpath))) ||
        (rc = cli_output_absent(CMD, &o, NULL, a->force, NULL)) ||
        (rc = cli_output_lock(CMD, &o)))
        goto done;
    if (a->flow_out &&
        ((rc = cli_output_not_input(CMD, &fo, "the frames --frames", a->frames)) ||
         (rc = cli_output_not_input(CMD, &fo, "the extractor --extractor", a->xpath)) ||
         (rc = cli_output_not_input(CMD, &fo, "the flow extractor --flow-extractor", a->fpath)) ||
         (rc = cli_output_not_input(CMD, &fo, "the RGB half --out", a->out)) ||
         (rc = cli_output_absent(CMD, &fo, NULL, a->force, NULL)) ||
         (rc = cli_output_lock(CMD, &fo))))
        goto done;
    /* The input is checked before the extractor is loaded (seconds). */
    if (npy_frames_open(a->frames, &nf, err, sizeof err) < 0) {
        fprintf(stderr, "arnet extract: %s: %s\n", a->frames, err);
        rc = CLI_EXIT_FAIL;
        goto done;
    }
    arnet_extractor *x = NULL, *fx = NULL;
    if ((rc = cli_load_extractors(CMD, a->xpath, a->fpath, &x, a->fpath ? &fx : NULL)) != 0) {
    } else if (cli_interrupted()) {
        fprintf(stderr, "arnet extract: interrupted\n");
        rc = cli_interrupt_status();
    } else {
        if (!a->threads_given)
            a->opt.threads = usable_cores();
        flow_cfg fc = {fx, &a->fopt, a->split};
        rc = run_frames(x, &a->opt, &fc, &nf, a->frames, a->out, a->flow_out, a->show);
    }
    arnet_extractor_free(x);
    arnet_extractor_free(fx);
done:
    npy_frames_close(&nf);
    cli_output_release(&o);
    if (a->flow_out)
        cli_output_release(&fo);
    return rc;
}

/* Videos into --out DIR: plan, shard, claim, extract, record. */
static int cmd_videos(args *a)
{
    size_t ol = strlen(a->out);
    if (ol > 4 && !strcmp(a->out + ol - 4, ".npy"))
        return cli_usage_error(CMD, "--out %s: videos are written into a folder (--out DIR), "
                                    "one DIR/<name>.npy each", a->out);
    if (a->shards && !a->plan)
        return cli_usage_error(CMD, "--shards N goes with --plan (tasks then give --shard K)");
    if (!a->plan && !cli_video_available()) {
        fprintf(stderr, "arnet extract: %s\n", cli_video_missing());
        return CLI_EXIT_FAIL;
    }
    char xdigest[17] = "", err[512];
    if (a->videos.p.n == 0) {
        size_t pl = strlen(a->out) + 32;
        char *pp = malloc(pl);
        int has_plan = pp && (snprintf(pp, pl, "%s/arnet-extract/plan", a->out), access(pp, F_OK) == 0);
        free(pp);
        if (!has_plan)
            return cli_usage_error(CMD, "nothing to extract: give --frames FRAMES.npy, video "
                                        "files, --list or --labels (%s has no plan)", a->out);
    }
    if (a->xpath && file_digest(a->xpath, xdigest) != 0) {
        fprintf(stderr, "arnet extract: --extractor %s: %s\n", a->xpath,
                cli_open_error(a->xpath));
        return CLI_EXIT_FAIL;
    }
    if (a->fpath && file_digest(a->fpath, a->fdigest) != 0) {
        fprintf(stderr, "arnet extract: --flow-extractor %s: %s\n", a->fpath,
                cli_open_error(a->fpath));
        return CLI_EXIT_FAIL;
    }
    xr_plan plan;
    memset(&plan, 0, sizeof plan);
    run r;
    memset(&r, 0, sizeof r);
    r.lease = a->lease;
    int stop = 0, rc;
    if (!a->xpath) {
        /* Only a task of a plan may leave the extractor out. */
        int pr = xr_plan_read(a->out, &plan, err, sizeof err);
        if (pr <= 0) {
            if (pr < 0)
                fprintf(stderr, "arnet extract: %s\n", err);
            xr_plan_free(&plan);
            return pr < 0 ? CLI_EXIT_FAIL
                          : cli_usage_error(CMD, "--extractor X.arnet is required (%s has no "
                                                 "plan to take it from)", a->out);
        }
        char want[64];
        a->xpath = plan.extractor;
        if (file_digest(a->xpath, xdigest) != 0 ||
            !xr_settings_get(plan.settings, "extractor", want, sizeof want) ||
            strcmp(want, xdigest)) {
            fprintf(stderr, "arnet extract: the plan's extractor %s is %s: give --extractor\n",
                    a->xpath, xdigest[0] ? "not the file it was when planned" : "unreadable");
            xr_plan_free(&plan);
            return CLI_EXIT_FAIL;
        }
        /* The plan's own settings, not the defaults, make the string
         * (unless the task gave some: then they are compared). */
        if (!a->settings_given && settings_options(plan.settings, &a->opt) != 0) {
            xr_plan_free(&plan);
            return CLI_EXIT_FAIL;
        }
        a->xpath = strdup(plan.extractor); /* the plan is read again below */
        xr_plan_free(&plan);
        if (!a->xpath)
            return CLI_EXIT_FAIL;
        a->xpath_owned = 1;
    }
    if ((rc = choose_videos(a, xdigest, &plan, &r, &stop)) || stop)
        goto done;
    char own_settings[1024];
    if (!r.settings) { /* no plan: this task's settings */
        settings_string(xdigest, &a->opt, own_settings, sizeof own_settings);
        if (a->fpath)
            flow_settings(own_settings, sizeof own_settings, a->fdigest, &a->opt, &a->fopt,
                          a->split);
        r.settings = own_settings;
    }
    if (r.n == 0) {
        rc = cli_usage_error(CMD, "nothing to extract: give video files, --list or --labels");
        goto done;
    }
    /* One task per shard: a second one is refused (a dead one's claim is
     * taken over). */
    xr_claim *shard_claim = NULL;
    if (r.shard > 0) {
        char name[32], holder[512];
        snprintf(name, sizeof name, "shard-%u", r.shard);
        int got = xr_claim_take(a->out, name, 1, r.lease, &shard_claim, holder, sizeof holder);
        if (got <= 0) {
            if (got == 0)
                fprintf(stderr, "arnet extract: shard %u of %s is being run by %s: not run "
                                "twice\n",
                        r.shard, a->out, holder);
            else
                fprintf(stderr, "arnet extract: %s\n", holder);
            rc = CLI_EXIT_FAIL;
            goto done;
        }
    }
    arnet_extractor *x = NULL, *fx = NULL;
    char flow_dir[4096 + 8], rgb_dir[4096 + 8];
    snprintf(flow_dir, sizeof flow_dir, "%s/flow", a->out);
    snprintf(rgb_dir, sizeof rgb_dir, "%s/rgb", a->out);
    if ((rc = cli_load_extractors(CMD, a->xpath, a->fpath, &x, a->fpath ? &fx : NULL)) != 0) {
    } else if (cli_interrupted()) {
        fprintf(stderr, "arnet extract: interrupted\n");
        rc = cli_interrupt_status();
    } else if (fx && a->split && (cli_mkdir(flow_dir) != 0 || cli_mkdir(rgb_dir) != 0)) {
        fprintf(stderr, "arnet extract: cannot create folder %s or %s: %s\n", rgb_dir, flow_dir,
                strerror(errno));
        rc = CLI_EXIT_FAIL;
    } else {
        r.fc.fx = fx;
        r.fc.fopt = &a->fopt;
        r.fc.split = a->split;
        int cores = usable_cores();
        r.jobs = a->jobs ? (int)a->jobs : 1;
        if ((size_t)r.jobs > r.n)
            r.jobs = (int)r.n;
        if (!a->threads_given)
            a->opt.threads = cores / r.jobs > 0 ? cores / r.jobs : 1;
        r.x = x;
        r.opt = a->opt;
        r.dir = a->out;
        r.force = a->force;
        r.strict = a->strict;
        r.show = a->show;
        r.max_attempts = a->max_attempts;
        rc = run_videos(&r);
    }
    arnet_extractor_free(x);
    arnet_extractor_free(fx);
    xr_claim_release(shard_claim);
done:
    free(r.share);
    xr_plan_free(&plan);
    return rc;
}

int cmd_extract(int argc, char **argv)
{
    args a;
    memset(&a, 0, sizeof a);
    arnet_extractor_options_init(&a.opt);
    arnet_flow_options_init(&a.fopt);
    a.show = 1;
    a.max_attempts = 3;
    a.lease = 600;
    int rc = parse_args(argc, argv, &a);
    if (rc == -1) {
        rc = 0;
        goto done;
    }
    if (rc)
        goto done;
    if (a.status) {
        if (a.out || a.frames || a.videos.p.n || a.plan || a.shard)
            rc = cli_usage_error(CMD, "--status DIR takes only --manifest, --partial and "
                                      "--quiet");
        else {
            xr_status_options so = {!a.show, a.manifest, a.partial};
            rc = xr_status(CMD, a.status, &so);
        }
        goto done;
    }
    if (a.manifest || a.partial) {
        rc = cli_usage_error(CMD, "--manifest and --partial go with --status DIR");
        goto done;
    }
    if (!a.out) {
        rc = cli_usage_error(CMD, "--out is required");
        goto done;
    }
    if (!a.fpath && (a.split || a.flow_given || a.flow_out)) {
        rc = cli_usage_error(CMD, "%s needs --flow-extractor FLOW.arnet (the flow stream)",
                             a.split ? "--split-streams" : a.flow_out ? "--flow-out"
                                                                      : "a --flow-* option");
        goto done;
    }
    if (a.fpath && a.opt.last_clip == ARNET_LAST_CLIP_PAD) {
        rc = cli_usage_error(CMD, "--last-clip pad: two-stream clips need all their flows; a "
                                  "shorter tail is dropped");
        goto done;
    }
    if (a.flow_out && !a.frames) {
        rc = cli_usage_error(CMD, "--flow-out is for --frames (videos' halves go to "
                                  "DIR/rgb/<name>.npy and DIR/flow/<name>.npy)");
        goto done;
    }
    /* Ctrl-C or SIGTERM from here on (loading takes seconds) stops cleanly:
     * extractions are cancelled, FFmpeg's waits cut short, exit 130 or 143. */
    cli_signals_catch(cancel_jobs);
    cli_video_set_interrupt(cli_interrupted);
    rc = a.frames ? cmd_frames(&a) : cmd_videos(&a);
    cli_signals_restore();
    cli_video_set_interrupt(NULL);
done:
    if (a.xpath_owned)
        free((char *)a.xpath);
    xr_plan_free(&a.videos.p);
    return rc;
}
