/* The residual section written in C (phcomp/core/residual.py, residual_runs.py): zero runs
 * (kind 7) when nearly all values are 0 and +-1, else quads (kind 2); the same integer
 * decisions and tables as Python's, so the same bytes up to the zstd frames. */
#ifndef PHC_RESIDUAL_ENCODE_H
#define PHC_RESIDUAL_ENCODE_H

#include <stddef.h>
#include <stdint.h>

#include "chunk_write.h"

/* qr[0..n): the section's kind into *kind, its body into out. */
int phc_residual_encode(const int32_t *qr, uint64_t n, int *kind, phc_buf *out, char *err, size_t errlen);

#endif
