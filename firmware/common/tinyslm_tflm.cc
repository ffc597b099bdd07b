// tinyslm TFLM adapter (see tinyslm_tflm.h). C++17, no exceptions, no RTTI,
// no heap: the interpreter and op resolver live in static storage built with
// placement new, the arena is one static alignas(16) buffer.

#include "tinyslm_tflm.h"

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <new>

#include "tensorflow/lite/micro/arena_allocator/single_arena_buffer_allocator.h"
#include "tensorflow/lite/micro/memory_planner/greedy_memory_planner.h"
#include "tensorflow/lite/micro/micro_allocator.h"
#include "tensorflow/lite/micro/micro_interpreter.h"
#include "tensorflow/lite/schema/schema_generated.h"
#include "tinyslm_model_data.h"
#include "tinyslm_ops.h"
#include "tinyslm_settings.h"

// The input tensor's element type and count (see tinyslm_tflm.h). A text
// project's settings name neither: its input is TINYSLM_SEQ_LEN int32 ids.
#ifndef TINYSLM_INPUT_TYPE
#define TINYSLM_INPUT_TYPE int32_t
#endif
#ifndef TINYSLM_INPUT_ELEMENTS
#define TINYSLM_INPUT_ELEMENTS TINYSLM_SEQ_LEN
#endif

// cortex_m_generic TFLM trees route DebugLog through a callback and print
// nothing until one is registered; other ports (host, esp-tflite-micro) print
// on their own and do not ship this header.
#if defined(__ARM_ARCH) && defined(__has_include)
#if __has_include("tensorflow/lite/micro/cortex_m_generic/debug_log_callback.h")
#include "tensorflow/lite/micro/cortex_m_generic/debug_log_callback.h"
#define TINYSLM_TFLM_HAS_LOG_CALLBACK 1
#endif
#endif

// esp-tflite-micro's DebugLog (tensorflow/lite/micro/debug_log.cc) vfprintf's to
// stderr: the console UART0, which carries the JSON-lines protocol, so TFLM's text (a
// missing op, an arena too small) went out raw between the JSON lines. The ESP32 build
// defines DebugLog and DebugVsnprintf here instead, the two symbols of that file, so the
// linker never takes its object from the component's static library (were it taken,
// the link fails on a duplicate symbol rather than printing), and TFLM's log is kept as
// on the STM32H7: the last line goes into tinyslm_tflm_last_error()'s reason, nothing to
// the UART. Only with ESP-IDF: the host builds link TFLM's own debug_log.cc.
#if defined(ESP_PLATFORM) && !defined(TINYSLM_TFLM_HAS_LOG_CALLBACK)
#include <stdarg.h>
#include <stdio.h>

#include "tensorflow/lite/micro/debug_log.h"
#define TINYSLM_TFLM_OWN_DEBUG_LOG 1
#endif

