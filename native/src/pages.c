/* Big arrays as fresh anonymous pages: zero by definition (like calloc's), first touched by
 * whichever thread writes them, and on Linux marked for transparent huge pages, so a 10^8-value
 * lattice takes 512x fewer page faults and its strided reads (taps a plane apart) far fewer TLB
 * misses. Small arrays, and systems without mmap, use calloc. Each block starts with a 64-byte
 * header holding its mapped length (0: calloc'd). */
#define _DEFAULT_SOURCE /* MAP_ANONYMOUS, madvise under -std=c11 */
#include "pages.h"

#include <stdint.h>
#include <stdlib.h>

#if defined(__unix__)
#include <sys/mman.h>
#endif

#define HEAD 64
#define BIG ((size_t)4 << 20) /* below this, calloc (and its reuse of freed memory) wins */
#define HUGE_ONLY ((size_t)32 << 20) /* glibc's largest mmap threshold: above, malloc maps fresh pages too */

void *phc_pages_zeroed(size_t n, size_t size) {
    if (size && n > (SIZE_MAX - HEAD) / size) return NULL;
    const size_t bytes = HEAD + n * size;
    char *p = NULL;
#if defined(MAP_ANONYMOUS)
    if (bytes >= BIG) {
        void *m = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (m != MAP_FAILED) {
#if defined(MADV_HUGEPAGE)
            (void)madvise(m, bytes, MADV_HUGEPAGE); /* advice only: refused is fine */
#endif
            p = m;
            *(size_t *)p = bytes;
        }
    }
#endif
    if (!p) {
        p = calloc(1, bytes);
        if (!p) return NULL; /* the header's length is calloc's 0 */
    }
    return p + HEAD;
}

void *phc_pages_get(size_t n, size_t size, int zero) {
    if (size && n > (SIZE_MAX - HEAD) / size) return NULL;
    if (HEAD + n * size >= HUGE_ONLY) return phc_pages_zeroed(n, size);
    char *p = zero ? calloc(1, HEAD + n * size) : malloc(HEAD + n * size);
    if (!p) return NULL;
    *(size_t *)p = 0; /* freed by free() */
    return p + HEAD;
}

void phc_pages_free(void *q) {
    if (!q) return;
    char *p = (char *)q - HEAD;
    const size_t len = *(size_t *)p;
#if defined(MAP_ANONYMOUS)
    if (len) {
        munmap(p, len);
        return;
    }
#endif
    free(p);
}
