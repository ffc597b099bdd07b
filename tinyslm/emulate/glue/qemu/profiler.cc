// TFLM MicroProfiler for `tinyslm emulate --qemu` measurement runs ("ops" mode of
// mps2_an500_main.c): SysTick ticks per op tag (TFLM's builtin op name) within one
// Invoke, summed when an op appears more than once. Static storage only; a model
// with more distinct ops than kMaxOps keeps the first kMaxOps.

#include <stddef.h>
#include <stdint.h>

#include <new>

#include "tensorflow/lite/micro/micro_profiler_interface.h"
#include "tinyslm_tflm.h"

extern "C" uint64_t tinyslm_qemu_ticks(void);
extern "C" void tinyslm_qemu_put_u64(uint64_t v);

namespace {

constexpr size_t kMaxOps = 32;
constexpr size_t kMaxOpen = 8;

class OpProfiler : public tflite::MicroProfilerInterface {
 public:
  uint32_t BeginEvent(const char *tag) override {
    if (open_ >= kMaxOpen) return kMaxOpen;  // nested too deep: not timed
    tags_[open_] = tag;
    starts_[open_] = tinyslm_qemu_ticks();
    return static_cast<uint32_t>(open_++);
  }

  void EndEvent(uint32_t handle) override {
    const uint64_t now = tinyslm_qemu_ticks();
    if (handle >= open_) return;
    Add(tags_[handle], now - starts_[handle]);
    open_ = handle;
  }

  void Reset() {
    count_ = 0;
    open_ = 0;
  }

  // Writes ,"ops":[["NAME",ticks],...] in first-run order.
  void Write(void (*put)(const char *s)) const {
    put(",\"ops\":[");
    for (size_t i = 0; i < count_; ++i) {
      put(i == 0 ? "[\"" : ",[\"");
      put(names_[i] != nullptr ? names_[i] : "?");
      put("\",");
      tinyslm_qemu_put_u64(ticks_[i]);
      put("]");
    }
    put("]");
  }

 private:
  void Add(const char *tag, uint64_t ticks) {
    for (size_t i = 0; i < count_; ++i) {
      if (names_[i] == tag) {  // TFLM passes the same string for the same op
        ticks_[i] += ticks;
        return;
      }
    }
    if (count_ < kMaxOps) {
      names_[count_] = tag;
      ticks_[count_++] = ticks;
    }
  }

  const char *tags_[kMaxOpen] = {};
  uint64_t starts_[kMaxOpen] = {};
  size_t open_ = 0;
  const char *names_[kMaxOps] = {};
  uint64_t ticks_[kMaxOps] = {};
  size_t count_ = 0;
};

alignas(OpProfiler) uint8_t g_profiler_buf[sizeof(OpProfiler)];
OpProfiler *g_profiler = nullptr;

}  // namespace

extern "C" void tinyslm_qemu_profiler_install(void) {
  g_profiler = new (g_profiler_buf) OpProfiler();
  tinyslm_tflm_set_profiler(g_profiler);
}

extern "C" void tinyslm_qemu_profiler_reset(void) {
  if (g_profiler != nullptr) g_profiler->Reset();
}

extern "C" void tinyslm_qemu_profiler_write(void (*put)(const char *s)) {
  if (g_profiler != nullptr) g_profiler->Write(put);
}
