/* Bounds-checked little-endian reading of chunk and model bytes. */
#ifndef PHC_BYTES_H
#define PHC_BYTES_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

typedef struct {
    const uint8_t *p;
    size_t n, pos;
    int bad; /* set on the first read past the end; later reads return 0 */
} phc_reader;

static inline const uint8_t *phc_take(phc_reader *r, uint64_t k) {
    if (r->bad || k > r->n - r->pos) {
        r->bad = 1;
        return NULL;
    }
    const uint8_t *q = r->p + r->pos;
    r->pos += (size_t)k;
    return q;
}

static inline uint64_t phc_le(phc_reader *r, int k) {
    const uint8_t *q = phc_take(r, (uint64_t)k);
    uint64_t v = 0;
    if (q)
        for (int i = k - 1; i >= 0; i--) v = (v << 8) | q[i];
    return v;
}

static inline double phc_f64(phc_reader *r) {
    uint64_t u = phc_le(r, 8);
    double d;
    memcpy(&d, &u, 8);
    return d;
}

#endif
