/*
 * Board glue for `tinyslm emulate --qemu` on a keyword project: the project's
 * keyword app (listening loop, front end, detector, frame parser), settings, model
 * and TFLM adapter (Cortex-M7 build, CMSIS-NN kernels) on QEMU's mps2-an500. It
 * stands in for the board's main.cc and is never copied into a board project.
 *
 * A separate main from the text project's mps2_an500_main.c, not one main with a
 * macro: the builder swaps the file by the project's modality, so no -D has to
 * reach every object (TFLM's cached objects are keyed by their flags) and the text
 * glue, whose instruction figures are published, stays byte for byte as it was.
 * The board I/O below (UART, SysTick, semihosting, faults) is the same as there.
 *
 * - TX is CMSDK APB UART0 (0x40004000), QEMU's first -serial.
 * - RX: the semihosting command line names a host file (second word) whose bytes
 *   are fed in chunks, as a UART interrupt would: the framed PCM that
 *   `tinyslm monitor --wav` sends a board. Then the run ends with SYS_EXIT_EXTENDED.
 *   Without a file, bytes come from UART0 RX forever (interactive).
 * - "us" comes from SysTick on the CPU clock. tinyslm runs QEMU with -icount shift=0,
 *   so one SysTick tick (25 MHz) is 40 instructions: "us" is instructions / 1000.
 * - A third word "listen" makes the file raw PCM (int16 LE, 16 kHz) fed through the
 *   microphone path, tinyslm_kws_app_feed_samples, in 10 ms blocks as a DMA half
 *   delivers them: front end + inference + detector, no frame parser. UART1 (QEMU's
 *   second -serial) then gets {"calibration":{"instructions":N,"ticks":T}} and, at
 *   the end, {"listen":{"samples":S,"inferences":I,"total":T,"inference":T}} in
 *   SysTick ticks: total in feed_samples, inference in the TFLM adapter.
 *
 * Exit status: 0 done, 2 TFLM init failed (an {"error":...} line first), 3 a fault
 * (an {"error":"fault",...} line first).
 */
#include <stddef.h>
#include <stdint.h>

#include "tinyslm_json.h"
#include "tinyslm_kws_app.h"
#include "tinyslm_settings.h"
#include "tinyslm_tflm.h"

#define CPU_HZ 25000000u

#define UART0_BASE 0x40004000u
#define UART1_BASE 0x40005000u
#define UART_REG(base, off) (*(volatile uint32_t *)((base) + (off)))
#define UART_DATA UART_REG(UART0_BASE, 0x00u)
#define UART_STATE UART_REG(UART0_BASE, 0x04u)
#define UART_CTRL UART_REG(UART0_BASE, 0x08u)
#define UART_BAUDDIV UART_REG(UART0_BASE, 0x10u)
#define UART_STATE_TXFULL 0x1u
#define UART_STATE_RXFULL 0x2u
#define UART_CTRL_TX_EN 0x1u
#define UART_CTRL_RX_EN 0x2u

#define SYST_CSR (*(volatile uint32_t *)0xE000E010u)
#define SYST_RVR (*(volatile uint32_t *)0xE000E014u)
#define SYST_CVR (*(volatile uint32_t *)0xE000E018u)

#define SYS_OPEN 0x01
#define SYS_CLOSE 0x02
#define SYS_READ 0x06
#define SYS_GET_CMDLINE 0x15
#define SYS_EXIT 0x18
#define SYS_EXIT_EXTENDED 0x20
#define ADP_STOPPED_APPLICATION_EXIT 0x20026u
#define OPEN_MODE_RB 1

#define CALIBRATION_LOOPS 10000u
/* Microphone blocks of the "listen" mode: 10 ms at 16 kHz. */
#define MIC_BLOCK 160u

static tinyslm_kws_app_t app;
static volatile uint32_t systick_wraps;
static int measure;
static uint64_t infer_ticks;
static uint32_t inferences;

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

static void uart_putc(char c) {
  while (UART_STATE & UART_STATE_TXFULL) {
  }
  UART_DATA = (uint8_t)c;
}

static void uart_puts(const char *s) {
  while (*s != '\0') uart_putc(*s++);
}

