/* test_npy.c -- the .npy reader and writer against files NumPy wrote (kept
 * fixtures, and random ones when /usr/bin/python3 has numpy), hostile headers. */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "internal.h"

#define FIXTURES ARNET_SOURCE_DIR "/tests/fixtures/npy"
#define PYTHON "/usr/bin/python3"

static char tmpdir[64];

static void make_tmp(void)
{
    strcpy(tmpdir, "/tmp/arnet-npy-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(tmpdir));
}

static void remove_tmp(void)
{
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    ck_assert_int_eq(system(cmd), 0);
}

/* The formula tests/gen_npy.py wrote the fixtures with. */
static double fixture_value(size_t flat) { return (double)flat * 0.25 - 2.5; }

static float *read_ok(const char *path, int crop, size_t *T, uint32_t *F)
{
    arnet_npy_options o;
    arnet_npy_options_init(&o);
    o.crop = crop;
    o.layout = ARNET_LAYOUT_TCF; /* random shapes such as [10, 6, F]: the crop-axis
                                  * rule is test_feature_sets.c's */
    float *d = NULL;
    int rc = arnet_npy_read(path, &o, &d, T, F);
    ck_assert_msg(rc == ARNET_OK, "%s: %s", path, arnet_last_error());
    return d;
}

static const char *fixtures_2d[] = {"2d_v1_f4_le_C", "2d_v1_f4_be_C", "2d_v1_f8_le_F",
                                    "2d_v2_f2_le_C", "2d_v3_f8_be_F", "2d_v1_f2_be_F"};
static const char *fixtures_3d[] = {"3d_v1_f4_le_C", "3d_v2_f8_be_F", "3d_v1_f2_le_F",
                                    "3d_v3_f4_be_C"};

START_TEST(fixtures_2d_every_kind)
{
    for (size_t k = 0; k < sizeof fixtures_2d / sizeof *fixtures_2d; k++) {
        char path[512];
        snprintf(path, sizeof path, "%s/%s.npy", FIXTURES, fixtures_2d[k]);
        size_t T;
        uint32_t F;
        float *d = read_ok(path, -1, &T, &F);
        ck_assert_uint_eq(T, 3);
        ck_assert_uint_eq(F, 4);
        for (size_t i = 0; i < T * F; i++)
            ck_assert_msg(d[i] == (float)fixture_value(i), "%s[%zu] = %g, want %g",
                          fixtures_2d[k], i, d[i], fixture_value(i));
        arnet_free(d);
    }
}
END_TEST

START_TEST(fixtures_3d_average_and_chosen_crop)
{
    const size_t C = 2, Fd = 4;
    for (size_t k = 0; k < sizeof fixtures_3d / sizeof *fixtures_3d; k++) {
        char path[512];
        snprintf(path, sizeof path, "%s/%s.npy", FIXTURES, fixtures_3d[k]);
        for (int crop = -1; crop < (int)C; crop++) {
            size_t T;
            uint32_t F;
            float *d = read_ok(path, crop, &T, &F);
            ck_assert_uint_eq(T, 3);
            ck_assert_uint_eq(F, Fd);
            for (size_t t = 0; t < T; t++)
                for (size_t f = 0; f < Fd; f++) {
                    double want = 0;
                    if (crop < 0) {
                        for (size_t c = 0; c < C; c++)
                            want += fixture_value(t * C * Fd + c * Fd + f);
                        want /= (double)C;
                    } else {
                        want = fixture_value(t * C * Fd + (size_t)crop * Fd + f);
                    }
                    ck_assert_msg(d[t * Fd + f] == (float)want, "%s crop %d [%zu,%zu]: %g vs %g",
                                  fixtures_3d[k], crop, t, f, d[t * Fd + f], want);
                }
            arnet_free(d);
        }
        /* A crop the file does not have. */
        arnet_npy_options o;
        arnet_npy_options_init(&o);
        o.crop = 2;
        float *d = NULL;
        size_t T = 99;
        uint32_t F = 99;
        ck_assert_int_eq(arnet_npy_read(path, &o, &d, &T, &F), ARNET_E_INVALID);
        ck_assert_ptr_nonnull(strstr(arnet_last_error(), "crop 2 out of range"));
        ck_assert_ptr_nonnull(strstr(arnet_last_error(), fixtures_3d[k]));
        ck_assert_ptr_null(d);
        ck_assert_uint_eq(T, 99);
    }
    /* A crop asked of a file without a crop axis, and a nonsense crop. */
    arnet_npy_options o;
    arnet_npy_options_init(&o);
    o.crop = 0;
    float *d = NULL;
    size_t T;
    uint32_t F;
    ck_assert_int_eq(arnet_npy_read(FIXTURES "/2d_v1_f4_le_C.npy", &o, &d, &T, &F),
                     ARNET_E_INVALID);
    ck_assert_ptr_nonnull(strstr(arnet_last_error(), "no crop axis"));
    o.crop = -2;
    ck_assert_int_eq(arnet_npy_read(FIXTURES "/3d_v1_f4_le_C.npy", &o, &d, &T, &F),
                     ARNET_E_INVALID);
    o.struct_size = 4;
    o.crop = -1;
    ck_assert_int_eq(arnet_npy_read(FIXTURES "/3d_v1_f4_le_C.npy", &o, &d, &T, &F),
                     ARNET_E_INVALID);
    ck_assert_ptr_nonnull(strstr(arnet_last_error(), "struct_size"));
    /* NULL options = defaults (average). */
    ck_assert_int_eq(arnet_npy_read(FIXTURES "/3d_v1_f4_le_C.npy", NULL, &d, &T, &F), ARNET_OK);
    ck_assert(d[0] == (float)((fixture_value(0) + fixture_value(4)) / 2));
    arnet_free(d);
}
END_TEST

START_TEST(labels_every_dtype)
{
    const char *names[] = {"labels_b1", "labels_i1", "labels_u2_be",
                           "labels_i8", "labels_f8", "labels_f2_be"};
    const uint8_t want[6] = {0, 1, 0, 1, 0, 1};
    for (size_t k = 0; k < 6; k++) {
        char path[512];
        snprintf(path, sizeof path, "%s/%s.npy", FIXTURES, names[k]);
        uint8_t *l = NULL;
        size_t n = 0;
        ck_assert_msg(arnet_npy_read_labels(path, &l, &n) == ARNET_OK, "%s",
                      arnet_last_error());
        ck_assert_uint_eq(n, 6);
        ck_assert_mem_eq(l, want, 6);
        arnet_free(l);
    }
    /* A 2-D array is not a label vector. */
    uint8_t *l = NULL;
    size_t n;
    ck_assert_int_eq(arnet_npy_read_labels(FIXTURES "/2d_v1_f4_le_C.npy", &l, &n),
                     ARNET_E_FORMAT);
    ck_assert_ptr_nonnull(strstr(arnet_last_error(), "1-D"));
    ck_assert_ptr_null(l);
    /* And labels are not features (wrong rank, integer dtype). */
    float *d = NULL;
    size_t T;
    uint32_t F;
    ck_assert_int_eq(arnet_npy_read(FIXTURES "/labels_f8.npy", NULL, &d, &T, &F),
                     ARNET_E_FORMAT);
    ck_assert_ptr_nonnull(strstr(arnet_last_error(), "rank 1"));
    ck_assert_int_eq(arnet_npy_read(FIXTURES "/labels_i8.npy", NULL, &d, &T, &F),
                     ARNET_E_FORMAT);
    ck_assert_ptr_nonnull(strstr(arnet_last_error(), "'<i8'"));
}
END_TEST

static long file_size(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 ? (long)st.st_size : -1;
}

static int count_entries(const char *dir)
{
    DIR *d = opendir(dir);
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)))
        if (e->d_name[0] != '.')
            n++;
    closedir(d);
    return n;
}

