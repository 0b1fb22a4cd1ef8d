/* test_torchfile.c -- the torch.save reader: files PyTorch wrote (both
 * formats; dtypes, views, strides, offsets, shared storage; a whole I3D state
 * dict against sums PyTorch computed), files this test writes (stored and
 * deflated zip entries), and hostile or broken files, which must give an
 * error naming the problem and never crash. */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "i3d_ref_files.h"
#include "torch_write.h"
#include "torchfile.h"



static const arnet__torch_tensor *must_find(const arnet__torch_file *f, const char *name)
{
    const arnet__torch_tensor *t = arnet__torch_find(f, name);
    ck_assert_msg(t != NULL, "tensor %s missing", name);
    return t;
}

static void check_shape(const arnet__torch_tensor *t, uint32_t ndim, const uint64_t *shape)
{
    ck_assert_uint_eq(t->ndim, ndim);
    for (uint32_t d = 0; d < ndim; d++)
        ck_assert_uint_eq(t->shape[d], shape[d]);
}

/* tensors_*.pt: the formulas of small_tensors() in the reference script. */
static void check_small(const char *file)
{
    char p[256];
    path_of(p, sizeof p, file);
    arnet__torch_file f;
    int rc = arnet__torch_read(p, &f);
    ck_assert_msg(rc == ARNET_OK, "%s", arnet_last_error());
    ck_assert_uint_eq(f.n_tensors, 10);
    ck_assert_int_eq(f.zip, strstr(file, "zip") != NULL);
    const arnet__torch_tensor *t = must_find(&f, "a");
    check_shape(t, 3, (uint64_t[]){ 2, 3, 4 });
    ck_assert_str_eq(t->dtype, "float32");
    for (int i = 0; i < 24; i++)
        ck_assert(t->data[i] == (float)i);
    t = must_find(&f, "d");
    ck_assert_str_eq(t->dtype, "float64");
    check_shape(t, 2, (uint64_t[]){ 3, 2 });
    for (int i = 0; i < 6; i++)
        ck_assert(t->data[i] == 0.25f * (float)i);
    t = must_find(&f, "h");
    ck_assert_str_eq(t->dtype, "float16");
    for (int i = 0; i < 5; i++)
        ck_assert(t->data[i] == (float)(i - 2));
    t = must_find(&f, "t"); /* a.transpose(0, 2): [4,3,2], t[i][j][k] = a[k][j][i] */
    check_shape(t, 3, (uint64_t[]){ 4, 3, 2 });
    for (int i = 0; i < 4; i++)
        for (int j = 0; j < 3; j++)
            for (int k = 0; k < 2; k++)
                ck_assert(t->data[(i * 3 + j) * 2 + k] == (float)(k * 12 + j * 4 + i));
    t = must_find(&f, "v"); /* a[1]: offset 12 */
    check_shape(t, 2, (uint64_t[]){ 3, 4 });
    for (int i = 0; i < 12; i++)
        ck_assert(t->data[i] == (float)(12 + i));
    t = must_find(&f, "s1");
    for (int i = 0; i < 6; i++)
        ck_assert(t->data[i] == 0.5f * (float)(2 + i));
    t = must_find(&f, "s2");
    check_shape(t, 2, (uint64_t[]){ 2, 5 });
    for (int i = 0; i < 10; i++)
        ck_assert(t->data[i] == 0.5f * (float)(10 + i));
    t = must_find(&f, "z");
    ck_assert_uint_eq(t->ndim, 0);
    ck_assert_uint_eq(t->numel, 1);
    ck_assert(t->data[0] == 3.5f);
    t = must_find(&f, "n");
    ck_assert_int_eq(t->is_float, 0);
    ck_assert_ptr_null(t->data);
    ck_assert_str_eq(t->dtype, "int64");
    check_shape(t, 1, (uint64_t[]){ 2 });
    t = must_find(&f, "e");
    check_shape(t, 2, (uint64_t[]){ 0, 3 });
    ck_assert_uint_eq(t->numel, 0);
    arnet__torch_free(&f);
}

START_TEST(torch_small_zip) { check_small("tensors_zip.pt"); }
END_TEST

START_TEST(torch_small_legacy) { check_small("tensors_legacy.pt"); }
END_TEST

