/* A parallel for over an index range with pthreads: the range is split into equal parts in
 * order, part k on its own thread (part 0 on the caller's). Results must not depend on the
 * split: every caller writes disjoint elements, or per-part storage merged in part order. */
#ifndef PHC_PARALLEL_H
#define PHC_PARALLEL_H

#include <pthread.h>
#include <stdint.h>

#define PHC_MAX_THREADS 256

typedef void (*phc_part_fn)(void *arg, int part, int64_t i0, int64_t i1);

/* How many parts phc_parallel_for splits n items into (1 below min_work items). */
int phc_parts(int threads, int64_t n, int64_t min_work);
/* fn over [0, n) in phc_parts(threads, n, min_work) parts. */
void phc_parallel_for(int threads, int64_t n, int64_t min_work, phc_part_fn fn, void *arg);

/* One task beside the caller's own work (two independent streams of a chunk): started on its
 * own thread when threads > 1 and a thread can be had; phc_side_finish waits for it, or, when it
 * was not started, runs it on the caller's thread if `run` is set. */
typedef struct {
    void *(*fn)(void *);
    void *arg;
    pthread_t tid;
    int started;
} phc_side;
void phc_side_start(phc_side *s, int threads, void *(*fn)(void *), void *arg);
void phc_side_finish(phc_side *s, int run);

#endif
