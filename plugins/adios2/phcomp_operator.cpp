// phcomp as an ADIOS2 plugin operator (plugin operator interface v2, ADIOS2 >= 2.12).
//
// Operate encodes a block with phcomp's C codec in-process (native/src: the sources the Python
// package and the HDF5 plugin build from) and InverseOperate decodes it: a C++ or Fortran host
// needs no Python. ADIOS2 stores only PluginName and PluginLibrary with the data, so each block
// starts with this operator's header and then a whole phcomp chunk, which carries the format
// version, model id, dtype, shape and bound (docs/format.md, "ADIOS2 operator blocks").
//
// Parameters (keys arrive lower-cased; docs/guide.md): accuracy (absolute bound), rel (bound
// relative to the block's value range; both: the tighter; 0: lossless), model (id or path to
// <id>.phcm; default: the shipped "field3d" model), threads, observables. Without a bound:
// the model's default rel. (ADIOS2 2.12 does not hand Variable.SetAccuracy to plugin operators:
// measured, so it is not read here.)
#include <adios2/plugin/PluginOperatorInterface.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <stdexcept>
#include <string>
#include <vector>

#include "model_store.h"

extern "C" {
#include "crc32.h"
}

namespace
{

const char MAGIC[4] = {'P', 'H', 'C', 'A'};
const uint16_t BLOCK_VERSION = 1;
const size_t HEADER = 28; // magic, u16 version, u16 flags, u64 block bytes, u64 chunk bytes, u32 CRC
const uint16_t FLAG_FALLBACK = 1; // stored lossless because the requested encoding failed

void PutLE(char *p, uint64_t v, int k)
{
    for (int i = 0; i < k; i++)
        p[i] = static_cast<char>((v >> (8 * i)) & 0xFF);
}

uint64_t GetLE(const char *p, int k)
{
    uint64_t v = 0;
    for (int i = k - 1; i >= 0; i--)
        v = (v << 8) | static_cast<unsigned char>(p[i]);
    return v;
}

std::once_flag warned_once;
void WarnOnce(const std::string &msg)
{
    std::call_once(warned_once, [&] {
        std::fprintf(stderr, "phcomp ADIOS2 operator: warning: %s (stored losslessly instead; later failures "
                             "are not reported)\n",
                     msg.c_str());
    });
}

// a bound parameter: absent -> -1; otherwise a finite number >= 0 or an error
bool Bound(const adios2::Params &p, const char *key, double &out, std::string &err)
{
    out = -1;
    auto it = p.find(key);
    if (it == p.end() || it->second.empty())
        return true;
    char *end = nullptr;
    const double v = std::strtod(it->second.c_str(), &end);
    if (*end || !std::isfinite(v) || v < 0)
    {
        err = std::string("parameter ") + key + "=" + it->second + " is not a finite number >= 0";
        return false;
    }
    out = v;
    return true;
}

class PhcompOperator : public adios2::plugin::PluginOperatorInterface
{
public:
    explicit PhcompOperator(const adios2::Params &p) : PluginOperatorInterface(p) {}

    bool IsDataTypeValid(const adios2::DataType type) const override
    {
        return type == adios2::DataType::Float || type == adios2::DataType::Double;
    }

    size_t GetEstimatedSize(const size_t count, const size_t size, const size_t ndims,
                            const size_t *dims) const override
    {
        std::vector<uint64_t> shape;
        Shape(count, ndims, dims, shape);
        const size_t b = phc_chunk_bound(size == 4 ? PHC_FLOAT32 : PHC_FLOAT64, static_cast<int>(shape.size()),
                                         shape.data());
        return HEADER + (b ? b : count * size + 256);
    }

    // never throws: a failure stores the block in phcomp's lossless mode and warns once
    size_t Operate(const char *in, const adios2::Dims & /*start*/, const adios2::Dims &count,
                   const adios2::DataType type, char *out) override
    {
        try
        {
            return Encode(in, count, type, out, false);
        }
        catch (...)
        {
            try
            {
                return Encode(in, count, type, out, true); // lossless, headed as always
            }
            catch (...)
            {
                return 0; // not even that (out of memory): 0, nothing written
            }
        }
    }

    size_t InverseOperate(const char *in, const size_t n, char *out) override
    {
        std::string err;
        const size_t got = Decode(in, n, out, err);
        if (!err.empty()) // the engine turns this into the reader's exception
            throw std::runtime_error("phcomp ADIOS2 operator: " + err);
        return got;
    }

private:
    // ADIOS2 blocks may have more dims than a chunk: leading ones merge (the bytes are the same)
    static void Shape(size_t count, size_t ndims, const size_t *dims, std::vector<uint64_t> &shape)
    {
        shape.assign(dims, dims + ndims);
        while (shape.size() > 8)
        {
            shape[1] *= shape[0];
            shape.erase(shape.begin());
        }
        if (ndims == 0 && count != 1)
            shape.assign(1, count);
    }

