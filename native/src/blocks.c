/* Block layout of modes 1-2 (phcomp/core/blocking.py): the array seen as (batch, *spatial)
 * over the block's trailing axes, blocks in C order over (batch, grid...), values in C order
 * within a block; the decoder's values outside the array (edge padding) are dropped. */
#include "blocks.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pages.h"
#include "parallel.h"
#include "residual.h"

void phc_layout_init(phc_layout *l, const phc_transform *t, int ndim, const uint64_t *shape) {
    const int nd = t->nd, lead = ndim - nd;
    int64_t batch = 1;
    for (int i = 0; i < lead; i++) batch *= (int64_t)shape[i];
    l->nd = nd;
    l->item_values = 1, l->blocks_per_item = 1;
    for (int i = 0; i < nd; i++) {
        l->block[i] = t->block[i];
        l->sp[i] = i + lead >= 0 ? (int64_t)shape[i + lead] : 1;
        l->grid[i] = (l->sp[i] + t->block[i] - 1) / t->block[i];
        l->item_values *= l->sp[i];
        l->blocks_per_item *= l->grid[i];
    }
    l->nblocks = batch * l->blocks_per_item; /* <= the value count (<= 2**40) */
}

void phc_layout_block(const phc_layout *l, int64_t blk, int64_t *start, int64_t *lim, int64_t *base) {
    int64_t rest = blk % l->blocks_per_item;
    *base = (blk / l->blocks_per_item) * l->item_values;
    for (int i = l->nd - 1; i >= 0; i--) {
        start[i] = rest % l->grid[i] * l->block[i];
        rest /= l->grid[i];
        lim[i] = l->sp[i] - start[i] < l->block[i] ? l->sp[i] - start[i] : l->block[i];
    }
}

typedef struct {
    const phc_transform *t;
    const int32_t *q, *qr;        /* qr: a dense residual (kind 2), or NULL */
    const phc_sparse_residual *sr; /* a sparse one (kind 7), or NULL */
    double step, mid, half, two_eps;
    int dtype;
    void *out;
    phc_layout l;
    double *x[PHC_MAX_THREADS];
    phc_scratch *scratch[PHC_MAX_THREADS];
} job;

/* the nonzero residuals of the row [p, p + n) added over its values, written again: the same
 * arithmetic as the dense loops, (x * half + mid) + r * 2 eps */
static void sparse_row(const phc_sparse_residual *sr, int64_t p, int64_t n, const double *xr, double half, double mid,
                       double two_eps, int f32, void *o) {
    if (n <= 0) return;
    const uint64_t first = (uint64_t)p, last = (uint64_t)(p + n - 1);
    for (uint64_t w = first >> 6; w <= last >> 6; w++) {
        const uint64_t word = sr->bits[w];
        uint64_t m = word;
        if (w == first >> 6) m &= ~(uint64_t)0 << (first & 63);
        if (w == last >> 6 && (last & 63) != 63) m &= ((uint64_t)1 << ((last & 63) + 1)) - 1;
        while (m) {
            const int b = __builtin_ctzll(m);
            const int32_t r = sr->val[sr->rank[w] + (uint64_t)__builtin_popcountll(word & (((uint64_t)1 << b) - 1))];
            const int64_t e = (int64_t)(w * 64 + (uint64_t)b - first);
            const double y = (xr[e] * half + mid) + (double)r * two_eps;
            if (f32) ((float *)o)[e] = (float)y;
            else ((double *)o)[e] = y;
            m &= m - 1;
        }
    }
}

static void run(void *arg, int part, int64_t b0, int64_t b1) {
    job *j = arg;
    const phc_transform *t = j->t;
    double *x = j->x[part];
    phc_scratch *s = j->scratch[part];
    for (int64_t blk = b0; blk < b1; blk++) {
        const int64_t nth = (blk - b0) % PHC_BATCH;
        if (!nth) phc_transform_blocks(t, j->q + blk * t->k, (int)(b1 - blk < PHC_BATCH ? b1 - blk : PHC_BATCH), j->step, x, s);
        const double *xb = x + nth * t->d;
        int64_t start[4], lim[4], base, idx[4] = {0, 0, 0, 0}, d, p;
        phc_layout_block(&j->l, blk, start, lim, &base);
        const int64_t n = lim[t->nd - 1];
        const double half = j->half, mid = j->mid, two_eps = j->two_eps;
        for (int more = 1; more;) {
            more = phc_layout_row(&j->l, start, lim, base, idx, &d, &p);
            /* y = x * half + mid (+ r * 2 eps), in this order; one loop per case so each vectorises */
            const double *xr = xb + d;
            const int32_t *qr = j->qr ? j->qr + p : NULL;
            /* a zero residual still adds 0 * 2 eps: -0.0 becomes +0.0, as in the dense loops */
            const double zero = 0.0 * two_eps;
            if (j->dtype == PHC_FLOAT32) {
                float *o = (float *)j->out + p;
                if (qr)
                    for (int64_t e = 0; e < n; e++) o[e] = (float)((xr[e] * half + mid) + (double)qr[e] * two_eps);
                else if (j->sr)
                    for (int64_t e = 0; e < n; e++) o[e] = (float)((xr[e] * half + mid) + zero);
                else
                    for (int64_t e = 0; e < n; e++) o[e] = (float)(xr[e] * half + mid);
            } else {
                double *o = (double *)j->out + p;
                if (qr)
                    for (int64_t e = 0; e < n; e++) o[e] = (xr[e] * half + mid) + (double)qr[e] * two_eps;
                else if (j->sr)
                    for (int64_t e = 0; e < n; e++) o[e] = (xr[e] * half + mid) + zero;
                else
                    for (int64_t e = 0; e < n; e++) o[e] = xr[e] * half + mid;
            }
            if (j->sr)
                sparse_row(j->sr, p, n, xr, half, mid, two_eps, j->dtype == PHC_FLOAT32,
                           j->dtype == PHC_FLOAT32 ? (void *)((float *)j->out + p) : (void *)((double *)j->out + p));
        }
    }
}