/* A whole I3D state dict, both formats, against PyTorch's float64 sums. */
static void check_sums(const char *file)
{
    char p[256], s[256];
    path_of(p, sizeof p, file);
    path_of(s, sizeof s, "sums.txt");
    arnet__torch_file f;
    int rc = arnet__torch_read(p, &f);
    ck_assert_msg(rc == ARNET_OK, "%s", arnet_last_error());
    FILE *in = fopen(s, "r");
    ck_assert_ptr_nonnull(in);
    char name[256];
    unsigned long long numel;
    double sum, sumsq, first, last;
    size_t lines = 0;
    while (fscanf(in, "%255s %llu %lf %lf %lf %lf", name, &numel, &sum, &sumsq, &first, &last) ==
           6) {
        const arnet__torch_tensor *t = must_find(&f, name);
        ck_assert_uint_eq(t->numel, numel);
        ck_assert(t->is_float);
        double ss = 0, sq = 0;
        for (size_t i = 0; i < t->numel; i++) {
            ss += t->data[i];
            sq += (double)t->data[i] * t->data[i];
        }
        ck_assert_msg(fabs(ss - sum) <= 1e-9 * (sumsq + 1), "%s: sum %.17g vs %.17g", name, ss,
                      sum);
        ck_assert_msg(fabs(sq - sumsq) <= 1e-9 * sumsq, "%s: sumsq", name);
        ck_assert(t->data[0] == (float)first);
        ck_assert(t->data[t->numel - 1] == (float)last);
        lines++;
    }
    fclose(in);
    ck_assert_uint_eq(lines, f.n_tensors);
    ck_assert_uint_eq(lines, 57 * 5);
    arnet__torch_free(&f);
}

START_TEST(i3d_state_dict_zip) { check_sums("p_zip.pt"); }
END_TEST

START_TEST(i3d_state_dict_legacy) { check_sums("p_legacy.pt"); }
END_TEST

START_TEST(module_prefix_stripped)
{
    char p[256];
    path_of(p, sizeof p, "h_zip.pt");
    arnet__torch_file f;
    int rc = arnet__torch_read(p, &f);
    ck_assert_msg(rc == ARNET_OK, "%s", arnet_last_error());
    ck_assert_int_eq(f.module_prefix, 1);
    ck_assert_ptr_nonnull(arnet__torch_find(&f, "mixed_3b.branch_1.1.batch3d.running_var"));
    const arnet__torch_tensor *t = must_find(&f, "conv3d_1a_7x7.batch3d.num_batches_tracked");
    ck_assert_int_eq(t->is_float, 0);
    arnet__torch_free(&f);
}
END_TEST

/* ---- files this test writes ------------------------------------------------------ */

static float f_a[24];
static double f_d[6];
static uint16_t f_h[3] = { 0x3c00, 0xc000, 0x3800 }; /* 1, -2, 0.5 */
static int64_t f_n[2] = { 7, -1 };

static size_t small_set(tw_tensor *t)
{
    for (int i = 0; i < 24; i++)
        f_a[i] = (float)i - 3.0f;
    for (int i = 0; i < 6; i++)
        f_d[i] = 1.0 / (i + 1);
    memset(t, 0, 4 * sizeof *t);
    t[0] = (tw_tensor){ .name = "w", .dtype = TW_F32, .ndim = 3, .shape = { 2, 3, 4 }, .data = f_a };
    t[1] = (tw_tensor){ .name = "d", .dtype = TW_F64, .ndim = 1, .shape = { 6 }, .data = f_d };
    t[2] = (tw_tensor){ .name = "h", .dtype = TW_F16, .ndim = 1, .shape = { 3 }, .data = f_h };
    t[3] = (tw_tensor){ .name = "module.n", .dtype = TW_I64, .ndim = 1, .shape = { 2 },
                        .data = f_n };
    return 4;
}

static void check_small_set(const arnet__torch_file *f)
{
    ck_assert_uint_eq(f->n_tensors, 4);
    const arnet__torch_tensor *t = must_find(f, "w");
    for (int i = 0; i < 24; i++)
        ck_assert(t->data[i] == f_a[i]);
    t = must_find(f, "d");
    for (int i = 0; i < 6; i++)
        ck_assert(t->data[i] == (float)f_d[i]);
    t = must_find(f, "h");
    ck_assert(t->data[0] == 1.0f && t->data[1] == -2.0f && t->data[2] == 0.5f);
    ck_assert_ptr_nonnull(arnet__torch_find(f, "n"));
}

