/* The chunk writer (docs/format.md phc_section 1; phcomp/core/codec.py in Python): a whole chunk
 * from an array, for hosts with no Python (the ADIOS2 operator). It makes the encoder's
 * decisions the way the Python encoder does (finite range, bound, lossless floor, grid bits,
 * item groups, lossless when that is smaller), so a chunk written here decodes to the same
 * bits as Python's chunk of the same array, and is byte-identical when both link the same
 * zstd (tests/test_native_encode.py checks both). */
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chunk_write.h"
#include "crc32.h"
#include "decoder_int.h"
#include "transform_encode.h"
#include "phcomp_codec.h"
#include "zstd_rt.h"

#define MAX_GRID_BITS 10  /* phcomp/core/interp.py */
#define MAGNITUDE_BITS 40
#define SLAB_VALUES ((int64_t)1 << 21)



uint8_t *phc_w_room(phc_buf *b, size_t k) {
    if (b->oom) return NULL;
    if (k > SIZE_MAX / 2 - b->n) {
        b->oom = 1;
        return NULL;
    }
    if (b->n + k > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->n + k) cap *= 2;
        uint8_t *p = realloc(b->p, cap);
        if (!p) {
            b->oom = 1;
            return NULL;
        }
        b->p = p;
        b->cap = cap;
    }
    uint8_t *q = b->p + b->n;
    b->n += k;
    return q;
}

void phc_w_put_le(phc_buf *b, uint64_t v, int k) {
    uint8_t *q = phc_w_room(b, (size_t)k);
    for (int i = 0; q && i < k; i++) q[i] = (uint8_t)(v >> (8 * i));
}

void phc_w_put_f64(phc_buf *b, double d) {
    uint64_t u;
    memcpy(&u, &d, 8);
    phc_w_put_le(b, u, 8);
}

void phc_w_put_raw(phc_buf *b, const void *p, size_t k) {
    uint8_t *q = phc_w_room(b, k);
    if (q && k) memcpy(q, p, k);
}

/* one zstd frame of src[0..n) */
int phc_w_put_frame(phc_buf *b, const void *src, size_t n, char *err, size_t errlen) {
    const size_t cap = phc_zstd_bound(n), at = b->n;
    if (!phc_w_room(b, cap)) return PHC_ENOMEM;
    size_t got;
    if (phc_zstd_compress(b->p + at, cap, src, n, ZSTD_LEVEL, &got, err, errlen)) return PHC_EARG;
    b->n = at + got;
    return PHC_OK;
}

/* blob: u64 length + one zstd frame of src */
int phc_w_put_zstd(phc_buf *b, const void *src, size_t n, char *err, size_t errlen) {
    const size_t at = b->n;
    phc_w_put_le(b, 0, 8);
    const int rc = b->oom ? PHC_ENOMEM : phc_w_put_frame(b, src, n, err, errlen);
    for (int i = 0; !rc && i < 8; i++) b->p[at + (size_t)i] = (uint8_t)((uint64_t)(b->n - at - 8) >> (8 * i));
    return rc;
}

/* pack_ints (phcomp/core/intpack.py): u8 width (the narrowest that holds every value), u64
 * count, blob of the little-endian values */
int phc_w_put_ints(phc_buf *b, const int64_t *v, size_t n, char *err, size_t errlen) {
    int64_t lo = 0, hi = 0;
    for (size_t i = 0; i < n; i++) {
        if (!i || v[i] < lo) lo = v[i];
        if (!i || v[i] > hi) hi = v[i];
    }
    int w = 1;
    while (w < 8 && !(lo >= -((int64_t)1 << (8 * w - 1)) && hi < ((int64_t)1 << (8 * w - 1)))) w *= 2;
    uint8_t *raw = malloc(n * (size_t)w + 1);
    if (!raw) return PHC_ENOMEM;
    for (size_t i = 0; i < n; i++)
        for (int k = 0; k < w; k++) raw[i * (size_t)w + (size_t)k] = (uint8_t)((uint64_t)v[i] >> (8 * k));
    phc_w_put_le(b, (uint64_t)w, 1);
    phc_w_put_le(b, n, 8);
    const int rc = phc_w_put_zstd(b, raw, n * (size_t)w, err, errlen);
    free(raw);
    return rc;
}

