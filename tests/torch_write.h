/* torch_write.h -- a writer of torch.save-style files for the tests (header
 * only): pickles built opcode by opcode, the legacy container and a zip
 * archive (stored or deflated entries), so the tests can make valid files
 * with chosen contents and hostile ones byte by byte. */
#ifndef ARNET_TEST_TORCH_WRITE_H
#define ARNET_TEST_TORCH_WRITE_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

typedef struct tw_buf {
    uint8_t *p;
    size_t n, cap;
} tw_buf;

static inline void tw_bytes(tw_buf *b, const void *src, size_t n)
{
    if (b->n + n > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->n + n)
            cap *= 2;
        b->p = realloc(b->p, cap);
        if (!b->p)
            abort();
        b->cap = cap;
    }
    memcpy(b->p + b->n, src, n);
    b->n += n;
}

static inline void tw_u8(tw_buf *b, uint8_t v) { tw_bytes(b, &v, 1); }
static inline void tw_u32(tw_buf *b, uint32_t v)
{
    uint8_t x[4] = { (uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16), (uint8_t)(v >> 24) };
    tw_bytes(b, x, 4);
}
static inline void tw_u16(tw_buf *b, uint16_t v)
{
    uint8_t x[2] = { (uint8_t)v, (uint8_t)(v >> 8) };
    tw_bytes(b, x, 2);
}
static inline void tw_u64(tw_buf *b, uint64_t v)
{
    tw_u32(b, (uint32_t)v);
    tw_u32(b, (uint32_t)(v >> 32));
}

/* ---- pickle opcodes ---------------------------------------------------------- */

static inline void pk_str(tw_buf *b, const char *s)
{
    tw_u8(b, 'X');
    tw_u32(b, (uint32_t)strlen(s));
    tw_bytes(b, s, strlen(s));
}

static inline void pk_int(tw_buf *b, int64_t v)
{
    if (v >= 0 && v < 256) {
        tw_u8(b, 'K');
        tw_u8(b, (uint8_t)v);
    } else if (v >= INT32_MIN && v <= INT32_MAX) {
        tw_u8(b, 'J');
        tw_u32(b, (uint32_t)(int32_t)v);
    } else { /* LONG1, 8 bytes */
        tw_u8(b, 0x8a);
        tw_u8(b, 8);
        tw_u64(b, (uint64_t)v);
    }
}

static inline void pk_global(tw_buf *b, const char *mod, const char *name)
{
    tw_u8(b, 'c');
    tw_bytes(b, mod, strlen(mod));
    tw_u8(b, '\n');
    tw_bytes(b, name, strlen(name));
    tw_u8(b, '\n');
}

/* ---- state dicts -------------------------------------------------------------- */

enum { TW_F32, TW_F64, TW_F16, TW_I64 };
static const char *const tw_storage_class[] = { "FloatStorage", "DoubleStorage", "HalfStorage",
                                                "LongStorage" };
static const size_t tw_elem[] = { 4, 8, 2, 8 };

typedef struct tw_tensor {
    const char *name;
    int dtype;
    uint32_t ndim;
    uint64_t shape[8];
    const void *data; /* contiguous, numel elements of dtype */
    /* optional: a view: storage numel, offset and strides (0: contiguous) */
    uint64_t storage_numel, offset, stride[8];
    int has_stride;
} tw_tensor;

static inline uint64_t tw_numel(const tw_tensor *t)
{
    uint64_t n = 1;
    for (uint32_t d = 0; d < t->ndim; d++)
        n *= t->shape[d];
    return n;
}

/* One _rebuild_tensor_v2(...) call of tensor t on the storage called key
 * (legacy ids carry a sixth element, view_metadata None; legacy 2: torch
 * 0.3's _rebuild_tensor(storage, offset, size, stride)): the value of a
 * state dict entry. */
static inline void pk_tensor(tw_buf *b, const tw_tensor *t, const char *key, int legacy)
{
    pk_global(b, "torch._utils", legacy == 2 ? "_rebuild_tensor" : "_rebuild_tensor_v2");
    tw_u8(b, '(');
    tw_u8(b, '(');
    pk_str(b, "storage");
    pk_global(b, "torch", tw_storage_class[t->dtype]);
    pk_str(b, key);
    pk_str(b, "cpu");
    pk_int(b, (int64_t)(t->storage_numel ? t->storage_numel : tw_numel(t)));
    if (legacy)
        tw_u8(b, 'N');
    tw_u8(b, 't');
    tw_u8(b, 'Q');
    pk_int(b, (int64_t)t->offset);
    tw_u8(b, '(');
    for (uint32_t d = 0; d < t->ndim; d++)
        pk_int(b, (int64_t)t->shape[d]);
    tw_u8(b, 't');
    tw_u8(b, '(');
    uint64_t s = 1;
    uint64_t strides[8];
    for (uint32_t d = t->ndim; d-- > 0;) {
        strides[d] = t->has_stride ? t->stride[d] : s;
        s *= t->shape[d];
    }
    for (uint32_t d = 0; d < t->ndim; d++)
        pk_int(b, (int64_t)strides[d]);
    tw_u8(b, 't');
    if (legacy != 2) {
        tw_u8(b, 0x89);
        pk_global(b, "collections", "OrderedDict");
        tw_u8(b, ')');
        tw_u8(b, 'R');
    }
    tw_u8(b, 't');
    tw_u8(b, 'R');
}

