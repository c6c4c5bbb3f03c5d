/* linear_int, separable_int and mlp_int decoders (phcomp/core/decoder.py) in exact integers. */
#include "decoder_int.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vec.h"

#define EXACT ((int64_t)1 << 53)
#define ACT_MAX 32767

void phc_transform_free(phc_transform *t) {
    free(t->mean);
    free(t->weight);
    for (int i = 0; i < 4; i++) free(t->axis[i]);
    free(t->order);
    free(t->rowof);
    for (int i = 0; i < PHC_MLP_MAX_LAYERS; i++) {
        free(t->lw[i]);
        free(t->lb[i]);
    }
    free(t->enc_matrix);
    for (int i = 0; i < 4; i++) free(t->enc_inv[i]);
    free(t->enc_mean);
    free(t->factor_log);
    free(t->factor_val);
    free(t->sigma);
    for (int64_t i = 0; t->cost && i < t->tables.ntables; i++) free(t->cost[i]);
    free(t->cost);
    phc_latent_tables_free(&t->tables);
    memset(t, 0, sizeof *t);
}

/* max over columns of sum over rows of |w| (rows x cols); integer weights below 2**31, so the
 * sums (below 2**47) are exact */
static int64_t colsum(const double *w, int64_t rows, int64_t cols) {
    int64_t best = 0;
    for (int64_t j = 0; j < cols; j++) {
        int64_t s = 0;
        for (int64_t i = 0; i < rows; i++) s += (int64_t)fabs(w[i * cols + j]);
        if (s > best) best = s;
    }
    return best;
}

static int refuse(char *err, size_t errlen, const char *msg) {
    snprintf(err, errlen, "corrupt model: %s", msg);
    return -1;
}

static int64_t floordiv128(__int128 a, __int128 b) { /* Python's //, b > 0 */
    __int128 q = a / b;
    if ((a % b) && a < 0) q--;
    return q > INT64_MAX ? INT64_MAX : q < INT64_MIN ? INT64_MIN : (int64_t)q;
}

int phc_transform_check(phc_transform *t, char *err, size_t errlen) {
    if (t->type == PHC_DEC_LINEAR) {
        const int64_t c = colsum(t->weight, t->k, t->d);
        const int64_t lim = EXACT / (c > 1 ? c : 1) - 1;
        t->q_limit = lim < INT32_MAX ? lim : INT32_MAX;
        if (t->q_limit < 1) return refuse(err, errlen, "decoder weights too large for exact arithmetic");
        if (t->shift < 0 || t->shift > 40) return refuse(err, errlen, "decoder shift out of range");
        return 0;
    }
    if (t->type == PHC_DEC_SEPARABLE) {
        int64_t growth = 1;
        for (int i = 0; i < t->nd; i++) {
            const int64_t c = colsum(t->axis[i], t->block[i], t->block[i]);
            growth *= c > 1 ? c : 1; /* each factor < 2**47: saturated at 2**53 below */
            if (growth > EXACT) growth = EXACT + 1;
        }
        const int64_t lim = EXACT / growth - 1;
        t->q_limit = lim < INT32_MAX ? lim : INT32_MAX;
        if (t->q_limit < 1) return refuse(err, errlen, "decoder weights too large for exact arithmetic");
        if (t->shift < 0 || t->shift > 30) return refuse(err, errlen, "decoder shift out of range");
        for (int i = 0; i < t->nd; i++) {
            const int64_t b = t->block[i];
            const double *A = t->axis[i];
            int sym = 1;
            for (int64_t k = 0; k < b && sym; k++)
                for (int64_t x = 0; x < b && sym; x++) sym = A[k * b + b - 1 - x] == (k & 1 ? -A[k * b + x] : A[k * b + x]);
            t->axis_sym[i] = sym;
        }
        return 0;
    }
    /* mlp: |q| <= q_limit keeps q @ W exact (< 2**52) and, when requantized, a * mult below 2**62 */
    const int L = t->nlayers;
    int64_t bmax[PHC_MLP_MAX_LAYERS], cs[PHC_MLP_MAX_LAYERS];
    for (int i = 0; i < L; i++) {
        cs[i] = colsum(t->lw[i], t->in[i], t->out[i]);
        bmax[i] = 0;
        for (int64_t j = 0; j < t->out[i]; j++) {
            const int64_t b = t->lb[i][j];
            if (b == INT64_MIN) return refuse(err, errlen, "MLP weights too large for exact integer arithmetic");
            if (llabs((long long)b) > bmax[i]) bmax[i] = llabs((long long)b);
        }
    }
    const int64_t clin = colsum(t->weight, t->k, t->d);
    int64_t den = clin > cs[0] ? clin : cs[0];
    __int128 limit = floordiv128((__int128)(EXACT / 2) - bmax[0], den > 1 ? den : 1);
    if (L > 1) {
        const int64_t m0 = t->mult[0] > 1 ? t->mult[0] : 1;
        const __int128 l2 = floordiv128((__int128)(((int64_t)1 << 62) / m0) - bmax[0], cs[0] > 1 ? cs[0] : 1);
        if (l2 < limit) limit = l2;
    }
    t->q_limit = limit - 1 < INT32_MAX ? (int64_t)(limit - 1) : INT32_MAX;
    for (int i = 1; i < L; i++) {
        const __int128 worst = (__int128)ACT_MAX * cs[i] + bmax[i];
        const int64_t m = t->mult[i] > 1 ? t->mult[i] : 1;
        if (worst >= EXACT / 2 || (i != L - 1 && worst * m >= ((__int128)1 << 62)))
            return refuse(err, errlen, "MLP weights too large for exact integer arithmetic");
    }
    for (int i = 0; i < L - 1; i++)
        if (t->mult[i] <= 0 || t->lshift[i] <= 0 || t->lshift[i] >= 63) return refuse(err, errlen, "bad MLP requantization");
    if (t->q_limit < 1 || !isfinite(t->out_scale) || t->shift < 0 || t->shift > 60)
        return refuse(err, errlen, "bad MLP decoder scales");
    return 0;
}

