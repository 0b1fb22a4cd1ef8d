/* model.c -- the AR-Net network: configuration, Xavier initialisation from
 * the library's generator, parameters, metadata and the BLIS forward pass. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "detector_int.h"
#include "internal.h"

#define META_KEY_MAX 255
#define META_VALUE_MAX (64 * 1024)
/* Largest F or H accepted: W1 then holds 2^32 floats (16 GiB). */
#define DIM_MAX (1u << 16)

void arnet_model_config_init(arnet_model_config *cfg)
{
    if (!cfg)
        return;
    memset(cfg, 0, sizeof *cfg);
    cfg->struct_size = sizeof *cfg;
    cfg->feature_dim = 2048;
    cfg->hidden_dim = 0;
    cfg->dropout = 0.7f;
    cfg->seed = 1;
}

int arnet__model_alloc(uint32_t feature_dim, uint32_t hidden_dim, float dropout,
                       uint64_t seed, arnet_model **out)
{
    if (feature_dim < 1 || feature_dim > DIM_MAX)
        return arnet__error(ARNET_E_INVALID, "feature_dim %u out of range 1..%u",
                            feature_dim, DIM_MAX);
    if (hidden_dim < 1 || hidden_dim > DIM_MAX)
        return arnet__error(ARNET_E_INVALID, "hidden_dim %u out of range 1..%u", hidden_dim,
                            DIM_MAX);
    if (!(dropout >= 0.0f && dropout < 1.0f))
        return arnet__error(ARNET_E_INVALID, "dropout %g must be in [0, 1)", (double)dropout);
    arnet_model *m = arnet__calloc(1, sizeof *m, "model");
    if (!m)
        return ARNET_E_NOMEM;
    m->feature_dim = feature_dim;
    m->hidden_dim = hidden_dim;
    arnet_model_config_init(&m->cfg);
    m->cfg.feature_dim = feature_dim;
    m->cfg.hidden_dim = hidden_dim;
    m->cfg.dropout = dropout;
    m->cfg.seed = seed;
    m->w1 = arnet__alloc((size_t)hidden_dim * feature_dim, sizeof(float), "model W1");
    m->b1 = arnet__calloc(hidden_dim, sizeof(float), "model b1");
    m->w2 = arnet__calloc(hidden_dim, sizeof(float), "model w2");
    if (!m->w1 || !m->b1 || !m->w2) {
        arnet_model_free(m);
        return ARNET_E_NOMEM;
    }
    *out = m;
    return ARNET_OK;
}

static void xavier_uniform(arnet__rng *r, float *w, size_t count, double fan_in,
                           double fan_out)
{
    double bound = sqrt(6.0 / (fan_in + fan_out));
    for (size_t i = 0; i < count; i++)
        w[i] = (float)((2.0 * arnet__rng_uniform(r) - 1.0) * bound);
}

int arnet_model_create(const arnet_model_config *cfg, arnet_model **out)
{
    if (!cfg || !out)
        return arnet__error(ARNET_E_INVALID, "arnet_model_create: %s is NULL",
                            !cfg ? "cfg" : "out");
    arnet_model_config c;
    arnet_model_config_init(&c);
    int rc = ARNET__STRUCT_IN("arnet_model_create", arnet_model_config, &c, cfg);
    if (rc)
        return rc;
    cfg = &c;
    uint32_t hidden = cfg->hidden_dim ? cfg->hidden_dim : cfg->feature_dim;
    arnet_model *m;
    rc = arnet__model_alloc(cfg->feature_dim, hidden, cfg->dropout, cfg->seed, &m);
    if (rc) {
        arnet__error_prefix("arnet_model_create");
        return rc;
    }
    /* W1 first, then w2, from one stream: the order is part of the
     * reproducibility contract (same seed, same weights). */
    arnet__rng r;
    arnet__rng_seed(&r, cfg->seed);
    xavier_uniform(&r, m->w1, (size_t)hidden * cfg->feature_dim, cfg->feature_dim, hidden);
    xavier_uniform(&r, m->w2, hidden, hidden, 1);
    m->b2 = 0.0f;
    *out = m;
    return ARNET_OK;
}

