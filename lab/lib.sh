# lab/lib.sh — shared functions of the lab scripts (lab/fetch, lab/run, lab/check): the private
# apt configuration, fetching and unpacking the three Debian arm64 cloud kernels and busybox into
# the cache, and building the host/guest initramfs images and the lab disk. Sourced by bash.
#
# Cache layout ($PSCIVM_LAB_CACHE, default ${XDG_CACHE_HOME:-~/.cache}/pscivm/lab):
#   apt/                      private apt: apt.conf, sources.list, lists/ (deleted after a
#                             successful fetch: a cached lab needs no package lists)
#   busybox                   static arm64 busybox (from busybox-static, bookworm)
#   kernels/<suite>/          one per suite: Image (raw arm64 Image), release (uname -r), label
#                             (major.minor), package, version, config, modules/ (the whole
#                             module tree as Debian ships it: .ko or .ko.xz), ready (last)
# Build outputs (per checkout, rebuilt when inputs change): build/lab/
#   guest/initrd-<label>.img  guest initramfs (busybox + lab/guest-init + virtio modules)
#   host-<label>.cpio         host initramfs base (busybox + modules + lab/host-init)
#   disk-<hash>.img           ext4 lab disk: guest/{Image,initrd,modules}-<label> (-> /lab/guest)
# shellcheck shell=bash disable=SC2034

LAB_SUITES="bookworm trixie sid"
LAB_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
LAB_CACHE=${PSCIVM_LAB_CACHE:-${XDG_CACHE_HOME:-${HOME:-/tmp}/.cache}/pscivm/lab}
LAB_BUILD=$LAB_ROOT/build/lab
LAB_MIRROR=${PSCIVM_LAB_MIRROR:-http://deb.debian.org/debian}
LAB_KEYRING=${PSCIVM_LAB_KEYRING:-/usr/share/keyrings/debian-archive-keyring.gpg}

# Exit codes of lab/run besides COMMAND's own status (documented in docs/lab.md).
LAB_EXIT_FETCH=120     # a package could not be resolved or downloaded
LAB_EXIT_BOOT=121      # the host kernel did not reach /init (panic, QEMU error)
LAB_EXIT_TIMEOUT=122   # --timeout expired
LAB_EXIT_NOKVM=123     # the host booted but has no usable /dev/kvm
LAB_EXIT_NOLAB=124     # this machine cannot run the lab (no QEMU, missing tools)
LAB_EXIT_USAGE=125     # bad lab/run command line

# Modules the host and guest initramfs load when the kernel has them as modules (in this order;
# dependencies are added automatically from each module's .modinfo).
LAB_MODULES="virtio virtio_ring virtio_mmio virtio_blk virtio_input evdev"

lab_err() { echo "lab: $*" >&2; }

# lab_scenario_header KEY FILE → the value of the first "# KEY: value" line among a scenario's
# leading comment lines (the same reading as lab/run-scenarios' header(), inside the host).
lab_scenario_header() {
    sed -n '/^#/!q; s/^#[[:space:]]*'"$1"':[[:space:]]*//p' "$2" | head -n1
}
# lab_left_out FILE → true when FILE is a "# tier: long" scenario and this is not the long run.
lab_left_out() {
    [ "$(lab_scenario_header tier "$1")" = long ] && [ "${LAB_TIER:-check}" != long ]
}

# Default label of a suite before it is fetched (sid's label comes from its resolved version).
lab_suite_default_label() {
    case $1 in bookworm) echo 6.1 ;; trixie) echo 6.12 ;; *) echo "" ;; esac
}

# lab_resolve_host NAME → prints the suite for a --host value (suite name, or label).
lab_resolve_host() {
    local h=$1 s
    for s in $LAB_SUITES; do
        [ "$h" = "$s" ] && { echo "$s"; return 0; }
    done
    for s in $LAB_SUITES; do
        if [ -f "$LAB_CACHE/kernels/$s/label" ] && [ "$(cat "$LAB_CACHE/kernels/$s/label")" = "$h" ]; then
            echo "$s"; return 0
        fi
    done
    for s in $LAB_SUITES; do
        [ "$(lab_suite_default_label "$s")" = "$h" ] && { echo "$s"; return 0; }
    done
    # An unknown major.minor newer than trixie's: sid's newest kernel (checked after fetching).
    case $h in [0-9]*.[0-9]*) echo sid; return 0 ;; esac
    return 1
}

lab_label_of() { cat "$LAB_CACHE/kernels/$1/label"; }

# ---- private apt ---------------------------------------------------------------------------
lab_apt_setup() {
    local a=$LAB_CACHE/apt s
    lab_apt_dir "$a" arm64 || return 1
    : > "$a/sources.list.new"
    for s in $LAB_SUITES; do
        echo "deb [arch=arm64 signed-by=$LAB_KEYRING] $LAB_MIRROR $s main" >> "$a/sources.list.new"
    done
    mv "$a/sources.list.new" "$a/sources.list"
}

