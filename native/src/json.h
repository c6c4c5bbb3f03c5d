/* A small JSON reader for model headers (docs/format.md, "Model container"): a tree of
 * nodes, depth-limited, every length checked. Only what the decoder needs is looked up. */
#ifndef PHC_JSON_H
#define PHC_JSON_H

#include <stddef.h>
#include <stdint.h>

enum { PHC_JNULL, PHC_JBOOL, PHC_JNUM, PHC_JSTR, PHC_JARR, PHC_JOBJ };

typedef struct phc_json {
    int type;
    double num;
    const char *str; /* JSON string (escapes kept as written), not NUL-terminated */
    size_t len;
    struct phc_json *kids; /* array items, or object values */
    const char **keys;     /* object keys (raw), keylen their lengths */
    size_t *keylen;
    size_t n;
} phc_json;

/* Parses text[0..n) into *root; 0 on success (free with phc_json_free even on failure). */
int phc_json_parse(const char *text, size_t n, phc_json *root);
void phc_json_free(phc_json *root);
const phc_json *phc_json_get(const phc_json *obj, const char *key); /* NULL: absent or not an object */
int phc_json_is_str(const phc_json *v, const char *s);
/* an integral number within [lo, hi] into *out; 0 on success */
int phc_json_int(const phc_json *v, int64_t lo, int64_t hi, int64_t *out);

#endif
