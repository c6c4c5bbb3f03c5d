/* Latent coders 3 (2) and 1 written in C; see latent_encode.h. */
#include "latent_encode.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "parallel.h"
#include "phcomp_codec.h"
#include "quads.h"
#include "zstd_rt.h"

#define LEVEL_SEARCH 2
#define TABLE_TOTAL 65536

void phc_fit_weights(const double *w, uint32_t n, uint32_t *freq) {
    double tot = 0;
    for (uint32_t i = 0; i < n; i++) tot += w[i];
    const double scale = (double)(TABLE_TOTAL - (int64_t)n) / (tot > 0 ? tot : 1);
    for (uint32_t i = 0; i < n; i++) freq[i] = (uint32_t)(tot > 0 ? floor(w[i] * scale) : 0) + 1;
}

int phc_put_stream(phc_buf *b, phc_encoder *e, char *err, size_t errlen) {
    phc_encoder_seal(e);
    if (e->oom) return PHC_ENOMEM;
    phc_w_put_le(b, e->nwords, 8);
    uint8_t *p = phc_w_room(b, e->nwords * 4);
    for (size_t i = 0; p && i < e->nwords; i++)
        for (int k = 0; k < 4; k++) p[4 * i + (size_t)k] = (uint8_t)(e->words[i] >> (8 * k));
    return b->oom ? PHC_ENOMEM : phc_w_put_ints(b, e->escapes, e->nesc, err, errlen);
}

void phc_encode_quads(phc_encoder *e, const phc_table *quad, const phc_table *single, const int32_t *v, uint64_t n) {
    const uint64_t nq = (n + 3) / 4;
    for (uint64_t i = 0; i < nq; i++) {
        int32_t d[4] = {0, 0, 0, 0};
        int esc = 0;
        for (int j = 0; j < 4 && 4 * i + (uint64_t)j < n; j++) d[j] = v[4 * i + (uint64_t)j];
        for (int j = 0; j < 4; j++) esc |= d[j] < -2 || d[j] > 2;
        phc_encode_value(e, quad, esc ? PHC_QUAD_SYMBOLS : ((d[0] + 2) * 125 + (d[1] + 2) * 25 + (d[2] + 2) * 5 + d[3] + 2));
    }
    for (uint64_t i = 0; i < nq; i++) { /* then the four values of every escaped quad (padding zeros too) */
        int32_t d[4] = {0, 0, 0, 0};
        int esc = 0;
        for (int j = 0; j < 4 && 4 * i + (uint64_t)j < n; j++) d[j] = v[4 * i + (uint64_t)j];
        for (int j = 0; j < 4; j++) esc |= d[j] < -2 || d[j] > 2;
        for (int j = 0; esc && j < 4; j++) phc_encode_value(e, single, d[j]);
    }
}

/* tables.level_and_shift: the ladder level and uniform low bits for std sigma at step */
static void level_and_shift(double sigma, double step, int *level, int *shift) {
    double s = fmin((sigma > 1e-300 ? sigma : 1e-300) / step, 1e300);
    *shift = 0;
    const double top = pow(2.0, PHC_LEVEL_MAX / 2.0);
    if (s > top) {
        const double c = ceil(log2(s / top));
        *shift = c < 20 ? (int)c : 20;
        s /= ldexp(1.0, *shift);
    }
    const int l = (int)nearbyint(2.0 * log2(s > 1e-300 ? s : 1e-300)); /* Python's round: half to even */
    *level = l < PHC_LEVEL_MIN ? PHC_LEVEL_MIN : l > PHC_LEVEL_MAX ? PHC_LEVEL_MAX : l;
}

static inline int64_t hi_part(int64_t v, int shift) { /* (v + 2**(shift-1)) >> shift */
    return shift ? (v + ((int64_t)1 << (shift - 1))) >> shift : v;
}

typedef struct {
    const phc_transform *t;
    const int32_t *q;
    int64_t nblocks;
    int k;
    int64_t *act, *sel, nsel;
    uint8_t *ctx;
    const int32_t *ends; /* per block, the groups it codes */
} dense_state;

