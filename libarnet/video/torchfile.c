/* torchfile.c -- state dicts from files written by torch.save, without
 * Python and without executing anything (docs/extractor.md, "Conversion").
 *
 * Two containers: the zip format of torch >= 1.6 (<prefix>/data.pkl, each
 * storage in <prefix>/data/<key>, stored or deflated) and the legacy format
 * (five pickles in a row: magic number, protocol, sys_info, the object, the
 * list of storage keys; then each storage as a little-endian u64 element
 * count and its raw bytes).
 *
 * The unpickler is a small stack machine that knows only the opcodes a state
 * dict needs and only these globals: collections.OrderedDict,
 * torch._utils._rebuild_tensor_v2 / _rebuild_tensor (torch 0.3) /
 * _rebuild_parameter and the torch.*Storage
 * classes (which give the dtype).  Everything else is refused with the
 * opcode (by name) or global and its offset.  Protocols 2 to 5 (protocol 4's
 * FRAME and MEMOIZE included).  Every length is checked against the bytes
 * that are there before anything is allocated for it; the stack, the marks
 * and the memo are bounded; nothing recurses.
 *
 * Work and memory are bounded by what a network's state dict needs (an I3D
 * state dict has 285 tensors of known shapes), not by what a file claims:
 * at most MAX_TENSORS entries, storages and zip entries (refused while
 * unpickling, as soon as one too many appears), MAX_VALS pickle values, a
 * data.pkl of MAX_PICKLE bytes; names, storage keys and zip entries are
 * found through hash tables (linear time); a deflated storage is refused
 * when it declares more bytes than the storage needs, before inflating; one
 * tensor under several names (a memoized object) is converted once and
 * shared; and views of the storages may add up to at most
 * VIEW_BUDGET_FACTOR times their elements (plus VIEW_BUDGET_FLOOR). */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "container.h" /* arnet__f16_to_f32, arnet__crc32 */
#include "internal.h"
#include "torchfile.h"

#define MAX_STACK 4096u
#define MAX_MARKS 64u
#define MAX_TENSORS ARNET__TORCH_MAX_TENSORS
/* about 20 values make one tensor entry (key, storage id, size and stride
 * tuples, ...) when nothing is memoized; None, bools, () and small ints
 * are not counted (shared_val), memoized ones once */
#define MAX_VALS (32u * MAX_TENSORS)
#define MAX_MEMO MAX_VALS
#define MAX_PICKLE (16u << 20)
#define MAX_ZIP_ENTRIES (MAX_TENSORS + 64u)
#define VIEW_BUDGET_FACTOR 2u
#define VIEW_BUDGET_FLOOR (1u << 18)
#define ZLIB_MAX_RATIO 1032u

/* ---- names: an open-addressing hash table of byte strings ------------------ */

typedef struct nslot {
    const uint8_t *s; /* NULL: empty */
    size_t n;
    void *v;
} nslot;

typedef struct names {
    nslot *slot;
    size_t cap, count; /* cap a power of two, at most half full */
} names;

static size_t name_hash(const uint8_t *s, size_t n)
{
    uint64_t h = 1469598103934665603ull; /* FNV-1a */
    for (size_t i = 0; i < n; i++)
        h = (h ^ s[i]) * 1099511628211ull;
    return (size_t)(h ^ (h >> 29));
}

static nslot *names_slot(const names *h, const uint8_t *s, size_t n)
{
    size_t mask = h->cap - 1, i = name_hash(s, n) & mask;
    while (h->slot[i].s && !(h->slot[i].n == n && memcmp(h->slot[i].s, s, n) == 0))
        i = (i + 1) & mask;
    return &h->slot[i];
}

/* The value stored under s, or NULL. */
static void *names_get(const names *h, const uint8_t *s, size_t n)
{
    return h->cap ? names_slot(h, s, n)->v : NULL;
}

/* Store v under s (bytes borrowed: they must outlive the table), replacing
 * nothing: the caller looked first.  0 when out of memory. */
static int names_put(names *h, const uint8_t *s, size_t n, void *v)
{
    if (2 * (h->count + 1) > h->cap) {
        names g = { calloc(h->cap ? 2 * h->cap : 64, sizeof(nslot)), h->cap ? 2 * h->cap : 64,
                    0 };
        if (!g.slot)
            return 0;
        for (size_t i = 0; i < h->cap; i++)
            if (h->slot[i].s)
                *names_slot(&g, h->slot[i].s, h->slot[i].n) = h->slot[i];
        g.count = h->count;
        free(h->slot);
        *h = g;
    }
    nslot *e = names_slot(h, s, n);
    e->s = s;
    e->n = n;
    e->v = v;
    h->count++;
    return 1;
}

static void names_free(names *h)
{
    free(h->slot);
    memset(h, 0, sizeof *h);
}

/* ---- dtypes ------------------------------------------------------------- */

enum { DT_F32, DT_F64, DT_F16, DT_BF16, DT_I64, DT_I32, DT_I16, DT_I8, DT_U8, DT_BOOL };

static const struct dtype_desc {
    const char *storage; /* torch.<storage> */
    const char *name;
    unsigned size;
    int is_float;
} dtypes[] = {
    [DT_F32] = { "FloatStorage", "float32", 4, 1 },
    [DT_F64] = { "DoubleStorage", "float64", 8, 1 },
    [DT_F16] = { "HalfStorage", "float16", 2, 1 },
    [DT_BF16] = { "BFloat16Storage", "bfloat16", 2, 1 },
    [DT_I64] = { "LongStorage", "int64", 8, 0 },
    [DT_I32] = { "IntStorage", "int32", 4, 0 },
    [DT_I16] = { "ShortStorage", "int16", 2, 0 },
    [DT_I8] = { "CharStorage", "int8", 1, 0 },
    [DT_U8] = { "ByteStorage", "uint8", 1, 0 },
    [DT_BOOL] = { "BoolStorage", "bool", 1, 0 },
};
#define N_DTYPES (sizeof dtypes / sizeof dtypes[0])

/* ---- values --------------------------------------------------------------- */

enum vtype { V_NONE, V_BOOL, V_INT, V_BIGINT, V_STR, V_TUPLE, V_LIST, V_DICT, V_GLOBAL,
             V_STORAGE, V_TENSOR };
enum gkind { G_ODICT, G_REBUILD_TENSOR, G_REBUILD_PARAM, G_STORAGE };

static const char *const vtype_names[] = { "None", "bool", "int", "int", "str", "tuple",
                                           "list", "dict", "global", "storage", "tensor" };

typedef struct storage {
    char *key;
    int dtype;
    uint64_t numel;      /* as the persistent id declares it */
    const uint8_t *data; /* numel * size bytes once resolved, else NULL */
} storage;

typedef struct tensor_ref {
    size_t out; /* 1 + the output tensor made from it (collect), else 0 */
    storage *st;
    uint64_t offset;
    uint32_t ndim;
    uint64_t size[ARNET__TORCH_MAX_NDIM];
    uint64_t stride[ARNET__TORCH_MAX_NDIM];
} tensor_ref;

typedef struct val val;
struct val {
    int type;
    int64_t i;          /* V_INT, V_BOOL; V_GLOBAL: gkind; */
    int dtype;          /* V_GLOBAL G_STORAGE */
    const uint8_t *s;   /* V_STR, V_BIGINT: bytes in the pickle */
    size_t n;           /* their length; V_TUPLE/LIST: items; V_DICT: pairs */
    size_t cap;
    val **items;        /* V_TUPLE, V_LIST; V_DICT: key0, value0, ... */
    storage *st;        /* V_STORAGE */
    tensor_ref *t;      /* V_TENSOR */
};

