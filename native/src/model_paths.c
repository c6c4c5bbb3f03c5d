/* Model files found by id without Python (model_paths.h). */
#define _POSIX_C_SOURCE 200809L /* strtok_r */
#include "model_paths.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"

int phc_zoo_dir(const char *lib, char *out, size_t len) {
    if (!lib || snprintf(out, len, "%s", lib) >= (int)len) return -1;
    for (int up = 0; up < 2; up++) { /* drop lib*.so, then <subdir> */
        char *slash = strrchr(out, '/');
        if (!slash) return -1;
        *slash = 0;
    }
    const size_t k = strlen(out);
    return snprintf(out + k, len - k, "/zoo") < (int)(len - k) ? 0 : -1;
}

static int read_file(const char *path, uint8_t **data, size_t *n) {
    FILE *f = fopen(path, "rb");
    if (!f) return -1;
    int rc = -1;
    if (fseek(f, 0, SEEK_END) == 0) {
        long len = ftell(f);
        if (len > 0 && len < (4L << 30) && fseek(f, 0, SEEK_SET) == 0 && (*data = malloc((size_t)len))) {
            if (fread(*data, 1, (size_t)len, f) == (size_t)len) {
                *n = (size_t)len;
                rc = 0;
            } else {
                free(*data);
                *data = NULL;
            }
        }
    }
    fclose(f);
    return rc;
}

int phc_model_file_read(const char *id, const char *lib, uint8_t **data, size_t *n, char *searched, size_t slen) {
    char dirs[8192] = "", path[4096];
    const char *mp = getenv("PHCOMP_MODEL_PATH"), *xdg = getenv("XDG_CACHE_HOME"), *home = getenv("HOME");
    char zoo[4096];
    const int have_zoo = !phc_zoo_dir(lib, zoo, sizeof zoo);
    char cache[4096] = "";
    if (xdg && *xdg) snprintf(cache, sizeof cache, "%s/phcomp/models", xdg);
    else if (home && *home) snprintf(cache, sizeof cache, "%s/.cache/phcomp/models", home);
    /* empty entries are skipped; a list longer than dirs is cut, and the message says so */
    const int cut = snprintf(dirs, sizeof dirs, "%s:%s:%s", mp ? mp : "", cache, have_zoo ? zoo : "") >= (int)sizeof dirs;
    *data = NULL;
    for (char *save = NULL, *d = strtok_r(dirs, ":", &save); d; d = strtok_r(NULL, ":", &save)) {
        snprintf(path, sizeof path, "%s/%s.phcm", d, id);
        const size_t l = strlen(searched);
        snprintf(searched + l, slen - l, "%s%s", l ? ", " : "", path);
        if (!read_file(path, data, n)) return 0;
    }
    if (cut) {
        const size_t l = strlen(searched);
        snprintf(searched + l, slen - l, " (the search list was cut at %zu bytes)", sizeof dirs - 1);
    }
    return -1;
}

int phc_default_model_id(const char *lib, const char *role, char id[17]) {
    char zoo[4096], path[4200];
    uint8_t *text = NULL;
    size_t n = 0;
    if (phc_zoo_dir(lib, zoo, sizeof zoo)) return -1;
    snprintf(path, sizeof path, "%s/index.json", zoo);
    if (read_file(path, &text, &n)) return -1;
    phc_json root;
    int rc = -1;
    if (!phc_json_parse((const char *)text, n, &root)) {
        const phc_json *v = phc_json_get(phc_json_get(&root, role), "id");
        if (v && v->type == PHC_JSTR && v->len == 16 && strspn(v->str, "0123456789abcdef") >= 16) {
            memcpy(id, v->str, 16);
            id[16] = 0;
            rc = 0;
        }
    }
    phc_json_free(&root);
    free(text);
    return rc;
}
