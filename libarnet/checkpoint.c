/* checkpoint.c -- checkpoint files, format 1.0 (docs/checkpoint-format.md):
 * the little-endian writer (zlib sections, CRC-32s, atomic save), the reader
 * that validates every size and offset before it allocates, and f16 storage. */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "internal.h"

#ifndef O_CLOEXEC
#define O_CLOEXEC 0
#endif
#ifndef O_DIRECTORY
#define O_DIRECTORY 0
#endif

/* ---- format constants (docs/checkpoint-format.md) ---------------------- */

#define CKP_MAGIC "ARNETCKP"
#define CKP_MAJOR 1
#define CKP_MINOR 0
#define HEADER_SIZE 40
#define ENTRY_SIZE 40
#define MAX_SECTIONS 65536u

#define SEC_CONFIG 1
#define SEC_TENSOR 2
#define SEC_META 3
#define SEC_TRAINER_TENSOR 4
#define SEC_TRAINER_KV 5

#define SECF_REQUIRED 1u

#define CODEC_NONE 0
#define CODEC_ZLIB 1
/* Deflate never expands data more than 1032 times (zlib FAQ): a larger raw
 * size in a zlib section is a lie, refused before anything is allocated. */
#define ZLIB_MAX_RATIO 1032u

#define CONFIG_MIN 24
#define CONFIG_MAX 4096
#define NAME_MAX_LEN 255
#define KEY_MAX_LEN 255
#define VALUE_MAX_LEN 65536u
#define MAX_NDIM 4
#define DIM_MAX 65536u /* as model.c: largest feature_dim and hidden_dim */

/* ---- little-endian helpers --------------------------------------------- */

static uint16_t get_u16(const uint8_t *p) { return (uint16_t)(p[0] | (p[1] << 8)); }

static uint32_t get_u32(const uint8_t *p)
{
    return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) |
           ((uint32_t)p[3] << 24);
}

static uint64_t get_u64(const uint8_t *p)
{
    return (uint64_t)get_u32(p) | ((uint64_t)get_u32(p + 4) << 32);
}

static void set_u16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
}

static void set_u32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static void set_u64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static uint32_t float_bits(float f)
{
    uint32_t x;
    memcpy(&x, &f, sizeof x);
    return x;
}

static float bits_float(uint32_t x)
{
    float f;
    memcpy(&f, &x, sizeof f);
    return f;
}

/* CRC-32 of any length (zlib's crc32 takes at most 4 GiB per call). */
static uint32_t crc_of(const uint8_t *p, size_t n)
{
    uLong c = crc32(0L, Z_NULL, 0);
    while (n > 0) {
        uInt k = n > (1u << 30) ? (1u << 30) : (uInt)n;
        c = crc32(c, p, k);
        p += k;
        n -= k;
    }
    return (uint32_t)c;
}

/* ---- binary16 ---------------------------------------------------------- */

/* float -> IEEE binary16, round to nearest, ties to even; overflow gives
 * infinity, NaN stays NaN (quiet), tiny values become subnormals or zero. */
static uint16_t f32_to_f16(float f)
{
    uint32_t x = float_bits(f);
    uint32_t sign = (x >> 16) & 0x8000u;
    uint32_t exp = (x >> 23) & 0xffu;
    uint32_t mant = x & 0x7fffffu;
    if (exp == 0xffu)
        return (uint16_t)(sign | 0x7c00u | (mant ? 0x200u | (mant >> 13) : 0));
    int e = (int)exp - 127 + 15;
    if (e >= 31)
        return (uint16_t)(sign | 0x7c00u);
    if (e <= 0) {
        if (e < -10)
            return (uint16_t)sign;
        mant |= 0x800000u;
        int shift = 14 - e;
        uint32_t h = mant >> shift;
        uint32_t rem = mant & ((1u << shift) - 1u), halfway = 1u << (shift - 1);
        if (rem > halfway || (rem == halfway && (h & 1u)))
            h++; /* a carry into the exponent gives the smallest normal: right */
        return (uint16_t)(sign | h);
    }
    uint32_t h = ((uint32_t)e << 10) | (mant >> 13);
    uint32_t rem = mant & 0x1fffu;
    if (rem > 0x1000u || (rem == 0x1000u && (h & 1u)))
        h++; /* may carry up to infinity: right too */
    return (uint16_t)(sign | h);
}

static float f16_to_f32(uint16_t h)
{
    uint32_t sign = (uint32_t)(h & 0x8000u) << 16;
    uint32_t exp = (h >> 10) & 0x1fu, mant = h & 0x3ffu, x;
    if (exp == 0) {
        if (mant == 0) {
            x = sign;
        } else {
            uint32_t e = 0;
            while (!(mant & 0x400u)) {
                mant <<= 1;
                e++;
            }
            x = sign | ((127u - 15u + 1u - e) << 23) | ((mant & 0x3ffu) << 13);
        }
    } else if (exp == 31) {
        x = sign | 0x7f800000u | (mant << 13);
    } else {
        x = sign | ((exp - 15u + 127u) << 23) | (mant << 13);
    }
    return bits_float(x);
}

/* Exposed for the tests through a declaration of their own. */
uint16_t arnet__f32_to_f16(float f);
float arnet__f16_to_f32(uint16_t h);
uint16_t arnet__f32_to_f16(float f) { return f32_to_f16(f); }
float arnet__f16_to_f32(uint16_t h) { return f16_to_f32(h); }

/* ---- options ----------------------------------------------------------- */

int arnet_checkpoint_format_version(void) { return CKP_MAJOR * 100 + CKP_MINOR; }

void arnet_save_options_init(arnet_save_options *opt)
{
    if (!opt)
        return;
    memset(opt, 0, sizeof *opt);
    opt->struct_size = sizeof *opt;
    opt->storage = ARNET_STORAGE_F32;
    opt->compression_level = 6;
}

/* Options as this library knows them: fields an older caller's smaller
 * struct lacks keep their defaults. */
static int read_save_options(const char *who, const arnet_save_options *in,
                             arnet_save_options *out)
{
    arnet_save_options_init(out);
    if (!in)
        return ARNET_OK;
    int rc = ARNET__STRUCT_IN(who, arnet_save_options, out, in);
    if (rc)
        return rc;
    if (out->storage != ARNET_STORAGE_F32 && out->storage != ARNET_STORAGE_F16)
        return arnet__error(ARNET_E_INVALID,
                            "%s: options storage %d is neither ARNET_STORAGE_F32 (0) nor "
                            "ARNET_STORAGE_F16 (1)",
                            who, out->storage);
    if (out->compression_level < 0 || out->compression_level > 9)
        return arnet__error(ARNET_E_INVALID, "%s: options compression_level %d not in 0..9",
                            who, out->compression_level);
    return ARNET_OK;
}

/* ---- writer ------------------------------------------------------------ */

/* A growing byte buffer; `failed` latches the first allocation failure so
 * that the encoders need no checks of their own. */
typedef struct bytes {
    uint8_t *p;
    size_t len, cap;
    int failed;
} bytes;

static uint8_t *bytes_grow(bytes *b, size_t n)
{
    if (b->failed)
        return NULL;
    if (n > SIZE_MAX - b->len) {
        b->failed = 1;
        return NULL;
    }
    if (b->len + n > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->len + n)
            cap = cap > SIZE_MAX / 2 ? b->len + n : cap * 2;
        uint8_t *q = realloc(b->p, cap);
        if (!q) {
            b->failed = 1;
            return NULL;
        }
        b->p = q;
        b->cap = cap;
    }
    uint8_t *at = b->p + b->len;
    b->len += n;
    return at;
}

