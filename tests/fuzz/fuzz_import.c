/* fuzz_import.c -- libFuzzer target: `arnet import rtfm|ucf`.
 *
 * The importers are the arnet program's (tools/cmd_import.c, built into
 * this harness with tools/cli.c and called as the program calls them; they
 * only print and return an exit code).  The input is two control bytes,
 * then the text of the RTFM list or the UCF-Crime annotation file:
 *   byte 0: bit 0 ucf (else rtfm); bit 1 rtfm --gt gt.npy; bit 2
 *           --features-dir feats (rtfm; ucf always has it); bit 3 ucf
 *           --allow-no-event;
 *   byte 1: rtfm --anomalous N (N = byte % 4).
 * The scratch folder (the working directory during each input) holds feats/a.npy
 * (3 clips), feats/b.npy (2 clips), feats/c.npy (3 clips x 2 crops), the
 * same under ./, and gt.npy (frame labels, 128 frames).  Checked beyond
 * "no crash": a manifest the importer wrote (exit 0) loads with
 * arnet_dataset_load_manifest: the manifest writer promises that the
 * loader never refuses its syntax, and the importer checked the feature
 * files (their headers) and the ranges.  Only `rtfm` without --gt checks
 * no more than that the listed paths exist (docs/data.md: the features are
 * read when the manifest is loaded), so there the loader may refuse a
 * listed file, naming it (its absolute path), but never a line's syntax. */
#include <fcntl.h>
#include <sys/stat.h>

#include "../../tools/cli.h"
#include "fuzz_common.h"

static void setup(void)
{
    /* Called in the scratch folder. */
    float a[24];
    for (int i = 0; i < 24; i++)
        a[i] = (float)(i % 9) / 9.0f;
    size_t sa[2] = {3, 4}, sb[2] = {2, 4}, sc[3] = {3, 2, 4}, sg[1] = {128};
    float g[128] = {0};
    for (int i = 40; i < 70; i++)
        g[i] = 1.0f;
    FUZZ_CHECK(mkdir("feats", 0777) == 0, "mkdir feats");
    const char *dirs[2] = {"feats/", ""};
    for (int d = 0; d < 2; d++) {
        char p[64];
        snprintf(p, sizeof p, "%sa.npy", dirs[d]);
        FUZZ_CHECK(arnet_npy_write(p, a, sa, 2) == ARNET_OK, "%s", p);
        snprintf(p, sizeof p, "%sb.npy", dirs[d]);
        FUZZ_CHECK(arnet_npy_write(p, a, sb, 2) == ARNET_OK, "%s", p);
        snprintf(p, sizeof p, "%sc.npy", dirs[d]);
        FUZZ_CHECK(arnet_npy_write(p, a, sc, 3) == ARNET_OK, "%s", p);
    }
    FUZZ_CHECK(arnet_npy_write("gt.npy", g, sg, 1) == ARNET_OK, "gt.npy");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* The importers resolve list paths from the working directory: work in
     * the scratch folder, and go back after each input (libFuzzer reads its
     * corpus from relative paths too). */
    static int home = -1;
    if (size < 2)
        return 0;
    if (home < 0) {
        home = open(".", O_RDONLY | O_DIRECTORY);
        FUZZ_CHECK(home >= 0 && chdir(fuzz_dir()) == 0, "chdir %s", fuzz_dir());
        setup();
    } else {
        FUZZ_CHECK(chdir(fuzz_dir()) == 0, "chdir %s", fuzz_dir());
    }
    int ctl = data[0];
    fuzz_write("input.txt", data + 2, size - 2);
    unlink("out.txt");

    char n_anom[8];
    snprintf(n_anom, sizeof n_anom, "%d", data[1] % 4);
    char *argv[16];
    int argc = 0;
    argv[argc++] = "import";
    if (ctl & 1) {
        argv[argc++] = "ucf";
        argv[argc++] = "--annotations";
        argv[argc++] = "input.txt";
        argv[argc++] = "--features-dir";
        argv[argc++] = "feats";
        if (ctl & 8)
            argv[argc++] = "--allow-no-event";
    } else {
        argv[argc++] = "rtfm";
        argv[argc++] = "--list";
        argv[argc++] = "input.txt";
        argv[argc++] = "--anomalous";
        argv[argc++] = n_anom;
        if (ctl & 2) {
            argv[argc++] = "--gt";
            argv[argc++] = "gt.npy";
        }
        if (ctl & 4) {
            argv[argc++] = "--features-dir";
            argv[argc++] = "feats";
        }
    }
    argv[argc++] = "--out";
    argv[argc++] = "out.txt";
    argv[argc] = NULL;

    int code = cmd_import(argc, argv);
    FUZZ_DEBUG("import %s: exit %d", argv[1], code);
    FUZZ_CHECK(code == 0 || code == CLI_EXIT_FAIL || code == CLI_EXIT_USAGE, "exit code %d", code);
    if (code == 0) {
        arnet_dataset *ds = NULL;
        int rc = arnet_dataset_load_manifest("out.txt", NULL, &ds);
        const char *msg = arnet_last_error(), *p = strstr(msg, "out.txt:");
        int file_error = p && (p = p + 8, strspn(p, "0123456789") > 0) &&
                         strncmp(p + strspn(p, "0123456789"), ": /", 3) == 0;
        FUZZ_CHECK(rc == ARNET_OK || (!(ctl & 1) && !(ctl & 2) && file_error),
                   "the imported manifest does not load: %s", msg);
        arnet_dataset_free(ds);
    }
    FUZZ_CHECK(fchdir(home) == 0, "back to the working directory");
    return 0;
}