struct phc_scratch {
    double *v;           /* latents, activations and sums of PHC_BATCH blocks */
    const double **rows; /* the rows one phc_combine() sums, and their coefficients */
    double *coef;
    int64_t *orow, *lrow, *lcol, *rrow; /* separable: phc_matmul's gathered rows and columns */
    int64_t *orow2, *lcol2, *rrow2;     /* the odd half's, on a symmetric axis */
    double *eo;          /* separable, symmetric axis: the even and odd halves' sums */
    int32_t *nzj;        /* separable: the nonzero latents' channels */
    uint8_t *flags;      /* separable: the rows each stage reads (nd x d bytes at most) */
    uint8_t *mark;       /* separable: the nonzero columns of a stage */
    double *pack;        /* phc_matmul's packed rows */
};

phc_scratch *phc_scratch_new(const phc_transform *t) {
    int64_t w = t->k;
    for (int i = 0; i < t->nlayers; i++) {
        if (t->out[i] > w) w = t->out[i];
        if (t->in[i] > w) w = t->in[i];
    }
    phc_scratch *s = calloc(1, sizeof *s);
    if (!s) return NULL;
    s->v = malloc((size_t)PHC_BATCH * (size_t)(t->k + 3 * w + 2 * t->d) * sizeof *s->v);
    s->rows = malloc((size_t)(w > t->d ? w : t->d) * sizeof *s->rows);
    s->coef = malloc((size_t)(w > t->d ? w : t->d) * sizeof *s->coef);
    const size_t dd = (size_t)t->d;
    s->orow = malloc(dd * sizeof *s->orow), s->lrow = malloc(dd * sizeof *s->lrow);
    s->lcol = malloc(dd * sizeof *s->lcol), s->rrow = malloc(dd * sizeof *s->rrow);
    s->mark = malloc(dd), s->pack = malloc(4 * dd * sizeof *s->pack);
    s->orow2 = malloc(dd * sizeof *s->orow2), s->lcol2 = malloc(dd * sizeof *s->lcol2);
    s->rrow2 = malloc(dd * sizeof *s->rrow2), s->eo = malloc(dd * sizeof *s->eo);
    s->nzj = malloc(dd * sizeof *s->nzj), s->flags = malloc(dd * 4);
    if (!s->v || !s->rows || !s->coef || !s->orow || !s->lrow || !s->lcol || !s->rrow || !s->mark || !s->pack ||
        !s->orow2 || !s->lcol2 || !s->rrow2 || !s->eo || !s->nzj || !s->flags) {
        phc_scratch_free(s);
        return NULL;
    }
    return s;
}

