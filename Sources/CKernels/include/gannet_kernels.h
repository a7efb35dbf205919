#ifndef GANNET_KERNELS_H
#define GANNET_KERNELS_H

#include <stddef.h>
#include <stdint.h>

/// y[i] = bf16(a[i] + b[i]), or with accumulate bf16(y[i] + (a[i] + b[i])): bfloat16 bits,
/// sums in float32, rounded once to nearest even (NaN stays a quiet NaN). y may be a or b.
/// Compiled for AVX-512, AVX2 and baseline x86-64, chosen at load time by the CPU.
void gannet_add_bfloat16(const uint16_t *a, const uint16_t *b, uint16_t *y, size_t count, int accumulate);

/// y[i] = a[i] + b[i], or with accumulate y[i] + (a[i] + b[i]), in float32. y may be a or b.
void gannet_add_float32(const float *a, const float *b, float *y, size_t count, int accumulate);

#endif
