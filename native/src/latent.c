/* Latent coders read in C, with the numpy decoder's checks in its order of stream use:
 * dense (0), dense with block ends (2), with block ends and byte planes (3), sparse (1). */
#include "latent.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bytes.h"
#include "intpack.h"
#include "phcomp_codec.h"
#include "quads.h"
#include "zstd_rt.h"

enum { DENSE = 0, SPARSE = 1, DENSE_ENDS = 2, DENSE_PLANES = 3 };

void phc_latent_tables_free(phc_latent_tables *t) {
    for (int64_t i = 0; t->tables && i < t->ntables; i++) phc_table_free(&t->tables[i]);
    free(t->tables);
    free(t->edges);
    free(t->ctx_edges);
    free(t->freq);
    free(t->freq_off);
    free(t->nfreq);
    memset(t, 0, sizeof *t);
}

static int corrupt(char *err, size_t errlen, const char *msg) {
    snprintf(err, errlen, "corrupt latent section: %s", msg);
    return PHC_ECORRUPT;
}

/* the context of an activity: how many of the row's edges are <= it (searchsorted, side right) */
int phc_context_of(const int64_t *edges, int n, int64_t v) {
    int lo = 0, hi = n;
    while (lo < hi) {
        const int mid = (lo + hi) / 2;
        if (edges[mid] <= v) lo = mid + 1;
        else hi = mid;
    }
    return lo;
}

static void add_activity(int64_t *act, const int32_t *q, int64_t nblocks, int k, int a, int b) {
    for (int64_t i = 0; i < nblocks; i++) {
        const int32_t *row = q + i * k;
        int64_t s = 0;
        for (int j = a; j < b; j++) s += row[j] < 0 ? -(int64_t)row[j] : row[j];
        act[i] += s;
    }
}

typedef struct {
    uint32_t *words;
    int64_t *esc;
    int32_t *tmp;
    int64_t *act, *sel;
    int32_t *ends;
    uint8_t *ctx, *plane;
    int *plan;
    phc_table end_table, quad;
} scratch;

static void scratch_free(scratch *s) {
    free(s->words);
    free(s->esc);
    free(s->tmp);
    free(s->act);
    free(s->sel);
    free(s->ends);
    free(s->ctx);
    free(s->plane);
    free(s->plan);
    phc_table_free(&s->end_table);
    phc_table_free(&s->quad);
}

/* byte planes (latent_dense.planes_values): n zigzagged values of `width` bytes, all lowest bytes first */
static int planes(scratch *s, const uint8_t *frame, uint64_t flen, uint64_t n, int width, int32_t *q, int k, int a,
                  int w, char *err, size_t errlen) {
    if (phc_zstd_check(n * (uint64_t)width, frame, flen, "latent byte planes", err, errlen)) return PHC_ECORRUPT;
    free(s->plane);
    s->plane = malloc((size_t)(n * (uint64_t)width) + 1);
    if (!s->plane) return PHC_ENOMEM;
    if (phc_zstd_decompress(s->plane, n * (uint64_t)width, frame, flen, "latent byte planes", err, errlen))
        return PHC_ECORRUPT;
    for (uint64_t i = 0; i < n; i++) {
        uint64_t u = 0;
        for (int j = 0; j < width; j++) u |= (uint64_t)s->plane[(uint64_t)j * n + i] << (8 * j);
        const int64_t v = (int64_t)(u >> 1) ^ -(int64_t)(u & 1); /* |v| <= 2**31 - 1, or -2**31 */
        q[s->sel[i / (uint64_t)w] * k + a + (int64_t)(i % (uint64_t)w)] = (int32_t)v;
    }
    return PHC_OK;
}

