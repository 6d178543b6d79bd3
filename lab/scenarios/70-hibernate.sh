#!/bin/sh
# 70-hibernate.sh — hibernation as a state of a VM kept with `pscivm run --vm DIR` (issue 11),
# Debian 7.2 guest, 2 vCPUs, 512 MiB, PSCI 1.3, a swap disk made on the host (mkswap):
#   the first run creates DIR/vm.json; `echo disk > /sys/power/state` -> SYSTEM_OFF2 -> exit 4,
#   events system_off2 + hibernation_recorded, QMP SHUTDOWN reason guest-hibernate, `pscivm
#   status DIR` hibernated; the next run (no machine options: the definition gives them) resumes
#   the guest — its script writes the swap device to /sys/power/resume first thing — with a
#   checksum of 64 MiB of tmpfs intact; several cycles; a SYSTEM_OFF clears the record; a
#   second run of a running VM is refused; after another hibernation every changed start
#   (--cpus, --mem, --psci, a disk resized, two at once) is refused with exit 10 listing the
#   differences; --discard-hibernation boots (event hibernation_discarded).
#   7.2 host: user and kernel mode (kernel: KVM's SYSTEM_OFF2, type not readable; kernel mode
#   in the long tier only, make check-long); 6.12: user
#   mode (kernel mode SKIPs: KVM offers PSCI 1.1 there, no SYSTEM_OFF2); 6.1: a VM whose
#   definition says PSCI 1.3 in kernel mode is refused, naming 1.3 and the host's 1.1.
# Cycles: the issue asks for 10 in a row. The emulated lab takes 70-110 s a cycle in user mode
# and 130-170 s in kernel mode (measured on 7.2), so make check (LAB_TIER check: it has to stay
# near 30 minutes) runs 2 per configuration and make check-long (LAB_TIER=long) 10; HIB_CYCLES
# overrides the count, and no new cycle starts once HIB_BUDGET seconds of cycling are used
# (check: 300, long: 2400 per configuration). The TAP line says how many ran.
# make check: 6.1 (the refusal) and 7.2 (user mode); 6.12 and 7.2 kernel mode: make check-long.
# hosts: 6.1 6.12 7.2
# hosts-check: 6.1 7.2
# timeout: 5400

. "$SCENARIO_DIR/lib/guest-ctl.sh"
if [ "${LAB_TIER:-check}" = long ]; then
    cycles_max=${HIB_CYCLES:-10} budget=${HIB_BUDGET:-2400}
else
    cycles_max=${HIB_CYCLES:-2} budget=${HIB_BUDGET:-300}
fi

. "$SCENARIO_DIR/lib/hibernate.sh"
make_hib_script_disk script.img
VMDIR=$PWD/vm
G=7.2
KOPTS="--kernel $LAB_DIR/guest/Image-$G --initrd $LAB_DIR/guest/initrd-$G.img"

# refuse NAME PATTERN OPTIONS... — a start of the hibernated VM with OPTIONS exits 10 and its
# stderr matches every part of PATTERN (| separated, each a grep pattern).
refuse() {
    rf_name=$1 rf_pat=$2; shift 2
    pscivm run --vm "$PWD/vm" --console none --timeout 60 "$@" > /dev/null 2> refuse.log < /dev/null
    r=$?
    ok=0
    [ "$r" -eq 10 ] || ok=1
    old_ifs=$IFS; IFS='|'
    for p in $rf_pat; do grep -q -- "$p" refuse.log || ok=1; done
    IFS=$old_ifs
    check "$t: hibernated, $rf_name: refused with exit 10 listing the difference" $ok \
        "exit $r: $(tr '\n' ' ' < refuse.log | cut -c1-400)"
}

