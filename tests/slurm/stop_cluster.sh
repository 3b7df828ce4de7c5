#!/usr/bin/env bash
# Stop the cluster started by start_cluster.sh: the daemons recorded in DIR/pids, by PID
# (never by name), then remove DIR. With --keep, DIR (logs, state) is left for inspection.
#   tests/slurm/stop_cluster.sh [--keep] DIR
set -uo pipefail

keep=
[ "${1:-}" = --keep ] && { keep=1; shift; }
DIR=${1:?usage: stop_cluster.sh [--keep] DIR}
[ -d "$DIR/pids" ] || { echo "stop_cluster: $DIR has no pids/; nothing to stop" >&2; exit 0; }

# Jobs still running on this cluster (an interrupted test) are cancelled first.
if [ -s "$DIR/slurm.conf" ] && command -v scancel > /dev/null; then
  SLURM_CONF=$DIR/slurm.conf timeout 10 scancel --user root 2>/dev/null
fi

# All at once (each takes a second or two to exit); a PID is signalled only while it still
# runs the daemon that was started, so a reused PID is never hit.
pids=()
for daemon in slurmd slurmctld slurmdbd mariadbd munged; do
  file=$DIR/pids/$daemon.pid
  [ -s "$file" ] || continue
  pid=$(cat "$file")
  if [ -r /proc/$pid/cmdline ] && tr '\0' ' ' < /proc/$pid/cmdline | grep -q "$daemon"; then
    kill -TERM "$pid" 2>/dev/null && pids+=("$pid")
  fi
done
for _ in $(seq 1 150); do
  running=()
  for pid in "${pids[@]}"; do kill -0 "$pid" 2>/dev/null && running+=("$pid"); done
  [ ${#running[@]} = 0 ] && break
  sleep 0.1
done
for pid in "${running[@]}"; do
  echo "stop_cluster: PID $pid did not exit within 15 s; killing it" >&2
  kill -KILL "$pid" 2>/dev/null
done
# The link start_cluster.sh made for srun inside jobs.
[ "$(readlink /etc/slurm/slurm.conf 2>/dev/null)" = "$DIR/slurm.conf" ] && rm -f /etc/slurm/slurm.conf
[ -n "$keep" ] || rm -rf "$DIR"
exit 0