/* ---- the reader: every value, storage and inflated buffer it made --------- */

typedef struct zentry {
    const uint8_t *name;
    size_t name_len;
    unsigned method;
    uint32_t crc;
    uint64_t csize, usize, local;
} zentry;

typedef struct reader {
    const char *file;
    const uint8_t *data;
    size_t size;
    val **blocks; /* the values, VAL_BLOCK at a time */
    size_t n_blocks, cap_blocks, n_vals;
    /* values nothing changes, made once: None, False, True, (), 0..255 */
    val none, bools[2], empty_tuple, small[256];
    storage **sts;
    size_t n_sts, cap_sts;
    names st_names; /* storage key -> storage */
    uint64_t st_elems;  /* elements of all storages */
    uint64_t claimed;   /* the same, as the tensors are built (reduce) */
    uint64_t converted; /* elements of the tensors made (materialise): views may
                           overlap (a transpose beside its tensor), but not
                           without end */
    void **blobs;
    size_t n_blobs, cap_blobs;
    /* zip */
    zentry *ents;
    size_t n_ents;
    names ent_names; /* name after "<prefix>/" -> zentry */
    const uint8_t *prefix;
    size_t prefix_len;
    int zip;
} reader;

static int grow(void **p, size_t *cap, size_t need, size_t elem)
{
    if (need <= *cap)
        return 1;
    size_t nc = *cap ? *cap * 2 : 16;
    while (nc < need)
        nc *= 2;
    void *q = realloc(*p, nc * elem);
    if (!q)
        return 0;
    *p = q;
    *cap = nc;
    return 1;
}

#define VAL_BLOCK 1024u

static val *new_val(reader *r, int type)
{
    if (r->n_vals >= MAX_VALS)
        return NULL; /* reported by push() as too many values */
    size_t k = r->n_vals % VAL_BLOCK;
    if (k == 0) {
        if (!grow((void **)&r->blocks, &r->cap_blocks, r->n_blocks + 1, sizeof(val *)))
            return NULL;
        if (!(r->blocks[r->n_blocks] = calloc(VAL_BLOCK, sizeof(val))))
            return NULL;
        r->n_blocks++;
    }
    val *v = &r->blocks[r->n_blocks - 1][k];
    v->type = type;
    r->n_vals++;
    return v;
}

/* The shared value of None (V_NONE), a bool, () (V_TUPLE) or an int in
 * 0..255: one byte of pickle each, they cost no memory. */
static val *shared_val(reader *r, int type, int64_t i)
{
    val *v = type == V_NONE ? &r->none : type == V_BOOL ? &r->bools[i != 0]
           : type == V_TUPLE ? &r->empty_tuple : &r->small[i];
    v->type = type;
    v->i = type == V_BOOL ? (i != 0) : type == V_INT ? i : 0;
    return v;
}

static int keep_blob(reader *r, void *b)
{
    if (!grow((void **)&r->blobs, &r->cap_blobs, r->n_blobs + 1, sizeof(void *))) {
        free(b);
        return 0;
    }
    r->blobs[r->n_blobs++] = b;
    return 1;
}

static void reader_free(reader *r)
{
    for (size_t i = 0; i < r->n_vals; i++) {
        val *v = &r->blocks[i / VAL_BLOCK][i % VAL_BLOCK];
        free(v->items);
        free(v->t);
    }
    for (size_t b = 0; b < r->n_blocks; b++)
        free(r->blocks[b]);
    free(r->blocks);
    for (size_t i = 0; i < r->n_sts; i++) {
        free(r->sts[i]->key);
        free(r->sts[i]);
    }
    free(r->sts);
    names_free(&r->st_names);
    names_free(&r->ent_names);
    for (size_t i = 0; i < r->n_blobs; i++)
        free(r->blobs[i]);
    free(r->blobs);
    free(r->ents);
}

static int fmt_err(const reader *r, const char *fmt, ...) ARNET_PRINTF(2, 3);
static int fmt_err(const reader *r, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return arnet__error(ARNET_E_FORMAT, "%s: %s", r->file, msg);
}

static int nomem(const reader *r)
{
    return arnet__error(ARNET_E_NOMEM, "%s: out of memory reading the torch file", r->file);
}

static uint32_t rd16(const uint8_t *p) { return (uint32_t)p[0] | (uint32_t)p[1] << 8; }
static uint32_t rd32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}
static uint64_t rd64(const uint8_t *p) { return rd32(p) | (uint64_t)rd32(p + 4) << 32; }

/* ---- zip ------------------------------------------------------------------ */

#define ZIP_LOCAL 0x04034b50u
#define ZIP_CENTRAL 0x02014b50u
#define ZIP_END 0x06054b50u

static int zip_open(reader *r)
{
    const uint8_t *d = r->data;
    size_t n = r->size, end = SIZE_MAX;
    if (n < 22)
        return fmt_err(r, "zip archive truncated (%zu bytes)", n);
    size_t lowest = n - 22 > 65535 ? n - 22 - 65535 : 0;
    for (size_t i = n - 22 + 1; i-- > lowest;)
        if (rd32(d + i) == ZIP_END && i + 22 + rd16(d + i + 20) == n) {
            end = i;
            break;
        }
    if (end == SIZE_MAX)
        return fmt_err(r, "zip archive truncated: no end of central directory");
    uint32_t count = rd16(d + end + 10), cd_size = rd32(d + end + 12), cd_off = rd32(d + end + 16);
    /* torch's writer adds ZIP64 end records to every archive; they are only
     * needed (and only read) when these fields overflow, which 4 GiB of
     * weights never do here. */
    if (count == 0xFFFFu || cd_size == 0xFFFFFFFFu || cd_off == 0xFFFFFFFFu)
        return fmt_err(r, "ZIP64 archives (over 4 GiB or 65535 entries) are not supported");
    if (rd16(d + end + 4) != 0 || rd16(d + end + 6) != 0 || rd16(d + end + 8) != count)
        return fmt_err(r, "multi-disk zip archives are not supported");
    if ((uint64_t)cd_off + cd_size > end)
        return fmt_err(r, "zip central directory (%u bytes at %u) past its end record at %zu",
                       cd_size, cd_off, end);
    if ((uint64_t)count * 46 > cd_size)
        return fmt_err(r, "zip central directory too small for %u entries", count);
    if (count > MAX_ZIP_ENTRIES)
        return fmt_err(r, "zip archive with %u entries: a state dict of at most %u tensors "
                       "has no more than %u", count, MAX_TENSORS, MAX_ZIP_ENTRIES);
    r->ents = calloc(count ? count : 1, sizeof *r->ents);
    if (!r->ents)
        return nomem(r);
    size_t p = cd_off, stop = (size_t)cd_off + cd_size;
    for (uint32_t i = 0; i < count; i++) {
        if (stop - p < 46 || rd32(d + p) != ZIP_CENTRAL)
            return fmt_err(r, "zip central directory entry %u at %zu is corrupt", i, p);
        zentry *e = &r->ents[i];
        uint32_t flags = rd16(d + p + 8);
        e->method = rd16(d + p + 10);
        e->crc = rd32(d + p + 16);
        e->csize = rd32(d + p + 20);
        e->usize = rd32(d + p + 24);
        e->name_len = rd16(d + p + 28);
        size_t extra = rd16(d + p + 30), comment = rd16(d + p + 32);
        e->local = rd32(d + p + 42);
        if (46 + e->name_len + extra + comment > stop - p)
            return fmt_err(r, "zip central directory entry %u at %zu runs past the directory",
                           i, p);
        e->name = d + p + 46;
        if (flags & 1u)
            return fmt_err(r, "zip entry %.*s is encrypted", (int)e->name_len, e->name);
        if (e->csize == 0xFFFFFFFFu || e->usize == 0xFFFFFFFFu || e->local == 0xFFFFFFFFu)
            return fmt_err(r, "ZIP64 archives are not supported");
        p += 46 + e->name_len + extra + comment;
    }
    r->n_ents = count;
    /* The archive's folder name is whatever holds data.pkl ("archive" since
     * torch 1.6; older writers used the file's name). */
    for (size_t i = 0; i < r->n_ents; i++) {
        const zentry *e = &r->ents[i];
        if (e->name_len > 9 && memcmp(e->name + e->name_len - 9, "/data.pkl", 9) == 0 &&
            !memchr(e->name, '/', e->name_len - 9)) {
            r->prefix = e->name;
            r->prefix_len = e->name_len - 9;
            break;
        }
    }
    if (!r->prefix)
        return fmt_err(r, "zip archive without <name>/data.pkl: not a torch.save file");
    /* The entries under <prefix>/, by the rest of their name (the first of
     * two with one name, as the linear search found it). */
    for (size_t i = 0; i < r->n_ents; i++) {
        zentry *e = &r->ents[i];
        if (e->name_len > r->prefix_len + 1 && memcmp(e->name, r->prefix, r->prefix_len) == 0 &&
            e->name[r->prefix_len] == '/') {
            const uint8_t *rest = e->name + r->prefix_len + 1;
            size_t rl = e->name_len - r->prefix_len - 1;
            if (!names_get(&r->ent_names, rest, rl) && !names_put(&r->ent_names, rest, rl, e))
                return nomem(r);
        }
    }
    return ARNET_OK;
}

