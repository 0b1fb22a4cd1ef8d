/* team.h -- the thread team of core/team.c: what the BLIS glue, the
 * trainer and the video kernels run their work on.  Part of the core. */
#ifndef ARNET_TEAM_H
#define ARNET_TEAM_H

#include <stddef.h>

/* A team of threads that run one kernel together (the caller is member 0;
 * the others wait on a condition variable, never spin, so a loaded machine
 * does not suffer).  Each member calls BLIS single-threaded on its own part
 * of the work, with its own part of the scratch.  NULL means one thread. */
typedef struct arnet__team arnet__team;
typedef void (*arnet__team_fn)(void *arg, int member);
int arnet__team_create(int threads, arnet__team **out); /* team.c */
void arnet__team_free(arnet__team *team);
int arnet__team_size(const arnet__team *team);
/* fn(arg, m) on every member m, the caller being member 0; returns when
 * all are done.  NULL team: fn(arg, 0). */
void arnet__team_run(arnet__team *team, arnet__team_fn fn, void *arg);
/* The same for a kernel whose members take all their work with
 * arnet__team_take: members that wake after the caller's own call has
 * returned skip it, and the call returns once the members that started
 * are done (no wait for a member that has not had a core yet). */
void arnet__team_run_shared(arnet__team *team, arnet__team_fn fn, void *arg);
/* The next chunk of a kernel's work, for whichever member asks first. */
size_t arnet__team_take(size_t *next);
/* fn(arg, lo, hi) over [0, n) in chunks of `chunk` items (the last one
 * shorter) taken by whichever member asks first: for loops whose items are
 * independent, so the result does not depend on who did which.  One call
 * fn(arg, 0, n) when the team is NULL or n <= chunk. */
typedef void (*arnet__team_range_fn)(void *arg, size_t lo, size_t hi);
void arnet__team_for(arnet__team *team, size_t n, size_t chunk, arnet__team_range_fn fn,
                     void *arg);

#endif /* ARNET_TEAM_H */
