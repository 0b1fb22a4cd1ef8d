/* npy.c -- NumPy .npy files: the strict header parser, the one-pass feature
 * and label readers, and the atomic float32 writer. */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "data_int.h"
#include "internal.h"

void arnet_npy_options_init(arnet_npy_options *opt)
{
    if (!opt)
        return;
    memset(opt, 0, sizeof *opt);
    opt->struct_size = sizeof *opt;
    opt->crop = -1;
    opt->layout = ARNET_LAYOUT_AUTO;
}

static int host_is_little(void)
{
    const uint16_t one = 1;
    uint8_t b;
    memcpy(&b, &one, 1);
    return b == 1;
}

/* ---- writer --------------------------------------------------------------- */

int arnet_npy_write(const char *path, const float *data, const size_t *shape, int ndim)
{
    if (!path || !shape)
        return arnet__error(ARNET_E_INVALID, "arnet_npy_write: %s is NULL",
                            path ? "shape" : "path");
    if (ndim < 1 || ndim > 3)
        return arnet__error(ARNET_E_INVALID, "arnet_npy_write %s: ndim %d not in 1..3", path,
                            ndim);
    size_t count = 1;
    for (int i = 0; i < ndim; i++)
        if (!arnet__mul_size(count, shape[i], &count))
            return arnet__error(ARNET_E_INVALID, "arnet_npy_write %s: shape overflows", path);
    size_t bytes;
    if (!arnet__mul_size(count, sizeof(float), &bytes))
        return arnet__error(ARNET_E_INVALID, "arnet_npy_write %s: shape overflows", path);
    if (count > 0 && !data)
        return arnet__error(ARNET_E_INVALID, "arnet_npy_write %s: data is NULL", path);

    char dict[256];
    int dl;
    if (ndim == 1)
        dl = snprintf(dict, sizeof dict, "{'descr': '<f4', 'fortran_order': False, 'shape': (%zu,), }",
                      shape[0]);
    else if (ndim == 2)
        dl = snprintf(dict, sizeof dict, "{'descr': '<f4', 'fortran_order': False, 'shape': (%zu, %zu), }",
                      shape[0], shape[1]);
    else
        dl = snprintf(dict, sizeof dict,
                      "{'descr': '<f4', 'fortran_order': False, 'shape': (%zu, %zu, %zu), }",
                      shape[0], shape[1], shape[2]);
    /* Version 1.0 (10-byte preamble); pad with spaces and a final newline so
     * the data starts on a 64-byte boundary, as NumPy itself does. */
    char header[320];
    size_t total = ((size_t)10 + (size_t)dl + 1 + 63) / 64 * 64;
    size_t hlen = total - 10;
    memcpy(header, "\x93NUMPY\x01\x00", 8);
    header[8] = (char)(hlen & 0xff);
    header[9] = (char)(hlen >> 8);
    memcpy(header + 10, dict, (size_t)dl);
    memset(header + 10 + dl, ' ', hlen - (size_t)dl - 1);
    header[total - 1] = '\n';

    arnet__wfile f;
    int rc = arnet__wfile_open(&f, path);
    if (!rc)
        rc = arnet__wfile_write(&f, header, total);
    if (rc)
        return rc;
    if (host_is_little()) {
        rc = arnet__wfile_write(&f, data, bytes);
    } else {
        /* Swap through a small buffer: the caller's data stays untouched. */
        uint8_t buf[4096];
        size_t done = 0;
        while (done < count && !rc) {
            size_t n = count - done < 1024 ? count - done : 1024;
            const uint8_t *src = (const uint8_t *)(data + done);
            for (size_t i = 0; i < n; i++)
                for (int b = 0; b < 4; b++)
                    buf[i * 4 + (size_t)b] = src[i * 4 + 3 - (size_t)b];
            rc = arnet__wfile_write(&f, buf, n * 4);
            done += n;
        }
    }
    if (rc)
        return rc; /* the writer has removed its temporary */
    return arnet__wfile_commit(&f);
}

/* ---- header --------------------------------------------------------------- */

/* Longest header accepted: NumPy itself refuses more than 10000 bytes by
 * default; a little slack, but never a hostile multi-gigabyte allocation. */
#define NPY_MAX_HEADER (1u << 20)
#define NPY_MAX_DIMS ARNET_NPY_MAX_DIMS
/* Elements converted per read when the data cannot go straight into place. */
#define NPY_CHUNK 65536

typedef struct npy_header {
    char descr[32];
    char kind;     /* 'f', 'i', 'u', 'b' */
    size_t isz;    /* bytes per element */
    int swap;      /* file byte order differs from the host's */
    int fortran;
    int ndim;
    uint64_t shape[NPY_MAX_DIMS];
    size_t count;  /* elements */
    size_t offset; /* where the data starts */
} npy_header;

typedef struct npy_parser {
    const char *p, *end;
    const char *path;
} npy_parser;

