/* container_read.c -- reading a container file: header and table checked
 * before anything else (sizes, offsets, CRCs, codecs, required types), the
 * kind, section streams that never inflate past their stated size, tensor
 * descriptors and data, key/value pairs (docs/checkpoint-format.md). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "container.h"

/* Deflate never expands data more than 1032 times (zlib FAQ): a larger raw
 * size in a zlib section is a lie, refused before anything is allocated. */
#define ZLIB_MAX_RATIO 1032u

/* ---- reader: header and table ------------------------------------------ */

int arnet__container_bad(const arnet__container *c, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return arnet__error(ARNET_E_FORMAT, "%s: %s", c->name, msg);
}

#define bad arnet__container_bad

static int check_header(arnet__container *c)
{
    const uint8_t *h = c->data;
    size_t n = c->size < 8 ? c->size : 8;
    if (memcmp(h, ARNET__CKP_MAGIC, n) != 0)
        return bad(c, "not an arnet checkpoint (the file does not start with \"%s\")",
                   ARNET__CKP_MAGIC);
    if (c->size < ARNET__CKP_HEADER_SIZE)
        return bad(c, "truncated: %zu bytes, shorter than the %d-byte header", c->size,
                   ARNET__CKP_HEADER_SIZE);
    /* The version comes before the checksum: another major version may
     * lay its header out differently. */
    c->major = arnet__get_u16(h + 8);
    c->minor = arnet__get_u16(h + 10);
    if (c->major != ARNET__CKP_MAJOR)
        return bad(c,
                   "format version %u.%u is not supported: this library reads %d.x "
                   "(it writes %d.0 and %d.%d)%s",
                   c->major, c->minor, ARNET__CKP_MAJOR, ARNET__CKP_MAJOR, ARNET__CKP_MAJOR,
                   ARNET__CKP_MINOR_MAX,
                   c->major > ARNET__CKP_MAJOR ? "; the file needs a newer libarnet" : "");
    uint32_t want = arnet__get_u32(h + 36), got = arnet__crc32(h, 36);
    if (want != got)
        return bad(c, "header checksum mismatch (stored %08x, computed %08x): corrupted", want,
                   got);
    uint64_t fsize = arnet__get_u64(h + 24);
    if (fsize != c->size)
        return bad(c, "%s: the header says %llu bytes, the file has %zu",
                   fsize > c->size ? "truncated" : "trailing data", (unsigned long long)fsize,
                   c->size);
    c->n_sec = arnet__get_u32(h + 16);
    if (c->n_sec < 1 || c->n_sec > ARNET__CKP_MAX_SECTIONS)
        return bad(c, "section count %u not in 1..%u", c->n_sec, ARNET__CKP_MAX_SECTIONS);
    if ((uint64_t)c->n_sec * ARNET__CKP_ENTRY_SIZE > c->size - ARNET__CKP_HEADER_SIZE)
        return bad(c, "section table of %u entries runs past the end of the file (%zu bytes)",
                   c->n_sec, c->size);
    want = arnet__get_u32(h + 20);
    got = arnet__crc32(h + ARNET__CKP_HEADER_SIZE, (size_t)c->n_sec * ARNET__CKP_ENTRY_SIZE);
    if (want != got)
        return bad(c, "section table checksum mismatch (stored %08x, computed %08x): corrupted",
                   want, got);
    return ARNET_OK;
}

/* Every entry: inside the file, in order, sizes consistent with the codec,
 * payload CRC right, required types known. */