static int dense(const phc_latent_tables *t, phc_reader *r, int64_t nblocks, int with_ends, int with_modes, int32_t *q,
                 scratch *s, char *err, size_t errlen) {
    const int G = t->ngroups, k = t->edges[G], C = t->contexts;
    const unsigned ng = (unsigned)phc_le(r, 2);
    if (r->bad) return corrupt(err, errlen, "truncated");
    if (ng != (unsigned)G) {
        snprintf(err, errlen, "corrupt latent section: %u groups, model has %d", ng, G);
        return PHC_ECORRUPT;
    }
    if (!(s->plan = malloc((size_t)G * 3 * sizeof *s->plan))) return PHC_ENOMEM;
    for (int g = 0; g < G; g++) {
        const int level = (int8_t)phc_le(r, 1), shift = (int)phc_le(r, 1), mode = with_modes ? (int)phc_le(r, 1) : 0;
        if (r->bad) return corrupt(err, errlen, "truncated");
        if (level < PHC_LEVEL_MIN || level > PHC_LEVEL_MAX || shift > 20 || (mode && mode != 1 && mode != 2 && mode != 4))
            return corrupt(err, errlen, "bad table level or group mode");
        s->plan[3 * g] = level, s->plan[3 * g + 1] = shift, s->plan[3 * g + 2] = mode;
    }
    if (with_ends) {
        int64_t *fv;
        uint64_t nf;
        int rc = phc_unpack_ints(r, (uint64_t)G + 2, &fv, &nf, "block-end table", err, errlen);
        if (rc) return rc;
        uint32_t *f = malloc((size_t)(nf ? nf : 1) * sizeof *f);
        if (!f) {
            free(fv);
            return PHC_ENOMEM;
        }
        for (uint64_t i = 0; i < nf; i++) f[i] = (uint32_t)fv[i]; /* as numpy's astype(uint32) */
        free(fv);
        rc = nf != (uint64_t)G + 2 ? corrupt(err, errlen, "bad block-end table")
             : phc_table_init(&s->end_table, 0, f, (uint32_t)nf) ? corrupt(err, errlen, "corrupt frequency table")
                                                                : PHC_OK;
        free(f);
        if (rc) return rc;
    }
    uint64_t nwords, nesc;
    /* an escaped quad takes one escape entry and each of its values may take another */
    int rc = phc_read_stream(r, 2 * (uint64_t)nblocks * (uint64_t)k + (uint64_t)G * (uint64_t)C + 8, &s->words, &nwords,
                             &s->esc, &nesc, err, errlen);
    if (rc) return rc;
    /* the byte-plane frames follow the stream, one blob per group that has them */
    const uint8_t **frame = calloc((size_t)G, sizeof *frame);
    uint64_t *flen = calloc((size_t)G, sizeof *flen);
    if (!frame || !flen) {
        free(frame);
        free(flen);
        return PHC_ENOMEM;
    }
    for (int g = 0; g < G; g++) {
        if (!s->plan[3 * g + 2]) continue;
        flen[g] = phc_le(r, 8);
        frame[g] = phc_take(r, flen[g]);
        if (!frame[g]) frame[g] = (const uint8_t *)"";
    }
    if (r->bad) rc = corrupt(err, errlen, "truncated");
    phc_decoder d;
    phc_decoder_init(&d, s->words, (size_t)nwords, s->esc, (size_t)nesc);
    const uint64_t nb = (uint64_t)nblocks;
    int wmax = 1;
    for (int g = 0; g < G; g++)
        if (t->edges[g + 1] - t->edges[g] > wmax) wmax = t->edges[g + 1] - t->edges[g];
    if (!rc && (!(s->act = calloc(nb ? nb : 1, sizeof *s->act)) || !(s->sel = malloc((nb ? nb : 1) * sizeof *s->sel)) ||
                !(s->ctx = malloc(nb ? nb : 1)) || !(s->tmp = malloc(((nb * (uint64_t)wmax + 3) / 4 * 4 + 4) * 4)) ||
                (with_ends && !(s->ends = malloc((nb ? nb : 1) * sizeof *s->ends)))))
        rc = PHC_ENOMEM;
    for (uint64_t i = 0; !rc && with_ends && i < nb; i++) {
        int64_t v;
        const int e = phc_decode_value(&d, &s->end_table, &v);
        if (e) rc = phc_stream_error(e, err, errlen);
        else if (v < 0 || v > G) rc = corrupt(err, errlen, "block end out of range");
        else s->ends[i] = (int32_t)v;
    }
    for (int g = 0; !rc && g < G; g++) {
        const int a = t->edges[g], b = t->edges[g + 1], w = b - a;
        const int level = s->plan[3 * g], shift = s->plan[3 * g + 1], mode = s->plan[3 * g + 2];
        int64_t nsel = 0;
        for (int64_t i = 0; i < nblocks; i++)
            if (!with_ends || s->ends[i] > g) s->sel[nsel++] = i;
        if (mode) {
            rc = planes(s, frame[g], flen[g], (uint64_t)nsel * (uint64_t)w, mode, q, k, a, w, err, errlen);
            if (!rc) add_activity(s->act, q, nblocks, k, a, b);
            continue;
        }
        const int lv = level - PHC_LEVEL_MIN;
        const int64_t *edges = t->ctx_edges + ((int64_t)g * PHC_LEVELS + lv) * (C - 1);
        for (int64_t i = 0; i < nsel; i++) s->ctx[i] = (uint8_t)phc_context_of(edges, C - 1, s->act[s->sel[i]] >> shift);
        const int quads = shift == 0 && level <= PHC_QUAD_LEVEL_MAX;
        for (int c = 0; !rc && c < C; c++) {
            const int64_t ti = t->dense_base + ((int64_t)g * PHC_LEVELS + lv) * C + c;
            const phc_table *tab = &t->tables[ti];
            if (quads) {
                uint64_t m = 0;
                for (int64_t i = 0; i < nsel; i++) m += s->ctx[i] == c;
                if (!m) continue;
                phc_table_free(&s->quad);
                if (phc_quad_table(&s->quad, t->freq + t->freq_off[ti], t->nfreq[ti], tab->lo)) {
                    rc = corrupt(err, errlen, "corrupt frequency table");
                    break;
                }
                rc = phc_decode_quads(&d, &s->quad, tab, m * (uint64_t)w, s->tmp, err, errlen);
                const int32_t *v = s->tmp;
                for (int64_t i = 0; !rc && i < nsel; i++) {
                    if (s->ctx[i] != c) continue;
                    memcpy(q + s->sel[i] * k + a, v, (size_t)w * sizeof *v);
                    v += w;
                }
                continue;
            }
            for (int64_t i = 0; !rc && i < nsel; i++) {
                if (s->ctx[i] != c) continue;
                int32_t *row = q + s->sel[i] * k + a;
                for (int j = 0; j < w; j++) {
                    int e;
                    if (shift) { /* the high part, stored as numpy stores an int64 into int32 */
                        int64_t hi = 0; /* read below even when the decode failed (then unused) */
                        e = phc_decode_value(&d, tab, &hi);
                        row[j] = (int32_t)(uint32_t)(uint64_t)hi;
                    } else {
                        e = phc_decode_i32(&d, tab, &row[j]);
                    }
                    if (e) {
                        rc = phc_stream_error(e, err, errlen);
                        break;
                    }
                }
            }
        }
        if (!rc && shift) { /* the low bits of every value of the group, blocks in order */
            const int64_t h = (int64_t)1 << (shift - 1);
            for (int64_t i = 0; !rc && i < nsel; i++) {
                int32_t *row = q + s->sel[i] * k + a;
                for (int j = 0; j < w; j++) {
                    int64_t lo;
                    if (phc_decode_uniform(&d, shift, &lo)) {
                        rc = phc_stream_error(-1, err, errlen);
                        break;
                    }
                    const int64_t v = (int64_t)((uint64_t)(int64_t)row[j] << shift) + lo - h;
                    if (v >= ((int64_t)1 << 31) || v <= -((int64_t)1 << 31)) {
                        rc = corrupt(err, errlen, "latent value out of range");
                        break;
                    }
                    row[j] = (int32_t)v;
                }
            }
        }
        if (!rc) add_activity(s->act, q, nblocks, k, a, b);
    }
    if (!rc && d.esc_pos != d.nesc) rc = corrupt(err, errlen, "unused escape values");
    free(frame);
    free(flen);
    return rc;
}

