/* fuzz_checkpoint.c -- libFuzzer target: the checkpoint reader on raw bytes.
 *
 * The input is a whole file.  arnet_model_load_buffer reads it from memory;
 * written to a file, arnet_model_load, arnet_file_info_read and
 * arnet_file_list read it from disk.  Checked beyond "no crash": every
 * failure has a message, the memory and file readers agree, a model that
 * loads scores finite features, and saving it and loading the result gives
 * the same configuration and the same scores bit for bit.  Most inputs die
 * at the CRC gate; fuzz_checkpoint_fixed.c reaches past it. */
#include "fuzz_common.h"

static int list_entry(void *user, const arnet_file_entry *e)
{
    size_t *n = user;
    /* Touch what the entry lends: a bad pointer shows under ASan. */
    if (e->name)
        *n += strlen(e->name);
    if (e->value)
        *n += strlen(e->value);
    FUZZ_CHECK(e->ndim <= 4, "ndim %u", (unsigned)e->ndim);
    (*n)++;
    return 0;
}

static void score_and_round_trip(arnet_model *m)
{
    uint32_t F = arnet_model_feature_dim(m), H = arnet_model_hidden_dim(m);
    FUZZ_CHECK(F >= 1 && H >= 1, "F %u H %u", (unsigned)F, (unsigned)H);
    for (size_t i = 0; i < arnet_model_meta_count(m); i++) {
        const char *k = NULL, *v = NULL;
        FUZZ_CHECK(arnet_model_meta_at(m, i, &k, &v) == ARNET_OK, "meta %zu", i);
        FUZZ_CHECK(arnet_model_get_meta(m, k) != NULL, "meta key %s not found", k);
        (void)strlen(v);
    }
    /* Scoring costs F * H per clip: keep it to small models. */
    if ((uint64_t)F * H > (1u << 20))
        return;
    float *x = malloc(2 * (size_t)F * sizeof *x);
    float s[2], s2[2];
    FUZZ_CHECK(x != NULL, "out of memory");
    for (size_t i = 0; i < 2 * (size_t)F; i++)
        x[i] = (float)(i % 7) * 0.25f;
    int rc = arnet_model_score(m, x, 2, s);
    FUZZ_CHECK(rc == ARNET_OK, "score");

    void *buf = NULL;
    size_t n = 0;
    rc = arnet_model_save_buffer(m, NULL, &buf, &n);
    /* f16-incompatible weights are impossible in f32: saving must work. */
    FUZZ_CHECK(rc == ARNET_OK, "a loaded model must save");
    arnet_model *m2 = NULL;
    rc = arnet_model_load_buffer(buf, n, &m2);
    FUZZ_CHECK(rc == ARNET_OK, "a saved model must load");
    FUZZ_CHECK(arnet_model_feature_dim(m2) == F && arnet_model_hidden_dim(m2) == H, "shape");
    rc = arnet_model_score(m2, x, 2, s2);
    FUZZ_CHECK(rc == ARNET_OK, "score after round trip");
    /* f32 files are exact, NaN payloads included: the same bits. */
    FUZZ_CHECK(memcmp(s, s2, sizeof s) == 0, "scores differ after a round trip");
    arnet_model_free(m2);
    arnet_free(buf);
    free(x);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static char path[300];
    if (!path[0])
        fuzz_path(path, sizeof path, "input.arnet");

    arnet_model *m = NULL;
    arnet_clear_error();
    int rc_buf = arnet_model_load_buffer(data, size, &m);
    FUZZ_CHECK_MESSAGE(rc_buf);
    FUZZ_CHECK((rc_buf == ARNET_OK) == (m != NULL), "status %d with model %p", rc_buf, (void *)m);
    if (m) {
        /* Step 5 of docs/checkpoint-format.md: the header's file_size is the
         * file's size, no byte less (truncated) or more (trailing data). */
        uint64_t stated = 0;
        for (int i = 7; i >= 0; i--)
            stated = stated << 8 | data[24 + i];
        FUZZ_CHECK(size >= 40 && stated == size, "loaded, but the header says %llu bytes of %zu",
                   (unsigned long long)stated, size);
        /* And a byte less or a byte more is refused (a file cut short or
         * with trailing data), whatever the rest of the file says. */
        arnet_model *cut = NULL;
        FUZZ_CHECK(arnet_model_load_buffer(data, size - 1, &cut) == ARNET_E_FORMAT,
                   "loads without its last byte");
        uint8_t *more = malloc(size + 1);
        FUZZ_CHECK(more != NULL, "out of memory");
        memcpy(more, data, size);
        more[size] = 0;
        FUZZ_CHECK(arnet_model_load_buffer(more, size + 1, &cut) == ARNET_E_FORMAT,
                   "loads with a byte of trailing data");
        free(more);
        score_and_round_trip(m);
        arnet_model_free(m);
    }

    fuzz_write(path, data, size);
    arnet_model *mf = NULL;
    int rc_file = arnet_model_load(path, &mf);
    FUZZ_CHECK_MESSAGE(rc_file);
    FUZZ_CHECK(rc_file == rc_buf, "file says %d, buffer said %d", rc_file, rc_buf);
    arnet_model_free(mf);

    arnet_file_info info;
    arnet_file_info_init(&info);
    int rc = arnet_file_info_read(path, &info);
    FUZZ_CHECK_MESSAGE(rc);
    /* info makes checks 1-8 only: whatever loads also passes it. */
    FUZZ_CHECK(rc_buf != ARNET_OK || rc == ARNET_OK, "loads but info fails: %d", rc);

    size_t touched = 0;
    rc = arnet_file_list(path, list_entry, &touched);
    FUZZ_CHECK_MESSAGE(rc);
    /* No promise between loading and listing: the listing reads the trainer
     * sections' descriptors, which arnet_model_load skips. */
    return 0;
}