START_TEST(writer_round_trip)
{
    make_tmp();
    arnet__rng rng;
    arnet__rng_seed(&rng, 7);
    char path[128];
    snprintf(path, sizeof path, "%s/w.npy", tmpdir);
    for (int trial = 0; trial < 20; trial++) {
        size_t T = 1 + arnet__rng_below(&rng, 50), C = 1 + arnet__rng_below(&rng, 5),
               F = 1 + arnet__rng_below(&rng, 300);
        int ndim = 2 + (int)(trial % 2);
        size_t n = T * F * (ndim == 3 ? C : 1);
        float *x = malloc(n * sizeof *x);
        for (size_t i = 0; i < n; i++)
            x[i] = (float)(arnet__rng_normal(&rng) * 1e3);
        size_t shape[3] = {T, ndim == 3 ? C : F, F};
        ck_assert_int_eq(arnet_npy_write(path, x, shape, ndim), ARNET_OK);
        /* NumPy's layout: 64-byte aligned header, then the data, nothing else. */
        long hdr = file_size(path) - (long)(n * 4);
        ck_assert_int_gt(hdr, 0);
        ck_assert_int_eq(hdr % 64, 0);
        int crop = ndim == 3 ? (int)arnet__rng_below(&rng, C) : -1;
        size_t rT;
        uint32_t rF;
        float *y = read_ok(path, crop, &rT, &rF);
        ck_assert_uint_eq(rT, T);
        ck_assert_uint_eq(rF, F);
        for (size_t t = 0; t < T; t++)
            for (size_t f = 0; f < F; f++) {
                float want = ndim == 2 ? x[t * F + f] : x[(t * C + (size_t)crop) * F + f];
                ck_assert(y[t * F + f] == want);
            }
        arnet_free(y);
        free(x);
    }
    /* 1-D: a float label vector. */
    float lab[5] = {0, 0.5f, 0, -3, 0};
    size_t s1 = 5;
    ck_assert_int_eq(arnet_npy_write(path, lab, &s1, 1), ARNET_OK);
    uint8_t *l;
    size_t nl;
    ck_assert_int_eq(arnet_npy_read_labels(path, &l, &nl), ARNET_OK);
    ck_assert_uint_eq(nl, 5);
    ck_assert_mem_eq(l, ((uint8_t[]){0, 1, 0, 1, 0}), 5);
    arnet_free(l);
    /* The temporary file was renamed away: only w.npy is left. */
    ck_assert_int_eq(count_entries(tmpdir), 1);

    /* Failures: nothing left behind, the old file untouched. */
    long before = file_size(path);
    size_t bad[2] = {2, 3};
    ck_assert_int_eq(arnet_npy_write(path, NULL, bad, 2), ARNET_E_INVALID);
    ck_assert_int_eq(arnet_npy_write(path, lab, bad, 0), ARNET_E_INVALID);
    ck_assert_int_eq(arnet_npy_write(path, lab, bad, 4), ARNET_E_INVALID);
    size_t huge[3] = {SIZE_MAX / 2, 4, 1};
    ck_assert_int_eq(arnet_npy_write(path, lab, huge, 3), ARNET_E_INVALID);
    ck_assert_ptr_nonnull(strstr(arnet_last_error(), "overflow"));
    ck_assert_int_eq(file_size(path), before);
    char nodir[160];
    snprintf(nodir, sizeof nodir, "%s/missing/w.npy", tmpdir);
    ck_assert_int_eq(arnet_npy_write(nodir, lab, &s1, 1), ARNET_E_IO);
    ck_assert_ptr_nonnull(strstr(arnet_last_error(), nodir));
    ck_assert_int_eq(count_entries(tmpdir), 1);
    remove_tmp();
}
END_TEST

