/* Model containers (docs/format.md, "Model container") read in C: interp models here, the
 * transform kinds in model_transform.c. The id is not recomputed here (it hashes Python's canonical JSON): hosts
 * find a model by the id it is stored under, and the Python reader checks ids. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bytes.h"
#include "decoder_int.h"
#include "json.h"
#include "model_arrays.h"
#include "phcomp_codec.h"
#include "zstd_rt.h"

#define MAX_HEADER ((uint64_t)16 << 20)
#define MAX_PAYLOAD ((uint64_t)4 << 30)

struct phc_model {
    int kind;
    phc_interp *interp;
    phc_transform *transform;
    double default_rel; /* params.default_rel: the bound relative to the range when none is given; 0 if absent */
    int borrowed;       /* phc_model_wrap_interp: the interp belongs to the caller */
};

static int fail(char *err, size_t errlen, const char *msg) {
    snprintf(err, errlen, "corrupt model file: %s", msg);
    return PHC_EMODEL;
}

/* the array `name` of the header of exactly this dtype, a shape of `rank` dims, its bytes in the
 * payload (model_arrays.c checks them) */
static int array(const phc_json *arrays, const char *name, const char *dtype, int rank, int64_t *shape,
                 const uint8_t *payload, uint64_t plen, const uint8_t **data) {
    phc_array a;
    if (phc_array_get(arrays, name, rank, payload, plen, &a) ||
        !phc_json_is_str(phc_json_get(phc_json_get(arrays, name), "dtype"), dtype))
        return -1;
    memcpy(shape, a.shape, (size_t)rank * sizeof *shape);
    *data = a.data;
    return 0;
}

/* the zstd frame after the header, checked before its plen bytes are allocated */
static int load_payload(phc_reader *r, uint64_t plen, uint8_t **payload, char *err, size_t errlen) {
    const size_t rest = r->n - r->pos;
    char zerr[256];
    *payload = NULL;
    if (phc_zstd_check(plen, r->p + r->pos, rest, "model payload", zerr, sizeof zerr)) {
        snprintf(err, errlen, "%s", zerr);
        return PHC_EMODEL;
    }
    *payload = malloc(plen ? plen : 1);
    if (!*payload) {
        snprintf(err, errlen, "out of memory (model payload of %llu bytes)", (unsigned long long)plen);
        return PHC_ENOMEM;
    }
    if (phc_zstd_decompress(*payload, plen, r->p + r->pos, rest, "model payload", zerr, sizeof zerr)) {
        snprintf(err, errlen, "%s", zerr);
        return PHC_EMODEL;
    }
    return PHC_OK;
}

