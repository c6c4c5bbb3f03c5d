/*
 * phcomp HDF5 filter plugin (filter id 418, provisional: HDF5's testing range).
 *
 * Loaded by any HDF5 host through HDF5_PLUGIN_PATH (h5dump, h5py without `import phcomp`,
 * netCDF-C, ParaView...). It links neither libhdf5 nor libpython:
 *  - HDF5 functions are found at run time: first in the global namespace (h5dump links
 *    libhdf5 normally), else in the library that called H5PLget_plugin_info (h5py loads its
 *    bundled HDF5 with RTLD_LOCAL), found with dladdr on our return address;
 *  - decoding of every chunk (lossless, interp, and the transform kinds: linear, separable,
 *    sparse-ae, ved) runs in-process with the native codec (native/, the same sources as the
 *    Python package), the model read from the file's /_phcomp/models/<id> (or a .phcm file in
 *    PHCOMP_MODEL_PATH, the user cache, the package's zoo): no Python needed;
 *  - encoding runs in-process too for lossless datasets and for interp, linear and separable
 *    models (named in the options, or the shipped default), when no observables are asked
 *    for (native_encode: phc_chunk_encode);
 *  - everything else (encoding with the MLP kinds, observables, big-endian writes, a dtype
 *    conversion on read) runs in a helper
 *    process (`python -m phcomp.hdf5_helper`), started on first use and fed over a socket, so
 *    a failure there can never crash the host. The interpreter is PHCOMP_PYTHON, else the one
 *    that built this plugin.
 * Every failure is reported on stderr ("phcomp HDF5 plugin: ...") and returned to HDF5 as a
 * filter failure; nothing is ever written raw silently (set_local makes the filter mandatory).
 *
 * cd_values and the chunk bytes are those of phcomp/hdf5.py (see docs/format.md).
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "model_paths.h"
#include "phcomp_codec.h"

#ifndef PHCOMP_PYTHON_DEFAULT
#define PHCOMP_PYTHON_DEFAULT "python3"
#endif

#define PHCOMP_FILTER_ID 418
#define CD_VERSION 1
#define H5Z_FLAG_REVERSE 0x0100u
#define H5Z_FLAG_MANDATORY 0x0000u
#define H5T_FLOAT 1
#define H5T_ORDER_BE 1
#define H5F_OBJ_FILE 0x0001u
#define H5F_OBJ_ALL 0x001Fu
#define MAX_CD 256
#define MAX_FILES 64

typedef int64_t hid_t;
typedef int herr_t;
typedef int htri_t;
typedef int H5Z_filter_t;
typedef htri_t (*can_apply_t)(hid_t, hid_t, hid_t);
typedef herr_t (*set_local_t)(hid_t, hid_t, hid_t);
typedef size_t (*filter_t)(unsigned, size_t, const unsigned[], size_t, size_t *, void **);

/* H5Z_class2_t: 48 bytes in HDF5 1.10 and 2.0 */
typedef struct {
    int version;
    H5Z_filter_t id;
    unsigned encoder_present;
    unsigned decoder_present;
    const char *name;
    can_apply_t can_apply;
    set_local_t set_local;
    filter_t filter;
} H5Z_class2_t;

static struct {
    void *(*allocate_memory)(size_t, _Bool);
    herr_t (*free_memory)(void *);
    herr_t (*pget_filter_by_id2)(hid_t, H5Z_filter_t, unsigned *, size_t *, unsigned[], size_t, char[], unsigned *);
    herr_t (*pmodify_filter)(hid_t, H5Z_filter_t, unsigned, size_t, const unsigned[]);
    int (*pget_chunk)(hid_t, int, uint64_t[]);
    int (*tget_class)(hid_t);
    size_t (*tget_size)(hid_t);
    int (*tget_order)(hid_t);
    ssize_t (*fget_obj_count)(hid_t, unsigned);
    ssize_t (*fget_obj_ids)(hid_t, unsigned, size_t, hid_t *);
    ssize_t (*fget_name)(hid_t, char *, size_t);
    htri_t (*lexists)(hid_t, const char *, hid_t);
    hid_t (*dopen2)(hid_t, const char *, hid_t);
    hid_t (*dget_space)(hid_t);
    hid_t (*dget_type)(hid_t);
    int64_t (*sget_npoints)(hid_t);
    herr_t (*dread)(hid_t, hid_t, hid_t, hid_t, hid_t, void *);
    herr_t (*dclose)(hid_t);
    herr_t (*sclose)(hid_t);
    herr_t (*tclose)(hid_t);
    int ready;
} h5;