/* ---- hostile files ---------------------------------------------------------- */

/* Write magic + version + header (padded like NumPy unless raw) + data. */
static void write_npy_raw(const char *path, int major, const char *dict, size_t data_bytes,
                          long hlen_override)
{
    FILE *fp = fopen(path, "wb");
    ck_assert_ptr_nonnull(fp);
    size_t dl = strlen(dict);
    size_t pre = major == 1 ? 10 : 12;
    size_t total = (pre + dl + 1 + 63) / 64 * 64;
    size_t hlen = total - pre;
    unsigned long long hl = hlen_override >= 0 ? (unsigned long long)hlen_override : hlen;
    fwrite("\x93NUMPY", 1, 6, fp);
    fputc(major, fp);
    fputc(0, fp);
    fputc((int)(hl & 0xff), fp);
    fputc((int)((hl >> 8) & 0xff), fp);
    if (major != 1) {
        fputc((int)((hl >> 16) & 0xff), fp);
        fputc((int)((hl >> 24) & 0xff), fp);
    }
    fwrite(dict, 1, dl, fp);
    for (size_t i = dl; i + 1 < hlen; i++)
        fputc(' ', fp);
    fputc('\n', fp);
    for (size_t i = 0; i < data_bytes; i++)
        fputc((int)(i & 0x7f), fp);
    fclose(fp);
}

typedef struct hostile {
    const char *what;
    int major;
    const char *dict;
    size_t data_bytes;
    long hlen;
    const char *expect; /* substring of the message */
} hostile;

#define H(descr, fo, shape) "{'descr': '" descr "', 'fortran_order': " fo ", 'shape': " shape ", }"

