/* team.c -- a team of threads that run one kernel together for the
 * extractor's forward pass, the trainer and TV-L1 flow (team.h): started once,
 * members wait on a condition variable between kernels, never spin. */
#include <pthread.h>
#include <stdlib.h>

#include "internal.h"
#include "team.h"

struct arnet__team {
    int n;
    pthread_t *threads;
    pthread_mutex_t mu;
    pthread_cond_t go, done;
    unsigned long generation;
    int pending, quit;
    arnet__team_fn fn;
    void *arg;
    /* arnet__team_run_shared: the kernel's work is over (late members skip
     * it) and how many members are still in it. */
    int shared, closed, running;
};

typedef struct member_start {
    arnet__team *team;
    int member;
} member_start;

static void *member_main(void *p)
{
    member_start ms = *(member_start *)p;
    free(p);
    arnet__team *t = ms.team;
    unsigned long seen = 0;
    pthread_mutex_lock(&t->mu);
    for (;;) {
        while (t->generation == seen && !t->quit)
            pthread_cond_wait(&t->go, &t->mu);
        if (t->quit)
            break;
        seen = t->generation;
        arnet__team_fn fn = t->fn;
        void *arg = t->arg;
        if (t->shared) {
            if (t->closed) /* the others took all of it: nothing to do, no one waits */
                continue;
            t->running++;
        }
        pthread_mutex_unlock(&t->mu);
        fn(arg, ms.member);
        pthread_mutex_lock(&t->mu);
        if (t->shared) {
            if (--t->running == 0 && t->closed)
                pthread_cond_signal(&t->done);
        } else if (--t->pending == 0) {
            pthread_cond_signal(&t->done);
        }
    }
    pthread_mutex_unlock(&t->mu);
    return NULL;
}

int arnet__team_size(const arnet__team *team) { return team ? team->n : 1; }

void arnet__team_free(arnet__team *t)
{
    if (!t)
        return;
    pthread_mutex_lock(&t->mu);
    t->quit = 1;
    pthread_cond_broadcast(&t->go);
    pthread_mutex_unlock(&t->mu);
    for (int i = 1; i < t->n; i++)
        pthread_join(t->threads[i], NULL);
    pthread_cond_destroy(&t->go);
    pthread_cond_destroy(&t->done);
    pthread_mutex_destroy(&t->mu);
    free(t->threads);
    free(t);
}

int arnet__team_create(int threads, arnet__team **out)
{
    *out = NULL;
    if (threads < 1)
        threads = 1;
    arnet__team *t = arnet__calloc(1, sizeof *t, "thread team");
    if (!t)
        return ARNET_E_NOMEM;
    t->threads = arnet__calloc((size_t)threads, sizeof *t->threads, "thread team");
    if (!t->threads) {
        free(t);
        return ARNET_E_NOMEM;
    }
    pthread_mutex_init(&t->mu, NULL);
    pthread_cond_init(&t->go, NULL);
    pthread_cond_init(&t->done, NULL);
    t->n = 1;
    for (int i = 1; i < threads; i++) {
        member_start *ms = arnet__alloc(1, sizeof *ms, "thread team");
        int started = 0;
        if (ms) {
            ms->team = t;
            ms->member = i;
            started = pthread_create(&t->threads[i], NULL, member_main, ms) == 0;
        }
        if (!started) {
            free(ms);
            arnet__team_free(t);
            return arnet__error(ARNET_E_NOMEM, "thread team: cannot start thread %d of %d",
                                i + 1, threads);
        }
        t->n = i + 1;
    }
    *out = t;
    return ARNET_OK;
}

void arnet__team_run(arnet__team *t, arnet__team_fn fn, void *arg)
{
    if (!t || t->n == 1) {
        fn(arg, 0);
        return;
    }
    pthread_mutex_lock(&t->mu);
    t->fn = fn;
    t->arg = arg;
    t->shared = 0;
    t->pending = t->n - 1;
    t->generation++;
    pthread_cond_broadcast(&t->go);
    pthread_mutex_unlock(&t->mu);
    fn(arg, 0);
    pthread_mutex_lock(&t->mu);
    while (t->pending > 0)
        pthread_cond_wait(&t->done, &t->mu);
    pthread_mutex_unlock(&t->mu);
}

/* Members that wake after the caller has finished its own call skip the
 * kernel: fn takes its work from a counter, so the caller's return means
 * every piece was taken, and a member that started none has none to do.
 * The caller waits only for members inside fn.  On a loaded machine a
 * member may wait several milliseconds for a core after it is woken;
 * arnet__team_run would wait for each of them at every call. */
void arnet__team_run_shared(arnet__team *t, arnet__team_fn fn, void *arg)
{
    if (!t || t->n == 1) {
        fn(arg, 0);
        return;
    }
    pthread_mutex_lock(&t->mu);
    t->fn = fn;
    t->arg = arg;
    t->shared = 1;
    t->closed = 0;
    t->running = 0;
    t->generation++;
    pthread_cond_broadcast(&t->go);
    pthread_mutex_unlock(&t->mu);
    fn(arg, 0);
    pthread_mutex_lock(&t->mu);
    t->closed = 1;
    while (t->running > 0)
        pthread_cond_wait(&t->done, &t->mu);
    pthread_mutex_unlock(&t->mu);
}

size_t arnet__team_take(size_t *next) { return __atomic_fetch_add(next, 1, __ATOMIC_RELAXED); }

typedef struct team_for_job {
    arnet__team_range_fn fn;
    void *arg;
    size_t n, chunk, next;
} team_for_job;

static void team_for_member(void *arg, int member)
{
    team_for_job *j = arg;
    (void)member;
    for (size_t c; (c = arnet__team_take(&j->next)) < (j->n + j->chunk - 1) / j->chunk;) {
        size_t lo = c * j->chunk, hi = j->n - lo < j->chunk ? j->n : lo + j->chunk;
        j->fn(j->arg, lo, hi);
    }
}

void arnet__team_for(arnet__team *team, size_t n, size_t chunk, arnet__team_range_fn fn,
                     void *arg)
{
    if (chunk == 0)
        chunk = 1;
    if (!team || team->n == 1 || n <= chunk) {
        if (n)
            fn(arg, 0, n);
        return;
    }
    team_for_job j = {fn, arg, n, chunk, 0};
    arnet__team_run_shared(team, team_for_member, &j);
}
