/* video.c -- FFmpeg decoding for the arnet program and the examples
 * (video.h says what is done here; docs/video.md why). */
#include "video.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *cli_video_missing(void)
{
    return "this arnet was built without video decoding: install FFmpeg's development "
           "files (Debian: apt-get install libavformat-dev libavcodec-dev libswscale-dev "
           "libavutil-dev pkg-config) and rebuild (meson setup --reconfigure -Dvideo=enabled), "
           "or give frames as .npy (--frames) or raw RGB on standard input";
}

#ifndef ARNET_HAVE_VIDEO

int cli_video_available(void) { return 0; }

int cli_video_open(const char *path, int decode_threads, cli_video **out, char *err,
                   size_t errlen)
{
    (void)path;
    (void)decode_threads;
    *out = NULL;
    snprintf(err, errlen, "%s", cli_video_missing());
    return -1;
}

int cli_video_open_buffer(const uint8_t *data, size_t size, int decode_threads, cli_video **out,
                          char *err, size_t errlen)
{
    (void)data;
    (void)size;
    return cli_video_open("", decode_threads, out, err, errlen);
}

void cli_video_info_get(const cli_video *v, cli_video_info *info)
{
    (void)v;
    memset(info, 0, sizeof *info);
}

int cli_video_read(cli_video *v, arnet_frame *frame, double *seconds, char *err, size_t errlen)
{
    (void)v;
    (void)frame;
    (void)seconds;
    snprintf(err, errlen, "%s", cli_video_missing());
    return -1;
}

void cli_video_close(cli_video *v) { (void)v; }

int cli_video_open_net(const char *path, int decode_threads, const cli_video_net *net,
                       cli_video **out, char *err, size_t errlen)
{
    (void)net;
    return cli_video_open(path, decode_threads, out, err, errlen);
}

void cli_video_set_interrupt(int (*fn)(void)) { (void)fn; }

int cli_video_is_network(const char *path)
{
    const char *p = strstr(path, "://");
    return p && p != path && strncmp(path, "file:", 5) != 0;
}

void cli_video_damage_get(const cli_video *v, cli_video_damage *d)
{
    (void)v;
    memset(d, 0, sizeof *d);
}

int cli_video_stalled(const cli_video *v)
{
    (void)v;
    return 0;
}

int cli_video_write_jpeg(const char *path, const arnet_frame *frame, int quality, char *err,
                         size_t errlen)
{
    (void)path;
    (void)frame;
    (void)quality;
    snprintf(err, errlen, "%s", cli_video_missing());
    return -1;
}

#else

#include <math.h>

#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>
#include <libavutil/display.h>
#include <libavutil/imgutils.h>
#include <libavutil/time.h>
#include <libswscale/swscale.h>
#include <unistd.h>

/* Larger pictures than this are refused before anything is allocated for
 * them (a hostile header must not make us allocate gigabytes). */
#define VIDEO_MAX_SIDE 16384
/* Pixels of one picture: the decoders refuse larger frames (max_pixels)
 * before allocating them.  The fuzz target builds with a smaller one. */
#ifndef CLI_VIDEO_MAX_PIXELS
#define CLI_VIDEO_MAX_PIXELS ((int64_t)VIDEO_MAX_SIDE * VIDEO_MAX_SIDE)
#endif

/* FFmpeg's last error-level message of this thread: what it says is often
 * clearer than its error code ("Picture size 60000x60000 is invalid" for
 * "Device or resource busy").  Nothing is printed. */
static _Thread_local char last_log[256];

static void log_keep(void *avcl, int level, const char *fmt, va_list ap)
{
    (void)avcl;
    if (level > AV_LOG_ERROR)
        return;
    char msg[sizeof last_log];
    vsnprintf(msg, sizeof msg, fmt, ap);
    msg[strcspn(msg, "\n")] = '\0';
    if (msg[0])
        memcpy(last_log, msg, sizeof msg);
}

