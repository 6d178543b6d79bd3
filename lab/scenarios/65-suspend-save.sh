#!/bin/sh
# 65-suspend-save.sh — save on suspend (issue 10) with Debian Linux guests, 2 vCPUs, 256 MiB:
#   --on-suspend save=PATH: the guest's `echo mem > /sys/power/state` makes pscivm save the
#   suspended VM and exit 11 (events system_suspend, snapshot_save trigger suspend); `pscivm
#   restore PATH` wakes it (wakeup source restore, QMP-visible status running), the guest's
#   command returns with status 0 and dmesg says PM: suspend exit, 32 MiB of guest data are
#   unchanged. The restored guest runs with --on-suspend wait,save-after=12,file=PATH: a suspend
#   woken by a 3-second RTC alarm is not saved; a suspend without a wake source is saved after
#   12 s (exit 11, trigger save-after) and restored again, the data still unchanged; that guest
#   then reboots (boot files named in the snapshot: CTL-READY 2) and powers off (exit 0).
#   6.12 host: user mode; 7.2: kernel mode and user mode (make check-long, LAB_TIER=long).
# hosts: 6.12 7.2
# hosts-check: 6.12
# timeout: 1300

. "$SCENARIO_DIR/lib/guest-ctl.sh"
make_script_disk
trap '' PIPE

# suspended_and_saved TRIGGER — pscivm ended (finish_vm) with 11 after saving on suspend.
suspend_save() {
    label=$1 mode=$2
    start_vm "save on suspend" "$label" "$mode" 1.3 --cpus 2 --on-suspend "save=$PWD/susp.snap"
    up=$?
    check "$t: guest up" $up "$(tail -n 3 err.log)"
    if [ $up -ne 0 ]; then finish_vm; return; fi
    rm -f susp.snap sa.snap
    gcmd 'dd if=/dev/urandom of=/tmp/big bs=1M count=32 2>/dev/null; md5sum /tmp/big | cut -d" " -f1'
    sum0=$gout
    gsend 'echo mem > /sys/power/state'
    n_suspend=$seq_no
    finish_vm
    ev_save=$(grep -a '"event":"snapshot_save"' ev | tail -n1)
    echo "# $t: $ev_save"
    check "$t: echo mem > /sys/power/state: saved to disk, exit 11" \
        $([ "$rc" -eq 11 ] && [ -s susp.snap ] && echo "$ev_save" | grep -q '"outcome":"saved".*"trigger":"suspend"'; echo $?) \
        "exit $rc; $(tail -n 2 err.log)"
    grep -aq '"event":"system_suspend".*"outcome":"suspended"' ev
    check "$t: system_suspend event before the save" $? "$(grep -a system_suspend ev | head -n1)"
    mv con.log con1.log

    restore_vm susp.snap --on-suspend "wait,save-after=12,file=$PWD/sa.snap"
    seq_no=$n_suspend
    gcmd_wait 120
    check "$t: restored: the guest's echo mem returns with status 0" $([ "$grc" -eq 0 ]; echo $?) \
        "status $grc; $(tail -n 3 err.log)"
    grep -aq '"event":"wakeup".*"source":"restore"' ev
    check "$t: wakeup event with source restore" $? "$(grep -a wakeup ev | head -n 2)"
    gcmd 'dmesg | grep -c "PM: suspend exit"'
    check "$t: the guest's dmesg says PM: suspend exit" $([ "${gout:-0}" -ge 1 ]; echo $?) "'$gout'"
    gcmd 'md5sum /tmp/big | cut -d" " -f1'
    check "$t: 32 MiB of guest data unchanged across the suspend to disk" \
        $([ -n "$sum0" ] && [ "$gout" = "$sum0" ]; echo $?) "before $sum0, after '$gout'"

    # save-after=12: a short suspend woken by the RTC is not saved. (The alarm is 3 s away: a
    # guest slower than that to reach SYSTEM_SUSPEND would let it pass before it sleeps.)
    gcmd 'echo 0 > /sys/class/rtc/rtc0/wakealarm; echo +3 > /sys/class/rtc/rtc0/wakealarm && echo mem > /sys/power/state && echo back' 60
    sleep 2
    kill -0 "$vm" 2>/dev/null; alive=$?
    check "$t: save-after=12: a suspend woken after ~3 s by the RTC is not saved" \
        $([ "$grc" -eq 0 ] && [ $alive -eq 0 ] && [ ! -e sa.snap ]; echo $?) \
        "status $grc '$gout', pscivm alive $alive, $(ls sa.snap* 2>&1)"
    # ... a suspend without a wake source is saved after 12 s.
    t0=$(now)
    gsend 'echo mem > /sys/power/state'
    n_suspend=$seq_no
    finish_vm
    t1=$(now)
    ev_save=$(grep -a '"event":"snapshot_save"' ev | tail -n1)
    echo "# $t: $ev_save"
    check "$t: save-after=12: a guest still suspended after 12 s is saved, exit 11 (after $(awk -v a="$t0" -v b="$t1" 'BEGIN {printf "%.1f", b - a}') s)" \
        $([ "$rc" -eq 11 ] && [ -s sa.snap ] && echo "$ev_save" | grep -q '"outcome":"saved".*"trigger":"save-after"' && \
          awk -v a="$t0" -v b="$t1" 'BEGIN {exit !(b - a >= 12)}'; echo $?) "exit $rc; $(tail -n 2 err.log)"

    restore_vm sa.snap
    seq_no=$n_suspend
    gcmd_wait 120
    check "$t: restored after save-after: echo mem returns with status 0" $([ "$grc" -eq 0 ]; echo $?) \
        "status $grc; $(tail -n 3 err.log)"
    gcmd 'md5sum /tmp/big | cut -d" " -f1'
    check "$t: 32 MiB of guest data unchanged after the second suspend to disk" \
        $([ "$gout" = "$sum0" ]; echo $?) "before $sum0, after '$gout'"
    # Reboot of a restored guest: pscivm boots the kernel the snapshot names.
    gsend 'reboot -f'
    wait_line '^CTL-READY 2' 300
    check "$t: the restored guest reboots (CTL-READY 2)" $? "$(tail -n 3 err.log)"
    seq_no=0
    gsend 'poweroff -f'
    finish_vm
    check "$t: poweroff after the reboot: exit 0" $([ "$rc" -eq 0 ]; echo $?) "exit $rc"
}

# make check: user mode on 6.12 (hosts-check); the long tier adds 7.2 in both modes.
case $LAB_HOST in
6.12) suspend_save 6.12 user ;;
*)
    [ "${LAB_TIER:-check}" = long ] && suspend_save "$LAB_HOST" user
    suspend_save "$LAB_HOST" kernel
    ;;
esac
exit 0
