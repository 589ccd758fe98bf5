/* The copy loop of the training crops (see _crops.pyx): float16 feature rows gathered from
 * memory-mapped shards and widened to float32 in one pass, without the GIL.
 *
 * Widening uses the CPU's F16C instructions (8 values per instruction) where the CPU has them,
 * checked once at run time, so the module built on one x86-64 machine runs on any other; the
 * portable fallback converts bit by bit and gives the same floats (IEEE 754 binary16 -> binary32
 * is exact for every value; a NaN keeps its payload with the quiet bit set, as F16C does). */
#ifndef DISCOGS_TOOLS_CROPS_KERNEL_H
#define DISCOGS_TOOLS_CROPS_KERNEL_H

#include <stdint.h>
#include <string.h>

static inline float crops_half_to_float(uint16_t h)
{
    uint32_t sign = (uint32_t)(h & 0x8000u) << 16;
    uint32_t exp = (h >> 10) & 0x1fu;
    uint32_t mant = h & 0x3ffu;
    uint32_t bits;
    if (exp == 0) {
        if (mant == 0) {
            bits = sign;
        } else { /* subnormal half: normal float */
            int32_t e = 127 - 15 + 1;
            while (!(mant & 0x400u)) { mant <<= 1; e--; }
            bits = sign | ((uint32_t)e << 23) | ((mant & 0x3ffu) << 13);
        }
    } else if (exp == 0x1f) { /* inf, NaN (quiet bit set, as the hardware does) */
        bits = sign | 0x7f800000u | (mant << 13) | (mant ? 0x00400000u : 0u);
    } else {
        bits = sign | ((exp + 112u) << 23) | (mant << 13);
    }
    float f;
    memcpy(&f, &bits, sizeof f);
    return f;
}

static void crops_widen_portable(const uint16_t *src, float *dst, int64_t n)
{
    for (int64_t i = 0; i < n; i++) dst[i] = crops_half_to_float(src[i]);
}

#if (defined(__x86_64__) || defined(__i386__)) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>
#define CROPS_HAVE_F16C_PATH 1
__attribute__((target("avx,f16c")))
static void crops_widen_f16c(const uint16_t *src, float *dst, int64_t n)
{
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) {
        __m128i a = _mm_loadu_si128((const __m128i *)(src + i));
        __m128i b = _mm_loadu_si128((const __m128i *)(src + i + 8));
        _mm256_storeu_ps(dst + i, _mm256_cvtph_ps(a));
        _mm256_storeu_ps(dst + i + 8, _mm256_cvtph_ps(b));
    }
    for (; i < n; i++) dst[i] = crops_half_to_float(src[i]);
}

static int crops_cpu_has_f16c(void)
{
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx") && __builtin_cpu_supports("f16c");
}
#else
#define CROPS_HAVE_F16C_PATH 0
static void crops_widen_f16c(const uint16_t *src, float *dst, int64_t n) { crops_widen_portable(src, dst, n); }
static int crops_cpu_has_f16c(void) { return 0; }
#endif

/* Crop j: rows begins[j] .. begins[j] + counts[j] - 1 of the shard at bases[which[j]] (row width
 * `width` values), widened into out + j * length * width, zeros after counts[j] rows. The caller
 * has checked every range against its shard. `fast`: use the F16C path. */
static void crops_gather(const uint16_t *const *bases, const int64_t *which, const int64_t *begins,
                         const int64_t *counts, int64_t n, int64_t length, int64_t width, float *out,
                         int fast)
{
    for (int64_t j = 0; j < n; j++) {
        const uint16_t *src = bases[which[j]] + begins[j] * width;
        float *dst = out + j * length * width;
        int64_t values = counts[j] * width;
        if (fast) crops_widen_f16c(src, dst, values);
        else crops_widen_portable(src, dst, values);
        if (counts[j] < length)
            memset(dst + values, 0, (size_t)((length - counts[j]) * width) * sizeof(float));
    }
}

#endif
