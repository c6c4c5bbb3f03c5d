/* Modes 1-2 written in C (phcomp/core/codec.py _encode_quiet for the linear and separable
 * kinds): the float projection of every block, the quantised latents, the exact decoder's
 * reconstruction, the residual and the points that must be stored exactly, then the latent and
 * residual sections. The projection is float arithmetic outside the exactness contract (its
 * summation order is not numpy's), so a latent may round the other way from Python's: chunks
 * written here decode to the same bits with the C and the numpy decoder and keep the bound, and
 * are not byte-identical to the numpy encoder's. */
#ifndef PHC_TRANSFORM_ENCODE_H
#define PHC_TRANSFORM_ENCODE_H

#include <stddef.h>
#include <stdint.h>

#include "chunk_write.h"
#include "decoder_int.h"

/* x: C-contiguous float32/float64 (dtype code), nv values of shape[0..ndim); lo..hi its finite
 * range (lo < hi); eps > 0 the absolute bound, or < 0 for latents only (mode 1). */
int phc_transform_chunk(phc_buf *out, const void *x, int dtype, int ndim, const uint64_t *shape, uint64_t nv,
                        const phc_transform *t, const char *model_id, double lo, double hi, double eps, int threads,
                        char *err, size_t errlen);

#endif
