/* fuzz_torchfile.c -- libFuzzer target: the restricted torch.save reader
 * (libarnet/video/torchfile.c: zip and legacy containers, the small unpickler),
 * which reads PyTorch weight files users download.
 *
 * The input is a whole file, read from memory (arnet__torch_read_buffer)
 * and, written to a scratch file, from disk (arnet__torch_read).  Checked
 * beyond "no crash": every failure has a message, both readers agree, and
 * a file that reads gives tensors whose shapes multiply to their element
 * count, whose float data is all there (read to the end, under ASan), and
 * which arnet__torch_find finds by name.  Seeds: gen_torch_corpus.py
 * (PyTorch itself, both formats, several dtypes, views, shared storage,
 * pickle protocol 4, and small amplification shapes: many entries, aliases,
 * a repeated view, a deflate bomb). */
#include "fuzz_common.h"
#include "torchfile.h"

static void check_file(const arnet__torch_file *f)
{
    for (size_t i = 0; i < f->n_tensors; i++) {
        const arnet__torch_tensor *t = &f->tensors[i];
        FUZZ_CHECK(t->name != NULL && t->dtype != NULL, "tensor %zu", i);
        FUZZ_CHECK(t->ndim <= ARNET__TORCH_MAX_NDIM, "tensor %s: ndim %u", t->name,
                   (unsigned)t->ndim);
        uint64_t n = 1;
        for (uint32_t d = 0; d < t->ndim; d++)
            n *= t->shape[d];
        FUZZ_CHECK(n == t->numel, "tensor %s: shape gives %llu elements, numel %llu", t->name,
                   (unsigned long long)n, (unsigned long long)t->numel);
        FUZZ_CHECK(!t->is_float || t->numel == 0 || t->data != NULL, "tensor %s: no data",
                   t->name);
        FUZZ_CHECK(!t->shared || t->data != NULL, "tensor %s: shared without data", t->name);
        if (t->data && !t->shared) { /* a shared one was read under its first name */
            volatile float sum = 0;
            for (uint64_t k = 0; k < t->numel; k++)
                sum += t->data[k];
            (void)sum;
        }
        FUZZ_CHECK(arnet__torch_find(f, t->name) != NULL, "tensor %s not found by name", t->name);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static char path[300];
    if (!path[0])
        fuzz_path(path, sizeof path, "input.pt");

    arnet__torch_file f;
    memset(&f, 0, sizeof f);
    arnet_clear_error();
    int rc = arnet__torch_read_buffer(data, size, "fuzz input", &f);
    FUZZ_CHECK_MESSAGE(rc);
    if (rc == ARNET_OK)
        check_file(&f);
    else
        FUZZ_CHECK(f.n_tensors == 0 && f.tensors == NULL, "a failed read left %zu tensors",
                   f.n_tensors);
    arnet__torch_free(&f);

    fuzz_write(path, data, size);
    memset(&f, 0, sizeof f);
    int rc_file = arnet__torch_read(path, &f);
    FUZZ_CHECK_MESSAGE(rc_file);
    FUZZ_CHECK(rc_file == rc, "the file reader says %d, the buffer reader said %d", rc_file, rc);
    arnet__torch_free(&f);
    return 0;
}
