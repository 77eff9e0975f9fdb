#!/usr/bin/env bash
# Seeds local stand-ins for the base images that the Dockerfiles and compose files name.
#
# For test machines that cannot pull from a registry only. A Docker engine uses a local image
# of the right name and tag without pulling, so each stand-in is built here from Debian's
# packages and the machine's Go toolchain, under exactly the name the project pins. The
# project's Dockerfiles and compose files are never changed for testing; on a learner's
# machine the real images are pulled as usual.
#
#   golang:<go.work's toolchain>-alpine   busybox, that Go, CA certificates
#   redis:7.4-alpine           busybox, Debian's redis-server and redis-cli
#   nginx:1.27-alpine          busybox, Debian's nginx
#   prom/prometheus:v2.53.4    busybox, Debian's prometheus and promtool
#   busybox:1.37               busybox (for the Helm chart's test pod and the cluster tests)
#
# Grafana has no stand-in: Debian does not package it, so the stack tests leave it out.
#
# Needs: docker (DOCKER_HOST pointing at the engine), go, busybox-static, redis-server,
# redis-tools and prometheus installed; nginx is taken from its Debian package without
# installing it, so that no web server starts on the host.
#
# Usage: test/standins/seed.sh [--force]
# An image whose recipe has not changed since it was made is kept, so a second run is fast.
set -euo pipefail

# The Go of the golang stand-in is the toolchain that go.work names, the tag the Dockerfiles pin
# (test/layout checks that they agree): the go command downloads it when the machine has another.
GOTOOLCHAIN=$(sed -n 's/^toolchain //p' "$(dirname "${BASH_SOURCE[0]}")/../../go.work")
export GOTOOLCHAIN

force=false
[[ ${1:-} == --force ]] && force=true

label=org.pingpong.standin
fingerprint=
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

log() { echo "standins: $*" >&2; }

# with_busybox and with_binary, which the cluster's node uses too.
# shellcheck source=rootfs.sh
source "$(dirname "${BASH_SOURCE[0]}")/rootfs.sh"

# needs_seed NAME RECIPE: true unless NAME exists and was made by the same RECIPE (a function
# of this script, with the helpers it uses) and the same Go; then it says it keeps the image.
needs_seed() {
	local name=$1 recipe=$2 have
	fingerprint=$({ declare -f "$recipe" skeleton with_busybox with_binary import; go env GOVERSION; } |
		sha256sum | cut -c1-16)
	$force && return 0
	have=$(docker image inspect -f "{{index .Config.Labels \"$label\"}}" "$name" 2>/dev/null) || return 0
	[[ $have == "$fingerprint" ]] || return 0
	log "kept $name"
	return 1
}

# skeleton DIR: the files every stand-in has (users, CA certificates, time zones, /tmp).
skeleton() {
	local root=$1
	mkdir -p "$root"/{etc/ssl/certs,usr/share,tmp,root,bin,usr/bin,usr/sbin,sbin,var,run}
	chmod 1777 "$root/tmp"
	cat >"$root/etc/passwd" <<-'EOF'
	root:x:0:0:root:/root:/bin/sh
	redis:x:999:1000:redis:/data:/sbin/nologin
	nginx:x:101:101:nginx:/var/cache/nginx:/sbin/nologin
	nobody:x:65534:65534:nobody:/home:/sbin/nologin
	EOF
	cat >"$root/etc/group" <<-'EOF'
	root:x:0:
	redis:x:1000:redis
	nginx:x:101:nginx
	nobody:x:65534:
	EOF
	cp /etc/ssl/certs/ca-certificates.crt "$root/etc/ssl/certs/"
	cp -r /usr/share/zoneinfo "$root/usr/share/"
}

# import DIR NAME CHANGE...: turn a root file system into the image NAME.
import() {
	local root=$1 name=$2 change
	shift 2
	local args=(--change "LABEL $label=$fingerprint")
	for change in "$@"; do args+=(--change "$change"); done
	tar -C "$root" --numeric-owner -c . | docker import "${args[@]}" - "$name" >/dev/null
	log "seeded $name ($(docker image inspect -f '{{.Size}}' "$name" | numfmt --to=iec))"
}

seed_golang() {
	local name root=$work/golang
	name=golang:$(go env GOVERSION | sed 's/^go//')-alpine
	needs_seed "$name" seed_golang || return 0
	skeleton "$root"
	with_busybox "$root"
	mkdir -p "$root/usr/local" "$root/go/bin" "$root/go/src" "$root/root/.cache/go-build"
	chmod -R 777 "$root/go"
	cp -a "$(go env GOROOT)" "$root/usr/local/go"
	# The standard library, compiled once here with the flags of the Dockerfiles' static build
	# (as Go images before 1.20 shipped it compiled in GOROOT/pkg): otherwise every image build
	# on a cold engine compiles it again. The build cache checks each entry against its
	# sources and flags, so a build with other flags just compiles what it needs.
	log "compiling the standard library for $name"
	GOCACHE=$root/root/.cache/go-build GOFLAGS='' GOWORK=off CGO_ENABLED=0 GOOS=linux \
		go build -trimpath std
	import "$root" "$name" \
		'ENV PATH=/go/bin:/usr/local/go/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
		'ENV GOPATH=/go' 'ENV GOTOOLCHAIN=local' "ENV GOLANG_VERSION=$(go env GOVERSION | sed 's/^go//')" \
		'WORKDIR /go' 'CMD ["/bin/sh"]'
}