static const hostile cases[] = {
    {"huge shape", 1, H("<f4", "False", "(4000000000000, 400000)"), 64, -1, "truncated"},
    {"shape overflow", 1, H("<f4", "False", "(18446744073709551615, 2)"), 64, -1, "overflow"},
    {"shape beyond u64", 1, H("<f4", "False", "(99999999999999999999999, 2)"), 64, -1,
     "too large"},
    {"negative dim", 1, H("<f4", "False", "(-3, 4)"), 48, -1, "negative"},
    {"missing shape", 1, "{'descr': '<f4', 'fortran_order': False, }", 48, -1,
     "missing key 'shape'"},
    {"missing descr", 1, "{'fortran_order': False, 'shape': (3, 4), }", 48, -1,
     "missing key 'descr'"},
    {"unknown key", 1, "{'descr': '<f4', 'fortran_order': False, 'shape': (3, 4), 'x': 1}", 48,
     -1, "unknown key 'x'"},
    {"duplicate key", 1, "{'descr': '<f4', 'descr': '<f4', 'fortran_order': False, 'shape': (3, 4)}",
     48, -1, "duplicate key"},
    {"object dtype", 1, H("|O", "False", "(3, 4)"), 96, -1, "object arrays"},
    {"structured dtype", 1,
     "{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (3, 4), }", 48, -1,
     "structured"},
    {"complex dtype", 1, H("<c8", "False", "(3, 4)"), 96, -1, "not supported"},
    {"integer features", 1, H("<i4", "False", "(3, 4)"), 48, -1, "must be float"},
    {"no byte order", 1, H("f4", "False", "(3, 4)"), 48, -1, "byte order"},
    {"rank 1", 1, H("<f4", "False", "(12,)"), 48, -1, "rank 1"},
    {"rank 4", 1, H("<f4", "False", "(1, 3, 1, 4)"), 48, -1, "rank 4"},
    {"rank 0", 1, H("<f4", "False", "()"), 4, -1, "rank 0"},
    {"T = 0", 1, H("<f4", "False", "(0, 4)"), 0, -1, "T = 0"},
    {"F = 0", 1, H("<f4", "False", "(3, 0)"), 0, -1, "F = 0"},
    {"crops = 0", 1, H("<f4", "False", "(3, 0, 4)"), 0, -1, "crops = 0"},
    {"truncated data", 1, H("<f4", "False", "(3, 4)"), 40, -1, "truncated"},
    {"trailing bytes", 1, H("<f4", "False", "(3, 4)"), 52, -1, "4 bytes after"},
    {"header past end", 1, H("<f4", "False", "(3, 4)"), 48, 60000, "past the end"},
    {"v2 header past end", 2, H("<f4", "False", "(3, 4)"), 48, 0x7fffffff, "past the end"},
    {"bad fortran_order", 1, H("<f4", "maybe", "(3, 4)"), 48, -1, "True or False"},
    {"not a tuple", 1, H("<f4", "False", "[3, 4]"), 48, -1, "tuple"},
    {"1-tuple without comma", 1, H("<f4", "False", "(3)"), 48, -1, "trailing comma"},
    {"float dim", 1, H("<f4", "False", "(3.0, 4)"), 48, -1, "expected ','"},
    {"text after dict", 1, "{'descr': '<f4', 'fortran_order': False, 'shape': (3, 4)} x", 48,
     -1, "after the closing"},
    {"unterminated string", 1, "{'descr: '<f4', 'fortran_order': False, 'shape': (3, 4)}", 48,
     -1, "malformed"},
    {"not a dict", 1, "('<f4', False, (3, 4))", 48, -1, "expected '{'"},
};

/* "2d_v1_f2_be_F" -> dtype ">f2", Fortran order. */
static void expect_info(const char *name, const arnet_npy_info *info)
{
    char want[8];
    const char *k = strchr(name + 3, '_') + 1; /* after "2d_v1_" */
    snprintf(want, sizeof want, "%c%c%c", k[3] == 'b' ? '>' : '<', k[0], k[1]);
    ck_assert_str_eq(info->dtype, want);
    ck_assert_uint_eq(info->item_size, (uint32_t)(k[1] - '0'));
    ck_assert_int_eq(info->fortran_order, k[6] == 'F');
}

START_TEST(info_reads_shape_and_dtype_from_the_header)
{
    char path[256];
    for (size_t k = 0; k < sizeof fixtures_2d / sizeof *fixtures_2d; k++) {
        snprintf(path, sizeof path, "%s/%s.npy", FIXTURES, fixtures_2d[k]);
        size_t T;
        uint32_t F;
        float *d = read_ok(path, -1, &T, &F);
        free(d);
        arnet_npy_info info;
        arnet_npy_info_init(&info);
        ck_assert_msg(arnet_npy_info_read(path, &info) == ARNET_OK, "%s", arnet_last_error());
        ck_assert_int_eq(info.ndim, 2);
        ck_assert_uint_eq(info.shape[0], T);
        ck_assert_uint_eq(info.shape[1], F);
        ck_assert_uint_eq(info.shape[2], 0);
        expect_info(fixtures_2d[k], &info);
    }
    for (size_t k = 0; k < sizeof fixtures_3d / sizeof *fixtures_3d; k++) {
        snprintf(path, sizeof path, "%s/%s.npy", FIXTURES, fixtures_3d[k]);
        size_t T;
        uint32_t F;
        float *d = read_ok(path, 0, &T, &F);
        free(d);
        arnet_npy_info info;
        arnet_npy_info_init(&info);
        ck_assert_int_eq(arnet_npy_info_read(path, &info), ARNET_OK);
        ck_assert_int_eq(info.ndim, 3);
        ck_assert_uint_eq(info.shape[0], T);
        ck_assert_uint_ge(info.shape[1], 2);
        ck_assert_uint_eq(info.shape[2], F);
        expect_info(fixtures_3d[k], &info);
    }
    static const struct {
        const char *name, *dtype;
    } labels[] = {{"labels_b1", "|b1"}, {"labels_f2_be", ">f2"}, {"labels_f8", "<f8"},
                  {"labels_i1", "|i1"}, {"labels_i8", "<i8"},    {"labels_u2_be", ">u2"}};
    for (size_t k = 0; k < sizeof labels / sizeof *labels; k++) {
        snprintf(path, sizeof path, "%s/%s.npy", FIXTURES, labels[k].name);
        uint8_t *l;
        size_t n;
        ck_assert_int_eq(arnet_npy_read_labels(path, &l, &n), ARNET_OK);
        arnet_free(l);
        arnet_npy_info info;
        arnet_npy_info_init(&info);
        ck_assert_int_eq(arnet_npy_info_read(path, &info), ARNET_OK);
        ck_assert_int_eq(info.ndim, 1);
        ck_assert_uint_eq(info.shape[0], n);
        ck_assert_str_eq(info.dtype, labels[k].dtype);
    }
    arnet_npy_info info;
    arnet_npy_info_init(&info);
    ck_assert_int_eq(arnet_npy_info_read("/nonexistent/x.npy", &info), ARNET_E_IO);
    ck_assert_ptr_nonnull(strstr(arnet_last_error(), "/nonexistent/x.npy"));
    ck_assert_int_eq(arnet_npy_info_read(NULL, &info), ARNET_E_INVALID);
}
END_TEST

