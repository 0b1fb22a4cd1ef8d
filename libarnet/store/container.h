/* container.h -- the checkpoint container (internal): the file layout of
 * docs/checkpoint-format.md without knowing what the sections mean
 * (container.c: shared encodings; container_write.c; container_read.c).
 *
 * What a file holds is decided by its kind: "model" (checkpoint.c: an AR-Net
 * model, maybe with trainer state) or any other kind a later file declares
 * (e.g. "extractor": the I3D weights).  Every kind shares this layer: header,
 * section table, CRC-32s, the zlib codec, and two payload encodings (named
 * tensors f32/f16, key/value pairs), so a new kind writes and reads its
 * sections through the functions below and never parses bytes itself.
 *
 * ---- contract --------------------------------------------------------------
 *
 * Writing (all in memory; the caller writes the bytes, e.g. arnet__atomic_write):
 *
 *     arnet__cwriter w;
 *     arnet__cw_init(&w, path, level, max_sections);   // level 0..9
 *     arnet__cw_kind(&w, "extractor");                 // omit for a model file
 *     arnet__cw_tensor(&w, ARNET__SEC_TENSOR, ARNET__SECF_REQUIRED, &t, storage);
 *     arnet__cw_u32(&w, n_pairs);                      // a key/value section:
 *     arnet__cw_kv_pair(&w, "source", "rgb_imagenet.pt");
 *     arnet__cw_end_section(&w, ARNET__SEC_META, 0);
 *     rc = arnet__cw_finish(&w, &bytes, &size);        // bytes [transferred]
 *
 *   Any section is built by appending its raw bytes (arnet__cw_u8 .. _u64,
 *   arnet__cw_bytes, arnet__cw_kv_pair) and closing it with
 *   arnet__cw_end_section(type, flags), which compresses it; arnet__cw_tensor
 *   and arnet__cw_kind build and close a whole section.  Appending never
 *   fails on its own: an allocation failure is latched and reported by the
 *   next end_section.  After any error, or instead of finish, call
 *   arnet__cw_free (finish frees the writer itself, success or not).  Names,
 *   keys and values must pass arnet__valid_name / arnet__kv_check first
 *   (the writer does not check them again).  Exactly max_sections sections
 *   (the table is reserved up front; finish refuses another count).  The
 *   file's minor version is the lowest that knows every type written (1.0
 *   without a kind section, so model files stay 1.0).  Options from a
 *   caller (arnet_save_options: storage, compression level) are read with
 *   arnet__save_options_read; the bytes are saved with arnet__atomic_write
 *   (fileio.c), as checkpoint.c does.
 *
 * Reading (every check of docs/checkpoint-format.md steps 1-7, whatever the
 * kind; nothing is allocated from a size in the file before it is proven):
 *
 *     arnet__container c;
 *     rc = arnet__container_load(path, &c);            // or _open on memory
 *     if (strcmp(arnet__container_kind(&c), "extractor")) -> wrong kind error
 *     for (uint32_t i = 0; i < c.n_sec; i++) {
 *         if (c.sec[i].type != ARNET__SEC_TENSOR) continue;
 *         arnet__sec_stream st;
 *         arnet__tensor_desc d;
 *         rc = arnet__stream_open(&c, i, &st);
 *         rc = arnet__tensor_read_desc(&st, &d);       // name, storage, dims, count
 *         ... check d.name / d.dims against what the kind expects ...
 *         rc = arnet__tensor_read_data(&st, &d, dst);  // all d.count floats, or
 *         //   arnet__tensor_read_chunk(&st, &d, buf, k) repeatedly, then
 *         //   arnet__stream_finish(&st)
 *         arnet__stream_close(&st);                    // always, even after errors
 *     }
 *     arnet__container_close(&c);                      // always, even after errors
 *
 *   The container (c.sec[], c.data) is read-only after open: several streams
 *   may be open on it at once, from one thread each.  A stream never gives
 *   more than the table's raw size, and read_data / stream_finish prove the
 *   section ends exactly there (no short, long or trailing compressed data).
 *   Unknown optional sections are skipped by the table check (their codec is
 *   not even looked at): a caller skips types it does not know.  Errors are
 *   ARNET_E_FORMAT with "<name>: section N (<type>): <what>" (arnet__stream_bad),
 *   ARNET_E_IO for unreadable files and paths that are not regular files
 *   (a FIFO is refused, never waited on), ARNET_E_NOMEM.  When a tensor's
 *   size comes from the file rather than from what the kind expects,
 *   decode it once with out = NULL before allocating (checkpoint.c's
 *   trainer tensors do): a descriptor cannot make the reader allocate more
 *   than the data really holds.
 *
 * Adding a kind: pick its name (printable ASCII, 1..31 bytes), reuse the
 * section types below where their raw content fits (a "tensor" section of
 * an extractor file is an extractor tensor: the kind says how to read it),
 * and add a type to ARNET__SEC_* and to known_types in container.c only for a
 * new raw layout.  Readers of one kind refuse files of another by name
 * (arnet_model_load on an extractor file says so).
 */