static void skip_ws(npy_parser *ps)
{
    while (ps->p < ps->end && (*ps->p == ' ' || *ps->p == '\t' || *ps->p == '\n' ||
                               *ps->p == '\r'))
        ps->p++;
}

static int bad_header(const npy_parser *ps, const char *what)
{
    return arnet__error(ARNET_E_FORMAT, "%s: malformed .npy header: %s", ps->path, what);
}

/* A Python string literal without escapes (NumPy never writes any). */
static int parse_string(npy_parser *ps, char *out, size_t cap)
{
    if (ps->p >= ps->end || (*ps->p != '\'' && *ps->p != '"'))
        return bad_header(ps, "expected a quoted string");
    char q = *ps->p++;
    size_t n = 0;
    while (ps->p < ps->end && *ps->p != q) {
        if (*ps->p == '\\' || (unsigned char)*ps->p < 0x20)
            return bad_header(ps, "unexpected character in a string");
        if (n + 1 >= cap)
            return bad_header(ps, "string too long");
        out[n++] = *ps->p++;
    }
    if (ps->p >= ps->end)
        return bad_header(ps, "unterminated string");
    ps->p++;
    out[n] = '\0';
    return ARNET_OK;
}

static int parse_bool(npy_parser *ps, int *out)
{
    size_t left = (size_t)(ps->end - ps->p);
    if (left >= 4 && memcmp(ps->p, "True", 4) == 0) {
        ps->p += 4;
        *out = 1;
        return ARNET_OK;
    }
    if (left >= 5 && memcmp(ps->p, "False", 5) == 0) {
        ps->p += 5;
        *out = 0;
        return ARNET_OK;
    }
    return bad_header(ps, "fortran_order must be True or False");
}

static int parse_shape(npy_parser *ps, npy_header *h)
{
    if (ps->p >= ps->end || *ps->p != '(')
        return bad_header(ps, "shape must be a tuple");
    ps->p++;
    int n = 0, trailing_comma = 0;
    for (;;) {
        skip_ws(ps);
        if (ps->p >= ps->end)
            return bad_header(ps, "unterminated shape");
        if (*ps->p == ')') {
            ps->p++;
            break;
        }
        if (*ps->p == '-')
            return arnet__error(ARNET_E_FORMAT, "%s: shape has a negative dimension",
                                ps->path);
        if (*ps->p < '0' || *ps->p > '9')
            return bad_header(ps, "shape entries must be integers");
        uint64_t v = 0;
        while (ps->p < ps->end && *ps->p >= '0' && *ps->p <= '9') {
            unsigned d = (unsigned)(*ps->p - '0');
            if (v > (UINT64_MAX - d) / 10)
                return arnet__error(ARNET_E_FORMAT, "%s: shape dimension too large",
                                    ps->path);
            v = v * 10 + d;
            ps->p++;
        }
        if (ps->p < ps->end && *ps->p == 'L') /* Python 2 long literal */
            ps->p++;
        if (n >= NPY_MAX_DIMS)
            return arnet__error(ARNET_E_FORMAT, "%s: more than %d dimensions", ps->path,
                                NPY_MAX_DIMS);
        h->shape[n++] = v;
        skip_ws(ps);
        trailing_comma = 0;
        if (ps->p < ps->end && *ps->p == ',') {
            ps->p++;
            trailing_comma = 1;
        } else if (ps->p < ps->end && *ps->p == ')') {
            ps->p++;
            break;
        } else {
            return bad_header(ps, "expected ',' or ')' in shape");
        }
    }
    /* "(5)" is the integer 5 in Python, not a tuple. */
    if (n == 1 && !trailing_comma)
        return bad_header(ps, "one-element shape without its trailing comma");
    h->ndim = n;
    return ARNET_OK;
}

static int parse_descr(const char *path, npy_header *h)
{
    const char *d = h->descr;
    if (d[0] == '\0')
        return arnet__error(ARNET_E_FORMAT, "%s: empty dtype", path);
    char order = d[0];
    if (order != '<' && order != '>' && order != '|' && order != '=')
        return arnet__error(ARNET_E_FORMAT, "%s: dtype '%s' has no byte order", path, d);
    char kind = d[1];
    if (kind == 'O')
        return arnet__error(ARNET_E_FORMAT, "%s: object arrays ('%s') are not supported", path,
                            d);
    if (kind != 'f' && kind != 'i' && kind != 'u' && kind != 'b')
        return arnet__error(ARNET_E_FORMAT, "%s: dtype '%s' is not supported", path, d);
    char *endp;
    errno = 0;
    long sz = strtol(d + 2, &endp, 10);
    if (d[2] < '0' || d[2] > '9' || *endp != '\0' || errno)
        return arnet__error(ARNET_E_FORMAT, "%s: dtype '%s' is malformed", path, d);
    int ok = (kind == 'f' && (sz == 2 || sz == 4 || sz == 8)) ||
             ((kind == 'i' || kind == 'u') && (sz == 1 || sz == 2 || sz == 4 || sz == 8)) ||
             (kind == 'b' && sz == 1);
    if (!ok)
        return arnet__error(ARNET_E_FORMAT, "%s: dtype '%s' is not supported", path, d);
    if (sz > 1 && order == '|')
        return arnet__error(ARNET_E_FORMAT, "%s: dtype '%s' needs a byte order", path, d);
    h->kind = kind;
    h->isz = (size_t)sz;
    int little = host_is_little();
    h->swap = sz > 1 && ((order == '<' && !little) || (order == '>' && little));
    return ARNET_OK;
}

