/* fileio.c -- files in and out, one way each: every output is replaced
 * atomically (one temporary-name scheme, one fsync rule, the user's umask),
 * every input path is opened through one check that it is a regular file. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#include "internal.h"

#ifndef O_CLOEXEC
#define O_CLOEXEC 0
#endif
#ifndef O_DIRECTORY
#define O_DIRECTORY 0
#endif
#ifndef O_NOCTTY
#define O_NOCTTY 0
#endif

/* ---- names ------------------------------------------------------------------ */

/* The folder holding path ("." for a bare name): [transferred]. */
static char *dir_of(const char *path)
{
    const char *slash = strrchr(path, '/');
    if (!slash)
        return arnet__strdup(".");
    if (slash == path)
        return arnet__strdup("/");
    size_t n = (size_t)(slash - path);
    char *d = arnet__alloc(n + 1, 1, "folder name");
    if (d) {
        memcpy(d, path, n);
        d[n] = '\0';
    }
    return d;
}

/* This machine's name as it goes into temporary file names: gethostname's,
 * with anything but letters, digits, '-' and '_' as '_' (a dot would make
 * the name ambiguous, a '/' a path), at most 63 characters; "localhost"
 * when it has none.  n >= 64. */
static void host_tag(char *buf, size_t n)
{
    char h[256];
    if (gethostname(h, sizeof h) != 0)
        h[0] = '\0';
    h[sizeof h - 1] = '\0';
    size_t k = 0;
    for (const char *p = h; *p && k < 63 && k + 1 < n; p++) {
        char c = *p;
        int plain = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '-' || c == '_';
        buf[k++] = plain ? c : '_';
    }
    if (k == 0)
        k = (size_t)snprintf(buf, n, "localhost");
    buf[k] = '\0';
}

/* When name is "<base>.tmp.<host>.<pid>.<n>" (host as host_tag writes it,
 * decimal pid and n, nothing after), its pid, with the host's tag at
 * *host (host_len bytes), else 0. */
static pid_t temp_owner(const char *name, const char *base, size_t base_len, const char **host,
                        size_t *host_len)
{
    if (strncmp(name, base, base_len) != 0 || strncmp(name + base_len, ".tmp.", 5) != 0)
        return 0;
    const char *h = name + base_len + 5, *p = h;
    while ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
           *p == '-' || *p == '_')
        p++;
    if (p == h || *p != '.')
        return 0;
    *host = h;
    *host_len = (size_t)(p - h);
    p++;
    long long pid = 0;
    const char *digits = p;
    while (*p >= '0' && *p <= '9' && p - digits < 12)
        pid = pid * 10 + (*p++ - '0');
    if (p == digits || *p != '.' || pid <= 0 || (long long)(pid_t)pid != pid)
        return 0;
    const char *n = ++p;
    while (*p >= '0' && *p <= '9')
        p++;
    return p == n || *p ? 0 : (pid_t)pid;
}

/* Remove "<path>.tmp.<host>.<pid>.<n>" files that are provably stale: made
 * on this machine (its host name in the temporary's) by a process that no
 * longer exists, a writer killed between creating its temporary and
 * renaming it.  On a file system shared by several machines a process id
 * says nothing about another machine's processes, so another host's
 * temporary is never touched (nor one named without a host, as before
 * 0.3); nor is a live process's, nor anything when the folder cannot be
 * read (best effort: the write goes on). */
static void remove_stale_temps(const char *path, const char *dir)
{
    const char *slash = strrchr(path, '/');
    const char *base = slash ? slash + 1 : path;
    size_t base_len = strlen(base);
    int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    DIR *d = dfd >= 0 ? fdopendir(dfd) : NULL;
    if (!d) {
        if (dfd >= 0)
            close(dfd);
        return;
    }
    char me[64];
    host_tag(me, sizeof me);
    size_t me_len = strlen(me);
    pid_t self = getpid();
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        const char *host = NULL;
        size_t host_len = 0;
        pid_t pid = temp_owner(e->d_name, base, base_len, &host, &host_len);
        if (pid <= 0 || pid == self || host_len != me_len || memcmp(host, me, me_len) != 0)
            continue;
        if (kill(pid, 0) == 0 || errno != ESRCH)
            continue; /* alive (or not ours to signal: alive too) */
        /* Only a regular file is a temporary of ours. */
        struct stat st;
        if (fstatat(dfd, e->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISREG(st.st_mode))
            (void)unlinkat(dfd, e->d_name, 0);
    }
    closedir(d);
}

