/* Interpolation chunks (mode 3): the predictor arithmetic and the coding order of section 8,
 * exactly as phcomp/core/interp.py defines them (its docstring is the specification). */
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "phcomp_codec.h"
#include "pages.h"
#include "parallel.h"
#include "rangecoder.h"

#define TAPS 8
#define WEIGHT_SHIFT 16
#define WEIGHT_ABS_SUM_MAX ((int64_t)1 << 18)
#define MAX_GRID_BITS 10
#define REC_LIMIT ((int64_t)1 << 42)
#define Q_LIMIT ((int64_t)1 << 40)
#define ACTIVITIES 4
#define MAX_ND 4
#define MAX_EDGES 64
#define SORT_PARTS 8 /* the context sort uses at most this many threads */
#define MAX_TABLE_SETS 16
#define ESCAPE_COST_UNITS (32 << 8) /* phcomp/core/interp.py: an escape's price beyond its symbol */
/* rec and err lattices are int32 ("narrow") when every |v| <= NARROW_V: then |rec| <= NARROW_V + Q/2,
 * |p1| <= 4 max|rec| (weights' absolute sum <= 2**18 = 4 << WEIGHT_SHIFT), |err| and |corr| below
 * 5 max|rec| and |pred| below 9 max|rec| < 2**31. The arithmetic is int64 either way, so the bits
 * are the same; narrow halves the memory traffic. */
#define NARROW_V ((double)(1 << 27))
#define NARROW_OVERFLOW 1 /* internal: a value does not fit the narrow lattice, start again wide */

static const int TAP_SHIFT[TAPS] = {-3, -2, -1, 0, 1, 2, 3, 4}; /* offset o -> known index m + (o+1)/2 */

struct phc_interp {
    int ndim, classes, ntables, sets; /* ntables contexts, each with a table in each of `sets` sets */
    int64_t *weights;
    int nexps[ACTIVITIES];
    int32_t exps[ACTIVITIES][MAX_EDGES];
    phc_table *tables;  /* sets * ntables: set after set */
    uint16_t **price;   /* several sets: each table's price of its symbols (escape last), 1/256 bit (< 2**13) */
};

static int fail(char *err, size_t errlen, int code, const char *fmt, ...) {
    if (err && errlen) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
    }
    return code;
}

int phc_version(void) { return 200; }

int phc_interp_ndim(const phc_interp *m) { return m->ndim; }
int phc_interp_sets(const phc_interp *m) { return m->sets; }

/* 256 log2(x) for 1 <= x < 2**32 by exact integer squaring, 8 fraction bits: the same integers
 * as phcomp/core/interp.py's log2_units, so both encoders choose the same table set */
static int64_t log2_units(uint64_t x) {
    int k = 63 - __builtin_clzll(x);
    uint64_t m = k <= 31 ? x << (31 - k) : x >> (k - 31); /* [2**31, 2**32) */
    int64_t frac = 0;
    for (int i = 0; i < 8; i++) {
        m = (m * m) >> 31;
        frac <<= 1;
        if (m >= ((uint64_t)1 << 32)) {
            m >>= 1;
            frac |= 1;
        }
    }
    return ((int64_t)k << 8) | frac;
}

/* log2_units of 1 .. LOG2_LUT-1, built once per model (trained tables hold frequencies below
 * 2**16 or so: a model of 10^5 tables prices ~3*10^7 of them) */
#define LOG2_LUT ((uint32_t)1 << 17)
static inline int64_t log2_units_lut(const int32_t *lut, uint64_t x) {
    return x < LOG2_LUT ? lut[x] : log2_units(x);
}

/* a table's price of each symbol: log2_units(total) - log2_units(freq); 0, -1 (bad), -2 (memory) */
static int price_table(uint16_t **out, const uint32_t *freq, uint32_t n, const int32_t *lut) {
    uint64_t total = 0;
    for (uint32_t i = 0; i < n; i++) {
        if (!freq[i]) return -1;
        total += freq[i];
    }
    if (!n || total >= ((uint64_t)1 << 32)) return -1;
    uint16_t *p = malloc((size_t)n * sizeof *p);
    if (!p) return -2;
    const int64_t lt = log2_units_lut(lut, total);
    for (uint32_t i = 0; i < n; i++) p[i] = (uint16_t)(lt - log2_units_lut(lut, freq[i])); /* 0 <= . < 32 * 256 */
    *out = p;
    return 0;
}

void phc_interp_free(phc_interp *m) {
    if (!m) return;
    const int n = m->ntables * m->sets;
    if (m->tables)
        for (int i = 0; i < n; i++) phc_table_free(&m->tables[i]);
    if (m->price)
        for (int i = 0; i < n; i++) free(m->price[i]);
    free(m->price);
    free(m->tables);
    free(m->weights);
    free(m);
}

int phc_interp_new(phc_interp **out, int ndim, int classes, const int64_t *weights, const int32_t *nexps,
                   const int32_t *exps, int ntables, int sets, const int64_t *lo, const uint32_t *nfreq,
                   const uint32_t *freq, char *err, size_t errlen) {
    *out = NULL;
    if (sets < 1 || sets > MAX_TABLE_SETS) return fail(err, errlen, PHC_EMODEL, "corrupt model: %d table sets", sets);
    if (ndim < 1 || ndim > MAX_ND) return fail(err, errlen, PHC_EMODEL, "corrupt model: interpolation over %d axes", ndim);
    if (classes < 1 || classes > 64) return fail(err, errlen, PHC_EMODEL, "corrupt model: %d weight classes", classes);
    int64_t expect = classes;
    const int32_t *e = exps;
    for (int i = 0; i < ACTIVITIES; i++) {
        if (nexps[i] < 0 || nexps[i] > MAX_EDGES) return fail(err, errlen, PHC_EMODEL, "corrupt model: bad context exponents");
        for (int j = 0; j < nexps[i]; j++)
            if (e[j] < -64 || e[j] > 24 || (j && e[j] < e[j - 1]))
                return fail(err, errlen, PHC_EMODEL, "corrupt model: bad context exponents");
        e += nexps[i];
        expect *= nexps[i] + 1;
        if (expect > (1 << 24)) return fail(err, errlen, PHC_EMODEL, "corrupt model: too many interpolation contexts");
    }
    if (ntables != expect)
        return fail(err, errlen, PHC_EMODEL, "corrupt model: %d tables for %lld interpolation contexts", ntables,
                    (long long)expect);
    for (int c = 0; c < classes; c++) {
        int64_t s = 0;
        for (int i = 0; i < TAPS; i++) {
            int64_t w = weights[c * TAPS + i];
            if (w > WEIGHT_ABS_SUM_MAX || w < -WEIGHT_ABS_SUM_MAX) s = WEIGHT_ABS_SUM_MAX + 1;
            else s += w < 0 ? -w : w;
        }
        if (s > WEIGHT_ABS_SUM_MAX)
            return fail(err, errlen, PHC_EMODEL, "corrupt model: interpolation weights too large for exact arithmetic");
    }
    phc_interp *m = calloc(1, sizeof *m);
    if (!m) return fail(err, errlen, PHC_ENOMEM, "out of memory");
    m->ndim = ndim;
    m->classes = classes;
    m->ntables = ntables;
    m->sets = sets;
    const int total = ntables * sets; /* ntables <= 2**24 was checked, sets <= 16 */
    m->weights = malloc((size_t)classes * TAPS * sizeof *m->weights);
    m->tables = calloc((size_t)total, sizeof *m->tables);
    int32_t *lut = NULL;
    if (sets > 1) {
        m->price = calloc((size_t)total, sizeof *m->price);
        lut = malloc(LOG2_LUT * sizeof *lut);
        if (lut) {
            lut[0] = 0; /* never read: frequencies are >= 1 */
            for (uint32_t x = 1; x < LOG2_LUT; x++) lut[x] = (int32_t)log2_units(x);
        }
    }
    if (!m->weights || !m->tables || (sets > 1 && (!m->price || !lut))) {
        free(lut);
        phc_interp_free(m);
        return fail(err, errlen, PHC_ENOMEM, "out of memory");
    }
    memcpy(m->weights, weights, (size_t)classes * TAPS * sizeof *m->weights);
    e = exps;
    for (int i = 0; i < ACTIVITIES; i++) {
        m->nexps[i] = nexps[i];
        memcpy(m->exps[i], e, (size_t)nexps[i] * sizeof *e);
        e += nexps[i];
    }
    const uint32_t *f = freq;
    for (int i = 0; i < total; i++) {
        int rc = phc_table_init(&m->tables[i], lo[i], f, nfreq[i]);
        if (!rc && m->price) rc = price_table(&m->price[i], f, nfreq[i], lut);
        if (rc) {
            free(lut);
            phc_interp_free(m);
            return rc == -2 ? fail(err, errlen, PHC_ENOMEM, "out of memory")
                            : fail(err, errlen, PHC_EMODEL, "corrupt model: frequency table %d", i);
        }
        f += nfreq[i];
    }
    free(lut);
    *out = m;
    return PHC_OK;
}

void phc_interp_stream_free(phc_interp_stream *s) {
    free(s->words);
    free(s->escapes);
    free(s->exceptions);
    free(s->nonfinite);
    free(s->sets);
    memset(s, 0, sizeof *s);
}

