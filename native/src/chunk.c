/* The chunk format (docs/format.md, phcomp/core/chunk.py) read in C: header, section table,
 * CRC32 trailer, then the payload of every mode (lossless here, interpolation with interp.c,
 * latents and residuals with blocks.c) and the point lists. Every
 * declared size is checked against the bytes present (and the caller's buffer) before use. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "blocks.h"
#include "bytes.h"
#include "crc32.h"
#include "intpack.h"
#include "phcomp_codec.h"
#include "zstd_rt.h"

enum { SEC_LATENT = 1, SEC_RESIDUAL, SEC_NONFINITE, SEC_EXCEPTIONS, SEC_RAW, SEC_CHECKS, SEC_RESIDUAL_RUNS, SEC_INTERP };
#define NSEC 9

static const int ITEMSIZE[11] = {0, 4, 8, 1, 2, 4, 8, 1, 2, 4, 8};

typedef struct {
    phc_chunk_info info;
    double eps, mid, half, step;
    const uint8_t *sec[NSEC];
    uint64_t seclen[NSEC];
} parsed;

static int bad(char *err, size_t errlen, const char *msg) {
    snprintf(err, errlen, "%s", msg);
    return PHC_ECORRUPT;
}

static int parse(const uint8_t *data, size_t n, parsed *c, char *err, size_t errlen) {
    memset(c, 0, sizeof *c);
    if (n < 4 || memcmp(data, "\x89PHC", 4)) return bad(err, errlen, "not a phcomp chunk (bad magic)");
    if (n < 12) return bad(err, errlen, "truncated phcomp chunk");
    phc_reader r = {data, n - 4, 4, 0};
    const unsigned version = (unsigned)phc_le(&r, 2);
    if (version != 1) {
        snprintf(err, errlen, "phcomp chunk format version %u is not supported (this phcomp reads (1,))", version);
        return PHC_ECORRUPT;
    }
    phc_reader t = {data + n - 4, 4, 0, 0};
    if (phc_crc32(data, n - 4) != (uint32_t)phc_le(&t, 4)) return bad(err, errlen, "corrupt or truncated phcomp chunk: CRC32 mismatch");
    phc_chunk_info *in = &c->info;
    in->mode = (int)phc_le(&r, 1);
    phc_le(&r, 1);
    in->dtype = (int)phc_le(&r, 1);
    in->ndim = (int)phc_le(&r, 1);
    phc_le(&r, 2);
    if (in->mode > 3) return bad(err, errlen, "corrupt chunk: unknown mode");
    if (in->dtype < 1 || in->dtype > 10 || (in->dtype > 2 && in->mode != 0)) return bad(err, errlen, "corrupt chunk: unknown dtype code");
    if (in->ndim > 8) return bad(err, errlen, "corrupt chunk: ndim");
    in->itemsize = ITEMSIZE[in->dtype];
    const uint8_t *id = phc_take(&r, 8);
    for (int i = 0; id && i < 8; i++) snprintf(in->model_id + 2 * i, 3, "%02x", id[i]);
    in->nvalues = 1;
    for (int i = 0; i < in->ndim; i++) {
        in->shape[i] = phc_le(&r, 8);
        if (in->shape[i] && in->nvalues > ((uint64_t)1 << 40) / in->shape[i])
            return bad(err, errlen, "corrupt chunk: shape beyond the format's 2**40 values");
        in->nvalues *= in->shape[i];
    }
    if (in->nvalues > ((uint64_t)1 << 40)) return bad(err, errlen, "corrupt chunk: shape beyond the format's 2**40 values");
    c->eps = phc_f64(&r);
    c->mid = phc_f64(&r);
    c->half = phc_f64(&r);
    c->step = phc_f64(&r);
    const unsigned nsec = (unsigned)phc_le(&r, 1);
    unsigned kinds[256];
    uint64_t lens[256];
    for (unsigned i = 0; i < nsec; i++) {
        kinds[i] = (unsigned)phc_le(&r, 1);
        lens[i] = phc_le(&r, 8);
    }
    for (unsigned i = 0; i < nsec; i++) {
        if (kinds[i] < 1 || kinds[i] >= NSEC || c->sec[kinds[i]]) return bad(err, errlen, "corrupt chunk: bad section kind");
        c->sec[kinds[i]] = phc_take(&r, lens[i]);
        c->seclen[kinds[i]] = lens[i];
        if (!c->sec[kinds[i]] && !r.bad) c->sec[kinds[i]] = data; /* an empty section is present */
    }
    if (r.bad) {
        snprintf(err, errlen, "truncated or corrupt chunk: sections run past its %zu bytes", n);
        return PHC_ECORRUPT;
    }
    if (r.pos != r.n) return bad(err, errlen, "corrupt chunk: unexpected trailing bytes");
    if (in->mode != 0 && in->nvalues == 0) return bad(err, errlen, "corrupt chunk: empty shape in a lossy mode");
    if (in->mode == 3) {
        if (!(isfinite(c->mid) && isfinite(c->eps) && c->eps > 0 && isfinite(c->step) && c->step > 0))
            return bad(err, errlen, "corrupt chunk: bad bound, offset or grid unit");
        if (!c->sec[SEC_INTERP] || !strcmp(in->model_id, "0000000000000000"))
            return bad(err, errlen, "corrupt chunk: interpolation section or model id missing");
    }
    if (in->mode == 1 || in->mode == 2) {
        if (!(isfinite(c->mid) && isfinite(c->half) && c->half > 0 && isfinite(c->step) && c->step > 0))
            return bad(err, errlen, "corrupt chunk: bad normalisation or step");
        if (!c->sec[SEC_LATENT] || !strcmp(in->model_id, "0000000000000000"))
            return bad(err, errlen, "corrupt chunk: latent section or model id missing");
    }
    if (in->mode == 2 && (!isfinite(c->eps) || c->eps <= 0 || !c->sec[SEC_RESIDUAL] == !c->sec[SEC_RESIDUAL_RUNS]))
        return bad(err, errlen, "corrupt chunk: bad bound or missing residual");
    if (in->mode == 0 && in->nvalues && !c->sec[SEC_RAW]) return bad(err, errlen, "corrupt chunk: lossless payload missing");
    return PHC_OK;
}