/* ---- writing ---------------------------------------------------------------- */

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

static void wfile_release(arnet__wfile *f)
{
    free(f->path);
    free(f->tmp);
    free(f->dir);
    f->path = f->tmp = f->dir = NULL;
    f->fd = -1;
}

void arnet__wfile_abort(arnet__wfile *f)
{
    if (!f || !f->tmp)
        return;
    if (f->fd >= 0)
        close(f->fd);
    unlink(f->tmp);
    wfile_release(f);
}

/* Abort with ARNET_E_IO "<path>: <step> failed: <errno text> (the file was
 * left unchanged)", errno taken before the clean-up can change it. */
static int wfile_fail(arnet__wfile *f, const char *step)
{
    int e = errno ? errno : EIO;
    int rc = arnet__error_os(e, "%s: %s failed: %s (the file was left unchanged)",
                             f->path, step, strerror(e));
    arnet__wfile_abort(f);
    return rc;
}

static const char *file_type(mode_t m)
{
    return S_ISDIR(m)    ? "a directory"
           : S_ISFIFO(m) ? "a pipe (FIFO)"
           : S_ISCHR(m)  ? "a character device"
           : S_ISBLK(m)  ? "a block device"
           : S_ISSOCK(m) ? "a socket"
                         : "not a regular file";
}

int arnet__wfile_open(arnet__wfile *f, const char *path)
{
    static unsigned counter;
    f->fd = -1;
    f->path = f->tmp = f->dir = NULL;
    if (!path || !*path)
        return arnet__error(ARNET_E_INVALID, "atomic write: empty path");
    size_t plen = strlen(path);
    if (path[plen - 1] == '/')
        return arnet__error(ARNET_E_INVALID, "%s: names a folder, not a file", path);
    /* The rename at commit replaces whatever has the name: a device, a
     * FIFO or a socket there (/dev/null, as root) would be lost. */
    struct stat st;
    if (stat(path, &st) == 0 && !S_ISREG(st.st_mode))
        return S_ISDIR(st.st_mode)
                   ? arnet__error_os(EISDIR, "%s: a directory, not replaced by a file", path)
                   : arnet__error(ARNET_E_IO, "%s: %s, not replaced by a file", path,
                                  file_type(st.st_mode));
    f->path = arnet__strdup(path);
    f->tmp = arnet__alloc(plen + 112, 1, "temporary file name");
    /* The folder's name now, so that commit allocates nothing after the
     * rename and always syncs the folder. */
    f->dir = dir_of(path);
    if (!f->path || !f->tmp || !f->dir) {
        wfile_release(f);
        return ARNET_E_NOMEM;
    }
    remove_stale_temps(path, f->dir);
    char host[64];
    host_tag(host, sizeof host);
    for (int attempt = 0; attempt < 100 && f->fd < 0; attempt++) {
        unsigned k = __atomic_fetch_add(&counter, 1, __ATOMIC_RELAXED);
        snprintf(f->tmp, plen + 112, "%s.tmp.%s.%ld.%u", path, host, (long)getpid(), k);
        /* 0666: the umask decides, as for any new file (mkstemp gives 0600). */
        f->fd = open(f->tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOCTTY, 0666);
        if (f->fd < 0 && errno != EEXIST)
            break;
    }
    if (f->fd < 0) {
        int e = errno;
        int rc = arnet__error_os(e, "%s: cannot create a temporary file beside it: %s",
                                 path, strerror(e));
        wfile_release(f);
        return rc;
    }
    return ARNET_OK;
}

int arnet__wfile_write(arnet__wfile *f, const void *data, size_t size)
{
    if (!f->tmp)
        return arnet__error(ARNET_E_STATE, "atomic write: the file is no longer open");
    errno = 0;
    if (size > 0 && write_all(f->fd, data, size) != 0)
        return wfile_fail(f, "write");
    return ARNET_OK;
}