static void put_bytes(bytes *b, const void *src, size_t n)
{
    uint8_t *at = bytes_grow(b, n);
    if (at && n)
        memcpy(at, src, n);
}

static void put_u8(bytes *b, uint8_t v) { put_bytes(b, &v, 1); }

static void put_u16(bytes *b, uint16_t v)
{
    uint8_t *at = bytes_grow(b, 2);
    if (at)
        set_u16(at, v);
}

static void put_u32(bytes *b, uint32_t v)
{
    uint8_t *at = bytes_grow(b, 4);
    if (at)
        set_u32(at, v);
}

static void put_u64(bytes *b, uint64_t v)
{
    uint8_t *at = bytes_grow(b, 8);
    if (at)
        set_u64(at, v);
}

/* A section waiting for its table entry. */
typedef struct out_section {
    uint32_t type;
    uint16_t flags;
    uint64_t offset, stored, raw;
    uint32_t crc;
} out_section;

typedef struct writer {
    const char *who; /* path or function name, for messages */
    int level;
    bytes file;      /* header + table + payloads */
    bytes raw;       /* the section being built */
    out_section *sec;
    size_t n_sec, cap_sec;
} writer;

/* Compress w->raw onto the end of the file and record its table entry. */
static int end_section(writer *w, uint32_t type, uint16_t flags)
{
    if (w->raw.failed)
        return arnet__error(ARNET_E_NOMEM, "%s: out of memory building a section", w->who);
    if (w->n_sec == w->cap_sec)
        return arnet__error(ARNET_E_INVALID, "%s: too many sections", w->who);
    uLong bound = compressBound((uLong)w->raw.len);
    size_t at = w->file.len;
    if (!bytes_grow(&w->file, bound))
        return arnet__error(ARNET_E_NOMEM, "%s: cannot allocate %lu bytes for a section",
                            w->who, (unsigned long)bound);
    uLongf clen = bound;
    int zr = compress2(w->file.p + at, &clen, w->raw.len ? w->raw.p : (const Bytef *)"",
                       (uLong)w->raw.len, w->level);
    if (zr != Z_OK)
        return arnet__error(zr == Z_MEM_ERROR ? ARNET_E_NOMEM : ARNET_E_INVALID,
                            "%s: zlib compress2 failed (%d)", w->who, zr);
    w->file.len = at + clen;
    out_section *s = &w->sec[w->n_sec++];
    s->type = type;
    s->flags = flags;
    s->offset = at;
    s->stored = clen;
    s->raw = w->raw.len;
    s->crc = crc_of(w->file.p + at, clen);
    w->raw.len = 0;
    return ARNET_OK;
}

static int valid_name(const char *s, size_t max)
{
    size_t len = strlen(s);
    if (len < 1 || len > max)
        return 0;
    for (size_t i = 0; i < len; i++)
        if (s[i] <= ' ' || s[i] > '~')
            return 0;
    return 1;
}

static int tensor_count(const arnet__tensor *t, uint64_t *count)
{
    uint64_t c = 1;
    for (uint32_t i = 0; i < t->ndim; i++) {
        if (t->dims[i] != 0 && c > UINT64_MAX / t->dims[i])
            return 0;
        c *= t->dims[i];
    }
    *count = c;
    return 1;
}

static int put_tensor(writer *w, uint32_t type, const arnet__tensor *t, int storage)
{
    uint64_t count = 0;
    if (!tensor_count(t, &count)) /* checked by the caller: cannot happen */
        return arnet__error(ARNET_E_INVALID, "%s: tensor %s: shape overflows", w->who, t->name);
    size_t name_len = strlen(t->name);
    bytes *r = &w->raw;
    put_u16(r, (uint16_t)name_len);
    put_bytes(r, t->name, name_len);
    put_u8(r, (uint8_t)storage);
    put_u8(r, (uint8_t)t->ndim);
    for (uint32_t i = 0; i < t->ndim; i++)
        put_u64(r, t->dims[i]);
    uint8_t *at = bytes_grow(r, (size_t)count * (storage == ARNET_STORAGE_F16 ? 2 : 4));
    if (at) {
        for (uint64_t i = 0; i < count; i++) {
            if (storage == ARNET_STORAGE_F16) {
                float v = t->data[i];
                /* From 65520 up, rounding gives infinity: a changed model. */
                if (isfinite(v) && fabsf(v) >= 65520.0f)
                    return arnet__error(ARNET_E_INVALID,
                                        "%s: tensor %s[%llu] = %g does not fit in f16 "
                                        "(largest 65504); save with ARNET_STORAGE_F32",
                                        w->who, t->name, (unsigned long long)i, (double)v);
                set_u16(at + 2 * i, f32_to_f16(v));
            } else {
                set_u32(at + 4 * i, float_bits(t->data[i]));
            }
        }
    }
    return end_section(w, type, type == SEC_TENSOR ? SECF_REQUIRED : 0);
}

/* n pairs, each either from a model (kv != NULL) or from a key/value list;
 * extra_key/extra_value (may be NULL) is appended as one more pair. */
static void put_kv_pair(bytes *r, const char *key, const char *value)
{
    size_t kl = strlen(key), vl = strlen(value);
    put_u16(r, (uint16_t)kl);
    put_bytes(r, key, kl);
    put_u32(r, (uint32_t)vl);
    put_bytes(r, value, vl);
}

static int check_kv(const char *who, const char *key, const char *value)
{
    if (!key || !value)
        return arnet__error(ARNET_E_INVALID, "%s: NULL metadata key or value", who);
    if (!valid_name(key, KEY_MAX_LEN))
        return arnet__error(ARNET_E_INVALID,
                            "%s: metadata key \"%.40s\" must be 1..%d printable ASCII "
                            "characters without spaces",
                            who, key, KEY_MAX_LEN);
    if (strlen(value) > VALUE_MAX_LEN)
        return arnet__error(ARNET_E_INVALID, "%s: metadata value of \"%s\" longer than %u bytes",
                            who, key, VALUE_MAX_LEN);
    return ARNET_OK;
}

static int check_extra(const char *who, const arnet__extra *e)
{
    if ((e->n_tensors && !e->tensors) || (e->n_kv && !e->kv))
        return arnet__error(ARNET_E_INVALID, "%s: extra section list is NULL", who);
    for (size_t i = 0; i < e->n_tensors; i++) {
        const arnet__tensor *t = &e->tensors[i];
        uint64_t count;
        if (!t->name || !valid_name(t->name, NAME_MAX_LEN))
            return arnet__error(ARNET_E_INVALID,
                                "%s: extra tensor %zu: name must be 1..%d printable ASCII "
                                "characters without spaces",
                                who, i, NAME_MAX_LEN);
        if (t->ndim < 1 || t->ndim > MAX_NDIM)
            return arnet__error(ARNET_E_INVALID, "%s: extra tensor %s: ndim %u not in 1..%d",
                                who, t->name, t->ndim, MAX_NDIM);
        if (!tensor_count(t, &count) || count > (SIZE_MAX - 4096) / 4)
            return arnet__error(ARNET_E_INVALID, "%s: extra tensor %s: shape overflows", who,
                                t->name);
        if (count && !t->data)
            return arnet__error(ARNET_E_INVALID, "%s: extra tensor %s: data is NULL", who,
                                t->name);
        for (size_t j = 0; j < i; j++)
            if (!strcmp(e->tensors[j].name, t->name))
                return arnet__error(ARNET_E_INVALID, "%s: extra tensor name %s used twice",
                                    who, t->name);
    }
    for (size_t i = 0; i < e->n_kv; i++) {
        int rc = check_kv(who, e->kv[2 * i], e->kv[2 * i + 1]);
        if (rc)
            return rc;
    }
    return ARNET_OK;
}

