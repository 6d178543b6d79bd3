#!/bin/sh
# 75-hibernate-cross.sh — a hibernated --vm VM resumed on another host kernel (issue 11), user
#   mode, PSCI 1.3, a Debian 7.2 guest with 2 vCPUs and 512 MiB; the VM's directory, kernel,
#   initrd, script and swap disks on the lab's carry disk (/lab/carry, shared by every host boot
#   of one lab/check, so the files keep their identities):
#   pass 1 on 6.12: the VM is created, records its PSCI view (debugfs psci) and a 64 MiB tmpfs
#     checksum, hibernates (exit 4, status hibernated);
#   pass 1 on 7.2: the same `pscivm run --vm DIR` resumes it (6.12 -> 7.2): the checksum and the
#     PSCI view (version and every PSCI_FEATURES answer) unchanged; it hibernates again;
#   pass 2 on 6.12 (lab/check's second pass): resumed again (7.2 -> 6.12), the same checks,
#     then poweroff: exit 0, status off.
#   Run alone on one host (no hibernated VM from the other), the resume steps are skipped.
#   Passed in the lab on 2026-12-05 (13 of 13: 6.12 -> 7.2 -> 6.12). In the long tier for make
#   check's time: it adds a 6.12 boot (the second pass) and about 4 minutes.
# tier: long
# hosts: 6.12 7.2
# second-pass: 6.12
# timeout: 900

. "$SCENARIO_DIR/lib/guest-ctl.sh"
. "$SCENARIO_DIR/lib/hibernate.sh"
trap '' PIPE

if [ ! -d /lab/carry ]; then
    echo "ok - cross-host hibernation # SKIP no carry disk (/lab/carry): run through lab/check"
    exit 0
fi
dir=/lab/carry/hib
mkdir -p "$dir"
cd "$dir" || exit 1
pass=${LAB_PASS:-1}
VMDIR=$dir/vm
PSCI_VIEW='mount -t debugfs none /sys/kernel/debug 2>/dev/null; cat /sys/kernel/debug/psci'

resume_check() { # resume_check FROM
    t="cross-host hibernation $1 -> $LAB_HOST (user mode, guest 7.2)"
    if [ "$(vm_state)" != hibernated ] || [ "$(cat from 2>/dev/null)" != "$1" ]; then
        echo "ok - $t # SKIP no VM hibernated on host $1 in this lab run (lab/check with both hosts makes one)"
        return 1
    fi
    seq_no=$(cat seq)
    vm_start
    check "$t: the same pscivm run --vm resumes it" $([ "$boot" = resumed ]; echo $?) \
        "boot $boot; $(head -c 400 err.log)"
    [ "$boot" = resumed ] || { kill -TERM "$vm" 2>/dev/null; wait "$vm"; return 1; }
    grep -q '"event":"vm_start".*"psci":"1.3".*"hibernation":"resume"' ev
    check "$t: vm_start: PSCI 1.3, hibernation resume" $? "$(grep vm_start ev)"
    gcmd "$PSCI_VIEW"
    view=$(echo "$gout" | tr -d '\r')
    check "$t: the guest's PSCI version and PSCI_FEATURES answers are unchanged" \
        $([ -n "$view" ] && [ "$view" = "$(cat psci-view.txt)" ]; echo $?) \
        "before '$(tr '\n' ';' < psci-view.txt)', now '$(echo "$view" | tr '\n' ';')'"
    gcmd 'md5sum /tmp/blob | cut -d" " -f1'
    check "$t: 64 MiB of tmpfs unchanged" $([ "$gout" = "$(cat blob.md5)" ]; echo $?) \
        "before $(cat blob.md5), after '$gout'"
    return 0
}

hibernate_here() {
    echo "$((seq_no + 1))" > seq
    hibernate
    st=$(vm_state)
    check "$t: hibernates: exit 4, status hibernated" $([ "$rc" -eq 4 ] && [ "$st" = hibernated ]; echo $?) \
        "exit $rc, '$st'; $(tail -n 3 err.log)"
    echo "$LAB_HOST" > from
}

case "$LAB_HOST:$pass" in
6.12:1)
    rm -rf vm ./*.img Image initrd psci-view.txt blob.md5 from seq
    t="cross-host hibernation (host $LAB_HOST, user mode, guest 7.2)"
    cp "$LAB_DIR/guest/Image-7.2" Image && cp "$LAB_DIR/guest/initrd-7.2.img" initrd
    make_hib_script_disk script.img
    make_swap swap.img 320
    seq_no=0
    vm_start --kernel "$dir/Image" --initrd "$dir/initrd" --cmdline "console=ttyS0 quiet" \
        --cpus 2 --mem 512 --psci 1.3 --psci-mode user --disk "$dir/script.img,ro" \
        --disk "$dir/swap.img"
    check "$t: guest up" $([ "$boot" = fresh ]; echo $?) "boot $boot; $(head -c 300 err.log)"
    [ "$boot" = fresh ] || { kill -TERM "$vm" 2>/dev/null; wait "$vm"; exit 0; }
    gcmd "$PSCI_VIEW"
    echo "$gout" | tr -d '\r' > psci-view.txt
    check "$t: the guest reads its PSCI view (debugfs psci)" \
        $(grep -q 'PSCIv1.3' psci-view.txt; echo $?) "'$(tr '\n' ';' < psci-view.txt)'"
    gcmd 'dd if=/dev/urandom of=/tmp/blob bs=1M count=64 2>/dev/null && md5sum /tmp/blob | cut -d" " -f1'
    echo "$gout" > blob.md5
    hibernate_here
    ;;
7.2:1)
    resume_check 6.12 && hibernate_here
    ;;
6.12:2)
    if resume_check 7.2; then
        gsend 'sync; poweroff -f'
        finish_vm
        check "$t: poweroff: exit 0, status off" $([ "$rc" -eq 0 ] && [ "$(vm_state)" = off ]; echo $?) "exit $rc"
    fi
    ;;
esac
exit 0
