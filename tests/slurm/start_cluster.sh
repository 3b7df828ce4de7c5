#!/usr/bin/env bash
# Start a throwaway single-node SLURM cluster on localhost from Debian's packages, with
# job accounting (slurmdbd + MariaDB) so that `sacct` works: it is the status command of
# snakemake's SLURM executor plugin and how tests/test_slurm.py proves where jobs ran.
#
#   tests/slurm/start_cluster.sh [DIR]      start; DIR defaults to a new /tmp/europanel-slurm.*
#   tests/slurm/stop_cluster.sh DIR         stop the daemons by their PIDs and remove DIR
#
# Needs root (daemons, apt-get). Installs what is missing: slurm-wlm, munge, slurmdbd,
# mariadb-server. Everything else is private to DIR: a munge key and socket, a MariaDB
# instance, slurm.conf and slurmdbd.conf, state, logs and PID files, on ports that do not
# clash with a system installation (override with EUROPANEL_SLURM_PORT_BASE, default 16800:
# slurmctld +17, slurmd +18, slurmdbd +19, MariaDB +6). Clients find the cluster through
# SLURM_CONF=DIR/slurm.conf (also written to DIR/env); /etc/slurm/slurm.conf links to it
# while the cluster runs, for the srun inside each job (see below), so an existing
# /etc/slurm/slurm.conf means a real installation and this script refuses to start.
#
# The last line printed on success is `SLURM_CLUSTER_DIR=DIR`. Exit status 2: SLURM cannot
# be started on this machine (not root, no apt-get, packages unavailable); 1: a daemon did
# not come up (the tails of its logs are printed and whatever started is stopped; set
# EUROPANEL_SLURM_KEEP=1 to keep DIR for inspection).
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
ACCOUNT=${EUROPANEL_SLURM_ACCOUNT:-europanel_ci}
PARTITION=${EUROPANEL_SLURM_PARTITION:-europanel}
CLUSTER=europanelci
BASE=${EUROPANEL_SLURM_PORT_BASE:-16800}
CTLD_PORT=$((BASE + 17)) SLURMD_PORT=$((BASE + 18)) DBD_PORT=$((BASE + 19)) DB_PORT=$((BASE + 6))
export PATH=$PATH:/usr/sbin:/sbin
T0=$EPOCHREALTIME

say() { echo "[start_cluster $(awk "BEGIN {printf \"%5.1fs\", $EPOCHREALTIME - $T0}")] $*"; }
cannot() { echo "start_cluster: cannot start SLURM here: $*" >&2; exit 2; }

[ "$(id -u)" = 0 ] || cannot "needs root (daemons run as root; packages come from apt-get)"

# --- packages --------------------------------------------------------------------------
need=()
for pair in slurmctld:slurmctld slurmd:slurmd sbatch:slurm-client sacct:slurm-client \
            munged:munge slurmdbd:slurmdbd mariadbd:mariadb-server; do
  command -v "${pair%%:*}" > /dev/null || need+=("${pair#*:}")
