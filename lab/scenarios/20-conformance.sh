#!/bin/sh
# 20-conformance.sh — the PSCI conformance matrix: the guest suite (build/guest/
# psci_conformance.bin, TAP on the UART) under `pscivm run` with 4 vCPUs, for every PSCI version
# each mode can offer on this host: 6.1 kernel 0.2/1.0/1.1 (user mode must fail cleanly: "SMCCC
# filter not available"); 6.12 user 0.2..1.3 and kernel 0.2/1.0/1.1; 7.2 user and kernel
# 0.2..1.3 (make check: 0.2, 1.0 and the highest of each mode, kernel mode's 0.2 and 1.0 on
# 6.1 only; make check-long: all). Kernel
# versions above the host's maximum must fail with a clear error. For each
# configuration also SYSTEM_RESET, and the other terminal selections (RESET2 warm/vendor/SMC32,
# SYSTEM_OFF2 types, SYSTEM_SUSPEND resumed and denied) with their exit statuses and events at
# each mode's highest version (every version in make check-long, LAB_TIER=long),
# one in-process restart, and the robustness cases (bad CLI, oversized payload, timeout).
# CPU_ON policy: user mode with --deny-cpu-on 3 at 1.1 (INTERNAL_FAILURE) and 1.3 (DENIED), the
# guest suite told so with deny-cpus=3; kernel mode (and auto resolving to kernel) refuses it.
# Every guest TAP line is re-emitted as "ok - [MODE VERSION] description".
# make check runs it on 6.1 and 6.12 with pscivm's build, and on 7.2 in the sanitizer boot
# (each mode's highest version, the rest of the scenario unchanged); the 7.2 run with pscivm's
# build and every version is in make check-long.
# hosts: 6.1 6.12 7.2
# hosts-check: 6.1 6.12
# asan: 7.2
# timeout: 1200

P=${LAB_DIR:-/lab}/payloads
SUITE=$P/psci_conformance.bin
BENCH=$P/bench_psci.bin
CPUS=4
RUN_TIMEOUT=240

case ${LAB_HOST:-} in
6.1) user_versions=""; kernel_versions="0.2 1.0 1.1"; kernel_refused="1.2 1.3" ;;
6.12) user_versions="0.2 1.0 1.1 1.2 1.3"; kernel_versions="0.2 1.0 1.1"; kernel_refused="1.2 1.3" ;;
7.2) user_versions="0.2 1.0 1.1 1.2 1.3"; kernel_versions="0.2 1.0 1.1 1.2 1.3"; kernel_refused="" ;;
*) echo "not ok - unknown lab host '${LAB_HOST:-}'"; exit 0 ;;
esac
echo "# host $LAB_HOST ($(uname -r)): user mode [$user_versions], kernel mode [$kernel_versions]"

if [ ! -f "$SUITE" ]; then
    echo "not ok - conformance payload $SUITE is missing"
    exit 0
fi

ok() { echo "ok - $*"; }
nok() { echo "not ok - $*"; }
check() { # check DESC GOT WANT
    if [ "$2" = "$3" ]; then ok "$1"; else nok "$1: got '$2', want '$3'"; fi
}
# ver_ge A B: version A >= B (0.2 < 1.0 < ... < 1.3)
ver_ge() {
    [ "$(echo "$1 $2" | awk '{split($1, a, "."); split($2, b, "."); print (a[1] * 100 + a[2] >= b[1] * 100 + b[2]) ? 1 : 0}')" = 1 ]
}
# Events: one JSON object per line. ev_count NAME; ev_field LINE KEY.
ev_count() { grep -c "\"event\":\"$1\"" ev 2>/dev/null; }
ev_line() { grep "\"event\":\"$1\"" ev 2>/dev/null | head -n1; }
ev_field() { echo "$1" | sed -n 's/.*"'"$2"'":\("[^"]*"\|[^,}]*\).*/\1/p' | tr -d '"'; }

