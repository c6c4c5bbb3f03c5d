/* Model container arrays: dtype strings, shapes and payload ranges, every size checked. */
#include "model_arrays.h"

#include <string.h>

#include "bytes.h"

static const char *DTYPES[] = {"<i2", "<i4", "<i8", "<u4", "<f4", "<f8", "|i1", "|u1"};

int phc_array_get(const phc_json *arrays, const char *name, int rank, const uint8_t *payload, uint64_t plen,
                  phc_array *a) {
    memset(a, 0, sizeof *a);
    const phc_json *e = phc_json_get(arrays, name);
    const phc_json *sh = phc_json_get(e, "shape"), *dt = phc_json_get(e, "dtype");
    int64_t off, nbytes;
    if (!e || !dt || !sh || sh->type != PHC_JARR || sh->n > 8 || (rank >= 0 && (int)sh->n != rank) ||
        phc_json_int(phc_json_get(e, "offset"), 0, INT64_MAX / 2, &off) ||
        phc_json_int(phc_json_get(e, "nbytes"), 0, INT64_MAX / 2, &nbytes))
        return -1;
    int known = 0;
    for (size_t i = 0; i < sizeof DTYPES / sizeof *DTYPES; i++) known |= phc_json_is_str(dt, DTYPES[i]);
    if (!known) return -1;
    a->kind = dt->str[1];
    a->size = dt->str[2] - '0';
    a->rank = (int)sh->n;
    a->count = 1;
    for (int i = 0; i < a->rank; i++) {
        if (phc_json_int(&sh->kids[i], 0, (int64_t)1 << 40, &a->shape[i])) return -1;
        a->count *= a->shape[i];
        if (a->count > ((int64_t)1 << 40)) return -1;
    }
    if ((uint64_t)off > plen || (uint64_t)nbytes > plen - (uint64_t)off || nbytes != a->count * a->size) return -1;
    a->data = payload + off;
    return 0;
}

int64_t phc_array_int(const phc_array *a, int64_t i) {
    phc_reader r = {a->data + i * a->size, (size_t)a->size, 0, 0};
    const uint64_t u = phc_le(&r, a->size);
    const int sh = 64 - 8 * a->size;
    return a->kind == 'u' || !sh ? (int64_t)u : (int64_t)(u << sh) >> sh;
}

double phc_array_f64(const phc_array *a, int64_t i) {
    phc_reader r = {a->data + i * a->size, (size_t)a->size, 0, 0};
    const uint64_t u = phc_le(&r, a->size);
    if (a->size == 8) {
        double d;
        memcpy(&d, &u, 8);
        return d;
    }
    const uint32_t w = (uint32_t)u;
    float f;
    memcpy(&f, &w, 4);
    return f;
}
