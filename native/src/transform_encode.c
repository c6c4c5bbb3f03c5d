/* The transform kinds' encoder in C; see transform_encode.h. */
#include "transform_encode.h"

#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "blocks.h"
#include "latent_encode.h"
#include "pages.h"
#include "parallel.h"
#include "phcomp_codec.h"
#include "residual_encode.h"
#include "vec.h"

#define QR_LIMIT ((int64_t)1 << 30)
enum { POINT_EXCEPTION = 1, POINT_NONFINITE = 2 };

/* codec.step_factor: the calibration table at log10(rel) (np.interp: clamped at its ends) */
static double step_factor(const phc_transform *t, double rel) {
    if (!t->nfactors) return t->step_factor;
    const double x = log10(rel > 1e-300 ? rel : 1e-300);
    const double *xp = t->factor_log, *fp = t->factor_val;
    const int n = t->nfactors;
    if (x <= xp[0]) return fp[0];
    if (x >= xp[n - 1]) return fp[n - 1];
    int j = 0;
    while (j + 1 < n && xp[j + 1] <= x) j++;
    if (x == xp[j]) return fp[j];
    const double slope = (fp[j + 1] - fp[j]) / (xp[j + 1] - xp[j]);
    return slope * (x - xp[j]) + fp[j];
}

/* one thread's working memory */
typedef struct {
    double *xn;   /* PHC_BATCH normalised blocks */
    double *c;    /* their latent coefficients */
    double *tmp;  /* the separable projection's two stages */
    double *xh;   /* PHC_BATCH reconstructed blocks */
    double *pack; /* phc_matmul's packed rows */
    int64_t *orow, *lrow, *lcol, *rrow;
    phc_scratch *s;
} work;

typedef struct {
    const phc_transform *t;
    const void *x;
    int dtype;
    double mid, half, step, eps, two_eps;
    int bounded, near_limit;
    phc_layout l;
    int32_t *q, *qr;
    uint8_t *flags; /* per value: stored exactly as an exception or a non-finite value */
    work w[PHC_MAX_THREADS];
} job;

static inline double value(const job *j, int64_t p) {
    return j->dtype == PHC_FLOAT32 ? (double)((const float *)j->x)[p] : ((const double *)j->x)[p];
}

/* rint (ties to even, like np.rint) as the 1.5 * 2**52 shift: exact for |v| < 2**51, inlined
 * (nearbyint is a libm call per value on baseline x86-64); larger, Inf and NaN pass through */
static inline double rint_shift(double v) {
    return fabs(v) < 0x1p51 ? (v + 0x1.8p52) - 0x1.8p52 : v;
}


/* codec._quantize: q = sign(c) * min(floor(|c| / step + half_dz), limit), 0 where that is not
 * finite. Four at a time in vector form (GCC will not if-convert the scalar compares under
 * -ftrapping-math): floor as the 1.5 * 2**52 shift less one where it rounded up (exact below
 * 2**51; larger values are integers already), selects as masks. The same values as floor(). */
__attribute__((target_clones("avx2", "default"))) static void quantize(const double *c, int64_t k, double step,
                                                                      double half_dz, double limit, int32_t *q) {
    int64_t m = 0;
    const v4 zero = {0}, one = zero + 1.0, shift = zero + 0x1.8p52, big = zero + 0x1p51, lim = zero + limit;
    const v4l sign = (v4l)(v4){-0.0, -0.0, -0.0, -0.0};
    for (; m + 4 <= k; m += 4) {
        const v4 cv = *(const v4u *)(c + m);
        const v4l neg = cv < zero, pos = cv > zero;
        const v4 ac = (v4)((v4l)cv & ~sign); /* |c|: the sign bit cleared */
        const v4 y = ac / step + half_dz;
        v4 f = (y + shift) - shift;
        f -= (v4)((v4l)one & (f > y));
        const v4 ay = (v4)((v4l)y & ~sign);
        const v4l small = ay < big;
        v4 a = (v4)((small & (v4l)f) | (~small & (v4l)y));
        a = (v4)((v4l)a & ((a - a) == zero));     /* NaN and +-Inf: 0 */
        const v4l over = a > lim;
        a = (v4)((over & (v4l)lim) | (~over & (v4l)a));
        const v4 na = zero - a;
        const v4 r = (v4)((pos & (v4l)a) | (neg & (v4l)na));
        for (int i = 0; i < 4; i++) q[m + i] = (int32_t)r[i];
    }
    for (; m < k; m++) {
        double a = floor(fabs(c[m]) / step + half_dz);
        if (!isfinite(a)) a = 0;
        if (a > limit) a = limit;
        q[m] = (int32_t)(c[m] > 0 ? a : c[m] < 0 ? -a : 0);
    }
}

