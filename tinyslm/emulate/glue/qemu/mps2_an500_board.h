/* QEMU mps2-an500 (Cortex-M7) board I/O shared by the text and keyword mains of
 * `tinyslm emulate --qemu` and `benchmarks/cortex_m7.py`: UART0 (the device's serial
 * line), UART1 (measurement lines), SysTick ticks, semihosting (the input file, exit)
 * and the fault report startup.c calls. Not part of any generated project. */
#ifndef TINYSLM_MPS2_AN500_BOARD_H
#define TINYSLM_MPS2_AN500_BOARD_H

#include <stddef.h>
#include <stdint.h>

/* QEMU's MPS2 SYSCLK; SysTick counts it with CLKSOURCE = processor clock. Under
 * -icount shift=0 one tick is 40 guest instructions. */
#define TINYSLM_QEMU_CPU_HZ 25000000u

/* UART0 at `baud` (RX and TX) and SysTick free-running with its wrap interrupt. */
void tinyslm_qemu_board_init(uint32_t baud);
/* UART1 (TX) for measurement lines; only measurement runs turn it on. */
void tinyslm_qemu_uart1_init(uint32_t baud);

void tinyslm_qemu_putc(char c);
void tinyslm_qemu_puts(const char *s);
/* A write callback for the apps: `len` bytes to UART0. */
void tinyslm_qemu_serial_write(const char *data, size_t len, void *ctx);
/* The next byte received on UART0 (blocks). */
uint8_t tinyslm_qemu_getc(void);

void tinyslm_qemu_uart1_puts(const char *s);
/* Decimal text of v on UART1 (also profiler.cc's). */
void tinyslm_qemu_put_u64(uint64_t v);

/* SysTick ticks since start (64-bit, wraps counted). */
uint64_t tinyslm_qemu_ticks(void);
/* Microseconds of the board's clock, as the apps' clock callback wants (uint32, wraps). */
uint32_t tinyslm_qemu_us(void);

/* The semihosting command line "firmware [INPUT [MODE]]": opens INPUT for reading
 * (returns its handle, or -1 without one) and points *mode at MODE ("" if none). */
int tinyslm_qemu_open_input(const char **mode);
/* Whether `word` (ended by '\0' or ' ') is `want`. */
int tinyslm_qemu_word_is(const char *word, const char *want);
/* Up to `size` bytes of an open input; 0 at its end or on an error. */
uint32_t tinyslm_qemu_read(int handle, uint8_t *buf, uint32_t size);
void tinyslm_qemu_close(int handle);

/* {"calibration":{"instructions":N,"ticks":T}} on UART1 from a loop of known length,
 * so the host can check the instructions-per-tick factor before trusting figures. */
void tinyslm_qemu_write_calibration(void);

/* Semihosting exit with `status` (never returns). */
void tinyslm_qemu_exit(int status);

#endif /* TINYSLM_MPS2_AN500_BOARD_H */