static void uart1_puts(const char *s) {
  for (; *s != '\0'; ++s) {
    while (UART_REG(UART1_BASE, 0x04u) & UART_STATE_TXFULL) {
    }
    UART_REG(UART1_BASE, 0x00u) = (uint8_t)*s;
  }
}

static void uart1_u64(uint64_t v) {
  char buf[21];
  char *p = buf + 20;
  *p = '\0';
  do {
    *--p = (char)('0' + (int)(v % 10u));
    v /= 10u;
  } while (v != 0u);
  uart1_puts(p);
}

static void serial_write(const char *data, size_t len, void *ctx) {
  (void)ctx;
  while (len-- > 0) uart_putc(*data++);
}

static void put_hex(uint32_t v) {
  static const char digits[] = "0123456789abcdef";
  int shift;
  uart_puts("\"0x");
  for (shift = 28; shift >= 0; shift -= 4) uart_putc(digits[(v >> shift) & 0xFu]);
  uart_putc('"');
}

void tinyslm_qemu_fault(uint32_t exception) {
  uart_puts("\n{\"error\":\"fault\",\"exception\":");
  put_hex(exception);
  uart_puts(",\"cfsr\":");
  put_hex(*(volatile uint32_t *)0xE000ED28u);
  uart_puts("}\n");
  tinyslm_qemu_exit(3);
}

void tinyslm_qemu_systick(void) { systick_wraps++; }

/* SysTick ticks since start: wraps * 2^24 + elapsed in the current period. Read with
 * interrupts masked: QEMU takes the wrap interrupt a few instructions after the counter
 * reloads, and a read in between would pair the new period's count with the old wrap
 * count (2^24 ticks, 671 M instructions, too few; seen once in about 30 wraps). A wrap
 * that is pending but not yet counted shows in ICSR.PENDSTSET: count it, and read the
 * counter again, after the reload. */
#define SCB_ICSR (*(volatile uint32_t *)0xE000ED04u)
#define ICSR_PENDSTSET (1u << 26)

static uint64_t ticks(void) {
  uint32_t primask, wraps, cvr;
  __asm__ volatile("mrs %0, primask\n\tcpsid i" : "=r"(primask)::"memory");
  wraps = systick_wraps;
  cvr = SYST_CVR;
  if (SCB_ICSR & ICSR_PENDSTSET) {
    wraps++;
    cvr = SYST_CVR;
  }
  __asm__ volatile("msr primask, %0" ::"r"(primask) : "memory");
  return ((uint64_t)wraps << 24) + (0x00FFFFFFu - cvr);
}

static uint32_t clock_us(void *ctx) {
  (void)ctx;
  return (uint32_t)(ticks() / (CPU_HZ / 1000000u));
}

static int infer(const int8_t *features, size_t n, int8_t *scores, void *ctx) {
  const uint64_t t0 = ticks();
  const int rc = tinyslm_tflm_invoke(features, n * sizeof(int8_t), scores);
  (void)ctx;
  infer_ticks += ticks() - t0;
  inferences++;
  return rc;
}

static int word_is(const char *word, const char *want) {
  while (*want != '\0' && *word == *want) {
    ++word;
    ++want;
  }
  return *want == '\0' && (*word == '\0' || *word == ' ');
}

/* "firmware [INPUT [listen]]": opens INPUT (or returns -1) and sets the mode. */
static int open_input(void) {
  static char cmdline[256];
  uint32_t block[3];
  char *p;
  char *mode;
  block[0] = (uint32_t)(uintptr_t)cmdline;
  block[1] = sizeof cmdline - 1;
  if (semihost(SYS_GET_CMDLINE, block) != 0) return -1;
  cmdline[block[1] < sizeof cmdline ? block[1] : sizeof cmdline - 1] = '\0';
  for (p = cmdline; *p != '\0' && *p != ' '; ++p) {
  }
  while (*p == ' ') ++p;
  if (*p == '\0') return -1;
  for (mode = p; *mode != '\0' && *mode != ' '; ++mode) {
  }
  block[2] = (uint32_t)(mode - p);
  while (*mode == ' ') ++mode;
  measure = word_is(mode, "listen");
  p[block[2]] = '\0';
  block[0] = (uint32_t)(uintptr_t)p;
  block[1] = OPEN_MODE_RB;
  return semihost(SYS_OPEN, block);
}