/* the encoder's projection of nb normalised blocks xn (edge-padded) into latent coefficients
 * c (nb x k). Each output adds its terms in one fixed order (phc_matmul's), the same on every
 * machine and at every thread count. */
static void project(const phc_transform *t, work *w, int nb) {
    const int64_t d = t->d, k = t->k;
    double *xn = w->xn;
    for (int bi = 0; bi < nb; bi++)
        for (int64_t i = 0; i < d; i++) xn[bi * d + i] -= t->enc_mean[i];
    if (t->type == PHC_DEC_LINEAR) { /* c = (xn - mean) @ M, the nb blocks as the rows of one product */
        for (int bi = 0; bi < nb; bi++) w->orow[bi] = bi * k, w->lrow[bi] = bi * d;
        for (int64_t i = 0; i < d; i++) w->lcol[i] = i, w->rrow[i] = i * k;
        phc_matmul(w->c, w->orow, xn, w->lrow, w->lcol, t->enc_matrix, w->rrow, nb, d, k, w->pack);
        return;
    }
    /* separable: contract each axis of (xn - mean) with its inverse, then the latent order */
    for (int bi = 0; bi < nb; bi++) {
        double *a = xn + bi * d, *b = w->tmp, *spare = w->tmp + d;
        int64_t outer = 1; /* the axes before ax */
        for (int ax = 0; ax < t->nd; ax++) {
            const int64_t n = t->block[ax], inner = d / (outer * n);
            const double *inv = t->enc_inv[ax];
            if (inner == 1) { /* b[u, :] = a[u, :] @ inv over the rows u */
                for (int64_t u = 0; u < outer; u++) w->orow[u] = w->lrow[u] = u * n;
                for (int64_t kk = 0; kk < n; kk++) w->lcol[kk] = kk, w->rrow[kk] = kk * n;
                phc_matmul(b, w->orow, a, w->lrow, w->lcol, inv, w->rrow, outer, n, n, w->pack);
            } else { /* b[u, s, :] = sum_k inv[k, s] a[u, k, :] */
                for (int64_t sx = 0; sx < n; sx++) w->orow[sx] = sx * inner, w->lrow[sx] = sx;
                for (int64_t kk = 0; kk < n; kk++) w->lcol[kk] = kk * n, w->rrow[kk] = kk * inner;
                for (int64_t u = 0; u < outer; u++)
                    phc_matmul(b + u * n * inner, w->orow, inv, w->lrow, w->lcol, a + u * n * inner, w->rrow, n, n,
                               inner, w->pack);
            }
            double *sw = a == xn + bi * d ? spare : a; /* never write over the next block's input */
            a = b, b = sw;
            outer *= n;
        }
        double *cb = w->c + bi * k;
        for (int64_t m = 0; m < k; m++) cb[m] = a[t->order[m]];
    }
}

/* block blk's values into xn (d doubles), edge-padded (index clamped per axis), non-finite
 * ones as mid, normalised; a row of the block's last axis at a time */
static void gather(const job *j, int64_t blk, double *xn) {
    const phc_transform *t = j->t;
    const int nd = t->nd, last = nd - 1;
    const int64_t bl = t->block[last];
    int64_t start[4], lim[4], base, idx[4] = {0, 0, 0, 0};
    phc_layout_block(&j->l, blk, start, lim, &base);
    for (int64_t dd = 0; dd < t->d; dd += bl) {
        int64_t p = 0;
        for (int i = 0; i < last; i++) p = p * j->l.sp[i] + start[i] + (idx[i] < lim[i] ? idx[i] : lim[i] - 1);
        p = (p * j->l.sp[last] + start[last]) + base;
        const int64_t n = lim[last];
        double *row = xn + dd;
        if (j->dtype == PHC_FLOAT32) {
            const float *src = (const float *)j->x + p;
            for (int64_t e = 0; e < n; e++) row[e] = src[e];
        } else {
            const double *src = (const double *)j->x + p;
            for (int64_t e = 0; e < n; e++) row[e] = src[e];
        }
        for (int64_t e = n; e < bl; e++) row[e] = row[n - 1];
        for (int64_t e = 0; e < bl; e++) {
            double v = row[e];
            if (!isfinite(v)) v = j->mid;
            row[e] = (v - j->mid) / j->half;
        }
        for (int i = last - 1; i >= 0 && ++idx[i] == t->block[i]; i--) idx[i] = 0;
    }
}

