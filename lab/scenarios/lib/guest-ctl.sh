# lab/scenarios/lib/guest-ctl.sh — sourced by the Linux-guest scenarios that drive a guest step
# by step (40-control, 50-suspend, 60-snapshot ...): a command server for the guest's console, and the host-side
# helpers that start pscivm with it, send it commands, talk QMP and wait for console lines.
# Not a scenario itself (run-scenarios only runs lab/scenarios/*.sh).
#
# The guest: a command server on the console. Each input line "N CMD" runs CMD and answers
# "CTL-OUT N <line>" per output line and "CTL-DONE N <status>". Its first boot says
# CTL-READY 1, the second (after a reset) CTL-READY 2 (state in the first sector of vdb).
# Variables these helpers set: vm (pscivm's pid), t (the test name prefix), grc/gout (gcmd),
# rc (finish_vm); their loop counters have their own names so callers' loops are safe.

check() { # check DESCRIPTION CONDITION-STATUS [DETAIL]
    if [ "$2" -eq 0 ]; then echo "ok - $1"; else echo "not ok - $1${3:+: $3}"; fi
}

# ctl_server_loop — the guest side's command loop (the text every guest script ends with; the
# scripts before it differ in how they start: state disk, resume hook, systemd unit).
ctl_server_loop() {
    cat <<'GUEST'
while read -r n cmd; do
    [ -n "$n" ] || continue
    eval "$cmd" > /tmp/ctl.out 2>&1
    rc=$?
    sed "s/^/CTL-OUT $n /" /tmp/ctl.out
    echo "CTL-DONE $n $rc"
done
GUEST
}

# make_script_disk — script.img: the command server as the guest's first disk.
make_script_disk() {
    { cat <<'GUEST'
#!/bin/sh
stty -echo 2>/dev/null
state=$(dd if=/dev/vdb bs=512 count=1 2>/dev/null | tr -d '\000' | head -c 8)
boot=1
[ "$state" = BOOT1 ] && boot=2
echo BOOT1 | dd of=/dev/vdb bs=512 count=1 conv=sync,notrunc 2>/dev/null
sync
echo "CTL-READY $boot"
GUEST
    ctl_server_loop; } > guest.sh
    dd if=/dev/zero of=script.img bs=1024 count=64 2>/dev/null
    dd if=guest.sh of=script.img conv=notrunc 2>/dev/null
}

seq_no=0
# wait_line PATTERN [SECONDS] — wait until con.log has a line matching PATTERN (grep -E).
# The waits below count their SECONDS in polls of 0.1 s (wait_events: 0.05 s), each of which
# forks a grep: in the emulated lab under a busy guest a poll takes several times its nominal
# length, which earlier scenarios' limits were measured with. CTL_CLOCK=real makes SECONDS the
# host's clock instead (read from /proc/uptime without a fork): the Debian guest's scenario
# uses it, where a long console log and a systemd guest made "300 s" last over 15 minutes.
ctl_deadline() { # ctl_deadline SECONDS — set ctl_end (only with CTL_CLOCK=real)
    [ "${CTL_CLOCK:-}" = real ] || return 0
    read -r ctl_up _ < /proc/uptime
    ctl_end=$((${ctl_up%.*} + $1))
}
ctl_expired() { # ctl_expired COUNT LIMIT — true when the wait is over
    if [ "${CTL_CLOCK:-}" = real ]; then
        read -r ctl_up _ < /proc/uptime
        [ "${ctl_up%.*}" -ge "$ctl_end" ]
    else
        [ "$1" -ge "$2" ]
    fi
}
wait_line() {
    wl_i=0 wl_lim=$((${2:-60} * 10))
    ctl_deadline "${2:-60}"
    while ! ctl_expired $wl_i $wl_lim; do
        grep -aEq "$1" con.log 2>/dev/null && return 0
        kill -0 "$vm" 2>/dev/null || { grep -aEq "$1" con.log 2>/dev/null; return; }
        sleep 0.1; wl_i=$((wl_i + 1))
    done
    grep -aEq "$1" con.log 2>/dev/null
}
# gcmd CMD [SECONDS] — run CMD in the guest; $grc = its status (255: no answer), $gout = output.
gcmd() { gsend "$1"; gcmd_wait "${2:-120}"; }
# gsend CMD — send CMD without waiting; gcmd_wait [SECONDS] then collects it like gcmd.
# A command left unanswered is said as a comment (a lost command otherwise only shows as a
# scenario taking its timeout longer); CTL_QUIET=1 silences that where no answer is expected.
gsend() { seq_no=$((seq_no + 1)); ctl_sent=$1; echo "$seq_no $1" >&3; }
gcmd_wait() {
    if wait_line "^CTL-DONE $seq_no " "${1:-120}"; then
        grc=$(grep -a "^CTL-DONE $seq_no " con.log | tr -d '\r' | head -n1 | cut -d' ' -f3)
        gout=$(grep -a "^CTL-OUT $seq_no " con.log | tr -d '\r' | cut -d' ' -f3-)
    else
        grc=255 gout=
        [ -n "${CTL_QUIET:-}" ] || echo "# no answer from the guest within ${1:-120} s to command $seq_no: $(echo "$ctl_sent" | cut -c1-100)"
    fi
}
ctl() { pscivm ctl "$PWD/qmp.sock" "$@"; }
now() { cut -d' ' -f1 /proc/uptime; }
status_is() { ctl query-status 2>&1 | grep -q "\"status\": *\"$1\""; }
# count_events PATTERN — lines of the --events file ev matching PATTERN (grep -E).
count_events() { grep -Ec "$1" ev 2>/dev/null; }
# wait_events PATTERN N [SECONDS] — until ev has at least N lines matching PATTERN.
wait_events() {
    we_i=0 we_lim=$((${3:-60} * 20))
    ctl_deadline "${3:-60}"
    while ! ctl_expired $we_i $we_lim; do
        [ "$(count_events "$1")" -ge "$2" ] && return 0
        kill -0 "$vm" 2>/dev/null || return 1
        sleep 0.05; we_i=$((we_i + 1))
    done
    [ "$(count_events "$1")" -ge "$2" ]
}

