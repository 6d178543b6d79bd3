#!/bin/sh
# 90-stress.sh — stress and faults (issue 12) with a Debian Linux guest (the host's own kernel),
# user mode, 2 vCPUs, 256 MiB, one VM through all of it while a counter runs in the guest:
#   CPU 1 offline/online cycles with exactly as many cpu_off/cpu_on events for CPU 1; QMP
#   clients that connect and vanish in a loop (closing at once, after half a command, killed
#   mid-command) — QMP still answers and the guest runs on; snapshot-save into a full
#   filesystem (ENOSPC): an error naming the cause, the previous file at that path
#   byte-identical, no temporary file left, the guest running on; snapshot/restore cycles
#   (then=quit, exit 9, `pscivm restore`), the counter continuing and 16 MiB of guest data
#   unchanged across all of them; a data disk whose image lives on a full filesystem (a 2 MiB
#   tmpfs under a 16 MiB sparse image): the guest's writes beyond the free space fail with I/O
#   errors in the guest and pscivm runs on; a data disk truncated under the running VM: reads
#   past the new end fail with I/O errors, pscivm runs on; poweroff exit 0.
# Counts: make check 100 CPU cycles, 200 QMP clients, 5 snapshot cycles; make check-long
# (LAB_TIER=long) 1000, 2000 and 50.
# hosts: 6.12 7.2
# hosts-check: 6.12
# timeout: 3000

. "$SCENARIO_DIR/lib/guest-ctl.sh"
make_script_disk
trap '' PIPE # a pscivm that died must fail the checks, not end the scenario

if [ "${LAB_TIER:-check}" = long ]; then
    CPU_CYCLES=1000 QMP_CLIENTS=2000 SNAP_CYCLES=50
else
    CPU_CYCLES=100 QMP_CLIENTS=200 SNAP_CYCLES=5
fi
G=$LAB_HOST

# Fault disks: full.img (16 MiB sparse) on a 2 MiB tmpfs; trunc.img (4 MiB of data), truncated
# to 1 MiB while the guest runs. The snapshot ENOSPC target: another 2 MiB tmpfs.
mkdir -p small snapfs
mount -t tmpfs -o size=2m tmpfs small || echo "not ok - mount a 2 MiB tmpfs (small)"
mount -t tmpfs -o size=2m tmpfs snapfs || echo "not ok - mount a 2 MiB tmpfs (snapfs)"
cleanup() { umount small 2>/dev/null; umount snapfs 2>/dev/null; }
dd if=/dev/zero of=small/full.img bs=1M seek=16 count=0 2>/dev/null
dd if=/dev/urandom of=trunc.img bs=1M count=4 2>/dev/null

start_vm stress "$G" user 1.3 --cpus 2 --disk "$PWD/small/full.img" --disk "$PWD/trunc.img" --timeout 2800
up=$?
check "$t: guest up" $up "$(tail -n 3 err.log)"
if [ $up -ne 0 ]; then finish_vm; cleanup; exit 0; fi
alive() { kill -0 "$vm" 2>/dev/null; }
gcmd 'dd if=/dev/urandom of=/tmp/blob bs=1M count=16 2>/dev/null; md5sum /tmp/blob | cut -d" " -f1'
sum0=$gout
gcmd '(i=0; while :; do i=$((i+1)); echo "CNT $i" > /dev/console; sleep 0.5; done) > /dev/null 2>&1 &'
wait_line '^CNT 3' 60