static int build_sections(writer *w, const arnet_model *m, const arnet_save_options *opt,
                          const arnet__extra *extra)
{
    bytes *r = &w->raw;
    int rc;
    /* Configuration. */
    put_u32(r, m->feature_dim);
    put_u32(r, m->hidden_dim);
    put_u32(r, float_bits(m->cfg.dropout));
    put_u32(r, 0);
    put_u64(r, m->cfg.seed);
    if ((rc = end_section(w, SEC_CONFIG, SECF_REQUIRED)))
        return rc;
    /* Model tensors. */
    const arnet__tensor model_tensors[4] = {
        {"w1", 2, {m->hidden_dim, m->feature_dim, 0, 0}, m->w1},
        {"b1", 1, {m->hidden_dim, 0, 0, 0}, m->b1},
        {"w2", 1, {m->hidden_dim, 0, 0, 0}, m->w2},
        {"b2", 1, {1, 0, 0, 0}, &m->b2},
    };
    /* f16 storage halves W1, nearly all of the bytes; the three vectors stay
     * f32 (a few KiB), so a large bias keeps its absolute precision. */
    for (int i = 0; i < 4; i++)
        if ((rc = put_tensor(w, SEC_TENSOR, &model_tensors[i],
                             i == 0 ? opt->storage : ARNET_STORAGE_F32)))
            return rc;
    /* Metadata, plus the library version unless the model says one. */
    int has_version = arnet_model_get_meta(m, "library_version") != NULL;
    put_u32(r, (uint32_t)(m->n_meta + !has_version));
    for (size_t i = 0; i < m->n_meta; i++)
        put_kv_pair(r, m->meta[i].key, m->meta[i].value);
    if (!has_version)
        put_kv_pair(r, "library_version", arnet_version());
    if ((rc = end_section(w, SEC_META, 0)))
        return rc;
    if (!extra)
        return ARNET_OK;
    /* Trainer sections: always f32, skipped by model-only readers. */
    for (size_t i = 0; i < extra->n_tensors; i++)
        if ((rc = put_tensor(w, SEC_TRAINER_TENSOR, &extra->tensors[i], ARNET_STORAGE_F32)))
            return rc;
    put_u32(r, (uint32_t)extra->n_kv);
    for (size_t i = 0; i < extra->n_kv; i++)
        put_kv_pair(r, extra->kv[2 * i], extra->kv[2 * i + 1]);
    return end_section(w, SEC_TRAINER_KV, 0);
}

/* The whole file in memory: *out [transferred] (free), *size bytes. */
static int serialise(const char *who, const arnet_model *m, const arnet_save_options *opt_in,
                     const arnet__extra *extra, uint8_t **out, size_t *size)
{
    arnet_save_options opt;
    int rc = read_save_options(who, opt_in, &opt);
    if (rc)
        return rc;
    if (extra && (rc = check_extra(who, extra)))
        return rc;
    writer w = {0};
    w.who = who;
    w.level = opt.compression_level;
    /* config + 4 tensors + meta (+ trainer tensors + trainer kv) */
    w.cap_sec = 6 + (extra ? extra->n_tensors + 1 : 0);
    if (w.cap_sec > MAX_SECTIONS)
        return arnet__error(ARNET_E_INVALID, "%s: %zu sections, more than the %u allowed", who,
                            w.cap_sec, MAX_SECTIONS);
    w.sec = arnet__calloc(w.cap_sec, sizeof *w.sec, "checkpoint section list");
    if (!w.sec)
        return ARNET_E_NOMEM;
    size_t table_end = HEADER_SIZE + w.cap_sec * ENTRY_SIZE;
    if (!bytes_grow(&w.file, table_end)) {
        rc = arnet__error(ARNET_E_NOMEM, "%s: out of memory", who);
        goto done;
    }
    if ((rc = build_sections(&w, m, &opt, extra)))
        goto done;
    /* Table, then the header that covers it. */
    uint8_t *t = w.file.p + HEADER_SIZE;
    for (size_t i = 0; i < w.n_sec; i++, t += ENTRY_SIZE) {
        const out_section *s = &w.sec[i];
        set_u32(t, s->type);
        set_u16(t + 4, s->flags);
        set_u16(t + 6, CODEC_ZLIB);
        set_u64(t + 8, s->offset);
        set_u64(t + 16, s->stored);
        set_u64(t + 24, s->raw);
        set_u32(t + 32, s->crc);
        set_u32(t + 36, 0);
    }
    uint8_t *h = w.file.p;
    memcpy(h, CKP_MAGIC, 8);
    set_u16(h + 8, CKP_MAJOR);
    set_u16(h + 10, CKP_MINOR);
    set_u32(h + 12, 0);
    set_u32(h + 16, (uint32_t)w.n_sec);
    set_u32(h + 20, crc_of(h + HEADER_SIZE, w.n_sec * ENTRY_SIZE));
    set_u64(h + 24, w.file.len);
    set_u32(h + 32, 0);
    set_u32(h + 36, crc_of(h, 36));
    *out = w.file.p;
    *size = w.file.len;
    w.file.p = NULL;
done:
    free(w.file.p);
    free(w.raw.p);
    free(w.sec);
    return rc;
}

