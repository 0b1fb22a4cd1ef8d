/* fuzz_video.c -- libFuzzer target: FFmpeg's demuxers and decoders and the
 * arnet program's conversion to RGB (tools/video.c), fed from memory
 * through cli_video_open_buffer's custom AVIOContext (read and seek over
 * the input; a demuxer may open nothing else).
 *
 * FFmpeg itself is not instrumented: ASan sees our side (the AVIO
 * callbacks, the RGB and rotation buffers, which this harness reads to the
 * end of every row) and FFmpeg's allocations.  Checked beyond "no crash":
 * every failure has a reason; a video that opens has a size within the
 * limit; every frame has that size or another within the limit, strides
 * that hold a row, and finite, non-decreasing-enough times (finite is all
 * that is promised).  Bounded per input: one decoder thread, 16 frames,
 * pictures of at most 2^22 pixels (CLI_VIDEO_MAX_PIXELS of this build) and
 * FFmpeg allocations of at most 64 MiB (av_max_alloc).  Seeds
 * (corpus/video): tiny videos the ffmpeg program made once (gen_video_corpus.sh). */
#include <math.h>

#include <libavutil/mem.h>

#include "fuzz_common.h"
#include "video.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    av_max_alloc(64u << 20);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    cli_video *v = NULL;
    char err[512] = "";
    if (cli_video_open_buffer(data, size, 1, &v, err, sizeof err) < 0) {
        FUZZ_CHECK(err[0] != '\0', "open failed without a reason");
        FUZZ_CHECK(v == NULL, "a failed open left a video");
        FUZZ_DEBUG("open: %s", err);
        return 0;
    }
    cli_video_info info;
    cli_video_info_get(v, &info);
    FUZZ_CHECK(info.width <= 16384 && info.height <= 16384, "info size %ux%u", info.width,
               info.height);
    FUZZ_CHECK(info.codec && info.container, "no codec or container name");
    volatile unsigned sum = 0;
    int n = 0;
    for (; n < 16; n++) {
        arnet_frame fr;
        double t = 0;
        err[0] = '\0';
        int r = cli_video_read(v, &fr, &t, err, sizeof err);
        if (r == 0)
            break;
        if (r < 0) {
            FUZZ_CHECK(err[0] != '\0', "read failed without a reason");
            break;
        }
        FUZZ_CHECK(r == 1, "read returned %d", r);
        FUZZ_CHECK(fr.width >= 1 && fr.height >= 1 && (uint64_t)fr.width * fr.height <= (1u << 22),
                   "frame %d size %ux%u", n, fr.width, fr.height);
        FUZZ_CHECK(fr.format == ARNET_PIXEL_RGB24, "frame %d format %d", n, fr.format);
        FUZZ_CHECK(fr.strides[0] >= (size_t)fr.width * 3, "frame %d stride %zu for width %u", n,
                   fr.strides[0], fr.width);
        FUZZ_CHECK(isfinite(t), "frame %d time %g", n, t);
        for (uint32_t y = 0; y < fr.height; y++) {
            const uint8_t *row = fr.planes[0] + (size_t)y * fr.strides[0];
            for (size_t x = 0; x < (size_t)fr.width * 3; x++)
                sum += row[x];
        }
    }
    FUZZ_DEBUG("%s/%s %ux%u: %d frames%s%s", info.container, info.codec, info.width, info.height,
               n, err[0] ? ", then: " : "", err);
    cli_video_close(v);
    return 0;
}