# pscivm_run TAG ARGS...: runs pscivm; stdout -> out, stderr -> err, events -> ev, status -> $rc
pscivm_run() {
    tag=$1; shift
    rm -f out err ev
    timeout $((RUN_TIMEOUT + 30)) pscivm run --events ev --timeout "$RUN_TIMEOUT" "$@" \
        > out 2> err < /dev/null
    rc=$?
}

# check_stream TAG MODE VERSION STATUS REASON: the event stream frames the run correctly.
check_stream() {
    first=$(head -n1 ev 2>/dev/null)
    last=$(tail -n1 ev 2>/dev/null)
    check "[$1] events: first is vm_start" "$(ev_field "$first" event)" vm_start
    check "[$1] events: vm_start mode" "$(ev_field "$first" mode)" "$2"
    check "[$1] events: vm_start psci" "$(ev_field "$first" psci)" "$3"
    check "[$1] events: vm_start host_kernel" "$(ev_field "$first" host_kernel)" "$(uname -r)"
    check "[$1] events: last is vm_exit" "$(ev_field "$last" event)" vm_exit
    check "[$1] events: vm_exit status" "$(ev_field "$last" status)" "$4"
    check "[$1] events: vm_exit reason" "$(ev_field "$last" reason)" "$5"
    if grep -q "PSCI $3, $2 mode" err; then
        ok "[$1] pscivm reports PSCI $3, $2 mode"
    else
        nok "[$1] pscivm does not report 'PSCI $3, $2 mode': $(head -n1 err)"
    fi
}

# relay_tap TAG: re-emit the guest's TAP lines; check the plan is complete.
relay_tap() {
    tr -d '\r' < out | sed -n \
        -e 's/^ok [0-9]* - \(.*\)$/ok - ['"$1"'] \1/p' \
        -e 's/^not ok [0-9]* - \(.*\)$/not ok - ['"$1"'] \1/p' \
        -e 's/^\(# .*\)$/\1/p'
    plan=$(tr -d '\r' < out | sed -n 's/^1\.\.\([0-9]*\)$/\1/p' | tail -n1)
    n=$(tr -d '\r' < out | grep -cE '^(ok|not ok) [0-9]+')
    if [ -n "$plan" ] && [ "$plan" = "$n" ] && [ "$n" -gt 0 ]; then
        ok "[$1] guest TAP plan 1..$plan complete"
    else
        nok "[$1] guest TAP incomplete: plan '${plan:-none}', $n results (last lines: $(tail -n3 out | tr '\n' '|'))"
    fi
}

# full_suite MODE VERSION: test=all, then SYSTEM_OFF (exit 0).
full_suite() {
    t="$1 $2"
    pscivm_run "$t" --payload "$SUITE" --cpus $CPUS --psci "$2" --psci-mode "$1" --on-reset exit \
        --cmdline "psci-mode=$1 expect-version=$2"
    relay_tap "$t"
    check "[$t] pscivm exit status (SYSTEM_OFF)" "$rc" 0
    check_stream "$t" "$1" "$2" 0 system_off
    if [ "$1" = user ]; then
        # pscivm sees every call in user mode: CPU_ON and CPU_OFF are in the stream.
        n=$(ev_count cpu_on); [ "${n:-0}" -ge $((CPUS - 1)) ] && ok "[$t] events: $n cpu_on" \
            || nok "[$t] events: only ${n:-0} cpu_on"
        n=$(ev_count cpu_off); [ "${n:-0}" -ge $((CPUS - 1)) ] && ok "[$t] events: $n cpu_off" \
            || nok "[$t] events: only ${n:-0} cpu_off"
        n=$(ev_count cpu_suspend); [ "${n:-0}" -ge 1 ] && ok "[$t] events: $n cpu_suspend" \
            || nok "[$t] events: no cpu_suspend"
    fi
}

