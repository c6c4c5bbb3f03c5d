/* libzstd resolved at run time (dlopen of libzstd.so.1), so hosts need no zstd headers and
 * the library links nothing beyond libc: Debian ships libzstd1 on every system (apt needs
 * it), while libzstd-dev is rarely installed. */
#ifndef PHC_ZSTD_RT_H
#define PHC_ZSTD_RT_H

#include <stddef.h>

#include "phcomp_codec.h" /* PHC_API */

/* ZSTD_compressBound(n): the most a frame of n bytes of content takes */
size_t phc_zstd_bound(size_t n);
/* One frame, content size declared (what phcomp's Python encoder writes); 0, or -1 with err. */
int phc_zstd_compress(void *dst, size_t cap, const void *src, size_t n, int level, size_t *written, char *err,
                      size_t errlen);
/* Decompresses one frame that must declare exactly `expected` bytes of content, the frame's
 * declared size checked against what `n` bytes can hold before anything is written.
 * 0 on success; otherwise a message in err. phc_zstd_check: only the checks (call before
 * allocating `expected` bytes). */
int phc_zstd_check(size_t expected, const void *src, size_t n, const char *what, char *err, size_t errlen);
PHC_API int phc_zstd_decompress(void *dst, size_t expected, const void *src, size_t n, const char *what,
                                char *err, size_t errlen);

#endif