static const zentry *zip_find(const reader *r, const char *suffix, size_t len)
{
    return names_get(&r->ent_names, (const uint8_t *)suffix, len);
}

/* The bytes of entry e: in the file when stored, inflated when deflated;
 * the CRC-32 checked either way.  A deflated entry declaring more than max
 * bytes (what its use needs: a storage's size, MAX_PICKLE) is refused
 * before anything is inflated. */
static int zip_get(reader *r, const zentry *e, uint64_t max, const uint8_t **out, size_t *len)
{
    const uint8_t *d = r->data;
    int nl = (int)e->name_len;
    if (e->local > r->size || r->size - e->local < 30 || rd32(d + e->local) != ZIP_LOCAL)
        return fmt_err(r, "zip entry %.*s: local header at %llu is missing or corrupt", nl,
                       e->name, (unsigned long long)e->local);
    uint64_t start = e->local + 30 + rd16(d + e->local + 26) + rd16(d + e->local + 28);
    if (start > r->size || e->csize > r->size - start)
        return fmt_err(r, "zip entry %.*s: %llu bytes at %llu run past the end of the file "
                       "(truncated?)", nl, e->name, (unsigned long long)e->csize,
                       (unsigned long long)start);
    const uint8_t *src = d + start;
    if (e->method == 0) {
        if (e->csize != e->usize)
            return fmt_err(r, "zip entry %.*s: stored with two different sizes", nl, e->name);
        *out = src;
        *len = (size_t)e->csize;
    } else if (e->method == 8) {
        if (e->usize > max)
            return fmt_err(r, "zip entry %.*s: deflated to %llu bytes where %llu are needed "
                           "(refused before inflating)", nl, e->name,
                           (unsigned long long)e->usize, (unsigned long long)max);
        if (e->usize > (e->csize + 1) * ZLIB_MAX_RATIO)
            return fmt_err(r, "zip entry %.*s: %llu bytes cannot inflate to %llu", nl, e->name,
                           (unsigned long long)e->csize, (unsigned long long)e->usize);
        uint8_t *buf = malloc(e->usize ? (size_t)e->usize : 1);
        if (!buf)
            return nomem(r);
        if (!keep_blob(r, buf))
            return nomem(r);
        z_stream z;
        memset(&z, 0, sizeof z);
        if (inflateInit2(&z, -MAX_WBITS) != Z_OK)
            return nomem(r);
        z.next_in = (Bytef *)src;
        z.avail_in = (uInt)e->csize;
        z.next_out = buf;
        z.avail_out = (uInt)e->usize;
        int zr = inflate(&z, Z_FINISH);
        size_t got = (size_t)z.total_out;
        inflateEnd(&z);
        if (zr != Z_STREAM_END || got != e->usize)
            return fmt_err(r, "zip entry %.*s: deflate data corrupt", nl, e->name);
        *out = buf;
        *len = got;
    } else {
        return fmt_err(r, "zip entry %.*s: compression method %u not supported", nl, e->name,
                       e->method);
    }
    if (arnet__crc32(*out, *len) != e->crc)
        return fmt_err(r, "zip entry %.*s: CRC-32 mismatch (corrupt file)", nl, e->name);
    return ARNET_OK;
}

/* ---- storages ----------------------------------------------------------------- */

static storage *storage_of(reader *r, const uint8_t *key, size_t klen, int dtype,
                           uint64_t numel, int *status)
{
    storage *s = names_get(&r->st_names, key, klen);
    if (s) {
        if (s->dtype != dtype || s->numel != numel) {
            *status = fmt_err(r, "storage %s is declared twice differently", s->key);
            return NULL;
        }
        return s;
    }
    uint64_t bytes = numel * dtypes[dtype].size;
    if (numel > r->size || bytes > r->size) {
        *status = fmt_err(r, "storage %.*s claims %llu elements, more than the file holds",
                          (int)(klen > 40 ? 40 : klen), key, (unsigned long long)numel);
        return NULL;
    }
    if (r->n_sts >= MAX_TENSORS) {
        *status = fmt_err(r, "more than %u storages (a state dict has one per tensor at most)",
                          MAX_TENSORS);
        return NULL;
    }
    s = calloc(1, sizeof *s);
    char *k = malloc(klen + 1);
    if (k) {
        memcpy(k, key, klen);
        k[klen] = '\0';
    }
    if (!s || !k || !grow((void **)&r->sts, &r->cap_sts, r->n_sts + 1, sizeof(storage *)) ||
        !names_put(&r->st_names, (const uint8_t *)k, klen, s)) {
        free(s);
        free(k);
        *status = nomem(r);
        return NULL;
    }
    s->key = k;
    s->dtype = dtype;
    s->numel = numel;
    r->sts[r->n_sts++] = s;
    r->st_elems += numel;
    if (r->zip) {
        char name[64];
        if (klen > 40) {
            *status = fmt_err(r, "storage key %.*s too long", 40, key);
            return NULL;
        }
        int nl = snprintf(name, sizeof name, "data/%s", k);
        const zentry *e = zip_find(r, name, (size_t)nl);
        if (!e) {
            *status = fmt_err(r, "storage %s: no entry %.*s/data/%s in the archive", k,
                              (int)r->prefix_len, r->prefix, k);
            return NULL;
        }
        const uint8_t *p;
        size_t len;
        if ((*status = zip_get(r, e, bytes, &p, &len)) != ARNET_OK)
            return NULL;
        if (len < bytes) {
            *status = fmt_err(r, "storage %s: %zu bytes where %llu %s need %llu", k, len,
                              (unsigned long long)numel, dtypes[dtype].name,
                              (unsigned long long)bytes);
            return NULL;
        }
        s->data = p;
    }
    *status = ARNET_OK;
    return s;
}

/* ---- the unpickler -------------------------------------------------------------- */

