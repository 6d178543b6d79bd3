#!/usr/bin/env bash
# lab/tests/lib-test.sh — host-side tests of lab/lib.sh (no QEMU, no network): kernel image
# conversion (raw, gzip, EFI zboot gzip/zstd, garbage), --host resolution, the module
# dependency closure, the Debian rootfs cache key, lab/run-scenarios' sanitizer-report check
# (on fake scenarios), and which QEMU lab/run picks. Prints TAP lines; run by lab/check before
# it boots anything.
set -u
. "$(dirname "$0")/../lib.sh"
t=$(mktemp -d)
trap 'rm -rf "$t"' EXIT
LAB_CACHE=$t/cache
lab_err() { :; }   # expected failures below would print
ok() { echo "ok - $*"; }
nok() { echo "not ok - $*"; }
expect() { # expect DESC COMMAND... : COMMAND must succeed
    local d=$1; shift
    if "$@" > /dev/null 2>&1; then ok "$d"; else nok "$d"; fi
}
refuse() { # refuse DESC COMMAND... : COMMAND must fail
    local d=$1; shift
    if "$@" > /dev/null 2>&1; then nok "$d (accepted)"; else ok "$d"; fi
}

# A fake 4 KiB arm64 Image: "ARM\x64" at offset 56.
head -c 4096 /dev/urandom > "$t/Image"
printf 'ARM\x64' | dd of="$t/Image" bs=1 seek=56 conv=notrunc 2> /dev/null
same() { cmp -s "$1" "$2"; }
expect "raw Image is copied" lab_to_image "$t/Image" "$t/out1"
expect "raw Image copy is identical" same "$t/Image" "$t/out1"
gzip -c "$t/Image" > "$t/Image.gz"
expect "gzip vmlinuz is decompressed" lab_to_image "$t/Image.gz" "$t/out2"
expect "gzip result is the Image" same "$t/Image" "$t/out2"
# EFI zboot: "MZ", "zimg" at 4, payload offset at 8, size at 12 (LE u32), compression at 24.
zboot() { # zboot COMP CMD OUT
    local payload=$t/payload.$1
    $2 < "$t/Image" > "$payload"
    local size off=128
    size=$(stat -c %s "$payload")
    head -c $off /dev/zero > "$3"
    printf 'MZ' | dd of="$3" conv=notrunc 2> /dev/null
    printf 'zimg' | dd of="$3" bs=1 seek=4 conv=notrunc 2> /dev/null
    le32() { printf "$(printf '\\x%02x\\x%02x\\x%02x\\x%02x' $(($1 & 255)) $(($1 >> 8 & 255)) $(($1 >> 16 & 255)) $(($1 >> 24 & 255)))"; }
    le32 $off | dd of="$3" bs=1 seek=8 conv=notrunc 2> /dev/null
    le32 "$size" | dd of="$3" bs=1 seek=12 conv=notrunc 2> /dev/null
    printf '%s' "$1" | dd of="$3" bs=1 seek=24 conv=notrunc 2> /dev/null
    cat "$payload" >> "$3"
    head -c 100 /dev/urandom >> "$3"   # trailing data after the payload must be ignored
}
zboot gzip "gzip -c" "$t/zb-gzip"
expect "EFI zboot (gzip) is decompressed" lab_to_image "$t/zb-gzip" "$t/out3"
expect "EFI zboot (gzip) result is the Image" same "$t/Image" "$t/out3"
zboot zstd "zstd -qc" "$t/zb-zstd"
expect "EFI zboot (zstd) is decompressed" lab_to_image "$t/zb-zstd" "$t/out4"
expect "EFI zboot (zstd) result is the Image" same "$t/Image" "$t/out4"
zboot lz4 "cat" "$t/zb-lz4"
refuse "EFI zboot with unknown compression is refused" lab_to_image "$t/zb-lz4" "$t/out5"
head -c 4096 /dev/zero > "$t/garbage"
refuse "a file that is no kernel is refused" lab_to_image "$t/garbage" "$t/out6"
head -c 4096 /dev/zero | gzip -c > "$t/garbage.gz"
refuse "gzip of something that is no Image is refused" lab_to_image "$t/garbage.gz" "$t/out7"

# --host resolution: suites, fixed labels, sid's cached label, unknown names.
res() { [ "$(lab_resolve_host "$1")" = "$2" ]; }
expect "--host 6.1 is bookworm" res 6.1 bookworm
expect "--host 6.12 is trixie" res 6.12 trixie
expect "--host sid is sid" res sid sid
expect "--host trixie is trixie" res trixie trixie
mkdir -p "$LAB_CACHE/kernels/sid" && echo 7.2 > "$LAB_CACHE/kernels/sid/label"
expect "--host 7.2 is sid when sid resolved to 7.2" res 7.2 sid
expect "--host 9.9 is looked for in sid (lab/run then checks the label)" res 9.9 sid
refuse "--host foo is refused" lab_resolve_host foo
refuse "--host 6 is refused" lab_resolve_host 6