void phc_scratch_free(phc_scratch *s) {
    if (!s) return;
    free(s->v);
    free(s->rows);
    free(s->coef);
    free(s->orow);
    free(s->lrow);
    free(s->lcol);
    free(s->rrow);
    free(s->mark);
    free(s->pack);
    free(s->orow2);
    free(s->lcol2);
    free(s->rrow2);
    free(s->eo);
    free(s->nzj);
    free(s->flags);
    free(s);
}


/* A 4 x 8 tile of phc_matmul: P holds the tile's 4 rows of L packed as P[kk * 4 + a]. Each
 * output adds its K products in order kk = 0, 1, ... (no grouping: eight accumulators, two
 * rows of R and one broadcast fit the 16 vector registers). The baseline copy runs the same
 * operations two lanes at a time, so both give the same bits. */
__attribute__((target_clones("avx2", "default"))) static void tile4x8(double *out, const int64_t *orow, int rows,
                                                                     const double *P, const double *R,
                                                                     const int64_t *rrow, int64_t K, int64_t j0) {
    v4 a0 = {0}, a1 = {0}, a2 = {0}, a3 = {0}, b0 = {0}, b1 = {0}, b2 = {0}, b3 = {0};
    for (int64_t kk = 0; kk < K; kk++) {
        const double *q = R + rrow[kk] + j0, *p = P + kk * 4;
        const v4 r0 = *(const v4u *)q, r1 = *(const v4u *)(q + 4);
        a0 += p[0] * r0, b0 += p[0] * r1;
        a1 += p[1] * r0, b1 += p[1] * r1;
        a2 += p[2] * r0, b2 += p[2] * r1;
        a3 += p[3] * r0, b3 += p[3] * r1;
    }
    const v4 acc[4][2] = {{a0, b0}, {a1, b1}, {a2, b2}, {a3, b3}};
    for (int a = 0; a < rows; a++)
        for (int h = 0; h < 2; h++) *(v4u *)(out + orow[a] + j0 + 4 * h) = acc[a][h];
}

void phc_matmul(double *out, const int64_t *orow, const double *L, const int64_t *lrow, const int64_t *lcol, const double *R,
                const int64_t *rrow, int64_t M, int64_t K, int64_t N, double *pack) {
    for (int64_t i0 = 0; i0 < M; i0 += 4) {
        const int rows = M - i0 < 4 ? (int)(M - i0) : 4;
        for (int64_t kk = 0; kk < K; kk++)
            for (int a = 0; a < 4; a++) pack[kk * 4 + a] = a < rows ? L[lrow[i0 + a] + lcol[kk]] : 0.0;
        const int64_t *o = orow + i0;
        int64_t j0 = 0;
        for (; j0 + 8 <= N; j0 += 8) tile4x8(out, o, rows, pack, R, rrow, K, j0);
        for (; j0 < N; j0++) /* the last columns, one at a time, in the same order */
            for (int a = 0; a < rows; a++) {
                double s = 0.0;
                for (int64_t kk = 0; kk < K; kk++) s += pack[kk * 4 + a] * R[rrow[kk] + j0];
                out[o[a] + j0] = s;
            }
    }
}

#define COMBINE_WIDE 256 /* above it, rows are streamed whole rather than 32 outputs at a time */

/* out[0..n) = sum_i coef[i] * rows[i][0..n) over m rows. Short rows: 32 outputs at a time held
 * in eight vector registers while every row is added (one load per product, one store per
 * output); long rows (a linear decoder's 512 outputs): streamed whole, four per pass. For exact
 * integer sums only: its order of terms is no other routine's. */
/* out[0..n) += c0 * r0 + c1 * r1 + c2 * r2 + c3 * r3: four rows streamed per pass over out */
__attribute__((target_clones("avx2", "default"))) static void axpy4(double *restrict out, const double *restrict r0,
                                                                   const double *restrict r1, const double *restrict r2,
                                                                   const double *restrict r3, double c0, double c1,
                                                                   double c2, double c3, int64_t n) {
    for (int64_t j = 0; j < n; j++) out[j] += ((c0 * r0[j] + c1 * r1[j]) + (c2 * r2[j] + c3 * r3[j]));
}