static int parse_dict(npy_parser *ps, npy_header *h)
{
    int have_descr = 0, have_fortran = 0, have_shape = 0;
    skip_ws(ps);
    if (ps->p >= ps->end || *ps->p != '{')
        return bad_header(ps, "expected '{'");
    ps->p++;
    for (;;) {
        skip_ws(ps);
        if (ps->p < ps->end && *ps->p == '}') {
            ps->p++;
            break;
        }
        char key[32];
        int rc = parse_string(ps, key, sizeof key);
        if (rc)
            return rc;
        skip_ws(ps);
        if (ps->p >= ps->end || *ps->p != ':')
            return bad_header(ps, "expected ':' after a key");
        ps->p++;
        skip_ws(ps);
        if (strcmp(key, "descr") == 0) {
            if (have_descr++)
                return bad_header(ps, "duplicate key 'descr'");
            if (ps->p < ps->end && *ps->p == '[')
                return arnet__error(ARNET_E_FORMAT,
                                    "%s: structured dtypes are not supported", ps->path);
            if ((rc = parse_string(ps, h->descr, sizeof h->descr)))
                return rc;
        } else if (strcmp(key, "fortran_order") == 0) {
            if (have_fortran++)
                return bad_header(ps, "duplicate key 'fortran_order'");
            if ((rc = parse_bool(ps, &h->fortran)))
                return rc;
        } else if (strcmp(key, "shape") == 0) {
            if (have_shape++)
                return bad_header(ps, "duplicate key 'shape'");
            if ((rc = parse_shape(ps, h)))
                return rc;
        } else {
            return arnet__error(ARNET_E_FORMAT, "%s: malformed .npy header: unknown key '%s'",
                                ps->path, key);
        }
        skip_ws(ps);
        if (ps->p < ps->end && *ps->p == ',') {
            ps->p++;
            continue;
        }
        if (ps->p < ps->end && *ps->p == '}') {
            ps->p++;
            break;
        }
        return bad_header(ps, "expected ',' or '}'");
    }
    skip_ws(ps);
    if (ps->p != ps->end)
        return bad_header(ps, "text after the closing '}'");
    if (!have_descr || !have_fortran || !have_shape)
        return arnet__error(ARNET_E_FORMAT, "%s: malformed .npy header: missing key '%s'",
                            ps->path,
                            !have_descr ? "descr" : !have_fortran ? "fortran_order" : "shape");
    return parse_descr(ps->path, h);
}

/* Open path and check everything the header claims against the file before
 * anything sized by it is allocated: on success *fp is positioned at the
 * data, which fills the rest of the file exactly. */
