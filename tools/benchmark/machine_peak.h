// The machine's own ceilings, measured: fp32 FMA throughput and triad memory bandwidth.
#pragma once

namespace convt3d::bench {

double fma_peak_gflops(int threads);   // AVX-512 FMA when the CPU has it, else AVX2
double triad_bandwidth_gbs(int threads);

}  // namespace convt3d::bench
