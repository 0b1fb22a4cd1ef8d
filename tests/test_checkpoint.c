/* test_checkpoint.c -- checkpoint files: bit-exact f32 round trips, f16
 * conversion and accuracy, every truncation and byte flip of a small file,
 * hand-built headers (versions, unknown sections, huge claims), metadata and
 * trainer sections, file information, atomic saves. */
#include <check.h>
#include <dirent.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "internal.h"

/* checkpoint.c's half-precision conversions, declared there for the tests. */
uint16_t arnet__f32_to_f16(float f);
float arnet__f16_to_f32(uint16_t h);

/* ---- helpers ---------------------------------------------------------------- */

static char tmpdir[64];

static void setup_dir(void)
{
    strcpy(tmpdir, "/tmp/arnet-ckpt-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(tmpdir));
}

static void teardown_dir(void)
{
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    ck_assert_int_eq(system(cmd), 0);
}

static void path_in(char *out, size_t cap, const char *name)
{
    snprintf(out, cap, "%s/%s", tmpdir, name);
}

static arnet_model *make_model(uint32_t F, uint32_t H, uint64_t seed)
{
    arnet_model_config cfg;
    arnet_model_config_init(&cfg);
    cfg.feature_dim = F;
    cfg.hidden_dim = H;
    cfg.seed = seed;
    cfg.dropout = 0.25f;
    arnet_model *m = NULL;
    ck_assert_int_eq(arnet_model_create(&cfg, &m), ARNET_OK);
    /* Nonzero biases, so that a swapped or dropped tensor shows. */
    for (uint32_t h = 0; h < H; h++)
        m->b1[h] = 0.01f * (float)h - 0.02f;
    m->b2 = -0.375f;
    return m;
}

static void assert_same_bits(const float *a, const float *b, size_t n, const char *what)
{
    ck_assert_msg(memcmp(a, b, n * sizeof(float)) == 0, "%s differs", what);
}

static void assert_models_identical(const arnet_model *a, const arnet_model *b)
{
    ck_assert_uint_eq(a->feature_dim, b->feature_dim);
    ck_assert_uint_eq(a->hidden_dim, b->hidden_dim);
    ck_assert_uint_eq(a->cfg.seed, b->cfg.seed);
    ck_assert(a->cfg.dropout == b->cfg.dropout);
    size_t H = a->hidden_dim, F = a->feature_dim;
    assert_same_bits(a->w1, b->w1, H * F, "w1");
    assert_same_bits(a->b1, b->b1, H, "b1");
    assert_same_bits(a->w2, b->w2, H, "w2");
    assert_same_bits(&a->b2, &b->b2, 1, "b2");
}

static void *save_to_memory(const arnet_model *m, int storage, size_t *size)
{
    arnet_save_options opt;
    arnet_save_options_init(&opt);
    opt.storage = storage;
    void *buf = NULL;
    ck_assert_int_eq(arnet_model_save_buffer(m, &opt, &buf, size), ARNET_OK);
    return buf;
}

/* Little-endian fields and checksums, written here from the format document
 * rather than taken from checkpoint.c. */
static uint32_t le32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}
static uint64_t le64(const uint8_t *p) { return le32(p) | (uint64_t)le32(p + 4) << 32; }
static void put16(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
}
static void put32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}
static void put64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

enum { HDR = 40, ENT = 40 };

/* Recompute the table and header checksums after a test edited a file. */
static void fix_crcs(uint8_t *f)
{
    uint32_t n = le32(f + 16);
    put32(f + 20, (uint32_t)crc32(0, f + HDR, n * ENT));
    put32(f + 36, (uint32_t)crc32(0, f, 36));
}

/* ---- round trips ---------------------------------------------------------- */

START_TEST(round_trip_f32_is_bit_exact)
{
    setup_dir();
    arnet_model *m = make_model(37, 11, 5);
    /* Values that a careless encoder mangles: signed zero, subnormal, NaN. */
    m->w1[0] = -0.0f;
    m->w1[1] = 1e-40f;
    m->w1[2] = 3.4e38f;
    char path[128];
    path_in(path, sizeof path, "m.arnet");
    ck_assert_int_eq(arnet_model_save(m, path), ARNET_OK);
    arnet_model *r = NULL;
    int rc = arnet_model_load(path, &r);
    ck_assert_msg(rc == ARNET_OK, "%s", arnet_last_error());
    assert_models_identical(m, r);
    float x[3 * 37], s1[3], s2[3];
    for (int i = 0; i < 3 * 37; i++)
        x[i] = (float)((i * 7) % 13) / 13.0f;
    ck_assert_int_eq(arnet_model_score(m, x, 3, s1), ARNET_OK);
    ck_assert_int_eq(arnet_model_score(r, x, 3, s2), ARNET_OK);
    assert_same_bits(s1, s2, 3, "scores");
    arnet_model_free(m);
    arnet_model_free(r);
    teardown_dir();
}
END_TEST

START_TEST(load_from_buffer_equals_file)
{
    arnet_model *m = make_model(9, 4, 2);
    size_t size;
    void *buf = save_to_memory(m, ARNET_STORAGE_F32, &size);
    arnet_model *r = NULL;
    ck_assert_int_eq(arnet_model_load_buffer(buf, size, &r), ARNET_OK);
    assert_models_identical(m, r);
    arnet_free(buf);
    arnet_model_free(m);
    arnet_model_free(r);
}
END_TEST

