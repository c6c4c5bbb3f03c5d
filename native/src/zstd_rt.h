/* libzstd resolved at run time (dlopen of libzstd.so.1), so hosts need no zstd headers and
 * the library links nothing beyond libc: Debian ships libzstd1 on every system (apt needs
 * it), while libzstd-dev is rarely installed. */
#ifndef PHC_ZSTD_RT_H
#define PHC_ZSTD_RT_H

#include <stddef.h>

/* Decompresses one frame that must declare exactly `expected` bytes of content, the frame's
 * declared size checked against what `n` bytes can hold before anything is written.
 * 0 on success; otherwise a message in err. */
/* Only the checks (call before allocating `expected` bytes). */
int phc_zstd_check(size_t expected, const void *src, size_t n, const char *what, char *err, size_t errlen);
int phc_zstd_decompress(void *dst, size_t expected, const void *src, size_t n, const char *what, char *err,
                        size_t errlen);

#endif
