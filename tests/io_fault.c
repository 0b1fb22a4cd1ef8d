/* io_fault.c -- the system-call shim of the I/O fault tests (io_fault.h).
 * Linked into a test executable that links the static libarnet, the
 * write, pwrite, fsync, close and rename defined here are the ones libarnet
 * calls; they forward to the C library's unless a fault is armed. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "io_fault.h"

const char *const op_names[N_OPS] = {"write", "fsync", "close", "rename"};
const char *const kind_names[] = {"ENOSPC", "EIO", "a short write then ENOSPC",
                                   "a short write", "EINTR (a signal before any byte)"};

static ssize_t (*real_write)(int, const void *, size_t);
static ssize_t (*real_pwrite)(int, const void *, size_t, off_t);
static int (*real_fsync)(int);
static int (*real_close)(int);
static int (*real_rename)(const char *, const char *);

static int armed;
static int fault_op, fault_kind;
static long fault_at;
static long calls[N_OPS];
static int hit, enospc_next;
int hit_on_folder;

static void resolve(void)
{
    if (real_write)
        return;
    real_write = (ssize_t(*)(int, const void *, size_t))dlsym(RTLD_NEXT, "write");
    real_pwrite = (ssize_t(*)(int, const void *, size_t, off_t))dlsym(RTLD_NEXT, "pwrite");
    real_fsync = (int (*)(int))dlsym(RTLD_NEXT, "fsync");
    real_close = (int (*)(int))dlsym(RTLD_NEXT, "close");
    real_rename = (int (*)(const char *, const char *))dlsym(RTLD_NEXT, "rename");
}

void arm(int op, long at, int kind)
{
    resolve();
    memset(calls, 0, sizeof calls);
    fault_op = op;
    fault_at = at;
    fault_kind = kind;
    hit = hit_on_folder = enospc_next = 0;
    armed = 1;
}

int disarm(void)
{
    armed = 0;
    return hit;
}

static int is_folder(int fd)
{
    struct stat st;
    return fd >= 0 && fstat(fd, &st) == 0 && S_ISDIR(st.st_mode);
}

/* Whether this call is the one to fail. */
static int strike(int op, int fd)
{
    if (!armed)
        return 0;
    if (calls[op]++ != fault_at || op != fault_op)
        return 0;
    hit = 1;
    hit_on_folder = is_folder(fd);
    return 1;
}

static ssize_t faulty_write(int fd, const void *buf, size_t n, off_t off, int positioned)
{
    if (armed && fault_op == OP_WRITE && enospc_next) {
        enospc_next = 0;
        errno = ENOSPC;
        return -1;
    }
    if (strike(OP_WRITE, fd)) {
        if (fault_kind == K_EINTR) {
            errno = EINTR;
            return -1;
        }
        if (fault_kind == K_ENOSPC || fault_kind == K_EIO || n < 2) {
            errno = fault_kind == K_EIO ? EIO : ENOSPC;
            return -1;
        }
        /* Half of it goes through. */
        n /= 2;
        enospc_next = fault_kind == K_SHORT_THEN_ENOSPC;
    }
    return positioned ? real_pwrite(fd, buf, n, off) : real_write(fd, buf, n);
}

ssize_t write(int fd, const void *buf, size_t n)
{
    resolve();
    return faulty_write(fd, buf, n, 0, 0);
}

ssize_t pwrite(int fd, const void *buf, size_t n, off_t off)
{
    resolve();
    return faulty_write(fd, buf, n, off, 1);
}

int fsync(int fd)
{
    resolve();
    if (strike(OP_FSYNC, fd)) {
        errno = fault_kind == K_EIO ? EIO : ENOSPC;
        return -1;
    }
    return real_fsync(fd);
}

int close(int fd)
{
    resolve();
    if (strike(OP_CLOSE, fd)) {
        /* Linux releases the descriptor even when close reports an error. */
        real_close(fd);
        errno = fault_kind == K_EIO ? EIO : ENOSPC;
        return -1;
    }
    return real_close(fd);
}

int rename(const char *from, const char *to)
{
    resolve();
    if (strike(OP_RENAME, -1)) {
        errno = fault_kind == K_EIO ? EIO : ENOSPC;
        return -1;
    }
    return real_rename(from, to);
}