/* The state dict pickle: OrderedDict of pk_tensor calls, storage i keyed
 * "i". */
static inline void pk_state_dict(tw_buf *b, const tw_tensor *t, size_t n, int legacy)
{
    tw_u8(b, 0x80);
    tw_u8(b, 2);
    pk_global(b, "collections", "OrderedDict");
    tw_u8(b, ')');
    tw_u8(b, 'R');
    tw_u8(b, '(');
    for (size_t i = 0; i < n; i++) {
        char key[24];
        snprintf(key, sizeof key, "%zu", i);
        pk_str(b, t[i].name);
        pk_tensor(b, &t[i], key, legacy);
    }
    tw_u8(b, 'u');
    tw_u8(b, '.');
}

static inline size_t tw_storage_bytes(const tw_tensor *t)
{
    return (size_t)(t->storage_numel ? t->storage_numel : tw_numel(t)) * tw_elem[t->dtype];
}

/* A legacy torch.save file with the given main pickle (NULL: the state
 * dict of t). */
static inline void tw_legacy(tw_buf *out, const tw_tensor *t, size_t n, const tw_buf *main_pickle)
{
    static const uint8_t magic[] = { 0x80, 0x02, 0x8a, 0x0a, 0x6c, 0xfc, 0x9c, 0x46, 0xf9,
                                     0x20, 0x6a, 0xa8, 0x50, 0x19, '.' };
    tw_bytes(out, magic, sizeof magic);
    static const uint8_t proto[] = { 0x80, 0x02, 'M', 0xe9, 0x03, '.' };
    tw_bytes(out, proto, sizeof proto);
    tw_u8(out, 0x80);
    tw_u8(out, 2);
    tw_u8(out, '}');
    tw_u8(out, '(');
    pk_str(out, "protocol_version");
    pk_int(out, 1001);
    pk_str(out, "little_endian");
    tw_u8(out, 0x88);
    tw_u8(out, 'u');
    tw_u8(out, '.');
    if (main_pickle)
        tw_bytes(out, main_pickle->p, main_pickle->n);
    else
        pk_state_dict(out, t, n, 1);
    tw_u8(out, 0x80);
    tw_u8(out, 2);
    tw_u8(out, ']');
    tw_u8(out, '(');
    for (size_t i = 0; i < n; i++) {
        char key[24];
        snprintf(key, sizeof key, "%zu", i);
        pk_str(out, key);
    }
    tw_u8(out, 'e');
    tw_u8(out, '.');
    for (size_t i = 0; i < n; i++) {
        tw_u64(out, t[i].storage_numel ? t[i].storage_numel : tw_numel(&t[i]));
        tw_bytes(out, t[i].data, tw_storage_bytes(&t[i]));
    }
}

/* ---- zip ------------------------------------------------------------------------ */

typedef struct tw_entry {
    char name[64];
    const uint8_t *data;
    size_t n;
    int deflate;
    /* deflate 2: data (n bytes) is already a raw deflate stream of usize
     * bytes with CRC-32 crc */
    uint64_t usize;
    uint32_t crc;
} tw_entry;

