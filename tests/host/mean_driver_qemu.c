/*
 * Board glue for running tests/host/mean_driver.cc on QEMU's mps2-an500 with the
 * Cortex-M7 build (tinyslm/emulate/glue/qemu/startup.c and its linker script): printf
 * goes to CMSDK UART0, main's status ends the run through semihosting, a fault is
 * reported and ends it with status 3.
 */
#include <stdint.h>

#define UART0_DATA (*(volatile uint32_t *)0x40004000u)
#define UART0_STATE (*(volatile uint32_t *)0x40004004u)
#define UART0_CTRL (*(volatile uint32_t *)0x40004008u)
#define UART0_BAUDDIV (*(volatile uint32_t *)0x40004010u)
#define SYS_EXIT_EXTENDED 0x20
#define ADP_STOPPED_APPLICATION_EXIT 0x20026u

int _write(int fd, const char *data, int len);

/* TFLM's test helpers have static objects with destructors, registered through
 * __cxa_atexit with this handle, which crtbegin.o (left out by -nostartfiles)
 * would define. They are never run: the program ends through semihosting. */
void *__dso_handle = &__dso_handle;

int _write(int fd, const char *data, int len) {
  int i;
  (void)fd;
  if ((UART0_CTRL & 1u) == 0u) {
    UART0_BAUDDIV = 16u;
    UART0_CTRL = 1u; /* TX enable */
  }
  for (i = 0; i < len; ++i) {
    while (UART0_STATE & 1u) {
    }
    UART0_DATA = (uint8_t)data[i];
  }
  return len;
}

void tinyslm_qemu_exit(int status) {
  uint32_t block[2];
  register int r0 __asm__("r0") = SYS_EXIT_EXTENDED;
  register void *r1 __asm__("r1") = block;
  block[0] = ADP_STOPPED_APPLICATION_EXIT;
  block[1] = (uint32_t)status;
  __asm__ volatile("bkpt 0xab" : "+r"(r0) : "r"(r1) : "memory");
  for (;;) {
  }
}

void tinyslm_qemu_fault(uint32_t exception) {
  (void)exception;
  _write(1, "\nfault\n", 7);
  tinyslm_qemu_exit(3);
}

void tinyslm_qemu_systick(void) {}