# 1. CPU 1 offline/online cycles.
off0=$(grep -c '"event":"cpu_off","t_ns":[0-9]*,"vcpu":1[,}]' ev)
on0=$(grep '"event":"cpu_on"' ev | grep -c '"target":1,.*"result":0')
start=$(now)
gcmd "i=0; while [ \$i -lt $CPU_CYCLES ]; do i=\$((i + 1)); echo 0 > /sys/devices/system/cpu/cpu1/online || exit 1; echo 1 > /sys/devices/system/cpu/cpu1/online || exit 2; done; cat /sys/devices/system/cpu/online" 1500
secs=$(echo "$start $(now)" | awk '{printf "%.1f", $2 - $1}')
sleep 1
doff=$(( $(grep -c '"event":"cpu_off","t_ns":[0-9]*,"vcpu":1[,}]' ev) - off0 ))
don=$(( $(grep '"event":"cpu_on"' ev | grep -c '"target":1,.*"result":0') - on0 ))
check "$t: $CPU_CYCLES offline/online cycles of cpu1 in $secs s, $CPU_CYCLES cpu_off and cpu_on events for it" \
    $([ "$grc" -eq 0 ] && [ "$gout" = 0-1 ] && [ "$doff" -eq "$CPU_CYCLES" ] && [ "$don" -eq "$CPU_CYCLES" ]; echo $?) \
    "status $grc '$gout', cpu_off $doff, cpu_on $don"

# 2. QMP clients that connect and vanish: a third close at once, a third after half a command,
# a third are killed in the middle of a command.
start=$(now)
k=0
while [ $k -lt "$QMP_CLIENTS" ]; do
    case $((k % 3)) in
    0) ctl --raw < /dev/null > /dev/null 2>&1 ;;
    1) printf '{"execute": "qmp_capabilities"}\n{"execute": "query-st' | ctl --raw > /dev/null 2>&1 ;;
    2) { printf '{"execute": "qmp_capabilities"}\n{"execute": "query-status"}\n'; sleep 1; } | ctl --raw > /dev/null 2>&1 &
       kp=$!; sleep 0.02; kill -KILL $kp 2>/dev/null ;;
    esac
    k=$((k + 1))
done
sleep 1.5 # the killed clients' feeders end on SIGPIPE
secs=$(echo "$start $(now)" | awk '{printf "%.1f", $2 - $1}')
c1=$(last_count); sleep 2; c2=$(last_count)
status_is running; st=$?
check "$t: $QMP_CLIENTS QMP clients connected and vanished in $secs s: QMP answers, the guest runs on (counter $c1 -> $c2)" \
    $([ $st -eq 0 ] && alive && [ "${c2:-0}" -gt "${c1:-0}" ]; echo $?) "query-status $st, alive $(alive && echo yes || echo no)"

# 3. snapshot-save into a full filesystem.
dd if=/dev/urandom of=snapfs/vm.snap bs=1k count=512 2>/dev/null
prev=$(md5sum snapfs/vm.snap | cut -d' ' -f1)
out=$(ctl snapshot-save file="$PWD/snapfs/vm.snap" then=continue 2>&1); r=$?
ev_s=$(grep -a '"event":"snapshot_save"' ev | tail -n1)
left=$(ls -a snapfs | grep -vxE '\.|\.\.|vm\.snap' | tr '\n' ' ')
check "$t: snapshot-save into a full filesystem fails, naming it (ENOSPC)" \
    $([ $r -ne 0 ] && echo "$out $ev_s" | grep -qi 'space' && echo "$ev_s" | grep -q '"outcome":"failed"'; echo $?) \
    "ctl exit $r '$out', event '$ev_s'"
check "$t: the previous file there is byte-identical, no temporary file left" \
    $([ "$(md5sum snapfs/vm.snap | cut -d' ' -f1)" = "$prev" ] && [ -z "$left" ]; echo $?) "left: '$left'"
c1=$(last_count); sleep 2; c2=$(last_count)
check "$t: the guest runs on after the failed save (counter $c1 -> $c2)" $([ "${c2:-0}" -gt "${c1:-0}" ] && alive; echo $?)

# 4. Snapshot/restore cycles: save with then=quit, restore in a new process.
SNAP=$PWD/cycle.snap
n=0 bad=
start=$(now)
while [ $n -lt "$SNAP_CYCLES" ]; do
    n=$((n + 1))
    out=$(ctl snapshot-save file="$SNAP" then=quit 2>&1); r=$?
    finish_vm > /dev/null
    [ $r -eq 0 ] && [ "$rc" -eq 9 ] || { bad="cycle $n: save: ctl exit $r '$out', pscivm exit $rc"; break; }
    before=$(last_complete_count)
    cp con.log con-prev.log
    restore_vm "$SNAP" --timeout 2800
    wait_line "^CNT $((before + 2))([^0-9]|\$)" 60 || { bad="cycle $n: the counter did not continue after $before ($(tail -n 3 err.log | tr '\n' '|'))"; break; }