int phc_chunk_inspect(const void *data, size_t n, phc_chunk_info *info, char *err, size_t errlen) {
    parsed c;
    int rc = parse(data, n, &c, err, errlen);
    *info = c.info;
    return rc;
}

/* a point list (phcomp/core/points.py): delta-coded positions, then their exact values */
static int points(const uint8_t *body, uint64_t len, const phc_chunk_info *in, void *out, const char *what, char *err,
                  size_t errlen) {
    phc_reader r = {body, len, 0, 0};
    int64_t *gaps;
    uint64_t n;
    int rc = phc_unpack_ints(&r, in->nvalues, &gaps, &n, what, err, errlen);
    if (rc) return rc;
    int64_t pos = 0;
    for (uint64_t i = 0; i < n && !rc; i++) {
        if (gaps[i] < (i ? 1 : 0) || gaps[i] >= (int64_t)in->nvalues) {
            snprintf(err, errlen, "corrupt %s: positions not increasing", what);
            rc = PHC_ECORRUPT;
            break;
        }
        pos += gaps[i];
        if (pos >= (int64_t)in->nvalues) {
            snprintf(err, errlen, "corrupt %s: position %lld outside array of %llu values", what, (long long)pos,
                     (unsigned long long)in->nvalues);
            rc = PHC_ECORRUPT;
        }
        gaps[i] = pos;
    }
    const uint64_t vlen = rc ? 0 : phc_le(&r, 8);
    const uint8_t *vblob = rc ? NULL : phc_take(&r, vlen);
    if (!rc && (r.bad || r.pos != r.n)) {
        snprintf(err, errlen, "truncated or corrupt %s", what);
        rc = PHC_ECORRUPT;
    }
    uint8_t *vals = NULL;
    if (!rc && !phc_zstd_check(n * in->itemsize, vblob ? vblob : (const uint8_t *)"", vlen, what, err, errlen)) {
        vals = malloc(n * in->itemsize + 1);
        if (!vals) rc = PHC_ENOMEM;
        else if (phc_zstd_decompress(vals, n * in->itemsize, vblob ? vblob : (const uint8_t *)"", vlen, what, err, errlen))
            rc = PHC_ECORRUPT;
    } else if (!rc) {
        rc = PHC_ECORRUPT;
    }
    for (uint64_t i = 0; !rc && i < n; i++) /* little-endian values onto a little-endian host */
        memcpy((uint8_t *)out + gaps[i] * in->itemsize, vals + i * in->itemsize, (size_t)in->itemsize);
    free(vals);
    free(gaps);
    return rc;
}