/* floor(a / 2**k) and floor(a / b) (b > 0), as numpy's >> and // compute them */
static inline int64_t floor_shift(int64_t a, int k) { return a >= 0 ? a >> k : -((-a - 1) >> k) - 1; }
static inline int64_t floor_div(int64_t a, int64_t b) {
    int64_t q = a / b;
    return (a % b != 0 && a < 0) ? q - 1 : q;
}
static inline int64_t iabs(int64_t a) { return a < 0 ? -a : a; }

/* element i of a lattice of int64 (wide) or int32 values; `wide` is a compile-time constant
 * where it matters, so each width gets its own loop */
static inline __attribute__((always_inline)) int64_t lat_get(const void *a, int64_t i, const int wide) {
    return wide ? ((const int64_t *)a)[i] : ((const int32_t *)a)[i];
}
static inline __attribute__((always_inline)) void lat_set(void *a, int64_t i, int64_t v, const int wide) {
    if (wide) ((int64_t *)a)[i] = v;
    else ((int32_t *)a)[i] = (int32_t)v;
}
static inline int fits32(int64_t v) { return v >= INT32_MIN && v <= INT32_MAX; }

/* the encoder's values on the grid, v = (x - mid) / delta in numpy's order of operations, read
 * from x where the closed loop needs them; non-finite values (stored exactly) count as 0 = mid */
typedef struct {
    const void *x; /* the group's first value */
    int dtype;
    double mid, delta;
} gridsrc;

static inline double input_at(const void *x, int dtype, int64_t i) {
    return dtype == PHC_FLOAT32 ? (double)((const float *)x)[i] : ((const double *)x)[i];
}

static inline double grid_value(const gridsrc *s, int64_t i) {
    double t = input_at(s->x, s->dtype, i);
    t -= s->mid;
    t /= s->delta;
    return isfinite(t) ? t : 0.0;
}

/* a run of targets predicted at once (below, at stage1_all) */
typedef struct blockin blockin;
typedef struct blockout blockout;
typedef struct endblock endblock;
typedef void (*stage1_fn)(const blockin *in, blockout *out, int n, int naxes, int64_t S);
typedef void (*stage1g_fn)(const blockin *in, const endblock *b, blockout *out, int naxes);

/* where a sub-pass's targets lie: line by line (all indices fixed but the last axis'), in C
 * order over (item, axes...), target t = line * cl + r at offset line_base(line) + r s2 */
typedef struct {
    int last;
    int64_t cl, s2, per, cnt[MAX_ND], start[MAX_ND], stride[MAX_ND];
    int64_t idx[MAX_ND]; /* scratch: the last line's indices */
} lineset;

static inline int64_t line_base(lineset *l, int64_t line) {
    int64_t base = l->start[l->last] * l->stride[l->last];
    for (int a = l->last - 1; a >= 0; a--) {
        l->idx[a] = line % l->cnt[a];
        line /= l->cnt[a];
        base += (l->start[a] + l->s2 * l->idx[a]) * l->stride[a];
    }
    return base + line * l->per; /* line: the item now */
}

/* One sub-pass: the targets (a product of progressions start_a + 2s*i), their predictions and
 * contexts. Everything per target in C order over (item, axes...), which is the order the
 * coder sorts stably by context. */
typedef struct {
    int64_t count; /* targets */
    lineset at;    /* where they are */
    int nt;        /* contexts (the model's tables) */
    int c0, c1;    /* the sub-pass's class has contexts c0 .. c1-1: only those can hold targets */
    int64_t *q;    /* encoder: each target's q */
    int32_t *ctx;
    int64_t *qs;     /* q in coding order: contexts ascending, targets in order within one */
    int64_t *dst;    /* encoder: where that order goes (qs, or the group's buffer) */
    int64_t *bucket; /* SORT_PARTS x (ntables + 1): part k's next slot in qs for context c */
    int32_t *used;   /* the contexts that hold targets, ascending (nused of them) ... */
    int64_t *ends;   /* ... context used[u]'s values are qs[ends[u-1] .. ends[u]) */
    int nused;
    int th;          /* the thread count the slots were counted for (the same split fills them) */
    stage1_fn stage1; /* the vectorised stage for this CPU */
    stage1g_fn stage1g; /* its form for targets gathered one by one (endblock) */
} subpass;

typedef struct {
    int nd;
    int64_t gi, per;
    const int64_t *sp;
    int64_t stride[MAX_ND];
    int64_t edges[ACTIVITIES][MAX_EDGES];
    uint8_t below[ACTIVITIES][66]; /* below[l]: edges of bit length < l */
    int64_t thr[ACTIVITIES][65];    /* the value of the edges of bit length l (if any) */
    uint8_t mult[ACTIVITIES][65];   /* how many edges have bit length l */
    int one_per_length;
    int nedges[ACTIVITIES];
    double edgef[ACTIVITIES][MAX_EDGES]; /* the edges in float64, for the vectorised binning: exact
                                          * below 2**53, and above it larger than any activity */
    int64_t *tapd; /* per index along the pass axis: 8 relative offsets */
} grid;

static int64_t ceil_log2(int64_t n) {
    int64_t l = 0;
    while (((int64_t)1 << l) < n) l++;
    return l;
}

static inline int bitlen(int64_t a) { return a > 0 ? 64 - __builtin_clzll((unsigned long long)a) : 0; }

/* searchsorted(edges, a, side="right"): how many of the sorted edges are <= a. The edges are
 * Q * 2**e: distinct exponents give distinct bit lengths, so the edges of a's own bit length
 * all have one value (thr, `mult` of them, repeated exponents) and the rest are all below or
 * all above a. setup() checks that (and otherwise counts them one by one). */
static inline int64_t bin(const grid *g, int i, int64_t a) {
    if (a < 0) return 0; /* edges are >= 0 */
    const int l = bitlen(a);
    if (g->one_per_length) /* no branch on a >= thr: it goes either way at random */
        return g->below[i][l] + (g->mult[i][l] & -(int64_t)(a >= g->thr[i][l]));
    int64_t b = g->below[i][l];
    for (int j = g->below[i][l]; j < g->below[i][l + 1]; j++) b += g->edges[i][j] <= a;
    return b;
}

/* One sub-pass in flight: what every range of target lines needs (lines as in lineset). */
typedef struct {
    const phc_interp *m;
    const grid *g;
    void *rec, *err; /* lattices, int64 if wide else int32 */
    int wide;
    subpass *p;
    int ax, naxes, cls;
    int axes[MAX_ND];
    int64_t s, s2, lines; /* lines: all indices fixed but the last axis' (p->at has where they are) */
    int64_t ulo, uhi, tdu[TAPS]; /* pass axis = last axis: the targets ulo .. uhi-1 of a line have taps tdu */
    const gridsrc *src; /* encoder: the values; then q, rec and err are set with the prediction */
    int64_t qstep;
    int bad[PHC_MAX_THREADS]; /* decoder, narrow: a part's predictions do not fit */
} passjob;

/* corr = floor((sum + k/2) / k), k = 2 naxes: shifts for 1 and 2 axes, a constant divisor for 3 */
static inline __attribute__((always_inline)) int64_t mean_err(int64_t sum, const int naxes) {
    switch (naxes) {
    case 1: return floor_shift(sum + 1, 1);
    case 2: return floor_shift(sum + 2, 2);
    default: return floor_div(sum + naxes, 2 * naxes);
    }
}

/* a target's prediction p1 + corr settled: the encoder's closed loop (q from the value), or the
 * decoder's rec = pred and err = corr until q is known; returns 1 where a narrow lattice cannot
 * hold the decoder's values */
static inline __attribute__((always_inline)) int settle(const passjob *j, int64_t off, int64_t t, int64_t p1,
                                                        int64_t corr, const int enc, const int wide) {
    const int64_t pred = p1 + corr;
    if (enc) { /* q from the value and the prediction; |v| <= 2**40 */
        const int64_t q = (int64_t)rint((grid_value(j->src, off) - (double)pred) / (double)j->qstep);
        const int64_t rv = pred + q * j->qstep;
        lat_set(j->rec, off, rv, wide); /* narrow: fits, as every |v| <= NARROW_V */
        lat_set(j->err, off, rv - p1, wide);
        j->p->q[t] = q;
        return 0;
    }
    (void)t; /* decoder: rec = pred + q Q and err = rec - p1 = corr + q Q once q is decoded */
    lat_set(j->rec, off, pred, wide);
    lat_set(j->err, off, corr, wide);
    return !wide && (!fits32(pred) || !fits32(corr));
}

/* ---- one target, any lattice width: the reference form of the predictor ----
 * td: its 8 tap offsets; far[q]: its far neighbour along correcting axis q (+/- back[q]) */
typedef struct {
    const passjob *j;
    const int64_t *w;
    int64_t cm[ACTIVITIES]; /* ctx = ((cls * m0 + b0) * m1 + b1) ...; held here, as the int32 stores
                             * to p->ctx could alias g->nedges */
    int64_t back[MAX_ND], far[MAX_ND];
} linectx;