#ifndef ARNET_CONTAINER_H
#define ARNET_CONTAINER_H

#include <stddef.h>
#include <stdint.h>
#include <zlib.h>

#include "internal.h"

/* A named float tensor handed to the writer ([borrowed]). */
typedef struct arnet__tensor {
    const char *name;
    uint32_t ndim;    /* 1..4 */
    uint64_t dims[4];
    const float *data;
} arnet__tensor;

/* ---- format constants ----------------------------------------------------- */

#define ARNET__CKP_MAGIC "ARNETCKP"
#define ARNET__CKP_MAJOR 1
#define ARNET__CKP_MINOR_MAX 1 /* the newest minor this library writes */
#define ARNET__CKP_HEADER_SIZE 40
#define ARNET__CKP_ENTRY_SIZE 40
#define ARNET__CKP_MAX_SECTIONS 65536u

/* Section types (docs/checkpoint-format.md, "Section types"): numbers are
 * never reused. */
#define ARNET__SEC_CONFIG 1         /* model configuration (checkpoint.c) */
#define ARNET__SEC_TENSOR 2         /* one tensor of the file's kind */
#define ARNET__SEC_META 3           /* key/value metadata of the file's kind */
#define ARNET__SEC_TRAINER_TENSOR 4 /* one trainer tensor (trainer.c's state) */
#define ARNET__SEC_TRAINER_KV 5     /* trainer key/value pairs */
#define ARNET__SEC_KIND 6           /* the file's kind, e.g. "extractor" (format 1.1) */

#define ARNET__SECF_REQUIRED 1u /* a reader that does not know the type must refuse */

#define ARNET__CODEC_NONE 0
#define ARNET__CODEC_ZLIB 1

#define ARNET__NAME_MAX 255      /* tensor names and keys */
#define ARNET__VALUE_MAX 65536u  /* key/value values */
#define ARNET__KIND_MAX 31       /* kind names */
#define ARNET__TENSOR_MAX_NDIM 4

/* ---- little-endian, CRC, binary16 ----------------------------------------- */

uint16_t arnet__get_u16(const uint8_t *p);
uint32_t arnet__get_u32(const uint8_t *p);
uint64_t arnet__get_u64(const uint8_t *p);
void arnet__set_u16(uint8_t *p, uint16_t v);
void arnet__set_u32(uint8_t *p, uint32_t v);
void arnet__set_u64(uint8_t *p, uint64_t v);
uint32_t arnet__float_bits(float f);
float arnet__bits_float(uint32_t x);
/* CRC-32 of any length (zlib's crc32 takes at most 4 GiB per call). */
uint32_t arnet__crc32(const uint8_t *p, size_t n);
/* IEEE binary16, round to nearest even; overflow gives infinity, NaN stays
 * NaN (quiet).  f16 -> f32 is exact. */
