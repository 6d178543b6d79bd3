#!/bin/sh
# 80-debian.sh — a real Debian system as the guest (issue 13): the Debian trixie arm64 rootfs
#   of lab/build-rootfs (systemd, udev, logind; attached by lab/check as /lab/rootfs/debian.img)
#   boots under pscivm with the sid guest kernel, root=/dev/vda through the lab's guest initramfs,
#   to multi-user.target (time measured); `systemctl suspend` with an RTC alarm wakes up again
#   (events system_suspend then wakeup source rtc, systemd-sleep's "returned from sleep");
#   `systemctl hibernate` ends pscivm with status 4 (SYSTEM_OFF2) and the next run with
#   resume=/dev/vda resume_offset= resumes the session (a process appending to a file goes on);
#   QMP system_powerdown (the power key) makes logind power off: pscivm exits 0.
#   make check: user mode, all of it (about 6 minutes); the long tier (LAB_TIER=long) also
#   boots kernel mode to multi-user, suspends it and presses its power key. Without the image: SKIP
#   with the reason (lab/check builds it first when it is not cached).
# hosts: 7.2
# lane: side
# timeout: 3600
# needs: debian-rootfs

. "$SCENARIO_DIR/lib/guest-ctl.sh"
# Waits in host seconds: polls of a long console log under a systemd guest run far slower than
# their nominal 0.1 s (guest-ctl.sh).
CTL_CLOCK=real
# A guest that ended (pscivm's --timeout) must not kill the scenario with SIGPIPE on fd 3.
trap '' PIPE

IMG=$LAB_DIR/rootfs/debian.img
if [ ! -f "$IMG" ]; then
    echo "ok - Debian guest (host $LAB_HOST) # SKIP ${LAB_ROOTFS_SKIP:-no Debian rootfs attached (lab/check attaches it: lab/build-rootfs)}"
    exit 0
fi
sed 's/^/# rootfs: /' "$LAB_DIR/rootfs/debian.info"
off=$(sed -n 's/^resume_offset: //p' "$LAB_DIR/rootfs/debian.info")
G=$LAB_HOST   # the guest kernel: the host's own (sid's)

# The command server of guest-ctl.sh, run by the image's pscivm-script.service on ttyS0 once
# multi-user.target is reached (no state disk: a systemd guest is not reset here).
{ cat <<'GUEST'
stty -echo 2>/dev/null
echo "CTL-READY 1"
GUEST
ctl_server_loop; } > server.sh
S=$(base64 -w0 < server.sh)
SUSPENDED='"event":"system_suspend".*"outcome":"suspended"'
WAKEUP='"event":"wakeup"'

# boot_debian MODE [RESUME] — start pscivm on the image; wait for the command server.
boot_debian() {
    bd_mode=$1
    t="Debian (host $LAB_HOST, guest $G, $bd_mode mode${2:+, resumed})"
    rm -f ev con.log err.log qmp.sock in.fifo
    mkfifo in.fifo
    t0=$(now)
    pscivm run --kernel "$LAB_DIR/guest/Image-$G" --initrd "$LAB_DIR/guest/initrd-$G.img" \
        --cpus 2 --mem 512 --psci-mode "$bd_mode" --psci 1.3 --disk "$IMG" --events ev \
        --qmp "$PWD/qmp.sock" --timeout 1800 \
        --cmdline "root=/dev/vda console=ttyS0 quiet resume=/dev/vda resume_offset=$off pscivm.script=$S pscivm.after=none" \
        < in.fifo > con.log 2> err.log &
    vm=$!
    exec 3> in.fifo
    seq_no=0
}