namespace {

// The TfLiteType and the name (for error reasons) of TINYSLM_INPUT_TYPE; any
// other type does not compile.
template <typename T>
struct InputType;
template <>
struct InputType<int32_t> {
  static constexpr TfLiteType kType = kTfLiteInt32;
  static constexpr const char *kName = "int32";
};
template <>
struct InputType<int8_t> {
  static constexpr TfLiteType kType = kTfLiteInt8;
  static constexpr const char *kName = "int8";
};
using Input = InputType<TINYSLM_INPUT_TYPE>;
constexpr size_t kInputBytes = sizeof(TINYSLM_INPUT_TYPE) * (TINYSLM_INPUT_ELEMENTS);
static_assert(TINYSLM_INPUT_ELEMENTS > 0, "TINYSLM_INPUT_ELEMENTS must be positive");

// The arena is the program's only large mutable buffer; 16-byte alignment is
// what TFLM's allocator expects for tensor data.
alignas(16) uint8_t g_arena[TINYSLM_ARENA_SIZE];
// TFLM places its buffer allocator, memory planner and MicroAllocator in the arena's
// tail without checking that they fit (MicroAllocator::Create): in a smaller arena the
// MicroInterpreter constructor dereferences null, a hard fault before
// initialization_status() can report anything. Every model needs far more than this, so
// a TINYSLM_ARENA_SIZE edited below it is a build error rather than a crash on the board.
constexpr size_t kTflmBookkeepingBytes = sizeof(tflite::SingleArenaBufferAllocator) +
                                         sizeof(tflite::GreedyMemoryPlanner) +
                                         sizeof(tflite::MicroAllocator) + 4 * 16;
static_assert(TINYSLM_ARENA_SIZE >= kTflmBookkeepingBytes,
              "TINYSLM_ARENA_SIZE (src/tinyslm_settings.h) is below TFLM's own bookkeeping; "
              "regenerate the project");

// Storage for objects built once in tinyslm_tflm_init(): placement new avoids
// both the heap and the guard code of function-local statics.
alignas(tinyslm_op_resolver_t) uint8_t g_resolver_buf[sizeof(tinyslm_op_resolver_t)];
alignas(tflite::MicroInterpreter) uint8_t g_interpreter_buf[sizeof(tflite::MicroInterpreter)];

tflite::MicroInterpreter *g_interpreter = nullptr;
tflite::MicroProfilerInterface *g_profiler = nullptr;  // see tinyslm_tflm_set_profiler()
TfLiteTensor *g_input = nullptr;
TfLiteTensor *g_output = nullptr;
int g_init_code = -1;  // -1: not tried yet; 0: ready; else the failing code

char g_error[160];
// The last line TFLM logged: its explanation of a failed AllocateTensors etc.
char g_tflm_log[96];

// Appends src to dst (capacity cap, always NUL-terminated), dropping what does not fit.
void append(char *dst, size_t cap, const char *src) {
  size_t n = strlen(dst);
  while (src != nullptr && *src != '\0' && n + 1 < cap) dst[n++] = *src++;
  dst[n] = '\0';
}

void append_uint(char *dst, size_t cap, uint32_t value) {
  char digits[11];
  size_t n = 0;
  do {
    digits[n++] = static_cast<char>('0' + value % 10u);
    value /= 10u;
  } while (value != 0u);
  char text[11];
  for (size_t i = 0; i < n; ++i) text[i] = digits[n - 1 - i];
  text[n] = '\0';
  append(dst, cap, text);
}

// Adds TFLM's own explanation, when it logged one, to the reason in g_error.
void append_tflm_log() {
  if (g_tflm_log[0] == '\0') return;
  append(g_error, sizeof(g_error), " (tflm: ");
  append(g_error, sizeof(g_error), g_tflm_log);
  append(g_error, sizeof(g_error), ")");
}

int fail(int code, const char *reason) {
  g_error[0] = '\0';
  append(g_error, sizeof(g_error), reason);
  append_tflm_log();
  return code;
}

#if defined(TINYSLM_TFLM_HAS_LOG_CALLBACK) || defined(TINYSLM_TFLM_OWN_DEBUG_LOG)
// Keeps TFLM's last log line (printable ASCII only) so the board glue can
// print it through tinyslm_tflm_last_error() over its own serial port.
void log_callback(const char *s) {
  size_t n = 0;
  for (; s != nullptr && *s != '\0' && n + 1 < sizeof(g_tflm_log); ++s) {
    const unsigned char c = static_cast<unsigned char>(*s);
    if (c >= 0x20 && c < 0x7f) g_tflm_log[n++] = static_cast<char>(c);
  }
  if (n > 0) g_tflm_log[n] = '\0';
}
#endif

}  // namespace

#ifdef TINYSLM_TFLM_OWN_DEBUG_LOG
// What TFLM's MicroSnprintf and MicroVsnprintf format with (debug_log.h).
extern "C" int DebugVsnprintf(char *buffer, size_t buf_size, const char *format, va_list vlist) {
  return vsnprintf(buffer, buf_size, format, vlist);
}

// Every MicroPrintf: formatted into a bounded buffer (a longer message is cut) and kept,
// as cortex_m_generic's DebugLog hands it to log_callback on the STM32H7.
extern "C" void DebugLog(const char *format, va_list args) {
  char line[sizeof(g_tflm_log)];
  if (format == nullptr || vsnprintf(line, sizeof(line), format, args) < 0) return;
  log_callback(line);
}
#endif

