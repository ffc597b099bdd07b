// Bit-exactness check of tinyslm's MEAN kernel (firmware/common/tinyslm_mean.cc) against
// TFLM's own MEAN (tflite::Register_MEAN()), both run through TFLM's KernelRunner
// on the same tensors: seeded random int8 inputs, shapes, axes (negative,
// duplicated, contiguous or not), keep_dims and quantisation parameters, plus the
// text model's own shapes. Prints one summary line:
//   cases=N fast=K mismatches=M
// (fast: cases whose axes are one contiguous run, i.e. the kernel's own int8 path)
// and, for the first mismatches, the case. Exit status 0 iff no mismatch.
// On Cortex-M7 under QEMU (mean_driver_qemu.c) it runs MEAN_DRIVER_CASES cases.
// "mean_driver N plant" gives tinyslm's kernel an output zero point one higher, so
// that every case must mismatch: proof that the comparison can fail.

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tensorflow/lite/c/builtin_op_data.h"
#include "tensorflow/lite/micro/kernels/kernel_runner.h"
#include "tensorflow/lite/micro/kernels/reduce.h"
#include "tensorflow/lite/micro/test_helpers.h"
#include "tinyslm_mean.h"

#if defined(__arm__)
// cortex_m_generic TFLM prints through a callback: TFLM's reasons reach UART0.
#include "tensorflow/lite/micro/cortex_m_generic/debug_log_callback.h"
#endif

