/* test_structs.c -- struct_size: the one helper that reads and writes the
 * caller's prefix of a public struct, and every reader of a public struct at
 * the smallest size it must accept (the end of its first release's last
 * field) and just below it. */
#include <check.h>
#include <stdalign.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "internal.h"

#define POISON 0xA5
#define BUF 1024

/* A caller's struct in a buffer: its first `size` bytes copied from full,
 * struct_size = size, every byte after it poisoned (a reader that looks
 * past the prefix sees 0xA5A5..., a writer that writes past it is seen). */
typedef struct {
    alignas(max_align_t) unsigned char b[BUF];
} buf_t;

static void *shrink(buf_t *buf, const void *full, size_t size)
{
    ck_assert_uint_le(size, BUF);
    memset(buf->b, POISON, sizeof buf->b);
    memcpy(buf->b, full, size);
    memcpy(buf->b, &size, sizeof size);
    return buf->b;
}

static void assert_poison_from(const buf_t *buf, size_t from)
{
    for (size_t i = from; i < BUF; i++)
        ck_assert_msg(buf->b[i] == POISON, "byte %zu past struct_size written", i);
}

static void assert_too_small(int rc, const char *type)
{
    ck_assert_int_eq(rc, ARNET_E_INVALID);
    char want[96];
    snprintf(want, sizeof want, "%s.struct_size", type);
    ck_assert_msg(strstr(arnet_last_error(), want) != NULL, "message '%s' does not name %s",
                  arnet_last_error(), want);
    ck_assert_ptr_nonnull(strstr(arnet_last_error(), "first release"));
}

/* ---- the helper, with a struct that grew by a field ---------------------- */

typedef struct {
    size_t struct_size;
    int a;
    float b;
} v1_t; /* what an old caller was compiled with */

typedef struct {
    size_t struct_size;
    int a;
    float b;
    double c; /* added in a later release */
    int d;
} v2_t; /* what the library knows now */

static void v2_defaults(v2_t *s)
{
    memset(s, 0, sizeof *s);
    s->struct_size = sizeof *s;
    s->a = 1;
    s->b = 2.5f;
    s->c = 3.25;
    s->d = 4;
}

START_TEST(old_caller_gets_defaults_for_the_new_tail)
{
    v1_t old = {sizeof old, 7, -1.5f};
    v2_t got;
    v2_defaults(&got);
    ck_assert_int_eq(arnet__struct_in("f", "v", &got, sizeof got, &old,
                                      ARNET__SIZE_TO(v1_t, b)),
                     ARNET_OK);
    ck_assert_uint_eq(got.struct_size, sizeof got);
    ck_assert_int_eq(got.a, 7);
    ck_assert_float_eq(got.b, -1.5f);
    ck_assert_double_eq(got.c, 3.25); /* the default, not the old caller's stack */
    ck_assert_int_eq(got.d, 4);

    /* A new caller with every field. */
    v2_t mine;
    v2_defaults(&mine);
    mine.c = -8.0;
    mine.d = 9;
    v2_defaults(&got);
    ck_assert_int_eq(arnet__struct_in("f", "v", &got, sizeof got, &mine,
                                      ARNET__SIZE_TO(v1_t, b)),
                     ARNET_OK);
    ck_assert_double_eq(got.c, -8.0);
    ck_assert_int_eq(got.d, 9);

    /* A newer caller than the library: its tail is not read (nor copied). */
    struct {
        v2_t v;
        double e;
    } newer = {{0}, 1.0};
    v2_defaults(&newer.v);
    newer.v.struct_size = sizeof newer;
    newer.v.a = 11;
    v2_defaults(&got);
    unsigned char guard[sizeof(v2_t) + 16];
    memset(guard, POISON, sizeof guard);
    memcpy(guard, &got, sizeof got);
    ck_assert_int_eq(arnet__struct_in("f", "v", guard, sizeof got, &newer,
                                      ARNET__SIZE_TO(v1_t, b)),
                     ARNET_OK);
    for (size_t i = sizeof got; i < sizeof guard; i++)
        ck_assert_int_eq(guard[i], POISON);
    memcpy(&got, guard, sizeof got);
    ck_assert_int_eq(got.a, 11);
    ck_assert_uint_eq(got.struct_size, sizeof got);
}
END_TEST

