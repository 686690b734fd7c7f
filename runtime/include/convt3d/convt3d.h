/* convt3d: plain C ABI over the C++ runtime. No C++ exception crosses it: every call
 * returns a status, and convt3d_last_error() gives the message of the last failure on
 * this thread. Spatial triples are (D, H, W); tensors are contiguous float32 NCDHW. */
#ifndef CONVT3D_H
#define CONVT3D_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum convt3d_status {
    CONVT3D_OK = 0,
    CONVT3D_INVALID_ARGUMENT = 1, /* bad parameters, shapes or buffers */
    CONVT3D_BACKEND_ERROR = 2,    /* no CUDA driver/device, out of memory, kernel failure */
} convt3d_status;

typedef enum convt3d_device {
    CONVT3D_DEVICE_CPU = 0,
    CONVT3D_DEVICE_CUDA = 1, /* pointers are CUDA device pointers */
} convt3d_device;

typedef struct convt3d_params {
    int64_t in_channels;
    int64_t out_channels;
    int64_t kernel_size[3];
    int64_t stride[3];
    int64_t padding[3];
    int64_t output_padding[3];
    int64_t groups;
    int bias; /* non-zero: a bias of out_channels values is added */
    int64_t dilation[3];
    const char *padding_mode; /* NULL means "zeros", the only mode supported */
} convt3d_params;

/* Fills p with torch.nn.ConvTranspose3d's defaults for the given channels and kernel. */
void convt3d_params_init(convt3d_params *p, int64_t in_channels, int64_t out_channels,
                         int64_t kd, int64_t kh, int64_t kw);

/* Output shape for an input of rank 4 or 5; writes `*output_rank` (= input_rank) values. */
convt3d_status convt3d_output_shape(const convt3d_params *p, const int64_t *input_shape,
                                    int input_rank, int64_t *output_shape, int *output_rank);

/* The multiply-adds the layer does on an input of rank 4 or 5 (bias excluded; the products
 * that padding crops are not counted), as convt3d::multiply_adds: for FLOP rates. */
convt3d_status convt3d_multiply_adds(const convt3d_params *p, const int64_t *input_shape, int input_rank,
                                     double *multiply_adds);

/* output = conv_transpose3d(input, weight, bias). bias may be NULL only when p->bias is 0.
 * output_numel must equal the number of elements of the output shape. */
convt3d_status convt3d_forward(const convt3d_params *p, convt3d_device device,
                               const float *input, const int64_t *input_shape, int input_rank,
                               const float *weight, const float *bias,
                               float *output, int64_t output_numel);

/* Training: gradients given grad_output = dL/d(output) (grad_output_numel elements, the
 * output shape). input and weight are always required. Each of grad_input (input shape),
 * grad_weight (weight shape) and grad_bias (out_channels values, only when p->bias) may be
 * NULL, and is then not computed; at least one must be given. Deterministic (no atomics). */
convt3d_status convt3d_backward(const convt3d_params *p, convt3d_device device,
                                const float *input, const int64_t *input_shape, int input_rank,
                                const float *weight, const float *grad_output, int64_t grad_output_numel,
                                float *grad_input, float *grad_weight, float *grad_bias);

/* Frees the intermediate buffers that the kernels keep between calls (see
 * convt3d::release_workspace in convt3d.hpp). */
void convt3d_release_workspace(void);

/* The CPU kernels' thread count, as convt3d::set_cpu_threads: 0 restores the default
 * (HL_NUM_THREADS when set, else the CPUs online). Writes the count before the call to
 * *previous unless previous is NULL. */
convt3d_status convt3d_set_cpu_threads(int threads, int *previous);
int convt3d_cpu_threads(void);

/* Message of the last failed call on this thread ("" if none). */
const char *convt3d_last_error(void);

#ifdef __cplusplus
}
#endif

#endif /* CONVT3D_H */
