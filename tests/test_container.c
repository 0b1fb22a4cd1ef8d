/* test_container.c -- the checkpoint container for kinds of file other than
 * models (container.h): the writer's sections, the kind section (format
 * 1.1), iteration, chunked tensor reads, key/value sections, refusals by the
 * model readers, listing, and hostile kind sections. */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "container.h"

#define N_W 24

static float w_data[N_W];
static const float b_data[3] = {0.5f, -1.25f, 3.0e-5f};

/* kind "extractor", two tensors (f32, f16), a metadata section, an unknown
 * optional section; *size bytes [transferred]. */
static uint8_t *extractor_file(size_t *size)
{
    for (int i = 0; i < N_W; i++)
        w_data[i] = (float)i * 0.37f - 4.0f;
    arnet__cwriter w;
    ck_assert_int_eq(arnet__cw_init(&w, "test", 6, 5), ARNET_OK);
    ck_assert_int_eq(arnet__cw_kind(&w, "extractor"), ARNET_OK);
    const arnet__tensor tw = {"conv.w", 4, {3, 2, 2, 2}, w_data};
    const arnet__tensor tb = {"conv.b", 1, {3, 0, 0, 0}, b_data};
    ck_assert_int_eq(arnet__cw_tensor(&w, ARNET__SEC_TENSOR, ARNET__SECF_REQUIRED, &tw,
                                      ARNET_STORAGE_F32),
                     ARNET_OK);
    ck_assert_int_eq(arnet__cw_tensor(&w, ARNET__SEC_TENSOR, ARNET__SECF_REQUIRED, &tb,
                                      ARNET_STORAGE_F16),
                     ARNET_OK);
    arnet__cw_u32(&w, 2);
    arnet__cw_kv_pair(&w, "source", "rgb_imagenet.pt");
    arnet__cw_kv_pair(&w, "empty", "");
    ck_assert_int_eq(arnet__cw_end_section(&w, ARNET__SEC_META, 0), ARNET_OK);
    arnet__cw_bytes(&w, "later", 5);
    ck_assert_int_eq(arnet__cw_end_section(&w, 99, 0), ARNET_OK);
    uint8_t *out = NULL;
    ck_assert_int_eq(arnet__cw_finish(&w, &out, size), ARNET_OK);
    return out;
}

typedef struct pairs {
    int n;
    char keys[4][32], values[4][32];
} pairs;

static int collect_pair(const char *key, const char *value, void *ctx)
{
    pairs *p = ctx;
    ck_assert_int_lt(p->n, 4);
    snprintf(p->keys[p->n], 32, "%s", key);
    snprintf(p->values[p->n], 32, "%s", value);
    p->n++;
    return 0;
}

START_TEST(test_kind_file_round_trip)
{
    size_t size;
    uint8_t *data = extractor_file(&size);
    /* Format 1.1 (the kind section), the kind section required. */
    ck_assert_uint_eq(arnet__get_u16(data + 10), 1);
    ck_assert_uint_eq(arnet__get_u32(data + 40), ARNET__SEC_KIND);
    ck_assert_uint_eq(arnet__get_u16(data + 44) & ARNET__SECF_REQUIRED, 1);

    arnet__container c;
    ck_assert_int_eq(arnet__container_open(&c, data, size, "mem"), ARNET_OK);
    ck_assert_str_eq(arnet__container_kind(&c), "extractor");
    ck_assert_uint_eq(c.minor, 1);
    ck_assert_uint_eq(c.n_sec, 5);
    int tensors = 0;
    pairs p = {0};
    for (uint32_t i = 0; i < c.n_sec; i++) {
        if (c.sec[i].type == ARNET__SEC_META) {
            ck_assert_int_eq(arnet__kv_read(&c, i, collect_pair, &p), ARNET_OK);
            continue;
        }
        if (c.sec[i].type != ARNET__SEC_TENSOR)
            continue;
        arnet__sec_stream st;
        arnet__tensor_desc d;
        ck_assert_int_eq(arnet__stream_open(&c, i, &st), ARNET_OK);
        ck_assert_int_eq(arnet__tensor_read_desc(&st, &d), ARNET_OK);
        if (tensors == 0) {
            ck_assert_str_eq(d.name, "conv.w");
            ck_assert_uint_eq(d.ndim, 4);
            ck_assert_uint_eq(d.count, N_W);
            ck_assert_uint_eq(d.storage, ARNET_STORAGE_F32);
            /* In chunks of 5, 5, 5, 5, 4. */
            float got[N_W];
            for (size_t at = 0; at < N_W; at += 5)
                ck_assert_int_eq(arnet__tensor_read_chunk(&st, &d, got + at,
                                                          N_W - at < 5 ? N_W - at : 5),
                                 ARNET_OK);
            ck_assert_int_eq(arnet__stream_finish(&st), ARNET_OK);
            ck_assert_mem_eq(got, w_data, sizeof got);
        } else {
            ck_assert_str_eq(d.name, "conv.b");
            ck_assert_uint_eq(d.storage, ARNET_STORAGE_F16);
            float got[3];
            ck_assert_int_eq(arnet__tensor_read_data(&st, &d, got), ARNET_OK);
            for (int k = 0; k < 3; k++)
                ck_assert(got[k] == arnet__f16_to_f32(arnet__f32_to_f16(b_data[k])));
        }
        arnet__stream_close(&st);
        tensors++;
    }
    ck_assert_int_eq(tensors, 2);
    ck_assert_int_eq(p.n, 2);
    ck_assert_str_eq(p.keys[0], "source");
    ck_assert_str_eq(p.values[0], "rgb_imagenet.pt");
    ck_assert_str_eq(p.values[1], "");
    arnet__container_close(&c);
    free(data);
}
END_TEST

