/* slow_fsync.c -- LD_PRELOAD shim for tests/crash/check_crash.sh: every
 * fsync of a regular file first sleeps SLOW_FSYNC_US microseconds (default
 * 20000), so that a save spends most of its time between creating its
 * temporary and renaming it, and a SIGKILL at a random moment often lands
 * mid-save.  Folders are synced at full speed. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

int fsync(int fd)
{
    static int (*real)(int);
    if (!real)
        real = (int (*)(int))dlsym(RTLD_NEXT, "fsync");
    struct stat st;
    if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode)) {
        const char *e = getenv("SLOW_FSYNC_US");
        long us = e ? atol(e) : 30000;
        struct timespec ts = {us / 1000000, (us % 1000000) * 1000};
        nanosleep(&ts, NULL);
    }
    return real(fd);
}
