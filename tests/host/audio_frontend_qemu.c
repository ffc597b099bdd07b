/*
 * Cortex-M7 driver for firmware/audio/tinyslm_audio_frontend.c on QEMU mps2-an500.
 *
 * Reads int16 samples from the host file "in.raw" through Arm semihosting, streams
 * them through tinyslm_audio_frontend_feed() in the same uneven chunks as
 * audio_frontend_driver.c, writes every frame to "out.raw" and, to "stats.txt",
 * "frames=F ticks=T calibration=C": SysTick ticks (processor clock) spent inside
 * the feed calls, and the ticks of a loop of exactly 2,000,000 instructions, so the
 * host can turn ticks into instructions under -icount shift=0 without assuming
 * the machine's clock. Linked with tinyslm/emulate/glue/qemu/startup.c and its linker
 * script; this file supplies the hooks startup.c calls.
 */
#include <stddef.h>
#include <stdint.h>

#include "tinyslm_audio_frontend.h"

#define SYS_OPEN 0x01
#define SYS_CLOSE 0x02
#define SYS_WRITE 0x05
#define SYS_READ 0x06
#define SYS_EXIT_EXTENDED 0x20
#define SYS_EXIT 0x18
#define ADP_STOPPED_APPLICATION_EXIT 0x20026u
#define OPEN_RB 1u
#define OPEN_WB 5u

#define SYST_CSR (*(volatile uint32_t *)0xE000E010u)
#define SYST_RVR (*(volatile uint32_t *)0xE000E014u)
#define SYST_CVR (*(volatile uint32_t *)0xE000E018u)
#define SYST_MASK 0xFFFFFFu

#define MAX_SAMPLES (16000u * 32u)
#define CALIBRATION_LOOPS 1000000u

static int16_t samples[MAX_SAMPLES];
static tinyslm_audio_frontend_t fe;
static uint32_t wraps;

static int semihost(int op, void *arg) {
  register int r0 __asm__("r0") = op;
  register void *r1 __asm__("r1") = arg;
  __asm__ volatile("bkpt 0xab" : "+r"(r0) : "r"(r1) : "memory");
  return r0;
}

void tinyslm_qemu_exit(int status) {
  uint32_t block[2];
  block[0] = ADP_STOPPED_APPLICATION_EXIT;
  block[1] = (uint32_t)status;
  semihost(SYS_EXIT_EXTENDED, block);
  semihost(SYS_EXIT, (void *)(uintptr_t)ADP_STOPPED_APPLICATION_EXIT);
  for (;;) {
  }
}

void tinyslm_qemu_fault(uint32_t exception) { tinyslm_qemu_exit(10 + (int)exception); }

void tinyslm_qemu_systick(void) { ++wraps; }

/* Ticks since start; the 24-bit down-counter plus interrupt-counted wraps. */
static uint64_t ticks(void) {
  uint32_t w;
  uint32_t v;
  do {
    w = wraps;
    v = SYST_CVR;
  } while (w != wraps);
  return (uint64_t)w * (SYST_MASK + 1u) + (SYST_MASK - v);
}

static int open_file(const char *name, uint32_t len, uint32_t mode) {
  uint32_t block[3];
  block[0] = (uint32_t)(uintptr_t)name;
  block[1] = mode;
  block[2] = len;
  return semihost(SYS_OPEN, block);
}

static void write_file(int handle, const void *data, uint32_t len) {
  uint32_t block[3];
  block[0] = (uint32_t)handle;
  block[1] = (uint32_t)(uintptr_t)data;
  block[2] = len;
  semihost(SYS_WRITE, block);
}

static void close_file(int handle) {
  uint32_t block[1];
  block[0] = (uint32_t)handle;
  semihost(SYS_CLOSE, block);
}

static uint32_t put_u64(char *out, uint64_t v) {
  char tmp[24];
  uint32_t n = 0;
  uint32_t i;
  do {
    tmp[n++] = (char)('0' + (int)(v % 10u));
    v /= 10u;
  } while (v != 0u);
  for (i = 0; i < n; ++i) out[i] = tmp[n - 1u - i];
  return n;
}

static uint32_t put_field(char *out, const char *name, uint64_t v) {
  uint32_t n = 0;
  while (*name != '\0') out[n++] = *name++;
  return n + put_u64(out + n, v);
}

int main(void) {
  static const size_t chunks[] = {1, 7, 320, 160, 481, 33, 1000, 319};
  static char line[128];
  uint32_t block[3];
  size_t n;
  size_t pos = 0;
  size_t c = 0;
  uint64_t spent = 0;
  uint64_t frames = 0;
  uint64_t t0;
  uint32_t loops = CALIBRATION_LOOPS;
  uint32_t len;
  int8_t frame[TINYSLM_AUDIO_BINS];
  int in;
  int out;

  SYST_RVR = SYST_MASK;
  SYST_CVR = 0;
  SYST_CSR = 7u; /* processor clock, interrupt on wrap, enabled */

  in = open_file("in.raw", 6, OPEN_RB);
  out = open_file("out.raw", 7, OPEN_WB);
  if (in < 0 || out < 0) return 2;
  block[0] = (uint32_t)in;
  block[1] = (uint32_t)(uintptr_t)samples;
  block[2] = sizeof samples;
  n = (sizeof samples - (uint32_t)semihost(SYS_READ, block)) / sizeof samples[0];
  close_file(in);

  tinyslm_audio_frontend_reset(&fe);
  while (pos < n) {
    size_t want = chunks[c++ % (sizeof chunks / sizeof chunks[0])];
    if (want > n - pos) want = n - pos;
    while (want > 0) {
      int produced = 0;
      size_t used;
      t0 = ticks();
      used = tinyslm_audio_frontend_feed(&fe, samples + pos, want, frame, &produced);
      spent += ticks() - t0;
      pos += used;
      want -= used;
      if (produced) {
        write_file(out, frame, sizeof frame);
        ++frames;
      }
    }
  }
  close_file(out);

  t0 = ticks();
  __asm__ volatile(
      "1:\n\t"
      "subs %0, %0, #1\n\t"
      "bne 1b"
      : "+r"(loops)
      :
      : "cc");
  t0 = ticks() - t0;

  len = put_field(line, "frames=", frames);
  len += put_field(line + len, " ticks=", spent);
  len += put_field(line + len, " calibration=", t0);
  line[len++] = '\n';
  out = open_file("stats.txt", 9, OPEN_WB);
  if (out < 0) return 2;
  write_file(out, line, len);
  close_file(out);
  return 0;
}
