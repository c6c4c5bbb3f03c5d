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
/* Decodes one value with table t into *v. 0 on success, -1: a state no encoder produces,
 * -2: escape list exhausted. */
int phc_decode_value(phc_decoder *d, const phc_table *t, int64_t *v);
/* Decodes one value coded with constriction's Uniform(2**bits) (1 <= bits <= 24; every bin
 * 2**(24-bits) wide) into *v. 0, or -1 for a state no encoder produces. */
int phc_decode_uniform(phc_decoder *d, int bits, int64_t *v);
/* A stream's table-coded value read into an int32 slot the way the numpy decoder does: an
 * escaped value beyond +-(2**30 - 1) is refused (-3). */
int phc_decode_i32(phc_decoder *d, const phc_table *t, int32_t *v);

#endif
