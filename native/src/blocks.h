/* Modes 1 and 2 (docs/format.md, "Decoding order (mode 1 and 2)"): the latent section decoded,
 * each block reconstructed by the model's decoder, the residual added, cast to the dtype. */
#ifndef PHC_BLOCKS_H
#define PHC_BLOCKS_H

#include <stddef.h>
#include <stdint.h>

#include "decoder_int.h"

/* The chunk's values before its exception and non-finite points (C order, dtype code 1 or 2,
 * little-endian host order) into out. reskind: 0 (mode 1) or the residual section's kind. */
int phc_blocks_decode(const phc_transform *t, const phc_chunk_info *in, double eps, double mid, double half,
                      double step, const uint8_t *lat, uint64_t latlen, int reskind, const uint8_t *res,
                      uint64_t reslen, void *out, int threads, char *err, size_t errlen);

#endif
