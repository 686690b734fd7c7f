// The C ABI: converts arguments, runs the C++ API, turns exceptions into status codes.
#include "convt3d/convt3d.h"

#include "convt3d/convt3d.hpp"

#include <string>

namespace {

thread_local std::string last_error;

convt3d::Params to_params(const convt3d_params *p) {
    if (!p) throw convt3d::Error("convt3d: params is null");
    convt3d::Params q;
    q.in_channels = p->in_channels;
    q.out_channels = p->out_channels;
    for (int i = 0; i < 3; i++) {
        q.kernel_size[i] = p->kernel_size[i];
        q.stride[i] = p->stride[i];
        q.padding[i] = p->padding[i];
        q.output_padding[i] = p->output_padding[i];
        q.dilation[i] = p->dilation[i];
    }
    q.groups = p->groups;
    q.bias = p->bias != 0;
    q.padding_mode = p->padding_mode ? p->padding_mode : "zeros";
    return q;
}

convt3d::Shape to_shape(const int64_t *shape, int rank) {
    if (!shape) throw convt3d::Error("convt3d: input_shape is null");
    if (rank != 4 && rank != 5) {
        throw convt3d::Error("convt3d: input_rank=" + std::to_string(rank) + " must be 4 or 5");
    }
    return convt3d::Shape(shape, shape + rank);
}

convt3d::Device to_device(convt3d_device device) {
    if (device != CONVT3D_DEVICE_CPU && device != CONVT3D_DEVICE_CUDA) {
        throw convt3d::Error("convt3d: device=" + std::to_string(static_cast<int>(device)) + " is not a device");
    }
    return device == CONVT3D_DEVICE_CUDA ? convt3d::Device::cuda : convt3d::Device::cpu;
}

template<typename F>
convt3d_status guarded(F &&f) {
    try {
        f();
        last_error.clear();
        return CONVT3D_OK;
    } catch (const convt3d::Error &e) {
        last_error = e.what();
        return CONVT3D_INVALID_ARGUMENT;
    } catch (const std::exception &e) {
        last_error = e.what();
        return CONVT3D_BACKEND_ERROR;
    } catch (...) {
        last_error = "convt3d: unknown error";
        return CONVT3D_BACKEND_ERROR;
    }
}

}  // namespace

extern "C" {

void convt3d_params_init(convt3d_params *p, int64_t in_channels, int64_t out_channels, int64_t kd, int64_t kh,
                         int64_t kw) {
    if (!p) return;
    *p = convt3d_params{};
    p->in_channels = in_channels;
    p->out_channels = out_channels;
    const int64_t k[3] = {kd, kh, kw};
    for (int i = 0; i < 3; i++) {
        p->kernel_size[i] = k[i];
        p->stride[i] = 1;
        p->dilation[i] = 1;
    }
    p->groups = 1;
    p->bias = 1;
    p->padding_mode = "zeros";
}

convt3d_status convt3d_output_shape(const convt3d_params *p, const int64_t *input_shape, int input_rank,
                                    int64_t *output_shape, int *output_rank) {
    return guarded([&] {
        if (!output_shape) throw convt3d::Error("convt3d: output_shape is null");
        const convt3d::Shape out = convt3d::output_shape(to_params(p), to_shape(input_shape, input_rank));
        for (size_t i = 0; i < out.size(); i++) output_shape[i] = out[i];
        if (output_rank) *output_rank = static_cast<int>(out.size());
    });
}

convt3d_status convt3d_multiply_adds(const convt3d_params *p, const int64_t *input_shape, int input_rank,
                                     double *multiply_adds) {
    return guarded([&] {
        if (!multiply_adds) throw convt3d::Error("convt3d: multiply_adds is null");
        *multiply_adds = convt3d::multiply_adds(to_params(p), to_shape(input_shape, input_rank));
    });
}

convt3d_status convt3d_forward(const convt3d_params *p, convt3d_device device, const float *input,
                               const int64_t *input_shape, int input_rank, const float *weight, const float *bias,
                               float *output, int64_t output_numel) {
    return guarded([&] {
        const convt3d::Device d = to_device(device);
        const convt3d::Params params = to_params(p);
        const convt3d::Shape in_shape = to_shape(input_shape, input_rank);
        const convt3d::Shape out_shape = convt3d::output_shape(params, in_shape);
        if (output_numel != convt3d::numel(out_shape)) {
            throw convt3d::Error("convt3d: output_numel=" + std::to_string(output_numel) + " does not match output shape " +
                                 convt3d::shape_to_string(out_shape));
        }
        const convt3d::ConstTensorView bias_view{bias, {params.out_channels}, d};
        if (params.bias && !bias) throw convt3d::Error("convt3d: bias is null but params.bias is set");
        if (!params.bias && bias) throw convt3d::Error("convt3d: bias was given but params.bias is 0");
        convt3d::conv_transpose3d({input, in_shape, d}, {weight, convt3d::weight_shape(params), d},
                                  bias ? &bias_view : nullptr, {output, out_shape, d}, params);
    });
}

convt3d_status convt3d_backward(const convt3d_params *p, convt3d_device device, const float *input,
                                const int64_t *input_shape, int input_rank, const float *weight,
                                const float *grad_output, int64_t grad_output_numel, float *grad_input,
                                float *grad_weight, float *grad_bias) {
    return guarded([&] {
        const convt3d::Device d = to_device(device);
        const convt3d::Params params = to_params(p);
        const convt3d::Shape in_shape = to_shape(input_shape, input_rank);
        const convt3d::Shape out_shape = convt3d::output_shape(params, in_shape);
        if (grad_output_numel != convt3d::numel(out_shape)) {
            throw convt3d::Error("convt3d: grad_output_numel=" + std::to_string(grad_output_numel) +
                                 " does not match output shape " + convt3d::shape_to_string(out_shape));
        }
        const convt3d::TensorView gi{grad_input, in_shape, d}, gw{grad_weight, convt3d::weight_shape(params), d},
            gb{grad_bias, {params.out_channels}, d};
        convt3d::conv_transpose3d_backward({grad_output, out_shape, d}, {input, in_shape, d},
                                           {weight, convt3d::weight_shape(params), d}, grad_input ? &gi : nullptr,
                                           grad_weight ? &gw : nullptr, grad_bias ? &gb : nullptr, params);
    });
}

convt3d_status convt3d_set_cpu_threads(int threads, int *previous) {
    return guarded([&] {
        const int before = convt3d::set_cpu_threads(threads);
        if (previous) *previous = before;
    });
}

int convt3d_cpu_threads(void) { return convt3d::cpu_threads(); }

void convt3d_release_workspace(void) { convt3d::release_workspace(); }

const char *convt3d_last_error(void) { return last_error.c_str(); }

}  // extern "C"
