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

#include "detector_int.h"
#include "internal.h"

/* The container's half-precision conversions (container.c, container.h). */
uint16_t arnet__f32_to_f16(float f);
float arnet__f16_to_f32(uint16_t h);

/* ---- helpers ----------------------------------------------------------- */

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
        m->b1[h] = 0.01f * (float)(h % 7) - 0.02f;
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
static void fix_crcs(uint8_t *f, size_t size)
{
    size_t n = le32(f + 16);
    if (n * ENT > size - HDR)
        n = (size - HDR) / ENT; /* a test's lie: the reader must not get this far */
    put32(f + 20, (uint32_t)crc32(0, f + HDR, (uInt)(n * ENT)));
    put32(f + 36, (uint32_t)crc32(0, f, 36));
}

/* ---- round trips ------------------------------------------------------- */

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

/* ---- trainer sections -------------------------------------------------- */

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
    arnet__extra extra = {t, 2, kv, 2, 0};
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

/* ---- a writer of the test's own, from docs/checkpoint-format.md -------- */

typedef struct tbuf {
    uint8_t *p;
    size_t n;
} tbuf;

static void tb_add(tbuf *b, const void *src, size_t n)
{
    b->p = realloc(b->p, b->n + n + 1);
    ck_assert_ptr_nonnull(b->p);
    memcpy(b->p + b->n, src, n);
    b->n += n;
}
static void tb_u8(tbuf *b, uint32_t v)
{
    uint8_t x = (uint8_t)v;
    tb_add(b, &x, 1);
}
static void tb_u16(tbuf *b, uint32_t v)
{
    uint8_t x[2];
    put16(x, v);
    tb_add(b, x, 2);
}
static void tb_u32(tbuf *b, uint32_t v)
{
    uint8_t x[4];
    put32(x, v);
    tb_add(b, x, 4);
}
static void tb_u64(tbuf *b, uint64_t v)
{
    uint8_t x[8];
    put64(x, v);
    tb_add(b, x, 8);
}
static void tb_f32(tbuf *b, float f)
{
    uint32_t x;
    memcpy(&x, &f, 4);
    tb_u32(b, x);
}

typedef struct tsec {
    uint32_t type, flags, codec;
    tbuf raw;
    uint64_t claim_raw; /* nonzero: write this raw size in the table instead */
} tsec;

static void raw_config(tbuf *b, uint32_t F, uint32_t H, float dropout, uint64_t seed)
{
    tb_u32(b, F);
    tb_u32(b, H);
    tb_f32(b, dropout);
    tb_u32(b, 0);
    tb_u64(b, seed);
}

static void raw_tensor(tbuf *b, const char *name, uint32_t ndim, const uint64_t *dims,
                       const float *data)
{
    tb_u16(b, (uint32_t)strlen(name));
    tb_add(b, name, strlen(name));
    tb_u8(b, 0);
    tb_u8(b, ndim);
    uint64_t count = 1;
    for (uint32_t i = 0; i < ndim; i++) {
        tb_u64(b, dims[i]);
        count *= dims[i];
    }
    for (uint64_t i = 0; data && i < count; i++)
        tb_f32(b, data[i]);
}

static void raw_kv(tbuf *b, const char *const *kv, uint32_t n)
{
    tb_u32(b, n);
    for (uint32_t i = 0; i < n; i++) {
        tb_u16(b, (uint32_t)strlen(kv[2 * i]));
        tb_add(b, kv[2 * i], strlen(kv[2 * i]));
        tb_u32(b, (uint32_t)strlen(kv[2 * i + 1]));
        tb_add(b, kv[2 * i + 1], strlen(kv[2 * i + 1]));
    }
}

/* Header, table, then each payload (zlib unless codec 0), CRCs filled in. */
static uint8_t *build_file(tsec *s, uint32_t n, uint32_t major, uint32_t minor, size_t *size)
{
    size_t off = HDR + (size_t)n * ENT;
    tbuf payload = {0};
    uint8_t *table = calloc(n, ENT);
    for (uint32_t i = 0; i < n; i++) {
        uint8_t *e = table + (size_t)i * ENT;
        size_t at = payload.n;
        if (s[i].codec == 1) {
            uLongf clen = compressBound(s[i].raw.n);
            uint8_t *z = malloc(clen);
            ck_assert_int_eq(compress2(z, &clen, s[i].raw.p ? s[i].raw.p : (const Bytef *)"",
                                       s[i].raw.n, 6),
                             Z_OK);
            tb_add(&payload, z, clen);
            free(z);
        } else if (s[i].raw.n) {
            tb_add(&payload, s[i].raw.p, s[i].raw.n);
        }
        put32(e, s[i].type);
        put16(e + 4, s[i].flags);
        put16(e + 6, s[i].codec);
        put64(e + 8, off + at);
        put64(e + 16, payload.n - at);
        put64(e + 24, s[i].claim_raw ? s[i].claim_raw : s[i].raw.n);
        put32(e + 32, (uint32_t)crc32(0, payload.p ? payload.p + at : NULL,
                                      (uInt)(payload.n - at)));
        free(s[i].raw.p);
        s[i].raw.p = NULL;
    }
    *size = off + payload.n;
    uint8_t *f = calloc(1, *size);
    memcpy(f, "ARNETCKP", 8);
    put16(f + 8, major);
    put16(f + 10, minor);
    put32(f + 16, n);
    put64(f + 24, *size);
    memcpy(f + HDR, table, (size_t)n * ENT);
    if (payload.n)
        memcpy(f + off, payload.p, payload.n);
    fix_crcs(f, *size);
    free(table);
    free(payload.p);
    return f;
}

/* A small valid model, section by section: config, w1, b1, w2, b2, meta.
 * n_extra more sections may follow (the caller fills s[6..]). */
enum { TF = 3, TH = 2 };
static const float t_w1[TH * TF] = {0.5f, -1.0f, 0.25f, 2.0f, 0.0f, -0.75f};
static const float t_b1[TH] = {0.125f, -0.5f};
static const float t_w2[TH] = {1.5f, -2.5f};
static const float t_b2 = 0.0625f;

static void standard_sections(tsec *s)
{
    memset(s, 0, 6 * sizeof *s);
    for (int i = 0; i < 6; i++) {
        s[i].codec = 1;
        s[i].flags = i < 5;
        s[i].type = i == 0 ? 1 : i < 5 ? 2 : 3;
    }
    raw_config(&s[0].raw, TF, TH, 0.5f, 99);
    uint64_t d_w1[2] = {TH, TF}, d_h[1] = {TH}, d_1[1] = {1};
    raw_tensor(&s[1].raw, "w1", 2, d_w1, t_w1);
    raw_tensor(&s[2].raw, "b1", 1, d_h, t_b1);
    raw_tensor(&s[3].raw, "w2", 1, d_h, t_w2);
    raw_tensor(&s[4].raw, "b2", 1, d_1, &t_b2);
    const char *kv[] = {"dataset", "shanghaitech"};
    raw_kv(&s[5].raw, kv, 1);
}