__attribute__((target_clones("avx2", "default"))) void phc_combine(double *out, const double **rows,
                                                                  const double *coef, int64_t m, int64_t n) {
    if (n > COMBINE_WIDE) { /* long rows: streamed whole, four at a time, while out stays in cache */
        for (int64_t j = 0; j < n; j++) out[j] = 0.0;
        int64_t i = 0;
        for (; i + 4 <= m; i += 4)
            axpy4(out, rows[i], rows[i + 1], rows[i + 2], rows[i + 3], coef[i], coef[i + 1], coef[i + 2], coef[i + 3], n);
        for (; i < m; i++)
            for (int64_t j = 0; j < n; j++) out[j] += coef[i] * rows[i][j];
        return;
    }
    int64_t j0 = 0;
    for (; j0 + 32 <= n; j0 += 32) {
        v4 a[8] = {{0}};
        for (int64_t i = 0; i < m; i++) {
            const double *r = rows[i] + j0, c = coef[i];
            for (int h = 0; h < 8; h++) a[h] += c * *(const v4u *)(r + 4 * h);
        }
        for (int h = 0; h < 8; h++) *(v4u *)(out + j0 + 4 * h) = a[h];
    }
    for (; j0 + 4 <= n; j0 += 4) {
        v4 a = {0};
        for (int64_t i = 0; i < m; i++) a += coef[i] * *(const v4u *)(rows[i] + j0);
        *(v4u *)(out + j0) = a;
    }
    for (; j0 < n; j0++) {
        double a = 0.0;
        for (int64_t i = 0; i < m; i++) a += coef[i] * rows[i][j0];
        out[j0] = a;
    }
}

/* acc[b, :] = v[b, :] @ w (rows x cols) for nb blocks, zero terms skipped */
static void gemm(phc_scratch *s, const double *v, const double *w, int64_t nb, int64_t rows, int64_t cols,
                 double *acc) {
    for (int64_t b = 0; b < nb; b++) {
        const double *vb = v + b * rows;
        int64_t m = 0;
        for (int64_t r = 0; r < rows; r++) /* compacted without a branch: which latents are zero is data */
            s->rows[m] = w + r * cols, s->coef[m] = vb[r], m += vb[r] != 0.0;
        phc_combine(acc + b * cols, s->rows, s->coef, m, cols);
    }
}

/* Above this share of nonzero latents a block's last-axis stage runs as one dense product over
 * its nonzero rows and columns (phc_matmul); below it, row by row over the nonzero terms. */
#define DENSE_SHARE 0.3

/* o[i, s] and o[i, b-1-s] from a symmetric axis' even and odd sums (E over he = ceil(b/2)
 * outputs, O over ho = floor(b/2)): E + O and E - O; the middle output of an odd b is E alone
 * (the odd rows vanish there). Exact: E and O are sums of subsets of the exact terms. */
static void unfold(double *o, const int64_t *orow, int64_t rows, int64_t b, int64_t inner, const double *E,
                   const double *O) {
    const int64_t he = (b + 1) / 2, ho = b / 2;
    for (int64_t i = 0; i < rows; i++) {
        double *oi = o + orow[i];
        const double *ei = E + i * he * inner, *oo = O + i * ho * inner;
        for (int64_t sx = 0; sx < ho; sx++)
            for (int64_t e = 0; e < inner; e++) {
                const double ev = ei[sx * inner + e], od = oo[sx * inner + e];
                oi[sx * inner + e] = ev + od;
                oi[(b - 1 - sx) * inner + e] = ev - od;
            }
        if (he > ho)
            for (int64_t e = 0; e < inner; e++) oi[ho * inner + e] = ei[ho * inner + e];
    }
}

