/* constriction's queue range coder and fast categorical quantization, bit for bit
 * (constriction 0.5.0: src/stream/queue.rs, src/stream/model/categorical.rs). */
#include "rangecoder.h"

#include <stdlib.h>
#include <string.h>

int phc_table_init(phc_table *t, int64_t lo, const uint32_t *freq, uint32_t nfreq) {
    memset(t, 0, sizeof *t);
    if (nfreq < 2 || nfreq >= (1u << PHC_PRECISION) - 1) return -1;
    uint64_t total = 0;
    for (uint32_t i = 0; i < nfreq; i++) {
        if (freq[i] < 1) return -1;
        total += freq[i];
    }
    if (total >= ((uint64_t)1 << 32)) return -1;
    t->cdf = malloc(((size_t)nfreq + 1) * sizeof *t->cdf);
    if (!t->cdf) return -2;
    /* The Python side hands constriction p_i = freq_i / total (float64; the integer total is
     * exact). constriction then sums the p_i left to right for the normalization, scales by
     * (2**24 - n) / normalization and truncates: cdf_i = (u32)(cum_i * scale) + i. */
    const double dtotal = (double)total;
    double norm = -0.0;
    for (uint32_t i = 0; i < nfreq; i++) norm += (double)freq[i] / dtotal;
    const double scale = (double)((1u << PHC_PRECISION) - nfreq) / norm;
    double cum = 0.0;
    for (uint32_t i = 0; i < nfreq; i++) {
        const double c = cum * scale;
        t->cdf[i] = (uint32_t)c + i; /* c >= 0 and < 2**24: the cast truncates like Rust's `as` */
        cum += (double)freq[i] / dtotal;
    }
    t->cdf[nfreq] = 1u << PHC_PRECISION;
    /* constriction's binary search assumes a strictly increasing CDF; tables that would not
     * give one (none that a histogram can produce) are refused rather than decoded differently */
    for (uint32_t i = 0; i < nfreq; i++) {
        if (t->cdf[i + 1] <= t->cdf[i]) {
            free(t->cdf);
            t->cdf = NULL;
            return -1;
        }
    }
    t->lo = lo;
    t->nsym = nfreq - 1;
    for (uint32_t i = 1; i < nfreq; i++)
        if (freq[i] > freq[t->mode]) t->mode = i;
    return 0;
}

void phc_table_free(phc_table *t) {
    free(t->cdf);
    free(t->bucket);
    t->cdf = NULL;
    t->bucket = NULL;
}

int phc_table_index(phc_table *t) {
    if (t->nsym < 8 || t->bucket) return 0; /* the mode and its neighbours find it at once */
    t->bucket = malloc(257 * sizeof *t->bucket);
    if (!t->bucket) return -2;
    uint32_t s = 0;
    for (uint32_t i = 0; i < 256; i++) {
        while (s + 1 <= t->nsym && t->cdf[s + 1] <= (i << PHC_BUCKET_SHIFT)) s++;
        t->bucket[i] = s;
    }
    t->bucket[256] = t->nsym; /* every quantile is below 2**24: its symbol is at most nsym */
    return 0;
}

void phc_encoder_init(phc_encoder *e) {
    memset(e, 0, sizeof *e);
    e->lower = 0;
    e->range = UINT64_MAX;
}

void phc_encoder_free(phc_encoder *e) {
    free(e->words);
    free(e->escapes);
    memset(e, 0, sizeof *e);
}

static void put_word(phc_encoder *e, uint32_t w) {
    if (e->nwords == e->cap) {
        size_t cap = e->cap ? e->cap * 2 : 4096;
        uint32_t *p = realloc(e->words, cap * sizeof *p);
        if (!p) {
            e->oom = 1;
            return;
        }
        e->words = p;
        e->cap = cap;
    }
    e->words[e->nwords++] = w;
}

static void put_escape(phc_encoder *e, int64_t v) {
    if (e->nesc == e->esc_cap) {
        size_t cap = e->esc_cap ? e->esc_cap * 2 : 256;
        int64_t *p = realloc(e->escapes, cap * sizeof *p);
        if (!p) {
            e->oom = 1;
            return;
        }
        e->escapes = p;
        e->esc_cap = cap;
    }
    e->escapes[e->nesc++] = v;
}

