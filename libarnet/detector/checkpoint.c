/* checkpoint.c -- model files on the container (container.c): the model's
 * config, tensors and metadata, the trainer's sections, and the load and
 * save entry points (docs/checkpoint-format.md). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "container.h"
#include "detector_int.h"

#define CONFIG_MIN 24
#define CONFIG_MAX 4096
#define DIM_MAX 65536u /* as model.c: largest feature_dim and hidden_dim */

/* Format 1.0 is what model files are; 1.1 added kinds (container.c). */
int arnet_checkpoint_format_version(void) { return ARNET__CKP_MAJOR * 100; }

/* ---- writer ------------------------------------------------------------ */

static int check_extra(const char *who, const arnet__extra *e)
{
    if ((e->n_tensors && !e->tensors) || (e->n_kv && !e->kv))
        return arnet__error(ARNET_E_INVALID, "%s: extra section list is NULL", who);
    for (size_t i = 0; i < e->n_tensors; i++) {
        const arnet__tensor *t = &e->tensors[i];
        uint64_t count = 1;
        int overflow = 0;
        if (!t->name || !arnet__valid_name(t->name, ARNET__NAME_MAX))
            return arnet__error(ARNET_E_INVALID,
                                "%s: extra tensor %zu: name must be 1..%d printable ASCII "
                                "characters without spaces",
                                who, i, ARNET__NAME_MAX);
        if (t->ndim < 1 || t->ndim > ARNET__TENSOR_MAX_NDIM)
            return arnet__error(ARNET_E_INVALID, "%s: extra tensor %s: ndim %u not in 1..%d",
                                who, t->name, t->ndim, ARNET__TENSOR_MAX_NDIM);
        for (uint32_t k = 0; k < t->ndim; k++) {
            if (t->dims[k] != 0 && count > UINT64_MAX / t->dims[k])
                overflow = 1;
            else
                count *= t->dims[k];
        }
        if (overflow || count > (SIZE_MAX - 4096) / 4)
            return arnet__error(ARNET_E_INVALID, "%s: extra tensor %s: shape overflows", who,
                                t->name);
        if (count && !t->data)
            return arnet__error(ARNET_E_INVALID, "%s: extra tensor %s: data is NULL", who,
                                t->name);
        for (size_t j = 0; j < i; j++)
            if (!strcmp(e->tensors[j].name, t->name))
                return arnet__error(ARNET_E_INVALID, "%s: extra tensor name %s used twice",
                                    who, t->name);
    }
    for (size_t i = 0; i < e->n_kv; i++) {
        int rc = arnet__kv_check(who, e->kv[2 * i], e->kv[2 * i + 1]);
        if (rc)
            return rc;
    }
    return ARNET_OK;
}

static int build_sections(arnet__cwriter *w, const arnet_model *m, const arnet_save_options *opt,
                          const arnet__extra *extra)
{
    int rc;
    /* Configuration. */
    arnet__cw_u32(w, m->feature_dim);
    arnet__cw_u32(w, m->hidden_dim);
    arnet__cw_u32(w, arnet__float_bits(m->cfg.dropout));
    arnet__cw_u32(w, 0);
    arnet__cw_u64(w, m->cfg.seed);
    if ((rc = arnet__cw_end_section(w, ARNET__SEC_CONFIG, ARNET__SECF_REQUIRED)))
        return rc;
    /* Model tensors. */
    const arnet__tensor model_tensors[4] = {
        {"w1", 2, {m->hidden_dim, m->feature_dim, 0, 0}, m->w1},
        {"b1", 1, {m->hidden_dim, 0, 0, 0}, m->b1},
        {"w2", 1, {m->hidden_dim, 0, 0, 0}, m->w2},
        {"b2", 1, {1, 0, 0, 0}, &m->b2},
    };
    /* f16 storage halves W1, nearly all of the bytes; the three vectors stay
     * f32 (a few KiB), so a large bias keeps its absolute precision. */
    for (int i = 0; i < 4; i++)
        if ((rc = arnet__cw_tensor(w, ARNET__SEC_TENSOR, ARNET__SECF_REQUIRED, &model_tensors[i],
                                   i == 0 ? opt->storage : ARNET_STORAGE_F32)))
            return rc;
    /* Metadata, plus the library version unless the model says one. */
    int has_version = arnet_model_get_meta(m, "library_version") != NULL;
    size_t n_more = extra && extra->kv_as_meta ? extra->n_kv : 0;
    arnet__cw_u32(w, (uint32_t)(m->n_meta + !has_version + n_more));
    for (size_t i = 0; i < m->n_meta; i++)
        arnet__cw_kv_pair(w, m->meta[i].key, m->meta[i].value);
    if (!has_version)
        arnet__cw_kv_pair(w, "library_version", arnet_version());
    for (size_t i = 0; i < n_more; i++)
        arnet__cw_kv_pair(w, extra->kv[2 * i], extra->kv[2 * i + 1]);
    if ((rc = arnet__cw_end_section(w, ARNET__SEC_META, 0)))
        return rc;
    if (!extra || extra->kv_as_meta)
        return ARNET_OK;
    /* Trainer sections: always f32, skipped by model-only readers. */
    for (size_t i = 0; i < extra->n_tensors; i++)
        if ((rc = arnet__cw_tensor(w, ARNET__SEC_TRAINER_TENSOR, 0, &extra->tensors[i],
                                   ARNET_STORAGE_F32)))
            return rc;
    arnet__cw_u32(w, (uint32_t)extra->n_kv);
    for (size_t i = 0; i < extra->n_kv; i++)
        arnet__cw_kv_pair(w, extra->kv[2 * i], extra->kv[2 * i + 1]);
    return arnet__cw_end_section(w, ARNET__SEC_TRAINER_KV, 0);
}

