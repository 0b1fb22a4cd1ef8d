/* extract_run.c -- the record of an `arnet extract` run in DIR/arnet-extract/:
 * the shard plan, claims that work across machines on a shared file system,
 * the records of finished and failed videos, and the status of the whole
 * run (extract_run.h says what lies where). */
#include <dirent.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "extract_run.h"

#define SUB "arnet-extract"

/* ---- small helpers ----------------------------------------------------------- */

static char *path_join(const char *dir, const char *a, const char *b, const char *ext)
{
    size_t n = strlen(dir) + strlen(a) + (b ? strlen(b) : 0) + strlen(ext) + 4;
    char *p = malloc(n);
    if (p)
        snprintf(p, n, "%s/%s%s%s%s", dir, a, b ? "/" : "", b ? b : "", ext);
    return p;
}

/* DIR/arnet-extract/videos/<stem><ext> (malloc'd). */
static char *video_file(const char *dir, const char *stem, const char *ext)
{
    size_t n = strlen(dir) + strlen(stem) + strlen(ext) + sizeof SUB + 16;
    char *p = malloc(n);
    if (p)
        snprintf(p, n, "%s/" SUB "/videos/%s%s", dir, stem, ext);
    return p;
}

static double wall_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* A whole small file (at most max bytes) as a string, or NULL (errno). */
static char *slurp(const char *path, size_t max)
{
    FILE *f = cli_fopen_read(path);
    if (!f)
        return NULL;
    size_t cap = 4096, n = 0;
    char *s = malloc(cap);
    while (s) {
        if (n + 1 == cap) {
            if (cap > max) {
                free(s);
                s = NULL;
                errno = EFBIG;
                break;
            }
            char *g = realloc(s, cap * 2);
            if (!g) {
                free(s);
                s = NULL;
                break;
            }
            s = g;
            cap *= 2;
        }
        size_t k = fread(s + n, 1, cap - 1 - n, f);
        n += k;
        if (k == 0)
            break;
    }
    if (s && ferror(f)) {
        free(s);
        s = NULL;
        errno = EIO;
    }
    fclose(f);
    if (s)
        s[n] = 0;
    return s;
}

/* The value of "key value" line in a record (copied into buf), or NULL. */
static const char *rec_get(const char *rec, const char *key, char *buf, size_t n)
{
    size_t kl = strlen(key);
    for (const char *p = rec; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL) {
        if (!strncmp(p, key, kl) && p[kl] == ' ') {
            const char *v = p + kl + 1, *e = strchr(v, '\n');
            size_t l = e ? (size_t)(e - v) : strlen(v);
            if (l >= n)
                l = n - 1;
            memcpy(buf, v, l);
            buf[l] = 0;
            return buf;
        }
    }
    return NULL;
}

static char *rec_dup(const char *rec, const char *key)
{
    char buf[8192];
    const char *v = rec_get(rec, key, buf, sizeof buf);
    return v ? strdup(v) : NULL;
}

/* A number written by us, read back: digits only (strtoull alone takes a
 * sign and white space, and wraps "-3" to 2^64 - 3), within 64 bits.
 * Returns 0 with *out and *end after the digits, or -1. */
static int digits_u64(const char *s, int base, uint64_t *out, char **end)
{
    if (!(base == 16 ? isxdigit((unsigned char)*s) : isdigit((unsigned char)*s)))
        return -1;
    errno = 0;
    unsigned long long v = strtoull(s, end, base);
    if (errno)
        return -1;
    *out = v;
    return 0;
}

static int rec_u64(const char *rec, const char *key, uint64_t *out)
{
    char buf[64], *end;
    if (!rec_get(rec, key, buf, sizeof buf) || digits_u64(buf, 10, out, &end) || *end)
        return -1;
    return 0;
}

/* A growing string for a file's contents. */
typedef struct sbuf {
    char *s;
    size_t n, cap;
    int oom;
} sbuf;

static void sb_add(sbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void sb_add(sbuf *b, const char *fmt, ...)
{
    if (b->oom)
        return;
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int k = vsnprintf(b->s ? b->s + b->n : NULL, b->s ? b->cap - b->n : 0, fmt, ap);
        va_end(ap);
        if (k < 0) {
            b->oom = 1;
            return;
        }
        if (b->s && b->n + (size_t)k < b->cap) {
            b->n += (size_t)k;
            return;
        }
        size_t cap = (b->cap ? b->cap * 2 : 4096) + (size_t)k;
        char *g = realloc(b->s, cap);
        if (!g) {
            b->oom = 1;
            return;
        }
        b->s = g;
        b->cap = cap;
    }
}

static int sb_write(sbuf *b, const char *path, char *err, size_t errlen)
{
    if (b->oom) {
        snprintf(err, errlen, "%s: out of memory", path);
        free(b->s);
        return -1;
    }
    int st = arnet_write_file(path, b->s, b->n);
    free(b->s);
    b->s = NULL;
    if (st != ARNET_OK) {
        snprintf(err, errlen, "%s", arnet_last_error());
        return -1;
    }
    return 0;
}

const char *xr_host(void)
{
    static char host[128];
    if (!host[0]) {
        char h[256];
        if (gethostname(h, sizeof h) != 0 || !h[0])
            snprintf(h, sizeof h, "localhost");
        h[sizeof h - 1] = 0;
        size_t k = 0;
        for (const char *p = h; *p && k < sizeof host - 1; p++)
            host[k++] = (*p <= ' ' || *p == 127) ? '_' : *p;
        host[k] = 0;
    }
    return host;
}

int xr_dir_make(const char *dir, char *err, size_t errlen)
{
    char *a = path_join(dir, SUB, NULL, ""), *b = path_join(dir, SUB, "videos", "");
    int rc = 0;
    const char *bad = NULL;
    if (!a || !b) {
        snprintf(err, errlen, "out of memory");
        rc = -1;
    } else if (cli_mkdir(dir) != 0)
        bad = dir;
    else if (cli_mkdir(a) != 0)
        bad = a;
    else if (cli_mkdir(b) != 0)
        bad = b;
    if (bad) {
        snprintf(err, errlen, "cannot create folder %s: %s", bad, strerror(errno));
        rc = -1;
    }
    free(a);
    free(b);
    return rc;
}

