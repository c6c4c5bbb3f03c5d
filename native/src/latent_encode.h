/* The latent section written in C (phcomp/core/latent.py, latent_dense.py, latent_sparse.py):
 * coder 3 (dense with block ends and byte planes, written as coder 2 when no group takes byte
 * planes) and coder 1 (sparse), the smaller kept, as the Python encoder does. The level search
 * prices symbols with the model's float costs, so a near tie may pick another level than
 * numpy's: the chunk then differs in bytes, never in the values it decodes to. */
#ifndef PHC_LATENT_ENCODE_H
#define PHC_LATENT_ENCODE_H

#include <stddef.h>
#include <stdint.h>

#include "chunk_write.h"
#include "decoder_int.h"
#include "rangecoder.h"

/* The section body (coder byte first) of q (nblocks x the latent width) at `step` into out;
 * threads > 1: the two coders run side by side (the same bytes). */
int phc_latent_encode(const phc_transform *t, const int32_t *q, int64_t nblocks, double step, int threads, phc_buf *out,
                      char *err, size_t errlen);

/* Shared with the residual writer: a table fitted on counts (FreqTable.from_weights: each entry
 * floor(w * (budget / total)) + 1, budget = 2**16 - entries), and a range-coded stream written
 * as rangecoder.write_stream writes it (the encoder is sealed). */
void phc_fit_weights(const double *w, uint32_t n, uint32_t *freq);
int phc_put_stream(phc_buf *b, phc_encoder *e, char *err, size_t errlen);
/* four values per symbol (rangecoder.encode_quads) with the single table and its quad table */
void phc_encode_quads(phc_encoder *e, const phc_table *quad, const phc_table *single, const int32_t *v, uint64_t n);

#endif
