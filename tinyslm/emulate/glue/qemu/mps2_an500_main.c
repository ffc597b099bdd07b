/*
 * Board glue for `tinyslm emulate --qemu`: the generated project's core, settings,
 * model and TFLM adapter (Cortex-M7 build, CMSIS-NN kernels) on QEMU's mps2-an500.
 * It stands in for the board's main.cc (which needs the STM32Cube HAL) and is never
 * copied into a board project.
 *
 * - TX is CMSDK APB UART0 (0x40004000), QEMU's first -serial.
 * - RX: when the semihosting command line names a host file (second word), its
 *   bytes are fed in chunks, as a UART interrupt would, then a final "\n" (as
 *   native_main.c does at EOF) and the run ends with SYS_EXIT_EXTENDED. Without a
 *   file, bytes come from UART0 RX forever (interactive, -serial stdio).
 * - "us" comes from SysTick on the CPU clock. tinyslm runs QEMU with -icount shift=0,
 *   so virtual time advances exactly 1 ns per guest instruction and one SysTick tick
 *   (25 MHz) is 40 instructions: "us" is instructions / 1000, not board latency.
 * - A third word on the semihosting command line asks for measurements on UART1
 *   (QEMU's second -serial), one JSON line per answered phrase, in SysTick ticks:
 *   "phases" writes {"tokenize":T,"inference":T,"decision":T}; "ops" also installs a
 *   TFLM MicroProfiler and adds "ops":[["MEAN",T],...] (its own calls cost a few
 *   instructions per op, so take phase figures from a "phases" run). Both start with
 *   {"calibration":{"instructions":N,"ticks":T}} from a loop of known length.
 *
 * Exit status: 0 done, 2 TFLM init failed (an {"error":...} line first, as in
 * native_main.c), 3 a fault (an {"error":"fault",...} line first).
 */
#include <stddef.h>
#include <stdint.h>

#include "tinyslm_core.h"
#include "tinyslm_settings.h"
#include "tinyslm_tflm.h"

/* QEMU's MPS2 SYSCLK; SysTick counts it with CLKSOURCE = processor clock. */
#define CPU_HZ 25000000u

/* CMSDK APB UART registers (Arm DDI0479C). UART1 carries the measurements. */
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

/* Arm semihosting operations (BKPT 0xAB on M-profile). */
#define SYS_OPEN 0x01
#define SYS_CLOSE 0x02
#define SYS_READ 0x06
#define SYS_GET_CMDLINE 0x15
#define SYS_EXIT 0x18
#define SYS_EXIT_EXTENDED 0x20
#define ADP_STOPPED_APPLICATION_EXIT 0x20026u
#define OPEN_MODE_RB 1

/* Calibration loop: 2 instructions (subs, bne) per iteration. */
#define CALIBRATION_LOOPS 10000u

enum measure_mode { MEASURE_NONE, MEASURE_PHASES, MEASURE_OPS };

/* profiler.cc: the MicroProfiler behind "ops" measurements. */
void tinyslm_qemu_profiler_install(void);
void tinyslm_qemu_profiler_reset(void);
void tinyslm_qemu_profiler_write(void (*put)(const char *s));

static uint8_t line_buf[TINYSLM_MAX_LINE];
static int32_t ids_buf[TINYSLM_SEQ_LEN];
static int8_t scores_buf[TINYSLM_NUM_LABELS];
static tinyslm_app_t app;
static volatile uint32_t systick_wraps;
static enum measure_mode measure = MEASURE_NONE;
/* Tick stamps of the phrase being answered: the core's first clock call, then the
 * adapter call around Invoke. infer_done says the next clock call ends the phrase. */
static uint64_t t_start, t_infer, t_infer_end;
static int infer_done;

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
  /* A host without SYS_EXIT_EXTENDED: plain exit (status lost), then stay put. */
  semihost(SYS_EXIT, (void *)(uintptr_t)ADP_STOPPED_APPLICATION_EXIT);
  for (;;) {
  }
}

