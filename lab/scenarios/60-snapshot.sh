#!/bin/sh
# 60-snapshot.sh — VM snapshots (issue 10) with Debian Linux guests, 2 vCPUs, 256 MiB: QMP
#   snapshot-save while the guest is busy (a counter printed to the console every 0.2 s and a
#   spinning loop; 32 MiB of random data in guest tmpfs) with then=continue: the guest runs on
#   in the same process; a kill -9 of pscivm in the middle of a second save to the same path
#   leaves the first snapshot byte-identical; `pscivm restore` in a new process: vm_start says
#   restored, the counter continues from where it was saved (no reboot), the 32 MiB checksum is
#   unchanged, the guest keeps working (disk write + read back through the data disk, matching
#   the host's view after exit; cpu1 offline and online); a second snapshot of the restored
#   guest with then=quit (exit 9), restored with --paused (query-status paused, the guest does
#   not run) and continued by QMP cont (the counter goes on, the data still checks; poweroff
#   -> exit 0); then refusals with exit 1 and a message: a truncated file, a file with one bit
#   flipped, a snapshot whose data disk changed since the save. Kernel mode on 7.2 runs the same
#   sequence.
#   The PSCI conformance payload is saved mid-run and the restored run completes the suite
#   (user mode; on 7.2 kernel mode too). Cross-host restores: 68-snapshot-cross.
# make check: 7.2 (the Linux guest in user mode); make check-long: 6.12, and 7.2 kernel mode.
# hosts: 6.12 7.2
# hosts-check: 7.2
# timeout: 1500

. "$SCENARIO_DIR/lib/guest-ctl.sh"
make_script_disk
trap '' PIPE # a pscivm that died must fail the checks, not end the scenario

SNAP=$PWD/s1.snap


# flip_bit FILE OFFSET — xor one byte of FILE with 0x10.
flip_bit() {
    fb=$(od -An -tu1 -j "$2" -N1 "$1" | tr -d ' ')
    printf "\\$(printf %o $((fb ^ 16)))" | dd of="$1" bs=1 seek="$2" conv=notrunc 2>/dev/null
}

