// .npy files as convt3d tensors, through xtensor's npy reader and writer.
#pragma once

#include "convt3d/convt3d.hpp"

#include <string>

namespace convt3d::cli {

// Reads a little-endian float32, C-order .npy file. Throws std::runtime_error naming `what`
// and the path for a missing or unreadable file, another dtype or byte order, Fortran order
// or a truncated file.
Tensor load_npy(const std::string &path, const char *what);
// Writes a host copy of t as a little-endian float32, C-order .npy file.
void save_npy(const std::string &path, const Tensor &t);

}  // namespace convt3d::cli
