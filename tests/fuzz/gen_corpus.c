/* gen_corpus.c -- writes the seed corpus of the fuzz targets: small valid
 * files of every kind the project writes or reads, one folder per target:
 *   gen_corpus OUT   -> OUT/checkpoint, OUT/checkpoint_fixed, OUT/npy,
 *                       OUT/manifest, OUT/import
 * The committed tests/fuzz/corpus/ came from it (plus regression inputs
 * that the fuzzers found); run it again after a format change.  Model and
 * trainer files come from the library itself (f32, f16, compression
 * level 0 and 9, with and without metadata, a trainer file after 2 steps on
 * the harnesses' data set); .npy files of the dtypes and layouts NumPy
 * writes are built here byte by byte, since the library writes f32 only. */
#include <sys/stat.h>
#include <zlib.h>

#include "fuzz_common.h"

static const char *out_dir;

static void put(const char *target, const char *name, const void *data, size_t size)
{
    char p[1024];
    snprintf(p, sizeof p, "%s/%s", out_dir, target);
    mkdir(p, 0777);
    snprintf(p, sizeof p, "%s/%s/%s", out_dir, target, name);
    fuzz_write(p, data, size);
}

static void *slurp(const char *path, size_t *size)
{
    FILE *f = fopen(path, "rb");
    FUZZ_CHECK(f != NULL, "%s", path);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    void *b = malloc((size_t)n + 1);
    FUZZ_CHECK(b && fread(b, 1, (size_t)n, f) == (size_t)n, "%s", path);
    fclose(f);
    *size = (size_t)n;
    return b;
}

static uint64_t rd(const uint8_t *p, int n)
{
    uint64_t v = 0;
    for (int i = n - 1; i >= 0; i--)
        v = v << 8 | p[i];
    return v;
}

static void wr(uint8_t *p, uint64_t v, int n)
{
    for (int i = 0; i < n; i++, v >>= 8)
        p[i] = (uint8_t)v;
}

/* A checkpoint as fuzz_checkpoint_fixed reads it: control byte, then the
 * file with every payload inflated and marked codec 0, back to back (the
 * CRCs are left stale: the harness recomputes them). */
static void put_fixed(const char *name, int ctl, const uint8_t *file, size_t size)
{
    uint32_t n = (uint32_t)rd(file + 16, 4);
    size_t cap = 1 + size * 40 + 4096;
    uint8_t *out = malloc(cap);
    FUZZ_CHECK(out != NULL, "memory");
    out[0] = (uint8_t)ctl;
    memcpy(out + 1, file, 40 + (size_t)n * 40);
    size_t pos = 1 + 40 + (size_t)n * 40;
    for (uint32_t i = 0; i < n; i++) {
        uint8_t *e = out + 1 + 40 + (size_t)i * 40;
        uint64_t off = rd(e + 8, 8), stored = rd(e + 16, 8), raw = rd(e + 24, 8);
        FUZZ_CHECK(rd(e + 6, 2) == 1 && pos + raw <= cap, "section %u", (unsigned)i);
        uLongf got = (uLongf)raw;
        FUZZ_CHECK(uncompress(out + pos, &got, file + off, (uLong)stored) == Z_OK && got == raw,
                   "inflate section %u", (unsigned)i);
        wr(e + 6, 0, 2);
        wr(e + 16, raw, 8);
        pos += raw;
    }
    put("checkpoint_fixed", name, out, pos);
    free(out);
}

/* The same file as written, for control bit 3 (the harness keeps its
 * layout and only repairs the checksums). */
static void put_layout(const char *name, const uint8_t *file, size_t size)
{
    uint8_t *out = malloc(size + 1);
    FUZZ_CHECK(out != NULL, "memory");
    out[0] = 8;
    memcpy(out + 1, file, size);
    put("checkpoint_fixed", name, out, size + 1);
    free(out);
}

