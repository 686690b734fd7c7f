// .npy files as convt3d tensors, through xtensor's npy reader and writer.
#pragma once

#include "convt3d/convt3d.hpp"

#include <string>

namespace convt3d::cli {

// Reads a little-endian float32, C-order .npy file; throws std::runtime_error otherwise.
Tensor load_npy(const std::string &path, const char *what);
void save_npy(const std::string &path, const Tensor &t);

}  // namespace convt3d::cli
