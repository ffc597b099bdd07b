/*
 * Minimal Cortex-M7 startup for `tinyslm emulate --qemu` (QEMU mps2-an500):
 * the vector table, and a reset handler that does what a board's startup file
 * does before main(): enable the FPU, copy .data from its load image, zero .bss,
 * run C/C++ constructors. Faults end the run through mps2_an500_main.c, so a
 * crash shows up as an error line and an exit status instead of a hang.
 */
#include <stdint.h>

extern uint32_t __stack_top;
extern uint32_t __data_start, __data_end, __data_load;
extern uint32_t __bss_start, __bss_end;

extern int main(void);
extern void __libc_init_array(void);
extern void tinyslm_qemu_fault(uint32_t exception);
extern void tinyslm_qemu_systick(void);
extern void tinyslm_qemu_exit(int status);

#define SCB_CPACR (*(volatile uint32_t *)0xE000ED88u)

/* -nostartfiles drops crti/crtn; __libc_init_array still calls these. */
void _init(void) {}
void _fini(void) {}

void Reset_Handler(void) {
  uint32_t *dst;
  const uint32_t *src;
  /* CP10/CP11 full access before any floating-point instruction: the whole
   * program is built with -mfloat-abi=hard. */
  SCB_CPACR |= (0xFu << 20);
  __asm__ volatile("dsb\n\tisb" ::: "memory");
  for (src = &__data_load, dst = &__data_start; dst < &__data_end;) *dst++ = *src++;
  for (dst = &__bss_start; dst < &__bss_end;) *dst++ = 0;
  __libc_init_array();
  tinyslm_qemu_exit(main());
}

/* The active exception number (IPSR) tells the report which fault it was. */
static void fault_handler(void) {
  uint32_t ipsr;
  __asm__ volatile("mrs %0, ipsr" : "=r"(ipsr));
  tinyslm_qemu_fault(ipsr & 0x1FFu);
}

static void systick_handler(void) { tinyslm_qemu_systick(); }

typedef void (*vector_t)(void);

/* Only the system exceptions: the glue polls the UART and enables no IRQ. */
__attribute__((section(".vectors"), used)) const vector_t tinyslm_vectors[16] = {
    (vector_t)&__stack_top, /* initial SP */
    Reset_Handler,
    fault_handler, /* NMI */
    fault_handler, /* HardFault */
    fault_handler, /* MemManage */
    fault_handler, /* BusFault */
    fault_handler, /* UsageFault */
    0,
    0,
    0,
    0,
    fault_handler, /* SVCall */
    fault_handler, /* DebugMonitor */
    0,
    fault_handler, /* PendSV */
    systick_handler,
};