run_config() { # run_config MODE
    mode=$1
    t="hibernate (host $LAB_HOST, guest $G, $mode mode)"
    rm -rf vm swap.img
    make_swap swap.img 320
    seq_no=0
    vm_start $KOPTS --cmdline "console=ttyS0 quiet" --cpus 2 --mem 512 --psci 1.3 \
        --psci-mode "$mode" --disk "$PWD/script.img,ro" --disk "$PWD/swap.img"
    check "$t: the first run creates vm/vm.json and boots" \
        $([ "$boot" = fresh ] && grep -q '"version": "1.3"' vm/vm.json; echo $?) \
        "boot $boot; $(head -c 300 err.log)"
    [ "$boot" = fresh ] || { kill -TERM "$vm" 2>/dev/null; wait "$vm"; return; }
    st=$(vm_state)
    check "$t: pscivm status says running while it runs" $([ "$st" = running ]; echo $?) "'$st'"
    pscivm run --vm "$PWD/vm" --console none --timeout 5 > /dev/null 2> second.log < /dev/null
    r=$?
    check "$t: a second run of the running VM is refused (exit 1, names the pid)" \
        $([ $r -eq 1 ] && grep -q "running (pscivm pid $vm" second.log; echo $?) "exit $r: $(cat second.log)"
    gcmd 'dd if=/dev/urandom of=/tmp/blob bs=1M count=64 2>/dev/null && md5sum /tmp/blob | cut -d" " -f1'
    sum0=$gout
    echo "# $t: 64 MiB tmpfs checksum $sum0"
    n=0 lost= start=$(now)
    while [ $n -lt "$cycles_max" ]; do
        c0=$(now)
        hibernate
        if [ "$rc" -ne 4 ]; then lost="cycle $((n + 1)): pscivm exit $rc, not 4"; break; fi
        if [ $n -eq 0 ]; then
            check "$t: echo disk > /sys/power/state: pscivm exits 4" 0
            st=$(vm_state)
            check "$t: pscivm status says hibernated" $([ "$st" = hibernated ]; echo $?) "'$st'"
            js=$(pscivm status "$PWD/vm" --json 2>&1)
            echo "$js" | grep -q '"state":"hibernated"'
            check "$t: pscivm status --json has state hibernated" $? "$js"
            grep -q '"event":"system_off2"' ev && grep -q '"event":"hibernation_recorded"' ev
            check "$t: events system_off2 and hibernation_recorded" $? "$(grep -E 'off2|hibernation' ev | tr '\n' ' ')"
            grep -q '"event": *"SHUTDOWN".*"reason": *"guest-hibernate"' qmp.log
            check "$t: QMP SHUTDOWN with reason guest-hibernate" $? "$(grep SHUTDOWN qmp.log)"
            if [ "$mode" = kernel ]; then
                grep -q '"event":"system_off2".*"type_read":false' ev && grep -q '"off2_type": null' vm/hibernation.json
                check "$t: kernel mode: the event and the record say the OFF2 type was not readable" $? "$(grep off2 ev) / $(grep off2_type vm/hibernation.json)"
            else
                # HIBERNATE_OFF is 1, and 0 its alias (DEN0022F.b); Linux 7.2 passes 0.
                ty=$(sed -n 's/.*"event":"system_off2".*"type":\([0-9]*\).*/\1/p' ev)
                grep -q "\"off2_type\": $ty," vm/hibernation.json; okr=$?
                check "$t: user mode: the OFF2 type (HIBERNATE_OFF or its alias 0: '$ty') in the event and the record" \
                    $([ $okr -eq 0 ] && { [ "$ty" = 0 ] || [ "$ty" = 1 ]; }; echo $?) "$(grep off2 ev) / $(grep off2_type vm/hibernation.json)"
            fi
        fi
        vm_start
        if [ "$boot" != resumed ]; then lost="cycle $((n + 1)): the next run did not resume (boot $boot; $(head -c 200 err.log))"; break; fi
        gcmd 'md5sum /tmp/blob | cut -d" " -f1'
        if [ "$gout" != "$sum0" ]; then lost="cycle $((n + 1)): checksum '$gout', was '$sum0'"; break; fi
        n=$((n + 1))
        echo "# $t: cycle $n resumed, checksum intact ($(echo "$c0 $(now)" | awk '{printf "%.0f", $2 - $1}') s)"
        if [ $n -eq 1 ]; then
            grep -q '"event":"vm_start".*"hibernation":"resume"' ev
            check "$t: the resuming run's vm_start says hibernation resume" $? "$(grep vm_start ev)"
        fi
        used=$(echo "$start $(now)" | awk '{printf "%.0f", $2 - $1}')
        [ "$used" -ge "$budget" ] && break
    done
    check "$t: $n hibernate/resume cycles in a row (of $cycles_max asked), 64 MiB tmpfs checksum intact" \
        $([ -z "$lost" ] && [ $n -ge 1 ]; echo $?) "${lost:-none}"
    [ -z "$lost" ] || { kill -TERM "$vm" 2>/dev/null; wait "$vm"; return; }
    if [ $n -lt "$cycles_max" ]; then
        echo "# $t: stopped after $n cycles: the ${budget} s budget of this configuration was used"
    fi
    # A SYSTEM_OFF clears the record.
    gsend 'sync; poweroff -f'
    finish_vm
    st=$(vm_state)
    check "$t: SYSTEM_OFF of the resumed guest: exit 0, status off, event hibernation_cleared" \
        $([ "$rc" -eq 0 ] && [ "$st" = off ] && [ ! -e vm/hibernation.json ] && grep -q hibernation_cleared ev; echo $?) \
        "exit $rc, status '$st'"
    # Hibernate once more from a fresh boot, then try to start it changed.
    vm_start
    [ "$boot" = fresh ] || { check "$t: a fresh boot after the power-off" 1 "boot $boot"; kill -TERM "$vm"; wait "$vm"; return; }
    hibernate
    [ "$rc" -eq 4 ] || { check "$t: hibernated again" 1 "exit $rc"; return; }
    refuse "--cpus 3" 'vcpus.count: 2 recorded, 3 now' --cpus 3
    refuse "--mem 768" 'memory.mib: 512 recorded, 768 now' --mem 768
    refuse "--psci 1.2" 'psci.version: 1.3 recorded, 1.2 now' --psci 1.2
    refuse "--cpus 3 --mem 768 (both listed)" 'vcpus.count: 2 recorded, 3 now|memory.mib: 512 recorded, 768 now' --cpus 3 --mem 768
    pscivm run --vm "$PWD/vm" --cpus 3 --update --console none > /dev/null 2> refuse.log < /dev/null
    r=$?
    check "$t: hibernated, --update is refused (exit 2)" $([ $r -eq 2 ]; echo $?) "exit $r: $(cat refuse.log)"
    dd if=/dev/zero bs=1M count=1 >> swap.img 2>/dev/null
    refuse "its swap disk grown by 1 MiB" 'disks\[1\].size'
    st=$(vm_state)
    check "$t: still hibernated after the refusals" $([ "$st" = hibernated ]; echo $?) "'$st'"
    vm_start --discard-hibernation
    grep -q '"event":"hibernation_discarded"' ev && grep -q '"hibernation":"discarded"' ev
    d=$?
    check "$t: --discard-hibernation boots it (guest up: $boot), event hibernation_discarded" \
        $([ "$boot" != none ] && [ $d -eq 0 ] && [ ! -e vm/hibernation.json ]; echo $?) "boot $boot; $(grep -E 'vm_start|hibernation' ev | tr '\n' ' '); $(head -c 300 err.log)"
    gsend 'sync; poweroff -f'
    finish_vm
    st=$(vm_state)
    check "$t: then SYSTEM_OFF: exit 0, status off" $([ "$rc" -eq 0 ] && [ "$st" = off ]; echo $?) "exit $rc, '$st'"
}

