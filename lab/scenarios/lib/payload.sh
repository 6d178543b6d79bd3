# lab/scenarios/lib/payload.sh — sourced by the scenarios that run the bare-metal payloads
# directly (01-sanitizer, 15-seccomp): where the payloads are, and TAP checks that compare a
# value or look for a pattern in a file. Not a scenario itself.
P=${LAB_DIR:-/lab}/payloads
BENCH=$P/bench_psci.bin
check() { # check DESCRIPTION GOT WANT
    if [ "$2" = "$3" ]; then echo "ok - $1"; else echo "not ok - $1: got '$2', want '$3'"; fi
}
has() { # has DESCRIPTION FILE PATTERN
    if grep -q "$3" "$2"; then echo "ok - $1"; else echo "not ok - $1: no '$3' in: $(head -c 600 "$2")"; fi
}
