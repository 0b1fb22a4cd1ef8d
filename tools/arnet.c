/* arnet.c -- the arnet program's entry point: finds the subcommand and hands
 * over.  The program is a thin layer over the public C interface. */
#include <stdio.h>
#include <string.h>

#include "cli.h"

static const struct {
    const char *name;
    int (*run)(int, char **);
    const char *summary;
} commands[] = {
    {"demo", cmd_demo, "make a synthetic set, train, evaluate (the quick start)"},
    {"train", cmd_train, "train a model from a manifest"},
    {"eval", cmd_eval, "frame-level AUC, AP and false alarm rate on a test manifest"},
    {"score", cmd_score, "anomaly score of every clip of .npy feature files"},
    {"calibrate", cmd_calibrate, "score threshold for a target false-alarm rate"},
    {"extract", cmd_extract, "I3D features of video files or frames (.npy)"},
    {"watch", cmd_watch, "alarms from a video or raw frames, as they happen"},
    {"flow", cmd_flow, "TV-L1 optical flow of frames (.npy), as OpenCV's"},
    {"info", cmd_info, "what a model file holds"},
    {"synth", cmd_synth, "write a ShanghaiTech-shaped synthetic data set"},
    {"import", cmd_import, "turn RTFM lists or UCF-Crime annotations into a manifest"},
};

static void usage(FILE *f)
{
    fprintf(f, "usage: arnet COMMAND [OPTIONS]\n\n"
               "Weakly supervised video anomaly detection (AR-Net).\n\ncommands:\n");
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        fprintf(f, "  %-10s %s\n", commands[i].name, commands[i].summary);
    fprintf(f, "\n'arnet COMMAND --help' lists a command's options.\n"
               "'arnet --version' prints the library and file format versions.\n"
               "'man arnet' has all of it in one page.\n");
    cli_print_exit_codes(f, CLI_EXITS_OUTPUT | CLI_EXITS_INTERRUPT);
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return CLI_EXIT_USAGE;
    }
    if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
        usage(stdout);
        return 0;
    }
    if (!strcmp(argv[1], "--version")) {
        int fv = arnet_checkpoint_format_version();
        printf("arnet %s (libarnet %s, ABI %d, checkpoint format %d.%d, BLIS kernels %s)\n",
               ARNET_VERSION, arnet_version(), arnet_abi_version(), fv / 100, fv % 100,
               arnet_blas_arch());
        return 0;
    }
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        if (!strcmp(argv[1], commands[i].name))
            return commands[i].run(argc - 1, argv + 1);
    fprintf(stderr, "arnet: unknown command '%s'\n\n", argv[1]);
    usage(stderr);
    return CLI_EXIT_USAGE;
}