void arnet_model_free(arnet_model *m)
{
    if (!m)
        return;
    for (size_t i = 0; i < m->n_meta; i++) {
        free(m->meta[i].key);
        free(m->meta[i].value);
    }
    free(m->meta);
    free(m->w1);
    free(m->b1);
    free(m->w2);
    free(m);
}

uint32_t arnet_model_feature_dim(const arnet_model *m) { return m ? m->feature_dim : 0; }

uint32_t arnet_model_hidden_dim(const arnet_model *m) { return m ? m->hidden_dim : 0; }

int arnet_model_get_config(const arnet_model *m, arnet_model_config *cfg)
{
    if (!m || !cfg)
        return arnet__error(ARNET_E_INVALID, "arnet_model_get_config: NULL argument");
    int rc = ARNET__STRUCT_CHECK("arnet_model_get_config", arnet_model_config, cfg);
    if (rc)
        return rc;
    ARNET__STRUCT_OUT(arnet_model_config, cfg, &m->cfg);
    return ARNET_OK;
}

void arnet__model_forward(const arnet_model *m, const float *x, size_t n, float *hidden,
                          float *logits, int threads)
{
    size_t F = m->feature_dim, H = m->hidden_dim;
    /* Broadcast b1 into every row, then GEMM with beta = 1 adds X W1^T. */
    for (size_t i = 0; i < n; i++)
        memcpy(hidden + i * H, m->b1, H * sizeof(float));
    arnet__sgemm(0, 1, n, H, F, 1.0f, x, F, m->w1, F, 1.0f, hidden, H, threads);
    for (size_t i = 0; i < n * H; i++)
        hidden[i] = hidden[i] > 0.0f ? hidden[i] : 0.0f;
    for (size_t i = 0; i < n; i++)
        logits[i] = m->b2;
    /* A one-column GEMM, not a GEMV: with BLIS's SKX kernels a GEMV's result
     * for a row depends on how many rows it is given (fused kernels for
     * groups of rows, another loop for the rest), a GEMM's does not.  So a
     * clip's score never depends on the batch it is scored in. */
    arnet__sgemm(0, 0, n, 1, H, 1.0f, hidden, H, m->w2, 1, 1.0f, logits, 1, threads);
}

int arnet__check_scores(const char *where, const float *scores, size_t n, size_t first_clip)
{
    for (size_t i = 0; i < n; i++)
        if (isnan(scores[i]))
            return arnet__error(ARNET_E_INVALID,
                                "%s: clip %zu scored NaN: its feature values are so large "
                                "that the hidden layer overflowed (largest float about 3.4e38)",
                                where, first_clip + i);
    return ARNET_OK;
}

int arnet_model_score(const arnet_model *m, const float *features, size_t n_clips,
                      float *scores)
{
    if (!m || (!features && n_clips) || (!scores && n_clips))
        return arnet__error(ARNET_E_INVALID, "arnet_model_score: NULL argument");
    if (n_clips == 0)
        return ARNET_OK;
    int rc = arnet__check_finite("arnet_model_score: features", features, n_clips,
                                 m->feature_dim);
    if (rc)
        return rc;
    float *hidden = arnet__alloc(n_clips, (size_t)m->hidden_dim * sizeof(float),
                                 "arnet_model_score scratch");
    if (!hidden)
        return ARNET_E_NOMEM;
    arnet__model_forward(m, features, n_clips, hidden, scores, 1);
    for (size_t i = 0; i < n_clips; i++)
        scores[i] = arnet__sigmoid(scores[i]);
    free(hidden);
    return arnet__check_scores("arnet_model_score", scores, n_clips, 0);
}

