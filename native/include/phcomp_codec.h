/* phcomp's native codec: the public C interface (C11). Hosts (the Python package, the HDF5
 * plugin, the ADIOS2 operator) link the same sources: native/src/.
 *
 * It decodes every chunk the format defines (docs/format.md): lossless (mode 0), the transform
 * kinds' latent and residual chunks (modes 1-2) and interpolation chunks (mode 3), bit for bit
 * what phcomp/core decodes; it encodes lossless and interpolation chunks (the interp predictor
 * and the range-coded stream of section 8, byte for byte phcomp/core/interp.py's). Every function returns 0 on success or a
 * negative PHC_E* code with a message in `err` (at most errlen bytes, NUL-terminated); no
 * function keeps global state, so every call may run on its own thread. */
#ifndef PHCOMP_CODEC_H
#define PHCOMP_CODEC_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* What libphcomp.so exports (built with -DPHC_SHARED -fvisibility=hidden, so calls between its
 * own sources bind directly); hosts that compile the sources in keep every symbol hidden. */
#if defined(PHC_SHARED) && defined(__GNUC__)
#define PHC_API __attribute__((visibility("default")))
#else
#define PHC_API
#endif

#define PHC_OK 0
#define PHC_ECORRUPT -1 /* the bytes are not something an encoder writes */
#define PHC_EMODEL -2   /* the model's arrays are invalid */
#define PHC_ENOMEM -3
#define PHC_EARG -4 /* a caller error (bad dtype, shape...) */
#define PHC_EUNSUPPORTED -5 /* valid, but not coded natively (a model decoder type this library does not know) */

#define PHC_FLOAT32 1 /* the chunk format's dtype codes */
#define PHC_FLOAT64 2

PHC_API int phc_version(void); /* 10000 * major + 100 * minor + patch of this library */

/* An interp model's decoder side (docs/format.md, section 3: decoder `interp_int`):
 * weights: classes x 8 int64 (row-major); exps: 4 sorted lists, nexps[i] entries each,
 * concatenated; `sets` table sets (1 to 16) of ntables tables each, set after set, table i
 * with lo[i] and nfreq[i] frequencies (the last one the escape), all frequencies concatenated
 * in freq. The arrays are copied. */
typedef struct phc_interp phc_interp;
PHC_API int phc_interp_new(phc_interp **out, int ndim, int classes, const int64_t *weights, const int32_t *nexps,
                   const int32_t *exps, int ntables, int sets, const int64_t *lo, const uint32_t *nfreq,
                   const uint32_t *freq, char *err, size_t errlen);
PHC_API void phc_interp_free(phc_interp *m);
PHC_API int phc_interp_ndim(const phc_interp *m);
PHC_API int phc_interp_sets(const phc_interp *m);

/* What the encoder produced; every array is malloc'ed and owned by the struct. */
typedef struct {
    uint32_t *words;   /* range-coded words */
    size_t nwords;
    int64_t *escapes;  /* escaped values, in stream order */
    size_t nesc;
    int64_t *exceptions; /* positions whose decoded value would break the bound (store exactly) */
    size_t nexceptions;
    int64_t *nonfinite;  /* positions of NaN / +-Inf (store exactly) */
    size_t nnonfinite;
    uint8_t *sets;       /* a model with several table sets: the set of each item group */
    size_t nsets;
} phc_interp_stream;
PHC_API void phc_interp_stream_free(phc_interp_stream *s);

/* Encodes a C-contiguous array x (dtype PHC_FLOAT32/64, native byte order) of `items` items of
 * spatial shape sp[0..nd-1] on the grid delta = eps / 2**bits around mid, items in groups of
 * `group` (the encoder's choice; written in the section). `threads` (>= 1) share each
 * sub-pass's prediction; the output does not depend on it. */
PHC_API int phc_interp_encode(const phc_interp *m, const void *x, int dtype, int64_t items, int nd, const int64_t *sp,
                      double mid, double delta, double eps, int bits, int64_t group, int threads,
                      phc_interp_stream *out, char *err, size_t errlen);

/* Decodes the stream of section 8 into out (C-contiguous, dtype, items x sp); the exceptions
 * and non-finite points are the caller's to apply after. Bit-identical for any `threads`.
 * sets: the table set of each item group (nsets of them) for a model with several, else none.
 * half: the chunk header's; it only picks the width of the working lattices (32-bit when
 * half / delta <= 2**28), so a wrong one costs time, never a different result. */
