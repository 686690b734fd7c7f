#include "npy_io.h"

#include <xtensor/xadapt.hpp>
#include <xtensor/xarray.hpp>
#include <xtensor/xnpy.hpp>

#include <fstream>
#include <stdexcept>

namespace convt3d::cli {

Tensor load_npy(const std::string &path, const char *what) {
    if (!std::ifstream(path)) throw std::runtime_error(std::string(what) + " file '" + path + "' cannot be opened");
    xt::xarray<float> a;
    try {
        a = xt::load_npy<float, xt::layout_type::row_major>(path);
    } catch (const std::exception &e) {
        throw std::runtime_error(std::string(what) + " file '" + path + "' is not a float32 C-order .npy array (" +
                                 e.what() + ")");
    }
    Shape shape(a.shape().begin(), a.shape().end());
    return Tensor::from_vector(std::vector<float>(a.begin(), a.end()), shape);
}

void save_npy(const std::string &path, const Tensor &t) {
    const std::vector<float> values = t.to_vector();
    std::vector<std::size_t> shape(t.shape().begin(), t.shape().end());
    xt::dump_npy(path, xt::adapt(values, shape));
    if (!std::ifstream(path)) throw std::runtime_error("output file '" + path + "' could not be written");
}

}  // namespace convt3d::cli
