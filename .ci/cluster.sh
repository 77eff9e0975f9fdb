#!/usr/bin/env bash
# Starts a real single-node Kubernetes for the cluster tests and prints the variables to export.
#
#   eval "$(.ci/cluster.sh)"    install what is missing, build the binaries (cached), start the
#                               Docker engine (.ci/docker.sh) and the node; prints `export
#                               KUBECONFIG=...`, PINGPONG_TEST_CONTEXT (the node's context, the
#                               one the tests may change), DOCKER_HOST and the PATH with kubectl
#   .ci/cluster.sh build        only install and build (the node's binaries and the Docker
#                               engine's Compose and Buildx), start nothing; with
#                               --start-engine=FILE, also start the Docker engine as soon as it
#                               can, write its variables to FILE then, and build the app's image
#   .ci/cluster.sh down         stop the node and remove everything it made
#
# The tests also need `helm` (Helm 4) and `helm3` on PATH: `make tools` installs both.
#
# Safe to run again: a node that is already up is reused, and every binary is built once and kept
# under $PINGPONG_CLUSTER_CACHE (default ~/.cache/pingpong-cluster). Cold, on 2 cores, the builds
# take about half an hour (Kubernetes is the largest, then Traefik); warm, the node and its add-ons
# are up in under a minute.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
node=$repo/test/cluster/kube-node.sh

log() { echo "cluster.sh: $*" >&2; }

# The image the READMEs' commands deploy, built from this checkout (the tests load it too).
build_app_image() {
	docker build -q -t pingpong:v3 "$repo/v3_redis_counter" >/dev/null
}

install_packages() {
	local -A need=(
		[etcd]=etcd-server [containerd]=containerd [runc]=runc [iptables]=iptables
		[conntrack]=conntrack [openssl]=openssl [envsubst]=gettext-base [busybox]=busybox-static
		[ipset]=ipset [git]=git
	)
	local cmd pkgs=()
	for cmd in "${!need[@]}"; do
		command -v "$cmd" >/dev/null || pkgs+=("${need[$cmd]}")
	done
	[[ -x /usr/lib/cni/bridge ]] || pkgs+=(containernetworking-plugins)
	((${#pkgs[@]} == 0)) && return
	log "installing ${pkgs[*]}"
	apt-get update -qq >&2
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${pkgs[@]}" >&2
}

case ${1:-up} in
up)
	started=$SECONDS
	install_packages
	# The node's containerd gets its images from this engine (docker save | ctr import).
	eval "$("$repo/.ci/docker.sh")"
	"$node" build >&2
	"$node" up
	build_app_image
	"$node" load pingpong:v3
	echo "export DOCKER_HOST=$DOCKER_HOST"
	log "ready in $((SECONDS - started))s"
	;;
build)
	install_packages
	# The Docker engine's plugins build beside the node's binaries. With --start-engine=FILE the
	# engine also starts as soon as they exist, FILE appears with its variables (from then on the
	# engine's tests can run), and it builds the app's image, while the node still builds.
	case ${2:-} in
	--start-engine=?*)
		vars=${2#--start-engine=}
		{ "$repo/.ci/docker.sh" >"$vars.tmp" && mv "$vars.tmp" "$vars" && eval "$(cat "$vars")" &&
			build_app_image; } >&2 &
		;;
	"") "$repo/.ci/docker.sh" build >&2 & ;;
	*)
		echo "usage: $0 build [--start-engine=FILE]" >&2
		exit 2
		;;
	esac
	plugins=$!
	status=0
	"$node" build >&2 || status=$?
	# The engine's side is waited for even when the node's build failed: whoever called this
	# stops the engine when it ends, so the engine must not start after that.
	wait "$plugins"
	exit "$status"
	;;
down)
	"$node" down
	;;
*)
	echo "usage: $0 [up|build|down]" >&2
	exit 2
	;;
esac
