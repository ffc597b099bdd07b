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
 * - "us" comes from SysTick on the CPU clock (QEMU's virtual time, not M7 cycles).
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

/* CMSDK APB UART registers (Arm DDI0479C). */
#define UART0_BASE 0x40004000u
#define UART_DATA (*(volatile uint32_t *)(UART0_BASE + 0x00u))
#define UART_STATE (*(volatile uint32_t *)(UART0_BASE + 0x04u))
#define UART_CTRL (*(volatile uint32_t *)(UART0_BASE + 0x08u))
#define UART_BAUDDIV (*(volatile uint32_t *)(UART0_BASE + 0x10u))
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

static uint8_t line_buf[TINYSLM_MAX_LINE];
static int32_t ids_buf[TINYSLM_SEQ_LEN];
static int8_t scores_buf[TINYSLM_NUM_LABELS];
static tinyslm_app_t app;
static volatile uint32_t systick_wraps;

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

/* Ticks since start: wraps * 2^24 + elapsed in the current period, read so that a
 * wrap between the two reads is not lost. */
static uint32_t clock_us(void *ctx) {
  uint32_t wraps, cvr;
  (void)ctx;
  do {
    wraps = systick_wraps;
    cvr = SYST_CVR;
  } while (wraps != systick_wraps);
  return (uint32_t)((((uint64_t)wraps << 24) + (0x00FFFFFFu - cvr)) / (CPU_HZ / 1000000u));
}

/* The input file: the second word of the semihosting command line, or none. */
static int open_input(void) {
  static char cmdline[256];
  uint32_t block[3];
  char *p;
  block[0] = (uint32_t)(uintptr_t)cmdline;
  block[1] = sizeof cmdline - 1;
  if (semihost(SYS_GET_CMDLINE, block) != 0) return -1;
  cmdline[block[1] < sizeof cmdline ? block[1] : sizeof cmdline - 1] = '\0';
  for (p = cmdline; *p != '\0' && *p != ' '; ++p) {
  }
  while (*p == ' ') ++p;
  if (*p == '\0') return -1;
  block[0] = (uint32_t)(uintptr_t)p;
  block[1] = OPEN_MODE_RB;
  for (block[2] = 0; p[block[2]] != '\0' && p[block[2]] != ' '; ++block[2]) {
  }
  p[block[2]] = '\0';
  return semihost(SYS_OPEN, block);
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
  if (tinyslm_tflm_init() != 0) {
    tinyslm_write_error(serial_write, NULL, "tflm_init_failed", tinyslm_tflm_last_error());
    return 2;
  }
  if (tinyslm_app_setup(&app, &tinyslm_model_info, tinyslm_tflm_infer, serial_write, clock_us,
                        line_buf, sizeof line_buf, ids_buf, scores_buf) != 0) {
    tinyslm_write_error(serial_write, NULL, "app_init_failed", "bad configuration");
    return 2;
  }
  input = open_input();
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
