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
    local a=$LAB_CACHE/apt
    mkdir -p "$a/lists/partial" "$a/archives/partial" "$a/state" "$a/empty" "$a/tmp"
    [ -f "$a/state/status" ] || : > "$a/state/status"
    if [ ! -r "$LAB_KEYRING" ]; then
        lab_err "Debian archive keyring $LAB_KEYRING missing (install debian-archive-keyring)"
        return 1
    fi
    local s
    : > "$a/sources.list.new"
    for s in $LAB_SUITES; do
        echo "deb [arch=arm64 signed-by=$LAB_KEYRING] $LAB_MIRROR $s main" >> "$a/sources.list.new"
    done
    mv "$a/sources.list.new" "$a/sources.list"
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
APT::Architecture "arm64";
APT::Architectures { "arm64"; };
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

# Update the package lists once per process (and only when something must be fetched).
lab_apt_update() {
    [ -n "${LAB_APT_UPDATED:-}" ] && return 0
    lab_apt_setup || return 1
    echo "lab: updating the private package lists (bookworm, trixie, sid; arm64)" >&2
    if ! lab_apt apt-get -q update > "$LAB_CACHE/apt/update.log" 2>&1 \
        || grep -qE '^(W|E): (Failed|Some index|The repository|GPG)' "$LAB_CACHE/apt/update.log"; then
        cat "$LAB_CACHE/apt/update.log" >&2
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
lab_fetch() {
    mkdir -p "$LAB_CACHE"
    local fd
    exec {fd}> "$LAB_CACHE/.lock"
    flock "$fd"
    _lab_fetch_locked "$@"
    local rc=$?
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
