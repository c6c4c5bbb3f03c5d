/* Zeroed memory for the big per-chunk arrays (the interpolation lattices and per-target arrays). */
#ifndef PHC_PAGES_H
#define PHC_PAGES_H

#include <stddef.h>

/* n * size zero bytes (aligned as malloc's), or NULL (also when n * size overflows) */
void *phc_pages_zeroed(size_t n, size_t size);
/* n * size bytes (zeroed if `zero`): malloc's or calloc's below 32 MiB, where reusing freed heap
 * memory beats fresh pages; fresh huge pages (phc_pages_zeroed) above, where malloc would map
 * fresh pages anyway. For arrays made again on every call of a loop over chunks. */
void *phc_pages_get(size_t n, size_t size, int zero);
/* frees what phc_pages_zeroed or phc_pages_get returned (NULL is fine) */
void phc_pages_free(void *p);

#endif
