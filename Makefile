# Makefile — builds pscivm (static, arm64), the guest payloads, and runs the tests.
#
#   make              host-independent code natively + bin/pscivm for arm64 + guest payloads
#   make check-unit   unit tests natively and under ASan+UBSan (fast, no lab)
#   make check        check-unit + the lab stage (emulated arm64 KVM hosts)
#   make deps         install the Debian packages (scripts/setup)
#
# Layout of outputs: build/host (native objects/tests), build/asan (sanitised), build/arm64
# (cross or native arm64 objects), build/guest (payloads), bin/pscivm.

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

# Libraries pscivm links. On x86 hosts the arm64 ones come from multiarch -dev packages; the
# host unit tests link the native shared libfdt by soname (libfdt-dev is not multiarch).
HOST_LIBS := -l:libfdt.so.1 -ljson-c -lz -lzstd -lcmocka -lpthread
ARM_LIBS  := -lfdt -ljson-c -lzstd -lz -lpthread

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
.PHONY: all host arm64 guest check check-unit check-lab deps clean demo bench
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

# ---- arm64 build (static pscivm) ------------------------------------------------------------
build/arm64/%.o: %.c
	@mkdir -p $(dir $@)
	$(ARM_CC) $(CPPFLAGS) -DPSCIVM_VERSION='"$(VERSION)"' $(CFLAGS) -MMD -MP -c $< -o $@

bin/pscivm: $(ARM_OBJS)
	@mkdir -p $(dir $@)
	$(ARM_CC) -static -o $@ $^ $(ARM_LIBS)

# ---- guest payloads (freestanding AArch64) ---------------------------------------------------
-include guest/guest.mk

# ---- tests ------------------------------------------------------------------------------------
UNIT_BINS := $(addprefix build/host/bin/,$(TESTS)) $(addprefix build/asan/bin/,$(TESTS))

check-unit: $(UNIT_BINS)
	@scripts/run-unit-tests $(UNIT_BINS)

check-lab: all
	@lab/check

check: all
	@scripts/run-checks

demo: all
	@lab/demo

bench: all
	@echo "see bench/README.md"

clean:
	rm -rf build bin

-include $(shell find build -name '*.d' 2>/dev/null)