static void encode_part(void *arg, int part, int64_t b0, int64_t b1) {
    job *j = arg;
    const phc_transform *t = j->t;
    const int last = t->nd - 1;
    const int64_t d = t->d, k = t->k;
    work *w = &j->w[part];
    for (int64_t blk = b0; blk < b1; blk += PHC_BATCH) {
        const int nb = (int)(b1 - blk < PHC_BATCH ? b1 - blk : PHC_BATCH);
        for (int bi = 0; bi < nb; bi++) gather(j, blk + bi, w->xn + bi * d);
        project(t, w, nb);
        for (int bi = 0; bi < nb; bi++) {
            const double *c = w->c + bi * k;
            int32_t *qb = j->q + (blk + bi) * k;
            quantize(c, k, j->step, 0.5 - t->deadzone, (double)t->q_limit, qb);
        }
        if (!j->bounded && !j->near_limit) continue;
        phc_transform_blocks(t, j->q + blk * k, nb, j->step, w->xh, w->s);
        for (int bi = 0; bi < nb; bi++) {
            int64_t start[4], lim[4], base, idx[4] = {0, 0, 0, 0}, dd, p;
            phc_layout_block(&j->l, blk + bi, start, lim, &base);
            const double *xb = w->xh + bi * d;
            for (int more = 1; more;) {
                more = phc_layout_row(&j->l, start, lim, base, idx, &dd, &p);
                for (int64_t e = 0; e < lim[last]; e++) {
                    const double v = value(j, p + e);
                    double xhat = xb[dd + e] * j->half;
                    xhat += j->mid;
                    if (!isfinite(v)) {
                        j->flags[p + e] = POINT_NONFINITE;
                        continue;
                    }
                    if (!j->bounded) { /* latents only, values near the dtype's limit: never Inf from finite */
                        const double y = j->dtype == PHC_FLOAT32 ? (double)(float)xhat : xhat;
                        if (!isfinite(y)) j->flags[p + e] = POINT_EXCEPTION;
                        continue;
                    }
                    double r = rint_shift((v - xhat) / j->two_eps);
                    const int big = !(fabs(r) < (double)QR_LIMIT);
                    if (big) r = 0;
                    double y = xhat + r * j->two_eps;
                    if (j->dtype == PHC_FLOAT32) y = (double)(float)y;
                    if (big || !(fabs(y - v) <= j->eps)) {
                        j->flags[p + e] = POINT_EXCEPTION;
                        r = 0;
                    }
                    j->qr[p + e] = (int32_t)r;
                }
            }
        }
    }
}

typedef struct {
    const int32_t *qr;
    uint64_t n;
    int kind;
    phc_buf out;
    int rc;
    char err[256];
} residual_job;

static void *residual_run(void *arg) {
    residual_job *r = arg;
    r->rc = phc_residual_encode(r->qr, r->n, &r->kind, &r->out, r->err, sizeof r->err);
    return NULL;
}