START_TEST(test_chunk_past_the_end)
{
    size_t size;
    uint8_t *data = extractor_file(&size);
    arnet__container c;
    ck_assert_int_eq(arnet__container_open(&c, data, size, "mem"), ARNET_OK);
    arnet__sec_stream st;
    arnet__tensor_desc d;
    ck_assert_int_eq(arnet__stream_open(&c, 1, &st), ARNET_OK);
    ck_assert_int_eq(arnet__tensor_read_desc(&st, &d), ARNET_OK);
    float got[N_W + 1];
    ck_assert_int_eq(arnet__tensor_read_chunk(&st, &d, got, N_W + 1), ARNET_E_FORMAT);
    ck_assert_ptr_nonnull(strstr(arnet_last_error(), "section 1 (tensor)"));
    arnet__stream_close(&st);
    /* Stopping early is caught by finish. */
    ck_assert_int_eq(arnet__stream_open(&c, 1, &st), ARNET_OK);
    ck_assert_int_eq(arnet__tensor_read_desc(&st, &d), ARNET_OK);
    ck_assert_int_eq(arnet__tensor_read_chunk(&st, &d, got, 3), ARNET_OK);
    ck_assert_int_eq(arnet__stream_finish(&st), ARNET_E_FORMAT);
    arnet__stream_close(&st);
    arnet__container_close(&c);
    free(data);
}
END_TEST

static int count_entry(void *user, const arnet_file_entry *e)
{
    int *seen = user;
    if (e->section_type == ARNET__SEC_KIND) {
        ck_assert_int_eq(e->kind, ARNET_ENTRY_META);
        ck_assert_str_eq(e->name, "kind");
        ck_assert_str_eq(e->value, "extractor");
        seen[0]++;
    } else if (e->kind == ARNET_ENTRY_TENSOR) {
        seen[1]++;
    } else if (e->kind == ARNET_ENTRY_META) {
        seen[2]++;
    } else {
        ck_assert_uint_eq(e->section_type, 99);
        seen[3]++;
    }
    return 0;
}

START_TEST(test_model_readers_refuse_other_kinds)
{
    char dir[] = "/tmp/arnet-container-XXXXXX", path[64];
    ck_assert_ptr_nonnull(mkdtemp(dir));
    snprintf(path, sizeof path, "%s/x.arnet", dir);
    size_t size;
    uint8_t *data = extractor_file(&size);
    ck_assert_int_eq(arnet__atomic_write(path, data, size), ARNET_OK);

    arnet_model *m = NULL;
    ck_assert_int_eq(arnet_model_load(path, &m), ARNET_E_FORMAT);
    ck_assert_ptr_nonnull(strstr(arnet_last_error(), "kind \"extractor\", not an AR-Net model"));
    ck_assert_ptr_nonnull(strstr(arnet_last_error(), path));
    ck_assert_int_eq(arnet_model_load_buffer(data, size, &m), ARNET_E_FORMAT);
    arnet_file_info info;
    arnet_file_info_init(&info);
    ck_assert_int_eq(arnet_file_info_read(path, &info), ARNET_E_FORMAT);
    ck_assert_ptr_nonnull(strstr(arnet_last_error(), "extractor"));
    /* Listing shows any kind. */
    int seen[4] = {0};
    ck_assert_int_eq(arnet_file_list(path, count_entry, seen), ARNET_OK);
    ck_assert_int_eq(seen[0], 1);
    ck_assert_int_eq(seen[1], 2);
    ck_assert_int_eq(seen[2], 2);
    ck_assert_int_eq(seen[3], 1);
    free(data);
    unlink(path);
    rmdir(dir);
}
END_TEST

START_TEST(test_model_files_stay_1_0)
{
    arnet_model_config cfg;
    arnet_model_config_init(&cfg);
    cfg.feature_dim = 3;
    arnet_model *m = NULL;
    ck_assert_int_eq(arnet_model_create(&cfg, &m), ARNET_OK);
    void *buf = NULL;
    size_t size;
    ck_assert_int_eq(arnet_model_save_buffer(m, NULL, &buf, &size), ARNET_OK);
    ck_assert_uint_eq(arnet__get_u16((uint8_t *)buf + 10), 0);
    arnet__container c;
    ck_assert_int_eq(arnet__container_open(&c, buf, size, "mem"), ARNET_OK);
    ck_assert_str_eq(arnet__container_kind(&c), "model");
    for (uint32_t i = 0; i < c.n_sec; i++)
        ck_assert_uint_ne(c.sec[i].type, ARNET__SEC_KIND);
    arnet__container_close(&c);
    arnet_free(buf);
    arnet_model_free(m);
}
END_TEST