uint16_t arnet__f32_to_f16(float f);
float arnet__f16_to_f32(uint16_t h);

/* The type's name for messages ("tensor", "unknown", ...). */
const char *arnet__section_type_name(uint32_t type);
/* The format minor version that introduced a known type, -1 when this
 * library does not know it (the writer stamps the largest one it used). */
int arnet__section_type_minor(uint32_t type);

/* 1 when s is 1..max printable ASCII characters without spaces (0x21..0x7E):
 * the rule of tensor names, keys and kinds. */
int arnet__valid_name(const char *s, size_t max);
/* ARNET_E_INVALID "<who>: ..." unless key/value follow the key/value rules
 * (key a valid name of <= 255, value <= 65536 bytes). */
int arnet__kv_check(const char *who, const char *key, const char *value);
/* Save options as this library knows them (fields an older caller's struct
 * lacks keep their defaults); in may be NULL.  ARNET_E_INVALID naming who. */
int arnet__save_options_read(const char *who, const arnet_save_options *in,
                             arnet_save_options *out);

/* ---- writer ---------------------------------------------------------------- */

/* A growing byte buffer; `failed` latches the first allocation failure. */
typedef struct arnet__bytes {
    uint8_t *p;
    size_t len, cap;
    int failed;
} arnet__bytes;

typedef struct arnet__cw_section {
    uint32_t type;
    uint16_t flags;
    uint64_t offset, stored, raw;
    uint32_t crc;
} arnet__cw_section;

typedef struct arnet__cwriter {
    const char *who; /* path or function name, for messages [borrowed] */
    int level;       /* zlib level 0..9 */
    int status;      /* first error of init, or ARNET_OK */
    uint16_t minor;
    arnet__bytes file; /* header + table + payloads */
    arnet__bytes raw;  /* the section being built */
    arnet__cw_section *sec;
    size_t n_sec, cap_sec;
} arnet__cwriter;

/* Errors of init are returned and kept: later calls return them too. */
int arnet__cw_init(arnet__cwriter *w, const char *who, int level, size_t max_sections);
void arnet__cw_free(arnet__cwriter *w);
void arnet__cw_u8(arnet__cwriter *w, uint8_t v);
void arnet__cw_u16(arnet__cwriter *w, uint16_t v);
void arnet__cw_u32(arnet__cwriter *w, uint32_t v);
void arnet__cw_u64(arnet__cwriter *w, uint64_t v);
void arnet__cw_bytes(arnet__cwriter *w, const void *src, size_t n);
/* key_len u16, key, value_len u32, value (one pair of a key/value section). */
void arnet__cw_kv_pair(arnet__cwriter *w, const char *key, const char *value);
/* Compress the raw bytes appended since the last section and add its entry. */
int arnet__cw_end_section(arnet__cwriter *w, uint32_t type, uint16_t flags);
/* A whole tensor section (t checked by the caller: valid name, ndim 1..4,
 * data for every element).  storage ARNET_STORAGE_F16 refuses a finite value
 * of magnitude >= 65520 (it would round to infinity) with ARNET_E_INVALID. */
int arnet__cw_tensor(arnet__cwriter *w, uint32_t type, uint16_t flags, const arnet__tensor *t,
                     int storage);
/* The kind section (required; makes the file 1.1).  kind: a valid name of
 * at most ARNET__KIND_MAX bytes, not "model". */
int arnet__cw_kind(arnet__cwriter *w, const char *kind);
/* Table and header; *out [transferred] (free).  Frees the writer. */
int arnet__cw_finish(arnet__cwriter *w, uint8_t **out, size_t *size);

/* ---- reader ---------------------------------------------------------------- */

typedef struct arnet__csection {
    uint32_t type;
    uint16_t flags, codec;
    uint64_t offset, stored, raw;
} arnet__csection;