/* The whole file in memory: *out [transferred] (free), *size bytes. */
static int serialise(const char *who, const arnet_model *m, const arnet_save_options *opt_in,
                     const arnet__extra *extra, uint8_t **out, size_t *size)
{
    arnet_save_options opt;
    int rc = arnet__save_options_read(who, opt_in, &opt);
    if (rc)
        return rc;
    if (extra && (rc = check_extra(who, extra)))
        return rc;
    /* config + 4 tensors + meta (+ trainer tensors + trainer kv) */
    size_t n_sec = 6 + (extra && !extra->kv_as_meta ? extra->n_tensors + 1 : 0);
    if (n_sec > ARNET__CKP_MAX_SECTIONS)
        return arnet__error(ARNET_E_INVALID, "%s: %zu sections, more than the %u allowed", who,
                            n_sec, ARNET__CKP_MAX_SECTIONS);
    arnet__cwriter w;
    if ((rc = arnet__cw_init(&w, who, opt.compression_level, n_sec)) ||
        (rc = build_sections(&w, m, &opt, extra))) {
        arnet__cw_free(&w);
        return rc;
    }
    return arnet__cw_finish(&w, out, size);
}

int arnet__checkpoint_save(const arnet_model *m, const arnet_save_options *opt,
                           const arnet__extra *extra, const char *path)
{
    if (!m || !path)
        return arnet__error(ARNET_E_INVALID, "checkpoint save: %s is NULL",
                            !m ? "model" : "path");
    uint8_t *data;
    size_t size;
    int rc = serialise(path, m, opt, extra, &data, &size);
    if (rc)
        return rc;
    rc = arnet__atomic_write(path, data, size);
    free(data);
    return rc;
}

int arnet_model_save(const arnet_model *m, const char *path)
{
    return arnet__checkpoint_save(m, NULL, NULL, path);
}

int arnet_model_save_ex(const arnet_model *m, const char *path, const arnet_save_options *opt)
{
    return arnet__checkpoint_save(m, opt, NULL, path);
}

int arnet_model_save_buffer(const arnet_model *m, const arnet_save_options *opt, void **buf,
                            size_t *size)
{
    if (!m || !buf || !size)
        return arnet__error(ARNET_E_INVALID, "arnet_model_save_buffer: %s is NULL",
                            !m ? "model" : !buf ? "buf" : "size");
    uint8_t *data;
    size_t n;
    int rc = serialise("arnet_model_save_buffer", m, opt, NULL, &data, &n);
    if (rc)
        return rc;
    *buf = data;
    *size = n;
    return ARNET_OK;
}

/* ---- reader: configuration ------------------------------------------------ */

