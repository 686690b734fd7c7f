#include "convt3d/convt3d.hpp"

#include "cuda_backend.h"
#include "workspace_cache.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>

namespace convt3d {

namespace {

std::shared_ptr<float> allocate(int64_t count, Device device) {
    const size_t bytes = static_cast<size_t>(count) * sizeof(float);
    if (device == Device::cuda) {
        return {static_cast<float *>(detail::cuda_malloc(bytes)), detail::cuda_free};
    }
    // Large blocks are recycled rather than returned to the OS (workspace_cache.h).
    void *p = detail::workspace_allocate(bytes);
    if (!p) throw BackendError("convt3d: out of host memory allocating " + std::to_string(bytes) + " bytes");
    return {static_cast<float *>(p), detail::workspace_free};
}

detail::CopyKind copy_kind(Device from, Device to) {
    if (from == Device::cpu) return detail::CopyKind::host_to_device;
    return to == Device::cpu ? detail::CopyKind::device_to_host : detail::CopyKind::device_to_device;
}

}  // namespace

Tensor::Tensor(Shape shape, Device device)
    : shape_(std::move(shape)), device_(device), numel_(convt3d::numel(shape_, "tensor")),
      data_(allocate(numel_, device)) {}

Tensor Tensor::from_vector(const std::vector<float> &values, Shape shape) {
    Tensor t(std::move(shape));
    if (static_cast<int64_t>(values.size()) != t.numel()) {
        throw Error("convt3d: " + std::to_string(values.size()) + " values do not fill shape " +
                    shape_to_string(t.shape()));
    }
    std::copy(values.begin(), values.end(), t.data());
    return t;
}

Tensor Tensor::to(Device device) const {
    if (!defined()) throw Error("convt3d: cannot copy an undefined tensor");
    Tensor t(shape_, device);
    const size_t bytes = static_cast<size_t>(numel_) * sizeof(float);
    if (device_ == Device::cpu && device == Device::cpu) {
        std::memcpy(t.data(), data(), bytes);
    } else {
        detail::cuda_memcpy(t.data(), data(), bytes, copy_kind(device_, device));
    }
    return t;
}

std::vector<float> Tensor::to_vector() const {
    if (!defined()) return {};
    if (device_ == Device::cpu) return {data(), data() + numel_};
    std::vector<float> v(static_cast<size_t>(numel_));
    detail::cuda_memcpy(v.data(), data(), v.size() * sizeof(float), detail::CopyKind::device_to_host);
    return v;
}

void Tensor::fill(float value) {
    if (device_ == Device::cpu) {
        std::fill(data(), data() + numel_, value);
    } else {
        std::vector<float> v(static_cast<size_t>(numel_), value);
        detail::cuda_memcpy(data(), v.data(), v.size() * sizeof(float), detail::CopyKind::host_to_device);
    }
}

}  // namespace convt3d
