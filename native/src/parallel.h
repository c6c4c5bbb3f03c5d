/* A parallel for over an index range with pthreads: the range is split into equal parts in
 * order, part k on its own thread (part 0 on the caller's). Results must not depend on the
 * split: every caller writes disjoint elements, or per-part storage merged in part order. */
#ifndef PHC_PARALLEL_H
#define PHC_PARALLEL_H

#include <stdint.h>

#define PHC_MAX_THREADS 256

typedef void (*phc_part_fn)(void *arg, int part, int64_t i0, int64_t i1);

/* How many parts phc_parallel_for splits n items into (1 below min_work items). */
int phc_parts(int threads, int64_t n, int64_t min_work);
/* fn over [0, n) in phc_parts(threads, n, min_work) parts. */
void phc_parallel_for(int threads, int64_t n, int64_t min_work, phc_part_fn fn, void *arg);

#endif