int arnet__checkpoint_config(const arnet__container *c, arnet__ckp_config *cfg)
{
    if (strcmp(c->kind, "model") != 0)
        return arnet__container_bad(c, "a file of kind \"%s\", not an AR-Net model",
                                    c->kind);
    uint32_t found = c->n_sec;
    for (uint32_t i = 0; i < c->n_sec; i++) {
        if (c->sec[i].type != ARNET__SEC_CONFIG)
            continue;
        if (found != c->n_sec)
            return arnet__container_bad(c, "two config sections (%u and %u)", found, i);
        found = i;
    }
    if (found == c->n_sec)
        return arnet__container_bad(c, "no config section");
    const arnet__csection *s = &c->sec[found];
    if (s->raw < CONFIG_MIN || s->raw > CONFIG_MAX)
        return arnet__container_bad(c, "config section of %llu bytes, not in %d..%d",
                                    (unsigned long long)s->raw, CONFIG_MIN, CONFIG_MAX);
    arnet__sec_stream st;
    int rc = arnet__stream_open(c, found, &st);
    if (rc)
        return rc;
    uint8_t b[CONFIG_MAX];
    rc = arnet__stream_read(&st, b, (size_t)s->raw);
    if (!rc)
        rc = arnet__stream_finish(&st);
    arnet__stream_close(&st);
    if (rc)
        return rc;
    /* Bytes past the first 24 belong to later minor versions: ignored. */
    cfg->feature_dim = arnet__get_u32(b);
    cfg->hidden_dim = arnet__get_u32(b + 4);
    cfg->dropout = arnet__bits_float(arnet__get_u32(b + 8));
    cfg->seed = arnet__get_u64(b + 16);
    if (cfg->feature_dim < 1 || cfg->feature_dim > DIM_MAX)
        return arnet__container_bad(c, "feature_dim %u not in 1..%u", cfg->feature_dim, DIM_MAX);
    if (cfg->hidden_dim < 1 || cfg->hidden_dim > DIM_MAX)
        return arnet__container_bad(c, "hidden_dim %u not in 1..%u", cfg->hidden_dim, DIM_MAX);
    if (!(cfg->dropout >= 0.0f && cfg->dropout < 1.0f))
        return arnet__container_bad(c, "dropout %g not in [0, 1)", (double)cfg->dropout);
    return ARNET_OK;
}

/* ---- reader: the model ------------------------------------------------- */

static const char *const model_names[4] = {"w1", "b1", "w2", "b2"};

/* Which model tensor a descriptor is (0..3), after checking its shape. */
static int model_tensor_index(const arnet__ckp_config *cfg, arnet__sec_stream *st,
                              const arnet__tensor_desc *d, int *which)
{
    uint64_t H = cfg->hidden_dim, F = cfg->feature_dim;
    const uint64_t want[4][2] = {{H, F}, {H, 0}, {H, 0}, {1, 0}};
    for (int k = 0; k < 4; k++) {
        if (strcmp(d->name, model_names[k]) != 0)
            continue;
        uint32_t nd = k == 0 ? 2 : 1;
        if (d->ndim != nd || d->dims[0] != want[k][0] || (nd == 2 && d->dims[1] != want[k][1])) {
            char got[120], exp[60];
            arnet__shape_text(got, sizeof got, d->dims, d->ndim);
            arnet__shape_text(exp, sizeof exp, want[k], nd);
            return arnet__stream_bad(st, "tensor %s has shape [%s], the config implies [%s]",
                                     d->name, got, exp);
        }
        *which = k;
        return ARNET_OK;
    }
    return arnet__stream_bad(st, "unknown model tensor %s", d->name);
}

typedef struct meta_ctx {
    arnet_model *m;
    const char *name;
} meta_ctx;

static int set_meta_cb(const char *key, const char *value, void *ctx)
{
    meta_ctx *mc = ctx;
    if (arnet_model_get_meta(mc->m, key))
        return arnet__error(ARNET_E_FORMAT, "%s: metadata key %s appears twice", mc->name,
                            key);
    int rc = arnet_model_set_meta(mc->m, key, value);
    if (rc == ARNET_E_INVALID) {
        arnet__error_prefix("%s: bad metadata", mc->name);
        rc = ARNET_E_FORMAT;
    }
    return rc;
}

/* Check every model tensor's descriptor against the config, then allocate
 * the model and fill it. */
