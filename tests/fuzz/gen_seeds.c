/* gen_seeds.c — writes the committed seed corpora of the fuzz targets (tests/fuzz/corpus/
 * <target>/), `make fuzz-seeds`: PSCI state images and device states saved by the real code,
 * kernel files (raw Image, gzip, two gzip members, EFI zboot gzip/zstd) built around a tiny
 * Image, QMP sessions, `pscivm run` command lines, and operation sequences in each MMIO
 * target's encoding (see the headers of fuzz_*.c). Built natively; deterministic output. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>
#include <zstd.h>

#include "devices/pl031.h"
#include "devices/uart16550.h"
#include "devices/virtio_blk.h"
#include "devices/virtio_input.h"
#include "psci/psci.h"
#include "vmm/vmdir.h"
#include "fuzz_virtio.h"

static void die(const char *what);
/* The snapshot tests' fixture, with its cmocka checks turned into hard failures. */
#define assert_int_equal(a, b) do { if ((long long)(a) != (long long)(b)) die("snapshot seed: " #a); } while (0)
#define assert_true(c) do { if (!(c)) die("snapshot seed: " #c); } while (0)
#define fail_msg(...) die("snapshot seed: writer failed")
#include "../unit/snapshot_fixture.h"

static const char *root;

static void die(const char *what)
{
    fprintf(stderr, "gen_seeds: %s\n", what);
    exit(1);
}

static void seed(const char *target, const char *name, const void *data, size_t len)
{
    char path[512];
    snprintf(path, sizeof(path), "%s/%s", root, target);
    if (mkdir(path, 0755) && errno != EEXIST)
        die(path);
    snprintf(path, sizeof(path), "%s/%s/%s", root, target, name);
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(data, 1, len, f) != len || fclose(f))
        die(path);
}

/* ---- a growable byte buffer for operation sequences ---- */
struct buf {
    uint8_t d[8192];
    size_t n;
};

static void b8(struct buf *b, unsigned int v)
{
    if (b->n >= sizeof(b->d))
        die("seed too long");
    b->d[b->n++] = (uint8_t)v;
}
static void b16(struct buf *b, unsigned int v) { b8(b, v & 0xff); b8(b, (v >> 8) & 0xff); }
static void b32(struct buf *b, uint32_t v) { b16(b, v & 0xffff); b16(b, v >> 16); }
static void bmem(struct buf *b, const void *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        b8(b, ((const uint8_t *)p)[i]);
}

/* The first op byte with op % mod == kind whose bits under `mask` equal `val`. */
static unsigned int op(unsigned int mod, unsigned int kind, unsigned int mask, unsigned int val)
{
    for (unsigned int o = 0; o < 256; o++)
        if (o % mod == kind && (o & mask) == val)
            return o;
    die("no such op byte");
    return 0;
}

/* ---- PSCI state images ---- */
static uint64_t clock_ns(void *opaque)
{
    (void)opaque;
    static uint64_t now;
    return now += 1000;
}

static void psci_seed(const char *name, const struct psci_machine *m)
{
    long need = psci_machine_save(m, NULL, 0);
    uint8_t *img = need > 0 ? malloc((size_t)need) : NULL;
    if (!img || psci_machine_save(m, img, (size_t)need) != need)
        die("psci_machine_save");
    seed("psci_state", name, img, (size_t)need);
    free(img);
}

static void psci_call(struct psci_machine *m, unsigned int vcpu, uint64_t x0, uint64_t x1,
                      uint64_t x2, uint64_t x3, struct psci_result *r)
{
    struct psci_call c = {.vcpu = vcpu, .x = {x0, x1, x2, x3}};
    if (psci_machine_call(m, &c, r))
        die("psci_machine_call");
}

