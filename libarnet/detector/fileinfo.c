/* fileinfo.c -- what a checkpoint file holds without loading it:
 * arnet_file_info_read (the summary) and arnet_file_list (every entry). */
#include <stdlib.h>
#include <string.h>

#include "container.h"
#include "detector_int.h"

void arnet_file_info_init(arnet_file_info *info)
{
    if (!info)
        return;
    memset(info, 0, sizeof *info);
    info->struct_size = sizeof *info;
}

static int info_from_container(const arnet__container *c, arnet_file_info *info)
{
    arnet__ckp_config cfg;
    int rc = arnet__checkpoint_config(c, &cfg);
    if (rc)
        return rc;
    info->format_major = c->major;
    info->format_minor = c->minor;
    info->feature_dim = cfg.feature_dim;
    info->hidden_dim = cfg.hidden_dim;
    info->dropout = cfg.dropout;
    info->file_size = c->size;
    info->n_sections = c->n_sec;
    info->storage = -1;
    for (uint32_t i = 0; i < c->n_sec && !rc; i++) {
        uint32_t t = c->sec[i].type;
        info->n_tensors += t == ARNET__SEC_TENSOR || t == ARNET__SEC_TRAINER_TENSOR;
        info->has_trainer |= t == ARNET__SEC_TRAINER_TENSOR || t == ARNET__SEC_TRAINER_KV;
        if (t == ARNET__SEC_TENSOR && info->storage < 0) {
            arnet__sec_stream st;
            arnet__tensor_desc d;
            if ((rc = arnet__stream_open(c, i, &st)))
                break;
            rc = arnet__tensor_read_desc(&st, &d);
            arnet__stream_close(&st);
            info->storage = (int)d.storage;
        }
    }
    if (!rc && info->storage < 0)
        rc = arnet__error(ARNET_E_FORMAT, "%s: no model tensors", c->name);
    return rc;
}

int arnet_file_info_read(const char *path, arnet_file_info *info)
{
    if (!path || !info)
        return arnet__error(ARNET_E_INVALID, "arnet_file_info_read: %s is NULL",
                            !path ? "path" : "info");
    int rc = ARNET__STRUCT_CHECK("arnet_file_info_read", arnet_file_info, info);
    if (rc)
        return rc;
    arnet_file_info full;
    arnet_file_info_init(&full);
    arnet__container c;
    rc = arnet__container_load(path, &c);
    if (!rc)
        rc = info_from_container(&c, &full);
    arnet__container_close(&c);
    if (rc)
        return rc;
    /* An older caller's smaller struct gets the fields it knows. */
    ARNET__STRUCT_OUT(arnet_file_info, info, &full);
    return ARNET_OK;
}

/* ---- listing ----------------------------------------------------------- */

typedef struct list_ctx {
    arnet_file_entry_fn fn;
    void *user;
    arnet_file_entry entry;
} list_ctx;

static int emit(list_ctx *l)
{
    if (l->fn(l->user, &l->entry) != 0)
        return arnet__error(ARNET_E_CANCELLED, "arnet_file_list: stopped by the callback");
    return ARNET_OK;
}

static int list_kv_cb(const char *key, const char *value, void *ctx)
{
    list_ctx *l = ctx;
    l->entry.name = key;
    l->entry.value = value;
    return emit(l);
}

static int list_section(const arnet__container *c, uint32_t i, list_ctx *l)
{
    const arnet__csection *s = &c->sec[i];
    arnet_file_entry *e = &l->entry;
    memset(e, 0, sizeof *e);
    e->struct_size = sizeof *e;
    e->section_type = s->type;
    e->trainer = s->type == ARNET__SEC_TRAINER_TENSOR || s->type == ARNET__SEC_TRAINER_KV;
    switch (s->type) {
    case ARNET__SEC_CONFIG:
        return ARNET_OK;
    case ARNET__SEC_KIND: /* shown as the pair kind = NAME */
        e->kind = ARNET_ENTRY_META;
        e->name = "kind";
        e->value = c->kind;
        return emit(l);
    case ARNET__SEC_META:
    case ARNET__SEC_TRAINER_KV:
        e->kind = ARNET_ENTRY_META;
        return arnet__kv_read(c, i, list_kv_cb, l);
    case ARNET__SEC_TENSOR:
    case ARNET__SEC_TRAINER_TENSOR: {
        arnet__sec_stream st;
        arnet__tensor_desc d;
        int rc = arnet__stream_open(c, i, &st);
        if (!rc)
            rc = arnet__tensor_read_desc(&st, &d);
        arnet__stream_close(&st);
        if (rc)
            return rc;
        e->kind = ARNET_ENTRY_TENSOR;
        e->name = d.name;
        e->ndim = d.ndim;
        memcpy(e->dims, d.dims, sizeof e->dims);
        e->storage = (int)d.storage;
        e->stored_bytes = s->stored;
        return emit(l);
    }
    default:
        e->kind = ARNET_ENTRY_UNKNOWN;
        e->stored_bytes = s->stored;
        return emit(l);
    }
}

int arnet_file_list(const char *path, arnet_file_entry_fn fn, void *user)
{
    if (!path || !fn)
        return arnet__error(ARNET_E_INVALID, "arnet_file_list: %s is NULL",
                            !path ? "path" : "fn");
    arnet__container c;
    int rc = arnet__container_load(path, &c);
    /* A model file's config is checked as loading checks it; a file of
     * another kind is listed as the container holds it. */
    arnet__ckp_config cfg;
    if (!rc && !strcmp(c.kind, "model"))
        rc = arnet__checkpoint_config(&c, &cfg);
    list_ctx l = {fn, user, {0}};
    for (uint32_t i = 0; i < c.n_sec && !rc; i++)
        rc = list_section(&c, i, &l);
    arnet__container_close(&c);
    return rc;
}
