/* checkpoint.c -- placeholder: being written. */
#include "internal.h"

int arnet_checkpoint_format_version(void) { return 100; }