seed_redis() {
	local name=redis:7.4-alpine root=$work/redis
	needs_seed "$name" seed_redis || return 0
	skeleton "$root"
	with_busybox "$root"
	with_binary "$root" "$(command -v redis-server)" /usr/local/bin/redis-server
	with_binary "$root" "$(command -v redis-cli)" /usr/local/bin/redis-cli
	mkdir -p "$root/data"
	chown 999:1000 "$root/data"
	# The official image runs Redis as the redis user in /data, with protected mode off
	# (it is reached from other containers); Debian's build has it on by default.
	import "$root" "$name" \
		'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
		'USER 999:1000' 'WORKDIR /data' 'VOLUME /data' 'EXPOSE 6379' \
		'CMD ["redis-server", "--protected-mode", "no"]'
}

seed_nginx() {
	local name=nginx:1.27-alpine root=$work/nginx deb=$work/nginx-deb
	needs_seed "$name" seed_nginx || return 0
	skeleton "$root"
	with_busybox "$root"
	(cd "$work" && apt-get download nginx nginx-common >/dev/null 2>&1) || {
		log "apt-get download nginx failed (run apt-get update?)"; exit 1
	}
	for pkg in "$work"/nginx*.deb; do dpkg-deb -x "$pkg" "$deb"; done
	with_binary "$root" "$deb/usr/sbin/nginx" /usr/sbin/nginx
	mkdir -p "$root"/etc/nginx/conf.d "$root"/var/{log/nginx,cache/nginx,lib/nginx} "$root/usr/share/nginx/html"
	cp "$deb/etc/nginx/mime.types" "$root/etc/nginx/"
	cp "$deb/usr/share/nginx/html/index.html" "$root/usr/share/nginx/html/"
	# As in the official image: logs go to the container's output, and the default
	# configuration includes conf.d/.
	ln -s /dev/stdout "$root/var/log/nginx/access.log"
	ln -s /dev/stderr "$root/var/log/nginx/error.log"
	cat >"$root/etc/nginx/nginx.conf" <<-'EOF'
	user nginx;
	worker_processes auto;
	events { worker_connections 1024; }
	http {
	    include /etc/nginx/mime.types;
	    include /etc/nginx/conf.d/*.conf;
	}
	EOF
	cat >"$root/etc/nginx/conf.d/default.conf" <<-'EOF'
	server {
	    listen 80;
	    location / { root /usr/share/nginx/html; }
	}
	EOF
	import "$root" "$name" \
		'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
		'EXPOSE 80' 'CMD ["nginx", "-g", "daemon off;"]'
}

seed_busybox() {
	local name=busybox:1.37 root=$work/busybox
	needs_seed "$name" seed_busybox || return 0
	skeleton "$root"
	with_busybox "$root"
	import "$root" "$name" \
		'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
		'CMD ["sh"]'
}

seed_prometheus() {
	local name=prom/prometheus:v2.53.4 root=$work/prometheus
	needs_seed "$name" seed_prometheus || return 0
	skeleton "$root"
	with_busybox "$root"
	with_binary "$root" "$(command -v prometheus)" /bin/prometheus
	with_binary "$root" "$(command -v promtool)" /bin/promtool
	mkdir -p "$root/etc/prometheus" "$root/prometheus"
	chown 65534:65534 "$root/prometheus"
	cat >"$root/etc/prometheus/prometheus.yml" <<-'EOF'
	scrape_configs:
	  - job_name: prometheus
	    static_configs:
	      - targets: ["localhost:9090"]
	EOF
	import "$root" "$name" \
		'USER 65534' 'WORKDIR /prometheus' 'VOLUME /prometheus' 'EXPOSE 9090' \
		'ENTRYPOINT ["/bin/prometheus"]' \
		'CMD ["--config.file=/etc/prometheus/prometheus.yml", "--storage.tsdb.path=/prometheus"]'
}

for tool in docker go busybox redis-server redis-cli prometheus promtool apt-get dpkg-deb; do
	command -v "$tool" >/dev/null || { log "needs $tool on PATH"; exit 1; }
done
docker info >/dev/null || { log "no Docker engine answers (DOCKER_HOST=${DOCKER_HOST:-unset})"; exit 1; }

seed_golang
seed_redis
seed_nginx
seed_prometheus
seed_busybox
