#!/bin/sh
# The guest half of test/qemu/qemu.test.ts: run at boot by vmcheck-runner.service as
# /mnt/host/test.sh. It acts as the user on the guest (rpm -i, systemctl) and hands
# over to the host, which scrapes :8888 and PUTs to :9999 through qemu's port
# forwarding, with files in the 9p share: the guest writes READY<n> when the agent is
# up for step n, the host writes GO<n> when it is done checking. Facts go to
# results.txt as key=value lines; the journal goes to journal.log.
set -u
H=/mnt/host
R=$H/results.txt
: > "$R"
ms() { awk '{ printf "%d", $1 * 1000 }' /proc/uptime; }
log() { echo "[$(ms) ms] $*"; }
put() { echo "$1=$2" >> "$R"; log "$1=$2"; }
finish() {
  journalctl -u gala-gopher --no-pager -o short-monotonic > "$H/journal.log" 2>&1
  echo "$1" > "$H/guest.rc"
  sync
  systemd-run --no-block --unit=vm-poweroff /bin/sh -c 'sleep 1; systemctl poweroff' >/dev/null 2>&1
  exit "$1"
}
fail() { log "FAIL: $*"; echo "$*" > "$H/FAILED"; finish 1; }
# Waits for the host's GO<n> (at most 3 minutes: if the host test died, the guest
# powers itself off).
wait_host() {
  n=0
  while [ ! -e "$H/$1" ]; do
    sleep 0.2; n=$((n + 1))
    [ "$n" -lt 900 ] || fail "the host never wrote $1"
  done
}
# Waits until the agent answers on :8888 and :9999 (at most 60 s; gives up at once
# when systemd has given up on the unit).
wait_agent() {
  n=0
  until curl -fs -o /dev/null http://127.0.0.1:8888/metrics && curl -fs -o /dev/null http://127.0.0.1:9999/baseinfo; do
    if systemctl -q is-failed gala-gopher; then
      systemctl status --no-pager gala-gopher
      return 1
    fi
    sleep 0.1; n=$((n + 1))
    [ "$n" -lt 600 ] || return 1
  done
}
# Restarts the service and records how long until it answered.
restart_timed() {
  t0=$(ms)
  systemctl restart gala-gopher || fail "systemctl restart ($1)"
  wait_agent || fail "the agent did not answer after restart ($1)"
  put "restart_$1_ms" $(( $(ms) - t0 ))
}

put boot_ms "$(ms)"
put kernel "$(uname -r)"
put kernel_version "$(cat /proc/version)"
put btf "$([ -e /sys/kernel/btf/vmlinux ] && echo yes || echo no)"

# ---- install, as the user would (the rpmdb is empty on Debian, hence --nodeps)
t0=$(ms)
rpm -i --nodeps "$H/gala-gopher.rpm" || fail "rpm -i"
put install_ms $(( $(ms) - t0 ))
# The guest's CPU (qemu64 unless GG_QEMU_CPU says otherwise): the packaged executable
# must run on it (Bun's default x64 runtime would die with SIGILL here).
put cpu_flags "$(for f in avx avx2 sse4_2 popcnt ssse3; do grep -qw "$f" /proc/cpuinfo && printf '%s ' "$f"; done)"
v=$(/usr/bin/gala-gopher --version 2>&1); rc=$?
put version_rc "$rc"
put version "$(printf '%s' "$v" | head -n1)"
[ "$rc" = 0 ] || fail "gala-gopher --version exited with $rc on this CPU: $v"
put rpm_q "$(rpm -q gala-gopher)"
put is_enabled_after_install "$(systemctl is-enabled gala-gopher 2>&1)"
put unit_path "$(systemctl show -p FragmentPath --value gala-gopher)"

# The shipped configuration listens on 127.0.0.1; the host reaches the guest through
# qemu's forwarding, so listen on every address (a drop-in, as an operator would).
mkdir -p /etc/systemd/system/gala-gopher.service.d
printf '[Service]\nEnvironment=GOPHER_METRIC_ADDR=0.0.0.0 GOPHER_REST_ADDR=0.0.0.0\n' \
  > /etc/systemd/system/gala-gopher.service.d/10-listen.conf
systemctl daemon-reload