static void gen_psci(void)
{
    static const uint64_t mpidrs[4] = {0x0, 0x1, 0x100, 0x10000};
    static const struct psci_ram_range ram[2] = {{0x40000000, 0x8000000},
                                                 {0x100000000ull, 0x1000000}};
    struct psci_config cfg = {.version = PSCI_VERSION_1_3, .options = PSCI_OPT_ALL,
                              .nr_vcpus = 1, .mpidrs = mpidrs, .ram = ram, .nr_ram = 1,
                              .clock_ns = clock_ns};
    struct psci_machine m;
    struct psci_result r;
    if (psci_machine_init(&m, &cfg))
        die("psci_machine_init");
    psci_seed("one-vcpu", &m);
    psci_machine_release(&m);

    cfg.nr_vcpus = 4;
    cfg.nr_ram = 2;
    if (psci_machine_init(&m, &cfg))
        die("psci_machine_init");
    psci_call(&m, 0, 0xc4000003u, 0x1, 0x40080000, 7, &r);  /* CPU_ON vCPU 1 */
    psci_cpu_started(&m, 1);
    psci_call(&m, 0, 0xc4000003u, 0x100, 0x40080040, 8, &r); /* vCPU 2: left ON_PENDING */
    psci_call(&m, 1, 0xc4000001u, 0x10000, 0x40080080, 9, &r); /* vCPU 1 powerdown suspend */
    psci_vcpu_set_allowed(&m, 3, false);
    psci_seed("four-vcpus-busy", &m);
    psci_machine_release(&m);

    cfg.version = PSCI_VERSION_0_2;
    cfg.options = 0;
    cfg.nr_vcpus = 2;
    cfg.clock_ns = NULL;
    if (psci_machine_init(&m, &cfg))
        die("psci_machine_init");
    psci_seed("v0.2-two-vcpus", &m);
    psci_machine_release(&m);
}

/* ---- kernel files ---- */
static size_t tiny_image(uint8_t *img, size_t cap)
{
    memset(img, 0, cap);
    static const uint8_t code0[4] = {0x4d, 0x5a, 0x40, 0xfa}; /* "MZ" + ccmp, as with EFI stub */
    memcpy(img, code0, 4);
    uint64_t text_offset = 0, image_size = 0x10000, flags = 0xa; /* LE, 4K, anywhere */
    memcpy(img + 8, &text_offset, 8);
    memcpy(img + 16, &image_size, 8);
    memcpy(img + 24, &flags, 8);
    memcpy(img + 56, "ARM\x64", 4);
    for (size_t i = 64; i < cap; i++)
        img[i] = (uint8_t)(i * 7);
    return cap;
}

static size_t gzip(const uint8_t *in, size_t len, uint8_t *out, size_t cap)
{
    z_stream zs;
    memset(&zs, 0, sizeof(zs));
    if (deflateInit2(&zs, 9, Z_DEFLATED, 31, 9, Z_DEFAULT_STRATEGY) != Z_OK)
        die("deflateInit2");
    zs.next_in = (Bytef *)in;
    zs.avail_in = (uInt)len;
    zs.next_out = out;
    zs.avail_out = (uInt)cap;
    if (deflate(&zs, Z_FINISH) != Z_STREAM_END)
        die("deflate");
    size_t n = cap - zs.avail_out;
    deflateEnd(&zs);
    return n;
}

static size_t zboot(const char *comp, const uint8_t *payload, size_t len, uint8_t *out)
{
    memset(out, 0, 64);
    memcpy(out, "MZ\0\0zimg", 8);
    uint32_t off = 64, size = (uint32_t)len;
    memcpy(out + 8, &off, 4);
    memcpy(out + 12, &size, 4);
    memcpy(out + 24, comp, strlen(comp));
    memcpy(out + 60, "\x40\0\0\0", 4); /* PE header offset, where Image has its magic */
    memcpy(out + 64, payload, len);
    return 64 + len;
}

static void gen_kernel(void)
{
    uint8_t img[256], z[1024], out[2048];
    size_t n = tiny_image(img, sizeof(img));
    seed("kernel_image", "raw-image", img, n);
    size_t gz = gzip(img, n, z, sizeof(z));
    seed("kernel_image", "gzip", z, gz);
    memcpy(out, z, gz);
    memcpy(out + gz, z, gz);
    memset(out + 2 * gz, 0, 16);
    seed("kernel_image", "gzip-two-members-padded", out, 2 * gz + 16);
    seed("kernel_image", "zboot-gzip", out, zboot("gzip", z, gz, out));
    size_t zs = ZSTD_compress(z, sizeof(z), img, n, 19);
    if (ZSTD_isError(zs))
        die("ZSTD_compress");
    seed("kernel_image", "zboot-zstd", out, zboot("zstd", z, zs, out));
    uint64_t zero = 0; /* pre-3.17 header: image_size 0 */
    memcpy(img + 16, &zero, 8);
    seed("kernel_image", "raw-image-legacy", img, n);
}