static const phc_table *dense_table(const phc_transform *t, int g, int level, int c, int64_t *index) {
    const int64_t i = t->tables.dense_base + ((int64_t)g * PHC_LEVELS + level - PHC_LEVEL_MIN) * t->tables.contexts + c;
    if (index) *index = i;
    return &t->tables.tables[i];
}

static void contexts(dense_state *s, int g, int level, int shift) {
    const int C = s->t->tables.contexts;
    const int64_t *edges = s->t->tables.ctx_edges + ((int64_t)g * PHC_LEVELS + level - PHC_LEVEL_MIN) * (C - 1);
    for (int64_t i = 0; i < s->nsel; i++) s->ctx[i] = (uint8_t)phc_context_of(edges, C - 1, s->act[s->sel[i]] >> shift);
}

/* latent_dense._choose_level: the nominal level and its neighbours, the cheapest on this chunk.
 * The high parts do not depend on the candidate: they are gathered once, as each block's count
 * of zeros and its nonzero values (vals, offsets in off: nsel + 1), so that a candidate costs a
 * multiply per block for the zeros (most of a wide group) and a lookup per nonzero value. */
static void choose_level(dense_state *s, int g, double step, int32_t *vals, int64_t *off, int *level, int *shift,
                         double *bits) {
    const phc_transform *t = s->t;
    const int a = t->tables.edges[g], b = t->tables.edges[g + 1];
    int nominal;
    level_and_shift(t->sigma[g], step, &nominal, shift);
    int64_t n = 0;
    for (int64_t i = 0; i < s->nsel; i++) {
        const int32_t *row = s->q + s->sel[i] * s->k;
        off[i] = n;
        for (int j = a; j < b; j++) {
            const int64_t v = hi_part(row[j], *shift);
            vals[n] = (int32_t)v; /* |hi part| <= |q| */
            n += v != 0;
        }
    }
    off[s->nsel] = n;
    double best = INFINITY;
    *level = nominal;
    for (int cand = nominal - LEVEL_SEARCH; cand <= nominal + LEVEL_SEARCH; cand++) {
        if (cand < PHC_LEVEL_MIN || cand > PHC_LEVEL_MAX) continue;
        contexts(s, g, cand, *shift);
        double cost = 0;
        for (int64_t i = 0; i < s->nsel; i++) {
            int64_t ti;
            const phc_table *tab = dense_table(t, g, cand, s->ctx[i], &ti);
            const double *c = t->cost[ti], esc = c[tab->nsym] + 24.0;
            const int64_t zi = -tab->lo, nz = off[i + 1] - off[i];
            double p4[4] = {(double)((b - a) - nz) * (zi >= 0 && zi < (int64_t)tab->nsym ? c[zi] : esc), 0, 0, 0};
            for (int64_t m = off[i]; m < off[i + 1]; m++) { /* four sums: no chain of dependent adds */
                const int64_t idx = (int64_t)vals[m] - tab->lo;
                p4[m & 3] += idx >= 0 && idx < (int64_t)tab->nsym ? c[idx] : esc;
            }
            cost += (p4[0] + p4[1]) + (p4[2] + p4[3]);
        }
        if (cost < best || (cost == best && abs(cand - nominal) < abs(*level - nominal))) {
            best = cost;
            *level = cand;
        }
    }
    *bits = best + (double)*shift * (double)s->nsel * (double)(b - a);
}

static void add_activity(dense_state *s, int a, int b) {
    for (int64_t i = 0; i < s->nblocks; i++) {
        const int32_t *row = s->q + i * s->k;
        int64_t sum = 0;
        for (int j = a; j < b; j++) sum += row[j] < 0 ? -(int64_t)row[j] : row[j];
        s->act[i] += sum;
    }
}