/* Load bytes; return the status, leaving the message in arnet_last_error. */
static int try_load(const uint8_t *f, size_t size)
{
    arnet_model *m = NULL;
    int rc = arnet_model_load_buffer(f, size, &m);
    if (rc == ARNET_OK) {
        ck_assert_ptr_nonnull(m);
        arnet_model_free(m);
    } else {
        ck_assert_ptr_null(m);
    }
    return rc;
}

static void assert_format_error(int rc, const char *expect)
{
    ck_assert_msg(rc == ARNET_E_FORMAT, "status %d (%s), wanted a format error about '%s'", rc,
                  arnet_last_error(), expect);
    ck_assert_msg(strstr(arnet_last_error(), expect) != NULL, "message '%s' lacks '%s'",
                  arnet_last_error(), expect);
}

START_TEST(hand_built_file_loads_and_scores)
{
    tsec s[6];
    standard_sections(s);
    size_t size;
    uint8_t *f = build_file(s, 6, 1, 0, &size);
    arnet_model *m = NULL;
    ck_assert_msg(arnet_model_load_buffer(f, size, &m) == ARNET_OK, "%s", arnet_last_error());
    ck_assert_uint_eq(m->feature_dim, TF);
    ck_assert_uint_eq(m->hidden_dim, TH);
    ck_assert(m->cfg.dropout == 0.5f);
    ck_assert_uint_eq(m->cfg.seed, 99);
    ck_assert_str_eq(arnet_model_get_meta(m, "dataset"), "shanghaitech");
    /* Score against a double-precision forward pass of the same numbers. */
    const float x[TF] = {1.0f, 2.0f, -3.0f};
    double z = t_b2;
    for (int h = 0; h < TH; h++) {
        double a = t_b1[h];
        for (int i = 0; i < TF; i++)
            a += (double)t_w1[h * TF + i] * x[i];
        z += (a > 0 ? a : 0) * t_w2[h];
    }
    float got;
    ck_assert_int_eq(arnet_model_score(m, x, 1, &got), ARNET_OK);
    ck_assert_double_eq_tol(got, 1.0 / (1.0 + exp(-z)), 1e-6);
    arnet_model_free(m);
    free(f);
}
END_TEST

START_TEST(saved_bytes_follow_the_document)
{
    arnet_model *m = make_model(5, 3, 4);
    ck_assert_int_eq(arnet_model_set_meta(m, "dataset", "ucf"), ARNET_OK);
    size_t size;
    uint8_t *f = save_to_memory(m, ARNET_STORAGE_F32, &size);
    ck_assert_mem_eq(f, "ARNETCKP", 8);
    ck_assert_uint_eq(f[8], 1);
    ck_assert_uint_eq(f[9], 0);
    ck_assert_uint_eq(f[10], 0);
    ck_assert_uint_eq(f[11], 0);
    ck_assert_uint_eq(le64(f + 24), size);
    ck_assert_uint_eq(le32(f + 36), (uint32_t)crc32(0, f, 36));
    uint32_t n = le32(f + 16);
    ck_assert_uint_eq(n, 6);
    ck_assert_uint_eq(le32(f + 20), (uint32_t)crc32(0, f + HDR, n * ENT));
    static const uint32_t types[6] = {1, 2, 2, 2, 2, 3};
    uint64_t prev = HDR + n * ENT;
    for (uint32_t i = 0; i < n; i++) {
        const uint8_t *e = f + HDR + i * ENT;
        ck_assert_uint_eq(le32(e), types[i]);
        ck_assert_uint_eq(e[4] & 1, types[i] <= 2);
        ck_assert_uint_eq(e[6], 1); /* zlib */
        uint64_t off = le64(e + 8), stored = le64(e + 16), raw = le64(e + 24);
        ck_assert_uint_eq(off, prev);
        prev = off + stored;
        ck_assert_uint_eq(le32(e + 32), (uint32_t)crc32(0, f + off, (uInt)stored));
        uLongf rlen = raw;
        uint8_t *r = malloc(raw + 1);
        ck_assert_int_eq(uncompress(r, &rlen, f + off, stored), Z_OK);
        ck_assert_uint_eq(rlen, raw);
        if (i == 0) {
            ck_assert_uint_eq(raw, 24);
            ck_assert_uint_eq(le32(r), 5);
            ck_assert_uint_eq(le32(r + 4), 3);
            uint32_t bits;
            memcpy(&bits, &m->cfg.dropout, 4);
            ck_assert_uint_eq(le32(r + 8), bits);
            ck_assert_uint_eq(le64(r + 16), 4);
        } else if (i == 1) {
            /* "w1", f32, 2 dims [3, 5], then 15 little-endian floats. */
            ck_assert_uint_eq(r[0] | r[1] << 8, 2);
            ck_assert_mem_eq(r + 2, "w1", 2);
            ck_assert_uint_eq(r[4], 0);
            ck_assert_uint_eq(r[5], 2);
            ck_assert_uint_eq(le64(r + 6), 3);
            ck_assert_uint_eq(le64(r + 14), 5);
            ck_assert_uint_eq(raw, 22 + 15 * 4);
            for (int k = 0; k < 15; k++) {
                uint32_t bits;
                memcpy(&bits, &m->w1[k], 4);
                ck_assert_uint_eq(le32(r + 22 + 4 * k), bits);
            }
        } else if (i == 5) {
            ck_assert_uint_eq(le32(r), 2); /* dataset + library_version */
        }
        free(r);
    }
    ck_assert_uint_eq(prev, size);
    arnet_free(f);
    arnet_model_free(m);
}
END_TEST

START_TEST(wrong_magic_is_named)
{
    arnet_model *m = make_model(4, 3, 1);
    size_t size;
    uint8_t *f = save_to_memory(m, ARNET_STORAGE_F32, &size);
    memcpy(f, "GGUF", 4);
    assert_format_error(try_load(f, size), "not an arnet checkpoint");
    /* A NumPy file is not a checkpoint either, nor is an empty one. */
    static const uint8_t npy[16] = {0x93, 'N', 'U', 'M', 'P', 'Y', 1,   0,
                                    'v',  0,   '{', '\'', 'd', 'e', 's', 'c'};
    assert_format_error(try_load(npy, sizeof npy), "not an arnet checkpoint");
    assert_format_error(try_load(f, 0), "truncated");
    arnet_free(f);
    arnet_model_free(m);
}
END_TEST

START_TEST(future_major_version_names_it)
{
    tsec s[6];
    standard_sections(s);
    size_t size;
    uint8_t *f = build_file(s, 6, 2, 3, &size);
    assert_format_error(try_load(f, size), "format version 2.3");
    ck_assert(strstr(arnet_last_error(), "newer libarnet") != NULL);
    /* The version check comes before the checksum, whose place may move. */
    put32(f + 36, 0);
    assert_format_error(try_load(f, size), "format version 2.3");
    free(f);
}
END_TEST

