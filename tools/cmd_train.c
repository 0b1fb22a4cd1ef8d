/* cmd_train.c -- placeholder: being written. */
#include "cli.h"

int cmd_train(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    fprintf(stderr, "arnet train: not available in this build yet\n");
    return CLI_EXIT_FAIL;
}
