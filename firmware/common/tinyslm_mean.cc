// tinyslm MEAN kernel (see tinyslm_mean.h).
//
// Why: TFLM's int8 MEAN runs reference_ops::QuantizedMeanOrSum, which walks every
// input element through a std::function reducer and recomputes two flat offsets
// per element; CMSIS-NN has no MEAN. For the text model's [1, L, D] -> [1, D] mean
// that was 94% of Invoke on a Cortex-M7. Here the sums are plain column sums and the
// rescale is the reference's own code, so the result is the same int8 bytes: integer
// addition is exact in any order, and the rescale calls TFLM's
// MultiplyByQuantizedMultiplier with the multiplier and shift the reference derives.
// Every other case (float, int16, non-contiguous axes, empty tensors) is handed to
// TFLM's own EvalMeanHelper, and Prepare is TFLM's, so scratch buffers and checks
// are unchanged.

#include "tinyslm_mean.h"

#include <stddef.h>
#include <stdint.h>

#include <new>

#if defined(__ARM_FEATURE_SIMD32) && defined(__ARM_FEATURE_DSP)
#include <arm_acle.h>
#include <string.h>
#define TINYSLM_MEAN_SIMD 1
#endif

#include "tensorflow/lite/c/builtin_op_data.h"
#include "tensorflow/lite/c/common.h"
#include "tensorflow/lite/kernels/internal/common.h"
#include "tensorflow/lite/micro/kernels/kernel_util.h"
#include "tensorflow/lite/micro/kernels/reduce.h"
#include "tensorflow/lite/micro/micro_utils.h"

namespace {

constexpr int kMaxDims = 8;
constexpr int64_t kMaxReduce = int64_t{1} << 24;  // 2^24 * -128 == INT32_MIN

#ifdef TINYSLM_MEAN_SIMD
// Four int8 columns per 32-bit word: SXTAB16 adds bytes 0 and 2 (and, rotated by 8,
// bytes 1 and 3) to two signed 16-bit lanes. A lane sums at most kLaneRows values of
// -128..127, so every partial sum stays within -32768..32512 and never wraps; the
// lanes are widened to int32 after each block of rows.
constexpr int kLaneRows = 256;

inline int32_t load4(const int8_t *p) {
  int32_t w;
  memcpy(&w, p, sizeof w);  // one LDR: Cortex-M7 allows unaligned word loads
  return w;
}

// lanes += sign-extended bytes 1 and 3 of w (SXTAB16 with its own ROR #8, which GCC
// does not fold from a separate rotate).
inline int32_t sxtab16_ror8(int32_t lanes, int32_t w) {
  int32_t out;
  __asm__("sxtab16 %0, %1, %2, ror #8" : "=r"(out) : "r"(lanes), "r"(w));
  return out;
}

// acc[c..c+3] += sum over rows of col[c..c+3], rows spaced `stride` bytes apart.
// Two rows per iteration: 2 loads, 4 SXTAB16, a pointer step and the loop test
// per 8 values. Not inlined, so the loop gets the registers to itself (no spills).
__attribute__((noinline)) void sum4_columns(const int8_t *col, int rows, int stride, int32_t *acc) {
  int32_t a0 = 0, a1 = 0, a2 = 0, a3 = 0;
  while (rows > 0) {
    const int n = rows < kLaneRows ? rows : kLaneRows;
    int32_t even = 0, odd = 0;  // lanes: (c, c+2) and (c+1, c+3)
    if ((n & 1) != 0) {
      const int32_t w = load4(col);
      even = __sxtab16(even, w);
      odd = sxtab16_ror8(odd, w);
      col += stride;
    }
    const int8_t *const end = col + static_cast<ptrdiff_t>(n & ~1) * stride;
    while (col != end) {
      const int32_t w0 = load4(col);
      const int32_t w1 = load4(col + stride);
      col += 2 * stride;
      even = __sxtab16(even, w0);
      odd = sxtab16_ror8(odd, w0);
      even = __sxtab16(even, w1);
      odd = sxtab16_ror8(odd, w1);
    }
    a0 += static_cast<int16_t>(static_cast<uint32_t>(even) & 0xFFFFu);
    a2 += static_cast<int16_t>(static_cast<uint32_t>(even) >> 16);
    a1 += static_cast<int16_t>(static_cast<uint32_t>(odd) & 0xFFFFu);
    a3 += static_cast<int16_t>(static_cast<uint32_t>(odd) >> 16);
    rows -= n;
  }
  acc[0] += a0;
  acc[1] += a1;
  acc[2] += a2;
  acc[3] += a3;
}
#else
void sum4_columns(const int8_t *col, int rows, int stride, int32_t *acc) {
  int32_t a0 = 0, a1 = 0, a2 = 0, a3 = 0;
  for (int r = 0; r < rows; ++r) {
    a0 += col[0];
    a1 += col[1];
    a2 += col[2];
    a3 += col[3];
    col += stride;
  }
  acc[0] += a0;
  acc[1] += a1;
  acc[2] += a2;
  acc[3] += a3;
}
#endif

void sum1_column(const int8_t *col, int rows, int stride, int32_t *acc) {
  int32_t a = 0;
  for (int r = 0; r < rows; ++r) {
    a += *col;
    col += stride;
  }
  *acc += a;
}

// The input viewed as [outer, reduce, inner]: true iff the axes (negative ones
// counted from the end, duplicates ignored, as TFLM's ResolveAxis does) are one
// contiguous, non-empty run of dimensions, no dimension is zero, and a column sum
// (at most kMaxReduce int8 values) cannot overflow int32.
bool contiguous_view(const TfLiteEvalTensor *input, const TfLiteEvalTensor *axis, int *outer,
                     int *reduce, int *inner) {
  const int dims = input->dims->size;
  const int num_axis = static_cast<int>(tflite::ElementCount(*axis->dims));
  if (dims <= 0 || dims > kMaxDims || num_axis <= 0 || axis->type != kTfLiteInt32) return false;
  bool reduced[kMaxDims] = {};
  const int32_t *axes = tflite::micro::GetTensorData<int32_t>(axis);
  for (int i = 0; i < num_axis; ++i) {
    const int a = axes[i] < 0 ? axes[i] + dims : axes[i];
    if (a < 0 || a >= dims) return false;  // TFLM's path reports the error
    reduced[a] = true;
  }
  int first = 0;
  while (!reduced[first]) ++first;
  int last = first;
  while (last + 1 < dims && reduced[last + 1]) ++last;
  for (int d = last + 1; d < dims; ++d) {
    if (reduced[d]) return false;  // a second run: not contiguous
  }
  int64_t o = 1, r = 1, n = 1;
  for (int d = 0; d < dims; ++d) {
    const int size = input->dims->data[d];
    if (size <= 0) return false;
    if (d < first) {
      o *= size;
    } else if (d <= last) {
      r *= size;
    } else {
      n *= size;
    }
  }
  if (o * r * n > INT32_MAX || r > kMaxReduce) return false;
  *outer = static_cast<int>(o);
  *reduce = static_cast<int>(r);
  *inner = static_cast<int>(n);
  return true;
}

void *Init(TfLiteContext *context, const char *buffer, size_t length) {
  (void)buffer;
  (void)length;
  void *data = context->AllocatePersistentBuffer(context, sizeof(tflite::OpDataReduce));
  return data == nullptr ? nullptr : new (data) tflite::OpDataReduce();
}

TfLiteStatus Prepare(TfLiteContext *context, TfLiteNode *node) {
  return tflite::PrepareMeanOrSumHelper(context, node,
                                        static_cast<tflite::OpDataReduce *>(node->user_data));
}

TfLiteStatus Eval(TfLiteContext *context, TfLiteNode *node) {
  auto *op_data = static_cast<tflite::OpDataReduce *>(node->user_data);
  const TfLiteEvalTensor *input = tflite::micro::GetEvalInput(context, node, 0);
  const TfLiteEvalTensor *axis = tflite::micro::GetEvalInput(context, node, 1);
  TfLiteEvalTensor *output = tflite::micro::GetEvalOutput(context, node, 0);
  int outer = 0, reduce = 0, inner = 0;
  if (input->type == kTfLiteInt8 && output->type == kTfLiteInt8 &&
      contiguous_view(input, axis, &outer, &reduce, &inner)) {
    auto *acc = static_cast<int32_t *>(
        context->GetScratchBuffer(context, op_data->scratch_accumulator_idx));
    if (acc != nullptr &&
        tinyslm_mean_int8(tflite::micro::GetTensorData<int8_t>(input), outer, reduce, inner,
                          op_data->input_zp, op_data->multiplier, op_data->shift,
                          op_data->output_zp, tflite::micro::GetTensorData<int8_t>(output),
                          acc)) {
      return kTfLiteOk;
    }
  }
  return tflite::EvalMeanHelper(context, node, op_data);
}

}  // namespace