int arnet__wfile_commit(arnet__wfile *f)
{
    if (!f->tmp)
        return arnet__error(ARNET_E_STATE, "atomic write: the file is no longer open");
    errno = 0;
    if (fsync(f->fd) != 0)
        return wfile_fail(f, "fsync");
    int cr = close(f->fd);
    f->fd = -1;
    if (cr != 0)
        return wfile_fail(f, "close");
    if (rename(f->tmp, f->path) != 0)
        return wfile_fail(f, "rename");
    /* Make the rename itself durable; failing here loses nothing written. */
    int dfd = open(f->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) {
        (void)fsync(dfd);
        close(dfd);
    }
    wfile_release(f);
    return ARNET_OK;
}

int arnet__atomic_write(const char *path, const void *data, size_t size)
{
    arnet__wfile f;
    int rc = arnet__wfile_open(&f, path);
    if (!rc)
        rc = arnet__wfile_write(&f, data, size);
    if (!rc)
        rc = arnet__wfile_commit(&f);
    return rc;
}

int arnet_write_file(const char *path, const void *data, size_t size)
{
    if (!path || (size > 0 && !data))
        return arnet__error(ARNET_E_INVALID, "arnet_write_file: %s is NULL",
                            !path ? "path" : "data");
    return arnet__atomic_write(path, data, size);
}

/* ---- reading ---------------------------------------------------------------- */


int arnet__open_read(const char *path, int *fd_out, uint64_t *size)
{
    *fd_out = -1;
    if (!path)
        return arnet__error(ARNET_E_INVALID, "open: path is NULL");
    /* O_NONBLOCK: opening a FIFO for reading would otherwise wait for a
     * writer forever; fstat then tells what the path is. */
    int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
    if (fd < 0) {
        int e = errno;
        return arnet__error_os(e, "%s: cannot open: %s", path, strerror(e));
    }
    struct stat st;
    if (fstat(fd, &st) != 0) {
        int e = errno;
        close(fd);
        return arnet__error_os(e, "%s: cannot stat: %s", path, strerror(e));
    }
    if (S_ISDIR(st.st_mode)) {
        /* What read() would have said: a folder where a file was expected. */
        close(fd);
        return arnet__error_os(EISDIR, "%s: a directory, not a regular file", path);
    }
    if (!S_ISREG(st.st_mode)) {
        close(fd);
        return arnet__error(ARNET_E_IO, "%s: %s, not a regular file", path,
                            file_type(st.st_mode));
    }
    int fl = fcntl(fd, F_GETFL);
    if (fl < 0 || fcntl(fd, F_SETFL, fl & ~O_NONBLOCK) != 0) {
        int e = errno;
        close(fd);
        return arnet__error_os(e, "%s: cannot open: %s", path, strerror(e));
    }
    *fd_out = fd;
    if (size)
        *size = (uint64_t)st.st_size;
    return ARNET_OK;
}

int arnet__fopen_read(const char *path, FILE **fp_out, uint64_t *size)
{
    int fd;
    *fp_out = NULL;
    int rc = arnet__open_read(path, &fd, size);
    if (rc)
        return rc;
    FILE *fp = fdopen(fd, "rb");
    if (!fp) {
        /* fdopen fails only for want of memory for the stream. */
        int e = errno;
        close(fd);
        return arnet__error(e == ENOMEM ? ARNET_E_NOMEM : ARNET_E_IO, "%s: cannot open: %s",
                            path, strerror(e));
    }
    *fp_out = fp;
    return ARNET_OK;
}

/* The whole file in memory (its real size: a header cannot inflate it). */
int arnet__read_file(const char *path, uint8_t **out, size_t *size)
{
    int fd;
    uint64_t fsize;
    int rc = arnet__open_read(path, &fd, &fsize);
    if (rc)
        return rc;
    if (fsize > SIZE_MAX - 1) {
        close(fd);
        return arnet__error(ARNET_E_NOMEM, "%s: too large to read", path);
    }
    size_t n = (size_t)fsize;
    uint8_t *buf = arnet__alloc(n + 1, 1, "file contents");
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
            return arnet__error_os(e, "%s: read failed: %s", path, strerror(e));
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