static void *hdf5_handle = NULL; /* library that loaded us, when not global */
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pid_t helper_pid = -1;
static int helper_fd = -1;

static void report(const char *what) { fprintf(stderr, "phcomp HDF5 plugin: %s\n", what); }

static void *find_symbol(const char *name) {
    void *p = dlsym(RTLD_DEFAULT, name);
    if (!p && hdf5_handle) p = dlsym(hdf5_handle, name);
    return p;
}

static int load_hdf5(void) {
    if (h5.ready) return 0;
#define LOAD(field, sym)                                            \
    do {                                                            \
        *(void **)(&h5.field) = find_symbol(sym);                   \
        if (!h5.field) {                                            \
            report("HDF5 function " sym " not found in the host");  \
            return -1;                                              \
        }                                                           \
    } while (0)
    LOAD(allocate_memory, "H5allocate_memory");
    LOAD(free_memory, "H5free_memory");
    LOAD(pget_filter_by_id2, "H5Pget_filter_by_id2");
    LOAD(pmodify_filter, "H5Pmodify_filter");
    LOAD(pget_chunk, "H5Pget_chunk");
    LOAD(tget_class, "H5Tget_class");
    LOAD(tget_size, "H5Tget_size");
    LOAD(tget_order, "H5Tget_order");
    LOAD(fget_obj_count, "H5Fget_obj_count");
    LOAD(fget_obj_ids, "H5Fget_obj_ids");
    LOAD(fget_name, "H5Fget_name");
    LOAD(lexists, "H5Lexists");
    LOAD(dopen2, "H5Dopen2");
    LOAD(dget_space, "H5Dget_space");
    LOAD(dget_type, "H5Dget_type");
    LOAD(sget_npoints, "H5Sget_simple_extent_npoints");
    LOAD(dread, "H5Dread");
    LOAD(dclose, "H5Dclose");
    LOAD(sclose, "H5Sclose");
    LOAD(tclose, "H5Tclose");
#undef LOAD
    h5.ready = 1;
    return 0;
}

/* ---- helper process ------------------------------------------------------------------- */

static void stop_helper(void) {
    if (helper_fd >= 0) close(helper_fd);
    helper_fd = -1;
    if (helper_pid > 0) waitpid(helper_pid, NULL, 0);
    helper_pid = -1;
}

static int start_helper(void) {
    int sv[2];
    if (helper_fd >= 0) return 0;
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0) {
        report("cannot create a socket for the codec helper");
        return -1;
    }
    const char *py = getenv("PHCOMP_PYTHON");
    if (!py || !*py) py = PHCOMP_PYTHON_DEFAULT;
    pid_t pid = fork();
    if (pid < 0) {
        close(sv[0]);
        close(sv[1]);
        report("cannot start the codec helper (fork failed)");
        return -1;
    }
    if (pid == 0) {
        dup2(sv[1], 0);
        dup2(sv[1], 1);
        setenv("PHCOMP_EMBEDDED", "1", 1);
        setenv("HDF5_USE_FILE_LOCKING", "FALSE", 1); /* it reads models from files the host has open */
        unsetenv("HDF5_PLUGIN_PATH");
        execlp(py, py, "-m", "phcomp.hdf5_helper", (char *)NULL);
        fprintf(stderr, "phcomp HDF5 plugin: cannot run %s (set PHCOMP_PYTHON): %s\n", py, strerror(errno));
        _exit(127);
    }
    close(sv[1]);
    helper_fd = sv[0];
    helper_pid = pid;
    return 0;
}

static int send_all(const void *buf, size_t n) {
    const char *p = buf;
    while (n) {
        ssize_t k = send(helper_fd, p, n, MSG_NOSIGNAL);
        if (k < 0 && errno == EINTR) continue;
        if (k <= 0) return -1;
        p += k;
        n -= (size_t)k;
    }
    return 0;
}

static int recv_all(void *buf, size_t n) {
    char *p = buf;
    while (n) {
        ssize_t k = recv(helper_fd, p, n, 0);
        if (k < 0 && errno == EINTR) continue;
        if (k <= 0) return -1;
        p += k;
        n -= (size_t)k;
    }
    return 0;
}

