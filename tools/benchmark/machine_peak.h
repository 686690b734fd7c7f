// The machine's own ceilings, measured: fp32 FMA throughput and triad memory bandwidth.
#pragma once

#include <string>

namespace convt3d::bench {

struct MachinePeak {
    std::string isa;        // the FMA loop's instruction set: "avx512" or "avx2"
    double fma_1 = 0;       // GFLOP/s on one thread
    double fma_n = 0;       // GFLOP/s on `threads` threads
    double triad_n = 0;     // GB/s, a[i] = b[i] + s*c[i] on `threads` threads (12 bytes per element)
};

// The FMA loop picks AVX-512 or AVX2+FMA at run time (the functions carry their own target
// attributes; the file is compiled for the baseline, so nothing else in it uses AVX-512).
MachinePeak measure_machine(int threads);
// Only the FMA peak on `threads` threads, as measure_machine measures it (GFLOP/s; 0 without AVX2+FMA).
double measure_fma_peak(int threads);
// Only the triad bandwidth on `threads` threads (GB/s).
double measure_triad(int threads);

}  // namespace convt3d::bench
