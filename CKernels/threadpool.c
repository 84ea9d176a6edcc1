/* threadpool.c — one pool of worker threads per engine (ggml's model): a task runs on every
 * thread with its (ith, nth), and threads meet at spin barriers between the ops of a graph. */
#include "ckernels.h"
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <time.h>
#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define CK_PAUSE() _mm_pause()
#else
#define CK_PAUSE() ((void)0)
#endif

/* Spins this long waiting for work before sleeping on the condition variable: long enough
 * for the next image of a batch-1 stream, short enough not to hold a core the caller's own work
 * between runs needs. A time, not a count of pauses: a pause takes 10 cycles on some cores and
 * 140 on others. */
#define CK_SPIN_BEFORE_SLEEP_NS 200000
/* At a barrier, spins this many times before yielding the core on every further wait (a
 * thread that was descheduled must not be waited for by burning its only core). */
#define CK_SPIN_BEFORE_YIELD 4000

struct ck_pool {
    size_t nth;
    pthread_t *workers;
    pthread_mutex_t lock;
    pthread_cond_t wake;
    _Atomic size_t generation; /* bumped once per ck_pool_run */
    _Atomic size_t finished;   /* workers done with the current task */
    _Atomic size_t arrived;    /* threads at the current barrier */
    _Atomic size_t barrier_phase;
    _Atomic int stop;
    _Atomic size_t claimed;    /* next index ck_pool_claim hands out in the current task */
    ck_pool_task task;
    void *ctx;
};

typedef struct { ck_pool *pool; size_t ith; } ck_worker_arg;

static long long ck_now_ns(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (long long)t.tv_sec * 1000000000LL + t.tv_nsec;
}

static void *ck_worker(void *p) {
    ck_worker_arg *arg = (ck_worker_arg *)p;
    ck_pool *pool = arg->pool;
    const size_t ith = arg->ith;
    free(arg);
    size_t seen = 0;
    for (;;) {
        size_t spins = 0;
        const long long start = ck_now_ns();
        while (atomic_load_explicit(&pool->generation, memory_order_acquire) == seen &&
               !atomic_load_explicit(&pool->stop, memory_order_acquire)) {
            /* The clock is read every 64 pauses. */
            if ((++spins & 63) != 0 || ck_now_ns() - start < CK_SPIN_BEFORE_SLEEP_NS) { CK_PAUSE(); continue; }
            pthread_mutex_lock(&pool->lock);
            while (atomic_load(&pool->generation) == seen && !atomic_load(&pool->stop))
                pthread_cond_wait(&pool->wake, &pool->lock);
            pthread_mutex_unlock(&pool->lock);
        }
        if (atomic_load(&pool->stop)) return NULL;
        seen = atomic_load(&pool->generation);
        pool->task(pool->ctx, ith, pool->nth);
        atomic_fetch_add_explicit(&pool->finished, 1, memory_order_acq_rel);
    }
}

ck_pool *ck_pool_create(size_t nthreads) {
    if (nthreads < 1) nthreads = 1;
    ck_pool *pool = (ck_pool *)calloc(1, sizeof *pool);
    if (!pool) return NULL;
    pool->nth = nthreads;
    pthread_mutex_init(&pool->lock, NULL);
    pthread_cond_init(&pool->wake, NULL);
    pool->workers = (pthread_t *)calloc(nthreads, sizeof(pthread_t));
    if (!pool->workers) { ck_pool_destroy(pool); return NULL; }
    for (size_t i = 1; i < nthreads; i++) {
        ck_worker_arg *arg = (ck_worker_arg *)malloc(sizeof *arg);
        if (!arg) { pool->nth = i; ck_pool_destroy(pool); return NULL; }
        arg->pool = pool;
        arg->ith = i;
        if (pthread_create(&pool->workers[i], NULL, ck_worker, arg) != 0) {
            free(arg);
            pool->nth = i;
            ck_pool_destroy(pool);
            return NULL;
        }
    }
    return pool;
}

void ck_pool_destroy(ck_pool *pool) {
    if (!pool) return;
    pthread_mutex_lock(&pool->lock);
    atomic_store(&pool->stop, 1);
    pthread_cond_broadcast(&pool->wake);
    pthread_mutex_unlock(&pool->lock);
    for (size_t i = 1; i < pool->nth; i++)
        if (pool->workers) pthread_join(pool->workers[i], NULL);
    pthread_cond_destroy(&pool->wake);
    pthread_mutex_destroy(&pool->lock);
    free(pool->workers);
    free(pool);
}

size_t ck_pool_threads(const ck_pool *pool) { return pool->nth; }

size_t ck_pool_claim(ck_pool *pool) {
    return atomic_fetch_add_explicit(&pool->claimed, 1, memory_order_relaxed);
}

void ck_pool_run(ck_pool *pool, ck_pool_task task, void *ctx) {
    atomic_store(&pool->claimed, 0);
    if (pool->nth == 1) { task(ctx, 0, 1); return; }
    pool->task = task;
    pool->ctx = ctx;
    atomic_store(&pool->claimed, 0);
    atomic_store(&pool->finished, 0);
    pthread_mutex_lock(&pool->lock);
    atomic_fetch_add_explicit(&pool->generation, 1, memory_order_acq_rel);
    pthread_cond_broadcast(&pool->wake);
    pthread_mutex_unlock(&pool->lock);
    task(ctx, 0, pool->nth);
    size_t spins = 0;
    while (atomic_load_explicit(&pool->finished, memory_order_acquire) < pool->nth - 1) {
        if (++spins < CK_SPIN_BEFORE_YIELD) CK_PAUSE();
        else sched_yield();
    }
}

void ck_pool_barrier(ck_pool *pool) {
    if (pool->nth == 1) return;
    const size_t phase = atomic_load_explicit(&pool->barrier_phase, memory_order_acquire);
    if (atomic_fetch_add_explicit(&pool->arrived, 1, memory_order_acq_rel) == pool->nth - 1) {
        atomic_store_explicit(&pool->arrived, 0, memory_order_relaxed);
        atomic_fetch_add_explicit(&pool->barrier_phase, 1, memory_order_acq_rel);
    } else {
        size_t spins = 0;
        while (atomic_load_explicit(&pool->barrier_phase, memory_order_acquire) == phase) {
            if (++spins < CK_SPIN_BEFORE_YIELD) CK_PAUSE();
            else sched_yield();
        }
    }
}
