/* start.S — entry points of every guest payload: the boot CPU's _start (first byte of the
 * image; x0 = device tree), the CPU_ON entry points (x0 = context id), resume_entry for
 * power-down CPU_SUSPEND and SYSTEM_SUSPEND, rt_suspend_call() which saves callee-saved state
 * so such a resume can "return", and the exception vector table (every exception is
 * unexpected: it is reported as a TAP failure and the run ends). */

#define STACK_SIZE 8192

    .section .text.start, "ax"
    .globl _start
_start:
    msr     daifset, #0xf
    mov     x19, x0                 /* device tree address */
    ldr     x1, =__bss_start        /* zero BSS (8-byte aligned, size multiple of 16) */
    ldr     x2, =__bss_end
1:  cmp     x1, x2
    b.hs    2f
    str     xzr, [x1], #8
    b       1b
2:  ldr     x1, =rt_boot_stack + STACK_SIZE
    mov     sp, x1
    ldr     x1, =vectors
    msr     vbar_el1, x1
    isb
    mov     x0, x19
    bl      rt_primary_main
    b       halt

    .text
/* x0 <- index of this CPU in rt_cpu_mpidr[], or branch to halt. Clobbers x9-x12. */
.macro this_cpu_index
    mrs     x9, mpidr_el1
    ldr     x10, =0xff00ffffff
    and     x9, x9, x10
    ldr     x10, =rt_cpu_mpidr
    ldr     x11, =rt_cpu_count
    ldr     x11, [x11]
    mov     x0, #0
3:  cmp     x0, x11
    b.hs    halt
    ldr     x12, [x10, x0, lsl #3]
    cmp     x12, x9
    b.eq    4f
    add     x0, x0, #1
    b       3b
4:
.endm

    .globl secondary_entry_a, secondary_entry_b
secondary_entry_a:
    mov     x20, #1
    b       secondary_common
secondary_entry_b:
    mov     x20, #2
    b       secondary_common
secondary_common:
    mov     x19, x0                 /* context id, exactly as delivered */
    this_cpu_index
    mov     x21, x0
    ldr     x1, =rt_stacks
    add     x2, x0, #1
    mov     x3, #STACK_SIZE
    madd    x1, x2, x3, x1
    mov     sp, x1
    ldr     x1, =vectors
    msr     vbar_el1, x1
    isb
    mov     x0, x19
    mov     x1, x20
    mov     x2, x21
    bl      secondary_main
    b       halt

/* s64 rt_suspend_call(struct resume_ctx *ctx, u64 fid, u64 a1, u64 a2, u64 a3) */
    .globl rt_suspend_call
rt_suspend_call:
    stp     x19, x20, [x0, #0]
    stp     x21, x22, [x0, #16]
    stp     x23, x24, [x0, #32]
    stp     x25, x26, [x0, #48]
    stp     x27, x28, [x0, #64]
    stp     x29, x30, [x0, #80]
    mov     x9, sp
    str     x9, [x0, #96]
    str     xzr, [x0, #104]         /* resumed = 0 */
    dsb     sy
    mov     x0, x1
    mov     x1, x2
    mov     x2, x3
    mov     x3, x4
    hvc     #0
    ret

/* Resume after power-down CPU_SUSPEND / SYSTEM_SUSPEND: x0 = context id. Records what the CPU
 * was handed, restores the state saved by rt_suspend_call and returns 0 from it. */
    .globl resume_entry
resume_entry:
    mrs     x23, cntvct_el0         /* first: when the guest got control back (bench) */
    mov     x19, x0
    mrs     x20, daif
    mrs     x21, CurrentEL
    mrs     x22, sctlr_el1
    this_cpu_index
    ldr     x1, =rt_resume_ctx
    mov     x2, #(13 * 8 + 6 * 8)
    madd    x0, x0, x2, x1
    mov     x1, #1
    str     x1, [x0, #104]
    str     x19, [x0, #112]
    str     x20, [x0, #120]
    str     x21, [x0, #128]
    str     x22, [x0, #136]
    str     x23, [x0, #144]
    ldr     x1, =vectors
    msr     vbar_el1, x1
    isb
    ldp     x19, x20, [x0, #0]
    ldp     x21, x22, [x0, #16]
    ldp     x23, x24, [x0, #32]
    ldp     x25, x26, [x0, #48]
    ldp     x27, x28, [x0, #64]
    ldp     x29, x30, [x0, #80]
    ldr     x9, [x0, #96]
    mov     sp, x9
    dsb     sy
    mov     x0, #0
    ret

    .globl halt
halt:
    wfe
    b       halt

/* Exception vectors: 16 entries of 0x80 bytes; each passes its index to rt_exception(). */
.macro vec idx
    .balign 0x80
    mov     x0, #\idx
    b       exc_common
.endm
    .balign 0x800
vectors:
    vec 0
    vec 1
    vec 2
    vec 3
    vec 4
    vec 5
    vec 6
    vec 7
    vec 8
    vec 9
    vec 10
    vec 11
    vec 12
    vec 13
    vec 14
    vec 15
exc_common:
    mrs     x1, esr_el1
    mrs     x2, elr_el1
    mrs     x3, far_el1
    bl      rt_exception
    b       halt

    .bss
    .balign 16
    .globl rt_boot_stack, rt_stacks
rt_boot_stack:
    .space STACK_SIZE
rt_stacks:
    .space STACK_SIZE * 16
