#define _GNU_SOURCE
#include "zstd_rt.h"

#include <dlfcn.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>

#define ZSTD_BLOCK_MAX ((unsigned long long)128 << 10) /* a block holds <= 128 KiB, takes >= 4 bytes */

static struct {
    unsigned long long (*content_size)(const void *, size_t);
    size_t (*decompress)(void *, size_t, const void *, size_t);
    unsigned (*is_error)(size_t);
    const char *(*error_name)(size_t);
    size_t (*compress)(void *, size_t, const void *, size_t, int);
    size_t (*compress_bound)(size_t);
    void *(*create_c)(void);
    size_t (*free_c)(void *);
    size_t (*compress_c)(void *, void *, size_t, const void *, size_t, int);
    void *(*create_d)(void);
    size_t (*free_d)(void *);
    size_t (*decompress_d)(void *, void *, size_t, const void *, size_t);
    int state; /* 0 not tried, 1 loaded, -1 missing */
} z;
static pthread_once_t once = PTHREAD_ONCE_INIT;

static void load(void) {
    void *h = dlopen("libzstd.so.1", RTLD_NOW | RTLD_LOCAL);
    if (!h) h = dlopen("libzstd.so", RTLD_NOW | RTLD_LOCAL);
    if (h) {
        *(void **)&z.content_size = dlsym(h, "ZSTD_getFrameContentSize");
        *(void **)&z.decompress = dlsym(h, "ZSTD_decompress");
        *(void **)&z.is_error = dlsym(h, "ZSTD_isError");
        *(void **)&z.error_name = dlsym(h, "ZSTD_getErrorName");
        *(void **)&z.compress = dlsym(h, "ZSTD_compress");
        *(void **)&z.compress_bound = dlsym(h, "ZSTD_compressBound");
        *(void **)&z.create_c = dlsym(h, "ZSTD_createCCtx");
        *(void **)&z.free_c = dlsym(h, "ZSTD_freeCCtx");
        *(void **)&z.compress_c = dlsym(h, "ZSTD_compressCCtx");
        *(void **)&z.create_d = dlsym(h, "ZSTD_createDCtx");
        *(void **)&z.free_d = dlsym(h, "ZSTD_freeDCtx");
        *(void **)&z.decompress_d = dlsym(h, "ZSTD_decompressDCtx");
    }
    z.state = (h && z.content_size && z.decompress && z.is_error && z.error_name && z.compress && z.compress_bound &&
               z.create_c && z.free_c && z.compress_c && z.create_d && z.free_d && z.decompress_d)
                  ? 1
                  : -1;
}

/* Contexts kept for reuse. Creating one runs `cpuid` (libzstd's BMI2 probe), which a virtual
 * machine traps: about 3.5 us per call on the x86_64 VM of docs/native.md, 8x the whole
 * compression of a small frame, and a chunk writes and reads a dozen frames. Each slot owns
 * the context it holds; taking and giving back are single atomic exchanges, so the cache is
 * lock-free, safe across fork, and holds at most PHC_ZSTD_SLOTS contexts of each kind. */
#define PHC_ZSTD_SLOTS 32
static _Atomic(void *) cslot[PHC_ZSTD_SLOTS], dslot[PHC_ZSTD_SLOTS];

static void *take(_Atomic(void *) *slot) {
    for (int i = 0; i < PHC_ZSTD_SLOTS; i++)
        if (atomic_load_explicit(&slot[i], memory_order_relaxed)) {
            void *p = atomic_exchange(&slot[i], NULL);
            if (p) return p;
        }
    return NULL;
}

static int give(_Atomic(void *) *slot, void *p) { /* 0: no free slot, the caller frees p */
    for (int i = 0; i < PHC_ZSTD_SLOTS; i++) {
        void *none = NULL;
        if (atomic_compare_exchange_strong(&slot[i], &none, p)) return 1;
    }
    return 0;
}

static int loaded(char *err, size_t errlen) {
    pthread_once(&once, load);
    if (z.state == 1) return 1;
    snprintf(err, errlen, "libzstd.so.1 not found (install Debian's libzstd1)");
    return 0;
}

size_t phc_zstd_bound(size_t n) { /* ZSTD_COMPRESSBOUND, valid before the library is loaded */
    return n + (n >> 8) + (n < (128 << 10) ? ((128 << 10) - n) >> 11 : 0);
}

int phc_zstd_compress(void *dst, size_t cap, const void *src, size_t n, int level, size_t *written, char *err,
                      size_t errlen) {
    if (!loaded(err, errlen)) return -1;
    void *c = take(cslot);
    if (!c) c = z.create_c();
    /* the same frame as ZSTD_compress: it declares its content size, and compressCCtx sets
     * every parameter from the level and size on each call */
    const size_t got = c ? z.compress_c(c, dst, cap, src, n, level) : z.compress(dst, cap, src, n, level);
    if (c && !give(cslot, c)) z.free_c(c);
    if (z.is_error(got)) {
        snprintf(err, errlen, "zstd compression failed: %s", z.error_name(got));
        return -1;
    }
    *written = got;
    return 0;
}

int phc_zstd_check(size_t expected, const void *src, size_t n, const char *what, char *err, size_t errlen) {
    if (!loaded(err, errlen)) return -1;
    const unsigned long long size = z.content_size(src, n);
    if (size >= 0ULL - 2) { /* ZSTD_CONTENTSIZE_ERROR / UNKNOWN */
        snprintf(err, errlen, "corrupt %s: not a zstd frame with a declared content size", what);
        return -1;
    }
    if (size > ((unsigned long long)n / 4 + 1) * ZSTD_BLOCK_MAX) {
        snprintf(err, errlen, "corrupt %s: zstd frame of %zu bytes declares %llu bytes of content", what, n, size);
        return -1;
    }
    if (size != expected) {
        snprintf(err, errlen, "corrupt %s: frame holds %llu bytes, expected %zu", what, size, expected);
        return -1;
    }
    return 0;
}

int phc_zstd_decompress(void *dst, size_t expected, const void *src, size_t n, const char *what, char *err,
                        size_t errlen) {
    if (phc_zstd_check(expected, src, n, what, err, errlen)) return -1;
    void *d = take(dslot);
    if (!d) d = z.create_d();
    const size_t got = d ? z.decompress_d(d, dst, expected, src, n) : z.decompress(dst, expected, src, n);
    if (d && !give(dslot, d)) z.free_d(d);
    if (z.is_error(got)) {
        snprintf(err, errlen, "corrupt %s: %s", what, z.error_name(got));
        return -1;
    }
    if (got != expected) {
        snprintf(err, errlen, "corrupt %s: decoded %zu bytes, expected %zu", what, got, expected);
        return -1;
    }
    return 0;
}