static int write_all(int fd, const uint8_t *p, size_t n)
{
    while (n > 0) {
        ssize_t k = write(fd, p, n > (1u << 30) ? (1u << 30) : n);
        if (k < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        p += k;
        n -= (size_t)k;
    }
    return 0;
}

/* Write data to path atomically: a new file beside it (created with the
 * caller's umask, unlike mkstemp's 0600), fsync, rename, fsync the folder. */
int arnet__atomic_write(const char *path, const void *data, size_t size)
{
    static unsigned counter;
    size_t plen = strlen(path);
    char *tmp = arnet__alloc(plen + 48, 1, "temporary file name");
    if (!tmp)
        return ARNET_E_NOMEM;
    int fd = -1;
    for (int attempt = 0; attempt < 100 && fd < 0; attempt++) {
        unsigned k = __atomic_fetch_add(&counter, 1, __ATOMIC_RELAXED);
        snprintf(tmp, plen + 48, "%s.tmp.%ld.%u", path, (long)getpid(), k);
        fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
        if (fd < 0 && errno != EEXIST)
            break;
    }
    if (fd < 0) {
        int e = errno;
        free(tmp);
        return arnet__error(ARNET_E_IO, "%s: cannot create a temporary file beside it: %s",
                            path, strerror(e));
    }
    const char *step = "write";
    if (write_all(fd, data, size) != 0)
        goto fail;
    step = "fsync";
    if (fsync(fd) != 0)
        goto fail;
    step = "close";
    int cr = close(fd);
    fd = -1;
    if (cr != 0)
        goto fail;
    step = "rename";
    if (rename(tmp, path) != 0)
        goto fail;
    free(tmp);
    /* Make the rename itself durable; failing here loses nothing written. */
    char *dir = arnet__strdup(path);
    if (dir) {
        char *slash = strrchr(dir, '/');
        const char *d = slash ? (slash == dir ? "/" : (*slash = '\0', dir)) : ".";
        int dfd = open(d, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dfd >= 0) {
            (void)fsync(dfd);
            close(dfd);
        }
        free(dir);
    }
    return ARNET_OK;
fail: {
    int e = errno;
    if (fd >= 0)
        close(fd);
    unlink(tmp);
    free(tmp);
    return arnet__error(ARNET_E_IO, "%s: %s failed: %s (the file was left unchanged)", path,
                        step, strerror(e));
}
}

int arnet__checkpoint_save(const arnet_model *m, const arnet_save_options *opt,
                           const arnet__extra *extra, const char *path)
{
    if (!m || !path)
        return arnet__error(ARNET_E_INVALID, "checkpoint save: %s is NULL",
                            !m ? "model" : "path");
    uint8_t *data;
    size_t size;
    int rc = serialise(path, m, opt, extra, &data, &size);
    if (rc)
        return rc;
    rc = arnet__atomic_write(path, data, size);
    free(data);
    return rc;
}

int arnet_model_save(const arnet_model *m, const char *path)
{
    return arnet__checkpoint_save(m, NULL, NULL, path);
}

int arnet_model_save_ex(const arnet_model *m, const char *path, const arnet_save_options *opt)
{
    return arnet__checkpoint_save(m, opt, NULL, path);
}

int arnet_model_save_buffer(const arnet_model *m, const arnet_save_options *opt, void **buf,
                            size_t *size)
{
    if (!m || !buf || !size)
        return arnet__error(ARNET_E_INVALID, "arnet_model_save_buffer: %s is NULL",
                            !m ? "model" : !buf ? "buf" : "size");
    uint8_t *data;
    size_t n;
    int rc = serialise("arnet_model_save_buffer", m, opt, NULL, &data, &n);
    if (rc)
        return rc;
    *buf = data;
    *size = n;
    return ARNET_OK;
}

/* ---- reader: header, table, configuration ------------------------------ */

typedef struct in_section {
    uint32_t type;
    uint16_t flags, codec;
    uint64_t offset, stored, raw;
} in_section;

typedef struct ckp {
    const char *name; /* path or "buffer", for messages */
    const uint8_t *data;
    size_t size;
    uint32_t major, minor;
    uint32_t n_sec;
    in_section *sec;
    uint32_t feature_dim, hidden_dim;
    float dropout;
    uint64_t seed;
} ckp;

static int bad(const ckp *c, const char *fmt, ...) ARNET_PRINTF(2, 3);

static int bad(const ckp *c, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return arnet__error(ARNET_E_FORMAT, "%s: %s", c->name, msg);
}

static int is_known(uint32_t type) { return type >= SEC_CONFIG && type <= SEC_TRAINER_KV; }

static const char *type_name(uint32_t type)
{
    switch (type) {
    case SEC_CONFIG: return "config";
    case SEC_TENSOR: return "tensor";
    case SEC_META: return "metadata";
    case SEC_TRAINER_TENSOR: return "trainer tensor";
    case SEC_TRAINER_KV: return "trainer key/value";
    default: return "unknown";
    }
}

static int check_header(ckp *c)
{
    const uint8_t *h = c->data;
    size_t n = c->size < 8 ? c->size : 8;
    if (memcmp(h, CKP_MAGIC, n) != 0)
        return bad(c, "not an arnet checkpoint (the file does not start with \"%s\")",
                   CKP_MAGIC);
    if (c->size < HEADER_SIZE)
        return bad(c, "truncated: %zu bytes, shorter than the %d-byte header", c->size,
                   HEADER_SIZE);
    /* The version comes before the checksum: another major version may
     * lay its header out differently. */
    c->major = get_u16(h + 8);
    c->minor = get_u16(h + 10);
    if (c->major != CKP_MAJOR)
        return bad(c,
                   "format version %u.%u is not supported: this library reads %d.x "
                   "(it writes %d.%d)%s",
                   c->major, c->minor, CKP_MAJOR, CKP_MAJOR, CKP_MINOR,
                   c->major > CKP_MAJOR ? "; the file needs a newer libarnet" : "");
    uint32_t want = get_u32(h + 36), got = crc_of(h, 36);
    if (want != got)
        return bad(c, "header checksum mismatch (stored %08x, computed %08x): corrupted", want,
                   got);
    uint64_t fsize = get_u64(h + 24);
    if (fsize != c->size)
        return bad(c, "%s: the header says %llu bytes, the file has %zu",
                   fsize > c->size ? "truncated" : "trailing data", (unsigned long long)fsize,
                   c->size);
    c->n_sec = get_u32(h + 16);
    if (c->n_sec < 1 || c->n_sec > MAX_SECTIONS)
        return bad(c, "section count %u not in 1..%u", c->n_sec, MAX_SECTIONS);
    if ((uint64_t)c->n_sec * ENTRY_SIZE > c->size - HEADER_SIZE)
        return bad(c, "section table of %u entries runs past the end of the file (%zu bytes)",
                   c->n_sec, c->size);
    want = get_u32(h + 20);
    got = crc_of(h + HEADER_SIZE, (size_t)c->n_sec * ENTRY_SIZE);
    if (want != got)
        return bad(c, "section table checksum mismatch (stored %08x, computed %08x): corrupted",
                   want, got);
    return ARNET_OK;
}

/* Every entry: inside the file, in order, sizes consistent with the codec,
 * payload CRC right, required types known. */
static int check_table(ckp *c)
{
    c->sec = arnet__calloc(c->n_sec, sizeof *c->sec, "checkpoint section table");
    if (!c->sec)
        return ARNET_E_NOMEM;
    uint64_t prev_end = HEADER_SIZE + (uint64_t)c->n_sec * ENTRY_SIZE;
    for (uint32_t i = 0; i < c->n_sec; i++) {
        const uint8_t *e = c->data + HEADER_SIZE + (size_t)i * ENTRY_SIZE;
        in_section *s = &c->sec[i];
        s->type = get_u32(e);
        s->flags = get_u16(e + 4);
        s->codec = get_u16(e + 6);
        s->offset = get_u64(e + 8);
        s->stored = get_u64(e + 16);
        s->raw = get_u64(e + 24);
        if (s->offset < prev_end || s->offset > c->size || s->stored > c->size - s->offset)
            return bad(c,
                       "section %u (%s) at offset %llu, %llu bytes, lies outside bytes "
                       "%llu..%zu",
                       i, type_name(s->type), (unsigned long long)s->offset,
                       (unsigned long long)s->stored, (unsigned long long)prev_end, c->size);
        prev_end = s->offset + s->stored;
        uint32_t want = get_u32(e + 32), got = crc_of(c->data + s->offset, (size_t)s->stored);
        if (want != got)
            return bad(c,
                       "section %u (%s) checksum mismatch (stored %08x, computed %08x): "
                       "corrupted",
                       i, type_name(s->type), want, got);
        if (!is_known(s->type)) {
            if (s->flags & SECF_REQUIRED)
                return bad(c,
                           "section %u has type %u, which this library does not know and "
                           "the file (format %u.%u) marks as required",
                           i, s->type, c->major, c->minor);
            continue;
        }
        if (s->codec == CODEC_NONE && s->raw != s->stored)
            return bad(c, "section %u (%s) is stored uncompressed but its sizes differ", i,
                       type_name(s->type));
        if (s->codec == CODEC_ZLIB && s->raw / ZLIB_MAX_RATIO > s->stored)
            return bad(c,
                       "section %u (%s) claims %llu bytes from %llu compressed, more than "
                       "zlib can expand",
                       i, type_name(s->type), (unsigned long long)s->raw,
                       (unsigned long long)s->stored);
        if (s->codec != CODEC_NONE && s->codec != CODEC_ZLIB)
            return bad(c, "section %u (%s) has unknown compression %u", i, type_name(s->type),
                       s->codec);
    }
    return ARNET_OK;
}

/* ---- reader: section streams ------------------------------------------- */

/* Sequential reads of one section's raw bytes, inflating as needed and never
 * producing more than the table's raw size. */
typedef struct sec_stream {
    const ckp *c;
    const in_section *s;
    uint32_t index;
    z_stream z;
    int zopen;
    const uint8_t *in;  /* next stored byte not yet given to zlib */
    uint64_t in_left;
    uint64_t pos;       /* raw bytes produced so far */
} sec_stream;

static int stream_open(const ckp *c, uint32_t index, sec_stream *st)
{
    memset(st, 0, sizeof *st);
    st->c = c;
    st->s = &c->sec[index];
    st->index = index;
    st->in = c->data + st->s->offset;
    st->in_left = st->s->stored;
    if (st->s->codec == CODEC_ZLIB) {
        if (inflateInit(&st->z) != Z_OK)
            return arnet__error(ARNET_E_NOMEM, "%s: cannot start zlib", c->name);
        st->zopen = 1;
    }
    return ARNET_OK;
}

static void stream_close(sec_stream *st)
{
    if (st->zopen)
        inflateEnd(&st->z);
    st->zopen = 0;
}

static int stream_bad(const sec_stream *st, const char *what)
{
    return bad(st->c, "section %u (%s): %s", st->index, type_name(st->s->type), what);
}

/* Inflate up to n bytes into dst; *got says how many came, *end is set when
 * the compressed stream finished. */
static int inflate_some(sec_stream *st, uint8_t *dst, size_t n, size_t *got, int *end)
{
    *got = 0;
    *end = 0;
    while (*got < n) {
        if (st->z.avail_in == 0 && st->in_left > 0) {
            uInt k = st->in_left > (1u << 30) ? (1u << 30) : (uInt)st->in_left;
            st->z.next_in = (Bytef *)(uintptr_t)st->in;
            st->z.avail_in = k;
            st->in += k;
            st->in_left -= k;
        }
        size_t want = n - *got;
        uInt k = want > (1u << 30) ? (1u << 30) : (uInt)want;
        st->z.next_out = dst + *got;
        st->z.avail_out = k;
        int zr = inflate(&st->z, Z_NO_FLUSH);
        *got += k - st->z.avail_out;
        if (zr == Z_STREAM_END) {
            *end = 1;
            return ARNET_OK;
        }
        if (zr == Z_BUF_ERROR && st->z.avail_in == 0 && st->in_left == 0)
            return stream_bad(st, "compressed data ends early");
        if (zr != Z_OK && zr != Z_BUF_ERROR) {
            char msg[160];
            snprintf(msg, sizeof msg, "corrupt compressed data (%s)",
                     st->z.msg ? st->z.msg : "zlib error");
            return stream_bad(st, msg);
        }
    }
    return ARNET_OK;
}

/* Exactly n raw bytes into dst, or ARNET_E_FORMAT. */
static int stream_read(sec_stream *st, void *dst, size_t n)
{
    if (n > st->s->raw - st->pos)
        return stream_bad(st, "content runs past the section's raw size");
    if (st->s->codec == CODEC_NONE) {
        memcpy(dst, st->in, n);
        st->in += n;
        st->in_left -= n;
        st->pos += n;
        return ARNET_OK;
    }
    size_t got;
    int end, rc = inflate_some(st, dst, n, &got, &end);
    if (rc)
        return rc;
    st->pos += got;
    if (got < n)
        return stream_bad(st, "compressed data holds fewer bytes than its raw size");
    return ARNET_OK;
}

/* The content must end exactly at the raw size, with the compressed stream. */
static int stream_finish(sec_stream *st)
{
    if (st->pos != st->s->raw)
        return stream_bad(st, "content ends before the section's raw size");
    if (st->s->codec == CODEC_NONE)
        return ARNET_OK;
    uint8_t extra;
    size_t got;
    int end, rc = inflate_some(st, &extra, 1, &got, &end);
    if (rc)
        return rc;
    if (got)
        return stream_bad(st, "compressed data holds more bytes than its raw size");
    if (!end)
        return stream_bad(st, "compressed data does not end where it should");
    if (st->z.avail_in != 0 || st->in_left != 0)
        return stream_bad(st, "bytes after the end of the compressed data");
    return ARNET_OK;
}

static int read_u8(sec_stream *st, uint32_t *v)
{
    uint8_t b[1];
    int rc = stream_read(st, b, 1);
    *v = b[0];
    return rc;
}

static int read_u16(sec_stream *st, uint32_t *v)
{
    uint8_t b[2];
    int rc = stream_read(st, b, 2);
    *v = rc ? 0 : get_u16(b);
    return rc;
}

static int read_u32(sec_stream *st, uint32_t *v)
{
    uint8_t b[4];
    int rc = stream_read(st, b, 4);
    *v = rc ? 0 : get_u32(b);
    return rc;
}

static int read_u64(sec_stream *st, uint64_t *v)
{
    uint8_t b[8];
    int rc = stream_read(st, b, 8);
    *v = rc ? 0 : get_u64(b);
    return rc;
}

/* ---- reader: configuration, tensors, key/value sections ---------------- */

static int read_config(ckp *c)
{
    uint32_t found = c->n_sec;
    for (uint32_t i = 0; i < c->n_sec; i++) {
        if (c->sec[i].type != SEC_CONFIG)
            continue;
        if (found != c->n_sec)
            return bad(c, "two config sections (%u and %u)", found, i);
        found = i;
    }
    if (found == c->n_sec)
        return bad(c, "no config section");
    const in_section *s = &c->sec[found];
    if (s->raw < CONFIG_MIN || s->raw > CONFIG_MAX)
        return bad(c, "config section of %llu bytes, not in %d..%d", (unsigned long long)s->raw,
                   CONFIG_MIN, CONFIG_MAX);
    sec_stream st;
    int rc = stream_open(c, found, &st);
    if (rc)
        return rc;
    uint8_t b[CONFIG_MAX];
    rc = stream_read(&st, b, (size_t)s->raw);
    if (!rc)
        rc = stream_finish(&st);
    stream_close(&st);
    if (rc)
        return rc;
    /* Bytes past the first 24 belong to later minor versions: ignored. */
    c->feature_dim = get_u32(b);
    c->hidden_dim = get_u32(b + 4);
    c->dropout = bits_float(get_u32(b + 8));
    c->seed = get_u64(b + 16);
    if (c->feature_dim < 1 || c->feature_dim > DIM_MAX)
        return bad(c, "feature_dim %u not in 1..%u", c->feature_dim, DIM_MAX);
    if (c->hidden_dim < 1 || c->hidden_dim > DIM_MAX)
        return bad(c, "hidden_dim %u not in 1..%u", c->hidden_dim, DIM_MAX);
    if (!(c->dropout >= 0.0f && c->dropout < 1.0f))
        return bad(c, "dropout %g not in [0, 1)", (double)c->dropout);
    return ARNET_OK;
}

static int open_file(ckp *c, const uint8_t *data, size_t size, const char *name)
{
    memset(c, 0, sizeof *c);
    c->name = name;
    c->data = data;
    c->size = size;
    int rc = check_header(c);
    if (!rc)
        rc = check_table(c);
    if (!rc)
        rc = read_config(c);
    return rc;
}

typedef struct tensor_desc {
    char name[NAME_MAX_LEN + 1];
    uint32_t storage, ndim;
    uint64_t dims[MAX_NDIM];
    uint64_t count;
} tensor_desc;

/* Read a tensor section's descriptor and check that its data exactly fills
 * the rest of the raw size.  The stream is left at the first element. */
static int read_tensor_desc(sec_stream *st, tensor_desc *d)
{
    uint32_t name_len;
    int rc = read_u16(st, &name_len);
    if (rc)
        return rc;
    if (name_len < 1 || name_len > NAME_MAX_LEN)
        return stream_bad(st, "tensor name length not in 1..255");
    if ((rc = stream_read(st, d->name, name_len)))
        return rc;
    d->name[name_len] = '\0';
    if (!valid_name(d->name, NAME_MAX_LEN) || strlen(d->name) != name_len)
        return stream_bad(st, "tensor name is not printable ASCII");
    if ((rc = read_u8(st, &d->storage)) || (rc = read_u8(st, &d->ndim)))
        return rc;
    char msg[400];
    if (d->storage != ARNET_STORAGE_F32 && d->storage != ARNET_STORAGE_F16) {
        snprintf(msg, sizeof msg, "tensor %s has unknown storage type %u", d->name, d->storage);
        return stream_bad(st, msg);
    }
    if (d->ndim < 1 || d->ndim > MAX_NDIM) {
        snprintf(msg, sizeof msg, "tensor %s has %u dimensions, not 1..%d", d->name, d->ndim,
                 MAX_NDIM);
        return stream_bad(st, msg);
    }
    d->count = 1;
    for (uint32_t i = 0; i < d->ndim; i++) {
        if ((rc = read_u64(st, &d->dims[i])))
            return rc;
        if (d->dims[i] != 0 && d->count > UINT64_MAX / d->dims[i]) {
            snprintf(msg, sizeof msg, "tensor %s: shape overflows", d->name);
            return stream_bad(st, msg);
        }
        d->count *= d->dims[i];
    }
    for (uint32_t i = d->ndim; i < MAX_NDIM; i++)
        d->dims[i] = 0;
    uint64_t elem = d->storage == ARNET_STORAGE_F16 ? 2 : 4;
    uint64_t left = st->s->raw - st->pos;
    if (d->count > left / elem || d->count * elem != left) {
        snprintf(msg, sizeof msg,
                 "tensor %s: %llu elements of %llu bytes do not fill the %llu data bytes",
                 d->name, (unsigned long long)d->count, (unsigned long long)elem,
                 (unsigned long long)left);
        return stream_bad(st, msg);
    }
    return ARNET_OK;
}

/* The count elements after the descriptor, converted to float into out, or
 * only decoded and checked when out is NULL (the pass that proves a tensor
 * is really that large before anything that size is allocated). */
static int read_tensor_data(sec_stream *st, const tensor_desc *d, float *out)
{
    uint8_t buf[16384];
    size_t elem = d->storage == ARNET_STORAGE_F16 ? 2 : 4;
    size_t per = sizeof buf / elem;
    uint64_t done = 0;
    while (done < d->count) {
        size_t k = d->count - done < per ? (size_t)(d->count - done) : per;
        int rc = stream_read(st, buf, k * elem);
        if (rc)
            return rc;
        if (!out)
            ;
        else if (elem == 2)
            for (size_t i = 0; i < k; i++)
                out[done + i] = f16_to_f32(get_u16(buf + 2 * i));
        else
            for (size_t i = 0; i < k; i++)
                out[done + i] = bits_float(get_u32(buf + 4 * i));
        done += k;
    }
    return stream_finish(st);
}

/* Call fn(key, value, ctx) for each pair of a key/value section; keys and
 * values are checked as arnet_model_set_meta checks them. */
static int read_kv(const ckp *c, uint32_t index,
                   int (*fn)(const char *key, const char *value, void *ctx), void *ctx)
{
    sec_stream st;
    int rc = stream_open(c, index, &st);
    if (rc)
        return rc;
    char key[KEY_MAX_LEN + 1];
    char *value = NULL;
    uint32_t count;
    if ((rc = read_u32(&st, &count)))
        goto done;
    /* Each pair takes at least 6 bytes: a count beyond that is a lie. */
    if (count > (st.s->raw - 4) / 6) {
        rc = stream_bad(&st, "pair count larger than the section can hold");
        goto done;
    }
    value = arnet__alloc(VALUE_MAX_LEN + 1, 1, "checkpoint metadata value");
    if (!value) {
        rc = ARNET_E_NOMEM;
        goto done;
    }
    for (uint32_t i = 0; i < count; i++) {
        uint32_t kl, vl;
        if ((rc = read_u16(&st, &kl)))
            goto done;
        if (kl < 1 || kl > KEY_MAX_LEN) {
            rc = stream_bad(&st, "key length not in 1..255");
            goto done;
        }
        if ((rc = stream_read(&st, key, kl)))
            goto done;
        key[kl] = '\0';
        if (!valid_name(key, KEY_MAX_LEN) || strlen(key) != kl) {
            rc = stream_bad(&st, "key is not printable ASCII without spaces");
            goto done;
        }
        if ((rc = read_u32(&st, &vl)))
            goto done;
        if (vl > VALUE_MAX_LEN) {
            rc = stream_bad(&st, "value longer than 65536 bytes");
            goto done;
        }
        if ((rc = stream_read(&st, value, vl)))
            goto done;
        value[vl] = '\0';
        if (strlen(value) != vl) {
            rc = stream_bad(&st, "value contains a NUL byte");
            goto done;
        }
        if ((rc = fn(key, value, ctx)))
            goto done;
    }
    rc = stream_finish(&st);
done:
    free(value);
    stream_close(&st);
    return rc;
}

/* ---- reader: the model ------------------------------------------------- */

static const char *const model_names[4] = {"w1", "b1", "w2", "b2"};

static void shape_text(char *out, size_t cap, const uint64_t *dims, uint32_t ndim)
{
    size_t used = 0;
    out[0] = '\0';
    for (uint32_t i = 0; i < ndim && used < cap; i++) {
        int k = snprintf(out + used, cap - used, "%s%llu", i ? ", " : "",
                         (unsigned long long)dims[i]);
        if (k < 0)
            break;
        used += (size_t)k;
    }
}

/* Which model tensor a descriptor is (0..3), after checking its shape. */
static int model_tensor_index(const ckp *c, sec_stream *st, const tensor_desc *d, int *which)
{
    uint64_t H = c->hidden_dim, F = c->feature_dim;
    const uint64_t want[4][2] = {{H, F}, {H, 0}, {H, 0}, {1, 0}};
    char msg[NAME_MAX_LEN + 256];
    for (int k = 0; k < 4; k++) {
        if (strcmp(d->name, model_names[k]) != 0)
            continue;
        uint32_t nd = k == 0 ? 2 : 1;
        if (d->ndim != nd || d->dims[0] != want[k][0] || (nd == 2 && d->dims[1] != want[k][1])) {
            char got[120], exp[60];
            shape_text(got, sizeof got, d->dims, d->ndim);
            shape_text(exp, sizeof exp, want[k], nd);
            snprintf(msg, sizeof msg, "tensor %s has shape [%s], the config implies [%s]",
                     d->name, got, exp);
            return stream_bad(st, msg);
        }
        *which = k;
        return ARNET_OK;
    }
    snprintf(msg, sizeof msg, "unknown model tensor %s", d->name);
    return stream_bad(st, msg);
}

typedef struct meta_ctx {
    arnet_model *m;
    const char *name;
} meta_ctx;

static int set_meta_cb(const char *key, const char *value, void *ctx)
{
    meta_ctx *mc = ctx;
    if (arnet_model_get_meta(mc->m, key))
        return arnet__error(ARNET_E_FORMAT, "%s: metadata key %s appears twice", mc->name,
                            key);
    int rc = arnet_model_set_meta(mc->m, key, value);
    if (rc == ARNET_E_INVALID) {
        arnet__error_prefix("%s: bad metadata", mc->name);
        rc = ARNET_E_FORMAT;
    }
    return rc;
}

/* Check every model tensor's descriptor against the config, then allocate
 * the model and fill it. */
static int load_model(const ckp *c, arnet_model **out)
{
    uint32_t where[4] = {c->n_sec, c->n_sec, c->n_sec, c->n_sec};
    tensor_desc d;
    sec_stream st;
    int rc;
    for (uint32_t i = 0; i < c->n_sec; i++) {
        if (c->sec[i].type != SEC_TENSOR)
            continue;
        if ((rc = stream_open(c, i, &st)))
            return rc;
        int which = 0;
        rc = read_tensor_desc(&st, &d);
        if (!rc)
            rc = model_tensor_index(c, &st, &d, &which);
        if (!rc && where[which] != c->n_sec)
            rc = stream_bad(&st, "the same model tensor appears twice");
        if (!rc)
            rc = read_tensor_data(&st, &d, NULL);
        stream_close(&st);
        if (rc)
            return rc;
        where[which] = i;
    }
    for (int k = 0; k < 4; k++)
        if (where[k] == c->n_sec)
            return bad(c, "no tensor %s", model_names[k]);

    arnet_model *m;
    if ((rc = arnet__model_alloc(c->feature_dim, c->hidden_dim, c->dropout, c->seed, &m)))
        return rc;
    float *dst[4] = {m->w1, m->b1, m->w2, &m->b2};
    for (int k = 0; k < 4 && !rc; k++) {
        if ((rc = stream_open(c, where[k], &st)))
            break;
        rc = read_tensor_desc(&st, &d);
        if (!rc)
            rc = read_tensor_data(&st, &d, dst[k]);
        stream_close(&st);
    }
    for (uint32_t i = 0; i < c->n_sec && !rc; i++) {
        if (c->sec[i].type != SEC_META)
            continue;
        meta_ctx mc = {m, c->name};
        rc = read_kv(c, i, set_meta_cb, &mc);
    }
    if (rc) {
        arnet_model_free(m);
        return rc;
    }
    *out = m;
    return ARNET_OK;
}

/* ---- reader: trainer sections ------------------------------------------ */

void arnet__loaded_extra_free(arnet__loaded_extra *e)
{
    if (!e)
        return;
    for (size_t i = 0; i < e->n_tensors; i++) {
        free(e->tensors[i].name);
        free(e->tensors[i].data);
    }
    for (size_t i = 0; i < e->n_kv; i++) {
        free(e->kv[i].key);
        free(e->kv[i].value);
    }
    free(e->tensors);
    free(e->kv);
    free(e);
}

static int add_kv_cb(const char *key, const char *value, void *ctx)
{
    arnet__loaded_extra *e = ctx;
    for (size_t i = 0; i < e->n_kv; i++)
        if (!strcmp(e->kv[i].key, key))
            return arnet__error(ARNET_E_FORMAT, "checkpoint: trainer key %s appears twice", key);
    arnet__kv *grown = realloc(e->kv, (e->n_kv + 1) * sizeof *grown);
    if (!grown)
        return arnet__error(ARNET_E_NOMEM, "checkpoint: out of memory for trainer keys");
    e->kv = grown;
    char *k = arnet__strdup(key), *v = arnet__strdup(value);
    if (!k || !v) {
        free(k);
        free(v);
        return ARNET_E_NOMEM;
    }
    e->kv[e->n_kv].key = k;
    e->kv[e->n_kv].value = v;
    e->n_kv++;
    return ARNET_OK;
}

static int load_trainer_tensor(const ckp *c, uint32_t index, arnet__loaded_extra *e)
{
    sec_stream st;
    tensor_desc d;
    int rc = stream_open(c, index, &st);
    if (rc)
        return rc;
    rc = read_tensor_desc(&st, &d);
    for (size_t i = 0; i < e->n_tensors && !rc; i++)
        if (!strcmp(e->tensors[i].name, d.name))
            rc = stream_bad(&st, "trainer tensor name appears twice");
    /* Decode once without keeping anything: the data must really be as
     * large as the descriptor says before that much is allocated. */
    if (!rc)
        rc = read_tensor_data(&st, &d, NULL);
    stream_close(&st);
    if (rc)
        return rc;
    arnet__loaded_tensor *t = &e->tensors[e->n_tensors];
    memset(t, 0, sizeof *t);
    t->name = arnet__strdup(d.name);
    t->data = arnet__alloc((size_t)d.count, sizeof(float), "checkpoint trainer tensor");
    if (!t->name || !t->data) {
        free(t->name);
        free(t->data);
        return ARNET_E_NOMEM;
    }
    t->ndim = d.ndim;
    memcpy(t->dims, d.dims, sizeof t->dims);
    e->n_tensors++;
    if ((rc = stream_open(c, index, &st)))
        return rc;
    rc = read_tensor_desc(&st, &d);
    if (!rc)
        rc = read_tensor_data(&st, &d, t->data);
    stream_close(&st);
    return rc;
}

static int load_extra(const ckp *c, arnet__loaded_extra **out)
{
    size_t n_tensors = 0, n_sections = 0;
    for (uint32_t i = 0; i < c->n_sec; i++) {
        n_tensors += c->sec[i].type == SEC_TRAINER_TENSOR;
        n_sections += c->sec[i].type == SEC_TRAINER_TENSOR || c->sec[i].type == SEC_TRAINER_KV;
    }
    *out = NULL;
    if (n_sections == 0)
        return ARNET_OK;
    arnet__loaded_extra *e = arnet__calloc(1, sizeof *e, "checkpoint trainer state");
    if (!e)
        return ARNET_E_NOMEM;
    e->tensors = arnet__calloc(n_tensors ? n_tensors : 1, sizeof *e->tensors,
                               "checkpoint trainer tensors");
    int rc = e->tensors ? ARNET_OK : ARNET_E_NOMEM;
    for (uint32_t i = 0; i < c->n_sec && !rc; i++) {
        if (c->sec[i].type == SEC_TRAINER_TENSOR)
            rc = load_trainer_tensor(c, i, e);
        else if (c->sec[i].type == SEC_TRAINER_KV)
            rc = read_kv(c, i, add_kv_cb, e);
    }
    if (rc) {
        arnet__loaded_extra_free(e);
        return rc;
    }
    *out = e;
    return ARNET_OK;
}

const float *arnet__extra_tensor(const arnet__loaded_extra *e, const char *name, uint64_t count)
{
    if (!e || !name)
        return NULL;
    for (size_t i = 0; i < e->n_tensors; i++) {
        const arnet__loaded_tensor *t = &e->tensors[i];
        if (strcmp(t->name, name) != 0)
            continue;
        uint64_t c = 1;
        for (uint32_t k = 0; k < t->ndim; k++)
            c *= t->dims[k];
        return c == count ? t->data : NULL;
    }
    return NULL;
}

const char *arnet__extra_kv(const arnet__loaded_extra *e, const char *key)
{
    if (!e || !key)
        return NULL;
    for (size_t i = 0; i < e->n_kv; i++)
        if (!strcmp(e->kv[i].key, key))
            return e->kv[i].value;
    return NULL;
}

/* ---- reader: entry points ---------------------------------------------- */

/* The whole file in memory (its real size: a header cannot inflate it). */
static int read_whole_file(const char *path, uint8_t **out, size_t *size)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return arnet__error(ARNET_E_IO, "%s: cannot open: %s", path, strerror(errno));
    struct stat sb;
    if (fstat(fd, &sb) != 0) {
        int e = errno;
        close(fd);
        return arnet__error(ARNET_E_IO, "%s: cannot stat: %s", path, strerror(e));
    }
    if (!S_ISREG(sb.st_mode)) {
        close(fd);
        return arnet__error(ARNET_E_IO, "%s: not a regular file", path);
    }
    if ((uint64_t)sb.st_size > SIZE_MAX - 1) {
        close(fd);
        return arnet__error(ARNET_E_NOMEM, "%s: too large to read", path);
    }
    size_t n = (size_t)sb.st_size;
    uint8_t *buf = arnet__alloc(n + 1, 1, "checkpoint file");
    if (!buf) {
        close(fd);
        arnet__error_prefix("%s", path);
        return ARNET_E_NOMEM;
    }
    size_t got = 0;
    /* Read one byte more than expected: a file that grew is noticed. */
    while (got < n + 1) {
        ssize_t k = read(fd, buf + got, n + 1 - got > (1u << 30) ? (1u << 30) : n + 1 - got);
        if (k < 0) {
            if (errno == EINTR)
                continue;
            int e = errno;
            free(buf);
            close(fd);
            return arnet__error(ARNET_E_IO, "%s: read failed: %s", path, strerror(e));
        }
        if (k == 0)
            break;
        got += (size_t)k;
    }
    close(fd);
    if (got != n) {
        free(buf);
        return arnet__error(ARNET_E_IO, "%s: the file changed size while being read", path);
    }
    *out = buf;
    *size = n;
    return ARNET_OK;
}

