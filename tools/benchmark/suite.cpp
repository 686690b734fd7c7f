#include "suite.h"

#include <nlohmann/json.hpp>

#include <cmath>
#include <fstream>
#include <random>
#include <stdexcept>

namespace convt3d::bench {

double SuiteCase::flops() const { return 2.0 * multiply_adds(params, input_shape); }

namespace {

double float_bytes(const Shape &shape) { return 4.0 * double(numel(shape)); }

// Input, weight and output, and the bias where the pass reads or writes it: the tensors every
// pass touches, each once.
double layer_bytes(const SuiteCase &c, bool with_bias) {
    const Params &p = c.params;
    return float_bytes(c.input_shape) + float_bytes(weight_shape(p)) + float_bytes(output_shape(p, c.input_shape)) +
           (with_bias && p.bias ? float_bytes({p.out_channels}) : 0);
}

}  // namespace

double SuiteCase::forward_bytes() const { return layer_bytes(*this, true); }

double SuiteCase::grad_input_bytes() const { return layer_bytes(*this, false); }

double SuiteCase::grad_weight_bytes() const { return layer_bytes(*this, true); }

std::vector<SuiteCase> load_suite(const std::string &path) {
    std::ifstream in(path);
    if (!in) throw std::runtime_error("cannot open suite file '" + path + "'");
    try {
        const nlohmann::json suite = nlohmann::json::parse(in);
        auto triple = [](const nlohmann::json &j) {
            if (j.size() != 3) throw std::runtime_error("expected a (D, H, W) triple, got " + j.dump());
            return Triple{j.at(0).get<int64_t>(), j.at(1).get<int64_t>(), j.at(2).get<int64_t>()};
        };
        std::vector<SuiteCase> cases;
        for (const auto &j : suite.at("cases")) {
            SuiteCase c;
            c.name = j.at("name").get<std::string>();
            c.cpu = j.value("cpu", false);
            c.gpu = j.value("gpu", false);
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
            const Triple in_size = triple(j.at("in"));
            c.input_shape = {j.at("N").get<int64_t>(), p.in_channels, in_size[0], in_size[1], in_size[2]};
            output_shape(p, c.input_shape);  // validates the case
            cases.push_back(c);
        }
        return cases;
    } catch (const std::exception &e) {
        throw std::runtime_error("suite file '" + path + "': " + e.what());
    }
}

CaseData make_case_data(const SuiteCase &c) {
    CaseData d;
    d.x_shape = c.input_shape;
    d.w_shape = weight_shape(c.params);
    d.y_shape = output_shape(c.params, c.input_shape);
    std::mt19937 rng(1234);
    std::uniform_real_distribution<float> u(-1.0f, 1.0f);
    d.x.resize(static_cast<size_t>(numel(d.x_shape)));
    for (float &v : d.x) v = u(rng);
    // Scaled as torch initialises the module, so outputs stay O(1) whatever the fan-in.
    const double k = double(c.params.groups) / double(c.params.out_channels * c.params.kernel_size[0] *
                                                      c.params.kernel_size[1] * c.params.kernel_size[2]);
    std::uniform_real_distribution<float> uw(-float(std::sqrt(k)), float(std::sqrt(k)));
    d.w.resize(static_cast<size_t>(numel(d.w_shape)));
    for (float &v : d.w) v = uw(rng);
    if (c.params.bias) {
        d.b.resize(static_cast<size_t>(c.params.out_channels));
        for (float &v : d.b) v = uw(rng);
    }
    return d;
}

std::vector<float> make_grad_output(const CaseData &d) {
    std::mt19937 rng(4321);
    std::uniform_real_distribution<float> u(-1.0f, 1.0f);
    std::vector<float> g(static_cast<size_t>(numel(d.y_shape)));
    for (float &v : g) v = u(rng);
    return g;
}

}  // namespace convt3d::bench