/* The reason avformat_open_input gave, with FFmpeg's own words. */
static void open_reason(int code, char *err, size_t errlen)
{
    int w = 0, h = 0;
    if (sscanf(last_log, "Picture size %dx%d is invalid", &w, &h) == 2 &&
        (w > VIDEO_MAX_SIDE || h > VIDEO_MAX_SIDE || (int64_t)w * h > CLI_VIDEO_MAX_PIXELS)) {
        snprintf(err, errlen, "cannot open: the picture, %dx%d, is too large (at most %d on a "
                 "side)", w, h, VIDEO_MAX_SIDE);
        return;
    }
    char buf[AV_ERROR_MAX_STRING_SIZE] = "";
    av_strerror(code, buf, sizeof buf);
    if (last_log[0])
        snprintf(err, errlen, "cannot open: %s (FFmpeg: %s)", buf, last_log);
    else
        snprintf(err, errlen, "cannot open: %s", buf);
}

struct cli_video {
    AVFormatContext *fmt;
    AVCodecContext *dec;
    AVPacket *pkt;
    AVFrame *frame;
    struct SwsContext *sws;
    int stream;
    int rotation;
    double fps;
    AVRational time_base;
    int64_t start_pts;  /* first frame's timestamp (AV_NOPTS_VALUE until seen) */
    int64_t index;      /* frames delivered */
    int draining;       /* the demuxer is done; the decoder is being flushed */
    int ended;
    /* last swscale set-up, to rebuild it when the frames change */
    int sws_w, sws_h, sws_fmt, sws_range, sws_space;
    uint8_t *rgb;  /* the converted picture at the source size (rows padded: rgb_stride) */
    uint8_t *rot;  /* the rotated picture */
    size_t rgb_cap, rot_cap;
    /* waits (cli_video_net): the interrupt callback's limits */
    int64_t timeout_us;         /* 0: none */
    int64_t deadline;           /* av_gettime_relative() limit of the current wait; 0: none */
    const volatile int *stop;
    int stalled;                /* 1: the last wait ran out of time, 2: stopped */
    int strict;
    int errors_in_row;          /* decoder errors since the last good frame */
    cli_video_damage damage;
    /* cli_video_open_buffer: the bytes, read through avio */
    AVIOContext *avio;
    const uint8_t *mem;
    size_t mem_size, mem_pos;
    int open_refused; /* the demuxer asked for another file or URL */
};

int cli_video_available(void) { return 1; }

static void av_reason(int code, char *err, size_t errlen, const char *what)
{
    char buf[AV_ERROR_MAX_STRING_SIZE] = "";
    av_strerror(code, buf, sizeof buf);
    snprintf(err, errlen, "%s: %s", what, buf);
}



static int (*volatile global_interrupt)(void);

void cli_video_set_interrupt(int (*fn)(void)) { global_interrupt = fn; }

/* FFmpeg calls this from every wait (connecting, polling a socket, between
 * reads); nonzero makes the wait fail with AVERROR_EXIT. */
static int interrupt_cb(void *arg)
{
    cli_video *v = arg;
    int (*g)(void) = global_interrupt;
    if ((v->stop && *v->stop) || (g && g())) {
        v->stalled = 2;
        return 1;
    }
    if (v->deadline > 0 && av_gettime_relative() > v->deadline) {
        v->stalled = 1;
        return 1;
    }
    return 0;
}

/* A wait starts: the timeout counts from now (extra: more microseconds). */
static void wait_begins(cli_video *v, int64_t extra)
{
    v->stalled = 0;
    v->deadline = v->timeout_us > 0 ? av_gettime_relative() + v->timeout_us + extra : 0;
}

/* The reason of a failed wait, or FFmpeg's. */
static void wait_reason(const cli_video *v, int code, char *err, size_t errlen, const char *what)
{
    if (v->stalled == 1)
        snprintf(err, errlen, "%s: no data for %.3g s (timeout)", what,
                 (double)v->timeout_us / 1e6);
    else if (v->stalled == 2)
        snprintf(err, errlen, "%s: interrupted", what);
    else
        av_reason(code, err, errlen, what);
}

int cli_video_is_network(const char *path)
{
    const char *name = avio_find_protocol_name(path);
    if (!name)
        return strstr(path, "://") != NULL;
    return strcmp(name, "file") != 0 && strcmp(name, "pipe") != 0 && strcmp(name, "fd") != 0;
}

int cli_video_stalled(const cli_video *v) { return v ? v->stalled : 0; }

void cli_video_damage_get(const cli_video *v, cli_video_damage *d)
{
    *d = v->damage;
}

/* One damaged packet or frame: counted and skipped, or with strict an
 * error.  Returns 0 to go on, -1 with err set to stop. */
