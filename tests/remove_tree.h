/* remove_tree.h -- rm -rf in C for the fault-injection tests
 * (test_alloc_fail.c, test_io_fail.c), which cannot run `rm` through
 * system(): their interposed allocator and I/O calls would count or fail
 * the shell's own work. */
#ifndef ARNET_TEST_REMOVE_TREE_H
#define ARNET_TEST_REMOVE_TREE_H

#include <dirent.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Remove path and everything below it (symbolic links themselves, never
 * what they point to); errors are ignored: it only cleans up. */
static void remove_tree(const char *path)
{
    DIR *d = opendir(path);
    if (!d)
        return;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
            continue;
        char p[512];
        snprintf(p, sizeof p, "%s/%s", path, e->d_name);
        struct stat st;
        if (lstat(p, &st) == 0 && S_ISDIR(st.st_mode))
            remove_tree(p);
        else
            unlink(p);
    }
    closedir(d);
    rmdir(path);
}

#endif
