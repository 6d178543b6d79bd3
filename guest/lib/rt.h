/* rt.h — the freestanding runtime shared by every guest payload: types, barriers, system
 * registers, the UART console, printf-lite, TAP reporting, the device-tree reader, PSCI calls,
 * the virtual timer + GICv3 wake-up source, and the per-CPU bring-up/suspend glue in start.S.
 *
 * Memory model: the payload runs with the MMU off, so every data access is Device-nGnRnE.
 * Exclusive loads/stores are not guaranteed to work on Device memory, so CPUs never use atomics:
 * they talk through single-writer mailbox words (rt_write_once/rt_read_once with DSB SY),
 * which works the same under KVM and QEMU TCG. -mstrict-align keeps every access aligned. */
#ifndef GUEST_RT_H
#define GUEST_RT_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "parse.h" /* rt_parse_u64(): decimal or 0x hex, refuses overflow */

typedef uint64_t u64;
typedef uint32_t u32;
typedef int64_t s64;

#define RT_MAX_CPUS 16
#define RT_STACK_SIZE 8192
#define RT_MPIDR_MASK 0xff00ffffffULL

/* ---- barriers, system registers ------------------------------------------------------------ */
#define rt_dsb() __asm__ volatile("dsb sy" ::: "memory")
#define rt_isb() __asm__ volatile("isb" ::: "memory")
#define rt_read_sysreg(r) ({ u64 v_; __asm__ volatile("mrs %0, " #r : "=r"(v_)); v_; })
#define rt_write_sysreg(r, v) __asm__ volatile("msr " #r ", %0" ::"r"((u64)(v)) : "memory")

static inline void rt_write_once(volatile u64 *p, u64 v) { rt_dsb(); *p = v; rt_dsb(); }
static inline u64 rt_read_once(volatile u64 *p) { rt_dsb(); u64 v = *p; rt_dsb(); return v; }
static inline void rt_cpu_relax(void) { __asm__ volatile("yield" ::: "memory"); }

/* ---- time (virtual counter) ----------------------------------------------------------------- */
u64 rt_now(void);                   /* CNTVCT_EL0 */
u64 rt_freq(void);                  /* CNTFRQ_EL0 */
u64 rt_ms_to_ticks(u64 ms);
u64 rt_ticks_to_ns(u64 ticks);
void rt_delay_ms(u64 ms);

/* ---- libc bits the compiler may call -------------------------------------------------------- */
void *memset(void *s, int c, size_t n);
void *memcpy(void *d, const void *s, size_t n);
size_t strlen(const char *s);
size_t strlen_bounded(const char *s, size_t max);
int strcmp(const char *a, const char *b);
int strncmp(const char *a, const char *b, size_t n);

