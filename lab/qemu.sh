# lab/qemu.sh — which QEMU runs the lab host, and fetching it. Sourced by lab/run (after
# lab/lib.sh).
#
# The lab prefers Debian bookworm-backports' qemu-system-arm (QEMU 10.0 today) over the
# machine's bookworm QEMU 7.2, unpacked into the cache and run from there, because its `max`
# CPU has FEAT_EVT: with it, host kernels since about 6.9 trap the guest's cache-ID registers
# with HCR_EL2.TID4 instead of TID2, so a nested guest's reads of CTR_EL0 no longer exit to the
# host's KVM. Under QEMU 7.2 every such read traps, and a Linux guest's ftrace set-up
# (~48 000 patched call sites, two CTR_EL0 reads each) made 11 of the 18 s a 7.2-host guest
# took to boot (docs/perf.md, "The lab's QEMU"). The backport is built for bookworm and uses
# the shared libraries bookworm's QEMU (scripts/setup) already installed; when it cannot be
# fetched or does not run here, the lab says so once and uses the machine's QEMU.
#
# Cache: $LAB_CACHE/qemu-host/ (apt/ its private apt configuration for this machine's
# architecture, root/ the unpacked package, version, ready).
# shellcheck shell=bash

LAB_QEMU_SUITE=bookworm-backports
LAB_QEMU_PACKAGE=qemu-system-arm

# lab_fetch_qemu → 0 when $LAB_CACHE/qemu-host holds a QEMU that runs on this machine
# (fetching it when missing, or again with LAB_REFRESH=1); 1 with a message otherwise. Holds
# the cache's lock (lab_fetch's), so lab runs side by side fetch it once.
lab_fetch_qemu() {
    [ -f "$LAB_CACHE/qemu-host/ready" ] && [ -z "${LAB_REFRESH:-}" ] && return 0
    lab_cache_locked _lab_fetch_qemu_locked
}

_lab_fetch_qemu_locked() {
    local q=$LAB_CACHE/qemu-host arch a log ver d
    if [ -f "$q/ready" ] && [ -z "${LAB_REFRESH:-}" ]; then return 0; fi
    arch=$(dpkg --print-architecture 2> /dev/null) || { lab_err "dpkg --print-architecture failed"; return 1; }
    a=$q/apt
    lab_apt_dir "$a" "$arch" || return 1
    echo "deb [arch=$arch signed-by=$LAB_KEYRING] $LAB_MIRROR $LAB_QEMU_SUITE main" > "$a/sources.list"
    echo "lab: fetching $LAB_QEMU_PACKAGE from Debian $LAB_QEMU_SUITE ($arch)" >&2
    if ! lab_apt_dir_update "$a"; then
        lab_err "apt-get update of Debian $LAB_QEMU_SUITE ($arch, $LAB_MIRROR) failed (see above)"
        return 1
    fi
    ver=$(APT_CONFIG=$a/apt.conf apt-cache policy "$LAB_QEMU_PACKAGE" 2> /dev/null \
        | sed -n 's/^  Candidate: //p' | grep -v '(none)')
    [ -n "$ver" ] || { lab_err "$LAB_QEMU_PACKAGE not found in Debian $LAB_QEMU_SUITE ($arch)"; return 1; }
    rm -rf "$q/tmp" && mkdir -p "$q/tmp/debs"
    if ! log=$(cd "$q/tmp/debs" && APT_CONFIG=$a/apt.conf apt-get -q download "$LAB_QEMU_PACKAGE" 2>&1); then
        echo "$log" >&2
        lab_err "download of $LAB_QEMU_PACKAGE $ver failed"
        return 1
    fi
    for d in "$q"/tmp/debs/*.deb; do
        dpkg-deb -x "$d" "$q/tmp/root" || { lab_err "cannot unpack $d"; return 1; }
    done
    # It runs with the machine's shared libraries: a missing one is said, not worked around.
    if ! log=$("$q/tmp/root/usr/bin/qemu-system-aarch64" --version 2>&1); then
        echo "$log" >&2
        lab_err "$LAB_QEMU_PACKAGE $ver from $LAB_QEMU_SUITE does not run here (missing shared libraries? ldd $q/tmp/root/usr/bin/qemu-system-aarch64)"
        return 1
    fi
    rm -rf "$q/root" && mv "$q/tmp/root" "$q/root" && rm -rf "$q/tmp" "$a/lists" "$a/archives" "$a"/*.bin
    echo "$ver" > "$q/version"
    touch "$q/ready"
    echo "lab: $(head -n1 <<< "$log") cached in $q" >&2
}

# lab_qemu → prints the qemu-system-aarch64 command the lab runs: $PSCIVM_LAB_QEMU when set,
# else the cached backport (fetched on first use), else the machine's.
lab_qemu() {
    if [ -n "${PSCIVM_LAB_QEMU:-}" ]; then
        echo "$PSCIVM_LAB_QEMU"
    elif lab_fetch_qemu; then
        echo "$LAB_CACHE/qemu-host/root/usr/bin/qemu-system-aarch64"
    else
        lab_err "using the machine's $(command -v qemu-system-aarch64 || echo qemu-system-aarch64) instead (slower: docs/lab.md, \"The lab's QEMU\")"
        echo qemu-system-aarch64
    fi
}
