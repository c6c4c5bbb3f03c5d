/* zlib's CRC-32 (the chunk trailer, docs/format.md section 1). */
#include "crc32.h"

uint32_t phc_crc32(const uint8_t *p, size_t n) {
    static uint32_t table[256];
    static int ready = 0; /* benign race: every thread writes the same table */
    if (!ready) {
        for (uint32_t i = 0; i < 256; i++) {
            uint32_t c = i;
            for (int k = 0; k < 8; k++) c = c & 1 ? 0xEDB88320u ^ (c >> 1) : c >> 1;
            table[i] = c;
        }
        ready = 1;
    }
    uint32_t c = 0xFFFFFFFFu;
    for (size_t i = 0; i < n; i++) c = table[(c ^ p[i]) & 0xFF] ^ (c >> 8);
    return c ^ 0xFFFFFFFFu;
}

