/* cmd_info.c -- placeholder: being written. */
#include "cli.h"

int cmd_info(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    fprintf(stderr, "arnet info: not available in this build yet\n");
    return CLI_EXIT_FAIL;
}
