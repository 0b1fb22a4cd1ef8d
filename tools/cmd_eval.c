/* cmd_eval.c -- placeholder: being written. */
#include "cli.h"

int cmd_eval(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    fprintf(stderr, "arnet eval: not available in this build yet\n");
    return CLI_EXIT_FAIL;
}