typedef struct up {
    reader *r;
    const char *what; /* which pickle, for messages */
    const uint8_t *p;
    size_t n, pos, at; /* at: offset of the current opcode */
    val *stack[MAX_STACK];
    size_t sp;
    size_t marks[MAX_MARKS];
    size_t n_marks;
    val **memo;
    size_t memo_cap, memo_count; /* memo_count: indices in use (MEMOIZE's next) */
} up;

static int perr(const up *u, const char *fmt, ...) ARNET_PRINTF(2, 3);
static int perr(const up *u, const char *fmt, ...)
{
    char msg[384];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return fmt_err(u->r, "%s, offset %zu: %s", u->what, u->at, msg);
}

static int need(const up *u, size_t k, const uint8_t **p)
{
    if (u->n - u->pos < k)
        return perr(u, "truncated (opcode needs %zu more bytes, %zu left)", k, u->n - u->pos);
    *p = u->p + u->pos;
    return ARNET_OK;
}

static int push(up *u, val *v)
{
    if (!v && u->r->n_vals >= MAX_VALS)
        return perr(u, "more than %u pickle values (a state dict of at most %u tensors needs "
                    "fewer)", MAX_VALS, MAX_TENSORS);
    if (!v)
        return nomem(u->r);
    if (u->sp == MAX_STACK)
        return perr(u, "stack deeper than %u", MAX_STACK);
    u->stack[u->sp++] = v;
    return ARNET_OK;
}

static int pop(up *u, val **v)
{
    size_t floor = u->n_marks ? u->marks[u->n_marks - 1] : 0;
    if (u->sp <= floor)
        return perr(u, "stack underflow");
    *v = u->stack[--u->sp];
    return ARNET_OK;
}

static int top(up *u, val **v)
{
    size_t floor = u->n_marks ? u->marks[u->n_marks - 1] : 0;
    if (u->sp <= floor)
        return perr(u, "stack underflow");
    *v = u->stack[u->sp - 1];
    return ARNET_OK;
}

/* Items since the last MARK: their index; the mark is removed. */
static int pop_mark(up *u, size_t *from)
{
    if (!u->n_marks)
        return perr(u, "no MARK on the stack");
    *from = u->marks[--u->n_marks];
    return ARNET_OK;
}

static int append_items(up *u, val *seq, val **items, size_t k)
{
    size_t need_n;
    /* Refused as soon as one entry too many comes, not after reading all. */
    if (seq->type == V_DICT && (seq->n + k) / 2 > MAX_TENSORS)
        return perr(u, "a dict of more than %u entries (a state dict has one per tensor; I3D "
                    "has 285)", MAX_TENSORS);
    if (seq->type == V_LIST && seq->n + k > MAX_TENSORS)
        return perr(u, "a list of more than %u items", MAX_TENSORS);
    if (!arnet__add_size(seq->n, k, &need_n))
        return nomem(u->r);
    if (seq->type == V_TUPLE && !seq->cap && k) { /* made once, never grown: exact */
        if (!(seq->items = malloc(k * sizeof(val *))))
            return nomem(u->r);
        seq->cap = k;
    } else if (!grow((void **)&seq->items, &seq->cap, need_n, sizeof(val *))) {
        return nomem(u->r);
    }
    if (k)
        memcpy(seq->items + seq->n, items, k * sizeof(val *));
    seq->n = need_n;
    return ARNET_OK;
}

static int make_tuple(up *u, size_t from)
{
    val *t = new_val(u->r, V_TUPLE);
    if (!t)
        return nomem(u->r);
    int st = append_items(u, t, u->stack + from, u->sp - from);
    if (st != ARNET_OK)
        return st;
    u->sp = from;
    return push(u, t);
}

static int memo_put(up *u, uint64_t idx)
{
    val *v = NULL;
    int st = top(u, &v);
    if (st != ARNET_OK)
        return st;
    if (idx >= MAX_MEMO || idx > u->n)
        return perr(u, "memo index %llu too large", (unsigned long long)idx);
    if (idx >= u->memo_cap) {
        size_t nc = u->memo_cap ? u->memo_cap : 64;
        while (nc <= idx)
            nc *= 2;
        val **m = realloc(u->memo, nc * sizeof *m);
        if (!m)
            return nomem(u->r);
        memset(m + u->memo_cap, 0, (nc - u->memo_cap) * sizeof *m);
        u->memo = m;
        u->memo_cap = nc;
    }
    if (!u->memo[idx])
        u->memo_count++;
    u->memo[idx] = v;
    return ARNET_OK;
}

static int memo_get(up *u, uint64_t idx)
{
    if (idx >= u->memo_cap || !u->memo[idx])
        return perr(u, "memo index %llu was never stored", (unsigned long long)idx);
    return push(u, u->memo[idx]);
}

static int is_str(const val *v, const char *s)
{
    return v->type == V_STR && v->n == strlen(s) && memcmp(v->s, s, v->n) == 0;
}

/* The only globals a state dict needs. */
static int global(up *u, const uint8_t *mod, size_t ml, const uint8_t *name, size_t nl)
{
    int kind = -1, dtype = 0;
#define IS(b, l, s) ((l) == strlen(s) && memcmp((b), (s), (l)) == 0)
    if (IS(mod, ml, "collections") && IS(name, nl, "OrderedDict")) {
        kind = G_ODICT;
    } else if (IS(mod, ml, "torch._utils") && (IS(name, nl, "_rebuild_tensor_v2") ||
                                                IS(name, nl, "_rebuild_tensor"))) {
        kind = G_REBUILD_TENSOR; /* _rebuild_tensor: torch 0.3 files, 4 arguments */
    } else if (IS(mod, ml, "torch._utils") && IS(name, nl, "_rebuild_parameter")) {
        kind = G_REBUILD_PARAM;
    } else if (IS(mod, ml, "torch")) {
        for (size_t i = 0; i < N_DTYPES; i++)
            if (IS(name, nl, dtypes[i].storage)) {
                kind = G_STORAGE;
                dtype = (int)i;
            }
    }
#undef IS
    if (kind < 0) {
        int a = ml > 80 ? 80 : (int)ml, b = nl > 80 ? 80 : (int)nl;
        return perr(u, "global %.*s.%.*s is not allowed (a state dict needs only "
                    "collections.OrderedDict, torch._utils._rebuild_tensor_v2 and torch "
                    "storage classes)", a, (const char *)mod, b, (const char *)name);
    }
    val *g = new_val(u->r, V_GLOBAL);
    if (!g)
        return nomem(u->r);
    g->i = kind;
    g->dtype = dtype;
    return push(u, g);
}

static int get_int(const up *u, const val *v, const char *what, int64_t *out)
{
    if (v->type != V_INT && v->type != V_BOOL)
        return perr(u, "%s is a %s, not an int", what, vtype_names[v->type]);
    *out = v->i;
    return ARNET_OK;
}

static int int_tuple(const up *u, const val *v, const char *what, uint64_t *out,
                     uint32_t *ndim)
{
    if (v->type != V_TUPLE)
        return perr(u, "tensor %s is a %s, not a tuple", what, vtype_names[v->type]);
    if (v->n > ARNET__TORCH_MAX_NDIM)
        return perr(u, "tensor with %zu dimensions (at most %u)", v->n,
                    ARNET__TORCH_MAX_NDIM);
    for (size_t i = 0; i < v->n; i++) {
        int64_t x = 0;
        int st = get_int(u, v->items[i], what, &x);
        if (st != ARNET_OK)
            return st;
        if (x < 0)
            return perr(u, "tensor %s has a negative entry %lld", what, (long long)x);
        out[i] = (uint64_t)x;
    }
    *ndim = (uint32_t)v->n;
    return ARNET_OK;
}

