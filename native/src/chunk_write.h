/* The chunk writer's pieces (native/src/chunk_write.c), shared by the encoders of every mode:
 * a growing byte string, packed ints, point lists, zstd frames, and the chunk's header,
 * section table and CRC. */
#ifndef PHC_CHUNK_WRITE_H
#define PHC_CHUNK_WRITE_H

#include <stddef.h>
#include <stdint.h>

enum { PHC_SEC_LATENT = 1, PHC_SEC_NONFINITE = 3, PHC_SEC_EXCEPTIONS = 4, PHC_SEC_RAW = 5, PHC_SEC_INTERP = 8 };
#define ZSTD_LEVEL 3       /* phcomp/core/intpack.py's level */
#define LOSSLESS_CHECK 0.5 /* a bounded chunk above this share of the raw size is compared to lossless */

static const int ITEMSIZE[11] = {0, 4, 8, 1, 2, 4, 8, 1, 2, 4, 8};

typedef struct { /* a growing byte string; `oom` set on the first failed growth */
    uint8_t *p;
    size_t n, cap;
    int oom;
} phc_buf;

typedef struct {
    int kind;
    phc_buf body;
} phc_section;

uint8_t *phc_w_room(phc_buf *b, size_t k);
void phc_w_put_le(phc_buf *b, uint64_t v, int k);
void phc_w_put_f64(phc_buf *b, double d);
void phc_w_put_raw(phc_buf *b, const void *p, size_t k);
int phc_w_put_frame(phc_buf *b, const void *src, size_t n, char *err, size_t errlen); /* one zstd frame */
int phc_w_put_zstd(phc_buf *b, const void *src, size_t n, char *err, size_t errlen);  /* u64 length + frame */
int phc_w_put_ints(phc_buf *b, const int64_t *v, size_t n, char *err, size_t errlen); /* packed ints */
int phc_w_put_points(phc_buf *b, const int64_t *pos, size_t n, const uint8_t *x, int isz, char *err, size_t errlen);
int phc_w_pack(phc_buf *out, int mode, int dtype, int ndim, const uint64_t *shape, const char *model_id, double eps,
               double mid, double half, double step, phc_section *sec, int nsec);
int phc_w_lossless(phc_buf *out, const void *x, int dtype, int ndim, const uint64_t *shape, uint64_t nv, char *err,
                   size_t errlen);

/* A chunk above LOSSLESS_CHECK of the raw size is replaced by the lossless chunk when that is
 * no larger (every lossy encoder ends here). */
int phc_w_lossless_if_smaller(phc_buf *out, const void *x, int dtype, int ndim, const uint64_t *shape, uint64_t nv,
                              char *err, size_t errlen);

#endif