/* ---- the plan ------------------------------------------------------------------ */

void xr_plan_free(xr_plan *p)
{
    for (size_t i = 0; i < p->n; i++) {
        free(p->v[i].path);
        free(p->v[i].stem);
        free(p->v[i].gt);
    }
    free(p->v);
    free(p->extractor);
    free(p->settings);
    memset(p, 0, sizeof *p);
}

static void fnv(uint64_t *h, const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        *h ^= (unsigned char)s[i];
        *h *= 0x100000001b3ull;
    }
}

void xr_plan_digest(xr_plan *p)
{
    uint64_t h = 0xcbf29ce484222325ull;
    for (size_t i = 0; i < p->n; i++) {
        char lab[8];
        snprintf(lab, sizeof lab, "\t%d\t", p->v[i].label);
        fnv(&h, p->v[i].path, strlen(p->v[i].path));
        fnv(&h, lab, strlen(lab));
        fnv(&h, p->v[i].gt ? p->v[i].gt : "-", strlen(p->v[i].gt ? p->v[i].gt : "-"));
        fnv(&h, "\n", 1);
    }
    p->digest = h;
}

static char *plan_path(const char *dir)
{
    return path_join(dir, SUB, "plan", "");
}

int xr_plan_read(const char *dir, xr_plan *p, char *err, size_t errlen)
{
    memset(p, 0, sizeof *p);
    char *path = plan_path(dir);
    if (!path) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    FILE *f = cli_fopen_read(path);
    if (!f) {
        int e = errno;
        if (e == ENOENT) {
            free(path);
            return 0;
        }
        snprintf(err, errlen, "%s: %s", path, cli_open_error(path));
        free(path);
        return -1;
    }
    char *line = NULL;
    size_t lcap = 0, cap = 0, lineno = 0;
    ssize_t len;
    int rc = 1;
    uint64_t n_videos = 0, digest = 0;
    int have_digest = 0;
    while ((len = getline(&line, &lcap, f)) >= 0) {
        lineno++;
        if (len > 0 && line[len - 1] == '\n')
            line[--len] = 0;
        if (len == 0 || line[0] == '#')
            continue;
        char *tab = strchr(line, '\t');
        if (!tab)
            goto bad;
        *tab = 0;
        char *v = tab + 1;
        if (!strcmp(line, "version")) {
            if (strcmp(v, "1")) {
                snprintf(err, errlen, "%s:%zu: plan version %s is not 1 (a newer arnet wrote it)",
                         path, lineno, v);
                rc = -1;
                break;
            }
        } else if (!strcmp(line, "shards")) {
            char *end;
            uint64_t k;
            if (digits_u64(v, 10, &k, &end) || *end || k < 1 || k > 1000000)
                goto bad;
            p->shards = (unsigned)k;
        } else if (!strcmp(line, "videos")) {
            char *end;
            if (digits_u64(v, 10, &n_videos, &end) || *end)
                goto bad;
        } else if (!strcmp(line, "digest")) {
            char *end;
            if (digits_u64(v, 16, &digest, &end) || *end)
                goto bad;
            have_digest = 1;
        } else if (!strcmp(line, "extractor")) {
            free(p->extractor);
            p->extractor = strdup(v);
        } else if (!strcmp(line, "settings")) {
            free(p->settings);
            p->settings = strdup(v);
        } else if (!strcmp(line, "lease")) {
            char *end;
            p->lease = strtod(v, &end);
            if (*end || !(p->lease >= 1 && p->lease <= 1e7))
                goto bad;
        } else if (!strcmp(line, "video")) {
            /* video <TAB> label <TAB> gt <TAB> stem <TAB> path */
            char *f2[4];
            char *q = v;
            for (int k = 0; k < 4; k++) {
                f2[k] = q;
                q = k < 3 ? strchr(q, '\t') : q;
                if (k < 3) {
                    if (!q)
                        goto bad;
                    *q++ = 0;
                }
            }
            if (p->n == cap) {
                xr_video *g = realloc(p->v, (cap * 2 + 64) * sizeof *g);
                if (!g)
                    goto oom;
                p->v = g;
                cap = cap * 2 + 64;
            }
            xr_video *e = &p->v[p->n];
            memset(e, 0, sizeof *e);
            e->label = !strcmp(f2[0], "1") ? 1 : !strcmp(f2[0], "0") ? 0 : -1;
            e->gt = strcmp(f2[1], "-") ? strdup(f2[1]) : NULL;
            e->stem = strdup(f2[2]);
            e->path = strdup(f2[3]);
            p->n++;
            if (!e->stem || !e->path || (strcmp(f2[1], "-") && !e->gt))
                goto oom;
        }
        /* other keys: from a later version, ignored */
        continue;
    bad:
        snprintf(err, errlen, "%s:%zu: malformed plan line (was it edited by hand?)", path,
                 lineno);
        rc = -1;
        break;
    oom:
        snprintf(err, errlen, "%s: out of memory", path);
        rc = -1;
        break;
    }
    free(line);
    if (rc > 0 && ferror(f)) {
        snprintf(err, errlen, "%s: read error", path);
        rc = -1;
    }
    fclose(f);
    if (rc > 0 && (!p->shards || !p->settings || !have_digest || n_videos != p->n)) {
        snprintf(err, errlen, "%s: incomplete plan (%zu of %llu videos)", path, p->n,
                 (unsigned long long)n_videos);
        rc = -1;
    }
    if (rc > 0) {
        xr_plan_digest(p);
        if (p->digest != digest) {
            snprintf(err, errlen, "%s: the list does not match its digest (edited by hand?)",
                     path);
            rc = -1;
        }
    }
    if (rc < 0)
        xr_plan_free(p);
    free(path);
    return rc;
}