static int check_table(arnet__container *c)
{
    c->sec = arnet__calloc(c->n_sec, sizeof *c->sec, "checkpoint section table");
    if (!c->sec)
        return ARNET_E_NOMEM;
    uint64_t prev_end = ARNET__CKP_HEADER_SIZE + (uint64_t)c->n_sec * ARNET__CKP_ENTRY_SIZE;
    for (uint32_t i = 0; i < c->n_sec; i++) {
        const uint8_t *e = c->data + ARNET__CKP_HEADER_SIZE + (size_t)i * ARNET__CKP_ENTRY_SIZE;
        arnet__csection *s = &c->sec[i];
        s->type = arnet__get_u32(e);
        s->flags = arnet__get_u16(e + 4);
        s->codec = arnet__get_u16(e + 6);
        s->offset = arnet__get_u64(e + 8);
        s->stored = arnet__get_u64(e + 16);
        s->raw = arnet__get_u64(e + 24);
        const char *tn = arnet__section_type_name(s->type);
        if (s->offset < prev_end || s->offset > c->size || s->stored > c->size - s->offset)
            return bad(c,
                       "section %u (%s) at offset %llu, %llu bytes, lies outside bytes "
                       "%llu..%zu",
                       i, tn, (unsigned long long)s->offset, (unsigned long long)s->stored,
                       (unsigned long long)prev_end, c->size);
        prev_end = s->offset + s->stored;
        uint32_t want = arnet__get_u32(e + 32);
        uint32_t got = arnet__crc32(c->data + s->offset, (size_t)s->stored);
        if (want != got)
            return bad(c,
                       "section %u (%s) checksum mismatch (stored %08x, computed %08x): "
                       "corrupted",
                       i, tn, want, got);
        if (arnet__section_type_minor(s->type) < 0) {
            if (s->flags & ARNET__SECF_REQUIRED)
                return bad(c,
                           "section %u has type %u, which this library does not know and "
                           "the file (format %u.%u) marks as required",
                           i, s->type, c->major, c->minor);
            continue;
        }
        if (s->codec == ARNET__CODEC_NONE && s->raw != s->stored)
            return bad(c, "section %u (%s) is stored uncompressed but its sizes differ", i, tn);
        if (s->codec == ARNET__CODEC_ZLIB && s->raw / ZLIB_MAX_RATIO > s->stored)
            return bad(c,
                       "section %u (%s) claims %llu bytes from %llu compressed, more than "
                       "zlib can expand",
                       i, tn, (unsigned long long)s->raw, (unsigned long long)s->stored);
        if (s->codec != ARNET__CODEC_NONE && s->codec != ARNET__CODEC_ZLIB)
            return bad(c, "section %u (%s) has unknown compression %u", i, tn, s->codec);
    }
    return ARNET_OK;
}

/* At most one kind section, 1..31 printable characters, not "model". */
static int read_kind(arnet__container *c)
{
    uint32_t found = c->n_sec;
    strcpy(c->kind, "model");
    for (uint32_t i = 0; i < c->n_sec; i++) {
        if (c->sec[i].type != ARNET__SEC_KIND)
            continue;
        if (found != c->n_sec)
            return bad(c, "two kind sections (%u and %u)", found, i);
        found = i;
    }
    if (found == c->n_sec)
        return ARNET_OK;
    const arnet__csection *s = &c->sec[found];
    if (s->raw < 1 || s->raw > ARNET__KIND_MAX)
        return bad(c, "kind section of %llu bytes, not in 1..%d", (unsigned long long)s->raw,
                   ARNET__KIND_MAX);
    arnet__sec_stream st;
    char kind[ARNET__KIND_MAX + 1];
    int rc = arnet__stream_open(c, found, &st);
    if (!rc)
        rc = arnet__stream_read(&st, kind, (size_t)s->raw);
    if (!rc)
        rc = arnet__stream_finish(&st);
    arnet__stream_close(&st);
    if (rc)
        return rc;
    kind[s->raw] = '\0';
    if (!arnet__valid_name(kind, ARNET__KIND_MAX) || strlen(kind) != s->raw ||
        !strcmp(kind, "model"))
        return bad(c, "the kind section does not hold a kind name");
    memcpy(c->kind, kind, (size_t)s->raw + 1);
    return ARNET_OK;
}

int arnet__container_open(arnet__container *c, const uint8_t *data, size_t size,
                          const char *name)
{
    memset(c, 0, sizeof *c);
    c->name = name;
    c->data = data;
    c->size = size;
    strcpy(c->kind, "model");
    int rc = check_header(c);
    if (!rc)
        rc = check_table(c);
    if (!rc)
        rc = read_kind(c);
    return rc;
}

int arnet__container_load(const char *path, arnet__container *c)
{
    memset(c, 0, sizeof *c);
    c->name = path;
    uint8_t *data;
    size_t size;
    int rc = arnet__read_file(path, &data, &size);
    if (rc)
        return rc;
    rc = arnet__container_open(c, data, size, path);
    c->owned = data;
    return rc;
}

void arnet__container_close(arnet__container *c)
{
    free(c->sec);
    free(c->owned);
    c->sec = NULL;
    c->owned = NULL;
}

const char *arnet__container_kind(const arnet__container *c) { return c->kind; }

/* ---- reader: section streams ------------------------------------------- */

int arnet__stream_open(const arnet__container *c, uint32_t index, arnet__sec_stream *st)
{
    memset(st, 0, sizeof *st);
    st->c = c;
    st->s = &c->sec[index];
    st->index = index;
    st->in = c->data + st->s->offset;
    st->in_left = st->s->stored;
    if (st->s->codec == ARNET__CODEC_ZLIB) {
        if (inflateInit(&st->z) != Z_OK)
            return arnet__error(ARNET_E_NOMEM, "%s: cannot start zlib", c->name);
        st->zopen = 1;
    }
    return ARNET_OK;
}

