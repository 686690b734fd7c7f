// Configure-time probe (try_run from CMakeLists.txt): does this oneDNN's CPU engine work?
// A SYCL build may have no SYCL CPU device, and then every primitive fails at run time.
#include <oneapi/dnnl/dnnl.hpp>

#include <cstdio>
#include <cstdlib>

int main() {
#ifdef CONVT3D_ONEDNN_OPENCL_ICD
    setenv("OCL_ICD_FILENAMES", CONVT3D_ONEDNN_OPENCL_ICD, 0);
#endif
    try {
        dnnl::engine eng(dnnl::engine::kind::cpu, 0);
        dnnl::stream s(eng);
        const dnnl_version_t *v = dnnl_version();
        std::printf("oneDNN %d.%d.%d CPU engine ok\n", v->major, v->minor, v->patch);
        return 0;
    } catch (const std::exception &e) {
        std::printf("CPU engine failed: %s\n", e.what());
        return 1;
    }
}
