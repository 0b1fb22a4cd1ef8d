/* test_fileio.c -- files in and out on a real disk: every writer (raw
 * bytes, .npy, checkpoints, manifests) creates files with the umask,
 * replaces them atomically, cleans temporaries of dead writers but not of
 * live ones, and leaves the old file and no temporary on failure; every
 * reader refuses pipes, folders and devices at once (never blocking on a
 * FIFO) with ARNET_E_IO naming the path. */
#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "internal.h"

static char dir[64];

static void setup(void)
{
    strcpy(dir, "/tmp/arnet-fileio-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(dir));
    /* A reader that blocks on a FIFO would hang the suite: die instead
     * (Check's own timer handles SIGALRM in its children). */
    signal(SIGALRM, SIG_DFL);
    alarm(15);
}

static void teardown(void)
{
    alarm(0);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    ck_assert_int_eq(system(cmd), 0);
}

static void in_dir(char *out, size_t cap, const char *name)
{
    snprintf(out, cap, "%s/%s", dir, name);
}

static mode_t mode_of(const char *path)
{
    struct stat st;
    ck_assert_msg(stat(path, &st) == 0, "%s: %s", path, strerror(errno));
    return st.st_mode & 07777;
}

/* Names in dir other than those listed (NULL-terminated): the temporaries
 * a writer left behind. */
static int count_others(const char *const *keep)
{
    DIR *d = opendir(dir);
    ck_assert_ptr_nonnull(d);
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
            continue;
        int listed = 0;
        for (const char *const *k = keep; *k; k++)
            listed |= !strcmp(e->d_name, *k);
        n += !listed;
    }
    closedir(d);
    return n;
}

static void write_text(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    fputs(text, f);
    ck_assert_int_eq(fclose(f), 0);
}

static char *slurp(const char *path)
{
    FILE *f = fopen(path, "rb");
    ck_assert_ptr_nonnull(f);
    static char buf[4096];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    buf[n] = '\0';
    fclose(f);
    return buf;
}

static arnet_model *small_model(void)
{
    arnet_model_config cfg;
    arnet_model_config_init(&cfg);
    cfg.feature_dim = 4;
    cfg.hidden_dim = 3;
    arnet_model *m = NULL;
    ck_assert_int_eq(arnet_model_create(&cfg, &m), ARNET_OK);
    return m;
}

/* ---- the mode follows the umask ------------------------------------------- */

/* Each writer of the library, writing `name` in dir. */
static int write_with(int which, const char *path)
{
    static const float x[6] = {1, 2, 3, 4, 5, 6};
    const size_t shape[2] = {2, 3};
    switch (which) {
    case 0:
        return arnet_write_file(path, "hello\n", 6);
    case 1:
        return arnet_npy_write(path, x, shape, 2);
    default: {
        arnet_model *m = small_model();
        int rc = arnet_model_save(m, path);
        arnet_model_free(m);
        return rc;
    }
    }
}

static const char *const writer_names[] = {"arnet_write_file", "arnet_npy_write",
                                           "arnet_model_save"};

START_TEST(test_mode_follows_umask)
{
    static const mode_t masks[2] = {022, 077}, want[2] = {0644, 0600};
    char path[128];
    for (int k = 0; k < 2; k++) {
        in_dir(path, sizeof path, k ? "b.out" : "a.out");
        unlink(path);
        mode_t old = umask(masks[k]);
        int rc = write_with(_i, path);
        umask(old);
        ck_assert_msg(rc == ARNET_OK, "%s: %s", writer_names[_i], arnet_last_error());
        ck_assert_msg(mode_of(path) == want[k], "%s with umask %03o: mode %03o, want %03o",
                      writer_names[_i], (unsigned)masks[k], (unsigned)mode_of(path),
                      (unsigned)want[k]);
    }
}
END_TEST

/* Regular files under folder (one level of subfolders) whose mode is not want. */
static int wrong_modes(const char *folder, mode_t want, int depth, int *n_files)
{
    DIR *d = opendir(folder);
    ck_assert_ptr_nonnull(d);
    int wrong = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.')
            continue;
        char p[512];
        if (snprintf(p, sizeof p, "%s/%s", folder, e->d_name) >= (int)sizeof p)
            ck_abort_msg("path too long");
        struct stat st;
        ck_assert_int_eq(stat(p, &st), 0);
        if (S_ISDIR(st.st_mode) && depth > 0) {
            wrong += wrong_modes(p, want, depth - 1, n_files);
        } else if (S_ISREG(st.st_mode)) {
            (*n_files)++;
            if ((st.st_mode & 0777) != want) {
                fprintf(stderr, "# %s: mode %03o\n", p, (unsigned)(st.st_mode & 0777));
                wrong++;
            }
        }
    }
    closedir(d);
    return wrong;
}

