/* The exact decoder arithmetic of the transform kinds (docs/format.md, section 3, decoders
 * linear_int, separable_int, mlp_int; phcomp/core/decoder.py) in C: integer latents to a
 * normalised block. Every product and partial sum is an integer below 2**53 (the model's
 * q_limit ensures it), so every operation on them is exact in float64 whatever the order: the
 * C loops give the values numpy's GEMMs give, and the few float operations after them are the
 * same IEEE operations in the same order. */
#ifndef PHC_DECODER_INT_H
#define PHC_DECODER_INT_H

#include <stddef.h>
#include <stdint.h>

#include "latent.h"
#include "phcomp_codec.h"

enum { PHC_DEC_LINEAR = 1, PHC_DEC_SEPARABLE = 2, PHC_DEC_MLP = 3 };
#define PHC_MLP_MAX_LAYERS 8

typedef struct {
    int type;
    int nd;            /* the block's axes (1 to 4) */
    int64_t block[4];
    int64_t d, k;      /* values per block, latent channels */
    int64_t q_limit;   /* the largest |q| decoded exactly; larger is refused */
    double *mean;      /* d */
    int shift;         /* linear, separable: the weights' scale 2**shift; mlp: lin_shift */
    double *weight;    /* linear: k x d; mlp: the linear part, k x d (integers below 2**31) */
    double *axis[4];   /* separable: block[i] x block[i] */
    int axis_sym[4];   /* separable: axis[i][k, b-1-s] == (-1)**k axis[i][k, s] (a DCT-like basis) */
    int32_t *order;    /* separable: latent channel j is natural coefficient order[j] */
    int32_t *rowof;    /* separable, nd x d: [i][j] channel j's row at stage i < nd-1 (its natural
                          index over the axes after i), [nd-1][j] its index on the last axis */
    int nlayers;       /* mlp */
    int64_t in[PHC_MLP_MAX_LAYERS], out[PHC_MLP_MAX_LAYERS];
    double *lw[PHC_MLP_MAX_LAYERS];
    int64_t *lb[PHC_MLP_MAX_LAYERS];
    int64_t mult[PHC_MLP_MAX_LAYERS];
    int lshift[PHC_MLP_MAX_LAYERS];
    double out_scale;
    phc_latent_tables tables;
    /* the encoder side: linear and separable models are written in C too (transform_encode.c) */
    int can_encode;
    double *enc_matrix;  /* linear: d x k, c = (x_n - enc_mean) @ enc_matrix */
    double *enc_inv[4];  /* separable: block[i] x block[i], contracted axis by axis */
    double *enc_mean;    /* d */
    int step_fixed;      /* step_mode "fixed": always default_step */
    double step_factor, default_step, min_step, deadzone;
    int nfactors;        /* step_factors: (log10 rel, factor), sorted by log10 rel */
    double *factor_log, *factor_val;
    int norm_fixed;      /* normalization "fixed": every chunk uses (norm_mid, norm_half) */
    double norm_mid, norm_half;
    double *sigma, sigma_all; /* latent_coding group_sigma (one per group) and sigma_all */
    double **cost;       /* per latent table, bits per symbol (escape last): the encoder's level search */
} phc_transform;

void phc_transform_free(phc_transform *t);
/* Reads a transform model from its parsed container header and decompressed payload
 * (native/src/model_transform.c). PHC_OK, or an error code and a message. */
struct phc_json;
int phc_transform_load(phc_transform *t, const struct phc_json *header, const uint8_t *payload, uint64_t plen,
                       char *err, size_t errlen);
/* Derives q_limit from the weights exactly as the Python loader does; -1 (with err) when the
 * weights are too large for exact arithmetic or the scales are bad. */
int phc_transform_check(phc_transform *t, char *err, size_t errlen);
/* The working memory of phc_transform_blocks (one per thread). NULL: out of memory. */
typedef struct phc_scratch phc_scratch;
phc_scratch *phc_scratch_new(const phc_transform *t);
void phc_scratch_free(phc_scratch *s);
/* out[0..n) = sum_i coef[i] * rows[i][0..n) over m rows, for the decoders' exact integer sums
 * (whose order is free: every partial sum is an integer below 2**53) */
void phc_combine(double *out, const double **rows, const double *coef, int64_t m, int64_t n);
/* out[orow[i] + j] = sum_kk L[lrow[i] + lcol[kk]] * R[rrow[kk] + j] for i < M, j < N: a small
 * matrix product over gathered rows and columns, register-tiled (4 x 8), each output's K terms
 * added in order kk = 0, 1, ... on every machine (the encoder's float projection depends on
 * that order; the decoders' exact integer sums do not). pack: 4 * K doubles of working memory. */
void phc_matmul(double *out, const int64_t *orow, const double *L, const int64_t *lrow, const int64_t *lcol, const double *R,
                const int64_t *rrow, int64_t M, int64_t K, int64_t N, double *pack);
#define PHC_BATCH 8 /* blocks per phc_transform_blocks call (weight rows reused while in cache) */
/* x[b * d .. b * d + d) = the normalised block of the latents q[b * k .. b * k + k) (each
 * |q| <= q_limit) at `step`, for the nb <= PHC_BATCH blocks b. */
void phc_transform_blocks(const phc_transform *t, const int32_t *q, int nb, double step, double *x, phc_scratch *s);

/* the transform of a loaded model (NULL for interp models) */
const phc_transform *phc_model_transform(const phc_model *m);

#endif