int phc_transform_chunk(phc_buf *out, const void *x, int dtype, int ndim, const uint64_t *shape, uint64_t nv,
                        const phc_transform *t, const char *model_id, double lo, double hi, double eps, int threads,
                        char *err, size_t errlen) {
    job j;
    memset(&j, 0, sizeof j);
    j.t = t, j.x = x, j.dtype = dtype;
    j.mid = lo / 2 + hi / 2, j.half = hi / 2 - lo / 2;
    if (t->norm_fixed) j.mid = t->norm_mid, j.half = t->norm_half;
    j.bounded = eps >= 0;
    j.eps = eps, j.two_eps = 2.0 * eps;
    if (j.bounded && !t->step_fixed) {
        j.step = step_factor(t, eps / (2.0 * j.half)) * 2.0 * eps / j.half;
        if (j.step < t->min_step) j.step = t->min_step;
        if (!isfinite(j.step)) j.step = DBL_MAX; /* a bound past the range of denormal values: every latent is 0 */
    } else {
        j.step = t->default_step;
    }
    const double lim = dtype == PHC_FLOAT32 ? (double)FLT_MAX : DBL_MAX;
    j.near_limit = !j.bounded && fmax(fabs(lo), fabs(hi)) > lim * 0x1p-10;
    phc_layout_init(&j.l, t, ndim, shape);
    const int64_t nblocks = j.l.nblocks;
    /* per-value arrays on huge pages when big (pages.c): 512x fewer page faults; every latent is written */
    j.q = phc_pages_get((size_t)(nblocks * t->k), sizeof *j.q, 0);
    j.flags = phc_pages_get((size_t)nv, 1, 1);
    if (j.bounded) j.qr = phc_pages_get((size_t)nv, sizeof *j.qr, 1);
    int rc = j.q && j.flags && (!j.bounded || j.qr) ? PHC_OK : PHC_ENOMEM;
    const int parts = rc ? 0 : phc_parts(threads, nblocks, 4);
    const size_t d = (size_t)t->d, k = (size_t)t->k, dk = d > k ? d : k, most = dk > PHC_BATCH ? dk : PHC_BATCH;
    for (int p = 0; !rc && p < parts; p++) {
        work *w = &j.w[p];
        w->xn = malloc(PHC_BATCH * d * sizeof(double));
        w->c = malloc(PHC_BATCH * k * sizeof(double));
        w->tmp = malloc(2 * d * sizeof(double));
        w->xh = malloc(PHC_BATCH * d * sizeof(double));
        w->pack = malloc(4 * most * sizeof(double));
        w->orow = malloc(most * sizeof(int64_t)), w->lrow = malloc(most * sizeof(int64_t));
        w->lcol = malloc(most * sizeof(int64_t)), w->rrow = malloc(most * sizeof(int64_t));
        w->s = phc_scratch_new(t);
        if (!w->xn || !w->c || !w->tmp || !w->xh || !w->pack || !w->orow || !w->lrow || !w->lcol || !w->rrow || !w->s)
            rc = PHC_ENOMEM;
    }
    if (!rc) phc_parallel_for(threads, nblocks, 4, encode_part, &j);

    /* non-finite values (not seen by a latent-only encoder's pass) */
    for (uint64_t i = 0; !rc && !j.bounded && !j.near_limit && i < nv; i++)
        if (!isfinite(value(&j, (int64_t)i))) j.flags[i] = POINT_NONFINITE;
    phc_section sec[4] = {{PHC_SEC_LATENT, {0}}, {0, {0}}, {PHC_SEC_EXCEPTIONS, {0}}, {PHC_SEC_NONFINITE, {0}}};
    int nsec = 1;
    /* the residual section is independent of the latents: written beside them on threads > 1 */
    residual_job rj = {j.qr, nv, 0, {0}, PHC_OK, ""};
    phc_side side = {0};
    if (!rc && j.bounded) phc_side_start(&side, threads, residual_run, &rj);
    if (!rc) rc = phc_latent_encode(t, j.q, nblocks, j.step, threads, &sec[0].body, err, errlen);
    if (j.bounded) phc_side_finish(&side, !rc);
    if (j.bounded) {
        sec[1].kind = rj.kind;
        sec[1].body = rj.out;
        nsec = 2;
        if (!rc && rj.rc) {
            rc = rj.rc;
            snprintf(err, errlen, "%s", rj.err);
        }
    }
    const int isz = dtype == PHC_FLOAT32 ? 4 : 8;
    for (int kind = POINT_EXCEPTION; !rc && kind <= POINT_NONFINITE; kind++) {
        size_t n = 0;
        for (uint64_t i = 0; i < nv; i++) n += j.flags[i] == kind;
        if (!n) continue;
        int64_t *pos = malloc(n * sizeof *pos);
        if (!pos) {
            rc = PHC_ENOMEM;
            break;
        }
        n = 0;
        for (uint64_t i = 0; i < nv; i++)
            if (j.flags[i] == kind) pos[n++] = (int64_t)i;
        phc_section *s = &sec[nsec++];
        s->kind = kind == POINT_EXCEPTION ? PHC_SEC_EXCEPTIONS : PHC_SEC_NONFINITE;
        rc = phc_w_put_points(&s->body, pos, n, x, isz, err, errlen);
        free(pos);
    }
    for (int i = 0; !rc && i < nsec; i++)
        if (sec[i].body.oom) rc = PHC_ENOMEM;
    if (!rc)
        rc = phc_w_pack(out, j.bounded ? 2 : 1, dtype, ndim, shape, model_id, j.bounded ? eps : 0.0, j.mid, j.half,
                        j.step, sec, nsec);
    for (int i = 0; i < 4; i++) free(sec[i].body.p);
    for (int p = 0; p < parts; p++) {
        work *w = &j.w[p];
        free(w->xn);
        free(w->c);
        free(w->tmp);
        free(w->xh);
        free(w->pack);
        free(w->orow);
        free(w->lrow);
        free(w->lcol);
        free(w->rrow);
        phc_scratch_free(w->s);
    }
    phc_pages_free(j.q);
    phc_pages_free(j.qr);
    phc_pages_free(j.flags);
    /* latents only too: a chunk of a few values can cost more than them, and phc_chunk_bound
       must hold every chunk */
    return rc ? rc : phc_w_lossless_if_smaller(out, x, dtype, ndim, shape, nv, err, errlen);
}