static void encode_symbol(phc_encoder *e, uint32_t left, uint32_t prob) {
    const uint64_t scale = e->range >> PHC_PRECISION;
    e->range = scale * prob;
    const uint64_t new_lower = e->lower + scale * left;
    if (e->inverted && new_lower + e->range > new_lower) {
        /* the carry is now known: flush the held-back words */
        uint32_t first = e->first_inverted, rest = UINT32_MAX;
        if (new_lower < e->lower) {
            first = e->first_inverted + 1u;
            rest = 0;
        }
        put_word(e, first);
        for (size_t i = 1; i < e->num_inverted; i++) put_word(e, rest);
        e->inverted = 0;
    }
    e->lower = new_lower;
    if (e->range < PHC_LOW_RANGE) {
        e->range <<= PHC_WORD_BITS;
        const uint32_t lower_word = (uint32_t)(e->lower >> PHC_WORD_BITS);
        e->lower <<= PHC_WORD_BITS;
        if (e->inverted) {
            e->num_inverted++;
        } else if (e->lower + e->range > e->lower) {
            put_word(e, lower_word);
        } else {
            e->inverted = 1;
            e->num_inverted = 1;
            e->first_inverted = lower_word;
        }
    }
}

void phc_encode_value(phc_encoder *e, const phc_table *t, int64_t v) {
    /* unsigned difference: values far outside the table (or INT64 extremes) escape, no overflow */
    uint64_t idx = (uint64_t)v - (uint64_t)t->lo;
    if ((v < t->lo) || idx >= t->nsym) {
        put_escape(e, v);
        idx = t->nsym;
    }
    encode_symbol(e, t->cdf[idx], t->cdf[idx + 1] - t->cdf[idx]);
}

void phc_encode_uniform(phc_encoder *e, int bits, uint32_t v) {
    const int w = PHC_PRECISION - bits;
    encode_symbol(e, v << w, 1u << w);
}

void phc_encoder_seal(phc_encoder *e) {
    if (e->range == UINT64_MAX) return; /* nothing encoded: no words */
    const uint64_t point = e->lower + ((PHC_LOW_RANGE) - 1);
    if (e->inverted) {
        uint32_t first = e->first_inverted, rest = UINT32_MAX;
        if (point < e->lower) { /* the addition wrapped */
            first = e->first_inverted + 1u;
            rest = 0;
        }
        put_word(e, first);
        for (size_t i = 1; i < e->num_inverted; i++) put_word(e, rest);
    }
    const uint32_t point_word = (uint32_t)(point >> PHC_WORD_BITS);
    const uint32_t upper_word = (uint32_t)((e->lower + e->range) >> PHC_WORD_BITS);
    put_word(e, point_word);
    if (upper_word == point_word) put_word(e, 0);
}

void phc_decoder_init(phc_decoder *d, const uint32_t *words, size_t nwords, const int64_t *escapes, size_t nesc) {
    memset(d, 0, sizeof *d);
    d->words = words;
    d->nwords = nwords;
    d->escapes = escapes;
    d->nesc = nesc;
    d->lower = 0;
    d->range = UINT64_MAX;
    unsigned nread = 0;
    while (nread < 2 && d->pos < nwords) {
        d->point = (d->point << PHC_WORD_BITS) | words[d->pos++];
        nread++;
    }
    if (nread == 1) d->point <<= PHC_WORD_BITS;
}

int phc_decode_uniform(phc_decoder *d, int bits, int64_t *v) {
    const uint64_t scale = d->range >> PHC_PRECISION;
    const uint64_t quantile = (d->point - d->lower) / scale;
    if (quantile >= ((uint64_t)1 << PHC_PRECISION)) return -1;
    const int w = PHC_PRECISION - bits;
    const uint32_t sym = (uint32_t)quantile >> w;
    phc_consume(d, scale, sym << w, 1u << w);
    *v = sym;
    return 0;
}