# Module closure: dependencies first, built-in (absent) modules skipped, .ko.xz read.
m=$LAB_CACHE/kernels/fake/modules/kernel/drivers
mkdir -p "$m/virtio" "$m/block"
mod() { printf 'junk\0name=%s\0depends=%s\0vermagic=x\0' "$2" "$3" > "$1"; }
mod "$m/virtio/virtio_ring.ko" virtio_ring ""
mod "$m/virtio/virtio.ko" virtio "virtio_ring"
mod "$m/block/virtio_blk.ko" virtio_blk "virtio,virtio_ring"
xz "$m/block/virtio_blk.ko"
# virtio_mmio is built in here (absent)
closure=$(lab_module_closure fake | tr '\n' ' ')
want="kernel/drivers/virtio/virtio_ring.ko kernel/drivers/virtio/virtio.ko kernel/drivers/block/virtio_blk.ko.xz "
if [ "$closure" = "$want" ]; then ok "module closure is dependency-ordered"; else nok "module closure: got '$closure', want '$want'"; fi
echo fake-rel > "$LAB_CACHE/kernels/fake/release"
mkdir -p "$t/stage/etc"
lab_stage_modules fake "$t/stage"
if [ "$(head -c 4 "$t/stage/lib/modules/fake-rel/kernel/drivers/block/virtio_blk.ko")" = junk ] \
    && [ "$(tail -n1 "$t/stage/etc/lab-modules")" = /lib/modules/fake-rel/kernel/drivers/block/virtio_blk.ko ]; then
    ok "staged modules are decompressed and listed in load order"
else
    nok "staged modules are decompressed and listed in load order"
fi

# Debian rootfs cache key: 12 hex digits, stable, and it changes with what the image is made of.
for s in $LAB_ROOTFS_KERNELS; do
    mkdir -p "$LAB_CACHE/kernels/$s" && echo "linux-image-$s-fake" > "$LAB_CACHE/kernels/$s/package"
done
k1=$(lab_rootfs_key) k2=$(lab_rootfs_key)
if echo "$k1" | grep -qx '[0-9a-f]\{12\}' && [ "$k1" = "$k2" ]; then ok "rootfs key is 12 hex digits and stable"; else nok "rootfs key '$k1' / '$k2'"; fi
k3=$(LAB_ROOTFS_PACKAGES="$LAB_ROOTFS_PACKAGES less" lab_rootfs_key)
echo linux-image-sid-other > "$LAB_CACHE/kernels/sid/package"
k4=$(lab_rootfs_key)
if [ "$k3" != "$k1" ] && [ "$k4" != "$k1" ] && [ "$k4" != "$k3" ]; then ok "rootfs key changes with the package list and the kernels"; else nok "rootfs key did not change: $k1 $k3 $k4"; fi
case $(lab_rootfs_image) in
"$LAB_CACHE/rootfs/debian-$LAB_ROOTFS_SUITE-$k4.img") ok "rootfs image is cached under rootfs/debian-<suite>-<key>.img" ;;
*) nok "rootfs image path '$(lab_rootfs_image)'" ;;
esac

# lab/run-scenarios in a sanitizer boot (LAB_ASAN=1), run here on fake scenarios: a report a
# scenario's pscivm left in $LAB_SAN_LOGS is a "not ok" with its first lines (and the run
# fails), the log is then removed; "# needs: asan" scenarios run only in such a boot.
sd=$t/scenarios
mkdir -p "$sd" "$t/san"
cat > "$sd/10-clean.sh" <<'SCEN'
# needs: asan
echo "ok - clean"
SCEN
cat > "$sd/20-report.sh" <<SCEN
printf '==42==ERROR: AddressSanitizer: heap-buffer-overflow on address 0x1\nSUMMARY: AddressSanitizer: heap-buffer-overflow x.c:1 in f\n' > "$t/san/pscivm.42"
echo "ok - the scenario itself passed"
SCEN
out=$(LAB_HOST=9.9 LAB_SUITE=none LAB_ASAN=1 LAB_SAN_LOGS=$t/san sh "$LAB_ROOT/lab/run-scenarios" -d "$sd" 2>&1)
rc=$?
if [ "$rc" -ne 0 ] && echo "$out" | grep -qx '\[9.9+asan 20-report\] not ok - sanitizer report (pscivm.42): ==42==ERROR: AddressSanitizer: heap-buffer-overflow on address 0x1 | SUMMARY: AddressSanitizer: heap-buffer-overflow x.c:1 in f'; then
    ok "run-scenarios (sanitizer boot): a report is a failure with its first lines"
else
    nok "run-scenarios (sanitizer boot): a report is a failure with its first lines (exit $rc): $(echo "$out" | tr '\n' '|')"