static inline __attribute__((always_inline)) int target_t(const linectx *L, int64_t off, int64_t t,
                                                          const int64_t *td, const int naxes, const int enc,
                                                          const int wide) {
    const passjob *j = L->j;
    const int64_t *w = L->w;
    void *rec = j->rec, *err = j->err;
#define X(k) lat_get(rec, off + td[k], wide)
    const int64_t n3 = X(3), n4 = X(4);
    const int64_t acc = ((int64_t)1 << (WEIGHT_SHIFT - 1)) + X(0) * w[0] + X(1) * w[1] + X(2) * w[2] + n3 * w[3] +
                        n4 * w[4] + X(5) * w[5] + X(6) * w[6] + X(7) * w[7];
#undef X
    const int64_t p1 = floor_shift(acc, WEIGHT_SHIFT);
    int64_t corr = 0, a2 = -1;
    if (naxes) {
        int64_t sum = 0;
        for (int q = 0; q < naxes; q++)
            sum += lat_get(err, off - L->back[q], wide) + lat_get(err, off + L->far[q], wide);
        corr = mean_err(sum, naxes);
        a2 = iabs(corr);
    }
    const int64_t acts[ACTIVITIES] = {iabs(p1 - floor_shift(n3 + n4, 1)), iabs(n3 - n4), a2,
                                      iabs(lat_get(err, off + td[3], wide)) + iabs(lat_get(err, off + td[4], wide))};
    int64_t ctx = j->cls;
    for (int i = 0; i < ACTIVITIES; i++) ctx = ctx * L->cm[i] + bin(j->g, i, acts[i]);
    j->p->ctx[t] = (int32_t)ctx;
    return settle(j, off, t, p1, corr, enc, wide);
}

/* ---- a run of targets with the same tap and neighbour offsets, narrow lattices ----
 * Stage 1 (vectorised) computes p1, corr and the four activities in float64, where they are
 * exact: taps are int32 and sum|w| <= 2**18, so |acc| < 2**50; acc / 2**16 and (sum + k/2) / k
 * are exact for k = 2, 4, and for k = 6 one correctly rounded division that cannot cross an
 * integer (|sum| < 2**35). It then bins them into contexts and, encoding, runs the closed loop;
 * stage 2 stores each target's values. The same integers as target_t, so the same bits. */
#define BLOCK 64

/* floor(x) for the quotients above, whose fractional part is a multiple of 2**-16 or near one
 * of k/6: x - (1/2 - 2**-17) is exact and never a tie, so rounding it to the nearest integer
 * (the 1.5 * 2**52 shift) floors x. Plain arithmetic, unlike floor(), which GCC does not
 * vectorise without -fno-trapping-math (and SSE2 has no instruction for). |x| < 2**35. */
static inline double floor_grid(double x) { return ((x - 0x1.fffep-2) + 0x1.8p52) - 0x1.8p52; }

struct blockin {
    const int32_t *rec, *err; /* at the first target */
    int32_t *ctx;             /* the first target's context */
    const grid *g;
    double cls;
    int64_t d[TAPS];          /* tap offsets */
    int64_t nb[2 * MAX_ND];   /* correcting neighbours' offsets */
    double w[TAPS];
    const void *x; /* encoder: the first target's value; NULL in the decoder */
    int dtype;
    double mid, delta, qstep;
};

struct blockout {
    double p1[BLOCK], corr[BLOCK], act[ACTIVITIES][BLOCK], ctx[BLOCK];
    double q[BLOCK];          /* encoder: q (an integer) */
    int32_t rv[BLOCK], e[BLOCK]; /* encoder: rec and err once q is known */
};

/* Targets whose taps are reflected at the lattice's ends (the first and last few of each line
 * along the pass axis), collected from many lines: each with its own offsets, all absolute in
 * the group's lattice (rec, err and x as blockin holds them at the group's start). */
struct endblock {
    int n;
    int64_t o[BLOCK], t[BLOCK]; /* the target's offset and index */
    int64_t ia[TAPS][BLOCK];    /* its taps' offsets */
    int64_t ie[2 * MAX_ND][BLOCK]; /* its correcting neighbours' offsets */
};

/* b == NULL: targets i S apart with the taps d and neighbours nb; else the endblock's gathered
 * offsets (one body, so both forms do the same operations in the same order) */
static inline __attribute__((always_inline)) void stage1_t(const blockin *in, const endblock *b, blockout *out,
                                                           int n, const int naxes, const int64_t S) {
    const int32_t *restrict rec = in->rec, *restrict err = in->err;
    const int64_t d0 = in->d[0], d1 = in->d[1], d2 = in->d[2], d3 = in->d[3], d4 = in->d[4], d5 = in->d[5],
                  d6 = in->d[6], d7 = in->d[7];
    const double w0 = in->w[0], w1 = in->w[1], w2 = in->w[2], w3 = in->w[3], w4 = in->w[4], w5 = in->w[5],
                 w6 = in->w[6], w7 = in->w[7];
    const int64_t e0 = in->nb[0], e1 = in->nb[1], e2 = in->nb[2], e3 = in->nb[3], e4 = in->nb[4], e5 = in->nb[5];
    for (int i = 0; i < n; i++) {
        const int64_t o = i * S;
#define T(k) rec[b ? b->ia[k][i] : o + d##k]
#define E(k) err[b ? b->ie[k][i] : o + e##k]
#define ET(k) err[b ? b->ia[k][i] : o + d##k]
        const double n3 = T(3), n4 = T(4);
        double acc = (double)(1 << (WEIGHT_SHIFT - 1));
        acc += w0 * T(0);
        acc += w1 * T(1);
        acc += w2 * T(2);
        acc += w3 * n3;
        acc += w4 * n4;
        acc += w5 * T(5);
        acc += w6 * T(6);
        acc += w7 * T(7);
        const double p1 = floor_grid(acc * (1.0 / (1 << WEIGHT_SHIFT)));
        double corr = 0.0;
        if (naxes == 1) corr = floor_grid(((double)E(0) + E(1) + 1.0) * 0.5);
        if (naxes == 2) corr = floor_grid(((double)E(0) + E(1) + E(2) + E(3) + 2.0) * 0.25);
        if (naxes == 3) corr = floor_grid(((double)E(0) + E(1) + E(2) + E(3) + E(4) + E(5) + 3.0) / 6.0);
        out->p1[i] = p1;
        out->corr[i] = corr;
        out->act[0][i] = fabs(p1 - floor_grid((n3 + n4) * 0.5));
        out->act[1][i] = fabs(n3 - n4);
        out->act[2][i] = naxes ? fabs(corr) : -1.0;
        out->act[3][i] = fabs((double)ET(3)) + fabs((double)ET(4));
#undef T
#undef E
#undef ET
    }
}

/* the encoder's closed loop over the block, as settle() computes it: v = (x - mid) / delta (0
 * where not finite), q = rint((v - pred) / Q) (the 1.5 * 2**52 shift rounds half to even, as
 * rint does, for |.| < 2**51), rec = pred + q Q and err = rec - p1, all exact below 2**53 (narrow:
 * every |v| <= 2**27) */
static inline __attribute__((always_inline)) void closed_t(const blockin *in, blockout *out, int n, const int64_t S,
                                                           const int64_t *restrict xo, const int f32) {
    const float *restrict xf = in->x;
    const double *restrict xd = in->x;
    const double mid = in->mid, delta = in->delta, qs = in->qstep;
    for (int i = 0; i < n; i++) { /* x at i S, or at xo[i] (an endblock) */
        const int64_t k = xo ? xo[i] : i * S;
        double v = f32 ? (double)xf[k] : xd[k];
        v -= mid;
        v /= delta;
        uint64_t u; /* v, or 0 where not finite: a mask, as a select would not vectorise */
        memcpy(&u, &v, 8);
        u &= -(uint64_t)(fabs(v) <= 0x1.fffffffffffffp+1023);
        memcpy(&v, &u, 8);
        const double pred = out->p1[i] + out->corr[i];
        const double q = (((v - pred) / qs) + 0x1.8p52) - 0x1.8p52;
        const double rv = pred + q * qs;
        out->q[i] = q;
        out->rv[i] = (int32_t)rv;
        out->e[i] = (int32_t)(rv - out->p1[i]);
    }
}

/* the contexts of the block: bin(a) = how many edges are <= a, counted edge by edge over the
 * block (a = -1, no correcting axis, counts none, like bin's a < 0) */
static inline __attribute__((always_inline)) void contexts_t(const blockin *in, blockout *out, int n) {
    const grid *g = in->g;
    for (int i = 0; i < n; i++) out->ctx[i] = in->cls;
    for (int k = 0; k < ACTIVITIES; k++) {
        double b[BLOCK];
        const double *a = out->act[k], m = (double)(g->nedges[k] + 1);
        for (int i = 0; i < n; i++) b[i] = 0.0;
        for (int e = 0; e < g->nedges[k]; e++) {
            const double edge = g->edgef[k][e];
            for (int i = 0; i < n; i++) b[i] += a[i] >= edge;
        }
        for (int i = 0; i < n; i++) out->ctx[i] = out->ctx[i] * m + b[i]; /* < 2**24: exact */
    }
}

static inline __attribute__((always_inline)) void stage1_all(const blockin *in, blockout *out, int n, int naxes,
                                                             int64_t S) {
    switch (naxes * 2 + (S == 2)) {
    case 0: stage1_t(in, NULL, out, n, 0, S); break;
    case 1: stage1_t(in, NULL, out, n, 0, 2); break;
    case 2: stage1_t(in, NULL, out, n, 1, S); break;
    case 3: stage1_t(in, NULL, out, n, 1, 2); break;
    case 4: stage1_t(in, NULL, out, n, 2, S); break;
    case 5: stage1_t(in, NULL, out, n, 2, 2); break;
    case 6: stage1_t(in, NULL, out, n, 3, S); break;
    default: stage1_t(in, NULL, out, n, 3, 2); break;
    }
    contexts_t(in, out, n);
    for (int i = 0; i < n; i++) in->ctx[i] = (int32_t)out->ctx[i];
    if (in->x && in->dtype == PHC_FLOAT32) closed_t(in, out, n, S, NULL, 1);
    else if (in->x) closed_t(in, out, n, S, NULL, 0);
}