case $LAB_HOST in
6.1)
    # A definition made on a 7.2 host in kernel mode (PSCI 1.3), brought to this host (no SMCCC
    # filter, KVM's PSCI 1.1): refused, naming both, not silently downgraded. Made here from a
    # payload VM created with PSCI 1.1, then edited as that other host would have written it.
    t="hibernate (host $LAB_HOST)"
    pscivm run --vm "$PWD/vm" --payload "$LAB_DIR/payloads/psci_conformance.bin" --psci 1.1 \
        --psci-mode kernel --console none --timeout 20 > /dev/null 2> err.log < /dev/null
    if [ ! -f vm/vm.json ]; then
        check "$t: a kernel-mode VM with PSCI 1.1 is created" 1 "$(head -c 300 err.log)"
    else
        sed -i 's/"version": "1.1"/"version": "1.3"/; s/"SYSTEM_OFF2": false/"SYSTEM_OFF2": true/' vm/vm.json
        pscivm run --vm "$PWD/vm" --console none --timeout 20 > /dev/null 2> err.log < /dev/null
        r=$?
        check "$t: a VM defined with PSCI 1.3 (kernel mode) is refused, naming 1.3 and the host's 1.1" \
            $([ $r -eq 1 ] && grep -q 'PSCI 1.3' err.log && grep -q 'up to 1.1' err.log && grep -q 'neither mode' err.log; echo $?) \
            "exit $r: $(cat err.log)"
        sed -i 's/"mode": "kernel"/"mode": "auto"/' vm/vm.json
        pscivm run --vm "$PWD/vm" --console none --timeout 20 > /dev/null 2> err.log < /dev/null
        r=$?
        check "$t: in auto mode too (no SMCCC filter here): refused, naming both modes' limits" \
            $([ $r -eq 1 ] && grep -q 'SMCCC filter' err.log && grep -q 'up to 1.1' err.log; echo $?) "exit $r: $(cat err.log)"
    fi
    echo "ok - hibernate (host 6.1): hibernate/resume cycles # SKIP no PSCI 1.3 with SYSTEM_OFF2 on this host (no SMCCC filter, KVM offers 1.1)"
    ;;
6.12)
    run_config user
    echo "ok - hibernate (host 6.12, kernel mode) # SKIP KVM on 6.12 offers PSCI 1.1: no SYSTEM_OFF2 in kernel mode"
    ;;
*)
    run_config user
    # Kernel mode adds ~10 minutes in the emulated lab (130-170 s a cycle plus the refusals):
    # make check-long runs it, make check keeps to its budget.
    if [ "${LAB_TIER:-check}" = long ]; then
        run_config kernel
    else
        echo "# hibernate (host $LAB_HOST, kernel mode): in the long tier (make check-long)"
    fi
    ;;
esac
