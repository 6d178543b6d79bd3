# Makefile — builds pscivm (static, arm64), the guest payloads, and runs the tests.
#
#   make              host-independent code natively + bin/pscivm for arm64 + guest payloads
#   make check-unit   unit tests natively and under ASan+UBSan (fast, no lab)
#   make check-fuzz   libFuzzer targets: a short bounded run each + corpus/regression replay
#   make fuzz         libFuzzer targets, FUZZ_SECONDS (default 60) each, with figures
#   make check        check-unit + check-fuzz + the lab stage (emulated arm64 KVM hosts)
#   make check-long   the lab stage with its long tier too (LAB_TIER=long: stress cycles, the
#                     Debian system guest, longer scenario versions); not part of make check
#   make asan-arm64   pscivm for arm64 with ASan+UBSan, dynamic, and the shared objects it needs
#                     (build/arm64-asan/bin/pscivm, build/arm64-asan/sysroot/), for the lab
#   make check-asan   only the lab's sanitizer boot (lab/check --asan: the scenarios headed
#                     "# asan: HOST" under that build; make check runs it too)
#   make deps         install the Debian packages (scripts/setup)
#   make psci-fuzz    guest-driven PSCI fuzzing, the full million calls, in the lab (one host)
#   make demo-debian  a Debian trixie (systemd) guest: boot, suspend + RTC wake, power key
#   make lab-rootfs   build (once) and cache that Debian arm64 rootfs (lab/build-rootfs)
#
# Layout of outputs: build/host (native objects/tests), build/asan (sanitised), build/arm64
# (cross or native arm64 objects), build/guest (payloads), build/fuzz (clang + libFuzzer
# objects, targets, working corpora and crash artifacts), build/arm64-asan (the arm64 sanitizer
# build and its sysroot), bin/pscivm.

# Build with every CPU unless the caller chose a -j (sub-makes inherit the jobserver).
NPROC := $(shell nproc 2>/dev/null || echo 1)
ifeq ($(filter -j%,$(MAKEFLAGS)),)
MAKEFLAGS += -j$(NPROC)
endif

HOST_ARCH := $(shell uname -m)
ifeq ($(HOST_ARCH),aarch64)
CROSS ?=
else
CROSS ?= aarch64-linux-gnu-
endif

CC        ?= gcc
ARM_CC    := $(CROSS)gcc
CSTD      := -std=gnu11
WARN      := -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wmissing-prototypes -Wformat=2
CPPFLAGS  := -Isrc -D_GNU_SOURCE
CFLAGS    := $(CSTD) $(WARN) -O2 -g
VERSION   := $(shell git describe --always --dirty 2>/dev/null || echo unknown)

# Libraries pscivm links (libseccomp: the --seccomp allow-list). On x86 hosts the arm64 ones come
# from multiarch -dev packages; the
# host unit tests link the native shared libfdt by soname (libfdt-dev is not multiarch).
HOST_LIBS := -l:libfdt.so.1 -ljson-c -lz -lzstd -lseccomp -lcmocka -lpthread
ARM_LIBS  := -lfdt -ljson-c -lzstd -lz -lseccomp -lpthread