START_TEST(written_files_read_back)
{
    tw_tensor t[4];
    size_t n = small_set(t);
    for (int kind = 0; kind < 4; kind++) {
        tw_buf b = { 0 }, old = { 0 };
        if (kind == 0) {
            tw_legacy(&b, t, n, NULL);
        } else if (kind == 3) { /* torch 0.3: _rebuild_tensor */
            pk_state_dict(&old, t, n, 2);
            tw_legacy(&b, t, n, &old);
        } else
            tw_zipfile(&b, kind == 1 ? "archive" : "some_name", t, n, NULL, kind == 2);
        arnet__torch_file f;
        int rc = arnet__torch_read_buffer(b.p, b.n, "mem", &f);
        ck_assert_msg(rc == ARNET_OK, "kind %d: %s", kind, arnet_last_error());
        ck_assert_int_eq(f.zip, kind == 1 || kind == 2);
        ck_assert_int_eq(f.module_prefix, 1);
        check_small_set(&f);
        arnet__torch_free(&f);
        free(b.p);
        free(old.p);
    }
}
END_TEST

/* ---- hostile and broken files -------------------------------------------------------- */

/* rc is ARNET_E_FORMAT and the message holds want. */
static void expect_error(const uint8_t *p, size_t n, const char *want, const char *what)
{
    arnet__torch_file f;
    int rc = arnet__torch_read_buffer(p, n, "bad.pt", &f);
    ck_assert_msg(rc == ARNET_E_FORMAT, "%s: status %d (%s)", what, rc, arnet_last_error());
    ck_assert_msg(strstr(arnet_last_error(), want) != NULL, "%s: \"%s\" lacks \"%s\"", what,
                  arnet_last_error(), want);
    ck_assert_msg(strstr(arnet_last_error(), "bad.pt") != NULL, "%s: no file name", what);
    ck_assert_ptr_null(f.tensors);
}

/* Main pickle p inside a legacy file and inside a zip archive. */
static void expect_both(const tw_buf *pkl, const tw_tensor *t, size_t n, const char *want,
                        const char *what)
{
    tw_buf a = { 0 }, z = { 0 };
    tw_legacy(&a, t, n, pkl);
    expect_error(a.p, a.n, want, what);
    tw_zipfile(&z, "archive", t, n, pkl, 0);
    expect_error(z.p, z.n, want, what);
    free(a.p);
    free(z.p);
}

static void start_dict(tw_buf *b)
{
    tw_u8(b, 0x80);
    tw_u8(b, 2);
    tw_u8(b, '}');
}

START_TEST(forbidden_globals_and_opcodes)
{
    tw_buf b = { 0 };
    /* os.system("echo pwned"): refused at the GLOBAL, nothing runs. */
    tw_u8(&b, 0x80);
    tw_u8(&b, 2);
    pk_global(&b, "os", "system");
    pk_str(&b, "echo pwned >&2");
    tw_u8(&b, 0x85);
    tw_u8(&b, 'R');
    tw_u8(&b, '.');
    expect_both(&b, NULL, 0, "global os.system is not allowed", "os.system");
    b.n = 0;
    tw_u8(&b, 0x80);
    tw_u8(&b, 4);
    tw_u8(&b, 0x8c);
    tw_u8(&b, 8);
    tw_bytes(&b, "builtins", 8);
    tw_u8(&b, 0x8c);
    tw_u8(&b, 4);
    tw_bytes(&b, "eval", 4);
    tw_u8(&b, 0x93);
    tw_u8(&b, '.');
    expect_both(&b, NULL, 0, "builtins.eval is not allowed", "STACK_GLOBAL");
    b.n = 0;
    start_dict(&b);
    tw_u8(&b, 'i'); /* INST */
    tw_bytes(&b, "os\nsystem\n", 10);
    tw_u8(&b, '.');
    expect_both(&b, NULL, 0, "offset 3: pickle opcode 0x69 ('i') is not allowed", "INST");
    b.n = 0;
    start_dict(&b);
    tw_u8(&b, 0x95); /* FRAME (protocol 4) is not in the list either */
    expect_both(&b, NULL, 0, "opcode 0x95 is not allowed", "FRAME");
    b.n = 0;
    start_dict(&b);
    pk_global(&b, "torch", "load");
    expect_both(&b, NULL, 0, "torch.load is not allowed", "torch.load");
    b.n = 0;
    start_dict(&b); /* a REDUCE of a storage class */
    pk_global(&b, "torch", "FloatStorage");
    tw_u8(&b, ')');
    tw_u8(&b, 'R');
    expect_both(&b, NULL, 0, "REDUCE of a storage class", "storage call");
    b.n = 0;
    start_dict(&b); /* OrderedDict with arguments */
    pk_global(&b, "collections", "OrderedDict");
    pk_str(&b, "x");
    tw_u8(&b, 0x85);
    tw_u8(&b, 'R');
    expect_both(&b, NULL, 0, "OrderedDict called with arguments", "odict args");
    free(b.p);
}
END_TEST

