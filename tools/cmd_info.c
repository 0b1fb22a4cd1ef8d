/* cmd_info.c -- `arnet info`: what a checkpoint file holds (format version,
 * dimensions, storage, tensors, metadata, trainer state), as text or JSON. */
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli.h"

#define CMD "info"

static void usage(FILE *f)
{
    fprintf(f,
            "usage: arnet info MODEL [--json]\n\n"
            "Print what a checkpoint file holds: its format version and size, the model's\n"
            "dimensions and dropout, the storage type, every tensor (shape, type, bytes in\n"
            "the file), the metadata (training settings, data set, library version), and\n"
            "whether it carries trainer state to resume training from.  The file's\n"
            "checksums are verified; docs/checkpoint-format.md describes the format.\n"
            "Files of another kind (an I3D extractor from `arnet import i3d`) are listed\n"
            "as their container holds them: kind, tensors, parameters, metadata.\n\n"
            "  --json    one JSON object instead of text\n");
    cli_print_exit_codes(f, 0);
}

/* Everything arnet_file_list reported, copied (its strings are borrowed). */
typedef struct item {
    int kind, trainer, storage;
    char *name, *value;
    uint32_t ndim, section_type;
    uint64_t dims[4], stored_bytes;
} item;

typedef struct listing {
    item *items;
    size_t n, cap;
    int failed;
} listing;

static int collect(void *user, const arnet_file_entry *e)
{
    listing *l = user;
    if (l->n == l->cap) {
        size_t cap = l->cap ? 2 * l->cap : 32;
        item *grown = realloc(l->items, cap * sizeof *grown);
        if (!grown) {
            l->failed = 1;
            return 1;
        }
        l->items = grown;
        l->cap = cap;
    }
    item *it = &l->items[l->n];
    memset(it, 0, sizeof *it);
    it->kind = e->kind;
    it->trainer = e->trainer;
    it->storage = e->storage;
    it->ndim = e->ndim;
    it->section_type = e->section_type;
    memcpy(it->dims, e->dims, sizeof it->dims);
    it->stored_bytes = e->stored_bytes;
    it->name = e->name ? strdup(e->name) : NULL;
    it->value = e->value ? strdup(e->value) : NULL;
    l->n++;
    if ((e->name && !it->name) || (e->value && !it->value)) {
        l->failed = 1;
        return 1;
    }
    return 0;
}

static void listing_free(listing *l)
{
    for (size_t i = 0; i < l->n; i++) {
        free(l->items[i].name);
        free(l->items[i].value);
    }
    free(l->items);
}

static const char *storage_name(int storage)
{
    return storage == ARNET_STORAGE_F16 ? "f16" : storage == ARNET_STORAGE_F32 ? "f32" : "?";
}

/* Shortest decimal that reads back as the same float. */
static void fmt_float(char *buf, size_t size, float x)
{
    for (int digits = 6; digits <= 9; digits++) {
        snprintf(buf, size, "%.*g", digits, (double)x);
        if (strtof(buf, NULL) == x)
            return;
    }
}

static void fmt_bytes(char *buf, size_t size, uint64_t n)
{
    if (n < 1024)
        snprintf(buf, size, "%llu B", (unsigned long long)n);
    else if (n < 1024 * 1024)
        snprintf(buf, size, "%.1f KiB", (double)n / 1024.0);
    else
        snprintf(buf, size, "%.1f MiB", (double)n / (1024.0 * 1024.0));
}

static void fmt_shape(char *buf, size_t size, const item *it)
{
    size_t used = (size_t)snprintf(buf, size, "[");
    for (uint32_t d = 0; d < it->ndim && d < 4 && used < size; d++)
        used += (size_t)snprintf(buf + used, size - used, "%s%llu", d ? ", " : "",
                                 (unsigned long long)it->dims[d]);
    if (used < size)
        snprintf(buf + used, size - used, "]");
}

static size_t count_kind(const listing *l, int kind, int trainer)
{
    size_t n = 0;
    for (size_t i = 0; i < l->n; i++)
        n += l->items[i].kind == kind && (trainer < 0 || l->items[i].trainer == trainer);
    return n;
}

