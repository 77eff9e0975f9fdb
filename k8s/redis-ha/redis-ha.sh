#!/bin/sh
# Starts one container of a redis-ha pod: `redis-ha.sh redis` or `redis-ha.sh sentinel`.
#
# Every pod runs both. The Redis servers replicate from one master; the three Sentinels agree
# on which pod that is, and promote a replica when it dies. What this script decides is where a
# pod starts: a pod that comes back must follow the master the Sentinels chose while it was
# away, not the one it started with.
set -eu

service=redis-ha     # the headless Service: each pod is <pod>.redis-ha
master_name=pingpong # the name the Sentinels (and the app, REDIS_MASTER_NAME) know the master by
pods="redis-ha-0 redis-ha-1 redis-ha-2"
me="$(hostname).$service"
sentinel_conf=/data/sentinel.conf

# find_master prints the master's host name, in this order of trust:
#   1. what a running Sentinel says (they follow every failover);
#   2. the master this pod's own Sentinel last recorded (every pod was restarted at once);
#   3. pod 0 (the very first start).
find_master() {
  for pod in $pods; do
    # REDISCLI_AUTH holds the password: it is not on the command line.
    master="$(redis-cli -h "$pod.$service" -p 26379 --raw \
      sentinel get-master-addr-by-name "$master_name" 2>/dev/null | head -n 1 || true)"
    # Anything but a pod's name (no answer, an error) means: ask the next one.
    case "$master" in
      redis-ha-*."$service")
        echo "$master"
        return
        ;;
    esac
  done
  if [ -f "$sentinel_conf" ]; then
    master="$(awk -v name="$master_name" '$1 == "sentinel" && $2 == "monitor" && $3 == name { print $4 }' "$sentinel_conf")"
    if [ -n "$master" ]; then
      echo "$master"
      return
    fi
  fi
  echo "redis-ha-0.$service"
}

case "${1:-}" in
redis)
  master="$(find_master)"
  # The configuration goes to a file, so the password never shows in a process list.
  conf=/config/redis.conf
  cat >"$conf" <<CONF
port 6379
dir /data
# Every increment reaches the disk (once a second), so a restarted pod keeps its data.
appendonly yes
requirepass $REDIS_PASSWORD
masterauth $REDIS_PASSWORD
# The replicas and the Sentinels name each other by host name: pod IPs change at every restart.
replica-announce-ip $me
# The second line of defence: a master with no replica up to date refuses writes. The first is
# the app's WAIT after each batch, which answers a count only once a replica has it.
min-replicas-to-write 1
min-replicas-max-lag 10
CONF
  if [ "$master" = "$me" ]; then
    echo "starting as the master"
  else
    echo "starting as a replica of $master"
    echo "replicaof $master 6379" >>"$conf"
  fi
  exec redis-server "$conf"
  ;;
sentinel)
  # Sentinel rewrites its configuration file with all it learns (the current master, the other
  # Sentinels, its own id): it is written here at the first start only, and kept on the volume.
  if [ ! -f "$sentinel_conf" ]; then
    master="$(find_master)"
    cat >"$sentinel_conf" <<CONF
port 26379
dir /data
# Host names, not IPs, in what the Sentinels store and tell (they must come before "monitor").
sentinel resolve-hostnames yes
sentinel announce-hostnames yes
sentinel announce-ip $me
requirepass $REDIS_PASSWORD
# Two Sentinels must agree that the master is down.
sentinel monitor $master_name $master 6379 2
sentinel auth-pass $master_name $REDIS_PASSWORD
# How long the master may not answer before it is down: long enough for a busy node, short
# enough that a deleted master pod is replaced by a replica before it comes back.
sentinel down-after-milliseconds $master_name 2000
sentinel failover-timeout $master_name 10000
sentinel parallel-syncs $master_name 1
CONF
  fi
  # The same binary as the server: --sentinel starts Sentinel.
  exec redis-server "$sentinel_conf" --sentinel
  ;;
*)
  echo "usage: $0 redis|sentinel" >&2
  exit 2
  ;;
esac