START_TEST(huge_and_inconsistent_sizes)
{
    tw_buf b = { 0 };
    start_dict(&b); /* a string longer than the file */
    tw_u8(&b, 'X');
    tw_u32(&b, 0xFFFFFFF0u);
    tw_bytes(&b, "abc", 3);
    expect_both(&b, NULL, 0, "truncated", "long string");
    b.n = 0;
    start_dict(&b);
    tw_u8(&b, 'r'); /* LONG_BINPUT 2^31 */
    tw_u32(&b, 0x80000000u);
    expect_both(&b, NULL, 0, "memo index 2147483648 too large", "memo");
    b.n = 0;
    start_dict(&b);
    tw_u8(&b, 'h');
    tw_u8(&b, 7);
    expect_both(&b, NULL, 0, "memo index 7 was never stored", "binget");
    b.n = 0;
    start_dict(&b);
    for (int i = 0; i < 100; i++)
        tw_u8(&b, '(');
    expect_both(&b, NULL, 0, "MARKs nested deeper", "marks");
    b.n = 0;
    start_dict(&b);
    for (int i = 0; i < 5000; i++)
        tw_u8(&b, 'N');
    expect_both(&b, NULL, 0, "stack deeper than", "stack");
    b.n = 0;
    start_dict(&b);
    tw_u8(&b, 'u');
    expect_both(&b, NULL, 0, "no MARK", "setitems");
    b.n = 0;
    tw_u8(&b, 0x80);
    tw_u8(&b, 2);
    tw_u8(&b, '.');
    expect_both(&b, NULL, 0, "stack underflow", "empty stop");
    b.n = 0;
    start_dict(&b);
    expect_both(&b, NULL, 0, "without STOP", "no stop");
    b.n = 0;
    start_dict(&b); /* a list where the state dict should be */
    tw_u8(&b, 0x30 /* POP */);
    expect_both(&b, NULL, 0, "opcode 0x30 ('0')", "pop");
    free(b.p);

    /* Tensors whose storage cannot hold them, or claims the impossible. */
    float four[4] = { 1, 2, 3, 4 };
    tw_tensor t = { .name = "x", .dtype = TW_F32, .ndim = 1, .shape = { 1000000000 },
                    .data = four, .storage_numel = 4, .has_stride = 1, .stride = { 0 } };
    tw_buf a = { 0 };
    tw_legacy(&a, &t, 1, NULL);
    expect_error(a.p, a.n, "tensor x: 1000000000 elements from a storage of 4", "stride 0");
    free(a.p);
    a = (tw_buf){ 0 };
    tw_zipfile(&a, "archive", &t, 1, NULL, 0);
    expect_error(a.p, a.n, "tensor x: 1000000000 elements from a storage of 4", "stride 0 zip");
    free(a.p);
    t = (tw_tensor){ .name = "y", .dtype = TW_F32, .ndim = 1, .shape = { 3 }, .data = four,
                     .storage_numel = 4, .offset = 2 };
    a = (tw_buf){ 0 };
    tw_legacy(&a, &t, 1, NULL);
    expect_error(a.p, a.n, "tensor y: offset and strides reach element 4 of a storage of 4",
                 "offset");
    free(a.p);
    /* A storage of 2^40 floats in a small file. */
    t = (tw_tensor){ .name = "z", .dtype = TW_F32, .ndim = 1, .shape = { 4 }, .data = four,
                     .storage_numel = 1ull << 40 };
    b = (tw_buf){ 0 };
    pk_state_dict(&b, &t, 1, 1);
    t.storage_numel = 4;
    a = (tw_buf){ 0 };
    tw_legacy(&a, &t, 1, &b);
    expect_error(a.p, a.n, "storage 0 claims 1099511627776 elements", "huge storage");
    free(a.p);
    /* Legacy: the storage's own count runs past the end. */
    a = (tw_buf){ 0 };
    tw_legacy(&a, &t, 1, NULL);
    memset(a.p + a.n - 16 - 8, 0xff, 7); /* the u64 count before the 16 data bytes */
    expect_error(a.p, a.n, "run past the end of the file", "storage count");
    free(a.p);
    free(b.p);
}
END_TEST