/* ---- console ----------------------------------------------------------------------------- */
void uart_init_from_fdt(const void *fdt);  /* 16550 or PL011 from /chosen/stdout-path */
void uart_putc(char c);
void rt_puts(const char *s);
int rt_vsnprintf(char *buf, size_t size, const char *fmt, va_list ap);
int rt_snprintf(char *buf, size_t size, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
void rt_printf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* ---- TAP --------------------------------------------------------------------------------- */
extern unsigned tap_count, tap_passed, tap_failed;
bool tap_result(bool ok, const char *diag, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* ok iff got == exp; the failure line shows PSCI return-code names. */
bool tap_ret(s64 got, s64 exp, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* ok iff got == exp (plain values, printed in hex). */
bool tap_eq(u64 got, u64 exp, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
void tap_diag(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Prints the trailing plan "1..N" and "# summary: N passed, N failed", then SYSTEM_OFF. */
void tap_finish(void) __attribute__((noreturn));
const char *psci_ret_name(s64 ret);

/* ---- device tree reader (read-only, flattened DT v17) ------------------------------------- */
int fdt_check(const void *fdt);                          /* 0 or -1 */
int fdt_path_offset(const void *fdt, const char *path);  /* node offset or -1 */
int fdt_first_child(const void *fdt, int node);          /* -1 when none */
int fdt_next_sibling(const void *fdt, int node);         /* -1 when none */
const char *fdt_node_name(const void *fdt, int node);
const void *fdt_getprop(const void *fdt, int node, const char *name, int *len);
bool fdt_prop_contains(const void *fdt, int node, const char *name, const char *str);
int fdt_find_compatible(const void *fdt, const char *compat);   /* first node, or -1 */
int fdt_parent(const void *fdt, int node);               /* -1 for the root */
int fdt_cells(const void *fdt, int node, const char *name, int dflt);
/* reg entry `index` of a node, decoded with its parent's #address-cells/#size-cells. */
int fdt_reg(const void *fdt, int node, int index, u64 *addr, u64 *size);
u32 fdt_be32(const void *p);
u64 fdt_read_cells(const void *p, int cells);            /* cells = 1 or 2 */

/* ---- PSCI ---------------------------------------------------------------------------------- */
#define PSCI_FN(n) (0x84000000u + (n))
#define PSCI_FN64(n) (0xC4000000u + (n))
enum {
    FN_VERSION = 0, FN_CPU_SUSPEND = 1, FN_CPU_OFF = 2, FN_CPU_ON = 3, FN_AFFINITY_INFO = 4,
    FN_MIGRATE = 5, FN_MIGRATE_INFO_TYPE = 6, FN_MIGRATE_INFO_UP_CPU = 7, FN_SYSTEM_OFF = 8,
    FN_SYSTEM_RESET = 9, FN_FEATURES = 10, FN_CPU_FREEZE = 11, FN_CPU_DEFAULT_SUSPEND = 12,
    FN_NODE_HW_STATE = 13, FN_SYSTEM_SUSPEND = 14, FN_SET_SUSPEND_MODE = 15,
    FN_STAT_RESIDENCY = 16, FN_STAT_COUNT = 17, FN_SYSTEM_RESET2 = 18, FN_MEM_PROTECT = 19,
    FN_MEM_PROTECT_CHECK_RANGE = 20, FN_SYSTEM_OFF2 = 21, FN_CLEAN_INV_MEMREGION = 22,
    FN_CLEAN_INV_MEMREGION_ATTRIBUTES = 23,
};
enum {
    PSCI_SUCCESS = 0, PSCI_NOT_SUPPORTED = -1, PSCI_INVALID_PARAMS = -2, PSCI_DENIED = -3,
    PSCI_ALREADY_ON = -4, PSCI_ON_PENDING = -5, PSCI_INTERNAL_FAILURE = -6,
    PSCI_NOT_PRESENT = -7, PSCI_DISABLED = -8, PSCI_INVALID_ADDRESS = -9,
};
enum { AFF_ON = 0, AFF_OFF = 1, AFF_ON_PENDING = 2 };
#define SMCCC_VERSION_FID 0x80000000u
/* HVC #0 with x0..x3; returns x0 (sign-extended PSCI codes compare as s64). */
static inline s64 psci_call(u64 fid, u64 a1, u64 a2, u64 a3)
{
    register u64 x0 __asm__("x0") = fid;
    register u64 x1 __asm__("x1") = a1;
    register u64 x2 __asm__("x2") = a2;
    register u64 x3 __asm__("x3") = a3;
    __asm__ volatile("hvc #0" : "+r"(x0), "+r"(x1), "+r"(x2), "+r"(x3) : : "memory");
    return (s64)x0;
}
/* psci_call() that also hands back x1..x3 as the call left them: r[0] = x0, r[1..3] = x1..x3. */
static inline void psci_call_regs(u64 fid, u64 a1, u64 a2, u64 a3, u64 r[4])
{
    register u64 x0 __asm__("x0") = fid;
    register u64 x1 __asm__("x1") = a1;
    register u64 x2 __asm__("x2") = a2;
    register u64 x3 __asm__("x3") = a3;
    __asm__ volatile("hvc #0" : "+r"(x0), "+r"(x1), "+r"(x2), "+r"(x3) : : "memory");
    r[0] = x0;
    r[1] = x1;
    r[2] = x2;
    r[3] = x3;
}
void psci_system_off(void) __attribute__((noreturn));

/* ---- machine description from the DT ------------------------------------------------------ */
struct rt_machine {
    unsigned nr_cpus;
    u64 mpidr[RT_MAX_CPUS];       /* /cpus/cpu@N/reg, in DT order */
    u64 ram_base, ram_size;       /* /memory */
    u64 gicd, gicr;               /* arm,gic-v3 reg[0], reg[1] */
    const char *bootargs;         /* /chosen/bootargs ("" when absent) */
    bool psci_hvc;                /* psci node method == "hvc" */
};
extern struct rt_machine machine;
/* Globals start.S reads to find a CPU's stack from MPIDR_EL1 (index in machine.mpidr). */
extern u64 rt_cpu_mpidr[RT_MAX_CPUS];
extern u64 rt_cpu_count;
int rt_machine_init(const void *fdt);   /* 0, or -1 with a diagnostic printed */
int rt_this_cpu(void);                  /* index of the caller, -1 if unknown */
/* Find "key=" in bootargs; returns the value (not NUL-terminated) and its length, or NULL. */
const char *rt_bootarg(const char *key, size_t *len);
bool rt_bootarg_is(const char *key, const char *value);

/* ---- interrupts: the virtual timer as a wake-up source ------------------------------------ */
#define RT_VTIMER_INTID 27            /* PPI 11 */
#define RT_WAKE_SGI 0                 /* SGI that wakes a CPU idling in WFI */
void gic_init_distributor(void);      /* once, on the boot CPU */
void gic_init_cpu(void);              /* on each CPU that arms its timer (after every reset) */
void timer_arm_ms(u64 ms);            /* CNTV fires after ms; pending interrupt wakes WFI */
void timer_disarm(void);
bool timer_fired(void);               /* CNTV_CTL.ISTATUS */
void gic_send_wake(u64 mpidr);        /* send RT_WAKE_SGI to that CPU */
void gic_ack_all(void);               /* acknowledge + EOI whatever is pending (masked) */

/* ---- start.S glue ------------------------------------------------------------------------ */
/* Entry points a CPU_ON / power-down / SYSTEM_SUSPEND can name; x0 = context id. */
void secondary_entry_a(void);
void secondary_entry_b(void);
void resume_entry(void);
/* Saved state of a call that may resume at resume_entry instead of returning. */
struct resume_ctx {
    u64 regs[13];           /* x19..x30, sp */
    u64 resumed;            /* 1 when we came back through resume_entry */
    u64 got_ctx;            /* x0 seen at resume_entry */
    u64 got_daif, got_el, got_sctlr;
    u64 got_cntvct;         /* CNTVCT_EL0 read by resume_entry's first instruction */
};
extern struct resume_ctx rt_resume_ctx[RT_MAX_CPUS];
/* Save callee-saved state into rt_resume_ctx[this cpu], then HVC with x0..x3. Returns x0 if the
 * call returns; returns 0 with ctx->resumed = 1 if execution came back through resume_entry. */
s64 rt_suspend_call(struct resume_ctx *ctx, u64 fid, u64 a1, u64 a2, u64 a3);
/* C entry points called by start.S. */
void payload_main(void);
void secondary_main(u64 context, u64 entry_id, u64 cpu);
void rt_primary_main(const void *fdt);
void rt_exception(u64 vector, u64 esr, u64 elr, u64 far);

#endif