/* Bytes this process has read through read() so far (Linux /proc/self/io's
 * rchar), or -1. */
static long long bytes_read_so_far(void)
{
    FILE *fp = fopen("/proc/self/io", "r");
    if (!fp)
        return -1;
    long long v = -1;
    char key[32];
    long long x;
    while (fscanf(fp, "%31[^:]: %lld\n", key, &x) == 2)
        if (!strcmp(key, "rchar"))
            v = x;
    fclose(fp);
    return v;
}

/* An 8 GiB feature file (sparse: it takes no disk space) is described from
 * its 128-byte header: nothing of the data is read or allocated. */
START_TEST(info_of_a_huge_file_reads_only_its_header)
{
    make_tmp();
    char path[128];
    snprintf(path, sizeof path, "%s/huge.npy", tmpdir);
    write_npy_raw(path, 1, "{'descr': '<f4', 'fortran_order': False, 'shape': (65536, 32768), }",
                  0, -1);
    struct stat st;
    ck_assert_int_eq(stat(path, &st), 0);
    ck_assert_int_eq(truncate(path, st.st_size + (off_t)65536 * 32768 * 4), 0);
    arnet_npy_info info;
    arnet_npy_info_init(&info);
    long long before = bytes_read_so_far();
    ck_assert_msg(arnet_npy_info_read(path, &info) == ARNET_OK, "%s", arnet_last_error());
    long long after = bytes_read_so_far();
    ck_assert_int_eq(info.ndim, 2);
    ck_assert_uint_eq(info.shape[0], 65536);
    ck_assert_uint_eq(info.shape[1], 32768);
    ck_assert_str_eq(info.dtype, "<f4");
    /* The header and stdio's one buffer at most, not the 8 GiB. */
    if (before >= 0 && after >= 0)
        ck_assert_msg(after - before < (1 << 20), "read %lld bytes", after - before);
    remove_tmp();
}
END_TEST

