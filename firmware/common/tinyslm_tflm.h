/*
 * tinyslm TFLM adapter: owns the model's MicroInterpreter, its op resolver and
 * the tensor arena, and runs the model for any modality: tinyslm_tflm_invoke()
 * takes the input tensor's bytes, tinyslm_tflm_infer() is the text core's
 * tinyslm_infer_fn over it.
 *
 * The input tensor's element type and count come from the project's
 * tinyslm_settings.h: TINYSLM_INPUT_TYPE (int32_t or int8_t) and
 * TINYSLM_INPUT_ELEMENTS. A settings header that defines neither is a text
 * project's: int32 token ids, TINYSLM_SEQ_LEN of them. The output is always one
 * int8 tensor of TINYSLM_NUM_LABELS scores.
 *
 * C linkage so the C99 core and any board glue can call it; the implementation
 * (tinyslm_tflm.cc) is C++17 built with -fno-exceptions -fno-rtti and
 * TF_LITE_STATIC_MEMORY, like TFLM itself.
 */
#ifndef TINYSLM_TFLM_H_
#define TINYSLM_TFLM_H_

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Error codes: tinyslm_tflm_init(), _invoke() and _infer() return 0 or one of these. */
#define TINYSLM_TFLM_ERR_MODEL 1         /* not a TFLite flatbuffer, or a schema version mismatch */
#define TINYSLM_TFLM_ERR_OPS 2           /* registering the model's ops failed */
#define TINYSLM_TFLM_ERR_INTERPRETER 3   /* MicroInterpreter could not be set up */
#define TINYSLM_TFLM_ERR_ARENA 4         /* AllocateTensors failed (arena too small?) */
#define TINYSLM_TFLM_ERR_INPUT 5         /* input is not [1, ...] of TINYSLM_INPUT_TYPE/_ELEMENTS */
#define TINYSLM_TFLM_ERR_OUTPUT 6        /* output tensor is not int8 [1, TINYSLM_NUM_LABELS] */
#define TINYSLM_TFLM_ERR_NOT_READY 10    /* infer before a successful init */
#define TINYSLM_TFLM_ERR_ARGS 11         /* NULL input or scores, or the wrong input size */
#define TINYSLM_TFLM_ERR_INVOKE 12       /* Invoke() failed */

/*
 * Sets up the interpreter over tinyslm_model_data with a static arena of
 * TINYSLM_ARENA_SIZE bytes and checks the input/output tensor types and shapes.
 * Returns 0, or an error code with a reason in tinyslm_tflm_last_error().
 * Calling it again after it succeeded is a no-op; after a failure it returns
 * the same code again.
 */
int tinyslm_tflm_init(void);

/*
 * Copies bytes bytes of input into the input tensor (bytes must be
 * sizeof(TINYSLM_INPUT_TYPE) * TINYSLM_INPUT_ELEMENTS), runs the model once and
 * copies scores[TINYSLM_NUM_LABELS] out. Returns 0, or an error code with a
 * reason in tinyslm_tflm_last_error().
 */
int tinyslm_tflm_invoke(const void *input, size_t bytes, int8_t *scores);

/*
 * The text core's tinyslm_infer_fn: tinyslm_tflm_invoke() over
 * ids[TINYSLM_INPUT_ELEMENTS] int32 token ids (TINYSLM_SEQ_LEN in a text
 * project). ctx is unused. A model whose input is not int32 refuses it with
 * TINYSLM_TFLM_ERR_ARGS.
 */
int tinyslm_tflm_infer(const int32_t *ids, int8_t *scores, void *ctx);

/* The reason for the last failure (NUL-terminated, ASCII), or "" when none. */
const char *tinyslm_tflm_last_error(void);

#ifdef __cplusplus
}

namespace tflite {
class MicroProfilerInterface;
}

/*
 * Measurement hook for emulators (tinyslm emulate --qemu): the MicroInterpreter is
 * built with this profiler, so TFLM times each op through it. Takes effect only
 * when called before the first tinyslm_tflm_init(); boards never call it.
 */
void tinyslm_tflm_set_profiler(tflite::MicroProfilerInterface *profiler);
#endif

#endif /* TINYSLM_TFLM_H_ */