START_TEST(future_minor_with_unknown_sections_loads)
{
    tsec s[8];
    standard_sections(s);
    /* A longer config (fields of a later minor version) and two sections
     * this reader has never heard of, one with an unknown codec. */
    tb_u64(&s[0].raw, 0xdeadbeefULL);
    memset(&s[6], 0, 2 * sizeof *s);
    s[6].type = 99;
    s[6].codec = 1;
    tb_add(&s[6].raw, "future stuff", 12);
    s[7].type = 0x10000;
    s[7].codec = 0;
    tb_add(&s[7].raw, "raw", 3);
    size_t size;
    uint8_t *f = build_file(s, 8, 1, 7, &size);
    put16(f + HDR + 7 * ENT + 6, 42); /* codec 42 */
    fix_crcs(f, size);
    arnet_model *m = NULL;
    ck_assert_msg(arnet_model_load_buffer(f, size, &m) == ARNET_OK, "%s", arnet_last_error());
    ck_assert_uint_eq(m->feature_dim, TF);
    assert_same_bits(m->w1, t_w1, TH * TF, "w1");
    arnet_model_free(m);
    /* Marked required, an unknown section stops the reader. */
    put16(f + HDR + 6 * ENT + 4, 1);
    fix_crcs(f, size);
    assert_format_error(try_load(f, size), "type 99");
    ck_assert(strstr(arnet_last_error(), "required") != NULL);
    ck_assert(strstr(arnet_last_error(), "1.7") != NULL);
    free(f);
}
END_TEST

#if defined(__SANITIZE_ADDRESS__)
#define ARNET_UNDER_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) /* clang's way of saying it */
#define ARNET_UNDER_ASAN 1
#endif
#endif

/* Allocating what the header claims would fail under this address-space
 * limit, giving ARNET_E_NOMEM instead of the ARNET_E_FORMAT expected. */
static void limit_address_space(void)
{
#ifndef ARNET_UNDER_ASAN
    struct rlimit rl = {(rlim_t)3 << 30, (rlim_t)3 << 30};
    ck_assert_int_eq(setrlimit(RLIMIT_AS, &rl), 0);
#endif
}

START_TEST(huge_claims_are_refused_before_allocation)
{
    limit_address_space();
    size_t size;
    uint8_t *f;
    tsec s[6];

    /* 65536 x 65536 in the config and in w1's descriptor: 16 GiB. */
    standard_sections(s);
    free(s[0].raw.p);
    s[0].raw = (tbuf){0};
    raw_config(&s[0].raw, 65536, 65536, 0.5f, 1);
    uint64_t big[2] = {65536, 65536};
    free(s[1].raw.p);
    s[1].raw = (tbuf){0};
    raw_tensor(&s[1].raw, "w1", 2, big, NULL);
    s[1].claim_raw = 22 + (uint64_t)65536 * 65536 * 4;
    f = build_file(s, 6, 1, 0, &size);
    assert_format_error(try_load(f, size), "more than zlib can expand");
    free(f);

    /* The same claim stored uncompressed: sizes that cannot match. */
    standard_sections(s);
    s[1].codec = 0;
    s[1].claim_raw = (uint64_t)1 << 40;
    f = build_file(s, 6, 1, 0, &size);
    assert_format_error(try_load(f, size), "sizes differ");
    free(f);

    /* A raw size zlib could reach but the data does not: found by decoding
     * before the model is allocated. */
    standard_sections(s);
    s[1].claim_raw = s[1].raw.n + 100;
    f = build_file(s, 6, 1, 0, &size);
    assert_format_error(try_load(f, size), "do not fill");
    free(f);

    /* Dimensions beyond the model's limit. */
    standard_sections(s);
    free(s[0].raw.p);
    s[0].raw = (tbuf){0};
    raw_config(&s[0].raw, 1u << 20, 2, 0.5f, 1);
    f = build_file(s, 6, 1, 0, &size);
    assert_format_error(try_load(f, size), "feature_dim 1048576");
    free(f);

    /* Section counts, offsets and sizes past the end of the file. */
    standard_sections(s);
    f = build_file(s, 6, 1, 0, &size);
    put32(f + 16, 0xffffffffu);
    fix_crcs(f, size);
    assert_format_error(try_load(f, size), "section count");
    put32(f + 16, 60000);
    fix_crcs(f, size);
    assert_format_error(try_load(f, size), "runs past the end");
    put32(f + 16, 6);
    put64(f + HDR + 2 * ENT + 8, (uint64_t)-16);
    fix_crcs(f, size);
    assert_format_error(try_load(f, size), "outside");
    put64(f + HDR + 2 * ENT + 8, le64(f + HDR + 1 * ENT + 8));
    fix_crcs(f, size);
    assert_format_error(try_load(f, size), "outside"); /* overlaps w1 */
    free(f);
    standard_sections(s);
    f = build_file(s, 6, 1, 0, &size);
    put64(f + HDR + 5 * ENT + 16, (uint64_t)1 << 62);
    fix_crcs(f, size);
    assert_format_error(try_load(f, size), "outside");
    free(f);

    /* A metadata section claiming four billion pairs. */
    standard_sections(s);
    s[5].raw.p[0] = s[5].raw.p[1] = s[5].raw.p[2] = s[5].raw.p[3] = 0xff;
    f = build_file(s, 6, 1, 0, &size);
    assert_format_error(try_load(f, size), "pair count");
    free(f);
}
END_TEST

