/* cmd_import.c -- placeholder: being written. */
#include "cli.h"

int cmd_import(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    fprintf(stderr, "arnet import: not available in this build yet\n");
    return CLI_EXIT_FAIL;
}
