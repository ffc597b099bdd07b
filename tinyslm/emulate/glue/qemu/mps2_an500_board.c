/* QEMU mps2-an500 board I/O for the emulator's mains (see mps2_an500_board.h). */
#include "mps2_an500_board.h"

/* CMSDK APB UART registers (Arm DDI0479C). UART1 carries the measurements. */
#define UART0_BASE 0x40004000u
#define UART1_BASE 0x40005000u
#define UART_REG(base, off) (*(volatile uint32_t *)((base) + (off)))
#define UART_DATA(base) UART_REG(base, 0x00u)
#define UART_STATE(base) UART_REG(base, 0x04u)
#define UART_CTRL(base) UART_REG(base, 0x08u)
#define UART_BAUDDIV(base) UART_REG(base, 0x10u)
#define UART_STATE_TXFULL 0x1u
#define UART_STATE_RXFULL 0x2u
#define UART_CTRL_TX_EN 0x1u
#define UART_CTRL_RX_EN 0x2u

#define SYST_CSR (*(volatile uint32_t *)0xE000E010u)
#define SYST_RVR (*(volatile uint32_t *)0xE000E014u)
#define SYST_CVR (*(volatile uint32_t *)0xE000E018u)
#define SCB_ICSR (*(volatile uint32_t *)0xE000ED04u)
#define ICSR_PENDSTSET (1u << 26)
#define SCB_CFSR (*(volatile uint32_t *)0xE000ED28u)

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

void tinyslm_qemu_board_init(uint32_t baud) {
  UART_BAUDDIV(UART0_BASE) = TINYSLM_QEMU_CPU_HZ / baud; /* QEMU ignores timing, wants >= 16 */
  UART_CTRL(UART0_BASE) = UART_CTRL_TX_EN | UART_CTRL_RX_EN;
  SYST_RVR = 0x00FFFFFFu;
  SYST_CVR = 0;
  SYST_CSR = 0x7u; /* processor clock, wrap interrupt, enable */
}

void tinyslm_qemu_uart1_init(uint32_t baud) {
  UART_BAUDDIV(UART1_BASE) = TINYSLM_QEMU_CPU_HZ / baud;
  UART_CTRL(UART1_BASE) = UART_CTRL_TX_EN;
}

static void put_on(uint32_t base, char c) {
  while (UART_STATE(base) & UART_STATE_TXFULL) {
  }
  UART_DATA(base) = (uint8_t)c;
}

void tinyslm_qemu_putc(char c) { put_on(UART0_BASE, c); }

void tinyslm_qemu_puts(const char *s) {
  while (*s != '\0') put_on(UART0_BASE, *s++);
}

void tinyslm_qemu_serial_write(const char *data, size_t len, void *ctx) {
  (void)ctx;
  while (len-- > 0) put_on(UART0_BASE, *data++);
}

uint8_t tinyslm_qemu_getc(void) {
  while (!(UART_STATE(UART0_BASE) & UART_STATE_RXFULL)) {
  }
  return (uint8_t)UART_DATA(UART0_BASE);
}

void tinyslm_qemu_uart1_puts(const char *s) {
  while (*s != '\0') put_on(UART1_BASE, *s++);
}

void tinyslm_qemu_put_u64(uint64_t v) {
  char buf[21];
  char *p = buf + 20;
  *p = '\0';
  do {
    *--p = (char)('0' + (int)(v % 10u));
    v /= 10u;
  } while (v != 0u);
  tinyslm_qemu_uart1_puts(p);
}

static void put_hex(uint32_t v) {
  static const char digits[] = "0123456789abcdef";
  int shift;
  tinyslm_qemu_puts("\"0x");
  for (shift = 28; shift >= 0; shift -= 4) tinyslm_qemu_putc(digits[(v >> shift) & 0xFu]);
  tinyslm_qemu_putc('"');
}

/* Called from startup.c's fault handler: say which exception, where, and stop. */
void tinyslm_qemu_fault(uint32_t exception) {
  tinyslm_qemu_puts("\n{\"error\":\"fault\",\"exception\":");
  put_hex(exception);
  tinyslm_qemu_puts(",\"cfsr\":");
  put_hex(SCB_CFSR);
  tinyslm_qemu_puts("}\n");
  tinyslm_qemu_exit(3);
}

void tinyslm_qemu_systick(void) { systick_wraps++; }

/* SysTick ticks since start: wraps * 2^24 + elapsed in the current period. Read with
 * interrupts masked: QEMU takes the wrap interrupt a few instructions after the counter
 * reloads, and a read in between would pair the new period's count with the old wrap
 * count (2^24 ticks, 671 M instructions, too few; seen once in about 30 wraps). A wrap
 * that is pending but not yet counted shows in ICSR.PENDSTSET: count it, and read the
 * counter again, after the reload. */
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

uint32_t tinyslm_qemu_us(void) {
  return (uint32_t)(tinyslm_qemu_ticks() / (TINYSLM_QEMU_CPU_HZ / 1000000u));
}

int tinyslm_qemu_word_is(const char *word, const char *want) {
  while (*want != '\0' && *word == *want) {
    ++word;
    ++want;
  }
  return *want == '\0' && (*word == '\0' || *word == ' ');
}

int tinyslm_qemu_open_input(const char **mode) {
  static char cmdline[256];
  uint32_t block[3];
  char *p;
  char *end;
  *mode = "";
  block[0] = (uint32_t)(uintptr_t)cmdline;
  block[1] = sizeof cmdline - 1;
  if (semihost(SYS_GET_CMDLINE, block) != 0) return -1;
  cmdline[block[1] < sizeof cmdline ? block[1] : sizeof cmdline - 1] = '\0';
  for (p = cmdline; *p != '\0' && *p != ' '; ++p) {
  }
  while (*p == ' ') ++p;
  if (*p == '\0') return -1;
  for (end = p; *end != '\0' && *end != ' '; ++end) {
  }
  block[2] = (uint32_t)(end - p);
  if (*end != '\0') {
    *end++ = '\0';
    while (*end == ' ') ++end;
  }
  *mode = end;
  block[0] = (uint32_t)(uintptr_t)p;
  block[1] = OPEN_MODE_RB;
  return semihost(SYS_OPEN, block);
}

uint32_t tinyslm_qemu_read(int handle, uint8_t *buf, uint32_t size) {
  uint32_t block[3];
  int left;
  block[0] = (uint32_t)handle;
  block[1] = (uint32_t)(uintptr_t)buf;
  block[2] = size;
  left = semihost(SYS_READ, block); /* bytes NOT read; `size` at the end */
  if (left < 0 || (uint32_t)left >= size) return 0;
  return size - (uint32_t)left;
}

void tinyslm_qemu_close(int handle) {
  uint32_t block[1];
  block[0] = (uint32_t)handle;
  semihost(SYS_CLOSE, block);
}

void tinyslm_qemu_write_calibration(void) {
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
  tinyslm_qemu_uart1_puts("{\"calibration\":{\"instructions\":");
  tinyslm_qemu_put_u64(2u * CALIBRATION_LOOPS);
  tinyslm_qemu_uart1_puts(",\"ticks\":");
  tinyslm_qemu_put_u64(t1 - t0);
  tinyslm_qemu_uart1_puts("}}\n");
}