int phc_model_new(phc_model **out, const void *bytes, size_t n, char *err, size_t errlen) {
    *out = NULL;
    phc_reader r = {bytes, n, 0, 0};
    const uint8_t *magic = phc_take(&r, 8);
    if (!magic || memcmp(magic, "PHCMODEL", 8)) {
        snprintf(err, errlen, "not a phcomp model file (bad magic)");
        return PHC_EMODEL;
    }
    if (phc_le(&r, 4) != 1) {
        snprintf(err, errlen, "model container version not supported by this phcomp");
        return PHC_EMODEL;
    }
    const uint64_t hlen = phc_le(&r, 4);
    const uint8_t *htext = hlen <= MAX_HEADER ? phc_take(&r, hlen) : NULL;
    const uint64_t plen = phc_le(&r, 8);
    if (!htext || r.bad || plen > MAX_PAYLOAD) return fail(err, errlen, "truncated, or header or payload too large");
    phc_json h;
    if (phc_json_parse((const char *)htext, hlen, &h)) {
        phc_json_free(&h);
        return fail(err, errlen, "bad JSON header");
    }
    int rc = PHC_OK;
    uint8_t *payload = NULL;
    const phc_json *params = phc_json_get(&h, "params"), *dec = phc_json_get(params, "decoder");
    const phc_json *exps = phc_json_get(dec, "context_exps"), *arrays = phc_json_get(&h, "arrays");
    int64_t ndim;
    const int transform = phc_json_is_str(phc_json_get(dec, "type"), "linear_int") ||
                          phc_json_is_str(phc_json_get(dec, "type"), "separable_int") ||
                          phc_json_is_str(phc_json_get(dec, "type"), "mlp_int");
    if (!transform && (!phc_json_is_str(phc_json_get(&h, "kind"), "interp") ||
                       !phc_json_is_str(phc_json_get(dec, "type"), "interp_int"))) {
        snprintf(err, errlen, "model's decoder type is not known to this native codec");
        rc = PHC_EUNSUPPORTED;
        goto done;
    }
    if (transform) {
        rc = load_payload(&r, plen, &payload, err, errlen);
        phc_model *m = rc ? NULL : calloc(1, sizeof *m);
        if (!rc && (!m || !(m->transform = calloc(1, sizeof *m->transform)))) {
            free(m);
            snprintf(err, errlen, "out of memory");
            rc = PHC_ENOMEM;
        } else if (!rc) {
            m->kind = PHC_KIND_TRANSFORM;
            rc = phc_transform_load(m->transform, &h, payload, plen, err, errlen);
            if (rc) {
                free(m->transform);
                free(m);
            } else {
                *out = m;
            }
        }
        goto done;
    }
    int64_t sets = 1; /* optional: several table sets (phcomp/core/interp.py) */
    const phc_json *js = phc_json_get(dec, "table_sets");
    if (phc_json_int(phc_json_get(dec, "ndim"), 1, 4, &ndim) || !exps || exps->type != PHC_JARR || exps->n != 4 ||
        (js && phc_json_int(js, 1, 16, &sets))) {
        rc = fail(err, errlen, "interpolation decoder spec");
        goto done;
    }
    int32_t nexps[4], ev[4 * 64];
    int ne = 0;
    for (int i = 0; i < 4; i++) {
        const phc_json *l = &exps->kids[i];
        if (l->type != PHC_JARR || l->n > 64) {
            rc = fail(err, errlen, "bad context exponents");
            goto done;
        }
        nexps[i] = (int32_t)l->n;
        for (size_t j = 0; j < l->n; j++) {
            int64_t e;
            if (phc_json_int(&l->kids[j], -64, 24, &e)) {
                rc = fail(err, errlen, "bad context exponents");
                goto done;
            }
            ev[ne++] = (int32_t)e;
        }
    }
    if ((rc = load_payload(&r, plen, &payload, err, errlen))) goto done;
    int64_t wshape[2], fshape[1], ishape[2];
    const uint8_t *w8, *f8, *i8;
    if (array(arrays, "decoder.weights", "<i8", 2, wshape, payload, plen, &w8) || wshape[1] != 8 || wshape[0] < 1 ||
        array(arrays, "tables.freq", "<u4", 1, fshape, payload, plen, &f8) ||
        array(arrays, "tables.index", "<i8", 2, ishape, payload, plen, &i8) || ishape[1] != 3 || ishape[0] < 1 ||
        ishape[0] > (1 << 24)) {
        rc = fail(err, errlen, "interp arrays missing or of the wrong dtype or shape");
        goto done;
    }
    const int64_t ntab = ishape[0];
    int64_t *weights = malloc((size_t)wshape[0] * 8 * sizeof *weights), *lo = malloc((size_t)ntab * sizeof *lo);
    uint32_t *nfreq = malloc((size_t)ntab * sizeof *nfreq);
    uint32_t *fcat = NULL;
    if (!weights || !lo || !nfreq) {
        rc = PHC_ENOMEM;
        snprintf(err, errlen, "out of memory");
    } else {
        for (int64_t i = 0; i < wshape[0] * 8; i++) {
            phc_reader a = {w8 + 8 * i, 8, 0, 0};
            weights[i] = (int64_t)phc_le(&a, 8);
        }
        /* tables.index rows (offset, count, lo) into tables.freq; concatenated for phc_interp_new */
        int64_t total = 0;
        for (int64_t i = 0; i < ntab && !rc; i++) {
            phc_reader a = {i8 + 24 * i, 24, 0, 0};
            const int64_t off = (int64_t)phc_le(&a, 8), cnt = (int64_t)phc_le(&a, 8);
            lo[i] = (int64_t)phc_le(&a, 8);
            if (off < 0 || cnt < 2 || cnt > fshape[0] || off > fshape[0] - cnt || cnt > UINT32_MAX)
                rc = fail(err, errlen, "table outside the frequency array");
            nfreq[i] = (uint32_t)cnt;
            total += cnt;
            if (total > ((int64_t)1 << 32)) rc = fail(err, errlen, "tables too large");
        }
        if (!rc) {
            fcat = malloc((size_t)total * sizeof *fcat);
            if (!fcat) {
                rc = PHC_ENOMEM;
                snprintf(err, errlen, "out of memory");
            } else {
                /* straight from the payload's little-endian words (no second copy of ~10^8 bytes) */
                int64_t k = 0;
                for (int64_t i = 0; i < ntab; i++) {
                    phc_reader a = {i8 + 24 * i, 8, 0, 0};
                    const int64_t off = (int64_t)phc_le(&a, 8);
                    for (uint32_t j = 0; j < nfreq[i]; j++) {
                        phc_reader b = {f8 + 4 * (off + j), 4, 0, 0};
                        fcat[k++] = (uint32_t)phc_le(&b, 4);
                    }
                }
                free(payload); /* everything needed is copied out: the tables are built without it */
                payload = NULL;
                phc_model *m = calloc(1, sizeof *m);
                if (!m) {
                    rc = PHC_ENOMEM;
                } else {
                    m->kind = PHC_KIND_INTERP;
                    const phc_json *dr = phc_json_get(params, "default_rel");
                    m->default_rel = dr && dr->type == PHC_JNUM && dr->num > 0 && dr->num <= 1 ? dr->num : 0.0;
                    if (ntab % sets)
                        rc = fail(err, errlen, "tables do not split into the declared table sets");
                    else
                        rc = phc_interp_new(&m->interp, (int)ndim, (int)wshape[0], weights, nexps, ev,
                                            (int)(ntab / sets), (int)sets, lo, nfreq, fcat, err, errlen);
                    if (rc) free(m);
                    else *out = m;
                }
            }
        }
    }
    free(weights);
    free(lo);
    free(nfreq);
    free(fcat);
done:
    free(payload);
    phc_json_free(&h);
    return rc;
}

int phc_model_wrap_interp(phc_model **out, const phc_interp *interp, double default_rel) {
    *out = NULL;
    if (!interp || !(default_rel >= 0)) return PHC_EARG;
    phc_model *m = calloc(1, sizeof *m);
    if (!m) return PHC_ENOMEM;
    m->kind = PHC_KIND_INTERP;
    m->interp = (phc_interp *)interp; /* never written through: phc_model_free leaves it to the caller */
    m->default_rel = default_rel;
    m->borrowed = 1;
    *out = m;
    return PHC_OK;
}

void phc_model_free(phc_model *m) {
    if (!m) return;
    if (!m->borrowed) phc_interp_free(m->interp);
    if (m->transform) phc_transform_free(m->transform);
    free(m->transform);
    free(m);
}

const phc_interp *phc_model_interp(const phc_model *m) { return m ? m->interp : NULL; }

const phc_transform *phc_model_transform(const phc_model *m) { return m ? m->transform : NULL; }

int phc_model_kind(const phc_model *m) { return m ? m->kind : 0; }

int phc_model_encodes(const phc_model *m) { return m && (m->interp || (m->transform && m->transform->can_encode)); }

double phc_model_default_rel(const phc_model *m) { return m ? m->default_rel : 0.0; }