# start_vm NAME LABEL MODE PSCI EXTRA-OPTIONS... — pscivm with the command server (script.img),
# a 1 MiB data disk, --events ev, --qmp qmp.sock, console in con.log, input from fd 3.
start_vm() {
    sv_name=$1 sv_label=$2 sv_mode=$3 sv_psci=$4; shift 4
    t="$sv_name (host $LAB_HOST, guest $sv_label, $sv_mode mode)"
    rm -f data.img ev con.log err.log qmp.sock in.fifo ev?.log
    [ -f script.img ] || make_script_disk
    dd if=/dev/zero of=data.img bs=1M count=1 2>/dev/null
    mkfifo in.fifo
    pscivm run --kernel "$LAB_DIR/guest/Image-$sv_label" --initrd "$LAB_DIR/guest/initrd-$sv_label.img" \
        --mem 256 --psci-mode "$sv_mode" --psci "$sv_psci" --cmdline "console=ttyS0 quiet" \
        --disk script.img,ro --disk data.img --events ev --qmp "$PWD/qmp.sock" --timeout 800 \
        "$@" < in.fifo > con.log 2> err.log &
    vm=$!
    exec 3> in.fifo
    seq_no=0
    wait_line '^CTL-READY 1' 300
}

# The busy guest's console counter ("CNT n" lines): the last, the first, and the last complete
# line (a save can fall between the characters of a line, whose rest the restored guest prints).
last_count() { grep -a '^CNT [0-9]*' con.log | tr -d '\r' | tail -n1 | cut -d' ' -f2; }
last_complete_count() {
    if [ -n "$(tail -c1 con.log)" ]; then sed '$d' con.log; else cat con.log; fi |
        grep -a '^CNT [0-9]*' | tr -d '\r' | tail -n1 | cut -d' ' -f2
}
first_count() { grep -a '^CNT [0-9]*' con.log | tr -d '\r' | head -n1 | cut -d' ' -f2; }

# restore_vm FILE OPTIONS... — `pscivm restore FILE` with the same plumbing as start_vm (events
# in ev, QMP at qmp.sock, console in con.log, input from fd 3).
restore_vm() {
    rv_file=$1; shift
    rm -f con.log err.log qmp.sock in.fifo ev
    mkfifo in.fifo
    pscivm restore "$rv_file" --events ev --qmp "$PWD/qmp.sock" --timeout 600 "$@" \
        < in.fifo > con.log 2> err.log &
    vm=$!
    exec 3> in.fifo
}

# finish_vm — wait (up to 60 s) for pscivm to end; $rc = its exit status.
finish_vm() {
    fv_i=0
    while kill -0 "$vm" 2>/dev/null && [ $fv_i -lt 600 ]; do sleep 0.1; fv_i=$((fv_i + 1)); done
    kill -0 "$vm" 2>/dev/null && kill -TERM "$vm"
    wait "$vm"; rc=$?
    exec 3>&-
    sed 's/^/# stderr: /' err.log | head -n 20
}