/* A file whose kind section holds raw bytes `kind` (len bytes), twice when
 * `twice`, plus one tensor. */
static uint8_t *file_with_kind(const char *kind, size_t len, int twice, size_t *size)
{
    arnet__cwriter w;
    ck_assert_int_eq(arnet__cw_init(&w, "test", 6, twice ? 3 : 2), ARNET_OK);
    for (int k = 0; k <= twice; k++) {
        arnet__cw_bytes(&w, kind, len);
        ck_assert_int_eq(arnet__cw_end_section(&w, ARNET__SEC_KIND, ARNET__SECF_REQUIRED),
                         ARNET_OK);
    }
    const arnet__tensor t = {"x", 1, {1, 0, 0, 0}, b_data};
    ck_assert_int_eq(arnet__cw_tensor(&w, ARNET__SEC_TENSOR, 0, &t, ARNET_STORAGE_F32),
                     ARNET_OK);
    uint8_t *out = NULL;
    ck_assert_int_eq(arnet__cw_finish(&w, &out, size), ARNET_OK);
    return out;
}

static const struct {
    const char *kind;
    size_t len;
    int twice;
    const char *msg;
} bad_kinds[] = {
    {"extractor", 9, 1, "two kind sections"},
    {"", 0, 0, "kind section of 0 bytes"},
    {"model", 5, 0, "does not hold a kind name"},
    {"ex tractor", 10, 0, "does not hold a kind name"},
    {"ex\0tractor", 10, 0, "does not hold a kind name"},
    {"abcdefghijklmnopqrstuvwxyz012345", 32, 0, "kind section of 32 bytes"},
};

START_TEST(test_hostile_kind_sections)
{
    size_t size;
    uint8_t *data = file_with_kind(bad_kinds[_i].kind, bad_kinds[_i].len, bad_kinds[_i].twice,
                                   &size);
    arnet__container c;
    ck_assert_int_eq(arnet__container_open(&c, data, size, "hostile"), ARNET_E_FORMAT);
    ck_assert_msg(strstr(arnet_last_error(), bad_kinds[_i].msg) != NULL, "%s",
                  arnet_last_error());
    ck_assert_ptr_nonnull(strstr(arnet_last_error(), "hostile"));
    arnet__container_close(&c);
    free(data);
}
END_TEST

START_TEST(test_writer_refusals)
{
    arnet__cwriter w;
    ck_assert_int_eq(arnet__cw_init(&w, "who", 6, 2), ARNET_OK);
    ck_assert_int_eq(arnet__cw_kind(&w, "model"), ARNET_E_INVALID);
    ck_assert_int_eq(arnet__cw_kind(&w, "a kind"), ARNET_E_INVALID);
    const float big[1] = {70000.0f};
    const arnet__tensor t = {"big", 1, {1, 0, 0, 0}, big};
    ck_assert_int_eq(arnet__cw_tensor(&w, ARNET__SEC_TENSOR, 0, &t, ARNET_STORAGE_F16),
                     ARNET_E_INVALID);
    ck_assert_ptr_nonnull(strstr(arnet_last_error(), "does not fit in f16"));
    /* One of two announced sections: the table would not match. */
    ck_assert_int_eq(arnet__cw_tensor(&w, ARNET__SEC_TENSOR, 0, &t, ARNET_STORAGE_F32),
                     ARNET_OK);
    uint8_t *out = NULL;
    size_t size;
    ck_assert_int_eq(arnet__cw_finish(&w, &out, &size), ARNET_E_INVALID);
    ck_assert_ptr_null(out);
    ck_assert_int_eq(arnet__cw_init(&w, "who", 6, 0), ARNET_E_INVALID);
    ck_assert_int_eq(arnet__cw_end_section(&w, ARNET__SEC_META, 0), ARNET_E_INVALID);
    arnet__cw_free(&w);
}
END_TEST

Suite *make_suite(void)
{
    Suite *s = suite_create("container");
    TCase *tc = tcase_create("container");
    tcase_add_test(tc, test_kind_file_round_trip);
    tcase_add_test(tc, test_chunk_past_the_end);
    tcase_add_test(tc, test_model_readers_refuse_other_kinds);
    tcase_add_test(tc, test_model_files_stay_1_0);
    tcase_add_loop_test(tc, test_hostile_kind_sections, 0,
                        (int)(sizeof bad_kinds / sizeof bad_kinds[0]));
    tcase_add_test(tc, test_writer_refusals);
    suite_add_tcase(s, tc);
    return s;
}