START_TEST(test_synth_files_follow_umask)
{
    arnet_synth_options so;
    arnet_synth_options_init(&so);
    so.feature_dim = 8;
    so.scale = 0.05;
    mode_t old = umask(022);
    int rc = arnet_synth_write(dir, &so);
    umask(old);
    ck_assert_msg(rc == ARNET_OK, "%s", arnet_last_error());
    int n = 0;
    ck_assert_int_eq(wrong_modes(dir, 0644, 1, &n), 0);
    ck_assert_int_gt(n, 4); /* manifests, features, ground truth */
}
END_TEST

/* ---- temporaries of dead and live writers ------------------------------------ */

static pid_t dead_pid(void)
{
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0)
        _exit(0);
    int st;
    ck_assert_int_eq(waitpid(pid, &st, 0), pid);
    return pid;
}

/* This machine's tag in temporary names (as fileio.c's host_tag makes it,
 * for the plain host names of test machines). */
static const char *my_host(void)
{
    static char h[256];
    if (gethostname(h, sizeof h) != 0 || !h[0])
        snprintf(h, sizeof h, "localhost");
    h[63] = '\0';
    for (char *p = h; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
              *p == '-' || *p == '_'))
            *p = '_';
    return h;
}

START_TEST(test_stale_temp_of_dead_pid_removed)
{
    char path[128], stale[320], other[192], kept_name[160], other_tmp[400];
    in_dir(path, sizeof path, "out.bin");
    pid_t pid = dead_pid();
    snprintf(stale, sizeof stale, "%s.tmp.%s.%ld.0", path, my_host(), (long)pid);
    write_text(stale, "half a file");
    /* Another path's temporary and a look-alike name stay. */
    in_dir(other, sizeof other, "other.bin");
    snprintf(kept_name, sizeof kept_name, "other.bin.tmp.%s.%ld.0", my_host(), (long)pid);

    snprintf(other_tmp, sizeof other_tmp, "%s/%s", dir, kept_name);
    write_text(other_tmp, "x");
    char lookalike[192];
    snprintf(lookalike, sizeof lookalike, "%s.tmp.%s.%ld.0.keep", path, my_host(), (long)pid);
    write_text(lookalike, "x");
    /* The same dead pid on another machine (a shared file system): its
     * process may well be alive there, so the temporary stays; and so does
     * one named the old way, without a host. */
    char foreign[256], hostless[192];
    snprintf(foreign, sizeof foreign, "%s.tmp.%s-other.%ld.0", path, my_host(), (long)pid);
    write_text(foreign, "another machine's writer");
    snprintf(hostless, sizeof hostless, "%s.tmp.%ld.0", path, (long)pid);
    write_text(hostless, "no host");
    ck_assert_int_eq(write_with(_i, path), ARNET_OK);
    ck_assert_msg(access(stale, F_OK) != 0, "%s: %s left", writer_names[_i], stale);
    ck_assert_int_eq(access(other_tmp, F_OK), 0);
    ck_assert_int_eq(access(lookalike, F_OK), 0);
    ck_assert_msg(access(foreign, F_OK) == 0, "%s removed another host's temporary",
                  writer_names[_i]);
    ck_assert_int_eq(access(hostless, F_OK), 0);
}
END_TEST

START_TEST(test_temp_of_live_pid_kept)
{
    char path[128], live[320];
    in_dir(path, sizeof path, "out.bin");
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        pause();
        _exit(0);
    }
    snprintf(live, sizeof live, "%s.tmp.%s.%ld.3", path, my_host(), (long)pid);
    write_text(live, "being written");
    int rc = write_with(_i, path);
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    ck_assert_int_eq(rc, ARNET_OK);
    ck_assert_msg(access(live, F_OK) == 0, "%s removed a live writer's temporary",
                  writer_names[_i]);
    ck_assert_str_eq(slurp(live), "being written");
}
END_TEST

/* ---- failures leave the old file and no temporary ------------------------------ */