namespace {

// True when t is a rank-2 tensor [1, width] of the given type.
bool has_shape(const TfLiteTensor *t, TfLiteType type, int width) {
  return t != nullptr && t->type == type && t->dims != nullptr && t->dims->size == 2 &&
         t->dims->data[0] == 1 && t->dims->data[1] == width;
}

// True when t is the model input the settings describe: batch 1, any rank
// (text [1, L], audio [1, frames, bins, 1]), TINYSLM_INPUT_ELEMENTS elements of
// TINYSLM_INPUT_TYPE, kInputBytes bytes.
bool is_settings_input(const TfLiteTensor *t) {
  if (t == nullptr || t->type != Input::kType || t->dims == nullptr || t->dims->size < 2 ||
      t->dims->data[0] != 1 || t->bytes != kInputBytes) {
    return false;
  }
  size_t elements = 1;
  for (int i = 1; i < t->dims->size; ++i) {
    if (t->dims->data[i] <= 0) return false;
    elements *= static_cast<size_t>(t->dims->data[i]);
  }
  return elements == static_cast<size_t>(TINYSLM_INPUT_ELEMENTS);
}

int init_once() {
#ifdef TINYSLM_TFLM_HAS_LOG_CALLBACK
  RegisterDebugLogCallback(log_callback);
#endif
  if (!tflite::ModelBufferHasIdentifier(tinyslm_model_data)) {
    return fail(TINYSLM_TFLM_ERR_MODEL, "model data is not a TFLite flatbuffer");
  }
  const tflite::Model *model = tflite::GetModel(tinyslm_model_data);
  if (model->version() != TFLITE_SCHEMA_VERSION) {
    g_error[0] = '\0';
    append(g_error, sizeof(g_error), "model schema version ");
    append_uint(g_error, sizeof(g_error), model->version());
    append(g_error, sizeof(g_error), " is not the supported version ");
    append_uint(g_error, sizeof(g_error), TFLITE_SCHEMA_VERSION);
    return TINYSLM_TFLM_ERR_MODEL;
  }

  auto *resolver = new (g_resolver_buf) tinyslm_op_resolver_t();
  if (tinyslm_register_ops(*resolver) != kTfLiteOk) {
    return fail(TINYSLM_TFLM_ERR_OPS, "registering the model's ops failed");
  }

  auto *interpreter =
      new (g_interpreter_buf) tflite::MicroInterpreter(model, *resolver, g_arena, sizeof(g_arena),
                                                       /*resource_variables=*/nullptr, g_profiler);
  if (interpreter->initialization_status() != kTfLiteOk) {
    return fail(TINYSLM_TFLM_ERR_INTERPRETER, "MicroInterpreter initialization failed");
  }
  if (interpreter->AllocateTensors() != kTfLiteOk) {
    g_error[0] = '\0';
    append(g_error, sizeof(g_error), "AllocateTensors failed with a ");
    append_uint(g_error, sizeof(g_error), static_cast<uint32_t>(sizeof(g_arena)));
    append(g_error, sizeof(g_error), "-byte arena");
    append_tflm_log();
    return TINYSLM_TFLM_ERR_ARENA;
  }
  if (interpreter->inputs_size() != 1 || !is_settings_input(interpreter->input(0))) {
    g_error[0] = '\0';
    append(g_error, sizeof(g_error), "model input is not one ");
    append(g_error, sizeof(g_error), Input::kName);
    append(g_error, sizeof(g_error), " tensor [1, ...] of ");
    append_uint(g_error, sizeof(g_error), static_cast<uint32_t>(TINYSLM_INPUT_ELEMENTS));
    append(g_error, sizeof(g_error), " elements");
    return TINYSLM_TFLM_ERR_INPUT;
  }
  if (interpreter->outputs_size() != 1 || !has_shape(interpreter->output(0), kTfLiteInt8,
                                                     TINYSLM_NUM_LABELS)) {
    return fail(TINYSLM_TFLM_ERR_OUTPUT,
                "model output is not one int8 tensor [1, TINYSLM_NUM_LABELS]");
  }
  g_interpreter = interpreter;
  g_input = interpreter->input(0);
  g_output = interpreter->output(0);
  g_error[0] = '\0';
  return 0;
}

}  // namespace

extern "C" int tinyslm_tflm_init(void) {
  if (g_init_code < 0) g_init_code = init_once();
  return g_init_code;
}

extern "C" int tinyslm_tflm_invoke(const void *input, size_t bytes, int8_t *scores) {
  if (g_interpreter == nullptr) {
    return fail(TINYSLM_TFLM_ERR_NOT_READY, "inference before a successful tinyslm_tflm_init()");
  }
  if (input == nullptr || scores == nullptr) {
    return fail(TINYSLM_TFLM_ERR_ARGS, "NULL input or scores");
  }
  if (bytes != kInputBytes) {
    g_error[0] = '\0';
    append(g_error, sizeof(g_error), "input of ");
    append_uint(g_error, sizeof(g_error), static_cast<uint32_t>(bytes));
    append(g_error, sizeof(g_error), " bytes; the model takes ");
    append_uint(g_error, sizeof(g_error), static_cast<uint32_t>(kInputBytes));
    return TINYSLM_TFLM_ERR_ARGS;
  }
  // Written before every Invoke: TFLM may reuse the input tensor's arena bytes
  // for intermediate tensors, so the previous input cannot be assumed intact.
  memcpy(g_input->data.raw, input, kInputBytes);
  g_tflm_log[0] = '\0';  // so a failure reports this Invoke's log, not an older one
  if (g_interpreter->Invoke() != kTfLiteOk) {
    return fail(TINYSLM_TFLM_ERR_INVOKE, "Invoke failed");
  }
  memcpy(scores, g_output->data.int8, sizeof(int8_t) * TINYSLM_NUM_LABELS);
  return 0;
}

extern "C" int tinyslm_tflm_infer(const int32_t *ids, int8_t *scores, void *ctx) {
  (void)ctx;
  return tinyslm_tflm_invoke(ids, sizeof(int32_t) * (TINYSLM_INPUT_ELEMENTS), scores);
}

extern "C" const char *tinyslm_tflm_last_error(void) { return g_error; }

void tinyslm_tflm_set_profiler(tflite::MicroProfilerInterface *profiler) {
  if (g_init_code < 0) g_profiler = profiler;
}