/* A metadata value on one line: control characters escaped, long values cut. */
static void print_value(FILE *f, const char *v)
{
    size_t len = strlen(v), shown = 0;
    for (const unsigned char *p = (const unsigned char *)v; *p && shown < 160; p++, shown++) {
        if (*p == '\n')
            fputs("\\n", f);
        else if (*p == '\t')
            fputs("\\t", f);
        else if (*p < 0x20 || *p == 0x7f)
            fprintf(f, "\\x%02x", *p);
        else
            fputc(*p, f);
    }
    if (shown < len)
        fprintf(f, "... (%zu bytes)", len);
    fputc('\n', f);
}

static void print_meta(FILE *f, const listing *l, int trainer)
{
    size_t width = 0;
    for (size_t i = 0; i < l->n; i++)
        if (l->items[i].kind == ARNET_ENTRY_META && l->items[i].trainer == trainer &&
            strlen(l->items[i].name) > width)
            width = strlen(l->items[i].name);
    if (width > 32)
        width = 32;
    for (size_t i = 0; i < l->n; i++) {
        const item *it = &l->items[i];
        if (it->kind != ARNET_ENTRY_META || it->trainer != trainer)
            continue;
        fprintf(f, "  %-*s  ", (int)width, it->name);
        print_value(f, it->value);
    }
}

static void print_text(FILE *f, const char *path, const arnet_file_info *info,
                       const listing *l)
{
    char size[32], drop[32];
    fmt_bytes(size, sizeof size, info->file_size);
    fmt_float(drop, sizeof drop, info->dropout);
    fprintf(f, "%s: arnet checkpoint, format %u.%u, %llu bytes (%s)\n", path,
            info->format_major, info->format_minor, (unsigned long long)info->file_size, size);
    fprintf(f, "  model      %u features, %u hidden units, dropout %s (training only)\n",
            info->feature_dim, info->hidden_dim, drop);
    fprintf(f, "  storage    %s%s\n", storage_name(info->storage),
            info->storage == ARNET_STORAGE_F16 ? " (W1 in half precision; vectors f32)"
                                               : " (exact)");
    if (info->has_trainer)
        fprintf(f, "  trainer    yes: can resume training (%zu tensors, %zu settings)\n",
                count_kind(l, ARNET_ENTRY_TENSOR, 1), count_kind(l, ARNET_ENTRY_META, 1));
    else
        fprintf(f, "  trainer    no: model only\n");
    size_t unknown = count_kind(l, ARNET_ENTRY_UNKNOWN, -1);
    fprintf(f, "  sections   %u", info->n_sections);
    if (unknown)
        fprintf(f, " (%zu from a newer format version, skipped)", unknown);
    fprintf(f, "\n\ntensors:\n");
    for (size_t i = 0; i < l->n; i++) {
        const item *it = &l->items[i];
        if (it->kind != ARNET_ENTRY_TENSOR)
            continue;
        char shape[96], bytes[32];
        fmt_shape(shape, sizeof shape, it);
        fmt_bytes(bytes, sizeof bytes, it->stored_bytes);
        fprintf(f, "  %-12s %-14s %s  %10s%s\n", it->name, shape, storage_name(it->storage),
                bytes, it->trainer ? "  (trainer)" : "");
    }
    for (size_t i = 0; i < l->n; i++)
        if (l->items[i].kind == ARNET_ENTRY_UNKNOWN)
            fprintf(f, "  (section of unknown type %u, %llu bytes, skipped)\n",
                    l->items[i].section_type, (unsigned long long)l->items[i].stored_bytes);
    fprintf(f, "\nmetadata:\n");
    if (count_kind(l, ARNET_ENTRY_META, 0) == 0)
        fprintf(f, "  (none)\n");
    print_meta(f, l, 0);
    if (count_kind(l, ARNET_ENTRY_META, 1)) {
        fprintf(f, "\ntrainer state:\n");
        print_meta(f, l, 1);
    }
}

static void json_meta(FILE *f, const listing *l, int trainer)
{
    int first = 1;
    fputc('{', f);
    for (size_t i = 0; i < l->n; i++) {
        const item *it = &l->items[i];
        if (it->kind != ARNET_ENTRY_META || it->trainer != trainer)
            continue;
        fputs(first ? "" : ", ", f);
        first = 0;
        cli_json_string(f, it->name);
        fputs(": ", f);
        cli_json_string(f, it->value);
    }
    fputc('}', f);
}

