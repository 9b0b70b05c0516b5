#!/usr/bin/env bash
# Installs the Debian 12 packages that hack/sandbox (the IPVS VM sandbox) needs.
# As root: installs whatever is missing (apt-get update once, then install).
# Not root: prints the exact apt-get command to run and exits 1.
# Exits 0 immediately when everything is already installed.
set -euo pipefail

PKGS=(
  qemu-system-x86   # qemu-system-x86_64 (KVM or TCG)
  linux-image-amd64 # guest kernel 6.1 with ip_vs, dummy, veth, ip_set modules
  busybox-static    # the guest's initramfs
  xz-utils          # decompress .ko.xz modules for the initramfs
  cpio              # build the initramfs
  ipvsadm ipset iptables conntrack socat iproute2 curl
  jq                # make demo: the walkthrough's "Port Already Allocated" check
  openssl           # make demo: the API server's kubelet client certificate
  python3           # sandbox selftest: host-side HTTP server
)

missing=()
for p in "${PKGS[@]}"; do
  st=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
  [[ $st == "install ok installed" ]] || missing+=("$p")
done
[[ ${#missing[@]} -eq 0 ]] && exit 0

cmd="apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends ${missing[*]}"
if [[ $(id -u) -ne 0 ]]; then
  echo "install-deps: missing packages: ${missing[*]}" >&2
  echo "install-deps: run as root:" >&2
  echo "  $cmd" >&2
  exit 1
fi

echo "install-deps: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
# Quiet, but show the output when something fails.
log=$(mktemp)
if ! { apt-get update && apt-get install -y --no-install-recommends "${missing[@]}"; } >"$log" 2>&1; then
  cat "$log" >&2
  rm -f "$log"
  echo "install-deps: apt-get failed" >&2
  exit 1
fi
rm -f "$log"
echo "install-deps: done" >&2
