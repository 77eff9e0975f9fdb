#!/usr/bin/env bash
# Starts a private Docker engine for the container tests and prints the variable to export.
#
#   eval "$(.ci/docker.sh)"   install what is missing, start (or reuse) the engine, seed the
#                             base-image stand-ins; prints `export DOCKER_HOST=...`
#   .ci/docker.sh build       only install and build (Compose and Buildx), start nothing
#   .ci/docker.sh stop        stop the engine that this script started
#
# The engine has its own socket, data root and bridge, so it does not touch another engine on
# the same machine. The slow parts are kept between runs under $PINGPONG_CACHE (default
# ~/.cache/pingpong): the Compose and Buildx binaries, and the engine's data root with its images
# and build cache. With a warm cache a run takes a few seconds.
set -euo pipefail

compose_version=v2.40.3
cache=${PINGPONG_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/pingpong}
engine=$cache/engine
sock=$engine/docker.sock
pidfile=$engine/dockerd.pid
bridge=pingpong0
bridge_cidr=10.198.0.1/24
address_pool=base=10.199.0.0/16,size=24
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

export DOCKER_HOST=unix://$sock

log() { echo "docker.sh: $*" >&2; }

# retry N CMD...: run CMD up to N times; module downloads sometimes hang or drop.
retry() {
	local n=$1 i
	shift
	for ((i = 1; i <= n; i++)); do
		"$@" && return 0
		log "attempt $i/$n failed: $*"
	done
	return 1
}

engine_running() {
	[[ -S $sock && -f $pidfile ]] && kill -0 "$(cat "$pidfile")" 2>/dev/null &&
		timeout 10 docker info >/dev/null 2>&1
}

stop_engine() {
	if [[ -f $pidfile ]] && kill -0 "$(cat "$pidfile")" 2>/dev/null; then
		local pid i
		pid=$(cat "$pidfile")
		kill "$pid"
		for ((i = 0; i < 60; i++)); do
			kill -0 "$pid" 2>/dev/null || break
			sleep 0.5
		done
		log "stopped dockerd ($pid)"
	fi
}

