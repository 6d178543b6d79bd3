/* bench/first-insn.S — the "first guest instruction" probe of bench/boot.
 *
 * bench/boot copies the guest kernel Image and overwrites two places in the copy: code1 (Image
 * offset 4, the branch to the kernel's entry code that follows the "MZ" no-op of code0) becomes
 * a branch to offset 64, and this code goes at offset 64 (where the unused PE header was). The
 * header, size, text_offset and the rest of the file are unchanged, so a VMM loads the copy
 * exactly as it loads the kernel — and the guest's first instructions print "@F" and a newline
 * on the VMM's console UART, then the guest's virtual counter and its frequency, then call
 * PSCI SYSTEM_OFF. The time from starting the VMM to the "@F" line is its launch → first guest
 * instruction (plus three UART writes).
 *
 * Built once per console: -DUART_BASE=<address>, and -DUART_PL011 for QEMU's PL011 (32-bit
 * data register) or nothing for a 16550 (8-bit THR; pscivm at 0x09000000, kvmtool at
 * 0x01000000). Position independent: it runs wherever the VMM put the Image, MMU off. */
#ifdef UART_PL011
#define PUTC(reg) str reg, [x1]
#else
#define PUTC(reg) strb reg, [x1]
#endif

    .text
    .globl  first_insn
first_insn:
    isb
    mrs     x3, cntvct_el0          /* the guest's clock at its first instruction */
    ldr     x1, uart
    mov     w2, #'@'
    PUTC(w2)
    mov     w2, #'F'
    PUTC(w2)
    mov     w2, #'\n'
    PUTC(w2)
    /* "@T <CNTVCT> <CNTFRQ>\n" in hex: KVM starts a VM's virtual counter near 0 when it
     * creates its vCPUs, so this says how long after the last vCPU was created the guest's
     * first instruction ran. */
    mov     w2, #'@'
    PUTC(w2)
    mov     w2, #'T'
    PUTC(w2)
    mov     x5, x3
    bl      put_hex
    mrs     x5, cntfrq_el0
    bl      put_hex
    mov     w2, #'\n'
    PUTC(w2)
    movz    w0, #0x0008
    movk    w0, #0x8400, lsl #16    /* PSCI SYSTEM_OFF (0x84000008), over HVC as all three
                                     * VMMs' device trees say */
    hvc     #0
1:  wfi                             /* SYSTEM_OFF does not return */
    b       1b

/* A space, then x5 as 16 hex digits. Uses x2, x6, x7. */
put_hex:
    mov     w2, #' '
    PUTC(w2)
    mov     x6, #60
2:  lsr     x7, x5, x6
    and     x7, x7, #0xf
    add     x2, x7, #'0'
    cmp     x7, #10
    b.lo    3f
    add     x2, x7, #('a' - 10)
3:  PUTC(w2)
    subs    x6, x6, #4
    b.ge    2b
    ret

    .balign 8
uart:
    .quad   UART_BASE