static int load_model(const arnet__container *c, const arnet__ckp_config *cfg,
                      arnet_model **out)
{
    uint32_t where[4] = {c->n_sec, c->n_sec, c->n_sec, c->n_sec};
    arnet__tensor_desc d;
    arnet__sec_stream st;
    int rc;
    for (uint32_t i = 0; i < c->n_sec; i++) {
        if (c->sec[i].type != ARNET__SEC_TENSOR)
            continue;
        if ((rc = arnet__stream_open(c, i, &st)))
            return rc;
        int which = 0;
        rc = arnet__tensor_read_desc(&st, &d);
        if (!rc)
            rc = model_tensor_index(cfg, &st, &d, &which);
        if (!rc && where[which] != c->n_sec)
            rc = arnet__stream_bad(&st, "the same model tensor appears twice");
        if (!rc)
            rc = arnet__tensor_read_data(&st, &d, NULL);
        arnet__stream_close(&st);
        if (rc)
            return rc;
        where[which] = i;
    }
    for (int k = 0; k < 4; k++)
        if (where[k] == c->n_sec)
            return arnet__container_bad(c, "no tensor %s", model_names[k]);

    arnet_model *m;
    if ((rc = arnet__model_alloc(cfg->feature_dim, cfg->hidden_dim, cfg->dropout, cfg->seed,
                                 &m)))
        return rc;
    float *dst[4] = {m->w1, m->b1, m->w2, &m->b2};
    for (int k = 0; k < 4 && !rc; k++) {
        if ((rc = arnet__stream_open(c, where[k], &st)))
            break;
        rc = arnet__tensor_read_desc(&st, &d);
        if (!rc)
            rc = arnet__tensor_read_data(&st, &d, dst[k]);
        arnet__stream_close(&st);
    }
    for (uint32_t i = 0; i < c->n_sec && !rc; i++) {
        if (c->sec[i].type != ARNET__SEC_META)
            continue;
        meta_ctx mc = {m, c->name};
        rc = arnet__kv_read(c, i, set_meta_cb, &mc);
    }
    if (rc) {
        arnet_model_free(m);
        return rc;
    }
    *out = m;
    return ARNET_OK;
}

/* ---- reader: trainer sections ------------------------------------------ */

void arnet__loaded_extra_free(arnet__loaded_extra *e)
{
    if (!e)
        return;
    for (size_t i = 0; i < e->n_tensors; i++) {
        free(e->tensors[i].name);
        free(e->tensors[i].data);
    }
    for (size_t i = 0; i < e->n_kv; i++) {
        free(e->kv[i].key);
        free(e->kv[i].value);
    }
    free(e->tensors);
    free(e->kv);
    free(e);
}

static int add_kv_cb(const char *key, const char *value, void *ctx)
{
    arnet__loaded_extra *e = ctx;
    for (size_t i = 0; i < e->n_kv; i++)
        if (!strcmp(e->kv[i].key, key))
            return arnet__error(ARNET_E_FORMAT, "checkpoint: trainer key %s appears twice", key);
    arnet__kv *grown = realloc(e->kv, (e->n_kv + 1) * sizeof *grown);
    if (!grown)
        return arnet__error(ARNET_E_NOMEM, "checkpoint: out of memory for trainer keys");
    e->kv = grown;
    char *k = arnet__strdup(key), *v = arnet__strdup(value);
    if (!k || !v) {
        free(k);
        free(v);
        return ARNET_E_NOMEM;
    }
    e->kv[e->n_kv].key = k;
    e->kv[e->n_kv].value = v;
    e->n_kv++;
    return ARNET_OK;
}

static int load_trainer_tensor(const arnet__container *c, uint32_t index,
                               arnet__loaded_extra *e)
{
    arnet__sec_stream st;
    arnet__tensor_desc d;
    int rc = arnet__stream_open(c, index, &st);
    if (rc)
        return rc;
    rc = arnet__tensor_read_desc(&st, &d);
    for (size_t i = 0; i < e->n_tensors && !rc; i++)
        if (!strcmp(e->tensors[i].name, d.name))
            rc = arnet__stream_bad(&st, "trainer tensor name appears twice");
    /* Decode once without keeping anything: the data must really be as
     * large as the descriptor says before that much is allocated. */
    if (!rc)
        rc = arnet__tensor_read_data(&st, &d, NULL);
    arnet__stream_close(&st);
    if (rc)
        return rc;
    arnet__loaded_tensor *t = &e->tensors[e->n_tensors];
    memset(t, 0, sizeof *t);
    t->name = arnet__strdup(d.name);
    t->data = arnet__alloc((size_t)d.count, sizeof(float), "checkpoint trainer tensor");
    if (!t->name || !t->data) {
        free(t->name);
        free(t->data);
        return ARNET_E_NOMEM;
    }
    t->ndim = d.ndim;
    memcpy(t->dims, d.dims, sizeof t->dims);
    e->n_tensors++;
    if ((rc = arnet__stream_open(c, index, &st)))
        return rc;
    rc = arnet__tensor_read_desc(&st, &d);
    if (!rc)
        rc = arnet__tensor_read_data(&st, &d, t->data);
    arnet__stream_close(&st);
    return rc;
}