    size_t Encode(const char *in, const adios2::Dims &count, const adios2::DataType type, char *out,
                  bool lossless_only)
    {
        const int dtype = type == adios2::DataType::Float ? PHC_FLOAT32 : PHC_FLOAT64;
        size_t values = 1;
        for (size_t c : count)
            values *= c;
        std::vector<uint64_t> shape;
        Shape(values, count.size(), count.data(), shape);
        const int nd = static_cast<int>(shape.size());
        const size_t cap = phc_chunk_bound(dtype, nd, shape.data());
        const size_t isz = dtype == PHC_FLOAT32 ? 4 : 8;
        char msg[512] = "";
        std::string err;
        double abs_b = -1, rel_b = -1;
        int threads = 1;
        const adios2::Params &p = m_Parameters;
        if (lossless_only)
            err = "unexpected error in Operate";
        bool ok = !lossless_only && Bound(p, "accuracy", abs_b, err) && Bound(p, "rel", rel_b, err);
        auto th = p.find("threads");
        if (ok && th != p.end())
        {
            threads = std::atoi(th->second.c_str());
            if (threads < 1 || threads > 256)
            {
                ok = false;
                err = "parameter threads=" + th->second + " is not a whole number in 1..256";
            }
        }
        auto obs = p.find("observables");
        if (ok && obs != p.end() && !obs->second.empty())
        { // checks are evaluated by phcomp's Python encoder only; lossless keeps every observable
            ok = false;
            err = "observables=" + obs->second + " are not checked in C++";
        }
        phcomp_adios2::Found model;
        auto mp = p.find("model");
        if (ok && !(abs_b == 0 || rel_b == 0))
            ok = phcomp_adios2::FindModel(mp == p.end() ? "" : mp->second, model, err);
        size_t written = 0;
        uint16_t flags = 0;
        if (ok && phc_chunk_encode(in, dtype, nd, shape.data(), model.model, model.id.c_str(), abs_b, rel_b, threads,
                                   out + HEADER, cap, &written, msg, sizeof msg) != PHC_OK)
        {
            ok = false;
            err = msg;
        }
        if (ok && model.model)
            phcomp_adios2::StoreBesideOpenOutputs(model);
        if (!ok)
        {
            WarnOnce(err);
            flags = FLAG_FALLBACK;
            if (phc_chunk_encode(in, dtype, nd, shape.data(), nullptr, nullptr, 0.0, -1.0, 1, out + HEADER, cap,
                                 &written, msg, sizeof msg) != PHC_OK)
                return 0; // out of memory even for lossless: 0, nothing written
        }
        if (ok && (abs_b >= 0) != (rel_b >= 0)) // one bound asked: the one this block meets (L-inf)
            m_AccuracyProvided = {abs_b >= 0 ? abs_b : rel_b, INFINITY, abs_b < 0};
        std::memcpy(out, MAGIC, 4);
        PutLE(out + 4, BLOCK_VERSION, 2);
        PutLE(out + 6, flags, 2);
        PutLE(out + 8, values * isz, 8);
        PutLE(out + 16, written, 8);
        PutLE(out + 24, phc_crc32(reinterpret_cast<const uint8_t *>(out), 24), 4);
        return HEADER + written;
    }

    // ADIOS2 passes no size for `out`: it holds the block's count * element size, which the
    // header states (CRC-checked) and the chunk must match
    size_t Decode(const char *in, size_t n, char *out, std::string &err)
    {
        if (n < HEADER || std::memcmp(in, MAGIC, 4) != 0)
        {
            err = "not a phcomp block (bad magic or truncated header)";
            return 0;
        }
        if (phc_crc32(reinterpret_cast<const uint8_t *>(in), 24) != GetLE(in + 24, 4))
        {
            err = "corrupt phcomp block header (CRC32 mismatch)";
            return 0;
        }
        const uint64_t version = GetLE(in + 4, 2), nbytes = GetLE(in + 8, 8), clen = GetLE(in + 16, 8);
        if (version != BLOCK_VERSION)
        {
            err = "phcomp block version " + std::to_string(version) + " is not supported (this phcomp reads 1)";
            return 0;
        }
        if (clen != n - HEADER)
        {
            err = "truncated or corrupt phcomp block: header says " + std::to_string(clen) + " chunk bytes, " +
                  std::to_string(n - HEADER) + " present";
            return 0;
        }
        const void *chunk = in + HEADER;
        char msg[512] = "";
        phc_chunk_info info;
        if (phc_chunk_inspect(chunk, clen, &info, msg, sizeof msg) != PHC_OK)
        {
            err = msg;
            return 0;
        }
        if (info.nvalues * static_cast<uint64_t>(info.itemsize) != nbytes)
        {
            err = "corrupt phcomp block: its chunk holds a different number of bytes than the block";
            return 0;
        }
        phcomp_adios2::Found model;
        if (info.mode != 0 && !phcomp_adios2::FindModel(info.model_id, model, err)) /* every lossy mode has a model */
            return 0;
        int threads = 1;
        if (const char *t = std::getenv("PHCOMP_THREADS"))
            threads = std::max(1, std::min(256, std::atoi(t)));
        if (phc_chunk_decode(chunk, clen, model.model, out, nbytes, threads, msg, sizeof msg) != PHC_OK)
        {
            err = msg;
            return 0;
        }
        return nbytes;
    }
};

} // namespace

extern "C" {
__attribute__((visibility("default"))) adios2::plugin::PluginOperatorInterface *
OperatorCreate(const adios2::Params &parameters)
{
    return new PhcompOperator(parameters);
}

__attribute__((visibility("default"))) void OperatorDestroy(adios2::plugin::PluginOperatorInterface *obj)
{
    delete obj;
}
}