static inline __attribute__((always_inline)) void stage1g_all(const blockin *in, const endblock *b, blockout *out,
                                                              int naxes) {
    switch (naxes) {
    case 0: stage1_t(in, b, out, b->n, 0, 0); break;
    case 1: stage1_t(in, b, out, b->n, 1, 0); break;
    case 2: stage1_t(in, b, out, b->n, 2, 0); break;
    default: stage1_t(in, b, out, b->n, 3, 0); break;
    }
    contexts_t(in, out, b->n); /* the caller stores them */
    if (in->x && in->dtype == PHC_FLOAT32) closed_t(in, out, b->n, 0, b->o, 1);
    else if (in->x) closed_t(in, out, b->n, 0, b->o, 0);
}

/* one copy per instruction set: float64 lanes of 4 with AVX2, 2 with the baseline's SSE2. Picked
 * per call: AVX2 where the CPU has it, unless PHCOMP_NATIVE_ISA=baseline (tests compare both;
 * exact arithmetic makes them agree bit for bit) */
static void stage1_base(const blockin *in, blockout *out, int n, int naxes, int64_t S) {
    stage1_all(in, out, n, naxes, S);
}
static void stage1g_base(const blockin *in, const endblock *b, blockout *out, int naxes) {
    stage1g_all(in, b, out, naxes);
}
#if defined(__GNUC__) && (defined(__x86_64__) || defined(__i386__))
#define HAVE_AVX2_STAGE 1
__attribute__((target("avx2"))) static void stage1_avx2(const blockin *in, blockout *out, int n, int naxes,
                                                        int64_t S) {
    stage1_all(in, out, n, naxes, S);
}
__attribute__((target("avx2"))) static void stage1g_avx2(const blockin *in, const endblock *b, blockout *out,
                                                         int naxes) {
    stage1g_all(in, b, out, naxes);
}
#endif

static void pick_stage1(subpass *p) {
    p->stage1 = stage1_base;
    p->stage1g = stage1g_base;
#ifdef HAVE_AVX2_STAGE
    const char *isa = getenv("PHCOMP_NATIVE_ISA");
    if (!(isa && !strcmp(isa, "baseline"))) {
        __builtin_cpu_init();
        if (__builtin_cpu_supports("avx2")) {
            p->stage1 = stage1_avx2;
            p->stage1g = stage1g_avx2;
        }
    }
#endif
}

/* what every block of a range of lines shares: weights, grid, class, the encoder's values; rec,
 * err and x at the group's start (run_t moves them to each block's first target) */
static void block_setup(const linectx *L, blockin *in, const int enc) {
    const passjob *j = L->j;
    memset(in, 0, sizeof *in);
    for (int k = 0; k < TAPS; k++) in->w[k] = (double)L->w[k];
    in->rec = j->rec;
    in->err = j->err;
    in->g = j->g;
    in->cls = j->cls;
    if (enc) {
        in->x = j->src->x;
        in->dtype = j->src->dtype;
        in->mid = j->src->mid;
        in->delta = j->src->delta;
        in->qstep = (double)j->qstep;
    }
}

/* targets r0 .. r1-1 of a line (offset base + r s2, index t0 + r), all with taps td */
static inline __attribute__((always_inline)) int run_t(const linectx *L, int64_t base, int64_t t0, int64_t r0,
                                                       int64_t r1, const int64_t *td, const int naxes,
                                                       const int enc, const int wide) {
    const passjob *j = L->j;
    const int64_t s2 = j->s2;
    int big = 0;
    if (wide) {
        for (int64_t r = r0; r < r1; r++) big |= target_t(L, base + r * s2, t0 + r, td, naxes, enc, wide);
        return big;
    }
    blockin in;
    block_setup(L, &in, enc);
    for (int k = 0; k < TAPS; k++) in.d[k] = td[k];
    for (int q = 0; q < naxes; q++) {
        in.nb[2 * q] = -L->back[q];
        in.nb[2 * q + 1] = L->far[q];
    }
    blockout out;
    for (int64_t r = r0; r < r1; r += BLOCK) {
        const int n = r1 - r < BLOCK ? (int)(r1 - r) : BLOCK;
        const int64_t o0 = base + r * s2;
        in.rec = (const int32_t *)j->rec + o0;
        in.err = (const int32_t *)j->err + o0;
        in.ctx = j->p->ctx + t0 + r;
        if (enc) in.x = (const char *)j->src->x + o0 * (j->src->dtype == PHC_FLOAT32 ? 4 : 8);
        j->p->stage1(&in, &out, n, naxes, s2);
        if (enc) {
            int32_t *rec = j->rec, *err = j->err;
            int64_t *q = j->p->q + t0 + r;
            for (int i = 0; i < n; i++) {
                rec[o0 + i * s2] = out.rv[i];
                err[o0 + i * s2] = out.e[i];
                q[i] = (int64_t)out.q[i];
            }
            continue;
        }
        for (int i = 0; i < n; i++)
            big |= settle(j, o0 + i * s2, t0 + r + i, (int64_t)out.p1[i], (int64_t)out.corr[i], enc, 0);
    }
    return big;
}

/* the reflected targets of lines are collected (ends_add) and predicted a block at a time
 * (ends_flush) with one blockin for a range of lines */
static inline __attribute__((always_inline)) void ends_add(const linectx *L, endblock *b, int64_t o, int64_t t,
                                                           const int64_t *td, const int naxes) {
    const int i = b->n++;
    b->o[i] = o;
    b->t[i] = t;
    for (int k = 0; k < TAPS; k++) b->ia[k][i] = o + td[k];
    for (int q = 0; q < naxes; q++) {
        b->ie[2 * q][i] = o - L->back[q];
        b->ie[2 * q + 1][i] = o + L->far[q];
    }
}

/* predicts the collected targets and stores them as run_t does */
static inline __attribute__((always_inline)) int ends_flush(const passjob *j, const blockin *in, endblock *b,
                                                            const int naxes, const int enc) {
    if (!b->n) return 0;
    blockout out;
    j->p->stage1g(in, b, &out, naxes);
    int32_t *ctx = j->p->ctx;
    for (int i = 0; i < b->n; i++) ctx[b->t[i]] = (int32_t)out.ctx[i];
    int big = 0;
    if (enc) {
        int32_t *rec = j->rec, *err = j->err;
        int64_t *q = j->p->q;
        for (int i = 0; i < b->n; i++) {
            rec[b->o[i]] = out.rv[i];
            err[b->o[i]] = out.e[i];
            q[b->t[i]] = (int64_t)out.q[i];
        }
    } else {
        for (int i = 0; i < b->n; i++)
            big |= settle(j, b->o[i], b->t[i], (int64_t)out.p1[i], (int64_t)out.corr[i], 0, 0);
    }
    b->n = 0;
    return big;
}

/* one reflected target at the end of a line along the pass axis: collected for the vectorised
 * stage (narrow lattices), or predicted at once by the reference form (wide) */
static inline __attribute__((always_inline)) int end_target(const linectx *L, const blockin *ein, endblock *eb,
                                                            int64_t o, int64_t t, const int64_t *td, const int naxes,
                                                            const int enc, const int wide) {
    if (wide) return target_t(L, o, t, td, naxes, enc, wide);
    ends_add(L, eb, o, t, td, naxes);
    return eb->n == BLOCK ? ends_flush(L->j, ein, eb, naxes, enc) : 0;
}

/* predict_rows for a compile-time number of correcting axes (0 .. 3), side (encoder or decoder)
 * and lattice width: the compiler then drops the loops and branches that do not apply. The
 * targets go line by line (all indices fixed but the last axis'), in C order: along a line the
 * neighbours' offsets are fixed, and so are the taps unless the pass axis is the last one, where
 * they are fixed inside [ulo, uhi) (no reflection at the lattice's ends). */
static inline __attribute__((always_inline)) int predict_rows_t(const passjob *j, int64_t l0, int64_t l1,
                                                                const int naxes, const int enc, const int wide) {
    const grid *g = j->g;
    const int nd = g->nd, ax = j->ax, last = nd - 1;
    const int64_t s2 = j->s2, cl = j->p->at.cl;
    linectx L;
    L.j = j;
    L.w = j->m->weights + j->cls * TAPS;
    for (int i = 0; i < ACTIVITIES; i++) L.cm[i] = g->nedges[i] + 1;
    int64_t start[MAX_ND], lim[MAX_ND];
    for (int q = 0; q < naxes; q++) {
        const int a = j->axes[q];
        L.back[q] = j->s * g->stride[a];
        start[q] = j->p->at.start[a];
        lim[q] = g->sp[a] - j->s; /* the far neighbour is inside while the target's index c < lim */
    }
    int big = 0;
    lineset at = j->p->at;
    const int64_t *idx = at.idx;
    blockin ein; /* narrow, pass axis last: the reflected targets go through the vectorised stage too */
    endblock eb;
    eb.n = 0;
    const int gather = !wide && ax == last;
    if (gather) block_setup(&L, &ein, enc);
    for (int64_t line = l0; line < l1; line++) {
        const int64_t base = line_base(&at, line);
        for (int q = 0; q < naxes; q++)
            L.far[q] = start[q] + s2 * idx[j->axes[q]] < lim[q] ? L.back[q] : -L.back[q];
        const int64_t t0 = line * cl;
        if (ax != last) {
            big |= run_t(&L, base, t0, 0, cl, g->tapd + idx[ax] * TAPS, naxes, enc, wide);
            continue;
        }
        for (int64_t r = 0; r < j->ulo; r++)
            big |= end_target(&L, &ein, &eb, base + r * s2, t0 + r, g->tapd + r * TAPS, naxes, enc, wide);
        big |= run_t(&L, base, t0, j->ulo, j->uhi, j->tdu, naxes, enc, wide);
        for (int64_t r = j->uhi; r < cl; r++)
            big |= end_target(&L, &ein, &eb, base + r * s2, t0 + r, g->tapd + r * TAPS, naxes, enc, wide);
    }
    if (gather) big |= ends_flush(j, &ein, &eb, naxes, enc);
    return big;
}

