/* output.c -- the arnet program never replaces a user's file by surprise:
 * an output that exists needs --force, an output that is one of the
 * command's inputs is refused even with --force, and a lock keeps two
 * arnet processes from writing one output at once. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"

static char *dup_n(const char *s, size_t n)
{
    char *d = malloc(n + 1);
    if (d) {
        memcpy(d, s, n);
        d[n] = '\0';
    }
    return d;
}

char *cli_abs_path(const char *p)
{
    char *r = realpath(p, NULL);
    if (r || !*p)
        return r;
    size_t n = strlen(p);
    while (n > 1 && p[n - 1] == '/')
        n--;
    const char *slash = NULL;
    for (size_t i = n; i-- > 0;)
        if (p[i] == '/') {
            slash = p + i;
            break;
        }
    char *parent = !slash ? dup_n(".", 1) : slash == p ? dup_n("/", 1) : dup_n(p, (size_t)(slash - p));
    const char *base = slash ? slash + 1 : p;
    size_t blen = n - (size_t)(base - p);
    char *rp = parent ? cli_abs_path(parent) : NULL;
    free(parent);
    if (!rp)
        return NULL;
    size_t rl = strlen(rp);
    char *out = malloc(rl + blen + 2);
    if (out) {
        memcpy(out, rp, rl);
        size_t o = rl;
        if (o == 0 || out[o - 1] != '/')
            out[o++] = '/';
        memcpy(out + o, base, blen);
        out[o + blen] = '\0';
    }
    free(rp);
    return out;
}

int cli_same_file(const char *a, const char *b)
{
    struct stat sa, sb;
    if (stat(a, &sa) == 0 && stat(b, &sb) == 0)
        return sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
    /* One does not exist (yet): the same name once resolved is the same
     * file to be. */
    char *ra = cli_abs_path(a), *rb = cli_abs_path(b);
    int same = ra && rb && !strcmp(ra, rb);
    free(ra);
    free(rb);
    return same;
}

void cli_output_init(cli_output *o, const char *option, const char *path, int is_dir)
{
    memset(o, 0, sizeof *o);
    o->option = option;
    o->path = path;
    o->is_dir = is_dir;
    o->lock_fd = -1;
}

int cli_output_not_input(const char *cmd, const cli_output *o, const char *what,
                         const char *input)
{
    if (!input || !cli_same_file(o->path, input))
        return 0;
    fprintf(stderr, "arnet %s: %s %s is an input of this command (%s%s%s); --force does "
                    "not change that: write the output elsewhere\n", cmd, o->option, o->path,
            what, strcmp(o->path, input) ? " " : "", strcmp(o->path, input) ? input : "");
    return CLI_EXIT_USAGE;
}

int cli_output_not_in_dataset(const char *cmd, const cli_output *o, const char *list_option,
                              const char *list, const arnet_dataset *ds)
{
    char what[64];
    snprintf(what, sizeof what, "the manifest %s", list_option);
    int rc = cli_output_not_input(cmd, o, what, list);
    char *what_long = NULL;
    if (rc || !ds)
        return rc;
    /* Feature paths are relative to the manifest's folder. */
    const char *slash = strrchr(list, '/');
    size_t dlen = slash ? (size_t)(slash - list) + 1 : 0;
    size_t wl = strlen(list_option) + strlen(list) + 32;
    if (!(what_long = malloc(wl))) {
        fprintf(stderr, "arnet %s: out of memory\n", cmd);
        return CLI_EXIT_FAIL;
    }
    snprintf(what_long, wl, "a feature file listed in %s %s", list_option, list);
    for (size_t i = 0, n = arnet_dataset_size(ds); i < n; i++) {
        arnet_video_info v;
        arnet_video_info_init(&v);
        if (arnet_dataset_video(ds, i, &v) != ARNET_OK || !v.name)
            continue;
        char *path = NULL;
        if (v.name[0] == '/' || !dlen) {
            path = strdup(v.name);
        } else if ((path = malloc(dlen + strlen(v.name) + 1))) {
            memcpy(path, list, dlen);
            strcpy(path + dlen, v.name);
        }
        if (!path) {
            fprintf(stderr, "arnet %s: out of memory\n", cmd);
            rc = CLI_EXIT_FAIL;
            break;
        }
        rc = cli_output_not_input(cmd, o, what_long, path);
        free(path);
        if (rc)
            break;
    }
    free(what_long);
    return rc;
}

