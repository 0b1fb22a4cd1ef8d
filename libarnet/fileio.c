/* fileio.c -- files in and out: the atomic writer every output goes
 * through, and whole-file reads of regular files. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "internal.h"

#ifndef O_CLOEXEC
#define O_CLOEXEC 0
#endif
#ifndef O_DIRECTORY
#define O_DIRECTORY 0
#endif

static int write_all(int fd, const uint8_t *p, size_t n)
{
    while (n > 0) {
        ssize_t k = write(fd, p, n > (1u << 30) ? (1u << 30) : n);
        if (k < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        p += k;
        n -= (size_t)k;
    }
    return 0;
}

/* Write data to path atomically: a new file beside it (created with the
 * caller's umask, unlike mkstemp's 0600), fsync, rename, fsync the folder. */
int arnet__atomic_write(const char *path, const void *data, size_t size)
{
    static unsigned counter;
    size_t plen = strlen(path);
    char *tmp = arnet__alloc(plen + 48, 1, "temporary file name");
    if (!tmp)
        return ARNET_E_NOMEM;
    int fd = -1;
    for (int attempt = 0; attempt < 100 && fd < 0; attempt++) {
        unsigned k = __atomic_fetch_add(&counter, 1, __ATOMIC_RELAXED);
        snprintf(tmp, plen + 48, "%s.tmp.%ld.%u", path, (long)getpid(), k);
        fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
        if (fd < 0 && errno != EEXIST)
            break;
    }
    if (fd < 0) {
        int e = errno;
        free(tmp);
        return arnet__error(ARNET_E_IO, "%s: cannot create a temporary file beside it: %s",
                            path, strerror(e));
    }
    const char *step = "write";
    if (write_all(fd, data, size) != 0)
        goto fail;
    step = "fsync";
    if (fsync(fd) != 0)
        goto fail;
    step = "close";
    int cr = close(fd);
    fd = -1;
    if (cr != 0)
        goto fail;
    step = "rename";
    if (rename(tmp, path) != 0)
        goto fail;
    free(tmp);
    /* Make the rename itself durable; failing here loses nothing written. */
    char *dir = arnet__strdup(path);
    if (dir) {
        char *slash = strrchr(dir, '/');
        const char *d = slash ? (slash == dir ? "/" : (*slash = '\0', dir)) : ".";
        int dfd = open(d, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dfd >= 0) {
            (void)fsync(dfd);
            close(dfd);
        }
        free(dir);
    }
    return ARNET_OK;
fail: {
    int e = errno;
    if (fd >= 0)
        close(fd);
    unlink(tmp);
    free(tmp);
    return arnet__error(ARNET_E_IO, "%s: %s failed: %s (the file was left unchanged)", path,
                        step, strerror(e));
}
}

/* The whole file in memory (its real size: a header cannot inflate it). */
int arnet__read_file(const char *path, uint8_t **out, size_t *size)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return arnet__error(ARNET_E_IO, "%s: cannot open: %s", path, strerror(errno));
    struct stat sb;
    if (fstat(fd, &sb) != 0) {
        int e = errno;
        close(fd);
        return arnet__error(ARNET_E_IO, "%s: cannot stat: %s", path, strerror(e));
    }
    if (!S_ISREG(sb.st_mode)) {
        close(fd);
        return arnet__error(ARNET_E_IO, "%s: not a regular file", path);
    }
    if ((uint64_t)sb.st_size > SIZE_MAX - 1) {
        close(fd);
        return arnet__error(ARNET_E_NOMEM, "%s: too large to read", path);
    }
    size_t n = (size_t)sb.st_size;
    uint8_t *buf = arnet__alloc(n + 1, 1, "checkpoint file");
    if (!buf) {
        close(fd);
        arnet__error_prefix("%s", path);
        return ARNET_E_NOMEM;
    }
    size_t got = 0;
    /* Read one byte more than expected: a file that grew is noticed. */
    while (got < n + 1) {
        ssize_t k = read(fd, buf + got, n + 1 - got > (1u << 30) ? (1u << 30) : n + 1 - got);
        if (k < 0) {
            if (errno == EINTR)
                continue;
            int e = errno;
            free(buf);
            close(fd);
            return arnet__error(ARNET_E_IO, "%s: read failed: %s", path, strerror(e));
        }
        if (k == 0)
            break;
        got += (size_t)k;
    }
    close(fd);
    if (got != n) {
        free(buf);
        return arnet__error(ARNET_E_IO, "%s: the file changed size while being read", path);
    }
    *out = buf;
    *size = n;
    return ARNET_OK;
}
