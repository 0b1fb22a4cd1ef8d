/* test_video_guard.c -- the pictures tools/video.c hands to swscale, with
 * each buffer's last byte against a page that may not be touched.
 *
 * The sanitizers cannot see inside FFmpeg's uninstrumented libraries, and
 * swscale's vector code writes whole blocks of pixels: with the RGB buffer
 * sized exactly w x h x 3 it wrote up to 45 bytes past the end for widths
 * below 16 or not a multiple of 16 (426x240, 200x120, 1080x1920), and
 * `arnet extract` aborted in malloc.  Here video.c is compiled with an
 * allocator that puts a PROT_NONE page right after every buffer, and every
 * frame size class is converted: widths 1-64 at several heights and the
 * common camera sizes, in 4:2:0, 4:2:2 and 4:4:4, 8 and 10 bits, full-range
 * JPEG 4:2:0, NV12 and grey, upright and turned.  A write past a buffer is a
 * SIGSEGV, which Check reports as the failing case.  The pixels are also
 * compared with swscale's output into a generously padded picture, so the
 * padded rows do not change what the caller sees. */
#define _GNU_SOURCE
#include <check.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

static size_t page_size(void) { return (size_t)sysconf(_SC_PAGESIZE); }

/* n bytes (a multiple of 64) ending right before an inaccessible page. */
static void *guard_alloc(size_t n)
{
    size_t pg = page_size(), pages = (n + pg - 1) / pg;
    uint8_t *base = mmap(NULL, (pages + 1) * pg, PROT_READ | PROT_WRITE,
                         MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (base == MAP_FAILED)
        return NULL;
    if (mprotect(base + pages * pg, pg, PROT_NONE) != 0) {
        munmap(base, (pages + 1) * pg);
        return NULL;
    }
    return base + pages * pg - n;
}

static void guard_free(void *p, size_t n)
{
    if (!p)
        return;
    size_t pg = page_size(), pages = (n + pg - 1) / pg;
    munmap((uint8_t *)p + n - pages * pg, (pages + 1) * pg);
}

#define CLI_VIDEO_ALLOC(n) guard_alloc(n)
#define CLI_VIDEO_FREE(p, n) guard_free((p), (n))
#include "../../tools/video.c"

static const enum AVPixelFormat formats[] = {
    AV_PIX_FMT_YUV420P,     AV_PIX_FMT_YUVJ420P,    AV_PIX_FMT_YUV422P,
    AV_PIX_FMT_YUV444P,     AV_PIX_FMT_YUV420P10LE, AV_PIX_FMT_YUV422P10LE,
    AV_PIX_FMT_YUV444P10LE, AV_PIX_FMT_NV12,        AV_PIX_FMT_GRAY8,
};
#define N_FORMATS (sizeof formats / sizeof formats[0])

/* A frame of the format and size with reproducible pixels (10-bit samples
 * kept within 10 bits). */
static AVFrame *make_frame(enum AVPixelFormat fmt, int w, int h, unsigned seed)
{
    AVFrame *f = av_frame_alloc();
    ck_assert_ptr_nonnull(f);
    f->format = fmt;
    f->width = w;
    f->height = h;
    ck_assert_int_eq(av_frame_get_buffer(f, 0), 0);
    const AVPixFmtDescriptor *d = av_pix_fmt_desc_get(fmt);
    int deep = d->comp[0].depth > 8;
    for (int p = 0; p < 4 && f->data[p]; p++) {
        int ph = p > 0 && p < 3 && !(d->flags & AV_PIX_FMT_FLAG_RGB)
                     ? AV_CEIL_RSHIFT(h, d->log2_chroma_h)
                     : h;
        for (int y = 0; y < ph; y++) {
            uint8_t *row = f->data[p] + (size_t)y * (size_t)f->linesize[p];
            for (int x = 0; x < f->linesize[p]; x++) {
                seed = seed * 1103515245u + 12345u;
                row[x] = (uint8_t)(seed >> 16);
                if (deep && (x & 1))
                    row[x] &= 0x03;
            }
        }
    }
    return f;
}

/* Convert one frame through video.c's convert() and check what it gives
 * against swscale's own output into a padded picture. */
static void convert_one(enum AVPixelFormat fmt, int w, int h, int rotation)
{
    cli_video v;
    memset(&v, 0, sizeof v);
    v.sws_fmt = -1;
    v.rotation = rotation;
    v.frame = make_frame(fmt, w, h, (unsigned)(w * 7919 + h * 31 + fmt));
    char err[256] = "";
    arnet_frame out;
    int rc = convert(&v, &out, err, sizeof err);
    ck_assert_msg(rc == 0, "%s %dx%d: %s", av_get_pix_fmt_name(fmt), w, h, err);
    int turn = rotation == 90 || rotation == 270;
    ck_assert_uint_eq(out.width, (uint32_t)(turn ? h : w));
    ck_assert_uint_eq(out.height, (uint32_t)(turn ? w : h));
    ck_assert_uint_ge(out.strides[0], (size_t)out.width * 3);

    /* The reference: the same conversion into rows with room to spare. */
    size_t ref_row = (size_t)(w + 64) * 3;
    uint8_t *ref = malloc(ref_row * (size_t)h + 256);
    ck_assert_ptr_nonnull(ref);
    uint8_t *dst[4] = {ref, NULL, NULL, NULL};
    int dst_stride[4] = {(int)ref_row, 0, 0, 0};
    ck_assert_int_eq(sws_scale(v.sws, (const uint8_t *const *)v.frame->data,
                               v.frame->linesize, 0, h, dst, dst_stride),
                     h);
    for (uint32_t y = 0; y < out.height; y++)
        for (uint32_t x = 0; x < out.width; x++) {
            uint32_t sx = x, sy = y; /* source pixel, as convert() turns */
            if (rotation == 90) {
                sy = (uint32_t)h - 1 - x;
                sx = y;
            } else if (rotation == 270) {
                sy = x;
                sx = (uint32_t)w - 1 - y;
            } else if (rotation == 180) {
                sy = (uint32_t)h - 1 - y;
                sx = (uint32_t)w - 1 - x;
            }
            const uint8_t *a = out.planes[0] + y * out.strides[0] + x * 3;
            const uint8_t *b = ref + sy * ref_row + sx * 3;
            if (memcmp(a, b, 3) != 0)
                ck_abort_msg("%s %dx%d turned %d: pixel (%u, %u) differs",
                             av_get_pix_fmt_name(fmt), w, h, rotation, x, y);
        }
    free(ref);
    av_frame_free(&v.frame);
    sws_freeContext(v.sws);
    CLI_VIDEO_FREE(v.rgb, v.rgb_cap);
    CLI_VIDEO_FREE(v.rot, v.rot_cap);
}

/* Widths 1-64 (every remainder modulo 16 and 64, and the widths below 16),
 * heights 1, 2, 7 and 16, in every format. */
START_TEST(small_widths)
{
    static const int heights[] = {1, 2, 7, 16};
    enum AVPixelFormat fmt = formats[_i];
    for (int w = 1; w <= 64; w++)
        for (size_t k = 0; k < sizeof heights / sizeof heights[0]; k++)
            convert_one(fmt, w, heights[k], 0);
}
END_TEST

/* The sizes cameras and phones give, including the four reported to
 * overrun (426x240, 200x120, 360x640, 1080x1920). */
START_TEST(common_sizes)
{
    static const int sizes[][2] = {
        {426, 240}, {200, 120}, {360, 640}, {1080, 1920}, {1920, 1080}, {1280, 720},
        {854, 480}, {640, 480}, {640, 360}, {352, 288}, {320, 240}, {176, 144},
        {720, 576}, {1440, 1080}, {2560, 1440}, {960, 540},
    };
    enum AVPixelFormat fmt = formats[_i];
    for (size_t k = 0; k < sizeof sizes / sizeof sizes[0]; k++)
        convert_one(fmt, sizes[k][0], sizes[k][1], 0);
}
END_TEST

/* Turned pictures go through the second buffer too. */
START_TEST(turned)
{
    static const int turns[] = {90, 180, 270};
    for (size_t t = 0; t < 3; t++) {
        convert_one(AV_PIX_FMT_YUV420P, 426, 240, turns[t]);
        convert_one(AV_PIX_FMT_YUV422P10LE, 13, 5, turns[t]);
        convert_one(AV_PIX_FMT_YUV444P, 1, 1, turns[t]);
        convert_one(AV_PIX_FMT_NV12, 200, 120, turns[t]);
    }
}
END_TEST

/* One buffer serves frames that change size mid-stream (a camera switching
 * resolution): growing and shrinking keep the guard at the new end. */
START_TEST(size_changes)
{
    static const int sizes[][2] = {{8, 8}, {426, 240}, {9, 3}, {1080, 1920}, {17, 1}};
    cli_video v;
    memset(&v, 0, sizeof v);
    v.sws_fmt = -1;
    for (size_t k = 0; k < sizeof sizes / sizeof sizes[0]; k++) {
        v.frame = make_frame(AV_PIX_FMT_YUV420P, sizes[k][0], sizes[k][1], (unsigned)k);
        char err[256] = "";
        arnet_frame out;
        ck_assert_msg(convert(&v, &out, err, sizeof err) == 0, "%s", err);
        ck_assert_uint_eq(out.width, (uint32_t)sizes[k][0]);
        av_frame_free(&v.frame);
    }
    sws_freeContext(v.sws);
    CLI_VIDEO_FREE(v.rgb, v.rgb_cap);
}
END_TEST

/* ---- from memory (cli_video_open_buffer), as the fuzz target reads ------- */

static uint8_t *slurp(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    ck_assert_msg(f != NULL, "%s", path);
    uint8_t *b = malloc(1 << 20);
    *n = fread(b, 1, 1 << 20, f);
    fclose(f);
    return b;
}

/* Every seed of the video fuzz target (tests/fuzz/corpus/video: H.264
 * 4:2:0 rotated or not and 4:2:2 10-bit, MPEG-4, MJPEG, VP9 4:4:4, FFV1,
 * MPEG-2 TS, Y4M, GIF) gives the same frames, sizes and times from memory
 * as from its file. */
START_TEST(memory_matches_file)
{
    static const char *const seeds[] = { "h264-420.mp4", "h264-420-rot90.mp4",
                                         "h264-422-10bit.mkv", "mpeg4.avi", "mjpeg-422.avi",
                                         "vp9-444.webm", "ffv1.mkv", "mpeg2.ts", "raw.y4m",
                                         "anim.gif" };
    for (size_t i = 0; i < sizeof seeds / sizeof seeds[0]; i++) {
        char path[512], err[256], err2[256];
        snprintf(path, sizeof path, "%s/tests/fuzz/corpus/video/%s", ARNET_SOURCE_DIR, seeds[i]);
        size_t n;
        uint8_t *data = slurp(path, &n);
        cli_video *a, *b;
        ck_assert_msg(cli_video_open(path, 1, &a, err, sizeof err) == 0, "%s: %s", seeds[i], err);
        ck_assert_msg(cli_video_open_buffer(data, n, 1, &b, err, sizeof err) == 0, "%s: %s",
                      seeds[i], err);
        cli_video_info ia, ib;
        cli_video_info_get(a, &ia);
        cli_video_info_get(b, &ib);
        ck_assert_uint_eq(ia.width, ib.width);
        ck_assert_uint_eq(ia.height, ib.height);
        ck_assert_int_eq(ia.rotation, ib.rotation);
        ck_assert_str_eq(ia.codec, ib.codec);
        if (!strcmp(seeds[i], "h264-420-rot90.mp4"))
            ck_assert_int_ne(ib.rotation, 0);
        int frames = 0;
        for (;;) {
            arnet_frame fa, fb;
            double ta, tb;
            int ra = cli_video_read(a, &fa, &ta, err, sizeof err);
            int rb = cli_video_read(b, &fb, &tb, err2, sizeof err2);
            ck_assert_msg(ra == rb, "%s frame %d: file %d (%s), memory %d (%s)", seeds[i],
                          frames, ra, err, rb, err2);
            if (ra <= 0)
                break;
            ck_assert_uint_eq(fa.width, fb.width);
            ck_assert_uint_eq(fa.height, fb.height);
            ck_assert(ta == tb);
            for (uint32_t y = 0; y < fa.height; y++)
                ck_assert(memcmp(fa.planes[0] + y * fa.strides[0],
                                 fb.planes[0] + y * fb.strides[0], (size_t)fa.width * 3) == 0);
            frames++;
        }
        ck_assert_msg(frames >= 2, "%s: %d frames", seeds[i], frames);
        cli_video_close(a);
        cli_video_close(b);
        free(data);
    }
}
END_TEST

/* From memory, a demuxer opens nothing else: a playlist naming a file
 * fails (and reads nothing of it); empty or cut input fails with a reason;
 * a picture too large says so (it was "Device or resource busy"). */
START_TEST(memory_refusals)
{
    char err[256];
    cli_video *v = NULL;
    static const char m3u[] = "#EXTM3U\n#EXT-X-TARGETDURATION:1\n#EXTINF:1,\n"
                              "/etc/passwd\n#EXT-X-ENDLIST\n";
    ck_assert_int_eq(cli_video_open_buffer((const uint8_t *)m3u, sizeof m3u - 1, 1, &v, err,
                                           sizeof err), -1);
    ck_assert_ptr_null(v);
    /* FFmpeg 5.1's HLS demuxer stops before opening (ENOMEM from its URL
     * options on a custom AVIOContext); io_open refuses if it gets that far */
    ck_assert_msg(strstr(err, "cannot open") != NULL, "%s", err);
    ck_assert_int_eq(cli_video_open_buffer(NULL, 0, 1, &v, err, sizeof err), -1);
    ck_assert_msg(strstr(err, "cannot open") != NULL, "%s", err);
    static const char y4m[] = "YUV4MPEG2 W60000 H60000 F25:1 Ip A1:1 C420jpeg\nFRAME\nabc";
    ck_assert_int_eq(cli_video_open_buffer((const uint8_t *)y4m, sizeof y4m - 1, 1, &v, err,
                                           sizeof err), -1);
    ck_assert_msg(strstr(err, "the picture, 60000x60000, is too large") != NULL, "%s", err);
    char path[512];
    snprintf(path, sizeof path, "%s/tests/fuzz/corpus/video/mpeg4.avi", ARNET_SOURCE_DIR);
    size_t n;
    uint8_t *data = slurp(path, &n);
    for (size_t cut = 0; cut < n; cut += 97) {
        if (cli_video_open_buffer(data, cut, 1, &v, err, sizeof err) < 0) {
            ck_assert(err[0] != '\0');
            continue;
        }
        arnet_frame f;
        double t;
        int r;
        while ((r = cli_video_read(v, &f, &t, err, sizeof err)) == 1)
            ;
        ck_assert(r == 0 || err[0] != '\0');
        cli_video_close(v);
    }
    free(data);
}
END_TEST

/* The guard itself: a write one byte past an allocation is caught (else
 * every case above would pass without proving anything). */
START_TEST(guard_catches_overrun)
{
    uint8_t *p = guard_alloc(64);
    ck_assert_ptr_nonnull(p);
    p[63] = 1;
    p[64] = 1; /* must not return */
    ck_abort_msg("a write past the buffer was not caught");
}
END_TEST

Suite *make_suite(void)
{
    av_log_set_level(AV_LOG_QUIET);
    Suite *s = suite_create("video_guard");
    TCase *tc = tcase_create("convert");
    tcase_set_timeout(tc, 120);
    tcase_add_loop_test(tc, small_widths, 0, (int)N_FORMATS);
    tcase_add_loop_test(tc, common_sizes, 0, (int)N_FORMATS);
    tcase_add_test(tc, turned);
    tcase_add_test(tc, size_changes);
    tcase_add_test_raise_signal(tc, guard_catches_overrun, SIGSEGV);
    tcase_add_test(tc, memory_matches_file);
    tcase_add_test(tc, memory_refusals);
    suite_add_tcase(s, tc);
    return s;
}
