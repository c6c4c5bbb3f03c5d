/* The transform kinds' encoder in C; see transform_encode.h. */
#include "transform_encode.h"

#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "blocks.h"
#include "latent_encode.h"
#include "parallel.h"
#include "phcomp_codec.h"
#include "residual_encode.h"

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

typedef struct {
    const phc_transform *t;
    const void *x;
    int dtype;
    double mid, half, step, eps, two_eps;
    int bounded, near_limit;
    phc_layout l;
    int32_t *q, *qr;
    uint8_t *flags; /* per value: stored exactly as an exception or a non-finite value */
    double *xn[PHC_MAX_THREADS], *c[PHC_MAX_THREADS], *xh[PHC_MAX_THREADS], *coef[PHC_MAX_THREADS];
    const double **rows[PHC_MAX_THREADS];
    phc_scratch *s[PHC_MAX_THREADS];
} job;

static inline double value(const job *j, int64_t p) {
    return j->dtype == PHC_FLOAT32 ? (double)((const float *)j->x)[p] : ((const double *)j->x)[p];
}

/* the encoder's projection of one normalised block xn (edge-padded) into latent coefficients:
 * every output sums its terms grouped as phc_combine groups them, the same on every machine */
static void project(const phc_transform *t, const double *xn, double *c, double *tmp, const double **rows,
                    double *coef) {
    const int64_t d = t->d, k = t->k;
    if (t->type == PHC_DEC_LINEAR) { /* c = (xn - mean) @ M */
        for (int64_t i = 0; i < d; i++) rows[i] = t->enc_matrix + i * k, coef[i] = xn[i] - t->enc_mean[i];
        phc_combine(c, rows, coef, d, k);
        return;
    }
    /* separable: contract each axis of (xn - mean) with its inverse, then the latent order */
    double *a = tmp, *b = tmp + d;
    for (int64_t i = 0; i < d; i++) a[i] = xn[i] - t->enc_mean[i];
    int64_t outer = 1; /* the axes before ax */
    for (int ax = 0; ax < t->nd; ax++) {
        const int64_t n = t->block[ax], inner = d / (outer * n);
        const double *inv = t->enc_inv[ax];
        for (int64_t u = 0; u < outer; u++) {
            const double *au = a + u * n * inner;
            double *bu = b + u * n * inner;
            if (inner == 1) { /* b[u, :] = a[u, :] @ inv */
                for (int64_t kk = 0; kk < n; kk++) rows[kk] = inv + kk * n, coef[kk] = au[kk];
                phc_combine(bu, rows, coef, n, n);
                continue;
            }
            for (int64_t sx = 0; sx < n; sx++) { /* b[u, s, :] = sum_k inv[k, s] a[u, k, :] */
                for (int64_t kk = 0; kk < n; kk++) rows[kk] = au + kk * inner, coef[kk] = inv[kk * n + sx];
                phc_combine(bu + sx * inner, rows, coef, n, inner);
            }
        }
        double *sw = a;
        a = b, b = sw;
        outer *= n;
    }
    for (int64_t j = 0; j < k; j++) c[j] = a[t->order[j]];
}

static void encode_part(void *arg, int part, int64_t b0, int64_t b1) {
    job *j = arg;
    const phc_transform *t = j->t;
    const int nd = t->nd, last = nd - 1;
    const int64_t d = t->d, k = t->k;
    double *xn = j->xn[part], *c = j->c[part], *xh = j->xh[part];
    for (int64_t blk = b0; blk < b1; blk += PHC_BATCH) {
        const int nb = (int)(b1 - blk < PHC_BATCH ? b1 - blk : PHC_BATCH);
        for (int bi = 0; bi < nb; bi++) {
            int64_t start[4], lim[4], base;
            phc_layout_block(&j->l, blk + bi, start, lim, &base);
            /* the block's values, edge-padded (index clamped per axis), non-finite ones as mid */
            int64_t idx[4] = {0, 0, 0, 0};
            for (int64_t dd = 0; dd < d; dd++) {
                int64_t p = 0;
                for (int i = 0; i < nd; i++) {
                    const int64_t a = start[i] + (idx[i] < lim[i] ? idx[i] : lim[i] - 1);
                    p = p * j->l.sp[i] + a;
                }
                double v = value(j, base + p);
                if (!isfinite(v)) v = j->mid;
                xn[dd] = (v - j->mid) / j->half;
                for (int i = last; i >= 0 && ++idx[i] == t->block[i]; i--) idx[i] = 0;
            }
            project(t, xn, c, xh, j->rows[part], j->coef[part]);
            int32_t *qb = j->q + (blk + bi) * k;
            for (int64_t m = 0; m < k; m++) { /* codec._quantize */
                double a = floor(fabs(c[m]) / j->step + (0.5 - t->deadzone));
                if (!isfinite(a)) a = 0;
                if (a > (double)t->q_limit) a = (double)t->q_limit;
                qb[m] = (int32_t)(c[m] > 0 ? a : c[m] < 0 ? -a : 0);
            }
        }
        if (!j->bounded && !j->near_limit) continue;
        phc_transform_blocks(t, j->q + blk * k, nb, j->step, xh, j->s[part]);
        for (int bi = 0; bi < nb; bi++) {
            int64_t start[4], lim[4], base, idx[4] = {0, 0, 0, 0}, dd, p;
            phc_layout_block(&j->l, blk + bi, start, lim, &base);
            const double *xb = xh + bi * d;
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
                    double r = nearbyint((v - xhat) / j->two_eps);
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
    j.q = malloc((size_t)(nblocks * t->k) * sizeof *j.q);
    j.flags = calloc((size_t)nv, 1);
    if (j.bounded) j.qr = calloc((size_t)nv, sizeof *j.qr);
    int rc = j.q && j.flags && (!j.bounded || j.qr) ? PHC_OK : PHC_ENOMEM;
    const int parts = rc ? 0 : phc_parts(threads, nblocks, 4);
    for (int p = 0; !rc && p < parts; p++) {
        j.xn[p] = malloc((size_t)t->d * sizeof(double));
        j.c[p] = malloc((size_t)t->k * sizeof(double));
        j.xh[p] = malloc((size_t)(PHC_BATCH > 2 ? PHC_BATCH : 2) * (size_t)t->d * sizeof(double));
        j.s[p] = phc_scratch_new(t);
        j.rows[p] = malloc((size_t)t->d * sizeof(double *));
        j.coef[p] = malloc((size_t)t->d * sizeof(double));
        if (!j.xn[p] || !j.c[p] || !j.xh[p] || !j.s[p] || !j.rows[p] || !j.coef[p]) rc = PHC_ENOMEM;
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
        free(j.xn[p]);
        free(j.c[p]);
        free(j.xh[p]);
        phc_scratch_free(j.s[p]);
        free(j.rows[p]);
        free(j.coef[p]);
    }
    free(j.q);
    free(j.qr);
    free(j.flags);
    /* latents only too: a chunk of a few values can cost more than them, and phc_chunk_bound
       must hold every chunk */
    return rc ? rc : phc_w_lossless_if_smaller(out, x, dtype, ndim, shape, nv, err, errlen);
}
