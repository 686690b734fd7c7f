// Schedule templates for the backward kernels (grad_input, grad_weight, grad_bias). Their
// knobs are plain numbers, so a schedule is data: schedules/backward.json holds the values
// per target class and gradient; cmake/Convt3dBackwardKernels.cmake passes them to the
// generators as generator parameters. Every reduction keeps a fixed order (serial, or
// split into a fixed set of vector lanes that are then summed in order, or on CUDA a fixed
// tree of serial sums), so gradients are bitwise identical from run to run.
//
// One header per gradient (grad_input_schedules.h, grad_weight_schedules.h,
// grad_bias_schedules.h); their knobs in backward_knobs.h, shared pieces in
// backward_schedule_parts.h.
#pragma once

#include "grad_bias_schedules.h"
#include "grad_input_schedules.h"
#include "grad_weight_schedules.h"