# ---- block devices for the io probe, made before any probe runs: udev's own reads of the
# error target (blkid) must not be what the io_err event reports.
modprobe loop 2>/dev/null
truncate -s 16M /root/gg-loop.img
loopdev=$(losetup -f --show /root/gg-loop.img) || fail "losetup"
put loop_name "${loopdev#/dev/}"
modprobe dm-mod || fail "modprobe dm-mod"
dmsetup create gg-err --table "0 2048 error" || fail "dmsetup create"
udevadm settle --timeout=30
dmname=$(basename "$(readlink -f /dev/mapper/gg-err)")
put dm_name "$dmname"
put dm_dev "$(cat "/sys/block/$dmname/dev")"

# Sectors written to a block device so far (/proc/diskstats, field 10).
sectors_written() { awk -v d="$1" '$3 == d { print $10 }' /proc/diskstats; }

# ---- step 1: systemctl start; the host scrapes and PUTs a probe
t0=$(ms)
systemctl start gala-gopher || fail "systemctl start"
put start_returned_ms $(( $(ms) - t0 ))
wait_agent || fail "the agent did not answer after start"
put start_ms $(( $(ms) - t0 ))
put is_active "$(systemctl is-active gala-gopher)"
put main_pid_1 "$(systemctl show -p MainPID --value gala-gopher)"
ls -l /run/gala_gopher/ > "$H/run-dir.txt" 2>&1
put machine_id_file "$(cat /opt/gala-gopher/machine_id 2>&1)"
touch "$H/READY1"

# ---- io (the host started io_trace, io_err, io_count, page_cache over REST): 8 MiB of
# direct writes to the loop device, and one failing direct read of the dm error target.
wait_host IOGO
w0=$(sectors_written "${loopdev#/dev/}")
dd if=/dev/zero of="$loopdev" bs=1M count=8 oflag=direct 2> "$H/dd-loop.err"
put loop_dd_rc $?
put loop_sectors_written $(( $(sectors_written "${loopdev#/dev/}") - w0 ))
dd if=/dev/mapper/gg-err of=/dev/null bs=4k count=1 iflag=direct 2> "$H/dd-err.err" &
ddpid=$!
wait "$ddpid"
put err_dd_rc $?
put err_dd_pid "$ddpid"
# The event is written at the probe's next collection (report_period 5 s).
n=0
until grep -qs gala_gopher_block_err_code /var/log/gala-gopher/event/gopher_event_0; do
  sleep 0.5; n=$((n + 1))
  [ "$n" -lt 60 ] || break
done
cp /var/log/gala-gopher/event/gopher_event_0 "$H/events.log" 2>/dev/null || echo "(no event file)" > "$H/events.log"
touch "$H/IODONE"

# ---- proc (the host started proc_syscall, proc_io and proc_pygc for the whole host and saw
# a whole collection since): a static program fails open() exactly 1001 times; another
# writes 16 × 64 KiB with O_DIRECT to the loop device (16 bios of its own). Both then wait,
# alive, until the host has seen the collections that hold their work and writes
# proc-release (a process already gone when the period ends has no labels: its rows are
# not exported).
wait_host PROCGO
: > "$H/proc-release"
"$H/ggload" fail 1001 "$H/proc-release" > "$H/ggload-fail.out" 2>&1 &
loadpid=$!
"$H/ggload" dio "$loopdev" 16 "$H/proc-release" > "$H/ggload-dio.out" 2>&1 &
diopid=$!
put proc_pid $loadpid
put proc_dio_pid $diopid
# The work is done once both said so (or one of them ended: its exit status tells why).
n=0
until grep -qs '^failed' "$H/ggload-fail.out" && grep -qs '^wrote' "$H/ggload-dio.out"; do
  [ -d "/proc/$loadpid" ] && [ -d "/proc/$diopid" ] || break
  sleep 0.2; n=$((n + 1))
  [ "$n" -lt 300 ] || break
done
touch "$H/PROCIO"
wait "$diopid"
put proc_dio_rc $?
wait "$loadpid"
put proc_rc $?
touch "$H/PROCDONE"