int xr_plan_create(const char *dir, const xr_plan *p, char *err, size_t errlen)
{
    sbuf b = {0};
    sb_add(&b, "# arnet extract plan: made once, checked by every task (docs/video.md)\n");
    sb_add(&b, "version\t1\nshards\t%u\nvideos\t%zu\ndigest\t%016llx\n", p->shards, p->n,
           (unsigned long long)p->digest);
    sb_add(&b, "extractor\t%s\nsettings\t%s\nlease\t%.0f\n", p->extractor ? p->extractor : "",
           p->settings, p->lease);
    sb_add(&b, "# video\tlabel\tground truth\toutput name\tpath\n");
    for (size_t i = 0; i < p->n; i++) {
        const xr_video *v = &p->v[i];
        sb_add(&b, "video\t%s\t%s\t%s\t%s\n", v->label < 0 ? "-" : v->label ? "1" : "0",
               v->gt ? v->gt : "-", v->stem, v->path);
    }
    /* Written whole under a name of this process's, then linked to its
     * place: link fails when a plan is there, so the first task wins. */
    char *final = plan_path(dir);
    char tail[256];
    snprintf(tail, sizeof tail, "plan.new.%s.%ld", xr_host(), (long)getpid());
    char *tmp = path_join(dir, SUB, tail, "");
    if (!final || !tmp) {
        free(final);
        free(tmp);
        free(b.s);
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    int rc = sb_write(&b, tmp, err, errlen);
    if (rc == 0) {
        if (link(tmp, final) == 0)
            rc = 1;
        else if (errno == EEXIST)
            rc = 0;
        else {
            /* NFS: link may have worked although the reply was lost. */
            struct stat st;
            if (stat(tmp, &st) == 0 && st.st_nlink == 2)
                rc = 1;
            else {
                snprintf(err, errlen, "%s: %s", final, strerror(errno));
                rc = -1;
            }
        }
        unlink(tmp);
    }
    free(final);
    free(tmp);
    return rc;
}

int xr_plan_same_list(const xr_plan *plan, const xr_plan *mine, char *why, size_t whylen)
{
    size_t i = 0, j = 0;
    while (i < plan->n || j < mine->n) {
        int c = i == plan->n ? 1 : j == mine->n ? -1 : strcmp(plan->v[i].path, mine->v[j].path);
        if (c < 0) {
            snprintf(why, whylen, "%s is in the plan but not in this task's list "
                                  "(plan: %zu videos, this list: %zu)",
                     plan->v[i].path, plan->n, mine->n);
            return -1;
        }
        if (c > 0) {
            snprintf(why, whylen, "%s is in this task's list but not in the plan "
                                  "(plan: %zu videos, this list: %zu)",
                     mine->v[j].path, plan->n, mine->n);
            return -1;
        }
        const xr_video *a = &plan->v[i], *b = &mine->v[j];
        const char *ga = a->gt ? a->gt : "-", *gb = b->gt ? b->gt : "-";
        if (b->label >= 0 && (a->label != b->label || strcmp(ga, gb))) {
            snprintf(why, whylen, "%s: label %d, ground truth %s here; label %d, %s in the plan",
                     a->path, b->label, gb, a->label, ga);
            return -1;
        }
        i++;
        j++;
    }
    return 0;
}

const char *xr_settings_get(const char *s, const char *key, char *buf, size_t n)
{
    size_t kl = strlen(key);
    for (const char *p = s; p && *p;) {
        while (*p == ' ')
            p++;
        const char *e = strchr(p, ' ');
        size_t l = e ? (size_t)(e - p) : strlen(p);
        if (l > kl && !strncmp(p, key, kl) && p[kl] == '=') {
            size_t vl = l - kl - 1;
            if (vl >= n)
                vl = n - 1;
            memcpy(buf, p + kl + 1, vl);
            buf[vl] = 0;
            return buf;
        }
        p = e;
    }
    return NULL;
}

int xr_settings_diff(const char *a, const char *b, const char *here, const char *there,
                     char *why, size_t whylen)
{
    if (!strcmp(a, b))
        return 0;
    /* Every key of either side, in a's order then b's. */
    for (int side = 0; side < 2; side++) {
        const char *s = side ? b : a;
        for (const char *p = s; p && *p;) {
            while (*p == ' ')
                p++;
            const char *eq = strchr(p, '='), *e = strchr(p, ' ');
            if (!eq || (e && eq > e))
                break;
            char key[64], va[256], vb[256];
            size_t kl = (size_t)(eq - p) < sizeof key ? (size_t)(eq - p) : sizeof key - 1;
            memcpy(key, p, kl);
            key[kl] = 0;
            const char *x = xr_settings_get(a, key, va, sizeof va),
                       *y = xr_settings_get(b, key, vb, sizeof vb);
            if (!x || !y || strcmp(x, y)) {
                snprintf(why, whylen, "%s: %s %s, %s %s", key, x ? x : "(none)", here,
                         y ? y : "(none)", there);
                return -1;
            }
            p = e;
        }
    }
    snprintf(why, whylen, "settings '%s' %s, '%s' %s", a, here, b, there);
    return -1;
}

/* ---- claims -------------------------------------------------------------------- */

struct xr_claim {
    char *path;
    char token[200];
    double lease;
    double started;
    int lost;
    struct xr_claim *next;
};

static pthread_mutex_t claims_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t claims_cv = PTHREAD_COND_INITIALIZER;
static xr_claim *claims;
static pthread_t renewer;
static int renewer_on, renewer_stop;

static void make_token(char *tok, size_t n)
{
    static unsigned counter;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    unsigned k = __atomic_fetch_add(&counter, 1, __ATOMIC_RELAXED);
    snprintf(tok, n, "%s.%ld.%lx.%u", xr_host(), (long)getpid(),
             (unsigned long)(ts.tv_nsec ^ (ts.tv_sec << 20)), k);
}

static void claim_text(const xr_claim *c, sbuf *b)
{
    double now = wall_now();
    sb_add(b, "host %s\npid %ld\ntoken %s\nstarted %.0f\nrenewed %.0f\nlease %.0f\nexpires %.0f\n",
           xr_host(), (long)getpid(), c->token, c->started, now, c->lease, now + c->lease);
}

/* Write the claim's text to a new file of ours beside it: its path. */
static char *claim_temp(const xr_claim *c)
{
    size_t n = strlen(c->path) + strlen(c->token) + 16;
    char *tmp = malloc(n);
    if (!tmp)
        return NULL;
    snprintf(tmp, n, "%s.%s", c->path, c->token);
    sbuf b = {0};
    claim_text(c, &b);
    int fd = b.oom ? -1 : open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
    int ok = fd >= 0 && write(fd, b.s, b.n) == (ssize_t)b.n;
    if (fd >= 0 && close(fd) != 0)
        ok = 0;
    free(b.s);
    if (!ok) {
        unlink(tmp);
        free(tmp);
        return NULL;
    }
    return tmp;
}

/* Whether the claim text rec is stale: its process is gone (this machine)
 * or its lease ran out (any machine).  who gets a description. */
static int claim_stale(const char *rec, const struct stat *st, char *who, size_t wholen)
{
    char host[256], tok[200];
    uint64_t pid = 0, started = 0, expires = 0;
    if (!rec_get(rec, "host", host, sizeof host) || rec_u64(rec, "pid", &pid) ||
        rec_u64(rec, "expires", &expires) || rec_u64(rec, "started", &started) ||
        !rec_get(rec, "token", tok, sizeof tok)) {
        /* Not a claim we can read: stale once as old as a default lease. */
        snprintf(who, wholen, "an unreadable claim");
        return wall_now() - (double)st->st_mtime > 600;
    }
    time_t t = (time_t)started;
    struct tm tm;
    char when[32] = "?";
    if (localtime_r(&t, &tm))
        strftime(when, sizeof when, "%Y-%m-%d %H:%M:%S", &tm);
    snprintf(who, wholen, "host %s pid %llu since %s", host, (unsigned long long)pid, when);
    if (wall_now() > (double)expires)
        return 1;
    if (!strcmp(host, xr_host()) && pid > 0 && pid < INT_MAX && kill((pid_t)pid, 0) != 0 &&
        errno == ESRCH)
        return 1;
    return 0;
}

int xr_claim_take(const char *dir, const char *name, int is_shard, double lease, xr_claim **out,
                  char *holder, size_t holderlen)
{
    *out = NULL;
    xr_claim *c = calloc(1, sizeof *c);
    if (!c) {
        snprintf(holder, holderlen, "out of memory");
        return -1;
    }
    c->path = is_shard ? path_join(dir, SUB, name, ".claim") : video_file(dir, name, ".claim");
    c->lease = lease;
    c->started = wall_now();
    make_token(c->token, sizeof c->token);
    char *tmp = c->path ? claim_temp(c) : NULL;
    if (!tmp) {
        snprintf(holder, holderlen, "cannot write a claim %s: %s", c->path ? c->path : name,
                 strerror(errno));
        free(c->path);
        free(c);
        return -1;
    }
    int rc = -1;
    for (int attempt = 0; attempt < 3; attempt++) {
        if (link(tmp, c->path) == 0) {
            rc = 1;
            break;
        }
        int e = errno;
        struct stat st;
        if (e != EEXIST) {
            if (stat(tmp, &st) == 0 && st.st_nlink == 2) { /* NFS: it did link */
                rc = 1;
                break;
            }
            snprintf(holder, holderlen, "cannot claim %s: %s", c->path, strerror(e));
            rc = -1;
            break;
        }
        char *rec = slurp(c->path, 65536);
        if (!rec || stat(c->path, &st) != 0) {
            free(rec);
            continue; /* released meanwhile: try again */
        }
        char judged[200] = "";
        rec_get(rec, "token", judged, sizeof judged);
        int stale = claim_stale(rec, &st, holder, holderlen);
        free(rec);
        rc = 0;
        if (!stale)
            break;
        /* Take the stale claim away under a name of ours: rename is atomic,
         * so what we moved is what was there at that instant. */
        size_t mn = strlen(c->path) + strlen(c->token) + 16;
        char *moved = malloc(mn);
        if (!moved)
            break;
        snprintf(moved, mn, "%s.stale.%s", c->path, c->token);
        if (rename(c->path, moved) != 0) {
            free(moved);
            continue; /* gone meanwhile */
        }
        char *got = slurp(moved, 65536), tok[200] = "";
        if (got)
            rec_get(got, "token", tok, sizeof tok);
        free(got);
        if (strcmp(tok, judged)) {
            /* Someone else took it over meanwhile: put theirs back. */
            if (link(moved, c->path) != 0)
                fprintf(stderr, "arnet extract: warning: %s was taken over twice at once\n",
                        c->path);
            unlink(moved);
            free(moved);
            break;
        }
        unlink(moved);
        free(moved);
        fprintf(stderr, "arnet extract: taking over %s: %s is gone\n", c->path, holder);
    }
    unlink(tmp);
    free(tmp);
    if (rc != 1) {
        free(c->path);
        free(c);
        return rc;
    }
    pthread_mutex_lock(&claims_mu);
    c->next = claims;
    claims = c;
    pthread_mutex_unlock(&claims_mu);
    *out = c;
    return 1;
}

/* Whether the claim file still holds our token (lock held). */
static int claim_ours(const xr_claim *c)
{
    char *rec = slurp(c->path, 65536), tok[200] = "";
    if (rec)
        rec_get(rec, "token", tok, sizeof tok);
    free(rec);
    return !strcmp(tok, c->token);
}

int xr_claim_held(xr_claim *c)
{
    /* Read now, not only at the last renewal: a process stopped past its
     * lease (SIGSTOP, a suspended job) may have lost the claim since. */
    pthread_mutex_lock(&claims_mu);
    if (!c->lost && !claim_ours(c))
        c->lost = 1;
    int held = !c->lost;
    pthread_mutex_unlock(&claims_mu);
    return held;
}

void xr_claim_release(xr_claim *c)
{
    if (!c)
        return;
    pthread_mutex_lock(&claims_mu);
    for (xr_claim **p = &claims; *p; p = &(*p)->next)
        if (*p == c) {
            *p = c->next;
            break;
        }
    if (!c->lost && claim_ours(c))
        unlink(c->path);
    pthread_mutex_unlock(&claims_mu);
    free(c->path);
    free(c);
}

static void *renew_loop(void *arg)
{
    double lease = *(double *)arg;
    free(arg);
    double every = lease / 4 < 1 ? 1 : lease / 4;
    pthread_mutex_lock(&claims_mu);
    while (!renewer_stop) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        double t = (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9 + every;
        ts.tv_sec = (time_t)t;
        ts.tv_nsec = (long)((t - (double)ts.tv_sec) * 1e9);
        int w = 0;
        while (!renewer_stop && w != ETIMEDOUT)
            w = pthread_cond_timedwait(&claims_cv, &claims_mu, &ts);
        if (renewer_stop)
            break;
        for (xr_claim *c = claims; c; c = c->next) {
            if (c->lost)
                continue;
            if (!claim_ours(c)) {
                c->lost = 1;
                continue;
            }
            char *tmp = claim_temp(c);
            if (tmp && rename(tmp, c->path) != 0)
                unlink(tmp);
            free(tmp);
        }
    }
    pthread_mutex_unlock(&claims_mu);
    return NULL;
}

int xr_renewer_start(double lease)
{
    (void)xr_host(); /* its one-time set-up here, before the jobs' threads */
    double *arg = malloc(sizeof *arg);
    if (!arg)
        return -1;
    *arg = lease;
    renewer_stop = 0;
    if (pthread_create(&renewer, NULL, renew_loop, arg) != 0) {
        free(arg);
        return -1;
    }
    renewer_on = 1;
    return 0;
}

void xr_renewer_stop(void)
{
    if (!renewer_on)
        return;
    pthread_mutex_lock(&claims_mu);
    renewer_stop = 1;
    pthread_cond_signal(&claims_cv);
    pthread_mutex_unlock(&claims_mu);
    pthread_join(renewer, NULL);
    renewer_on = 0;
}

/* ---- records -------------------------------------------------------------------- */

void xr_done_free(xr_done *d)
{
    free(d->output);
    free(d->source);
    free(d->settings);
    free(d->flow);
    free(d->gt);
    free(d->host);
    memset(d, 0, sizeof *d);
}

int xr_done_write(const char *dir, const char *stem, const xr_done *d, char *err, size_t errlen)
{
    char *path = video_file(dir, stem, ".done");
    if (!path) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    sbuf b = {0};
    sb_add(&b, "output %s\nsource %s\nsettings %s\nclips %llu\nframes %llu\nfps %.6g\n"
               "crops %u\ndim %u\n",
           d->output, d->source, d->settings, (unsigned long long)d->clips,
           (unsigned long long)d->frames, d->fps, d->crops, d->dim);
    if (d->flow)
        sb_add(&b, "flow %s\n", d->flow);
    if (d->label >= 0)
        sb_add(&b, "label %d\nground_truth %s\n", d->label, d->gt ? d->gt : "-");
    sb_add(&b, "host %s\npid %ld\ntime %lld\n", xr_host(), (long)getpid(),
           (long long)time(NULL));
    int rc = sb_write(&b, path, err, errlen);
    free(path);
    return rc;
}

int xr_done_read(const char *dir, const char *stem, xr_done *d, char *err, size_t errlen)
{
    memset(d, 0, sizeof *d);
    d->label = -1;
    char *path = video_file(dir, stem, ".done");
    if (!path) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    char *rec = slurp(path, 1 << 20);
    if (!rec) {
        int e = errno;
        if (e == ENOENT) {
            free(path);
            return 0;
        }
        snprintf(err, errlen, "%s: %s", path, cli_open_error(path));
        free(path);
        return -1;
    }
    uint64_t crops = 0, dim = 0, t = 0, label = 0;
    char fps[64];
    d->output = rec_dup(rec, "output");
    if (!d->output) {
        size_t l = strlen(stem) + 5;
        if ((d->output = malloc(l)) != NULL)
            snprintf(d->output, l, "%s.npy", stem);
    }
    d->source = rec_dup(rec, "source");
    d->settings = rec_dup(rec, "settings");
    d->flow = rec_dup(rec, "flow");
    d->host = rec_dup(rec, "host");
    if (!rec_u64(rec, "label", &label) && label <= 1) {
        d->label = (int)label;
        d->gt = rec_dup(rec, "ground_truth");
    }
    int rc = 1;
    if (!d->output || !d->source || !d->settings || rec_u64(rec, "clips", &d->clips) ||
        rec_u64(rec, "frames", &d->frames) || rec_u64(rec, "crops", &crops) ||
        rec_u64(rec, "dim", &dim) || !rec_get(rec, "fps", fps, sizeof fps) || crops < 1 ||
        crops > 1000 || dim < 1 || dim > 1000000) {
        snprintf(err, errlen, "%s: not a complete record", path);
        xr_done_free(d);
        rc = -1;
    } else {
        d->crops = (uint32_t)crops;
        d->dim = (uint32_t)dim;
        d->fps = strtod(fps, NULL);
        if (!rec_u64(rec, "time", &t))
            d->time = (long long)t;
    }
    free(rec);
    free(path);
    return rc;
}

void xr_records_remove(const char *dir, const char *stem)
{
    const char *ext[] = {".done", ".failed"};
    for (int i = 0; i < 2; i++) {
        char *p = video_file(dir, stem, ext[i]);
        if (p)
            unlink(p);
        free(p);
    }
}

int xr_failed_write(const char *dir, const char *stem, const char *source, unsigned attempts,
                    const char *reason)
{
    char *path = video_file(dir, stem, ".failed"), err[256];
    if (!path)
        return -1;
    sbuf b = {0};
    sb_add(&b, "source %s\nattempts %u\nhost %s\npid %ld\ntime %lld\nreason ", source, attempts,
           xr_host(), (long)getpid(), (long long)time(NULL));
    for (const char *p = reason; *p; p++) /* one line */
        sb_add(&b, "%c", *p == '\n' || *p == '\r' ? ' ' : *p);
    sb_add(&b, "\n");
    int rc = sb_write(&b, path, err, sizeof err);
    free(path);
    return rc;
}

int xr_failed_read(const char *dir, const char *stem, unsigned *attempts, char *reason,
                   size_t reasonlen)
{
    char *path = video_file(dir, stem, ".failed");
    char *rec = path ? slurp(path, 1 << 20) : NULL;
    free(path);
    if (!rec)
        return 0;
    uint64_t a = 1;
    if (rec_u64(rec, "attempts", &a) || a > UINT_MAX)
        a = 1;
    *attempts = (unsigned)a;
    if (!rec_get(rec, "reason", reason, reasonlen))
        snprintf(reason, reasonlen, "?");
    free(rec);
    return 1;
}

/* Whether the .npy at path is a float32 [clips, dim] or [clips, crops, dim]
 * array: 0, or -1 with what is wrong in why. */
static int output_matches(const char *path, uint64_t clips, uint32_t crops, uint32_t dim,
                          char *why, size_t whylen)
{
    arnet_npy_info info;
    arnet_npy_info_init(&info);
    if (arnet_npy_info_read(path, &info) != ARNET_OK) {
        char msg[512];
        cli_user_message(arnet_last_error(), msg, sizeof msg);
        snprintf(why, whylen, "%s", msg);
        return -1;
    }
    int ok = !strcmp(info.dtype, "<f4") && !info.fortran_order && info.shape[0] == clips &&
             (crops == 1 ? info.ndim == 2 && info.shape[1] == dim
                         : info.ndim == 3 && info.shape[1] == crops && info.shape[2] == dim);
    if (!ok) {
        char shape[128] = "";
        size_t k = 0;
        for (int i = 0; i < info.ndim && k < sizeof shape - 24; i++)
            k += (size_t)snprintf(shape + k, sizeof shape - k, "%s%llu", i ? ", " : "",
                                  (unsigned long long)info.shape[i]);
        if (crops == 1)
            snprintf(why, whylen, "%s: %s [%s], its record says float32 [%llu, %u]", path,
                     info.dtype, shape, (unsigned long long)clips, dim);
        else
            snprintf(why, whylen, "%s: %s [%s], its record says float32 [%llu, %u, %u]", path,
                     info.dtype, shape, (unsigned long long)clips, crops, dim);
        return -1;
    }
    return 0;
}

int xr_video_state(const char *dir, const char *stem, const char *output, const char *flow,
                   const char *source, const char *settings, xr_done *d, char *why,
                   size_t whylen)
{
    memset(d, 0, sizeof *d);
    d->label = -1;
    char *out = output ? path_join(dir, output, NULL, "") : path_join(dir, stem, NULL, ".npy");
    if (!out) {
        snprintf(why, whylen, "out of memory");
        return XR_OTHER;
    }
    struct stat st;
    int exists = lstat(out, &st) == 0;
    char err[512];
    int r = xr_done_read(dir, stem, d, err, sizeof err);
    int state;
    if (r > 0 && !output) { /* no expectation: the recorded file */
        free(out);
        if (!(out = path_join(dir, d->output, NULL, ""))) {
            snprintf(why, whylen, "out of memory");
            xr_done_free(d);
            return XR_OTHER;
        }
    }
    if (r <= 0) {
        if (r < 0) {
            /* A damaged record of ours: the write of the record was cut.
             * Records are written before outputs, so the output is not
             * known to be complete. */
            snprintf(why, whylen, "%s", err);
            state = XR_REDO;
        } else if (exists) {
            snprintf(why, whylen, "%s exists but has no record of how it was made (%s/" SUB
                                  "/videos/%s.done): not made by arnet extract, or by an older one",
                     out, dir, stem);
            state = XR_FOREIGN;
        } else {
            unsigned attempts;
            state = xr_failed_read(dir, stem, &attempts, why, whylen) ? XR_FAILED : XR_MISSING;
        }
    } else if ((output && strcmp(d->output, output)) ||
               (output && (flow ? !d->flow || strcmp(d->flow, flow) : d->flow != NULL))) {
        snprintf(why, whylen, "%s/%s was written as %s%s%s, this run writes %s%s%s", dir, stem,
                 d->output, d->flow ? " and " : "", d->flow ? d->flow : "", output,
                 flow ? " and " : "", flow ? flow : "");
        state = XR_OTHER;
    } else if (source && strcmp(d->source, source)) {
        snprintf(why, whylen, "%s was made from %s, not %s", out, d->source, source);
        state = XR_OTHER;
    } else if (settings && xr_settings_diff(settings, d->settings, "now", "when it was made",
                                            err, sizeof err)) {
        snprintf(why, whylen, "%s was made with other settings (%s)", out, err);
        state = XR_OTHER;
    } else if (!(exists = lstat(out, &st) == 0)) {
        snprintf(why, whylen, "%s: recorded but missing (a run stopped between the two)", out);
        state = XR_REDO;
    } else if (output_matches(out, d->clips, d->crops, d->dim, why, whylen)) {
        state = XR_REDO;
    } else {
        state = XR_DONE;
        if (d->flow) {
            char *fp = path_join(dir, d->flow, NULL, "");
            if (!fp || output_matches(fp, d->clips, d->crops, d->dim, why, whylen))
                state = XR_REDO;
            free(fp);
        }
    }
    free(out);
    return state;
}

/* ---- the whole run ----------------------------------------------------------------- */

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Append to s the names in folder ending in one of exts, without it. */
static void scan_names(const char *folder, const char *const *exts, char ***s, size_t *n,
                       size_t *cap)
{
    DIR *d = folder ? opendir(folder) : NULL;
    if (!d)
        return;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        const char *dot = strrchr(e->d_name, '.');
        int match = 0;
        for (int k = 0; dot && dot != e->d_name && exts[k]; k++)
            match |= !strcmp(dot, exts[k]);
        if (!match)
            continue;
        if (*n == *cap) {
            char **g = realloc(*s, (*cap * 2 + 64) * sizeof **s);
            if (!g)
                break;
            *s = g;
            *cap = *cap * 2 + 64;
        }
        (*s)[*n] = strndup(e->d_name, (size_t)(dot - e->d_name));
        if ((*s)[*n])
            (*n)++;
    }
    closedir(d);
}