# await_server — ping the command server until it answers. Console bytes sent while the guest
# is not reading them are lost: before a restored kernel runs again, and around a suspend,
# where the guest's 8250 driver clears the UART's receive FIFO as it resumes (a command sent
# right after the wakeup event was cut and never answered). Every 3 s; once an earlier ping was
# answered the guest runs, and the current one is waited for.
await_server() {
    ws_i=0
    while [ $ws_i -lt 200 ]; do
        CTL_QUIET=1
        gcmd 'echo pong' 3
        CTL_QUIET=
        [ "$gout" = pong ] && return 0
        if grep -aq '^CTL-OUT [0-9]* pong' con.log; then
            gcmd_wait 120
            [ "$gout" = pong ] && return 0
        fi
        kill -0 "$vm" 2>/dev/null || return 1
        ws_i=$((ws_i + 1))
    done
    return 1
}

# A first boot: multi-user, then the checks of the running system.
first_boot() {
    boot_debian "$1"
    wait_line '^CTL-READY 1' 900
    up=$?
    t1=$(now)
    secs=$(echo "$t0 $t1" | awk '{printf "%.1f", $2 - $1}')
    check "$t: systemd reaches multi-user.target (command server up after $secs s)" $up \
        "$(tail -n 5 con.log | tr -d '\r' | tr '\n' '|') $(tail -n 3 err.log)"
    [ $up -eq 0 ] || return 1
    echo "# $t: pscivm start to multi-user.target: $secs s (host clock)"
    gcmd 'systemd-analyze time; systemctl is-system-running; systemctl --failed --no-legend --plain'
    echo "$gout" | sed "s/^/# $t: /"
    # The slowest units, for reading a boot's time (docs/linux.md): only in the long tier, as
    # `systemd-analyze blame` alone takes 20-30 s of this lab's time (it asks systemd over D-Bus
    # for every unit's timestamps) and checks nothing.
    if [ "${LAB_TIER:-check}" = long ]; then
        gcmd 'systemd-analyze blame --no-pager | head -n 12' 300
        echo "$gout" | sed "s/^/# $t: /"
    fi
    gcmd 'cat /proc/1/comm; systemctl is-active multi-user.target systemd-logind systemd-udevd dbus; uname -r'
    echo "$gout" | tr '\n' ' ' | grep -q "^systemd active active active active "
    check "$t: PID 1 is systemd; multi-user, logind, udevd, dbus active" $? "'$(echo "$gout" | tr '\n' ' ')'"
    gcmd 'test -x /bin/login && test -f /etc/pam.d/login && echo login-ok; systemctl cat serial-getty@ttyS0.service | grep -c autologin'
    check "$t: the serial getty's autologin can log in (/bin/login and its PAM file, the drop-in)" \
        $([ "$(echo "$gout" | head -n1)" = login-ok ] && [ "$(echo "$gout" | sed -n 2p)" -ge 1 ]; echo $?) "'$(echo "$gout" | tr '\n' ' ')'"
    gcmd 'swapon --show=NAME,SIZE --noheadings; cat /sys/power/disk; cat /sys/power/mem_sleep'
    echo "$gout" | grep -q '^/swapfile' && echo "$gout" | grep -q '\[deep\]'
    check "$t: /swapfile is on, mem_sleep deep" $? "'$(echo "$gout" | tr '\n' ' ')'"
    return 0
}

