/* Residual kinds 2 (quads with the section's own table) and 7 (zero runs with the run table
 * derived from four weights), bit for bit what the numpy decoder reads, with its checks. */
#include "residual.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bytes.h"
#include "intpack.h"
#include "phcomp_codec.h"
#include "quads.h"
#include "rangecoder.h"

#define MAX_RADIUS 512
#define QR_LIMIT ((int64_t)1 << 30)
#define RUN_MAX 256
#define CONTINUE (2 * RUN_MAX)
#define OTHER (2 * RUN_MAX + 1)

static int bad(char *err, size_t errlen, const char *msg) {
    snprintf(err, errlen, "corrupt residual section: %s", msg);
    return PHC_ECORRUPT;
}

static int quads(const uint8_t *body, uint64_t len, uint64_t n, int32_t *out, char *err, size_t errlen) {
    phc_reader r = {body, len, 0, 0};
    int64_t *fv = NULL, *esc = NULL;
    uint32_t *words = NULL, f[2 * MAX_RADIUS + 2];
    uint64_t nf, nwords, nesc;
    int32_t *buf = NULL;
    phc_table single = {0}, quad = {0};
    int rc = phc_unpack_ints(&r, 2 * MAX_RADIUS + 2, &fv, &nf, "residual table", err, errlen);
    if (rc) return rc;
    const uint32_t radius = (uint32_t)phc_le(&r, 4);
    if (r.bad) rc = bad(err, errlen, "truncated");
    else if (radius > MAX_RADIUS || nf != 2 * (uint64_t)radius + 2) rc = bad(err, errlen, "bad table");
    for (uint64_t i = 0; !rc && i < nf; i++) f[i] = (uint32_t)fv[i]; /* as numpy's astype(uint32) */
    if (!rc && phc_table_init(&single, -(int64_t)radius, f, (uint32_t)nf)) rc = bad(err, errlen, "corrupt frequency table");
    if (!rc && phc_quad_table(&quad, f, (uint32_t)nf, -(int64_t)radius)) rc = bad(err, errlen, "corrupt frequency table");
    /* an escaped quad takes one escape entry and each of its values may take another */
    if (!rc) rc = phc_read_stream(&r, 2 * n + 8, &words, &nwords, &esc, &nesc, err, errlen);
    if (!rc && !(buf = malloc((size_t)((n + 3) / 4) * 16))) rc = PHC_ENOMEM;
    if (!rc) {
        phc_decoder d;
        phc_decoder_init(&d, words, (size_t)nwords, esc, (size_t)nesc);
        rc = phc_decode_quads(&d, &quad, &single, n, buf, err, errlen);
        if (!rc && d.esc_pos != d.nesc) rc = bad(err, errlen, "unused escape values");
        if (!rc && r.pos != r.n) rc = bad(err, errlen, "trailing bytes");
        for (uint64_t i = 0; !rc && i < n; i++) {
            if (buf[i] >= QR_LIMIT || buf[i] <= -QR_LIMIT) rc = bad(err, errlen, "value out of range");
            out[i] = buf[i];
        }
    }
    if (rc == PHC_ENOMEM) snprintf(err, errlen, "out of memory");
    phc_table_free(&single);
    phc_table_free(&quad);
    free(fv);
    free(esc);
    free(words);
    free(buf);
    return rc;
}

/* the i.i.d. run model in integers (residual_runs.run_table) */
int phc_run_table(phc_table *t, const int64_t w[4]) {
    const int64_t total = w[0] + w[1] + w[2] + w[3];
    int64_t p[RUN_MAX + 1], psum = 0;
    uint32_t f[2 * RUN_MAX + 3];
    p[0] = (int64_t)1 << 30;
    for (int r = 1; r <= RUN_MAX; r++) p[r] = p[r - 1] * w[0] / total;
    for (int r = 0; r < RUN_MAX; r++) {
        const int64_t a = p[r] * w[1] / total, b = p[r] * w[2] / total;
        f[2 * r] = (uint32_t)(a > 1 ? a : 1);
        f[2 * r + 1] = (uint32_t)(b > 1 ? b : 1);
        psum += p[r];
    }
    f[CONTINUE] = (uint32_t)(p[RUN_MAX] > 1 ? p[RUN_MAX] : 1);
    const int64_t o = psum * w[3] / total;
    f[OTHER] = (uint32_t)(o > 1 ? o : 1);
    f[OTHER + 1] = 1; /* the escape, never coded */
    return phc_table_init(t, 0, f, 2 * RUN_MAX + 3) || phc_table_index(t);
}

/* the nonzero positions of the runs, each set in the bitmap and its value appended (positions rise) */
static int fill_sparse(phc_sparse_residual *sp, uint64_t n, const int64_t *syms, uint64_t nsym, const int64_t *o_run,
                       const int64_t *o_val) {
    uint64_t nz = 0;
    for (uint64_t i = 0; i < nsym; i++) nz += syms[i] != CONTINUE;
    const uint64_t nw = (n + 63) / 64;
    sp->n = n;
    sp->bits = calloc((size_t)(nw ? nw : 1), sizeof *sp->bits);
    sp->rank = malloc((size_t)(nw ? nw : 1) * sizeof *sp->rank);
    sp->val = malloc((size_t)(nz ? nz : 1) * sizeof *sp->val); /* nz <= nsym <= n */
    if (!sp->bits || !sp->rank || !sp->val) return PHC_ENOMEM;
    uint64_t end = 0, k = 0, at = 0;
    for (uint64_t i = 0; i < nsym; i++) {
        const int64_t s = syms[i];
        if (s == CONTINUE) {
            end += RUN_MAX;
            continue;
        }
        if (s == OTHER) {
            end += (uint64_t)o_run[k] + 1;
            sp->val[at++] = (int32_t)o_val[k++];
        } else {
            end += (uint64_t)(s >> 1) + 1;
            sp->val[at++] = 1 - 2 * (int32_t)(s & 1);
        }
        sp->bits[(end - 1) >> 6] |= (uint64_t)1 << ((end - 1) & 63);
    }
    uint64_t before = 0;
    for (uint64_t w = 0; w < nw; w++) {
        sp->rank[w] = before;
        before += (uint64_t)__builtin_popcountll(sp->bits[w]);
    }
    return PHC_OK;
}