static int load_memory(const uint8_t *data, size_t size, const char *name, arnet_model **model,
                       arnet__loaded_extra **extra)
{
    ckp c;
    int rc = open_file(&c, data, size, name);
    arnet_model *m = NULL;
    arnet__loaded_extra *e = NULL;
    if (!rc)
        rc = load_model(&c, &m);
    if (!rc && extra)
        rc = load_extra(&c, &e);
    free(c.sec);
    if (rc) {
        arnet_model_free(m);
        return rc;
    }
    if (model)
        *model = m;
    else
        arnet_model_free(m);
    if (extra)
        *extra = e;
    return ARNET_OK;
}

int arnet__checkpoint_load(const char *path, arnet_model **model, arnet__loaded_extra **extra)
{
    if (!path)
        return arnet__error(ARNET_E_INVALID, "checkpoint load: path is NULL");
    uint8_t *data;
    size_t size;
    int rc = read_whole_file(path, &data, &size);
    if (rc)
        return rc;
    rc = load_memory(data, size, path, model, extra);
    free(data);
    return rc;
}

int arnet_model_load(const char *path, arnet_model **out)
{
    if (!path || !out)
        return arnet__error(ARNET_E_INVALID, "arnet_model_load: %s is NULL",
                            !path ? "path" : "out");
    return arnet__checkpoint_load(path, out, NULL);
}

