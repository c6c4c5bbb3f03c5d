// A C++ ADIOS2 host with no Python: reads one double variable (every step) from a BP output
// through the phcomp operator (ADIOS2_PLUGIN_PATH) and writes its values raw to a file.
// Usage: adios2_read <file.bp> <variable> <out.raw>. Exit 1 with the message on any error.
#include <adios2.h>

#include <cstdio>
#include <exception>
#include <vector>

int main(int argc, char **argv)
{
    if (argc != 4)
    {
        std::fprintf(stderr, "usage: %s <file.bp> <variable> <out.raw>\n", argv[0]);
        return 2;
    }
    try
    {
        adios2::ADIOS adios;
        adios2::IO io = adios.DeclareIO("read");
        adios2::Engine r = io.Open(argv[1], adios2::Mode::ReadRandomAccess);
        adios2::Variable<double> v = io.InquireVariable<double>(argv[2]);
        if (!v)
            throw std::runtime_error("no such variable");
        v.SetStepSelection({0, v.Steps()});
        std::vector<double> data;
        r.Get(v, data, adios2::Mode::Sync);
        r.Close();
        std::FILE *f = std::fopen(argv[3], "wb");
        if (!f || std::fwrite(data.data(), sizeof(double), data.size(), f) != data.size() || std::fclose(f))
            throw std::runtime_error("cannot write the output file");
        std::printf("%zu values\n", data.size());
    }
    catch (const std::exception &e)
    {
        std::fprintf(stderr, "error: %s\n", e.what());
        return 1;
    }
    return 0;
}