static int npy_open(const char *path, FILE **fp_out, npy_header *h)
{
    memset(h, 0, sizeof *h);
    /* The size check below is what makes a lying header harmless, so only
     * files with a real size will do (not directories, pipes or devices). */
    FILE *fp;
    uint64_t fsize;
    int rc = arnet__fopen_read(path, &fp, &fsize);
    if (rc)
        return rc;
    char *hdr = NULL;
    unsigned char pre[12];
    if (fsize < 10 || fread(pre, 1, 10, fp) != 10) {
        rc = arnet__error(ARNET_E_FORMAT, "%s: too short for a .npy file (%llu bytes)", path,
                          (unsigned long long)fsize);
        goto fail;
    }
    if (memcmp(pre, "\x93NUMPY", 6) != 0) {
        rc = arnet__error(ARNET_E_FORMAT, "%s: not a .npy file (bad magic)", path);
        goto fail;
    }
    int major = pre[6], minor = pre[7];
    if (major < 1 || major > 3 || minor != 0) {
        rc = arnet__error(ARNET_E_FORMAT, "%s: unsupported .npy format version %d.%d", path,
                          major, minor);
        goto fail;
    }
    uint64_t hlen, preamble;
    if (major == 1) {
        hlen = (uint64_t)pre[8] | (uint64_t)pre[9] << 8;
        preamble = 10;
    } else {
        if (fsize < 12 || fread(pre + 10, 1, 2, fp) != 2) {
            rc = arnet__error(ARNET_E_FORMAT, "%s: truncated .npy preamble", path);
            goto fail;
        }
        hlen = (uint64_t)pre[8] | (uint64_t)pre[9] << 8 | (uint64_t)pre[10] << 16 |
               (uint64_t)pre[11] << 24;
        preamble = 12;
    }
    if (hlen > fsize - preamble) {
        rc = arnet__error(ARNET_E_FORMAT,
                          "%s: header length %llu runs past the end of the file (%llu bytes)",
                          path, (unsigned long long)hlen, (unsigned long long)fsize);
        goto fail;
    }
    if (hlen > NPY_MAX_HEADER) {
        rc = arnet__error(ARNET_E_FORMAT, "%s: header length %llu exceeds the %u-byte limit",
                          path, (unsigned long long)hlen, NPY_MAX_HEADER);
        goto fail;
    }
    hdr = arnet__alloc((size_t)hlen + 1, 1, ".npy header");
    if (!hdr) {
        rc = ARNET_E_NOMEM;
        goto fail;
    }
    if (fread(hdr, 1, (size_t)hlen, fp) != (size_t)hlen) {
        rc = arnet__error(ARNET_E_IO, "%s: read error in the header", path);
        goto fail;
    }
    hdr[hlen] = '\0';
    if (memchr(hdr, '\0', (size_t)hlen)) {
        rc = arnet__error(ARNET_E_FORMAT, "%s: malformed .npy header: NUL byte", path);
        goto fail;
    }
    npy_parser ps = {hdr, hdr + hlen, path};
    if ((rc = parse_dict(&ps, h)))
        goto fail;
    size_t count = 1;
    for (int i = 0; i < h->ndim; i++) {
        if (h->shape[i] > SIZE_MAX || !arnet__mul_size(count, (size_t)h->shape[i], &count)) {
            rc = arnet__error(ARNET_E_FORMAT, "%s: shape overflows the address space", path);
            goto fail;
        }
    }
    size_t bytes;
    if (!arnet__mul_size(count, h->isz, &bytes)) {
        rc = arnet__error(ARNET_E_FORMAT, "%s: shape overflows the address space", path);
        goto fail;
    }
    h->count = count;
    h->offset = (size_t)(preamble + hlen);
    uint64_t have = fsize - preamble - hlen;
    if (have < bytes) {
        rc = arnet__error(ARNET_E_FORMAT,
                          "%s: truncated: the header promises %zu data bytes, the file has %llu",
                          path, bytes, (unsigned long long)have);
        goto fail;
    }
    if (have > bytes) {
        rc = arnet__error(ARNET_E_FORMAT,
                          "%s: %llu bytes after the %zu data bytes the header describes", path,
                          (unsigned long long)(have - bytes), bytes);
        goto fail;
    }
    free(hdr);
    *fp_out = fp;
    return ARNET_OK;
fail:
    free(hdr);
    fclose(fp);
    return rc;
}

static void format_shape(const npy_header *h, char *buf, size_t cap)
{
    size_t n = (size_t)snprintf(buf, cap, "(");
    for (int i = 0; i < h->ndim && n < cap; i++)
        n += (size_t)snprintf(buf + n, cap - n, i ? ", %llu" : "%llu",
                              (unsigned long long)h->shape[i]);
    if (n < cap)
        snprintf(buf + n, cap - n, h->ndim == 1 ? ",)" : ")");
}

/* ---- mapping ------------------------------------------------------------- */

int arnet__npy_map(const char *path, int layout, arnet__map *out)
{
    memset(out, 0, sizeof *out);
    FILE *fp;
    npy_header h;
    int rc = npy_open(path, &fp, &h);
    if (rc)
        return rc;
    char shp[160];
    format_shape(&h, shp, sizeof shp);
    if (h.kind != 'f' || (h.ndim != 2 && h.ndim != 3)) {
        fclose(fp);
        return 1; /* arnet_npy_read says what is wrong */
    }
    int l = ARNET_LAYOUT_TCF;
    if (h.ndim == 3 && (rc = arnet__npy_layout(path, h.shape[0], h.shape[1], layout, &l))) {
        fclose(fp);
        return rc;
    }
    size_t bytes = h.count * h.isz;
    if (h.isz != 4 || h.swap || h.fortran || h.offset % 4 != 0 || h.count == 0) {
        fclose(fp);
        return 1;
    }
    size_t len = h.offset + bytes;
    void *base = mmap(NULL, len, PROT_READ, MAP_SHARED, fileno(fp), 0);
    fclose(fp);
    if (base == MAP_FAILED) {
        int e = errno;
        return arnet__error_os(e, "%s: cannot map %zu bytes: %s", path, len, strerror(e));
    }
    int ctf = h.ndim == 3 && l == ARNET_LAYOUT_CTF;
    out->base = base;
    out->len = len;
    out->data = (const float *)((const char *)base + h.offset);
    out->T = (size_t)h.shape[ctf ? 1 : 0];
    out->C = h.ndim == 3 ? (size_t)h.shape[ctf ? 0 : 1] : 1;
    out->F = (size_t)h.shape[h.ndim - 1];
    out->ctf = ctf;
    if (out->T == 0 || out->C == 0 || out->F == 0 || out->F > UINT32_MAX) {
        arnet__map_free(out);
        return 1;
    }
    return ARNET_OK;
}

