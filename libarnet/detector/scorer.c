/* scorer.c -- arnet_scorer: scratch memory for scoring with one shared,
 * read-only model, so that the hot path never allocates. */
#include <stdlib.h>
#include <string.h>

#include "detector_int.h"
#include "internal.h"

/* Largest batch accepted: hidden scratch is max_batch x H floats, and with
 * H up to 2^16 this keeps it under 4 GiB. */
#define SCORER_MAX_BATCH (1u << 14)

struct arnet_scorer {
    const arnet_model *model;
    size_t max_batch;
    int threads;
    float *hidden; /* max_batch x H */
    float *logits; /* max_batch */
};

static void forward(arnet_scorer *s, const float *x, size_t n);

void arnet_scorer_options_init(arnet_scorer_options *opt)
{
    if (!opt)
        return;
    memset(opt, 0, sizeof *opt);
    opt->struct_size = sizeof *opt;
    opt->max_batch = 256;
    opt->threads = 1;
}

int arnet_scorer_create(const arnet_model *model, const arnet_scorer_options *opt,
                        arnet_scorer **out)
{
    if (!model || !out)
        return arnet__error(ARNET_E_INVALID, "arnet_scorer_create: %s is NULL",
                            !model ? "model" : "out");
    arnet_scorer_options def;
    arnet_scorer_options_init(&def);
    if (opt) {
        int rc = ARNET__STRUCT_IN("arnet_scorer_create", arnet_scorer_options, &def, opt);
        if (rc)
            return rc;
    }
    if (def.max_batch < 1 || def.max_batch > SCORER_MAX_BATCH)
        return arnet__error(ARNET_E_INVALID,
                            "arnet_scorer_create: max_batch %zu out of range 1..%u",
                            def.max_batch, SCORER_MAX_BATCH);
    if (def.threads < 1 || def.threads > 1024)
        return arnet__error(ARNET_E_INVALID,
                            "arnet_scorer_create: threads %d out of range 1..1024",
                            def.threads);
    arnet_scorer *s = arnet__calloc(1, sizeof *s, "scorer");
    if (!s)
        return ARNET_E_NOMEM;
    s->model = model;
    s->max_batch = def.max_batch;
    s->threads = def.threads;
    s->hidden = arnet__alloc(def.max_batch, (size_t)model->hidden_dim * sizeof(float),
                             "scorer hidden scratch");
    s->logits = arnet__alloc(def.max_batch, sizeof(float), "scorer logits");
    if (!s->hidden || !s->logits) {
        arnet_scorer_free(s);
        return ARNET_E_NOMEM;
    }
    /* BLIS builds its memory pools on first use; do it here so that the
     * first real call does not allocate (one clip through the network). */
    memset(s->hidden, 0, (size_t)model->hidden_dim * sizeof(float));
    float *x = arnet__calloc(model->feature_dim, sizeof(float), "scorer warm-up clip");
    if (!x) {
        arnet_scorer_free(s);
        return ARNET_E_NOMEM;
    }
    forward(s, x, 1);
    free(x);
    *out = s;
    return ARNET_OK;
}

void arnet_scorer_free(arnet_scorer *s)
{
    if (!s)
        return;
    free(s->hidden);
    free(s->logits);
    free(s);
}

const arnet_model *arnet__scorer_model(const arnet_scorer *s) { return s->model; }

size_t arnet__scorer_max_batch(const arnet_scorer *s) { return s->max_batch; }

/* arnet__model_forward's layers are both GEMMs, so a clip's score is
 * independent of the batch it is scored in (the tests check every chunk
 * size) and equal to arnet_model_score's bit for bit. */
static void forward(arnet_scorer *s, const float *x, size_t n)
{
    arnet__model_forward(s->model, x, n, s->hidden, s->logits, s->threads);
}

const float *arnet__scorer_run(arnet_scorer *s, const float *features, size_t m)
{
    forward(s, features, m);
    for (size_t i = 0; i < m; i++)
        s->logits[i] = arnet__sigmoid(s->logits[i]);
    return s->logits;
}

int arnet_scorer_score(arnet_scorer *s, const float *features, size_t n_clips, float *scores)
{
    if (!s || (n_clips && (!features || !scores)))
        return arnet__error(ARNET_E_INVALID, "arnet_scorer_score: %s is NULL",
                            !s ? "scorer" : !features ? "features" : "scores");
    /* Chunks of max_batch: rows of a GEMM do not mix, so a row's result does
     * not depend on which chunk it is in (tests/test_scorer.c checks this
     * bit for bit against arnet_model_score for several chunk sizes). */
    size_t F = s->model->feature_dim;
    int rc = n_clips ? arnet__check_finite("arnet_scorer_score: features", features, n_clips, F)
                     : ARNET_OK;
    if (rc)
        return rc;
    for (size_t off = 0; off < n_clips; off += s->max_batch) {
        size_t m = n_clips - off < s->max_batch ? n_clips - off : s->max_batch;
        const float *p = arnet__scorer_run(s, features + off * F, m);
        memcpy(scores + off, p, m * sizeof(float));
        if ((rc = arnet__check_scores("arnet_scorer_score", p, m, off)) != ARNET_OK)
            return rc;
    }
    return ARNET_OK;
}

size_t arnet_scorer_memory(const arnet_scorer *s)
{
    if (!s)
        return 0;
    return sizeof *s + s->max_batch * ((size_t)s->model->hidden_dim + 1) * sizeof(float);
}