static int sparse(const phc_latent_tables *t, phc_reader *r, int64_t nblocks, int32_t *q, scratch *s, char *err,
                  size_t errlen) {
    const int k = t->edges[t->ngroups];
    const int level = (int8_t)phc_le(r, 1);
    if (r->bad) return corrupt(err, errlen, "truncated");
    if (level < PHC_LEVEL_MIN || level > PHC_LEVEL_MAX) return corrupt(err, errlen, "bad table level");
    const phc_table *tc = &t->tables[t->sparse_base + 3 * (level - PHC_LEVEL_MIN)], *tg = tc + 1, *tv = tc + 2;
    uint64_t nwords, nesc;
    int rc = phc_read_stream(r, 2 * (uint64_t)nblocks * (uint64_t)k + (uint64_t)nblocks, &s->words, &nwords, &s->esc,
                             &nesc, err, errlen);
    if (rc) return rc;
    phc_decoder d;
    phc_decoder_init(&d, s->words, (size_t)nwords, s->esc, (size_t)nesc);
    const uint64_t nb = (uint64_t)nblocks;
    if (!(s->act = malloc((nb ? nb : 1) * sizeof *s->act))) return PHC_ENOMEM; /* the counts */
    uint64_t nnz = 0;
    for (uint64_t i = 0; i < nb; i++) {
        const int e = phc_decode_value(&d, tc, &s->act[i]);
        if (e) return phc_stream_error(e, err, errlen);
        if (s->act[i] < 0 || s->act[i] > k) return corrupt(err, errlen, "impossible nonzero count");
        nnz += (uint64_t)s->act[i];
    }
    if (!(s->tmp = malloc((size_t)(nnz ? nnz : 1) * sizeof *s->tmp))) return PHC_ENOMEM; /* the gaps */
    for (uint64_t i = 0; i < nnz; i++) {
        const int e = phc_decode_i32(&d, tg, &s->tmp[i]);
        if (e) return phc_stream_error(e, err, errlen);
        if (s->tmp[i] < 0 || s->tmp[i] >= k) return corrupt(err, errlen, "impossible gap");
    }
    uint64_t at = 0;
    for (uint64_t i = 0; i < nb; i++) {
        int64_t col = -1;
        for (int64_t j = 0; j < s->act[i]; j++) {
            int64_t u;
            const int e = phc_decode_value(&d, tv, &u);
            if (e) return phc_stream_error(e, err, errlen);
            if (u < 0 || u >= ((int64_t)1 << 32)) return corrupt(err, errlen, "impossible value");
            col += (int64_t)s->tmp[at++] + 1;
            if (col >= k) return corrupt(err, errlen, "latent index out of range");
            const int64_t v = u % 2 == 0 ? u / 2 + 1 : -(u + 1) / 2; /* in [-2**31, 2**31] */
            q[(int64_t)i * k + col] = v == ((int64_t)1 << 31) ? INT32_MIN : (int32_t)v; /* numpy's int32 wrap */
        }
    }
    if (d.esc_pos != d.nesc) return corrupt(err, errlen, "unused escape values");
    return PHC_OK;
}

int phc_latent_decode(const phc_latent_tables *t, const uint8_t *body, uint64_t len, int64_t nblocks, int32_t *q,
                      char *err, size_t errlen) {
    phc_reader r = {body, len, 0, 0};
    const int coder = (int)phc_le(&r, 1);
    if (r.bad) return corrupt(err, errlen, "truncated");
    scratch s;
    memset(&s, 0, sizeof s);
    int rc;
    if (coder == DENSE || coder == DENSE_ENDS || coder == DENSE_PLANES)
        rc = dense(t, &r, nblocks, coder != DENSE, coder == DENSE_PLANES, q, &s, err, errlen);
    else if (coder == SPARSE)
        rc = sparse(t, &r, nblocks, q, &s, err, errlen);
    else {
        snprintf(err, errlen, "corrupt latent section: unknown coder %d", coder);
        rc = PHC_ECORRUPT;
    }
    if (!rc && r.pos != r.n) rc = corrupt(err, errlen, "trailing bytes");
    if (rc == PHC_ENOMEM) snprintf(err, errlen, "out of memory decoding the latent section");
    scratch_free(&s);
    return rc;
}