int arnet_model_get_params(const arnet_model *m, float *w1, float *b1, float *w2, float *b2)
{
    if (!m)
        return arnet__error(ARNET_E_INVALID, "arnet_model_get_params: model is NULL");
    size_t H = m->hidden_dim;
    if (w1)
        memcpy(w1, m->w1, H * m->feature_dim * sizeof(float));
    if (b1)
        memcpy(b1, m->b1, H * sizeof(float));
    if (w2)
        memcpy(w2, m->w2, H * sizeof(float));
    if (b2)
        *b2 = m->b2;
    return ARNET_OK;
}

int arnet_model_set_params(arnet_model *m, const float *w1, const float *b1, const float *w2,
                           const float *b2)
{
    if (!m)
        return arnet__error(ARNET_E_INVALID, "arnet_model_set_params: model is NULL");
    size_t H = m->hidden_dim;
    if (w1)
        memcpy(m->w1, w1, H * m->feature_dim * sizeof(float));
    if (b1)
        memcpy(m->b1, b1, H * sizeof(float));
    if (w2)
        memcpy(m->w2, w2, H * sizeof(float));
    if (b2)
        m->b2 = *b2;
    return ARNET_OK;
}

static int valid_key(const char *key)
{
    size_t len = strlen(key);
    if (len < 1 || len > META_KEY_MAX)
        return 0;
    for (size_t i = 0; i < len; i++)
        if (key[i] <= ' ' || key[i] > '~')
            return 0;
    return 1;
}

int arnet_model_set_meta(arnet_model *m, const char *key, const char *value)
{
    if (!m || !key)
        return arnet__error(ARNET_E_INVALID, "arnet_model_set_meta: NULL argument");
    if (!valid_key(key))
        return arnet__error(ARNET_E_INVALID,
                            "arnet_model_set_meta: key \"%.40s\" must be 1..%d printable "
                            "ASCII characters without spaces",
                            key, META_KEY_MAX);
    if (value && strlen(value) > META_VALUE_MAX)
        return arnet__error(ARNET_E_INVALID,
                            "arnet_model_set_meta: value of \"%s\" longer than %d bytes", key,
                            META_VALUE_MAX);
    for (size_t i = 0; i < m->n_meta; i++) {
        if (strcmp(m->meta[i].key, key) != 0)
            continue;
        if (!value) {
            free(m->meta[i].key);
            free(m->meta[i].value);
            memmove(m->meta + i, m->meta + i + 1, (m->n_meta - i - 1) * sizeof *m->meta);
            m->n_meta--;
            return ARNET_OK;
        }
        char *v = arnet__strdup(value);
        if (!v)
            return ARNET_E_NOMEM;
        free(m->meta[i].value);
        m->meta[i].value = v;
        return ARNET_OK;
    }
    if (!value)
        return ARNET_OK;
    arnet__kv *grown = realloc(m->meta, (m->n_meta + 1) * sizeof *grown);
    if (!grown)
        return arnet__error(ARNET_E_NOMEM, "arnet_model_set_meta: out of memory");
    m->meta = grown;
    char *k = arnet__strdup(key), *v = arnet__strdup(value);
    if (!k || !v) {
        free(k);
        free(v);
        return ARNET_E_NOMEM;
    }
    m->meta[m->n_meta].key = k;
    m->meta[m->n_meta].value = v;
    m->n_meta++;
    return ARNET_OK;
}

const char *arnet_model_get_meta(const arnet_model *m, const char *key)
{
    if (!m || !key)
        return NULL;
    for (size_t i = 0; i < m->n_meta; i++)
        if (strcmp(m->meta[i].key, key) == 0)
            return m->meta[i].value;
    return NULL;
}

size_t arnet_model_meta_count(const arnet_model *m) { return m ? m->n_meta : 0; }

int arnet_model_meta_at(const arnet_model *m, size_t i, const char **key, const char **value)
{
    if (!m || i >= m->n_meta)
        return arnet__error(ARNET_E_INVALID, "arnet_model_meta_at: index %zu out of range", i);
    if (key)
        *key = m->meta[i].key;
    if (value)
        *value = m->meta[i].value;
    return ARNET_OK;
}