int arnet_model_load_buffer(const void *buf, size_t size, arnet_model **out)
{
    if (!buf || !out)
        return arnet__error(ARNET_E_INVALID, "arnet_model_load_buffer: %s is NULL",
                            !buf ? "buf" : "out");
    return load_memory(buf, size, "checkpoint buffer", out, NULL);
}

/* ---- file information -------------------------------------------------- */

void arnet_file_info_init(arnet_file_info *info)
{
    if (!info)
        return;
    memset(info, 0, sizeof *info);
    info->struct_size = sizeof *info;
}

static int info_from_memory(const uint8_t *data, size_t size, const char *name,
                            arnet_file_info *info)
{
    ckp c;
    int rc = open_file(&c, data, size, name);
    if (rc) {
        free(c.sec);
        return rc;
    }
    info->format_major = c.major;
    info->format_minor = c.minor;
    info->feature_dim = c.feature_dim;
    info->hidden_dim = c.hidden_dim;
    info->dropout = c.dropout;
    info->file_size = size;
    info->n_sections = c.n_sec;
    info->storage = -1;
    for (uint32_t i = 0; i < c.n_sec && !rc; i++) {
        uint32_t t = c.sec[i].type;
        info->n_tensors += t == SEC_TENSOR || t == SEC_TRAINER_TENSOR;
        info->has_trainer |= t == SEC_TRAINER_TENSOR || t == SEC_TRAINER_KV;
        if (t == SEC_TENSOR && info->storage < 0) {
            sec_stream st;
            tensor_desc d;
            if ((rc = stream_open(&c, i, &st)))
                break;
            rc = read_tensor_desc(&st, &d);
            stream_close(&st);
            info->storage = (int)d.storage;
        }
    }
    free(c.sec);
    if (!rc && info->storage < 0)
        rc = arnet__error(ARNET_E_FORMAT, "%s: no model tensors", name);
    return rc;
}

