#!/usr/bin/env bash
# Self-test of hack/sandbox (the IPVS VM). Three guest boots:
#   1. basics: exit code, cwd, argument quoting, env pass-through, stdout vs
#      stderr, byte-exact output, read-only checkout, throwaway overlay, --rw
#   2. IPVS: netns + veth + busybox httpd behind an IPVS NAT virtual server
#      (hack/sandbox.d/selftest-ipvs.sh), plus --net-fwd to a host loopback
#      HTTP server, several connections
#   3. interactive: hack/sandbox -- /bin/sh on a pty
# Prints "N passed, N failed"; exits non-zero on any failure.
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
REPO=$PWD
SB="$REPO/hack/sandbox"
export SANDBOX_TIMEOUT=${SANDBOX_TIMEOUT:-900}
pass=0 fail=0
ok() { echo "ok   - $*"; pass=$((pass + 1)); }
nok() { echo "FAIL - $*"; fail=$((fail + 1)); }
check() { local d=$1; shift; if "$@"; then ok "$d"; else nok "$d"; fi; }

W=$(mktemp -d)
HTTP_PID=
finish() {
  [[ -n $HTTP_PID ]] && kill "$HTTP_PID" 2>/dev/null
  rm -rf "$W"
}
trap finish EXIT

"$REPO/hack/install-deps.sh" || { echo "install-deps failed"; exit 1; }

# --- 1. basics -------------------------------------------------------------------
echo "# boot 1: basics"
token=$RANDOM$RANDOM
mkdir -p "$W/rw"
t0=$(date +%s.%N)
(
  cd hack &&
  IPVSP_SELFTEST="a b'c\$d" E2E_SELFTEST=e2e SELFTEST_PRIVATE=leak \
    SANDBOX_TIMING=1 "$SB" --rw "$W/rw" -- bash -c '
      set -e
      echo "cwd=$(pwd)"
      echo "env=$IPVSP_SELFTEST|$E2E_SELFTEST|${SELFTEST_PRIVATE:-unset}|$HOME|$SANDBOX_GUEST"
      test -f "$1/go.mod" && echo checkout-visible
      if touch "$1/.sandbox-ro-probe" 2>/dev/null; then echo checkout-writable; else echo checkout-ro; fi
      echo guest >"/tmp/sandbox-selftest-$2" && echo overlay-writable
      echo from-guest >"$3/from-guest"
      echo to-stderr >&2
      printf "[%s]" "$4" "$5"; echo
      seq 1 20000 | md5sum | cut -c1-32
      seq 1 20000
      exit 7' _ "$REPO" "$token" "$W/rw" "x  y" "it's \$HOME \"q\""
) >"$W/out1" 2>"$W/err1"
rc=$?
t1=$(date +%s.%N)
check "exit code propagates (7)" [ $rc -eq 7 ]
check "cwd is the host's cwd" grep -qx "cwd=$REPO/hack" "$W/out1"
check "IPVSP_/E2E_ passed, others not, HOME=/root" \
  grep -qxF "env=a b'c\$d|e2e|unset|/root|1" "$W/out1"
check "argument quoting" grep -qxF "[x  y][it's \$HOME \"q\"]" "$W/out1"
check "checkout visible" grep -qx checkout-visible "$W/out1"
check "checkout read-only" grep -qx checkout-ro "$W/out1"
check "rest of / writable in guest" grep -qx overlay-writable "$W/out1"
check "guest writes do not reach the host" [ ! -e "/tmp/sandbox-selftest-$token" ]
check "--rw dir writable, seen by host" grep -qx from-guest "$W/rw/from-guest"
check "stderr separate from stdout" bash -c "grep -qx to-stderr '$W/err1' && ! grep -q to-stderr '$W/out1'"
want=$(seq 1 20000 | md5sum | cut -c1-32)
got=$(sed -n '/^\[/,$p' "$W/out1" | sed '1,2d' | md5sum | cut -c1-32)
check "20000 lines of output byte-exact (no CR, none lost)" [ "$got" = "$want" ]
check "guest md5sum agrees" grep -qx "$want" "$W/out1"
grep '^sandbox:' "$W/err1" | sed 's/^/# /'
if [[ $rc -ne 7 ]]; then sed 's/^/# out: /' "$W/out1" | head -20; sed 's/^/# err: /' "$W/err1" | tail -20; fi
awk -v a="$t0" -v b="$t1" 'BEGIN { printf "# boot 1 wall: %.1fs\n", b-a }'