done
secs=$(echo "$start $(now)" | awk '{printf "%.1f", $2 - $1}')
check "$t: $SNAP_CYCLES snapshot/restore cycles in $secs s, the counter continuing each time" $([ -z "$bad" ]; echo $?) "$bad"
if [ -z "$bad" ]; then
    gcmd 'md5sum /tmp/blob | cut -d" " -f1'
    check "$t: 16 MiB of guest data unchanged across them" $([ -n "$sum0" ] && [ "$gout" = "$sum0" ]; echo $?) "'$sum0' -> '$gout'"
    gcmd 'echo 1 > /sys/devices/system/cpu/cpu1/online; cat /sys/devices/system/cpu/online'
    check "$t: both CPUs online after the cycles" $([ "$gout" = 0-1 ]; echo $?) "'$gout'"
else
    alive && kill -KILL "$vm"; finish_vm; cleanup; exit 0
fi
# 5. A disk on a full filesystem: writes past the free space fail in the guest, not in pscivm.
gcmd 'dd if=/dev/urandom of=/dev/vdc bs=1M count=8 conv=fsync 2>&1; echo "dd=$?"; dmesg | grep -c "I/O error.*vdc\|vdc.*I/O error\|Buffer I/O error on dev vdc"' 300
dds=$(echo "$gout" | sed -n 's/^dd=//p') ioerr=$(echo "$gout" | tail -n1)
check "$t: writes beyond a full filesystem under the disk image: I/O errors in the guest (dd status $dds, $ioerr kernel I/O error lines)" \
    $([ "$grc" -eq 0 ] && { [ "${dds:-0}" -ne 0 ] || [ "${ioerr:-0}" -gt 0 ]; }; echo $?) "'$(echo "$gout" | tr '\n' '|')'"
gcmd 'echo alive'
check "$t: pscivm runs on after the failed writes, the guest answers" $([ "$gout" = alive ] && alive; echo $?) "status $grc"
gcmd 'dd if=/dev/vdc of=/dev/null bs=64k count=16 iflag=direct 2>&1 >/dev/null; echo "dd=$?"'
check "$t: the part that fitted reads back" $([ "$(echo "$gout" | sed -n 's/^dd=//p')" = 0 ]; echo $?) "'$(echo "$gout" | tr '\n' '|')'"

# 6. A disk truncated under the running VM: reads past the new end fail.
truncate_to() { dd if=/dev/null of="$1" bs=1M seek="$2" 2>/dev/null; }
truncate_to trunc.img 1
gcmd 'echo 3 > /proc/sys/vm/drop_caches; dd if=/dev/vdd of=/dev/null bs=1M skip=2 count=1 iflag=direct 2>&1; echo "dd=$?"' 120
dds=$(echo "$gout" | sed -n 's/^dd=//p')
check "$t: a read past the end of a disk truncated under the VM fails in the guest (dd status $dds)" \
    $([ "$grc" -eq 0 ] && [ "${dds:-0}" -ne 0 ]; echo $?) "'$(echo "$gout" | tr '\n' '|')'"
gcmd 'dd if=/dev/vdd of=/dev/null bs=64k count=4 iflag=direct 2>&1 >/dev/null; echo "dd=$?"'
check "$t: pscivm runs on; the part still there reads" $([ "$(echo "$gout" | sed -n 's/^dd=//p')" = 0 ] && alive; echo $?) \
    "'$(echo "$gout" | tr '\n' '|')'"

gsend 'poweroff -f'
finish_vm
check "$t: poweroff: exit 0" $([ "$rc" -eq 0 ]; echo $?) "exit $rc"
cleanup
exit 0