static int reduce(up *u)
{
    val *args = NULL, *fn = NULL;
    int st;
    if ((st = pop(u, &args)) != ARNET_OK || (st = pop(u, &fn)) != ARNET_OK)
        return st;
    if (fn->type != V_GLOBAL)
        return perr(u, "REDUCE calls a %s", vtype_names[fn->type]);
    if (args->type != V_TUPLE)
        return perr(u, "REDUCE arguments are a %s, not a tuple", vtype_names[args->type]);
    if (fn->i == G_ODICT) {
        if (args->n != 0)
            return perr(u, "OrderedDict called with arguments");
        return push(u, new_val(u->r, V_DICT));
    }
    if (fn->i == G_REBUILD_PARAM) {
        if (args->n < 1 || args->items[0]->type != V_TENSOR)
            return perr(u, "_rebuild_parameter without a tensor");
        return push(u, args->items[0]);
    }
    if (fn->i != G_REBUILD_TENSOR)
        return perr(u, "REDUCE of a storage class");
    /* _rebuild_tensor_v2(storage, offset, size, stride, requires_grad,
     * backward_hooks[, metadata]), or _rebuild_tensor(storage, offset, size,
     * stride) of torch 0.3 */
    if (args->n < 4 || args->n > 7)
        return perr(u, "_rebuild_tensor_v2 with %zu arguments", args->n);
    if (args->items[0]->type != V_STORAGE)
        return perr(u, "_rebuild_tensor_v2 of a %s, not a storage",
                    vtype_names[args->items[0]->type]);
    tensor_ref *t = calloc(1, sizeof *t);
    val *v = new_val(u->r, V_TENSOR);
    if (!t || !v) {
        free(t);
        return nomem(u->r);
    }
    v->t = t;
    t->st = args->items[0]->st;
    int64_t off = 0;
    uint32_t nd_stride;
    if ((st = get_int(u, args->items[1], "storage offset", &off)) != ARNET_OK ||
        (st = int_tuple(u, args->items[2], "size", t->size, &t->ndim)) != ARNET_OK ||
        (st = int_tuple(u, args->items[3], "stride", t->stride, &nd_stride)) != ARNET_OK)
        return st;
    if (off < 0)
        return perr(u, "negative storage offset");
    if (nd_stride != t->ndim)
        return perr(u, "tensor with %u sizes and %u strides", t->ndim, nd_stride);
    t->offset = (uint64_t)off;
    /* What converting it will cost, counted now (a view repeated many times
     * is refused before the rest of the pickle is read): see materialise. */
    if (dtypes[t->st->dtype].is_float) {
        uint64_t numel = 1;
        for (uint32_t i = 0; i < t->ndim && numel; i++)
            numel = t->size[i] > UINT64_MAX / numel ? UINT64_MAX : numel * t->size[i];
        numel = numel < t->st->numel ? numel : t->st->numel; /* more is refused later */
        reader *r = u->r;
        r->claimed += numel;
        if (r->claimed > VIEW_BUDGET_FACTOR * r->st_elems + VIEW_BUDGET_FLOOR)
            return perr(u, "the tensors so far hold %llu elements, more than %u times the %llu "
                        "of their storages (overlapping views)", (unsigned long long)r->claimed,
                        VIEW_BUDGET_FACTOR, (unsigned long long)r->st_elems);
    }
    return push(u, v);
}

static int persistent_load(up *u)
{
    val *pid = NULL;
    int st = pop(u, &pid);
    if (st != ARNET_OK)
        return st;
    /* ('storage', torch.<X>Storage, key, location, numel[, view_metadata]) */
    if (pid->type != V_TUPLE || pid->n < 5 || pid->n > 6 || !is_str(pid->items[0], "storage"))
        return perr(u, "persistent id is not a ('storage', ...) tuple");
    val *cls = pid->items[1], *key = pid->items[2];
    if (cls->type != V_GLOBAL || cls->i != G_STORAGE)
        return perr(u, "persistent id names no storage class");
    if (key->type != V_STR || key->n == 0)
        return perr(u, "persistent id without a storage key");
    for (size_t i = 0; i < key->n; i++)
        if (key->s[i] == '/' || key->s[i] < 0x21 || key->s[i] > 0x7e)
            return perr(u, "storage key with a byte 0x%02x", key->s[i]);
    int64_t numel = 0;
    if ((st = get_int(u, pid->items[4], "storage size", &numel)) != ARNET_OK)
        return st;
    if (numel < 0)
        return perr(u, "negative storage size");
    if (pid->n == 6 && pid->items[5]->type != V_NONE)
        return perr(u, "storage views (view_metadata) are not supported");
    storage *s = storage_of(u->r, key->s, key->n, cls->dtype, (uint64_t)numel, &st);
    if (!s)
        return st;
    val *v = new_val(u->r, V_STORAGE);
    if (!v)
        return nomem(u->r);
    v->st = s;
    return push(u, v);
}

/* The name of every pickle opcode, for messages about the refused ones. */
static const char *opcode_name(uint8_t op)
{
    static const struct { uint8_t op; const char *name; } ops[] = {
        { '(', "MARK" }, { '.', "STOP" }, { '0', "POP" }, { '1', "POP_MARK" }, { '2', "DUP" },
        { 'F', "FLOAT" }, { 'I', "INT" }, { 'J', "BININT" }, { 'K', "BININT1" },
        { 'L', "LONG" }, { 'M', "BININT2" }, { 'N', "NONE" }, { 'P', "PERSID" },
        { 'Q', "BINPERSID" }, { 'R', "REDUCE" }, { 'S', "STRING" }, { 'T', "BINSTRING" },
        { 'U', "SHORT_BINSTRING" }, { 'V', "UNICODE" }, { 'X', "BINUNICODE" },
        { 'a', "APPEND" }, { 'b', "BUILD" }, { 'c', "GLOBAL" }, { 'd', "DICT" },
        { '}', "EMPTY_DICT" }, { 'e', "APPENDS" }, { 'g', "GET" }, { 'h', "BINGET" },
        { 'i', "INST" }, { 'j', "LONG_BINGET" }, { 'l', "LIST" }, { ']', "EMPTY_LIST" },
        { 'o', "OBJ" }, { 'p', "PUT" }, { 'q', "BINPUT" }, { 'r', "LONG_BINPUT" },
        { 's', "SETITEM" }, { 't', "TUPLE" }, { ')', "EMPTY_TUPLE" }, { 'u', "SETITEMS" },
        { 'G', "BINFLOAT" }, { 0x80, "PROTO" }, { 0x81, "NEWOBJ" }, { 0x82, "EXT1" },
        { 0x83, "EXT2" }, { 0x84, "EXT4" }, { 0x85, "TUPLE1" }, { 0x86, "TUPLE2" },
        { 0x87, "TUPLE3" }, { 0x88, "NEWTRUE" }, { 0x89, "NEWFALSE" }, { 0x8a, "LONG1" },
        { 0x8b, "LONG4" }, { 0x8c, "SHORT_BINUNICODE" }, { 0x8d, "BINUNICODE8" },
        { 0x8e, "BINBYTES8" }, { 0x8f, "EMPTY_SET" }, { 0x90, "ADDITEMS" },
        { 0x91, "FROZENSET" }, { 0x92, "NEWOBJ_EX" }, { 0x93, "STACK_GLOBAL" },
        { 0x94, "MEMOIZE" }, { 0x95, "FRAME" }, { 0x96, "BYTEARRAY8" },
        { 0x97, "NEXT_BUFFER" }, { 0x98, "READONLY_BUFFER" }, { 'B', "BINBYTES" },
        { 'C', "SHORT_BINBYTES" },
    };
    for (size_t i = 0; i < sizeof ops / sizeof ops[0]; i++)
        if (ops[i].op == op)
            return ops[i].name;
    return NULL;
}