START_TEST(hostile_headers)
{
    make_tmp();
    char path[128];
    snprintf(path, sizeof path, "%s/h.npy", tmpdir);
    for (size_t k = 0; k < sizeof cases / sizeof *cases; k++) {
        const hostile *c = &cases[k];
        write_npy_raw(path, c->major, c->dict, c->data_bytes, c->hlen);
        float *d = NULL;
        size_t T = 7;
        uint32_t F = 7;
        int rc = arnet_npy_read(path, NULL, &d, &T, &F);
        ck_assert_msg(rc == ARNET_E_FORMAT, "%s: status %d (%s)", c->what, rc,
                      arnet_last_error());
        ck_assert_msg(strstr(arnet_last_error(), c->expect) != NULL, "%s: message '%s'",
                      c->what, arnet_last_error());
        ck_assert_msg(strstr(arnet_last_error(), path) != NULL, "%s: no file name in '%s'",
                      c->what, arnet_last_error());
        ck_assert_ptr_null(d);
        ck_assert_uint_eq(T, 7);
        ck_assert_uint_eq(F, 7);
        /* The header-only reader applies the same checks, except those of
         * feature arrays (dtype, rank, empty axes): it describes any array. */
        if (strstr(c->expect, "must be float") || strstr(c->expect, "rank ") ||
            strstr(c->expect, " = 0"))
            continue;
        arnet_npy_info info;
        arnet_npy_info_init(&info);
        rc = arnet_npy_info_read(path, &info);
        ck_assert_msg(rc == ARNET_E_FORMAT, "info %s: status %d (%s)", c->what, rc,
                      arnet_last_error());
        ck_assert_msg(strstr(arnet_last_error(), c->expect) != NULL, "info %s: message '%s'",
                      c->what, arnet_last_error());
        ck_assert_int_eq(info.ndim, 0);
    }
    /* Bytes that are not .npy at all, an unknown version, too short, missing. */
    struct {
        const char *bytes;
        size_t n;
        const char *expect;
    } raw[] = {
        {"\x93NUMPX\x01\x00\x10\x00{}              ", 26, "bad magic"},
        {"\x93NUMPY\x04\x00\x10\x00{}              ", 26, "version 4.0"},
        {"\x93NUMPY\x01\x01\x10\x00{}              ", 26, "version 1.1"},
        {"\x93NUMPY", 6, "too short"},
        {"\x93NUMPY\x02\x00\x10", 9, "too short"},
        {"\x93NUMPY\x02\x00\x10\x00", 10, "truncated .npy preamble"},
        {"\x93NUMPY\x01\x00\x08\x00{'a\0b'}", 18, "NUL"},
    };
    for (size_t k = 0; k < sizeof raw / sizeof *raw; k++) {
        FILE *fp = fopen(path, "wb");
        fwrite(raw[k].bytes, 1, raw[k].n, fp);
        fclose(fp);
        float *d = NULL;
        size_t T;
        uint32_t F;
        ck_assert_int_eq(arnet_npy_read(path, NULL, &d, &T, &F), ARNET_E_FORMAT);
        ck_assert_msg(strstr(arnet_last_error(), raw[k].expect) != NULL, "raw %zu: '%s'", k,
                      arnet_last_error());
        uint8_t *l = NULL;
        size_t n;
        ck_assert_int_eq(arnet_npy_read_labels(path, &l, &n), ARNET_E_FORMAT);
    }
    /* Labels: empty, NaN. */
    write_npy_raw(path, 1, H("<f8", "False", "(0,)"), 0, -1);
    uint8_t *l = NULL;
    size_t n;
    ck_assert_int_eq(arnet_npy_read_labels(path, &l, &n), ARNET_E_FORMAT);
    ck_assert_ptr_nonnull(strstr(arnet_last_error(), "empty"));
    FILE *fp = fopen(path, "wb");
    const char *dict = H("<f8", "False", "(2,)");
    size_t dl = strlen(dict), hlen = (10 + dl + 1 + 63) / 64 * 64 - 10;
    fwrite("\x93NUMPY\x01\x00", 1, 8, fp);
    fputc((int)hlen, fp);
    fputc(0, fp);
    fwrite(dict, 1, dl, fp);
    for (size_t i = dl; i + 1 < hlen; i++)
        fputc(' ', fp);
    fputc('\n', fp);
    double v[2] = {1.0, NAN};
    fwrite(v, sizeof(double), 2, fp); /* little-endian hosts only: see below */
    fclose(fp);
    if (*(const uint8_t *)&(uint16_t){1} == 1) {
        ck_assert_int_eq(arnet_npy_read_labels(path, &l, &n), ARNET_E_FORMAT);
        ck_assert_ptr_nonnull(strstr(arnet_last_error(), "label 1 is NaN"));
    }
    /* Missing file and NULL arguments. */
    float *d;
    size_t T;
    uint32_t F;
    ck_assert_int_eq(arnet_npy_read(tmpdir, NULL, &d, &T, &F), ARNET_E_IO);
    ck_assert_ptr_nonnull(strstr(arnet_last_error(), "not a regular file"));
    ck_assert_int_eq(arnet_npy_read_labels("/dev/zero", &l, &n), ARNET_E_IO);
    ck_assert_ptr_nonnull(strstr(arnet_last_error(), "not a regular file"));
    ck_assert_int_eq(arnet_npy_read("/nonexistent/x.npy", NULL, &d, &T, &F), ARNET_E_IO);
    ck_assert_ptr_nonnull(strstr(arnet_last_error(), "/nonexistent/x.npy"));
    ck_assert_int_eq(arnet_npy_read(NULL, NULL, &d, &T, &F), ARNET_E_INVALID);
    ck_assert_int_eq(arnet_npy_read(path, NULL, NULL, &T, &F), ARNET_E_INVALID);
    ck_assert_int_eq(arnet_npy_read_labels(path, NULL, &n), ARNET_E_INVALID);
    remove_tmp();
}
END_TEST

/* Headers NumPy (or Python 2 era NumPy) writes or accepts that our writer
 * never produces: each must read, with the right values. */