/* latent_dense.planes_frame: zigzagged values of the smallest byte width, in byte planes, one frame */
static int planes_frame(dense_state *s, int a, int b, phc_buf *frame, int *width, char *err, size_t errlen) {
    const int w = b - a;
    const uint64_t n = (uint64_t)s->nsel * (uint64_t)w;
    uint64_t top = 0;
    for (int64_t i = 0; i < s->nsel; i++)
        for (int j = a; j < b; j++) {
            const int64_t v = s->q[s->sel[i] * s->k + j];
            const uint64_t u = v >= 0 ? 2 * (uint64_t)v : (uint64_t)(-2 * v - 1);
            top = u > top ? u : top;
        }
    *width = top < 256 ? 1 : top < 65536 ? 2 : 4;
    uint8_t *raw = malloc(n * (uint64_t)*width + 1);
    if (!raw) return PHC_ENOMEM;
    uint64_t at = 0;
    for (int64_t i = 0; i < s->nsel; i++) {
        const int32_t *row = s->q + s->sel[i] * s->k;
        if (*width == 1) { /* the common case, without the plane loop */
            for (int j = a; j < b; j++, at++) raw[at] = (uint8_t)(row[j] >= 0 ? 2 * row[j] : -2 * row[j] - 1);
            continue;
        }
        for (int j = a; j < b; j++, at++) {
            const int64_t v = row[j];
            const uint64_t u = v >= 0 ? 2 * (uint64_t)v : (uint64_t)(-2 * v - 1);
            for (int p = 0; p < *width; p++) raw[(uint64_t)p * n + at] = (uint8_t)(u >> (8 * p));
        }
    }
    const int rc = phc_w_put_frame(frame, raw, n * (uint64_t)*width, err, errlen);
    free(raw);
    return rc;
}

typedef struct {
    double step;
    int *plan;
    phc_buf *frames;
    int gs[PHC_MAX_THREADS + 1];
    dense_state own[PHC_MAX_THREADS];
    int32_t *vals[PHC_MAX_THREADS];
    int64_t *offs[PHC_MAX_THREADS];
    int rc[PHC_MAX_THREADS];
    char err[PHC_MAX_THREADS][128];
} plan_job;

/* the plan of groups [gs[p], gs[p + 1]): the activity of the groups before them first, then
 * each group's cheapest level and whether its byte planes beat it (latent_dense.encode) */
static void plan_part(void *arg, int part, int64_t p0, int64_t p1) {
    plan_job *j = arg;
    dense_state *s = &j->own[part];
    const phc_latent_tables *lt = &s->t->tables;
    for (int64_t p = p0; p < p1; p++) {
        const int g0 = j->gs[p], g1 = j->gs[p + 1];
        memset(s->act, 0, (size_t)(s->nblocks ? s->nblocks : 1) * sizeof *s->act);
        if (g0 < g1) add_activity(s, 0, lt->edges[g0]);
        for (int g = g0; g < g1 && !j->rc[part]; g++) {
            const int a = lt->edges[g], b = lt->edges[g + 1];
            s->nsel = 0;
            for (int64_t i = 0; i < s->nblocks; i++)
                if (s->ends[i] > g) s->sel[s->nsel++] = i;
            int level, shift, mode = 0, width;
            double bits;
            choose_level(s, g, j->step, j->vals[part], j->offs[part], &level, &shift, &bits);
            if (s->nsel) {
                j->rc[part] = planes_frame(s, a, b, &j->frames[g], &width, j->err[part], sizeof j->err[part]);
                if (!j->rc[part] && (double)(j->frames[g].n + 8) <= bits / 8) mode = width; /* its u64 length counts too */
            }
            j->plan[3 * g] = level, j->plan[3 * g + 1] = shift, j->plan[3 * g + 2] = mode;
            add_activity(s, a, b);
        }
    }
}