static int interp_payload(const parsed *c, const phc_model *model, void *out, int threads, char *err, size_t errlen) {
    const phc_interp *m = phc_model_interp(model);
    if (!m) return bad(err, errlen, "interpolation chunk without an interp model");
    const phc_chunk_info *in = &c->info;
    const int nd_model = phc_interp_ndim(m);
    const int nd = in->ndim < nd_model ? in->ndim : nd_model;
    int64_t sp[8], items = 1;
    for (int i = 0; i < in->ndim - nd; i++) items *= (int64_t)in->shape[i];
    for (int i = 0; i < nd; i++) sp[i] = (int64_t)in->shape[in->ndim - nd + i];
    phc_reader r = {c->sec[SEC_INTERP], c->seclen[SEC_INTERP], 0, 0};
    const int bits = (int)phc_le(&r, 1);
    const uint64_t group = phc_le(&r, 8);
    /* a model with several table sets: one byte per item group names the group's set */
    const int64_t g = group > (uint64_t)items ? items : (int64_t)group;
    const size_t nsets = !r.bad && group >= 1 && phc_interp_sets(m) > 1 ? (size_t)((items + g - 1) / g) : 0;
    const uint8_t *sets = nsets ? phc_take(&r, nsets) : NULL;
    const uint64_t nwords = phc_le(&r, 8);
    if (r.bad || bits < 2 || bits > 10 || group < 1 || (nsets && !sets) || nwords > (r.n - r.pos) / 4)
        return bad(err, errlen, "corrupt interpolation section: header");
    if (c->step != c->eps / ldexp(1.0, bits)) return bad(err, errlen, "corrupt chunk: grid unit does not match the bound");
    uint32_t *words = malloc((size_t)(nwords ? nwords : 1) * 4); /* nwords is bounded by the section's bytes */
    if (!words) return bad(err, errlen, "out of memory");
    for (uint64_t i = 0; i < nwords; i++) words[i] = (uint32_t)phc_le(&r, 4);
    int64_t *esc;
    uint64_t nesc;
    int rc = phc_unpack_ints(&r, in->nvalues, &esc, &nesc, "escape values", err, errlen);
    if (!rc && r.pos != r.n) rc = bad(err, errlen, "corrupt interpolation section: trailing bytes");
    if (!rc)
        rc = phc_interp_decode(m, bits, g, items, nd, sp, words, nwords, esc, nesc, sets, nsets, c->mid, c->step, c->half,
                               in->dtype, threads, out, err, errlen);
    free(words);
    free(esc);
    return rc;
}

int phc_chunk_decode(const void *data, size_t n, const phc_model *model, void *out, size_t out_bytes, int threads,
                     char *err, size_t errlen) {
    parsed c;
    int rc = parse(data, n, &c, err, errlen);
    if (rc) return rc;
    const phc_chunk_info *in = &c.info;
    if (in->nvalues * (uint64_t)in->itemsize != out_bytes) {
        snprintf(err, errlen, "chunk holds %llu values of %d bytes, not the %zu bytes expected",
                 (unsigned long long)in->nvalues, in->itemsize, out_bytes);
        return PHC_ECORRUPT;
    }
    if (in->mode == 0) {
        if (!in->nvalues) return PHC_OK;
        const size_t isz = (size_t)in->itemsize, nv = (size_t)in->nvalues;
        if (phc_zstd_check(out_bytes, c.sec[SEC_RAW], c.seclen[SEC_RAW], "lossless payload", err, errlen)) return PHC_ECORRUPT;
        uint8_t *raw = malloc(out_bytes);
        if (!raw) return bad(err, errlen, "out of memory");
        rc = phc_zstd_decompress(raw, out_bytes, c.sec[SEC_RAW], c.seclen[SEC_RAW], "lossless payload", err, errlen)
                 ? PHC_ECORRUPT : PHC_OK;
        for (size_t i = 0; !rc && i < nv; i++) /* byte-unshuffle */
            for (size_t b = 0; b < isz; b++) ((uint8_t *)out)[i * isz + b] = raw[b * nv + i];
        free(raw);
        return rc;
    }
    if (in->mode == 3) {
        rc = interp_payload(&c, model, out, threads, err, errlen);
    } else {
        const phc_transform *t = phc_model_transform(model);
        if (!t) return bad(err, errlen, "chunk of a transform kind (modes 1-2) without a transform model");
        const int reskind = in->mode == 1 ? 0 : c.sec[SEC_RESIDUAL] ? SEC_RESIDUAL : SEC_RESIDUAL_RUNS;
        rc = phc_blocks_decode(t, in, c.eps, c.mid, c.half, c.step, c.sec[SEC_LATENT], c.seclen[SEC_LATENT], reskind,
                               reskind ? c.sec[reskind] : NULL, reskind ? c.seclen[reskind] : 0, out, threads, err,
                               errlen);
    }
    if (!rc && c.sec[SEC_EXCEPTIONS]) rc = points(c.sec[SEC_EXCEPTIONS], c.seclen[SEC_EXCEPTIONS], in, out, "exceptions", err, errlen);
    if (!rc && c.sec[SEC_NONFINITE]) rc = points(c.sec[SEC_NONFINITE], c.seclen[SEC_NONFINITE], in, out, "nonfinite", err, errlen);
    return rc;
}