# terminal MODE VERSION TEST STATUS EVENT [KEY=VALUE...] [-- EXTRA PSCIVM ARGS]
terminal() {
    m=$1 v=$2 sel=$3 want=$4 evname=$5; shift 5
    t="$m $v $sel"
    kv=""
    while [ $# -gt 0 ] && [ "$1" != -- ]; do kv="$kv $1"; shift; done
    [ "${1:-}" = -- ] && shift
    pscivm_run "$t" --payload "$SUITE" --cpus $CPUS --psci "$v" --psci-mode "$m" --on-reset exit \
        --cmdline "psci-mode=$m expect-version=$v test=$sel" "$@"
    relay_tap "$t" | grep -v 'guest TAP'   # terminal selections have no plan
    check "[$t] pscivm exit status" "$rc" "$want"
    line=$(ev_line "$evname")
    if [ -n "$line" ]; then ok "[$t] events: $evname"; else nok "[$t] events: no $evname event"; fi
    for p in $kv; do
        check "[$t] events: $evname ${p%%=*}" "$(ev_field "$line" "${p%%=*}")" "${p#*=}"
    done
    check "[$t] events: vm_exit status" "$(ev_field "$(tail -n1 ev)" status)" "$want"
}

# suspend_runs MODE VERSION: SYSTEM_SUSPEND with every other vCPU off, resumed and denied.
suspend_runs() {
    m=$1 v=$2
    t="$m $v system-suspend"
    pscivm_run "$t" --payload "$SUITE" --cpus $CPUS --psci "$v" --psci-mode "$m" \
        --cmdline "psci-mode=$m expect-version=$v test=system-suspend"
    relay_tap "$t"
    check "[$t] pscivm exit status" "$rc" 0
    line=$(ev_line system_suspend)
    check "[$t] events: system_suspend outcome" "$(ev_field "$line" outcome)" suspended
    n=$(ev_count wakeup); [ "${n:-0}" -ge 1 ] && ok "[$t] events: wakeup" || nok "[$t] events: no wakeup"
    check "[$t] events: cpu_resume context" "$(ev_field "$(ev_line cpu_resume)" context)" \
        "$(ev_field "$line" context)"

    t="$m $v system-suspend-deny"
    pscivm_run "$t" --payload "$SUITE" --cpus $CPUS --psci "$v" --psci-mode "$m" \
        --on-suspend deny --cmdline "psci-mode=$m expect-version=$v test=system-suspend expect-suspend=deny"
    relay_tap "$t"
    check "[$t] pscivm exit status" "$rc" 0
    check "[$t] events: system_suspend outcome" "$(ev_field "$(ev_line system_suspend)" outcome)" denied
}

# make check runs 0.2, 1.0 and each mode's highest version (1.1 where that is the highest); make
# check-long every version. The versions between differ from their neighbours by functions the
# highest version's suite covers as well (RESET2 at 1.1, SYSTEM_OFF2 at 1.3).
# The sanitizer boot (LAB_ASAN=1, make check's last boot) runs each mode's highest version only:
# it looks for memory errors in the code paths, which the highest version's suite all takes.
# Kernel mode's 0.2 and 1.0 (KVM's own PSCI) run in make check only on a host without user
# mode (6.1); a host that has both (6.12) runs its kernel mode at its highest version.
in_check_tier() { # in_check_tier VERSION TOP MODE
    [ "${LAB_TIER:-check}" = long ] && return 0
    [ "$1" = "$2" ] && return 0
    [ "${LAB_ASAN:-}" = 1 ] && return 1
    [ "$3" = kernel ] && [ -n "$user_versions" ] && return 1
    [ "$1" = 0.2 ] || [ "$1" = 1.0 ]
}
configs=""
for v in $user_versions; do
    in_check_tier "$v" "${user_versions##* }" user && configs="$configs user:$v" \
        || echo "# [user $v] not in this tier (make check: 0.2, 1.0 and the highest version; sanitizer boot: the highest)"
done
for v in $kernel_versions; do
    in_check_tier "$v" "${kernel_versions##* }" kernel && configs="$configs kernel:$v" \
        || echo "# [kernel $v] not in this tier (make check: 0.2, 1.0 and the highest version; sanitizer boot: the highest)"
done

# make check runs the full suite and SYSTEM_RESET at each of its versions, the other terminal
# selections at each mode's highest version; make check-long (LAB_TIER=long) at every version.
top_user=${user_versions##* } top_kernel=${kernel_versions##* }
for c in $configs; do
    m=${c%%:*} v=${c#*:}
    full_suite "$m" "$v"
    terminal "$m" "$v" system-reset 3 system_reset
    if [ "${LAB_TIER:-check}" != long ]; then
        eval "top=\$top_$m"
        [ "$v" = "$top" ] || { echo "# [$m $v] terminal selections: at $m $top here, every version in make check-long"; continue; }
    fi
    if ver_ge "$v" 1.0; then suspend_runs "$m" "$v"; fi
    if ver_ge "$v" 1.1; then
        terminal "$m" "$v" reset2-warm 3 system_reset2 type=0x0 cookie=0x0
        terminal "$m" "$v" reset2-vendor 3 system_reset2 type=0x80001234 cookie=0xc00c1e
        terminal "$m" "$v" reset2-smc32 3 system_reset2 type=0x0 cookie=0x1234
    fi
    if ver_ge "$v" 1.3; then
        # Kernel mode: KVM zeroes x1..x3 before the OFF2 exit, so no type can be reported.
        if [ "$m" = user ]; then t1=type=1 t0=type=0; else t1=type= t0=type=; fi
        terminal "$m" "$v" off2-hibernate 4 system_off2 $t1
        terminal "$m" "$v" off2-zero 4 system_off2 $t0
        terminal "$m" "$v" off2-smc32 4 system_off2 $t1
    fi
done

# In-process restart: SYSTEM_RESET with --on-reset restart boots the guest again (the
# selection resets on every boot, so it loops until --timeout: exit 5, several resets).
for m in user kernel; do
    case $m in user) [ -n "$user_versions" ] || continue ;; esac
    t="$m restart"
    rm -f out err ev
    timeout 60 pscivm run --payload "$SUITE" --cpus $CPUS --psci 1.1 --psci-mode $m \
        --events ev --timeout 15 --cmdline "psci-mode=$m test=system-reset" > out 2> err < /dev/null
    rc=$?
    check "[$t] --timeout ends a restarting guest with status 5" "$rc" 5
    n=$(ev_count system_reset)
    [ "${n:-0}" -ge 2 ] && ok "[$t] guest restarted in-process ($n resets in 15 s)" \
        || nok "[$t] only ${n:-0} system_reset events: no restart"
    check "[$t] events: vm_exit reason" "$(ev_field "$(tail -n1 ev)" reason)" timeout
done

# CPU_ON policy: --deny-cpu-on 3. The guest expects CPU_ON of cpu 3 refused (deny-cpus=3) and
# the stream has cpu_on events for target 3 carrying the refusal, none with SUCCESS.
deny_run() { # deny_run VERSION RESULT
    t="user $1 deny-cpu-on 3"
    pscivm_run "$t" --payload "$SUITE" --cpus $CPUS --psci "$1" --psci-mode user --on-reset exit \
        --deny-cpu-on 3 --cmdline "psci-mode=user expect-version=$1 deny-cpus=3"
    relay_tap "$t"
    check "[$t] pscivm exit status (SYSTEM_OFF)" "$rc" 0
    check_stream "$t" user "$1" 0 system_off
    grep '"event":"cpu_on"' ev 2>/dev/null | grep '"target":3[,}]' > on3
    n=$(grep -c '"result":'"$2"'[,}]' on3)
    [ "${n:-0}" -ge 1 ] && ok "[$t] events: $n cpu_on target 3 with result $2" \
        || nok "[$t] events: no cpu_on target 3 with result $2 ($(head -n1 on3))"
    check "[$t] events: no cpu_on target 3 with another result" "$(grep -vc '"result":'"$2"'[,}]' on3)" 0
}
if [ -n "$user_versions" ]; then
    deny_run 1.1 -6   # INTERNAL_FAILURE: DENIED is not a CPU_ON return before 1.2
    deny_run 1.3 -3   # DENIED
fi
pscivm_run "kernel deny" --payload "$SUITE" --cpus $CPUS --psci 1.1 --psci-mode kernel --deny-cpu-on 3
check "[kernel deny] --deny-cpu-on with --psci-mode kernel: usage error (exit 2)" "$rc" 2
grep -q -- "--deny-cpu-on needs user mode" err && ok "[kernel deny] error says it needs user mode" \
    || nok "[kernel deny] error message: $(head -n1 err)"
if [ -z "$user_versions" ]; then
    pscivm_run "auto deny" --payload "$SUITE" --cpus $CPUS --psci 1.1 --deny-cpu-on 3
    check "[auto deny] --deny-cpu-on when auto picks kernel mode: exit 1" "$rc" 1
    grep -q -- "--deny-cpu-on needs user mode" err && ok "[auto deny] error says it needs user mode" \
        || nok "[auto deny] error message: $(head -n1 err)"
fi

# Modes the host cannot provide fail cleanly.
if [ -z "$user_versions" ]; then
    pscivm_run "user on $LAB_HOST" --payload "$SUITE" --psci-mode user
    check "[user] --psci-mode user without the SMCCC filter: exit 1" "$rc" 1
    if grep -q "SMCCC filter not available" err; then
        ok "[user] error says 'SMCCC filter not available'"
    else
        nok "[user] error message: $(cat err)"
    fi
    pscivm_run "auto" --payload "$SUITE" --cpus 2 --psci 1.1 --cmdline "test=system-off"
    check "[auto] --psci-mode auto picks kernel mode here" "$(ev_field "$(head -n1 ev)" mode)" kernel
else
    pscivm_run "auto" --payload "$SUITE" --cpus 2 --psci 1.3 --cmdline "test=system-off"
    check "[auto] --psci-mode auto picks user mode here" "$(ev_field "$(head -n1 ev)" mode)" user
fi
for v in $kernel_refused; do
    pscivm_run "kernel $v" --payload "$SUITE" --psci "$v" --psci-mode kernel
    check "[kernel $v] version above the host's KVM: exit 1" "$rc" 1
    if grep -q "offers PSCI up to 1.1" err; then
        ok "[kernel $v] error names the host's maximum (1.1)"
    else
        nok "[kernel $v] error message: $(cat err)"
    fi
done

# Robustness.
pscivm run --payload "$SUITE" --cpus 0 > out 2> err; rc=$?
check "[cli] --cpus 0: usage error (exit 2)" "$rc" 2
grep -q "^usage: pscivm run" err && ok "[cli] usage message printed" || nok "[cli] no usage message"
pscivm run --cpus 2 > out 2> err; rc=$?
check "[cli] missing --payload: exit 2" "$rc" 2
pscivm run --payload /nonexistent.bin > out 2> err; rc=$?
check "[cli] missing payload file: exit 1" "$rc" 1
dd if=/dev/zero of=big.bin bs=1M count=17 2> /dev/null
pscivm run --payload big.bin --mem 16 > out 2> err; rc=$?
check "[cli] payload larger than RAM: exit 1" "$rc" 1
grep -q "larger than" err && ok "[cli] oversized payload: clear error" || nok "[cli] oversized payload message: $(cat err)"
if [ -f "$BENCH" ]; then
    rm -f ev
    pscivm run --payload "$BENCH" --psci 1.1 --cmdline "calls=100000000" --timeout 3 --events ev \
        > out 2> err < /dev/null; rc=$?
    check "[timeout] a guest that never finishes is stopped by --timeout (exit 5)" "$rc" 5
    check "[timeout] vm_exit reason" "$(ev_field "$(tail -n1 ev)" reason)" timeout
fi
exit 0
