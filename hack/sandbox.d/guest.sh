# Stage 2 of the sandbox guest, PID 1 after switch_root, run by the host's
# /bin/busybox (busybox-static). hack/sandbox copies it into the control
# share, mounted at /run/sandbox (writable, a host temp dir).
B=/bin/busybox
C=/run/sandbox
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
. $C/config
[ "$SB_DEBUG" = 1 ] && set -x

$B mkdir -p /dev/pts /dev/shm /sys/fs/cgroup /run/netns /run/lock
$B mount -t devpts -o newinstance,ptmxmode=0666,gid=5,mode=620 devpts /dev/pts 2>/dev/null
$B ln -sf pts/ptmx /dev/ptmx 2>/dev/null
$B mount -t tmpfs -o mode=1777 shm /dev/shm
$B mount -t cgroup2 cgroup2 /sys/fs/cgroup 2>/dev/null
[ -e /dev/fd ] || $B ln -s /proc/self/fd /dev/fd
[ -e /dev/stdin ] || $B ln -s /proc/self/fd/0 /dev/stdin
[ -e /dev/stdout ] || $B ln -s /proc/self/fd/1 /dev/stdout
[ -e /dev/stderr ] || $B ln -s /proc/self/fd/2 /dev/stderr
$B hostname sandbox
echo /sbin/modprobe >/proc/sys/kernel/modprobe

# Network: loopback always; eth0 (qemu user net, restricted: only the
# --net-fwd guestfwd relays at 10.0.2.100 lead anywhere).
$B ip link set lo up
if modprobe virtio_net 2>/dev/null; then
  i=0
  while [ ! -e /sys/class/net/eth0 ] && [ $i -lt 50 ]; do $B usleep 20000; i=$((i+1)); done
  $B ip link set eth0 up
  $B ip addr add 10.0.2.15/24 dev eth0
  $B ip route add default via 10.0.2.2
fi

# Preloaded modules (hack/sandbox --modules / default list).
[ -n "$SB_MODULES" ] && modprobe -a $SB_MODULES

$B touch $C/started
if [ "$SB_TTY" = 1 ]; then
  $B stty -F /dev/ttyS0 sane rows "$SB_ROWS" cols "$SB_COLS" 2>/dev/null
  $B setsid -c /bin/bash $C/cmd.sh </dev/ttyS0 >/dev/ttyS0 2>&1
  rc=$?
else
  # Raw output: no \n -> \r\n, no echo of anything qemu feeds in.
  $B stty -F /dev/ttyS0 raw -echo 2>/dev/null
  $B stty -F /dev/ttyS1 raw -echo 2>/dev/null
  /bin/bash $C/cmd.sh </dev/null >/dev/ttyS0 2>/dev/ttyS1
  rc=$?
fi
echo $rc >$C/rc.tmp && $B mv $C/rc.tmp $C/rc
# Let the UARTs drain before powering off.
$B stty -F /dev/ttyS0 -a >/dev/null 2>&1
$B sync
$B usleep 100000
# qemu runs with -no-reboot: a reset ends it (works with or without ACPI).
$B reboot -f