typedef struct arnet__container {
    const char *name; /* path or "checkpoint buffer", for messages [borrowed] */
    const uint8_t *data;
    size_t size;
    uint32_t major, minor;
    uint32_t n_sec;
    arnet__csection *sec; /* n_sec entries */
    char kind[ARNET__KIND_MAX + 1]; /* "model" when the file has no kind section */
    uint8_t *owned;       /* data when _load read it */
} arnet__container;

/* Check header, table, CRCs and the kind section of data (size bytes,
 * [borrowed] for the container's life).  Close c after any result. */
int arnet__container_open(arnet__container *c, const uint8_t *data, size_t size,
                          const char *name);
/* The same on the file at path (read whole through arnet__read_file: a
 * regular file, never more than its real size). */
int arnet__container_load(const char *path, arnet__container *c);
void arnet__container_close(arnet__container *c);
/* "model", "extractor", ... */
const char *arnet__container_kind(const arnet__container *c);

/* ARNET_E_FORMAT "<c->name>: <fmt...>". */
int arnet__container_bad(const arnet__container *c, const char *fmt, ...) ARNET_PRINTF(2, 3);

/* Sequential reads of one section's raw bytes. */
typedef struct arnet__sec_stream {
    const arnet__container *c;
    const arnet__csection *s;
    uint32_t index;
    z_stream z;
    int zopen;
    const uint8_t *in; /* next stored byte not yet given to zlib */
    uint64_t in_left;
    uint64_t pos; /* raw bytes produced so far */
} arnet__sec_stream;

int arnet__stream_open(const arnet__container *c, uint32_t index, arnet__sec_stream *st);
void arnet__stream_close(arnet__sec_stream *st);
/* Exactly n raw bytes into dst, or ARNET_E_FORMAT. */
int arnet__stream_read(arnet__sec_stream *st, void *dst, size_t n);
int arnet__stream_u8(arnet__sec_stream *st, uint32_t *v);
int arnet__stream_u16(arnet__sec_stream *st, uint32_t *v);
int arnet__stream_u32(arnet__sec_stream *st, uint32_t *v);
int arnet__stream_u64(arnet__sec_stream *st, uint64_t *v);
/* The content ends exactly at the raw size, with the compressed stream. */
int arnet__stream_finish(arnet__sec_stream *st);
/* ARNET_E_FORMAT "<file>: section N (<type>): <fmt...>". */
int arnet__stream_bad(const arnet__sec_stream *st, const char *fmt, ...) ARNET_PRINTF(2, 3);

/* A tensor section's descriptor. */
typedef struct arnet__tensor_desc {
    char name[ARNET__NAME_MAX + 1];
    uint32_t storage, ndim; /* ARNET_STORAGE_*, 1..4 */
    uint64_t dims[ARNET__TENSOR_MAX_NDIM]; /* unused entries 0 */
    uint64_t count;                        /* product of dims */
} arnet__tensor_desc;

/* Read the descriptor and check that the data exactly fills the rest of the
 * raw size; the stream is left at the first element. */
int arnet__tensor_read_desc(arnet__sec_stream *st, arnet__tensor_desc *d);
/* The next n elements (f32 or f16) as floats into out (NULL: decode and
 * drop).  The caller keeps count of how many it has taken. */
int arnet__tensor_read_chunk(arnet__sec_stream *st, const arnet__tensor_desc *d, float *out,
                             size_t n);
/* All d->count elements into out (NULL: only decoded and checked: the pass
 * that proves a tensor is that large before it is allocated), then
 * arnet__stream_finish. */
int arnet__tensor_read_data(arnet__sec_stream *st, const arnet__tensor_desc *d, float *out);
/* "[2, 3]" */
void arnet__shape_text(char *out, size_t cap, const uint64_t *dims, uint32_t ndim);

/* Call fn(key, value, ctx) for each pair of key/value section index, keys
 * and values checked as arnet_model_set_meta checks them; fn's nonzero
 * status stops the walk and is returned. */
int arnet__kv_read(const arnet__container *c, uint32_t index,
                   int (*fn)(const char *key, const char *value, void *ctx), void *ctx);

#endif /* ARNET_CONTAINER_H */
