/* torchfile.h -- reading files written by torch.save (internal): a state
 * dict of tensors, from the zip format (torch >= 1.6) or the legacy format,
 * through a restricted unpickler that knows the handful of opcodes and
 * globals a state dict needs and never executes anything. */
#ifndef ARNET_TORCHFILE_H
#define ARNET_TORCHFILE_H

#include <stddef.h>
#include <stdint.h>

#define ARNET__TORCH_MAX_NDIM 8
/* Entries of a state dict (and storages, zip entries): far above what a
 * network needs (I3D has 285), low enough that a hostile file is refused
 * within milliseconds and a few MB. */
#define ARNET__TORCH_MAX_TENSORS 2048u

/* One tensor of the state dict.  Floating tensors (float32, float64,
 * float16, bfloat16) are converted to float32, contiguous (row-major) in
 * data; others (num_batches_tracked is int64) keep data NULL. */
typedef struct arnet__torch_tensor {
    char *name;        /* the key, with any "module." prefix removed */
    const char *dtype; /* "float32", "float64", "float16", "bfloat16", "int64", ... */
    int is_float;
    uint32_t ndim;
    uint64_t shape[ARNET__TORCH_MAX_NDIM];
    uint64_t numel;
    float *data; /* numel floats, or NULL */
    int shared;  /* data belongs to an earlier entry: the same tensor under two names */
} arnet__torch_tensor;

typedef struct arnet__torch_file {
    arnet__torch_tensor *tensors; /* in the dict's order */
    size_t n_tensors;
    int zip;             /* 1: zip format, 0: legacy */
    int module_prefix;   /* 1 when the keys had a "module." prefix */
} arnet__torch_file;

/* Read the file at path.  ARNET_E_IO when it cannot be read, ARNET_E_FORMAT
 * naming the file and the problem (an opcode and its offset, a forbidden
 * global, a size past the end, ...) otherwise.  On error *out is empty. */
int arnet__torch_read(const char *path, arnet__torch_file *out);
/* The same from memory (name is used in messages). */
int arnet__torch_read_buffer(const uint8_t *data, size_t size, const char *name,
                             arnet__torch_file *out);
void arnet__torch_free(arnet__torch_file *f);
/* The tensor called name, or NULL. */
const arnet__torch_tensor *arnet__torch_find(const arnet__torch_file *f, const char *name);

#endif /* ARNET_TORCHFILE_H */