/* a point list (phcomp/core/points.py): delta-coded sorted positions, then their values' bytes */
int phc_w_put_points(phc_buf *b, const int64_t *pos, size_t n, const uint8_t *x, int isz, char *err, size_t errlen) {
    int64_t *gaps = malloc((n ? n : 1) * sizeof *gaps);
    uint8_t *vals = malloc(n * (size_t)isz + 1);
    int rc = PHC_ENOMEM;
    if (gaps && vals) {
        for (size_t i = 0; i < n; i++) {
            gaps[i] = i ? pos[i] - pos[i - 1] : pos[i];
            memcpy(vals + i * (size_t)isz, x + pos[i] * isz, (size_t)isz); /* little-endian host */
        }
        rc = phc_w_put_ints(b, gaps, n, err, errlen);
        if (!rc) rc = phc_w_put_zstd(b, vals, n * (size_t)isz, err, errlen);
    }
    free(gaps);
    free(vals);
    return rc;
}


/* header, phc_section table, bodies, CRC-32 (pack_chunk in phcomp/core/chunk.py) */
int phc_w_pack(phc_buf *out, int mode, int dtype, int ndim, const uint64_t *shape, const char *model_id, double eps,
                double mid, double half, double step, phc_section *sec, int nsec) {
    phc_w_put_raw(out, "\x89PHC", 4);
    phc_w_put_le(out, 1, 2);
    phc_w_put_le(out, (uint64_t)mode, 1);
    phc_w_put_le(out, 0, 1);
    phc_w_put_le(out, (uint64_t)dtype, 1);
    phc_w_put_le(out, (uint64_t)ndim, 1);
    phc_w_put_le(out, 0, 2);
    uint8_t id[8] = {0};
    for (int i = 0; model_id && i < 8; i++) {
        unsigned v = 0;
        sscanf(model_id + 2 * i, "%2x", &v);
        id[i] = (uint8_t)v;
    }
    phc_w_put_raw(out, id, 8);
    for (int i = 0; i < ndim; i++) phc_w_put_le(out, shape[i], 8);
    phc_w_put_f64(out, eps);
    phc_w_put_f64(out, mid);
    phc_w_put_f64(out, half);
    phc_w_put_f64(out, step);
    phc_w_put_le(out, (uint64_t)nsec, 1);
    for (int i = 0; i < nsec; i++) {
        phc_w_put_le(out, (uint64_t)sec[i].kind, 1);
        phc_w_put_le(out, sec[i].body.n, 8);
    }
    for (int i = 0; i < nsec; i++) phc_w_put_raw(out, sec[i].body.p, sec[i].body.n);
    if (out->oom) return PHC_ENOMEM;
    phc_w_put_le(out, phc_crc32(out->p, out->n), 4);
    return out->oom ? PHC_ENOMEM : PHC_OK;
}

int phc_w_lossless(phc_buf *out, const void *x, int dtype, int ndim, const uint64_t *shape, uint64_t nv, char *err,
                    size_t errlen) {
    const size_t isz = (size_t)ITEMSIZE[dtype];
    uint8_t *sh = malloc(nv * isz + 1);
    if (!sh) return PHC_ENOMEM;
    for (size_t i = 0; i < nv; i++) /* byte shuffle: neighbours' exponent bytes line up for zstd */
        for (size_t k = 0; k < isz; k++) sh[k * nv + i] = ((const uint8_t *)x)[i * isz + k];
    phc_section s = {PHC_SEC_RAW, {0}};
    int rc = phc_w_put_frame(&s.body, sh, nv * isz, err, errlen); /* the raw phc_section is a bare frame */
    free(sh);
    if (!rc) rc = phc_w_pack(out, 0, dtype, ndim, shape, NULL, 0.0, 0.0, 1.0, 0.0, &s, 1);
    free(s.body.p);
    return rc;
}

int phc_w_lossless_if_smaller(phc_buf *out, const void *x, int dtype, int ndim, const uint64_t *shape, uint64_t nv,
                              char *err, size_t errlen) {
    if ((double)out->n <= LOSSLESS_CHECK * (double)(nv * (uint64_t)ITEMSIZE[dtype])) return PHC_OK;
    phc_buf ll = {0};
    const int rc = phc_w_lossless(&ll, x, dtype, ndim, shape, nv, err, errlen);
    if (!rc && ll.n <= out->n) {
        free(out->p);
        *out = ll;
    } else {
        free(ll.p);
    }
    return rc;
}

