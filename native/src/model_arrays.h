/* The arrays of a model container (docs/format.md, section 3): name -> dtype, shape, byte
 * range of the payload, each checked against the payload before it is read. */
#ifndef PHC_MODEL_ARRAYS_H
#define PHC_MODEL_ARRAYS_H

#include <stdint.h>

#include "json.h"

typedef struct {
    const uint8_t *data; /* in the payload, little-endian */
    char kind;           /* 'i' signed, 'u' unsigned, 'f' float */
    int size;            /* bytes per value */
    int rank;
    int64_t shape[8];
    int64_t count;
} phc_array;

/* The array `name` of the header's "arrays" (any of the format's dtypes), its shape of `rank`
 * dims (-1: any rank) and its bytes inside the payload. 0, or -1 when absent or malformed. */
int phc_array_get(const phc_json *arrays, const char *name, int rank, const uint8_t *payload, uint64_t plen,
                  phc_array *a);
/* value i of an integer array (sign-extended), of a float array */
int64_t phc_array_int(const phc_array *a, int64_t i);
double phc_array_f64(const phc_array *a, int64_t i);

#endif