int cli_output_absent(const char *cmd, const cli_output *o, const char *file, int force,
                      const char *resume_hint)
{
    const char *path = file ? file : o->path;
    struct stat st;
    if (force || lstat(path, &st) != 0)
        return 0;
    if (file)
        fprintf(stderr, "arnet %s: %s %s already holds %s: add --force to replace it\n", cmd,
                o->option, o->path, path);
    else if (resume_hint)
        fprintf(stderr, "arnet %s: %s %s already exists: add --force to replace it, or "
                        "%s %s to continue its run\n", cmd, o->option, path, resume_hint, path);
    else
        fprintf(stderr, "arnet %s: %s %s already exists: add --force to replace it\n", cmd,
                o->option, path);
    return CLI_EXIT_USAGE;
}

/* The pid a lock file records, for the message; 0 when unknown. */
static long lock_owner(const char *lock_path)
{
    char buf[32] = {0};
    int fd = open(lock_path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return 0;
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    return n > 0 ? strtol(buf, NULL, 10) : 0;
}

static int in_use(const char *cmd, const cli_output *o, long pid)
{
    if (pid > 0)
        fprintf(stderr, "arnet %s: %s %s is in use: another arnet (process %ld) is writing "
                        "it; wait for it to finish or write elsewhere\n", cmd, o->option,
                o->path, pid);
    else
        fprintf(stderr, "arnet %s: %s %s is in use: another arnet is writing it; wait for "
                        "it to finish or write elsewhere\n", cmd, o->option, o->path);
    return CLI_EXIT_FAIL;
}

int cli_output_lock(const char *cmd, cli_output *o)
{
    if (o->is_dir) {
        /* A folder locks itself: nothing is added to it. */
        int fd = open(o->path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0) {
            fprintf(stderr, "arnet %s: cannot open folder %s: %s\n", cmd, o->path,
                    strerror(errno));
            return CLI_EXIT_FAIL;
        }
        if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
            int e = errno;
            close(fd);
            if (e == EWOULDBLOCK)
                return in_use(cmd, o, 0);
            fprintf(stderr, "arnet %s: cannot lock folder %s: %s\n", cmd, o->path, strerror(e));
            return CLI_EXIT_FAIL;
        }
        o->lock_fd = fd;
        return 0;
    }
    /* A file is replaced by rename, so the lock is a file beside it,
     * <path>.lock, removed when done (a killed process leaves it behind
     * unlocked: the next run takes it over). */
    size_t n = strlen(o->path);
    if (!(o->lock_path = malloc(n + 6))) {
        fprintf(stderr, "arnet %s: out of memory\n", cmd);
        return CLI_EXIT_FAIL;
    }
    memcpy(o->lock_path, o->path, n);
    memcpy(o->lock_path + n, ".lock", 6);
    for (int attempt = 0; attempt < 100; attempt++) {
        int fd = open(o->lock_path, O_RDWR | O_CREAT | O_CLOEXEC, 0666);
        if (fd < 0) {
            fprintf(stderr, "arnet %s: cannot create the lock file %s: %s\n", cmd,
                    o->lock_path, strerror(errno));
            break;
        }
        if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
            int e = errno;
            close(fd);
            if (e == EWOULDBLOCK) {
                int rc = in_use(cmd, o, lock_owner(o->lock_path));
                free(o->lock_path);
                o->lock_path = NULL;
                return rc;
            }
            fprintf(stderr, "arnet %s: cannot lock %s: %s\n", cmd, o->lock_path, strerror(e));
            break;
        }
        /* The holder before us may have removed the file between our open
         * and our lock: then we hold a lock on a name nobody sees. */
        struct stat a, b;
        if (fstat(fd, &a) == 0 && stat(o->lock_path, &b) == 0 && a.st_dev == b.st_dev &&
            a.st_ino == b.st_ino) {
            char pid[32];
            int len = snprintf(pid, sizeof pid, "%ld\n", (long)getpid());
            if (ftruncate(fd, 0) != 0 || write(fd, pid, (size_t)len) != len) {
                /* The pid is only for messages: the lock holds without it. */
            }
            o->lock_fd = fd;
            return 0;
        }
        close(fd);
    }
    free(o->lock_path);
    o->lock_path = NULL;
    return CLI_EXIT_FAIL;
}

void cli_output_release(cli_output *o)
{
    if (o->lock_fd < 0)
        return;
    if (o->lock_path)
        unlink(o->lock_path); /* while still locked: no one else holds this name */
    close(o->lock_fd);
    o->lock_fd = -1;
    free(o->lock_path);
    o->lock_path = NULL;
}