START_TEST(old_caller_below_its_first_release_is_refused)
{
    v1_t old = {offsetof(v1_t, b), 7, -1.5f}; /* lacks a first-release field */
    v2_t got;
    v2_defaults(&got);
    assert_too_small(arnet__struct_in("reader_fn", "v1_t", &got, sizeof got, &old,
                                      ARNET__SIZE_TO(v1_t, b)),
                     "v1_t");
    ck_assert_ptr_nonnull(strstr(arnet_last_error(), "reader_fn: "));
    ck_assert_ptr_nonnull(strstr(arnet_last_error(), "v1_t_init"));
    ck_assert_int_eq(got.a, 1); /* untouched */
}
END_TEST

START_TEST(output_writes_only_the_callers_prefix)
{
    v2_t full;
    v2_defaults(&full);
    full.a = 21;
    full.b = 22.0f;
    buf_t buf;
    v1_t *old = shrink(&buf, &full, sizeof(v1_t));
    old->a = 0;
    arnet__struct_out(old, &full, sizeof full);
    ck_assert_uint_eq(old->struct_size, sizeof(v1_t)); /* the caller's size kept */
    ck_assert_int_eq(old->a, 21);
    ck_assert_float_eq(old->b, 22.0f);
    assert_poison_from(&buf, sizeof(v1_t));

    /* A newer caller's larger struct: the library's part written, the rest kept. */
    v2_t *newer = shrink(&buf, &full, sizeof full);
    memcpy(newer, &(size_t){sizeof full + 8}, sizeof(size_t));
    newer->d = 0;
    arnet__struct_out(newer, &full, sizeof full);
    ck_assert_uint_eq(newer->struct_size, sizeof full + 8);
    ck_assert_int_eq(newer->d, 4);
    assert_poison_from(&buf, sizeof full);
}
END_TEST

/* ---- every reader of a public struct, at its minimum size ---------------- */

static arnet_model *small_model(uint32_t F)
{
    arnet_model_config cfg;
    arnet_model_config_init(&cfg);
    cfg.feature_dim = F;
    cfg.hidden_dim = 3;
    arnet_model *m;
    ck_assert_int_eq(arnet_model_create(&cfg, &m), ARNET_OK);
    return m;
}

static arnet_dataset *small_set(uint32_t F)
{
    arnet_dataset *ds;
    ck_assert_int_eq(arnet_dataset_create(F, &ds), ARNET_OK);
    /* Video v's 4 x F features start at x + v (F = 8 at most): 3 spare
     * values, so that the last video does not read past the array (found
     * by the AddressSanitizer run of ./dev.sh test). */
    ck_assert_uint_le(F, 8);
    float x[4 * 8 + 3];
    for (size_t i = 0; i < 4 * 8 + 3; i++)
        x[i] = (float)(i % 5) * 0.25f;
    uint8_t gt[4 * 16];
    for (int v = 0; v < 4; v++) {
        memset(gt, 0, sizeof gt);
        if (v & 1)
            memset(gt + 16, 1, 16);
        ck_assert_int_eq(arnet_dataset_add(ds, NULL, x + v, 4, F, v & 1, gt, sizeof gt),
                         ARNET_OK);
    }
    return ds;
}

