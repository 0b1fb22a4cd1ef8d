/* i3d_ref_files.h -- the PyTorch reference files the I3D tests read
 * (test_torchfile.c, test_i3d_import.c): made once by the build
 * (tests/meson.build, target i3d-reference-files from
 * tests/reference/i3d_torch.py); the stamp beside them says "ok" or why
 * they are missing, and the tests that need them are skipped, saying so. */
#ifndef ARNET_TEST_I3D_REF_FILES_H
#define ARNET_TEST_I3D_REF_FILES_H

#include <stdio.h>
#include <string.h>

static const char *const dir = ARNET_I3D_REF_DIR;
static int have_files;
static char why[256] = "not made";

/* Read the stamp: have_files = 1 when the files are there, else why says
 * why not. */
static void check_files(void)
{
    FILE *f = fopen(ARNET_I3D_REF_DIR "/../i3d_ref.stamp", "r");
    if (!f)
        return;
    if (fgets(why, sizeof why, f))
        why[strcspn(why, "\n")] = '\0';
    fclose(f);
    have_files = strcmp(why, "ok") == 0;
}

/* out = the reference file called name. */
static void path_of(char *out, size_t cap, const char *name)
{
    snprintf(out, cap, "%s/%s", dir, name);
}

#endif
