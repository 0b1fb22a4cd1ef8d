/* cmd_score.c -- placeholder: being written. */
#include "cli.h"

int cmd_score(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    fprintf(stderr, "arnet score: not available in this build yet\n");
    return CLI_EXIT_FAIL;
}
