/* cmd_flow.c -- `arnet flow`: TV-L1 optical flow between consecutive frames
 * of a frame dump (.npy), as OpenCV's DualTVL1 computes it (docs/extractor.md,
 * "Optical flow (TV-L1)"). */
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

#include "cli.h"

#define CMD "flow"

static void usage(FILE *f)
{
    fprintf(f,
            "usage: arnet flow --frames FRAMES.npy --out FLOW.npy [options]\n\n"
            "TV-L1 optical flow between consecutive frames, as OpenCV's DualTVL1 (the\n"
            "flow behind published I3D two-stream features): FRAMES.npy is [N, H, W, 3]\n"
            "uint8 RGB (made grey with OpenCV's RGB2GRAY weights) or [N, H, W] uint8\n"
            "grey; FLOW.npy gets [N-1, H, W, 2] float32, the flow from frame i to frame\n"
            "i+1 in pixels, x then y.\n\n"
            "  --frames FILE     frames (.npy), at least 2, each at least 3 x 3 pixels\n"
            "  --out FILE        flow (.npy), written atomically\n"
            "  --preset P        opencv (default: OpenCV 4.6's CPU defaults, 30 x 10\n"
            "                    iterations, 5 x 5 median) or cuda (its CUDA twin as\n"
            "                    dense_flow/denseflow run it: 300 x 1, no median)\n"
            "  --threads K       threads on each pair (default 1)\n"
            "  --inexact         float arithmetic of its own: about 2x faster, not\n"
            "                    OpenCV's bits (mean end-point difference up to 0.015 px\n"
            "                    on the tested frames; docs/extractor.md)\n"
            "  --force           replace an existing FLOW.npy\n"
            "  --quiet           no progress\n\n"
            "Ctrl-C stops it within an iteration and leaves FLOW.npy as it was.\n");
    cli_print_exit_codes(f, CLI_EXITS_OUTPUT | CLI_EXITS_INTERRUPT);
}

/* SIGINT and SIGTERM (cli_signals_catch) cancel the running pair. */
static arnet_flow *volatile current_flow;

static void cancel_current(void)
{
    arnet_flow *f = current_flow;
    if (f)
        arnet_flow_cancel(f);
}

/* The .npy header of a float32 [n, h, w, 2] array, padded with spaces to a
 * multiple of 64 bytes as NumPy writes it; returns its length. */
static size_t npy_header(char *buf, size_t cap, uint64_t n, uint64_t h, uint64_t w)
{
    char dict[200];
    int len = snprintf(dict, sizeof dict,
                       "{'descr': '%cf4', 'fortran_order': False, 'shape': (%" PRIu64
                       ", %" PRIu64 ", %" PRIu64 ", 2), }",
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
                       '>',
#else
                       '<',
#endif
                       n, h, w);
    size_t total = 10 + (size_t)len + 1;
    total = (total + 63) / 64 * 64;
    if (total > cap)
        return 0;
    memcpy(buf, "\x93NUMPY\x01\x00", 8);
    size_t hl = total - 10;
    buf[8] = (char)(hl & 0xff);
    buf[9] = (char)(hl >> 8);
    memcpy(buf + 10, dict, (size_t)len);
    memset(buf + 10 + len, ' ', total - 10 - (size_t)len - 1);
    buf[total - 1] = '\n';
    return total;
}

