/* container_write.c -- building a container file in memory: sections
 * appended raw and compressed one at a time (zlib, CRC-32), tensors in f32
 * or f16, then the table and the header (docs/checkpoint-format.md). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "container.h"

/* ---- writer ------------------------------------------------------------ */

static uint8_t *bytes_grow(arnet__bytes *b, size_t n)
{
    if (b->failed)
        return NULL;
    if (n > SIZE_MAX - b->len) {
        b->failed = 1;
        return NULL;
    }
    /* An empty buffer gets its memory even for n = 0: the result is a
     * pointer into it, and NULL + 0 is undefined behaviour in C (an empty
     * section did that; UBSan's run of test_container found it). */
    if (!b->p || b->len + n > b->cap) {
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

int arnet__cw_init(arnet__cwriter *w, const char *who, int level, size_t max_sections)
{
    memset(w, 0, sizeof *w);
    w->who = who;
    w->level = level;
    w->cap_sec = max_sections;
    if (max_sections < 1 || max_sections > ARNET__CKP_MAX_SECTIONS)
        return w->status = arnet__error(ARNET_E_INVALID,
                                        "%s: %zu sections, not in 1..%u", who, max_sections,
                                        ARNET__CKP_MAX_SECTIONS);
    w->sec = arnet__calloc(max_sections, sizeof *w->sec, "checkpoint section list");
    if (!w->sec)
        return w->status = ARNET_E_NOMEM;
    /* Header and table go first; they are filled in by finish. */
    if (!bytes_grow(&w->file,
                    ARNET__CKP_HEADER_SIZE + max_sections * (size_t)ARNET__CKP_ENTRY_SIZE))
        return w->status = arnet__error(ARNET_E_NOMEM, "%s: out of memory", who);
    return ARNET_OK;
}

void arnet__cw_free(arnet__cwriter *w)
{
    free(w->file.p);
    free(w->raw.p);
    free(w->sec);
    w->file.p = w->raw.p = NULL;
    w->sec = NULL;
}

void arnet__cw_bytes(arnet__cwriter *w, const void *src, size_t n)
{
    uint8_t *at = bytes_grow(&w->raw, n);
    if (at && n)
        memcpy(at, src, n);
}

void arnet__cw_u8(arnet__cwriter *w, uint8_t v) { arnet__cw_bytes(w, &v, 1); }

void arnet__cw_u16(arnet__cwriter *w, uint16_t v)
{
    uint8_t *at = bytes_grow(&w->raw, 2);
    if (at)
        arnet__set_u16(at, v);
}

void arnet__cw_u32(arnet__cwriter *w, uint32_t v)
{
    uint8_t *at = bytes_grow(&w->raw, 4);
    if (at)
        arnet__set_u32(at, v);
}

void arnet__cw_u64(arnet__cwriter *w, uint64_t v)
{
    uint8_t *at = bytes_grow(&w->raw, 8);
    if (at)
        arnet__set_u64(at, v);
}

void arnet__cw_kv_pair(arnet__cwriter *w, const char *key, const char *value)
{
    size_t kl = strlen(key), vl = strlen(value);
    arnet__cw_u16(w, (uint16_t)kl);
    arnet__cw_bytes(w, key, kl);
    arnet__cw_u32(w, (uint32_t)vl);
    arnet__cw_bytes(w, value, vl);
}

int arnet__cw_end_section(arnet__cwriter *w, uint32_t type, uint16_t flags)
{
    if (w->status)
        return w->status;
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
    arnet__cw_section *s = &w->sec[w->n_sec++];
    s->type = type;
    s->flags = flags;
    s->offset = at;
    s->stored = clen;
    s->raw = w->raw.len;
    s->crc = arnet__crc32(w->file.p + at, clen);
    w->raw.len = 0;
    int minor = arnet__section_type_minor(type);
    if (minor > (int)w->minor)
        w->minor = (uint16_t)minor;
    return ARNET_OK;
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

int arnet__cw_tensor(arnet__cwriter *w, uint32_t type, uint16_t flags, const arnet__tensor *t,
                     int storage)
{
    uint64_t count = 0;
    if (!tensor_count(t, &count) || count > (SIZE_MAX - 4096) / 4)
        return arnet__error(ARNET_E_INVALID, "%s: tensor %s: shape overflows", w->who, t->name);
    size_t name_len = strlen(t->name);
    arnet__cw_u16(w, (uint16_t)name_len);
    arnet__cw_bytes(w, t->name, name_len);
    arnet__cw_u8(w, (uint8_t)storage);
    arnet__cw_u8(w, (uint8_t)t->ndim);
    for (uint32_t i = 0; i < t->ndim; i++)
        arnet__cw_u64(w, t->dims[i]);
    uint8_t *at = bytes_grow(&w->raw, (size_t)count * (storage == ARNET_STORAGE_F16 ? 2 : 4));
    if (at) {
        for (uint64_t i = 0; i < count; i++) {
            if (storage == ARNET_STORAGE_F16) {
                float v = t->data[i];
                /* From 65520 up, rounding gives infinity: a changed model. */
                if (isfinite(v) && fabsf(v) >= 65520.0f) {
                    w->raw.len = 0;
                    return arnet__error(ARNET_E_INVALID,
                                        "%s: tensor %s[%llu] = %g does not fit in f16 "
                                        "(largest 65504); save with ARNET_STORAGE_F32",
                                        w->who, t->name, (unsigned long long)i, (double)v);
                }
                arnet__set_u16(at + 2 * i, arnet__f32_to_f16(v));
            } else {
                arnet__set_u32(at + 4 * i, arnet__float_bits(t->data[i]));
            }
        }
    }
    return arnet__cw_end_section(w, type, flags);
}

int arnet__cw_kind(arnet__cwriter *w, const char *kind)
{
    if (!kind || !arnet__valid_name(kind, ARNET__KIND_MAX) || !strcmp(kind, "model"))
        return arnet__error(ARNET_E_INVALID,
                            "%s: kind must be 1..%d printable ASCII characters, not \"model\"",
                            w->who, ARNET__KIND_MAX);
    arnet__cw_bytes(w, kind, strlen(kind));
    return arnet__cw_end_section(w, ARNET__SEC_KIND, ARNET__SECF_REQUIRED);
}

int arnet__cw_finish(arnet__cwriter *w, uint8_t **out, size_t *size)
{
    int rc = w->status;
    if (!rc && w->n_sec < 1)
        rc = arnet__error(ARNET_E_INVALID, "%s: no sections", w->who);
    if (!rc && w->n_sec != w->cap_sec)
        /* The table was reserved for cap_sec entries: keep the layout exact. */
        rc = arnet__error(ARNET_E_INVALID, "%s: %zu sections written, %zu announced", w->who,
                          w->n_sec, w->cap_sec);
    if (rc) {
        arnet__cw_free(w);
        return rc;
    }
    uint8_t *t = w->file.p + ARNET__CKP_HEADER_SIZE;
    for (size_t i = 0; i < w->n_sec; i++, t += ARNET__CKP_ENTRY_SIZE) {
        const arnet__cw_section *s = &w->sec[i];
        arnet__set_u32(t, s->type);
        arnet__set_u16(t + 4, s->flags);
        arnet__set_u16(t + 6, ARNET__CODEC_ZLIB);
        arnet__set_u64(t + 8, s->offset);
        arnet__set_u64(t + 16, s->stored);
        arnet__set_u64(t + 24, s->raw);
        arnet__set_u32(t + 32, s->crc);
        arnet__set_u32(t + 36, 0);
    }
    uint8_t *h = w->file.p;
    memcpy(h, ARNET__CKP_MAGIC, 8);
    arnet__set_u16(h + 8, ARNET__CKP_MAJOR);
    arnet__set_u16(h + 10, w->minor);
    arnet__set_u32(h + 12, 0);
    arnet__set_u32(h + 16, (uint32_t)w->n_sec);
    arnet__set_u32(h + 20,
                   arnet__crc32(h + ARNET__CKP_HEADER_SIZE, w->n_sec * ARNET__CKP_ENTRY_SIZE));
    arnet__set_u64(h + 24, w->file.len);
    arnet__set_u32(h + 32, 0);
    arnet__set_u32(h + 36, arnet__crc32(h, 36));
    *out = w->file.p;
    *size = w->file.len;
    w->file.p = NULL;
    arnet__cw_free(w);
    return ARNET_OK;
}