# lab_apt_dir DIR ARCH: a private apt configuration in DIR (DIR/apt.conf, which reads the
# sources from DIR/sources.list) for packages of architecture ARCH.
lab_apt_dir() {
    local a=$1 arch=$2
    mkdir -p "$a/lists/partial" "$a/archives/partial" "$a/state" "$a/empty" "$a/tmp"
    [ -f "$a/state/status" ] || : > "$a/state/status"
    if [ ! -r "$LAB_KEYRING" ]; then
        lab_err "Debian archive keyring $LAB_KEYRING missing (install debian-archive-keyring)"
        return 1
    fi
    cat > "$a/apt.conf" <<EOF
// Private apt configuration of the pscivm lab: never reads or writes the machine's /etc/apt.
Dir::Etc::main "/dev/null";
Dir::Etc::parts "$a/empty";
Dir::Etc::sourcelist "$a/sources.list";
Dir::Etc::sourceparts "$a/empty";
Dir::Etc::preferences "/dev/null";
Dir::Etc::preferencesparts "$a/empty";
Dir::Etc::trusted "/dev/null";
Dir::Etc::trustedparts "$a/empty";
Dir::State "$a/state";
Dir::State::Lists "$a/lists";
Dir::State::status "$a/state/status";
Dir::Cache "$a";
Dir::Cache::archives "$a/archives";
APT::Architecture "$arch";
APT::Architectures { "$arch"; };
APT::Sandbox::User "root";
Acquire::Languages "none";
Acquire::Retries "3";
// The registry this machine reaches may serve a frozen snapshot whose Release files are past
// Valid-Until; signatures are still checked against the Debian archive keyring.
Acquire::Check-Valid-Until "false";
Debug::NoLocking "true";
EOF
}

lab_apt() { APT_CONFIG=$LAB_CACHE/apt/apt.conf "$@"; }

# lab_apt_dir_update DIR: apt-get update with the private configuration in DIR (lab_apt_dir),
# its output in DIR/update.log. apt-get exits 0 when a source failed but others worked, so the
# warnings that mean a missing or unverifiable source fail it too; on failure the log is shown.
lab_apt_dir_update() {
    if ! APT_CONFIG=$1/apt.conf apt-get -q update > "$1/update.log" 2>&1 \
        || grep -qE '^(W|E): (Failed|Some index|The repository|GPG)' "$1/update.log"; then
        cat "$1/update.log" >&2
        return 1
    fi
}

# Update the package lists once per process (and only when something must be fetched).
lab_apt_update() {
    [ -n "${LAB_APT_UPDATED:-}" ] && return 0
    lab_apt_setup || return 1
    echo "lab: updating the private package lists (bookworm, trixie, sid; arm64)" >&2
    if ! lab_apt_dir_update "$LAB_CACHE/apt"; then
        lab_err "apt-get update of the private lab sources (Debian $LAB_SUITES, arm64, $LAB_MIRROR) failed (see above)"
        return 1
    fi
    LAB_APT_UPDATED=1
}

# lab_apt_candidate SUITE PKG → prints the version of PKG in SUITE (empty if absent).
lab_apt_candidate() {
    lab_apt apt-cache -o APT::Default-Release="$1" policy "$2" 2>/dev/null \
        | sed -n 's/^  Candidate: //p' | grep -v '(none)'
}

# lab_apt_download SUITE DIR PKG... → downloads the suite's PKG .debs into DIR.
lab_apt_download() {
    local suite=$1 dir=$2 p
    shift 2
    for p in "$@"; do
        if [ -z "$(lab_apt_candidate "$suite" "$p")" ]; then
            lab_err "package $p not found in Debian $suite (arm64)"
            return 1
        fi
    done
    mkdir -p "$dir"
    local args=() log
    for p in "$@"; do args+=("$p/$suite"); done
    log=$(cd "$dir" && lab_apt apt-get -q download "${args[@]}" 2>&1) || {
        echo "$log" >&2
        lab_err "download of $* from Debian $suite failed"
        return 1
    }
}

# ---- kernels -------------------------------------------------------------------------------

