/* npy.c -- NumPy .npy files: the strict header parser, the one-pass feature
 * and label readers, and the atomic float32 writer. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "internal.h"

void arnet_npy_options_init(arnet_npy_options *opt)
{
    if (!opt)
        return;
    memset(opt, 0, sizeof *opt);
    opt->struct_size = sizeof *opt;
    opt->crop = -1;
}

static int host_is_little(void)
{
    const uint16_t one = 1;
    uint8_t b;
    memcpy(&b, &one, 1);
    return b == 1;
}

/* ---- writer --------------------------------------------------------------- */

static int write_all(int fd, const void *buf, size_t n)
{
    const char *p = buf;
    while (n > 0) {
        ssize_t w = write(fd, p, n > (1u << 30) ? (1u << 30) : n);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

int arnet_npy_write(const char *path, const float *data, const size_t *shape, int ndim)
{
    if (!path || !shape)
        return arnet__error(ARNET_E_INVALID, "arnet_npy_write: %s is NULL",
                            path ? "shape" : "path");
    if (ndim < 1 || ndim > 3)
        return arnet__error(ARNET_E_INVALID, "arnet_npy_write %s: ndim %d not in 1..3", path,
                            ndim);
    size_t count = 1;
    for (int i = 0; i < ndim; i++)
        if (!arnet__mul_size(count, shape[i], &count))
            return arnet__error(ARNET_E_INVALID, "arnet_npy_write %s: shape overflows", path);
    size_t bytes;
    if (!arnet__mul_size(count, sizeof(float), &bytes))
        return arnet__error(ARNET_E_INVALID, "arnet_npy_write %s: shape overflows", path);
    if (count > 0 && !data)
        return arnet__error(ARNET_E_INVALID, "arnet_npy_write %s: data is NULL", path);

    char dict[256];
    int dl;
    if (ndim == 1)
        dl = snprintf(dict, sizeof dict, "{'descr': '<f4', 'fortran_order': False, 'shape': (%zu,), }",
                      shape[0]);
    else if (ndim == 2)
        dl = snprintf(dict, sizeof dict, "{'descr': '<f4', 'fortran_order': False, 'shape': (%zu, %zu), }",
                      shape[0], shape[1]);
    else
        dl = snprintf(dict, sizeof dict,
                      "{'descr': '<f4', 'fortran_order': False, 'shape': (%zu, %zu, %zu), }",
                      shape[0], shape[1], shape[2]);
    /* Version 1.0 (10-byte preamble); pad with spaces and a final newline so
     * the data starts on a 64-byte boundary, as NumPy itself does. */
    char header[320];
    size_t total = ((size_t)10 + (size_t)dl + 1 + 63) / 64 * 64;
    size_t hlen = total - 10;
    memcpy(header, "\x93NUMPY\x01\x00", 8);
    header[8] = (char)(hlen & 0xff);
    header[9] = (char)(hlen >> 8);
    memcpy(header + 10, dict, (size_t)dl);
    memset(header + 10 + dl, ' ', hlen - (size_t)dl - 1);
    header[total - 1] = '\n';

    size_t plen = strlen(path);
    char *tmp = arnet__alloc(plen + 16, 1, "temporary file name");
    if (!tmp)
        return ARNET_E_NOMEM;
    memcpy(tmp, path, plen);
    memcpy(tmp + plen, ".tmp.XXXXXX", 12);
    int fd = mkstemp(tmp);
    if (fd < 0) {
        int e = errno;
        free(tmp);
        return arnet__error(ARNET_E_IO, "%s: cannot create a temporary file beside it: %s",
                            path, strerror(e));
    }
    int rc = ARNET_OK;
    if (write_all(fd, header, total) != 0)
        goto io_fail;
    if (host_is_little()) {
        if (bytes > 0 && write_all(fd, data, bytes) != 0)
            goto io_fail;
    } else {
        /* Swap through a small buffer: the caller's data stays untouched. */
        uint8_t buf[4096];
        size_t done = 0;
        while (done < count) {
            size_t n = count - done < 1024 ? count - done : 1024;
            const uint8_t *src = (const uint8_t *)(data + done);
            for (size_t i = 0; i < n; i++)
                for (int b = 0; b < 4; b++)
                    buf[i * 4 + (size_t)b] = src[i * 4 + 3 - (size_t)b];
            if (write_all(fd, buf, n * 4) != 0)
                goto io_fail;
            done += n;
        }
    }
    if (fsync(fd) != 0)
        goto io_fail;
    if (close(fd) != 0) {
        fd = -1;
        goto io_fail;
    }
    fd = -1;
    if (rename(tmp, path) != 0)
        goto io_fail;
    free(tmp);
    return ARNET_OK;

io_fail:
    rc = arnet__error(ARNET_E_IO, "%s: write failed: %s", path, strerror(errno));
    if (fd >= 0)
        close(fd);
    unlink(tmp);
    free(tmp);
    return rc;
}

/* ---- reader (being written) ---------------------------------------------- */

int arnet_npy_read(const char *path, const arnet_npy_options *opt, float **data,
                   size_t *n_rows, uint32_t *n_cols)
{
    (void)opt;
    (void)data;
    (void)n_rows;
    (void)n_cols;
    return arnet__error(ARNET_E_STATE, "%s: arnet_npy_read is not implemented yet",
                        path ? path : "(null)");
}

int arnet_npy_read_labels(const char *path, uint8_t **labels, size_t *n)
{
    (void)labels;
    (void)n;
    return arnet__error(ARNET_E_STATE, "%s: arnet_npy_read_labels is not implemented yet",
                        path ? path : "(null)");
}
