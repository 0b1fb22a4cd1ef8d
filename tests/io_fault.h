/* io_fault.h -- I/O fault injection for tests that link the static
 * libarnet (io_fault.c defines write, pwrite, fsync, close and rename):
 * arm(op, n, kind) makes the nth call (from 0) of op fail as kind, disarm()
 * stops and says whether it struck.  Used by test_io_fail.c and by the
 * parts' own tests (test_run.c). */
#ifndef ARNET_TESTS_IO_FAULT_H
#define ARNET_TESTS_IO_FAULT_H

enum { OP_WRITE, OP_FSYNC, OP_CLOSE, OP_RENAME, N_OPS };
enum { K_ENOSPC, K_EIO, K_SHORT_THEN_ENOSPC, K_SHORT, K_EINTR };
extern const char *const op_names[N_OPS];
extern const char *const kind_names[];
/* Whether the call that failed was on a folder (its fsync or close). */
extern int hit_on_folder;

void arm(int op, long at, int kind);
int disarm(void);

#endif
