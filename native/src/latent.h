/* The latent section (docs/format.md, "Latent section"; phcomp/core/latent.py,
 * latent_dense.py, latent_sparse.py) decoded in C: dense coders 0, 2, 3 and the sparse coder 1. */
#ifndef PHC_LATENT_H
#define PHC_LATENT_H

#include <stddef.h>
#include <stdint.h>

#include "rangecoder.h"

#define PHC_LEVEL_MIN (-8)
#define PHC_LEVEL_MAX 10
#define PHC_LEVELS 19
#define PHC_QUAD_LEVEL_MAX 0

/* A model's latent tables (params.latent_coding and the tables.* arrays). */
typedef struct {
    int ngroups, contexts;
    int32_t *edges;     /* ngroups + 1 channel edges, rising from 0 to the latent width */
    int64_t *ctx_edges; /* ngroups x 19 levels x (contexts - 1), each row non-decreasing */
    int64_t dense_base, sparse_base, ntables;
    phc_table *tables;
    uint32_t *freq;     /* every table's frequencies (quad tables derive from them) */
    int64_t *freq_off;  /* table i: nfreq[i] frequencies at freq + freq_off[i] */
    uint32_t *nfreq;
} phc_latent_tables;

void phc_latent_tables_free(phc_latent_tables *t);
/* A block's context for one group: how many of the n edges are <= its activity v. */
int phc_context_of(const int64_t *edges, int n, int64_t v);

/* Decodes the section body into q (nblocks x the latent width, int32, zeroed by the caller).
 * 0, or an error code and a message. */
int phc_latent_decode(const phc_latent_tables *t, const uint8_t *body, uint64_t len, int64_t nblocks, int32_t *q,
                      char *err, size_t errlen);

#endif
