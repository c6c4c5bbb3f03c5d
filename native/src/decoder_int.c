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
    phc_latent_tables_free(&t->tables);
    memset(t, 0, sizeof *t);
}

/* max over columns of sum over rows of |w| (rows x cols); weights are below 2**31 */
static int64_t colsum(const int32_t *w, int64_t rows, int64_t cols) {
    int64_t best = 0;
    for (int64_t j = 0; j < cols; j++) {
        int64_t s = 0;
        for (int64_t i = 0; i < rows; i++) s += llabs((long long)w[i * cols + j]);
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

size_t phc_transform_scratch(const phc_transform *t) {
    int64_t w = t->k;
    for (int i = 0; i < t->nlayers; i++)
        if (t->out[i] > w) w = t->out[i];
    return (size_t)(t->k + 3 * w + 2 * t->d);
}

/* acc[0..cols) = sum over rows of v[r] * w[r, :], rows with v[r] = 0 skipped (exact either way) */
static void gemv(const int64_t *v, const int32_t *w, int64_t rows, int64_t cols, int64_t *acc) {
    memset(acc, 0, (size_t)cols * sizeof *acc);
    for (int64_t r = 0; r < rows; r++) {
        const int64_t c = v[r];
        if (!c) continue;
        const int32_t *row = w + r * cols;
        for (int64_t j = 0; j < cols; j++) acc[j] += c * row[j];
    }
}

static void separable(const phc_transform *t, const int32_t *q, double step, double *x, int64_t *s) {
    const int64_t d = t->d;
    int64_t *c = s, *o = s + d;
    memset(c, 0, (size_t)d * sizeof *c);
    for (int64_t j = 0; j < d; j++) c[t->order[j]] = q[j]; /* variance-ranked channels -> natural order */
    int64_t inner = 1;
    for (int i = t->nd - 1; i >= 0; i--) { /* o[.., s, ..] = sum_k c[.., k, ..] A_i[k, s] */
        const int64_t b = t->block[i], outer = d / (b * inner);
        const int32_t *A = t->axis[i];
        memset(o, 0, (size_t)d * sizeof *o);
        for (int64_t u = 0; u < outer; u++) {
            const int64_t *cu = c + u * b * inner;
            int64_t *ou = o + u * b * inner;
            for (int64_t kk = 0; kk < b; kk++) {
                const int64_t *ck = cu + kk * inner;
                int any = 0;
                for (int64_t e = 0; e < inner && !any; e++) any = ck[e] != 0;
                if (!any) continue;
                for (int64_t sx = 0; sx < b; sx++) {
                    const int64_t a = A[kk * b + sx];
                    if (!a) continue;
                    int64_t *os = ou + sx * inner;
                    for (int64_t e = 0; e < inner; e++) os[e] += ck[e] * a;
                }
            }
        }
        int64_t *tmp = c;
        c = o, o = tmp;
        inner *= b;
    }
    const double sc = step * ldexp(1.0, -t->shift * t->nd);
    for (int64_t j = 0; j < d; j++) {
        double v = (double)c[j] * sc;
        x[j] = v + t->mean[j];
    }
}

void phc_transform_block(const phc_transform *t, const int32_t *q, double step, double *x, int64_t *s) {
    const int64_t d = t->d, k = t->k;
    if (t->type == PHC_DEC_SEPARABLE) {
        separable(t, q, step, x, s);
        return;
    }
    int64_t *qv = s, *acc = s + k;
    for (int64_t j = 0; j < k; j++) qv[j] = q[j];
    if (t->type == PHC_DEC_LINEAR) {
        gemv(qv, t->weight, k, d, acc);
        const double sc = step * ldexp(1.0, -t->shift);
        for (int64_t j = 0; j < d; j++) {
            double v = (double)acc[j] * sc;
            x[j] = v + t->mean[j];
        }
        return;
    }
    /* mlp: h = q; hidden layers a = h @ W + b, h = clip((a * m + 2**(s-1)) >> s, 0, ACT_MAX); the
     * last layer's a, times out_scale, is added to the linear part */
    int64_t w = k;
    for (int i = 0; i < t->nlayers; i++)
        if (t->out[i] > w) w = t->out[i];
    int64_t *hA = s + k, *hB = hA + w, *a = hB + w;
    acc = a + w;
    const int64_t *h = qv;
    int64_t *hn = hA;
    for (int i = 0; i < t->nlayers; i++) {
        gemv(h, t->lw[i], t->in[i], t->out[i], a);
        for (int64_t j = 0; j < t->out[i]; j++) a[j] += t->lb[i][j];
        if (i == t->nlayers - 1) break;
        const int sh = t->lshift[i];
        for (int64_t j = 0; j < t->out[i]; j++) {
            const int64_t v = (a[j] * t->mult[i] + ((int64_t)1 << (sh - 1))) >> sh; /* below 2**62 (checked) */
            hn[j] = v < 0 ? 0 : v > ACT_MAX ? ACT_MAX : v;
        }
        h = hn;
        hn = hn == hA ? hB : hA;
    }
    gemv(qv, t->weight, k, d, acc);
    const double ls = ldexp(1.0, -t->shift);
    for (int64_t j = 0; j < d; j++) {
        double v = (double)acc[j] * ls;
        v += t->mean[j];
        x[j] = v + (double)a[j] * t->out_scale;
    }
}