START_TEST(header_variants_that_numpy_accepts)
{
    make_tmp();
    char path[128];
    snprintf(path, sizeof path, "%s/v.npy", tmpdir);
    const char *ok[] = {
        "{'descr': '=f4', 'fortran_order': False, 'shape': (3, 4), }",
        "{'descr': '<f4', 'fortran_order': False, 'shape': (3L, 4L), }",
        "{\"descr\": \"<f4\", \"fortran_order\": False, \"shape\": (3, 4)}",
        "{'shape': (3, 4), 'fortran_order': False, 'descr': '<f4'}",
        "{ 'descr' : '<f4' ,\t'fortran_order' : False , 'shape' : ( 3 , 4 , ) , }",
    };
    int little = *(const uint8_t *)&(uint16_t){1} == 1;
    for (size_t k = 0; k < sizeof ok / sizeof *ok; k++) {
        write_npy_raw(path, 1, ok[k], 48, -1);
        float *d = NULL;
        size_t T;
        uint32_t F;
        ck_assert_msg(arnet_npy_read(path, NULL, &d, &T, &F) == ARNET_OK, "%s: %s", ok[k],
                      arnet_last_error());
        ck_assert_uint_eq(T, 3);
        ck_assert_uint_eq(F, 4);
        /* write_npy_raw's data bytes are 0, 1, 2, ...: element i has bytes
         * 4i..4i+3, in file order for '<' (and '=' on this host). */
        for (size_t i = 0; i < 12 && (little || k == 0); i++) {
            uint8_t b[4] = {(uint8_t)(4 * i), (uint8_t)(4 * i + 1), (uint8_t)(4 * i + 2),
                            (uint8_t)(4 * i + 3)};
            float want;
            memcpy(&want, b, 4);
            ck_assert(memcmp(&d[i], &want, 4) == 0);
        }
        arnet_free(d);
    }
    /* A header longer than format 1.0 can hold (NumPy switches to 2.0). */
    char *big = malloc(70100);
    strcpy(big, "{'descr': '<f4', 'fortran_order': False, 'shape': (3, 4), ");
    size_t bl = strlen(big);
    memset(big + bl, ' ', 70000);
    strcpy(big + bl + 70000, "}");
    write_npy_raw(path, 2, big, 48, -1);
    float *d = NULL;
    size_t T;
    uint32_t F;
    ck_assert_msg(arnet_npy_read(path, NULL, &d, &T, &F) == ARNET_OK, "%s", arnet_last_error());
    arnet_free(d);
    /* ... but not an unbounded one. */
    big = realloc(big, (2u << 20) + 100);
    memset(big + bl, ' ', 2u << 20);
    strcpy(big + bl + (2u << 20), "}");
    write_npy_raw(path, 2, big, 48, -1);
    ck_assert_int_eq(arnet_npy_read(path, NULL, &d, &T, &F), ARNET_E_FORMAT);
    ck_assert_ptr_nonnull(strstr(arnet_last_error(), "exceeds"));
    free(big);
    remove_tmp();
}
END_TEST

/* ---- memory ------------------------------------------------------------------- */

static long max_rss_kb(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_maxrss;
}

/* A 10-crop file is ten times its result: reading it must cost about the
 * result, not the file (the peak resident size would show a slurp). */
START_TEST(multi_crop_reading_stays_near_result_size)
{
    make_tmp();
    char path[128];
    snprintf(path, sizeof path, "%s/big.npy", tmpdir);
    const size_t T = 1500, C = 10, F = 1024;
    const char *dicts[2] = {H("<f4", "False", "(1500, 10, 1024)"),
                            H("<f4", "True", "(1500, 10, 1024)")};
    for (int k = 0; k < 2; k++) {
        write_npy_raw(path, 1, dicts[k], T * C * F * 4, -1);
        long before = max_rss_kb();
        float *d = NULL;
        size_t rT;
        uint32_t rF;
        ck_assert_int_eq(arnet_npy_read(path, NULL, &d, &rT, &rF), ARNET_OK);
        /* Touch the result so all of it is resident. */
        volatile float sink = 0;
        for (size_t i = 0; i < rT * rF; i += 1024)
            sink += d[i];
        (void)sink;
        long grown_kb = max_rss_kb() - before;
        long result_kb = (long)(T * F * 4 / 1024), file_kb = (long)(T * C * F * 4 / 1024);
        ck_assert_msg(grown_kb < result_kb + 8 * 1024,
                      "%s order: peak grew by %ld KiB for a %ld KiB result (file %ld KiB)",
                      k ? "Fortran" : "C", grown_kb, result_kb, file_kb);
        arnet_free(d);
    }
    remove_tmp();
}
END_TEST

/* ---- NumPy as the reference -------------------------------------------------- */

/* ARNET_TEST_PYTHON overrides the interpreter (a missing one shows the skip). */
static const char *python(void)
{
    const char *p = getenv("ARNET_TEST_PYTHON");
    return p && *p ? p : PYTHON;
}

static int have_numpy(void)
{
    char cmd[512];
    snprintf(cmd, sizeof cmd, "'%s' -c 'import numpy' >/dev/null 2>&1", python());
    return system(cmd) == 0;
}

static void *slurp(const char *path, size_t *n)
{
    FILE *fp = fopen(path, "rb");
    if (!fp)
        return NULL;
    fseek(fp, 0, SEEK_END);
    long sz = ftell(fp);
    fseek(fp, 0, SEEK_SET);
    void *buf = malloc((size_t)sz + 1);
    *n = fread(buf, 1, (size_t)sz, fp);
    fclose(fp);
    return buf;
}