START_TEST(zip_problems)
{
    tw_tensor t[4];
    size_t n = small_set(t);
    tw_buf z = { 0 };
    tw_zipfile(&z, "archive", t, n, NULL, 0);
    /* A data byte changed: the CRC says so. */
    uint8_t *c = malloc(z.n);
    memcpy(c, z.p, z.n);
    size_t at = 0;
    for (size_t i = 0; i + 14 < z.n; i++)
        if (!memcmp(c + i, "archive/data/0", 14)) {
            at = i + 14 + 8; /* a few bytes into its data */
            break;
        }
    c[at] ^= 0x40;
    expect_error(c, z.n, "archive/data/0: CRC-32 mismatch", "crc");
    /* ZIP64 (saturated fields in the end record). */
    memcpy(c, z.p, z.n);
    memset(c + z.n - 22 + 16, 0xff, 4);
    expect_error(c, z.n, "ZIP64", "zip64");
    /* No data.pkl. */
    memcpy(c, z.p, z.n);
    for (size_t i = 0; i + 8 < z.n; i++)
        if (!memcmp(c + i, "data.pkl", 8))
            c[i] = 'D';
    expect_error(c, z.n, "without <name>/data.pkl", "no pkl");
    /* A storage entry renamed away. */
    memcpy(c, z.p, z.n);
    for (size_t i = 0; i + 14 < z.n; i++)
        if (!memcmp(c + i, "archive/data/1", 14))
            c[i + 13] = '9';
    expect_error(c, z.n, "storage 1: no entry archive/data/1", "missing storage");
    /* Encrypted flag, unknown method. */
    memcpy(c, z.p, z.n);
    size_t cd = (size_t)c[z.n - 6] | (size_t)c[z.n - 5] << 8 | (size_t)c[z.n - 4] << 16;
    c[cd + 8] = 1;
    expect_error(c, z.n, "is encrypted", "encrypted");
    memcpy(c, z.p, z.n);
    c[cd + 10] = 12; /* bzip2 */
    expect_error(c, z.n, "compression method 12 not supported", "method");
    /* Truncated anywhere: always an error. */
    for (size_t len = 0; len < z.n; len++) {
        arnet__torch_file f;
        int rc = arnet__torch_read_buffer(z.p, len, "cut.pt", &f);
        ck_assert_msg(rc == ARNET_E_FORMAT, "cut at %zu: %d", len, rc);
    }
    free(c);
    free(z.p);
    /* Deflated archive cut or flipped: errors, never a crash. */
    z = (tw_buf){ 0 };
    tw_zipfile(&z, "archive", t, n, NULL, 1);
    for (size_t len = 0; len < z.n; len++) {
        arnet__torch_file f;
        ck_assert_int_eq(arnet__torch_read_buffer(z.p, len, "cut.pt", &f), ARNET_E_FORMAT);
    }
    free(z.p);
}
END_TEST

/* Every strict prefix of a file fails; every single-byte change either fails
 * cleanly or reads (a legacy file has no checksum); nothing crashes. */
