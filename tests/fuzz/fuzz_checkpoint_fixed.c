/* fuzz_checkpoint_fixed.c -- libFuzzer target: the checkpoint reader past
 * its checksums, then trainer restore and a training step.
 *
 * Random bytes almost never pass the CRC-32s, so this harness repairs them
 * before reading (layout: docs/checkpoint-format.md).  The input is one
 * control byte, then a checkpoint whose payloads follow the section table
 * back to back (gen_corpus.c writes the seeds so, with codec 0 payloads:
 * plain bytes the fuzzer can mutate meaningfully).  The harness keeps every
 * field the fuzzer chose (magic, versions, types, flags, codecs) and
 * rebuilds the file around them:
 *   - payload i is the next stored_size bytes (cut at the input's end);
 *   - control bit 0: codec 0 payloads are deflated with zlib and marked
 *     codec 1, so that valid zlib streams carry fuzzed content;
 *   - control bit 1: raw_size is kept as the input says (else it is set to
 *     what the payload really holds);
 *   - control bit 2: bytes after the last payload stay as trailing data;
 *   - then every section CRC, the table CRC, file_size and the header CRC
 *     are recomputed;
 *   - control bit 3 instead keeps the layout as the input says (offsets,
 *     stored and raw sizes, codecs, overlaps, gaps, payloads past the end)
 *     and only recomputes the CRCs: of each payload that lies inside the
 *     file, of the table and of the header, after setting file_size to the
 *     input's size (unless bit 2).  This is what reaches the reader's bounds
 *     checks with valid checksums; its seeds are library files as written.
 * The file is read from memory and from disk (load, info, listing); a model
 * of at most 4096 weights then gets a trainer on a tiny data set, the file
 * is restored into it (a failed restore must leave the trainer unchanged)
 * and, restored, the trainer takes one step. */
#include <zlib.h>

#include "fuzz_common.h"

#define MAX_SECTIONS 64

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

/* Control bit 3: the input's own layout, with its checksums made right. */
static uint8_t *fix_crcs_only(const uint8_t *in, size_t len, int ctl, size_t *out_len)
{
    uint8_t *out = malloc(len);
    if (!out)
        return NULL;
    memcpy(out, in, len);
    if (!(ctl & 4))
        wr(out + 24, len, 8);
    uint64_t n = rd(out + 16, 4);
    if (n > MAX_SECTIONS)
        n = MAX_SECTIONS;
    if (n * 40 > len - 40)
        n = (len - 40) / 40;
    for (uint64_t i = 0; i < n; i++) {
        uint8_t *e = out + 40 + i * 40;
        uint64_t off = rd(e + 8, 8), stored = rd(e + 16, 8);
        if (off <= len && stored <= len - off)
            wr(e + 32, crc32(0, out + off, (uInt)stored), 4);
    }
    wr(out + 20, crc32(0, out + 40, (uInt)(rd(out + 16, 4) * 40 <= len - 40 ? rd(out + 16, 4) * 40 : 0)), 4);
    wr(out + 36, crc32(0, out, 36), 4);
    *out_len = len;
    return out;
}

/* The repaired file (malloc'd) or NULL when the input is too short. */
static uint8_t *rebuild(const uint8_t *in, size_t len, int ctl, size_t *out_len)
{
    if (len < 40)
        return NULL;
    if (ctl & 8)
        return fix_crcs_only(in, len, ctl, out_len);
    uint32_t n = (uint32_t)rd(in + 16, 4);
    if (n > MAX_SECTIONS)
        n = MAX_SECTIONS;
    if ((size_t)n * 40 > len - 40)
        n = (uint32_t)((len - 40) / 40);
    size_t table_end = 40 + (size_t)n * 40;
    /* Worst case: every payload deflated grows by zlib's bound. */
    size_t cap = table_end + compressBound((uLong)(len - table_end)) + (size_t)n * 64 + len;
    uint8_t *out = malloc(cap);
    if (!out)
        return NULL;
    memcpy(out, in, table_end);
    wr(out + 16, n, 4);
    size_t pos = table_end, at = table_end;
    for (uint32_t i = 0; i < n; i++) {
        uint8_t *e = out + 40 + (size_t)i * 40;
        uint64_t stored = rd(e + 16, 8);
        size_t take = at < len ? len - at : 0;
        if (stored < take)
            take = (size_t)stored;
        const uint8_t *src = in + at;
        at += take;
        unsigned codec = (unsigned)rd(e + 6, 2);
        size_t put = take;
        if (codec == 0 && (ctl & 1)) {
            uLongf z = (uLongf)(cap - pos);
            if (compress2(out + pos, &z, src, (uLong)take, 1) != Z_OK) {
                free(out);
                return NULL;
            }
            put = z;
            wr(e + 6, 1, 2);
        } else if (take) {
            memcpy(out + pos, src, take);
        }
        if (!(ctl & 2))
            wr(e + 24, take, 8);
        wr(e + 8, pos, 8);
        wr(e + 16, put, 8);
        wr(e + 32, crc32(0, out + pos, (uInt)put), 4);
        pos += put;
    }
    if ((ctl & 4) && at < len) {
        memcpy(out + pos, in + at, len - at);
        pos += len - at;
    }
    wr(out + 20, crc32(0, out + 40, (uInt)(n * 40)), 4);
    wr(out + 24, pos, 8);
    wr(out + 36, crc32(0, out, 36), 4);
    *out_len = pos;
    return out;
}

