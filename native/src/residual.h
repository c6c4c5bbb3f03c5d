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

/* The run table of kind 7 from its four weights (residual_runs.run_table, exact integers),
 * indexed for decoding. 0, or nonzero. */
#include "rangecoder.h"
int phc_run_table(phc_table *t, const int64_t w[4]);

#endif