void arnet__map_free(arnet__map *m)
{
    if (m && m->base)
        munmap(m->base, m->len);
    if (m)
        memset(m, 0, sizeof *m);
}

/* ---- header only ---------------------------------------------------------- */

void arnet_npy_info_init(arnet_npy_info *info)
{
    if (!info)
        return;
    memset(info, 0, sizeof *info);
    info->struct_size = sizeof *info;
}

int arnet_npy_info_read(const char *path, arnet_npy_info *info)
{
    if (!path || !info)
        return arnet__error(ARNET_E_INVALID, "arnet_npy_info_read: %s is NULL",
                            !path ? "path" : "info");
    int rc = ARNET__STRUCT_CHECK("arnet_npy_info_read", arnet_npy_info, info);
    if (rc)
        return rc;
    FILE *fp;
    npy_header h;
    if ((rc = npy_open(path, &fp, &h)))
        return rc;
    fclose(fp);
    if (h.ndim < 1)
        return arnet__error(ARNET_E_FORMAT, "%s: a 0-d array (shape ()) holds no clips", path);
    arnet_npy_info full;
    arnet_npy_info_init(&full);
    full.ndim = h.ndim;
    full.fortran_order = h.fortran;
    for (int i = 0; i < h.ndim; i++)
        full.shape[i] = h.shape[i];
    /* The descr in NumPy's canonical spelling ("<f4"), whatever the file's
     * ("=f0004" is legal): parse_descr accepted a kind and a size of 1..8. */
    char order = h.descr[0] == '=' ? (host_is_little() ? '<' : '>') : h.descr[0];
    if (h.isz == 1)
        order = '|';
    snprintf(full.dtype, sizeof full.dtype, "%c%c%u", order, h.kind, (unsigned)h.isz);
    full.item_size = (uint32_t)h.isz;
    ARNET__STRUCT_OUT(arnet_npy_info, info, &full);
    return ARNET_OK;
}

/* ---- element conversion --------------------------------------------------- */

static float half_to_float(uint16_t x)
{
    unsigned sign = x >> 15, exp = (x >> 10) & 0x1f, mant = x & 0x3ff;
    float v;
    if (exp == 0)
        v = ldexpf((float)mant, -24);
    else if (exp == 31)
        v = mant ? NAN : INFINITY;
    else
        v = ldexpf((float)(mant + 1024), (int)exp - 25);
    return sign ? -v : v;
}

/* One element in the file's dtype as a double (exact for every supported
 * type except 64-bit integers beyond 2^53, which only labels use). */
static double decode(const unsigned char *src, const npy_header *h)
{
    unsigned char b[8];
    if (h->swap)
        for (size_t i = 0; i < h->isz; i++)
            b[i] = src[h->isz - 1 - i];
    else
        memcpy(b, src, h->isz);
    switch (h->kind) {
    case 'f':
        if (h->isz == 2) {
            uint16_t u;
            memcpy(&u, b, 2);
            return half_to_float(u);
        } else if (h->isz == 4) {
            float f;
            memcpy(&f, b, 4);
            return f;
        } else {
            double d;
            memcpy(&d, b, 8);
            return d;
        }
    case 'b': return b[0] ? 1.0 : 0.0;
    case 'u':
        switch (h->isz) {
        case 1: return b[0];
        case 2: { uint16_t u; memcpy(&u, b, 2); return u; }
        case 4: { uint32_t u; memcpy(&u, b, 4); return u; }
        default: { uint64_t u; memcpy(&u, b, 8); return u ? (double)u : 0.0; }
        }
    default:
        switch (h->isz) {
        case 1: { int8_t v; memcpy(&v, b, 1); return v; }
        case 2: { int16_t v; memcpy(&v, b, 2); return v; }
        case 4: { int32_t v; memcpy(&v, b, 4); return v; }
        default: { int64_t v; memcpy(&v, b, 8); return v ? (double)v : 0.0; }
        }
    }
}

static int read_exact(FILE *fp, void *buf, size_t n, const char *path)
{
    if (n && fread(buf, 1, n, fp) != n)
        return arnet__error(ferror(fp) ? ARNET_E_IO : ARNET_E_FORMAT,
                            "%s: %s while reading the data", path,
                            ferror(fp) ? "read error" : "file ended early");
    return ARNET_OK;
}

/* ---- features ------------------------------------------------------------- */

/* C order: each time step is one contiguous row of C x F elements, so the
 * file is read row by row and reduced into the output as it goes. */
