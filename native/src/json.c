#include "json.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define MAX_DEPTH 32

typedef struct {
    const char *p, *end;
} cursor;

static void skip_ws(cursor *c) {
    while (c->p < c->end && (*c->p == ' ' || *c->p == '\t' || *c->p == '\n' || *c->p == '\r')) c->p++;
}

static int parse_string(cursor *c, const char **s, size_t *len) {
    if (c->p >= c->end || *c->p != '"') return -1;
    const char *start = ++c->p;
    while (c->p < c->end && *c->p != '"') {
        if ((unsigned char)*c->p < 0x20) return -1;
        if (*c->p == '\\') {
            if (++c->p >= c->end) return -1;
        }
        c->p++;
    }
    if (c->p >= c->end) return -1;
    *s = start;
    *len = (size_t)(c->p - start);
    c->p++;
    return 0;
}

static int parse_value(cursor *c, phc_json *v, int depth);

static int push(phc_json *v, size_t *cap, int object) {
    if (v->n == *cap) {
        size_t nc = *cap ? *cap * 2 : 8;
        phc_json *k = realloc(v->kids, nc * sizeof *k);
        if (!k) return -1;
        v->kids = k;
        if (object) {
            const char **ks = realloc(v->keys, nc * sizeof *ks);
            if (!ks) return -1;
            v->keys = ks;
            size_t *kl = realloc(v->keylen, nc * sizeof *kl);
            if (!kl) return -1;
            v->keylen = kl;
        }
        *cap = nc;
    }
    memset(&v->kids[v->n], 0, sizeof v->kids[0]);
    return 0;
}

static int parse_value(cursor *c, phc_json *v, int depth) {
    memset(v, 0, sizeof *v);
    if (depth > MAX_DEPTH) return -1;
    skip_ws(c);
    if (c->p >= c->end) return -1;
    const char ch = *c->p;
    if (ch == '{' || ch == '[') {
        const int object = ch == '{';
        v->type = object ? PHC_JOBJ : PHC_JARR;
        c->p++;
        size_t cap = 0;
        skip_ws(c);
        if (c->p < c->end && *c->p == (object ? '}' : ']')) {
            c->p++;
            return 0;
        }
        for (;;) {
            if (push(v, &cap, object)) return -1;
            if (object) {
                skip_ws(c);
                if (parse_string(c, &v->keys[v->n], &v->keylen[v->n])) return -1;
                skip_ws(c);
                if (c->p >= c->end || *c->p != ':') return -1;
                c->p++;
            }
            v->n++; /* counted before parsing, so a failure frees what the item allocated */
            if (parse_value(c, &v->kids[v->n - 1], depth + 1)) return -1;
            skip_ws(c);
            if (c->p >= c->end) return -1;
            if (*c->p == ',') {
                c->p++;
                continue;
            }
            if (*c->p != (object ? '}' : ']')) return -1;
            c->p++;
            return 0;
        }
    }
    if (ch == '"') {
        v->type = PHC_JSTR;
        return parse_string(c, &v->str, &v->len);
    }
    static const char *words[] = {"true", "false", "null", "NaN", "Infinity", "-Infinity"};
    for (int i = 0; i < 6; i++) {
        const size_t l = strlen(words[i]);
        if ((size_t)(c->end - c->p) >= l && !memcmp(c->p, words[i], l)) {
            c->p += l;
            v->type = i < 2 ? PHC_JBOOL : i == 2 ? PHC_JNULL : PHC_JNUM;
            v->num = i == 0 ? 1 : i < 3 ? 0 : i == 3 ? NAN : i == 4 ? INFINITY : -INFINITY;
            return 0;
        }
    }
    /* a number: copy its characters (bounded) and let strtod read them */
    char buf[64];
    size_t k = 0;
    while (c->p < c->end && k < sizeof buf - 1 && strchr("+-0123456789.eE", *c->p) && *c->p) buf[k++] = *c->p++;
    if (!k || k == sizeof buf - 1) return -1;
    buf[k] = 0;
    char *endp;
    v->num = strtod(buf, &endp);
    if (*endp) return -1;
    v->type = PHC_JNUM;
    return 0;
}

int phc_json_parse(const char *text, size_t n, phc_json *root) {
    cursor c = {text, text + n};
    if (parse_value(&c, root, 0)) return -1;
    skip_ws(&c);
    return c.p == c.end ? 0 : -1;
}

void phc_json_free(phc_json *v) {
    for (size_t i = 0; i < v->n; i++) phc_json_free(&v->kids[i]);
    free(v->kids);
    free(v->keys);
    free(v->keylen);
    memset(v, 0, sizeof *v);
}

const phc_json *phc_json_get(const phc_json *obj, const char *key) {
    if (!obj || obj->type != PHC_JOBJ) return NULL;
    const size_t l = strlen(key);
    for (size_t i = obj->n; i-- > 0;) /* the last of repeated keys, as Python's json keeps */
        if (obj->keylen[i] == l && !memcmp(obj->keys[i], key, l)) return &obj->kids[i];
    return NULL;
}

int phc_json_is_str(const phc_json *v, const char *s) {
    return v && v->type == PHC_JSTR && v->len == strlen(s) && !memcmp(v->str, s, v->len);
}

int phc_json_int(const phc_json *v, int64_t lo, int64_t hi, int64_t *out) {
    if (!v || v->type != PHC_JNUM || !(v->num >= (double)lo && v->num <= (double)hi) || v->num != floor(v->num))
        return -1;
    *out = (int64_t)v->num;
    return 0;
}
