/* Cortex-M startup for the mcuforge QEMU boards: vector table, reset handler, fault handler.
 *
 * The reset handler enables the FPU (when the code is built for one), copies .data from flash,
 * zeroes .bss, runs static constructors, calls main() and passes its return value to
 * mcuf_port_exit(). Symbols come from mcuforge_sections.ld.
 */
#include <stdint.h>

#include "mcuf_port.h"

extern uint32_t __data_load[];
extern uint32_t __data_start[];
extern uint32_t __data_end[];
extern uint32_t __bss_start[];
extern uint32_t __bss_end[];
extern uint32_t __stack_top[];

extern int main(void);
extern void __libc_init_array(void);

void Reset_Handler(void);
void mcuf_default_handler(void);

#define MCUF_WEAK_HANDLER(name) void name(void) __attribute__((weak, alias("mcuf_default_handler")))
MCUF_WEAK_HANDLER(NMI_Handler);
MCUF_WEAK_HANDLER(HardFault_Handler);
MCUF_WEAK_HANDLER(MemManage_Handler);
MCUF_WEAK_HANDLER(BusFault_Handler);
MCUF_WEAK_HANDLER(UsageFault_Handler);
MCUF_WEAK_HANDLER(SVC_Handler);
MCUF_WEAK_HANDLER(DebugMon_Handler);
MCUF_WEAK_HANDLER(PendSV_Handler);
MCUF_WEAK_HANDLER(SysTick_Handler);

#define MCUF_EXTERNAL_IRQS 32

typedef void (*mcuf_vector_t)(void);

__attribute__((section(".isr_vector"), used))
const mcuf_vector_t mcuf_vector_table[16 + MCUF_EXTERNAL_IRQS] = {
    [0] = (mcuf_vector_t)(uintptr_t)__stack_top,
    [1] = Reset_Handler,
    [2] = NMI_Handler,
    [3] = HardFault_Handler,
    [4] = MemManage_Handler,
    [5] = BusFault_Handler,
    [6] = UsageFault_Handler,
    [11] = SVC_Handler,
    [12] = DebugMon_Handler,
    [14] = PendSV_Handler,
    [15] = SysTick_Handler,
    [16 ... 16 + MCUF_EXTERNAL_IRQS - 1] = mcuf_default_handler,
};

/* Called by __libc_init_array; there is no crti/crtn with -nostartfiles. */
__attribute__((weak)) void _init(void) {}
__attribute__((weak)) void _fini(void) {}

static void enable_fpu(void)
{
#if defined(__ARM_FP)
    volatile uint32_t *const cpacr = (volatile uint32_t *)0xE000ED88u;
    *cpacr |= 0xFu << 20; /* full access to CP10 and CP11 */
    __asm__ volatile("dsb\n\tisb" ::: "memory");
#endif
}

/* Plain loops: without this attribute GCC may replace them with memcpy/memset calls. */
__attribute__((optimize("no-tree-loop-distribute-patterns")))
static void init_memory(void)
{
    const uint32_t *src = __data_load;
    for (uint32_t *dst = __data_start; dst < __data_end; ++dst) {
        *dst = *src++;
    }
    for (uint32_t *dst = __bss_start; dst < __bss_end; ++dst) {
        *dst = 0u;
    }
}

__attribute__((noreturn)) void Reset_Handler(void)
{
    enable_fpu();
    init_memory();
    __libc_init_array();
    mcuf_port_exit(main());
}

void mcuf_default_handler(void)
{
    uint32_t ipsr;
    __asm__ volatile("mrs %0, ipsr" : "=r"(ipsr));
    mcuf_port_write(2, "mcuf: unexpected exception ", 27u);
    mcuf_port_write_int(2, (int32_t)(ipsr & 0x1FFu));
    mcuf_port_write(2, "\n", 1u);
    mcuf_port_exit(MCUF_PORT_FAULT_EXIT_CODE);
}
