#include "gannet_kernels.h"

#include <string.h>

static inline float from_bfloat16(uint16_t bits) {
    uint32_t raw = (uint32_t)bits << 16;
    float value;
    memcpy(&value, &raw, sizeof value);
    return value;
}

// Round to nearest even, as BFloat16.bits(from:) in TensorCore; branch-free so it vectorises.
static inline uint16_t to_bfloat16(float value) {
    uint32_t raw;
    memcpy(&raw, &value, sizeof raw);
    uint16_t rounded = (uint16_t)((raw + 0x7FFFu + ((raw >> 16) & 1u)) >> 16);
    uint16_t quiet_nan = (uint16_t)(raw >> 16) | 0x0040;
    return value != value ? quiet_nan : rounded;
}

// Swift's release build targets baseline x86-64; the clones give the compiler wider vectors.
__attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
void gannet_add_bfloat16(const uint16_t *a, const uint16_t *b, uint16_t *y, size_t count, int accumulate) {
    size_t i = 0;
    // Blocks of 16: every input of a block is read before its output is written, so y may
    // alias a or b.
    for (; i + 16 <= count; i += 16) {
        float sum[16];
        uint16_t out[16];
        for (int j = 0; j < 16; j++) sum[j] = from_bfloat16(a[i + j]) + from_bfloat16(b[i + j]);
        if (accumulate)
            for (int j = 0; j < 16; j++) sum[j] = from_bfloat16(y[i + j]) + sum[j];
        for (int j = 0; j < 16; j++) out[j] = to_bfloat16(sum[j]);
        memcpy(y + i, out, sizeof out);
    }
    for (; i < count; i++) {
        float sum = from_bfloat16(a[i]) + from_bfloat16(b[i]);
        if (accumulate) sum = from_bfloat16(y[i]) + sum;
        y[i] = to_bfloat16(sum);
    }
}

__attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
void gannet_add_float32(const float *a, const float *b, float *y, size_t count, int accumulate) {
    size_t i = 0;
    for (; i + 16 <= count; i += 16) {
        float sum[16];
        for (int j = 0; j < 16; j++) sum[j] = a[i + j] + b[i + j];
        if (accumulate)
            for (int j = 0; j < 16; j++) sum[j] = y[i + j] + sum[j];
        memcpy(y + i, sum, sizeof sum);
    }
    for (; i < count; i++) {
        float sum = a[i] + b[i];
        y[i] = accumulate ? y[i] + sum : sum;
    }
}
