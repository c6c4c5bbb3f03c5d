// Where the ADIOS2 operator finds phcomp models (by id) and where it stores them beside a BP
// output. See model_store.cpp.
#ifndef PHCOMP_ADIOS2_MODEL_STORE_H
#define PHCOMP_ADIOS2_MODEL_STORE_H

#include <string>
#include <vector>

#include "phcomp_codec.h"

namespace phcomp_adios2
{

struct Found
{
    const phc_model *model = nullptr; // owned by the store, alive until the process ends
    const std::vector<unsigned char> *bytes = nullptr; // the container's bytes
    std::string id, where;                             // where: the file it came from
};

bool IsModelId(const std::string &s);

// The model for `ref` (a 16-hex-digit id, or a path to a .phcm file named <id>.phcm); empty:
// the shipped default for volumes ("field3d" in the zoo index). On failure, `err` names every
// place searched.
bool FindModel(const std::string &ref, Found &out, std::string &err);

// Copies the model into <bp>/phcomp-models/<id>.phcm of every BP output this process has open
// (found through /proc/self/fd), once per output: readers elsewhere find it there.
void StoreBesideOpenOutputs(const Found &m);

} // namespace phcomp_adios2

#endif
