#!/bin/sh
# 40-control.sh — the control plane (issue 8) with Debian Linux guests: `pscivm run --qmp` and
# `pscivm ctl`. The guest runs a command server on its console (commands from the host through
# pscivm's stdin, replies as CTL-OUT/CTL-DONE lines), so the host drives every step:
#   query-status running; stop -> paused and guest time stands still (measured), cont -> it
#   continues; vCPU hot-add with --cpus 2 --max-cpus 4 (user mode): 2 CPUs online, onlining
#   cpu2 fails before cpu-plug and works after, unplug of an online vCPU refused, 50
#   plug/online/offline/unplug cycles with matching events (10 in make check); QMP robustness
#   (garbage, truncated JSON, unknown commands, wrong argument types, 4 event clients at once,
#   a client killed mid-command) with the VM unaffected; system_powerdown ignored by a guest that does not
#   listen, then system_reset reboots, then system_powerdown with a KEY_POWER listener powers
#   off (exit 0, POWERDOWN then SHUTDOWN). Kernel mode (6.1 host, and 7.2): the same without
#   hot-add, whose refusal there is checked as a usage error.
# make check: 6.1 (kernel) and 7.2 (user); make check-long: 6.12 user and 7.2 kernel too.
# hosts: 6.1 6.12 7.2
# hosts-check: 6.1 7.2
# timeout: 900

. "$SCENARIO_DIR/lib/guest-ctl.sh"
make_script_disk
# Hot-plug cycles (user mode): 50 in the long tier, 10 in make check.
if [ "${LAB_TIER:-check}" = long ]; then NHOT=50; else NHOT=10; fi
# guest_uptime VAR — the guest's uptime (not in a subshell: gcmd keeps its sequence number).
guest_uptime() { gcmd 'cut -d" " -f1 /proc/uptime'; eval "$1=\$gout"; }

pause_checks() {
    ok=$(status_is running; echo $?)
    check "$t: query-status says running" "$ok" "$(ctl query-status 2>&1)"
    guest_uptime g0; h0=$(now)
    ctl stop > /dev/null 2>&1
    st=$(status_is paused; echo $?)
    sleep 4
    ctl cont > /dev/null 2>&1
    guest_uptime g1; h1=$(now)
    st2=$(status_is running; echo $?)
    check "$t: stop -> query-status paused, cont -> running" $([ "$st" -eq 0 ] && [ "$st2" -eq 0 ]; echo $?)
    # Guest time advanced by less than the host's minus the 4 s pause (minus 1 s slack).
    adv=$(echo "$g0 $g1 $h0 $h1" | awk '{printf "%.2f %.2f", $2 - $1, $4 - $3}')
    echo "# $t: guest clock advanced $(echo "$adv" | cut -d' ' -f1) s while the host's advanced $(echo "$adv" | cut -d' ' -f2) s (4 s paused)"
    check "$t: guest time does not advance while paused" \
        $(echo "$adv" | awk '{exit !($1 > 0 && $1 < $2 - 3)}'; echo $?) "guest/host: $adv"
    grep -q '"event":"STOP"' ev1.log && grep -q '"event":"RESUME"' ev1.log
    check "$t: STOP and RESUME events" $?
}

robustness_checks() {
    out=$(printf 'garbage]]\n{"execute":"qmp_capabilities"}\n{"execute":"query-status","id":7}\n' \
        | ctl --raw 2>&1)
    echo "$out" | grep -q '"error"' && echo "$out" | grep -q '"id": *7' && echo "$out" | grep -q '"running"'
    check "$t: garbage gets an error, the next command on the same connection works" $? "$out"
    printf '{"execute": "query-st' | ctl --raw > /dev/null 2>&1
    out=$(ctl no-such-command 2>&1); r1=$?
    check "$t: unknown command: error (exit 1) naming it" \
        $([ $r1 -eq 1 ] && echo "$out" | grep -q 'no-such-command'; echo $?) "exit $r1: $out"
    out=$(ctl cpu-plug 'id="two"' 2>&1); r2=$?
    check "$t: wrong argument type: error" $([ $r2 -eq 1 ]; echo $?) "exit $r2: $out"
    rm -f kill.fifo; mkfifo kill.fifo
    ctl --raw < kill.fifo > /dev/null 2>&1 &
    kp=$!
    exec 4> kill.fifo
    printf '{"execute":"qmp_capabilities"}\n{"execute":"query-cpus-fast"' >&4
    sleep 0.5
    kill -9 $kp 2>/dev/null; wait $kp 2>/dev/null
    exec 4>&-
    ok=$(status_is running; echo $?)
    gcmd 'echo alive'
    check "$t: after a client killed mid-command and a truncated one, the VM runs and answers" \
        $([ "$ok" -eq 0 ] && [ "$gout" = alive ]; echo $?) "status ok=$ok, guest '$gout'"
}