START_TEST(test_failure_keeps_old_file)
{
    char path[128];
    in_dir(path, sizeof path, "keep.bin");
    write_text(path, "old contents");
    /* A limit on file size stops the write part way (SIGXFSZ ignored so
     * that write returns EFBIG). */
    void (*old_handler)(int) = signal(SIGXFSZ, SIG_IGN);
    struct rlimit old_lim, lim;
    ck_assert_int_eq(getrlimit(RLIMIT_FSIZE, &old_lim), 0);
    lim = old_lim;
    lim.rlim_cur = 64;
    ck_assert_int_eq(setrlimit(RLIMIT_FSIZE, &lim), 0);
    static char big[4096];
    memset(big, 'x', sizeof big);
    int rc;
    if (_i == 0) {
        rc = arnet_write_file(path, big, sizeof big);
    } else if (_i == 1) {
        static float x[1024];
        const size_t shape[1] = {1024};
        rc = arnet_npy_write(path, x, shape, 1);
    } else {
        arnet_model *m = small_model();
        rc = arnet_model_save(m, path);
        arnet_model_free(m);
    }
    ck_assert_int_eq(setrlimit(RLIMIT_FSIZE, &old_lim), 0);
    signal(SIGXFSZ, old_handler);
    ck_assert_int_eq(rc, ARNET_E_IO);
    ck_assert_msg(strstr(arnet_last_error(), path) != NULL, "%s", arnet_last_error());
    ck_assert_str_eq(slurp(path), "old contents");
    const char *keep[] = {"keep.bin", NULL};
    ck_assert_msg(count_others(keep) == 0, "%s left a temporary", writer_names[_i]);
}
END_TEST

START_TEST(test_missing_folder)
{
    char path[160];
    snprintf(path, sizeof path, "%s/no-such-folder/out.bin", dir);
    ck_assert_int_eq(write_with(_i, path), ARNET_E_IO);
    ck_assert_ptr_nonnull(strstr(arnet_last_error(), path));
    const char *keep[] = {NULL};
    ck_assert_int_eq(count_others(keep), 0);
}
END_TEST

/* A folder in the way: the rename fails, the folder stays, no temporary. */
START_TEST(test_folder_in_the_way)
{
    char path[128], inner[160];
    in_dir(path, sizeof path, "taken");
    ck_assert_int_eq(mkdir(path, 0755), 0);
    snprintf(inner, sizeof inner, "%s/x", path);
    write_text(inner, "x");
    ck_assert_int_eq(write_with(_i, path), ARNET_E_IO);
    ck_assert_ptr_nonnull(strstr(arnet_last_error(), "a directory, not replaced"));
    ck_assert_int_eq(access(inner, F_OK), 0);
    const char *keep[] = {"taken", NULL};
    ck_assert_int_eq(count_others(keep), 0);
}
END_TEST

/* A FIFO or a device under the output's name is refused, not renamed over
 * (as root, writing a model to /dev/null replaced the device with a file).
 * The device is made in the test's folder (root only; the FIFO always). */
START_TEST(test_special_file_kept)
{
    char fifo[128], dev[128];
    in_dir(fifo, sizeof fifo, "pipe");
    ck_assert_int_eq(mkfifo(fifo, 0644), 0);
    ck_assert_int_eq(write_with(_i, fifo), ARNET_E_IO);
    ck_assert_ptr_nonnull(strstr(arnet_last_error(), "a pipe (FIFO), not replaced"));
    struct stat st;
    ck_assert_int_eq(stat(fifo, &st), 0);
    ck_assert(S_ISFIFO(st.st_mode));
    in_dir(dev, sizeof dev, "null");
    if (mknod(dev, S_IFCHR | 0666, makedev(1, 3)) == 0) {
        ck_assert_int_eq(write_with(_i, dev), ARNET_E_IO);
        ck_assert_ptr_nonnull(strstr(arnet_last_error(), "a character device, not replaced"));
        ck_assert_int_eq(stat(dev, &st), 0);
        ck_assert(S_ISCHR(st.st_mode));
    }
    const char *keep[] = {"pipe", "null", NULL};
    ck_assert_int_eq(count_others(keep), 0);
}
END_TEST