static int damaged(cli_video *v, int is_frame, int code, char *err, size_t errlen)
{
    char what[96];
    snprintf(what, sizeof what, "%s after %lld frames", is_frame ? "corrupt frame" : "bad packet",
             (long long)v->index);
    if (is_frame)
        v->damage.frames++;
    else
        v->damage.packets++;
    if (!v->damage.first[0]) {
        if (code)
            av_reason(code, v->damage.first, sizeof v->damage.first, what);
        else
            snprintf(v->damage.first, sizeof v->damage.first, "%s", what);
    }
    if (v->strict) {
        snprintf(what, sizeof what, "decoding failed after %lld frames", (long long)v->index);
        if (code)
            av_reason(code, err, errlen, what);
        else
            snprintf(err, errlen, "%s: %s", what, is_frame ? "a corrupt frame" : "a damaged packet");
        return -1;
    }
    return 0;
}



/* The clockwise turn that makes the picture upright: FFmpeg's own rule
 * (fftools' get_rotation) on the stream's display matrix. */
static int stream_rotation(const AVStream *s)
{
    const uint8_t *m = NULL;
#if LIBAVCODEC_VERSION_INT >= AV_VERSION_INT(60, 29, 100)
    const AVPacketSideData *sd = av_packet_side_data_get(
        s->codecpar->coded_side_data, s->codecpar->nb_coded_side_data, AV_PKT_DATA_DISPLAYMATRIX);
    if (sd && sd->size >= 9 * sizeof(int32_t))
        m = sd->data;
#else
    size_t size = 0;
    m = av_stream_get_side_data(s, AV_PKT_DATA_DISPLAYMATRIX, &size);
    if (size < 9 * sizeof(int32_t))
        m = NULL;
#endif
    if (!m)
        return 0;
    double theta = -round(av_display_rotation_get((const int32_t *)m));
    if (isnan(theta))
        return 0;
    theta -= 360.0 * floor(theta / 360.0 + 0.9 / 360.0);
    if (fabs(theta - 90.0) < 1.0)
        return 90;
    if (fabs(theta - 180.0) < 1.0)
        return 180;
    if (fabs(theta - 270.0) < 1.0)
        return 270;
    return 0;
}

/* AVIO over the bytes of cli_video_open_buffer. */
static int mem_read(void *opaque, uint8_t *buf, int n)
{
    cli_video *v = opaque;
    size_t left = v->mem_size - v->mem_pos;
    if (left == 0)
        return AVERROR_EOF;
    size_t k = (size_t)n < left ? (size_t)n : left;
    memcpy(buf, v->mem + v->mem_pos, k);
    v->mem_pos += k;
    return (int)k;
}

static int64_t mem_seek(void *opaque, int64_t offset, int whence)
{
    cli_video *v = opaque;
    int64_t base;
    switch (whence & ~AVSEEK_FORCE) {
    case AVSEEK_SIZE: return (int64_t)v->mem_size;
    case SEEK_SET: base = 0; break;
    case SEEK_CUR: base = (int64_t)v->mem_pos; break;
    case SEEK_END: base = (int64_t)v->mem_size; break;
    default: return AVERROR(EINVAL);
    }
    if (offset < -base || offset > (int64_t)v->mem_size - base)
        return AVERROR(EINVAL);
    v->mem_pos = (size_t)(base + offset);
    return (int64_t)v->mem_pos;
}

/* A demuxer reading from memory opens nothing else (a playlist naming
 * files or URLs). */
static int mem_no_open(struct AVFormatContext *s, AVIOContext **pb, const char *url, int flags,
                       AVDictionary **options)
{
    (void)pb, (void)url, (void)flags, (void)options;
    ((cli_video *)s->opaque)->open_refused = 1;
    return AVERROR(EPERM);
}

/* cli_video_open, or from memory when mem is not NULL. */
/* Probing a live stream reads up to this much of it (FFmpeg's default
 * analyzeduration): the open's wait may take that much longer. */
#define PROBE_US 5000000