static void separable(const phc_transform *t, phc_scratch *sc, const int32_t *q, double step, double *x) {
    const int64_t d = t->d;
    double *c = sc->v, *o = sc->v + d;
    int64_t *orow = sc->orow, *lrow = sc->lrow, *lcol = sc->lcol, *rrow = sc->rrow;
    int64_t *orow2 = sc->orow2, *lcol2 = sc->lcol2, *rrow2 = sc->rrow2;
    const int nd = t->nd;
    /* The nonzero latents, into natural order in c, and which rows each stage must read: stage
     * i < nd - 1 reads the rows (prefixes over axes 0..i) flagged in F[i]; the last-axis stage
     * reads the rows of F[nd - 2] and the columns of sc->mark. (A row whose terms cancel to zero
     * is still read: adding zeros is exact.) */
    int64_t nnz = 0;
    int32_t *restrict nzj = sc->nzj; /* locals: the build may not assume strict aliasing */
    const int32_t *order = t->order;
    uint8_t *restrict mark = sc->mark;
    for (int64_t j = 0; j < d; j++) nzj[nnz] = (int32_t)j, nnz += q[j] != 0; /* no branch */
    memset(c, 0, (size_t)d * sizeof *c);
    uint8_t *F[4] = {NULL, NULL, NULL, NULL}, *fl = sc->flags;
    int64_t rows = 1; /* the rows of stage i: the product of the block's axes 0..i */
    for (int i = 0; i < nd - 1; i++) {
        rows *= t->block[i];
        F[i] = fl;
        memset(fl, 0, (size_t)rows);
        fl += rows;
    }
    memset(mark, 0, (size_t)t->block[nd - 1]);
    const int32_t *col = t->rowof + (int64_t)(nd - 1) * d, *row = t->rowof;
    if (nd == 2) { /* the common case without the inner loop */
        uint8_t *restrict f0 = F[0];
        for (int64_t m = 0; m < nnz; m++) {
            const int64_t j = nzj[m];
            c[order[j]] = q[j];
            mark[col[j]] = 1, f0[row[j]] = 1;
        }
    } else {
        for (int64_t m = 0; m < nnz; m++) {
            const int64_t j = nzj[m];
            c[order[j]] = q[j];
            mark[col[j]] = 1;
            for (int i = 0; i < nd - 1; i++) F[i][row[i * d + j]] = 1;
        }
    }
    int64_t inner = 1;
    /* Every sum below is of exact integers (q_limit), so its order is free: the products give
     * the bits the numpy decoder's GEMMs give. On a symmetric axis the even and odd input rows
     * are summed apart over half the outputs (half the products), then unfolded. */
    for (int i = t->nd - 1; i >= 0; i--) { /* o[.., s, ..] = sum_k c[.., k, ..] A_i[k, s] */
        const int64_t b = t->block[i], outer = d / (b * inner), he = (b + 1) / 2, ho = b / 2;
        const double *A = t->axis[i];
        const int sym = t->axis_sym[i];
        if (inner == 1) { /* o[u, :] = c[u, :] @ A over the rows u */
            int64_t r = 0, ncol = 0, nodd = 0;
            for (int64_t u = 0; u < outer; u++) {
                if (nd > 1 ? F[nd - 2][u] : nnz > 0) lrow[r] = orow[r] = u * b, r++;
                else memset(o + u * b, 0, (size_t)b * sizeof *o);
            }
            for (int64_t kk = 0; kk < b; kk++) {
                if (!sc->mark[kk]) continue;
                if (sym && (kk & 1)) lcol2[nodd] = kk, rrow2[nodd++] = kk * b;
                else lcol[ncol] = kk, rrow[ncol++] = kk * b;
            }
            const double work = (double)r * (double)(ncol + nodd) * (sym ? 0.5 : 1.0);
            if ((double)nnz < DENSE_SHARE * work) {
                for (int64_t u = 0; u < r; u++) gemm(sc, c + lrow[u], A, 1, b, b, o + lrow[u]);
            } else if (!sym) {
                phc_matmul(o, orow, c, lrow, lcol, A, rrow, r, ncol, b, sc->pack);
            } else {
                double *E = sc->eo, *O = sc->eo + r * he;
                for (int64_t u = 0; u < r; u++) orow2[u] = u * he;
                phc_matmul(E, orow2, c, lrow, lcol, A, rrow, r, ncol, he, sc->pack);
                for (int64_t u = 0; u < r; u++) orow2[u] = u * ho;
                phc_matmul(O, orow2, c, lrow, lcol2, A, rrow2, r, nodd, ho, sc->pack);
                unfold(o, orow, r, b, 1, E, O);
            }
        } else {
            for (int64_t sx = 0; sx < b; sx++) orow[sx] = sx * inner, lrow[sx] = sx;
            for (int64_t u = 0; u < outer; u++) {
                const double *cu = c + u * b * inner;
                double *ou = o + u * b * inner;
                int64_t m = 0, modd = 0; /* the nonzero rows c[u, kk, :]; o[u, sx, :] = sum_kk A[kk, sx] c[u, kk, :] */
                for (int64_t kk = 0; kk < b; kk++) {
                    if (!F[i][u * b + kk]) continue;
                    if (sym && (kk & 1)) lcol2[modd] = kk * b, rrow2[modd++] = kk * inner;
                    else lcol[m] = kk * b, rrow[m++] = kk * inner;
                }
                if (!sym) {
                    phc_matmul(ou, orow, A, lrow, lcol, cu, rrow, b, m, inner, sc->pack);
                    continue;
                }
                double *E = sc->eo, *O = sc->eo + he * inner;
                const int64_t zero = 0;
                phc_matmul(E, orow, A, lrow, lcol, cu, rrow, he, m, inner, sc->pack);
                phc_matmul(O, orow, A, lrow, lcol2, cu, rrow2, ho, modd, inner, sc->pack);
                unfold(ou, &zero, 1, b, inner, E, O);
            }
        }
        double *tmp = c;
        c = o, o = tmp;
        inner *= b;
    }
    const double f = step * ldexp(1.0, -t->shift * t->nd);
    for (int64_t j = 0; j < d; j++) {
        const double v = c[j] * f;
        x[j] = v + t->mean[j];
    }
}