static size_t header_bytes(int ndim, int nsec) { return 53 + 8 * (size_t)ndim + 9 * (size_t)nsec + 4; }

size_t phc_chunk_bound(int dtype, int ndim, const uint64_t *shape) {
    if (dtype < 1 || dtype > 10 || ndim < 0 || ndim > 8) return 0;
    uint64_t nv = 1;
    for (int i = 0; i < ndim; i++) {
        if (shape[i] && nv > ((uint64_t)1 << 40) / shape[i]) return 0;
        nv *= shape[i];
    }
    const size_t nbytes = (size_t)nv * (size_t)ITEMSIZE[dtype];
    const size_t ll = header_bytes(ndim, 1) + phc_zstd_bound(nbytes);
    return ll > nbytes / 2 + 1 ? ll : nbytes / 2 + 1; /* a bounded chunk larger than half is compared to ll */
}

static double grid_bits(double half, double eps) {
    const double r = half / eps;
    return fmin(MAX_GRID_BITS, MAGNITUDE_BITS - ceil(log2(r > 1.0 ? r : 1.0) + 1e-9));
}

static int interp_chunk(phc_buf *out, const void *x, int dtype, int ndim, const uint64_t *shape, uint64_t nv,
                        const phc_model *model, const char *model_id, double mid, double half, double eps, int threads,
                        char *err, size_t errlen) {
    const phc_interp *m = phc_model_interp(model);
    const int bits = (int)grid_bits(half, eps);
    if (bits < 2) return phc_w_lossless(out, x, dtype, ndim, shape, nv, err, errlen);
    const double delta = eps / ldexp(1.0, bits);
    const int nd_model = phc_interp_ndim(m), nd = ndim < nd_model ? ndim : nd_model;
    int64_t sp[8] = {1}, items = 1, per = 1;
    for (int i = 0; i < ndim - nd; i++) items *= (int64_t)shape[i];
    for (int i = 0; i < nd; i++) per *= sp[i] = (int64_t)shape[ndim - nd + i];
    const int64_t group = SLAB_VALUES / (per > 1 ? per : 1) > 1 ? SLAB_VALUES / (per > 1 ? per : 1) : 1;
    phc_interp_stream s;
    int rc = phc_interp_encode(m, x, dtype, items, nd, sp, mid, delta, eps, bits, group, threads, &s, err, errlen);
    if (rc) return rc;
    phc_section sec[3] = {{PHC_SEC_INTERP, {0}}, {PHC_SEC_EXCEPTIONS, {0}}, {PHC_SEC_NONFINITE, {0}}};
    int nsec = 1;
    phc_w_put_le(&sec[0].body, (uint64_t)bits, 1);
    phc_w_put_le(&sec[0].body, (uint64_t)group, 8);
    for (size_t i = 0; i < s.nsets; i++) phc_w_put_le(&sec[0].body, s.sets[i], 1); /* several table sets: one per group */
    phc_w_put_le(&sec[0].body, s.nwords, 8);
    uint8_t *w = phc_w_room(&sec[0].body, s.nwords * 4);
    for (size_t i = 0; w && i < s.nwords; i++)
        for (int k = 0; k < 4; k++) w[4 * i + (size_t)k] = (uint8_t)(s.words[i] >> (8 * k));
    rc = sec[0].body.oom ? PHC_ENOMEM : phc_w_put_ints(&sec[0].body, s.escapes, s.nesc, err, errlen);
    const int isz = ITEMSIZE[dtype];
    if (!rc && s.nexceptions) rc = phc_w_put_points(&sec[nsec++].body, s.exceptions, s.nexceptions, x, isz, err, errlen);
    if (!rc && s.nnonfinite) {
        sec[nsec].kind = PHC_SEC_NONFINITE;
        rc = phc_w_put_points(&sec[nsec++].body, s.nonfinite, s.nnonfinite, x, isz, err, errlen);
    }
    phc_interp_stream_free(&s);
    if (!rc)
        rc = phc_w_pack(out, 3, dtype, ndim, shape, model_id, eps, mid, half > 1e-300 ? half : 1e-300, delta, sec, nsec);
    for (int i = 0; i < 3; i++) free(sec[i].body.p);
    return rc ? rc : phc_w_lossless_if_smaller(out, x, dtype, ndim, shape, nv, err, errlen);
}