/* ---- QMP sessions: control byte (chunk size | 0x40 negotiate first), then bytes ---- */
static void qmp_seed(const char *name, unsigned int control, const char *text)
{
    struct buf b = {.n = 0};
    b8(&b, control);
    bmem(&b, text, strlen(text));
    seed("qmp", name, b.d, b.n);
}

static void gen_qmp(void)
{
    qmp_seed("negotiate-status", 0, "{\"execute\": \"qmp_capabilities\"}\r\n"
                                    "{\"execute\": \"query-status\", \"id\": 1}");
    qmp_seed("stop-cont", 0x40, "{\"execute\": \"stop\"}{\"execute\": \"cont\", \"id\": \"x\"}"
                                "{\"execute\": \"query-cpus-fast\"}{\"execute\": \"query-psci\"}");
    qmp_seed("cpu-plug", 0x40, "{\"execute\": \"cpu-plug\", \"arguments\": {\"id\": 2}}"
                               "{\"execute\": \"cpu-unplug\", \"arguments\": {\"id\": 9}}"
                               "{\"execute\": \"cpu-plug\", \"arguments\": {\"id\": \"2\"}}");
    qmp_seed("commands", 0x40, "{\"execute\": \"query-commands\"}{\"execute\": \"query-version\"}"
                               "{\"execute\": \"system_reset\"}{\"execute\": \"system_powerdown\"}"
                               "{\"execute\": \"system_wakeup\"}{\"execute\": \"quit\"}");
    qmp_seed("errors-split", 3, "{\"execute\": \"stop\", \"extra\": 1}[1,2]\"str\" {\"exec"
                                "ute\": 5}\x01{\"execute\": \"nosuch\"} {\"execute\": \"cont\","
                                " \"arguments\": []}");
    qmp_seed("before-negotiation", 1, "{\"execute\": \"stop\"}{\"execute\": "
                                      "\"qmp_capabilities\", \"arguments\": {\"enable\": "
                                      "[\"oob\"]}}");
}

/* ---- run options: NUL-separated argv[1..] ---- */
static void argv_seed(const char *name, const char *const *args)
{
    struct buf b = {.n = 0};
    for (const char *const *a = args; *a; a++) {
        if (a != args)
            b8(&b, 0);
        bmem(&b, *a, strlen(*a));
    }
    seed("run_options", name, b.d, b.n);
}

static void gen_run_options(void)
{
    argv_seed("payload", (const char *const[]){"--payload", "x.bin", NULL});
    argv_seed("kernel-all", (const char *const[]){
        "--kernel", "Image.gz", "--initrd", "initrd.img", "--cmdline", "console=ttyS0",
        "--cpus", "4", "--max-cpus", "8", "--mem", "512", "--psci", "1.2", "--psci-mode",
        "user", "--deny-cpu-on", "1,3", "--disk", "root.img", "--disk", "data.img,ro",
        "--console", "none", "--qmp", "/tmp/qmp.sock", "--events", "-", "--on-reset", "exit",
        "--on-suspend", "deny", "--timeout", "30", NULL});
    argv_seed("equals-abbrev", (const char *const[]){"--payload=p", "--cpu=2", "--on-r=exit",
                                                     "--console=out.log", NULL});
    argv_seed("bad", (const char *const[]){"--payload", "p", "-x", "--cpus", "0", "extra",
                                           NULL});
    argv_seed("help", (const char *const[]){"-h", NULL});
    argv_seed("vm", (const char *const[]){"--vm", "/vms/a", "--cpus", "2", "--update",
                                           "--discard-hibernation", "--kernel", "I", NULL});
}

/* ---- UART / PL031 operation sequences (fuzz_mmio.h access flags) ---- */
#define ACC_WRITE 1u
#define ACC_SIZE(log2) ((log2) << 1)
#define ACC_LOW 8u

static void mmio_acc(struct buf *b, unsigned int mod, unsigned int flags, unsigned int off,
                     uint32_t value)
{
    b8(b, op(mod, 0, 0xf8, flags << 3));
    b16(b, off);
    if (flags & ACC_WRITE)
        b32(b, value);
}

