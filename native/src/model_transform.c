/* The transform kinds' model containers (linear, separable, sparse-ae / ved) read in C: the
 * decoder arrays and the latent tables, checked as phcomp/core/model_schema.py and
 * decoder.py check them (where C is stricter, it refuses models no trainer writes: weights
 * beyond int32, MLP multipliers beyond 2**53). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "decoder_int.h"
#include "model_arrays.h"
#include "phcomp_codec.h"

static int fail(char *err, size_t errlen, const char *what) {
    snprintf(err, errlen, "corrupt model: %s", what);
    return PHC_EMODEL;
}

/* an integer array of the given shape, each value in [lo, hi], into a new int32 (wide 0), int64
 * (1) or float64 (2) array */
static int ints(const phc_json *arrays, const char *name, int rank, const int64_t *shape, const uint8_t *payload,
                uint64_t plen, int64_t lo, int64_t hi, int wide, void **out) {
    phc_array a;
    if (phc_array_get(arrays, name, rank, payload, plen, &a) || a.kind == 'f') return -1;
    for (int i = 0; i < rank; i++)
        if (a.shape[i] != shape[i]) return -1;
    void *v = malloc((size_t)(a.count ? a.count : 1) * (wide ? 8 : 4));
    if (!v) return -2;
    for (int64_t i = 0; i < a.count; i++) {
        const int64_t x = phc_array_int(&a, i);
        if (x < lo || x > hi || (a.kind == 'u' && a.size == 8)) {
            free(v);
            return -1;
        }
        if (wide == 2) ((double *)v)[i] = (double)x; /* |x| < 2**31: exact */
        else if (wide) ((int64_t *)v)[i] = x;
        else ((int32_t *)v)[i] = (int32_t)x;
    }
    *out = v;
    return 0;
}

static int floats(const phc_json *arrays, const char *name, int64_t n, const uint8_t *payload, uint64_t plen,
                  double **out) {
    phc_array a;
    if (phc_array_get(arrays, name, 1, payload, plen, &a) || a.kind != 'f' || a.shape[0] != n) return -1;
    double *v = malloc((size_t)(n ? n : 1) * sizeof *v);
    if (!v) return -2;
    for (int64_t i = 0; i < n; i++) {
        v[i] = phc_array_f64(&a, i);
        if (!isfinite(v[i])) {
            free(v);
            return -1;
        }
    }
    *out = v;
    return 0;
}

#define W32 (((int64_t)1 << 31) - 1) /* weights: |w| < 2**31, as the Python loader requires */