static int video_open(const char *path, const uint8_t *mem, size_t mem_size, int decode_threads,
                      const cli_video_net *net, cli_video **out, char *err, size_t errlen)
{
    *out = NULL;
    av_log_set_level(AV_LOG_QUIET);
    av_log_set_callback(log_keep);
    last_log[0] = '\0';
    cli_video *v = calloc(1, sizeof *v);
    if (!v) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    v->stream = -1;
    v->start_pts = AV_NOPTS_VALUE;
    v->sws_fmt = -1;
    if (net) {
        v->timeout_us = net->timeout > 0 ? (int64_t)(net->timeout * 1e6) : 0;
        v->stop = net->stop;
        v->strict = net->strict;
    }
    if (mem) {
        enum { AVIO_BUF = 1 << 15 };
        uint8_t *buf = av_malloc(AVIO_BUF);
        v->mem = mem;
        v->mem_size = mem_size;
        v->avio = buf ? avio_alloc_context(buf, AVIO_BUF, 0, v, mem_read, NULL, mem_seek) : NULL;
        v->fmt = v->avio ? avformat_alloc_context() : NULL;
        if (!v->fmt) {
            if (!v->avio)
                av_free(buf);
            snprintf(err, errlen, "out of memory");
            goto fail;
        }
        v->fmt->pb = v->avio;
        v->fmt->flags |= AVFMT_FLAG_CUSTOM_IO;
        v->fmt->io_open = mem_no_open;
        v->fmt->opaque = v;
    } else if (!(v->fmt = avformat_alloc_context())) {
        snprintf(err, errlen, "out of memory");
        goto fail;
    }
    /* Every wait of FFmpeg's asks interrupt_cb whether to go on. */
    v->fmt->interrupt_callback.callback = interrupt_cb;
    v->fmt->interrupt_callback.opaque = v;
    AVDictionary *opts = NULL;
    if (net && net->rtsp_transport && net->rtsp_transport[0])
        av_dict_set(&opts, "rtsp_transport", net->rtsp_transport, 0);
    wait_begins(v, 0);
    int rc = avformat_open_input(&v->fmt, path, NULL, &opts);
    av_dict_free(&opts);
    if (rc < 0 && v->stalled)
        wait_reason(v, rc, err, errlen, "cannot open");
    else if (rc < 0 && v->open_refused)
        snprintf(err, errlen, "cannot open: it names other files or URLs (a playlist?), which "
                 "are not read for a video in memory");
    else if (rc < 0)
        open_reason(rc, err, errlen);
    if (rc < 0)
        goto fail;
    wait_begins(v, PROBE_US);
    rc = avformat_find_stream_info(v->fmt, NULL);
    if (rc < 0) {
        wait_reason(v, rc, err, errlen, "cannot read the stream information");
        goto fail;
    }
    v->deadline = 0;
    const AVCodec *codec = NULL;
    rc = av_find_best_stream(v->fmt, AVMEDIA_TYPE_VIDEO, -1, -1, &codec, 0);
    if (rc == AVERROR_STREAM_NOT_FOUND) {
        snprintf(err, errlen, "no video stream (container %s)", v->fmt->iformat->name);
        goto fail;
    }
    if (rc == AVERROR_DECODER_NOT_FOUND || (rc >= 0 && !codec)) {
        const AVStream *s = v->fmt->streams[rc >= 0 ? rc : 0];
        snprintf(err, errlen, "unsupported codec %s: this FFmpeg has no decoder for it",
                 avcodec_get_name(s->codecpar->codec_id));
        goto fail;
    }
    if (rc < 0) {
        av_reason(rc, err, errlen, "no usable video stream");
        goto fail;
    }
    v->stream = rc;
    AVStream *s = v->fmt->streams[rc];
    if (s->codecpar->width > VIDEO_MAX_SIDE || s->codecpar->height > VIDEO_MAX_SIDE) {
        snprintf(err, errlen, "picture %dx%d is larger than %d on a side", s->codecpar->width,
                 s->codecpar->height, VIDEO_MAX_SIDE);
        goto fail;
    }
    v->dec = avcodec_alloc_context3(codec);
    v->pkt = av_packet_alloc();
    v->frame = av_frame_alloc();
    if (!v->dec || !v->pkt || !v->frame) {
        snprintf(err, errlen, "out of memory");
        goto fail;
    }
    rc = avcodec_parameters_to_context(v->dec, s->codecpar);
    if (rc >= 0) {
        v->dec->thread_count = decode_threads > 0 ? decode_threads : 0;
        v->dec->max_pixels = CLI_VIDEO_MAX_PIXELS;
        v->dec->pkt_timebase = s->time_base;
        rc = avcodec_open2(v->dec, codec, NULL);
    }
    if (rc < 0) {
        av_reason(rc, err, errlen, "cannot open the decoder");
        goto fail;
    }
    v->time_base = s->time_base;
    v->rotation = stream_rotation(s);
    AVRational r = s->avg_frame_rate.num > 0 && s->avg_frame_rate.den > 0 ? s->avg_frame_rate
                                                                          : s->r_frame_rate;
    v->fps = r.num > 0 && r.den > 0 ? av_q2d(r) : 0.0;
    *out = v;
    return 0;
fail:
    cli_video_close(v);
    return -1;
}

