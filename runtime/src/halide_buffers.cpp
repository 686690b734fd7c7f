#include "halide_buffers.h"

#include "cuda_backend.h"
#include "view_checks.h"
#include "workspace_cache.h"

#include <mutex>

namespace convt3d::detail {

namespace {

thread_local std::string halide_error_message;

extern "C" void capture_halide_error(void *, const char *msg) { halide_error_message += msg; }

void install_error_handler() {
    static std::once_flag once;
    std::call_once(once, [] { halide_set_error_handler(capture_halide_error); });
}

}  // namespace

HalideTensor::HalideTensor(const float *data, const Shape &torch_shape, Device device) {
    const int rank = static_cast<int>(torch_shape.size());
    int64_t stride = 1;
    for (int d = 0; d < rank; d++) {
        const int64_t extent = torch_shape[rank - 1 - d];
        dims_[d] = {0, static_cast<int32_t>(extent), static_cast<int32_t>(stride), 0};
        stride *= extent;
    }
    buf_.type = halide_type_of<float>();
    buf_.dimensions = rank;
    buf_.dim = dims_;
    if (device == Device::cuda) {
        cuda_wrap(&buf_, data);
        wrapped_device_ = true;
    } else {
        // Halide takes a non-const host pointer; inputs are never written.
        buf_.host = reinterpret_cast<uint8_t *>(const_cast<float *>(data));
    }
}

HalideTensor::HalideTensor(const float *data, const Shape &torch_shape, Device device, const GroupPart &part)
    : HalideTensor(data, torch_shape, device) {
    if (part.groups == 1) return;
    if (device != Device::cpu) throw Error("convt3d: internal error: a group's part of a CUDA tensor");
    halide_dimension_t &d = dims_[torch_shape.size() - 1 - part.dim];
    const int32_t extent = d.extent / static_cast<int32_t>(part.groups);
    buf_.host += part.index * extent * int64_t(d.stride) * int64_t(sizeof(float));
    d.extent = extent;
}

KernelGeometry::KernelGeometry(const Params &p, int64_t group_calls) {
    for (int a = 0; a < 3; a++) {
        v[a] = to_int(p.stride[2 - a], "stride");
        v[3 + a] = to_int(p.padding[2 - a], "padding");
        v[6 + a] = to_int(p.dilation[2 - a], "dilation");
    }
    v[9] = to_int(p.groups / group_calls, "groups");
}

HalideTensor::HalideTensor(int64_t n) : owned_(static_cast<size_t>(n), 0.0f) {
    dims_[0] = {0, static_cast<int32_t>(n), 1, 0};
    buf_.type = halide_type_of<float>();
    buf_.dimensions = 1;
    buf_.dim = dims_;
    buf_.host = reinterpret_cast<uint8_t *>(owned_.data());
    buf_.set_host_dirty(true);
}

HalideTensor::~HalideTensor() {
    if (wrapped_device_) {
        cuda_detach(&buf_);
    } else if (buf_.device) {
        halide_device_free(nullptr, &buf_);  // a copy Halide made for a GPU kernel
    }
}

void prepare_halide_call() {
    install_error_handler();
    install_workspace_cache();
    halide_error_message.clear();
}

void check_kernel_result(int result, const std::string &what) {
    if (result == 0) return;
    std::string msg = halide_error_message.empty() ? "error code " + std::to_string(result) : halide_error_message;
    while (!msg.empty() && (msg.back() == '\n' || msg.back() == ' ')) msg.pop_back();
    halide_error_message.clear();
    throw BackendError("convt3d: " + what + " failed: " + msg);
}

}  // namespace convt3d::detail
