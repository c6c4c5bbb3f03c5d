/* Residual sections of error-bounded chunks (docs/format.md, "Residual sections";
 * phcomp/core/residual.py, residual_runs.py) decoded in C. */
#ifndef PHC_RESIDUAL_H
#define PHC_RESIDUAL_H

#include <stddef.h>
#include <stdint.h>

#define PHC_SEC_RESIDUAL 2      /* quads */
#define PHC_SEC_RESIDUAL_RUNS 7 /* zero runs */

/* The n residual integers of section `kind` into out (n of them). 0, or an error code and
 * a message. */
int phc_residual_decode(int kind, const uint8_t *body, uint64_t len, uint64_t n, int32_t *out, char *err,
                        size_t errlen);

/* A residual of kind 7 held sparsely (its values are mostly 0: a dense copy would cost four
 * bytes per value to fill and read): a bitmap of the nonzero positions, the nonzeros before
 * each 64-position word, and the nonzero values in position order. */
typedef struct {
    uint64_t n;
    uint64_t *bits; /* (n + 63) / 64 words, bit i of word w: position 64 w + i */
    uint64_t *rank; /* per word, the nonzeros before it */
    int32_t *val;
} phc_sparse_residual;
/* Kind 7 into out, with the checks of phc_residual_decode; free with phc_sparse_residual_free
 * (also after an error). */
int phc_residual_runs_sparse(const uint8_t *body, uint64_t len, uint64_t n, phc_sparse_residual *out, char *err,
                             size_t errlen);
void phc_sparse_residual_free(phc_sparse_residual *sp);

/* The run table of kind 7 from its four weights (residual_runs.run_table, exact integers),
 * indexed for decoding. 0, or nonzero. */
#include "rangecoder.h"
int phc_run_table(phc_table *t, const int64_t w[4]);

#endif
