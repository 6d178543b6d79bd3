#!/bin/sh
# 00-lab.sh — the lab host itself is what docs/lab.md promises: LAB_* variables, /dev/kvm,
# pscivm on PATH, and for every kernel a raw arm64 Image ("ARM\x64" at offset 56), a guest
# initramfs (newc cpio with /init and busybox), its module tree, config and release.
# hosts: 6.1 6.12 7.2 bookworm trixie sid
# timeout: 60

check() { # check DESCRIPTION GOT WANT
    if [ "$2" = "$3" ]; then echo "ok - $1"; else echo "not ok - $1: got '$2', want '$3'"; fi
}
check "LAB_DIR is /lab" "$LAB_DIR" /lab
check "LAB_HOST is the label of uname -r" "$LAB_HOST" "$(uname -r | sed 's/^\([0-9]*\.[0-9]*\).*/\1/')"
case $LAB_SUITE in bookworm | trixie | sid) echo "ok - LAB_SUITE $LAB_SUITE" ;; *) echo "not ok - LAB_SUITE '$LAB_SUITE'" ;; esac
check "/dev/kvm is a character device" "$([ -c /dev/kvm ] && echo yes)" yes
check "pscivm is /lab/bin/pscivm on PATH" "$(command -v pscivm)" /lab/bin/pscivm
pscivm --version > /dev/null 2>&1
check "pscivm --version exits 0" "$?" 0

labels=$(ls /lab/guest/ | sed -n 's/^Image-//p' | sort | tr '\n' ' ')
check "three guest kernels" "$(echo $labels | wc -w)" 3
case " $labels " in *" $LAB_HOST "*) echo "ok - this host's kernel is also a guest kernel" ;; *) echo "not ok - no guest kernel $LAB_HOST in: $labels" ;; esac
for l in $labels; do
    g=/lab/guest
    check "Image-$l has the arm64 Image magic" "$(dd if=$g/Image-$l bs=1 skip=56 count=4 2>/dev/null)" "$(printf 'ARM\144')"
    # newc cpio magic, and /init + bin/busybox inside
    check "initrd-$l.img is a newc cpio" "$(head -c 6 $g/initrd-$l.img)" 070701
    list=$(cpio -t < $g/initrd-$l.img 2>/dev/null)
    case "$list" in *init*) echo "ok - initrd-$l.img has /init" ;; *) echo "not ok - initrd-$l.img has no /init" ;; esac
    case "$list" in *bin/busybox*) echo "ok - initrd-$l.img has busybox" ;; *) echo "not ok - initrd-$l.img has no busybox" ;; esac
    rel=$(cat $g/release-$l 2>/dev/null)
    check "modules-$l/ is the tree of release $rel" "$([ -n "$rel" ] && [ -d "$g/modules-$l/kernel" ] && echo yes)" yes
    check "config-$l present" "$([ -s $g/config-$l ] && echo yes)" yes
done