START_TEST(model_config_at_its_minimum)
{
    size_t min = ARNET__MIN_arnet_model_config;
    arnet_model_config cfg;
    arnet_model_config_init(&cfg);
    cfg.feature_dim = 5;
    cfg.hidden_dim = 2;
    cfg.seed = 77;
    buf_t buf;
    arnet_model *m;
    ck_assert_int_eq(arnet_model_create(shrink(&buf, &cfg, min), &m), ARNET_OK);
    ck_assert_uint_eq(arnet_model_hidden_dim(m), 2);
    assert_too_small(arnet_model_create(shrink(&buf, &cfg, min - 1), &m), "arnet_model_config");

    arnet_model_config *out = shrink(&buf, &cfg, min);
    out->feature_dim = 0;
    ck_assert_int_eq(arnet_model_get_config(m, out), ARNET_OK);
    ck_assert_uint_eq(out->feature_dim, 5);
    ck_assert_uint_eq(out->seed, 77);
    ck_assert_uint_eq(out->struct_size, min);
    assert_poison_from(&buf, min);
    assert_too_small(arnet_model_get_config(m, shrink(&buf, &cfg, min - 1)),
                     "arnet_model_config");
    arnet_model_free(m);
}
END_TEST

START_TEST(save_options_and_file_info_at_their_minimum)
{
    arnet_model *m = small_model(4);
    char path[] = "/tmp/arnet-structs-XXXXXX";
    int fd = mkstemp(path);
    ck_assert_int_ge(fd, 0);
    close(fd);
    size_t min = ARNET__MIN_arnet_save_options;
    arnet_save_options so;
    arnet_save_options_init(&so);
    so.storage = ARNET_STORAGE_F16;
    buf_t buf;
    ck_assert_int_eq(arnet_model_save_ex(m, path, shrink(&buf, &so, min)), ARNET_OK);
    void *mem;
    size_t size;
    assert_too_small(arnet_model_save_buffer(m, shrink(&buf, &so, min - 1), &mem, &size),
                     "arnet_save_options");

    min = ARNET__MIN_arnet_file_info;
    arnet_file_info fi;
    arnet_file_info_init(&fi);
    arnet_file_info *out = shrink(&buf, &fi, min);
    ck_assert_int_eq(arnet_file_info_read(path, out), ARNET_OK);
    ck_assert_int_eq(out->storage, ARNET_STORAGE_F16);
    ck_assert_uint_eq(out->feature_dim, 4);
    ck_assert_int_eq(out->has_trainer, 0);
    ck_assert_uint_eq(out->struct_size, min);
    assert_poison_from(&buf, min);
    assert_too_small(arnet_file_info_read(path, shrink(&buf, &fi, min - 1)), "arnet_file_info");
    unlink(path);
    arnet_model_free(m);
}
END_TEST

