#!/bin/sh
# Starts one container of a redis-ha pod: `redis-ha.sh redis` or `redis-ha.sh sentinel`;
# `redis-ha.sh ready` is the Redis container's readiness probe. The Helm chart
# (redis.architecture=sentinel) runs this same script.
#
# Every pod runs both. The Redis servers replicate from one master; the three Sentinels agree
# on which pod that is, and promote a replica when it dies. What this script decides is where a
# pod starts: a pod that comes back must follow the master the Sentinels chose while it was
# away, not the one it started with.
set -eu

# A pod's host name is its StatefulSet's name and its number (redis-ha-1), and the headless
# Service has the StatefulSet's name: each pod is <pod>.<service> (redis-ha-1.redis-ha).
pod="$(hostname)"
service="${pod%-*}"
pods="$service-0 $service-1 $service-2"
me="$pod.$service"
master_name=pingpong # the name the Sentinels (and the app, REDIS_MASTER_NAME) know the master by
sentinel_conf="${SENTINEL_CONF:-/data/sentinel.conf}" # kept on the volume; a test points it elsewhere

# ask_sentinels prints the master a running Sentinel names, if any answers. They follow every
# failover, so they are the first to trust.
ask_sentinels() {
  for pod in $pods; do
    # REDISCLI_AUTH holds the password: it is not on the command line.
    master="$(redis-cli -h "$pod.$service" -p 26379 --raw \
      sentinel get-master-addr-by-name "$master_name" 2>/dev/null | head -n 1 || true)"
    # Anything but a pod's name (no answer, an error) means: ask the next one.
    case "$master" in
      "$service"-*."$service")
        echo "$master"
        return
        ;;
    esac
  done
}

# recorded_master prints the master this pod's Sentinel last recorded, if it ever started.
recorded_master() {
  if [ -f "$sentinel_conf" ]; then
    awk -v name="$master_name" '$1 == "sentinel" && $2 == "monitor" && $3 == name { print $4 }' "$sentinel_conf"
  fi
}

# find_master prints the master's host name: what a running Sentinel says; else, when every pod
# was restarted at once, what this pod's Sentinel last recorded; else (the very first start) pod 0.
find_master() {
  master="$(ask_sentinels)"
  [ -n "$master" ] || master="$(recorded_master)"
  [ -n "$master" ] || master="$service-0.$service"
  echo "$master"
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
# A replica that asks for the data gets it at once. By default the master waits 5 s for other
# replicas to ask too, and since it has no replica up to date meanwhile, it refuses writes.
repl-diskless-sync-delay 0
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
  # The password lines come below, at every start.
  if [ ! -f "$sentinel_conf" ]; then
    master="$(find_master)"
    cat >"$sentinel_conf" <<CONF
port 26379
dir /data
# Host names, not IPs, in what the Sentinels store and tell (they must come before "monitor").
sentinel resolve-hostnames yes
sentinel announce-hostnames yes
sentinel announce-ip $me
# Two Sentinels must agree that the master is down.
sentinel monitor $master_name $master 6379 2
# How long the master may not answer before it is down. A deleted pod is back in about 7 s
# (measured on a small node): the Sentinels must promote a replica well before, or the old
# master simply comes back. Longer makes every failover slower; shorter, a busy node may be
# called down while it is only slow.
sentinel down-after-milliseconds $master_name 2000
# When the master's pod is gone, its Sentinel is gone too: the two left must both vote for the
# same leader, and now and then each votes for itself at the same moment. They try again after
# twice this (the default, 3 minutes, would be 6 minutes of 503s).
sentinel failover-timeout $master_name 5000
sentinel parallel-syncs $master_name 1
CONF
  fi
  # The password, though, is set again at every start, from the Secret: Sentinel keeps the one
  # it was given in its file, and after a change of the Secret it would no longer get into
  # Redis, nor let the app in. The lines it rewrote with the old one go; the new ones come last
  # (auth-pass must follow monitor).
  grep -v -e '^requirepass ' -e "^sentinel auth-pass $master_name " -e '^user default ' \
    "$sentinel_conf" >"$sentinel_conf.new" || true
  cat >>"$sentinel_conf.new" <<CONF
requirepass $REDIS_PASSWORD
sentinel auth-pass $master_name $REDIS_PASSWORD
CONF
  mv "$sentinel_conf.new" "$sentinel_conf"
  # When no other Sentinel runs (every pod was restarted at once), wait for the master to answer
  # before starting: a Sentinel would call it down while it is still loading its data, and
  # promote a replica that may lack the last counts. After 20 s, start anyway (well before
  # the liveness probe gives up on this container).
  if [ -z "$(ask_sentinels)" ]; then
    master="$(recorded_master)"
    tries=20
    until [ "$tries" -eq 0 ] || redis-cli -h "$master" ping 2>/dev/null | grep -q PONG; do
      tries=$((tries - 1))
      sleep 1
    done
  fi
  # The same binary as the server: --sentinel starts Sentinel.
  exec redis-server "$sentinel_conf" --sentinel
  ;;
ready)
  # A master is ready when it answers. A replica is ready once it holds its master's data (the
  # link is up): until then it could not take over, and the master, with no replica up to
  # date, refuses writes. So `kubectl rollout status` and `helm install --wait` end when the
  # counter can count.
  info="$(redis-cli info replication)"
  case "$info" in
  *role:master* | *master_link_status:up*) ;;
  *) exit 1 ;;
  esac
  ;;
*)
  echo "usage: $0 redis|sentinel|ready" >&2
  exit 2
  ;;
esac