int cli_video_open(const char *path, int decode_threads, cli_video **out, char *err,
                   size_t errlen)
{
    cli_video_net net = {0, NULL, 1, NULL};
    return video_open(path, NULL, 0, decode_threads, &net, out, err, errlen);
}

int cli_video_open_net(const char *path, int decode_threads, const cli_video_net *net,
                       cli_video **out, char *err, size_t errlen)
{
    return video_open(path, NULL, 0, decode_threads, net, out, err, errlen);
}

int cli_video_open_buffer(const uint8_t *data, size_t size, int decode_threads, cli_video **out,
                          char *err, size_t errlen)
{
    cli_video_net net = {0, NULL, 1, NULL};
    return video_open("", data ? data : (const uint8_t *)"", size, decode_threads, &net, out,
                      err, errlen);
}

void cli_video_info_get(const cli_video *v, cli_video_info *info)
{
    const AVStream *s = v->fmt->streams[v->stream];
    int w = s->codecpar->width, h = s->codecpar->height;
    int turn = v->rotation == 90 || v->rotation == 270;
    info->width = (uint32_t)(turn ? h : w);
    info->height = (uint32_t)(turn ? w : h);
    info->fps = v->fps;
    info->rotation = v->rotation;
    info->duration = -1.0;
    if (s->duration != AV_NOPTS_VALUE && s->duration > 0)
        info->duration = (double)s->duration * av_q2d(s->time_base);
    else if (v->fmt->duration != AV_NOPTS_VALUE && v->fmt->duration > 0)
        info->duration = (double)v->fmt->duration / AV_TIME_BASE;
    info->frames = s->nb_frames > 0 ? s->nb_frames : -1;
    if (info->frames < 0 && info->duration > 0 && v->fps > 0)
        info->frames = (int64_t)llround(info->duration * v->fps);
    info->codec = avcodec_get_name(s->codecpar->codec_id);
    info->container = v->fmt->iformat->name;
}

/* Where the pictures live.  A test build (tests/video/test_video_guard.c)
 * defines these to put each buffer's end against a guard page. */
#ifndef CLI_VIDEO_ALLOC
#define CLI_VIDEO_ALLOC(n) aligned_alloc(64, (n))
#define CLI_VIDEO_FREE(p, n) ((void)(n), free(p))
#endif

/* Extra bytes after the last row, as av_frame_get_buffer adds (16 plus its
 * largest alignment, 64). */
#define VIDEO_TAIL_PAD 128

/* Bytes a row of w RGB24 pixels takes in the buffer swscale writes.
 * swscale's vector code writes whole blocks of pixels and so runs up to
 * 15 pixels (45 bytes) past a row whose width is below 16 or not a
 * multiple of 16 (426x240, 200x120, 1080x1920...).  FFmpeg's own frames
 * (av_frame_get_buffer) leave room for that: the width is rounded up until
 * the row is a multiple of the alignment.  Rounding the width up to 64
 * pixels gives a row of a multiple of 64 bytes with room for 15 pixels
 * more, whatever the width. */
static size_t rgb_stride(int w)
{
    return ((size_t)w + 63) / 64 * 64 * 3;
}

/* Make *buf hold at least n bytes (its contents are not kept; rounded up
 * to 64 so that the allocation's end is aligned too). */
static int reserve(uint8_t **buf, size_t *cap, size_t n)
{
    n = (n + 63) / 64 * 64;
    if (*cap >= n)
        return 0;
    CLI_VIDEO_FREE(*buf, *cap);
    *buf = NULL;
    *cap = 0;
    uint8_t *p = CLI_VIDEO_ALLOC(n);
    if (!p)
        return -1;
    *buf = p;
    *cap = n;
    return 0;
}