# --- 2. IPVS + --net-fwd ------------------------------------------------------------
echo "# boot 2: IPVS NAT virtual server between netns, --net-fwd"
mkdir -p "$W/www"
echo "host-loopback-$token" >"$W/www/probe.txt"
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
python3 -m http.server --bind 127.0.0.1 --directory "$W/www" "$PORT" >"$W/http.log" 2>&1 &
HTTP_PID=$!
for _ in $(seq 50); do curl -fsS -o /dev/null "http://127.0.0.1:$PORT/probe.txt" 2>/dev/null && break; sleep 0.1; done
t0=$(date +%s.%N)
SANDBOX_TIMING=1 "$SB" --modules "" --net-fwd "$PORT" -- bash -c '
  hack/sandbox.d/selftest-ipvs.sh || exit 1
  for i in 1 2 3; do curl -fsS --max-time 20 "http://10.0.2.100:$1/probe.txt" || echo "fwd-fail-$i"; done
  # two at once
  curl -fsS --max-time 20 "http://10.0.2.100:$1/probe.txt" >/tmp/p1 & curl -fsS --max-time 20 "http://10.0.2.100:$1/probe.txt" >/tmp/p2; wait
  cat /tmp/p1 /tmp/p2' _ "$PORT" >"$W/out2" 2>"$W/err2"
rc=$?
t1=$(date +%s.%N)
check "IPVS guest test exit 0" [ $rc -eq 0 ]
check "IPVS NAT round robin, hairpin, autoload" grep -qx IPVS-OK "$W/out2"
check "--net-fwd: 5 connections to host loopback" [ "$(grep -cx "host-loopback-$token" "$W/out2")" = 5 ]
grep '^sandbox:' "$W/err2" | sed 's/^/# /'
if [[ $rc -ne 0 ]] || ! grep -qx IPVS-OK "$W/out2"; then sed 's/^/# out: /' "$W/out2" | tail -30; sed 's/^/# err: /' "$W/err2" | tail -30; fi
awk -v a="$t0" -v b="$t1" 'BEGIN { printf "# boot 2 wall: %.1fs\n", b-a }'
kill "$HTTP_PID" 2>/dev/null; wait "$HTTP_PID" 2>/dev/null; HTTP_PID=

# --- 3. interactive ------------------------------------------------------------------
echo "# boot 3: interactive shell on a pty"
python3 - "$SB" >"$W/out3" 2>&1 <<'EOF'
import os, pty, sys, time, select
sb = sys.argv[1]
pid, fd = pty.fork()
if pid == 0:
    os.execv(sb, [sb, "--modules", "", "--", "/bin/sh"])
buf = b""
def read_until(pat, timeout):
    global buf
    end = time.time() + timeout
    while pat not in buf and time.time() < end:
        r, _, _ = select.select([fd], [], [], 1)
        if r:
            try:
                d = os.read(fd, 4096)
            except OSError:
                break
            if not d:
                break
            buf += d
    return pat in buf
ok = read_until(b"# ", 900)
os.write(fd, b"tty; echo got-$((6*7)); exit 4\r")
ok = ok and read_until(b"got-42", 300)
_, st = os.waitpid(pid, 0)
rc = os.waitstatus_to_exitcode(st)
sys.stdout.write(buf.decode(errors="replace"))
print("\nPROMPT_AND_OUTPUT=%s RC=%d" % (ok, rc))
EOF
check "interactive /bin/sh: prompt, command output" grep -q 'PROMPT_AND_OUTPUT=True' "$W/out3"
check "interactive: exit code 4, stdin is a tty" bash -c "grep -q 'RC=4' '$W/out3' && grep -q '^/dev/tty' '$W/out3'"
[[ $fail -eq 0 ]] || sed 's/^/# out: /' "$W/out3" | tail -20

echo "$pass passed, $fail failed"
[[ $fail -eq 0 ]]