int arnet_file_info_read(const char *path, arnet_file_info *info)
{
    if (!path || !info)
        return arnet__error(ARNET_E_INVALID, "arnet_file_info_read: %s is NULL",
                            !path ? "path" : "info");
    int rc = ARNET__STRUCT_CHECK("arnet_file_info_read", arnet_file_info, info);
    if (rc)
        return rc;
    uint8_t *data;
    size_t size;
    rc = read_whole_file(path, &data, &size);
    if (rc)
        return rc;
    arnet_file_info full;
    arnet_file_info_init(&full);
    rc = info_from_memory(data, size, path, &full);
    free(data);
    if (rc)
        return rc;
    /* An older caller's smaller struct gets the fields it knows. */
    ARNET__STRUCT_OUT(arnet_file_info, info, &full);
    return ARNET_OK;
}

/* ---- listing ----------------------------------------------------------- */

typedef struct list_ctx {
    arnet_file_entry_fn fn;
    void *user;
    arnet_file_entry entry;
} list_ctx;

static int emit(list_ctx *l)
{
    if (l->fn(l->user, &l->entry) != 0)
        return arnet__error(ARNET_E_CANCELLED, "arnet_file_list: stopped by the callback");
    return ARNET_OK;
}

static int list_kv_cb(const char *key, const char *value, void *ctx)
{
    list_ctx *l = ctx;
    l->entry.name = key;
    l->entry.value = value;
    return emit(l);
}