/* The video names DIR knows of: with a record (done, failed or claimed)
 * in DIR/arnet-extract/videos, and with outputs (DIR/<name>.npy, which
 * xr_video_state then judges, a file without a record included); sorted,
 * without repeats. */
static char **recorded_stems(const char *dir, size_t *n_out)
{
    static const char *const rec_ext[] = {".done", ".failed", ".claim", NULL};
    static const char *const npy_ext[] = {".npy", NULL};
    char *vd = path_join(dir, SUB, "videos", "");
    char **s = NULL;
    size_t n = 0, cap = 0;
    scan_names(vd, rec_ext, &s, &n, &cap);
    scan_names(dir, npy_ext, &s, &n, &cap);
    free(vd);
    if (n)
        qsort(s, n, sizeof *s, cmp_str);
    size_t m = 0;
    for (size_t i = 0; i < n; i++) {
        if (m && !strcmp(s[m - 1], s[i]))
            free(s[i]);
        else
            s[m++] = s[i];
    }
    *n_out = m;
    return s;
}

int xr_write_outputs(const char *dir, char *err, size_t errlen)
{
    size_t n;
    char **stems = recorded_stems(dir, &n);
    sbuf b = {0};
    sb_add(&b, "# arnet extract: every finished output of %s (arnet extract --status rewrites "
               "this)\n# output\tclips\tframes\tfps\tsource\n",
           dir);
    for (size_t i = 0; i < n; i++) {
        xr_done d;
        char why[1024];
        if (xr_video_state(dir, stems[i], NULL, NULL, NULL, NULL, &d, why, sizeof why) ==
            XR_DONE)
            sb_add(&b, "%s%s%s\t%llu\t%llu\t%.6g\t%s\n", d.output, d.flow ? "+" : "",
                   d.flow ? d.flow : "", (unsigned long long)d.clips,
                   (unsigned long long)d.frames, d.fps, d.source);
        xr_done_free(&d);
        free(stems[i]);
    }
    free(stems);
    char *path = path_join(dir, "outputs.tsv", NULL, "");
    if (!path) {
        free(b.s);
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    int rc = sb_write(&b, path, err, errlen);
    free(path);
    return rc;
}

/* One video's line for --status: state, then facts. */
typedef struct st_count {
    size_t done, failed, missing, running, other;
    uint64_t clips, frames;
} st_count;

static int add_gt(arnet_manifest_entry *me, const char *gt, uint64_t **ranges)
{
    *ranges = NULL;
    if (!gt || !strcmp(gt, "-"))
        return 0;
    size_t gl = strlen(gt);
    if (gl > 4 && !strcmp(gt + gl - 4, ".npy")) {
        me->gt_path = gt;
        return 0;
    }
    size_t n = 1;
    for (const char *p = gt; *p; p++)
        n += *p == ',';
    uint64_t *r = malloc(2 * n * sizeof *r);
    if (!r)
        return -1;
    const char *p = gt;
    for (size_t i = 0; i < n; i++) {
        char *end;
        if (digits_u64(p, 10, &r[2 * i], &end) || *end != '-') {
            free(r);
            return -1;
        }
        p = end + 1;
        if (digits_u64(p, 10, &r[2 * i + 1], &end) || (*end != ',' && *end) ||
            r[2 * i + 1] < r[2 * i]) {
            free(r);
            return -1;
        }
        p = end + (*end == ',');
    }
    me->gt_ranges = r;
    me->n_gt_ranges = n;
    *ranges = r;
    return 0;
}

int xr_status(const char *cmd, const char *dir, const xr_status_options *o)
{
    char err[1024];
    xr_plan plan;
    int pr = xr_plan_read(dir, &plan, err, sizeof err);
    if (pr < 0) {
        fprintf(stderr, "arnet %s: %s\n", cmd, err);
        return CLI_EXIT_FAIL;
    }
    struct stat dst;
    if (stat(dir, &dst) != 0 || !S_ISDIR(dst.st_mode)) {
        fprintf(stderr, "arnet %s: --status %s: %s\n", cmd, dir,
                errno ? strerror(errno) : "not a folder");
        xr_plan_free(&plan);
        return CLI_EXIT_FAIL;
    }
    /* The videos: the plan's, else those with a record. */
    size_t n = 0;
    char **stems = NULL;
    if (pr == 0) {
        stems = recorded_stems(dir, &n);
        if (n == 0) {
            fprintf(stderr, "arnet %s: %s holds no record of an arnet extract run (no %s/" SUB
                            "/plan, no video records, no .npy)\n",
                    cmd, dir, dir);
            free(stems);
            return CLI_EXIT_FAIL;
        }
    } else
        n = plan.n;
    unsigned shards = pr > 0 ? plan.shards : 1;
    st_count total = {0}, *per = calloc(shards, sizeof *per);
    arnet_manifest_writer *mw = NULL;
    char *dir_abs = NULL, *man_dir_abs = NULL;
    if (!per) {
        fprintf(stderr, "arnet %s: out of memory\n", cmd);
        return CLI_EXIT_FAIL;
    }
    int rc = 0;
    if (o->manifest) {
        dir_abs = cli_abs_path(dir);
        char *ma = cli_abs_path(o->manifest);
        if (ma) {
            char *slash = strrchr(ma, '/');
            if (slash)
                *slash = 0;
            man_dir_abs = ma;
        }
        int st = dir_abs && man_dir_abs ? arnet_manifest_writer_create(o->manifest, &mw)
                                        : ARNET_E_NOMEM;
        char note[512];
        snprintf(note, sizeof note, "written by arnet extract --status %s", dir);
        if (st == ARNET_OK)
            st = arnet_manifest_writer_comment(mw, note);
        if (st != ARNET_OK) {
            rc = cli_fail(cmd, st, o->manifest);
            goto out;
        }
    }
    if (pr > 0)
        printf("plan: %zu videos in %u shard%s, list digest %016llx, extractor %s\n"
               "settings: %s\n",
               plan.n, plan.shards, plan.shards > 1 ? "s" : "", (unsigned long long)plan.digest,
               plan.extractor, plan.settings);
    else
        printf("no plan in %s/" SUB ": the videos with a record or an output (missing "
               "ones cannot be known)\n",
               dir);
    size_t unlabelled = 0;
    for (size_t i = 0; i < n; i++) {
        const char *stem = pr > 0 ? plan.v[i].stem : stems[i];
        const char *source = pr > 0 ? plan.v[i].path : NULL;
        unsigned shard = pr > 0 ? (unsigned)(i % plan.shards) : 0;
        xr_done d;
        char why[1024] = "";
        int state = xr_video_state(dir, stem, NULL, NULL, source, pr > 0 ? plan.settings : NULL,
                                   &d, why, sizeof why);
        /* A live claim: being extracted now. */
        char holder[512] = "";
        int running = 0;
        if (state != XR_DONE) {
            char *cp = video_file(dir, stem, ".claim");
            char *rec = cp ? slurp(cp, 65536) : NULL;
            struct stat cst;
            if (rec && stat(cp, &cst) == 0)
                running = !claim_stale(rec, &cst, holder, sizeof holder);
            free(rec);
            free(cp);
        }
        char fsrc[4096];
        if (!source && !d.source && state == XR_FAILED) {
            char *fp = video_file(dir, stem, ".failed");
            char *rec = fp ? slurp(fp, 1 << 20) : NULL;
            if (rec && rec_get(rec, "source", fsrc, sizeof fsrc))
                source = fsrc;
            free(rec);
            free(fp);
        }
        const char *src = source ? source : d.source ? d.source : stem;
        st_count *c = &per[shard];
        if (state == XR_DONE) {
            c->done++;
            c->clips += d.clips;
            c->frames += d.frames;
            if (!o->quiet)
                printf("done\t%s\t%s%s%s\t%llu clips\t%llu frames\n", src, d.output,
                       d.flow ? "+" : "", d.flow ? d.flow : "", (unsigned long long)d.clips,
                       (unsigned long long)d.frames);
            if (mw) {
                int label = pr > 0 ? plan.v[i].label : d.label;
                const char *gt = pr > 0 ? plan.v[i].gt : d.gt;
                if (label < 0) {
                    unlabelled++;
                } else {
                    /* "<output>" or the pair "<output>+<flow>", each relative
                     * to the manifest's folder when it is DIR, else absolute. */
                    int rel = !strcmp(dir_abs, man_dir_abs);
                    size_t l = 2 * strlen(dir_abs) + strlen(d.output) +
                               (d.flow ? strlen(d.flow) : 0) + 8;
                    char *fp = malloc(l);
                    if (fp)
                        snprintf(fp, l, "%s%s%s%s%s%s%s", rel ? "" : dir_abs, rel ? "" : "/",
                                 d.output, d.flow ? "+" : "", d.flow && !rel ? dir_abs : "",
                                 d.flow && !rel ? "/" : "", d.flow ? d.flow : "");
                    arnet_manifest_entry me;
                    arnet_manifest_entry_init(&me);
                    me.features = fp;
                    me.label = label;
                    uint64_t *ranges = NULL;
                    int st = fp ? ARNET_OK : ARNET_E_NOMEM;
                    if (st == ARNET_OK && add_gt(&me, gt, &ranges) != 0) {
                        fprintf(stderr, "arnet %s: %s: ground truth '%s' is not '-', a .npy or "
                                        "ranges a-b,c-d\n",
                                cmd, src, gt);
                        rc = CLI_EXIT_FAIL;
                    } else if (st == ARNET_OK)
                        st = arnet_manifest_writer_add(mw, &me);
                    if (st != ARNET_OK && !rc)
                        rc = cli_fail(cmd, st, o->manifest);
                    free(ranges);
                    free(fp);
                }
            }
        } else if (running) {
            c->running++;
            if (!o->quiet)
                printf("running\t%s\t%s\n", src, holder);
        } else if (state == XR_FAILED) {
            c->failed++;
            unsigned attempts = 0;
            char reason[700];
            xr_failed_read(dir, stem, &attempts, reason, sizeof reason);
            if (!o->quiet)
                printf("failed\t%s\t%u attempt%s\t%s\n", src, attempts, attempts == 1 ? "" : "s",
                       reason);
        } else if (state == XR_MISSING || state == XR_REDO) {
            c->missing++;
            if (!o->quiet)
                printf("missing\t%s%s%s\n", src, state == XR_REDO ? "\t" : "",
                       state == XR_REDO ? why : "");
        } else {
            c->other++;
            if (!o->quiet)
                printf("refused\t%s\t%s\n", src, why);
        }
        xr_done_free(&d);
    }
    for (unsigned k = 0; k < shards; k++) {
        const st_count *c = &per[k];
        size_t all = c->done + c->failed + c->missing + c->running + c->other;
        if (pr > 0 && shards > 1)
            printf("shard %u/%u: %zu videos: %zu done, %zu failed, %zu running, %zu missing%s; "
                   "%llu clips, %llu frames\n",
                   k + 1, shards, all, c->done, c->failed, c->running, c->missing + c->other,
                   c->done == all ? " (complete)" : "", (unsigned long long)c->clips,
                   (unsigned long long)c->frames);
        total.done += c->done;
        total.failed += c->failed;
        total.missing += c->missing + c->other;
        total.running += c->running;
        total.clips += c->clips;
        total.frames += c->frames;
    }
    int complete = total.done == n;
    printf("total: %zu videos: %zu done, %zu failed, %zu running, %zu missing; %llu clips, %llu "
           "frames: %s\n",
           n, total.done, total.failed, total.running, total.missing,
           (unsigned long long)total.clips, (unsigned long long)total.frames,
           complete ? "complete" : "not complete");
    fflush(stdout);
    if (xr_write_outputs(dir, err, sizeof err) != 0)
        fprintf(stderr, "arnet %s: warning: %s\n", cmd, err);
    if (mw && !rc) {
        if (unlabelled) {
            fprintf(stderr, "arnet %s: --manifest %s: %zu finished video%s without a label "
                            "(extract with --labels FILE to give them)\n",
                    cmd, o->manifest, unlabelled, unlabelled == 1 ? " has" : "s have");
            rc = CLI_EXIT_FAIL;
        } else if (!complete && !o->partial) {
            fprintf(stderr, "arnet %s: --manifest %s not written: the run is not complete "
                            "(--partial writes the %zu finished videos)\n",
                    cmd, o->manifest, total.done);
            rc = CLI_EXIT_FAIL;
        } else if (total.done == 0) {
            fprintf(stderr, "arnet %s: --manifest %s not written: no finished video\n", cmd,
                    o->manifest);
            rc = CLI_EXIT_FAIL;
        } else {
            int st = arnet_manifest_writer_commit(mw);
            if (st != ARNET_OK)
                rc = cli_fail(cmd, st, o->manifest);
            else
                fprintf(stderr, "arnet %s: wrote %s (%zu videos)\n", cmd, o->manifest,
                        total.done);
        }
    }
    if (!rc)
        rc = complete ? 0 : CLI_EXIT_FAIL;
out:
    arnet_manifest_writer_free(mw);
    free(dir_abs);
    free(man_dir_abs);
    free(per);
    for (size_t i = 0; stems && i < n; i++)
        free(stems[i]);
    free(stems);
    xr_plan_free(&plan);
    return rc;
}