/* Names of the files open in the host: the helper looks for models stored inside them. */
static size_t open_files(char names[MAX_FILES][4096]) {
    hid_t ids[MAX_FILES];
    ssize_t n = h5.fget_obj_ids((hid_t)H5F_OBJ_ALL, H5F_OBJ_FILE, MAX_FILES, ids);
    size_t k = 0;
    for (ssize_t i = 0; i < n && k < MAX_FILES; i++)
        if (h5.fget_name(ids[i], names[k], 4096) > 0) k++;
    return k;
}

/* Request: u8 op, u32 ncd, ncd*u32, u32 nfiles, nfiles*(u32 len, bytes), u64 n, n bytes.
   Reply: u8 status (0 ok), u64 n, n bytes (the result, or an error message). */
static int call_helper(uint8_t op, size_t ncd, const unsigned cd[], const void *in, size_t n, char **out, uint64_t *out_n) {
    static char names[MAX_FILES][4096];
    uint32_t u32;
    uint64_t u64;
    uint8_t status;
    size_t nfiles = open_files(names);
    for (int attempt = 0; attempt < 2; attempt++) {
        if (start_helper() < 0) return -1;
        int ok = send_all(&op, 1) == 0;
        u32 = (uint32_t)ncd;
        ok = ok && send_all(&u32, 4) == 0;
        for (size_t i = 0; ok && i < ncd; i++) {
            u32 = cd[i];
            ok = send_all(&u32, 4) == 0;
        }
        u32 = (uint32_t)nfiles;
        ok = ok && send_all(&u32, 4) == 0;
        for (size_t i = 0; ok && i < nfiles; i++) {
            u32 = (uint32_t)strlen(names[i]);
            ok = send_all(&u32, 4) == 0 && send_all(names[i], u32) == 0;
        }
        u64 = n;
        ok = ok && send_all(&u64, 8) == 0 && send_all(in, n) == 0;
        ok = ok && recv_all(&status, 1) == 0 && recv_all(&u64, 8) == 0;
        if (!ok) { /* helper gone (first use failed, or it died): restart once */
            stop_helper();
            continue;
        }
        char *buf = malloc(u64 ? u64 : 1);
        if (!buf || recv_all(buf, u64) < 0) {
            free(buf);
            stop_helper();
            report("lost the codec helper while reading its answer");
            return -1;
        }
        if (status != 0) {
            fprintf(stderr, "phcomp HDF5 plugin: %.*s\n", (int)u64, buf);
            free(buf);
            return -1;
        }
        *out = buf;
        *out_n = u64;
        return 0;
    }
    report("the codec helper could not be started (is phcomp installed for PHCOMP_PYTHON?)");
    return -1;
}

/* ---- in-process decoding (native codec) -------------------------------------------------- */

#define MAX_MODELS 16
static struct {
    char id[17];
    phc_model *model;
} models[MAX_MODELS];
static int nmodels = 0;
static char foreign[MAX_MODELS][17]; /* ids of models of kinds not coded natively (the helper's) */
static int nforeign = 0;


/* /_phcomp/models/<id> of an open file (a uint8 dataset holding the container) */
static int read_model_dataset(hid_t file, const char *id, uint8_t **data, size_t *n) {
    char path[64];
    snprintf(path, sizeof path, "/_phcomp/models/%s", id);
    if (h5.lexists(file, "/_phcomp", 0) <= 0 || h5.lexists(file, "/_phcomp/models", 0) <= 0 ||
        h5.lexists(file, path, 0) <= 0)
        return -1;
    hid_t d = h5.dopen2(file, path, 0);
    if (d < 0) return -1;
    int rc = -1;
    hid_t sp = h5.dget_space(d), ty = h5.dget_type(d);
    int64_t count = sp >= 0 ? h5.sget_npoints(sp) : -1;
    if (count > 0 && count < (4LL << 30) && ty >= 0 && (*data = malloc((size_t)count))) {
        if (h5.dread(d, ty, 0, 0, 0, *data) >= 0) { /* H5S_ALL, H5S_ALL, H5P_DEFAULT */
            *n = (size_t)count;
            rc = 0;
        } else {
            free(*data);
        }
    }
    if (ty >= 0) h5.tclose(ty);
    if (sp >= 0) h5.sclose(sp);
    h5.dclose(d);
    return rc;
}

