/* cmd_demo.c -- placeholder: being written. */
#include "cli.h"

int cmd_demo(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    fprintf(stderr, "arnet demo: not available in this build yet\n");
    return CLI_EXIT_FAIL;
}
