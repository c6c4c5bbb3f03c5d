/* The range coder of the chunk format: constriction 0.5.0's queue range coder
 * (RangeEncoder / RangeDecoder with 32-bit words, 64-bit state, 24-bit probabilities) and
 * its Categorical(perfect=False) model, reproduced bit for bit (docs/format.md,
 * "Range-coded streams"). Tables are integer frequencies; the quantized CDF is derived from
 * freq / sum(freq) in IEEE double arithmetic exactly as constriction derives it. */
#ifndef PHC_RANGECODER_H
#define PHC_RANGECODER_H

#include <stddef.h>
#include <stdint.h>

#define PHC_PRECISION 24

/* One table: symbols lo .. lo+nsym-1, then the escape symbol nsym. cdf has nsym+2 entries
 * (the last is 2**24). */
typedef struct {
    int64_t lo;
    uint32_t nsym;
    uint32_t mode; /* the most frequent symbol: where the decoder's search starts */
    uint32_t *cdf;
    uint32_t *bucket; /* optional (phc_table_index): bucket[i] = the last symbol s with cdf[s] <= i * 2**16 */
} phc_table;

/* Builds t->cdf from nsym+1 frequencies (each >= 1, sum < 2**32). 0 on success. */
int phc_table_init(phc_table *t, int64_t lo, const uint32_t *freq, uint32_t nfreq);
void phc_table_free(phc_table *t);
/* Adds the decoder's bucket index (257 entries, about 1 KB) to a table of more than a few
 * symbols: the symbol search then looks only between two neighbouring buckets' symbols. Tables
 * coding many values with wide alphabets (latents, residual runs) gain most. 0, or -2. */
int phc_table_index(phc_table *t);

typedef struct {
    uint64_t lower, range;
    int inverted;           /* constriction's EncoderSituation::Inverted */
    size_t num_inverted;
    uint32_t first_inverted;
    uint32_t *words;
    size_t nwords, cap;
    int64_t *escapes;
    size_t nesc, esc_cap;
    int oom;
} phc_encoder;

void phc_encoder_init(phc_encoder *e);
void phc_encoder_free(phc_encoder *e);
/* Codes value v with table t (the escape symbol and an escape entry when v is outside). */
void phc_encode_value(phc_encoder *e, const phc_table *t, int64_t v);
/* Codes v in [0, 2**bits) with constriction's Uniform(2**bits) (1 <= bits <= 24). */
void phc_encode_uniform(phc_encoder *e, int bits, uint32_t v);
/* Appends the sealing words (get_compressed); the encoder must not be used after. */
void phc_encoder_seal(phc_encoder *e);

typedef struct {
    uint64_t lower, range, point;
    const uint32_t *words;
    size_t nwords, pos;
    const int64_t *escapes;
    size_t nesc, esc_pos;
} phc_decoder;

void phc_decoder_init(phc_decoder *d, const uint32_t *words, size_t nwords, const int64_t *escapes, size_t nesc);
/* Decodes one value coded with constriction's Uniform(2**bits) (1 <= bits <= 24; every bin
 * 2**(24-bits) wide) into *v. 0, or -1 for a state no encoder produces. */
int phc_decode_uniform(phc_decoder *d, int bits, int64_t *v);

#define PHC_BUCKET_SHIFT (PHC_PRECISION - 8)
#define PHC_WORD_BITS 32
#define PHC_LOW_RANGE ((uint64_t)1 << 32) /* the invariant range >= 2**(64-32) */

/* The decoder's hot path, inline here: every symbol of every stream goes through it. */

/* the s in [lo, hi) with cdf[s] <= q < cdf[s+1], given cdf[lo] <= q < cdf[hi] */
static inline uint32_t phc_bisect(const uint32_t *cdf, uint32_t lo, uint32_t hi, uint32_t q) {
    while (hi - lo > 1) {
        const uint32_t mid = lo + (hi - lo) / 2;
        if (cdf[mid] <= q) lo = mid;
        else hi = mid;
    }
    return lo;
}