/* Run one pickle from p[0..n); *result is what STOP leaves, *used the bytes
 * read. */
static int unpickle(reader *r, const char *what, const uint8_t *p, size_t n, val **result,
                    size_t *used)
{
    up *u = calloc(1, sizeof *u);
    if (!u)
        return nomem(r);
    u->r = r;
    u->what = what;
    u->p = p;
    u->n = n;
    int st = ARNET_OK;
    const uint8_t *b = NULL;
    val *v = NULL, *w = NULL;
    for (;;) {
        u->at = u->pos;
        if (u->pos >= u->n) {
            st = perr(u, "pickle ends without STOP (truncated)");
            break;
        }
        uint8_t op = u->p[u->pos++];
        switch (op) {
        case 0x80: /* PROTO */
            if ((st = need(u, 1, &b)) == ARNET_OK) {
                u->pos++;
                if (b[0] < 2 || b[0] > 5)
                    st = perr(u, "pickle protocol %u not supported", b[0]);
            }
            break;
        case '}': /* EMPTY_DICT */
            st = push(u, new_val(r, V_DICT));
            break;
        case ']': /* EMPTY_LIST */
            st = push(u, new_val(r, V_LIST));
            break;
        case ')': /* EMPTY_TUPLE */
            st = push(u, shared_val(r, V_TUPLE, 0));
            break;
        case 'N': /* NONE */
            st = push(u, shared_val(r, V_NONE, 0));
            break;
        case 0x88: /* NEWTRUE */
        case 0x89: /* NEWFALSE */
            st = push(u, shared_val(r, V_BOOL, op == 0x88));
            break;
        case 0x95: /* FRAME (protocol 4): a length, then that many bytes of opcodes */
            if ((st = need(u, 8, &b)) == ARNET_OK) {
                u->pos += 8;
                if (rd64(b) > u->n - u->pos)
                    st = perr(u, "FRAME of %llu bytes where %zu are left (truncated)",
                              (unsigned long long)rd64(b), u->n - u->pos);
            }
            break;
        case 0x94: /* MEMOIZE (protocol 4): BINPUT at the next free index */
            st = memo_put(u, u->memo_count);
            break;
        case 'q': /* BINPUT */
            if ((st = need(u, 1, &b)) == ARNET_OK) {
                u->pos += 1;
                st = memo_put(u, b[0]);
            }
            break;
        case 'r': /* LONG_BINPUT */
            if ((st = need(u, 4, &b)) == ARNET_OK) {
                u->pos += 4;
                st = memo_put(u, rd32(b));
            }
            break;
        case 'h': /* BINGET */
            if ((st = need(u, 1, &b)) == ARNET_OK) {
                u->pos += 1;
                st = memo_get(u, b[0]);
            }
            break;
        case 'j': /* LONG_BINGET */
            if ((st = need(u, 4, &b)) == ARNET_OK) {
                u->pos += 4;
                st = memo_get(u, rd32(b));
            }
            break;
        case '(': /* MARK */
            if (u->n_marks == MAX_MARKS)
                st = perr(u, "MARKs nested deeper than %u", MAX_MARKS);
            else
                u->marks[u->n_marks++] = u->sp;
            break;
        case 'X':   /* BINUNICODE */
        case 'T':   /* BINSTRING */
        case 0x8c:  /* SHORT_BINUNICODE */
        case 'U': { /* SHORT_BINSTRING */
            size_t hl = (op == 'X' || op == 'T') ? 4 : 1;
            if ((st = need(u, hl, &b)) != ARNET_OK)
                break;
            size_t len = hl == 4 ? rd32(b) : b[0];
            u->pos += hl;
            if ((st = need(u, len, &b)) != ARNET_OK)
                break;
            u->pos += len;
            if ((v = new_val(r, V_STR))) {
                v->s = b;
                v->n = len;
            }
            st = push(u, v);
            break;
        }
        case 'K': /* BININT1 */
        case 'M': /* BININT2 */
        case 'J': /* BININT */
        {
            size_t k = op == 'K' ? 1 : op == 'M' ? 2 : 4;
            if ((st = need(u, k, &b)) != ARNET_OK)
                break;
            u->pos += k;
            if (k == 1)
                v = shared_val(r, V_INT, b[0]);
            else if ((v = new_val(r, V_INT)))
                v->i = k == 2 ? (int64_t)rd16(b) : (int64_t)(int32_t)rd32(b);
            st = push(u, v);
            break;
        }
        case 0x8a: { /* LONG1 */
            if ((st = need(u, 1, &b)) != ARNET_OK)
                break;
            size_t len = b[0];
            u->pos += 1;
            if ((st = need(u, len, &b)) != ARNET_OK)
                break;
            u->pos += len;
            if (len <= 8) {
                uint64_t x = 0;
                for (size_t i = 0; i < len; i++)
                    x |= (uint64_t)b[i] << (8 * i);
                if (len > 0 && len < 8 && (b[len - 1] & 0x80))
                    x |= ~(uint64_t)0 << (8 * len); /* sign extension */
                if ((v = new_val(r, V_INT)))
                    v->i = (int64_t)x;
            } else if ((v = new_val(r, V_BIGINT))) {
                v->s = b;
                v->n = len;
            }
            st = push(u, v);
            break;
        }
        case 't': { /* TUPLE */
            size_t from = 0;
            if ((st = pop_mark(u, &from)) == ARNET_OK)
                st = make_tuple(u, from);
            break;
        }
        case 0x85: /* TUPLE1 */
        case 0x86: /* TUPLE2 */
        case 0x87: /* TUPLE3 */
        {
            size_t k = (size_t)(op - 0x84), floor = u->n_marks ? u->marks[u->n_marks - 1] : 0;
            if (u->sp - floor < k)
                st = perr(u, "stack underflow");
            else
                st = make_tuple(u, u->sp - k);
            break;
        }
        case 'a': /* APPEND */
            if ((st = pop(u, &v)) != ARNET_OK || (st = top(u, &w)) != ARNET_OK)
                break;
            if (w->type != V_LIST)
                st = perr(u, "APPEND to a %s", vtype_names[w->type]);
            else
                st = append_items(u, w, &v, 1);
            break;
        case 'e': { /* APPENDS */
            size_t from = 0;
            if ((st = pop_mark(u, &from)) != ARNET_OK)
                break;
            size_t floor = u->n_marks ? u->marks[u->n_marks - 1] : 0;
            if (from <= floor || u->stack[from - 1]->type != V_LIST) {
                st = perr(u, "APPENDS without a list");
                break;
            }
            st = append_items(u, u->stack[from - 1], u->stack + from, u->sp - from);
            u->sp = from;
            break;
        }
        case 's':   /* SETITEM */
        case 'u': { /* SETITEMS */
            size_t from = 0;
            if (op == 's') {
                size_t floor = u->n_marks ? u->marks[u->n_marks - 1] : 0;
                if (u->sp - floor < 2) {
                    st = perr(u, "stack underflow");
                    break;
                }
                from = u->sp - 2;
            } else if ((st = pop_mark(u, &from)) != ARNET_OK) {
                break;
            }
            size_t floor = u->n_marks ? u->marks[u->n_marks - 1] : 0;
            if (from <= floor || u->stack[from - 1]->type != V_DICT) {
                st = perr(u, "SETITEM%s without a dict", op == 'u' ? "S" : "");
                break;
            }
            if ((u->sp - from) % 2) {
                st = perr(u, "SETITEMS with an odd number of items");
                break;
            }
            st = append_items(u, u->stack[from - 1], u->stack + from, u->sp - from);
            u->sp = from;
            break;
        }
        case 'c': { /* GLOBAL: module\nname\n */
            const uint8_t *m = u->p + u->pos, *e1, *e2;
            size_t left = u->n - u->pos;
            e1 = memchr(m, '\n', left > 256 ? 256 : left);
            if (!e1) {
                st = perr(u, "GLOBAL without its module line");
                break;
            }
            left = u->n - (size_t)(e1 + 1 - u->p);
            e2 = memchr(e1 + 1, '\n', left > 256 ? 256 : left);
            if (!e2) {
                st = perr(u, "GLOBAL without its name line");
                break;
            }
            u->pos = (size_t)(e2 + 1 - u->p);
            st = global(u, m, (size_t)(e1 - m), e1 + 1, (size_t)(e2 - e1 - 1));
            break;
        }
        case 0x93: /* STACK_GLOBAL */
            if ((st = pop(u, &w)) != ARNET_OK || (st = pop(u, &v)) != ARNET_OK)
                break;
            if (v->type != V_STR || w->type != V_STR)
                st = perr(u, "STACK_GLOBAL of a non-string");
            else
                st = global(u, v->s, v->n, w->s, w->n);
            break;
        case 'R': /* REDUCE */
            st = reduce(u);
            break;
        case 'b': /* BUILD: only an OrderedDict's state (its _metadata), ignored */
            if ((st = pop(u, &v)) != ARNET_OK || (st = top(u, &w)) != ARNET_OK)
                break;
            if (w->type != V_DICT)
                st = perr(u, "BUILD on a %s", vtype_names[w->type]);
            break;
        case 'Q': /* BINPERSID */
            st = persistent_load(u);
            break;
        case '.': /* STOP */
            if ((st = pop(u, result)) != ARNET_OK)
                break;
            *used = u->pos;
            free(u->memo);
            free(u);
            return ARNET_OK;
        default: {
            const char *name = opcode_name(op);
            if (name)
                st = perr(u, "pickle opcode %s (0x%02x) is not allowed: a state dict does not "
                          "use it", name, op);
            else
                st = perr(u, "byte 0x%02x is not a pickle opcode", op);
            break;
        }
        }
        if (st != ARNET_OK)
            break;
    }
    free(u->memo);
    free(u);
    return st;
}