static void print_json(FILE *f, const char *path, const arnet_file_info *info,
                       const listing *l)
{
    char drop[32];
    fmt_float(drop, sizeof drop, info->dropout);
    fputs("{\"path\": ", f);
    cli_json_string(f, path);
    fprintf(f,
            ", \"format\": \"%u.%u\", \"format_major\": %u, \"format_minor\": %u, "
            "\"file_size\": %llu, \"feature_dim\": %u, \"hidden_dim\": %u, \"dropout\": %s, "
            "\"storage\": \"%s\", \"n_sections\": %u, \"n_tensors\": %u, "
            "\"has_trainer\": %s,\n \"tensors\": [",
            info->format_major, info->format_minor, info->format_major, info->format_minor,
            (unsigned long long)info->file_size, info->feature_dim, info->hidden_dim, drop,
            storage_name(info->storage), info->n_sections, info->n_tensors,
            info->has_trainer ? "true" : "false");
    int first = 1;
    for (size_t i = 0; i < l->n; i++) {
        const item *it = &l->items[i];
        if (it->kind != ARNET_ENTRY_TENSOR)
            continue;
        fputs(first ? "\n  {\"name\": " : ",\n  {\"name\": ", f);
        first = 0;
        cli_json_string(f, it->name);
        fputs(", \"shape\": [", f);
        for (uint32_t d = 0; d < it->ndim && d < 4; d++)
            fprintf(f, "%s%llu", d ? ", " : "", (unsigned long long)it->dims[d]);
        fprintf(f, "], \"storage\": \"%s\", \"stored_bytes\": %llu, \"trainer\": %s}",
                storage_name(it->storage), (unsigned long long)it->stored_bytes,
                it->trainer ? "true" : "false");
    }
    fputs("],\n \"metadata\": ", f);
    json_meta(f, l, 0);
    fputs(",\n \"trainer_state\": ", f);
    json_meta(f, l, 1);
    fputs(",\n \"unknown_sections\": [", f);
    first = 1;
    for (size_t i = 0; i < l->n; i++) {
        const item *it = &l->items[i];
        if (it->kind != ARNET_ENTRY_UNKNOWN)
            continue;
        fprintf(f, "%s{\"type\": %u, \"stored_bytes\": %llu}", first ? "" : ", ",
                it->section_type, (unsigned long long)it->stored_bytes);
        first = 0;
    }
    fputs("]}\n", f);
}

/* The kind of a file that is not an AR-Net model ("extractor", ...): the
 * listing's kind pair, or NULL. */
static const char *other_kind(const listing *l)
{
    for (size_t i = 0; i < l->n; i++) {
        const item *it = &l->items[i];
        if (it->kind == ARNET_ENTRY_META && !it->trainer && it->name &&
            !strcmp(it->name, "kind") && it->section_type == 6 && it->value &&
            strcmp(it->value, "model") != 0)
            return it->value;
    }
    return NULL;
}