static int predict_rows(const passjob *j, int64_t r0, int64_t r1) {
    const int enc = j->src != NULL;
#define CASES(W)                                                                                                       \
    case 0: return predict_rows_t(j, r0, r1, 0, 0, W);                                                                 \
    case 1: return predict_rows_t(j, r0, r1, 0, 1, W);                                                                 \
    case 2: return predict_rows_t(j, r0, r1, 1, 0, W);                                                                 \
    case 3: return predict_rows_t(j, r0, r1, 1, 1, W);                                                                 \
    case 4: return predict_rows_t(j, r0, r1, 2, 0, W);                                                                 \
    case 5: return predict_rows_t(j, r0, r1, 2, 1, W);                                                                 \
    case 6: return predict_rows_t(j, r0, r1, 3, 0, W);                                                                 \
    default: return predict_rows_t(j, r0, r1, 3, 1, W);
    if (j->wide) switch (j->naxes * 2 + enc) { CASES(1) } /* naxes < MAX_ND: at most 3 axes before ax */
    else switch (j->naxes * 2 + enc) { CASES(0) }
#undef CASES
}

static void predict_part(void *arg, int part, int64_t r0, int64_t r1) {
    passjob *j = arg;
    j->bad[part] = predict_rows(j, r0, r1);
}

/* the coding order is a stable counting sort by context, in parts: per-part histograms, then
 * slots by (context, part); a later pass over the same parts moves each target's q to or from
 * its slot in qs. The order is the same whatever the split. */
/* part k's row of counters: its count, then its next slot, per context */
static inline int64_t *slots_of(const subpass *p, int part) { return p->bucket + part * ((int64_t)p->nt + 1); }

static void hist_part(void *arg, int part, int64_t i0, int64_t i1) {
    const subpass *p = arg;
    int64_t *b = slots_of(p, part);
    memset(b + p->c0, 0, (size_t)(p->c1 - p->c0) * sizeof *b);
    for (int64_t i = i0; i < i1; i++) b[p->ctx[i]]++;
}

#define SORT_WORK (1 << 16)

static int cmp_i32(const void *a, const void *b) {
    const int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
    return (x > y) - (x < y);
}

static void slots_by_context(subpass *p, int threads) {
    const int th = threads < SORT_PARTS ? threads : SORT_PARTS;
    const int parts = phc_parts(th, p->count, SORT_WORK);
    p->th = th;
    p->nused = 0;
    int64_t run = 0;
    if (parts == 1 && p->count * 8 < p->c1 - p->c0) { /* few targets (coarse levels, small chunks): sort them
                                                      * rather than walk every context of the class */
        int32_t *u = p->used; /* count < c1 - c0 entries */
        memcpy(u, p->ctx, (size_t)p->count * sizeof *u);
        qsort(u, (size_t)p->count, sizeof *u, cmp_i32);
        int64_t *b = slots_of(p, 0);
        for (int64_t i = 0; i < p->count;) {
            const int32_t c = u[i];
            b[c] = run;
            while (i < p->count && u[i] == c) i++;
            run = i;
            u[p->nused] = c;
            p->ends[p->nused++] = run;
        }
        return;
    }
    phc_parallel_for(th, p->count, SORT_WORK, hist_part, p);
    for (int c = p->c0; c < p->c1; c++) {
        const int64_t was = run;
        for (int k = 0; k < parts; k++) {
            int64_t *b = slots_of(p, k) + c;
            const int64_t n = *b;
            *b = run;
            run += n;
        }
        if (run > was) {
            p->used[p->nused] = c;
            p->ends[p->nused++] = run;
        }
    }
}

/* encoder: each target's q to its slot */
static void scatter_part(void *arg, int part, int64_t i0, int64_t i1) {
    subpass *p = arg;
    int64_t *b = slots_of(p, part);
    for (int64_t i = i0; i < i1; i++) p->dst[b[p->ctx[i]]++] = p->q[i];
}

/* predictions and contexts (decoder) or the closed loop (encoder, src given) of the sub-pass
 * (lv, ax, odd), then its coding order; returns the number of targets (0: empty sub-pass; -1:
 * decoder, narrow lattices that cannot hold a prediction) */
static int64_t predict(const phc_interp *m, const grid *g, void *rec, void *err, int wide, int lv, int ax,
                       const int *odd, subpass *p, const gridsrc *src, int64_t qstep, int threads) {
    passjob j;
    memset(&j, 0, sizeof j);
    const int nd = g->nd;
    j.m = m;
    j.g = g;
    j.rec = rec;
    j.err = err;
    j.wide = wide;
    j.p = p;
    j.ax = ax;
    j.src = src;
    j.qstep = qstep;
    j.s = (int64_t)1 << lv;
    j.s2 = 2 * j.s;
    lineset *at = &p->at; /* where the targets are */
    at->last = nd - 1;
    at->s2 = j.s2;
    at->per = g->per;
    j.lines = g->gi;
    for (int a = 0; a < nd; a++) {
        at->stride[a] = g->stride[a];
        at->start[a] = (a == ax || (a < ax && odd[a])) ? j.s : 0;
        at->cnt[a] = g->sp[a] > at->start[a] ? (g->sp[a] - at->start[a] + j.s2 - 1) / j.s2 : 0;
        if (!at->cnt[a]) return 0;
        if (a < nd - 1) j.lines *= at->cnt[a];
    }
    at->cl = at->cnt[nd - 1];
    /* tap offsets along ax, reflected into the known lattice 0 .. last_k */
    const int64_t n = g->sp[ax], last_k = (n - 1) / j.s2, st = g->stride[ax];
    for (int64_t i = 0; i < at->cnt[ax]; i++) {
        const int64_t c = j.s * (2 * i + 1);
        for (int t = 0; t < TAPS; t++) {
            int64_t q = i + TAP_SHIFT[t];
            q = q < 0 ? -q : q;
            if (q > last_k) q = 2 * last_k - q;
            if (q < 0) q = 0;
            if (q > last_k) q = last_k;
            g->tapd[i * TAPS + t] = (j.s2 * q - c) * st;
        }
    }
    if (ax == nd - 1) { /* the unreflected taps: offset s (2 shift - 1) whatever the target */
        for (int t = 0; t < TAPS; t++) j.tdu[t] = j.s * (2 * TAP_SHIFT[t] - 1) * st;
        const int64_t m = at->cnt[ax];
        j.ulo = 0;
        while (j.ulo < m && memcmp(g->tapd + j.ulo * TAPS, j.tdu, sizeof j.tdu)) j.ulo++;
        j.uhi = j.ulo;
        while (j.uhi < m && !memcmp(g->tapd + j.uhi * TAPS, j.tdu, sizeof j.tdu)) j.uhi++;
    }
    for (int a = 0; a < ax; a++)
        if (odd[a]) j.axes[j.naxes++] = a;
    j.cls = lv < m->classes - 1 ? lv : m->classes - 1;
    p->c0 = j.cls * (m->ntables / m->classes); /* ctx = cls * (contexts per class) + ... */
    p->c1 = p->c0 + m->ntables / m->classes;
    const int64_t t = j.lines * at->cl;
    phc_parallel_for(t < (1 << 15) ? 1 : threads, j.lines, 1, predict_part, &j);
    for (int k = 0; k < PHC_MAX_THREADS; k++)
        if (j.bad[k]) return -1;
    p->count = t;
    slots_by_context(p, threads); /* the coding order */
    return t;
}

/* the sub-passes in coding order: calls fn for each (lv, ax, odd) */
typedef int (*pass_fn)(void *ctx, int lv, int ax, const int *odd);
static int for_passes(const grid *g, pass_fn fn, void *ctx) {
    int64_t levels = 0;
    for (int a = 0; a < g->nd; a++)
        if (g->sp[a] > 1) {
            int64_t l = ceil_log2(g->sp[a]);
            if (l > levels) levels = l;
        }
    for (int64_t lv = levels - 1; lv >= 0; lv--)
        for (int ax = 0; ax < g->nd; ax++)
            for (int ones = 0; ones <= ax; ones++)             /* fewest odd first, */
                for (int code = 0; code < (1 << ax); code++) { /* then itertools.product order */
                    int odd[MAX_ND], c = 0;
                    for (int a = 0; a < ax; a++) {
                        odd[a] = (code >> (ax - 1 - a)) & 1;
                        c += odd[a];
                    }
                    if (c != ones) continue;
                    int rc = fn(ctx, (int)lv, ax, odd);
                    if (rc) return rc;
                }
    return 0;
}

