/* rt.c — the guest runtime: libc bits, counter-based time, the UART console (16550 or PL011,
 * chosen from /chosen/stdout-path), printf-lite (%d %u %x %s %c %p with l/ll and 0-padded
 * widths), TAP output, machine discovery from the device tree, bootargs, and the handler that
 * turns any exception into a TAP failure and ends the run. */
#include "rt.h"

/* ---- libc ---------------------------------------------------------------------------------- */
void *memset(void *s, int c, size_t n)
{
    volatile unsigned char *p = s;   /* volatile: keep GCC from turning this into memset() */
    while (n--)
        *p++ = (unsigned char)c;
    return s;
}

void *memcpy(void *d, const void *s, size_t n)
{
    volatile unsigned char *dp = d;
    const unsigned char *sp = s;
    while (n--)
        *dp++ = *sp++;
    return d;
}

size_t strlen(const char *s)
{
    size_t n = 0;
    while (s[n])
        n++;
    return n;
}

size_t strlen_bounded(const char *s, size_t max)
{
    size_t n = 0;
    while (n < max && s[n])
        n++;
    return n;
}

int strcmp(const char *a, const char *b)
{
    while (*a && *a == *b)
        a++, b++;
    return (unsigned char)*a - (unsigned char)*b;
}

int strncmp(const char *a, const char *b, size_t n)
{
    for (; n; n--, a++, b++) {
        if (*a != *b)
            return (unsigned char)*a - (unsigned char)*b;
        if (!*a)
            return 0;
    }
    return 0;
}

/* ---- time ---------------------------------------------------------------------------------- */
u64 rt_now(void)
{
    rt_isb();
    return rt_read_sysreg(cntvct_el0);
}

u64 rt_freq(void)
{
    u64 f = rt_read_sysreg(cntfrq_el0) & 0xffffffffu;
    return f ? f : 62500000; /* never divide by zero on a host that leaves CNTFRQ unset */
}

u64 rt_ms_to_ticks(u64 ms) { return ms * (rt_freq() / 1000); }

u64 rt_ticks_to_ns(u64 ticks)
{
    u64 f = rt_freq();
    return ticks / f * 1000000000ull + (ticks % f) * 1000000000ull / f;
}

void rt_delay_ms(u64 ms)
{
    u64 end = rt_now() + rt_ms_to_ticks(ms);
    while (rt_now() < end)
        rt_cpu_relax();
}

/* ---- UART ---------------------------------------------------------------------------------- */
enum uart_kind { UART_16550, UART_PL011 };
static enum uart_kind uart_kind = UART_16550;
static u64 uart_base = 0x09000000;
static unsigned uart_shift;
static unsigned uart_burst = 1;   /* bytes we may write per THRE: 16 once the FIFO is on */

static volatile unsigned char *uart_reg(unsigned reg)
{
    return (volatile unsigned char *)(uart_base + (reg << uart_shift));
}

/* 16550: enable and clear the FIFOs (FCR = 0x07); IIR[7:6] = 11 confirms a 16-byte FIFO, so
 * each "THR empty" lets us write 16 bytes — half the MMIO exits of polling LSR per byte. */
static void uart16550_init(void)
{
    *uart_reg(2) = 0x07;
    uart_burst = (*uart_reg(2) & 0xc0) == 0xc0 ? 16 : 1;
}

void uart_init_from_fdt(const void *fdt)
{
    if (fdt_check(fdt))
        goto done;
    int chosen = fdt_path_offset(fdt, "/chosen");
    int len;
    const char *path = fdt_getprop(fdt, chosen, "stdout-path", &len);
    if (!path || len < 2)
        goto done;
    char buf[128];
    size_t n = 0;
    while (n < sizeof(buf) - 1 && (int)n < len && path[n] && path[n] != ':')
        buf[n] = path[n], n++;
    buf[n] = 0;
    int node = -1;
    if (buf[0] == '/') {
        node = fdt_path_offset(fdt, buf);
    } else { /* an alias */
        const char *full = fdt_getprop(fdt, fdt_path_offset(fdt, "/aliases"), buf, &len);
        if (full)
            node = fdt_path_offset(fdt, full);
    }
    u64 base;
    if (node < 0 || fdt_reg(fdt, node, 0, &base, NULL))
        goto done;
    if (fdt_prop_contains(fdt, node, "compatible", "arm,pl011"))
        uart_kind = UART_PL011;
    else if (fdt_prop_contains(fdt, node, "compatible", "ns16550a") ||
             fdt_prop_contains(fdt, node, "compatible", "ns16550"))
        uart_kind = UART_16550;
    else
        goto done;
    const void *shift = fdt_getprop(fdt, node, "reg-shift", &len);
    uart_shift = shift && len == 4 ? fdt_be32(shift) & 3 : 0;
    uart_base = base;
done:
    if (uart_kind == UART_16550)
        uart16550_init();
}

