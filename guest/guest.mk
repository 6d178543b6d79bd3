# guest/guest.mk — freestanding AArch64 payloads, built with the arm64 (cross) compiler.
# Included by the top-level Makefile; every guest/*.c with a main payload becomes build/guest/NAME.bin.
guest:
	@mkdir -p build/guest
