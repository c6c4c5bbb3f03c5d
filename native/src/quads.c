/* Quads: the product table of a single-value table, and decoding four values per symbol. */
#include "quads.h"

#include <stdio.h>
#include <stdlib.h>

#include "intpack.h"
#include "phcomp_codec.h"

static int bitlen128(unsigned __int128 v) {
    int n = 0;
    while (v) {
        v >>= 1;
        n++;
    }
    return n;
}

int phc_quad_table(phc_table *quad, const uint32_t *freq, uint32_t nfreq, int64_t lo) {
    uint64_t sum = 0;
    for (uint32_t i = 0; i < nfreq; i++) sum += freq[i];
    const int shift = bitlen128(sum) > 12 ? bitlen128(sum) - 12 : 0;
    uint64_t gsum = 0, core[5] = {1, 1, 1, 1, 1}; /* a value the single table escapes keeps weight 1 */
    const uint32_t nsym = nfreq - 1;
    for (uint32_t i = 0; i < nfreq; i++) {
        const uint64_t g = freq[i] >> shift ? freq[i] >> shift : 1; /* 12-bit weights */
        gsum += g;
        const int64_t v = lo + (int64_t)i; /* lo is a model's or a section's (|lo| <= 2**40) */
        if (i < nsym && v >= -2 && v <= 2) core[v + 2] = g;
    }
    /* 625 products (each below 2**52) and the escape: sum(g)**4 minus their sum, at least 1; the
     * whole table shifted right (floored at 1) when its total needs more than 31 bits */
    unsigned __int128 prod[PHC_QUAD_SYMBOLS + 1], total = 0, psum = 0;
    for (int s = 0; s < PHC_QUAD_SYMBOLS; s++) {
        prod[s] = (unsigned __int128)(core[s / 125] * core[s / 25 % 5]) * (core[s / 5 % 5] * core[s % 5]);
        psum += prod[s];
    }
    const unsigned __int128 g4 = (unsigned __int128)(gsum * gsum) * (gsum * gsum); /* gsum < 2**25 */
    prod[PHC_QUAD_SYMBOLS] = g4 > psum + 1 ? g4 - psum : 1;
    for (int s = 0; s <= PHC_QUAD_SYMBOLS; s++) total += prod[s];
    const int top = bitlen128(total) - 31;
    uint32_t f[PHC_QUAD_SYMBOLS + 1];
    for (int s = 0; s <= PHC_QUAD_SYMBOLS; s++) {
        const unsigned __int128 v = top > 0 ? (top < 128 ? prod[s] >> top : 0) : prod[s];
        f[s] = v ? (uint32_t)v : 1;
    }
    return phc_table_init(quad, 0, f, PHC_QUAD_SYMBOLS + 1);
}

int phc_decode_quads(phc_decoder *d, const phc_table *quad, const phc_table *single, uint64_t n, int32_t *out,
                     char *err, size_t errlen) {
    const uint64_t nq = (n + 3) / 4;
    for (uint64_t i = 0; i < nq; i++) {
        int32_t s;
        const int rc = phc_decode_i32(d, quad, &s);
        if (rc) return phc_stream_error(rc, err, errlen);
        if (s < 0 || s > PHC_QUAD_SYMBOLS) {
            snprintf(err, errlen, "corrupt range-coded stream: bad quad symbol");
            return PHC_ECORRUPT;
        }
        int32_t *o = out + 4 * i;
        if (s == PHC_QUAD_SYMBOLS) { /* its values follow all the quads: marked until then */
            o[0] = INT32_MIN;
            continue;
        }
        o[0] = s / 125 - 2, o[1] = s / 25 % 5 - 2, o[2] = s / 5 % 5 - 2, o[3] = s % 5 - 2;
    }
    for (uint64_t i = 0; i < nq; i++) {
        if (out[4 * i] != INT32_MIN) continue;
        for (int j = 0; j < 4; j++) {
            const int rc = phc_decode_i32(d, single, &out[4 * i + (uint64_t)j]);
            if (rc) return phc_stream_error(rc, err, errlen);
        }
    }
    return PHC_OK;
}