hotplug_checks() {
    gcmd 'cat /sys/devices/system/cpu/online'
    check "$t: --cpus 2 --max-cpus 4: CPUs 0-1 online" $([ "$gout" = 0-1 ]; echo $?) "online '$gout'"
    gcmd 'echo 1 > /sys/devices/system/cpu/cpu2/online'
    check "$t: onlining cpu2 fails before cpu-plug" $([ "$grc" -ne 0 ] && [ "$grc" -ne 255 ]; echo $?) "status $grc"
    out=$(ctl cpu-plug 2 2>&1); r=$?
    gcmd 'echo 1 > /sys/devices/system/cpu/cpu2/online && cat /sys/devices/system/cpu/online'
    check "$t: after cpu-plug 2 the guest onlines cpu2 (0-2 online)" \
        $([ $r -eq 0 ] && [ "$grc" -eq 0 ] && [ "$gout" = 0-2 ]; echo $?) "ctl exit $r '$out', guest $grc '$gout'"
    out=$(ctl cpu-unplug 2 2>&1); r=$?
    check "$t: cpu-unplug of an online vCPU is refused, saying so" \
        $([ $r -eq 1 ] && echo "$out" | grep -q online; echo $?) "exit $r: $out"
    gcmd 'echo 0 > /sys/devices/system/cpu/cpu2/online'
    ctl cpu-unplug 2 > /dev/null 2>&1
    good=0 cyc=0
    while [ $cyc -lt $NHOT ]; do
        cyc=$((cyc + 1))
        ctl cpu-plug 2 > /dev/null 2>&1 || continue
        gcmd 'echo 1 > /sys/devices/system/cpu/cpu2/online'; [ "$grc" -eq 0 ] || continue
        gcmd 'echo 0 > /sys/devices/system/cpu/cpu2/online'; [ "$grc" -eq 0 ] || continue
        ctl cpu-unplug 2 > /dev/null 2>&1 || continue
        good=$((good + 1))
        [ $((cyc % 10)) -eq 0 ] && echo "# $t: $good of $cyc hot-plug cycles done after $(now) s"
    done
    [ $good -eq $NHOT ] || tail -n 20 con.log | tr -d '\r' | sed 's/^/# console: /'
    check "$t: $NHOT plug/online/offline/unplug cycles" $([ $good -eq $NHOT ]; echo $?) "$good succeeded"
    gcmd 'echo 1 > /sys/devices/system/cpu/cpu2/online'
    check "$t: onlining cpu2 fails again after the last unplug" $([ "$grc" -ne 0 ] && [ "$grc" -ne 255 ]; echo $?) "status $grc"
    plugs=$(grep -c '"event":"cpu_plug".*"target":2[,}]' ev)
    unplugs=$(grep -c '"event":"cpu_unplug".*"target":2[,}]' ev)
    ons=$(grep '"event":"cpu_on"' ev | grep '"target":2[,}]' | grep -c '"result":0[,}]')
    denied=$(grep '"event":"cpu_on"' ev | grep '"target":2[,}]' | grep -c '"result":-3[,}]')
    offs=$(grep '"event":"cpu_off"' ev | grep -c '"vcpu":2[,}]')
    # 1 + NHOT plugs, 1 + NHOT unplugs (the refused one is not an event), 1 + NHOT onlinings and
    # offlinings; CPU_ON refused before the first plug and after the last unplug (and at boot,
    # when Linux tries every possible CPU once).
    n1=$((NHOT + 1))
    check "$t: events: $n1 cpu_plug, $n1 cpu_unplug, $n1 cpu_on and $n1 cpu_off of vCPU 2, >= 2 refused CPU_ON" \
        $([ "$plugs" -eq $n1 ] && [ "$unplugs" -eq $n1 ] && [ "$ons" -eq $n1 ] && [ "$offs" -eq $n1 ] && [ "$denied" -ge 2 ]; echo $?) \
        "plug $plugs unplug $unplugs on $ons off $offs denied $denied"
    grep -q '"event":"cpu_plug"' ev1.log
    check "$t: QMP clients get the cpu_plug events too" $?
}