static void uart_write(const char *s, size_t n)
{
    if (uart_kind == UART_PL011) {
        volatile u32 *fr = (volatile u32 *)(uart_base + 0x18);
        for (size_t k = 0; k < n; k++) {
            for (unsigned i = 0; i < 1000000 && (*fr & (1u << 5)); i++)
                ; /* TXFF */
            *(volatile u32 *)uart_base = (unsigned char)s[k];
        }
        return;
    }
    while (n) {
        for (unsigned i = 0; i < 1000000 && !(*uart_reg(5) & (1u << 5)); i++)
            ; /* THRE */
        size_t chunk = n < uart_burst ? n : uart_burst;
        for (size_t k = 0; k < chunk; k++)
            *uart_reg(0) = (unsigned char)s[k];
        s += chunk;
        n -= chunk;
    }
}

void uart_putc(char c) { uart_write(&c, 1); }

void rt_puts(const char *s)
{
    char buf[64];
    size_t n = 0;
    for (; *s; s++) {
        if (n + 2 > sizeof(buf)) {
            uart_write(buf, n);
            n = 0;
        }
        if (*s == '\n')
            buf[n++] = '\r';
        buf[n++] = *s;
    }
    uart_write(buf, n);
}

/* ---- printf-lite --------------------------------------------------------------------------- */
struct outbuf {
    char *buf;
    size_t size, len;
};

static void out_c(struct outbuf *o, char c)
{
    if (o->len + 1 < o->size)
        o->buf[o->len] = c;
    o->len++;
}

static void out_num(struct outbuf *o, u64 v, unsigned base, bool neg, int width, char pad)
{
    char tmp[24];
    int n = 0;
    do {
        unsigned d = (unsigned)(v % base);
        tmp[n++] = (char)(d < 10 ? '0' + d : 'a' + d - 10);
        v /= base;
    } while (v);
    if (neg)
        tmp[n++] = '-';
    for (int i = n; i < width; i++)
        out_c(o, pad);
    while (n)
        out_c(o, tmp[--n]);
}

int rt_vsnprintf(char *buf, size_t size, const char *fmt, va_list ap)
{
    struct outbuf o = {buf, size, 0};
    for (; *fmt; fmt++) {
        if (*fmt != '%') {
            out_c(&o, *fmt);
            continue;
        }
        fmt++;
        char pad = ' ';
        int width = 0, lng = 0;
        if (*fmt == '0')
            pad = '0', fmt++;
        while (*fmt >= '0' && *fmt <= '9')
            width = width * 10 + (*fmt++ - '0');
        while (*fmt == 'l')
            lng++, fmt++;
        switch (*fmt) {
        case 'd': {
            s64 v = lng ? va_arg(ap, s64) : va_arg(ap, int);
            out_num(&o, v < 0 ? (u64)0 - (u64)v : (u64)v, 10, v < 0, width, pad);
            break;
        }
        case 'u':
        case 'x': {
            u64 v = lng ? va_arg(ap, u64) : va_arg(ap, unsigned);
            out_num(&o, v, *fmt == 'u' ? 10 : 16, false, width, pad);
            break;
        }
        case 'p':
            out_c(&o, '0');
            out_c(&o, 'x');
            out_num(&o, (u64)va_arg(ap, void *), 16, false, width, pad);
            break;
        case 's': {
            const char *s = va_arg(ap, const char *);
            for (s = s ? s : "(null)"; *s; s++)
                out_c(&o, *s);
            break;
        }
        case 'c':
            out_c(&o, (char)va_arg(ap, int));
            break;
        case '%':
            out_c(&o, '%');
            break;
        default:
            out_c(&o, '%');
            if (!*fmt)
                goto done;
            out_c(&o, *fmt);
        }
    }
done:
    if (size)
        buf[o.len < size ? o.len : size - 1] = 0;
    return (int)o.len;
}