START_TEST(malformed_content_is_named)
{
    size_t size;
    uint8_t *f;
    tsec s[7];

    /* w1 with the wrong shape. */
    standard_sections(s);
    free(s[1].raw.p);
    s[1].raw = (tbuf){0};
    uint64_t d[2] = {TF, TH};
    raw_tensor(&s[1].raw, "w1", 2, d, t_w1);
    f = build_file(s, 6, 1, 0, &size);
    assert_format_error(try_load(f, size), "tensor w1 has shape [3, 2], the config implies [2, 3]");
    free(f);

    /* A missing tensor. */
    standard_sections(s);
    s[3].type = 77; /* w2 hidden in an optional unknown section */
    s[3].flags = 0;
    f = build_file(s, 6, 1, 0, &size);
    assert_format_error(try_load(f, size), "no tensor w2");
    free(f);

    /* A tensor twice, an unknown model tensor, no config, two configs. */
    standard_sections(s);
    free(s[3].raw.p);
    s[3].raw = (tbuf){0};
    uint64_t dh[1] = {TH};
    raw_tensor(&s[3].raw, "b1", 1, dh, t_b1);
    f = build_file(s, 6, 1, 0, &size);
    assert_format_error(try_load(f, size), "appears twice");
    free(f);
    standard_sections(s);
    s[3].raw.p[2] = 'q';
    f = build_file(s, 6, 1, 0, &size);
    assert_format_error(try_load(f, size), "unknown model tensor q2");
    free(f);
    standard_sections(s);
    s[0].type = 3;
    s[0].raw.n = 0;
    tb_u32(&s[0].raw, 0);
    f = build_file(s, 6, 1, 0, &size);
    assert_format_error(try_load(f, size), "no config section");
    free(f);
    standard_sections(s);
    s[5].type = 1;
    s[5].raw.n = 0;
    raw_config(&s[5].raw, TF, TH, 0.5f, 1);
    f = build_file(s, 6, 1, 0, &size);
    assert_format_error(try_load(f, size), "two config sections");
    free(f);

    /* Storage type, ndim and name length out of range. */
    standard_sections(s);
    s[2].raw.p[4] = 2;
    f = build_file(s, 6, 1, 0, &size);
    assert_format_error(try_load(f, size), "unknown storage type 2");
    free(f);
    standard_sections(s);
    s[2].raw.p[5] = 5;
    f = build_file(s, 6, 1, 0, &size);
    assert_format_error(try_load(f, size), "dimensions");
    free(f);
    standard_sections(s);
    s[2].raw.p[0] = 0xff;
    s[2].raw.p[1] = 0xff;
    f = build_file(s, 6, 1, 0, &size);
    assert_format_error(try_load(f, size), "name length");
    free(f);

    /* Bad dropout, a zlib stream longer than its raw size, bytes after the
     * compressed stream, a duplicate or invalid metadata key. */
    standard_sections(s);
    s[0].raw.p[8] = s[0].raw.p[9] = s[0].raw.p[10] = 0;
    s[0].raw.p[11] = 0x40; /* 2.0 */
    f = build_file(s, 6, 1, 0, &size);
    assert_format_error(try_load(f, size), "dropout 2");
    free(f);
    standard_sections(s);
    tb_u32(&s[4].raw, 0); /* b2 followed by 4 stray bytes, raw size says less */
    s[4].claim_raw = s[4].raw.n - 4;
    f = build_file(s, 6, 1, 0, &size);
    assert_format_error(try_load(f, size), "more bytes than its raw size");
    free(f);
    standard_sections(s);
    const char *dup[] = {"k", "1", "k", "2"};
    s[5].raw.n = 0;
    raw_kv(&s[5].raw, dup, 2);
    f = build_file(s, 6, 1, 0, &size);
    assert_format_error(try_load(f, size), "appears twice");
    free(f);
    standard_sections(s);
    const char *spacey[] = {"a key", "1"};
    s[5].raw.n = 0;
    raw_kv(&s[5].raw, spacey, 1);
    f = build_file(s, 6, 1, 0, &size);
    assert_format_error(try_load(f, size), "key");
    free(f);

    /* Trailing bytes after the file. */
    standard_sections(s);
    f = build_file(s, 6, 1, 0, &size);
    f = realloc(f, size + 3);
    memset(f + size, 0, 3);
    assert_format_error(try_load(f, size + 3), "trailing data");
    free(f);
}
END_TEST

START_TEST(trainer_tensor_claims_are_checked)
{
    limit_address_space();
    tsec s[7];
    standard_sections(s);
    memset(&s[6], 0, sizeof s[6]);
    s[6].type = 4;
    s[6].codec = 1;
    uint64_t d[3] = {1u << 30, 1u << 30, 1u << 30};
    raw_tensor(&s[6].raw, "adam.v", 3, d, NULL);
    size_t size;
    uint8_t *f = build_file(s, 7, 1, 0, &size);
    char path[128];
    setup_dir();
    path_in(path, sizeof path, "bad.arnet");
    FILE *fp = fopen(path, "wb");
    ck_assert_uint_eq(fwrite(f, 1, size, fp), size);
    fclose(fp);
    /* The model alone loads: trainer sections are not even decoded. */
    arnet_model *m = NULL;
    ck_assert_int_eq(arnet_model_load(path, &m), ARNET_OK);
    arnet_model_free(m);
    m = NULL;
    arnet__loaded_extra *e = NULL;
    assert_format_error(arnet__checkpoint_load(path, &m, &e), "shape overflows");
    ck_assert_ptr_null(m);
    ck_assert_ptr_null(e);
    free(f);
    teardown_dir();
}
END_TEST

/* ---- half precision ---------------------------------------------------- */

static float fbits(uint32_t x)
{
    float f;
    memcpy(&f, &x, 4);
    return f;
}

START_TEST(f16_known_values)
{
    static const struct {
        float f;
        uint16_t h;
    } known[] = {
        {0.0f, 0x0000},
        {-0.0f, 0x8000},
        {1.0f, 0x3c00},
        {-2.0f, 0xc000},
        {0.333251953125f, 0x3555},
        {65504.0f, 0x7bff},            /* largest finite */
        {65519.99f, 0x7bff},           /* below the halfway point */
        {65520.0f, 0x7c00},            /* halfway to 65536: ties to even = infinity */
        {1e10f, 0x7c00},
        {-1e10f, 0xfc00},
        {INFINITY, 0x7c00},
        {-INFINITY, 0xfc00},
        {6.103515625e-05f, 0x0400},    /* 2^-14, smallest normal */
        {5.9604644775390625e-08f, 0x0001}, /* 2^-24, smallest subnormal */
        {2.98023223876953125e-08f, 0x0000}, /* 2^-25: tie between 0 and 2^-24 -> 0 */
        {2.9802326e-08f, 0x0001},      /* just above the tie */
        {8.940696716308594e-08f, 0x0002}, /* 3 * 2^-25: tie between 1 and 2 -> 2 */
        {6.100535392761230e-05f, 0x0400}, /* 1023.5 * 2^-24: tie, carries to normal */
        {1.00048828125f, 0x3c00},      /* 1 + 2^-11: tie -> even (1.0) */
        {1.00146484375f, 0x3c02},      /* 1 + 3 * 2^-11: tie -> even (1 + 2^-9) */
        {1.0009765625f, 0x3c01},       /* 1 + 2^-10 exactly */
        {1e-10f, 0x0000},
        {-1e-10f, 0x8000},
    };
    for (size_t i = 0; i < sizeof known / sizeof known[0]; i++)
        ck_assert_msg(arnet__f32_to_f16(known[i].f) == known[i].h, "%.10g -> %04x, want %04x",
                      (double)known[i].f, arnet__f32_to_f16(known[i].f), known[i].h);
    uint16_t nan = arnet__f32_to_f16(NAN);
    ck_assert((nan & 0x7c00) == 0x7c00 && (nan & 0x3ff) != 0);
    /* A signalling NaN whose payload lives in the low bits stays a NaN. */
    nan = arnet__f32_to_f16(fbits(0x7f800001u));
    ck_assert((nan & 0x7c00) == 0x7c00 && (nan & 0x3ff) != 0);
    ck_assert(isnan(arnet__f16_to_f32(0x7e00)));
    ck_assert(arnet__f16_to_f32(0x7c00) == INFINITY);
    ck_assert(arnet__f16_to_f32(0x0001) == ldexpf(1.0f, -24));
    ck_assert(arnet__f16_to_f32(0x03ff) == 1023.0f * ldexpf(1.0f, -24));
    ck_assert(arnet__f16_to_f32(0x3555) == 0.333251953125f);
}
END_TEST