START_TEST(scorer_and_stream_structs_at_their_minimum)
{
    arnet_model *m = small_model(4);
    buf_t buf;
    size_t min = ARNET__MIN_arnet_scorer_options;
    arnet_scorer_options so;
    arnet_scorer_options_init(&so);
    so.max_batch = 2;
    arnet_scorer *sc;
    ck_assert_int_eq(arnet_scorer_create(m, shrink(&buf, &so, min), &sc), ARNET_OK);
    arnet_scorer *bad;
    assert_too_small(arnet_scorer_create(m, shrink(&buf, &so, min - 1), &bad),
                     "arnet_scorer_options");

    min = ARNET__MIN_arnet_stream_options;
    arnet_stream_options o;
    arnet_stream_options_init(&o);
    o.smoothing = ARNET_SMOOTH_NONE;
    o.min_on_clips = 1;
    o.on_threshold = 0.0f; /* every clip alarms */
    o.off_threshold = 0.0f;
    arnet_stream *st[2];
    ck_assert_int_eq(arnet_stream_create(shrink(&buf, &o, min), &st[0]), ARNET_OK);
    ck_assert_int_eq(arnet_stream_create(shrink(&buf, &o, min), &st[1]), ARNET_OK);
    ck_assert_uint_eq(arnet_stream_memory(shrink(&buf, &o, min)), arnet_stream_memory(&o));
    arnet_stream *sbad;
    assert_too_small(arnet_stream_create(shrink(&buf, &o, min - 1), &sbad),
                     "arnet_stream_options");

    min = ARNET__MIN_arnet_stream_result;
    arnet_stream_result r;
    arnet_stream_result_init(&r);
    arnet_stream_result *out = shrink(&buf, &r, min);
    ck_assert_int_eq(arnet_stream_update(st[0], 0.75f, out), ARNET_OK);
    ck_assert_float_eq(out->raw, 0.75f);
    ck_assert_int_eq(out->alarm, 1);
    ck_assert_uint_eq(out->struct_size, min);
    assert_poison_from(&buf, min);
    assert_too_small(arnet_stream_update(st[0], 0.5f, shrink(&buf, &r, min - 1)),
                     "arnet_stream_result");
    float feat[4] = {1, 2, 3, 4};
    ck_assert_int_eq(arnet_stream_push(st[0], sc, feat, shrink(&buf, &r, min)), ARNET_OK);
    assert_poison_from(&buf, min);

    /* push_streams: the caller's array has the caller's stride. */
    size_t stride = sizeof r + 16;
    unsigned char arr[2 * (sizeof r + 16) + 64];
    memset(arr, POISON, sizeof arr);
    for (int i = 0; i < 2; i++) {
        arnet_stream_result_init(&r);
        r.struct_size = stride;
        memcpy(arr + i * stride, &r, sizeof r);
    }
    float feats[8] = {1, 2, 3, 4, 4, 3, 2, 1};
    ck_assert_int_eq(arnet_scorer_push_streams(sc, st, feats, 2, (arnet_stream_result *)arr),
                     ARNET_OK);
    float want[2];
    ck_assert_int_eq(arnet_model_score(m, feats, 2, want), ARNET_OK);
    for (int i = 0; i < 2; i++) {
        memcpy(&r, arr + i * stride, sizeof r);
        ck_assert_float_eq(r.raw, want[i]);
        ck_assert_uint_eq(r.struct_size, stride);
        for (size_t k = sizeof r; k < stride; k++)
            ck_assert_int_eq(arr[i * stride + k], POISON);
    }
    memcpy(arr + stride, &(size_t){stride - 8}, sizeof(size_t));
    ck_assert_int_eq(arnet_scorer_push_streams(sc, st, feats, 2, (arnet_stream_result *)arr),
                     ARNET_E_INVALID);
    ck_assert_ptr_nonnull(strstr(arnet_last_error(), "results[1].struct_size"));

    min = ARNET__MIN_arnet_stream_state;
    arnet_stream_state ss;
    arnet_stream_state_init(&ss);
    arnet_stream_state *sout = shrink(&buf, &ss, min);
    ck_assert_int_eq(arnet_stream_get_state(st[0], sout), ARNET_OK);
    ck_assert_uint_eq(sout->clips, 3);
    ck_assert_uint_eq(sout->alarms, 1);
    assert_poison_from(&buf, min);
    assert_too_small(arnet_stream_get_state(st[0], shrink(&buf, &ss, min - 1)),
                     "arnet_stream_state");
    arnet_stream_free(st[0]);
    arnet_stream_free(st[1]);
    arnet_scorer_free(sc);
    arnet_model_free(m);
}
END_TEST