static int read_c_order(FILE *fp, const npy_header *h, const char *path, size_t T, size_t C,
                        size_t F, int crop, float *out)
{
    if (h->kind == 'f' && h->isz == 4 && !h->swap && C == 1) {
        /* The common case: the file's bytes are the final buffer. */
        size_t total = T * F, done = 0;
        while (done < total) {
            size_t n = total - done < ((size_t)1 << 26) ? total - done : ((size_t)1 << 26);
            int rc = read_exact(fp, out + done, n * 4, path);
            if (rc)
                return rc;
            done += n;
        }
        return ARNET_OK;
    }
    size_t row_bytes = C * F * h->isz; /* <= file size, checked by npy_open */
    unsigned char *row = arnet__alloc(row_bytes, 1, ".npy row buffer");
    double *acc = NULL;
    if (row && crop < 0 && C > 1)
        acc = arnet__alloc(F, sizeof *acc, ".npy crop sums");
    if (!row || (crop < 0 && C > 1 && !acc)) {
        free(row);
        return ARNET_E_NOMEM;
    }
    int rc = ARNET_OK;
    int native_f4 = h->kind == 'f' && h->isz == 4 && !h->swap;
    for (size_t t = 0; t < T && !rc; t++) {
        if ((rc = read_exact(fp, row, row_bytes, path)))
            break;
        float *o = out + t * F;
        if (crop >= 0 || C == 1) {
            const unsigned char *src = row + (size_t)(crop < 0 ? 0 : crop) * F * h->isz;
            for (size_t f = 0; f < F; f++)
                o[f] = (float)decode(src + f * h->isz, h);
        } else {
            for (size_t f = 0; f < F; f++)
                acc[f] = 0.0;
            for (size_t c = 0; c < C; c++) {
                const unsigned char *src = row + c * F * h->isz;
                if (native_f4) { /* the usual 10-crop I3D file: skip decode() */
                    for (size_t f = 0; f < F; f++) {
                        float v;
                        memcpy(&v, src + f * 4, 4);
                        acc[f] += v;
                    }
                } else {
                    for (size_t f = 0; f < F; f++)
                        acc[f] += decode(src + f * h->isz, h);
                }
            }
            for (size_t f = 0; f < F; f++)
                o[f] = (float)(acc[f] / (double)C);
        }
    }
    free(row);
    free(acc);
    return rc;
}

int arnet_crop_mean(const float *features, uint32_t crops, uint32_t feature_dim, float *out)
{
    if (!features || !out || !crops || !feature_dim)
        return arnet__error(ARNET_E_INVALID, "arnet_crop_mean: %s",
                            !features ? "features is NULL" : !out ? "out is NULL"
                            : !crops  ? "crops is 0" : "feature_dim is 0");
    /* The readers' rule, in chunks of 256 sums on the stack; out may be
     * crop 0 itself: each chunk is read whole before it is written. */
    size_t F = feature_dim;
    for (size_t f0 = 0; f0 < F; f0 += 256) {
        size_t n = F - f0 < 256 ? F - f0 : 256;
        double acc[256];
        for (size_t f = 0; f < n; f++)
            acc[f] = 0.0;
        for (size_t c = 0; c < crops; c++) {
            const float *r = features + c * F + f0;
            for (size_t f = 0; f < n; f++)
                acc[f] += r[f];
        }
        for (size_t f = 0; f < n; f++)
            out[f0 + f] = (float)(acc[f] / (double)crops);
    }
    return ARNET_OK;
}

/* Crop-first C order ([C, T, F]): crop c is a [T, F] block of its own.
 * One crop is one seek and a [T, F] read; the mean needs T x F double sums
 * (the [T, C, F] reader's rule: sum crops 0..C-1 in double, divide by C, so
 * both layouts give the same floats). */
static int read_ctf(FILE *fp, const npy_header *h, const char *path, size_t T, size_t C,
                    size_t F, int crop, float *out)
{
    size_t block = T * F * h->isz; /* <= file size, checked by npy_open */
    if (crop >= 0 || C == 1) {
        size_t skip = (size_t)(crop < 0 ? 0 : crop) * block;
        if (skip && fseeko(fp, (off_t)skip, SEEK_CUR) != 0)
            return arnet__error(ARNET_E_IO, "%s: cannot seek to crop %d", path, crop);
        npy_header one = *h;
        return read_c_order(fp, &one, path, T, 1, F, 0, out);
    }
    size_t n = T * F;
    double *acc = arnet__calloc(n, sizeof *acc, ".npy crop sums");
    unsigned char *row = arnet__alloc(F, h->isz, ".npy row buffer");
    if (!acc || !row) {
        free(acc);
        free(row);
        return ARNET_E_NOMEM;
    }
    int rc = ARNET_OK;
    for (size_t c = 0; c < C && !rc; c++)
        for (size_t t = 0; t < T && !rc; t++) {
            if ((rc = read_exact(fp, row, F * h->isz, path)))
                break;
            double *a = acc + t * F;
            for (size_t f = 0; f < F; f++)
                a[f] += decode(row + f * h->isz, h);
        }
    if (!rc)
        for (size_t i = 0; i < n; i++)
            out[i] = (float)(acc[i] / (double)C);
    free(acc);
    free(row);
    return rc;
}