static void mangle(const char *file)
{
    char p[256];
    path_of(p, sizeof p, file);
    uint8_t *d;
    size_t n;
    ck_assert_int_eq(arnet__read_file(p, &d, &n), ARNET_OK);
    for (size_t len = 0; len < n; len++) {
        arnet__torch_file f;
        int rc = arnet__torch_read_buffer(d, len, "cut.pt", &f);
        ck_assert_msg(rc == ARNET_E_FORMAT, "%s cut at %zu: %d", file, len, rc);
    }
    size_t failed = 0;
    for (size_t i = 0; i < n; i++) {
        for (int k = 0; k < 2; k++) {
            uint8_t old = d[i];
            d[i] = k ? (uint8_t)(old ^ 0x01) : (uint8_t)(old ^ 0xff);
            arnet__torch_file f;
            int rc = arnet__torch_read_buffer(d, n, "flip.pt", &f);
            ck_assert_msg(rc == ARNET_OK || rc == ARNET_E_FORMAT, "%s flip at %zu: %d", file, i,
                          rc);
            failed += rc != ARNET_OK;
            arnet__torch_free(&f);
            d[i] = old;
        }
    }
    ck_assert_uint_gt(failed, 0);
    free(d);
}

START_TEST(torch_files_cut_and_flipped)
{
    mangle("tensors_zip.pt");
    mangle("tensors_legacy.pt");
}
END_TEST

START_TEST(not_torch_files)
{
    expect_error((const uint8_t *)"hello", 5, "neither zip nor pickle", "text");
    expect_error((const uint8_t *)"", 0, "neither zip nor pickle", "empty");
    static const uint8_t wrong_magic[] = { 0x80, 0x02, 'K', 1, '.' };
    expect_error(wrong_magic, sizeof wrong_magic, "wrong magic number", "magic");
    arnet__torch_file f;
    ck_assert_int_eq(arnet__torch_read("/nonexistent/x.pt", &f), ARNET_E_IO);
    ck_assert_ptr_nonnull(strstr(arnet_last_error(), "/nonexistent/x.pt"));
    /* A dict holding something other than tensors. */
    tw_buf b = { 0 };
    start_dict(&b);
    pk_str(&b, "lr");
    pk_int(&b, 3);
    tw_u8(&b, 's');
    tw_u8(&b, '.');
    expect_both(&b, NULL, 0, "state dict entry lr is a int, not a tensor", "not tensor");
    /* The same name twice. */
    float one = 1;
    tw_tensor t[2] = { { .name = "a", .dtype = TW_F32, .ndim = 1, .shape = { 1 }, .data = &one },
                       { .name = "module.a", .dtype = TW_F32, .ndim = 1, .shape = { 1 },
                         .data = &one } };
    tw_buf a = { 0 };
    tw_legacy(&a, t, 2, NULL);
    expect_error(a.p, a.n, "tensor a appears twice", "twice");
    free(a.p);
    free(b.p);
}
END_TEST

Suite *make_suite(void)
{
    Suite *s = suite_create("torchfile");
    TCase *tc = tcase_create("written");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, written_files_read_back);
    tcase_add_test(tc, forbidden_globals_and_opcodes);
    tcase_add_test(tc, huge_and_inconsistent_sizes);
    tcase_add_test(tc, zip_problems);
    tcase_add_test(tc, not_torch_files);
    suite_add_tcase(s, tc);

    check_files();
    TCase *tp = tcase_create("pytorch");
    tcase_set_timeout(tp, 60);
    if (have_files) {
        tcase_add_test(tp, torch_small_zip);
        tcase_add_test(tp, torch_small_legacy);
        tcase_add_test(tp, i3d_state_dict_zip);
        tcase_add_test(tp, i3d_state_dict_legacy);
        tcase_add_test(tp, module_prefix_stripped);
        tcase_add_test(tp, torch_files_cut_and_flipped);
    } else { /* Not run, so not counted: say so in the TAP stream. */
        printf("# SKIP torch_small_zip, torch_small_legacy, i3d_state_dict_zip, "
               "i3d_state_dict_legacy, module_prefix_stripped, torch_files_cut_and_flipped: "
               "reference files: %s\n",
               why);
    }
    fflush(stdout); /* before Check forks, or every child repeats it */
    suite_add_tcase(s, tp);
    return s;
}
