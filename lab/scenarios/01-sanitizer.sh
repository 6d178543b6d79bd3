#!/bin/sh
# 01-sanitizer.sh — the sanitizer boot's own check (lab/check's last boot, make check-asan;
# docs/lab.md "Sanitizers in the lab"): `pscivm` on PATH is the ASan+UBSan build behind its
# wrapper, a clean run leaves no report, and a report made from under the default seccomp filter
# is written completely: PSCIVM_SANITIZER_SELFTEST=address (a heap-buffer-overflow) and
# =undefined (a signed overflow), made right after the filter is loaded, each end pscivm with
# the wrapper's status 86 — not SIGSYS (159), which would mean the report tripped the filter —
# and leave one log file naming the error and, symbolized, the function and file. These
# reports go to a directory of their own ($LAB_SAN_LOGS), so they do not fail the run; any
# other scenario's would (lab/run-scenarios).
# hosts: 6.1 6.12 7.2
# needs: asan
# asan: 7.2
# timeout: 120

. "$SCENARIO_DIR/lib/payload.sh"

check "pscivm on PATH is the sanitizer build's wrapper" "$(command -v pscivm)" /lab/asan/bin/pscivm
LAB_SAN_LOGS=$PWD/san
export LAB_SAN_LOGS

timeout 120 pscivm run --payload "$BENCH" --cmdline calls=10 --timeout 60 > out 2> err < /dev/null
rc=$?
check "a clean run of the sanitizer build exits 0 (SYSTEM_OFF)" "$rc" 0
check "a clean run leaves no sanitizer report" "$(ls san 2> /dev/null | wc -l | tr -d " ")" 0

for kind in address undefined; do
    rm -rf san
    timeout 120 env PSCIVM_SANITIZER_SELFTEST=$kind pscivm run --payload "$BENCH" \
        --cmdline calls=10 --timeout 60 > out 2> err < /dev/null
    rc=$?
    check "$kind: the report ends pscivm with the sanitizers' status 86 (not SIGSYS, 159)" "$rc" 86
    has "$kind: pscivm made it after loading the filter (kill)" err \
        "sanitizer self-test: '$kind' under --seccomp kill"
    check "$kind: one report file" "$(ls san 2> /dev/null | wc -l | tr -d " ")" 1
    f=$(ls san/pscivm.* 2> /dev/null | head -n1)
    [ -n "$f" ] || f=/dev/null
    case $kind in
    address) has "$kind: the report names the error" "$f" \
                 "ERROR: AddressSanitizer: heap-buffer-overflow"
             has "$kind: the report ends with its summary" "$f" \
                 "SUMMARY: AddressSanitizer: heap-buffer-overflow" ;;
    undefined) has "$kind: the report names the error" "$f" \
                   "runtime error: signed integer overflow" ;;
    esac
    has "$kind: the stack is symbolized (function, file)" "$f" "in sanitizer_selftest .*src/vmm/sanitizer.c:"
    head -n 8 "$f" | sed 's/^/# /'
done