static int is_crop_count(uint64_t n) { return n == 5 || n == 10; }

/* Which axis of a rank-3 [A, B, F] feature file holds the crops.  The
 * published sets have 5 or 10 crops, so B such a count and A not is
 * [T, C, F]; A such a count and B not is crop-first and must be asked for;
 * both is ambiguous; neither is read as [T, C, F] (C = B). */
int arnet__npy_layout(const char *path, uint64_t a, uint64_t b, int layout, int *resolved)
{
    if (layout == ARNET_LAYOUT_TCF || layout == ARNET_LAYOUT_CTF) {
        *resolved = layout;
        return ARNET_OK;
    }
    if (layout != ARNET_LAYOUT_AUTO)
        return arnet__error(ARNET_E_INVALID, "%s: layout %d (use ARNET_LAYOUT_AUTO, _TCF or "
                                             "_CTF)",
                            path, layout);
    if (is_crop_count(a) && is_crop_count(b))
        return arnet__error(ARNET_E_FORMAT,
                            "%s: shape (%llu, %llu, F) is ambiguous: either axis could be the "
                            "crops; say which (--layout tcf for [T, C, F], --layout ctf for "
                            "[C, T, F]; ARNET_LAYOUT_TCF/_CTF in the library)",
                            path, (unsigned long long)a, (unsigned long long)b);
    if (is_crop_count(a))
        return arnet__error(ARNET_E_FORMAT,
                            "%s: shape (%llu, %llu, F) looks crop-first ([C, T, F]: %llu crops "
                            "of %llu clips); read it with --layout ctf (ARNET_LAYOUT_CTF), or "
                            "--layout tcf if it really is %llu clips of %llu crops",
                            path, (unsigned long long)a, (unsigned long long)b,
                            (unsigned long long)a, (unsigned long long)b,
                            (unsigned long long)a, (unsigned long long)b);
    *resolved = ARNET_LAYOUT_TCF;
    return ARNET_OK;
}

/* Fortran order: t varies fastest, then c, then f.  Each feature column is
 * gathered in T-element runs; crop sums need only T doubles. */
static int read_f_order(FILE *fp, const npy_header *h, const char *path, size_t T, size_t C,
                        size_t F, int crop, float *out)
{
    size_t chunk = T < NPY_CHUNK ? T : NPY_CHUNK;
    unsigned char *buf = arnet__alloc(chunk, h->isz, ".npy read buffer");
    int avg = crop < 0 && C > 1;
    double *acc = NULL;
    if (buf && avg)
        acc = arnet__alloc(T, sizeof *acc, ".npy crop sums");
    if (!buf || (avg && !acc)) {
        free(buf);
        return ARNET_E_NOMEM;
    }
    int rc = ARNET_OK;
    for (size_t f = 0; f < F && !rc; f++) {
        if (avg)
            for (size_t t = 0; t < T; t++)
                acc[t] = 0.0;
        for (size_t c = 0; c < C && !rc; c++) {
            int keep = avg || C == 1 || (size_t)crop == c;
            for (size_t t0 = 0; t0 < T && !rc; t0 += chunk) {
                size_t n = T - t0 < chunk ? T - t0 : chunk;
                if ((rc = read_exact(fp, buf, n * h->isz, path)))
                    break;
                if (!keep)
                    continue;
                for (size_t i = 0; i < n; i++) {
                    double v = decode(buf + i * h->isz, h);
                    if (avg)
                        acc[t0 + i] += v;
                    else
                        out[(t0 + i) * F + f] = (float)v;
                }
            }
        }
        if (avg && !rc)
            for (size_t t = 0; t < T; t++)
                out[t * F + f] = (float)(acc[t] / (double)C);
    }
    free(buf);
    free(acc);
    return rc;
}