snapshot_linux() {
    label=$1 mode=$2 psci=${3:-1.3}
    rm -f "$SNAP" "$SNAP".tmp.* con?.log
    start_vm snapshot "$label" "$mode" "$psci" --cpus 2
    up=$?
    check "$t: guest up" $up "$(tail -n 3 err.log)"
    if [ $up -ne 0 ]; then finish_vm; return; fi
    gcmd 'dd if=/dev/urandom of=/tmp/big bs=1M count=32 2>/dev/null; md5sum /tmp/big | cut -d" " -f1'
    sum0=$gout
    gcmd '(i=0; while :; do i=$((i+1)); echo "CNT $i" > /dev/console; sleep 0.2; done) > /dev/null 2>&1 & (while :; do :; done) > /dev/null 2>&1 &'
    wait_line '^CNT 10' 120

    # 1. Save while busy, then continue.
    out=$(ctl snapshot-save file="$SNAP" then=continue 2>&1); r=$?
    last=$(last_count)
    ev_saved=$(grep -a '"event":"snapshot_save"' ev | tail -n1)
    echo "# $t: $ev_saved"
    check "$t: snapshot-save while the guest is busy (then=continue)" \
        $([ $r -eq 0 ] && [ -s "$SNAP" ] && echo "$ev_saved" | grep -q '"outcome":"saved"'; echo $?) \
        "exit $r: $out"
    dur=$(echo "$ev_saved" | sed -n 's/.*"duration_ms":\([0-9]*\).*/\1/p')
    sleep 2
    gcmd 'echo alive'
    now_count=$(last_count)
    check "$t: the guest runs on in the saving process (counter $last -> $now_count)" \
        $([ "${now_count:-0}" -gt "${last:-0}" ] && [ "$gout" = alive ]; echo $?)
    sum_file=$(md5sum < "$SNAP")

    # 2. kill -9 in the middle of a second save to the same path.
    ctl snapshot-save file="$SNAP" then=continue > /dev/null 2>&1 &
    cp=$!
    i=0
    while [ $i -lt 500 ] && ! ls "$SNAP".tmp.* > /dev/null 2>&1; do sleep 0.01; i=$((i + 1)); done
    sleep "$(awk -v d="${dur:-400}" 'BEGIN {printf "%.3f", d / 4000}')"
    tmp_seen=$(ls "$SNAP".tmp.* 2>/dev/null | wc -l)
    kill -9 "$vm"; wait "$vm" 2>/dev/null
    wait $cp 2>/dev/null
    exec 3>&-
    check "$t: kill -9 during a save (temporary file present: $tmp_seen) leaves the previous snapshot intact" \
        $([ "$tmp_seen" -ge 1 ] && [ "$(md5sum < "$SNAP")" = "$sum_file" ]; echo $?)
    rm -f "$SNAP".tmp.*
    mv con.log con1.log

    # 3. Restore in a new process.
    restore_vm "$SNAP"
    wait_line '^CNT [0-9]+' 120
    # Until the counter moves on (a loaded host can take seconds to fault the guest back in).
    first=$(first_count) next=$(last_count) i=0
    while [ $i -lt 600 ] && [ "${next:-0}" -le "${first:-0}" ] && kill -0 "$vm" 2>/dev/null; do
        sleep 0.1; i=$((i + 1)); next=$(last_count)
    done
    grep -aq 'CTL-READY' con.log; reboot=$?
    check "$t: restored: the counter continues ($first .. $next; it was at $last when the save returned), no reboot" \
        $([ -n "$first" ] && [ "$first" -ge 10 ] && [ "$first" -le $((last + 1)) ] && \
          [ "$next" -gt "$first" ] && [ $reboot -ne 0 ]; echo $?) "$(tail -n 5 err.log)"
    grep -aq '"event":"vm_start".*"restored"' ev
    check "$t: vm_start says restored" $? "$(head -n 1 ev)"
    gcmd 'md5sum /tmp/big | cut -d" " -f1'
    check "$t: 32 MiB of guest data unchanged across save/restore" $([ -n "$sum0" ] && [ "$gout" = "$sum0" ]; echo $?) \
        "before $sum0, after '$gout' ($grc)"
    gcmd 'dd if=/dev/urandom of=/tmp/blk bs=4k count=64 2>/dev/null && dd if=/tmp/blk of=/dev/vdb bs=4k seek=8 conv=notrunc,fsync 2>/dev/null && echo 3 > /proc/sys/vm/drop_caches && dd if=/dev/vdb bs=4k skip=8 count=64 2>/dev/null | md5sum | cut -d" " -f1 && md5sum < /tmp/blk | cut -d" " -f1'
    wsum=$(echo "$gout" | sed -n 2p) rsum=$(echo "$gout" | head -n1)
    check "$t: disk I/O after restore: 256 KiB written to the data disk and read back" \
        $([ "$grc" -eq 0 ] && [ -n "$wsum" ] && [ "$wsum" = "$rsum" ]; echo $?) "status $grc '$gout'"
    gcmd 'echo 0 > /sys/devices/system/cpu/cpu1/online && cat /sys/devices/system/cpu/online && echo 1 > /sys/devices/system/cpu/cpu1/online && cat /sys/devices/system/cpu/online'
    check "$t: cpu1 offline and online again after restore" \
        $([ "$grc" -eq 0 ] && [ "$(echo "$gout" | tr '\n' ' ')" = "0 0-1 " ]; echo $?) "status $grc '$gout'"
    # A snapshot of the restored guest, then=quit; restored again --paused, then cont.
    rm -f s2.snap
    out=$(ctl snapshot-save file="$PWD/s2.snap" then=quit 2>&1); r=$?
    finish_vm
    s2last=$(last_complete_count)
    check "$t: snapshot-save then=quit of the restored guest: reply, exit 9" \
        $([ $r -eq 0 ] && [ "$rc" -eq 9 ] && [ -s s2.snap ]; echo $?) "ctl exit $r '$out', pscivm exit $rc"
    mv con.log con2.log
    restore_vm s2.snap --paused
    i=0
    while [ $i -lt 600 ] && ! status_is paused; do sleep 0.1; i=$((i + 1)); done
    sleep 2
    c_paused=$(last_count)
    status_is paused; st=$?
    check "$t: restore --paused: query-status paused and the guest does not run" \
        $([ $st -eq 0 ] && [ -z "$c_paused" ]; echo $?) "status $st, counter '$c_paused'"
    ctl cont > /dev/null 2>&1
    wait_line '^CNT [0-9]+' 120
    first=$(first_count)
    echo "# $t: console across the second save: ...'$(tail -c 16 con2.log | tr -d '\r' | tr '\n' '|')' then '$(head -c 16 con.log | tr -d '\r' | tr '\n' '|')'..."
    check "$t: after cont the counter goes on where the second snapshot left it ($s2last -> $first)" \
        $([ -n "$first" ] && [ "$first" -gt "${s2last:-0}" ] && [ "$first" -le $((${s2last:-0} + 2)) ]; echo $?) \
        "end of the saving process's console: '$(tail -c 20 con2.log | tr -d '\r' | tr '\n' '|')', start of the restored one: '$(head -c 20 con.log | tr -d '\r' | tr '\n' '|')'"
    gcmd 'md5sum /tmp/big | cut -d" " -f1'
    check "$t: 32 MiB of guest data unchanged after a second save/restore" $([ "$gout" = "$sum0" ]; echo $?) \
        "before $sum0, after '$gout' ($grc)"
    gsend 'poweroff -f'
    finish_vm
    check "$t: poweroff of the restored guest: exit 0" $([ "$rc" -eq 0 ]; echo $?) "exit $rc"
    hsum=$(dd if=data.img bs=4k skip=8 count=64 2>/dev/null | md5sum | cut -d' ' -f1)
    check "$t: the host sees the restored guest's disk write" $([ "$hsum" = "$wsum" ]; echo $?) "host $hsum guest $wsum"

    # 4. Refusals: exit 1 and a message, never a crash.
    size=$(stat -c %s "$SNAP")
    head -c $((size / 2)) "$SNAP" > trunc.snap
    pscivm restore trunc.snap --console none > /dev/null 2> e.log; r=$?
    check "$t: truncated snapshot refused (exit 1)" $([ $r -eq 1 ] && [ -s e.log ]; echo $?) "exit $r: $(head -n 2 e.log)"
    echo "# $t: truncated: $(head -n 1 e.log)"
    cp "$SNAP" flip.snap
    flip_bit flip.snap $((size / 3))
    pscivm restore flip.snap --console none > /dev/null 2> e.log; r=$?
    check "$t: snapshot with one bit flipped refused (exit 1, CRC named)" \
        $([ $r -eq 1 ] && grep -qi crc e.log; echo $?) "exit $r: $(head -n 2 e.log)"
    echo "# $t: bit flip: $(head -n 1 e.log)"
    pscivm restore "$SNAP" --console none > /dev/null 2> e.log; r=$?
    check "$t: restore refused after the data disk changed (exit 1)" \
        $([ $r -eq 1 ] && grep -q 'changed since it was saved' e.log; echo $?) "exit $r: $(head -n 2 e.log)"
    rm -f trunc.snap flip.snap
}

