/* container.c -- what the writer and reader of the checkpoint container
 * (docs/checkpoint-format.md) share: little-endian fields, CRC-32, binary16,
 * the naming rules, save options and the table of known section types.
 * container_write.c builds files, container_read.c checks and reads them. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "container.h"

/* ---- little-endian helpers --------------------------------------------- */

uint16_t arnet__get_u16(const uint8_t *p) { return (uint16_t)(p[0] | (p[1] << 8)); }

uint32_t arnet__get_u32(const uint8_t *p)
{
    return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) |
           ((uint32_t)p[3] << 24);
}

uint64_t arnet__get_u64(const uint8_t *p)
{
    return (uint64_t)arnet__get_u32(p) | ((uint64_t)arnet__get_u32(p + 4) << 32);
}

void arnet__set_u16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
}

void arnet__set_u32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

void arnet__set_u64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

uint32_t arnet__float_bits(float f)
{
    uint32_t x;
    memcpy(&x, &f, sizeof x);
    return x;
}

float arnet__bits_float(uint32_t x)
{
    float f;
    memcpy(&f, &x, sizeof f);
    return f;
}

uint32_t arnet__crc32(const uint8_t *p, size_t n)
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
uint16_t arnet__f32_to_f16(float f)
{
    uint32_t x = arnet__float_bits(f);
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

float arnet__f16_to_f32(uint16_t h)
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
    return arnet__bits_float(x);
}

/* ---- names, key/value rules, save options -------------------------------- */

int arnet__valid_name(const char *s, size_t max)
{
    size_t len = strlen(s);
    if (len < 1 || len > max)
        return 0;
    for (size_t i = 0; i < len; i++)
        if (s[i] <= ' ' || s[i] > '~')
            return 0;
    return 1;
}

int arnet__kv_check(const char *who, const char *key, const char *value)
{
    if (!key || !value)
        return arnet__error(ARNET_E_INVALID, "%s: NULL metadata key or value", who);
    if (!arnet__valid_name(key, ARNET__NAME_MAX))
        return arnet__error(ARNET_E_INVALID,
                            "%s: metadata key \"%.40s\" must be 1..%d printable ASCII "
                            "characters without spaces",
                            who, key, ARNET__NAME_MAX);
    if (strlen(value) > ARNET__VALUE_MAX)
        return arnet__error(ARNET_E_INVALID, "%s: metadata value of \"%s\" longer than %u bytes",
                            who, key, ARNET__VALUE_MAX);
    return ARNET_OK;
}

void arnet_save_options_init(arnet_save_options *opt)
{
    if (!opt)
        return;
    memset(opt, 0, sizeof *opt);
    opt->struct_size = sizeof *opt;
    opt->storage = ARNET_STORAGE_F32;
    opt->compression_level = 6;
}

int arnet__save_options_read(const char *who, const arnet_save_options *in,
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

/* ---- section types --------------------------------------------------------- */

static const struct {
    uint32_t type;
    uint16_t minor; /* the format version that introduced it */
    const char *name;
} known_types[] = {
    {ARNET__SEC_CONFIG, 0, "config"},
    {ARNET__SEC_TENSOR, 0, "tensor"},
    {ARNET__SEC_META, 0, "metadata"},
    {ARNET__SEC_TRAINER_TENSOR, 0, "trainer tensor"},
    {ARNET__SEC_TRAINER_KV, 0, "trainer key/value"},
    {ARNET__SEC_KIND, 1, "kind"},
};

static int type_index(uint32_t type)
{
    for (size_t i = 0; i < sizeof known_types / sizeof known_types[0]; i++)
        if (known_types[i].type == type)
            return (int)i;
    return -1;
}

const char *arnet__section_type_name(uint32_t type)
{
    int k = type_index(type);
    return k < 0 ? "unknown" : known_types[k].name;
}

int arnet__section_type_minor(uint32_t type)
{
    int k = type_index(type);
    return k < 0 ? -1 : known_types[k].minor;
}