int rt_snprintf(char *buf, size_t size, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = rt_vsnprintf(buf, size, fmt, ap);
    va_end(ap);
    return n;
}

void rt_printf(const char *fmt, ...)
{
    char buf[256];
    va_list ap;
    va_start(ap, fmt);
    rt_vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    rt_puts(buf);
}

/* ---- TAP ----------------------------------------------------------------------------------- */
unsigned tap_count, tap_passed, tap_failed;

static void tap_vresult(bool ok, const char *diag, const char *fmt, va_list ap)
{
    char desc[200];
    rt_vsnprintf(desc, sizeof(desc), fmt, ap);
    tap_count++;
    if (ok)
        tap_passed++;
    else
        tap_failed++;
    if (ok || !diag)
        rt_printf("%sok %u - %s\n", ok ? "" : "not ", tap_count, desc);
    else
        rt_printf("not ok %u - %s # %s\n", tap_count, desc, diag);
}

bool tap_result(bool ok, const char *diag, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    tap_vresult(ok, diag, fmt, ap);
    va_end(ap);
    return ok;
}

const char *psci_ret_name(s64 ret)
{
    static const char *const names[] = {
        "SUCCESS", "NOT_SUPPORTED", "INVALID_PARAMETERS", "DENIED", "ALREADY_ON",
        "ON_PENDING", "INTERNAL_FAILURE", "NOT_PRESENT", "DISABLED", "INVALID_ADDRESS",
        "TIMEOUT", "RATE_LIMITED", "BUSY",
    };
    if (ret <= 0 && ret >= -12)
        return names[-ret];
    return "value";
}

bool tap_ret(s64 got, s64 exp, const char *fmt, ...)
{
    char diag[120];
    rt_snprintf(diag, sizeof(diag), "expected %s (%ld) got %s (%ld / 0x%lx)", psci_ret_name(exp),
                exp, psci_ret_name(got), got, (u64)got);
    va_list ap;
    va_start(ap, fmt);
    tap_vresult(got == exp, diag, fmt, ap);
    va_end(ap);
    return got == exp;
}

bool tap_eq(u64 got, u64 exp, const char *fmt, ...)
{
    char diag[80];
    rt_snprintf(diag, sizeof(diag), "expected 0x%lx got 0x%lx", exp, got);
    va_list ap;
    va_start(ap, fmt);
    tap_vresult(got == exp, diag, fmt, ap);
    va_end(ap);
    return got == exp;
}

void tap_diag(const char *fmt, ...)
{
    char buf[200];
    va_list ap;
    va_start(ap, fmt);
    rt_vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    rt_printf("# %s\n", buf);
}

void psci_system_off(void)
{
    psci_call(PSCI_FN(FN_SYSTEM_OFF), 0, 0, 0);
    rt_puts("# SYSTEM_OFF returned; halting\n");
    for (;;)
        __asm__ volatile("wfi");
}

void tap_finish(void)
{
    rt_printf("1..%u\n", tap_count);
    rt_printf("# summary: %u passed, %u failed\n", tap_passed, tap_failed);
    psci_system_off();
}

/* ---- machine discovery --------------------------------------------------------------------- */
struct rt_machine machine;
u64 rt_cpu_mpidr[RT_MAX_CPUS];
u64 rt_cpu_count;
struct resume_ctx rt_resume_ctx[RT_MAX_CPUS];
_Static_assert(sizeof(struct resume_ctx) == 152, "start.S hard-codes the resume_ctx layout");