/* Every half converts to a float and back to itself, and each float value
 * equals the binary16 formula evaluated in double precision. */
START_TEST(f16_every_half_round_trips)
{
    for (uint32_t h = 0; h < 65536; h++) {
        float f = arnet__f16_to_f32((uint16_t)h);
        uint32_t e = (h >> 10) & 31, m = h & 1023;
        double want = e == 0 ? ldexp(m, -24) : e == 31 ? (m ? NAN : INFINITY)
                                                       : ldexp(1024 + m, (int)e - 25);
        if (h & 0x8000)
            want = -want;
        if (e == 31 && m) {
            if (!isnan(f) || arnet__f32_to_f16(f) >> 10 != (h >> 10))
                ck_abort_msg("NaN %04x -> %g", h, (double)f);
            continue;
        }
        if ((double)f != want)
            ck_abort_msg("%04x -> %g, want %g", h, (double)f, want);
        if (arnet__f32_to_f16(f) != h)
            ck_abort_msg("%04x does not round trip", h);
    }
}
END_TEST

/* Nearest half by brute force over the neighbours, ties to the even code. */
static uint16_t reference_f16(float f)
{
    if (isnan(f))
        return 0x7e00;
    uint16_t sign = signbit(f) ? 0x8000 : 0;
    double a = fabs((double)f);
    if (a >= 65520.0)
        return sign | 0x7c00;
    uint16_t best = 0;
    double best_d = INFINITY;
    /* Halves are ordered like their codes: a binary search then a look around. */
    uint32_t lo = 0, hi = 0x7bff;
    while (lo < hi) {
        uint32_t mid = (lo + hi + 1) / 2;
        if ((double)arnet__f16_to_f32((uint16_t)mid) <= a)
            lo = mid;
        else
            hi = mid - 1;
    }
    for (uint32_t c = lo > 0 ? lo - 1 : 0; c <= lo + 1 && c <= 0x7bff; c++) {
        double d = fabs((double)arnet__f16_to_f32((uint16_t)c) - a);
        if (d < best_d || (d == best_d && !(c & 1))) {
            best_d = d;
            best = (uint16_t)c;
        }
    }
    return sign | best;
}

START_TEST(f16_rounding_matches_brute_force)
{
    arnet__rng r;
    arnet__rng_seed(&r, 42);
    for (int i = 0; i < 200000; i++) {
        /* Random bit patterns over the whole range, then values near halves. */
        uint32_t bits = (uint32_t)arnet__rng_next(&r);
        float f = fbits(bits);
        if (i % 2) {
            float base = arnet__f16_to_f32((uint16_t)(arnet__rng_next(&r) & 0x7bff));
            f = nextafterf(base, (i % 4 == 1) ? INFINITY : 0.0f);
            if (i % 8 == 3) /* exact midpoints */
                f = (float)(((double)base +
                             (double)arnet__f16_to_f32((uint16_t)(arnet__f32_to_f16(base) + 1))) /
                            2);
        }
        if (isnan(f))
            continue;
        if (arnet__f32_to_f16(f) != reference_f16(f))
            ck_abort_msg("%.9g (%08x): %04x, want %04x", (double)f, bits, arnet__f32_to_f16(f),
                         reference_f16(f));
    }
#ifdef __FLT16_MAX__
    /* And against the compiler's own conversion where it has one. */
    for (int i = 0; i < 200000; i++) {
        float f = fbits((uint32_t)arnet__rng_next(&r));
        if (isnan(f))
            continue;
        _Float16 h = (_Float16)f;
        uint16_t hb;
        memcpy(&hb, &h, 2);
        if (arnet__f32_to_f16(f) != hb)
            ck_abort_msg("%.9g: %04x, compiler %04x", (double)f, arnet__f32_to_f16(f), hb);
    }
#endif
}
END_TEST

START_TEST(f16_scores_within_1e3_at_half_the_size)
{
    /* The paper's size: 2048 features, 2048 hidden units. */
    uint32_t F = 2048, H = 2048;
    size_t n = 64;
    arnet_model *m = make_model(F, H, 11);
    size_t s32, s16;
    void *b32 = save_to_memory(m, ARNET_STORAGE_F32, &s32);
    void *b16 = save_to_memory(m, ARNET_STORAGE_F16, &s16);
    double ratio = (double)s16 / (double)s32;
    ck_assert_msg(ratio > 0.45 && ratio < 0.55, "f16 file is %.3f of the f32 one", ratio);
    arnet_model *r = NULL;
    ck_assert_int_eq(arnet_model_load_buffer(b16, s16, &r), ARNET_OK);
    /* Each weight of W1 within half a unit in the last place of binary16
     * (2^-11 relative); the vectors stay exact. */
    size_t off = 0; /* Check logs each assertion: count, then assert once */
    for (size_t i = 0; i < (size_t)F * H; i++)
        off += !(fabsf(r->w1[i] - m->w1[i]) <= fabsf(m->w1[i]) * (1.0f / 2048.0f) + 3e-8f);
    ck_assert_uint_eq(off, 0);
    assert_same_bits(r->b1, m->b1, H, "b1");
    assert_same_bits(r->w2, m->w2, H, "w2");
    assert_same_bits(&r->b2, &m->b2, 1, "b2");
    /* I3D-like features: non-negative, about unit size. */
    float *x = malloc(sizeof(float) * n * F), s1[64], s2[64];
    arnet__rng g;
    arnet__rng_seed(&g, 3);
    for (size_t i = 0; i < n * F; i++)
        x[i] = (float)(2.0 * arnet__rng_uniform(&g) * arnet__rng_uniform(&g));
    ck_assert_int_eq(arnet_model_score(m, x, n, s1), ARNET_OK);
    ck_assert_int_eq(arnet_model_score(r, x, n, s2), ARNET_OK);
    double worst = 0;
    for (size_t i = 0; i < n; i++)
        worst = fmax(worst, fabs((double)s1[i] - s2[i]));
    ck_assert_msg(worst < 1e-3, "largest score change %g", worst);
    free(x);
    arnet_free(b32);
    arnet_free(b16);
    arnet_model_free(m);
    arnet_model_free(r);
}
END_TEST

START_TEST(f16_refuses_weights_it_cannot_hold)
{
    arnet_model *m = make_model(4, 3, 1);
    m->w1[4] = 65519.0f; /* rounds to 65504: allowed */
    m->w1[5] = -65520.0f; /* would round to -infinity: refused */
    arnet_save_options opt;
    arnet_save_options_init(&opt);
    opt.storage = ARNET_STORAGE_F16;
    void *buf = NULL;
    size_t size = 0;
    ck_assert_int_eq(arnet_model_save_buffer(m, &opt, &buf, &size), ARNET_E_INVALID);
    ck_assert(strstr(arnet_last_error(), "w1[5]") != NULL);
    ck_assert_ptr_null(buf);
    opt.storage = ARNET_STORAGE_F32;
    ck_assert_int_eq(arnet_model_save_buffer(m, &opt, &buf, &size), ARNET_OK);
    arnet_free(buf);
    m->w1[5] = INFINITY; /* already infinite: kept as it is */
    opt.storage = ARNET_STORAGE_F16;
    ck_assert_int_eq(arnet_model_save_buffer(m, &opt, &buf, &size), ARNET_OK);
    arnet_model *r = NULL;
    ck_assert_int_eq(arnet_model_load_buffer(buf, size, &r), ARNET_OK);
    ck_assert(r->w1[4] == 65504.0f);
    ck_assert(r->w1[5] == INFINITY);
    arnet_model_free(r);
    arnet_free(buf);
    arnet_model_free(m);
}
END_TEST