# Portable sources: everything but the KVM backend and main(). Built and tested on any host.
PORTABLE_SRCS := $(sort $(wildcard src/util/*.c src/psci/*.c src/devices/*.c src/machine/*.c src/qmp/*.c src/vmm/*.c src/snapshot/*.c))
# Files that drive KVM (src/kvm/*, main.c and the src/vmm/cmd_*.c subcommands) build for arm64 only.
ARM_ONLY_SRCS := src/vmm/main.c $(wildcard src/vmm/cmd_*.c) $(wildcard src/kvm/*.c) src/machine/host.c
PORTABLE_SRCS := $(filter-out $(ARM_ONLY_SRCS),$(PORTABLE_SRCS))
TEST_SRCS     := $(sort $(wildcard tests/unit/test_*.c))
TEST_HELPERS  := $(filter-out $(TEST_SRCS),$(sort $(wildcard tests/unit/*.c)))
TESTS         := $(patsubst tests/unit/%.c,%,$(TEST_SRCS))

HOST_OBJS := $(patsubst %.c,build/host/%.o,$(PORTABLE_SRCS))
ASAN_OBJS := $(patsubst %.c,build/asan/%.o,$(PORTABLE_SRCS))
ARM_OBJS  := $(patsubst %.c,build/arm64/%.o,$(PORTABLE_SRCS) $(sort $(ARM_ONLY_SRCS)))
HOST_TEST_HELPER_OBJS := $(patsubst %.c,build/host/%.o,$(TEST_HELPERS))
ASAN_TEST_HELPER_OBJS := $(patsubst %.c,build/asan/%.o,$(TEST_HELPERS))

SAN_FLAGS := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all

.SECONDARY:
.PHONY: all host arm64 guest check check-unit check-fuzz check-lab check-long deps clean demo bench fuzz \
        fuzz-build fuzz-seeds psci-fuzz demo-debian lab-rootfs asan-arm64 check-asan
all: host bin/pscivm guest

host: build/host/libpscivm.a

deps:
	sh scripts/setup

# ---- native (host) build -------------------------------------------------------------------
build/host/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) -MMD -MP -c $< -o $@

build/asan/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) -O1 $(SAN_FLAGS) -MMD -MP -c $< -o $@

build/host/libpscivm.a: $(HOST_OBJS)
	@mkdir -p $(dir $@)
	rm -f $@ && ar rcs $@ $^

build/asan/libpscivm.a: $(ASAN_OBJS)
	@mkdir -p $(dir $@)
	rm -f $@ && ar rcs $@ $^

build/host/bin/%: build/host/tests/unit/%.o $(HOST_TEST_HELPER_OBJS) build/host/libpscivm.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -o $@ $^ $(HOST_LIBS)

build/asan/bin/%: build/asan/tests/unit/%.o $(ASAN_TEST_HELPER_OBJS) build/asan/libpscivm.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(SAN_FLAGS) -o $@ $^ $(HOST_LIBS)

# Native benchmark programs (bench/*.c, run by their bench/ scripts).
build/host/bench/%: bench/%.c build/host/libpscivm.a
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) -o $@ $^ $(HOST_LIBS)

# ---- fuzz build (clang, libFuzzer + ASan + UBSan) ----------------------------------------------
# The portable sources again, built by clang with coverage instrumentation (fuzzer-no-link: the
# library has no main); each tests/fuzz/fuzz_<target>.c links with libFuzzer's main. UBSan
# aborts (no recovery) so that libFuzzer records every report as a crash. docs/fuzzing.md.
FUZZ_CC      ?= clang
FUZZ_SAN     := -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
FUZZ_CFLAGS  := $(CSTD) $(WARN) -g -O1 $(FUZZ_SAN)
FUZZ_SRCS    := $(sort $(wildcard tests/fuzz/fuzz_*.c))
FUZZ_TARGETS := $(patsubst tests/fuzz/fuzz_%.c,%,$(FUZZ_SRCS))
FUZZ_BINS    := $(addprefix build/fuzz/bin/fuzz_,$(FUZZ_TARGETS))
FUZZ_OBJS    := $(patsubst %.c,build/fuzz/%.o,$(PORTABLE_SRCS))
FUZZ_LIBS    := -l:libfdt.so.1 -ljson-c -lz -lzstd -lseccomp -lpthread
FUZZ_SECONDS ?= 60

build/fuzz/%.o: %.c
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(CPPFLAGS) -Itests/unit $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link -MMD -MP -c $< -o $@

build/fuzz/libpscivm.a: $(FUZZ_OBJS)
	@mkdir -p $(dir $@)
	rm -f $@ && ar rcs $@ $^

# The QMP target runs the server on the unit tests' fake machine (no cmocka in it).
build/fuzz/bin/fuzz_qmp: build/fuzz/tests/unit/qmp_harness.o
build/fuzz/bin/fuzz_%: build/fuzz/tests/fuzz/fuzz_%.o build/fuzz/libpscivm.a
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer -o $@ $^ $(FUZZ_LIBS)

fuzz-build: $(FUZZ_BINS)

# ---- arm64 build (static pscivm) ------------------------------------------------------------
build/arm64/%.o: %.c
	@mkdir -p $(dir $@)
	$(ARM_CC) $(CPPFLAGS) -DPSCIVM_VERSION='"$(VERSION)"' $(CFLAGS) -MMD -MP -c $< -o $@

bin/pscivm: $(ARM_OBJS)
	@mkdir -p $(dir $@)
	$(ARM_CC) -static -o $@ $^ $(ARM_LIBS)

# ---- arm64 sanitizer build (ASan + UBSan, dynamic; runs in the lab) ------------------------
# The same sources as bin/pscivm with ASan+UBSan (-O1, no recovery), linked dynamically: the
# sanitizer runtimes only come as shared objects for the cross compiler. The lab host has no
# C library, so lab/run --asan carries the program to $(ASAN_LAB_DIR)/pscivm and the shared
# objects it needs (build/arm64-asan/sysroot, collected by scripts/arm64-sysroot from the cross
# readelf's DT_NEEDED closure) to $(ASAN_LAB_DIR)/sysroot; the program names that loader as
# its interpreter and that directory as its DT_RPATH (an RPATH, not a RUNPATH: it also applies
# to the libraries' own dependencies), so it runs as itself (its process name is "pscivm")
# without an explicit loader command. docs/lab.md, "Sanitizers in the lab".
ASAN_LAB_DIR  := /lab/asan
ARM_ASAN_OBJS := $(patsubst %.c,build/arm64-asan/%.o,$(PORTABLE_SRCS) $(sort $(ARM_ONLY_SRCS)))

build/arm64-asan/%.o: %.c
	@mkdir -p $(dir $@)
	$(ARM_CC) $(CPPFLAGS) -DPSCIVM_VERSION='"$(VERSION)"' $(CFLAGS) -O1 $(SAN_FLAGS) -MMD -MP -c $< -o $@

build/arm64-asan/bin/pscivm: $(ARM_ASAN_OBJS)
	@mkdir -p $(dir $@)
	$(ARM_CC) $(SAN_FLAGS) -Wl,--dynamic-linker=$(ASAN_LAB_DIR)/sysroot/ld-linux-aarch64.so.1 \
	    -Wl,--disable-new-dtags,-rpath,$(ASAN_LAB_DIR)/sysroot -o $@ $^ $(ARM_LIBS)

build/arm64-asan/sysroot.stamp: build/arm64-asan/bin/pscivm scripts/arm64-sysroot
	CC=$(ARM_CC) READELF=$(CROSS)readelf scripts/arm64-sysroot $< build/arm64-asan/sysroot
	@touch $@

asan-arm64: build/arm64-asan/sysroot.stamp

# ---- guest payloads (freestanding AArch64) ---------------------------------------------------
-include guest/guest.mk

# ---- tests ------------------------------------------------------------------------------------
UNIT_BINS := $(addprefix build/host/bin/,$(TESTS)) $(addprefix build/asan/bin/,$(TESTS))

check-unit: $(UNIT_BINS)
	@scripts/run-unit-tests $(UNIT_BINS)

# Bounded (<= 150 s of fuzzing in total) plus a replay of tests/fuzz/corpus and
# tests/fuzz/regressions; fails on any crash, leak, sanitizer report or timeout.
check-fuzz: $(FUZZ_BINS)
	@scripts/run-fuzz check $(FUZZ_TARGETS)

fuzz: $(FUZZ_BINS)
	@FUZZ_SECONDS=$(FUZZ_SECONDS) scripts/run-fuzz run $(FUZZ_TARGETS)

# Regenerate the committed seed corpora (tests/fuzz/corpus/*) from the native build.
fuzz-seeds: build/host/bin/gen_fuzz_seeds
	build/host/bin/gen_fuzz_seeds tests/fuzz/corpus

build/host/bin/gen_fuzz_seeds: build/host/tests/fuzz/gen_seeds.o build/host/libpscivm.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -o $@ $^ $(HOST_LIBS)

# Guest-driven PSCI fuzzing (guest/psci_fuzz.c) with PSCI_FUZZ_CALLS calls (default: a million;
# `make check` runs 100 000 in lab/scenarios/25-psci-fuzz.sh) on one lab host. Fails on any
# "not ok". Times: guest/README.md ("PSCI fuzzing").
PSCI_FUZZ_CALLS ?= 1000000
PSCI_FUZZ_HOST ?= 7.2
psci-fuzz: all
	@mkdir -p build/results
	lab/run --no-build --host $(PSCI_FUZZ_HOST) --timeout 7200 \
	    --add lab/scenarios:/lab/scenarios -- sh -c 'cd /tmp && FUZZ_CALLS=$(PSCI_FUZZ_CALLS) \
	    FUZZ_TIMEOUT=6000 sh /lab/scenarios/25-psci-fuzz.sh' | tee build/results/psci-fuzz.txt
	@! grep -q '^not ok' build/results/psci-fuzz.txt && grep -q '^ok' build/results/psci-fuzz.txt

check-lab: all
	@lab/check

check-long: all
	@LAB_TIER=long lab/check

check-asan: all asan-arm64
	@lab/check --asan

check: all
	@scripts/run-checks

demo: all
	@lab/demo

demo-debian: all
	@lab/demo-debian

lab-rootfs: all
	@lab/build-rootfs

bench: all
	@echo "benchmarks: bench/psci-roundtrip, bench/boot (kvmtool: bench/fetch-kvmtool), bench/suspend-wake, bench/snapshot-ram, bench/snapshot-vm (commands and results: docs/perf.md, docs/snapshot.md)"

clean:
	rm -rf build bin

-include $(shell find build -name '*.d' 2>/dev/null)
