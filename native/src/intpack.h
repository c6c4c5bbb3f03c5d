/* Packed ints (docs/format.md, "Packed ints"; phcomp/core/intpack.py) read in C. */
#ifndef PHC_INTPACK_H
#define PHC_INTPACK_H

#include <stddef.h>
#include <stdint.h>

#include "bytes.h"

/* u8 width, u64 count (at most max, checked before anything is allocated), blob of one zstd
 * frame: *out (malloc'ed, free it) gets the count values sign-extended to int64. */
int phc_unpack_ints(phc_reader *r, uint64_t max, int64_t **out, uint64_t *count, const char *what, char *err,
                    size_t errlen);

/* A range-coded stream as written by rangecoder.write_stream: u64 W, W little-endian words,
 * then the escape list (packed ints, at most max_esc). *words and *esc are malloc'ed. */
int phc_read_stream(phc_reader *r, uint64_t max_esc, uint32_t **words, uint64_t *nwords, int64_t **esc,
                    uint64_t *nesc, char *err, size_t errlen);

/* The message and PHC_ECORRUPT for a phc_decode_value / phc_decode_i32 failure code. */
int phc_stream_error(int rc, char *err, size_t errlen);

#endif