bool tinyslm_mean_int8(const int8_t *in, int outer, int reduce, int inner, int32_t input_zp,
                       int32_t multiplier, int shift, int32_t output_zp, int8_t *out,
                       int32_t *acc) {
  if (outer <= 0 || reduce <= 0 || inner <= 0) return false;
  // The reference folds 1/reduce into the multiplier (reduce.h, QuantizedMeanOrSum):
  // the same steps, in the same integer types.
  const int64_t count = reduce;
  int extra = 63 - tflite::CountLeadingZeros(static_cast<uint64_t>(count));
  extra = extra < 32 ? extra : 32;
  extra = extra < 31 + shift ? extra : 31 + shift;
  if (extra < 0) return false;  // the reference shifts left by a negative amount (UB)
  const int32_t mean_multiplier =
      static_cast<int32_t>((static_cast<int64_t>(multiplier) << extra) / count);
  const int mean_shift = shift - extra;

  const int stride = inner;
  for (int o = 0; o < outer; ++o) {
    const int8_t *block = in + static_cast<ptrdiff_t>(o) * reduce * inner;
    int32_t *sums = acc + static_cast<ptrdiff_t>(o) * inner;
    int c = 0;
    for (; c + 4 <= inner; c += 4) {
      sums[c] = sums[c + 1] = sums[c + 2] = sums[c + 3] = 0;
      sum4_columns(block + c, reduce, stride, sums + c);
    }
    for (; c < inner; ++c) {
      sums[c] = 0;
      sum1_column(block + c, reduce, stride, sums + c);
    }
  }
  const int total = outer * inner;
  for (int i = 0; i < total; ++i) {
    const int32_t shifted = static_cast<int32_t>(acc[i] - input_zp * count);
    int32_t value =
        tflite::MultiplyByQuantizedMultiplier(shifted, mean_multiplier, mean_shift) + output_zp;
    value = value < INT8_MIN ? INT8_MIN : (value > INT8_MAX ? INT8_MAX : value);
    out[i] = static_cast<int8_t>(value);
  }
  return true;
}

TFLMRegistration tinyslm_Register_MEAN() {
  return tflite::micro::RegisterOp(Init, Prepare, Eval);
}
