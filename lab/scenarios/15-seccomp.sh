#!/bin/sh
# 15-seccomp.sh — the --seccomp allow-list (docs/seccomp.md) on the real kernel: a default run
# (kill) of a payload is unharmed and says so; the self-test (PSCIVM_SECCOMP_SELFTEST=1: a
# socket(AF_INET) right after the filter is in) kills pscivm with SIGSYS (shell status 159) under
# kill, for `run` and `restore` alike; under log the same call is allowed and the kernel logs it
# (audit type=1326, syscall 198 = socket on arm64); off lets it through silently; a bad word is a
# usage error. Ends with a marker in the kernel log that 99-seccomp-audit.sh starts from.
# hosts: 6.1 6.12 7.2
# asan: 7.2
# timeout: 180

. "$SCENARIO_DIR/lib/payload.sh"
run() { # run [ENV=..] ARGS...: pscivm run on the bench payload; stderr -> err, status -> $rc
    timeout 120 env "$@" > out 2> err < /dev/null
    rc=$?
}
audit_lines() { dmesg | grep 'type=1326' | grep -c "$1"; }

run pscivm run --payload "$BENCH" --cmdline calls=10 --timeout 60
check "default run (seccomp kill): exits 0 (SYSTEM_OFF)" "$rc" 0
has "default run reports the filter" err "seccomp kill (5[0-9] system calls, [0-9]* ioctl requests)"
echo "# $(grep 'seccomp' err | head -n1)"

run PSCIVM_SECCOMP_SELFTEST=1 pscivm run --payload "$BENCH" --cmdline calls=10 --timeout 60
check "self-test under kill: pscivm dies of SIGSYS (status 159)" "$rc" 159
has "self-test under kill: it got as far as the forbidden call" err "calling socket(AF_INET)"
if grep -q "socket(AF_INET) returned" err; then
    echo "not ok - self-test under kill: socket() returned: $(grep returned err)"
else
    echo "ok - self-test under kill: socket() never returned"
fi

before=$(audit_lines 'syscall=198 ')
run PSCIVM_SECCOMP_SELFTEST=1 pscivm run --payload "$BENCH" --cmdline calls=10 --timeout 60 --seccomp log
check "self-test under log: the run goes on and exits 0" "$rc" 0
has "self-test under log: socket() was allowed" err "socket(AF_INET) returned a descriptor (--seccomp log)"
sleep 1 # kauditd prints asynchronously
after=$(audit_lines 'syscall=198 ')
check "self-test under log: the kernel logged it (audit type=1326, syscall=198)" \
    "$([ "$after" -gt "$before" ] && echo yes)" yes
dmesg | grep 'type=1326' | grep 'syscall=198 ' | tail -n1 | sed 's/^/# /'

run PSCIVM_SECCOMP_SELFTEST=1 pscivm run --payload "$BENCH" --cmdline calls=10 --timeout 60 --seccomp off
check "self-test under off: exits 0" "$rc" 0
has "self-test under off: socket() was allowed" err "socket(AF_INET) returned a descriptor (--seccomp off)"

run pscivm run --payload "$BENCH" --seccomp trap
check "--seccomp trap: usage error (exit 2)" "$rc" 2
has "--seccomp trap: says why" err "'trap' is not kill, log or off"

# restore: the same filter. A snapshot of the bench payload (user mode needs the SMCCC filter).
if pscivm info --json 2>/dev/null | grep -q '"smccc_filter":true'; then
    pscivm run --payload "$BENCH" --cmdline calls=1000000000 --cpus 1 --qmp q.sock \
        --timeout 120 > /dev/null 2> run.err < /dev/null &
    vm=$!
    i=0; while [ ! -S q.sock ] && [ $i -lt 100 ]; do sleep 0.2; i=$((i + 1)); done
    pscivm ctl q.sock snapshot-save file="$PWD/vm.snap" then=quit > save.out 2>&1
    wait $vm; src=$?
    check "snapshot-save then=quit under the default filter: exit 9" "$src" 9
    run PSCIVM_SECCOMP_SELFTEST=1 pscivm restore vm.snap --timeout 60
    check "restore self-test under kill: pscivm dies of SIGSYS (status 159)" "$rc" 159
    run pscivm restore vm.snap --timeout 8
    check "restore under kill: runs until its --timeout (exit 5)" "$rc" 5
    has "restore reports the filter" err "seccomp kill (5[0-9] system calls"
else
    echo "ok - restore under the filter # SKIP no SMCCC filter on $(uname -r): no user-mode snapshot here"
fi
echo "pscivm-lab: 15-seccomp self-tests done" > /dev/kmsg