static int decoder_arrays(phc_transform *t, const phc_json *dec, const phc_json *arrays, const uint8_t *payload,
                          uint64_t plen, char *err, size_t errlen) {
    const int64_t d = t->d;
    int64_t v, shape[2];
    phc_array a;
    if (phc_json_is_str(phc_json_get(dec, "type"), "separable_int")) {
        t->type = PHC_DEC_SEPARABLE;
        if (phc_json_int(phc_json_get(dec, "ndim"), 1, 4, &v) || v != t->nd) return fail(err, errlen, "params.decoder.ndim");
        if (phc_json_int(phc_json_get(dec, "shift"), 0, 30, &v)) return fail(err, errlen, "params.decoder.shift");
        t->shift = (int)v;
        t->k = d;
        for (int i = 0; i < t->nd; i++) {
            char name[32];
            snprintf(name, sizeof name, "decoder.axis%d", i);
            shape[0] = shape[1] = t->block[i];
            if (ints(arrays, name, 2, shape, payload, plen, -W32, W32, 2, (void **)&t->axis[i]))
                return fail(err, errlen, "separable decoder axis arrays");
        }
        if (ints(arrays, "decoder.order", 1, &d, payload, plen, 0, d - 1, 0, (void **)&t->order))
            return fail(err, errlen, "separable decoder order is not a permutation");
        uint8_t *seen = calloc((size_t)d, 1);
        if (!seen) return PHC_ENOMEM;
        int perm = 1;
        for (int64_t j = 0; j < d; j++) perm &= !seen[t->order[j]]++;
        free(seen);
        if (!perm) return fail(err, errlen, "separable decoder order is not a permutation");
    } else {
        const int mlp = phc_json_is_str(phc_json_get(dec, "type"), "mlp_int");
        t->type = mlp ? PHC_DEC_MLP : PHC_DEC_LINEAR;
        const char *wname = mlp ? "decoder.lin.weight" : "decoder.weight";
        if (phc_array_get(arrays, wname, 2, payload, plen, &a) || a.shape[1] != d || a.shape[0] < 1 || a.shape[0] > 65536)
            return fail(err, errlen, "decoder weight shape");
        t->k = a.shape[0];
        shape[0] = t->k, shape[1] = d;
        if (ints(arrays, wname, 2, shape, payload, plen, -W32, W32, 2, (void **)&t->weight))
            return fail(err, errlen, "decoder weights too large for exact arithmetic");
        if (phc_json_int(phc_json_get(dec, mlp ? "lin_shift" : "shift"), 0, mlp ? 60 : 40, &v))
            return fail(err, errlen, "decoder shift out of range");
        t->shift = (int)v;
        if (mlp) {
            const phc_json *layers = phc_json_get(dec, "layers"), *os = phc_json_get(dec, "out_scale");
            if (!layers || layers->type != PHC_JARR || layers->n < 1 || layers->n > PHC_MLP_MAX_LAYERS)
                return fail(err, errlen, "bad MLP depth");
            if (!os || os->type != PHC_JNUM || !isfinite(os->num)) return fail(err, errlen, "bad MLP decoder scales");
            t->out_scale = os->num;
            t->nlayers = (int)layers->n;
            int64_t width = t->k;
            for (int i = 0; i < t->nlayers; i++) {
                const phc_json *l = &layers->kids[i], *m = phc_json_get(l, "mult"), *s = phc_json_get(l, "shift");
                int64_t mv = 0, sv = 0;
                if (l->type != PHC_JOBJ || (m && phc_json_int(m, 0, (int64_t)1 << 53, &mv)) ||
                    (s && phc_json_int(s, 0, 62, &sv)))
                    return fail(err, errlen, "bad MLP requantization");
                t->mult[i] = mv, t->lshift[i] = (int)sv;
                char name[48];
                snprintf(name, sizeof name, "decoder.mlp.%d.weight", i);
                if (phc_array_get(arrays, name, 2, payload, plen, &a) || a.shape[0] != width || a.shape[1] < 1 ||
                    a.shape[1] > 65536)
                    return fail(err, errlen, "MLP layer shapes do not chain");
                t->in[i] = width, t->out[i] = a.shape[1];
                shape[0] = width, shape[1] = a.shape[1];
                if (ints(arrays, name, 2, shape, payload, plen, -W32, W32, 2, (void **)&t->lw[i]))
                    return fail(err, errlen, "MLP weights too large for exact integer arithmetic");
                snprintf(name, sizeof name, "decoder.mlp.%d.bias", i);
                if (ints(arrays, name, 1, &t->out[i], payload, plen, INT64_MIN + 1, INT64_MAX, 1, (void **)&t->lb[i]))
                    return fail(err, errlen, "MLP layer shapes do not chain");
                width = t->out[i];
            }
            if (width != d) return fail(err, errlen, "MLP output does not match the block");
        }
    }
    if (floats(arrays, "decoder.mean", d, payload, plen, &t->mean)) return fail(err, errlen, "decoder mean");
    return phc_transform_check(t, err, errlen) ? PHC_EMODEL : PHC_OK;
}

