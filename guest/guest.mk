# guest/guest.mk — freestanding AArch64 payloads, built with the arm64 (cross) compiler.
# Included by the top-level Makefile. Every guest/*.c defines one payload (a payload_main())
# and becomes build/guest/NAME.elf and build/guest/NAME.bin (raw image, loaded at 0x40000000);
# the runtime in guest/lib/ and guest/start.S is linked into each. See guest/README.md.

GUEST_CFLAGS := -std=gnu11 -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes \
                -Wmissing-prototypes -ffreestanding -nostdlib -mgeneral-regs-only \
                -mstrict-align -fno-stack-protector -fno-pic -fno-pie -O2 -g \
                -Iguest/lib -Isrc
GUEST_LDFLAGS := -nostdlib -static -no-pie -Wl,--build-id=none -Wl,--no-warn-rwx-segments -Wl,-T,guest/link.ld
GUEST_PAYLOADS := $(patsubst guest/%.c,%,$(sort $(wildcard guest/*.c)))
GUEST_LIB_SRCS := $(sort $(wildcard guest/lib/*.c))
GUEST_LIB_OBJS := build/guest/obj/start.o $(patsubst guest/lib/%.c,build/guest/obj/lib/%.o,$(GUEST_LIB_SRCS))
GUEST_BINS := $(addprefix build/guest/,$(addsuffix .bin,$(GUEST_PAYLOADS)))

guest: $(GUEST_BINS)

build/guest/obj/%.o: guest/%.c
	@mkdir -p $(dir $@)
	$(ARM_CC) $(GUEST_CFLAGS) -MMD -MP -c $< -o $@

build/guest/obj/start.o: guest/start.S
	@mkdir -p $(dir $@)
	$(ARM_CC) $(GUEST_CFLAGS) -MMD -MP -c $< -o $@

build/guest/%.elf: build/guest/obj/%.o $(GUEST_LIB_OBJS) guest/link.ld
	$(ARM_CC) $(GUEST_CFLAGS) $(GUEST_LDFLAGS) -o $@ $(GUEST_LIB_OBJS) $< -lgcc

build/guest/%.bin: build/guest/%.elf
	$(CROSS)objcopy -O binary $< $@

.PRECIOUS: build/guest/%.elf build/guest/obj/%.o