static void gen_uart(void)
{
    struct buf b = {.n = 0};
    const unsigned int W = ACC_WRITE | ACC_SIZE(0) | ACC_LOW, R = ACC_SIZE(0) | ACC_LOW;
    mmio_acc(&b, 5, W, 3, 0x80); /* LCR: DLAB */
    mmio_acc(&b, 5, W, 0, 0x01); /* DLL */
    mmio_acc(&b, 5, W, 1, 0x00); /* DLM */
    mmio_acc(&b, 5, W, 3, 0x03); /* 8N1 */
    mmio_acc(&b, 5, W, 2, 0x07); /* FCR: enable, clear */
    mmio_acc(&b, 5, W, 1, 0x0f); /* IER: all */
    mmio_acc(&b, 5, W, 0, 'A');  /* THR */
    mmio_acc(&b, 5, R, 2, 0);    /* IIR */
    b8(&b, 1), b8(&b, 3), bmem(&b, "hi!", 3); /* receive */
    mmio_acc(&b, 5, R, 5, 0);    /* LSR */
    mmio_acc(&b, 5, R, 0, 0);    /* RBR */
    mmio_acc(&b, 5, W, 4, 0x1f); /* MCR with loop */
    mmio_acc(&b, 5, R, 6, 0);    /* MSR */
    b8(&b, 3);                   /* snapshot */
    b8(&b, 1), b8(&b, 20), bmem(&b, "0123456789abcdefghij", 20); /* overrun */
    mmio_acc(&b, 5, R, 5, 0);
    b8(&b, 2);                   /* reset */
    mmio_acc(&b, 5, ACC_SIZE(2), 0x100, 0); /* outside the registers */
    seed("uart16550", "driver-session", b.d, b.n);
}

static void gen_pl031(void)
{
    struct buf b = {.n = 0};
    const unsigned int W = ACC_WRITE | ACC_SIZE(2) | ACC_LOW, R = ACC_SIZE(2) | ACC_LOW;
    mmio_acc(&b, 6, R, PL031_DR, 0);
    mmio_acc(&b, 6, W, PL031_LR, 1000);
    mmio_acc(&b, 6, W, PL031_CR, 1);
    mmio_acc(&b, 6, W, PL031_IMSC, 1);
    mmio_acc(&b, 6, W, PL031_MR, 1003);
    b8(&b, 1), b32(&b, 5000);    /* clock += 5 s */
    b8(&b, 3);                   /* timer fired */
    mmio_acc(&b, 6, R, PL031_RIS, 0);
    mmio_acc(&b, 6, R, PL031_MIS, 0);
    mmio_acc(&b, 6, W, PL031_MR, 1010);
    b8(&b, 5);                   /* snapshot */
    mmio_acc(&b, 6, W, PL031_ICR, 1);
    mmio_acc(&b, 6, ACC_SIZE(2), PL031_PERIPH_ID0, 0);
    mmio_acc(&b, 6, ACC_SIZE(2), PL031_PCELL_ID0 + 4, 0);
    b8(&b, 4);                   /* reset */
    mmio_acc(&b, 6, ACC_WRITE | ACC_SIZE(0) | ACC_LOW, PL031_MR, 1); /* bad size */
    seed("pl031", "driver-session", b.d, b.n);
}

/* ---- virtio operation sequences (fuzz_virtio.h) ---- */
static void v_write(struct buf *b, unsigned int off, uint32_t v)
{
    b8(b, op(10, 1, 0x30, 0x20)), b16(b, off), b32(b, v);
}
static void v_read(struct buf *b, unsigned int off)
{
    b8(b, op(10, 0, 0x30, 0x20)), b16(b, off);
}
static void v_desc(struct buf *b, unsigned int q, unsigned int i, unsigned int ram_off,
                   uint32_t len, unsigned int flags, unsigned int next)
{
    b8(b, op(10, 3, 0xc0, q ? 0x40 : 0));
    b8(b, i), b16(b, ram_off), b32(b, len), b16(b, flags), b16(b, next);
}
static void v_avail(struct buf *b, unsigned int q, unsigned int head)
{
    b8(b, op(10, 4, 0x80, q ? 0x80 : 0)), b16(b, head);
}
static void v_notify(struct buf *b, unsigned int q)
{
    b8(b, 5), b8(b, q);
}

