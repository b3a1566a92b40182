#!/usr/bin/env bash
# A real single-node SLURM cluster on localhost, for testing the workflow's SLURM path (docs/cluster.md).
#
#   bash cluster/local_slurm.sh up       # install (root, Debian) when missing, start, wait until idle
#   bash cluster/local_slurm.sh status   # daemons, node state, accounting; exit 0 only when all is up
#   bash cluster/local_slurm.sh down     # stop every daemon by its pid file (state is kept)
#   bash cluster/local_slurm.sh env      # the `export SLURM_CONF=...` line clients need
#
# Daemons: munged (as user munge), MariaDB (as mysql, 127.0.0.1 only), slurmdbd, slurmctld, slurmd,
# in full accounting mode, so `sacct` (the executor plugin's status path) answers. The node declares
# one stand-in GPU (`gres.conf`: File=/dev/null) so that `sbatch --gpus=1` is accepted. Every file
# lives under one scratch folder, $ALBAR_SLURM_DIR (default /tmp/albar-slurm), but one symbolic link:
# /etc/slurm/slurm.conf -> the scratch slurm.conf, made only where no slurm.conf is there already and
# removed by `down`. It is needed: the plugin's job step runs a nested `srun` with every SLURM_*
# variable, SLURM_CONF included, stripped, so srun inside a job finds only the default path.
set -euo pipefail

SCRATCH="${ALBAR_SLURM_DIR:-/tmp/albar-slurm}"
NODE="$(hostname -s)"
CLUSTER=albar
DB_PORT="${ALBAR_SLURM_DB_PORT:-3307}"
ETC="$SCRATCH/etc"
RUN="$SCRATCH/run"
LOG="$SCRATCH/log"
MUNGE_SOCKET="$SCRATCH/munge/munge.socket"
DB_DIR="$SCRATCH/mysql"
DB_SOCKET="$DB_DIR/mysqld.sock"
export SLURM_CONF="$ETC/slurm.conf"
DEFAULT_CONF=/etc/slurm/slurm.conf
CONF_CHANGED=0
PACKAGES=(slurmctld slurmd slurmdbd slurm-client munge mariadb-server)
BINARIES=(slurmctld slurmd slurmdbd sbatch sacct sacctmgr munged mariadbd mariadb-install-db)

say() { echo "local_slurm: $*" >&2; }
die() {
    say "error: $*"
    exit 1
}

alive() { # alive <daemon>: its pid file names a running process of that name (not a reused pid)
    local file="$RUN/$1.pid"
    [[ -s "$file" ]] && [[ "$(cat "/proc/$(cat "$file")/comm" 2>/dev/null)" == "$1" ]]
}

wait_for() { # wait_for <seconds> <what> <command...>
    local seconds="$1" what="$2"
    shift 2
    for ((i = 0; i < seconds * 5; i++)); do
        if "$@" >/dev/null 2>&1; then return 0; fi
        sleep 0.2
    done
    die "$what did not come up within ${seconds} s (logs: $LOG)"
}