int cmd_flow(int argc, char **argv)
{
    const char *frames = NULL, *out = NULL, *v;
    int preset = ARNET_FLOW_PRESET_OPENCV, force = 0, show = 1, rc = 0, exact = 1;
    uint64_t threads = 1;
    cli_output o;
    int o_used = 0;
    FILE *in = NULL;
    uint8_t *rgb = NULL, *grey[2] = {NULL, NULL};
    char *file = NULL;
    arnet_flow *f = NULL;
    for (int i = 1; i < argc; i++) {
        int r = 0;
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            usage(stdout);
            return 0;
        } else if (!strcmp(argv[i], "--force")) {
            force = 1;
        } else if (!strcmp(argv[i], "--quiet")) {
            show = 0;
        } else if (!strcmp(argv[i], "--inexact")) {
            exact = 0;
        } else if ((r = cli_opt_value(CMD, argc, argv, &i, "--frames", &v))) {
            frames = v;
        } else if ((r = cli_opt_value(CMD, argc, argv, &i, "--out", &v))) {
            out = v;
        } else if ((r = cli_opt_value(CMD, argc, argv, &i, "--preset", &v))) {
            if (r > 0 && !strcmp(v, "opencv"))
                preset = ARNET_FLOW_PRESET_OPENCV;
            else if (r > 0 && !strcmp(v, "cuda"))
                preset = ARNET_FLOW_PRESET_CUDA;
            else if (r > 0)
                return cli_usage_error(CMD, "--preset: '%s' is not opencv or cuda", v);
        } else if ((r = cli_opt_value(CMD, argc, argv, &i, "--threads", &v))) {
            if (r > 0 && !cli_parse_u64(CMD, "--threads", v, 1, 256, &threads))
                return CLI_EXIT_USAGE;
        } else if (argv[i][0] == '-' && argv[i][1]) {
            return cli_usage_error(CMD, "unknown option '%s'", argv[i]);
        } else {
            return cli_usage_error(CMD, "unexpected argument '%s'", argv[i]);
        }
        if (r < 0)
            return CLI_EXIT_USAGE;
    }
    if (!frames)
        return cli_usage_error(CMD, "--frames FRAMES.npy is required");
    if (!out)
        return cli_usage_error(CMD, "--out FLOW.npy is required");
    cli_output_init(&o, "--out", out, 0);
    o_used = 1;
    if ((rc = cli_output_not_input(CMD, &o, "the frames --frames", frames)) ||
        (rc = cli_output_absent(CMD, &o, NULL, force, NULL)) || (rc = cli_output_lock(CMD, &o)))
        goto done;

    /* The frames: header checked by the library (size against the shape). */
    arnet_npy_info info;
    arnet_npy_info_init(&info);
    int st = arnet_npy_info_read(frames, &info);
    if (st != ARNET_OK) {
        rc = cli_fail(CMD, st, frames);
        goto done;
    }
    int rgb_in = info.ndim == 4;
    if ((info.ndim != 3 && info.ndim != 4) || (rgb_in && info.shape[3] != 3) ||
        info.item_size != 1 || (strcmp(info.dtype, "|u1") && strcmp(info.dtype, "<u1") &&
                                strcmp(info.dtype, ">u1"))) {
        fprintf(stderr,
                "arnet flow: %s: frames must be uint8 [N, H, W, 3] RGB or [N, H, W] grey "
                "(dtype %s, rank %d%s)\n",
                frames, info.dtype, info.ndim,
                info.ndim == 4 && info.shape[3] != 3 ? ", last dimension not 3" : "");
        rc = CLI_EXIT_FAIL;
        goto done;
    }
    if (info.fortran_order) {
        fprintf(stderr, "arnet flow: %s: frames must be in C order (fortran_order is True)\n",
                frames);
        rc = CLI_EXIT_FAIL;
        goto done;
    }
    uint64_t n = info.shape[0], h = info.shape[1], w = info.shape[2];
    if (n < 2 || h < 3 || w < 3 || h > 16384 || w > 16384) {
        fprintf(stderr,
                "arnet flow: %s: %" PRIu64 " frames of %" PRIu64 " x %" PRIu64
                ": need at least 2 frames of 3 x 3 to 16384 x 16384 pixels\n",
                frames, n, w, h);
        rc = CLI_EXIT_FAIL;
        goto done;
    }
    const uint64_t pixels = h * w, in_bytes = pixels * (rgb_in ? 3 : 1);
    /* Output: (n - 1) x h x w x 2 floats after a header, held whole (the
     * file is written in one atomic step). */
    char hdr[256];
    size_t hl = npy_header(hdr, sizeof hdr, n - 1, h, w);
    uint64_t flow_bytes = pixels * 2 * sizeof(float);
    if (hl == 0 || n - 1 > (SIZE_MAX - hl) / flow_bytes) {
        fprintf(stderr, "arnet flow: %s: %" PRIu64 " flows of %" PRIu64 " x %" PRIu64
                        " do not fit in memory\n", frames, n - 1, w, h);
        rc = CLI_EXIT_FAIL;
        goto done;
    }
    size_t file_bytes = hl + (size_t)((n - 1) * flow_bytes);
    file = malloc(file_bytes);
    rgb = malloc((size_t)in_bytes);
    grey[0] = malloc((size_t)pixels);
    grey[1] = malloc((size_t)pixels);
    if (!file || !rgb || !grey[0] || !grey[1]) {
        fprintf(stderr, "arnet flow: out of memory for %zu bytes of flow (%" PRIu64 " pairs of %"
                        PRIu64 " x %" PRIu64 ")\n", file_bytes, n - 1, w, h);
        rc = CLI_EXIT_FAIL;
        goto done;
    }
    memcpy(file, hdr, hl);
    in = cli_fopen_read(frames);
    /* The data are the file's last n x in_bytes bytes (the library checked
     * that the size matches the shape). */
    if (!in || fseeko(in, -(off_t)(n * in_bytes), SEEK_END) != 0) {
        fprintf(stderr, "arnet flow: %s: cannot read: %s\n", frames,
                in ? strerror(errno) : cli_open_error(frames));
        rc = CLI_EXIT_FAIL;
        goto done;
    }
    arnet_flow_options opt;
    arnet_flow_options_init(&opt);
    if ((st = arnet_flow_options_preset(&opt, preset)) != ARNET_OK) {
        rc = cli_fail(CMD, st, "options");
        goto done;
    }
    opt.threads = (int)threads;
    opt.exact = exact;
    if ((st = arnet_flow_create((uint32_t)w, (uint32_t)h, &opt, &f)) != ARNET_OK) {
        rc = cli_fail(CMD, st, "flow");
        goto done;
    }
    current_flow = f;
    cli_signals_catch(cancel_current);
    show = cli_progress_enabled(0) && show;
    double t0 = cli_now(), last = 0;
    for (uint64_t i = 0; i < n && !cli_interrupted(); i++) {
        uint8_t *g = grey[i & 1];
        if (fread(rgb, 1, (size_t)in_bytes, in) != in_bytes) {
            fprintf(stderr, "arnet flow: %s: read error at frame %" PRIu64 "\n", frames, i);
            rc = CLI_EXIT_FAIL;
            break;
        }
        if (rgb_in)
            st = arnet_rgb_to_grey(rgb, (size_t)w * 3, (uint32_t)w, (uint32_t)h, g);
        else
            memcpy(g, rgb, (size_t)pixels);
        if (st != ARNET_OK) {
            rc = cli_fail(CMD, st, frames);
            break;
        }
        if (i == 0)
            continue;
        float *dst = (float *)(file + hl + (size_t)((i - 1) * flow_bytes));
        st = arnet_flow_compute(f, grey[(i - 1) & 1], (size_t)w, g, (size_t)w, dst);
        if (st == ARNET_E_CANCELLED)
            break;
        if (st != ARNET_OK) {
            rc = cli_fail(CMD, st, frames);
            break;
        }
        double now = cli_now();
        if (show && (now - last >= cli_progress_interval() || i + 1 == n)) {
            last = now;
            cli_progress_line("arnet flow: %" PRIu64 "/%" PRIu64 " pairs, %.1f ms per pair", i,
                              n - 1, (now - t0) * 1000.0 / (double)i);
        }
    }
    current_flow = NULL;
    if (show)
        cli_progress_done();
    cli_signals_restore();
    if (cli_interrupted()) {
        fprintf(stderr, "arnet flow: interrupted (%s); %s was not written\n",
                cli_interrupt_name(), out);
        rc = cli_interrupt_status();
        goto done;
    }
    if (rc)
        goto done;
    /* The flows went into `file` as native floats (the header says which). */
    if ((st = arnet_write_file(out, file, file_bytes)) != ARNET_OK) {
        rc = cli_fail(CMD, st, out);
        goto done;
    }
    double el = cli_now() - t0;
    if (show)
        fprintf(stderr, "arnet flow: %s: %" PRIu64 " frames -> %" PRIu64
                        " flows in %s (%.1f s, %.1f ms per pair)\n",
                frames, n, n - 1, out, el, el * 1000.0 / (double)(n - 1));
done:
    arnet_flow_free(f);
    if (in)
        fclose(in);
    free(file);
    free(rgb);
    free(grey[0]);
    free(grey[1]);
    if (o_used)
        cli_output_release(&o);
    return rc;
}
