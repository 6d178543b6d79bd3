/* snapshot_ram.c — measures the guest RAM encodings of snapshots (src/snapshot/ram.h): a 256 MiB
 * "guest" with 64 MiB touched (one third random bytes, one third text-like, one third sparse
 * structures: mostly zero with a few words set), saved raw and with zstd at a few levels to a
 * real file with fsync, then restored by fill and (raw) by mmap, with the time to touch every
 * page of the mapping. One line per variant; run through bench/snapshot-ram. */
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "snapshot/format.h"
#include "snapshot/ram.h"
#include "snapshot/sections.h"

#define MIB (1ull << 20)

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static uint64_t rng = 0x9e3779b97f4a7c15ull;
static uint64_t next(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

static const char *words[] = {"the ", "kernel ", "page ", "cache ", "of ", "a ", "guest ",
                              "running ", "systemd ", "journal ", "entry ", "=", "0x", "\n",
                              "usr/lib/", ".so ", "error ", "ok ", "PSCI ", "1.3 "};

static void touch(uint8_t *ram, uint64_t size, uint64_t touched)
{
    uint64_t pages = size / 4096, want = touched / 4096, done = 0;
    while (done < want) {
        uint64_t first = next() % pages, run = 1 + next() % 64;
        for (uint64_t i = first; i < first + run && i < pages && done < want; i++) {
            uint8_t *p = ram + i * 4096;
            if (p[0])
                continue;
            switch (i % 3) {
            case 0: /* random */
                for (size_t k = 0; k < 4096; k += 8) {
                    uint64_t v = next();
                    memcpy(p + k, &v, 8);
                }
                break;
            case 1: /* text */
                for (size_t k = 0; k < 4096;) {
                    const char *w = words[next() % (sizeof(words) / sizeof(words[0]))];
                    size_t n = strlen(w);
                    if (n > 4096 - k)
                        n = 4096 - k;
                    memcpy(p + k, w, n);
                    k += n;
                }
                break;
            default: /* sparse structures: one pointer-like word per 64-byte line */
                for (size_t k = 0; k < 4096; k += 64) {
                    uint64_t v = 0xffff000000000000ull | (next() & 0xffffff8ull);
                    memcpy(p + k, &v, 8);
                }
            }
            p[0] |= 1;
            done++;
        }
    }
}

static int run(const char *dir, const uint8_t *ram, uint64_t size,
               const struct snapshot_ram_options *opt, const char *label)
{
    char path[4096], err[256];
    snprintf(path, sizeof(path), "%s/bench-snapshot-ram.snap", dir);
    int fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0) {
        perror(path);
        return 1;
    }
    struct snapshot_writer w;
    struct snapshot_header h = {.psci_version = 0x10003};
    strcpy(h.host_release, "bench");
    strcpy(h.psci_mode, "user");
    strcpy(h.pscivm_version, "bench");
    struct snapshot_ram_info info;
    double t0 = now();
    snapshot_writer_init(&w, fd, err, sizeof(err));
    snapshot_header_put(&w, &h);
    snapshot_ram_save(&w, ram, size, opt, &info);
    if (snapshot_writer_finish(&w, err, sizeof(err))) {
        fprintf(stderr, "%s: %s\n", label, err);
        return 1;
    }
    fsync(fd);
    double t_save = now() - t0;
    snapshot_writer_release(&w);
    off_t file = lseek(fd, 0, SEEK_END);

    struct snapshot_reader r;
    uint8_t *dest = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    t0 = now();
    if (snapshot_reader_open_fd(&r, fd, NULL, err, sizeof(err)) ||
        snapshot_ram_fill(&r, dest, size, err, sizeof(err))) {
        fprintf(stderr, "%s: %s\n", label, err);
        return 1;
    }
    double t_fill = now() - t0;
    if (memcmp(dest, ram, size) != 0) {
        fprintf(stderr, "%s: fill restored different bytes\n", label);
        return 1;
    }
    munmap(dest, size);
    printf("%-10s file %7.1f MiB  save %6.0f ms (%5.0f MiB/s of touched)  fill %5.0f ms",
           label, (double)file / MIB, t_save * 1e3,
           (double)info.saved_pages * 4096 / MIB / t_save, t_fill * 1e3);
    if (opt->encoding == SNAPSHOT_RAM_RAW) {
        dest = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        t0 = now();
        if (snapshot_ram_map(&r, dest, size, err, sizeof(err))) {
            fprintf(stderr, "%s: %s\n", label, err);
            return 1;
        }
        double t_map = now() - t0;
        t0 = now();
        volatile uint8_t sink = 0;
        for (uint64_t i = 0; i < size; i += 4096)
            sink ^= dest[i];
        double t_touch = now() - t0;
        (void)sink;
        int same = memcmp(dest, ram, size) == 0;
        munmap(dest, size);
        printf("  map %5.2f ms  first touch of all pages %5.0f ms%s", t_map * 1e3,
               t_touch * 1e3, same ? "" : "  MISMATCH");
        t0 = now();
        int rc = snapshot_reader_verify(&r, snapshot_reader_find(&r, "RAMD", 0), err,
                                        sizeof(err));
        printf("  verify RAMD %4.0f ms%s", (now() - t0) * 1e3, rc ? " FAILED" : "");
    }
    printf("\n");
    snapshot_reader_release(&r);
    close(fd);
    unlink(path);
    return 0;
}

int main(int argc, char **argv)
{
    const char *dir = argc > 1 ? argv[1] : "/tmp";
    uint64_t size = 256 * MIB, touched = 64 * MIB;
    uint8_t *ram = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (ram == MAP_FAILED)
        return 1;
    touch(ram, size, touched);
    printf("guest RAM 256 MiB, 64 MiB touched (random / text / sparse structures, in runs of "
           "1-64 pages); files in %s, fsync'd; fill reads from the page cache\n", dir);
    struct snapshot_ram_options raw = {.encoding = SNAPSHOT_RAM_RAW};
    int rc = run(dir, ram, size, &raw, "raw");
    static const int levels[] = {1, 3, 9};
    for (size_t i = 0; i < sizeof(levels) / sizeof(levels[0]) && !rc; i++) {
        char label[32];
        snprintf(label, sizeof(label), "zstd-%d", levels[i]);
        struct snapshot_ram_options z = {.encoding = SNAPSHOT_RAM_ZSTD, .zstd_level = levels[i]};
        rc = run(dir, ram, size, &z, label);
    }
    return rc;
}