static int dense(const phc_transform *t, const int32_t *q, int64_t nblocks, double step, int threads, phc_buf *out,
                 int *coder, char *err, size_t errlen) {
    const phc_latent_tables *lt = &t->tables;
    const int G = lt->ngroups, C = lt->contexts, k = lt->edges[G];
    dense_state s = {t, q, nblocks, k, NULL, NULL, 0, NULL, NULL};
    const size_t nb = (size_t)(nblocks ? nblocks : 1);
    int32_t *ends = malloc(nb * sizeof *ends), *vals = NULL;
    int *plan = malloc((size_t)G * 3 * sizeof *plan);
    phc_buf *frames = calloc((size_t)G, sizeof *frames);
    s.act = calloc(nb, sizeof *s.act);
    s.sel = malloc(nb * sizeof *s.sel);
    s.ctx = malloc(nb);
    phc_table end_table = {0}, quad = {0};
    phc_encoder e;
    phc_encoder_init(&e);
    int rc = ends && plan && frames && s.act && s.sel && s.ctx ? PHC_OK : PHC_ENOMEM;
    int wmax = 1;
    for (int g = 0; g < G; g++) wmax = lt->edges[g + 1] - lt->edges[g] > wmax ? lt->edges[g + 1] - lt->edges[g] : wmax;
    if (!rc && !(vals = malloc((nb * (size_t)wmax + 4) * sizeof *vals))) rc = PHC_ENOMEM;
    int64_t *offs = rc ? NULL : malloc((nb + 1) * sizeof *offs);
    if (!rc && !offs) rc = PHC_ENOMEM;
    /* each block's end: the groups up to its last nonzero one */
    for (int64_t i = 0; !rc && i < nblocks; i++) {
        int last = 0;
        for (int j = k - 1; j >= 0 && !last; j--)
            if (q[i * k + j]) last = j + 1;
        int g = 0;
        while (g <= G && lt->edges[g] < last) g++;
        ends[i] = g;
    }
    /* each group's level, shift and mode, on threads: part p plans the groups [gs[p], gs[p + 1]),
     * split by the values they code; part 0 works in s's buffers, the others in their own */
    plan_job *pj = rc ? NULL : calloc(1, sizeof *pj); /* ~60 KB: kept off a host thread's stack */
    int64_t *above = rc ? NULL : calloc((size_t)G + 1, sizeof *above); /* [g]: the blocks that code group g */
    if (!rc && (!pj || !above)) rc = PHC_ENOMEM;
    const int parts = rc ? 0 : phc_parts(threads, G, 2);
    if (parts > 0) {
        pj->step = step, pj->plan = plan, pj->frames = frames;
        for (int64_t i = 0; i < nblocks; i++) above[ends[i]]++; /* the ends' histogram, then its tail sums */
        for (int64_t g = G, run = 0; g >= 0; g--) {
            const int64_t h = above[g];
            above[g] = run, run += h;
        }
        double total = 0, at = 0;
        for (int g = 0; g < G; g++) total += (double)(lt->edges[g + 1] - lt->edges[g]) * (double)above[g];
        for (int g = 0, p = 1; g < G; g++) {
            at += (double)(lt->edges[g + 1] - lt->edges[g]) * (double)above[g];
            while (p < parts && at >= total * p / parts) pj->gs[p++] = g + 1;
        }
        pj->gs[parts] = G;
        s.ends = ends;
        pj->own[0] = s, pj->vals[0] = vals, pj->offs[0] = offs;
        for (int p = 1; p < parts; p++) {
            dense_state *o = &pj->own[p];
            *o = s;
            o->act = malloc(nb * sizeof *o->act), o->sel = malloc(nb * sizeof *o->sel), o->ctx = malloc(nb);
            pj->vals[p] = malloc((nb * (size_t)wmax + 4) * sizeof *pj->vals[p]);
            pj->offs[p] = malloc((nb + 1) * sizeof *pj->offs[p]);
            if (!o->act || !o->sel || !o->ctx || !pj->vals[p] || !pj->offs[p]) rc = PHC_ENOMEM;
        }
        if (!rc) phc_parallel_for(threads, parts, 1, plan_part, pj);
        for (int p = 0; !rc && p < parts; p++)
            if (pj->rc[p]) {
                rc = pj->rc[p];
                snprintf(err, errlen, "%s", pj->err[p]);
            }
        for (int p = 1; p < parts; p++) {
            free(pj->own[p].act);
            free(pj->own[p].sel);
            free(pj->own[p].ctx);
            free(pj->vals[p]);
            free(pj->offs[p]);
        }
    }
    free(pj);
    free(above);
    int with_modes = 0;
    for (int g = 0; !rc && g < G; g++) with_modes |= plan[3 * g + 2] != 0;
    if (!rc) {
        phc_w_put_le(out, (uint64_t)G, 2);
        for (int g = 0; g < G; g++) {
            phc_w_put_le(out, (uint64_t)(uint8_t)(int8_t)plan[3 * g], 1);
            phc_w_put_le(out, (uint64_t)plan[3 * g + 1], 1);
            if (with_modes) phc_w_put_le(out, (uint64_t)plan[3 * g + 2], 1);
        }
        /* the end table: fitted on the ends (0..G plus an unused escape) */
        double *w = calloc((size_t)G + 2, sizeof *w);
        uint32_t *f = malloc(((size_t)G + 2) * sizeof *f);
        int64_t *fi = malloc(((size_t)G + 2) * sizeof *fi);
        if (!w || !f || !fi) rc = PHC_ENOMEM;
        for (int64_t i = 0; !rc && i < nblocks; i++) w[ends[i]] += 1;
        if (!rc) {
            phc_fit_weights(w, (uint32_t)G + 2, f);
            for (int i = 0; i < G + 2; i++) fi[i] = f[i];
            rc = phc_w_put_ints(out, fi, (size_t)G + 2, err, errlen);
        }
        if (!rc && phc_table_init(&end_table, 0, f, (uint32_t)G + 2)) rc = PHC_ENOMEM;
        free(w);
        free(f);
        free(fi);
    }
    for (int64_t i = 0; !rc && i < nblocks; i++) phc_encode_value(&e, &end_table, ends[i]);
    memset(s.act, 0, nb * sizeof *s.act);
    for (int g = 0; !rc && g < G; g++) {
        const int a = lt->edges[g], b = lt->edges[g + 1], w = b - a;
        const int level = plan[3 * g], shift = plan[3 * g + 1], mode = plan[3 * g + 2];
        if (mode) {
            add_activity(&s, a, b);
            continue;
        }
        s.nsel = 0;
        for (int64_t i = 0; i < nblocks; i++)
            if (ends[i] > g) s.sel[s.nsel++] = i;
        contexts(&s, g, level, shift);
        const int quads = shift == 0 && level <= PHC_QUAD_LEVEL_MAX;
        for (int c = 0; !rc && c < C; c++) {
            int64_t ti;
            const phc_table *tab = dense_table(t, g, level, c, &ti);
            if (quads) {
                uint64_t n = 0;
                for (int64_t i = 0; i < s.nsel; i++)
                    if (s.ctx[i] == c) memcpy(vals + n, q + s.sel[i] * k + a, (size_t)w * sizeof *vals), n += (uint64_t)w;
                if (!n) continue;
                phc_table_free(&quad);
                if (phc_quad_table(&quad, lt->freq + lt->freq_off[ti], lt->nfreq[ti], tab->lo)) {
                    rc = PHC_ENOMEM;
                    break;
                }
                phc_encode_quads(&e, &quad, tab, vals, n);
                continue;
            }
            for (int64_t i = 0; i < s.nsel; i++) {
                if (s.ctx[i] != c) continue;
                const int32_t *row = q + s.sel[i] * k + a;
                for (int j = 0; j < w; j++) phc_encode_value(&e, tab, hi_part(row[j], shift));
            }
        }
        add_activity(&s, a, b);
        if (shift) { /* the low bits, blocks in order */
            const int64_t h = (int64_t)1 << (shift - 1);
            for (int64_t i = 0; i < s.nsel; i++) {
                const int32_t *row = q + s.sel[i] * k + a;
                for (int j = 0; j < w; j++)
                    phc_encode_uniform(&e, shift, (uint32_t)(row[j] - (int64_t)((uint64_t)hi_part(row[j], shift) << shift) + h));
            }
        }
    }
    if (!rc) rc = phc_put_stream(out, &e, err, errlen);
    for (int g = 0; !rc && g < G; g++)
        if (plan[3 * g + 2]) {
            phc_w_put_le(out, frames[g].n, 8);
            phc_w_put_raw(out, frames[g].p, frames[g].n);
        }
    *coder = with_modes ? 3 : 2;
    for (int g = 0; frames && g < G; g++) free(frames[g].p);
    free(frames);
    free(ends);
    free(vals);
    free(offs);
    free(plan);
    free(s.act);
    free(s.sel);
    free(s.ctx);
    phc_table_free(&end_table);
    phc_table_free(&quad);
    phc_encoder_free(&e);
    return rc;
}

