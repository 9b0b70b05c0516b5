#!/usr/bin/env bash
# make image: builds ipvs-proxy's OCI image without a Docker daemon.
#
#   hack/image.sh [--check]
#
# Contents: the static ipvs-proxy binary (CGO_ENABLED=0) as /ipvs-proxy and
# the iptables tools it execs, {ip,ip6}tables-{save,restore} with both
# backends (-nft and -legacy; the plain names point to nft, Debian's default),
# their xtables extensions and the shared libraries they load (found with
# ldd), taken from this machine's Debian iptables package. Nothing else: no
# shell, no package manager.
#
# The image is assembled by hack/image (github.com/google/go-containerregistry,
# its own Go module so the main module does not depend on it) into
#   _output/image/ipvs-proxy.tar   docker load -i ... (tag ipvs-proxy:dev, IMAGE_TAG)
#   _output/image/oci/             an OCI image layout (skopeo, crane, podman)
#   _output/image/rootfs/          the unpacked filesystem (for tests)
# and its size is printed. --check then runs every tool of the unpacked image
# under chroot (as root): each must start with only the image's libraries.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
OUT=$ROOT/_output/image
TAG=${IMAGE_TAG:-ipvs-proxy:dev}
MULTIARCH=$(gcc -dumpmachine 2>/dev/null || echo x86_64-linux-gnu)
XT=/usr/lib/$MULTIARCH/xtables

hack/install-deps.sh >/dev/null || { echo "image: hack/install-deps.sh failed (needs the iptables package)" >&2; exit 1; }
mkdir -p "$OUT"

echo "image: building the static ipvs-proxy" >&2
CGO_ENABLED=0 go build -trimpath -ldflags '-s -w' -o "$OUT/ipvs-proxy" ./cmd/ipvs-proxy
if ldd "$OUT/ipvs-proxy" >/dev/null 2>&1; then
  echo "image: $OUT/ipvs-proxy is not static" >&2; exit 1
fi

list=$OUT/files.txt
{
  echo "/ipvs-proxy $OUT/ipvs-proxy"
  for be in nft legacy; do
    echo "/usr/sbin/xtables-$be-multi /usr/sbin/xtables-$be-multi"
    for fam in iptables ip6tables; do
      for t in save restore; do
        echo "/usr/sbin/$fam-$be-$t -> xtables-$be-multi"
      done
    done
  done
  for fam in iptables ip6tables; do
    for t in save restore; do
      echo "/usr/sbin/$fam-$t -> $fam-nft-$t"
    done
  done
  # Every xtables extension (iptables-save must print the other rule
  # writers' rules in the same tables too), not ebtables' or arptables'.
  exts=$(ls "$XT"/libxt_*.so "$XT"/libipt_*.so "$XT"/libip6t_*.so)
  for f in $exts; do echo "$f $f"; done
  # Their shared libraries and the dynamic loader, under the names ldd
  # prints, with the content of the file the name resolves to.
  ldd /usr/sbin/xtables-nft-multi /usr/sbin/xtables-legacy-multi $exts 2>/dev/null |
    awk '$2 == "=>" && $3 ~ /^\// { print $3 } $1 ~ /^\// && $1 !~ /:$/ { print $1 }' | sort -u |
    while read -r lib; do echo "$lib $(readlink -f "$lib")"; done
} >"$list"
sort -u -o "$list" "$list"

echo "image: assembling $TAG from $(wc -l <"$list") files (hack/image)" >&2
(cd hack/image && go build -o "$OUT/image-tool" .)
"$OUT/image-tool" --tag "$TAG" --tar "$OUT/ipvs-proxy.tar" --layout "$OUT/oci" --rootfs "$OUT/rootfs" <"$list"

if [[ ${1:-} == --check ]]; then
  [[ $(id -u) -eq 0 ]] || { echo "image: --check needs root (chroot)" >&2; exit 1; }
  ok=0 bad=0
  check() {
    if out=$(chroot "$OUT/rootfs" "$@" 2>&1); then
      echo "  ok   $* : $(head -n 1 <<<"$out")"; ok=$((ok + 1))
    else
      echo "  FAIL $* : $out"; bad=$((bad + 1))
    fi
  }
  echo "image: running the unpacked image's tools under chroot"
  check /ipvs-proxy version
  check /ipvs-proxy plan --help
  for fam in iptables ip6tables; do
    for v in "" -nft -legacy; do
      check /usr/sbin/$fam$v-save --version
      check /usr/sbin/$fam$v-restore --version
    done
  done
  # iptables-restore --test parses rules with the extensions ipvs-proxy uses.
  rules='*nat
:IPVS-PROXY-POSTROUTING - [0:0]
-A IPVS-PROXY-POSTROUTING -m comment --comment "ipvs-proxy: hairpin traffic" -m set --match-set IPVS-PROXY-HAIRPIN dst,dst,src -j MASQUERADE
-A IPVS-PROXY-POSTROUTING -m mark ! --mark 0x2000/0x2000 -j RETURN
-A IPVS-PROXY-POSTROUTING -j MARK --set-xmark 0x2000/0x0
-A IPVS-PROXY-POSTROUTING -j MASQUERADE --random-fully
COMMIT
*filter
:IPVS-PROXY-FORWARD - [0:0]
-A IPVS-PROXY-FORWARD -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT
COMMIT'
  for be in nft legacy; do
    if out=$(chroot "$OUT/rootfs" /usr/sbin/iptables-$be-restore --test <<<"$rules" 2>&1); then
      echo "  ok   iptables-$be-restore --test (our rules)"; ok=$((ok + 1))
    elif grep -qiE 'Could not fetch rule set generation id|Permission denied|can.t initialize|Table does not exist|Protocol not supported|match-set|Set IPVS-PROXY' <<<"$out"; then
      # This host's kernel lacks the netfilter pieces; the tool and its
      # extensions still loaded and parsed up to the kernel call.
      echo "  ok   iptables-$be-restore --test loaded (kernel: $(head -n 1 <<<"$out"))"; ok=$((ok + 1))
    else
      echo "  FAIL iptables-$be-restore --test: $out"; bad=$((bad + 1))
    fi
  done
  echo "image check: $ok passed, $bad failed"
  [[ $bad -eq 0 ]]
fi