PHC_API int phc_interp_decode(const phc_interp *m, int bits, int64_t group, int64_t items, int nd, const int64_t *sp,
                      const uint32_t *words, size_t nwords, const int64_t *escapes, size_t nesc,
                      const uint8_t *sets, size_t nsets, double mid, double delta, double half, int dtype, int threads,
                      void *out, char *err, size_t errlen);

/* A model container (docs/format.md) loaded from its bytes: interp models (modes 3 and 0) and
 * the transform kinds, linear / separable / sparse-ae / ved (decoded natively, modes 1-2;
 * phc_chunk_encode writes linear and separable chunks, the MLP kinds only Python). PHC_EUNSUPPORTED for a decoder type this
 * library does not know. The id is the name the host found it under. */
#define PHC_KIND_INTERP 1
#define PHC_KIND_TRANSFORM 2
typedef struct phc_model phc_model;
PHC_API int phc_model_new(phc_model **out, const void *bytes, size_t n, char *err, size_t errlen);
PHC_API void phc_model_free(phc_model *m);
/* A model over an interp decoder the caller already holds (phc_interp_new), for the whole-chunk
 * calls without a second copy of its tables: the interp must outlive the model, and
 * phc_model_free leaves it alone. */
PHC_API int phc_model_wrap_interp(phc_model **out, const phc_interp *interp, double default_rel);
PHC_API const phc_interp *phc_model_interp(const phc_model *m);
PHC_API double phc_model_default_rel(const phc_model *m); /* params.default_rel (0: none) */
PHC_API int phc_model_kind(const phc_model *m);           /* PHC_KIND_INTERP or PHC_KIND_TRANSFORM */
PHC_API int phc_model_encodes(const phc_model *m);        /* 1: phc_chunk_encode writes bounded chunks with it */

/* What a chunk's header declares (after its magic, version, CRC and section table are checked). */
typedef struct {
    int mode;   /* 0 lossless, 1 latent only, 2 error-bounded, 3 interpolation */
    int dtype;  /* the format's dtype code: 1 float32, 2 float64, 3-10 integers (lossless) */
    int itemsize;
    int ndim;
    uint64_t shape[8];
    uint64_t nvalues;
    char model_id[17]; /* 16 hex digits; all zeros: no model */
} phc_chunk_info;
PHC_API int phc_chunk_inspect(const void *data, size_t n, phc_chunk_info *info, char *err, size_t errlen);

/* Decodes a whole chunk into out (out_bytes must equal nvalues * itemsize; little-endian host
 * order). Every mode: 0 (no model), 3 (an interp model), 1-2 (a transform model). */
PHC_API int phc_chunk_decode(const void *data, size_t n, const phc_model *model, void *out, size_t out_bytes, int threads,
                     char *err, size_t errlen);

/* The most bytes phc_chunk_encode writes for an array of this dtype code (1-10) and shape
 * (0: bad arguments). A hard bound: hosts size their output buffers with it. */
PHC_API size_t phc_chunk_bound(int dtype, int ndim, const uint64_t *shape);

/* Encodes a whole chunk, as phcomp.compress does: C-contiguous x (native little-endian order)
 * of dtype code `dtype` and shape[0..ndim-1] into dst (cap >= phc_chunk_bound), *written its
 * length. abs_bound / rel_bound: the absolute bound and the bound relative to the finite
 * values' range, negative when not given (both: the tighter; 0: lossless; neither: the
 * model's default_rel for interp models, latents only for the transform kinds). Other chunks
 * need an interp, linear or separable model with its 16-hex-digit id (written into the chunk);
 * integer dtypes, empty, constant or all-non-finite arrays are stored losslessly. Interp chunks
 * decode to the bits of Python's chunk of the same array; linear and separable chunks keep
 * the bound and decode to the same bits with every decoder, but their float projection may
 * round a latent differently from numpy's (docs/format.md). */
PHC_API int phc_chunk_encode(const void *x, int dtype, int ndim, const uint64_t *shape, const phc_model *model,
                     const char *model_id, double abs_bound, double rel_bound, int threads, void *dst, size_t cap,
                     size_t *written, char *err, size_t errlen);

#ifdef __cplusplus
}
#endif
#endif
