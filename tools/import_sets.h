/* import_sets.h -- the importers of import_sets.c, called by cmd_import.c. */
#ifndef ARNET_IMPORT_SETS_H
#define ARNET_IMPORT_SETS_H

#include <stdio.h>

/* `arnet import ucf --train-list ...` and `arnet import xd ...`: argv[0] is
 * "import", argv[1] the format.  Return the exit code. */
int import_ucf_train(int argc, char **argv);
int import_xd(int argc, char **argv);
/* Their lines of `arnet import --help`: the usage lines (details 0) or
 * the explanations (1). */
void import_sets_usage(FILE *f, int details);

#endif
