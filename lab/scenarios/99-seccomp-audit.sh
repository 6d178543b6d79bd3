#!/bin/sh
# 99-seccomp-audit.sh — runs last: no pscivm process in this host session made a system call
# off its --seccomp allow-list (docs/seccomp.md), i.e. the kernel logged no audit type=1326
# record for pscivm after 15-seccomp.sh's deliberate self-tests (its marker in the kernel log;
# from boot when 15-seccomp did not run). Under the default (kill) such a call also killed the
# scenario's pscivm; this names the system call. Every record is printed as a comment.
# hosts: 6.1 6.12 7.2
# asan: 7.2
# timeout: 30

log=$(dmesg)
if echo "$log" | grep -q 'pscivm-lab: 15-seccomp self-tests done'; then
    log=$(echo "$log" | sed -n '/pscivm-lab: 15-seccomp self-tests done/,$p' | sed 1d)
    from="since 15-seccomp's self-tests"
else
    from="since boot"
fi
recs=$(echo "$log" | grep 'type=1326' | grep 'comm="pscivm"\|exe="/lab/bin/pscivm"')
n=$(echo "$recs" | grep -c 'type=1326')
echo "$recs" | grep 'type=1326' | sed 's/^/# /' | head -n 50
echo "# system calls named: $(echo "$recs" | grep -o 'syscall=[0-9]*' | sort | uniq -c | tr '\n' ' ')"
if [ "$n" -eq 0 ]; then
    echo "ok - no pscivm system call off the seccomp allow-list $from"
else
    echo "not ok - $n audit type=1326 record(s) for pscivm $from (system calls off the allow-list)"
fi