void phc_transform_blocks(const phc_transform *t, const int32_t *q, int nb, double step, double *x, phc_scratch *sc) {
    const int64_t d = t->d, k = t->k;
    if (t->type == PHC_DEC_SEPARABLE) {
        for (int b = 0; b < nb; b++) separable(t, sc, q + b * k, step, x + b * d);
        return;
    }
    double *s = sc->v, *qv = s, *acc = s + nb * k;
    for (int64_t j = 0; j < nb * k; j++) qv[j] = q[j];
    if (t->type == PHC_DEC_LINEAR) {
        gemm(sc, qv, t->weight, nb, k, d, acc);
        const double f = step * ldexp(1.0, -t->shift);
        for (int b = 0; b < nb; b++)
            for (int64_t j = 0; j < d; j++) {
                const double v = acc[b * d + j] * f;
                x[b * d + j] = v + t->mean[j];
            }
        return;
    }
    /* mlp: h = q; hidden layers a = h @ W + b, h = clip((a * m + 2**(s-1)) >> s, 0, ACT_MAX) in
     * int64; the last layer's a, times out_scale, is added to the linear part */
    int64_t w = k;
    for (int i = 0; i < t->nlayers; i++)
        if (t->out[i] > w) w = t->out[i];
    double *hA = s + nb * k, *hB = hA + nb * w, *a = hB + nb * w;
    acc = a + nb * w;
    const double *h = qv;
    double *hn = hA;
    for (int i = 0; i < t->nlayers; i++) {
        const int64_t n = t->out[i];
        gemm(sc, h, t->lw[i], nb, t->in[i], n, a);
        for (int b = 0; b < nb; b++)
            for (int64_t j = 0; j < n; j++) a[b * n + j] = (double)((int64_t)a[b * n + j] + t->lb[i][j]); /* |a| < 2**52 */
        if (i == t->nlayers - 1) break;
        const int sh = t->lshift[i];
        for (int64_t j = 0; j < nb * n; j++) {
            const int64_t v = ((int64_t)a[j] * t->mult[i] + ((int64_t)1 << (sh - 1))) >> sh; /* below 2**62 (checked) */
            hn[j] = (double)(v < 0 ? 0 : v > ACT_MAX ? ACT_MAX : v);
        }
        h = hn;
        hn = hn == hA ? hB : hA;
    }
    gemm(sc, qv, t->weight, nb, k, d, acc);
    const double ls = ldexp(1.0, -t->shift);
    for (int b = 0; b < nb; b++)
        for (int64_t j = 0; j < d; j++) {
            double v = acc[b * d + j] * ls;
            v += t->mean[j];
            x[b * d + j] = v + a[b * d + j] * t->out_scale;
        }
}
