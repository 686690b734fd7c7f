// Compile-time facts about a problem, as generator parameters give them: one value for all
// three axes ("2") or one per axis in PyTorch's order ("2,1,1" = D,H,W). Halide's order is
// the reverse (x = W), so triples come back as {x, y, z}. 0 (or "") means "known only at
// run time".
#pragma once

#include "Halide.h"

#include <array>
#include <sstream>
#include <string>
#include <vector>

namespace convt3d {

inline std::vector<int> parse_int_list(const std::string &text, const char *param) {
    std::vector<int> values;
    std::stringstream in(text);
    std::string item;
    while (std::getline(in, item, ',')) {
        std::size_t used = 0;
        int v = -1;
        try {
            v = std::stoi(item, &used);
        } catch (const std::exception &) {
            used = 0;
        }
        if (used != item.size() || v < 0) {
            throw Halide::CompileError(std::string("generator parameter ") + param + "='" + text +
                                       "': expected non-negative integers separated by commas");
        }
        values.push_back(v);
    }
    return values;
}

// "s" or "sD,sH,sW" -> {sW, sH, sD}; "" -> {0, 0, 0}.
inline std::array<int, 3> parse_axis_triple(const std::string &text, const char *param) {
    if (text.empty()) return {0, 0, 0};
    std::vector<int> v = parse_int_list(text, param);
    if (v.size() == 1) return {v[0], v[0], v[0]};
    if (v.size() != 3) {
        throw Halide::CompileError(std::string("generator parameter ") + param + "='" + text +
                                   "': expected one value or three (D,H,W)");
    }
    return {v[2], v[1], v[0]};
}

}  // namespace convt3d