# lab_to_image IN OUT: write a raw arm64 Image (magic "ARM\x64" at offset 56) from a Debian
# vmlinuz that is already raw, gzip-compressed, or an EFI zboot image (gzip/zstd payload).
lab_to_image() {
    local in=$1 out=$2 magic
    magic=$(od -An -tx1 -j56 -N4 "$in" | tr -d ' \n')
    if [ "$magic" = 41524d64 ]; then
        cp "$in" "$out"
    elif [ "$(od -An -tx1 -N2 "$in" | tr -d ' \n')" = 1f8b ]; then
        gzip -dc "$in" > "$out"
    elif [ "$(od -An -c -j4 -N4 "$in" | tr -d ' \n')" = zimg ]; then
        local off size comp
        off=$(od -An -tu4 -j8 -N4 "$in" | tr -d ' ')
        size=$(od -An -tu4 -j12 -N4 "$in" | tr -d ' ')
        comp=$(dd if="$in" bs=1 skip=24 count=8 2>/dev/null | tr -d '\0')
        case $comp in
        gzip) tail -c +$((off + 1)) "$in" | head -c "$size" | gzip -dc > "$out" ;;
        zstd) tail -c +$((off + 1)) "$in" | head -c "$size" | zstd -dcq > "$out" ;;
        xz | lzma) tail -c +$((off + 1)) "$in" | head -c "$size" | xz -dc > "$out" ;;
        *) lab_err "$in: EFI zboot image with unsupported compression '$comp'"; return 1 ;;
        esac
    else
        lab_err "$in: not an arm64 Image, gzip or EFI zboot kernel"
        return 1
    fi
    magic=$(od -An -tx1 -j56 -N4 "$out" | tr -d ' \n')
    [ "$magic" = 41524d64 ] || { lab_err "$in: decompressed kernel lacks the arm64 Image magic"; return 1; }
}

