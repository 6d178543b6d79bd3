#!/bin/sh
# 30-linux.sh — Debian arm64 Linux guests under `pscivm run --kernel` (issue 5). Per host kernel:
#   6.1:  6.1 guest in kernel mode (PSCI 1.1), and the 7.2 guest in kernel mode
#   6.12: 6.12 guest in user mode
#   7.2:  7.2 guest in user mode, and in kernel mode
# Each run boots with 2 vCPUs, 256 MiB, the lab's guest initramfs, a read-only script disk (vda:
# the guest scenario below) and a data disk (vdb), and checks: nproc is 2; 256 KiB written by the
# guest to vdb are on the host-side image after exit, byte for byte; 20 cycles of CPU 1
# offline/online succeed with exactly 20 cpu_off / cpu_on events for CPU 1; `reboot` brings the
# guest back to /init exactly once; then `poweroff` exits 0 with system_reset before system_off;
# the ",ro" disk is read-only in the guest. On the 7.2 host also: --on-reset exit makes a guest
# reboot end pscivm with status 3. make check leaves out the 7.2 guest on 6.1 and kernel mode on
# 7.2 (make check-long, LAB_TIER=long, runs them). On the 7.2 host make check runs it in the
# sanitizer boot only (the same checks, ASan+UBSan build); pscivm's build boots Linux there in
# 40-control, 50-suspend, 60-snapshot, 70-hibernate and 80-debian.
# hosts: 6.1 6.12 7.2
# hosts-check: 6.1 6.12
# asan: 7.2
# timeout: 900

# The guest side: state in the first sector of vdb says which boot this is.
cat > guest.sh <<'GUEST'
#!/bin/sh
state=$(dd if=/dev/vdb bs=512 count=1 2>/dev/null | tr -d '\000' | head -c 8)
if [ "$state" = BOOT1 ]; then
    echo "LINUX-BOOT 2"
    echo BOOT2 | dd of=/dev/vdb bs=512 count=1 conv=sync,notrunc 2>/dev/null
    sync
    exit 0   # guest-init then powers off (PSCI SYSTEM_OFF)
fi
echo "LINUX-BOOT 1"
echo "LINUX-NPROC $(nproc)"
echo "LINUX-RO $(cat /sys/block/vda/ro) $(cat /sys/block/vdb/ro)"
dd if=/dev/urandom of=/tmp/data bs=1024 count=256 2>/dev/null
echo "LINUX-MD5 $(md5sum < /tmp/data | cut -d' ' -f1)"
dd if=/tmp/data of=/dev/vdb bs=1024 seek=1024 conv=notrunc,fsync 2>/dev/null && echo "LINUX-WROTE"
ok=0
i=0
while [ $i -lt 20 ]; do
    i=$((i + 1))
    echo 0 > /sys/devices/system/cpu/cpu1/online || continue
    [ "$(cat /sys/devices/system/cpu/cpu1/online)" = 0 ] || continue
    echo 1 > /sys/devices/system/cpu/cpu1/online || continue
    [ "$(cat /sys/devices/system/cpu/cpu1/online)" = 1 ] && ok=$((ok + 1))
done
echo "LINUX-HOTPLUG $ok"
echo BOOT1 | dd of=/dev/vdb bs=512 count=1 conv=sync,notrunc 2>/dev/null
sync
reboot -f   # PSCI SYSTEM_RESET: pscivm restarts the VM in-process
GUEST
dd if=/dev/zero of=script.img bs=1024 count=64 2>/dev/null
dd if=guest.sh of=script.img conv=notrunc 2>/dev/null

check() { # check DESCRIPTION CONDITION-STATUS [DETAIL]
    if [ "$2" -eq 0 ]; then echo "ok - $1"; else echo "not ok - $1${3:+: $3}"; fi
}