static int list_entry(void *user, const arnet_file_entry *e)
{
    size_t *n = user;
    if (e->name)
        *n += strlen(e->name);
    if (e->value)
        *n += strlen(e->value);
    (*n)++;
    return 0;
}

/* One data set per feature size, kept between inputs (building it is most
 * of the cost of a small input). */
static arnet_dataset *dataset_for(uint32_t F)
{
    static arnet_dataset *ds;
    static uint32_t ds_f;
    if (ds && ds_f == F)
        return ds;
    arnet_dataset_free(ds);
    ds = fuzz_dataset(F);
    ds_f = F;
    FUZZ_CHECK(ds != NULL, "the data set of F = %u", (unsigned)F);
    return ds;
}

static void train(const char *path, uint32_t F, uint32_t H)
{
    arnet_model_config cfg;
    arnet_model_config_init(&cfg);
    cfg.feature_dim = F;
    cfg.hidden_dim = H;
    arnet_model *m = NULL;
    FUZZ_CHECK(arnet_model_create(&cfg, &m) == ARNET_OK, "model %ux%u", (unsigned)F, (unsigned)H);
    arnet_train_options o;
    fuzz_train_options(&o);
    arnet_trainer *t = NULL;
    FUZZ_CHECK(arnet_trainer_create(m, dataset_for(F), &o, &t) == ARNET_OK, "trainer");

    size_t nw = (size_t)F * H, np = nw + 2 * (size_t)H + 1;
    float *before = malloc(2 * np * sizeof *before), *after = before + np;
    FUZZ_CHECK(before != NULL, "out of memory");
    FUZZ_CHECK(arnet_model_get_params(m, before, before + nw, before + nw + H,
                                      before + nw + 2 * H) == ARNET_OK, "params");

    int rc = arnet_trainer_restore(t, path);
    FUZZ_CHECK_MESSAGE(rc);
    FUZZ_DEBUG("restore: %d", rc);
    if (rc != ARNET_OK) {
        FUZZ_CHECK(arnet_trainer_steps(t) == 0, "a failed restore changed the step count");
        FUZZ_CHECK(arnet_model_get_params(m, after, after + nw, after + nw + H,
                                          after + nw + 2 * H) == ARNET_OK, "params");
        FUZZ_CHECK(memcmp(before, after, np * sizeof *before) == 0,
                   "a failed restore changed the weights");
    } else {
        uint64_t s0 = arnet_trainer_steps(t);
        arnet_step_stats st;
        arnet_step_stats_init(&st);
        rc = arnet_trainer_step(t, &st);
        FUZZ_CHECK_MESSAGE(rc);
        FUZZ_DEBUG("step: %d, loss %g", rc, st.loss);
        if (rc == ARNET_OK)
            FUZZ_CHECK(arnet_trainer_steps(t) == s0 + 1, "step count");
        else
            FUZZ_CHECK(arnet_trainer_steps(t) == s0, "a failed step changed the step count");
    }
    arnet_trainer_free(t);
    arnet_model_free(m);
    free(before);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static char path[300];
    if (!path[0])
        fuzz_path(path, sizeof path, "fixed.arnet");
    if (size < 1)
        return 0;
    size_t len = 0;
    uint8_t *file = rebuild(data + 1, size - 1, data[0], &len);
    if (!file)
        return 0;

    arnet_model *m = NULL;
    arnet_clear_error();
    int rc = arnet_model_load_buffer(file, len, &m);
    FUZZ_CHECK_MESSAGE(rc);
    FUZZ_DEBUG("load: %d", rc);
    /* Step 5 of docs/checkpoint-format.md: file_size is the real size. */
    FUZZ_CHECK(rc != ARNET_OK || rd(file + 24, 8) == len, "loaded, but the header says %llu bytes of %zu",
               (unsigned long long)rd(file + 24, 8), len);
    uint32_t F = m ? arnet_model_feature_dim(m) : 0, H = m ? arnet_model_hidden_dim(m) : 0;
    arnet_model_free(m);

    fuzz_write(path, file, len);
    free(file);
    arnet_file_info info;
    arnet_file_info_init(&info);
    int rc_info = arnet_file_info_read(path, &info);
    FUZZ_CHECK_MESSAGE(rc_info);
    FUZZ_CHECK(rc != ARNET_OK || rc_info == ARNET_OK, "loads but info fails: %d", rc_info);
    if (rc == ARNET_OK)
        FUZZ_CHECK(info.feature_dim == F && info.hidden_dim == H, "info disagrees on the shape");
    size_t touched = 0;
    int rc_list = arnet_file_list(path, list_entry, &touched);
    FUZZ_CHECK_MESSAGE(rc_list);
    /* No promise between loading and listing: the listing reads the trainer
     * sections' descriptors, which arnet_model_load skips. */

    if (rc == ARNET_OK && (uint64_t)F * H <= 4096)
        train(path, F, H);
    return 0;
}