static int load_extra(const arnet__container *c, arnet__loaded_extra **out)
{
    size_t n_tensors = 0, n_sections = 0;
    for (uint32_t i = 0; i < c->n_sec; i++) {
        uint32_t t = c->sec[i].type;
        n_tensors += t == ARNET__SEC_TRAINER_TENSOR;
        n_sections += t == ARNET__SEC_TRAINER_TENSOR || t == ARNET__SEC_TRAINER_KV;
    }
    *out = NULL;
    if (n_sections == 0)
        return ARNET_OK;
    arnet__loaded_extra *e = arnet__calloc(1, sizeof *e, "checkpoint trainer state");
    if (!e)
        return ARNET_E_NOMEM;
    e->tensors = arnet__calloc(n_tensors ? n_tensors : 1, sizeof *e->tensors,
                               "checkpoint trainer tensors");
    int rc = e->tensors ? ARNET_OK : ARNET_E_NOMEM;
    for (uint32_t i = 0; i < c->n_sec && !rc; i++) {
        if (c->sec[i].type == ARNET__SEC_TRAINER_TENSOR)
            rc = load_trainer_tensor(c, i, e);
        else if (c->sec[i].type == ARNET__SEC_TRAINER_KV)
            rc = arnet__kv_read(c, i, add_kv_cb, e);
    }
    if (rc) {
        arnet__loaded_extra_free(e);
        return rc;
    }
    *out = e;
    return ARNET_OK;
}

const float *arnet__extra_tensor(const arnet__loaded_extra *e, const char *name, uint64_t count)
{
    if (!e || !name)
        return NULL;
    for (size_t i = 0; i < e->n_tensors; i++) {
        const arnet__loaded_tensor *t = &e->tensors[i];
        if (strcmp(t->name, name) != 0)
            continue;
        uint64_t c = 1;
        for (uint32_t k = 0; k < t->ndim; k++)
            c *= t->dims[k];
        return c == count ? t->data : NULL;
    }
    return NULL;
}

const char *arnet__extra_kv(const arnet__loaded_extra *e, const char *key)
{
    if (!e || !key)
        return NULL;
    for (size_t i = 0; i < e->n_kv; i++)
        if (!strcmp(e->kv[i].key, key))
            return e->kv[i].value;
    return NULL;
}

/* ---- reader: entry points ---------------------------------------------- */

/* Model (and trainer state when extra is not NULL) of an opened container. */
static int load_container(const arnet__container *c, arnet_model **model,
                          arnet__loaded_extra **extra)
{
    arnet__ckp_config cfg;
    arnet_model *m = NULL;
    arnet__loaded_extra *e = NULL;
    int rc = arnet__checkpoint_config(c, &cfg);
    if (!rc)
        rc = load_model(c, &cfg, &m);
    if (!rc && extra)
        rc = load_extra(c, &e);
    if (rc) {
        arnet_model_free(m);
        return rc;
    }
    if (model)
        *model = m;
    else
        arnet_model_free(m);
    if (extra)
        *extra = e;
    return ARNET_OK;
}

int arnet__checkpoint_load(const char *path, arnet_model **model, arnet__loaded_extra **extra)
{
    if (!path)
        return arnet__error(ARNET_E_INVALID, "checkpoint load: path is NULL");
    arnet__container c;
    int rc = arnet__container_load(path, &c);
    if (!rc)
        rc = load_container(&c, model, extra);
    arnet__container_close(&c);
    return rc;
}

int arnet_model_load(const char *path, arnet_model **out)
{
    if (!path || !out)
        return arnet__error(ARNET_E_INVALID, "arnet_model_load: %s is NULL",
                            !path ? "path" : "out");
    return arnet__checkpoint_load(path, out, NULL);
}

int arnet_model_load_buffer(const void *buf, size_t size, arnet_model **out)
{
    if (!buf || !out)
        return arnet__error(ARNET_E_INVALID, "arnet_model_load_buffer: %s is NULL",
                            !buf ? "buf" : "out");
    arnet__container c;
    int rc = arnet__container_open(&c, buf, size, "checkpoint buffer");
    if (!rc)
        rc = load_container(&c, out, NULL);
    arnet__container_close(&c);
    return rc;
}