power_checks() {
    ctl system_powerdown > /dev/null 2>&1; r=$?
    sleep 2
    ok=$(status_is running; echo $?)
    gcmd 'echo alive'
    check "$t: system_powerdown to a guest that does not listen: it keeps running" \
        $([ $r -eq 0 ] && [ "$ok" -eq 0 ] && [ "$gout" = alive ]; echo $?) "ctl exit $r, running=$ok, guest '$gout'"
    ctl system_reset > /dev/null 2>&1
    wait_line '^CTL-READY 2' 300
    check "$t: system_reset restarts the guest" $? "$(tail -n 3 con.log | tr -d '\r')"
    seq_no=1000
    gcmd 'for e in /sys/class/input/event*; do grep -qi "power" $e/device/name 2>/dev/null && echo ${e##*/}; done'
    dev=$(echo "$gout" | head -n1)
    check "$t: the guest sees the power button input device" $([ -n "$dev" ]; echo $?) "'$gout'"
    [ -n "$dev" ] && gcmd "(dd if=/dev/input/$dev of=/dev/null bs=24 count=1 2>/dev/null; echo CTL-POWERKEY > /dev/console; poweroff -f) > /dev/null 2>&1 &"
    sleep 1
    ctl system_powerdown > /dev/null 2>&1
    finish_vm
    check "$t: system_powerdown -> the listening guest powers off, exit 0" $([ "$rc" -eq 0 ]; echo $?) "exit $rc"
    lp=$(grep -n '"event":"POWERDOWN"' ev1.log | tail -n1 | cut -d: -f1)
    ls=$(grep -n '"event":"SHUTDOWN"' ev1.log | tail -n1 | cut -d: -f1)
    check "$t: POWERDOWN then SHUTDOWN events" $([ -n "$lp" ] && [ -n "$ls" ] && [ "$lp" -lt "$ls" ]; echo $?) \
        "POWERDOWN line ${lp:-none}, SHUTDOWN line ${ls:-none}"
    grep -q '"event":"RESET"' ev1.log
    check "$t: RESET event for system_reset" $?
    n=0
    for f in ev1.log ev2.log ev3.log ev4.log; do grep -q '"event":"SHUTDOWN"' "$f" && n=$((n + 1)); done
    check "$t: 4 event clients at once each saw the SHUTDOWN" $([ $n -eq 4 ]; echo $?) "$n of 4"
}

# control LABEL MODE PSCI — the whole sequence on one VM.
control() {
    label=$1 mode=$2 psci=$3
    if [ "$mode" = user ]; then
        start_vm control "$label" "$mode" "$psci" --cpus 2 --max-cpus 4
    else
        start_vm control "$label" "$mode" "$psci" --cpus 2
    fi
    up=$?
    check "$t: guest up with the QMP socket" $([ $up -eq 0 ] && [ -S qmp.sock ]; echo $?) "$(tail -n 3 err.log)"
    if [ $up -ne 0 ]; then finish_vm; return; fi
    for k in 1 2 3 4; do ctl events > ev$k.log 2>&1 & done
    sleep 1
    pause_checks
    robustness_checks
    if [ "$mode" = user ]; then
        hotplug_checks
    else
        echo "ok - $t: vCPU hot-add # SKIP kernel mode: KVM answers CPU_ON itself (refusal checked below)"
    fi
    power_checks
    wait
}

kernel_max_cpus_refused() {
    pscivm run --kernel "$LAB_DIR/guest/Image-$1" --cpus 2 --max-cpus 4 --psci-mode kernel \
        --psci 1.1 > /dev/null 2> e.log
    r=$?
    check "--max-cpus with --psci-mode kernel: usage error (exit 2) saying why" \
        $([ $r -eq 2 ] && grep -q 'needs user mode' e.log; echo $?) "exit $r: $(head -n1 e.log)"
}

case $LAB_HOST in
6.1)
    control 6.1 kernel 1.1
    kernel_max_cpus_refused 6.1
    ;;
6.12)
    control 6.12 user 1.3
    ;;
*)
    control "$LAB_HOST" user 1.3
    # Kernel mode: the 6.1 host in make check, here in the long tier.
    if [ "${LAB_TIER:-check}" = long ]; then control "$LAB_HOST" kernel 1.3; fi
    kernel_max_cpus_refused "$LAB_HOST"
    ;;
esac
