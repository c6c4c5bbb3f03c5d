/* linear_int, separable_int and mlp_int decoders (phcomp/core/decoder.py) in exact integers. */
#include "decoder_int.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define EXACT ((int64_t)1 << 53)
#define ACT_MAX 32767

void phc_transform_free(phc_transform *t) {
    free(t->mean);
    free(t->weight);
    for (int i = 0; i < 4; i++) free(t->axis[i]);
    free(t->order);
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
    const double **rows; /* the rows one combine() sums, and their coefficients */
    double *coef;
    int64_t *nz;         /* separable: the nonzero rows of a stage */
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
    s->nz = malloc((size_t)t->d * sizeof *s->nz);
    if (!s->v || !s->rows || !s->coef || !s->nz) {
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
    free(s->nz);
    free(s);
}

/* out[0..n) += c0 * r0 + c1 * r1 + c2 * r2 + c3 * r3: four rows per pass over out (a quarter of
 * the stores). Every term is an integer and every partial sum of any subset of terms is below
 * 2**53 (the model's q_limit), so the result is exact whatever the grouping. The AVX2 clone is
 * picked at run time where the CPU has it; both give the same exact integers. */
__attribute__((target_clones("avx2", "default"))) static void axpy4(double *restrict out, const double *restrict r0,
                                                                   const double *restrict r1, const double *restrict r2,
                                                                   const double *restrict r3, double c0, double c1,
                                                                   double c2, double c3, int64_t n) {
    for (int64_t j = 0; j < n; j++) out[j] += ((c0 * r0[j] + c1 * r1[j]) + (c2 * r2[j] + c3 * r3[j]));
}

__attribute__((target_clones("avx2", "default"))) static void axpy1(double *restrict out, const double *restrict r0,
                                                                   double c0, int64_t n) {
    for (int64_t j = 0; j < n; j++) out[j] += c0 * r0[j];
}

/* out[0..n) = sum_i coef[i] * rows[i][0..n) over m rows, four rows at a time */
void phc_combine(double *out, const double **rows, const double *coef, int64_t m, int64_t n) {
    for (int64_t j = 0; j < n; j++) out[j] = 0.0;
    int64_t i = 0;
    for (; i + 4 <= m; i += 4)
        axpy4(out, rows[i], rows[i + 1], rows[i + 2], rows[i + 3], coef[i], coef[i + 1], coef[i + 2], coef[i + 3], n);
    for (; i < m; i++) axpy1(out, rows[i], coef[i], n);
}

/* acc[b, :] = v[b, :] @ w (rows x cols) for nb blocks, zero terms skipped */
static void gemm(phc_scratch *s, const double *v, const double *w, int64_t nb, int64_t rows, int64_t cols,
                 double *acc) {
    for (int64_t b = 0; b < nb; b++) {
        const double *vb = v + b * rows;
        int64_t m = 0;
        for (int64_t r = 0; r < rows; r++)
            if (vb[r] != 0.0) s->rows[m] = w + r * cols, s->coef[m++] = vb[r];
        phc_combine(acc + b * cols, s->rows, s->coef, m, cols);
    }
}

static void separable(const phc_transform *t, phc_scratch *sc, const int32_t *q, double step, double *x) {
    const int64_t d = t->d;
    double *c = sc->v, *o = sc->v + d;
    for (int64_t j = 0; j < d; j++) c[j] = 0.0;
    for (int64_t j = 0; j < d; j++) c[t->order[j]] = q[j]; /* variance-ranked channels -> natural order */
    int64_t inner = 1;
    for (int i = t->nd - 1; i >= 0; i--) { /* o[.., s, ..] = sum_k c[.., k, ..] A_i[k, s] */
        const int64_t b = t->block[i], outer = d / (b * inner);
        const double *A = t->axis[i];
        for (int64_t u = 0; u < outer; u++) {
            const double *cu = c + u * b * inner;
            double *ou = o + u * b * inner;
            if (inner == 1) { /* o[u, :] = c[u, :] @ A */
                gemm(sc, cu, A, 1, b, b, ou);
                continue;
            }
            int64_t m = 0; /* the nonzero rows c[u, kk, :]; o[u, sx, :] = sum_kk A[kk, sx] c[u, kk, :] */
            for (int64_t kk = 0; kk < b; kk++) {
                const double *ck = cu + kk * inner;
                int any = 0;
                for (int64_t e = 0; e < inner && !any; e++) any = ck[e] != 0.0;
                if (any) sc->nz[m++] = kk;
            }
            for (int64_t sx = 0; sx < b; sx++) {
                int64_t n = 0;
                for (int64_t r = 0; r < m; r++) {
                    const double a = A[sc->nz[r] * b + sx];
                    if (a != 0.0) sc->rows[n] = cu + sc->nz[r] * inner, sc->coef[n++] = a;
                }
                phc_combine(ou + sx * inner, sc->rows, sc->coef, n, inner);
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