/* ---- metadata, options, file information ------------------------------- */

START_TEST(metadata_round_trips_with_library_version)
{
    arnet_model *m = make_model(4, 3, 1);
    char big[70000];
    memset(big, 'v', 65536);
    big[65536] = '\0';
    ck_assert_int_eq(arnet_model_set_meta(m, "dataset", "ShanghaiTech"), ARNET_OK);
    ck_assert_int_eq(arnet_model_set_meta(m, "train.lr", "0.0001"), ARNET_OK);
    ck_assert_int_eq(arnet_model_set_meta(m, "utf8", "caf\xc3\xa9 \xe2\x9c\x93"), ARNET_OK);
    ck_assert_int_eq(arnet_model_set_meta(m, "empty", ""), ARNET_OK);
    ck_assert_int_eq(arnet_model_set_meta(m, "long", big), ARNET_OK);
    size_t size;
    void *buf = save_to_memory(m, ARNET_STORAGE_F32, &size);
    /* Saving adds the library version to the file, not to the model. */
    ck_assert_uint_eq(arnet_model_meta_count(m), 5);
    ck_assert_ptr_null(arnet_model_get_meta(m, "library_version"));
    arnet_model *r = NULL;
    ck_assert_int_eq(arnet_model_load_buffer(buf, size, &r), ARNET_OK);
    ck_assert_uint_eq(arnet_model_meta_count(r), 6);
    const char *k, *v;
    static const char *const order[5] = {"dataset", "train.lr", "utf8", "empty", "long"};
    for (size_t i = 0; i < 5; i++) {
        ck_assert_int_eq(arnet_model_meta_at(r, i, &k, &v), ARNET_OK);
        ck_assert_str_eq(k, order[i]);
        ck_assert_str_eq(v, arnet_model_get_meta(m, order[i]));
    }
    ck_assert_str_eq(arnet_model_get_meta(r, "library_version"), arnet_version());
    arnet_free(buf);
    /* A model that says its own library version keeps it. */
    ck_assert_int_eq(arnet_model_set_meta(r, "library_version", "0.0.9-old"), ARNET_OK);
    buf = save_to_memory(r, ARNET_STORAGE_F32, &size);
    arnet_model *r2 = NULL;
    ck_assert_int_eq(arnet_model_load_buffer(buf, size, &r2), ARNET_OK);
    ck_assert_uint_eq(arnet_model_meta_count(r2), 6);
    ck_assert_str_eq(arnet_model_get_meta(r2, "library_version"), "0.0.9-old");
    arnet_free(buf);
    arnet_model_free(m);
    arnet_model_free(r);
    arnet_model_free(r2);
}
END_TEST

START_TEST(bad_arguments_and_options)
{
    arnet_model *m = make_model(4, 3, 1);
    void *buf = NULL;
    size_t size = 0;
    arnet_save_options opt;
    arnet_save_options_init(&opt);
    ck_assert_uint_eq(opt.struct_size, sizeof opt);
    ck_assert_int_eq(opt.storage, ARNET_STORAGE_F32);
    ck_assert_int_eq(opt.compression_level, 6);
    opt.storage = 7;
    ck_assert_int_eq(arnet_model_save_buffer(m, &opt, &buf, &size), ARNET_E_INVALID);
    ck_assert(strstr(arnet_last_error(), "storage 7") != NULL);
    arnet_save_options_init(&opt);
    opt.compression_level = 10;
    ck_assert_int_eq(arnet_model_save_buffer(m, &opt, &buf, &size), ARNET_E_INVALID);
    ck_assert(strstr(arnet_last_error(), "compression_level 10") != NULL);
    opt.compression_level = 0; /* stored blocks: still a valid file */
    ck_assert_int_eq(arnet_model_save_buffer(m, &opt, &buf, &size), ARNET_OK);
    arnet_model *r = NULL;
    ck_assert_int_eq(arnet_model_load_buffer(buf, size, &r), ARNET_OK);
    assert_models_identical(m, r);
    arnet_model_free(r);
    arnet_free(buf);
    opt.struct_size = 0;
    ck_assert_int_eq(arnet_model_save_buffer(m, &opt, &buf, &size), ARNET_E_INVALID);
    ck_assert(strstr(arnet_last_error(), "arnet_save_options_init") != NULL);
    ck_assert_int_eq(arnet_model_save_buffer(NULL, NULL, &buf, &size), ARNET_E_INVALID);
    ck_assert_int_eq(arnet_model_save_buffer(m, NULL, NULL, &size), ARNET_E_INVALID);
    ck_assert_int_eq(arnet_model_save(m, NULL), ARNET_E_INVALID);
    ck_assert_int_eq(arnet_model_save(NULL, "/tmp/x"), ARNET_E_INVALID);
    ck_assert_int_eq(arnet_model_load(NULL, &r), ARNET_E_INVALID);
    ck_assert_int_eq(arnet_model_load("/tmp/x", NULL), ARNET_E_INVALID);
    ck_assert_int_eq(arnet_model_load_buffer(NULL, 3, &r), ARNET_E_INVALID);
    ck_assert_int_eq(arnet_model_load("/nonexistent/dir/m.arnet", &r), ARNET_E_IO);
    ck_assert(strstr(arnet_last_error(), "/nonexistent/dir/m.arnet") != NULL);
    ck_assert_int_eq(arnet_model_load("/tmp", &r), ARNET_E_IO);
    ck_assert(strstr(arnet_last_error(), "not a regular file") != NULL);
    arnet_file_info info;
    arnet_file_info_init(&info);
    ck_assert_int_eq(arnet_file_info_read(NULL, &info), ARNET_E_INVALID);
    info.struct_size = 0;
    ck_assert_int_eq(arnet_file_info_read("/tmp/x", &info), ARNET_E_INVALID);
    /* Bad trainer extras are refused before anything is written. */
    arnet__tensor t = {"has space", 1, {2, 0, 0, 0}, m->b1};
    arnet__extra extra = {&t, 1, NULL, 0, 0};
    ck_assert_int_eq(arnet__checkpoint_save(m, NULL, &extra, "/tmp/never"), ARNET_E_INVALID);
    t.name = "ok";
    t.ndim = 5;
    ck_assert_int_eq(arnet__checkpoint_save(m, NULL, &extra, "/tmp/never"), ARNET_E_INVALID);
    ck_assert_int_eq(access("/tmp/never", F_OK), -1);
    ck_assert_int_eq(arnet_checkpoint_format_version(), 100);
    arnet_model_free(m);
}
END_TEST

