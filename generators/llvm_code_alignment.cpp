// Innermost loops start on a 64-byte boundary in the x86 code LLVM generates for every
// kernel. Otherwise where a hot loop begins within the 64-byte windows that the core fetches
// decoded instructions from depends on all the code placed before it, so a change elsewhere
// in a kernel could move it: decoder_k3s2_op1's grad_input (avx2, Zen 3) ran 15% slower with
// an unchanged inner loop that spanned three windows instead of two. Halide hands HL_LLVM_ARGS
// to LLVM's option parser when it first generates code; a value already set is kept.
#include <cstdlib>

namespace {

const bool innermost_loops_aligned = [] {
    setenv("HL_LLVM_ARGS", "-x86-experimental-pref-innermost-loop-alignment=6", /*overwrite=*/0);
    return true;
}();

}  // namespace