/* the symbol s with cdf[s] <= q < cdf[s+1] (cdf[0] == 0, cdf[nsym+1] == 2**24 > q). Trained
 * tables are peaked, so the search gallops out from the mode g (steps 1, 2, 4, ...) and then
 * bisects the last step: about 2 log2 |s - g| probes, near g's cache lines, whatever the width. */
static inline uint32_t phc_find_symbol(const uint32_t *cdf, uint32_t nsym, uint32_t g, uint32_t q) {
    uint32_t lo, hi;
    if (cdf[g] <= q) {
        if (q < cdf[g + 1]) return g;
        lo = g + 1; /* cdf[lo] <= q; g + 1 <= nsym, as cdf[g + 1] <= q < cdf[nsym + 1] */
        for (uint32_t step = 1;; step *= 2) {
            if (step > nsym + 1 - lo) {
                hi = nsym + 1;
                break;
            }
            hi = lo + step;
            if (q < cdf[hi]) break;
            lo = hi;
        }
    } else { /* g >= 1, as cdf[0] == 0 <= q */
        hi = g; /* q < cdf[hi] */
        for (uint32_t step = 1;; step *= 2) {
            if (step >= hi) {
                lo = 0;
                break;
            }
            lo = hi - step;
            if (cdf[lo] <= q) break;
            hi = lo;
        }
    }
    return phc_bisect(cdf, lo, hi, q);
}

/* the decoder state after the symbol [left, left + prob) of scale `scale` */
static inline void phc_consume(phc_decoder *d, uint64_t scale, uint32_t left, uint32_t prob) {
    d->lower += scale * left;
    d->range = scale * prob;
    if (d->range < PHC_LOW_RANGE) {
        d->lower <<= PHC_WORD_BITS;
        d->range <<= PHC_WORD_BITS;
        d->point <<= PHC_WORD_BITS;
        if (d->pos < d->nwords) d->point |= d->words[d->pos++];
    }
}

/* Decodes one value with table t into *v. 0 on success, -1: a state no encoder produces,
 * -2: escape list exhausted. */
static inline int phc_decode_value(phc_decoder *d, const phc_table *t, int64_t *v) {
    const uint64_t scale = d->range >> PHC_PRECISION;
    const uint64_t quantile = (d->point - d->lower) / scale;
    if (quantile >= ((uint64_t)1 << PHC_PRECISION)) return -1;
    const uint32_t *cdf = t->cdf;
    const uint32_t i = (uint32_t)quantile >> PHC_BUCKET_SHIFT; /* cdf[b[i]] <= q < cdf[b[i + 1] + 1] in bucket i */
    const uint32_t lo = t->bucket ? phc_bisect(cdf, t->bucket[i], t->bucket[i + 1] + 1, (uint32_t)quantile)
                                  : phc_find_symbol(cdf, t->nsym, t->mode, (uint32_t)quantile);
    phc_consume(d, scale, cdf[lo], cdf[lo + 1] - cdf[lo]);
    if (lo == t->nsym) {
        if (d->esc_pos >= d->nesc) return -2;
        *v = d->escapes[d->esc_pos++];
    } else {
        *v = t->lo + (int64_t)lo;
    }
    return 0;
}

/* A stream's table-coded value read into an int32 slot the way the numpy decoder does: an
 * escaped value beyond +-(2**30 - 1) is refused (-3). */
static inline int phc_decode_i32(phc_decoder *d, const phc_table *t, int32_t *v) {
    int64_t x;
    const int rc = phc_decode_value(d, t, &x);
    if (rc) return rc;
    if (x < -((int64_t)1 << 30) + 1 || x > ((int64_t)1 << 30) - 1) return -3;
    *v = (int32_t)x;
    return 0;
}

#endif