START_TEST(test_stream_commit_and_abort)
{
    char path[128];
    in_dir(path, sizeof path, "s.txt");
    write_text(path, "old");
    arnet__wfile f;
    ck_assert_int_eq(arnet__wfile_open(&f, path), ARNET_OK);
    ck_assert_int_eq(arnet__wfile_write(&f, "new ", 4), ARNET_OK);
    ck_assert_str_eq(slurp(path), "old"); /* nothing shows before commit */
    arnet__wfile_abort(&f);
    arnet__wfile_abort(&f); /* twice is harmless */
    ck_assert_str_eq(slurp(path), "old");
    const char *keep[] = {"s.txt", NULL};
    ck_assert_int_eq(count_others(keep), 0);

    ck_assert_int_eq(arnet__wfile_open(&f, path), ARNET_OK);
    ck_assert_int_eq(arnet__wfile_write(&f, "new ", 4), ARNET_OK);
    ck_assert_int_eq(arnet__wfile_write(&f, "text", 4), ARNET_OK);
    ck_assert_int_eq(arnet__wfile_commit(&f), ARNET_OK);
    ck_assert_str_eq(slurp(path), "new text");
    ck_assert_int_eq(count_others(keep), 0);
    /* A committed file takes no more writes. */
    ck_assert_int_eq(arnet__wfile_write(&f, "x", 1), ARNET_E_STATE);
    arnet__wfile_abort(&f);
}
END_TEST

START_TEST(test_write_file_arguments)
{
    char path[128];
    in_dir(path, sizeof path, "empty");
    ck_assert_int_eq(arnet_write_file(path, NULL, 0), ARNET_OK);
    struct stat st;
    ck_assert_int_eq(stat(path, &st), 0);
    ck_assert_int_eq(st.st_size, 0);
    ck_assert_int_eq(arnet_write_file(NULL, "x", 1), ARNET_E_INVALID);
    ck_assert_int_eq(arnet_write_file("", "x", 1), ARNET_E_INVALID);
    /* A path ending in '/' names a folder: refused before any temporary. */
    char folder[140];
    snprintf(folder, sizeof folder, "%s/", dir);
    ck_assert_int_eq(arnet_write_file(folder, "x", 1), ARNET_E_INVALID);
    const char *keep[] = {"empty", NULL};
    ck_assert_int_eq(count_others(keep), 0);
    ck_assert_int_eq(arnet_write_file(path, NULL, 1), ARNET_E_INVALID);
}
END_TEST

/* ---- readers refuse what is not a regular file ------------------------------------- */

static int list_cb(void *user, const arnet_file_entry *e)
{
    (void)user;
    (void)e;
    return 0;
}

/* Every entry point that reads a path, on `path`. */
static int read_with(int which, const char *path)
{
    switch (which) {
    case 0: {
        arnet_model *m = NULL;
        int rc = arnet_model_load(path, &m);
        arnet_model_free(m);
        return rc;
    }
    case 1: {
        arnet_file_info info;
        arnet_file_info_init(&info);
        return arnet_file_info_read(path, &info);
    }
    case 2:
        return arnet_file_list(path, list_cb, NULL);
    case 3: {
        float *x = NULL;
        size_t rows;
        uint32_t cols;
        int rc = arnet_npy_read(path, NULL, &x, &rows, &cols);
        arnet_free(x);
        return rc;
    }
    case 4: {
        uint8_t *l = NULL;
        size_t n;
        int rc = arnet_npy_read_labels(path, &l, &n);
        arnet_free(l);
        return rc;
    }
    case 5: {
        arnet_dataset *ds = NULL;
        int rc = arnet_dataset_load_manifest(path, NULL, &ds);
        arnet_dataset_free(ds);
        return rc;
    }
    default: {
        arnet_model *m = small_model();
        arnet_train_options to;
        arnet_train_options_init(&to);
        arnet_dataset *ds = NULL;
        ck_assert_int_eq(arnet_dataset_create(4, &ds), ARNET_OK);
        static const float f[8] = {0};
        ck_assert_int_eq(arnet_dataset_add(ds, "n", f, 2, 4, 0, NULL, 0), ARNET_OK);
        ck_assert_int_eq(arnet_dataset_add(ds, "a", f, 2, 4, 1, NULL, 0), ARNET_OK);
        to.normal_per_batch = 1;
        to.anomalous_per_batch = 1;
        arnet_trainer *t = NULL;
        ck_assert_int_eq(arnet_trainer_create(m, ds, &to, &t), ARNET_OK);
        int rc = arnet_trainer_restore(t, path);
        arnet_trainer_free(t);
        arnet_dataset_free(ds);
        arnet_model_free(m);
        return rc;
    }
    }
}

