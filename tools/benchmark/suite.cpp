#include "suite.h"

#include <nlohmann/json.hpp>

#include <fstream>
#include <stdexcept>

namespace convt3d::bench {

double SuiteCase::flops() const {
    const Params &p = params;
    return 2.0 * double(numel(input_shape)) * double(p.out_channels / p.groups) * p.kernel_size[0] *
           p.kernel_size[1] * p.kernel_size[2];
}

std::vector<SuiteCase> load_suite(const std::string &path) {
    std::ifstream in(path);
    if (!in) throw std::runtime_error("cannot open suite file '" + path + "'");
    const nlohmann::json suite = nlohmann::json::parse(in);
    auto triple = [](const nlohmann::json &j) { return Triple{j.at(0).get<int64_t>(), j.at(1).get<int64_t>(), j.at(2).get<int64_t>()}; };
    std::vector<SuiteCase> cases;
    for (const auto &j : suite.at("cases")) {
        SuiteCase c;
        c.name = j.at("name").get<std::string>();
        c.cpu = j.at("cpu").get<bool>();
        c.gpu = j.at("gpu").get<bool>();
        Params &p = c.params;
        p.in_channels = j.at("Cin").get<int64_t>();
        p.out_channels = j.at("Cout").get<int64_t>();
        p.kernel_size = triple(j.at("kernel"));
        p.stride = triple(j.at("stride"));
        p.padding = triple(j.at("padding"));
        p.output_padding = triple(j.at("output_padding"));
        p.dilation = triple(j.at("dilation"));
        p.groups = j.at("groups").get<int64_t>();
        p.bias = j.at("bias").get<bool>();
        const Triple in = triple(j.at("in"));
        c.input_shape = {j.at("N").get<int64_t>(), p.in_channels, in[0], in[1], in[2]};
        cases.push_back(c);
    }
    return cases;
}

}  // namespace convt3d::bench