/* ---- from the dict to tensors ---------------------------------------------------- */

static float element(const uint8_t *p, int dtype)
{
    switch (dtype) {
    case DT_F32: {
        float f;
        memcpy(&f, p, 4);
        return f;
    }
    case DT_F64: {
        double d;
        memcpy(&d, p, 8);
        return (float)d;
    }
    case DT_F16:
        return arnet__f16_to_f32((uint16_t)rd16(p));
    default: { /* DT_BF16 */
        uint32_t bits = rd16(p) << 16;
        float f;
        memcpy(&f, &bits, 4);
        return f;
    }
    }
}

static int materialise(reader *r, const char *name, const tensor_ref *t, arnet__torch_tensor *o)
{
    const storage *s = t->st;
    const struct dtype_desc *dt = &dtypes[s->dtype];
    o->dtype = dt->name;
    o->is_float = dt->is_float;
    o->ndim = t->ndim;
    uint64_t numel = 1, last = t->offset;
    for (uint32_t i = 0; i < t->ndim; i++) {
        o->shape[i] = t->size[i];
        if (t->size[i] && numel > UINT64_MAX / t->size[i])
            return fmt_err(r, "tensor %s: shape overflows", name);
        numel *= t->size[i];
    }
    o->numel = numel;
    if (numel == 0)
        return ARNET_OK;
    /* A view never holds more elements than its storage: a larger claim
     * (zero or overlapping strides) is refused before any allocation. */
    if (numel > s->numel)
        return fmt_err(r, "tensor %s: %llu elements from a storage of %llu", name,
                       (unsigned long long)numel, (unsigned long long)s->numel);
    for (uint32_t i = 0; i < t->ndim; i++) {
        uint64_t span = t->size[i] - 1;
        if (t->stride[i] && span > (UINT64_MAX - last) / t->stride[i])
            return fmt_err(r, "tensor %s: strides overflow", name);
        last += span * t->stride[i];
    }
    if (last >= s->numel)
        return fmt_err(r, "tensor %s: offset and strides reach element %llu of a storage of %llu",
                       name, (unsigned long long)last, (unsigned long long)s->numel);
    if (!s->data)
        return fmt_err(r, "tensor %s: storage %s has no data in the file", name, s->key);
    if (!dt->is_float)
        return ARNET_OK;
    if (r->converted + numel > VIEW_BUDGET_FACTOR * r->st_elems + VIEW_BUDGET_FLOOR)
        return fmt_err(r, "tensor %s: with it the tensors would hold %llu elements, more than "
                       "%u times the %llu of the file's storages (overlapping views)", name,
                       (unsigned long long)(r->converted + numel), VIEW_BUDGET_FACTOR,
                       (unsigned long long)r->st_elems);
    r->converted += numel;
    o->data = arnet__alloc((size_t)numel, sizeof(float), "torch tensor");
    if (!o->data)
        return ARNET_E_NOMEM;
    /* Row-major float32 (nearly every file): one copy. */
    int contiguous = 1;
    uint64_t want = 1;
    for (uint32_t d = t->ndim; d-- > 0;) {
        if (t->size[d] != 1 && t->stride[d] != want)
            contiguous = 0;
        want *= t->size[d];
    }
    if (contiguous && s->dtype == DT_F32) {
        memcpy(o->data, s->data + t->offset * 4, (size_t)numel * 4);
        return ARNET_OK;
    }
    uint64_t idx[ARNET__TORCH_MAX_NDIM] = { 0 };
    uint64_t src = t->offset;
    for (uint64_t e = 0; e < numel; e++) {
        o->data[e] = element(s->data + src * dt->size, s->dtype);
        /* next index, row-major, carrying */
        for (uint32_t d = t->ndim; d-- > 0;) {
            if (++idx[d] < t->size[d]) {
                src += t->stride[d];
                break;
            }
            src -= (t->size[d] - 1) * t->stride[d];
            idx[d] = 0;
        }
    }
    return ARNET_OK;
}

