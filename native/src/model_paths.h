/* Where hosts without Python find model files by id: the directories phcomp's Python reader
 * searches (phcomp/core/model.py, search_dirs), in its order. */
#ifndef PHC_MODEL_PATHS_H
#define PHC_MODEL_PATHS_H

#include <stddef.h>
#include <stdint.h>

/* <package>/zoo for a host library installed as <package>/<subdir>/lib*.so (its path: lib);
 * 0 on success. */
int phc_zoo_dir(const char *lib, char *out, size_t len);

/* Reads the first of <dir>/<id>.phcm that exists into *data (malloc'ed, *n bytes), dir being
 * each PHCOMP_MODEL_PATH entry, the user cache ($XDG_CACHE_HOME or ~/.cache, then
 * phcomp/models), then the zoo beside lib. Every path tried is appended to searched
 * (", "-separated). 0: found; -1: none. */
int phc_model_file_read(const char *id, const char *lib, uint8_t **data, size_t *n, char *searched, size_t slen);

/* The id of the shipped default model for `role` ("field": what phcomp.compress uses without a
 * model), from <zoo>/index.json beside lib, into id (16 hex digits). 0, or -1. */
int phc_default_model_id(const char *lib, const char *role, char id[17]);

#endif