static void write_calibration(void) {
  uint32_t n = CALIBRATION_LOOPS;
  const uint64_t t0 = ticks();
  __asm__ volatile(
      "1:\n\t"
      "subs %0, %0, #1\n\t"
      "bne 1b"
      : "+r"(n)
      :
      : "cc");
  const uint64_t t1 = ticks();
  uart1_puts("{\"calibration\":{\"instructions\":");
  uart1_u64(2u * CALIBRATION_LOOPS);
  uart1_puts(",\"ticks\":");
  uart1_u64(t1 - t0);
  uart1_puts("}}\n");
}

/* Reads the file in chunks; returns at EOF after closing it. */
static uint32_t read_chunk(int handle, uint8_t *buf, uint32_t size) {
  uint32_t block[3];
  int left;
  block[0] = (uint32_t)handle;
  block[1] = (uint32_t)(uintptr_t)buf;
  block[2] = size;
  left = semihost(SYS_READ, block); /* bytes NOT read */
  if (left < 0 || (uint32_t)left >= size) return 0;
  return size - (uint32_t)left;
}

static void feed_serial(int handle) {
  static uint8_t chunk[256];
  uint32_t got;
  while ((got = read_chunk(handle, chunk, sizeof chunk)) > 0) {
    tinyslm_kws_app_feed(&app, chunk, got);
  }
}

/* Raw PCM through the microphone path, timed. */
static void feed_microphone(int handle) {
  static uint8_t raw[MIC_BLOCK * 2u];
  static int16_t block[MIC_BLOCK];
  uint64_t total = 0;
  uint64_t samples = 0;
  uint32_t got;
  while ((got = read_chunk(handle, raw, sizeof raw)) > 0) {
    uint32_t i;
    uint64_t t0;
    const uint32_t n = got / 2u;
    for (i = 0; i < n; ++i) {
      block[i] = (int16_t)(uint16_t)((uint32_t)raw[2u * i] | ((uint32_t)raw[2u * i + 1u] << 8));
    }
    t0 = ticks();
    tinyslm_kws_app_feed_samples(&app, block, n);
    total += ticks() - t0;
    samples += n;
  }
  uart1_puts("{\"listen\":{\"samples\":");
  uart1_u64(samples);
  uart1_puts(",\"inferences\":");
  uart1_u64(inferences);
  uart1_puts(",\"total\":");
  uart1_u64(total);
  uart1_puts(",\"inference\":");
  uart1_u64(infer_ticks);
  uart1_puts("}}\n");
}

int main(void) {
  int input;

  UART_BAUDDIV = CPU_HZ / TINYSLM_BAUD_RATE; /* QEMU ignores timing but wants >= 16 */
  UART_CTRL = UART_CTRL_TX_EN | UART_CTRL_RX_EN;
  SYST_RVR = 0x00FFFFFFu;
  SYST_CVR = 0;
  SYST_CSR = 0x7u; /* processor clock, wrap interrupt, enable */
  input = open_input();
  if (tinyslm_tflm_init() != 0) {
    tinyslm_write_error(serial_write, NULL, "tflm_init_failed", tinyslm_tflm_last_error());
    return 2;
  }
  if (tinyslm_kws_app_setup(&app, &tinyslm_kws_model_info, infer, serial_write, clock_us) != 0) {
    tinyslm_write_error(serial_write, NULL, "app_init_failed", "bad configuration");
    return 2;
  }
  if (input >= 0) {
    uint32_t block[1];
    if (measure) {
      UART_REG(UART1_BASE, 0x10u) = CPU_HZ / TINYSLM_BAUD_RATE;
      UART_REG(UART1_BASE, 0x08u) = UART_CTRL_TX_EN;
      write_calibration();
      feed_microphone(input);
    } else {
      feed_serial(input);
    }
    block[0] = (uint32_t)input;
    semihost(SYS_CLOSE, block);
    return 0;
  }
  for (;;) { /* interactive: one byte at a time from UART0 RX */
    uint8_t byte;
    while (!(UART_STATE & UART_STATE_RXFULL)) {
    }
    byte = (uint8_t)UART_DATA;
    tinyslm_kws_app_feed(&app, &byte, 1);
  }
}