static int collect(reader *r, const val *dict, arnet__torch_file *out)
{
    if (dict->type != V_DICT)
        return fmt_err(r, "the file holds a %s, not a state dict", vtype_names[dict->type]);
    size_t n = dict->n / 2;
    if (n > MAX_TENSORS) /* the unpickler refused it already */
        return fmt_err(r, "%zu entries in the state dict (at most %u)", n, MAX_TENSORS);
    out->tensors = calloc(n ? n : 1, sizeof *out->tensors);
    if (!out->tensors)
        return nomem(r);
    names seen = { 0 };
    int st = ARNET_OK;
    for (size_t i = 0; i < n && st == ARNET_OK; i++) {
        const val *k = dict->items[2 * i], *v = dict->items[2 * i + 1];
        if (k->type != V_STR) {
            st = fmt_err(r, "state dict key %zu is a %s, not a string", i, vtype_names[k->type]);
            break;
        }
        const uint8_t *ks = k->s;
        size_t kl = k->n;
        if (kl > 7 && memcmp(ks, "module.", 7) == 0) {
            ks += 7;
            kl -= 7;
            out->module_prefix = 1;
        }
        if (kl > 1024 || memchr(ks, '\0', kl)) {
            st = fmt_err(r, "state dict key %zu is not a tensor name", i);
            break;
        }
        if (v->type != V_TENSOR) {
            st = fmt_err(r, "state dict entry %zu (%.*s) is a %s, not a tensor", i,
                         (int)(kl > 200 ? 200 : kl), (const char *)ks, vtype_names[v->type]);
            break;
        }
        arnet__torch_tensor *o = &out->tensors[out->n_tensors++];
        if (!(o->name = malloc(kl + 1))) {
            st = nomem(r);
            break;
        }
        memcpy(o->name, ks, kl);
        o->name[kl] = '\0';
        if (names_get(&seen, (const uint8_t *)o->name, kl)) {
            st = fmt_err(r, "state dict entry %zu: tensor %s appears twice", i, o->name);
            break;
        }
        if (!names_put(&seen, (const uint8_t *)o->name, kl, o)) {
            st = nomem(r);
            break;
        }
        tensor_ref *t = v->t;
        if (t->out) { /* the same (memoized) tensor under another name: shared */
            const arnet__torch_tensor *first = &out->tensors[t->out - 1];
            char *name = o->name;
            *o = *first;
            o->name = name;
            o->shared = 1;
            continue;
        }
        st = materialise(r, o->name, t, o);
        t->out = out->n_tensors;
    }
    names_free(&seen);
    return st;
}

/* ---- the two containers ---------------------------------------------------------- */

static int read_zip(reader *r, arnet__torch_file *out)
{
    int st = zip_open(r);
    if (st != ARNET_OK)
        return st;
    const zentry *bo = zip_find(r, "byteorder", 9);
    if (bo) {
        const uint8_t *p;
        size_t len;
        if ((st = zip_get(r, bo, 64, &p, &len)) != ARNET_OK)
            return st;
        if (!(len == 6 && memcmp(p, "little", 6) == 0))
            return fmt_err(r, "big-endian torch files are not supported");
    }
    const uint8_t *pkl;
    size_t len, used;
    val *obj;
    if ((st = zip_get(r, zip_find(r, "data.pkl", 8), MAX_PICKLE, &pkl, &len)) != ARNET_OK ||
        (st = unpickle(r, "data.pkl", pkl, len, &obj, &used)) != ARNET_OK)
        return st;
    out->zip = 1;
    return collect(r, obj, out);
}

static int read_legacy(reader *r, arnet__torch_file *out)
{
    /* 0x1950a86a20f9469cfc6c, little-endian, as LONG1 */
    static const uint8_t magic[10] = { 0x6c, 0xfc, 0x9c, 0x46, 0xf9,
                                       0x20, 0x6a, 0xa8, 0x50, 0x19 };
    const uint8_t *p = r->data;
    size_t n = r->size, used;
    val *v = NULL;
    int st = unpickle(r, "magic number pickle", p, n, &v, &used);
    if (st != ARNET_OK)
        return st;
    if (v->type != V_BIGINT || v->n != 10 || memcmp(v->s, magic, 10) != 0)
        return fmt_err(r, "not a torch.save file (wrong magic number)");
    p += used;
    n -= used;
    if ((st = unpickle(r, "protocol pickle", p, n, &v, &used)) != ARNET_OK)
        return st;
    if (v->type != V_INT || v->i != 1001)
        return fmt_err(r, "legacy torch protocol %lld not supported (1001 is)",
                       v->type == V_INT ? (long long)v->i : -1LL);
    p += used;
    n -= used;
    if ((st = unpickle(r, "sys_info pickle", p, n, &v, &used)) != ARNET_OK)
        return st;
    if (v->type != V_DICT)
        return fmt_err(r, "sys_info is not a dict");
    for (size_t i = 0; i + 1 < v->n; i += 2)
        if (is_str(v->items[i], "little_endian") &&
            !(v->items[i + 1]->type == V_BOOL && v->items[i + 1]->i == 1))
            return fmt_err(r, "big-endian torch files are not supported");
    p += used;
    n -= used;
    val *obj, *keys;
    if ((st = unpickle(r, "state dict pickle", p, n, &obj, &used)) != ARNET_OK)
        return st;
    p += used;
    n -= used;
    if ((st = unpickle(r, "storage keys pickle", p, n, &keys, &used)) != ARNET_OK)
        return st;
    p += used;
    n -= used;
    if (keys->type != V_LIST)
        return fmt_err(r, "storage keys are a %s, not a list", vtype_names[keys->type]);
    for (size_t i = 0; i < keys->n; i++) {
        const val *k = keys->items[i];
        storage *s = k->type == V_STR ? names_get(&r->st_names, k->s, k->n) : NULL;
        if (!s)
            return fmt_err(r, "storage key %zu names no storage of the state dict", i);
        if (s->data)
            return fmt_err(r, "storage %s stored twice", s->key);
        if (n < 8)
            return fmt_err(r, "storage %s: truncated before its size", s->key);
        uint64_t numel = rd64(p);
        p += 8;
        n -= 8;
        unsigned es = dtypes[s->dtype].size;
        if (numel > n / es)
            return fmt_err(r, "storage %s: %llu elements of %u bytes run past the end of the "
                           "file (truncated?)", s->key, (unsigned long long)numel, es);
        if (numel < s->numel)
            return fmt_err(r, "storage %s: %llu elements where the state dict says %llu",
                           s->key, (unsigned long long)numel, (unsigned long long)s->numel);
        s->data = p;
        p += numel * es;
        n -= numel * es;
    }
    out->zip = 0;
    return collect(r, obj, out);
}

int arnet__torch_read_buffer(const uint8_t *data, size_t size, const char *name,
                             arnet__torch_file *out)
{
    memset(out, 0, sizeof *out);
    reader r;
    memset(&r, 0, sizeof r);
    r.file = name;
    r.data = data;
    r.size = size;
    int st;
    if (size >= 4 && rd32(data) == ZIP_LOCAL) {
        r.zip = 1;
        st = read_zip(&r, out);
    } else if (size >= 2 && data[0] == 0x80 && data[1] >= 2 && data[1] <= 5) {
        st = read_legacy(&r, out);
    } else if (size >= 262 && memcmp(data + 257, "ustar", 5) == 0) {
        st = fmt_err(&r, "tar-format torch files (torch < 0.4) are not supported");
    } else {
        st = fmt_err(&r, "not a torch.save file (neither zip nor pickle)");
    }
    reader_free(&r);
    if (st != ARNET_OK)
        arnet__torch_free(out);
    return st;
}

int arnet__torch_read(const char *path, arnet__torch_file *out)
{
    memset(out, 0, sizeof *out);
    uint8_t *buf;
    size_t size;
    int st = arnet__read_file(path, &buf, &size);
    if (st != ARNET_OK)
        return st;
    st = arnet__torch_read_buffer(buf, size, path, out);
    free(buf);
    return st;
}

void arnet__torch_free(arnet__torch_file *f)
{
    if (!f)
        return;
    for (size_t i = 0; i < f->n_tensors; i++) {
        free(f->tensors[i].name);
        if (!f->tensors[i].shared)
            free(f->tensors[i].data);
    }
    free(f->tensors);
    memset(f, 0, sizeof *f);
}

const arnet__torch_tensor *arnet__torch_find(const arnet__torch_file *f, const char *name)
{
    for (size_t i = 0; i < f->n_tensors; i++)
        if (strcmp(f->tensors[i].name, name) == 0)
            return &f->tensors[i];
    return NULL;
}