/* Files of another kind (an I3D extractor): what the container lists. */
static void print_other(FILE *f, const char *path, const char *kind, const listing *l, int json)
{
    struct stat sb;
    unsigned long long size = stat(path, &sb) == 0 ? (unsigned long long)sb.st_size : 0;
    unsigned long long params = 0;
    size_t n_tensors = count_kind(l, ARNET_ENTRY_TENSOR, -1);
    for (size_t i = 0; i < l->n; i++) {
        const item *it = &l->items[i];
        unsigned long long count = 1;
        for (uint32_t d = 0; d < it->ndim && d < 4; d++)
            count *= it->dims[d];
        if (it->kind == ARNET_ENTRY_TENSOR)
            params += count;
    }
    if (json) {
        fputs("{\"path\": ", f);
        cli_json_string(f, path);
        fputs(", \"kind\": ", f);
        cli_json_string(f, kind);
        fprintf(f, ", \"file_size\": %llu, \"n_tensors\": %zu, \"parameters\": %llu,\n "
                   "\"tensors\": [", size, n_tensors, params);
        int first = 1;
        for (size_t i = 0; i < l->n; i++) {
            const item *it = &l->items[i];
            if (it->kind != ARNET_ENTRY_TENSOR)
                continue;
            fputs(first ? "\n  {\"name\": " : ",\n  {\"name\": ", f);
            first = 0;
            cli_json_string(f, it->name);
            fputs(", \"shape\": [", f);
            for (uint32_t d = 0; d < it->ndim && d < 4; d++)
                fprintf(f, "%s%llu", d ? ", " : "", (unsigned long long)it->dims[d]);
            fprintf(f, "], \"storage\": \"%s\", \"stored_bytes\": %llu}",
                    storage_name(it->storage), (unsigned long long)it->stored_bytes);
        }
        fputs("],\n \"metadata\": ", f);
        json_meta(f, l, 0);
        fputs("}\n", f);
        return;
    }
    char bytes[32];
    fmt_bytes(bytes, sizeof bytes, size);
    fprintf(f, "%s: arnet %s file, %llu bytes (%s)\n", path, kind, size, bytes);
    if (!strcmp(kind, "extractor")) {
        /* The I3D stream: a file before the flow network has no stream key
         * and is RGB (the library reads it so). */
        const char *stream = "rgb";
        for (size_t i = 0; i < l->n; i++)
            if (l->items[i].kind == ARNET_ENTRY_META && !l->items[i].trainer &&
                l->items[i].name && !strcmp(l->items[i].name, "network") && l->items[i].value &&
                !strcmp(l->items[i].value, "inception-i3d-flow"))
                stream = "flow";
        fprintf(f, "  stream     %s (%s)\n", stream,
                strcmp(stream, "flow") ? "Inception-I3D RGB: frames, 3 channels"
                                       : "Inception-I3D flow: TV-L1 flow x, y, 2 channels");
    }
    fprintf(f, "  tensors    %zu, %llu parameters\n\ntensors:\n", n_tensors, params);
    for (size_t i = 0; i < l->n; i++) {
        const item *it = &l->items[i];
        if (it->kind != ARNET_ENTRY_TENSOR)
            continue;
        char shape[96];
        fmt_shape(shape, sizeof shape, it);
        fmt_bytes(bytes, sizeof bytes, it->stored_bytes);
        fprintf(f, "  %-18s %-14s %s  %10s\n", it->name, shape, storage_name(it->storage),
                bytes);
    }
    fprintf(f, "\nmetadata:\n");
    print_meta(f, l, 0);
}

int cmd_info(int argc, char **argv)
{
    const char *path = NULL;
    int json = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            usage(stdout);
            return 0;
        } else if (!strcmp(argv[i], "--json")) {
            json = 1;
        } else if (argv[i][0] == '-' && argv[i][1] != '\0') {
            return cli_usage_error(CMD, "unknown option '%s'", argv[i]);
        } else if (path) {
            return cli_usage_error(CMD, "one MODEL only ('%s' and '%s' given)", path, argv[i]);
        } else {
            path = argv[i];
        }
    }
    if (!path)
        return cli_usage_error(CMD, "MODEL is required");

    arnet_file_info info;
    arnet_file_info_init(&info);
    int rc = arnet_file_info_read(path, &info);
    if (rc == ARNET_E_FORMAT) {
        /* Not a model: maybe a file of another kind, which the listing shows. */
        listing other = {0};
        const char *kind = NULL;
        int shown = 0;
        if (arnet_file_list(path, collect, &other) == ARNET_OK && !other.failed &&
            (kind = other_kind(&other)) != NULL) {
            print_other(stdout, path, kind, &other, json);
            shown = 1;
        }
        listing_free(&other);
        if (shown)
            return 0;
        rc = arnet_file_info_read(path, &info); /* its message again */
    }
    if (rc != ARNET_OK)
        return cli_fail(CMD, rc, path);
    listing l = {0};
    rc = arnet_file_list(path, collect, &l);
    if (l.failed) {
        listing_free(&l);
        fprintf(stderr, "arnet %s: %s: out of memory\n", CMD, path);
        return CLI_EXIT_FAIL;
    }
    if (rc != ARNET_OK) {
        listing_free(&l);
        return cli_fail(CMD, rc, path);
    }
    if (json)
        print_json(stdout, path, &info, &l);
    else
        print_text(stdout, path, &info, &l);
    listing_free(&l);
    if (fflush(stdout) != 0 || ferror(stdout)) {
        fprintf(stderr, "arnet %s: cannot write the output\n", CMD);
        return CLI_EXIT_FAIL;
    }
    return 0;
}
