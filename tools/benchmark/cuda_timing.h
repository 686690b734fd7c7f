// Timing on the legacy default stream with cudaEvents, shared by the convt3d and cuDNN CUDA
// runners: both libraries run there, so events recorded on stream 0 bracket one call's
// kernels (and the host work between them).
#pragma once

#include "runners.h"

#include <cuda_runtime_api.h>

#include <stdexcept>
#include <string>
#include <vector>

namespace convt3d::bench {

inline void check(cudaError_t e, const char *what) {
    if (e != cudaSuccess) throw std::runtime_error(std::string(what) + ": " + cudaGetErrorString(e));
}

// Times of `repeats` runs of `launch` after one warm-up run (which also loads modules and
// creates handles), each timed with events around it.
template<typename Launch>
std::vector<double> time_on_default_stream(int repeats, Launch launch) {
    struct Events {
        cudaEvent_t start = nullptr, stop = nullptr;
        Events() {
            check(cudaEventCreate(&start), "cudaEventCreate");
            check(cudaEventCreate(&stop), "cudaEventCreate");
        }
        ~Events() {
            cudaEventDestroy(start);
            cudaEventDestroy(stop);
        }
    } ev;
    std::vector<double> times;
    for (int i = 0; i <= repeats; i++) {
        check(cudaEventRecord(ev.start, 0), "cudaEventRecord");
        launch();
        check(cudaEventRecord(ev.stop, 0), "cudaEventRecord");
        check(cudaEventSynchronize(ev.stop), "cudaEventSynchronize");
        float ms = 0;
        check(cudaEventElapsedTime(&ms, ev.start, ev.stop), "cudaEventElapsedTime");
        if (i > 0) times.push_back(ms);
    }
    return times;
}

}  // namespace convt3d::bench