typedef struct {
    const phc_interp *m;
    grid g;
    subpass p;
    void *rec, *err; /* lattices: int64 if wide else int32 */
    int wide, fresh; /* fresh: rec and err are still zeros as allocated */
    int inplace;     /* decoder, float32 and narrow: rec is the group's own part of the output */
    int64_t gmax, qstep;
    phc_encoder *enc;
    gridsrc src; /* encoder: the group's values */
    const phc_table *tab; /* the group's table set */
    /* several sets: the group's q in coding order, coded once its set is chosen; run r is
     * bq[runs[r-1].end .. runs[r].end), all with table runs[r].ctx */
    int64_t *bq, nb;
    struct run { int64_t end; int32_t ctx; } *runs;
    size_t nruns, runcap;
    phc_decoder *dec;
    char *errmsg;
    size_t errlen;
    int threads;
} coder;

/* the most targets any sub-pass of one item has (sizes the per-sub-pass scratch) */
typedef struct {
    const grid *g;
    int64_t most;
} counter;

static int count_pass(void *arg, int lv, int ax, const int *odd) {
    counter *k = arg;
    const int64_t s = (int64_t)1 << lv, s2 = 2 * s;
    int64_t n = 1;
    for (int a = 0; a < k->g->nd; a++) {
        const int64_t start = (a == ax || (a < ax && odd[a])) ? s : 0;
        n *= k->g->sp[a] > start ? (k->g->sp[a] - start + s2 - 1) / s2 : 0;
    }
    if (n > k->most) k->most = n;
    return 0;
}

static int setup(coder *c, const phc_interp *m, int nd, const int64_t *sp, int64_t gmax, int bits, int wide,
                 int inplace, int threads, char *err, size_t errlen) {
    memset(c, 0, sizeof *c);
    c->m = m;
    c->inplace = inplace && !wide;
    pick_stage1(&c->p);
    c->wide = wide;
    c->threads = threads;
    c->errmsg = err;
    c->errlen = errlen;
    if (nd < 0 || nd > m->ndim) /* fewer axes than the model: a chunk of lower rank */
        return fail(err, errlen, PHC_EARG, "interpolation over %d axes of a %d-axis model", nd, m->ndim);
    c->g.nd = nd;
    c->g.sp = sp;
    int64_t per = 1, maxn = 1;
    for (int a = nd - 1; a >= 0; a--) {
        if (sp[a] < 1) return fail(err, errlen, PHC_EARG, "empty spatial shape");
        c->g.stride[a] = per;
        per *= sp[a];
        if (sp[a] > maxn) maxn = sp[a];
    }
    c->g.per = per;
    c->qstep = ((int64_t)1 << (bits + 1)) - 2;
    int same = 1;
    for (int i = 0; i < ACTIVITIES; i++) {
        c->g.nedges[i] = m->nexps[i];
        for (int j = 0; j < m->nexps[i]; j++) {
            const int e = m->exps[i][j];
            c->g.edges[i][j] = e >= 0 ? c->qstep << e : c->qstep >> (-e < 62 ? -e : 62);
            c->g.edgef[i][j] = (double)c->g.edges[i][j];
        }
        for (int l = 0; l < 66; l++) {
            int k = 0;
            while (k < m->nexps[i] && bitlen(c->g.edges[i][k]) < l) k++;
            c->g.below[i][l] = (uint8_t)k;
        }
        for (int l = 0; l < 65; l++) {
            const int b0 = c->g.below[i][l], b1 = c->g.below[i][l + 1];
            c->g.mult[i][l] = (uint8_t)(b1 - b0);
            c->g.thr[i][l] = b1 > b0 ? c->g.edges[i][b0] : INT64_MAX;
            for (int j = b0; j < b1; j++)
                if (c->g.edges[i][j] != c->g.edges[i][b0]) same = 0;
        }
    }
    c->g.one_per_length = same;
    const size_t n = (size_t)(gmax * per);
    counter k = {&c->g, 1};
    for_passes(&c->g, count_pass, &k);
    const size_t nt = (size_t)(gmax * k.most); /* targets of the largest sub-pass of a group */
    c->gmax = gmax;
    c->rec = c->inplace ? NULL : phc_pages_zeroed(n, wide ? 8 : 4);
    c->err = phc_pages_zeroed(n, wide ? 8 : 4);
    c->fresh = 1;
    c->p.q = phc_pages_zeroed(nt, sizeof *c->p.q);
    c->p.ctx = phc_pages_zeroed(nt, sizeof *c->p.ctx);
    c->p.qs = phc_pages_zeroed(nt, sizeof *c->p.qs);
    c->p.nt = m->ntables;
    c->p.bucket = malloc(SORT_PARTS * ((size_t)m->ntables + 1) * sizeof *c->p.bucket);
    c->p.ends = malloc((size_t)(m->ntables / m->classes) * sizeof *c->p.ends); /* one class's contexts */
    c->p.used = malloc((size_t)(m->ntables / m->classes) * sizeof *c->p.used);
    c->g.tapd = malloc((size_t)maxn * TAPS * sizeof *c->g.tapd);
    if ((!c->rec && !c->inplace) || !c->err || !c->p.q || !c->p.ctx || !c->p.qs || !c->p.bucket || !c->p.ends || !c->p.used ||
        !c->g.tapd)
        return fail(err, errlen, PHC_ENOMEM, "out of memory (interpolation of %lld values)", (long long)n);
    return 0;
}

static void teardown(coder *c) {
    if (!c->inplace) phc_pages_free(c->rec);
    phc_pages_free(c->err);
    phc_pages_free(c->p.q);
    phc_pages_free(c->p.ctx);
    phc_pages_free(c->p.qs);
    free(c->p.bucket);
    free(c->p.ends);
    free(c->p.used);
    free(c->g.tapd);
}

/* the per-value loops, in parts on threads (each writes only its own elements) */
typedef struct {
    void *out;
    int dtype;
    double mid, delta, eps;
    int64_t base;
    void *rec, *err; /* the coder's lattices */
    int wide;
    int64_t qstep;
    const gridsrc *src; /* encoder: the group's values */
    uint8_t *flag;
    const subpass *p;
    int bad[PHC_MAX_THREADS];
} elemjob;

#define PER_VALUE_WORK (1 << 16)

static void scan_part(void *arg, int part, int64_t i0, int64_t i1) { /* can the narrow lattice hold v? */
    elemjob *e = arg;
    int big = 0;
    for (int64_t i = i0; i < i1; i++) big |= fabs(grid_value(e->src, i)) > NARROW_V;
    if (big) e->bad[part] = 1;
}

static inline double from_grid(const elemjob *e, int64_t r) { /* numpy's _from_grid, in float64 */
    double y = (double)r;
    y *= e->delta;
    y += e->mid;
    return y;
}

static inline __attribute__((always_inline)) void check_t(elemjob *e, int64_t i0, int64_t i1, const int wide) {
    for (int64_t i = i0; i < i1; i++) {
        const double xv = input_at(e->src->x, e->dtype, i);
        double y = from_grid(e, lat_get(e->rec, i, wide));
        if (e->dtype == PHC_FLOAT32) y = (double)(float)y;
        e->flag[i] = !isfinite(xv) ? 1 : !(fabs(y - xv) <= e->eps) ? 2 : 0;
    }
}

static void check_part(void *arg, int part, int64_t i0, int64_t i1) { /* 1: non-finite, 2: breaks the bound */
    elemjob *e = arg;
    (void)part;
    if (e->wide) check_t(e, i0, i1, 1);
    else check_t(e, i0, i1, 0);
}

typedef struct {
    elemjob *e;
    int64_t n;
} checkjob;

static void *check_all(void *arg) {
    checkjob *k = arg;
    check_part(k->e, 0, 0, k->n);
    return NULL;
}

static inline __attribute__((always_inline)) void output_t(elemjob *e, int64_t i0, int64_t i1, const int wide) {
    if (!wide && e->dtype == PHC_FLOAT32) { /* rec may be this very memory (inplace): memcpy, not two types */
        const char *r = (const char *)e->rec;
        char *o = (char *)e->out + 4 * e->base;
        for (int64_t i = i0; i < i1; i++) {
            int32_t v;
            memcpy(&v, r + 4 * i, 4);
            const float y = (float)from_grid(e, v);
            memcpy(o + 4 * i, &y, 4);
        }
        return;
    }
    for (int64_t i = i0; i < i1; i++) {
        const double y = from_grid(e, lat_get(e->rec, i, wide));
        if (e->dtype == PHC_FLOAT32) ((float *)e->out)[e->base + i] = (float)y;
        else ((double *)e->out)[e->base + i] = y;
    }
}

static void output_part(void *arg, int part, int64_t i0, int64_t i1) {
    elemjob *e = arg;
    (void)part;
    if (e->wide) output_t(e, i0, i1, 1);
    else output_t(e, i0, i1, 0);
}

/* decoder: rec = pred + q Q; bad[part]: outside the grid (wide) or the narrow lattice (narrow:
 * the group starts again wide, which fails the same way if the grid is the problem) */
