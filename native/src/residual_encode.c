/* Residual kinds 7 and 2 written in C; see residual_encode.h. */
#include "residual_encode.h"

#include <math.h>
#include <stdlib.h>

#include "latent_encode.h"
#include "phcomp_codec.h"
#include "quads.h"
#include "rangecoder.h"
#include "residual.h"

#define MAX_RADIUS 512
#define RUN_MAX 256
#define CONTINUE (2 * RUN_MAX)
#define OTHER (2 * RUN_MAX + 1)

static int runs(const int32_t *qr, uint64_t n, const uint64_t counts[4], phc_buf *out, char *err, size_t errlen) {
    int64_t w[4];
    double total = 0;
    for (int i = 0; i < 4; i++) total += (double)counts[i];
    const double scale = (double)((1 << 12) - 4) / (total > 1 ? total : 1);
    for (int i = 0; i < 4; i++) w[i] = (int64_t)floor((double)counts[i] * scale) + 1; /* residual_runs.weights_of */
    uint64_t nsym = 0, nother = counts[3];
    for (uint64_t i = 0, gap = 0; i < n; i++) { /* symbols: gap / RUN_MAX continuations, then the value's */
        if (!qr[i]) {
            gap++;
            continue;
        }
        nsym += gap / RUN_MAX + 1;
        gap = 0;
    }
    int64_t *o_run = malloc((size_t)(nother ? nother : 1) * sizeof *o_run);
    int64_t *o_val = malloc((size_t)(nother ? nother : 1) * sizeof *o_val);
    phc_table t = {0};
    int rc = o_run && o_val ? PHC_OK : PHC_ENOMEM;
    if (!rc && phc_run_table(&t, w)) rc = PHC_ENOMEM;
    phc_encoder e;
    phc_encoder_init(&e);
    uint64_t k = 0;
    for (uint64_t i = 0, gap = 0; !rc && i < n; i++) {
        const int32_t v = qr[i];
        if (!v) {
            gap++;
            continue;
        }
        for (uint64_t c = 0; c < gap / RUN_MAX; c++) phc_encode_value(&e, &t, CONTINUE);
        const int64_t run = (int64_t)(gap % RUN_MAX);
        if (v == 1 || v == -1) {
            phc_encode_value(&e, &t, 2 * run + (v < 0));
        } else {
            o_run[k] = run, o_val[k++] = v;
            phc_encode_value(&e, &t, OTHER);
        }
        gap = 0;
    }
    if (!rc) {
        for (int i = 0; i < 4; i++) phc_w_put_le(out, (uint64_t)w[i], 2);
        phc_w_put_le(out, nsym, 8);
        rc = phc_w_put_ints(out, o_run, (size_t)k, err, errlen);
    }
    if (!rc) rc = phc_w_put_ints(out, o_val, (size_t)k, err, errlen);
    if (!rc) rc = phc_put_stream(out, &e, err, errlen);
    phc_encoder_free(&e);
    phc_table_free(&t);
    free(o_run);
    free(o_val);
    return rc;
}

static int quads(const int32_t *qr, uint64_t n, phc_buf *out, char *err, size_t errlen) {
    int64_t radius = 0;
    for (uint64_t i = 0; i < n; i++) {
        const int64_t a = qr[i] < 0 ? -(int64_t)qr[i] : qr[i];
        radius = a > radius ? a : radius;
    }
    radius = radius < MAX_RADIUS ? radius : MAX_RADIUS;
    const uint32_t nf = (uint32_t)(2 * radius + 2);
    double w[2 * MAX_RADIUS + 2] = {0};
    for (uint64_t i = 0; i < n; i++) /* histogram over -R..R, then the values outside */
        w[qr[i] >= -radius && qr[i] <= radius ? qr[i] + radius : nf - 1] += 1;
    uint32_t f[2 * MAX_RADIUS + 2];
    int64_t fi[2 * MAX_RADIUS + 2];
    phc_fit_weights(w, nf, f);
    for (uint32_t i = 0; i < nf; i++) fi[i] = f[i];
    phc_table single = {0}, quad = {0};
    int rc = phc_w_put_ints(out, fi, nf, err, errlen);
    phc_w_put_le(out, (uint64_t)radius, 4);
    if (!rc && (phc_table_init(&single, -radius, f, nf) || phc_quad_table(&quad, f, nf, -radius))) rc = PHC_ENOMEM;
    phc_encoder e;
    phc_encoder_init(&e);
    if (!rc) {
        phc_encode_quads(&e, &quad, &single, qr, n);
        rc = phc_put_stream(out, &e, err, errlen);
    }
    phc_encoder_free(&e);
    phc_table_free(&single);
    phc_table_free(&quad);
    return rc;
}

int phc_residual_encode(const int32_t *qr, uint64_t n, int *kind, phc_buf *out, char *err, size_t errlen) {
    uint64_t c[4] = {0, 0, 0, 0}; /* residual_runs.value_counts: 0, +1, -1, other */
    for (uint64_t i = 0; i < n; i++) c[qr[i] == 0 ? 0 : qr[i] == 1 ? 1 : qr[i] == -1 ? 2 : 3]++;
    const uint64_t nz = c[1] + c[2] + c[3];
    if (nz * 4 <= c[0] + nz && c[3] * 16 <= nz) { /* residual_runs.suits */
        *kind = PHC_SEC_RESIDUAL_RUNS;
        return runs(qr, n, c, out, err, errlen);
    }
    *kind = PHC_SEC_RESIDUAL;
    return quads(qr, n, out, err, errlen);
}