# ---- flamegraph: oncpu for the busy ggload (scoped by proc_name, collected every 5 s; mem
# and mem_glibc on too, so their tracepoint and uprobe programs load on this kernel),
# then stopped over REST while it still runs (its stacks are symbolized from its live
# /proc/<pid>/maps), which writes the period's folded file.
wait_host FLAMEGO
"$H/ggload" spin 22 > "$H/ggload-spin.out" 2>&1 &
spinpid=$!
put spin_pid "$spinpid"
sleep 1
put flame_start "$(curl -s -X PUT --data-binary 'json={"cmd":{"probe":["oncpu","mem","mem_glibc"]},"snoopers":{"proc_name":[{"comm":"^ggload$","cmdline":"spin"}]},"params":{"perf_sample_period":10,"report_period":5},"state":"running"}' http://127.0.0.1:9999/flamegraph | tr -d '\n')"
sleep 13
put spin_alive_at_stop "$([ -d "/proc/$spinpid" ] && echo yes || echo no)"
put flame_stop "$(curl -s -X PUT --data-binary 'json={"state":"stopped"}' http://127.0.0.1:9999/flamegraph | tr -d '\n')"
wait "$spinpid"
put spin_rc $?
n=0
until ls /var/log/gala-gopher/flamegraph/oncpu/*.folded >/dev/null 2>&1; do
  sleep 0.5; n=$((n + 1))
  [ "$n" -lt 40 ] || break
done
mkdir -p "$H/flame"
cp /var/log/gala-gopher/flamegraph/oncpu/*.folded "$H/flame/" 2>/dev/null
put flame_files "$(cd /var/log/gala-gopher/flamegraph 2>/dev/null && ls oncpu/*.folded 2>&1 | tr '\n' ' ')"
put flame_grep_hot "$(grep -h 'spin_caller;spin_leaf' /var/log/gala-gopher/flamegraph/oncpu/*.folded 2>/dev/null | wc -l)"
touch "$H/FLAMEDONE"
wait_host GO1

# ---- step 2: probes.init written by the operator, then systemctl restart
cp "$H/probes.init" /etc/gala-gopher/probes.init
restart_timed probes_init
put probes_init_after_restart "$(grep -v '^#' /etc/gala-gopher/probes.init | tr -d '\n')"
put ctl "$(gopher-ctl probe get baseinfo 2>&1 | tr -d '\n')"
touch "$H/READY2"
wait_host GO2

# ---- step 3: opt in to saving the running configuration (GOPHER_SAVE_PROBES=1)
printf '[Service]\nEnvironment=GOPHER_SAVE_PROBES=1\n' > /etc/systemd/system/gala-gopher.service.d/20-save.conf
systemctl daemon-reload
restart_timed save_on
touch "$H/READY3"
wait_host GO3
# the host changed the configuration over REST; a restart must keep it
restart_timed save_kept
cp /etc/gala-gopher/probes.init "$H/probes.init.saved"
touch "$H/READY4"
wait_host GO4

# ---- Restart=on-failure: a killed agent comes back after RestartSec=1
pid=$(systemctl show -p MainPID --value gala-gopher)
t0=$(ms)
kill -9 "$pid"
n=0
until [ "$(systemctl show -p MainPID --value gala-gopher)" != "$pid" ] && [ "$(systemctl show -p MainPID --value gala-gopher)" != 0 ] && wait_agent; do
  sleep 0.2; n=$((n + 1))
  [ "$n" -lt 300 ] || fail "the agent was not restarted after SIGKILL"
done
put restart_after_kill_ms $(( $(ms) - t0 ))
put n_restarts "$(systemctl show -p NRestarts --value gala-gopher)"

# ---- systemctl stop: SIGTERM, clean exit, well within 5 s
pid=$(systemctl show -p MainPID --value gala-gopher)
t0=$(ms)
systemctl stop gala-gopher
put stop_ms $(( $(ms) - t0 ))
put stop_result "$(systemctl show -p Result --value gala-gopher)"
put stop_exec_main_status "$(systemctl show -p ExecMainStatus --value gala-gopher)"
put stop_exec_main_code "$(systemctl show -p ExecMainCode --value gala-gopher)"
put pid_gone "$([ -d "/proc/$pid" ] && echo no || echo yes)"
put run_dir_after_stop "$([ -e /run/gala_gopher ] && echo present || echo removed)"

# ---- rpm -e: the scriptlets disable the unit; edited configuration is kept as .rpmsave
systemctl start gala-gopher
wait_agent || fail "the agent did not answer before rpm -e"
rpm -e gala-gopher || fail "rpm -e"
put erase_active "$(systemctl is-active gala-gopher 2>&1)"
put erase_bin "$([ -e /usr/bin/gala-gopher ] && echo present || echo removed)"
put erase_rpmsave "$(ls /etc/gala-gopher/ 2>&1 | tr '\n' ' ')"

finish 0
