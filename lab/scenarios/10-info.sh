#!/bin/sh
# 10-info.sh — `pscivm info` reports what psci-kvm.md §11 measured on each lab host kernel:
# default PSCI 1.1 before Linux 6.13 and 1.3 from 6.13 (6.1, 6.12: 1.1; 7.2: 1.3), the SMCCC
# filter from 6.4 (6.12, 7.2 yes; 6.1 no), KVM_CAP_ARM_SYSTEM_SUSPEND and vGICv3 everywhere.
# Also: the text output agrees with --json, a missing /dev/kvm is a clear error (exit 1), and a
# `pscivm run` without --psci gets the highest version its mode offers on the host.
# hosts: 6.1 6.12 7.2
# timeout: 60

check() { # check DESCRIPTION GOT WANT
    if [ "$2" = "$3" ]; then echo "ok - $1"; else echo "not ok - $1: got '$2', want '$3'"; fi
}
json_get() { # json_get KEY < one-line JSON (pscivm's plain json-c output)
    sed -n 's/.*"'"$1"'":\("[^"]*"\|[^,}]*\).*/\1/p' | tr -d '"'
}
# kernel major.minor as one number: 6.12 -> 612
kv=$(uname -r | sed 's/^\([0-9]*\)\.\([0-9]*\).*/\1 \2/' | awk '{print $1 * 100 + $2}')
if [ "$kv" -ge 613 ]; then want_psci=1.3; else want_psci=1.1; fi
if [ "$kv" -ge 604 ]; then want_filter=true; else want_filter=false; fi
echo "# host $LAB_HOST: kernel $(uname -r); expecting PSCI $want_psci, SMCCC filter $want_filter"

json=$(pscivm info --json 2>&1); rc=$?
check "pscivm info --json exits 0" "$rc" 0
echo "# $json"
get() { echo "$json" | json_get "$1"; }
check "kvm_api_version is 12" "$(get kvm_api_version)" 12
check "kernel_release is uname -r" "$(get kernel_release)" "$(uname -r)"
check "default PSCI version (KVM_REG_ARM_PSCI_VERSION)" "$(get psci_version)" "$want_psci"
check "psci_version_raw matches psci_version" "$(get psci_version_raw)" \
    "$(echo "$want_psci" | awk -F. '{print $1 * 65536 + $2}')"
check "SMCCC filter (KVM_ARM_VM_SMCCC_FILTER)" "$(get smccc_filter)" "$want_filter"
check "KVM_CAP_ARM_SYSTEM_SUSPEND" "$(get system_suspend)" true
check "KVM_CAP_ARM_PSCI_0_2" "$(get psci_0_2)" true
check "KVM_CAP_SYSTEM_EVENT_DATA" "$(get system_event_data)" true
check "vGICv3" "$(get vgic_v3)" true
ipa=$(get ipa_size_max)
if [ "${ipa:-0}" -ge 40 ] 2>/dev/null; then echo "ok - IPA size limit $ipa >= 40"; else echo "not ok - IPA size limit '$ipa' < 40"; fi
mv=$(get max_vcpus)
if [ "${mv:-0}" -ge 1 ] 2>/dev/null; then echo "ok - max vCPUs $mv"; else echo "not ok - max vCPUs '$mv'"; fi

text=$(pscivm info 2>&1); rc=$?
check "pscivm info (text) exits 0" "$rc" 0
for k in psci_version smccc_filter system_suspend vgic_v3 ipa_size_max; do
    t=$(echo "$text" | sed -n "s/^$k: //p")
    j=$(get $k); case $j in true) j=yes ;; false) j=no ;; esac
    check "text and JSON agree on $k" "$t" "$j"
done

out=$(pscivm info --no-such-option 2>&1); rc=$?
check "unknown option is a usage error (exit 2)" "$rc" 2

mv /dev/kvm /dev/kvm.hidden-by-10-info
out=$(pscivm info 2>&1); rc=$?
mv /dev/kvm.hidden-by-10-info /dev/kvm
check "missing /dev/kvm: exit 1" "$rc" 1
check "missing /dev/kvm: message" "$out" "pscivm info: cannot open /dev/kvm: No such file or directory"

# A run that names no --psci works on every host: the highest version the chosen mode offers
# (auto mode: user where the filter exists -> 1.3; kernel on 6.1 -> KVM's default).
if [ "$want_filter" = true ]; then want_run=0x10003; else want_run=$(echo "$want_psci" | awk -F. '{printf "0x%x", $1 * 65536 + $2}'); fi
out=$(pscivm run --payload /lab/payloads/bench_psci.bin --cmdline calls=10 --timeout 60 2> run.err); rc=$?
check "pscivm run without --psci: exits 0 (SYSTEM_OFF)" "$rc" 0
check "pscivm run without --psci: the guest sees the mode's highest version" \
    "$(echo "$out" | sed -n 's/.*psci=\(0x[0-9a-f]*\).*/\1/p')" "$want_run"
grep -q 'no --psci: the highest this mode offers here' run.err
check "pscivm run without --psci: says which version it chose" "$?" 0
