/* slow_io.c -- LD_PRELOAD shim for tests/crash/check_crash.sh: every write
 * to and every fsync of a regular file first sleeps SLOW_IO_US microseconds
 * (default 25000), so that a save spends much of its time between creating
 * its file and completing it, and a SIGKILL at a random moment often lands
 * mid-save: after the file is created but before its bytes are written,
 * and between the write and the rename.  Other files (the terminal, pipes,
 * /dev/null) and folders go at full speed. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static void pause_if_file(int fd)
{
    struct stat st;
    if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode)) {
        const char *e = getenv("SLOW_IO_US");
        long us = e ? atol(e) : 25000;
        struct timespec ts = {us / 1000000, (us % 1000000) * 1000};
        nanosleep(&ts, NULL);
    }
}

int fsync(int fd)
{
    static int (*real)(int);
    if (!real)
        real = (int (*)(int))dlsym(RTLD_NEXT, "fsync");
    pause_if_file(fd);
    return real(fd);
}

ssize_t write(int fd, const void *buf, size_t n)
{
    static ssize_t (*real)(int, const void *, size_t);
    if (!real)
        real = (ssize_t(*)(int, const void *, size_t))dlsym(RTLD_NEXT, "write");
    pause_if_file(fd);
    return real(fd, buf, n);
}