fi
if echo "$out" | grep -qx '\[9.9+asan 10-clean\] ok - clean' && ! echo "$out" | grep -q '10-clean\] not ok' \
    && [ ! -e "$t/san/pscivm.42" ]; then
    ok "run-scenarios (sanitizer boot): a clean scenario passes, the report was consumed"
else
    nok "run-scenarios (sanitizer boot): a clean scenario passes, the report was consumed: $(echo "$out" | tr '\n' '|')"
fi
out=$(LAB_HOST=9.9 LAB_SUITE=none sh "$LAB_ROOT/lab/run-scenarios" -d "$sd" 10-clean 2>&1)
rc=$?
if [ "$rc" -eq 0 ] && echo "$out" | grep -q '\[9.9 10-clean\] # not run: needs the sanitizer build'; then
    ok "run-scenarios: a '# needs: asan' scenario is left out without the sanitizer build"
else
    nok "run-scenarios: a '# needs: asan' scenario is left out without the sanitizer build (exit $rc): $(echo "$out" | tr '\n' '|')"
fi
# "# hosts-check:" narrows make check's ordinary boots, not the sanitizer boot (lab/check picks
# its scenarios by "# asan:"); LAB_SKIP leaves a scenario out of a boot.
cat > "$sd/30-narrow.sh" <<'SCEN'
# hosts: 1.1 9.9
# hosts-check: 1.1
echo "ok - narrow"
SCEN
out=$(LAB_HOST=9.9 LAB_SUITE=none LAB_ASAN=1 LAB_SAN_LOGS=$t/san sh "$LAB_ROOT/lab/run-scenarios" -d "$sd" 30-narrow 2>&1)
if echo "$out" | grep -qx '\[9.9+asan 30-narrow\] ok - narrow'; then
    ok "run-scenarios (sanitizer boot): '# hosts-check:' does not leave the scenario out"
else
    nok "run-scenarios (sanitizer boot): '# hosts-check:' does not leave the scenario out: $(echo "$out" | tr '\n' '|')"
fi
out=$(LAB_HOST=9.9 LAB_SUITE=none sh "$LAB_ROOT/lab/run-scenarios" -d "$sd" 30-narrow 2>&1)
if echo "$out" | grep -q '\[9.9 30-narrow\] # not run here: make check runs it on 1.1' && ! echo "$out" | grep -q 'ok - narrow'; then
    ok "run-scenarios: '# hosts-check:' leaves the scenario out of make check's other hosts"
else
    nok "run-scenarios: '# hosts-check:' leaves the scenario out of make check's other hosts: $(echo "$out" | tr '\n' '|')"
fi
out=$(LAB_HOST=9.9 LAB_SUITE=none LAB_TIER=long LAB_SKIP="30-narrow" sh "$LAB_ROOT/lab/run-scenarios" -d "$sd" 30-narrow 2>&1)
if echo "$out" | grep -q '\[9.9 30-narrow\] # not run in this boot' && ! echo "$out" | grep -q 'ok - narrow'; then
    ok "run-scenarios: LAB_SKIP leaves the scenario out of the boot"
else
    nok "run-scenarios: LAB_SKIP leaves the scenario out of the boot: $(echo "$out" | tr '\n' '|')"
fi

# Which QEMU lab/run uses (lab/qemu.sh): PSCIVM_LAB_QEMU first, then a cached backport marked
# ready, else (it cannot be fetched: apt-get fails here) the machine's, with a message.
. "$LAB_ROOT/lab/qemu.sh"
qc=$t/qcache
mkdir -p "$qc/qemu-host/root/usr/bin"
got=$(LAB_CACHE=$qc PSCIVM_LAB_QEMU=/x/qemu lab_qemu 2> /dev/null)
[ "$got" = /x/qemu ] && ok "lab_qemu: PSCIVM_LAB_QEMU wins" || nok "lab_qemu: PSCIVM_LAB_QEMU wins (got '$got')"
touch "$qc/qemu-host/ready"
got=$(LAB_CACHE=$qc lab_qemu 2> /dev/null)
[ "$got" = "$qc/qemu-host/root/usr/bin/qemu-system-aarch64" ] && ok "lab_qemu: the cached backport" \
    || nok "lab_qemu: the cached backport (got '$got')"
rm -f "$qc/qemu-host/ready"
msg=$(LAB_CACHE=$qc; lab_err() { echo "lab: $*" >&2; }; apt-get() { echo "E: Failed (test)"; return 100; }
      lab_qemu 2>&1 > "$t/qemu.out")
got=$(cat "$t/qemu.out")
if [ "$got" = qemu-system-aarch64 ] && echo "$msg" | grep -q "using the machine's" \
    && [ ! -f "$qc/qemu-host/ready" ]; then
    ok "lab_qemu: falls back to the machine's QEMU, saying so, when the backport cannot be fetched"
else
    nok "lab_qemu: fallback (got '$got', said '$(echo "$msg" | tr '\n' '|')')"
fi