/* the model of a chunk: cached, else found where the Python package looks (and in open files);
   when it is missing, where it looked goes to `missing` (when given) */
static phc_model *find_model(const char *id, char *missing, size_t mlen) {
    for (int i = 0; i < nmodels; i++)
        if (!strcmp(models[i].id, id)) return models[i].model;
    for (int i = 0; i < nforeign; i++)
        if (!strcmp(foreign[i], id)) return NULL;
    char searched[8192] = "", err[512];
    uint8_t *data = NULL;
    size_t n = 0;
    Dl_info self; /* the zoo is beside <package>/hdf5_plugin/lib*.so */
    const char *lib = dladdr((void *)report, &self) ? self.dli_fname : NULL;
    phc_model_file_read(id, lib, &data, &n, searched, sizeof searched);
    if (!data) {
        hid_t ids[MAX_FILES];
        ssize_t nf = h5.fget_obj_ids((hid_t)H5F_OBJ_ALL, H5F_OBJ_FILE, MAX_FILES, ids);
        for (ssize_t i = 0; i < nf && !data; i++) read_model_dataset(ids[i], id, &data, &n);
        /* the ids are the host's own (H5Fget_obj_ids does not add references): never closed here */
        size_t l = strlen(searched);
        snprintf(searched + l, sizeof searched - l, ", /_phcomp/models/%s in the HDF5 files open in this program", id);
    }
    if (!data) {
        if (missing) snprintf(missing, mlen, "phcomp HDF5 plugin: model %s not found; looked in %s\n", id, searched);
        return NULL;
    }
    phc_model *m = NULL;
    const int rc = phc_model_new(&m, data, n, err, sizeof err);
    if (rc == PHC_EUNSUPPORTED && nforeign < MAX_MODELS) snprintf(foreign[nforeign++], 17, "%s", id);
    if (rc && rc != PHC_EUNSUPPORTED) fprintf(stderr, "phcomp HDF5 plugin: model %s: %s\n", id, err);
    free(data);
    if (m && nmodels < MAX_MODELS) {
        snprintf(models[nmodels].id, sizeof models[nmodels].id, "%s", id);
        models[nmodels++].model = m;
    }
    return m; /* beyond MAX_MODELS the model is loaded per chunk (and leaked no more than that chunk) */
}

static int codec_threads(void) { /* per chunk, encoding and decoding */
    const char *t = getenv("PHCOMP_THREADS");
    long v = t && *t ? strtol(t, NULL, 10) : sysconf(_SC_NPROCESSORS_ONLN);
    return v < 1 ? 1 : v > 256 ? 256 : (int)v;
}

/* Decodes *buf in-process (every mode; the model found as find_model finds it); 1: done
   (result in *buf), 0: not handled here (a dtype conversion, or a model of a decoder type the
   native codec does not know: the helper decodes it), -1: failed (reported). */
static int native_decode(size_t ncd, const unsigned cd[], size_t nbytes, size_t *buf_size, void **buf, size_t *out_n,
                         char *missing, size_t mlen) {
    phc_chunk_info info;
    char err[512];
    if (phc_chunk_inspect(*buf, nbytes, &info, err, sizeof err)) {
        fprintf(stderr, "phcomp HDF5 plugin: %s\n", err);
        return -1;
    }
    if (ncd < 9 || cd[0] != CD_VERSION) return 0;
    const size_t base = 9 + (cd[8] + 3) / 4;
    if (base + 3 > ncd) return 0;
    const int ds_size = cd[base] == 1 ? 4 : 8, ds_be = cd[base + 1] == 1;
    if ((info.dtype != 1 && info.dtype != 2) || info.itemsize != ds_size) return 0; /* a conversion: Python does it */
    const size_t out_bytes = (size_t)info.nvalues * (size_t)info.itemsize;
    phc_model *m = NULL;
    if (info.mode != 0) {
        pthread_mutex_lock(&lock);
        m = find_model(info.model_id, missing, mlen);
        pthread_mutex_unlock(&lock);
        /* not found here, or of a decoder type the native codec does not know: the helper may
           know more places (files named by the host, a newer phcomp) */
        if (!m) return 0;
    }
    void *dst = h5.allocate_memory(out_bytes ? out_bytes : 1, 0);
    if (!dst) {
        report("H5allocate_memory failed");
        return -1;
    }
    int rc = phc_chunk_decode(*buf, nbytes, m, dst, out_bytes, codec_threads(), err, sizeof err);
    if (rc) {
        fprintf(stderr, "phcomp HDF5 plugin: %s\n", err);
        h5.free_memory(dst);
        return -1;
    }
    if (ds_be) { /* the dataset is big-endian: the chunk bytes are in its order */
        uint8_t *b = dst;
        for (size_t i = 0; i < out_bytes; i += (size_t)ds_size)
            for (int k = 0; k < ds_size / 2; k++) {
                uint8_t t = b[i + (size_t)k];
                b[i + (size_t)k] = b[i + (size_t)ds_size - 1 - (size_t)k];
                b[i + (size_t)ds_size - 1 - (size_t)k] = t;
            }
    }
    h5.free_memory(*buf);
    *buf = dst;
    *buf_size = out_bytes;
    *out_n = out_bytes;
    return 1;
}