install_packages() {
	local -A need=(
		[dockerd]=docker.io [busybox]=busybox-static [redis-server]=redis-server
		[redis-cli]=redis-tools [prometheus]=prometheus [ip]=iproute2
	)
	local cmd pkgs=()
	for cmd in "${!need[@]}"; do
		command -v "$cmd" >/dev/null || pkgs+=("${need[$cmd]}")
	done
	# The nginx stand-in is made from Debian's package, downloaded without installing it:
	# that needs the package lists too.
	if ((${#pkgs[@]} == 0)) && apt-cache show nginx >/dev/null 2>&1; then
		return
	fi
	log "installing ${pkgs[*]:-nothing (updating the package lists)}"
	apt-get update -qq >&2
	((${#pkgs[@]} == 0)) && return
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${pkgs[@]}" >&2
}

# Compose v2 and Buildx (the docker CLI's BuildKit client: the CLI here builds with BuildKit,
# DOCKER_BUILDKIT=1, only through it) are not packaged by Debian 12, so both are built once from
# Compose's Go module and kept. Compose is built on Buildx's packages, so Buildx is built at the
# version Compose requires, in the same module: the second build reuses most of the first.
# Buildx's Kubernetes driver (it runs BuildKit in pods) is the only part of Compose and Buildx on
# Kubernetes' client libraries: a fifth of the packages they compile. The build uses a copy of
# Buildx's module in which that package is empty: Compose and Buildx then build with the Docker
# engine's own builder and the docker-container and remote drivers, as here, and no Kubernetes.
without_kubernetes_driver() {
	local module
	module=$(retry 3 timeout 600 go mod download -json "github.com/docker/buildx@$1" |
		sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
	[[ -d $module ]] || { log "Buildx's module could not be downloaded"; return 1; }
	cp -r "$module" buildx && chmod -R u+w buildx
	rm buildx/driver/kubernetes/*.go
	printf '// Package kubernetes stands in for the Kubernetes driver, which this build leaves out.\npackage kubernetes\n' \
		>buildx/driver/kubernetes/kubernetes.go
	sed -i '\#"k8s.io/client-go/plugin/pkg/client/auth/oidc"#d' buildx/cmd/buildx/main.go
	go mod edit -replace github.com/docker/buildx=./buildx
}

install_plugins() {
	local plugins=${DOCKER_CONFIG:-$HOME/.docker}/cli-plugins
	local dir=$cache/compose/$compose_version
	if [[ ! -x $dir/docker-compose || ! -x $dir/docker-buildx ]]; then
		log "building Compose $compose_version and its Buildx (a few minutes, once)"
		local src=$cache/compose/src started=$SECONDS
		rm -rf "$src" && mkdir -p "$src"
		# Compose's own go.mod excludes these two versions; `go install pkg@version` refuses
		# modules with exclude directives, so a scratch module repeats them.
		cat >"$src/go.mod" <<-'EOF'
		module composebuild

		go 1.25

		exclude (
			github.com/davecgh/go-spew v1.1.2-0.20180830191138-d8f796af33cc
			github.com/pmezard/go-difflib v1.0.1-0.20181226105442-5d4384ee4fb2
		)
		EOF
		(
			cd "$src"
			export GOWORK=off GOFLAGS='' CGO_ENABLED=0
			# Both are added before either is built: Buildx's own requirements raise a few modules
			# that nearly every package imports (golang.org/x/net, x/crypto), and raised between
			# the two builds they would make the second one compile those packages again.
			retry 3 timeout 600 go get "github.com/docker/compose/v2/cmd@$compose_version" >&2
			local buildx
			buildx=$(go list -m -f '{{.Version}}' github.com/docker/buildx)
			retry 3 timeout 600 go get "github.com/docker/buildx/cmd/buildx@$buildx" >&2
			without_kubernetes_driver "$buildx"
			# Stripped binaries (-s -w): with -dwarf=false the compiler does not make the debug
			# information either, about 15% less build time.
			retry 2 timeout 1800 go build -trimpath -gcflags=all=-dwarf=false -o "$src/docker-compose" \
				-ldflags "-s -w -X github.com/docker/compose/v2/internal.Version=$compose_version" \
				github.com/docker/compose/v2/cmd >&2
			retry 2 timeout 1800 go build -trimpath -gcflags=all=-dwarf=false -o "$src/docker-buildx" \
				-ldflags "-s -w -X github.com/docker/buildx/version.Version=$buildx" \
				github.com/docker/buildx/cmd/buildx >&2
		)
		mkdir -p "$dir"
		mv "$src/docker-compose" "$src/docker-buildx" "$dir/"
		rm -rf "$src"
		log "built Compose and Buildx in $((SECONDS - started))s"
	fi
	mkdir -p "$plugins"
	ln -sf "$dir/docker-compose" "$plugins/docker-compose"
	ln -sf "$dir/docker-buildx" "$plugins/docker-buildx"
}

start_engine() {
	engine_running && { log "reusing dockerd ($(cat "$pidfile"))"; return; }
	stop_engine
	mkdir -p "$engine"
	rm -f "$sock"
	# An own bridge, so that the default bridge (docker0) of another engine is left alone.
	if ! ip link show "$bridge" >/dev/null 2>&1; then
		ip link add "$bridge" type bridge
		ip addr add "$bridge_cidr" dev "$bridge"
	fi
	ip link set "$bridge" up
	log "starting dockerd (log: $engine/dockerd.log)"
	# In a session of its own, which Linux gives as much of the CPU as CI's session, whatever runs
	# there (autogroup): the timed tests on the engine need that share beside the node's build (at
	# the share of nice 10, Compose's Sentinel failover answered again after 11.6s, over its 10s).
	setsid nohup dockerd \
		--host "unix://$sock" --pidfile "$pidfile" \
		--data-root "$engine/data" --exec-root "$engine/exec" \
		--bridge "$bridge" --default-address-pool "$address_pool" \
		>"$engine/dockerd.log" 2>&1 </dev/null &
	local i
	for ((i = 0; i < 120; i++)); do
		if timeout 10 docker info >/dev/null 2>&1; then
			remove_leftovers
			return
		fi
		sleep 0.5
	done
	log "dockerd did not answer within 60s; last lines of its log:"
	tail -20 "$engine/dockerd.log" >&2
	exit 1
}

# The tests name everything they create e2e-*, and remove it when they end. A run that was
# killed leaves its containers behind, and their restart policy brings them back with the
# engine: on a freshly started engine no test is running yet, so they all go.
remove_leftovers() {
	local ids
	mapfile -t ids < <(docker ps --all --quiet --filter name=^e2e-)
	if ((${#ids[@]} > 0)); then
		log "removing ${#ids[@]} containers left by an interrupted test run"
		docker rm --force --volumes "${ids[@]}" >/dev/null
	fi
	docker network ls --quiet --filter name=^e2e- | xargs -r docker network rm >/dev/null
	docker volume ls --quiet --filter name=^e2e- | xargs -r docker volume rm >/dev/null
}

case ${1:-start} in
stop)
	stop_engine
	exit 0
	;;
build)
	install_packages
	install_plugins
	exit 0
	;;
start) ;;
*)
	echo "usage: $0 [start|build|stop]" >&2
	exit 2
	;;
esac

started=$SECONDS
install_packages
install_plugins
start_engine
"$repo/test/standins/seed.sh"
log "ready in $((SECONDS - started))s: $(docker version -f 'engine {{.Server.Version}}'), $(docker compose version --short 2>/dev/null | sed 's/^/compose /'), $(docker buildx version 2>/dev/null | cut -d' ' -f1,2)"
echo "export DOCKER_HOST=$DOCKER_HOST"
