/* video.h -- decoding video files into RGB frames with FFmpeg's libraries,
 * for the arnet program and the examples only: libarnet takes frames and
 * never links FFmpeg.  Built with -Dvideo=enabled/auto when libavformat,
 * libavcodec, libswscale and libavutil are found; without them every call
 * fails with the message of cli_video_missing() (what to install).
 *
 * What is done here and nothing more (docs/video.md): demux and decode any
 * container and codec FFmpeg reads, convert the pixel format to packed RGB24
 * at the source size with swscale (the resize stays the extractor's own),
 * apply the stream's rotation (display matrix: 90, 180, 270 degrees) and
 * give every decoded frame its presentation time in seconds. */
#ifndef ARNET_TOOLS_VIDEO_H
#define ARNET_TOOLS_VIDEO_H

#include <stddef.h>
#include <stdint.h>

#include <arnet/arnet.h>

typedef struct cli_video cli_video;

typedef struct cli_video_info {
    uint32_t width, height; /* of the frames delivered (after rotation) */
    double fps;             /* the stream's frame rate (average, else nominal), 0 if unknown */
    int64_t frames;         /* frame count the container states (or from the duration), -1 if unknown */
    double duration;        /* seconds, < 0 if unknown */
    int rotation;           /* 0, 90, 180 or 270: clockwise turn applied to the decoded picture */
    const char *codec;      /* [borrowed, life of the video] codec name */
    const char *container;  /* [borrowed, life of the video] container name */
} cli_video_info;

/* 1 when this build decodes video files. */
int cli_video_available(void);
/* What to install when it does not (one line, no newline). */
const char *cli_video_missing(void);

/* Open path (a file, or anything FFmpeg opens).  decode_threads: FFmpeg's
 * decoder threads (0 = its own choice).  Returns 0 and *out, or -1 with a
 * reason (no path in it) in err.  No time limit; the process-wide
 * interrupt (cli_video_set_interrupt) stops any wait. */
int cli_video_open(const char *path, int decode_threads, cli_video **out, char *err,
                   size_t errlen);
/* The same for a video held in memory: data[0..size) is read through a
 * custom AVIOContext (read and seek over the bytes) and must stay until
 * cli_video_close; a demuxer may open nothing else (a playlist's entries
 * are refused).  The fuzz target (tests/fuzz/fuzz_video.c) decodes through
 * it. */
int cli_video_open_buffer(const uint8_t *data, size_t size, int decode_threads, cli_video **out,
                          char *err, size_t errlen);

/* Network inputs (docs/video.md): every wait of FFmpeg's (connecting,
 * probing, reading) goes through its interrupt callback, which gives up
 * after `timeout` seconds without a packet and at once when *stop or the
 * process-wide interrupt is nonzero. */
typedef struct cli_video_net {
    double timeout;             /* seconds an open or a read may wait; 0 = no limit */
    const volatile int *stop;   /* may be NULL; nonzero stops every wait of this video */
    int strict;                 /* 1: the first damaged packet or frame is an error */
    const char *rtsp_transport; /* "tcp", "udp" or NULL (FFmpeg's choice: UDP, then TCP) */
} cli_video_net;
/* cli_video_open with these limits (net may be NULL: none).  A wait cut
 * short fails with "no data for N s" or "interrupted". */
int cli_video_open_net(const char *path, int decode_threads, const cli_video_net *net,
                       cli_video **out, char *err, size_t errlen);
/* Process-wide: every wait of every video stops when fn() is nonzero (the
 * arnet program passes cli_interrupted).  NULL: none. */
void cli_video_set_interrupt(int (*fn)(void));
/* 1 when path names a network protocol (rtsp, rtmp, http, udp, tcp, srt...)
 * rather than a file or a pipe: inputs that can drop and come back. */
int cli_video_is_network(const char *path);

/* Damage met so far, skipped and counted (one policy for files and streams:
 * docs/video.md): packets the decoder refused and frames it marked corrupt,
 * and, at the end of a file, frames the container states but never came. */
typedef struct cli_video_damage {
    uint64_t packets;   /* packets refused by the decoder */
    uint64_t frames;    /* decoded frames flagged corrupt (dropped) */
    int64_t missing;    /* at the end: stated frame count - frames delivered - dropped, if > 0 */
    char first[160];    /* what the first damage was, "" if none */
} cli_video_damage;
void cli_video_damage_get(const cli_video *v, cli_video_damage *d);
/* 1 when the last failure of cli_video_open_net or cli_video_read was a
 * wait cut short by the timeout (the input stalled), 2 by stop/interrupt. */
int cli_video_stalled(const cli_video *v);

/* Write a packed RGB24 picture as a JPEG file with FFmpeg's mjpeg encoder
 * (quality: 2 best .. 31).  Returns 0, or -1 with a reason in err. */
int cli_video_write_jpeg(const char *path, const arnet_frame *frame, int quality, char *err,
                         size_t errlen);
void cli_video_info_get(const cli_video *v, cli_video_info *info);
/* Next frame: returns 1 with *frame (packed RGB24, [borrowed] until the
 * next call or close) and *seconds (presentation time from the start of the
 * stream: the frame's timestamp, else its index over the frame rate), 0 at
 * the end of the stream, -1 with a reason in err.  Damaged packets and
 * frames are skipped and counted (cli_video_damage_get); with
 * cli_video_net.strict the first is an error "damaged data: ...". */
int cli_video_read(cli_video *v, arnet_frame *frame, double *seconds, char *err, size_t errlen);
void cli_video_close(cli_video *v);

#endif
