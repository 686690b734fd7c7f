#include "npy_io.h"

#include <xtensor/xadapt.hpp>
#include <xtensor/xarray.hpp>
#include <xtensor/xnpy.hpp>

#include <filesystem>
#include <fstream>
#include <stdexcept>

namespace convt3d::cli {

Tensor load_npy(const std::string &path, const char *what) {
    const std::string name = std::string(what) + " file '" + path + "'";
    std::error_code ec;
    if (std::filesystem::is_directory(path, ec)) throw std::runtime_error(name + " is a directory");
    std::ifstream in(path, std::ios::binary);
    if (!in) throw std::runtime_error(name + " cannot be opened");
    xt::xarray<float> a;
    try {
        // Checks the magic string, the dtype ("<f4" only: float64, int or big-endian data is
        // refused, never converted) and the order (row_major refuses fortran_order=True).
        a = xt::load_npy<float, xt::layout_type::row_major>(in);
    } catch (const std::exception &e) {
        throw std::runtime_error(name + " is not a float32 little-endian C-order .npy array (" + e.what() + ")");
    }
    // xtensor reads the data without checking that the file held all of it.
    if (!in) throw std::runtime_error(name + " is truncated: it holds fewer values than its header's shape");
    Shape shape(a.shape().begin(), a.shape().end());
    if (shape.empty()) throw std::runtime_error(name + " holds a 0-d array; a tensor of rank 1, 4 or 5 is expected");
    return Tensor::from_vector(std::vector<float>(a.begin(), a.end()), shape);
}

void save_npy(const std::string &path, const Tensor &t) {
    const std::vector<float> values = t.to_vector();
    const std::vector<std::size_t> shape(t.shape().begin(), t.shape().end());
    try {
        xt::dump_npy(path, xt::adapt(values, shape));
    } catch (const std::exception &e) {
        throw std::runtime_error("output file '" + path + "' cannot be written (" + e.what() + ")");
    }
    // dump_npy does not report write errors (a full disk, say): check the size on disk.
    std::error_code ec;
    const auto size = std::filesystem::file_size(path, ec);
    if (ec || size < values.size() * sizeof(float)) {
        throw std::runtime_error("output file '" + path + "' was not written completely");
    }
}

}  // namespace convt3d::cli