# run_guest NAME GUEST-LABEL MODE PSCI
run_guest() {
    name=$1 label=$2 mode=$3 psci=$4
    image=$LAB_DIR/guest/Image-$label initrd=$LAB_DIR/guest/initrd-$label.img
    t="$name (host $LAB_HOST, guest $label, $mode mode)"
    if [ ! -f "$image" ] || [ ! -f "$initrd" ]; then
        echo "not ok - $t: guest kernel or initramfs missing under $LAB_DIR/guest"
        return
    fi
    rm -f data.img ev con.log
    dd if=/dev/zero of=data.img bs=1M count=4 2>/dev/null
    start=$(cut -d' ' -f1 /proc/uptime)
    pscivm run --kernel "$image" --initrd "$initrd" --cpus 2 --mem 256 \
        --psci-mode "$mode" --psci "$psci" --cmdline "console=ttyS0 quiet" \
        --disk script.img,ro --disk data.img --events ev --timeout 600 \
        < /dev/null > con.log 2> err.log
    rc=$?
    end=$(cut -d' ' -f1 /proc/uptime)
    echo "# $t: pscivm exited $rc after $(echo "$start $end" | awk '{printf "%.1f", $2 - $1}') s"
    grep -a 'LINUX-\|@@GUEST' con.log | tr -d '\r' | sed 's/^/# guest: /'
    sed 's/^/# stderr: /' err.log

    check "$t: poweroff exits 0" $([ "$rc" -eq 0 ]; echo $?) "exit status $rc"
    n=$(grep -ac '^LINUX-NPROC 2' con.log)
    check "$t: nproc is 2" $([ "$n" -eq 1 ]; echo $?) "$(grep -a LINUX-NPROC con.log | tr -d '\r')"

    ro=$(sed -n 's/^LINUX-RO \([01]\) \([01]\).*/\1\2/p' con.log | head -n1)
    check "$t: the ,ro disk is read-only in the guest, the other writable" \
        $([ "$ro" = 10 ]; echo $?) "vda/vdb ro flags '$ro'"

    want=$(sed -n 's/^LINUX-MD5 \([0-9a-f]*\).*/\1/p' con.log | head -n1)
    got=$(dd if=data.img bs=1024 skip=1024 count=256 2>/dev/null | md5sum | cut -d' ' -f1)
    check "$t: data written to virtio-blk is on the host image byte for byte" \
        $([ -n "$want" ] && [ "$want" = "$got" ]; echo $?) "guest md5 '$want', host md5 '$got'"

    hp=$(sed -n 's/^LINUX-HOTPLUG \([0-9]*\).*/\1/p' con.log | head -n1)
    check "$t: 20 cycles of CPU 1 offline/online" $([ "${hp:-0}" -eq 20 ]; echo $?) "${hp:-0} succeeded"
    sed '/"event":"system_reset"/q' ev > boot1.ev
    offs=$(grep '"event":"cpu_off"' boot1.ev | grep -c '"vcpu":1[,}]')
    ons=$(grep '"event":"cpu_on"' boot1.ev | grep '"result":0[,}]' | grep -c '"target":1[,}]')
    check "$t: 20 cpu_off events for CPU 1 in the first boot" $([ "$offs" -eq 20 ]; echo $?) "got $offs"
    check "$t: 21 cpu_on events for CPU 1 in the first boot (bring-up + 20)" \
        $([ "$ons" -eq 21 ]; echo $?) "got $ons"

    boots=$(grep -ac '@@GUEST-BOOTED' con.log)
    b2=$(grep -ac '^LINUX-BOOT 2' con.log)
    check "$t: reboot brings the guest back to /init exactly once" \
        $([ "$boots" -eq 2 ] && [ "$b2" -eq 1 ]; echo $?) "/init reached $boots times"
    resets=$(grep -c '"event":"system_reset"' ev)
    offs=$(grep -c '"event":"system_off"' ev)
    lr=$(grep -n '"event":"system_reset"' ev | head -n1 | cut -d: -f1)
    lo=$(grep -n '"event":"system_off"' ev | head -n1 | cut -d: -f1)
    check "$t: one system_reset then one system_off event" \
        $([ "$resets" -eq 1 ] && [ "$offs" -eq 1 ] && [ "${lr:-0}" -lt "${lo:-0}" ]; echo $?) \
        "$resets system_reset (line ${lr:-none}), $offs system_off (line ${lo:-none})"
    last=$(tail -n1 ev)
    check "$t: vm_exit with status 0 is the last event" \
        $(echo "$last" | grep -q '"event":"vm_exit".*"status":0'; echo $?) "$last"
}

# --on-reset exit: a guest reboot ends pscivm with status 3 (one boot, no restart).
on_reset_exit() {
    label=$1 mode=$2 psci=$3
    t="on-reset exit (host $LAB_HOST, guest $label, $mode mode)"
    pscivm run --kernel "$LAB_DIR/guest/Image-$label" --initrd "$LAB_DIR/guest/initrd-$label.img" \
        --cpus 2 --mem 256 --psci-mode "$mode" --psci "$psci" --on-reset exit --events ev2 \
        --cmdline "console=ttyS0 quiet pscivm.run=true pscivm.after=reboot" --timeout 600 \
        < /dev/null > con2.log 2> err2.log
    rc=$?
    boots=$(grep -ac '@@GUEST-BOOTED' con2.log)
    check "$t: guest reboot exits 3 after one boot" $([ "$rc" -eq 3 ] && [ "$boots" -eq 1 ]; echo $?) \
        "exit $rc, $boots boots; $(head -n2 err2.log | tr '\n' ' ')"
    check "$t: system_reset event, then vm_exit status 3" \
        $(grep -q '"event":"system_reset"' ev2 && tail -n1 ev2 | grep -q '"event":"vm_exit".*"status":3'; echo $?) \
        "$(tail -n2 ev2 | tr '\n' ' ')"
}

case $LAB_HOST in
6.1)
    run_guest linux 6.1 kernel 1.1
    # make check: the host's own guest; the long tier adds the newest guest on the oldest host.
    if [ "${LAB_TIER:-check}" = long ]; then run_guest linux 7.2 kernel 1.1; fi
    ;;
6.12)
    run_guest linux 6.12 user 1.3
    ;;
*)
    run_guest linux "$LAB_HOST" user 1.3
    # Kernel mode with a Linux guest: the 6.1 host in make check, here in the long tier.
    if [ "${LAB_TIER:-check}" = long ]; then run_guest linux "$LAB_HOST" kernel 1.3; fi
    on_reset_exit "$LAB_HOST" user 1.3
    ;;
esac