void phc_sparse_residual_free(phc_sparse_residual *sp) {
    free(sp->bits);
    free(sp->rank);
    free(sp->val);
    memset(sp, 0, sizeof *sp);
}

static int runs(const uint8_t *body, uint64_t len, uint64_t n, int32_t *out, phc_sparse_residual *sp, char *err,
                size_t errlen) {
    phc_reader r = {body, len, 0, 0};
    int64_t w[4], *o_run = NULL, *o_val = NULL, *esc = NULL, *syms = NULL;
    uint32_t *words = NULL;
    uint64_t nrun = 0, nval = 0, nwords, nesc;
    phc_table t = {0};
    for (int i = 0; i < 4; i++) w[i] = (int64_t)phc_le(&r, 2);
    const uint64_t nsym = phc_le(&r, 8);
    int rc = PHC_OK;
    if (r.bad) return bad(err, errlen, "truncated");
    if (w[0] < 1 || w[1] < 1 || w[2] < 1 || w[3] < 1 || w[0] + w[1] + w[2] + w[3] > 4096) return bad(err, errlen, "bad run weights");
    if (nsym > n) return bad(err, errlen, "more run symbols than values");
    rc = phc_unpack_ints(&r, nsym, &o_run, &nrun, "residual runs", err, errlen);
    if (!rc) rc = phc_unpack_ints(&r, nsym, &o_val, &nval, "residual values", err, errlen);
    if (!rc) rc = phc_read_stream(&r, 0, &words, &nwords, &esc, &nesc, err, errlen);
    if (!rc && phc_run_table(&t, w)) rc = bad(err, errlen, "bad run table");
    if (!rc && !(syms = malloc((size_t)(nsym ? nsym : 1) * sizeof *syms))) {
        snprintf(err, errlen, "out of memory");
        rc = PHC_ENOMEM;
    }
    if (!rc) {
        phc_decoder d;
        phc_decoder_init(&d, words, (size_t)nwords, esc, (size_t)nesc);
        for (uint64_t i = 0; !rc && i < nsym; i++) {
            const int e = phc_decode_value(&d, &t, &syms[i]);
            if (e) rc = phc_stream_error(e, err, errlen);
        }
        if (!rc && d.esc_pos != d.nesc) rc = bad(err, errlen, "unused escape values");
    }
    if (!rc && r.pos != r.n) rc = bad(err, errlen, "trailing bytes");
    uint64_t nother = 0;
    for (uint64_t i = 0; !rc && i < nsym; i++) {
        if (syms[i] < 0 || syms[i] > OTHER) rc = bad(err, errlen, "bad run symbol");
        nother += syms[i] == OTHER;
    }
    if (!rc && (nother != nrun || nval != nrun)) rc = bad(err, errlen, "side lists do not match the run symbols");
    for (uint64_t i = 0; !rc && i < nrun; i++)
        if (o_run[i] < 0 || o_run[i] >= RUN_MAX || o_val[i] >= QR_LIMIT || o_val[i] <= -QR_LIMIT ||
            (o_val[i] > -2 && o_val[i] < 2))
            rc = bad(err, errlen, "bad side-list entry");
    if (!rc) { /* the positions first (they must stay inside the chunk), then the values */
        uint64_t end = 0, k = 0;
        for (uint64_t i = 0; i < nsym; i++)
            end += syms[i] == CONTINUE ? RUN_MAX : syms[i] == OTHER ? (uint64_t)o_run[k++] + 1 : (uint64_t)(syms[i] >> 1) + 1;
        if (end > n) rc = bad(err, errlen, "runs pass the end of the chunk");
    }
    if (!rc && sp) {
        rc = fill_sparse(sp, n, syms, nsym, o_run, o_val);
        if (rc) snprintf(err, errlen, "out of memory");
    } else if (!rc) {
        memset(out, 0, (size_t)n * sizeof *out);
        uint64_t end = 0, k = 0;
        for (uint64_t i = 0; i < nsym; i++) {
            const int64_t s = syms[i];
            if (s == CONTINUE) {
                end += RUN_MAX;
            } else if (s == OTHER) {
                end += (uint64_t)o_run[k] + 1;
                out[end - 1] = (int32_t)o_val[k++];
            } else {
                end += (uint64_t)(s >> 1) + 1;
                out[end - 1] = 1 - 2 * (int32_t)(s & 1);
            }
        }
    }
    phc_table_free(&t);
    free(o_run);
    free(o_val);
    free(esc);
    free(words);
    free(syms);
    return rc;
}

int phc_residual_decode(int kind, const uint8_t *body, uint64_t len, uint64_t n, int32_t *out, char *err,
                        size_t errlen) {
    if (kind == PHC_SEC_RESIDUAL_RUNS) return runs(body, len, n, out, NULL, err, errlen);
    return quads(body, len, n, out, err, errlen);
}

int phc_residual_runs_sparse(const uint8_t *body, uint64_t len, uint64_t n, phc_sparse_residual *out, char *err,
                             size_t errlen) {
    memset(out, 0, sizeof *out);
    return runs(body, len, n, NULL, out, err, errlen);
}
