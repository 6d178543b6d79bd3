# lab/scenarios/lib/hibernate.sh — sourced by the hibernation scenarios (70-hibernate,
# 75-hibernate-cross) after guest-ctl.sh: a guest whose first act is the resume hook, and
# helpers that run it as a `pscivm run --vm` VM. Not a scenario itself.
#
# The guest (script disk, vda): wait for vdb, write its major:minor to /sys/power/resume (with a
# valid image there the kernel resumes it and this shell never continues), swap on vdb (made
# with mkswap on the host), then guest-ctl.sh's command server. A fresh boot says
# "CTL-READY fresh"; a resumed guest goes on inside the command that hibernated it.

make_hib_script_disk() { # make_hib_script_disk IMG
    { cat <<'GUEST'
#!/bin/sh
stty -echo 2>/dev/null
i=0
while [ ! -e /sys/block/vdb/dev ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
cat /sys/block/vdb/dev > /sys/power/resume 2>/dev/null
swapon /dev/vdb 2>/dev/null || { mkswap /dev/vdb > /dev/null 2>&1; swapon /dev/vdb; }
echo "CTL-READY fresh"
GUEST
    ctl_server_loop; } > hib-guest.sh
    dd if=/dev/zero of="$1" bs=1024 count=64 2>/dev/null
    dd if=hib-guest.sh of="$1" conv=notrunc 2>/dev/null
}

make_swap() { # make_swap IMG MiB
    dd if=/dev/zero of="$1" bs=1M count="$2" 2>/dev/null
    mkswap "$1" > /dev/null 2>&1
}

# vm_start [OPTIONS...] — pscivm run --vm "$VMDIR" with the console in con.log, input from fd 3,
# events in ev, QMP events in qmp.log; returns once the guest's server answers ("fresh") or
# the resumed one finishes the pending command (seq_no). $boot: fresh|resumed|none.
vm_start() {
    rm -f ev con.log err.log qmp.sock in.fifo qmp.log
    mkfifo in.fifo
    pscivm run --vm "$VMDIR" --events ev --qmp "$PWD/qmp.sock" --timeout 900 "$@" \
        < in.fifo > con.log 2> err.log &
    vm=$!
    exec 3> in.fifo
    i=0
    while [ ! -S qmp.sock ] && [ $i -lt 100 ] && kill -0 "$vm" 2>/dev/null; do sleep 0.1; i=$((i + 1)); done
    pscivm ctl "$PWD/qmp.sock" events > qmp.log 2>/dev/null &
    boot=none
    if wait_line "^CTL-READY fresh|^CTL-DONE $seq_no " 300; then
        if grep -aq '^CTL-READY fresh' con.log; then boot=fresh; else boot=resumed; fi
    fi
}

# hibernate — `echo disk > /sys/power/state` in the guest; waits for pscivm; $rc its status.
hibernate() {
    gsend 'echo disk > /sys/power/state'
    i=0
    while kill -0 "$vm" 2>/dev/null && [ $i -lt 3000 ]; do sleep 0.1; i=$((i + 1)); done
    kill -0 "$vm" 2>/dev/null && kill -TERM "$vm"
    wait "$vm"; rc=$?
    exec 3>&-
}

vm_state() { pscivm status "$VMDIR" 2>&1; }