void arnet__stream_close(arnet__sec_stream *st)
{
    if (st->zopen)
        inflateEnd(&st->z);
    st->zopen = 0;
}

int arnet__stream_bad(const arnet__sec_stream *st, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return bad(st->c, "section %u (%s): %s", st->index, arnet__section_type_name(st->s->type),
               msg);
}

/* Inflate up to n bytes into dst; *got says how many came, *end is set when
 * the compressed stream finished. */
static int inflate_some(arnet__sec_stream *st, uint8_t *dst, size_t n, size_t *got, int *end)
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
            return arnet__stream_bad(st, "compressed data ends early");
        /* zlib allocates its window on the first inflate call: out of
         * memory there says nothing about the file. */
        if (zr == Z_MEM_ERROR)
            return arnet__error(ARNET_E_NOMEM, "%s: section %u: out of memory in zlib's inflate",
                                st->c->name, st->index);
        if (zr != Z_OK && zr != Z_BUF_ERROR)
            return arnet__stream_bad(st, "corrupt compressed data (%s)",
                                     st->z.msg ? st->z.msg : "zlib error");
    }
    return ARNET_OK;
}

int arnet__stream_read(arnet__sec_stream *st, void *dst, size_t n)
{
    if (n > st->s->raw - st->pos)
        return arnet__stream_bad(st, "content runs past the section's raw size");
    if (st->s->codec == ARNET__CODEC_NONE) {
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
        return arnet__stream_bad(st, "compressed data holds fewer bytes than its raw size");
    return ARNET_OK;
}

int arnet__stream_finish(arnet__sec_stream *st)
{
    if (st->pos != st->s->raw)
        return arnet__stream_bad(st, "content ends before the section's raw size");
    if (st->s->codec == ARNET__CODEC_NONE)
        return ARNET_OK;
    uint8_t extra;
    size_t got;
    int end, rc = inflate_some(st, &extra, 1, &got, &end);
    if (rc)
        return rc;
    if (got)
        return arnet__stream_bad(st, "compressed data holds more bytes than its raw size");
    if (!end)
        return arnet__stream_bad(st, "compressed data does not end where it should");
    if (st->z.avail_in != 0 || st->in_left != 0)
        return arnet__stream_bad(st, "bytes after the end of the compressed data");
    return ARNET_OK;
}

int arnet__stream_u8(arnet__sec_stream *st, uint32_t *v)
{
    uint8_t b[1];
    int rc = arnet__stream_read(st, b, 1);
    *v = rc ? 0 : b[0];
    return rc;
}

int arnet__stream_u16(arnet__sec_stream *st, uint32_t *v)
{
    uint8_t b[2];
    int rc = arnet__stream_read(st, b, 2);
    *v = rc ? 0 : arnet__get_u16(b);
    return rc;
}

int arnet__stream_u32(arnet__sec_stream *st, uint32_t *v)
{
    uint8_t b[4];
    int rc = arnet__stream_read(st, b, 4);
    *v = rc ? 0 : arnet__get_u32(b);
    return rc;
}

int arnet__stream_u64(arnet__sec_stream *st, uint64_t *v)
{
    uint8_t b[8];
    int rc = arnet__stream_read(st, b, 8);
    *v = rc ? 0 : arnet__get_u64(b);
    return rc;
}

/* ---- reader: tensors ------------------------------------------------------- */

int arnet__tensor_read_desc(arnet__sec_stream *st, arnet__tensor_desc *d)
{
    uint32_t name_len;
    int rc = arnet__stream_u16(st, &name_len);
    if (rc)
        return rc;
    if (name_len < 1 || name_len > ARNET__NAME_MAX)
        return arnet__stream_bad(st, "tensor name length not in 1..255");
    if ((rc = arnet__stream_read(st, d->name, name_len)))
        return rc;
    d->name[name_len] = '\0';
    if (!arnet__valid_name(d->name, ARNET__NAME_MAX) || strlen(d->name) != name_len)
        return arnet__stream_bad(st, "tensor name is not printable ASCII");
    if ((rc = arnet__stream_u8(st, &d->storage)) || (rc = arnet__stream_u8(st, &d->ndim)))
        return rc;
    if (d->storage != ARNET_STORAGE_F32 && d->storage != ARNET_STORAGE_F16)
        return arnet__stream_bad(st, "tensor %s has unknown storage type %u", d->name,
                                 d->storage);
    if (d->ndim < 1 || d->ndim > ARNET__TENSOR_MAX_NDIM)
        return arnet__stream_bad(st, "tensor %s has %u dimensions, not 1..%d", d->name, d->ndim,
                                 ARNET__TENSOR_MAX_NDIM);
    d->count = 1;
    for (uint32_t i = 0; i < d->ndim; i++) {
        if ((rc = arnet__stream_u64(st, &d->dims[i])))
            return rc;
        if (d->dims[i] != 0 && d->count > UINT64_MAX / d->dims[i])
            return arnet__stream_bad(st, "tensor %s: shape overflows", d->name);
        d->count *= d->dims[i];
    }
    for (uint32_t i = d->ndim; i < ARNET__TENSOR_MAX_NDIM; i++)
        d->dims[i] = 0;
    uint64_t elem = d->storage == ARNET_STORAGE_F16 ? 2 : 4;
    uint64_t left = st->s->raw - st->pos;
    if (d->count > left / elem || d->count * elem != left)
        return arnet__stream_bad(
            st, "tensor %s: %llu elements of %llu bytes do not fill the %llu data bytes",
            d->name, (unsigned long long)d->count, (unsigned long long)elem,
            (unsigned long long)left);
    return ARNET_OK;
}

int arnet__tensor_read_chunk(arnet__sec_stream *st, const arnet__tensor_desc *d, float *out,
                             size_t n)
{
    uint8_t buf[16384];
    size_t elem = d->storage == ARNET_STORAGE_F16 ? 2 : 4;
    size_t per = sizeof buf / elem;
    size_t done = 0;
    while (done < n) {
        size_t k = n - done < per ? n - done : per;
        int rc = arnet__stream_read(st, buf, k * elem);
        if (rc)
            return rc;
        if (!out)
            ;
        else if (elem == 2)
            for (size_t i = 0; i < k; i++)
                out[done + i] = arnet__f16_to_f32(arnet__get_u16(buf + 2 * i));
        else
            for (size_t i = 0; i < k; i++)
                out[done + i] = arnet__bits_float(arnet__get_u32(buf + 4 * i));
        done += k;
    }
    return ARNET_OK;
}

int arnet__tensor_read_data(arnet__sec_stream *st, const arnet__tensor_desc *d, float *out)
{
    const size_t step = (size_t)1 << 20;
    uint64_t done = 0;
    while (done < d->count) {
        size_t k = d->count - done < step ? (size_t)(d->count - done) : step;
        int rc = arnet__tensor_read_chunk(st, d, out ? out + done : NULL, k);
        if (rc)
            return rc;
        done += k;
    }
    return arnet__stream_finish(st);
}

void arnet__shape_text(char *out, size_t cap, const uint64_t *dims, uint32_t ndim)
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

/* ---- reader: key/value sections -------------------------------------------- */

int arnet__kv_read(const arnet__container *c, uint32_t index,
                   int (*fn)(const char *key, const char *value, void *ctx), void *ctx)
{
    arnet__sec_stream st;
    int rc = arnet__stream_open(c, index, &st);
    if (rc)
        return rc;
    char key[ARNET__NAME_MAX + 1];
    char *value = NULL;
    uint32_t count;
    if ((rc = arnet__stream_u32(&st, &count)))
        goto done;
    /* Each pair takes at least 6 bytes: a count beyond that is a lie. */
    if (count > (st.s->raw - 4) / 6) {
        rc = arnet__stream_bad(&st, "pair count larger than the section can hold");
        goto done;
    }
    value = arnet__alloc(ARNET__VALUE_MAX + 1, 1, "checkpoint metadata value");
    if (!value) {
        rc = ARNET_E_NOMEM;
        goto done;
    }
    for (uint32_t i = 0; i < count; i++) {
        uint32_t kl, vl;
        if ((rc = arnet__stream_u16(&st, &kl)))
            goto done;
        if (kl < 1 || kl > ARNET__NAME_MAX) {
            rc = arnet__stream_bad(&st, "key length not in 1..255");
            goto done;
        }
        if ((rc = arnet__stream_read(&st, key, kl)))
            goto done;
        key[kl] = '\0';
        if (!arnet__valid_name(key, ARNET__NAME_MAX) || strlen(key) != kl) {
            rc = arnet__stream_bad(&st, "key is not printable ASCII without spaces");
            goto done;
        }
        if ((rc = arnet__stream_u32(&st, &vl)))
            goto done;
        if (vl > ARNET__VALUE_MAX) {
            rc = arnet__stream_bad(&st, "value longer than 65536 bytes");
            goto done;
        }
        if ((rc = arnet__stream_read(&st, value, vl)))
            goto done;
        value[vl] = '\0';
        if (strlen(value) != vl) {
            rc = arnet__stream_bad(&st, "value contains a NUL byte");
            goto done;
        }
        if ((rc = fn(key, value, ctx)))
            goto done;
    }
    rc = arnet__stream_finish(&st);
done:
    free(value);
    arnet__stream_close(&st);
    return rc;
}
