/* GCC vector types for the kernels written in vector form (decoder_int.c, transform_encode.c):
 * four doubles, which the AVX2 clones run as one register and the baseline as two. */
#ifndef PHC_VEC_H
#define PHC_VEC_H

#include <stdint.h>

typedef double v4 __attribute__((vector_size(32)));
typedef double v4u __attribute__((vector_size(32), aligned(8))); /* an unaligned load or store */
typedef int64_t v4l __attribute__((vector_size(32)));             /* compare results, bit masks */

#endif