START_TEST(file_info_fields)
{
    setup_dir();
    arnet_model *m = make_model(12, 7, 1);
    char path[128];
    path_in(path, sizeof path, "i.arnet");
    arnet_save_options opt;
    arnet_save_options_init(&opt);
    opt.storage = ARNET_STORAGE_F16;
    ck_assert_int_eq(arnet_model_save_ex(m, path, &opt), ARNET_OK);
    arnet_file_info info;
    memset(&info, 0x5a, sizeof info);
    arnet_file_info_init(&info);
    ck_assert_int_eq(arnet_file_info_read(path, &info), ARNET_OK);
    struct stat sb;
    ck_assert_int_eq(stat(path, &sb), 0);
    ck_assert_uint_eq(info.struct_size, sizeof info);
    ck_assert_uint_eq(info.format_major, 1);
    ck_assert_uint_eq(info.format_minor, 0);
    ck_assert_uint_eq(info.feature_dim, 12);
    ck_assert_uint_eq(info.hidden_dim, 7);
    ck_assert(info.dropout == 0.25f);
    ck_assert_int_eq(info.storage, ARNET_STORAGE_F16);
    ck_assert_uint_eq(info.file_size, (uint64_t)sb.st_size);
    ck_assert_uint_eq(info.n_tensors, 4);
    ck_assert_uint_eq(info.n_sections, 6);
    ck_assert_int_eq(info.has_trainer, 0);

    float mom[7] = {0};
    arnet__tensor t[2] = {{"m.b1", 1, {7, 0, 0, 0}, mom}, {"v.b1", 1, {7, 0, 0, 0}, mom}};
    const char *kv[] = {"step", "5"};
    arnet__extra extra = {t, 2, kv, 1, 0};
    ck_assert_int_eq(arnet__checkpoint_save(m, NULL, &extra, path), ARNET_OK);
    arnet_file_info_init(&info);
    ck_assert_int_eq(arnet_file_info_read(path, &info), ARNET_OK);
    ck_assert_int_eq(info.storage, ARNET_STORAGE_F32);
    ck_assert_uint_eq(info.n_tensors, 6);
    ck_assert_uint_eq(info.n_sections, 9);
    ck_assert_int_eq(info.has_trainer, 1);

    /* A caller's struct at the first release's size gets the fields it
     * has and nothing past them; shorter than that it is refused. */
    struct {
        arnet_file_info head;
        char guard[16];
    } small;
    memset(&small, 0x77, sizeof small);
    small.head.struct_size = ARNET__MIN_arnet_file_info;
    ck_assert_int_eq(arnet_file_info_read(path, &small.head), ARNET_OK);
    ck_assert_uint_eq(small.head.feature_dim, 12);
    ck_assert_int_eq(small.head.has_trainer, 1);
    ck_assert_uint_eq(small.head.struct_size, ARNET__MIN_arnet_file_info);
    for (size_t i = ARNET__MIN_arnet_file_info; i < sizeof small; i++)
        ck_assert_int_eq(((unsigned char *)&small)[i], 0x77);
    small.head.struct_size = offsetof(arnet_file_info, hidden_dim);
    ck_assert_int_eq(arnet_file_info_read(path, &small.head), ARNET_E_INVALID);
    ck_assert(strstr(arnet_last_error(), "arnet_file_info.struct_size") != NULL);

    /* Corruption is reported the same way as by the loader. */
    FILE *f = fopen(path, "r+b");
    fseek(f, 100, SEEK_SET);
    fputc(0x42 ^ 0xff, f);
    fclose(f);
    arnet_file_info_init(&info);
    ck_assert_int_eq(arnet_file_info_read(path, &info), ARNET_E_FORMAT);
    ck_assert(strstr(arnet_last_error(), path) != NULL);
    arnet_model_free(m);
    teardown_dir();
}
END_TEST

typedef struct seen {
    int n, tensors, meta, trainer_meta, unknown, stop_after;
    char names[32][64];
    arnet_file_entry e[32];
} seen;

static int record(void *user, const arnet_file_entry *e)
{
    seen *s = user;
    if (s->n < 32) {
        s->e[s->n] = *e;
        snprintf(s->names[s->n], sizeof s->names[0], "%s=%s", e->name ? e->name : "-",
                 e->value ? e->value : "-");
    }
    s->n++;
    s->tensors += e->kind == ARNET_ENTRY_TENSOR;
    s->meta += e->kind == ARNET_ENTRY_META && !e->trainer;
    s->trainer_meta += e->kind == ARNET_ENTRY_META && e->trainer;
    s->unknown += e->kind == ARNET_ENTRY_UNKNOWN;
    return s->stop_after && s->n >= s->stop_after;
}

START_TEST(file_list_reports_everything_in_order)
{
    setup_dir();
    arnet_model *m = make_model(6, 5, 3);
    ck_assert_int_eq(arnet_model_set_meta(m, "dataset", "ucf"), ARNET_OK);
    float mom[30] = {0};
    arnet__tensor t[1] = {{"adam.m.w1", 2, {5, 6, 0, 0}, mom}};
    const char *kv[] = {"trainer.step", "7"};
    arnet__extra extra = {t, 1, kv, 1, 0};
    arnet_save_options opt;
    arnet_save_options_init(&opt);
    opt.storage = ARNET_STORAGE_F16;
    char path[128];
    path_in(path, sizeof path, "l.arnet");
    ck_assert_int_eq(arnet__checkpoint_save(m, &opt, &extra, path), ARNET_OK);
    seen s;
    memset(&s, 0, sizeof s);
    ck_assert_int_eq(arnet_file_list(path, record, &s), ARNET_OK);
    ck_assert_int_eq(s.n, 8);
    ck_assert_int_eq(s.tensors, 5);
    ck_assert_int_eq(s.meta, 2);
    ck_assert_int_eq(s.trainer_meta, 1);
    static const char *const want[8] = {"w1=-", "b1=-", "w2=-", "b2=-", "dataset=ucf",
                                        "library_version=" ARNET_VERSION, "adam.m.w1=-",
                                        "trainer.step=7"};
    for (int i = 0; i < 8; i++)
        ck_assert_str_eq(s.names[i], want[i]);
    ck_assert_int_eq(s.e[0].storage, ARNET_STORAGE_F16);
    ck_assert_int_eq(s.e[1].storage, ARNET_STORAGE_F32);
    ck_assert_uint_eq(s.e[0].ndim, 2);
    ck_assert_uint_eq(s.e[0].dims[0], 5);
    ck_assert_uint_eq(s.e[0].dims[1], 6);
    ck_assert_uint_eq(s.e[0].dims[2], 0);
    ck_assert(s.e[0].stored_bytes > 0);
    ck_assert_int_eq(s.e[0].trainer, 0);
    ck_assert_int_eq(s.e[6].trainer, 1);
    ck_assert_int_eq(s.e[6].storage, ARNET_STORAGE_F32); /* trainer tensors stay f32 */
    ck_assert_uint_eq(s.e[0].struct_size, sizeof(arnet_file_entry));

    /* The callback can stop the listing. */
    memset(&s, 0, sizeof s);
    s.stop_after = 2;
    ck_assert_int_eq(arnet_file_list(path, record, &s), ARNET_E_CANCELLED);
    ck_assert_int_eq(s.n, 2);
    ck_assert_int_eq(arnet_file_list(path, NULL, &s), ARNET_E_INVALID);
    arnet_model_free(m);
    teardown_dir();

    /* A section from a newer minor version is listed as unknown. */
    tsec sec[7];
    standard_sections(sec);
    memset(&sec[6], 0, sizeof sec[6]);
    sec[6].type = 99;
    sec[6].codec = 1;
    tb_add(&sec[6].raw, "later", 5);
    size_t size;
    uint8_t *f = build_file(sec, 7, 1, 1, &size);
    setup_dir();
    path_in(path, sizeof path, "u.arnet");
    FILE *fp = fopen(path, "wb");
    ck_assert_uint_eq(fwrite(f, 1, size, fp), size);
    fclose(fp);
    memset(&s, 0, sizeof s);
    ck_assert_int_eq(arnet_file_list(path, record, &s), ARNET_OK);
    ck_assert_int_eq(s.unknown, 1);
    ck_assert_uint_eq(s.e[s.n - 1].section_type, 99);
    ck_assert_ptr_null(s.e[s.n - 1].name);
    free(f);
    teardown_dir();
}
END_TEST

