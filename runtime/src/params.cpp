// Argument validation and output-shape maths, following torch.nn.ConvTranspose3d's rules.
#include "convt3d/convt3d.hpp"

#include <limits>
#include <sstream>

namespace convt3d {

namespace {

const char *kAxis[3] = {"D", "H", "W"};

[[noreturn]] void fail(const std::string &msg) { throw Error("convt3d: " + msg); }

std::string triple_to_string(const Triple &t) {
    return "(" + std::to_string(t[0]) + ", " + std::to_string(t[1]) + ", " + std::to_string(t[2]) + ")";
}

void require_positive(const char *name, const Triple &t) {
    for (int i = 0; i < 3; i++) {
        if (t[i] <= 0) {
            fail(std::string(name) + "=" + triple_to_string(t) + " must be positive (axis " + kAxis[i] + " is " +
                 std::to_string(t[i]) + ")");
        }
    }
}

void require_non_negative(const char *name, const Triple &t) {
    for (int i = 0; i < 3; i++) {
        if (t[i] < 0) {
            fail(std::string(name) + "=" + triple_to_string(t) + " must be non-negative (axis " + kAxis[i] +
                 " is " + std::to_string(t[i]) + ")");
        }
    }
}

int64_t checked_mul(int64_t a, int64_t b, const char *what) {
    int64_t r;
    if (__builtin_mul_overflow(a, b, &r)) fail(std::string(what) + " overflows int64");
    return r;
}

int64_t checked_add(int64_t a, int64_t b, const char *what) {
    int64_t r;
    if (__builtin_add_overflow(a, b, &r)) fail(std::string(what) + " overflows int64");
    return r;
}

}  // namespace

const char *to_string(Device d) { return d == Device::cuda ? "cuda" : "cpu"; }

std::string shape_to_string(const Shape &shape) {
    std::ostringstream s;
    s << "(";
    for (size_t i = 0; i < shape.size(); i++) s << (i ? ", " : "") << shape[i];
    s << ")";
    return s.str();
}

int64_t numel(const Shape &shape, const char *what) {
    int64_t n = 1;
    for (size_t i = 0; i < shape.size(); i++) {
        if (shape[i] <= 0) {
            fail(std::string(what) + " shape " + shape_to_string(shape) + " has a non-positive extent at dim " +
                 std::to_string(i));
        }
        if (__builtin_mul_overflow(n, shape[i], &n)) {
            fail(std::string(what) + " shape " + shape_to_string(shape) + " has more elements than int64 holds");
        }
    }
    return n;
}

void validate(const Params &p) {
    if (p.in_channels <= 0) fail("in_channels=" + std::to_string(p.in_channels) + " must be positive");
    if (p.out_channels <= 0) fail("out_channels=" + std::to_string(p.out_channels) + " must be positive");
    if (p.groups <= 0) fail("groups=" + std::to_string(p.groups) + " must be positive");
    if (p.in_channels % p.groups != 0) {
        fail("groups=" + std::to_string(p.groups) + " must divide in_channels=" + std::to_string(p.in_channels));
    }
    if (p.out_channels % p.groups != 0) {
        fail("groups=" + std::to_string(p.groups) + " must divide out_channels=" + std::to_string(p.out_channels));
    }
    require_positive("kernel_size", p.kernel_size);
    require_positive("stride", p.stride);
    require_positive("dilation", p.dilation);
    require_non_negative("padding", p.padding);
    require_non_negative("output_padding", p.output_padding);
    for (int i = 0; i < 3; i++) {
        if (p.output_padding[i] >= p.stride[i] && p.output_padding[i] >= p.dilation[i]) {
            fail("output_padding=" + triple_to_string(p.output_padding) +
                 " must be smaller than either stride=" + triple_to_string(p.stride) +
                 " or dilation=" + triple_to_string(p.dilation) + " (axis " + kAxis[i] + ")");
        }
    }
    if (p.padding_mode != "zeros") {
        fail("padding_mode='" + p.padding_mode + "' is not supported: ConvTranspose3d supports only 'zeros'");
    }
    // Sizes that overflow int64 in the shape formula are rejected here, not wrapped.
    for (int i = 0; i < 3; i++) {
        checked_add(checked_mul(p.dilation[i], p.kernel_size[i] - 1, "dilation*(kernel_size-1)"),
                    checked_mul(2, p.padding[i], "2*padding"), "dilation*(kernel_size-1) + 2*padding");
    }
    numel(weight_shape(p), "weight");
}

Shape weight_shape(const Params &p) {
    return {p.in_channels, p.out_channels / (p.groups > 0 ? p.groups : 1), p.kernel_size[0], p.kernel_size[1],
            p.kernel_size[2]};
}

Shape output_shape(const Params &p, const Shape &input_shape) {
    validate(p);
    const size_t rank = input_shape.size();
    if (rank != 4 && rank != 5) {
        fail("input shape " + shape_to_string(input_shape) + " has rank " + std::to_string(rank) +
             "; expected 5 (N, C, D, H, W) or 4 (C, D, H, W)");
    }
    numel(input_shape, "input");
    const size_t c = rank - 4;
    if (input_shape[c] != p.in_channels) {
        fail("input shape " + shape_to_string(input_shape) + " has " + std::to_string(input_shape[c]) +
             " channels; expected in_channels=" + std::to_string(p.in_channels));
    }
    Shape out = input_shape;
    out[c] = p.out_channels;
    for (int i = 0; i < 3; i++) {
        // (in - 1) * stride - 2 * padding + dilation * (k - 1) + output_padding + 1
        int64_t size = checked_mul(input_shape[c + 1 + i] - 1, p.stride[i], "output size");
        size = checked_add(size, -2 * p.padding[i], "output size");
        size = checked_add(size, checked_mul(p.dilation[i], p.kernel_size[i] - 1, "output size"), "output size");
        size = checked_add(size, p.output_padding[i] + 1, "output size");
        if (size <= 0) {
            fail(std::string("output size on axis ") + kAxis[i] + " is " + std::to_string(size) +
                 " (input " + std::to_string(input_shape[c + 1 + i]) + ", stride " + std::to_string(p.stride[i]) +
                 ", padding " + std::to_string(p.padding[i]) + ", dilation " + std::to_string(p.dilation[i]) +
                 ", kernel_size " + std::to_string(p.kernel_size[i]) + "); it must be positive");
        }
        out[c + 1 + i] = size;
    }
    numel(out, "output");
    return out;
}

double multiply_adds(const Params &p, const Shape &input_shape) {
    const Shape out = output_shape(p, input_shape);  // validates both
    const size_t c = input_shape.size() - 4;
    double pairs = 1;
    for (int i = 0; i < 3; i++) {
        // Output position o = in * stride - padding + k * dilation, for each input position and tap.
        int64_t inside = 0;
        for (int64_t in = 0; in < input_shape[c + 1 + i]; in++) {
            for (int64_t k = 0; k < p.kernel_size[i]; k++) {
                const int64_t o = in * p.stride[i] - p.padding[i] + k * p.dilation[i];
                inside += o >= 0 && o < out[c + 1 + i];
            }
        }
        pairs *= double(inside);
    }
    const double batch = c == 1 ? double(input_shape[0]) : 1.0;
    return batch * double(p.in_channels) * double(p.out_channels / p.groups) * pairs;
}

}  // namespace convt3d
