// Models for the ADIOS2 operator, found by id without Python, in the order phcomp's Python
// reader uses (phcomp/core/model.py): each PHCOMP_MODEL_PATH directory, the user cache
// ($XDG_CACHE_HOME or ~/.cache, then phcomp/models), the shipped zoo beside this library
// (native/src/model_paths.c, shared with the HDF5 plugin); then
// the phcomp-models/ folder of every BP output open in this process. That last place is how a
// BP output carries its model: the writer copies the model there (a BP "file" is a directory,
// so the model travels with it), and ADIOS2 stores no operator parameters to say where else.
// A model is trusted by the name it is found under (ids hash Python's canonical JSON, which C
// does not recompute; the Python reader checks them).
#include "model_store.h"

#include <dirent.h>
#include <dlfcn.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <map>
#include <memory>
#include <mutex>
#include <set>

extern "C" {
#include "json.h"
#include "model_paths.h"
}

namespace phcomp_adios2
{
namespace
{

struct Entry
{
    phc_model *model = nullptr;
    std::vector<unsigned char> bytes;
    std::string where;
};

std::mutex lock;
// never freed: ADIOS2 may run operators on its threads until the process exits
std::map<std::string, Entry *> &Cache()
{
    static auto *m = new std::map<std::string, Entry *>();
    return *m;
}
std::set<std::string> &Stored()
{
    static auto *s = new std::set<std::string>();
    return *s;
}

const char *SUFFIX = ".phcm";

bool IsFile(const std::string &p)
{
    struct stat st;
    return stat(p.c_str(), &st) == 0 && S_ISREG(st.st_mode);
}

bool ReadFile(const std::string &p, std::vector<unsigned char> &out)
{
    std::ifstream f(p, std::ios::binary);
    if (!f)
        return false;
    out.assign(std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>());
    return !f.bad();
}

std::string Dirname(const std::string &p)
{
    const auto k = p.rfind('/');
    return k == std::string::npos ? std::string(".") : p.substr(0, k);
}

std::string Basename(const std::string &p)
{
    const auto k = p.rfind('/');
    return k == std::string::npos ? p : p.substr(k + 1);
}

// this library's path: model files are searched beside it (the zoo) as phc_model_file_read does
const char *SelfPath()
{
    Dl_info info;
    return dladdr(reinterpret_cast<void *>(&SelfPath), &info) ? info.dli_fname : nullptr;
}

std::string ZooDir()
{
    char zoo[4096];
    return phc_zoo_dir(SelfPath(), zoo, sizeof zoo) ? std::string() : std::string(zoo);
}

// BP outputs open in this process: directories holding md.idx whose data or metadata files
// are open (the engine keeps them open from Open to Close)
std::vector<std::string> OpenOutputs()
{
    std::set<std::string> dirs;
    DIR *d = opendir("/proc/self/fd");
    if (!d)
        return {};
    while (struct dirent *e = readdir(d))
    {
        char target[4096];
        const std::string link = std::string("/proc/self/fd/") + e->d_name;
        const ssize_t n = readlink(link.c_str(), target, sizeof target - 1);
        if (n <= 0)
            continue;
        target[n] = 0;
        const std::string t(target), base = Basename(t);
        if (t[0] != '/' || !(base.rfind("data.", 0) == 0 || base.rfind("md.", 0) == 0 || base.rfind("mmd.", 0) == 0))
            continue;
        if (IsFile(Dirname(t) + "/md.idx"))
            dirs.insert(Dirname(t));
    }
    closedir(d);
    return std::vector<std::string>(dirs.begin(), dirs.end());
}

bool DefaultId(std::string &id, std::string &err)
{
    const std::string index = ZooDir() + "/index.json";
    std::vector<unsigned char> text;
    phc_json root;
    if (!ReadFile(index, text) || phc_json_parse(reinterpret_cast<const char *>(text.data()), text.size(), &root))
    {
        err = "no model given and the shipped index " + index + " is unreadable";
        return false;
    }
    const phc_json *v = phc_json_get(phc_json_get(&root, "field3d"), "id");
    if (v && v->type == PHC_JSTR)
        id.assign(v->str, v->len);
    phc_json_free(&root);
    if (!IsModelId(id))
    {
        err = "no model given and " + index + " names no \"field3d\" model";
        return false;
    }
    return true;
}

// loads bytes as model `id` into the cache (lock held)
bool Load(const std::string &id, std::vector<unsigned char> &&bytes, const std::string &where, Found &out,
          std::string &err)
{
    char msg[512] = "";
    phc_model *m = nullptr;
    if (phc_model_new(&m, bytes.data(), bytes.size(), msg, sizeof msg))
    {
        err = "model " + id + " from " + where + ": " + msg;
        return false;
    }
    auto *e = new Entry{m, std::move(bytes), where};
    Cache()[id] = e;
    out = Found{e->model, &e->bytes, id, where};
    return true;
}

} // namespace

bool IsModelId(const std::string &s)
{
    return s.size() == 16 && s.find_first_not_of("0123456789abcdef") == std::string::npos;
}

bool FindModel(const std::string &ref, Found &out, std::string &err)
{
    std::lock_guard<std::mutex> g(lock);
    std::string id = ref;
    if (ref.empty() && !DefaultId(id, err))
        return false;
    if (!IsModelId(id))
    { // a path: its name must be the id, as phcomp saves models (Model.save, install_model)
        std::string stem = Basename(ref);
        if (stem.size() > 5 && stem.compare(stem.size() - 5, 5, SUFFIX) == 0)
            stem.resize(stem.size() - 5);
        if (!IsModelId(stem))
        {
            err = "model " + ref + " is neither a model id (16 hex digits) nor a file named <id>.phcm";
            return false;
        }
        auto it = Cache().find(stem);
        if (it != Cache().end())
        {
            out = Found{it->second->model, &it->second->bytes, stem, it->second->where};
            return true;
        }
        std::vector<unsigned char> bytes;
        if (!ReadFile(ref, bytes))
        {
            err = "cannot read model file " + ref;
            return false;
        }
        return Load(stem, std::move(bytes), ref, out, err);
    }
    auto it = Cache().find(id);
    if (it != Cache().end())
    {
        out = Found{it->second->model, &it->second->bytes, id, it->second->where};
        return true;
    }
    char searched_c[8192] = "";
    uint8_t *data = nullptr;
    size_t n = 0;
    if (!phc_model_file_read(id.c_str(), SelfPath(), &data, &n, searched_c, sizeof searched_c))
    { // PHCOMP_MODEL_PATH, the user cache, the zoo: the Python reader's order
        std::vector<unsigned char> bytes(data, data + n);
        std::free(data);
        const std::string tried = searched_c; // the last path tried is the one found
        const auto k = tried.rfind(", ");
        return Load(id, std::move(bytes), k == std::string::npos ? tried : tried.substr(k + 2), out, err);
    }
    std::string searched = searched_c;
    for (const std::string &bp : OpenOutputs())
    {
        const std::string f = bp + "/phcomp-models/" + id + SUFFIX;
        searched += (searched.empty() ? "" : ", ") + f;
        std::vector<unsigned char> bytes;
        if (IsFile(f) && ReadFile(f, bytes))
            return Load(id, std::move(bytes), f, out, err);
    }
    err = "model " + id + " not found; searched " + searched +
          " (set PHCOMP_MODEL_PATH to the directory holding " + id + ".phcm)";
    return false;
}

void StoreBesideOpenOutputs(const Found &m)
{
    std::lock_guard<std::mutex> g(lock);
    for (const std::string &bp : OpenOutputs())
    {
        const std::string dir = bp + "/phcomp-models", f = dir + "/" + m.id + SUFFIX;
        if (!Stored().insert(f).second || IsFile(f))
            continue;
        mkdir(dir.c_str(), 0755);
        const std::string tmp = f + ".tmp." + std::to_string(getpid());
        std::ofstream o(tmp, std::ios::binary);
        o.write(reinterpret_cast<const char *>(m.bytes->data()), static_cast<std::streamsize>(m.bytes->size()));
        o.close();
        if (!o || std::rename(tmp.c_str(), f.c_str()) != 0)
        {
            std::remove(tmp.c_str());
            std::fprintf(stderr, "phcomp ADIOS2 operator: warning: could not store model %s in %s\n", m.id.c_str(),
                         dir.c_str());
        }
    }
}

} // namespace phcomp_adios2