suspend_check() {
    n_s=$(count_events "$SUSPENDED") n_w=$(count_events "$WAKEUP")
    # The alarm is armed by a systemd-sleep hook ("pre", right before the kernel suspends): an
    # alarm set before `systemctl suspend` fired before the guest slept in the first lab run
    # (systemd-sleep took longer than 25 s under load), leaving no wake source. Freezing and
    # suspending a systemd guest's devices in the emulated lab must not outlast the alarm (one
    # that fires first aborts the suspend): the hook to SYSTEM_SUSPEND took 5.5 s under QEMU 7.2
    # and 2.3 s under QEMU 10 in user mode, so 15 s there; kernel mode (slower: its boot takes
    # twice as long) keeps 30 s.
    alarm=15; [ "$mode" = user ] || alarm=30
    gcmd 'mkdir -p /usr/lib/systemd/system-sleep && printf "#!/bin/sh\n[ \"\$1\" = pre ] || exit 0\necho 0 > /sys/class/rtc/rtc0/wakealarm\necho +'$alarm' > /sys/class/rtc/rtc0/wakealarm\necho \"\$1 \$(cat /sys/class/rtc/rtc0/since_epoch)\" >> /run/pscivm-sleep.log\n" > /usr/lib/systemd/system-sleep/pscivm-rtc && chmod 755 /usr/lib/systemd/system-sleep/pscivm-rtc && cat /usr/lib/systemd/system-sleep/pscivm-rtc'
    echo "$gout" | sed "s/^/# $t: sleep hook: /"
    s0=$(now)
    gcmd 'systemctl suspend' 120
    sc=$grc
    echo "# $t: systemctl suspend: status $sc '$gout'"
    wait_events "$SUSPENDED" $((n_s + 1)) 300; a=$?
    s1=$(now)
    wait_events "$WAKEUP" $((n_w + 1)) 120; b=$?
    s2=$(now)
    echo "# $t: systemctl suspend to system_suspend $(echo "$s0 $s1" | awk '{printf "%.1f", $2 - $1}') s, to wakeup $(echo "$s0 $s2" | awk '{printf "%.1f", $2 - $1}') s"
    if [ $b -ne 0 ] && [ $a -eq 0 ]; then ctl system_wakeup > /dev/null 2>&1; fi
    src=$(grep "$WAKEUP" ev | tail -n1 | sed -n 's/.*"source":"\([a-z]*\)".*/\1/p')
    check "$t: systemctl suspend + RTC alarm: system_suspend then wakeup, source rtc" \
        $([ "$sc" -eq 0 ] && [ $a -eq 0 ] && [ $b -eq 0 ] && [ "$src" = rtc ]; echo $?) \
        "systemctl status $sc, suspended $a, woken $b, source '$src'"
    if [ $a -ne 0 ] || [ $b -ne 0 ]; then
        tail -n 8 ev | cut -c1-200 | sed "s/^/# $t: event: /"
        grep -av '^CTL-' con.log | tail -n 30 | tr -d '\r' | sed "s/^/# $t: console: /"
    fi
    await_server
    gcmd 'cat /run/pscivm-sleep.log; cat /sys/class/rtc/rtc0/since_epoch'
    echo "$gout" | sed "s/^/# $t: hook ran (RTC seconds), now: /"
    check "$t: after the wakeup the command server answers; the sleep hook ran (pre)" \
        $([ "$grc" -eq 0 ] && echo "$gout" | head -n1 | grep -q '^pre [0-9]'; echo $?) "status $grc, '$(echo "$gout" | tr '\n' ' ')'"
    gcmd 'sleep 2; journalctl -b --no-pager -o cat | grep -E "PM: suspend (entry|exit)|returned from sleep|Reached target .*Sleep|Failed to|suspend.*(abort|fail)|Freezing|wakeup"' 600
    echo "$gout" | sed "s/^/# $t: journal: /"
    echo "$gout" | grep -q 'PM: suspend entry (deep)' && echo "$gout" | grep -q 'returned from sleep'
    check "$t: the journal shows PM: suspend entry (deep) and systemd-sleep returned" $? "'$(echo "$gout" | tr '\n' '|')'"
}

powerdown_check() {
    out=$(ctl system_powerdown 2>&1); r=$?
    finish_vm_in 180
    grep -q '"event":"system_off"' ev
    check "$t: QMP system_powerdown: logind powers off, pscivm exits 0" \
        $([ $r -eq 0 ] && [ "$rc" -eq 0 ] && grep -q '"event":"system_off"' ev; echo $?) \
        "ctl exit $r '$out', pscivm exit $rc, last events: $(tail -n 2 ev | cut -c1-80 | tr '\n' ' ')"
    grep -aq 'Power-Off\|reboot: Power down' con.log
    check "$t: the console shows systemd's power-off" $? "$(tail -n 3 con.log | tr -d '\r' | tr '\n' '|')"
}

