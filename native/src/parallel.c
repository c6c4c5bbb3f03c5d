#include "parallel.h"

#include <pthread.h>

typedef struct {
    phc_part_fn fn;
    void *arg;
    int part;
    int64_t i0, i1;
} part_job;

static void *run_part(void *p) {
    part_job *j = p;
    j->fn(j->arg, j->part, j->i0, j->i1);
    return 0;
}

int phc_parts(int threads, int64_t n, int64_t min_work) {
    if (threads < 2 || n < min_work || n < 2) return 1;
    if (threads > PHC_MAX_THREADS) threads = PHC_MAX_THREADS;
    return n < threads ? (int)n : threads;
}

void phc_parallel_for(int threads, int64_t n, int64_t min_work, phc_part_fn fn, void *arg) {
    const int nt = phc_parts(threads, n, min_work);
    if (nt == 1) {
        fn(arg, 0, 0, n);
        return;
    }
    pthread_t tid[PHC_MAX_THREADS];
    part_job jobs[PHC_MAX_THREADS];
    int started[PHC_MAX_THREADS];
    for (int k = 0; k < nt; k++) {
        jobs[k] = (part_job){fn, arg, k, n * k / nt, n * (k + 1) / nt};
        started[k] = k && pthread_create(&tid[k], 0, run_part, &jobs[k]) == 0;
    }
    fn(arg, 0, jobs[0].i0, jobs[0].i1);
    for (int k = 1; k < nt; k++) {
        if (started[k]) pthread_join(tid[k], 0);
        else fn(arg, k, jobs[k].i0, jobs[k].i1); /* no thread to be had: its share runs here */
    }
}

void phc_side_start(phc_side *s, int threads, void *(*fn)(void *), void *arg) {
    s->fn = fn, s->arg = arg;
    s->started = threads > 1 && pthread_create(&s->tid, 0, fn, arg) == 0;
}

void phc_side_finish(phc_side *s, int run) {
    if (s->started) pthread_join(s->tid, 0);
    else if (run) s->fn(s->arg);
}
