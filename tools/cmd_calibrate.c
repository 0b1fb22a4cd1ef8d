/* cmd_calibrate.c -- placeholder: being written. */
#include "cli.h"

int cmd_calibrate(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    fprintf(stderr, "arnet calibrate: not available in this build yet\n");
    return CLI_EXIT_FAIL;
}