static double cd_f64(const unsigned lo, const unsigned hi) {
    const uint64_t u = (uint64_t)lo | ((uint64_t)hi << 32);
    double d;
    memcpy(&d, &u, 8);
    return d;
}

/* Encodes *buf in-process when the native codec can (phc_chunk_encode: lossless, or an interp,
   linear or separable model named in cd_values or the shipped default; no observables; a
   little-endian dataset); 1: done, 0: not handled here (the helper encodes it: MLP kinds,
   checks), -1: failed. */
static int native_encode(size_t ncd, const unsigned cd[], size_t nbytes, size_t *buf_size, void **buf, size_t *out_n) {
    if (ncd < 9 || cd[0] != CD_VERSION || cd[8] != 0) return 0; /* observables: Python checks them */
    const size_t base = 9;
    if (base + 3 > ncd || base + 3 + cd[base + 2] > ncd || cd[base + 2] > 8 || cd[base + 1] != 0) return 0;
    const int dtype = cd[base] == 1 ? PHC_FLOAT32 : PHC_FLOAT64, nd = (int)cd[base + 2];
    uint64_t shape[8], nv = 1;
    for (int i = 0; i < nd; i++) nv *= shape[i] = cd[base + 3 + i];
    if (nv * (uint64_t)(dtype == PHC_FLOAT32 ? 4 : 8) != nbytes) return 0;
    const double a = cd[1] & 1 ? cd_f64(cd[2], cd[3]) : -1.0, r = cd[1] & 2 ? cd_f64(cd[4], cd[5]) : -1.0;
    char id[17] = "";
    for (int i = 0; i < 8; i++) snprintf(id + 2 * i, 3, "%02x", (cd[6 + i / 4] >> (8 * (i % 4))) & 0xFFu);
    phc_model *m = NULL;
    if (!(a == 0 || r == 0)) { /* a bounded chunk: the named model (or the shipped default) if it is native */
        Dl_info self;
        if (!strcmp(id, "0000000000000000") &&
            (!dladdr((void *)report, &self) || phc_default_model_id(self.dli_fname, "field", id)))
            return 0;
        pthread_mutex_lock(&lock);
        m = find_model(id, NULL, 0);
        pthread_mutex_unlock(&lock);
        if (!m || !phc_model_encodes(m)) return 0; /* not found or not native: the helper reports or encodes */
    }
    const size_t cap = phc_chunk_bound(dtype, nd, shape);
    void *dst = cap ? h5.allocate_memory(cap, 0) : NULL;
    if (!dst) {
        report("H5allocate_memory failed");
        return -1;
    }
    char err[512];
    size_t written = 0;
    if (phc_chunk_encode(*buf, dtype, nd, shape, m, id, a, r, codec_threads(), dst, cap, &written, err, sizeof err)) {
        fprintf(stderr, "phcomp HDF5 plugin: %s\n", err);
        h5.free_memory(dst);
        return -1;
    }
    h5.free_memory(*buf);
    *buf = dst;
    *buf_size = cap;
    *out_n = written;
    return 1;
}

/* ---- filter callbacks --------------------------------------------------------------- */

static htri_t can_apply(hid_t dcpl, hid_t type, hid_t space) {
    (void)dcpl;
    (void)space;
    if (load_hdf5() < 0) return -1;
    if (h5.tget_class(type) != H5T_FLOAT || (h5.tget_size(type) != 4 && h5.tget_size(type) != 8)) {
        report("phcomp compresses float32 and float64 datasets only");
        return -1; /* an error, not 0: an optional filter refused with 0 would be skipped silently */
    }
    return 1;
}

