// The FMA kernels are compiled for their ISA through function target attributes and run only
// when the CPU has that ISA; the rest of the file stays at the baseline ISA (compiling the
// whole file with -mavx512f would let the compiler use AVX-512 in the triad loop or in the
// shared template instantiations, and crash on an AVX2-only CPU).
#include "machine_peak.h"

#include <immintrin.h>

#include <algorithm>
#include <chrono>
#include <thread>
#include <vector>

namespace convt3d::bench {

namespace {

// The fastest of `reps` runs of `work` on `threads` threads at once. A ceiling is the best
// the machine does, and on a shared VM a thread is sometimes descheduled for a whole run.
template<typename F>
double best_seconds(int threads, int reps, F &&work) {
    double best = 1e30;
    for (int rep = 0; rep < reps; rep++) {
        std::vector<std::thread> pool;
        const auto t0 = std::chrono::steady_clock::now();
        for (int t = 0; t < threads; t++) pool.emplace_back(work, t);
        for (auto &th : pool) th.join();
        best = std::min(best, std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
    }
    return best;
}

constexpr long kIters = 20'000'000;
constexpr int kAcc = 12;  // independent accumulators: > FMA latency (4-5 cycles) x 2 FMA ports

__attribute__((target("avx512f"))) float fma_avx512() {
    __m512 acc[kAcc];
    for (int i = 0; i < kAcc; i++) acc[i] = _mm512_set1_ps(float(i));
    const __m512 a = _mm512_set1_ps(0.999999f), b = _mm512_set1_ps(1e-7f);
    for (long it = 0; it < kIters; it++) {
        for (int i = 0; i < kAcc; i++) acc[i] = _mm512_fmadd_ps(acc[i], a, b);
    }
    __m512 s = acc[0];
    for (int i = 1; i < kAcc; i++) s = _mm512_add_ps(s, acc[i]);
    return _mm512_reduce_add_ps(s);
}

__attribute__((target("avx2,fma"))) float fma_avx2() {
    __m256 acc[kAcc];
    for (int i = 0; i < kAcc; i++) acc[i] = _mm256_set1_ps(float(i));
    const __m256 a = _mm256_set1_ps(0.999999f), b = _mm256_set1_ps(1e-7f);
    for (long it = 0; it < kIters; it++) {
        for (int i = 0; i < kAcc; i++) acc[i] = _mm256_fmadd_ps(acc[i], a, b);
    }
    __m256 s = acc[0];
    for (int i = 1; i < kAcc; i++) s = _mm256_add_ps(s, acc[i]);
    float out[8];
    _mm256_storeu_ps(out, s);
    return out[0] + out[7];
}

volatile float sink;

double fma_gflops(int threads, bool avx512) {
    // About 40 ms a run: 10 runs ride out a descheduled thread (3 once read 102 GFLOP/s on
    // two threads of a machine that does 200, and every "% of peak" then read double).
    const double s = best_seconds(threads, 10, [&](int) { sink = avx512 ? fma_avx512() : fma_avx2(); });
    const double lanes = avx512 ? 16 : 8;
    return threads * double(kIters) * kAcc * lanes * 2 / s / 1e9;
}

double triad_gbs(int threads) {
    const size_t n = size_t(1) << 24;  // 64 MiB per array and thread, far past the caches
    std::vector<float> a(n * threads), b(n * threads, 1.0f), c(n * threads, 2.0f);
    const double s = best_seconds(threads, 3, [&](int t) {
        float *pa = a.data() + t * n;
        const float *pb = b.data() + t * n, *pc = c.data() + t * n;
        for (size_t i = 0; i < n; i++) pa[i] = pb[i] + 3.0f * pc[i];
    });
    sink = a[n / 2];
    return threads * 3.0 * double(n) * sizeof(float) / s / 1e9;
}

bool has_avx512() { return __builtin_cpu_supports("avx512f"); }
bool has_fma() { return has_avx512() || (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")); }

}  // namespace

double measure_fma_peak(int threads) { return has_fma() ? fma_gflops(threads, has_avx512()) : 0; }

double measure_triad(int threads) { return triad_gbs(threads); }

MachinePeak measure_machine(int threads) {
    MachinePeak m;
    m.isa = has_avx512() ? "avx512" : "avx2";
    m.fma_1 = measure_fma_peak(1);
    m.fma_n = threads == 1 ? m.fma_1 : measure_fma_peak(threads);
    m.triad_n = measure_triad(threads);
    return m;
}

}  // namespace convt3d::bench