#define DATA_OFF (FV_DATA - FV_RAM_BASE)

static void blk_request(struct buf *b, unsigned int type_index, unsigned int sector,
                        unsigned int head, uint32_t len, unsigned int data_flags)
{
    b8(b, op(10, 9, 0xf0, type_index << 4)), b16(b, DATA_OFF), b8(b, sector);
    v_desc(b, 0, head, DATA_OFF, 16, VIRTQ_DESC_F_NEXT, head + 1);
    v_desc(b, 0, head + 1, DATA_OFF + 0x1000, len, data_flags | VIRTQ_DESC_F_NEXT, head + 2);
    v_desc(b, 0, head + 2, DATA_OFF + 0x3000, 1, VIRTQ_DESC_F_WRITE, 0);
    v_avail(b, 0, head);
    v_notify(b, 0);
}

static void gen_virtio(void)
{
    struct buf b = {.n = 0};
    b8(&b, 1); /* bring up */
    v_read(&b, VIRTIO_MMIO_CONFIG);           /* capacity */
    blk_request(&b, 0, 1, 0, 1024, VIRTQ_DESC_F_WRITE); /* IN */
    blk_request(&b, 1, 3, 3, 512, 0);                   /* OUT */
    blk_request(&b, 3, 0, 6, 20, VIRTQ_DESC_F_WRITE);   /* GET_ID */
    blk_request(&b, 2, 0, 9, 0, 0);                     /* FLUSH */
    v_write(&b, VIRTIO_MMIO_INTERRUPT_ACK, 1);
    b8(&b, 7);                                          /* snapshot */
    v_write(&b, VIRTIO_MMIO_STATUS, 0);                 /* driver reset */
    seed("virtio_blk", "requests", b.d, b.n);

    b.n = 0;
    b8(&b, 0); /* the driver's own bring-up, by registers */
    v_write(&b, VIRTIO_MMIO_STATUS, 1);
    v_write(&b, VIRTIO_MMIO_STATUS, 3);
    v_write(&b, VIRTIO_MMIO_DEVICE_FEATURES_SEL, 1);
    v_read(&b, VIRTIO_MMIO_DEVICE_FEATURES);
    v_write(&b, VIRTIO_MMIO_DRIVER_FEATURES_SEL, 1);
    v_write(&b, VIRTIO_MMIO_DRIVER_FEATURES, 1);
    v_write(&b, VIRTIO_MMIO_STATUS, 11);
    v_read(&b, VIRTIO_MMIO_STATUS);
    b8(&b, 8);                                          /* queue 0 up */
    v_write(&b, VIRTIO_MMIO_STATUS, 15);
    blk_request(&b, 0, 15, 0, 512, VIRTQ_DESC_F_WRITE);
    blk_request(&b, 0, 16, 0, 512, VIRTQ_DESC_F_WRITE); /* past the end */
    v_desc(&b, 0, 0, DATA_OFF, 16, VIRTQ_DESC_F_NEXT, 0); /* a loop */
    v_avail(&b, 0, 0);
    v_notify(&b, 0);
    v_read(&b, VIRTIO_MMIO_STATUS);
    seed("virtio_blk", "registers-and-broken-chain", b.d, b.n);

    b.n = 0;
    b8(&b, 1);
    v_write(&b, VIRTIO_MMIO_CONFIG, VIRTIO_INPUT_CFG_ID_NAME);
    v_read(&b, VIRTIO_MMIO_CONFIG);
    v_read(&b, VIRTIO_MMIO_CONFIG + 8);
    v_write(&b, VIRTIO_MMIO_CONFIG, VIRTIO_INPUT_CFG_EV_BITS | INPUT_EV_KEY << 8);
    v_read(&b, VIRTIO_MMIO_CONFIG + 8 + 12);
    for (unsigned int i = 0; i < 4; i++) {
        v_desc(&b, 0, i, DATA_OFF + 8 * i, 8, VIRTQ_DESC_F_WRITE, 0);
        v_avail(&b, 0, i);
    }
    v_notify(&b, 0);
    b8(&b, 9);                                          /* KEY_POWER */
    b8(&b, op(10, 9, 0xf0, 0x10));                      /* KEY_SLEEP: no buffers left */
    v_desc(&b, 1, 0, DATA_OFF + 0x100, 8, 0, 0);        /* statusq buffer */
    v_avail(&b, 1, 0);
    v_notify(&b, 1);
    b8(&b, 7);                                          /* snapshot */
    v_desc(&b, 0, 4, DATA_OFF, 4, VIRTQ_DESC_F_WRITE, 0); /* too small: breaks the queue */
    v_avail(&b, 0, 4);
    v_notify(&b, 0);
    seed("virtio_input", "events", b.d, b.n);
}

