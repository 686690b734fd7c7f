// The benchmark suite (shared/bench/suite.json) as convt3d parameters.
#pragma once

#include "convt3d/convt3d.hpp"

#include <string>
#include <vector>

namespace convt3d::bench {

struct SuiteCase {
    std::string name;
    bool cpu = false, gpu = false;
    Params params;
    Shape input_shape;
    double flops() const;  // 2 * useful multiply-adds (bias excluded)
};

std::vector<SuiteCase> load_suite(const std::string &path);

}  // namespace convt3d::bench