typedef struct { /* the residual section, decoded beside the latents (an independent stream) */
    int kind;
    const uint8_t *body;
    uint64_t len, n;
    int32_t *out;           /* kind 2: dense */
    phc_sparse_residual sp; /* kind 7: sparse */
    int rc;
    char err[256];
} residual_job;

static void *residual_run(void *arg) {
    residual_job *r = arg;
    r->rc = r->kind == PHC_SEC_RESIDUAL_RUNS ? phc_residual_runs_sparse(r->body, r->len, r->n, &r->sp, r->err, sizeof r->err)
                                             : phc_residual_decode(r->kind, r->body, r->len, r->n, r->out, r->err,
                                                                   sizeof r->err);
    return NULL;
}

int phc_blocks_decode(const phc_transform *t, const phc_chunk_info *in, double eps, double mid, double half,
                      double step, const uint8_t *lat, uint64_t latlen, int reskind, const uint8_t *res,
                      uint64_t reslen, void *out, int threads, char *err, size_t errlen) {
    job j;
    memset(&j, 0, sizeof j);
    j.t = t, j.step = step, j.mid = mid, j.half = half, j.two_eps = 2.0 * eps, j.dtype = in->dtype, j.out = out;
    phc_layout_init(&j.l, t, in->ndim, in->shape);
    const int64_t nblocks = j.l.nblocks;
    /* fresh huge pages: the latents of a complete transform are one int32 per value */
    int32_t *q = phc_pages_zeroed((size_t)nblocks * (size_t)t->k, sizeof *q), *qr = NULL;
    if (!q) {
        snprintf(err, errlen, "out of memory: %lld latent blocks", (long long)nblocks);
        return PHC_ENOMEM;
    }
    residual_job rj;
    memset(&rj, 0, sizeof rj);
    rj.kind = reskind, rj.body = res, rj.len = reslen, rj.n = in->nvalues;
    phc_side side = {0};
    int rc = PHC_OK, side_started = 0;
    if (reskind == PHC_SEC_RESIDUAL_RUNS) {
        phc_side_start(&side, threads, residual_run, &rj);
        side_started = 1;
    } else if (reskind) {
        if (!(qr = rj.out = malloc((size_t)in->nvalues * sizeof *qr))) {
            snprintf(err, errlen, "out of memory");
            rc = PHC_ENOMEM;
        } else {
            phc_side_start(&side, threads, residual_run, &rj);
            side_started = 1;
        }
    }
    if (!rc) rc = phc_latent_decode(&t->tables, lat, latlen, nblocks, q, err, errlen);
    for (int64_t i = 0; !rc && i < nblocks * t->k; i++)
        if (q[i] > t->q_limit || q[i] < -t->q_limit) {
            snprintf(err, errlen, "corrupt latent section: latent value outside the exact range");
            rc = PHC_ECORRUPT;
        }
    if (side_started) phc_side_finish(&side, !rc);
    if (!rc && reskind && rj.rc) {
        rc = rj.rc;
        snprintf(err, errlen, "%s", rj.rc == PHC_ENOMEM ? "out of memory" : rj.err);
    }
    j.q = q, j.qr = qr, j.sr = reskind == PHC_SEC_RESIDUAL_RUNS ? &rj.sp : NULL;
    const int parts = rc ? 0 : phc_parts(threads, nblocks, 16);
    for (int p = 0; p < parts && !rc; p++) {
        j.x[p] = malloc((size_t)PHC_BATCH * (size_t)t->d * sizeof(double));
        j.scratch[p] = phc_scratch_new(t);
        if (!j.x[p] || !j.scratch[p]) {
            snprintf(err, errlen, "out of memory");
            rc = PHC_ENOMEM;
        }
    }
    if (!rc) phc_parallel_for(threads, nblocks, 16, run, &j);
    for (int p = 0; p < parts; p++) {
        free(j.x[p]);
        phc_scratch_free(j.scratch[p]);
    }
    phc_pages_free(q);
    free(qr);
    phc_sparse_residual_free(&rj.sp);
    return rc;
}