namespace {

constexpr int kMaxElements = 24000;
constexpr int kMaxOutputs = 1200;  // KernelRunner's arena holds the int32 accumulator

uint32_t g_rng = 0x2545F491u;

uint32_t next_u32() {  // xorshift32: the same cases on every machine
  g_rng ^= g_rng << 13;
  g_rng ^= g_rng >> 17;
  g_rng ^= g_rng << 5;
  return g_rng;
}

int uniform(int lo, int hi) {  // inclusive
  return lo + static_cast<int>(next_u32() % static_cast<uint32_t>(hi - lo + 1));
}

float log_uniform(float lo, float hi) {
  const float t = static_cast<float>(next_u32() % 1000000u) / 1000000.0f;
  return expf(logf(lo) + t * (logf(hi) - logf(lo)));
}

struct Case {
  int rank;
  int dims[4];
  int num_axis;
  int32_t axes[6];  // int32_t, not int: arm-none-eabi's int32_t is long
  bool keep_dims;
  float in_scale;
  int in_zp;
  float out_scale;
  int out_zp;
};

int8_t g_input[kMaxElements];
int8_t g_out_tinyslm[kMaxOutputs];
int8_t g_out_tflm[kMaxOutputs];

bool is_contiguous(const Case &c) {
  bool reduced[4] = {};
  for (int i = 0; i < c.num_axis; ++i) reduced[c.axes[i] < 0 ? c.axes[i] + c.rank : c.axes[i]] = true;
  int runs = 0;
  for (int d = 0; d < c.rank; ++d) {
    if (reduced[d] && (d == 0 || !reduced[d - 1])) ++runs;
  }
  return runs == 1;
}

// Output dims of the reduction, in TFLM's IntArrayFromInts form ([size, d0, ...]).
int output_dims(const Case &c, int *out) {
  bool reduced[4] = {};
  for (int i = 0; i < c.num_axis; ++i) reduced[c.axes[i] < 0 ? c.axes[i] + c.rank : c.axes[i]] = true;
  int n = 0, count = 1;
  for (int d = 0; d < c.rank; ++d) {
    if (!reduced[d]) {
      out[1 + n++] = c.dims[d];
      count *= c.dims[d];
    } else if (c.keep_dims) {
      out[1 + n++] = 1;
    }
  }
  if (n == 0) out[1 + n++] = 1;  // every axis reduced, no keep_dims: TFLM's [1]
  out[0] = n;
  return count;
}

bool run(const TFLMRegistration &registration, const Case &c, int8_t *output) {
  int in_dims[5] = {c.rank, c.dims[0], c.dims[1], c.dims[2], c.dims[3]};
  int axis_dims[2] = {1, c.num_axis};
  int out_dims[6];
  const int outputs = output_dims(c, out_dims);
  memset(output, 0x55, static_cast<size_t>(outputs));
  TfLiteTensor tensors[3] = {
      tflite::testing::CreateQuantizedTensor(g_input, tflite::testing::IntArrayFromInts(in_dims),
                                             c.in_scale, c.in_zp),
      tflite::testing::CreateTensor(c.axes, tflite::testing::IntArrayFromInts(axis_dims)),
      tflite::testing::CreateQuantizedTensor(output, tflite::testing::IntArrayFromInts(out_dims),
                                             c.out_scale, c.out_zp),
  };
  int inputs_array[3] = {2, 0, 1};
  int outputs_array[2] = {1, 2};
  TfLiteReducerParams params = {c.keep_dims};
  tflite::micro::KernelRunner runner(registration, tensors, 3,
                                     tflite::testing::IntArrayFromInts(inputs_array),
                                     tflite::testing::IntArrayFromInts(outputs_array), &params);
  return runner.InitAndPrepare() == kTfLiteOk && runner.Invoke() == kTfLiteOk;
}

Case random_case(int index) {
  Case c = {};
  if (index % 8 == 0) {  // the text model: [1, L, D] averaged over L
    c.rank = 3;
    c.dims[0] = 1;
    c.dims[1] = uniform(1, 300);
    c.dims[2] = uniform(1, 72);
    c.num_axis = 1;
    c.axes[0] = (index / 8) % 2 == 0 ? 1 : -2;
  } else {
    int total;
    do {
      c.rank = uniform(1, 4);
      total = 1;
      for (int d = 0; d < c.rank; ++d) {
        c.dims[d] = uniform(1, index % 3 == 0 ? 40 : 9);
        total *= c.dims[d];
      }
    } while (total > kMaxElements);
    c.num_axis = uniform(1, c.rank + 1);
    for (int i = 0; i < c.num_axis; ++i) {
      const int a = uniform(0, c.rank - 1);
      c.axes[i] = uniform(0, 1) == 0 ? a : a - c.rank;  // negative axes, duplicates
    }
  }
  c.keep_dims = uniform(0, 1) == 1;
  c.in_scale = log_uniform(1e-4f, 10.0f);
  c.out_scale = c.in_scale * log_uniform(0.02f, 50.0f);
  if (index % 5 == 0) c.out_scale = c.in_scale;  // MEAN often keeps the input's scale
  c.in_zp = uniform(-128, 127);
  c.out_zp = uniform(-128, 127);
  return c;
}

void print_case(const Case &c, int index) {
  printf("case %d: dims", index);
  for (int d = 0; d < c.rank; ++d) printf(" %d", c.dims[d]);
  printf(" axes");
  for (int i = 0; i < c.num_axis; ++i) printf(" %d", static_cast<int>(c.axes[i]));
  printf(" keep_dims %d in %g/%d out %g/%d\n", c.keep_dims ? 1 : 0, static_cast<double>(c.in_scale),
         c.in_zp, static_cast<double>(c.out_scale), c.out_zp);
}

int run_cases(int cases, bool plant) {
  const TFLMRegistration ours = tinyslm_Register_MEAN();
  const TFLMRegistration theirs = tflite::Register_MEAN();
  int fast = 0, mismatches = 0, failures = 0;
  for (int i = 0; i < cases; ++i) {
    Case c = random_case(i);
    int out_dims[6];
    const int outputs = output_dims(c, out_dims);
    if (outputs > kMaxOutputs) continue;
    int elements = 1;
    for (int d = 0; d < c.rank; ++d) elements *= c.dims[d];
    for (int e = 0; e < elements; ++e) {
      // Mostly uniform bytes; every 4th case clustered at the extremes (lane limits).
      g_input[e] = static_cast<int8_t>(i % 4 == 3 ? (uniform(0, 1) ? 127 : -128) : uniform(-128, 127));
    }
    fast += is_contiguous(c) ? 1 : 0;
    Case planted = c;
    if (plant) planted.out_zp = c.out_zp < 127 ? c.out_zp + 1 : c.out_zp - 1;
    const bool ok_ours = run(ours, planted, g_out_tinyslm);
    const bool ok_theirs = run(theirs, c, g_out_tflm);
    if (!ok_ours || !ok_theirs) {
      if (++failures <= 3) {
        printf("invoke failed (tinyslm %d, tflm %d): ", ok_ours ? 1 : 0, ok_theirs ? 1 : 0);
        print_case(c, i);
      }
      continue;
    }
    if (memcmp(g_out_tinyslm, g_out_tflm, static_cast<size_t>(outputs)) != 0) {
      if (++mismatches <= 5) print_case(c, i);
    }
  }
  printf("cases=%d fast=%d mismatches=%d failures=%d\n", cases, fast, mismatches, failures);
  return mismatches == 0 && failures == 0 ? 0 : 1;
}

}  // namespace

#if defined(__arm__)
// Under QEMU (mean_driver_qemu.c): no command line, a fixed number of cases.
#ifndef MEAN_DRIVER_CASES
#define MEAN_DRIVER_CASES 4000
#endif
static void print_log(const char *s) { fputs(s, stdout); }

int main(void) {
  RegisterDebugLogCallback(print_log);
  return run_cases(MEAN_DRIVER_CASES, false);
}
#else
int main(int argc, char **argv) {
  return run_cases(argc > 1 ? atoi(argv[1]) : 3000, argc > 2 && strcmp(argv[2], "plant") == 0);
}
#endif