START_TEST(file_and_data_set_structs_at_their_minimum)
{
    char dir[] = "/tmp/arnet-structs-XXXXXX";
    ck_assert_ptr_nonnull(mkdtemp(dir));
    char npy[128], man[128];
    snprintf(npy, sizeof npy, "%s/a.npy", dir);
    snprintf(man, sizeof man, "%s/m.txt", dir);
    float x[2 * 2 * 3]; /* T=2, C=2 crops, F=3 */
    for (int i = 0; i < 12; i++)
        x[i] = (float)i;
    size_t shape[3] = {2, 2, 3};
    ck_assert_int_eq(arnet_npy_write(npy, x, shape, 3), ARNET_OK);
    FILE *fp = fopen(man, "w");
    ck_assert_ptr_nonnull(fp);
    fputs("a.npy 0\n", fp);
    fclose(fp);
    buf_t buf;

    size_t min = ARNET__MIN_arnet_npy_options;
    arnet_npy_options no;
    arnet_npy_options_init(&no);
    no.crop = 1;
    float *data;
    size_t rows;
    uint32_t cols;
    ck_assert_int_eq(arnet_npy_read(npy, shrink(&buf, &no, min), &data, &rows, &cols),
                     ARNET_OK);
    ck_assert_float_eq(data[0], 3.0f); /* crop 1 of clip 0 */
    arnet_free(data);
    assert_too_small(arnet_npy_read(npy, shrink(&buf, &no, min - 1), &data, &rows, &cols),
                     "arnet_npy_options");

    min = ARNET__MIN_arnet_load_options;
    arnet_load_options lo;
    arnet_load_options_init(&lo);
    lo.crop = 0;
    lo.feature_dim = 3;
    arnet_dataset *ds;
    ck_assert_int_eq(arnet_dataset_load_manifest(man, shrink(&buf, &lo, min), &ds), ARNET_OK);
    assert_too_small(arnet_dataset_load_manifest(man, shrink(&buf, &lo, min - 1), &ds),
                     "arnet_load_options");

    min = ARNET__MIN_arnet_video_info;
    arnet_video_info vi;
    arnet_video_info_init(&vi);
    arnet_video_info *out = shrink(&buf, &vi, min);
    ck_assert_int_eq(arnet_dataset_video(ds, 0, out), ARNET_OK);
    ck_assert_uint_eq(out->n_clips, 2);
    ck_assert_float_eq(out->features[0], 0.0f); /* crop 0 */
    ck_assert_str_eq(out->name, "a.npy");
    assert_poison_from(&buf, min);
    assert_too_small(arnet_dataset_video(ds, 0, shrink(&buf, &vi, min - 1)), "arnet_video_info");
    arnet_dataset_free(ds);

    min = ARNET__MIN_arnet_synth_options;
    arnet_synth_options so;
    arnet_synth_options_init(&so);
    so.feature_dim = 4;
    so.scale = 0.02;
    arnet_dataset *tr, *te;
    ck_assert_int_eq(arnet_synth_create(shrink(&buf, &so, min), &tr, &te), ARNET_OK);
    ck_assert_uint_eq(arnet_dataset_feature_dim(tr), 4);
    arnet_dataset_free(tr);
    arnet_dataset_free(te);
    assert_too_small(arnet_synth_create(shrink(&buf, &so, min - 1), &tr, &te),
                     "arnet_synth_options");
    assert_too_small(arnet_synth_write(dir, shrink(&buf, &so, min - 1)), "arnet_synth_options");

    min = ARNET__MIN_arnet_npy_info;
    arnet_npy_info ni;
    arnet_npy_info_init(&ni);
    arnet_npy_info *nout = shrink(&buf, &ni, min);
    ck_assert_int_eq(arnet_npy_info_read(npy, nout), ARNET_OK);
    ck_assert_uint_eq(nout->shape[1], 2);
    ck_assert_str_eq(nout->dtype, "<f4");
    assert_poison_from(&buf, min);
    assert_too_small(arnet_npy_info_read(npy, shrink(&buf, &ni, min - 1)), "arnet_npy_info");

    min = ARNET__MIN_arnet_manifest_entry;
    snprintf(man, sizeof man, "%s/w.txt", dir);
    arnet_manifest_writer *w;
    ck_assert_int_eq(arnet_manifest_writer_create(man, &w), ARNET_OK);
    arnet_manifest_entry me;
    arnet_manifest_entry_init(&me);
    me.features = "a.npy";
    ck_assert_int_eq(arnet_manifest_writer_add(w, shrink(&buf, &me, min)), ARNET_OK);
    assert_too_small(arnet_manifest_writer_add(w, shrink(&buf, &me, min - 1)),
                     "arnet_manifest_entry");
    arnet_manifest_writer_free(w);

    char cmd[160];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    ck_assert_int_eq(system(cmd), 0);
}
END_TEST