/* The decoded frame in v->frame to packed RGB24 at its own size, turned. */
static int convert(cli_video *v, arnet_frame *out, char *err, size_t errlen)
{
    AVFrame *f = v->frame;
    int w = f->width, h = f->height;
    if (w <= 0 || h <= 0 || w > VIDEO_MAX_SIDE || h > VIDEO_MAX_SIDE ||
        (int64_t)w * h > CLI_VIDEO_MAX_PIXELS) {
        snprintf(err, errlen, "decoded frame %lld has an unusable size %dx%d",
                 (long long)v->index, w, h);
        return -1;
    }
    int range = f->color_range == AVCOL_RANGE_JPEG;
    int space = f->colorspace;
    if (!v->sws || w != v->sws_w || h != v->sws_h || f->format != v->sws_fmt ||
        range != v->sws_range || space != v->sws_space) {
        sws_freeContext(v->sws);
        /* A pure format conversion at the same size; bicubic is what the
         * ffmpeg program uses (its chroma upsampling follows the flag), so
         * `ffmpeg -pix_fmt rgb24` gives the same pixels. */
        v->sws = sws_getContext(w, h, f->format, w, h, AV_PIX_FMT_RGB24, SWS_BICUBIC, NULL,
                                NULL, NULL);
        if (!v->sws) {
            snprintf(err, errlen, "no conversion from pixel format %s to RGB",
                     av_get_pix_fmt_name(f->format) ? av_get_pix_fmt_name(f->format) : "?");
            return -1;
        }
        /* The frame's colour matrix and range, as the ffmpeg program's
         * scale filter takes them. */
        int *inv, src_range, *tab, dst_range, bri, con, sat;
        if (sws_getColorspaceDetails(v->sws, &inv, &src_range, &tab, &dst_range, &bri, &con,
                                     &sat) >= 0) {
            const int *coef = sws_getCoefficients(space);
            if (f->color_range != AVCOL_RANGE_UNSPECIFIED)
                src_range = range;
            sws_setColorspaceDetails(v->sws, coef, src_range, tab, dst_range, bri, con, sat);
        }
        v->sws_w = w;
        v->sws_h = h;
        v->sws_fmt = f->format;
        v->sws_range = range;
        v->sws_space = space;
    }
    size_t row = rgb_stride(w);
    if (reserve(&v->rgb, &v->rgb_cap, row * (size_t)h + VIDEO_TAIL_PAD) < 0) {
        snprintf(err, errlen, "out of memory for a %dx%d frame", w, h);
        return -1;
    }
    uint8_t *dst[4] = {v->rgb, NULL, NULL, NULL};
    int dst_stride[4] = {(int)row, 0, 0, 0};
    if (sws_scale(v->sws, (const uint8_t *const *)f->data, f->linesize, 0, h, dst,
                  dst_stride) != h) {
        snprintf(err, errlen, "pixel format conversion of frame %lld failed",
                 (long long)v->index);
        return -1;
    }
    arnet_frame_init(out);
    out->format = ARNET_PIXEL_RGB24;
    if (v->rotation == 0) {
        out->width = (uint32_t)w;
        out->height = (uint32_t)h;
        out->planes[0] = v->rgb;
        out->strides[0] = row;
        return 0;
    }
    if (reserve(&v->rot, &v->rot_cap, (size_t)w * (size_t)h * 3) < 0) {
        snprintf(err, errlen, "out of memory for a %dx%d frame", w, h);
        return -1;
    }
    int ow = v->rotation == 180 ? w : h, oh = v->rotation == 180 ? h : w;
    const uint8_t *src = v->rgb;
    for (int y = 0; y < oh; y++) {
        uint8_t *o = v->rot + (size_t)y * (size_t)ow * 3;
        for (int x = 0; x < ow; x++, o += 3) {
            int sy, sx; /* source pixel of output (x, y) */
            if (v->rotation == 90) { /* clockwise: top-left comes from bottom-left */
                sy = h - 1 - x;
                sx = y;
            } else if (v->rotation == 270) { /* counter-clockwise */
                sy = x;
                sx = w - 1 - y;
            } else {
                sy = h - 1 - y;
                sx = w - 1 - x;
            }
            const uint8_t *p = src + (size_t)sy * row + (size_t)sx * 3;
            o[0] = p[0];
            o[1] = p[1];
            o[2] = p[2];
        }
    }
    out->width = (uint32_t)ow;
    out->height = (uint32_t)oh;
    out->planes[0] = v->rot;
    out->strides[0] = (size_t)ow * 3;
    return 0;
}

