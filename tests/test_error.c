/* test_error.c -- status names, per-thread error messages, versions. */
#include <check.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "internal.h"

START_TEST(status_names)
{
    ck_assert_str_eq(arnet_strerror(ARNET_OK), "ok");
    ck_assert_str_eq(arnet_strerror(ARNET_E_FORMAT), "malformed or unsupported file");
    ck_assert_str_eq(arnet_strerror(12345), "unknown status");
    ck_assert_int_eq(ARNET_E_INVALID, -1);
    ck_assert_int_eq(ARNET_E_NOMEM, -2);
    ck_assert_int_eq(ARNET_E_IO, -3);
    ck_assert_int_eq(ARNET_E_FORMAT, -4);
    ck_assert_int_eq(ARNET_E_SHAPE, -5);
    ck_assert_int_eq(ARNET_E_STATE, -6);
    ck_assert_int_eq(ARNET_E_CANCELLED, -7);
}
END_TEST

/* The header's version macros and the library's arnet_version() are the
 * project version meson.build declares (passed in by tests/meson.build), and
 * the numeric macros spell the same version as the string. */
START_TEST(versions_are_mesons)
{
    ck_assert_str_eq(ARNET_VERSION, ARNET_PROJECT_VERSION);
    ck_assert_str_eq(arnet_version(), ARNET_PROJECT_VERSION);
    char spelled[32];
    snprintf(spelled, sizeof spelled, "%d.%d.%d", ARNET_VERSION_MAJOR, ARNET_VERSION_MINOR,
             ARNET_VERSION_PATCH);
    ck_assert_str_eq(spelled, ARNET_PROJECT_VERSION);
    int major, minor, patch;
    ck_assert_int_eq(sscanf(ARNET_PROJECT_VERSION, "%d.%d.%d", &major, &minor, &patch), 3);
    ck_assert_int_eq(ARNET_VERSION_NUMBER, major * 10000 + minor * 100 + patch);
    ck_assert_int_eq(arnet_abi_version(), ARNET_ABI_VERSION);
    ck_assert_int_eq(arnet_checkpoint_format_version(), 100);
}
END_TEST

static void *fail_in_thread(void *arg)
{
    (void)arg;
    arnet_model_config cfg;
    arnet_model_config_init(&cfg);
    cfg.feature_dim = 0;
    arnet_model *m;
    int rc = arnet_model_create(&cfg, &m);
    /* The message is this thread's own. */
    int ok = rc == ARNET_E_INVALID && strstr(arnet_last_error(), "feature_dim") != NULL;
    return ok ? (void *)1 : NULL;
}

START_TEST(errors_are_per_thread)
{
    arnet_clear_error();
    ck_assert_str_eq(arnet_last_error(), "");
    arnet_model_config cfg;
    arnet_model_config_init(&cfg);
    cfg.dropout = 2.0f;
    arnet_model *m;
    ck_assert_int_eq(arnet_model_create(&cfg, &m), ARNET_E_INVALID);
    char mine[256];
    strncpy(mine, arnet_last_error(), sizeof mine - 1);
    mine[sizeof mine - 1] = 0;
    ck_assert_ptr_nonnull(strstr(mine, "dropout"));
    pthread_t t[4];
    for (int i = 0; i < 4; i++)
        pthread_create(&t[i], NULL, fail_in_thread, NULL);
    for (int i = 0; i < 4; i++) {
        void *ret;
        pthread_join(t[i], &ret);
        ck_assert_ptr_nonnull(ret);
    }
    /* Other threads' failures did not touch this thread's message. */
    ck_assert_str_eq(arnet_last_error(), mine);
}
END_TEST

START_TEST(size_arithmetic_detects_overflow)
{
    size_t out;
    ck_assert_int_eq(arnet__mul_size(SIZE_MAX / 2 + 1, 2, &out), 0);
    ck_assert_int_eq(arnet__mul_size(1000, 1000, &out), 1);
    ck_assert_uint_eq(out, 1000000);
    ck_assert_int_eq(arnet__add_size(SIZE_MAX, 1, &out), 0);
    ck_assert_ptr_null(arnet__alloc(SIZE_MAX / 2, 4, "huge"));
    ck_assert_ptr_nonnull(strstr(arnet_last_error(), "huge"));
}
END_TEST

/* arnet_last_errno: the system's code for the system's failures, 0 for the
 * library's own verdicts, cleared with the message. */
START_TEST(last_errno_is_the_systems)
{
    char dir[] = "/tmp/arnet-errno-XXXXXX";
    ck_assert_ptr_nonnull(mkdtemp(dir));
    char path[256];
    float *data = NULL;
    size_t rows;
    uint32_t cols;
    arnet_model *m = NULL;

    arnet_clear_error();
    ck_assert_int_eq(arnet_last_errno(), 0);

    snprintf(path, sizeof path, "%s/missing.npy", dir);
    ck_assert_int_eq(arnet_npy_read(path, NULL, &data, &rows, &cols), ARNET_E_IO);
    ck_assert_int_eq(arnet_last_errno(), ENOENT);
    ck_assert_ptr_nonnull(strstr(arnet_last_error(), "missing.npy"));
    arnet_clear_error();
    ck_assert_int_eq(arnet_last_errno(), 0);
    ck_assert_str_eq(arnet_last_error(), "");

    /* A folder where a file was expected. */
    ck_assert_int_eq(arnet_model_load(dir, &m), ARNET_E_IO);
    ck_assert_int_eq(arnet_last_errno(), EISDIR);

    /* Writing into a folder that does not exist. */
    snprintf(path, sizeof path, "%s/no/such/x.npy", dir);
    size_t shape[1] = {1};
    float one = 1.0f;
    ck_assert_int_eq(arnet_npy_write(path, &one, shape, 1), ARNET_E_IO);
    ck_assert_int_eq(arnet_last_errno(), ENOENT);

    /* The library's own verdict on a file it could read: no errno, and the
     * previous failure's code is gone with its message. */
    snprintf(path, sizeof path, "%s/junk.npy", dir);
    FILE *fp = fopen(path, "wb");
    ck_assert_ptr_nonnull(fp);
    fputs("not a numpy file at all", fp);
    fclose(fp);
    ck_assert_int_eq(arnet_npy_read(path, NULL, &data, &rows, &cols), ARNET_E_FORMAT);
    ck_assert_int_eq(arnet_last_errno(), 0);

    /* An argument error after an I/O error clears the code too. */
    snprintf(path, sizeof path, "%s/missing.npy", dir);
    ck_assert_int_eq(arnet_npy_read(path, NULL, &data, &rows, &cols), ARNET_E_IO);
    arnet_model_config cfg;
    arnet_model_config_init(&cfg);
    cfg.feature_dim = 0;
    ck_assert_int_eq(arnet_model_create(&cfg, &m), ARNET_E_INVALID);
    ck_assert_int_eq(arnet_last_errno(), 0);

    unlink(path);
    snprintf(path, sizeof path, "%s/junk.npy", dir);
    unlink(path);
    rmdir(dir);
}
END_TEST

Suite *make_suite(void)
{
    Suite *s = suite_create("error");
    TCase *tc = tcase_create("error");
    tcase_add_test(tc, status_names);
    tcase_add_test(tc, versions_are_mesons);
    tcase_add_test(tc, errors_are_per_thread);
    tcase_add_test(tc, size_arithmetic_detects_overflow);
    tcase_add_test(tc, last_errno_is_the_systems);
    suite_add_tcase(s, tc);
    return s;
}