/* ---- atomic saves ------------------------------------------------------ */

static size_t count_entries(const char *dir)
{
    DIR *d = opendir(dir);
    ck_assert_ptr_nonnull(d);
    size_t n = 0;
    struct dirent *e;
    while ((e = readdir(d)))
        n += strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0;
    closedir(d);
    return n;
}

START_TEST(saving_into_a_missing_folder_names_the_path)
{
    setup_dir();
    arnet_model *m = make_model(4, 3, 1);
    char path[128];
    path_in(path, sizeof path, "no/such/dir/m.arnet");
    ck_assert_int_eq(arnet_model_save(m, path), ARNET_E_IO);
    ck_assert_msg(strstr(arnet_last_error(), path) != NULL, "%s", arnet_last_error());
    ck_assert_uint_eq(count_entries(tmpdir), 0);
    arnet_model_free(m);
    teardown_dir();
}
END_TEST

START_TEST(a_failed_save_leaves_the_old_file)
{
    setup_dir();
    char path[128];
    path_in(path, sizeof path, "m.arnet");
    arnet_model *small = make_model(4, 3, 1);
    ck_assert_int_eq(arnet_model_save(small, path), ARNET_OK);
    FILE *f = fopen(path, "rb");
    uint8_t before[4096];
    size_t n_before = fread(before, 1, sizeof before, f);
    fclose(f);
    ck_assert(n_before > 0 && n_before < sizeof before);

    /* A file size limit makes the write fail part way, like a full disk. */
    arnet_model *big = make_model(256, 256, 2);
    struct rlimit old, rl;
    ck_assert_int_eq(getrlimit(RLIMIT_FSIZE, &old), 0);
    rl = old;
    rl.rlim_cur = 20000;
    signal(SIGXFSZ, SIG_IGN);
    ck_assert_int_eq(setrlimit(RLIMIT_FSIZE, &rl), 0);
    int rc = arnet_model_save(big, path);
    ck_assert_int_eq(setrlimit(RLIMIT_FSIZE, &old), 0);
    signal(SIGXFSZ, SIG_DFL);
    ck_assert_msg(rc == ARNET_E_IO, "status %d", rc);
    ck_assert(strstr(arnet_last_error(), path) != NULL);

    uint8_t after[4096];
    f = fopen(path, "rb");
    size_t n_after = fread(after, 1, sizeof after, f);
    fclose(f);
    ck_assert_uint_eq(n_after, n_before);
    ck_assert_mem_eq(after, before, n_before);
    ck_assert_uint_eq(count_entries(tmpdir), 1); /* no temporary left */
    arnet_model *r = NULL;
    ck_assert_int_eq(arnet_model_load(path, &r), ARNET_OK);
    assert_models_identical(small, r);

    /* The same save succeeds without the limit and replaces the file. */
    ck_assert_int_eq(arnet_model_save(big, path), ARNET_OK);
    arnet_model_free(r);
    ck_assert_int_eq(arnet_model_load(path, &r), ARNET_OK);
    assert_models_identical(big, r);
    ck_assert_uint_eq(count_entries(tmpdir), 1);
    arnet_model_free(r);
    arnet_model_free(small);
    arnet_model_free(big);
    teardown_dir();
}
END_TEST

Suite *make_suite(void)
{
    Suite *s = suite_create("checkpoint");
    TCase *tc = tcase_create("round trip");
    tcase_add_test(tc, round_trip_f32_is_bit_exact);
    tcase_add_test(tc, load_from_buffer_equals_file);
    tcase_add_test(tc, hand_built_file_loads_and_scores);
    tcase_add_test(tc, saved_bytes_follow_the_document);
    suite_add_tcase(s, tc);
    tc = tcase_create("versions");
    tcase_add_test(tc, future_major_version_names_it);
    tcase_add_test(tc, future_minor_with_unknown_sections_loads);
    suite_add_tcase(s, tc);
    tc = tcase_create("corruption");
    tcase_add_test(tc, every_truncation_is_a_format_error);
    tcase_add_test(tc, every_byte_flip_is_a_format_error);
    tcase_add_test(tc, wrong_magic_is_named);
    tcase_add_test(tc, huge_claims_are_refused_before_allocation);
    tcase_add_test(tc, malformed_content_is_named);
    tcase_add_test(tc, trainer_tensor_claims_are_checked);
    suite_add_tcase(s, tc);
    tc = tcase_create("f16");
    tcase_add_test(tc, f16_known_values);
    tcase_add_test(tc, f16_every_half_round_trips);
    tcase_add_test(tc, f16_rounding_matches_brute_force);
    tcase_add_test(tc, f16_scores_within_1e3_at_half_the_size);
    tcase_add_test(tc, f16_refuses_weights_it_cannot_hold);
    suite_add_tcase(s, tc);
    tc = tcase_create("metadata and info");
    tcase_add_test(tc, metadata_round_trips_with_library_version);
    tcase_add_test(tc, bad_arguments_and_options);
    tcase_add_test(tc, file_info_fields);
    tcase_add_test(tc, file_list_reports_everything_in_order);
    suite_add_tcase(s, tc);
    tc = tcase_create("atomic save");
    tcase_add_test(tc, saving_into_a_missing_folder_names_the_path);
    tcase_add_test(tc, a_failed_save_leaves_the_old_file);
    suite_add_tcase(s, tc);
    tc = tcase_create("trainer sections");
    tcase_add_test(tc, extra_sections_round_trip_and_are_skipped);
    suite_add_tcase(s, tc);
    return s;
}