# The conformance payload (4 vCPUs, PSCI 1.3, CPU_ON/OFF/SUSPEND running) saved right after
# its first TAP line and restored: the restored run finishes the suite, and the two consoles
# together are one complete run with no failure and no test run twice.
snapshot_conformance() {
    mode=$1
    t="conformance payload (host $LAB_HOST, $mode mode)"
    rm -f c.snap cout1 cout2 cerr qmp.sock
    pscivm run --payload "$LAB_DIR/payloads/psci_conformance.bin" --cpus 4 --psci 1.3 \
        --psci-mode "$mode" --cmdline "psci-mode=$mode expect-version=1.3" \
        --qmp "$PWD/qmp.sock" --console cout1 --timeout 300 2> cerr &
    vm=$!
    i=0
    while [ $i -lt 3000 ] && ! grep -aq '^ok 1 ' cout1 2>/dev/null; do sleep 0.01; i=$((i + 1)); done
    tries=0
    while :; do
        tries=$((tries + 1))
        out=$(pscivm ctl "$PWD/qmp.sock" snapshot-save file="$PWD/c.snap" then=quit 2>&1); r=$?
        [ $r -ne 0 ] && echo "$out" | grep -q 'try again' && [ $tries -lt 20 ] && continue
        break
    done
    wait $vm; rc=$?
    n1=$(grep -ac '^\(not \)\{0,1\}ok [0-9]' cout1)
    check "$t: saved while running (after $n1 TAP lines, $tries attempt(s)): exit 9" \
        $([ $r -eq 0 ] && [ $rc -eq 9 ] && [ -s c.snap ]; echo $?) "ctl $r '$out', pscivm $rc: $(head -n 3 cerr)"
    [ $rc -eq 9 ] || return
    pscivm restore c.snap --console cout2 --timeout 300 2> cerr; rc=$?
    cat cout1 cout2 | tr -d '\r' > call
    total=$(sed -n 's/^1\.\.\([0-9]*\)$/\1/p' call)
    oks=$(grep -c '^ok [0-9]' call) noks=$(grep -c '^not ok' call)
    dup=$(grep -o '^\(not \)\{0,1\}ok [0-9]*' call | sed 's/^not //' | sort | uniq -d | head -n 3 | tr '\n' ' ')
    echo "# $t: $(grep '^# summary' call)"
    check "$t: the restored run completes the suite: exit 0, $oks ok of $total, no failure, none twice" \
        $([ $rc -eq 0 ] && [ -n "$total" ] && [ "$oks" -eq "$total" ] && [ "$noks" -eq 0 ] && [ -z "$dup" ]; echo $?) \
        "exit $rc; $noks not ok: $(grep '^not ok' call | head -n 3); twice: $dup; $(head -n 3 cerr)"
}

case $LAB_HOST in
6.12)
    snapshot_conformance user
    snapshot_linux 6.12 user
    ;;
*)
    snapshot_conformance user
    snapshot_conformance kernel
    snapshot_linux "$LAB_HOST" user
    # A Linux guest in kernel mode: the long tier (65-suspend-save covers kernel mode in check).
    if [ "${LAB_TIER:-check}" = long ]; then snapshot_linux "$LAB_HOST" kernel; fi
    ;;
esac