START_TEST(evaluation_structs_at_their_minimum)
{
    arnet_model *m = small_model(8);
    arnet_dataset *ds = small_set(8);
    buf_t ob, rb;
    size_t min = ARNET__MIN_arnet_eval_options;
    arnet_eval_options eo;
    arnet_eval_options_init(&eo);
    eo.far_threshold = 0.0f; /* every normal frame alarms */
    arnet_eval_result er;
    arnet_eval_result_init(&er);
    size_t rmin = ARNET__MIN_arnet_eval_result;
    arnet_eval_result *out = shrink(&rb, &er, rmin);
    ck_assert_int_eq(arnet_evaluate_ex(m, ds, shrink(&ob, &eo, min), out), ARNET_OK);
    ck_assert_double_eq(out->far, 1.0);
    ck_assert_uint_eq(out->videos, 4);
    ck_assert_uint_eq(out->n_per_video, 4);
    ck_assert_uint_eq(out->struct_size, rmin);
    assert_poison_from(&rb, rmin);
    arnet_eval_result_free(out);
    ck_assert_ptr_null(out->per_video);
    assert_too_small(arnet_evaluate_ex(m, ds, shrink(&ob, &eo, min - 1), &er),
                     "arnet_eval_options");
    assert_too_small(arnet_evaluate_ex(m, ds, &eo, shrink(&rb, &er, rmin - 1)),
                     "arnet_eval_result");
    arnet_dataset_free(ds);
    arnet_model_free(m);
}
END_TEST

START_TEST(training_structs_at_their_minimum)
{
    arnet_model *m = small_model(8);
    arnet_dataset *ds = small_set(8);
    buf_t ob, sb;
    size_t min = ARNET__MIN_arnet_train_options;
    arnet_train_options to;
    arnet_train_options_init(&to);
    to.normal_per_batch = 1;
    to.anomalous_per_batch = 1;
    to.seed = 5;
    arnet_trainer *t;
    ck_assert_int_eq(arnet_trainer_create(m, ds, shrink(&ob, &to, min), &t), ARNET_OK);
    arnet_trainer *bad;
    assert_too_small(arnet_trainer_create(m, ds, shrink(&ob, &to, min - 1), &bad),
                     "arnet_train_options");

    min = ARNET__MIN_arnet_step_stats;
    arnet_step_stats st;
    arnet_step_stats_init(&st);
    arnet_step_stats *out = shrink(&sb, &st, min);
    ck_assert_int_eq(arnet_trainer_step(t, out), ARNET_OK);
    ck_assert_uint_eq(out->step, 1);
    ck_assert(out->loss > 0.0);
    assert_poison_from(&sb, min);
    assert_too_small(arnet_trainer_step(t, shrink(&sb, &st, min - 1)), "arnet_step_stats");
    ck_assert_uint_eq(arnet_trainer_steps(t), 1); /* the refused step did nothing */

    min = ARNET__MIN_arnet_train_options;
    arnet_train_options *oout = shrink(&ob, &to, min);
    oout->seed = 0;
    ck_assert_int_eq(arnet_trainer_get_options(t, oout), ARNET_OK);
    ck_assert_uint_eq(oout->seed, 5);
    ck_assert_uint_eq(oout->struct_size, min);
    assert_poison_from(&ob, min);
    assert_too_small(arnet_trainer_get_options(t, shrink(&ob, &to, min - 1)),
                     "arnet_train_options");
    arnet_trainer_free(t);
    arnet_dataset_free(ds);
    arnet_model_free(m);
}
END_TEST

Suite *make_suite(void)
{
    Suite *s = suite_create("structs");
    TCase *tc = tcase_create("helper");
    tcase_add_test(tc, old_caller_gets_defaults_for_the_new_tail);
    tcase_add_test(tc, old_caller_below_its_first_release_is_refused);
    tcase_add_test(tc, output_writes_only_the_callers_prefix);
    suite_add_tcase(s, tc);
    tc = tcase_create("readers");
    tcase_add_test(tc, model_config_at_its_minimum);
    tcase_add_test(tc, save_options_and_file_info_at_their_minimum);
    tcase_add_test(tc, scorer_and_stream_structs_at_their_minimum);
    tcase_add_test(tc, file_and_data_set_structs_at_their_minimum);
    tcase_add_test(tc, evaluation_structs_at_their_minimum);
    tcase_add_test(tc, training_structs_at_their_minimum);
    suite_add_tcase(s, tc);
    return s;
}