done
if [ ${#need[@]} -gt 0 ]; then
  command -v apt-get > /dev/null || cannot "missing ${need[*]} and no apt-get to install them"
  say "installing ${need[*]} (apt-get)"
  export DEBIAN_FRONTEND=noninteractive
  # Package scripts must not start services (CI containers have no init system).
  policy=/usr/sbin/policy-rc.d
  own_policy=
  if [ ! -e $policy ]; then printf '#!/bin/sh\nexit 101\n' > $policy; chmod +x $policy; own_policy=1; fi
  log=/tmp/europanel-slurm-apt.log
  apt-get install -y -qq --no-install-recommends "${need[@]}" > $log 2>&1 \
    || { apt-get update -qq > /dev/null 2>&1; \
         apt-get install -y -qq --no-install-recommends "${need[@]}" > $log 2>&1; } \
    || { [ -z "$own_policy" ] || rm -f $policy; tail -5 $log >&2
         cannot "apt-get install ${need[*]} failed (log: $log)"; }
  [ -z "$own_policy" ] || rm -f $policy
  say "installed: $(dpkg-query -W -f='${Package} ${Version}  ' slurmctld munge slurmdbd mariadb-server)"
fi

# --- checks before anything is created ----------------------------------------------
for port in $CTLD_PORT $SLURMD_PORT $DBD_PORT $DB_PORT; do
  if (echo > /dev/tcp/127.0.0.1/$port) 2>/dev/null; then
    cannot "port $port is in use (an earlier cluster still running? set EUROPANEL_SLURM_PORT_BASE)"
  fi
done

# The jobstep plugin strips every SLURM_* variable, SLURM_CONF too, before the srun it runs
# inside each job, so srun reads the default /etc/slurm/slurm.conf: link it to ours while
# the cluster runs (stop_cluster.sh removes the link). A stale link of ours is replaced.
SYSTEM_CONF=/etc/slurm/slurm.conf
if [ -L $SYSTEM_CONF ] && [[ $(readlink $SYSTEM_CONF) == /tmp/europanel-slurm.* ]] \
   && [ ! -e "$(readlink $SYSTEM_CONF)" ]; then
  rm -f $SYSTEM_CONF
fi
[ -e $SYSTEM_CONF ] || [ -L $SYSTEM_CONF ] \
  && cannot "$SYSTEM_CONF exists (a real SLURM installation?); srun inside the jobs would use it"

# --- the cluster directory -------------------------------------------------------------
DIR=${1:-$(mktemp -d /tmp/europanel-slurm.XXXXXX)}
mkdir -p "$DIR"
DIR=$(cd "$DIR" && pwd)
chmod 755 "$DIR"     # MariaDB runs as mysql and must reach its directories
runuser -u mysql -- test -x "$DIR" \
  || cannot "$DIR is not reachable by the mysql user (a parent directory is private)"
mkdir -p "$DIR"/{munge,mysql,mysql-run,ctld,slurmd,pids}
chown mysql:mysql "$DIR/mysql" "$DIR/mysql-run"

diagnose() {
  status=$?
  [ $status = 0 ] && return
  [ $status = 2 ] && return
  echo "start_cluster: FAILED (status $status); logs under $DIR:" >&2
  for log in "$DIR"/munge/munged.log "$DIR"/mysql-run/mariadb.log "$DIR"/slurmdbd.log \
             "$DIR"/slurmctld.log "$DIR"/slurmd.log "$DIR"/*.out; do
    [ -s "$log" ] || continue
    echo "----- $log (last 25 lines)" >&2
    tail -n 25 "$log" >&2
  done
  "$HERE/stop_cluster.sh" ${EUROPANEL_SLURM_KEEP:+--keep} "$DIR" >&2 || true
}
trap diagnose EXIT

# start NAME COMMAND...: run a daemon in the foreground of its own session, record its PID.
start() {
  local name=$1; shift
  setsid "$@" > "$DIR/$name.out" 2>&1 < /dev/null &
  echo $! > "$DIR/pids/$name.pid"
}

# wait_for WHAT SECONDS COMMAND...: poll until COMMAND succeeds; status 99 means give up
# (the daemon died).
wait_for() {
  local what=$1 limit=$2 status; shift 2
  local deadline=$(($(date +%s) + limit))
  until "$@" > /dev/null 2>&1; do
    status=$?
    if [ $status = 99 ] || [ "$(date +%s)" -ge $deadline ]; then
      [ $status = 99 ] || echo "start_cluster: timed out (${limit}s) waiting for $what" >&2
      echo "start_cluster: no '$what'; the check says:" >&2
      "$@" >&2 || true
      return 1
    fi
    sleep 0.2
  done
  say "$what"
}

alive() {
  kill -0 "$(cat "$DIR/pids/$1.pid")" 2>/dev/null || { echo "start_cluster: $1 died" >&2; return 99; }
}
# The checks wait_for polls.
munge_works() { munge --socket="$MUNGE_SOCKET" -n | unmunge --socket="$MUNGE_SOCKET"; }
db_answers() { alive mariadbd && mariadb --no-defaults --socket="$DB_SOCKET" -u root -e "SELECT 1"; }
dbd_answers() { alive slurmdbd && sacctmgr -n list cluster; }
registered() { alive slurmctld && sacctmgr -n -P list cluster format=cluster | grep -x "$CLUSTER"; }
node_idle() { alive slurmd && sinfo -h -n "$NODE" -p "$PARTITION" -o %t | grep -x idle; }
account_usable() {
  sacctmgr -n -P show assoc where user=root account="$ACCOUNT" format=account | grep -x "$ACCOUNT"
}

# --- munge: a private key and socket ---------------------------------------------------
MUNGE_SOCKET=$DIR/munge/munge.socket
mungekey --create --keyfile="$DIR/munge/munge.key" 2>/dev/null \
  || dd if=/dev/urandom of="$DIR/munge/munge.key" bs=1024 count=1 status=none
chmod 600 "$DIR/munge/munge.key"
# Run as root with a root-owned key (the packaged /etc/munge/munge.key belongs to munge,
# which a root munged refuses).
start munged munged --foreground --num-threads=10 --key-file="$DIR/munge/munge.key" \
  --socket="$MUNGE_SOCKET" --pid-file="$DIR/munge/munged.pid" \
  --log-file="$DIR/munge/munged.log" --seed-file="$DIR/munge/munged.seed"
wait_for "munged: credentials work" 15 munge_works

# --- MariaDB: a private instance for slurmdbd ------------------------------------------
DB_SOCKET=$DIR/mysql-run/mysqld.sock
mariadb-install-db --no-defaults --user=mysql --datadir="$DIR/mysql" \
  --auth-root-authentication-method=socket --skip-test-db > "$DIR/mariadb-install.out" 2>&1
start mariadbd mariadbd --no-defaults --user=mysql --datadir="$DIR/mysql" --socket="$DB_SOCKET" \
  --pid-file="$DIR/mysql-run/mariadb.pid" --log-error="$DIR/mysql-run/mariadb.log" \
  --bind-address=127.0.0.1 --port=$DB_PORT --skip-name-resolve --innodb-buffer-pool-size=64M
wait_for "mariadbd: accepting connections" 60 db_answers
mariadb --no-defaults --socket="$DB_SOCKET" -u root -e "
  CREATE DATABASE slurm_acct_db;
  CREATE USER 'slurm'@'127.0.0.1' IDENTIFIED BY 'slurm';
  GRANT ALL ON slurm_acct_db.* TO 'slurm'@'127.0.0.1';"

# --- configuration ---------------------------------------------------------------------
NODE=$(hostname -s)
CPUS=$(nproc)
MEM_MB=$(awk '/^MemTotal/ {printf "%d", $2 / 1024 * 0.9}' /proc/meminfo)
cat > "$DIR/slurm.conf" <<EOF
# Generated by tests/slurm/start_cluster.sh: one node, jobs run as root, no cgroups.
ClusterName=$CLUSTER
SlurmctldHost=$NODE(127.0.0.1)
SlurmctldPort=$CTLD_PORT
SlurmdPort=$SLURMD_PORT
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
AuthInfo=socket=$MUNGE_SOCKET
CredType=cred/munge
MpiDefault=none
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
# Without it a job that asks for no memory takes all of the node's.
DefMemPerCPU=1024
SchedulerType=sched/backfill
JobAcctGatherType=jobacct_gather/linux
AccountingStorageType=accounting_storage/slurmdbd
AccountingStorageHost=127.0.0.1
AccountingStoragePort=$DBD_PORT
# The munge socket for connections to slurmdbd (AuthInfo covers the rest).
AccountingStoragePass=$MUNGE_SOCKET
# Keep sbatch --comment (the plugin writes the rule name there) for sacct.
AccountingStoreFlags=job_comment
JobCompType=jobcomp/none
ReturnToService=2
MinJobAge=600
MailProg=/bin/true
StateSaveLocation=$DIR/ctld
SlurmdSpoolDir=$DIR/slurmd
SlurmctldPidFile=$DIR/slurmctld.pid
SlurmdPidFile=$DIR/slurmd.pid
SlurmctldLogFile=$DIR/slurmctld.log
SlurmdLogFile=$DIR/slurmd.log
NodeName=$NODE NodeAddr=127.0.0.1 CPUs=$CPUS RealMemory=$MEM_MB State=UNKNOWN
PartitionName=$PARTITION Nodes=ALL Default=YES MaxTime=INFINITE State=UP
EOF
cat > "$DIR/slurmdbd.conf" <<EOF
AuthType=auth/munge
AuthInfo=socket=$MUNGE_SOCKET
DbdHost=$NODE
DbdAddr=127.0.0.1
DbdPort=$DBD_PORT
SlurmUser=root
StorageType=accounting_storage/mysql
StorageHost=127.0.0.1
StoragePort=$DB_PORT
StorageUser=slurm
StoragePass=slurm
StorageLoc=slurm_acct_db
PidFile=$DIR/slurmdbd.pid
LogFile=$DIR/slurmdbd.log
EOF
chmod 600 "$DIR/slurmdbd.conf"
export SLURM_CONF=$DIR/slurm.conf   # slurmdbd reads slurmdbd.conf from the same directory
echo "SLURM_CONF=$SLURM_CONF" > "$DIR/env"
mkdir -p /etc/slurm
ln -s "$SLURM_CONF" $SYSTEM_CONF

# --- SLURM daemons ---------------------------------------------------------------------
start slurmdbd slurmdbd -D
wait_for "slurmdbd: answering" 60 dbd_answers
start slurmctld slurmctld -D -i -f "$SLURM_CONF"
wait_for "slurmctld: cluster $CLUSTER registered in the accounting database" 60 registered
start slurmd slurmd -D -f "$SLURM_CONF"
wait_for "slurmd: node $NODE idle in partition $PARTITION" 60 node_idle

# The account snakemake submits with (the plugin checks it exists).
sacctmgr -i add account "$ACCOUNT" Description="europanel CI" Organization=europanel > /dev/null
sacctmgr -i add user root Account="$ACCOUNT" > /dev/null
wait_for "account $ACCOUNT usable by root" 30 account_usable
for daemon in munged mariadbd slurmdbd slurmctld slurmd; do alive $daemon; done

say "cluster $CLUSTER up: node $NODE ($CPUS CPUs, $MEM_MB MB), partition $PARTITION, account $ACCOUNT"
echo "SLURM_CLUSTER_DIR=$DIR"