static inline void tw_zip(tw_buf *out, const tw_entry *e, size_t n)
{
    uint32_t *offsets = calloc(n, sizeof *offsets), *crcs = calloc(n, sizeof *crcs);
    size_t *csizes = calloc(n, sizeof *csizes);
    uint8_t **cdata = calloc(n, sizeof *cdata);
    for (size_t i = 0; i < n; i++) {
        crcs[i] = e[i].deflate == 2 ? e[i].crc : (uint32_t)crc32(0L, e[i].data, (uInt)e[i].n);
        if (e[i].deflate == 2) {
            cdata[i] = malloc(e[i].n ? e[i].n : 1);
            memcpy(cdata[i], e[i].data, e[i].n);
            csizes[i] = e[i].n;
        } else if (e[i].deflate) {
            z_stream z;
            memset(&z, 0, sizeof z);
            deflateInit2(&z, 6, Z_DEFLATED, -15, 8, Z_DEFAULT_STRATEGY);
            size_t cap = deflateBound(&z, (uLong)e[i].n);
            cdata[i] = malloc(cap);
            z.next_in = (Bytef *)e[i].data;
            z.avail_in = (uInt)e[i].n;
            z.next_out = cdata[i];
            z.avail_out = (uInt)cap;
            deflate(&z, Z_FINISH);
            csizes[i] = z.total_out;
            deflateEnd(&z);
        } else {
            csizes[i] = e[i].n;
        }
        offsets[i] = (uint32_t)out->n;
        tw_u32(out, 0x04034b50u);
        tw_u16(out, 20);
        tw_u16(out, 0);
        tw_u16(out, e[i].deflate ? 8 : 0);
        tw_u32(out, 0);
        tw_u32(out, crcs[i]);
        tw_u32(out, (uint32_t)csizes[i]);
        tw_u32(out, (uint32_t)(e[i].deflate == 2 ? e[i].usize : e[i].n));
        tw_u16(out, (uint16_t)strlen(e[i].name));
        tw_u16(out, 0);
        tw_bytes(out, e[i].name, strlen(e[i].name));
        tw_bytes(out, e[i].deflate ? cdata[i] : e[i].data, csizes[i]);
    }
    size_t cd = out->n;
    for (size_t i = 0; i < n; i++) {
        tw_u32(out, 0x02014b50u);
        tw_u16(out, 20);
        tw_u16(out, 20);
        tw_u16(out, 0);
        tw_u16(out, e[i].deflate ? 8 : 0);
        tw_u32(out, 0);
        tw_u32(out, crcs[i]);
        tw_u32(out, (uint32_t)csizes[i]);
        tw_u32(out, (uint32_t)(e[i].deflate == 2 ? e[i].usize : e[i].n));
        tw_u16(out, (uint16_t)strlen(e[i].name));
        tw_u16(out, 0);
        tw_u16(out, 0);
        tw_u16(out, 0);
        tw_u16(out, 0);
        tw_u32(out, 0);
        tw_u32(out, offsets[i]);
        tw_bytes(out, e[i].name, strlen(e[i].name));
    }
    size_t cd_size = out->n - cd;
    tw_u32(out, 0x06054b50u);
    tw_u16(out, 0);
    tw_u16(out, 0);
    tw_u16(out, (uint16_t)n);
    tw_u16(out, (uint16_t)n);
    tw_u32(out, (uint32_t)cd_size);
    tw_u32(out, (uint32_t)cd);
    tw_u16(out, 0);
    for (size_t i = 0; i < n; i++)
        free(cdata[i]);
    free(cdata);
    free(offsets);
    free(crcs);
    free(csizes);
}

/* A zip torch.save file: <prefix>/data.pkl (main_pickle, or the state dict
 * of t) and <prefix>/data/<i> per tensor; deflate 1 deflates every entry. */
static inline void tw_zipfile(tw_buf *out, const char *prefix, const tw_tensor *t, size_t n,
                       const tw_buf *main_pickle, int deflate)
{
    tw_buf pkl = { 0 };
    if (!main_pickle)
        pk_state_dict(&pkl, t, n, 0);
    tw_entry *e = calloc(n + 2, sizeof *e);
    snprintf(e[0].name, sizeof e[0].name, "%s/data.pkl", prefix);
    e[0].data = main_pickle ? main_pickle->p : pkl.p;
    e[0].n = main_pickle ? main_pickle->n : pkl.n;
    e[0].deflate = deflate;
    for (size_t i = 0; i < n; i++) {
        snprintf(e[i + 1].name, sizeof e[i + 1].name, "%s/data/%zu", prefix, i);
        e[i + 1].data = t[i].data;
        e[i + 1].n = tw_storage_bytes(&t[i]);
        e[i + 1].deflate = deflate;
    }
    snprintf(e[n + 1].name, sizeof e[n + 1].name, "%s/version", prefix);
    e[n + 1].data = (const uint8_t *)"3\n";
    e[n + 1].n = 2;
    tw_zip(out, e, n + 2);
    free(e);
    free(pkl.p);
}

static inline int tw_save(const char *path, const tw_buf *b)
{
    FILE *f = fopen(path, "wb");
    if (!f)
        return -1;
    size_t w = fwrite(b->p, 1, b->n, f);
    return fclose(f) == 0 && w == b->n ? 0 : -1;
}

#endif /* ARNET_TEST_TORCH_WRITE_H */