#define N_READERS 7
static const char *const reader_names[N_READERS] = {
    "arnet_model_load",   "arnet_file_info_read",  "arnet_file_list",      "arnet_npy_read",
    "arnet_npy_read_labels", "arnet_dataset_load_manifest", "arnet_trainer_restore"};

static void assert_refused(int which, const char *path, const char *what)
{
    int rc = read_with(which, path);
    ck_assert_msg(rc == ARNET_E_IO, "%s on %s: status %d (%s)", reader_names[which], what, rc,
                  arnet_last_error());
    const char *msg = arnet_last_error();
    ck_assert_msg(strstr(msg, path) != NULL, "%s: message does not name the path: %s",
                  reader_names[which], msg);
    ck_assert_msg(strstr(msg, "not a regular file") != NULL, "%s: %s", reader_names[which],
                  msg);
}

START_TEST(test_fifo_refused)
{
    char path[128];
    in_dir(path, sizeof path, "pipe.npy");
    ck_assert_int_eq(mkfifo(path, 0644), 0);
    assert_refused(_i, path, "a FIFO");
    ck_assert_ptr_nonnull(strstr(arnet_last_error(), "pipe"));
}
END_TEST

START_TEST(test_directory_refused)
{
    char path[128];
    in_dir(path, sizeof path, "folder.npy");
    ck_assert_int_eq(mkdir(path, 0755), 0);
    assert_refused(_i, path, "a directory");
    ck_assert_ptr_nonnull(strstr(arnet_last_error(), "directory"));
}
END_TEST

START_TEST(test_device_refused)
{
    assert_refused(_i, "/dev/null", "a device");
}
END_TEST

/* A manifest line naming a FIFO (as features, then as ground truth). */
START_TEST(test_manifest_line_naming_fifo)
{
    char manifest[128], fifo[128], feat[128];
    in_dir(fifo, sizeof fifo, "f.npy");
    ck_assert_int_eq(mkfifo(fifo, 0644), 0);
    in_dir(manifest, sizeof manifest, "list.txt");
    write_text(manifest, "f.npy 1\n");
    arnet_dataset *ds = NULL;
    ck_assert_int_eq(arnet_dataset_load_manifest(manifest, NULL, &ds), ARNET_E_IO);
    ck_assert_ptr_nonnull(strstr(arnet_last_error(), "f.npy"));
    ck_assert_ptr_nonnull(strstr(arnet_last_error(), "not a regular file"));

    in_dir(feat, sizeof feat, "real.npy");
    static const float x[8] = {0};
    const size_t shape[2] = {2, 4};
    ck_assert_int_eq(arnet_npy_write(feat, x, shape, 2), ARNET_OK);
    write_text(manifest, "real.npy 1 f.npy\n");
    ck_assert_int_eq(arnet_dataset_load_manifest(manifest, NULL, &ds), ARNET_E_IO);
    ck_assert_ptr_nonnull(strstr(arnet_last_error(), "not a regular file"));
}
END_TEST

Suite *make_suite(void)
{
    Suite *s = suite_create("fileio");
    TCase *w = tcase_create("writers");
    tcase_add_checked_fixture(w, setup, teardown);
    tcase_add_loop_test(w, test_mode_follows_umask, 0, 3);
    tcase_add_test(w, test_synth_files_follow_umask);
    tcase_add_loop_test(w, test_stale_temp_of_dead_pid_removed, 0, 3);
    tcase_add_loop_test(w, test_temp_of_live_pid_kept, 0, 3);
    tcase_add_loop_test(w, test_failure_keeps_old_file, 0, 3);
    tcase_add_loop_test(w, test_missing_folder, 0, 3);
    tcase_add_loop_test(w, test_folder_in_the_way, 0, 3);
    tcase_add_loop_test(w, test_special_file_kept, 0, 3);
    tcase_add_test(w, test_stream_commit_and_abort);
    tcase_add_test(w, test_write_file_arguments);
    suite_add_tcase(s, w);
    TCase *r = tcase_create("readers");
    tcase_add_checked_fixture(r, setup, teardown);
    tcase_set_timeout(r, 30);
    tcase_add_loop_test(r, test_fifo_refused, 0, N_READERS);
    tcase_add_loop_test(r, test_directory_refused, 0, N_READERS);
    tcase_add_loop_test(r, test_device_refused, 0, N_READERS);
    tcase_add_test(r, test_manifest_line_naming_fifo);
    suite_add_tcase(s, r);
    return s;
}