/* ---- device states: selector byte, then the device's saved state ---- */
static int irq_set(void *opaque, unsigned int spi, bool level)
{
    (void)opaque, (void)spi, (void)level;
    return 0;
}
static uint64_t fixed_clock(void *opaque)
{
    (void)opaque;
    return 1764806400ull * 1000000000ull; /* as fuzz_device_state.c */
}
static void tx_sink(void *opaque, uint8_t byte)
{
    (void)opaque, (void)byte;
}

static void state_seed(const char *name, unsigned int sel, const struct device *dev)
{
    struct blob_writer w;
    char err[256];
    blob_writer_init(&w);
    if (device_save(dev, &w, err, sizeof(err)))
        die(err);
    struct buf b = {.n = 0};
    b8(&b, sel);
    bmem(&b, w.data, w.len);
    seed("device_state", name, b.d, b.n);
    blob_writer_release(&w);
}

static void gen_device_state(void)
{
    struct irq_line line = {.set = irq_set};
    struct uart16550 u;
    if (uart16550_init(&u, &line, tx_sink, NULL))
        die("uart16550_init");
    struct device dev = uart16550_device(&u, 0x09000000);
    state_seed("uart-idle", 0, &dev);
    uart16550_receive(&u, (const uint8_t *)"abc", 3);
    dev.ops->mmio.write(dev.opaque, 1, 1, 0x0f);
    state_seed("uart-busy", 4, &dev);
    uart16550_release(&u);

    struct pl031 rtc;
    if (pl031_init(&rtc, &line, fixed_clock, NULL, NULL))
        die("pl031_init");
    dev = pl031_device(&rtc, 0x09010000);
    dev.ops->mmio.write(dev.opaque, PL031_IMSC, 4, 1);
    uint64_t dr;
    dev.ops->mmio.read(dev.opaque, PL031_DR, 4, &dr);
    dev.ops->mmio.write(dev.opaque, PL031_MR, 4, dr + 100);
    state_seed("pl031-alarm", 1, &dev);
    pl031_release(&rtc);

    char path[] = "/tmp/gen-seeds-disk-XXXXXX";
    int fd = mkstemp(path);
    if (fd < 0 || ftruncate(fd, 16 * VIRTIO_BLK_SECTOR))
        die("disk");
    close(fd);
    uint8_t *ram = calloc(1, FV_RAM_SIZE);
    struct guest_mem mem = {.base = FV_RAM_BASE, .size = FV_RAM_SIZE, .host = ram};
    struct virtio_blk blk;
    char err[256];
    if (virtio_blk_init(&blk, path, false, "fuzz-disk0", &mem, line, err, sizeof(err)))
        die(err);
    dev = virtio_blk_device(&blk, 0x0a000000);
    state_seed("virtio-blk-reset", 2, &dev);
    fv_bring_up(&blk.transport);
    state_seed("virtio-blk-running", 6, &dev);
    virtio_blk_release(&blk);
    unlink(path);

    struct virtio_input vin;
    if (virtio_input_init(&vin, &mem, line, err, sizeof(err)))
        die(err);
    dev = virtio_input_device(&vin, 0x0a000200);
    fv_bring_up(&vin.transport);
    virtio_input_press_key(&vin, INPUT_KEY_POWER, err, sizeof(err));
    state_seed("virtio-input-pending", 7, &dev);
    virtio_input_release(&vin);
    free(ram);
}