static void checkpoints(void)
{
    arnet_model_config cfg;
    arnet_model_config_init(&cfg);
    cfg.feature_dim = 4;
    cfg.hidden_dim = 3;
    cfg.seed = 7;
    arnet_model *m;
    FUZZ_CHECK(arnet_model_create(&cfg, &m) == ARNET_OK, "model");
    arnet_save_options so;
    arnet_save_options_init(&so);
    struct { const char *name; int storage, level, meta; } kinds[] = {
        {"f32.arnet", ARNET_STORAGE_F32, 6, 0},
        {"f16.arnet", ARNET_STORAGE_F16, 6, 0},
        {"level0.arnet", ARNET_STORAGE_F32, 0, 0},
        {"meta-level9.arnet", ARNET_STORAGE_F32, 9, 1},
    };
    for (size_t k = 0; k < sizeof kinds / sizeof kinds[0]; k++) {
        if (kinds[k].meta)
            FUZZ_CHECK(arnet_model_set_meta(m, "dataset", "shanghaitech") == ARNET_OK &&
                           arnet_model_set_meta(m, "note", "") == ARNET_OK,
                       "meta");
        so.storage = kinds[k].storage;
        so.compression_level = kinds[k].level;
        void *buf;
        size_t n;
        FUZZ_CHECK(arnet_model_save_buffer(m, &so, &buf, &n) == ARNET_OK, "save");
        put("checkpoint", kinds[k].name, buf, n);
        char fixed[64];
        snprintf(fixed, sizeof fixed, "%s.fixed", kinds[k].name);
        put_fixed(fixed, 0, buf, n);
        snprintf(fixed, sizeof fixed, "%s.layout", kinds[k].name);
        put_layout(fixed, buf, n);
        arnet_free(buf);
    }
    arnet_model_free(m);

    /* A trainer file on the harnesses' data set (so its digest matches). */
    arnet_model_config_init(&cfg);
    cfg.feature_dim = 4;
    cfg.hidden_dim = 4;
    FUZZ_CHECK(arnet_model_create(&cfg, &m) == ARNET_OK, "model");
    arnet_dataset *ds = fuzz_dataset(4);
    arnet_train_options o;
    fuzz_train_options(&o);
    arnet_trainer *t;
    FUZZ_CHECK(ds && arnet_trainer_create(m, ds, &o, &t) == ARNET_OK, "trainer");
    FUZZ_CHECK(arnet_trainer_step(t, NULL) == ARNET_OK && arnet_trainer_step(t, NULL) == ARNET_OK,
               "steps");
    char p[1024];
    snprintf(p, sizeof p, "%s/trainer.tmp.arnet", out_dir);
    FUZZ_CHECK(arnet_trainer_save(t, p) == ARNET_OK, "trainer save");
    size_t n;
    uint8_t *file = slurp(p, &n);
    unlink(p);
    put("checkpoint", "trainer.arnet", file, n);
    put_fixed("trainer.arnet.fixed", 0, file, n);
    put_fixed("trainer.arnet.zlib", 1, file, n);
    put_layout("trainer.arnet.layout", file, n);
    free(file);
    arnet_trainer_free(t);
    arnet_dataset_free(ds);
    arnet_model_free(m);
}

/* A .npy file: NumPy's header for descr/fortran/shape, padded as NumPy
 * pads (total header a multiple of 64), then the data bytes given. */
static void npy(const char *name, int major, const char *descr, int fortran, const char *shape,
                const void *data, size_t size)
{
    char dict[256];
    int len = snprintf(dict, sizeof dict, "{'descr': '%s', 'fortran_order': %s, 'shape': %s, }",
                       descr, fortran ? "True" : "False", shape);
    size_t pre = major == 1 ? 10 : 12;
    size_t total = (pre + (size_t)len + 1 + 63) / 64 * 64;
    uint8_t *b = calloc(1, total + size);
    FUZZ_CHECK(b != NULL, "memory");
    memcpy(b, "\x93NUMPY", 6);
    b[6] = (uint8_t)major;
    b[7] = 0;
    size_t hl = total - pre;
    wr(b + 8, hl, major == 1 ? 2 : 4);
    memset(b + pre, ' ', hl);
    memcpy(b + pre, dict, (size_t)len);
    b[total - 1] = '\n';
    if (size)
        memcpy(b + total, data, size);
    put("npy", name, b, total + size);
    free(b);
}

