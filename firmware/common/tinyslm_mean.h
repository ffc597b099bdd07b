/*
 * tinyslm's MEAN kernel for TFLM (see tinyslm_mean.cc): TFLM's own MEAN, with a
 * fast path for int8 means over one contiguous run of axes (the text model's
 * average over the sequence axis) that computes exactly TFLM's arithmetic.
 * C++17, no exceptions, no RTTI, no heap, like TFLM itself.
 */
#ifndef TINYSLM_MEAN_H_
#define TINYSLM_MEAN_H_

#include <stdint.h>

#include "tensorflow/lite/micro/micro_common.h"

/* The registration for MicroMutableOpResolver::AddMean(). */
TFLMRegistration tinyslm_Register_MEAN();

/*
 * The fast path on its own: out[o][i] = mean over r of in[o][r][i] for an int8
 * tensor viewed as [outer, reduce, inner], rescaled and rounded exactly as TFLM's
 * reference_ops::QuantizedMeanOrSum does for int8 (multiplier/shift from
 * QuantizeMultiplier(input_scale / output_scale)). acc holds outer * inner int32.
 * Returns false, writing nothing, where TFLM's arithmetic is not reproduced
 * (an empty reduction, or a multiplier it would shift by a negative amount).
 */
bool tinyslm_mean_int8(const int8_t *in, int outer, int reduce, int inner, int32_t input_zp,
                       int32_t multiplier, int shift, int32_t output_zp, int8_t *out,
                       int32_t *acc);

#endif /* TINYSLM_MEAN_H_ */