/* Decoder errors in a row (no frame between them) before the input counts
 * as undecodable rather than damaged. */
#define MAX_ERRORS_IN_ROW 1000

/* At the end: frames the container stated but that never came. */
static void count_missing(cli_video *v)
{
    const AVStream *s = v->fmt->streams[v->stream];
    int64_t got = v->index + (int64_t)v->damage.frames;
    if (s->nb_frames > 0 && s->nb_frames > got)
        v->damage.missing = s->nb_frames - got;
}

int cli_video_read(cli_video *v, arnet_frame *frame, double *seconds, char *err, size_t errlen)
{
    for (;;) {
        if (v->ended)
            return 0;
        int rc = avcodec_receive_frame(v->dec, v->frame);
        if (rc == 0 && ((v->frame->flags & AV_FRAME_FLAG_CORRUPT) || v->frame->decode_error_flags)) {
            av_frame_unref(v->frame);
            if (damaged(v, 1, 0, err, errlen) < 0)
                return -1;
            continue;
        }
        if (rc == 0) {
            v->errors_in_row = 0;
            int64_t pts = v->frame->best_effort_timestamp;
            if (pts != AV_NOPTS_VALUE && v->start_pts == AV_NOPTS_VALUE)
                v->start_pts = pts;
            if (pts != AV_NOPTS_VALUE)
                *seconds = (double)(pts - v->start_pts) * av_q2d(v->time_base);
            else
                *seconds = v->fps > 0 ? (double)v->index / v->fps : 0.0;
            rc = convert(v, frame, err, errlen);
            av_frame_unref(v->frame);
            if (rc < 0)
                return -1;
            v->index++;
            return 1;
        }
        if (rc == AVERROR_EOF) {
            v->ended = 1;
            count_missing(v);
            return 0;
        }
        if (rc != AVERROR(EAGAIN)) {
            if (++v->errors_in_row > MAX_ERRORS_IN_ROW) {
                av_reason(rc, err, errlen, "decoding failed");
                return -1;
            }
            if (damaged(v, 1, rc, err, errlen) < 0)
                return -1;
            continue;
        }
        if (v->draining) { /* EAGAIN after the flush packet: nothing more */
            v->ended = 1;
            count_missing(v);
            return 0;
        }
        /* The decoder wants input. */
        for (;;) {
            wait_begins(v, 0);
            rc = av_read_frame(v->fmt, v->pkt);
            v->deadline = 0;
            if (rc < 0) {
                if (v->stalled || (rc != AVERROR_EOF && !(v->fmt->pb && avio_feof(v->fmt->pb)))) {
                    wait_reason(v, rc, err, errlen, "reading failed");
                    return -1;
                }
                v->draining = 1;
                rc = avcodec_send_packet(v->dec, NULL);
                if (rc < 0 && rc != AVERROR_EOF) {
                    av_reason(rc, err, errlen, "decoding failed");
                    return -1;
                }
                break;
            }
            if (v->pkt->stream_index != v->stream) {
                av_packet_unref(v->pkt);
                continue;
            }
            if (v->pkt->flags & AV_PKT_FLAG_CORRUPT) {
                av_packet_unref(v->pkt);
                if (damaged(v, 0, 0, err, errlen) < 0)
                    return -1;
                continue;
            }
            rc = avcodec_send_packet(v->dec, v->pkt);
            av_packet_unref(v->pkt);
            if (rc < 0 && rc != AVERROR(EAGAIN)) {
                if (++v->errors_in_row > MAX_ERRORS_IN_ROW) {
                    char what[64];
                    snprintf(what, sizeof what, "decoding failed after %lld frames",
                             (long long)v->index);
                    av_reason(rc, err, errlen, what);
                    return -1;
                }
                if (damaged(v, 0, rc, err, errlen) < 0)
                    return -1;
                continue;
            }
            break;
        }
    }
}

void cli_video_close(cli_video *v)
{
    if (!v)
        return;
    sws_freeContext(v->sws);
    av_frame_free(&v->frame);
    av_packet_free(&v->pkt);
    avcodec_free_context(&v->dec);
    avformat_close_input(&v->fmt);
    if (v->avio) { /* custom I/O: ours to free, buffer and all */
        av_freep(&v->avio->buffer);
        avio_context_free(&v->avio);
    }
    CLI_VIDEO_FREE(v->rgb, v->rgb_cap);
    CLI_VIDEO_FREE(v->rot, v->rot_cap);
    free(v);
}

