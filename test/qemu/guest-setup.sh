#!/bin/sh
# mmdebstrap customize hook for the qemu test guest: runs on the host with $1 = the
# guest's root file system. Network by systemd-networkd (DHCP from qemu's user-mode
# stack), the host's share on /mnt/host over 9p, and a boot-time runner that executes
# /mnt/host/test.sh (the test's guest script) once the system is up.
set -eu
R=$1
echo gg-guest > "$R/etc/hostname"
printf '127.0.0.1 localhost\n127.0.1.1 gg-guest\n' > "$R/etc/hosts"
echo '/dev/vda / ext4 rw,errors=remount-ro 0 1' > "$R/etc/fstab"
chroot "$R" passwd -d root >/dev/null

mkdir -p "$R/etc/systemd/network"
printf '[Match]\nName=en*\n\n[Network]\nDHCP=ipv4\n' > "$R/etc/systemd/network/20-wired.network"
chroot "$R" systemctl enable systemd-networkd >/dev/null 2>&1

cat > "$R/etc/systemd/system/mnt-host.mount" <<'UNIT'
[Unit]
Description=Test share from the host (9p)

[Mount]
What=hostshare
Where=/mnt/host
Type=9p
Options=trans=virtio,version=9p2000.L,msize=262144

[Install]
WantedBy=multi-user.target
UNIT

cat > "$R/etc/systemd/system/vmcheck-runner.service" <<'UNIT'
[Unit]
Description=Run the host's test script
Requires=mnt-host.mount
After=mnt-host.mount network-online.target multi-user.target
Wants=network-online.target
ConditionPathExists=/mnt/host/test.sh

[Service]
Type=oneshot
ExecStart=/bin/sh -c '/bin/sh /mnt/host/test.sh > /mnt/host/test.log 2>&1; echo $? > /mnt/host/test.rc'

[Install]
WantedBy=multi-user.target
UNIT
chroot "$R" systemctl enable mnt-host.mount vmcheck-runner.service >/dev/null 2>&1

# Nothing in the image needs these at boot; they only cost TCG time.
chroot "$R" systemctl mask apt-daily.timer apt-daily-upgrade.timer e2scrub_all.timer fstrim.timer >/dev/null 2>&1 || true
rm -rf "$R/var/cache/apt/archives/"*.deb "$R/var/lib/apt/lists/"* 2>/dev/null || true
