/* Four small values per range-coder symbol (docs/format.md, "Quads"; phcomp/core/rangecoder.py
 * quad_table / decode_quads): the dense latent coder and residual kind 2 use them. */
#ifndef PHC_QUADS_H
#define PHC_QUADS_H

#include <stdint.h>

#include "rangecoder.h"

#define PHC_QUAD_SYMBOLS 625 /* 5**4 quads of values in [-2, 2]; symbol 625 is the escape */

/* The quad table derived from a single-value table's nfreq frequencies (symbols lo..): exact
 * integer arithmetic, as Python's. 0, -1 (a table no encoder derives), -2 (out of memory). */
int phc_quad_table(phc_table *quad, const uint32_t *freq, uint32_t nfreq, int64_t lo);

/* n values (ceil(n/4) quad symbols, then the four values of each escaped quad with `single`)
 * into out, which has room for n rounded up to 4. 0, or a message in err and PHC_ECORRUPT. */
int phc_decode_quads(phc_decoder *d, const phc_table *quad, const phc_table *single, uint64_t n, int32_t *out,
                     char *err, size_t errlen);

#endif