int phc_chunk_encode(const void *x, int dtype, int ndim, const uint64_t *shape, const phc_model *model,
                     const char *model_id, double abs_bound, double rel_bound, int threads, void *dst, size_t cap,
                     size_t *written, char *err, size_t errlen) {
    *written = 0;
    const size_t bound = phc_chunk_bound(dtype, ndim, shape);
    if (!bound) {
        snprintf(err, errlen, "phc_chunk_encode: bad dtype code %d, ndim %d or more than 2**40 values", dtype, ndim);
        return PHC_EARG;
    }
    if (cap < bound) {
        snprintf(err, errlen, "phc_chunk_encode: output buffer of %zu bytes, phc_chunk_bound gives %zu", cap, bound);
        return PHC_EARG;
    }
    uint64_t nv = 1;
    for (int i = 0; i < ndim; i++) nv *= shape[i];
    const int given_abs = abs_bound >= 0, given_rel = rel_bound >= 0; /* negative or NaN: not given */
    double lo = INFINITY, hi = -INFINITY;
    if (dtype <= 2)
        for (uint64_t i = 0; i < nv; i++) {
            const double v = dtype == PHC_FLOAT32 ? (double)((const float *)x)[i] : ((const double *)x)[i];
            if (isfinite(v)) {
                lo = v < lo ? v : lo;
                hi = v > hi ? v : hi;
            }
        }
    const double range = hi - lo, mid = lo / 2 + hi / 2, half = hi / 2 - lo / 2;
    double eps = -1; /* not given */
    if (given_abs) eps = abs_bound;
    if (given_rel && !(given_abs && eps <= rel_bound * (lo <= hi ? range : 0.0))) eps = rel_bound * (lo <= hi ? range : 0.0);
    if (eps >= 0 && lo <= hi) {
        const double mag = fmax(fmax(fabs(lo), fabs(hi)), range) * 0x1p-52;
        if (eps < fmax(DBL_MIN, mag)) eps = 0; /* finer than float64 resolves here: only lossless meets it */
    }
    phc_buf out = {0};
    int rc;
    if (dtype > 2 || nv == 0 || lo > hi || eps == 0 || !isfinite(range) || range == 0) {
        rc = phc_w_lossless(&out, x, dtype, ndim, shape, nv, err, errlen);
    } else if (!phc_model_interp(model) && !(phc_model_transform(model) && phc_model_transform(model)->can_encode)) {
        snprintf(err, errlen, "a bounded chunk needs an interp, linear or separable model (the kinds encoded natively)");
        rc = PHC_EARG;
    } else if (!model_id || strlen(model_id) != 16 || strspn(model_id, "0123456789abcdef") != 16) {
        snprintf(err, errlen, "phc_chunk_encode: the model id must be 16 lower-case hex digits");
        rc = PHC_EARG;
    } else if (phc_model_transform(model)) { /* latents and residual; no bound given: latents only */
        rc = phc_transform_chunk(&out, x, dtype, ndim, shape, nv, phc_model_transform(model), model_id, lo, hi, eps,
                                 threads, err, errlen);
    } else {
        if (eps < 0) eps = phc_model_default_rel(model) * 2 * half;
        rc = eps > 0 ? interp_chunk(&out, x, dtype, ndim, shape, nv, model, model_id, mid, half, eps, threads, err, errlen)
                     : (snprintf(err, errlen, "no bound given and the model has no default_rel"), PHC_EARG);
    }
    if (!rc && out.oom) rc = PHC_ENOMEM;
    if (!rc && out.n > cap) { /* cannot happen (phc_chunk_bound); checked all the same */
        snprintf(err, errlen, "chunk of %zu bytes exceeds its bound %zu", out.n, cap);
        rc = PHC_EARG;
    }
    if (rc == PHC_ENOMEM) snprintf(err, errlen, "out of memory");
    if (!rc) {
        memcpy(dst, out.p, out.n);
        *written = out.n;
    }
    free(out.p);
    return rc;
}