static herr_t set_local(hid_t dcpl, hid_t type, hid_t space) {
    (void)space;
    unsigned flags = 0, cd[MAX_CD], config = 0;
    size_t ncd = MAX_CD;
    char name[64];
    uint64_t dims[32];
    if (load_hdf5() < 0) return -1;
    if (h5.pget_filter_by_id2(dcpl, PHCOMP_FILTER_ID, &flags, &ncd, cd, sizeof name, name, &config) < 0) return -1;
    if (ncd < 9 || cd[0] != CD_VERSION) {
        report("filter options missing or of an unknown version; create datasets with phcomp.hdf5.Phcomp");
        return -1;
    }
    size_t base = 9 + (cd[8] + 3) / 4; /* after the observables JSON words */
    int ndim = h5.pget_chunk(dcpl, 32, dims);
    if (ndim < 1 || base > ncd || base + 3 + (size_t)ndim > MAX_CD) {
        report("the phcomp filter needs a chunked dataset (and options that fit in cd_values)");
        return -1;
    }
    cd[base] = h5.tget_size(type) == 4 ? 1 : 2;
    cd[base + 1] = h5.tget_order(type) == H5T_ORDER_BE ? 1 : 0;
    cd[base + 2] = (unsigned)ndim;
    for (int i = 0; i < ndim; i++) cd[base + 3 + i] = (unsigned)dims[i];
    return h5.pmodify_filter(dcpl, PHCOMP_FILTER_ID, H5Z_FLAG_MANDATORY, base + 3 + (size_t)ndim, cd);
}

static size_t filter(unsigned flags, size_t ncd, const unsigned cd[], size_t nbytes, size_t *buf_size, void **buf) {
    char *out = NULL;
    uint64_t out_n = 0;
    if (load_hdf5() < 0) return 0;
    size_t n = 0;
    char missing[8192] = "";
    const int done = (flags & H5Z_FLAG_REVERSE) ? native_decode(ncd, cd, nbytes, buf_size, buf, &n, missing, sizeof missing)
                                                : native_encode(ncd, cd, nbytes, buf_size, buf, &n);
    if (done) return done > 0 ? n : 0;
    pthread_mutex_lock(&lock);
    int rc = call_helper((flags & H5Z_FLAG_REVERSE) ? 2 : 1, ncd, cd, *buf, nbytes, &out, &out_n);
    pthread_mutex_unlock(&lock);
    if (rc < 0) {
        if (missing[0]) fputs(missing, stderr); /* where the plugin itself looked, too */
        return 0;
    }
    void *dst = h5.allocate_memory(out_n ? out_n : 1, 0);
    if (!dst) {
        free(out);
        report("H5allocate_memory failed");
        return 0;
    }
    memcpy(dst, out, out_n);
    free(out);
    h5.free_memory(*buf);
    *buf = dst;
    *buf_size = out_n;
    return out_n;
}

static const H5Z_class2_t phcomp_class = {
    1, PHCOMP_FILTER_ID, 1, 1, "phcomp: learned error-bounded compression (provisional id)",
    can_apply, set_local, filter,
};

/* ---- plugin entry points ------------------------------------------------------------- */

__attribute__((visibility("default"))) int H5PLget_plugin_type(void) { return 0; /* H5PL_TYPE_FILTER */ }

__attribute__((visibility("default"))) const void *H5PLget_plugin_info(void) {
    Dl_info info;
    /* our caller is the HDF5 library that is loading us: remember it for dlsym */
    if (!hdf5_handle && dladdr(__builtin_return_address(0), &info) && info.dli_fname)
        hdf5_handle = dlopen(info.dli_fname, RTLD_LAZY | RTLD_NOLOAD);
    return &phcomp_class;
}

/* For hosts that register filters themselves (the hdf5plugin pattern): pass the path of a
   library that exports the HDF5 API (e.g. h5py.h5z.__file__). */
__attribute__((visibility("default"))) int init_filter(const char *libpath) {
    if (libpath && !hdf5_handle) hdf5_handle = dlopen(libpath, RTLD_LAZY | RTLD_NOLOAD);
    return hdf5_handle ? 0 : -1;
}

__attribute__((destructor)) static void phcomp_unload(void) { stop_helper(); }