int rt_machine_init(const void *fdt)
{
    if (fdt_check(fdt)) {
        tap_diag("no valid device tree at %p", fdt);
        return -1;
    }
    machine.bootargs = "";
    int len;
    const char *ba = fdt_getprop(fdt, fdt_path_offset(fdt, "/chosen"), "bootargs", &len);
    if (ba && len > 0 && ba[len - 1] == 0)
        machine.bootargs = ba;

    int cpus = fdt_path_offset(fdt, "/cpus");
    int ac = fdt_cells(fdt, cpus, "#address-cells", 1);
    for (int n = fdt_first_child(fdt, cpus); n >= 0; n = fdt_next_sibling(fdt, n)) {
        const char *name = fdt_node_name(fdt, n);
        const void *reg = fdt_getprop(fdt, n, "reg", &len);
        if (strncmp(name, "cpu@", 4) != 0 || !reg || len < 4 * ac)
            continue;
        if (machine.nr_cpus == RT_MAX_CPUS) {
            tap_diag("more than %d CPUs in the device tree; using the first %d", RT_MAX_CPUS,
                     RT_MAX_CPUS);
            break;
        }
        machine.mpidr[machine.nr_cpus++] = fdt_read_cells(reg, ac) & RT_MPIDR_MASK;
    }
    if (machine.nr_cpus == 0) {
        tap_diag("no /cpus/cpu@N nodes in the device tree");
        return -1;
    }
    for (unsigned i = 0; i < machine.nr_cpus; i++)
        rt_cpu_mpidr[i] = machine.mpidr[i];
    rt_write_once(&rt_cpu_count, machine.nr_cpus);

    int mem = fdt_path_offset(fdt, "/memory");
    if (mem < 0 || fdt_reg(fdt, mem, 0, &machine.ram_base, &machine.ram_size)) {
        tap_diag("no /memory reg in the device tree");
        return -1;
    }
    int gic = fdt_find_compatible(fdt, "arm,gic-v3");
    if (gic < 0 || fdt_reg(fdt, gic, 0, &machine.gicd, NULL) ||
        fdt_reg(fdt, gic, 1, &machine.gicr, NULL)) {
        tap_diag("no arm,gic-v3 node; assuming the pscivm memory map");
        machine.gicd = 0x08000000;
        machine.gicr = 0x080A0000;
    }
    int psci = fdt_find_compatible(fdt, "arm,psci-0.2");
    if (psci < 0)
        psci = fdt_find_compatible(fdt, "arm,psci-1.0");
    machine.psci_hvc = psci >= 0 && fdt_prop_contains(fdt, psci, "method", "hvc");
    return 0;
}

int rt_this_cpu(void)
{
    u64 me = rt_read_sysreg(mpidr_el1) & RT_MPIDR_MASK;
    for (unsigned i = 0; i < machine.nr_cpus; i++)
        if (machine.mpidr[i] == me)
            return (int)i;
    return -1;
}

const char *rt_bootarg(const char *key, size_t *len)
{
    size_t klen = strlen(key);
    const char *p = machine.bootargs;
    while (*p) {
        while (*p == ' ')
            p++;
        const char *tok = p;
        while (*p && *p != ' ')
            p++;
        if ((size_t)(p - tok) > klen && strncmp(tok, key, klen) == 0 && tok[klen] == '=') {
            *len = (size_t)(p - tok) - klen - 1;
            return tok + klen + 1;
        }
    }
    return NULL;
}

bool rt_bootarg_is(const char *key, const char *value)
{
    size_t len;
    const char *v = rt_bootarg(key, &len);
    return v && len == strlen(value) && strncmp(v, value, len) == 0;
}

/* ---- entry and exceptions ------------------------------------------------------------------ */
void rt_primary_main(const void *fdt)
{
    uart_init_from_fdt(fdt);
    if (rt_machine_init(fdt)) {
        tap_result(false, NULL, "device tree readable");
        tap_finish();
    }
    payload_main();
    tap_finish();
}

void rt_exception(u64 vector, u64 esr, u64 elr, u64 far)
{
    static const char *const kinds[] = {"sync", "irq", "fiq", "serror"};
    tap_result(false, NULL,
               "unexpected %s exception (vector %lu) on cpu %d: ESR 0x%lx ELR 0x%lx FAR 0x%lx",
               kinds[vector & 3], vector, rt_this_cpu(), esr, elr, far);
    tap_finish();
}