# finish_vm_in SECONDS — like finish_vm with a longer wait; $rc = pscivm's exit status.
finish_vm_in() {
    fv_i=0 fv_lim=$((${1:-60} * 10))
    while kill -0 "$vm" 2>/dev/null && [ $fv_i -lt $fv_lim ]; do sleep 0.1; fv_i=$((fv_i + 1)); done
    kill -0 "$vm" 2>/dev/null && kill -TERM "$vm"
    wait "$vm"; rc=$?
    exec 3>&-
    sed 's/^/# stderr: /' err.log | head -n 20
}

hibernate_check() {
    gcmd 'rm -f /root/counter; (i=0; while :; do i=$((i + 1)); echo $i >> /root/counter; sleep 1; done) < /dev/null > /dev/null 2>&1 & echo $!; sleep 3; tail -n 1 /root/counter'
    pid=$(echo "$gout" | head -n1) before=$(echo "$gout" | sed -n 2p)
    gsend 'systemctl hibernate'
    finish_vm_in 600
    grep -q '"event":"system_off2"' ev
    check "$t: systemctl hibernate: SYSTEM_OFF2, pscivm exits 4" \
        $([ $? -eq 0 ] && [ "$rc" -eq 4 ]; echo $?) "exit $rc, last events: $(tail -n 2 ev | cut -c1-100 | tr '\n' ' ')"
    [ "$rc" -eq 4 ] || return 1
    boot_debian user resumed
    await_server
    rs=$(now)
    echo "# $t: pscivm start to the resumed command server answering: $(echo "$t0 $rs" | awk '{printf "%.1f", $2 - $1}') s"
    gcmd "tail -n 1 /root/counter; sleep 3; tail -n 1 /root/counter; kill -0 $pid && echo alive; dmesg | grep -m1 'PM: hibernation: hibernation exit' | cut -c1-120; true" 600
    a=$(echo "$gout" | sed -n 1p) b=$(echo "$gout" | sed -n 2p)
    grep -aq '^CTL-READY' con.log; fresh=$?
    echo "# $t: counter $before before, $a then $b after the resume; $(echo "$gout" | sed -n 4p)"
    check "$t: the next run resumes the session (same command server, pid $pid still appending)" \
        $([ "$grc" -eq 0 ] && [ $fresh -ne 0 ] && [ "${a:-0}" -ge "${before:-1}" ] && [ "${b:-0}" -gt "${a:-0}" ] \
          && echo "$gout" | grep -q alive; echo $?) \
        "status $grc, new boot: $([ $fresh -eq 0 ] && echo yes || echo no), '$(echo "$gout" | tr '\n' '|')' $(tail -n 3 err.log)"
    # Linux 7.2 logs the restore in the resumed kernel as "PM: hibernation: hibernation exit"
    # (its "Image restored" line is a pm_pr_dbg, off by default); a fresh boot has no such line.
    echo "$gout" | sed -n 4p | grep -q 'PM: hibernation: hibernation exit'
    check "$t: the resumed kernel logs PM: hibernation: hibernation exit" $? "'$(echo "$gout" | tr '\n' '|')'"
}

# make check: user mode does the whole sequence; the long tier (LAB_TIER=long, make check-long)
# also boots kernel mode, suspends it and powers it off (KVM's PSCI under systemd: a Debian boot
# there takes about 135 s of make check's 30 minutes; 30-linux, 40-control and 50-suspend boot
# Linux in kernel mode on 6.1 in make check).
modes=user
[ "${LAB_TIER:-check}" = long ] && modes="user kernel"
for mode in $modes; do
    if first_boot $mode; then
        [ $mode = user ] || [ "${LAB_TIER:-check}" = long ] && suspend_check
        [ $mode = user ] && hibernate_check
        powerdown_check
    else
        ctl quit > /dev/null 2>&1
        finish_vm_in 30
    fi
    wait
done