static int latent_tables(phc_latent_tables *lt, int64_t k, const phc_json *lc, const phc_json *arrays,
                         const uint8_t *payload, uint64_t plen, char *err, size_t errlen) {
    const phc_json *ge = phc_json_get(lc, "group_edges");
    int64_t v;
    if (!ge || ge->type != PHC_JARR || ge->n < 2 || ge->n > 65537) return fail(err, errlen, "params.latent_coding.group_edges");
    lt->ngroups = (int)ge->n - 1;
    if (!(lt->edges = malloc(ge->n * sizeof *lt->edges))) return PHC_ENOMEM;
    for (size_t i = 0; i < ge->n; i++) {
        if (phc_json_int(&ge->kids[i], 0, 65536, &v) || (i == 0 && v != 0) || (i && v <= lt->edges[i - 1]))
            return fail(err, errlen, "params.latent_coding.group_edges must rise strictly from 0");
        lt->edges[i] = (int32_t)v;
    }
    if (lt->edges[lt->ngroups] != k) return fail(err, errlen, "table groups do not cover the latent");
    if (phc_json_int(phc_json_get(lc, "contexts"), 1, 64, &v)) return fail(err, errlen, "params.latent_coding.contexts");
    lt->contexts = (int)v;
    if (phc_json_int(phc_json_get(lc, "dense_base"), 0, (int64_t)1 << 31, &lt->dense_base) ||
        phc_json_int(phc_json_get(lc, "sparse_base"), 0, (int64_t)1 << 31, &lt->sparse_base))
        return fail(err, errlen, "params.latent_coding table bases");
    const int64_t G = lt->ngroups, C = lt->contexts;
    const int64_t cshape[3] = {G, PHC_LEVELS, C - 1};
    if (C > 1 ? ints(arrays, "tables.ctx_edges", 3, cshape, payload, plen, INT64_MIN, INT64_MAX, 1, (void **)&lt->ctx_edges)
              : !(lt->ctx_edges = malloc(8)))
        return fail(err, errlen, "context edges do not match the tables");
    for (int64_t r = 0; r < G * PHC_LEVELS; r++)
        for (int64_t c = 1; c < C - 1; c++)
            if (lt->ctx_edges[r * (C - 1) + c] < lt->ctx_edges[r * (C - 1) + c - 1])
                return fail(err, errlen, "context edges are not sorted");
    phc_array fa, ia;
    if (phc_array_get(arrays, "tables.freq", 1, payload, plen, &fa) || fa.kind == 'f' ||
        phc_array_get(arrays, "tables.index", 2, payload, plen, &ia) || ia.kind == 'f' || ia.shape[1] != 3 ||
        ia.shape[0] > (1 << 24))
        return fail(err, errlen, "latent table arrays missing or of the wrong shape");
    lt->ntables = ia.shape[0];
    const int64_t need_d = lt->dense_base + G * PHC_LEVELS * C, need_s = lt->sparse_base + 3 * PHC_LEVELS;
    if ((need_d > need_s ? need_d : need_s) > lt->ntables) return fail(err, errlen, "latent table spec does not match its tables");
    lt->tables = calloc((size_t)(lt->ntables ? lt->ntables : 1), sizeof *lt->tables);
    lt->freq_off = malloc((size_t)(lt->ntables ? lt->ntables : 1) * sizeof *lt->freq_off);
    lt->nfreq = malloc((size_t)(lt->ntables ? lt->ntables : 1) * sizeof *lt->nfreq);
    lt->freq = malloc((size_t)(fa.count ? fa.count : 1) * sizeof *lt->freq);
    if (!lt->tables || !lt->freq_off || !lt->nfreq || !lt->freq) return PHC_ENOMEM;
    for (int64_t i = 0; i < fa.count; i++) lt->freq[i] = (uint32_t)phc_array_int(&fa, i); /* numpy's astype(uint32) */
    for (int64_t i = 0; i < lt->ntables; i++) {
        const int64_t off = phc_array_int(&ia, 3 * i), cnt = phc_array_int(&ia, 3 * i + 1), lo = phc_array_int(&ia, 3 * i + 2);
        if (off < 0 || cnt < 2 || cnt > fa.count || off > fa.count - cnt || lo < -((int64_t)1 << 40) || lo > ((int64_t)1 << 40))
            return fail(err, errlen, "table outside the frequency array");
        lt->freq_off[i] = off;
        lt->nfreq[i] = (uint32_t)cnt;
        const int rc = phc_table_init(&lt->tables[i], lo, lt->freq + off, (uint32_t)cnt);
        if (rc) return rc == -2 ? PHC_ENOMEM : fail(err, errlen, "corrupt frequency table");
        if (phc_table_index(&lt->tables[i])) return PHC_ENOMEM;
    }
    return PHC_OK;
}

int phc_transform_load(phc_transform *t, const phc_json *h, const uint8_t *payload, uint64_t plen, char *err,
                       size_t errlen) {
    memset(t, 0, sizeof *t);
    const phc_json *block = phc_json_get(h, "block"), *params = phc_json_get(h, "params");
    const phc_json *arrays = phc_json_get(h, "arrays");
    if (!block || block->type != PHC_JARR || block->n < 1 || block->n > 4) return fail(err, errlen, "block shape");
    t->nd = (int)block->n;
    t->d = 1;
    for (int i = 0; i < t->nd; i++) {
        if (phc_json_int(&block->kids[i], 1, 65536, &t->block[i])) return fail(err, errlen, "block shape");
        t->d *= t->block[i];
        if (t->d > 65536) return fail(err, errlen, "block shape");
    }
    int rc = decoder_arrays(t, phc_json_get(params, "decoder"), arrays, payload, plen, err, errlen);
    if (!rc) rc = latent_tables(&t->tables, t->k, phc_json_get(params, "latent_coding"), arrays, payload, plen, err, errlen);
    if (rc == PHC_ENOMEM) snprintf(err, errlen, "out of memory loading the model");
    if (rc) phc_transform_free(t);
    return rc;
}
