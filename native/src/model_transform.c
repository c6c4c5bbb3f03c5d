/* The transform kinds' model containers (linear, separable, sparse-ae / ved) read in C: the
 * decoder arrays and the latent tables, checked as phcomp/core/model_schema.py and
 * decoder.py check them (where C is stricter, it refuses models no trainer writes: weights
 * beyond int32, MLP multipliers beyond 2**53). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "decoder_int.h"
#include "latent.h"
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
        /* per latent channel: its row at each stage and its column on the last axis (decoder_int.c) */
        const int nd = t->nd;
        if (!(t->rowof = malloc((size_t)nd * (size_t)d * sizeof *t->rowof))) return PHC_ENOMEM;
        int64_t div = 1;
        for (int i = nd - 2; i >= 0; i--) {
            div *= t->block[i + 1];
            for (int64_t j = 0; j < d; j++) t->rowof[i * d + j] = (int32_t)(t->order[j] / div);
        }
        for (int64_t j = 0; j < d; j++) t->rowof[(nd - 1) * d + j] = (int32_t)(t->order[j] % t->block[nd - 1]);
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

static int num(const phc_json *o, const char *key, double dflt, double *v) {
    const phc_json *e = phc_json_get(o, key);
    if (!e) {
        *v = dflt;
        return isnan(dflt) ? -1 : 0; /* NaN default: required */
    }
    if (e->type != PHC_JNUM || !isfinite(e->num)) return -1;
    *v = e->num;
    return 0;
}

/* The encoder side of linear and separable models (the float projection, the step and the
 * level search's inputs); a model without them is still decoded. 0, or ENOMEM. */
static int encoder_side(phc_transform *t, const phc_json *params, const phc_json *arrays, const uint8_t *payload,
                        uint64_t plen) {
    const phc_json *enc = phc_json_get(params, "encoder"), *lc = phc_json_get(params, "latent_coding");
    const int64_t d = t->d, k = t->k;
    phc_array a;
    if (t->type == PHC_DEC_LINEAR) {
        if (!phc_json_is_str(phc_json_get(enc, "type"), "linear") ||
            phc_array_get(arrays, "encoder.matrix", 2, payload, plen, &a) || a.kind != 'f' || a.shape[0] != d || a.shape[1] != k)
            return 0;
        if (!(t->enc_matrix = malloc((size_t)(d * k) * sizeof *t->enc_matrix))) return PHC_ENOMEM;
        for (int64_t i = 0; i < d * k; i++) t->enc_matrix[i] = phc_array_f64(&a, i);
    } else if (t->type == PHC_DEC_SEPARABLE) {
        if (!phc_json_is_str(phc_json_get(enc, "type"), "separable")) return 0;
        for (int i = 0; i < t->nd; i++) {
            char name[40];
            snprintf(name, sizeof name, "encoder.axis%d.inverse", i);
            const int64_t b = t->block[i];
            if (phc_array_get(arrays, name, 2, payload, plen, &a) || a.kind != 'f' || a.shape[0] != b || a.shape[1] != b) return 0;
            if (!(t->enc_inv[i] = malloc((size_t)(b * b) * sizeof(double)))) return PHC_ENOMEM;
            for (int64_t j = 0; j < b * b; j++) t->enc_inv[i][j] = phc_array_f64(&a, j);
        }
    } else {
        return 0; /* mlp encoders (tanh layers) stay in Python */
    }
    const int rc = floats(arrays, "encoder.mean", d, payload, plen, &t->enc_mean);
    if (rc) return rc == -2 ? PHC_ENOMEM : 0;
    for (int64_t i = 0; i < (t->enc_matrix ? d * k : 0); i++)
        if (!isfinite(t->enc_matrix[i])) return 0;
    const phc_json *mode = phc_json_get(params, "step_mode"), *norm = phc_json_get(params, "normalization");
    t->step_fixed = mode && phc_json_is_str(mode, "fixed");
    if (num(params, "step_factor", NAN, &t->step_factor) || num(params, "default_step", NAN, &t->default_step) ||
        num(params, "min_step", 0.0, &t->min_step) || num(params, "deadzone", 0.0, &t->deadzone) ||
        !(t->default_step > 0) || !(t->step_factor > 0) || t->deadzone < 0 || t->deadzone > 0.5)
        return 0;
    if (norm) {
        if (!phc_json_is_str(norm, "fixed") || num(params, "norm_mid", NAN, &t->norm_mid) ||
            num(params, "norm_half", NAN, &t->norm_half) || !(t->norm_half > 0))
            return 0;
        t->norm_fixed = 1;
    }
    const phc_json *sf = phc_json_get(params, "step_factors");
    if (sf && sf->type == PHC_JARR && sf->n) {
        if (sf->n > 256) return 0;
        t->factor_log = malloc(sf->n * sizeof(double));
        t->factor_val = malloc(sf->n * sizeof(double));
        if (!t->factor_log || !t->factor_val) return PHC_ENOMEM;
        for (size_t i = 0; i < sf->n; i++) {
            const phc_json *r = &sf->kids[i];
            if (r->type != PHC_JARR || r->n != 2 || r->kids[0].type != PHC_JNUM || r->kids[1].type != PHC_JNUM ||
                !isfinite(r->kids[0].num) || !(r->kids[1].num > 0) || !isfinite(r->kids[1].num))
                return 0;
            size_t j = i; /* insertion sort by log10 rel (the Python encoder sorts the pairs) */
            while (j && (t->factor_log[j - 1] > r->kids[0].num ||
                         (t->factor_log[j - 1] == r->kids[0].num && t->factor_val[j - 1] > r->kids[1].num))) {
                t->factor_log[j] = t->factor_log[j - 1], t->factor_val[j] = t->factor_val[j - 1];
                j--;
            }
            t->factor_log[j] = r->kids[0].num, t->factor_val[j] = r->kids[1].num;
        }
        t->nfactors = (int)sf->n;
    }
    const phc_json *sg = phc_json_get(lc, "group_sigma");
    if (!sg || sg->type != PHC_JARR || (int)sg->n != t->tables.ngroups || num(lc, "sigma_all", NAN, &t->sigma_all)) return 0;
    if (!(t->sigma = malloc(sg->n * sizeof *t->sigma))) return PHC_ENOMEM;
    for (size_t i = 0; i < sg->n; i++) {
        if (sg->kids[i].type != PHC_JNUM || !isfinite(sg->kids[i].num) || sg->kids[i].num < 0) return 0;
        t->sigma[i] = sg->kids[i].num;
    }
    /* bits per symbol of every table: log2(total) - log2(freq), as rangecoder.FreqTable.cost_bits */
    const phc_latent_tables *lt = &t->tables;
    if (!(t->cost = calloc((size_t)(lt->ntables ? lt->ntables : 1), sizeof *t->cost))) return PHC_ENOMEM;
    for (int64_t i = 0; i < lt->ntables; i++) {
        const uint32_t *f = lt->freq + lt->freq_off[i];
        double tot = 0;
        for (uint32_t j = 0; j < lt->nfreq[i]; j++) tot += f[j];
        if (!(t->cost[i] = malloc(lt->nfreq[i] * sizeof(double)))) return PHC_ENOMEM;
        for (uint32_t j = 0; j < lt->nfreq[i]; j++) t->cost[i][j] = log2(tot) - log2((double)f[j]);
    }
    t->can_encode = 1;
    return 0;
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
    if (!rc) rc = encoder_side(t, params, arrays, payload, plen);
    if (rc == PHC_ENOMEM) snprintf(err, errlen, "out of memory loading the model");
    if (rc) phc_transform_free(t);
    return rc;
}
