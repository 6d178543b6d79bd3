#!/bin/sh
# 68-snapshot-cross.sh — snapshots restored on another host kernel (issue 10), user mode, PSCI
#   1.3, a Debian 6.12 Linux guest with 2 vCPUs and 256 MiB, its files on the lab's carry disk
#   (/lab/carry, shared by every host boot of one lab/check):
#   pass 1 on 6.12: the busy guest (a console counter) records its PSCI view (debugfs
#     psci: version and every function's PSCI_FEATURES answer) and a 32 MiB checksum, and is
#     saved with snapshot-save then=quit;
#   pass 1 on 7.2: that snapshot is restored (6.12 -> 7.2): the counter continues, the PSCI
#     view and the checksum are unchanged, disk I/O works; saved again, then=quit;
#   pass 2 on 6.12 (lab/check's second pass): the 7.2 snapshot restored (7.2 -> 6.12), the same
#     checks, then cpu1 offline/online and poweroff.
#   Run alone on one host (no snapshot from the other), the restore steps are skipped with the
#   reason. A refusal (a register the target cannot take) would fail with the restore's message.
# hosts: 6.12 7.2
# second-pass: 6.12
# timeout: 700

. "$SCENARIO_DIR/lib/guest-ctl.sh"
trap '' PIPE

if [ ! -d /lab/carry ]; then
    echo "ok - cross-host snapshots # SKIP no carry disk (/lab/carry): run through lab/check"
    exit 0
fi
dir=/lab/carry/cross
mkdir -p "$dir"
cd "$dir" || exit 1
pass=${LAB_PASS:-1}

# The guest's view of its firmware: debugfs psci (version, PSCI_FEATURES of every function).
PSCI_VIEW='mount -t debugfs none /sys/kernel/debug 2>/dev/null; cat /sys/kernel/debug/psci'
# psci_view — into $view (not in a subshell: gcmd's sequence number must advance here).
psci_view() { gcmd "$PSCI_VIEW"; view=$(echo "$gout" | tr -d '\r'); }

# save_here NAME — snapshot-save then=quit to NAME; the last complete counter in NAME.count.
save_here() {
    rm -f "$1"
    out=$(ctl snapshot-save file="$dir/$1" then=quit 2>&1); r=$?
    finish_vm
    last_complete_count > "$1.count"
    check "$t: snapshot-save then=quit to the carry disk: exit 9" \
        $([ $r -eq 0 ] && [ "$rc" -eq 9 ] && [ -s "$1" ]; echo $?) "ctl exit $r '$out', pscivm exit $rc"
}

# restore_check FILE FROM — restore FILE (saved on host FROM) and check the guest.
restore_check() {
    t="cross-host restore $2 -> $LAB_HOST (user mode, guest 6.12)"
    if [ ! -s "$1" ]; then
        echo "ok - $t # SKIP no snapshot from host $2 in this lab run (lab/check with both hosts makes one)"
        return 1
    fi
    restore_vm "$1"
    seq_no=1000 # numbers the restored guest's server has not seen yet
    if ! wait_line '^CNT [0-9]+' 120; then
        check "$t: restored and running" 1 "$(tail -n 5 err.log)"
        finish_vm
        return 1
    fi
    sleep 1
    first=$(first_count) saved=$(cat "$1.count")
    check "$t: the counter continues ($saved -> $first)" \
        $([ -n "$first" ] && [ "$first" -gt "${saved:-0}" ] && [ "$first" -le $((${saved:-0} + 2)) ]; echo $?) \
        "$(tail -n 3 err.log)"
    psci_view
    echo "# $t: PSCI view now: $(echo "$view" | tr '\n' ';')"
    check "$t: the guest's PSCI version and PSCI_FEATURES answers are unchanged" \
        $([ -n "$view" ] && [ "$view" = "$(cat psci-view.txt)" ]; echo $?) \
        "saved '$(tr '\n' ';' < psci-view.txt)', now '$(echo "$view" | tr '\n' ';')'"
    gcmd 'md5sum /tmp/big | cut -d" " -f1'
    check "$t: 32 MiB of guest data unchanged" $([ "$gout" = "$(cat big.md5)" ]; echo $?) \
        "before $(cat big.md5), after '$gout'"
    gcmd 'dd if=/dev/urandom of=/tmp/blk bs=4k count=32 2>/dev/null && dd if=/tmp/blk of=/dev/vdb bs=4k seek=8 conv=notrunc,fsync 2>/dev/null && echo 3 > /proc/sys/vm/drop_caches && dd if=/dev/vdb bs=4k skip=8 count=32 2>/dev/null | md5sum | cut -d" " -f1 && md5sum < /tmp/blk | cut -d" " -f1'
    check "$t: disk I/O after the restore" \
        $([ "$grc" -eq 0 ] && [ "$(echo "$gout" | sed -n 1p)" = "$(echo "$gout" | sed -n 2p)" ]; echo $?) "status $grc '$gout'"
    return 0
}

case "$LAB_HOST:$pass" in
6.12:1)
    rm -f ./*.snap ./*.snap.* ./*.count psci-view.txt big.md5
    make_script_disk
    start_vm "cross-host snapshot" 6.12 user 1.3 --cpus 2
    up=$?
    check "$t: guest up" $up "$(tail -n 3 err.log)"
    [ $up -eq 0 ] || { finish_vm; exit 0; }
    psci_view
    echo "$view" > psci-view.txt
    echo "# $t: PSCI view: $(tr '\n' ';' < psci-view.txt)"
    check "$t: the guest reads its PSCI view (debugfs psci)" \
        $(grep -q 'PSCIv1.3' psci-view.txt; echo $?) "'$(tr '\n' ';' < psci-view.txt)'"
    gcmd 'dd if=/dev/urandom of=/tmp/big bs=1M count=32 2>/dev/null; md5sum /tmp/big | cut -d" " -f1'
    echo "$gout" > big.md5
    gcmd '(i=0; while :; do i=$((i+1)); echo "CNT $i" > /dev/console; sleep 0.2; done) > /dev/null 2>&1 & (while :; do :; done) > /dev/null 2>&1 &'
    wait_line '^CNT 10' 120
    save_here from-6.12.snap
    ;;
7.2:1)
    if restore_check from-6.12.snap 6.12; then
        save_here from-7.2.snap
    fi
    ;;
6.12:2)
    if restore_check from-7.2.snap 7.2; then
        gcmd 'echo 0 > /sys/devices/system/cpu/cpu1/online && cat /sys/devices/system/cpu/online && echo 1 > /sys/devices/system/cpu/cpu1/online && cat /sys/devices/system/cpu/online'
        check "$t: cpu1 offline and online again" \
            $([ "$grc" -eq 0 ] && [ "$(echo "$gout" | tr '\n' ' ')" = "0 0-1 " ]; echo $?) "status $grc '$gout'"
        gsend 'poweroff -f'
        finish_vm
        check "$t: poweroff: exit 0" $([ "$rc" -eq 0 ]; echo $?) "exit $rc"
    fi
    ;;
esac
exit 0