/* ---- vm.json and hibernation.json of a --vm DIR: written by the real serializers ---- */
static void gen_vmdef(void)
{
    struct vm_hibernation h;
    vm_hibernation_init(&h);
    struct vmdef *d = &h.machine;
    d->cpus = 2;
    d->max_cpus = d->nr_mpidrs = 3;
    d->mpidrs[1] = 1;
    d->mpidrs[2] = 0x100;
    d->mem_mib = 512;
    d->ram_base = 0x40000000;
    d->psci_version = PSCI_VERSION_1_3;
    d->psci_mode = PSCI_MODE_AUTO;
    d->psci_functions = vmdef_psci_functions(PSCI_VERSION_1_3);
    if (vmdef_file_set(&d->kernel, "/lab/guest/Image-7.2", 40000000, "size=40000000,mtime=1.5,ino=12") ||
        vmdef_file_set(&d->initrd, "/lab/guest/initrd-7.2.img", 9000000, "size=9000000,mtime=2.5,ino=13") ||
        vmdef_file_set(&d->disks[0].file, "/tmp/s.img", 65536, "size=65536,mtime=3.5,ino=14") ||
        vmdef_file_set(&d->disks[1].file, "/tmp/swap.img", 1 << 28, "size=268435456,mtime=4.5,ino=15"))
        die("vmdef seed: out of memory");
    d->disks[0].read_only = true;
    d->nr_disks = 2;
    d->cmdline = strdup("console=ttyS0 quiet");
    static const char *const names[] = {"uart", "rtc", "disk0", "disk1", "input"};
    static const char *const types[] = {"uart16550", "pl031", "virtio-blk", "virtio-blk", "virtio-input"};
    for (unsigned int i = 0; i < 5; i++) {
        snprintf(d->devices[i].name, VMDEF_NAME_LEN, "%s", names[i]);
        snprintf(d->devices[i].type, VMDEF_NAME_LEN, "%s", types[i]);
        d->devices[i].base = 0x9000000 + 0x10000 * i;
        d->devices[i].size = 0x1000;
        d->devices[i].spi = 1 + i;
    }
    d->nr_devices = 5;
    char *text;
    if (vmdef_to_json(d, "pscivm seeds", &text))
        die("vmdef seed: serialize");
    seed("vmdef", "kernel-2-disks", text, strlen(text));
    free(text);
    h.time = 1764878400;
    h.type_read = true;
    h.type = 1;
    h.mode = PSCI_MODE_USER;
    snprintf(h.host_kernel, sizeof(h.host_kernel), "7.2.0-1-arm64");
    if (vm_hibernation_to_json(&h, "pscivm seeds", &text))
        die("vmdef seed: record");
    seed("vmdef", "hibernation-user", text, strlen(text));
    free(text);
    vmdef_release(d);
    d->cpus = d->max_cpus = d->nr_mpidrs = 1;
    d->mem_mib = 16;
    d->psci_version = PSCI_VERSION_0_2;
    d->psci_functions = 0;
    d->ram_base = 0x40000000;
    if (vmdef_file_set(&d->payload, "/p.bin", 4096, ""))
        die("vmdef seed: out of memory");
    h.type_read = false;
    h.mode = PSCI_MODE_KERNEL;
    if (vm_hibernation_to_json(&h, NULL, &text))
        die("vmdef seed: record");
    seed("vmdef", "hibernation-kernel-payload", text, strlen(text));
    free(text);
    vm_hibernation_release(&h);
}

/* Two small complete snapshots (every section kind, 64 KiB of RAM raw and zstd). */
static void gen_snapshot(void)
{
    size_t n;
    uint8_t *b = sf_build(SNAPSHOT_RAM_RAW, &n);
    seed("snapshot", "every-section-raw", b, n);
    free(b);
    b = sf_build(SNAPSHOT_RAM_ZSTD, &n);
    seed("snapshot", "every-section-zstd", b, n);
    free(b);
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: gen_seeds CORPUS_DIR\n");
        return 2;
    }
    root = argv[1];
    if (mkdir(root, 0755) && errno != EEXIST)
        die(root);
    gen_psci();
    gen_kernel();
    gen_qmp();
    gen_run_options();
    gen_uart();
    gen_pl031();
    gen_virtio();
    gen_device_state();
    gen_snapshot();
    gen_vmdef();
    return 0;
}