static void uart_init(void) {
  UART_BAUDDIV = CPU_HZ / TINYSLM_BAUD_RATE; /* QEMU ignores timing but wants >= 16 */
  UART_CTRL = UART_CTRL_TX_EN | UART_CTRL_RX_EN;
}

static void uart_putc(char c) {
  while (UART_STATE & UART_STATE_TXFULL) {
  }
  UART_DATA = (uint8_t)c;
}

static void uart1_puts(const char *s) {
  for (; *s != '\0'; ++s) {
    while (UART_REG(UART1_BASE, 0x04u) & UART_STATE_TXFULL) {
    }
    UART_REG(UART1_BASE, 0x00u) = (uint8_t)*s;
  }
}

/* Decimal text of v into buf (at least 21 bytes). */
static const char *u64_text(uint64_t v, char *buf) {
  char *p = buf + 20;
  *p = '\0';
  do {
    *--p = (char)('0' + (int)(v % 10u));
    v /= 10u;
  } while (v != 0u);
  return p;
}

/* Called by profiler.cc too: "<name>":<value> pieces of a measurement line. */
void tinyslm_qemu_put_u64(uint64_t v) {
  char buf[21];
  uart1_puts(u64_text(v, buf));
}

static void uart_puts(const char *s) {
  while (*s != '\0') uart_putc(*s++);
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

/* Called from startup.c's fault handler: say which exception, where, and stop. */
void tinyslm_qemu_fault(uint32_t exception) {
  uart_puts("\n{\"error\":\"fault\",\"exception\":");
  put_hex(exception);
  uart_puts(",\"cfsr\":");
  put_hex(*(volatile uint32_t *)0xE000ED28u);
  uart_puts("}\n");
  tinyslm_qemu_exit(3);
}

void tinyslm_qemu_systick(void) { systick_wraps++; }

static void systick_init(void) {
  SYST_RVR = 0x00FFFFFFu;
  SYST_CVR = 0;
  SYST_CSR = 0x7u; /* processor clock, wrap interrupt, enable */
}

/* SysTick ticks since start: wraps * 2^24 + elapsed in the current period. Read with
 * interrupts masked, as the keyword glue does: QEMU takes the wrap interrupt a few
 * instructions after the counter reloads, so re-reading until the wrap count is stable
 * could still pair the new period's count with the old wrap count (2^24 ticks, 671 M
 * instructions, too few). A wrap that is pending but not yet counted shows in
 * ICSR.PENDSTSET: count it, and read the counter again, after the reload. */
#define SCB_ICSR (*(volatile uint32_t *)0xE000ED04u)
#define ICSR_PENDSTSET (1u << 26)

uint64_t tinyslm_qemu_ticks(void) {
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

static void write_phases(uint64_t t_end) {
  uart1_puts("{\"tokenize\":");
  tinyslm_qemu_put_u64(t_infer - t_start);
  uart1_puts(",\"inference\":");
  tinyslm_qemu_put_u64(t_infer_end - t_infer);
  uart1_puts(",\"decision\":");
  tinyslm_qemu_put_u64(t_end - t_infer_end);
  if (measure == MEASURE_OPS) tinyslm_qemu_profiler_write(uart1_puts);
  uart1_puts("}\n");
}

/* The core calls this at the start of a phrase and, after a successful inference,
 * at its end. The measurement line is written after the end stamp is taken, so it
 * is outside every timed window. */
static uint32_t clock_us(void *ctx) {
  const uint64_t now = tinyslm_qemu_ticks();
  (void)ctx;
  if (measure != MEASURE_NONE) {
    if (infer_done) {
      infer_done = 0;
      write_phases(now);
    } else {
      t_start = now;
    }
  }
  return (uint32_t)(now / (CPU_HZ / 1000000u));
}

static int timed_infer(const int32_t *ids, int8_t *scores, void *ctx) {
  int rc;
  if (measure == MEASURE_NONE) return tinyslm_tflm_infer(ids, scores, ctx);
  if (measure == MEASURE_OPS) tinyslm_qemu_profiler_reset();
  t_infer = tinyslm_qemu_ticks();
  rc = tinyslm_tflm_infer(ids, scores, ctx);
  t_infer_end = tinyslm_qemu_ticks();
  infer_done = rc == 0;
  return rc;
}

static int word_is(const char *word, const char *want) {
  while (*want != '\0' && *word == *want) {
    ++word;
    ++want;
  }
  return *want == '\0' && (*word == '\0' || *word == ' ');
}

/* The semihosting command line: "firmware [INPUT [phases|ops]]". Opens INPUT (or
 * returns -1 without one) and sets the measurement mode. */
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
  if (word_is(mode, "phases")) measure = MEASURE_PHASES;
  if (word_is(mode, "ops")) measure = MEASURE_OPS;
  p[block[2]] = '\0';
  block[0] = (uint32_t)(uintptr_t)p;
  block[1] = OPEN_MODE_RB;
  return semihost(SYS_OPEN, block);
}

/* Ticks for a loop of exactly 2 * CALIBRATION_LOOPS instructions (plus the one
 * that sets the counter), so the host can check the instructions-per-tick factor. */
static void write_calibration(void) {
  uint32_t n = CALIBRATION_LOOPS;
  const uint64_t t0 = tinyslm_qemu_ticks();
  __asm__ volatile(
      "1:\n\t"
      "subs %0, %0, #1\n\t"
      "bne 1b"
      : "+r"(n)
      :
      : "cc");
  const uint64_t t1 = tinyslm_qemu_ticks();
  uart1_puts("{\"calibration\":{\"instructions\":");
  tinyslm_qemu_put_u64(2u * CALIBRATION_LOOPS);
  uart1_puts(",\"ticks\":");
  tinyslm_qemu_put_u64(t1 - t0);
  uart1_puts("}}\n");
}

static void feed_file(int handle) {
  static uint8_t chunk[256];
  uint32_t block[3];
  for (;;) {
    int left;
    block[0] = (uint32_t)handle;
    block[1] = (uint32_t)(uintptr_t)chunk;
    block[2] = sizeof chunk;
    left = semihost(SYS_READ, block); /* bytes NOT read; sizeof chunk at EOF */
    if (left < 0 || (uint32_t)left >= sizeof chunk) break;
    tinyslm_app_feed(&app, chunk, sizeof chunk - (uint32_t)left);
  }
  block[0] = (uint32_t)handle;
  semihost(SYS_CLOSE, block);
  /* A last line without a terminator still gets its answer. */
  tinyslm_app_feed(&app, (const uint8_t *)"\n", 1);
}

int main(void) {
  int input;

  uart_init();
  systick_init();
  input = open_input(); /* first: "ops" must install the profiler before TFLM starts */
  if (measure == MEASURE_OPS) tinyslm_qemu_profiler_install();
  if (tinyslm_tflm_init() != 0) {
    tinyslm_write_error(serial_write, NULL, "tflm_init_failed", tinyslm_tflm_last_error());
    return 2;
  }
  if (tinyslm_app_setup(&app, &tinyslm_model_info, timed_infer, serial_write, clock_us,
                        line_buf, sizeof line_buf, ids_buf, scores_buf) != 0) {
    tinyslm_write_error(serial_write, NULL, "app_init_failed", "bad configuration");
    return 2;
  }
  if (measure != MEASURE_NONE) {
    UART_REG(UART1_BASE, 0x10u) = CPU_HZ / TINYSLM_BAUD_RATE;
    UART_REG(UART1_BASE, 0x08u) = UART_CTRL_TX_EN;
    write_calibration();
  }
  if (input >= 0) {
    feed_file(input);
    return 0;
  }
  for (;;) { /* interactive: one byte at a time from UART0 RX */
    uint8_t byte;
    while (!(UART_STATE & UART_STATE_RXFULL)) {
    }
    byte = (uint8_t)UART_DATA;
    tinyslm_app_feed(&app, &byte, 1);
  }
}