static int sparse(const phc_transform *t, const int32_t *q, int64_t nblocks, double step, phc_buf *out, char *err,
                  size_t errlen) {
    const int k = t->tables.edges[t->tables.ngroups];
    int level, shift;
    level_and_shift(t->sigma_all, step, &level, &shift);
    const phc_table *tc = &t->tables.tables[t->tables.sparse_base + 3 * (level - PHC_LEVEL_MIN)], *tg = tc + 1, *tv = tc + 2;
    phc_w_put_le(out, (uint64_t)(uint8_t)(int8_t)level, 1);
    phc_encoder e;
    phc_encoder_init(&e);
    for (int64_t i = 0; i < nblocks; i++) {
        int64_t n = 0;
        for (int j = 0; j < k; j++) n += q[i * k + j] != 0;
        phc_encode_value(&e, tc, n);
    }
    for (int64_t i = 0; i < nblocks; i++) {
        int prev = -1;
        for (int j = 0; j < k; j++)
            if (q[i * k + j]) {
                phc_encode_value(&e, tg, j - prev - 1);
                prev = j;
            }
    }
    for (int64_t i = 0; i < nblocks * k; i++)
        if (q[i]) phc_encode_value(&e, tv, q[i] > 0 ? 2 * (int64_t)q[i] - 2 : -2 * (int64_t)q[i] - 1);
    const int rc = phc_put_stream(out, &e, err, errlen);
    phc_encoder_free(&e);
    return rc;
}

