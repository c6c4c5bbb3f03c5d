/* zlib's CRC-32 of p[0..n), the chunk format's trailer. */
#ifndef PHC_CRC32_H
#define PHC_CRC32_H

#include <stddef.h>
#include <stdint.h>

uint32_t phc_crc32(const uint8_t *p, size_t n);

#endif