#define PREFETCH 16 /* targets ahead */
static inline __attribute__((always_inline)) void finalize_t(elemjob *e, int part, int64_t i0, int64_t i1,
                                                             const int wide) {
    const subpass *p = e->p;
    int64_t *b = slots_of(p, part);
    lineset at = p->at; /* the targets' offsets, line by line */
    const int64_t cl = at.cl, s2 = at.s2;
    int64_t line = i0 / cl, r = i0 % cl, base = line_base(&at, line);
    for (int64_t i = i0; i < i1; i++, r++) {
        if (r == cl) {
            r = 0;
            base = line_base(&at, ++line);
        }
        if (i + PREFETCH < i1) /* q comes from one of many contexts' runs in qs: fetch the run's line early */
            __builtin_prefetch(p->qs + b[p->ctx[i + PREFETCH]]);
        const int64_t o = base + r * s2, qq = p->qs[b[p->ctx[i]]++] * e->qstep;
        const int64_t r = lat_get(e->rec, o, wide) + qq, d = lat_get(e->err, o, wide) + qq;
        if (wide ? r > REC_LIMIT || r < -REC_LIMIT : !fits32(r) || !fits32(d)) {
            e->bad[part] = 1;
            return;
        }
        lat_set(e->rec, o, r, wide);
        lat_set(e->err, o, d, wide);
    }
}

static void finalize_part(void *arg, int part, int64_t i0, int64_t i1) {
    elemjob *e = arg;
    if (e->wide) finalize_t(e, part, i0, i1, 1);
    else finalize_t(e, part, i0, i1, 0);
}

/* several sets: the kept symbols up to `end` (from the last run's end) have table ctx */
static int add_run(coder *c, int32_t ctx, int64_t end) {
    if (c->nruns && c->runs[c->nruns - 1].ctx == ctx) {
        c->runs[c->nruns - 1].end = end;
        return 0;
    }
    if (c->nruns == c->runcap) {
        const size_t cap = c->runcap ? 2 * c->runcap : 1024;
        struct run *r = realloc(c->runs, cap * sizeof *r);
        if (!r) return fail(c->errmsg, c->errlen, PHC_ENOMEM, "out of memory");
        c->runs = r;
        c->runcap = cap;
    }
    c->runs[c->nruns++] = (struct run){end, ctx};
    return 0;
}

/* one origin value: coded now (one table set), or kept until the group's set is chosen */
static int emit_origin(coder *c, int64_t q) {
    if (!c->bq) {
        phc_encode_value(c->enc, &c->tab[c->m->ntables - 1], q);
        return 0;
    }
    c->bq[c->nb++] = q;
    return add_run(c, c->m->ntables - 1, c->nb);
}

static int encode_pass(void *arg, int lv, int ax, const int *odd) {
    coder *c = arg;
    subpass *p = &c->p;
    if (!predict(c->m, &c->g, c->rec, c->err, c->wide, lv, ax, odd, p, &c->src, c->qstep, c->threads)) return 0;
    /* contexts ascending, targets in order within one: one table per run */
    p->dst = c->bq ? c->bq + c->nb : p->qs;
    phc_parallel_for(p->th, p->count, SORT_WORK, scatter_part, p);
    if (c->bq) { /* kept: only the runs are noted */
        for (int u = 0; u < p->nused; u++)
            if (add_run(c, p->used[u], c->nb + p->ends[u])) return PHC_ENOMEM;
        c->nb += p->count;
        return 0;
    }
    int64_t j = 0;
    for (int u = 0; u < p->nused; u++) {
        const phc_table *t = &c->tab[p->used[u]];
        for (const int64_t end = p->ends[u]; j < end; j++) phc_encode_value(c->enc, t, p->qs[j]);
    }
    return c->enc->oom ? fail(c->errmsg, c->errlen, PHC_ENOMEM, "out of memory (range coder)") : 0;
}

/* each set's price of the kept symbols, in parts (integer sums: the same whatever the split) */
typedef struct {
    const coder *c;
    int64_t cost[PHC_MAX_THREADS][MAX_TABLE_SETS];
} pricejob;

static void price_part(void *arg, int part, int64_t i0, int64_t i1) {
    pricejob *j = arg;
    const coder *c = j->c;
    const phc_interp *m = c->m;
    int64_t cost[MAX_TABLE_SETS] = {0};
    size_t r = 0, hi = c->nruns; /* the first run ending after i0 */
    while (r < hi) {
        const size_t mid = r + (hi - r) / 2;
        if (c->runs[mid].end <= i0) r = mid + 1;
        else hi = mid;
    }
    for (int64_t i = i0; i < i1; r++) {
        const int64_t end = c->runs[r].end < i1 ? c->runs[r].end : i1;
        for (int k = 0; k < m->sets; k++) {
            const size_t at = (size_t)k * m->ntables + c->runs[r].ctx;
            const int64_t lo = m->tables[at].lo, n = m->tables[at].nsym;
            const uint16_t *pr = m->price[at];
            const int64_t esc = pr[n] + ESCAPE_COST_UNITS;
            int64_t sum = 0;
            for (int64_t u = i; u < end; u++) {
                const int64_t d = c->bq[u] - lo;
                sum += d >= 0 && d < n ? pr[d] : esc;
            }
            cost[k] += sum;
        }
        i = end;
    }
    memcpy(j->cost[part], cost, sizeof cost);
}

/* the set that prices the kept symbols lowest (lowest index on ties) */
static int choose_set(coder *c) {
    const phc_interp *m = c->m;
    pricejob j;
    memset(&j, 0, sizeof j);
    j.c = c;
    phc_parallel_for(c->threads, c->nb, PER_VALUE_WORK, price_part, &j);
    int best = 0;
    int64_t best_cost = INT64_MAX;
    for (int k = 0; k < m->sets; k++) {
        int64_t cost = 0;
        for (int part = 0; part < PHC_MAX_THREADS; part++) cost += j.cost[part][k];
        if (cost < best_cost) {
            best_cost = cost;
            best = k;
        }
    }
    return best;
}

/* codes the kept symbols with set `best` */
static void code_kept(coder *c, int best) {
    const phc_interp *m = c->m;
    const phc_table *ts = m->tables + (size_t)best * m->ntables;
    for (size_t r = 0, i = 0; r < c->nruns; r++) {
        const phc_table *t = &ts[c->runs[r].ctx];
        for (; (int64_t)i < c->runs[r].end; i++) phc_encode_value(c->enc, t, c->bq[i]);
    }
    c->nb = 0;
    c->nruns = 0;
}

static __attribute__((noinline, cold)) int decode_failed(coder *c, int rc) {
    if (rc == -1) return fail(c->errmsg, c->errlen, PHC_ECORRUPT, "corrupt range-coded stream: invalid data");
    if (rc == -2) return fail(c->errmsg, c->errlen, PHC_ECORRUPT, "corrupt range-coded stream: escape list exhausted");
    return fail(c->errmsg, c->errlen, PHC_ECORRUPT, "corrupt interpolation section: quantized value out of range");
}

/* one value from stream d with table t, checked within what an encoder writes (|q| <= 2**40);
 * inline in the per-symbol loop, the messages out of it */
static inline __attribute__((always_inline)) int decode_q(coder *c, phc_decoder *d, const phc_table *t, int64_t *q) {
    *q = 0;
    const int rc = phc_decode_value(d, t, q);
    if (__builtin_expect(rc != 0 || *q > Q_LIMIT || *q < -Q_LIMIT, 0)) return decode_failed(c, rc);
    return 0;
}

static int decode_pass(void *arg, int lv, int ax, const int *odd) {
    coder *c = arg;
    subpass *p = &c->p;
    const int64_t targets = predict(c->m, &c->g, c->rec, c->err, c->wide, lv, ax, odd, p, NULL, c->qstep, c->threads);
    if (targets <= 0) return targets ? NARROW_OVERFLOW : 0;
    phc_decoder d = *c->dec; /* a local copy: the stores to qs cannot alias its state */
    int64_t j = 0;
    for (int u = 0; u < p->nused; u++) {
        const phc_table *t = &c->tab[p->used[u]];
        for (const int64_t end = p->ends[u]; j < end; j++) {
            int64_t q;
            if (decode_q(c, &d, t, &q)) return PHC_ECORRUPT;
            p->qs[j] = q;
        }
    }
    *c->dec = d;
    elemjob e;
    memset(&e, 0, sizeof e);
    e.p = p;
    e.rec = c->rec;
    e.err = c->err;
    e.wide = c->wide;
    e.qstep = c->qstep;
    phc_parallel_for(p->th, p->count, SORT_WORK, finalize_part, &e);
    for (int k = 0; k < PHC_MAX_THREADS; k++)
        if (e.bad[k])
            return c->wide ? fail(c->errmsg, c->errlen, PHC_ECORRUPT, "corrupt interpolation section: value outside the grid")
                           : NARROW_OVERFLOW;
    return 0;
}

/* the lattices made wide (int64), for this group on (their contents are cleared per group) */
static int widen(coder *c) {
    const size_t n = (size_t)(c->gmax * c->g.per);
    if (!c->inplace) phc_pages_free(c->rec);
    c->inplace = 0;
    phc_pages_free(c->err);
    c->rec = phc_pages_zeroed(n, 8);
    c->err = phc_pages_zeroed(n, 8);
    c->wide = 1;
    c->fresh = 1;
    return c->rec && c->err ? 0 : fail(c->errmsg, c->errlen, PHC_ENOMEM, "out of memory (interpolation of %zu values)", n);
}