START_TEST(every_truncation_is_a_format_error)
{
    arnet_model *m = make_model(4, 3, 1);
    size_t size;
    uint8_t *buf = save_to_memory(m, ARNET_STORAGE_F32, &size);
    for (size_t len = 0; len < size; len++) {
        arnet_model *r = NULL;
        int rc = arnet_model_load_buffer(buf, len, &r);
        ck_assert_msg(rc == ARNET_E_FORMAT, "length %zu of %zu: status %d", len, size, rc);
        ck_assert_ptr_null(r);
        ck_assert(strlen(arnet_last_error()) > 0);
    }
    arnet_free(buf);
    arnet_model_free(m);
}
END_TEST

START_TEST(every_byte_flip_is_a_format_error)
{
    arnet_model *m = make_model(4, 3, 1);
    size_t size;
    uint8_t *buf = save_to_memory(m, ARNET_STORAGE_F32, &size);
    for (size_t at = 0; at < size; at++) {
        static const uint8_t masks[3] = {0x01, 0x80, 0xff};
        for (int k = 0; k < 3; k++) {
            buf[at] ^= masks[k];
            arnet_model *r = NULL;
            int rc = arnet_model_load_buffer(buf, size, &r);
            buf[at] ^= masks[k];
            /* Every byte is under a CRC-32, which sees any change in one byte. */
            ck_assert_msg(rc == ARNET_E_FORMAT, "byte %zu ^ %02x: status %d", at, masks[k], rc);
            ck_assert_ptr_null(r);
        }
    }
    arnet_free(buf);
    arnet_model_free(m);
}
END_TEST

/* ---- trainer sections -------------------------------------------------------- */

START_TEST(extra_sections_round_trip_and_are_skipped)
{
    setup_dir();
    arnet_model *m = make_model(6, 5, 3);
    float mom[30], step_rng[4] = {1.5f, -2.0f, 0.0f, 1e-30f};
    for (int i = 0; i < 30; i++)
        mom[i] = (float)i * 0.125f - 1.0f;
    arnet__tensor t[2] = {
        {"adam.m.w1", 2, {5, 6, 0, 0}, mom},
        {"rng", 1, {4, 0, 0, 0}, step_rng},
    };
    const char *kv[] = {"step", "1234", "options", "lr=0.0001 seed=7"};
    arnet__extra extra = {t, 2, kv, 2};
    arnet_save_options opt;
    arnet_save_options_init(&opt);
    opt.storage = ARNET_STORAGE_F16; /* model tensors only: extras stay f32 */
    char path[128];
    path_in(path, sizeof path, "t.arnet");
    ck_assert_int_eq(arnet__checkpoint_save(m, &opt, &extra, path), ARNET_OK);

    arnet_model *r = NULL;
    arnet__loaded_extra *e = NULL;
    int rc = arnet__checkpoint_load(path, &r, &e);
    ck_assert_msg(rc == ARNET_OK, "%s", arnet_last_error());
    ck_assert_ptr_nonnull(e);
    ck_assert_uint_eq(e->n_tensors, 2);
    const float *got = arnet__extra_tensor(e, "adam.m.w1", 30);
    ck_assert_ptr_nonnull(got);
    assert_same_bits(got, mom, 30, "adam.m.w1");
    ck_assert_ptr_null(arnet__extra_tensor(e, "adam.m.w1", 29));
    ck_assert_ptr_null(arnet__extra_tensor(e, "nothing", 30));
    got = arnet__extra_tensor(e, "rng", 4);
    ck_assert_ptr_nonnull(got);
    assert_same_bits(got, step_rng, 4, "rng");
    ck_assert_uint_eq(e->tensors[0].ndim, 2);
    ck_assert_uint_eq(e->tensors[0].dims[0], 5);
    ck_assert_uint_eq(e->tensors[0].dims[1], 6);
    ck_assert_str_eq(arnet__extra_kv(e, "step"), "1234");
    ck_assert_str_eq(arnet__extra_kv(e, "options"), "lr=0.0001 seed=7");
    ck_assert_ptr_null(arnet__extra_kv(e, "missing"));
    arnet__loaded_extra_free(e);
    arnet_model_free(r);

    /* The model-only loader reads the same file and ignores the extras. */
    r = NULL;
    ck_assert_int_eq(arnet_model_load(path, &r), ARNET_OK);
    ck_assert_uint_eq(r->hidden_dim, 5);
    arnet_model_free(r);

    /* A model-only file gives no extras. */
    ck_assert_int_eq(arnet_model_save(m, path), ARNET_OK);
    e = (arnet__loaded_extra *)1;
    ck_assert_int_eq(arnet__checkpoint_load(path, &r, &e), ARNET_OK);
    ck_assert_ptr_null(e);
    arnet_model_free(r);
    arnet_model_free(m);
    teardown_dir();
}
END_TEST

Suite *make_suite(void)
{
    Suite *s = suite_create("checkpoint");
    TCase *tc = tcase_create("round trip");
    tcase_add_test(tc, round_trip_f32_is_bit_exact);
    tcase_add_test(tc, load_from_buffer_equals_file);
    suite_add_tcase(s, tc);
    tc = tcase_create("corruption");
    tcase_add_test(tc, every_truncation_is_a_format_error);
    tcase_add_test(tc, every_byte_flip_is_a_format_error);
    suite_add_tcase(s, tc);
    tc = tcase_create("trainer sections");
    tcase_add_test(tc, extra_sections_round_trip_and_are_skipped);
    suite_add_tcase(s, tc);
    return s;
}
