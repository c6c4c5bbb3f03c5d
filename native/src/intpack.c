/* Packed ints (phcomp/core/intpack.py): u8 width, u64 count, u64 length + zstd frame. */
#include "intpack.h"

#include <stdio.h>
#include <stdlib.h>

#include "phcomp_codec.h"
#include "zstd_rt.h"

int phc_unpack_ints(phc_reader *r, uint64_t max, int64_t **out, uint64_t *count, const char *what, char *err,
                    size_t errlen) {
    *out = NULL;
    const unsigned width = (unsigned)phc_le(r, 1);
    *count = phc_le(r, 8);
    const uint64_t len = phc_le(r, 8);
    const uint8_t *blob = phc_take(r, len);
    if (r->bad) {
        snprintf(err, errlen, "truncated or corrupt %s", what);
        return PHC_ECORRUPT;
    }
    if (width != 1 && width != 2 && width != 4 && width != 8) {
        snprintf(err, errlen, "corrupt %s: bad integer width %u", what, width);
        return PHC_ECORRUPT;
    }
    if (*count > max) {
        snprintf(err, errlen, "corrupt %s: %llu values declared, at most %llu possible", what, (unsigned long long)*count,
                 (unsigned long long)max);
        return PHC_ECORRUPT;
    }
    if (phc_zstd_check(*count * width, blob ? blob : (const uint8_t *)"", len, what, err, errlen)) return PHC_ECORRUPT;
    uint8_t *raw = malloc(*count * width + 1);
    int64_t *v = malloc((*count ? *count : 1) * sizeof *v);
    if (!raw || !v) {
        free(raw);
        free(v);
        snprintf(err, errlen, "out of memory");
        return PHC_ENOMEM;
    }
    if (phc_zstd_decompress(raw, *count * width, blob ? blob : (const uint8_t *)"", len, what, err, errlen)) {
        free(raw);
        free(v);
        return PHC_ECORRUPT;
    }
    for (uint64_t i = 0; i < *count; i++) {
        phc_reader a = {raw + i * width, width, 0, 0};
        const uint64_t u = phc_le(&a, (int)width);
        const int sh = 64 - 8 * (int)width; /* sign-extend */
        v[i] = sh ? (int64_t)(u << sh) >> sh : (int64_t)u;
    }
    free(raw);
    *out = v;
    return PHC_OK;
}

int phc_read_stream(phc_reader *r, uint64_t max_esc, uint32_t **words, uint64_t *nwords, int64_t **esc,
                    uint64_t *nesc, char *err, size_t errlen) {
    *words = NULL;
    *esc = NULL;
    *nwords = phc_le(r, 8);
    if (r->bad || *nwords > (r->n - r->pos) / 4) { /* bounded by the bytes present before allocating */
        snprintf(err, errlen, "truncated or corrupt range-coded stream");
        return PHC_ECORRUPT;
    }
    *words = malloc((size_t)(*nwords ? *nwords : 1) * 4);
    if (!*words) {
        snprintf(err, errlen, "out of memory");
        return PHC_ENOMEM;
    }
    for (uint64_t i = 0; i < *nwords; i++) (*words)[i] = (uint32_t)phc_le(r, 4);
    const int rc = phc_unpack_ints(r, max_esc, esc, nesc, "escape values", err, errlen);
    if (rc) {
        free(*words);
        *words = NULL;
    }
    return rc;
}

int phc_stream_error(int rc, char *err, size_t errlen) {
    snprintf(err, errlen, rc == -2 ? "corrupt range-coded stream: escape list exhausted"
                          : rc == -3 ? "corrupt range-coded stream: escape value out of range"
                                     : "corrupt range-coded stream: a state no encoder produces");
    return PHC_ECORRUPT;
}
