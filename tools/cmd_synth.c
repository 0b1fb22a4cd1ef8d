/* cmd_synth.c -- placeholder: being written. */
#include "cli.h"

int cmd_synth(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    fprintf(stderr, "arnet synth: not available in this build yet\n");
    return CLI_EXIT_FAIL;
}