# lab_fetch_kernel SUITE: resolve linux-image-cloud-arm64 in SUITE to its versioned packages,
# download and unpack them into kernels/SUITE (no-op when already there, unless LAB_REFRESH=1).
lab_fetch_kernel() {
    local suite=$1 k=$LAB_CACHE/kernels/$1
    if [ -f "$k/ready" ] && [ -z "${LAB_REFRESH:-}" ]; then return 0; fi
    lab_apt_update || return 1
    local meta=linux-image-cloud-arm64 img pkgs rel tmp
    if [ -z "$(lab_apt_candidate "$suite" $meta)" ]; then
        lab_err "package $meta not found in Debian $suite (arm64)"
        return 1
    fi
    img=$(lab_apt apt-cache -o APT::Default-Release="$suite" depends $meta 2>/dev/null \
        | sed -n 's/^ *Depends: \(linux-image-[^ <>]*\)$/\1/p' | head -n1)
    if [ -z "$img" ]; then
        lab_err "$meta in Debian $suite does not depend on a versioned linux-image package"
        return 1
    fi
    rel=${img#linux-image-}
    if [ -f "$k/ready" ] && [ "$(cat "$k/package")" = "$img" ]; then
        touch "$k/ready"; return 0
    fi
    # The image package, plus the packages it depends on that carry the same kernel release
    # (sid splits the kernel into linux-binary-*, linux-modules-*, linux-base-*).
    pkgs="$img $(lab_apt apt-cache -o APT::Default-Release="$suite" depends "$img" 2>/dev/null \
        | sed -n 's/^ *Depends: \(linux-[a-z]*-[^ <>]*\)$/\1/p' | grep -F -- "-$rel" | sort -u | tr '\n' ' ')"
    echo "lab: fetching Debian $suite kernel $img ($(lab_apt_candidate "$suite" "$img"))" >&2
    tmp=$LAB_CACHE/kernels/.$suite.tmp
    rm -rf "$tmp"; mkdir -p "$tmp/debs" "$tmp/root"
    # shellcheck disable=SC2086
    lab_apt_download "$suite" "$tmp/debs" $pkgs || return 1
    local d
    for d in "$tmp"/debs/*.deb; do
        dpkg-deb -x "$d" "$tmp/root" || { lab_err "cannot unpack $d"; return 1; }
    done
    local mdir vml cfg
    mdir=$(find "$tmp/root" -maxdepth 4 -type d -path "*/modules/$rel" | head -n1)
    vml=$(find "$tmp/root" \( -name "vmlinuz-$rel" -o -path "*/modules/$rel/vmlinuz" \) -type f | head -n1)
    cfg=$(find "$tmp/root" \( -name "config-$rel" -o -path "*/modules/$rel/config" \) -type f | head -n1)
    if [ -z "$vml" ] || [ -z "$mdir" ]; then
        lab_err "$img (Debian $suite): no vmlinuz or module tree for $rel in $pkgs"
        return 1
    fi
    mkdir -p "$tmp/out"
    lab_to_image "$vml" "$tmp/out/Image" || return 1
    [ -n "$cfg" ] && cp "$cfg" "$tmp/out/config"
    mv "$mdir" "$tmp/out/modules"
    echo "$rel" > "$tmp/out/release"
    echo "$img" > "$tmp/out/package"
    lab_apt_candidate "$suite" "$img" > "$tmp/out/version"
    echo "$rel" | sed 's/^\([0-9]*\.[0-9]*\).*/\1/' > "$tmp/out/label"
    rm -rf "$k" && mv "$tmp/out" "$k" && rm -rf "$tmp"
    touch "$k/ready"
    echo "lab: Debian $suite kernel $rel cached as label $(cat "$k/label")" >&2
}

lab_fetch_busybox() {
    local b=$LAB_CACHE/busybox
    [ -x "$b" ] && [ -z "${LAB_REFRESH:-}" ] && return 0
    lab_apt_update || return 1
    local tmp=$LAB_CACHE/.busybox.tmp
    rm -rf "$tmp"; mkdir -p "$tmp"
    lab_apt_download bookworm "$tmp" busybox-static || return 1
    dpkg-deb -x "$tmp"/busybox-static_*.deb "$tmp/root" || { lab_err "cannot unpack busybox-static"; return 1; }
    cp "$tmp/root/bin/busybox" "$b.new" && mv "$b.new" "$b" && rm -rf "$tmp"
}

# lab_fetch SUITE...: everything the given suites need (busybox + their kernels). Holds an
# exclusive lock on the cache, so concurrent lab runs (other worktrees) fetch only once.
lab_fetch() { lab_cache_locked _lab_fetch_locked "$@"; }

# lab_cache_locked CMD ARGS...: runs CMD holding the cache's exclusive lock ($LAB_CACHE/.lock).
lab_cache_locked() {
    mkdir -p "$LAB_CACHE"
    local fd rc
    exec {fd}> "$LAB_CACHE/.lock"
    flock "$fd"
    "$@"
    rc=$?
    exec {fd}>&-
    return $rc
}

_lab_fetch_locked() {
    lab_fetch_busybox || return 1
    local s
    for s in "$@"; do lab_fetch_kernel "$s" || return 1; done
    # Everything is cached now; the package lists and apt's binary caches (~340 MB) are only
    # needed to fetch again.
    if [ -n "${LAB_APT_UPDATED:-}" ]; then
        rm -rf "$LAB_CACHE/apt/lists" "$LAB_CACHE/apt/archives" "$LAB_CACHE"/apt/*.bin
        unset LAB_APT_UPDATED
    fi
}

# lab_ko_cat FILE: a module's bytes, whether shipped as .ko, .ko.xz, .ko.zst or .ko.gz.
lab_ko_cat() {
    case $1 in
    *.xz) xz -dc "$1" ;;
    *.zst) zstd -dcq "$1" ;;
    *.gz) gzip -dc "$1" ;;
    *) cat "$1" ;;
    esac
}

# lab_module_closure SUITE → prints the module files (relative to modules/) to load, in
# order, for LAB_MODULES that are modules (not built in) in this kernel, dependencies first.
lab_module_closure() {
    local m=$LAB_CACHE/kernels/$1/modules seen=" " out=()
    _lab_mod_add() {
        local name=$1 f dep
        case $seen in *" $name "*) return 0 ;; esac
        seen="$seen$name "
        f=$(find "$m/kernel" \( -name "$name.ko*" -o -name "${name//_/-}.ko*" \) | head -n1)
        [ -n "$f" ] || return 0   # built in (or absent): nothing to load
        for dep in $(lab_ko_cat "$f" | tr '\0' '\n' | sed -n 's/^depends=//p' | tr ',' ' '); do
            _lab_mod_add "$dep"
        done
        out+=("${f#"$m"/}")
    }
    local n
    for n in $LAB_MODULES; do _lab_mod_add "$n"; done
    printf '%s\n' "${out[@]}"
}

# lab_cpio DIR OUT: pack DIR as an uncompressed newc cpio owned by root.
lab_cpio() {
    (cd "$1" && find . -mindepth 1 | LC_ALL=C sort | cpio --quiet -o -H newc -R 0:0) > "$2"
}

# lab_stage_busybox DIR: busybox + applet links + standard directories.
lab_stage_busybox() {
    local d=$1
    mkdir -p "$d"/{bin,sbin,usr/bin,usr/sbin,dev,proc,sys,tmp,run,mnt,root,etc,lib/modules}
    cp "$LAB_CACHE/busybox" "$d/bin/busybox"
    ln -sf busybox "$d/bin/sh"
}

# lab_stage_modules SUITE DIR: copy the module closure, decompressed (busybox insmod cannot
# load .ko.xz), to DIR/lib/modules/<release>/ and write DIR/etc/lab-modules (the load order).
lab_stage_modules() {
    local suite=$1 d=$2 rel f ko
    rel=$(cat "$LAB_CACHE/kernels/$suite/release")
    : > "$d/etc/lab-modules"
    while IFS= read -r f; do
        [ -n "$f" ] || continue
        ko=${f%.ko*}.ko
        mkdir -p "$d/lib/modules/$rel/$(dirname "$f")"
        lab_ko_cat "$LAB_CACHE/kernels/$suite/modules/$f" > "$d/lib/modules/$rel/$ko" || return 1
        echo "/lib/modules/$rel/$ko" >> "$d/etc/lab-modules"
    done < <(lab_module_closure "$suite")
}

# lab_newer OUT IN...: true when OUT is missing or older than any IN.
lab_newer() {
    local target=$1 i
    shift
    [ -e "$target" ] || return 0
    for i in "$@"; do [ "$i" -nt "$target" ] && return 0; done
    return 1
}

# lab_build_guest_initrd SUITE → build/lab/guest/initrd-<label>.img
lab_build_guest_initrd() {
    local suite=$1 label out tmp
    label=$(lab_label_of "$suite")
    out=$LAB_BUILD/guest/initrd-$label.img
    lab_newer "$out" "$LAB_ROOT/lab/guest-init" "$LAB_CACHE/kernels/$suite/ready" "$LAB_CACHE/busybox" || return 0
    tmp=$LAB_BUILD/.guest-$label.tmp
    rm -rf "$tmp"; mkdir -p "$tmp" "$LAB_BUILD/guest"
    lab_stage_busybox "$tmp"
    lab_stage_modules "$suite" "$tmp"
    cp "$LAB_ROOT/lab/guest-init" "$tmp/init" && chmod 755 "$tmp/init"
    lab_cpio "$tmp" "$out.new" && mv "$out.new" "$out" && rm -rf "$tmp"
}

# lab_build_host_base SUITE → build/lab/host-<label>.cpio (busybox, modules, /init)
lab_build_host_base() {
    local suite=$1 label out tmp
    label=$(lab_label_of "$suite")
    out=$LAB_BUILD/host-$label.cpio
    lab_newer "$out" "$LAB_ROOT/lab/host-init" "$LAB_ROOT/lab/run-scenarios" \
        "$LAB_CACHE/kernels/$suite/ready" "$LAB_CACHE/busybox" || return 0
    tmp=$LAB_BUILD/.host-$label.tmp
    rm -rf "$tmp"; mkdir -p "$tmp"
    lab_stage_busybox "$tmp"
    lab_stage_modules "$suite" "$tmp"
    mkdir -p "$tmp/lab/bin"
    cp "$LAB_ROOT/lab/host-init" "$tmp/init" && chmod 755 "$tmp/init"
    cp "$LAB_ROOT/lab/run-scenarios" "$tmp/lab/bin/run-scenarios" && chmod 755 "$tmp/lab/bin/run-scenarios"
    echo "$label" > "$tmp/etc/lab-label"
    echo "$suite" > "$tmp/etc/lab-suite"
    lab_cpio "$tmp" "$out.new" && mv "$out.new" "$out" && rm -rf "$tmp"
}

# lab_build_locked FUNC ARGS...: run a build step under build/lab/.lock (concurrent lab runs
# in one checkout share build/lab).
lab_build_locked() {
    mkdir -p "$LAB_BUILD"
    local fd rc
    exec {fd}> "$LAB_BUILD/.lock"
    flock "$fd"
    "$@"
    rc=$?
    exec {fd}>&-
    return $rc
}

# lab_build_disk SUITE... → prints the path of an ext4 image holding /guest/{Image,initrd,
# modules}-<label> for the given suites (mounted at /lab/guest in the host). Rebuilt only when
# a kernel or guest initrd changed.
# lab_make_carry FILE [MiB] — a fresh, empty read-write ext4 image for lab/run --carry (sparse;
# the host mounts it at /lab/carry because of its .pscivm-lab-carry marker).
lab_make_carry() {
    local out=$1 mib=${2:-1536} tmp
    tmp=$(mktemp -d "${TMPDIR:-/tmp}/pscivm-carry.XXXXXX") || return 1
    date -u +%Y-%m-%dT%H:%M:%SZ > "$tmp/.pscivm-lab-carry"
    rm -f "$out"
    if ! mke2fs -q -t ext4 -O ^has_journal -L pscivm-carry -E root_owner=0:0 -d "$tmp" \
            "$out" "${mib}M" > "$tmp/.log" 2>&1; then
        cat "$tmp/.log" >&2; rm -rf "$tmp"; lab_err "mke2fs of the carry disk failed"; return 1
    fi
    rm -rf "$tmp"
}

lab_build_disk() {
    local s label key out tmp
    key=
    for s in "$@"; do
        lab_build_guest_initrd "$s" || return 1
        key="$key $s:$(cat "$LAB_CACHE/kernels/$s/package"):$(stat -c %Y "$LAB_BUILD/guest/initrd-$(lab_label_of "$s").img")"
    done
    out=$LAB_BUILD/disk-$(echo "$key" | md5sum | cut -c1-12).img
    if [ -f "$out" ]; then echo "$out"; return 0; fi
    tmp=$LAB_BUILD/.disk.tmp
    rm -rf "$tmp"; mkdir -p "$tmp/guest"
    for s in "$@"; do
        label=$(lab_label_of "$s")
        ln "$LAB_CACHE/kernels/$s/Image" "$tmp/guest/Image-$label" 2>/dev/null \
            || cp "$LAB_CACHE/kernels/$s/Image" "$tmp/guest/Image-$label"
        cp "$LAB_BUILD/guest/initrd-$label.img" "$tmp/guest/initrd-$label.img"
        cp -al "$LAB_CACHE/kernels/$s/modules" "$tmp/guest/modules-$label" 2>/dev/null \
            || cp -a "$LAB_CACHE/kernels/$s/modules" "$tmp/guest/modules-$label"
        cp "$LAB_CACHE/kernels/$s/release" "$tmp/guest/release-$label"
        [ -f "$LAB_CACHE/kernels/$s/config" ] && cp "$LAB_CACHE/kernels/$s/config" "$tmp/guest/config-$label"
    done
    local kb
    kb=$(du -sk "$tmp" | cut -f1)
    kb=$((kb + kb / 5 + 16384))
    rm -f "$LAB_BUILD"/disk-*.img
    if ! mke2fs -q -t ext4 -O ^has_journal -L pscivm-lab -E root_owner=0:0 -d "$tmp" "$out.new" "${kb}k" > "$LAB_BUILD/mke2fs.log" 2>&1; then
        cat "$LAB_BUILD/mke2fs.log" >&2
        lab_err "mke2fs of the lab disk failed"; rm -f "$out.new"; return 1
    fi
    mv "$out.new" "$out" && rm -rf "$tmp"
    echo "$out"
}

# ---- Debian root filesystem (issue 13) -----------------------------------------------------
# A Debian trixie arm64 system for pscivm guests: systemd, udev, dbus, logind, the module
# trees of the lab's trixie (6.12) and sid (7.2) guest kernels, /swapfile for hibernation, root
# autologin on ttyS0 and pscivm-script.service (runs pscivm.script=<base64> once multi-user is
# reached). Built in two stages because this x86 machine cannot run arm64 maintainer scripts:
#   1. x86: mmdebstrap --mode=chrootless installs the Essential set and apt (their scripts are
#      DPKG_ROOT-clean), downloads the rest (LAB_ROOTFS_PACKAGES, with dependencies) into the
#      image's apt cache, adds the overlay (lab/rootfs/overlay), the modules and the second
#      stage; mke2fs -d turns the tree into a raw ext4 image labelled pscivm-debian.
#   2. a lab host (sid's kernel): lab/run --disk IMG, chroot into it, lab/rootfs/stage2
#      (apt-get install of the downloaded packages, depmod, swap file, resume offset).
# Cached as $LAB_CACHE/rootfs/debian-trixie-<key>.img (+ .info), where <key> hashes the
# package list, the sizes, the two kernels' packages and every file of the build.
# Callers run it as a lab job (one QEMU at a time: flock /tmp/pscivm-lab.lock on shared machines).
LAB_ROOTFS_SUITE=trixie
# login: /bin/login and its PAM file for the serial getty's autologin (not Essential since
# trixie; without it agetty's "can't exec /bin/login" restarts the getty for ever).
LAB_ROOTFS_PACKAGES="systemd-sysv udev dbus libpam-systemd login kmod e2fsprogs procps"
LAB_ROOTFS_MIB=2048            # image size (sparse)
LAB_ROOTFS_SWAP_MIB=512        # /swapfile: enough to hibernate a 512 MiB guest
LAB_ROOTFS_KERNELS="trixie sid"

# lab_rootfs_key → the cache key (12 hex digits); needs the kernels fetched.
lab_rootfs_key() {
    {
        echo "$LAB_ROOTFS_SUITE $LAB_ROOTFS_PACKAGES $LAB_ROOTFS_MIB $LAB_ROOTFS_SWAP_MIB $LAB_MIRROR"
        local s
        for s in $LAB_ROOTFS_KERNELS; do cat "$LAB_CACHE/kernels/$s/package"; done
        declare -f _lab_rootfs_stage1
        (cd "$LAB_ROOT/lab/rootfs" && find . \( -type f -o -type l \) | LC_ALL=C sort \
            | while IFS= read -r f; do echo "$f"; if [ -L "$f" ]; then readlink "$f"; else cat "$f"; fi; done)
    } | md5sum | cut -c1-12
}

# lab_rootfs_image → prints the cached image's path (whether or not it exists yet).
lab_rootfs_image() {
    echo "$LAB_CACHE/rootfs/debian-$LAB_ROOTFS_SUITE-$(lab_rootfs_key).img"
}

# _lab_rootfs_stage1 TREE: the x86 first stage into the directory TREE (must not exist).
_lab_rootfs_stage1() {
    local tree=$1 s rel
    command -v mmdebstrap > /dev/null || { lab_err "mmdebstrap is not installed (make deps / scripts/setup)"; return 1; }
    [ "$(id -u)" -eq 0 ] || { lab_err "the rootfs first stage runs as root (mmdebstrap --mode=chrootless keeps file ownership)"; return 1; }
    echo "lab: rootfs stage 1/2 (x86): mmdebstrap $LAB_ROOTFS_SUITE arm64, Essential + apt installed, $LAB_ROOTFS_PACKAGES downloaded" >&2
    # The sources and keyring of the lab's private apt configuration (lab_apt_setup); mmdebstrap
    # keeps its own apt state in its temporary directory and never reads /etc/apt either.
    mmdebstrap --mode=chrootless --arch=arm64 --variant=apt --format=directory -q \
        --keyring="$LAB_KEYRING" --aptopt='Acquire::Check-Valid-Until "false"' \
        --aptopt='Acquire::Retries "3"' --skip=cleanup/apt \
        --customize-hook='APT_CONFIG=$MMDEBSTRAP_APT_CONFIG apt-get install --download-only --no-install-recommends -y -q -o Dpkg::Use-Pty=0 '"$LAB_ROOTFS_PACKAGES"' | grep -E "^(Need to get|E:|W:)"' \
        "$LAB_ROOTFS_SUITE" "$tree" \
        "deb [arch=arm64 signed-by=$LAB_KEYRING] $LAB_MIRROR $LAB_ROOTFS_SUITE main" >&2 || {
        lab_err "mmdebstrap of Debian $LAB_ROOTFS_SUITE arm64 from $LAB_MIRROR failed (see above)"; return 1; }
    cp -a "$LAB_ROOT/lab/rootfs/overlay/." "$tree/" || return 1
    install -m 755 "$LAB_ROOT/lab/rootfs/stage2" "$tree/usr/local/sbin/pscivm-stage2" || return 1
    mkdir -p "$tree/etc/pscivm"
    echo "$LAB_ROOTFS_PACKAGES" > "$tree/etc/pscivm/packages"
    echo "$LAB_ROOTFS_SWAP_MIB" > "$tree/etc/pscivm/swap-mib"
    for s in $LAB_ROOTFS_KERNELS; do
        rel=$(cat "$LAB_CACHE/kernels/$s/release")
        echo "lab: rootfs: modules of $rel (Debian $s)" >&2
        mkdir -p "$tree/usr/lib/modules"
        cp -a "$LAB_CACHE/kernels/$s/modules" "$tree/usr/lib/modules/$rel" || return 1
        rm -f "$tree/usr/lib/modules/$rel/vmlinuz"
        echo "$rel $(cat "$LAB_CACHE/kernels/$s/package") $(cat "$LAB_CACHE/kernels/$s/version")" >> "$tree/etc/pscivm/kernels"
    done
}

# lab_build_rootfs_stage1 → the first stage, on this machine only (no lab host): builds
# $LAB_CACHE/rootfs/debian-<suite>-<key>.stage1 unless it exists. Progress on stderr.
lab_build_rootfs_stage1() {
    local out key tmp t0
    lab_fetch $LAB_SUITES || return 1
    out=$(lab_rootfs_image)
    out=${out%.img}.stage1
    [ -f "$out" ] && return 0
    key=$(lab_rootfs_key)
    t0=$(date +%s)
    mkdir -p "$LAB_CACHE/rootfs"
    tmp=$LAB_CACHE/rootfs/.stage1-$key
    rm -rf "$tmp"; mkdir -p "$tmp"
    echo "lab: building the Debian $LAB_ROOTFS_SUITE arm64 root filesystem (once; several minutes)" >&2
    _lab_rootfs_stage1 "$tmp/root" || { rm -rf "$tmp"; return 1; }
    echo "lab: rootfs: mke2fs -d ($(du -sm "$tmp/root" | cut -f1) MiB of files, ${LAB_ROOTFS_MIB} MiB image)" >&2
    if ! mke2fs -q -t ext4 -L pscivm-debian -E root_owner=0:0 -d "$tmp/root" "$tmp/img" "${LAB_ROOTFS_MIB}M" \
            > "$tmp/mke2fs.log" 2>&1; then
        cat "$tmp/mke2fs.log" >&2; lab_err "mke2fs of the root filesystem failed"; rm -rf "$tmp"; return 1
    fi
    rm -f "$LAB_CACHE"/rootfs/debian-"$LAB_ROOTFS_SUITE"-*.stage1
    mv "$tmp/img" "$out" && rm -rf "$tmp"
    echo "lab: rootfs stage 1 done in $(($(date +%s) - t0)) s: $out" >&2
}

# lab_build_rootfs → builds the image unless cached (stage 1 unless cached, then stage 2 in a
# lab host), prints its path. Progress on stderr.
lab_build_rootfs() {
    local out key tmp t0 rc
    lab_fetch $LAB_SUITES || return 1
    out=$(lab_rootfs_image)
    if [ -f "$out" ] && [ -f "${out%.img}.info" ]; then echo "$out"; return 0; fi
    key=$(lab_rootfs_key)
    t0=$(date +%s)
    lab_build_rootfs_stage1 || return 1
    tmp=$LAB_CACHE/rootfs/.stage2-$key
    rm -rf "$tmp"; mkdir -p "$tmp"
    cp --sparse=always "${out%.img}.stage1" "$tmp/img" || { rm -rf "$tmp"; return 1; }
    echo "lab: rootfs stage 2/2 (lab host $(lab_label_of sid)): apt-get install in a chroot, swap file" >&2
    local nb=()
    [ -x "$LAB_ROOT/bin/pscivm" ] && nb=(--no-build)
    "$LAB_ROOT/lab/run" --host sid --timeout 3600 ${nb[@]+"${nb[@]}"} --disk "$tmp/img" \
        --add "$LAB_ROOT/lab/rootfs/host-stage2" -- sh /lab/add/host-stage2 >&2
    rc=$?
    if [ $rc -ne 0 ]; then
        lab_err "rootfs second stage failed (lab/run exit $rc); the image is kept in $tmp/img"; return 1
    fi
    e2fsck -fn "$tmp/img" > "$tmp/fsck.log" 2>&1 || {
        cat "$tmp/fsck.log" >&2; lab_err "the built root filesystem does not pass e2fsck"; return 1; }
    {
        echo "image: $(basename "$out")"
        echo "stage2: $(date -u +%Y-%m-%dT%H:%M:%SZ) in $(($(date +%s) - t0)) s"
        echo "suite: $LAB_ROOTFS_SUITE arm64 ($LAB_MIRROR)"
        echo "packages: $LAB_ROOTFS_PACKAGES"
        echo "size: ${LAB_ROOTFS_MIB} MiB raw, $(du -sm "$tmp/img" | cut -f1) MiB allocated"
        debugfs -R 'cat /etc/pscivm/kernels' "$tmp/img" 2> /dev/null | sed 's/^/kernel: /'
        echo "resume_offset: $(debugfs -R 'cat /etc/pscivm/resume-offset' "$tmp/img" 2> /dev/null)"
    } > "$tmp/info"
    rm -f "$LAB_CACHE"/rootfs/debian-"$LAB_ROOTFS_SUITE"-*.img "$LAB_CACHE"/rootfs/debian-"$LAB_ROOTFS_SUITE"-*.info
    mv "$tmp/info" "${out%.img}.info" && mv "$tmp/img" "$out" && rm -rf "$tmp"
    echo "lab: rootfs ready: $out" >&2
    echo "$out"
}

# lab_rootfs_resume_offset IMG → the swap file's resume_offset recorded in IMG's .info.
lab_rootfs_resume_offset() { sed -n 's/^resume_offset: //p' "${1%.img}.info"; }

# lab_rootfs_disk IMG → build/lab/rootfs-<key>.disk: an ext4 disk holding IMG as debian.img and
# a .pscivm-lab-mount file naming "rootfs", for lab/run --disk FILE,scratch: the host mounts it
# at /lab/rootfs, where pscivm can open /lab/rootfs/debian.img (a regular file, as it requires);
# the guest's writes land in QEMU's throwaway overlay, so every boot starts from the pristine image.
lab_rootfs_disk() {
    local img=$1 out tmp mib
    out=$LAB_BUILD/rootfs-$(basename "$img" .img | sed 's/^debian-//').disk
    if [ -f "$out" ] && [ ! "$img" -nt "$out" ]; then echo "$out"; return 0; fi
    tmp=$LAB_BUILD/.rootfs-disk.tmp
    rm -rf "$tmp"; mkdir -p "$tmp/d"
    echo rootfs > "$tmp/d/.pscivm-lab-mount"
    ln "$img" "$tmp/d/debian.img" 2> /dev/null || cp --sparse=always "$img" "$tmp/d/debian.img"
    cp "${img%.img}.info" "$tmp/d/debian.info"
    mib=$(( $(stat -c %s "$img") / 1048576 + 128 ))
    rm -f "$LAB_BUILD"/rootfs-*.disk
    if ! mke2fs -q -t ext4 -O ^has_journal -L pscivm-rootfs -E root_owner=0:0 -d "$tmp/d" "$out.new" "${mib}M" \
            > "$tmp/log" 2>&1; then
        cat "$tmp/log" >&2; lab_err "mke2fs of the rootfs carrier disk failed"; rm -rf "$tmp"; return 1
    fi
    mv "$out.new" "$out" && rm -rf "$tmp"
    echo "$out"
}