static int grow(int64_t **a, size_t *n, size_t *cap, int64_t v) {
    if (*n == *cap) {
        size_t nc = *cap ? *cap * 2 : 64;
        int64_t *p = realloc(*a, nc * sizeof *p);
        if (!p) return -1;
        *a = p;
        *cap = nc;
    }
    (*a)[(*n)++] = v;
    return 0;
}

typedef struct {
    char *rec, *err;
    size_t size; /* bytes per value */
} clearjob;

static void clear_part(void *arg, int part, int64_t i0, int64_t i1) {
    const clearjob *k = arg;
    (void)part;
    if (k->rec) memset(k->rec + i0 * k->size, 0, (size_t)(i1 - i0) * k->size);
    if (k->err) memset(k->err + i0 * k->size, 0, (size_t)(i1 - i0) * k->size);
}

/* items i0.. of the next group: sets its item count, clears rec / err, returns its values */
static int64_t begin_group(coder *c, int64_t i0, int64_t items, int64_t group) {
    c->g.gi = (items - i0) < group ? items - i0 : group;
    const int64_t n = c->g.gi * c->g.per;
    /* fresh lattices are zero already, page by page as they are first touched; the output is not */
    clearjob k = {c->fresh && !c->inplace ? NULL : c->rec, c->fresh ? NULL : c->err, c->wide ? 8 : 4};
    if (k.rec || k.err) phc_parallel_for(c->threads, n, PER_VALUE_WORK, clear_part, &k);
    c->fresh = 0;
    return n;
}

static int check_common(int dtype, int bits, int64_t items, int64_t group, char *err, size_t errlen) {
    if (dtype != PHC_FLOAT32 && dtype != PHC_FLOAT64) return fail(err, errlen, PHC_EARG, "dtype code %d", dtype);
    if (bits < 2 || bits > MAX_GRID_BITS)
        return fail(err, errlen, PHC_ECORRUPT, "corrupt interpolation section: grid bits %d", bits);
    if (items < 1) return fail(err, errlen, PHC_EARG, "no items");
    if (group < 1) return fail(err, errlen, PHC_ECORRUPT, "corrupt interpolation section: item group of 0");
    return 0;
}

int phc_interp_encode(const phc_interp *m, const void *x, int dtype, int64_t items, int nd, const int64_t *sp,
                      double mid, double delta, double eps, int bits, int64_t group, int threads,
                      phc_interp_stream *out, char *err, size_t errlen) {
    memset(out, 0, sizeof *out);
    int rc = check_common(dtype, bits, items, group, err, errlen);
    if (rc) return rc;
    const int64_t gmax = group < items ? group : items;
    coder c;
    phc_encoder enc;
    phc_encoder_init(&enc);
    uint8_t *flag = NULL;
    size_t exc_cap = 0, nf_cap = 0;
    const int64_t ngroups = (items + group - 1) / group; /* items >= 1, group >= 1 */
    rc = setup(&c, m, nd, sp, gmax, bits, 0, 0, threads, err, errlen); /* narrow until a group needs wide */
    if (!rc) {
        flag = malloc((size_t)(gmax * c.g.per));
        if (!flag) rc = fail(err, errlen, PHC_ENOMEM, "out of memory");
    }
    if (!rc && m->sets > 1) { /* every value of a group is one symbol */
        c.bq = malloc((size_t)(gmax * c.g.per) * sizeof *c.bq);
        out->sets = malloc((size_t)ngroups);
        if (!c.bq || !out->sets) rc = fail(err, errlen, PHC_ENOMEM, "out of memory");
    }
    c.enc = &enc;
    c.tab = m->tables;
    const int64_t per = c.g.per;
    for (int64_t i0 = 0; !rc && i0 < items; i0 += group) {
        const int64_t n = begin_group(&c, i0, items, group), base = i0 * per;
        c.src = (gridsrc){(const char *)x + base * (dtype == PHC_FLOAT32 ? 4 : 8), dtype, mid, delta};
        elemjob e = {.dtype = dtype, .mid = mid, .delta = delta, .eps = eps, .base = base, .src = &c.src,
                     .flag = flag, .wide = c.wide};
        int big = 0;
        if (!c.wide) phc_parallel_for(threads, n, PER_VALUE_WORK, scan_part, &e);
        for (int k = 0; k < PHC_MAX_THREADS; k++) big |= e.bad[k];
        if (big) {
            rc = widen(&c);
            if (rc) break;
            begin_group(&c, i0, items, group);
        }
        e.rec = c.rec;
        e.wide = c.wide;
        for (int64_t it = 0; it < c.g.gi; it++) {
            const int64_t q0 = (int64_t)rint(grid_value(&c.src, it * per) / (double)c.qstep);
            lat_set(c.rec, it * per, q0 * c.qstep, c.wide);
            if (!rc) rc = emit_origin(&c, q0);
        }
        if (rc) break;
        rc = for_passes(&c.g, encode_pass, &c);
        /* what the decoder will produce, checked against the bound: beside the range coder when
         * the group's symbols were kept for a set, else on every thread */
        if (!rc && c.bq) {
            const int best = choose_set(&c);
            out->sets[out->nsets++] = (uint8_t)best;
            checkjob k = {&e, n};
            phc_side side;
            phc_side_start(&side, threads, check_all, &k);
            code_kept(&c, best);
            phc_side_finish(&side, 1);
        } else if (!rc) {
            phc_parallel_for(threads, n, PER_VALUE_WORK, check_part, &e);
        }
        for (int64_t i = 0; !rc && i < n; i++) {
            if (!flag[i]) continue;
            if (flag[i] == 1 ? grow(&out->nonfinite, &out->nnonfinite, &nf_cap, base + i)
                             : grow(&out->exceptions, &out->nexceptions, &exc_cap, base + i))
                rc = fail(err, errlen, PHC_ENOMEM, "out of memory");
        }
    }
    if (!rc) {
        phc_encoder_seal(&enc);
        if (enc.oom) rc = fail(err, errlen, PHC_ENOMEM, "out of memory (range coder)");
    }
    if (!rc) {
        out->words = enc.words;
        out->nwords = enc.nwords;
        out->escapes = enc.escapes;
        out->nesc = enc.nesc;
    } else {
        phc_encoder_free(&enc);
        phc_interp_stream_free(out);
    }
    free(flag);
    free(c.runs);
    free(c.bq);
    teardown(&c);
    return rc;
}

int phc_interp_decode(const phc_interp *m, int bits, int64_t group, int64_t items, int nd, const int64_t *sp,
                      const uint32_t *words, size_t nwords, const int64_t *escapes, size_t nesc,
                      const uint8_t *sets, size_t nsets, double mid, double delta, double half, int dtype, int threads,
                      void *out, char *err, size_t errlen) {
    int rc = check_common(dtype, bits, items, group, err, errlen);
    if (rc) return rc;
    const int64_t ngroups = (items + group - 1) / group;
    if (m->sets > 1 ? nsets != (size_t)ngroups : nsets != 0)
        return fail(err, errlen, PHC_ECORRUPT, "corrupt interpolation section: %zu table-set bytes for %lld item groups",
                    nsets, (long long)(m->sets > 1 ? ngroups : 0));
    for (size_t i = 0; i < nsets; i++)
        if (sets[i] >= m->sets)
            return fail(err, errlen, PHC_ECORRUPT, "corrupt interpolation section: table set %d of a model with %d",
                        sets[i], m->sets);
    const int64_t gmax = group < items ? group : items;
    coder c;
    phc_decoder dec;
    phc_decoder_init(&dec, words, nwords, escapes, nesc);
    /* narrow when the header's range says every |v| fits; if a value does not after all, that
     * group is decoded again wide (the decoder state is a plain struct, so a copy restarts it) */
    rc = setup(&c, m, nd, sp, gmax, bits, !(half / delta <= NARROW_V), dtype == PHC_FLOAT32, threads, err, errlen);
    c.dec = &dec;
    const int64_t per = c.g.per;
    for (int64_t i0 = 0, gi = 0; !rc && i0 < items; i0 += group, gi++) {
        const phc_decoder at_group = dec;
        if (c.inplace) c.rec = (int32_t *)out + i0 * per; /* int32 and float32: one size */
        const int64_t n = begin_group(&c, i0, items, group), base = i0 * per;
        c.tab = m->tables + (size_t)(nsets ? sets[gi] : 0) * m->ntables;
        for (int64_t it = 0; !rc && it < c.g.gi; it++) {
            int64_t q0;
            rc = decode_q(&c, &dec, &c.tab[m->ntables - 1], &q0);
            if (!rc) {
                if (!c.wide && !fits32(q0 * c.qstep)) rc = NARROW_OVERFLOW;
                else lat_set(c.rec, it * per, q0 * c.qstep, c.wide);
            }
        }
        if (!rc) rc = for_passes(&c.g, decode_pass, &c);
        if (rc == NARROW_OVERFLOW) {
            dec = at_group;
            rc = widen(&c);
            i0 -= group, gi--; /* this group again */
            continue;
        }
        if (!rc) {
            elemjob e = {.out = out, .dtype = dtype, .mid = mid, .delta = delta, .base = base, .rec = c.rec,
                         .wide = c.wide};
            phc_parallel_for(threads, n, PER_VALUE_WORK, output_part, &e);
        }
    }
    if (!rc && dec.esc_pos != dec.nesc) rc = fail(err, errlen, PHC_ECORRUPT, "corrupt range-coded stream: unused escape values");
    teardown(&c);
    return rc;
}