static int list_section(const ckp *c, uint32_t i, list_ctx *l)
{
    const in_section *s = &c->sec[i];
    arnet_file_entry *e = &l->entry;
    memset(e, 0, sizeof *e);
    e->struct_size = sizeof *e;
    e->section_type = s->type;
    e->trainer = s->type == SEC_TRAINER_TENSOR || s->type == SEC_TRAINER_KV;
    switch (s->type) {
    case SEC_CONFIG:
        return ARNET_OK;
    case SEC_META:
    case SEC_TRAINER_KV:
        e->kind = ARNET_ENTRY_META;
        return read_kv(c, i, list_kv_cb, l);
    case SEC_TENSOR:
    case SEC_TRAINER_TENSOR: {
        sec_stream st;
        tensor_desc d;
        int rc = stream_open(c, i, &st);
        if (rc)
            return rc;
        rc = read_tensor_desc(&st, &d);
        stream_close(&st);
        if (rc)
            return rc;
        e->kind = ARNET_ENTRY_TENSOR;
        e->name = d.name;
        e->ndim = d.ndim;
        memcpy(e->dims, d.dims, sizeof e->dims);
        e->storage = (int)d.storage;
        e->stored_bytes = s->stored;
        return emit(l);
    }
    default:
        e->kind = ARNET_ENTRY_UNKNOWN;
        e->stored_bytes = s->stored;
        return emit(l);
    }
}

int arnet_file_list(const char *path, arnet_file_entry_fn fn, void *user)
{
    if (!path || !fn)
        return arnet__error(ARNET_E_INVALID, "arnet_file_list: %s is NULL",
                            !path ? "path" : "fn");
    uint8_t *data;
    size_t size;
    int rc = read_whole_file(path, &data, &size);
    if (rc)
        return rc;
    ckp c;
    rc = open_file(&c, data, size, path);
    list_ctx l = {fn, user, {0}};
    for (uint32_t i = 0; i < c.n_sec && !rc; i++)
        rc = list_section(&c, i, &l);
    free(c.sec);
    free(data);
    return rc;
}