START_TEST(numpy_random_arrays_exact)
{
    make_tmp();
    char cmd[512];
    snprintf(cmd, sizeof cmd, "'%s' '%s/tests/gen_npy.py' random '%s' 20261128", python(),
             ARNET_SOURCE_DIR, tmpdir);
    ck_assert_int_eq(system(cmd), 0);
    char path[256];
    snprintf(path, sizeof path, "%s/index.txt", tmpdir);
    FILE *idx = fopen(path, "r");
    ck_assert_ptr_nonnull(idx);
    char name[32];
    int crop;
    size_t T, F, checked = 0;
    while (fscanf(idx, "%31s %d %zu %zu", name, &crop, &T, &F) == 4) {
        snprintf(path, sizeof path, "%s/%s.npy", tmpdir, name);
        size_t rT;
        uint32_t rF;
        float *d = read_ok(path, crop, &rT, &rF);
        ck_assert_uint_eq(rT, T);
        ck_assert_uint_eq(rF, F);
        snprintf(path, sizeof path, "%s/%s_%d.f32", tmpdir, name, crop + 1);
        size_t n;
        float *ref = slurp(path, &n);
        ck_assert_ptr_nonnull(ref);
        ck_assert_uint_eq(n, T * F * 4);
        /* Bitwise: the same rounding as NumPy's astype and float64 mean. */
        ck_assert_msg(memcmp(d, ref, n) == 0, "%s crop %d differs from NumPy", name, crop);
        /* Our writer's file back through NumPy (checked below in one call). */
        snprintf(path, sizeof path, "%s/%s_%d.out.npy", tmpdir, name, crop + 1);
        size_t shape[2] = {T, F};
        ck_assert_int_eq(arnet_npy_write(path, d, shape, 2), ARNET_OK);
        free(ref);
        arnet_free(d);
        checked++;
    }
    fclose(idx);
    ck_assert_uint_eq(checked, 108);
    snprintf(cmd, sizeof cmd,
             "'%s' -c \"import glob,sys,numpy as np\n"
             "n=0\n"
             "for p in glob.glob('%s/*.out.npy'):\n"
             "  a=np.load(p); r=np.fromfile(p[:-8]+'.f32',dtype='<f4')\n"
             "  assert a.dtype==np.float32 and a.flags.c_contiguous, p\n"
             "  assert np.array_equal(a.ravel(),r,equal_nan=True), p\n"
             "  n+=1\n"
             "sys.exit(0 if n==108 else 3)\"",
             python(), tmpdir);
    ck_assert_int_eq(system(cmd), 0);
    remove_tmp();
}
END_TEST

/* The crop mean a live extractor's clip gets (arnet_crop_mean) is the one
 * a feature file gives when read: the same floats, bit for bit, at widths
 * across the 256-sum chunks, and in place. */
START_TEST(crop_mean_equals_the_readers_mean)
{
    make_tmp();
    arnet__rng rng;
    arnet__rng_seed(&rng, 11);
    char path[128];
    snprintf(path, sizeof path, "%s/crops.npy", tmpdir);
    const size_t T = 3, C = 5, F = 300;
    float *x = malloc(T * C * F * sizeof *x);
    for (size_t i = 0; i < T * C * F; i++)
        x[i] = (float)(arnet__rng_normal(&rng) * 1e3);
    size_t shape[3] = {T, C, F};
    ck_assert_int_eq(arnet_npy_write(path, x, shape, 3), ARNET_OK);
    size_t rT;
    uint32_t rF;
    float *y = read_ok(path, -1, &rT, &rF);
    ck_assert_uint_eq(rT, T);
    float mean[300];
    for (size_t t = 0; t < T; t++) {
        ck_assert_int_eq(arnet_crop_mean(x + t * C * F, C, F, mean), ARNET_OK);
        ck_assert(!memcmp(mean, y + t * F, sizeof mean));
        ck_assert_int_eq(arnet_crop_mean(x + t * C * F, C, F, x + t * C * F), ARNET_OK);
        ck_assert(!memcmp(x + t * C * F, y + t * F, sizeof mean));
    }
    ck_assert_int_eq(arnet_crop_mean(x, 0, F, mean), ARNET_E_INVALID);
    ck_assert_int_eq(arnet_crop_mean(x, C, 0, mean), ARNET_E_INVALID);
    ck_assert_int_eq(arnet_crop_mean(NULL, C, F, mean), ARNET_E_INVALID);
    ck_assert_int_eq(arnet_crop_mean(x, C, F, NULL), ARNET_E_INVALID);
    arnet_free(y);
    free(x);
}
END_TEST

Suite *make_suite(void)
{
    Suite *s = suite_create("npy");
    TCase *tc = tcase_create("npy");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, fixtures_2d_every_kind);
    tcase_add_test(tc, fixtures_3d_average_and_chosen_crop);
    tcase_add_test(tc, labels_every_dtype);
    tcase_add_test(tc, writer_round_trip);
    tcase_add_test(tc, crop_mean_equals_the_readers_mean);
    tcase_add_test(tc, hostile_headers);
    tcase_add_test(tc, info_reads_shape_and_dtype_from_the_header);
    tcase_add_test(tc, info_of_a_huge_file_reads_only_its_header);
    tcase_add_test(tc, header_variants_that_numpy_accepts);
    tcase_add_test(tc, multi_crop_reading_stays_near_result_size);
    if (have_numpy())
        tcase_add_test(tc, numpy_random_arrays_exact);
    else /* Not run, so not counted: say so in the TAP stream. */
        printf("# SKIP numpy_random_arrays_exact: %s with numpy not available\n", python());
    fflush(stdout); /* before Check forks, or every child repeats it */
    suite_add_tcase(s, tc);
    return s;
}