typedef struct { /* the sparse coder, run beside the dense one */
    const phc_transform *t;
    const int32_t *q;
    int64_t nblocks;
    double step;
    phc_buf out;
    int rc;
    char err[256];
} sparse_job;

static void *sparse_run(void *arg) {
    sparse_job *j = arg;
    j->rc = sparse(j->t, j->q, j->nblocks, j->step, &j->out, j->err, sizeof j->err);
    return NULL;
}

int phc_latent_encode(const phc_transform *t, const int32_t *q, int64_t nblocks, double step, int threads, phc_buf *out,
                      char *err, size_t errlen) {
    phc_buf d = {0};
    sparse_job sj = {t, q, nblocks, step, {0}, PHC_OK, ""};
    int coder = 3;
    phc_w_put_le(&d, 0, 1);
    phc_w_put_le(&sj.out, 1, 1);
    phc_side side;
    phc_side_start(&side, threads, sparse_run, &sj);
    int rc = dense(t, q, nblocks, step, threads, &d, &coder, err, errlen);
    phc_side_finish(&side, 1);
    if (!rc && sj.rc) {
        rc = sj.rc;
        snprintf(err, errlen, "%s", sj.err);
    }
    const phc_buf *s = &sj.out;
    if (!rc && (d.oom || s->oom)) rc = PHC_ENOMEM;
    if (!rc) {
        d.p[0] = (uint8_t)coder;
        const phc_buf *best = d.n <= s->n ? &d : s; /* ties: coder 3, the first tried */
        phc_w_put_raw(out, best->p, best->n);
    }
    free(d.p);
    free(sj.out.p);
    return rc;
}