install_packages() {
    local missing=()
    for binary in "${BINARIES[@]}"; do
        PATH="$PATH:/usr/sbin:/sbin" command -v "$binary" >/dev/null || missing+=("$binary")
    done
    [[ ${#missing[@]} -eq 0 ]] && return 0
    [[ $EUID -eq 0 ]] || die "missing ${missing[*]}: run as root (it installs ${PACKAGES[*]}) or install them"
    command -v apt-get >/dev/null || die "missing ${missing[*]} and no apt-get: install ${PACKAGES[*]}"
    say "installing ${PACKAGES[*]} (Debian packages)"
    apt-get update -qq
    # policy-rc.d or not, nothing must start from /etc: this script starts every daemon itself.
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${PACKAGES[@]}" >/dev/null
}

write_configs() {
    mkdir -p "$ETC" "$RUN" "$LOG" "$SCRATCH/munge" "$SCRATCH/spool/ctld" "$SCRATCH/spool/d" "$DB_DIR"
    chmod 755 "$SCRATCH"
    local cpus mem_mb
    cpus="$(nproc)"
    mem_mb="$(awk '/MemTotal/ {printf "%d", $2 / 1024 * 0.85}' /proc/meminfo)"
    cat >"$ETC/slurm.conf.new" <<EOF
# Written by cluster/local_slurm.sh: one node on 127.0.0.1, full accounting through slurmdbd.
ClusterName=$CLUSTER
SlurmctldHost=$NODE(127.0.0.1)
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
AuthInfo=socket=$MUNGE_SOCKET
CredType=cred/munge
SlurmctldPort=6817
SlurmdPort=6818
MpiDefault=none
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
ReturnToService=2
# A job without --mem gets 1 GB per CPU, not the whole node.
DefMemPerCPU=1000
SchedulerType=sched/backfill
SchedulerParameters=sched_interval=1
MessageTimeout=30
InactiveLimit=0
KillWait=5
MinJobAge=300
SlurmctldTimeout=30
SlurmdTimeout=30
StateSaveLocation=$SCRATCH/spool/ctld
SlurmdSpoolDir=$SCRATCH/spool/d
SlurmctldPidFile=$RUN/slurmctld.pid
SlurmdPidFile=$RUN/slurmd.pid
SlurmctldLogFile=$LOG/slurmctld.log
SlurmdLogFile=$LOG/slurmd.log
SlurmctldDebug=info
SlurmdDebug=info
AccountingStorageType=accounting_storage/slurmdbd
AccountingStorageHost=127.0.0.1
AccountingStoragePort=6819
# For slurmdbd connections this names the munge socket (AuthInfo covers only slurmctld/slurmd).
AccountingStoragePass=$MUNGE_SOCKET
AccountingStorageTRES=gres/gpu
JobAcctGatherType=jobacct_gather/linux
JobAcctGatherFrequency=30
JobCompType=jobcomp/none
# sacct shows the plugin's per-job comment (rule_<rule>_wildcards_...): which rule a job ran.
AccountingStoreFlags=job_comment
GresTypes=gpu
NodeName=$NODE NodeAddr=127.0.0.1 CPUs=$cpus RealMemory=$mem_mb Gres=gpu:1 State=UNKNOWN
PartitionName=debug Nodes=$NODE Default=YES MaxTime=INFINITE State=UP
EOF
    # Daemons started with an older slurm.conf restart (in start_slurm) to read this one.
    if cmp -s "$ETC/slurm.conf.new" "$ETC/slurm.conf"; then
        rm "$ETC/slurm.conf.new"
    else
        mv "$ETC/slurm.conf.new" "$ETC/slurm.conf"
        CONF_CHANGED=1
    fi
    if [[ -L "$DEFAULT_CONF" && "$(readlink "$DEFAULT_CONF")" == "$ETC/slurm.conf" ]]; then
        :
    elif [[ -e "$DEFAULT_CONF" || -L "$DEFAULT_CONF" ]]; then
        die "$DEFAULT_CONF exists (another SLURM set-up?): move it away to use the local test cluster"
    else
        mkdir -p "$(dirname "$DEFAULT_CONF")"
        ln -s "$ETC/slurm.conf" "$DEFAULT_CONF"
    fi
    # A stand-in GPU: SLURM schedules it and sets CUDA_VISIBLE_DEVICES; there is no CUDA behind it.
    echo "NodeName=$NODE Name=gpu File=/dev/null" >"$ETC/gres.conf"
    local password
    [[ -s "$ETC/db.password" ]] || (umask 077 && od -An -N12 -tx1 /dev/urandom | tr -d ' \n' >"$ETC/db.password")
    password="$(cat "$ETC/db.password")"
    (umask 077 && cat >"$ETC/slurmdbd.conf" <<EOF
# Written by cluster/local_slurm.sh (slurmdbd wants it mode 600, owned by SlurmUser).
AuthType=auth/munge
AuthInfo=socket=$MUNGE_SOCKET
DbdHost=localhost
DbdAddr=127.0.0.1
DbdPort=6819
SlurmUser=root
PidFile=$RUN/slurmdbd.pid
LogFile=$LOG/slurmdbd.log
DebugLevel=info
StorageType=accounting_storage/mysql
StorageHost=127.0.0.1
StoragePort=$DB_PORT
StorageUser=slurm
StoragePass=$password
StorageLoc=slurm_acct_db
EOF
    )
}

start_munge() {
    alive munged && return 0
    local dir="$SCRATCH/munge"
    [[ -s "$dir/munge.key" ]] || mungekey --create --keyfile="$dir/munge.key" --bits=1024
    chown -R munge:munge "$dir"
    chmod 700 "$dir"
    chmod 400 "$dir/munge.key"
    touch "$RUN/munged.pid" "$LOG/munged.log" && chown munge "$RUN/munged.pid" "$LOG/munged.log"
    # --force: the scratch folder may sit under a sticky world-writable /tmp, which munged distrusts.
    runuser -u munge -- munged --force --socket="$MUNGE_SOCKET" --key-file="$dir/munge.key" \
        --pid-file="$RUN/munged.pid" --log-file="$LOG/munged.log" --seed-file="$dir/munged.seed"
    wait_for 10 munged test -S "$MUNGE_SOCKET"
    chmod 755 "$dir" # clients (any user) reach the socket; the key stays 400
}

db() { mariadb --socket="$DB_SOCKET" -uroot "$@"; }

start_mariadb() {
    alive mariadbd && return 0
    chown mysql:mysql "$DB_DIR"
    if [[ ! -d "$DB_DIR/data/mysql" ]]; then
        mariadb-install-db --user=mysql --datadir="$DB_DIR/data" --auth-root-authentication-method=socket \
            --skip-test-db >"$LOG/mariadb-install.log" 2>&1 || die "mariadb-install-db failed: $LOG/mariadb-install.log"
    fi
    touch "$RUN/mariadbd.pid" "$LOG/mariadb.log" && chown mysql "$RUN/mariadbd.pid" "$LOG/mariadb.log"
    # The socket goes in a folder mysql owns; TCP on loopback only, on a port of its own.
    runuser -u mysql -- mariadbd --no-defaults --datadir="$DB_DIR/data" --socket="$DB_SOCKET" \
        --pid-file="$RUN/mariadbd.pid" --log-error="$LOG/mariadb.log" --bind-address=127.0.0.1 \
        --port="$DB_PORT" --skip-name-resolve --innodb-buffer-pool-size=32M \
        --performance-schema=OFF </dev/null >/dev/null 2>&1 &
    wait_for 60 MariaDB db -e "SELECT 1"
    local password
    password="$(cat "$ETC/db.password")"
    db <<EOF
CREATE DATABASE IF NOT EXISTS slurm_acct_db;
CREATE USER IF NOT EXISTS 'slurm'@'127.0.0.1' IDENTIFIED BY '$password';
ALTER USER 'slurm'@'127.0.0.1' IDENTIFIED BY '$password';
GRANT ALL ON slurm_acct_db.* TO 'slurm'@'127.0.0.1';
FLUSH PRIVILEGES;
EOF
}

start_slurmdbd() {
    alive slurmdbd && return 0
    chmod 600 "$ETC/slurmdbd.conf"
    # slurmdbd reads slurmdbd.conf from the folder of $SLURM_CONF.
    slurmdbd
    wait_for 60 slurmdbd timeout 10 sacctmgr -n list cluster
    sacctmgr -i -Q add cluster "$CLUSTER" >/dev/null 2>&1 || true
}

start_slurm() {
    if [[ $CONF_CHANGED -eq 1 ]]; then
        stop_pid slurmd
        stop_pid slurmctld
    fi
    alive slurmctld || slurmctld -f "$SLURM_CONF"
    wait_for 30 slurmctld timeout 10 scontrol ping
    alive slurmd || slurmd -f "$SLURM_CONF"
    wait_for 60 "the node" node_idle
    wait_for 30 sacct timeout 10 sacct -n -X -S now
}

node_idle() { timeout 10 sinfo -h -n "$NODE" -o %t | grep -Eq '^(idle|mix|alloc)'; }

up() {
    install_packages
    export PATH="$PATH:/usr/sbin:/sbin"
    [[ $EUID -eq 0 ]] || die "the daemons run as root here (SlurmUser=root): run it as root"
    local start=$SECONDS
    write_configs
    start_munge
    start_mariadb
    start_slurmdbd
    start_slurm
    say "up in $((SECONDS - start)) s: node $NODE idle, accounting on; clients need: export SLURM_CONF=$SLURM_CONF"
}

stop_pid() { # stop_pid <name>: SIGTERM by pid file, wait, then SIGKILL
    local file="$RUN/$1.pid"
    alive "$1" || return 0
    local pid
    pid="$(cat "$file")"
    kill "$pid" 2>/dev/null || true
    for ((i = 0; i < 150; i++)); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.2
    done
    if kill -0 "$pid" 2>/dev/null; then
        say "$1 (pid $pid) ignored SIGTERM for 30 s: killing it"
        kill -9 "$pid" 2>/dev/null || true
    fi
    : >"$file"
}

down() {
    for name in slurmd slurmctld slurmdbd mariadbd munged; do stop_pid "$name"; done
    if [[ -L "$DEFAULT_CONF" && "$(readlink "$DEFAULT_CONF")" == "$ETC/slurm.conf" ]]; then
        rm "$DEFAULT_CONF"
    fi
    say "down (state kept in $SCRATCH)"
}

status() {
    export PATH="$PATH:/usr/sbin:/sbin"
    local ok=0
    for name in munged mariadbd slurmdbd slurmctld slurmd; do
        if alive "$name"; then
            echo "$name: running (pid $(cat "$RUN/$name.pid"))"
        else
            echo "$name: stopped"
            ok=1
        fi
    done
    if [[ $ok -eq 0 ]]; then
        timeout 10 sinfo -h -o "node %N: %t, cpus %c, memory %m MB, gres %G" || ok=1
        node_idle || ok=1
        timeout 10 sacct -n -X -S now >/dev/null 2>&1 && echo "accounting: sacct answers" || {
            echo "accounting: sacct fails"
            ok=1
        }
    fi
    return $ok
}

case "${1:-}" in
up) up ;;
down) down ;;
status) status ;;
env) echo "export SLURM_CONF=$SLURM_CONF" ;;
*)
    echo "usage: bash cluster/local_slurm.sh up|down|status|env   (scratch: \$ALBAR_SLURM_DIR, now $SCRATCH)" >&2
    exit 2
    ;;
esac