int cli_video_write_jpeg(const char *path, const arnet_frame *frame, int quality, char *err,
                         size_t errlen)
{
    int w = (int)frame->width, h = (int)frame->height, rc = -1, r;
    const AVCodec *codec = avcodec_find_encoder(AV_CODEC_ID_MJPEG);
    AVCodecContext *enc = NULL;
    AVFrame *yuv = NULL;
    AVPacket *pkt = NULL;
    struct SwsContext *sws = NULL;
    FILE *f = NULL;
    char *tmp = NULL;
    if (frame->format != ARNET_PIXEL_RGB24 || w <= 0 || h <= 0) {
        snprintf(err, errlen, "not a packed RGB24 picture");
        return -1;
    }
    if (!codec) {
        snprintf(err, errlen, "this FFmpeg has no mjpeg encoder");
        return -1;
    }
    if (!(enc = avcodec_alloc_context3(codec)) || !(yuv = av_frame_alloc()) ||
        !(pkt = av_packet_alloc())) {
        snprintf(err, errlen, "out of memory");
        goto out;
    }
    enc->width = w;
    enc->height = h;
    enc->pix_fmt = AV_PIX_FMT_YUVJ420P;
    enc->color_range = AVCOL_RANGE_JPEG;
    enc->time_base = (AVRational){1, 25};
    enc->flags |= AV_CODEC_FLAG_QSCALE;
    enc->global_quality = FF_QP2LAMBDA * (quality < 2 ? 2 : quality > 31 ? 31 : quality);
    if ((r = avcodec_open2(enc, codec, NULL)) < 0) {
        av_reason(r, err, errlen, "cannot open the JPEG encoder");
        goto out;
    }
    yuv->format = AV_PIX_FMT_YUVJ420P;
    yuv->width = w;
    yuv->height = h;
    yuv->quality = enc->global_quality;
    yuv->pict_type = AV_PICTURE_TYPE_I;
    if ((r = av_frame_get_buffer(yuv, 0)) < 0) {
        av_reason(r, err, errlen, "out of memory for the JPEG picture");
        goto out;
    }
    sws = sws_getContext(w, h, AV_PIX_FMT_RGB24, w, h, AV_PIX_FMT_YUVJ420P, SWS_BICUBIC, NULL,
                         NULL, NULL);
    if (!sws) {
        snprintf(err, errlen, "no conversion from RGB to YUV");
        goto out;
    }
    const uint8_t *src[4] = {frame->planes[0], NULL, NULL, NULL};
    int src_stride[4] = {(int)frame->strides[0], 0, 0, 0};
    sws_scale(sws, src, src_stride, 0, h, yuv->data, yuv->linesize);
    if ((r = avcodec_send_frame(enc, yuv)) < 0 || (r = avcodec_send_frame(enc, NULL)) < 0 ||
        (r = avcodec_receive_packet(enc, pkt)) < 0) {
        av_reason(r, err, errlen, "JPEG encoding failed");
        goto out;
    }
    /* Written beside and renamed: a reader never sees half a picture. */
    size_t n = strlen(path) + 16;
    if (!(tmp = malloc(n))) {
        snprintf(err, errlen, "out of memory");
        goto out;
    }
    snprintf(tmp, n, "%s.tmp", path);
    if (!(f = fopen(tmp, "wb"))) {
        snprintf(err, errlen, "cannot write %s: %s", tmp, strerror(errno));
        goto out;
    }
    int bad = fwrite(pkt->data, 1, (size_t)pkt->size, f) != (size_t)pkt->size;
    bad |= fclose(f) != 0;
    f = NULL;
    if (bad || rename(tmp, path) != 0) {
        snprintf(err, errlen, "cannot write %s: %s", path, strerror(errno));
        unlink(tmp);
        goto out;
    }
    rc = 0;
out:
    if (f)
        fclose(f);
    if (rc < 0 && tmp)
        unlink(tmp);
    free(tmp);
    sws_freeContext(sws);
    av_packet_free(&pkt);
    av_frame_free(&yuv);
    avcodec_free_context(&enc);
    return rc;
}

#endif
