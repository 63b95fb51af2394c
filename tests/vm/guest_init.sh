#!/bin/busybox sh
# PID 1 of the nvtui test VM (busybox initramfs built by tests/vm/vm.py).
# Loads the modules, mounts the host's root (9p) and chroots into it to run /nvtui/cmd.sh,
# whose output goes to the virtio port "nvtui.out" and whose exit status goes to "nvtui.status".
/bin/busybox --install -s /bin
export PATH=/bin:/sbin

mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
exec </dev/console >/dev/console 2>&1
echo "nvtui-vm init: start"

STATUS=
fail() {
	echo "nvtui-vm init: $*"
	[ -n "$STATUS" ] && echo "error=$*" >"$STATUS"
	poweroff -f
}

. /nvtui/config

while read -r ko args; do
	[ -n "$ko" ] || continue
	[ "$ko" = nvme.ko ] && [ -n "${NVTUI_NVME_PARAMS+x}" ] && args=$NVTUI_NVME_PARAMS
	insmod "/lib/modules/$ko" $args || echo "nvtui-vm init: insmod $ko $args failed"
done </lib/modules/load.list

echo "nvtui-vm init: modules loaded"

# The virtio-serial ports, by name.
port() {
	for d in /sys/class/virtio-ports/*; do
		if [ "$(cat "$d/name" 2>/dev/null)" = "$1" ] && [ -e "/dev/${d##*/}" ]; then
			echo "/dev/${d##*/}"
			return 0
		fi
	done
	return 1
}
i=0
while ! STATUS=$(port nvtui.status) || ! OUT=$(port nvtui.out) || ! CTL=$(port nvtui.ctl); do
	i=$((i + 1))
	if [ $i -gt 100 ]; then
		ls -l /sys/class/virtio-ports/ /dev/vport* 2>&1
		cat /sys/class/virtio-ports/*/name
		fail "virtio ports missing"
	fi
	sleep 0.05
done
STATUS=$(port nvtui.status)
export NVTUI_VM_MONITOR="$CTL"

echo "nvtui-vm init: ports $STATUS $OUT $CTL"
R=/newroot
mount -t 9p -o trans=virtio,version=9p2000.L,msize=262144,cache=loose hostroot $R || fail "cannot mount the 9p root"
mount -t proc proc $R/proc || fail "proc"
mount -t sysfs sysfs $R/sys || fail "sysfs"
mount -t devtmpfs devtmpfs $R/dev || fail "devtmpfs"
mkdir -p $R/dev/pts $R/dev/shm
mount -t devpts -o newinstance,ptmxmode=0666 devpts $R/dev/pts || fail "devpts"
mount -t tmpfs -o mode=1777 tmpfs $R/dev/shm || fail "/dev/shm"
mount -t tmpfs -o mode=755 tmpfs $R/run || fail "/run"
# The guest's /tmp is its own tmpfs, so guest temp files never touch the host's. A working tree that lives
# under the host's /tmp (a CI clone, say) is carried over: bound aside, then back on top of the tmpfs.
if [ -n "$NVTUI_KEEP_DIR" ]; then
	mkdir -p /keep && mount -o bind "$R$NVTUI_KEEP_DIR" /keep || fail "cannot bind $NVTUI_KEEP_DIR"
fi
mount -t tmpfs -o mode=1777 tmpfs $R/tmp || fail "/tmp"
if [ -n "$NVTUI_KEEP_DIR" ]; then
	mkdir -p "$R$NVTUI_KEEP_DIR" && mount -o bind /keep "$R$NVTUI_KEEP_DIR" || fail "cannot keep $NVTUI_KEEP_DIR"
fi
mkdir -p $R/tmp/.nvtui-vm $R/tmp/nvtui-sim
cp /nvtui/cmd.sh $R/tmp/.nvtui-vm/cmd.sh
echo "nvtui-vm init: root mounted"

# Probe and namespace scan are asynchronous: wait (up to 10 s) for the controller and namespaces.
i=0
while :; do
	n=0
	for c in /dev/ng*n*; do [ -c "$c" ] && n=$((n + 1)); done
	[ -c /dev/nvme0 ] && [ "$n" -ge "${NVTUI_EXPECT_NS:-1}" ] && break
	i=$((i + 1))
	if [ $i -gt 1000 ]; then
		echo "nvtui-vm init: only $n NVMe namespace char devices after 10 s"
		break
	fi
	sleep 0.01
done

read -r up _ </proc/uptime
echo "nvtui-vm init: running the command at $up s"
echo "start=$up" >"$STATUS"
exec 3>"$OUT"
chroot $R /bin/sh /tmp/.nvtui-vm/cmd.sh </dev/null >&3 2>&3 3>&-
rc=$?
read -r up _ </proc/uptime
printf '%s%d\n' "$NVTUI_END" "$rc" >&3
exec 3>&-
printf 'end=%s\nrc=%d\n' "$up" "$rc" >"$STATUS"
echo "nvtui-vm init: exit status $rc"
poweroff -f
