/* Zeroed memory for the big per-chunk arrays (the interpolation lattices and per-target arrays). */
#ifndef PHC_PAGES_H
#define PHC_PAGES_H

#include <stddef.h>

/* n * size zero bytes (aligned as malloc's), or NULL (also when n * size overflows) */
void *phc_pages_zeroed(size_t n, size_t size);
/* frees what phc_pages_zeroed returned (NULL is fine) */
void phc_pages_free(void *p);

#endif