static void npys(void)
{
    float f4[24];
    double f8[24];
    uint16_t f2[24];
    for (int i = 0; i < 24; i++) {
        f4[i] = (float)i * 0.5f - 3.0f;
        f8[i] = (double)i / 7.0;
        f2[i] = (uint16_t)(0x3c00 + i * 16); /* 1.0 and a little more */
    }
    uint8_t be[24 * 4];
    for (int i = 0; i < 24; i++) {
        uint32_t u;
        memcpy(&u, &f4[i], 4);
        for (int k = 0; k < 4; k++)
            be[i * 4 + k] = (uint8_t)(u >> (24 - 8 * k));
    }
    npy("f4-2d.npy", 1, "<f4", 0, "(6, 4)", f4, sizeof f4);
    npy("f4-3d-crops.npy", 1, "<f4", 0, "(3, 2, 4)", f4, sizeof f4);
    npy("f2-3d.npy", 1, "<f2", 0, "(2, 3, 4)", f2, sizeof f2);
    npy("f8-fortran.npy", 1, "<f8", 1, "(6, 4)", f8, sizeof f8);
    npy("f8-fortran-3d.npy", 1, "<f8", 1, "(2, 3, 4)", f8, sizeof f8);
    npy("be-f4.npy", 1, ">f4", 0, "(4, 6)", be, sizeof be);
    npy("v2-f4.npy", 2, "<f4", 0, "(6, 4)", f4, sizeof f4);
    npy("v3-f4.npy", 3, "<f4", 0, "(6, 4)", f4, sizeof f4);
    uint8_t u1[8] = {0, 1, 1, 0, 2, 0, 0, 1};
    int64_t i8[4] = {0, 1, -3, 0};
    npy("labels-u1.npy", 1, "|u1", 0, "(8,)", u1, sizeof u1);
    npy("labels-b1.npy", 1, "|b1", 0, "(8,)", u1, sizeof u1);
    npy("labels-i8.npy", 1, "<i8", 0, "(4,)", i8, sizeof i8);
    npy("labels-f4.npy", 1, "<f4", 0, "(24,)", f4, sizeof f4);
    npy("empty.npy", 1, "<f4", 0, "(0, 4)", NULL, 0);
    /* And the library's own writer. */
    char p[1024];
    snprintf(p, sizeof p, "%s/npy", out_dir);
    mkdir(p, 0777);
    snprintf(p, sizeof p, "%s/npy/written.npy", out_dir);
    size_t shape[2] = {6, 4};
    FUZZ_CHECK(arnet_npy_write(p, f4, shape, 2) == ARNET_OK, "npy write");
}

static void put_text(const char *target, const char *name, const char *text)
{
    put(target, name, text, strlen(text));
}

static void manifests(void)
{
    put_text("manifest", "plain.txt", "a.npy 0\nb.npy 1\n");
    put_text("manifest", "ranges.txt", "# test list\na.npy 0 -\nb.npy 1 3-9,20-25\nc.npy 1 0-47\n");
    put_text("manifest", "gt-files.txt", "a.npy 0 gt2.npy\nc.npy 1 gt.npy\nb.npy 1 gt2.npy\n");
    put_text("manifest", "crlf.txt", "a.npy 0\r\n\r\nc.npy 1 10-12\r\n");
    put_text("import", "rtfm.txt", "\x02\x02" "a.npy\nb.npy\nc.npy\n");
    put_text("import", "rtfm-dir.txt", "\x06\x02" "/data/x/a.npy\n/data/x/c.npy\nb.npy\n");
    put_text("import", "rtfm-train.txt", "\x04\x01" "a.npy\nb.npy\n");
    put_text("import", "ucf.txt",
             "\x01\x01" "a.mp4  Normal  -1  -1  -1  -1\n"
             "b.mp4  Robbery  3  20  -1  -1\n"
             "c.mp4  Fighting  0  5  30  60\n");
    put_text("import", "ucf-noevent.txt",
             "\x09\x01" "a.mp4 Normal -1 -1 -1 -1\nc.mp4 Arson -1 -1 -1 -1\n");
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: gen_corpus OUT_DIR\n");
        return 2;
    }
    out_dir = argv[1];
    mkdir(out_dir, 0777);
    checkpoints();
    npys();
    manifests();
    return 0;
}
