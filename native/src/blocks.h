/* Modes 1 and 2 (docs/format.md, "Decoding order (mode 1 and 2)"): the latent section decoded,
 * each block reconstructed by the model's decoder, the residual added, cast to the dtype. */
#ifndef PHC_BLOCKS_H
#define PHC_BLOCKS_H

#include <stddef.h>
#include <stdint.h>

#include "decoder_int.h"

/* The block layout (phcomp/core/blocking.py) shared by the decoder here and the encoder
 * (transform_encode.c): the array as (batch, *spatial) over the block's trailing axes (an array
 * of fewer dims gets leading unit axes), blocks in C order over (batch, grid...). */
typedef struct {
    int nd;
    int64_t block[4], sp[4], grid[4];
    int64_t item_values, blocks_per_item, nblocks;
} phc_layout;

void phc_layout_init(phc_layout *l, const phc_transform *t, int ndim, const uint64_t *shape);

/* Block blk: per axis its first index (start) and how many of its values lie inside the array
 * (lim), and the flat index of its batch item's first value (base). */
void phc_layout_block(const phc_layout *l, int64_t blk, int64_t *start, int64_t *lim, int64_t *base);

/* The rows of a block inside the array, along its last axis (lim[nd - 1] values each): for the
 * row at idx (all zeros first), *d its first value's index in the block and *p in the array;
 * idx then moves to the next row. Returns 0 after the last row. */
static inline int phc_layout_row(const phc_layout *l, const int64_t *start, const int64_t *lim, int64_t base,
                                 int64_t *idx, int64_t *d, int64_t *p) {
    *d = 0, *p = 0;
    for (int i = 0; i < l->nd; i++) {
        *d = *d * l->block[i] + idx[i];
        *p = *p * l->sp[i] + start[i] + idx[i];
    }
    *p += base;
    int i = l->nd - 2;
    while (i >= 0 && ++idx[i] == lim[i]) idx[i--] = 0;
    return i >= 0;
}

/* The chunk's values before its exception and non-finite points (C order, dtype code 1 or 2,
 * little-endian host order) into out. reskind: 0 (mode 1) or the residual section's kind. */
int phc_blocks_decode(const phc_transform *t, const phc_chunk_info *in, double eps, double mid, double half,
                      double step, const uint8_t *lat, uint64_t latlen, int reskind, const uint8_t *res,
                      uint64_t reslen, void *out, int threads, char *err, size_t errlen);

#endif