int arnet_npy_read(const char *path, const arnet_npy_options *opt, float **data,
                   size_t *n_rows, uint32_t *n_cols)
{
    if (!path || !data || !n_rows || !n_cols)
        return arnet__error(ARNET_E_INVALID, "arnet_npy_read: %s is NULL",
                            !path ? "path" : !data ? "data" : !n_rows ? "n_rows" : "n_cols");
    int crop = -1, layout = ARNET_LAYOUT_AUTO;
    if (opt) {
        arnet_npy_options o;
        arnet_npy_options_init(&o);
        int rc = ARNET__STRUCT_IN("arnet_npy_read", arnet_npy_options, &o, opt);
        if (rc)
            return rc;
        crop = o.crop;
        layout = o.layout;
        if (crop < -1)
            return arnet__error(ARNET_E_INVALID, "arnet_npy_read: crop %d (use -1 or 0..C-1)",
                                crop);
    }
    FILE *fp;
    npy_header h;
    int rc = npy_open(path, &fp, &h);
    if (rc)
        return rc;
    char shp[160];
    format_shape(&h, shp, sizeof shp);
    if (h.kind != 'f') {
        rc = arnet__error(ARNET_E_FORMAT, "%s: features must be float16/32/64, not '%s'", path,
                          h.descr);
        goto out;
    }
    if (h.ndim != 2 && h.ndim != 3) {
        rc = arnet__error(ARNET_E_FORMAT,
                          "%s: shape %s has rank %d; features must be [T, F] or [T, C, F]",
                          path, shp, h.ndim);
        goto out;
    }
    if (h.ndim == 3 && (rc = arnet__npy_layout(path, h.shape[0], h.shape[1], layout, &layout)))
        goto out;
    int ctf = h.ndim == 3 && layout == ARNET_LAYOUT_CTF;
    size_t T = (size_t)h.shape[ctf ? 1 : 0];
    size_t C = h.ndim == 3 ? (size_t)h.shape[ctf ? 0 : 1] : 1;
    size_t F = (size_t)h.shape[h.ndim - 1];
    if (ctf && h.fortran) {
        rc = arnet__error(ARNET_E_FORMAT,
                          "%s: crop-first ([C, T, F]) files in Fortran order are not read; "
                          "save it in C order (np.ascontiguousarray)",
                          path);
        goto out;
    }
    if (T == 0 || C == 0 || F == 0) {
        rc = arnet__error(ARNET_E_FORMAT, "%s: shape %s is empty (%s = 0)", path, shp,
                          T == 0 ? "T" : C == 0 ? "crops" : "F");
        goto out;
    }
    if (F > UINT32_MAX) {
        rc = arnet__error(ARNET_E_FORMAT, "%s: feature dimension %zu is too large", path, F);
        goto out;
    }
    if (crop >= 0 && (h.ndim == 2 || (size_t)crop >= C)) {
        if (h.ndim == 2)
            rc = arnet__error(ARNET_E_INVALID,
                              "%s: crop %d requested but shape %s has no crop axis", path,
                              crop, shp);
        else
            rc = arnet__error(ARNET_E_INVALID,
                              "%s: crop %d out of range: shape %s has %zu crops", path, crop,
                              shp, C);
        goto out;
    }
    float *buf = arnet__alloc(T * F, sizeof(float), "features");
    if (!buf) {
        rc = ARNET_E_NOMEM;
        goto out;
    }
    if (ctf)
        rc = read_ctf(fp, &h, path, T, C, F, crop, buf);
    else if (h.fortran && h.ndim > 1)
        rc = read_f_order(fp, &h, path, T, C, F, crop, buf);
    else
        rc = read_c_order(fp, &h, path, T, C, F, crop, buf);
    if (rc) {
        free(buf);
        goto out;
    }
    *data = buf;
    *n_rows = T;
    *n_cols = (uint32_t)F;
out:
    fclose(fp);
    return rc;
}

/* ---- labels --------------------------------------------------------------- */

int arnet_npy_read_labels(const char *path, uint8_t **labels, size_t *n)
{
    if (!path || !labels || !n)
        return arnet__error(ARNET_E_INVALID, "arnet_npy_read_labels: %s is NULL",
                            !path ? "path" : !labels ? "labels" : "n");
    FILE *fp;
    npy_header h;
    int rc = npy_open(path, &fp, &h);
    if (rc)
        return rc;
    if (h.ndim != 1) {
        char shp[160];
        format_shape(&h, shp, sizeof shp);
        rc = arnet__error(ARNET_E_FORMAT, "%s: labels must be 1-D, shape is %s", path, shp);
        goto out;
    }
    if (h.count == 0) {
        rc = arnet__error(ARNET_E_FORMAT, "%s: empty label array", path);
        goto out;
    }
    uint8_t *out = arnet__alloc(h.count, 1, "labels");
    unsigned char *buf = out ? arnet__alloc(NPY_CHUNK, h.isz, ".npy read buffer") : NULL;
    if (!buf) {
        free(out);
        rc = ARNET_E_NOMEM;
        goto out;
    }
    for (size_t i0 = 0; i0 < h.count && !rc; i0 += NPY_CHUNK) {
        size_t m = h.count - i0 < NPY_CHUNK ? h.count - i0 : NPY_CHUNK;
        if ((rc = read_exact(fp, buf, m * h.isz, path)))
            break;
        for (size_t i = 0; i < m; i++) {
            double v = decode(buf + i * h.isz, &h);
            if (v != v) {
                rc = arnet__error(ARNET_E_FORMAT, "%s: label %zu is NaN", path, i0 + i);
                break;
            }
            out[i0 + i] = v != 0.0;
        }
    }
    free(buf);
    if (rc) {
        free(out);
        goto out;
    }
    *labels = out;
    *n = h.count;
out:
    fclose(fp);
    return rc;
}
