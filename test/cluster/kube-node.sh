#!/usr/bin/env bash
# A real single-node Kubernetes for the end-to-end tests, built from upstream sources.
#
#   kube-node.sh build          build and cache every binary (idempotent)
#   kube-node.sh up             start the node and its add-ons, print the environment for the tests
#   kube-node.sh env            print that environment again (export lines, for eval)
#   kube-node.sh load IMAGE...  copy images from the Docker engine into the node's containerd
#   kube-node.sh down           stop every process it started and remove everything it made
#
# No container image and no release binary can be downloaded where the tests run, so every
# component is compiled from its source through the Go module proxy (Kubernetes itself, CoreDNS,
# the local-path volume provisioner, the Traefik Ingress and Gateway controller, metrics-server,
# kube-router's NetworkPolicy firewall, the Argo Rollouts controller and its kubectl plugin,
# Argo CD's application controller and repo server), and the rest comes from Debian's packages
# (etcd, containerd, runc, the CNI plugins, iptables, git). Helm is not built here: the tests
# and the Argo CD image use the `helm` on PATH.
#
# The node lives in its own network namespace, joined to the host by a veth pair: its etcd,
# API server, kubelet, iptables rules and pod bridge cannot collide with anything else on the
# machine, and `down` removes them all by deleting that namespace.
set -euo pipefail

K8S_VERSION=v1.34.4
COREDNS_VERSION=v1.12.4
LOCAL_PATH_VERSION=v0.0.30
TRAEFIK_VERSION=v3.6.12
METRICS_SERVER_VERSION=v0.8.0
KUBE_ROUTER_VERSION=v2.1.0
ARGO_ROLLOUTS_VERSION=v1.10.1
ARGOCD_VERSION=v3.6.2
# Argo CD 3.6's go.mod asks for Go 1.27: the go command downloads that toolchain for its build.
ARGOCD_GO=go1.27.3

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
CACHE=${PINGPONG_CLUSTER_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/pingpong-cluster}
STATE=${PINGPONG_CLUSTER_STATE:-${TMPDIR:-/tmp}/pingpong-cluster}
BIN=$CACHE/bin
K8S_BIN=$BIN/kubernetes-$K8S_VERSION

# The node's network: a /30 between host and node, and the cluster's own ranges behind it.
NETNS=pingpong-node
NODE_NAME=pingpong-node
HOST_IF=ppnode0
NODE_IF=ppnode1
HOST_IP=10.251.0.1
NODE_IP=10.251.0.2
SERVICE_CIDR=10.96.0.0/24
API_SERVICE_IP=10.96.0.1
DNS_SERVICE_IP=10.96.0.10
POD_CIDR=10.244.0.0/24

CONTAINERD_SOCK=$STATE/containerd/containerd.sock
KUBECONFIG_FILE=$STATE/admin.kubeconfig

# The scratch modules below live outside any workspace.
export GOWORK=off
# Every binary here is stripped (-ldflags "-s -w"); -dwarf=false spares the compiler making the
# debug information in the first place: about 15% less build time.
GO_BUILD=(go build -trimpath -gcflags=all=-dwarf=false)

log() { echo "kube-node: $*" >&2; }
die() { log "$*"; exit 1; }

# with_busybox and with_binary, which make the Argo CD image from this machine's programs.
# shellcheck source=../standins/rootfs.sh
source "$HERE/../standins/rootfs.sh"

# retry N CMD...: a module download sometimes hangs without a byte; each try is bounded by the
# caller's timeout, and a hung one is tried again.
retry() {
	local tries=$1 i
	shift
	for ((i = 1; i <= tries; i++)); do
		"$@" && return 0
		log "attempt $i of $tries failed: $*"
	done
	return 1
}

# --- build ---------------------------------------------------------------------------------

# The add-ons written on Kubernetes' client libraries (NAME VERSION MODULE PACKAGE). They are built
# in Kubernetes' own module, against the release the node runs: most of the source they compile is
# then the packages Kubernetes has just compiled, instead of copies from other releases.
K8S_ADDONS=(
	"metrics-server $METRICS_SERVER_VERSION sigs.k8s.io/metrics-server sigs.k8s.io/metrics-server/cmd/metrics-server"
	"kube-router $KUBE_ROUTER_VERSION github.com/cloudnativelabs/kube-router/v2 github.com/cloudnativelabs/kube-router/v2/cmd/kube-router"
	"local-path-provisioner $LOCAL_PATH_VERSION github.com/rancher/local-path-provisioner github.com/rancher/local-path-provisioner"
	"traefik $TRAEFIK_VERSION github.com/traefik/traefik/v3 github.com/traefik/traefik/v3/cmd/traefik"
	"coredns $COREDNS_VERSION github.com/coredns/coredns kubernetes-build/coredns"
	"rollouts-controller $ARGO_ROLLOUTS_VERSION github.com/argoproj/argo-rollouts github.com/argoproj/argo-rollouts/cmd/rollouts-controller"
	"kubectl-argo-rollouts $ARGO_ROLLOUTS_VERSION github.com/argoproj/argo-rollouts github.com/argoproj/argo-rollouts/cmd/kubectl-argo-rollouts"
)

# What Traefik's own go.mod replaces and excludes, repeated: only the main module's count.
TRAEFIK_GOMOD=(
	-replace github.com/abbot/go-http-auth=github.com/containous/go-http-auth@v0.4.1-0.20200324110947-a37a7636d23e
	-replace github.com/gorilla/mux=github.com/containous/mux@v0.0.0-20250523120546-41b6ec3aed59
	-replace github.com/mailgun/minheap=github.com/containous/minheap@v0.0.0-20190809180810-6e71eb837595
	-exclude github.com/tencentcloud/tencentcloud-sdk-go@v3.0.83+incompatible
)

# What Argo Rollouts' go.mod replaces, repeated (two forks it builds with), and the node's own
# release of Kubernetes kept: Argo Rollouts names a later patch release.
ARGO_ROLLOUTS_GOMOD=(
	-replace "k8s.io/kubernetes=k8s.io/kubernetes@$K8S_VERSION"
	-replace github.com/go-check/check=github.com/go-check/check@v0.0.0-20180628173108-788fd7840127
	-replace github.com/go-telegram-bot-api/telegram-bot-api/v5=github.com/OvyFlash/telegram-bot-api/v5@v5.0.0-20240108230938-63e5c59035bf
)

# CoreDNS (the add-on kubernetes-build/coredns above) with only the plugins that
# addons/coredns.yaml's Corefile uses: its default build compiles every plugin, cloud DNS SDKs and
# tracers included, which takes several times longer. The release is of the 1.12 line that
# Kubernetes 1.34 names (v1.12.1 in its build/dependencies.yaml, which no longer compiles against
# the client libraries and QUIC package here; v1.12.4 does). CoreDNS 1.13 raises the etcd and
# Prometheus libraries that Kubernetes compiles with, and 1.14 needs Kubernetes 1.35's clients.
COREDNS_MAIN='package main

import (
	"github.com/coredns/coredns/coremain"

	_ "github.com/coredns/coredns/plugin/cache"
	_ "github.com/coredns/coredns/plugin/errors"
	_ "github.com/coredns/coredns/plugin/health"
	_ "github.com/coredns/coredns/plugin/kubernetes"
	_ "github.com/coredns/coredns/plugin/loadbalance"
	_ "github.com/coredns/coredns/plugin/ready"
	_ "github.com/coredns/coredns/plugin/reload"
)

func main() { coremain.Run() }'

# Kubernetes' own go.mod points every staging module (k8s.io/api, k8s.io/client-go, ...) at
# ./staging, which a module that depends on k8s.io/kubernetes cannot see: point them at the
# published copies of the same release instead, and stamp the version that kubectl and Helm read.
build_kubernetes() {
	local cmds="kube-apiserver kube-controller-manager kube-scheduler kubelet kube-proxy kubectl"
	local dir=$CACHE/src/kubernetes-$K8S_VERSION c addon name version module pkg missing=0 started=$SECONDS
	for c in $cmds; do [[ -x $K8S_BIN/$c ]] || missing=1; done
	for addon in "${K8S_ADDONS[@]}"; do
		read -r name version module pkg <<<"$addon"
		[[ -x $BIN/$name-$version/$name ]] || missing=1
	done
	((missing)) || return 0
	rm -rf "$dir" && mkdir -p "$dir" "$K8S_BIN"
	log "building Kubernetes $K8S_VERSION and the add-ons on its libraries (about 25 minutes on 2 cores the first time)"
	(
		cd "$dir"
		local gomod staging m minor ldflags="-s -w"
		gomod=$(retry 3 timeout 900 go mod download -json "k8s.io/kubernetes@$K8S_VERSION" |
			sed -n 's/^[[:space:]]*"GoMod": "\(.*\)",$/\1/p')
		staging=$(sed -n 's#^[[:space:]]*\(k8s.io/[^ ]*\) => ./staging/.*#\1#p' "$gomod")
		{
			printf 'module kubernetes-build\n\ngo 1.25.0\n\nrequire k8s.io/kubernetes %s\n\nreplace (\n' "$K8S_VERSION"
			for m in $staging; do printf '\t%s => %s v0%s\n' "$m" "$m" "${K8S_VERSION#v1}"; done
			printf ')\n'
		} >go.mod
		go mod edit "${TRAEFIK_GOMOD[@]}" "${ARGO_ROLLOUTS_GOMOD[@]}"
		{
			printf '//go:build tools\n\npackage tools\n\nimport (\n'
			for c in $cmds; do printf '\t_ "k8s.io/kubernetes/cmd/%s"\n' "$c"; done
			for addon in "${K8S_ADDONS[@]}"; do
				read -r name version module pkg <<<"$addon"
				printf '\t_ "%s"\n' "$pkg"
			done
			printf ')\n'
		} >tools.go
		mkdir coredns && printf '%s\n' "$COREDNS_MAIN" >coredns/main.go
		for addon in "${K8S_ADDONS[@]}"; do
			read -r name version module pkg <<<"$addon"
			retry 3 timeout 900 go get "$module@$version"
		done
		trim_traefik
		retry 3 timeout 1200 go mod tidy
		minor=$(cut -d. -f2 <<<"$K8S_VERSION")
		for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
			ldflags+=" -X $pkg.gitVersion=$K8S_VERSION -X $pkg.gitMajor=1 -X $pkg.gitMinor=$minor"
			ldflags+=" -X $pkg.gitTreeState=clean"
		done
		# One `go build` for all six: it links two of them at a time.
		rm -rf "$K8S_BIN.tmp" && mkdir -p "$K8S_BIN.tmp"
		CGO_ENABLED=0 "${GO_BUILD[@]}" -ldflags "$ldflags" -o "$K8S_BIN.tmp/" \
			$(printf 'k8s.io/kubernetes/cmd/%s ' $cmds)
		mv "$K8S_BIN.tmp"/* "$K8S_BIN/"
		rmdir "$K8S_BIN.tmp"
		# The add-ons one at a time, without Kubernetes' version stamp: local-path-provisioner
		# imports logrus by its old name (github.com/Sirupsen/logrus), which one build cannot
		# hold beside the new one.
		for addon in "${K8S_ADDONS[@]}"; do
			read -r name version module pkg <<<"$addon"
			ldflags="-s -w"
			case $module in
			github.com/traefik/traefik/v3) ldflags+=" -X $module/pkg/version.Version=$version" ;;
			github.com/argoproj/argo-rollouts) ldflags+=" -X $module/utils/version.version=${version#v}" ;;
			esac
			mkdir -p "$BIN/$name-$version"
			CGO_ENABLED=0 "${GO_BUILD[@]}" -ldflags "$ldflags" -o "$BIN/$name-$version/$name.tmp" "$pkg"
			mv "$BIN/$name-$version/$name.tmp" "$BIN/$name-$version/$name"
		done
	)
	log "built Kubernetes $K8S_VERSION and its add-ons in $((SECONDS - started))s"
}

# Traefik without the parts this node never uses, which hold more than half of the source it
# compiles: lego's DNS-01 providers for ACME certificates (the SDKs of some 150 DNS services), the
# AWS ECS, Knative and Nomad providers, the plugin runtimes (the Yaegi interpreter with its tables
# of the standard library, and WebAssembly's) and the InfluxDB v2 metrics client. Each comes from a
# local copy of its module in which those packages are stand-ins: the DNS providers answer that
# none is known, the three providers refuse to start, a configuration that names a plugin is
# refused, and InfluxDB metrics log that they are not built in.
LEGO_DNS_STANDIN='// Package dns stands in for the DNS-01 providers of lego, which this build leaves out.
package dns

import (
	"fmt"

	"github.com/go-acme/lego/v4/challenge"
)

// NewDNSChallengeProviderByName knows no provider.
func NewDNSChallengeProviderByName(name string) (challenge.Provider, error) {
	return nil, fmt.Errorf("unrecognized DNS provider: %s", name)
}'
# (types.go, which the static configuration's plugin options use, stays.)
PLUGINS_STANDIN='// Package plugins stands in for Traefik'"'"'s plugins, which this build leaves out.
package plugins

import (
	"context"
	"errors"
	"net/http"

	"github.com/traefik/traefik/v3/pkg/provider"
)

var errNotBuiltIn = errors.New("plugins are not built in")

// Constructor creates a plugin'"'"'s handler.
type Constructor func(context.Context, http.Handler) (http.Handler, error)

// RegistryDownloaderOptions are the downloader'"'"'s options.
type RegistryDownloaderOptions struct {
	HTTPClient   *http.Client
	ArchivesPath string
}

// RegistryDownloader downloads no plugin.
type RegistryDownloader struct{}

// NewRegistryDownloader refuses.
func NewRegistryDownloader(RegistryDownloaderOptions) (*RegistryDownloader, error) {
	return nil, errNotBuiltIn
}

// ManagerOptions are the manager'"'"'s options.
type ManagerOptions struct{ Output string }

// Manager manages no plugin.
type Manager struct{}

// NewManager refuses.
func NewManager(*RegistryDownloader, ManagerOptions) (*Manager, error) { return nil, errNotBuiltIn }

// SetupRemotePlugins refuses.
func SetupRemotePlugins(*Manager, map[string]Descriptor) error { return errNotBuiltIn }

// SetupLocalPlugins refuses.
func SetupLocalPlugins(map[string]LocalDescriptor) error { return errNotBuiltIn }

// Builder builds no plugin.
type Builder struct{}

// NewBuilder returns a builder when no plugin is configured.
func NewBuilder(_ *Manager, plugins map[string]Descriptor, localPlugins map[string]LocalDescriptor) (*Builder, error) {
	if len(plugins)+len(localPlugins) > 0 {
		return nil, errNotBuiltIn
	}
	return &Builder{}, nil
}

// Build refuses.
func (Builder) Build(string, map[string]any, string) (Constructor, error) { return nil, errNotBuiltIn }

// BuildProvider refuses.
func (Builder) BuildProvider(string, map[string]any) (provider.Provider, error) {
	return nil, errNotBuiltIn
}'
INFLUXDB2_STANDIN='package metrics

import (
	"context"

	"github.com/rs/zerolog/log"
	otypes "github.com/traefik/traefik/v3/pkg/observability/types"
)

// RegisterInfluxDB2 registers nothing: InfluxDB v2 metrics are not built in.
func RegisterInfluxDB2(ctx context.Context, _ *otypes.InfluxDB2) Registry {
	log.Ctx(ctx).Error().Msg("InfluxDB v2 metrics are not built in")
	return nil
}

// StopInfluxDB2 has nothing to stop.
func StopInfluxDB2() {}'
NOMAD_BUILDER='
// ProviderBuilder builds the Nomad provider, without options.
type ProviderBuilder struct{}

// BuildProviders builds the one provider, which refuses to start.
func (p *ProviderBuilder) BuildProviders() []*Provider { return []*Provider{{}} }'

# provider_standin PACKAGE NAME: a Traefik provider, without options, that refuses to start.
provider_standin() {
	printf '// Package %s stands in for the %s provider, which this build leaves out.
package %s

import (
	"errors"

	"github.com/traefik/traefik/v3/pkg/config/dynamic"
	"github.com/traefik/traefik/v3/pkg/safe"
)

// Provider is the %s provider, without options.
type Provider struct{}

// Init refuses to start the provider.
func (p *Provider) Init() error { return errors.New("the %s provider is not built in") }

// Provide provides nothing.
func (p *Provider) Provide(chan<- dynamic.Message, *safe.Pool) error { return nil }\n' "$1" "$2" "$1" "$2" "$2"
}

# download MODULE VERSION: the folder of that version of MODULE in the module cache, downloaded
# first.
download() {
	retry 3 timeout 600 go mod download -json "$1@$2" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p'
}

# module_dir MODULE: the folder of the version of MODULE that the scratch module requires
# (`go get MODULE@VERSION` only fetches go.mod files).
module_dir() {
	download "$1" "$(go list -m -f '{{.Version}}' "$1")"
}

trim_traefik() {
	local lego traefik
	lego=$(module_dir github.com/go-acme/lego/v4)
	traefik=$(module_dir github.com/traefik/traefik/v3)
	[[ -d $lego && -d $traefik ]] || die "Traefik's or lego's module could not be downloaded"
	rm -rf lego traefik
	cp -r "$lego" lego && cp -r "$traefik" traefik && chmod -R u+w lego traefik
	rm -rf lego/providers/dns/*
	printf '%s\n' "$LEGO_DNS_STANDIN" >lego/providers/dns/dns.go
	(
		cd traefik/pkg
		rm -rf provider/ecs/* provider/kubernetes/knative/* provider/nomad/*
		provider_standin ecs "AWS ECS" >provider/ecs/ecs.go
		provider_standin knative Knative >provider/kubernetes/knative/knative.go
		{ provider_standin nomad Nomad && printf '%s\n' "$NOMAD_BUILDER"; } >provider/nomad/nomad.go
		find plugins -type f ! -name types.go -delete
		printf '%s\n' "$PLUGINS_STANDIN" >plugins/plugins.go
		rm observability/metrics/influxdb2*.go
		printf '%s\n' "$INFLUXDB2_STANDIN" >observability/metrics/influxdb2.go
	)
	go mod edit -replace github.com/go-acme/lego/v4=./lego -replace github.com/traefik/traefik/v3=./traefik
}

# The Gateway API CRDs of the release that Traefik is built against, as its binary records it.
gateway_api_crds() {
	local version
	version=$(go version -m "$BIN/traefik-$TRAEFIK_VERSION/traefik" | awk '$2 == "sigs.k8s.io/gateway-api" { print $3 }')
	[[ -n $version ]] || die "Traefik's binary names no release of sigs.k8s.io/gateway-api"
	echo "$(download sigs.k8s.io/gateway-api "$version")/config/crd/standard"
}

# Traefik's own CRDs (traefik.io: IngressRoute, TraefikService, Middleware...), from its release:
# the file its documentation installs.
traefik_crds() {
	echo "$(download github.com/traefik/traefik/v3 "$TRAEFIK_VERSION")/docs/content/reference/dynamic-configuration/kubernetes-crd-definition-v1.yml"
}

# Argo CD Core: its application controller and repo server, without the API server and the UI
# (the headless mode its documentation describes; Applications are then kubectl's objects). One
# binary that runs as the one its name says, as the upstream image's `argocd` does; git-ask-pass
# is the helper the repo server hands git for credentials.
ARGOCD_MAIN='// Command argocd is Argo CD'"'"'s application controller and repo server, chosen by its name.
package main

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	appcontroller "github.com/argoproj/argo-cd/v3/cmd/argocd-application-controller/commands"
	gitaskpass "github.com/argoproj/argo-cd/v3/cmd/argocd-git-ask-pass/commands"
	reposerver "github.com/argoproj/argo-cd/v3/cmd/argocd-repo-server/commands"
	"github.com/argoproj/argo-cd/v3/common"
)

func main() {
	name := filepath.Base(os.Args[0])
	if v := os.Getenv("ARGOCD_BINARY_NAME"); v != "" {
		name = v
	}
	var command *cobra.Command
	switch name {
	case common.CommandApplicationController:
		command = appcontroller.NewCommand()
	case common.CommandRepoServer:
		command = reposerver.NewCommand()
	case common.CommandGitAskPass:
		command = gitaskpass.NewCommand()
	default:
		fmt.Fprintf(os.Stderr, "%s: this build runs only as %s, %s or %s\n", name,
			common.CommandApplicationController, common.CommandRepoServer, common.CommandGitAskPass)
		os.Exit(2)
	}
	if err := command.Execute(); err != nil {
		os.Exit(1)
	}
}'

# Argo CD is written on Kubernetes 1.37's client libraries and Go 1.27, which the node's module
# cannot hold beside 1.34's: it builds in a module of its own, with the Go it asks for.
build_argocd() {
	local dir=$CACHE/src/argocd-$ARGOCD_VERSION out=$BIN/argocd-$ARGOCD_VERSION started=$SECONDS
	[[ -x $out/argocd ]] && return 0
	rm -rf "$dir" && mkdir -p "$dir" "$out"
	log "building Argo CD $ARGOCD_VERSION (about 8 minutes on 2 cores the first time)"
	(
		cd "$dir"
		export GOTOOLCHAIN=$ARGOCD_GO
		local argocd=github.com/argoproj/argo-cd/v3 gomod
		gomod=$(retry 3 timeout 900 go mod download -json "$argocd@$ARGOCD_VERSION" |
			sed -n 's/^[[:space:]]*"GoMod": "\(.*\)",$/\1/p')
		printf 'module argocd-build\n\ngo %s\n' "$(sed -n 's/^go //p' "$gomod")" >go.mod
		# Argo CD's own replaces, repeated (only the main module's count), but for its in-repository
		# gitops-engine, which is the module published with the same release.
		# shellcheck disable=SC2046
		go mod edit $(sed -n '/^replace (/,/^)/s/^[[:space:]]*\([^ /]*[.][^ ]*\) => \([^ ]*\) \(v[^ ]*\)$/-replace=\1=\2@\3/p' "$gomod")
		printf '%s\n' "$ARGOCD_MAIN" >main.go
		retry 3 timeout 900 go get "$argocd@$ARGOCD_VERSION" \
			"github.com/argoproj/argo-cd/gitops-engine/v3@$ARGOCD_VERSION"
		retry 3 timeout 1200 go mod tidy
		CGO_ENABLED=0 "${GO_BUILD[@]}" -ldflags "-s -w -X $argocd/common.version=${ARGOCD_VERSION#v}" \
			-o "$out/argocd.tmp" .
		mv "$out/argocd.tmp" "$out/argocd"
	)
	log "built Argo CD $ARGOCD_VERSION in $((SECONDS - started))s"
}

build() {
	build_kubernetes
	build_argocd
	# The pause container of every pod: a static program that waits for a signal.
	if [[ ! -x $BIN/pause/pause ]]; then
		mkdir -p "$BIN/pause"
		(cd "$HERE" && CGO_ENABLED=0 "${GO_BUILD[@]}" -ldflags "-s -w" -o "$BIN/pause/pause" ./pause)
	fi
}

# --- images --------------------------------------------------------------------------------

# Each add-on runs from a FROM-scratch image holding just its binary (busybox comes from the
# Docker engine's busybox:1.37). Built by the Docker engine, then imported into the node.
ADDON_IMAGES=(
	"kube-node/pause:3.10=pause/pause"
	"kube-node/coredns:$COREDNS_VERSION=coredns-$COREDNS_VERSION/coredns"
	"kube-node/local-path-provisioner:$LOCAL_PATH_VERSION=local-path-provisioner-$LOCAL_PATH_VERSION/local-path-provisioner"
	"kube-node/traefik:$TRAEFIK_VERSION=traefik-$TRAEFIK_VERSION/traefik"
	"kube-node/argo-rollouts:$ARGO_ROLLOUTS_VERSION=rollouts-controller-$ARGO_ROLLOUTS_VERSION/rollouts-controller"
)

build_images() {
	local entry image binary ctx
	for entry in "${ADDON_IMAGES[@]}"; do
		image=${entry%%=*}
		binary=$BIN/${entry#*=}
		docker image inspect "$image" >/dev/null 2>&1 && continue
		ctx=$(mktemp -d)
		cp "$binary" "$ctx/app"
		cp /etc/ssl/certs/ca-certificates.crt "$ctx/"
		printf 'FROM scratch\nCOPY ca-certificates.crt /etc/ssl/certs/\nCOPY app /%s\nENTRYPOINT ["/%s"]\n' \
			"${binary##*/}" "${binary##*/}" >"$ctx/Dockerfile"
		docker build -q -t "$image" "$ctx" >/dev/null
		rm -rf "$ctx"
		log "built image $image"
	done
	# The chart's test pod and the volume helper run busybox:1.37. The engine's base-image
	# stand-ins normally provide it; if not, one is made from Debian's static busybox.
	if ! docker image inspect busybox:1.37 >/dev/null 2>&1; then
		ctx=$(mktemp -d)
		mkdir -p "$ctx/bin" "$ctx/tmp"
		cp "$(command -v busybox)" "$ctx/bin/busybox"
		local applet
		for applet in $("$ctx/bin/busybox" --list); do
			[[ $applet == busybox ]] || ln -s busybox "$ctx/bin/$applet"
		done
		tar -C "$ctx" -c . | docker import -c 'ENV PATH=/bin' -c 'CMD ["sh"]' - busybox:1.37 >/dev/null
		rm -rf "$ctx"
		log "made busybox:1.37 from Debian's busybox-static"
	fi
	build_argocd_image
}

# Argo CD's image as upstream's holds it, from what is here: the binary under the names the
# manifests run, git with its HTTP transport (Debian's, with its libraries), the Helm that renders
# charts (Argo CD 3.6 uses Helm 4.3.2, the `helm` the tests use), the shell and cp of the repo
# server's init container and of its scripts (busybox), and the user argocd (999) with its home.
ARGOCD_IMAGE=kube-node/argocd:$ARGOCD_VERSION
build_argocd_image() {
	docker image inspect "$ARGOCD_IMAGE" >/dev/null 2>&1 && return 0
	local root name helm
	helm=$(command -v helm) || die "needs helm (Helm 4) on PATH for the Argo CD image"
	root=$(mktemp -d)
	mkdir -p "$root"/{bin,etc/ssl/certs,tmp,usr/bin,usr/local/bin,usr/share/git-core,home/argocd}
	printf 'root:x:0:0:root:/root:/bin/sh\nargocd:x:999:999:argocd:/home/argocd:/bin/sh\n' >"$root/etc/passwd"
	printf 'root:x:0:\nargocd:x:999:argocd\n' >"$root/etc/group"
	chown 999:999 "$root/home/argocd"
	chmod 1777 "$root/tmp"
	cp /etc/ssl/certs/ca-certificates.crt "$root/etc/ssl/certs/"
	with_busybox "$root"
	cp "$BIN/argocd-$ARGOCD_VERSION/argocd" "$root/usr/local/bin/"
	for name in argocd-application-controller argocd-repo-server argocd-git-ask-pass; do
		ln -s argocd "$root/usr/local/bin/$name"
	done
	with_binary "$root" /usr/bin/git
	cp -a /usr/lib/git-core "$root/usr/lib/"
	with_binary "$root" /usr/lib/git-core/git-remote-http
	cp -a /usr/share/git-core/templates "$root/usr/share/git-core/"
	with_binary "$root" "$helm" /usr/local/bin/helm
	# The script the repo server runs on every commit it checks out (git verify-commit), from the
	# release's source.
	install -m 755 "$(GOTOOLCHAIN=$ARGOCD_GO download github.com/argoproj/argo-cd/v3 "$ARGOCD_VERSION")/hack/git-verify-wrapper.sh" \
		"$root/usr/local/bin/"
	tar -C "$root" --numeric-owner -c . | docker import \
		-c 'ENV PATH=/usr/local/bin:/usr/bin:/bin' -c 'ENV USER=argocd' -c 'USER 999' \
		-c 'WORKDIR /home/argocd' - "$ARGOCD_IMAGE" >/dev/null
	rm -rf "$root"
	log "built image $ARGOCD_IMAGE (helm $("$helm" version --template '{{.Version}}'))"
}

# load IMAGE...: docker save | ctr import, into the namespace the kubelet's containerd uses.
load() {
	(($#)) || die "usage: load IMAGE..."
	docker save "$@" | ctr -a "$CONTAINERD_SOCK" -n k8s.io images import - >/dev/null
	log "loaded $*"
}

# --- start ---------------------------------------------------------------------------------

# in_node CMD...: run a command inside the node's network namespace.
in_node() { nsenter --net="/run/netns/$NETNS" "$@"; }

# start NAME CMD...: start a daemon in the node's network namespace, logging to its own file,
# and remember its PID for `down`.
start() {
	local name=$1
	shift
	# nsenter execs the daemon in place, so $! is the daemon's own PID.
	nsenter --net="/run/netns/$NETNS" "$@" </dev/null >"$STATE/log/$name.log" 2>&1 &
	echo $! >"$STATE/pid/$name"
}

# wait_for WHAT SECONDS CMD...: poll until CMD succeeds.
wait_for() {
	local what=$1 seconds=$2 i
	shift 2
	for ((i = 0; i < seconds; i++)); do
		"$@" >/dev/null 2>&1 && return 0
		sleep 1
	done
	die "timed out after ${seconds}s waiting for $what (logs in $STATE/log)"
}

network() {
	ip netns add "$NETNS"
	ip link add "$HOST_IF" type veth peer name "$NODE_IF" netns "$NETNS"
	ip addr add "$HOST_IP/30" dev "$HOST_IF"
	ip link set "$HOST_IF" up
	in_node ip link set lo up
	in_node ip addr add "$NODE_IP/30" dev "$NODE_IF"
	in_node ip link set "$NODE_IF" up
	# No default route: nothing in the node can reach past the host. Replies to the host's
	# address need none, as it is on the link.
	in_node sysctl -qw net.ipv4.ip_forward=1
	# The tests reach Services and pods from the host, through the node.
	ip route add "$SERVICE_CIDR" via "$NODE_IP"
	ip route add "$POD_CIDR" via "$NODE_IP"
}

# cert NAME SUBJECT [EXTENSIONS]: a key and a certificate signed by the cluster's CA.
cert() {
	local name=$1 subject=$2 ext=${3:-}
	openssl req -new -newkey rsa:2048 -nodes -keyout "$STATE/pki/$name.key" -subj "$subject" \
		-out "$STATE/pki/$name.csr" 2>/dev/null
	openssl x509 -req -in "$STATE/pki/$name.csr" -CA "$STATE/pki/ca.crt" -CAkey "$STATE/pki/ca.key" \
		-CAcreateserial -days 2 -out "$STATE/pki/$name.crt" ${ext:+-extfile <(printf '%s\n' "$ext")} 2>/dev/null
}

certificates() {
	local pki=$STATE/pki
	openssl req -x509 -new -newkey rsa:2048 -nodes -keyout "$pki/ca.key" -subj "/CN=pingpong-node-ca" \
		-days 2 -out "$pki/ca.crt" 2>/dev/null
	cert apiserver "/CN=kube-apiserver" \
		"subjectAltName=DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local,DNS:localhost,IP:127.0.0.1,IP:$API_SERVICE_IP,IP:$NODE_IP"
	cert admin "/O=system:masters/CN=admin"
	# The API server's client certificate towards aggregated APIs (the metrics API).
	cert front-proxy-client "/CN=front-proxy-client"
	cert node "/O=system:nodes/CN=system:node:$NODE_NAME"
	openssl genrsa -out "$pki/sa.key" 2048 2>/dev/null
	openssl rsa -in "$pki/sa.key" -pubout -out "$pki/sa.pub" 2>/dev/null
}

# kubeconfig FILE USER
kubeconfig() {
	cat >"$1" <<-EOF
	apiVersion: v1
	kind: Config
	clusters:
	  - name: pingpong-node
	    cluster:
	      server: https://$NODE_IP:6443
	      certificate-authority-data: $(base64 -w0 "$STATE/pki/ca.crt")
	users:
	  - name: $2
	    user:
	      client-certificate-data: $(base64 -w0 "$STATE/pki/$2.crt")
	      client-key-data: $(base64 -w0 "$STATE/pki/$2.key")
	contexts:
	  - name: pingpong-node
	    context: {cluster: pingpong-node, user: $2}
	current-context: pingpong-node
	EOF
	chmod 600 "$1"
}

start_containerd() {
	mkdir -p "$STATE/cni/net.d" "$STATE/containerd"
	cat >"$STATE/cni/net.d/10-pingpong.conflist" <<-EOF
	{
	  "cniVersion": "1.0.0",
	  "name": "pingpong-node",
	  "plugins": [
	    {"type": "bridge", "bridge": "cni0", "isGateway": true, "ipMasq": true, "hairpinMode": true,
	     "ipam": {"type": "host-local", "ranges": [[{"subnet": "$POD_CIDR"}]], "routes": [{"dst": "0.0.0.0/0"}]}},
	    {"type": "portmap", "capabilities": {"portMappings": true}},
	    {"type": "loopback"}
	  ]
	}
	EOF
	# A containerd of its own, apart from the Docker engine's. restrict_oom_score_adj: without
	# it runc fails every pod sandbox here ("failed to update /proc/self/oom_score_adj").
	cat >"$STATE/containerd/config.toml" <<-EOF
	version = 2
	root = "$STATE/containerd/root"
	state = "$STATE/containerd/state"
	[grpc]
	  address = "$CONTAINERD_SOCK"
	[ttrpc]
	  address = "$CONTAINERD_SOCK.ttrpc"
	[metrics]
	  address = ""
	[plugins."io.containerd.grpc.v1.cri"]
	  sandbox_image = "kube-node/pause:3.10"
	  restrict_oom_score_adj = true
	  [plugins."io.containerd.grpc.v1.cri".cni]
	    bin_dir = "/usr/lib/cni"
	    conf_dir = "$STATE/cni/net.d"
	  [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
	    runtime_type = "io.containerd.runc.v2"
	EOF
	start containerd containerd --config "$STATE/containerd/config.toml"
	wait_for containerd 30 ctr -a "$CONTAINERD_SOCK" version
}

start_control_plane() {
	local pki=$STATE/pki
	start etcd etcd --data-dir "$STATE/etcd" --listen-client-urls http://127.0.0.1:2379 \
		--advertise-client-urls http://127.0.0.1:2379 --listen-peer-urls http://127.0.0.1:2380 \
		--initial-advertise-peer-urls http://127.0.0.1:2380 --initial-cluster default=http://127.0.0.1:2380
	start kube-apiserver "$K8S_BIN/kube-apiserver" --etcd-servers=http://127.0.0.1:2379 \
		--advertise-address="$NODE_IP" --bind-address=0.0.0.0 --secure-port=6443 \
		--service-cluster-ip-range="$SERVICE_CIDR" \
		--tls-cert-file="$pki/apiserver.crt" --tls-private-key-file="$pki/apiserver.key" \
		--client-ca-file="$pki/ca.crt" \
		--service-account-key-file="$pki/sa.pub" --service-account-signing-key-file="$pki/sa.key" \
		--service-account-issuer=https://kubernetes.default.svc.cluster.local \
		--authorization-mode=Node,RBAC \
		--kubelet-client-certificate="$pki/admin.crt" --kubelet-client-key="$pki/admin.key" \
		--kubelet-preferred-address-types=InternalIP \
		--requestheader-client-ca-file="$pki/ca.crt" --requestheader-allowed-names=front-proxy-client \
		--requestheader-username-headers=X-Remote-User --requestheader-group-headers=X-Remote-Group \
		--requestheader-extra-headers-prefix=X-Remote-Extra- \
		--proxy-client-cert-file="$pki/front-proxy-client.crt" --proxy-client-key-file="$pki/front-proxy-client.key" \
		--enable-aggregator-routing=true
	wait_for "the API server" 120 "$K8S_BIN/kubectl" --kubeconfig "$KUBECONFIG_FILE" get --raw /readyz
	local kc=$STATE/admin.kubeconfig
	start kube-controller-manager "$K8S_BIN/kube-controller-manager" --kubeconfig="$kc" \
		--authentication-kubeconfig="$kc" --authorization-kubeconfig="$kc" --leader-elect=false \
		--bind-address=127.0.0.1 --service-account-private-key-file="$pki/sa.key" \
		--root-ca-file="$pki/ca.crt" --cluster-signing-cert-file="$pki/ca.crt" \
		--cluster-signing-key-file="$pki/ca.key" --use-service-account-credentials
	start kube-scheduler "$K8S_BIN/kube-scheduler" --kubeconfig="$kc" \
		--authentication-kubeconfig="$kc" --authorization-kubeconfig="$kc" --leader-elect=false \
		--bind-address=127.0.0.1
}

start_node() {
	mkdir -p "$STATE/kubelet"
	cat >"$STATE/kubelet/config.yaml" <<-EOF
	apiVersion: kubelet.config.k8s.io/v1beta1
	kind: KubeletConfiguration
	authentication:
	  anonymous: {enabled: false}
	  webhook: {enabled: true}
	  x509: {clientCAFile: $STATE/pki/ca.crt}
	authorization: {mode: Webhook}
	# The machines have cgroup v1, which Kubernetes 1.35 is the last to support.
	cgroupDriver: cgroupfs
	failCgroupV1: false
	failSwapOn: false
	containerRuntimeEndpoint: unix://$CONTAINERD_SOCK
	clusterDNS: [$DNS_SERVICE_IP]
	clusterDomain: cluster.local
	podCIDR: $POD_CIDR
	# Never evict pods or collect images: the imported images cannot be pulled again.
	evictionHard: {}
	imageGCHighThresholdPercent: 100
	readOnlyPort: 0
	healthzBindAddress: 127.0.0.1
	serializeImagePulls: false
	EOF
	start kubelet "$K8S_BIN/kubelet" --config="$STATE/kubelet/config.yaml" \
		--kubeconfig="$STATE/node.kubeconfig" --root-dir="$STATE/kubelet/root" \
		--cert-dir="$STATE/kubelet/pki" --hostname-override="$NODE_NAME" --node-ip="$NODE_IP"
	start kube-proxy "$K8S_BIN/kube-proxy" --kubeconfig="$STATE/admin.kubeconfig" \
		--proxy-mode=iptables --cluster-cidr=10.244.0.0/16 --hostname-override="$NODE_NAME" \
		--conntrack-max-per-core=0 --metrics-bind-address=127.0.0.1:10249 \
		--healthz-bind-address=127.0.0.1:10256
	wait_for "the node to be Ready" 120 kc wait --for=condition=Ready "node/$NODE_NAME" --timeout=1s
	# The metrics API, beside the kubelet it reads from (its Service is in addons/).
	mkdir -p "$STATE/metrics-server"
	start metrics-server "$BIN/metrics-server-$METRICS_SERVER_VERSION/metrics-server" \
		--kubeconfig="$STATE/admin.kubeconfig" --authentication-kubeconfig="$STATE/admin.kubeconfig" \
		--authorization-kubeconfig="$STATE/admin.kubeconfig" --secure-port=4443 \
		--cert-dir="$STATE/metrics-server" --kubelet-insecure-tls \
		--kubelet-preferred-address-types=InternalIP --kubelet-use-node-status-port --metric-resolution=15s
	# NetworkPolicy enforcement: the bridge CNI plugin enforces none, so kube-router's firewall
	# (and only that: no routing, no service proxy) programs the node's iptables from the
	# policies. It must run here, in the node's namespace, where the pod bridge and its rules are.
	in_node sysctl -qw net.bridge.bridge-nf-call-iptables=1
	start kube-router "$BIN/kube-router-$KUBE_ROUTER_VERSION/kube-router" \
		--kubeconfig="$STATE/admin.kubeconfig" --hostname-override="$NODE_NAME" \
		--run-firewall=true --run-router=false --run-service-proxy=false \
		--service-cluster-ip-range="$SERVICE_CIDR" --metrics-port=0
}

kc() { "$K8S_BIN/kubectl" --kubeconfig "$KUBECONFIG_FILE" "$@"; }

start_addons() {
	local local_path=$STATE/local-path
	mkdir -p "$local_path"
	kc apply --server-side -f "$(gateway_api_crds)" -f "$(traefik_crds)" >/dev/null
	# The manifests name the add-on images and the volume folder through ${...} placeholders;
	# envsubst replaces only the ones listed, literally.
	local f
	# shellcheck disable=SC2016
	for f in "$HERE"/addons/*.yaml; do
		COREDNS_VERSION=$COREDNS_VERSION LOCAL_PATH_VERSION=$LOCAL_PATH_VERSION \
			TRAEFIK_VERSION=$TRAEFIK_VERSION LOCAL_PATH_DIR=$local_path DNS_SERVICE_IP=$DNS_SERVICE_IP \
			NODE_IP=$NODE_IP envsubst '$COREDNS_VERSION $LOCAL_PATH_VERSION $TRAEFIK_VERSION $LOCAL_PATH_DIR $DNS_SERVICE_IP $NODE_IP' \
			<"$f" | kc apply -f - >/dev/null
	done
	kc -n kube-system rollout status deployment/coredns --timeout=180s >&2
	kc -n local-path-storage rollout status deployment/local-path-provisioner --timeout=180s >&2
	install_argo_rollouts
	install_argocd
	kc -n traefik rollout status deployment/traefik --timeout=180s >&2
	kc -n argo-rollouts rollout status deployment/argo-rollouts --timeout=180s >&2
	kc -n argocd rollout status deployment/argocd-repo-server --timeout=180s >&2
	kc -n argocd rollout status statefulset/argocd-application-controller --timeout=180s >&2
	wait_for "the metrics API" 120 kc wait --for=condition=Available apiservice/v1beta1.metrics.k8s.io --timeout=1s
}

# Argo Rollouts from its release's own manifest (manifests/install.yaml in its module), as its
# documentation installs it into the namespace argo-rollouts, with two changes: the image built
# here in place of quay.io's (which is never pulled), and a numeric user for runAsNonRoot (a
# FROM-scratch image names none).
install_argo_rollouts() {
	local dir
	dir=$(mktemp -d)
	cp "$(download github.com/argoproj/argo-rollouts "$ARGO_ROLLOUTS_VERSION")/manifests/install.yaml" "$dir/"
	cat >"$dir/kustomization.yaml" <<-EOF
	namespace: argo-rollouts
	resources: [install.yaml]
	images:
	  - {name: quay.io/argoproj/argo-rollouts, newName: kube-node/argo-rollouts, newTag: $ARGO_ROLLOUTS_VERSION}
	patches:
	  - target: {kind: Deployment, name: argo-rollouts}
	    patch: |
	      [{"op": "replace", "path": "/spec/template/spec/containers/0/imagePullPolicy", "value": "Never"},
	       {"op": "add", "path": "/spec/template/spec/securityContext/runAsUser", "value": 999}]
	EOF
	kc create namespace argo-rollouts >/dev/null
	kc apply --server-side -k "$dir" >/dev/null
	rm -rf "$dir"
}

# Argo CD Core from its release's own manifest (manifests/core-install.yaml in its module: the
# application controller, the repo server and Redis, without the API server and the UI), into the
# namespace argocd as its documentation installs it, with these changes: the images built here
# (never pulled; Redis is the node's redis:7.4-alpine, which cluster.sh loads, in place of 8.10, and
# runs as a command since that image has no entrypoint script), Redis's password made here
# instead of by its init container (which runs the `argocd admin` command this build leaves out),
# no ApplicationSet controller (not built), the repo server without GnuPG (not in the image; it
# verifies signed commits only when a project asks for it), and the project `default`, which the
# API server makes when it starts (this build has none).
install_argocd() {
	local dir
	dir=$(mktemp -d)
	cp "$(GOTOOLCHAIN=$ARGOCD_GO download github.com/argoproj/argo-cd/v3 "$ARGOCD_VERSION")/manifests/core-install.yaml" "$dir/"
	cat >"$dir/default-project.yaml" <<-EOF
	apiVersion: argoproj.io/v1alpha1
	kind: AppProject
	metadata: {name: default}
	spec:
	  sourceRepos: ["*"]
	  destinations: [{namespace: "*", server: "*"}]
	  clusterResourceWhitelist: [{group: "*", kind: "*"}]
	EOF
	cat >"$dir/kustomization.yaml" <<-EOF
	namespace: argocd
	resources: [core-install.yaml]
	images:
	  - {name: quay.io/argoproj/argocd, newName: kube-node/argocd, newTag: $ARGOCD_VERSION}
	  - {name: public.ecr.aws/docker/library/redis, newName: redis, newTag: 7.4-alpine}
	patches:
	  - patch: |
	      \$patch: delete
	      apiVersion: apps/v1
	      kind: Deployment
	      metadata: {name: argocd-applicationset-controller}
	  - target: {kind: Deployment, name: argocd-redis}
	    patch: |
	      [{"op": "remove", "path": "/spec/template/spec/initContainers"},
	       {"op": "add", "path": "/spec/template/spec/containers/0/command", "value": ["redis-server"]},
	       {"op": "replace", "path": "/spec/template/spec/containers/0/imagePullPolicy", "value": "Never"}]
	  - target: {kind: Deployment, name: argocd-repo-server}
	    patch: |
	      [{"op": "replace", "path": "/spec/template/spec/containers/0/imagePullPolicy", "value": "Never"},
	       {"op": "add", "path": "/spec/template/spec/containers/0/env/-",
	        "value": {"name": "ARGOCD_GPG_ENABLED", "value": "false"}}]
	  - target: {kind: StatefulSet, name: argocd-application-controller}
	    patch: |
	      [{"op": "replace", "path": "/spec/template/spec/containers/0/imagePullPolicy", "value": "Never"}]
	EOF
	kc create namespace argocd >/dev/null
	kc -n argocd create secret generic argocd-redis --from-literal=auth="$(openssl rand -hex 24)" >/dev/null
	kc apply --server-side -k "$dir" >/dev/null
	wait_for "the AppProject CRD" 60 kc -n argocd get appprojects
	kc -n argocd apply -f "$dir/default-project.yaml" >/dev/null
	rm -rf "$dir"
}

running() {
	[[ -f $STATE/pid/kubelet ]] && kill -0 "$(cat "$STATE/pid/kubelet")" 2>/dev/null &&
		kc get --raw /readyz >/dev/null 2>&1
}

environment() {
	cat <<-EOF
	export KUBECONFIG=$KUBECONFIG_FILE
	export PATH=$K8S_BIN:$BIN/kubectl-argo-rollouts-$ARGO_ROLLOUTS_VERSION:\$PATH
	export PINGPONG_CLUSTER_STATE=$STATE
	export PINGPONG_TEST_CONTEXT=pingpong-node
	EOF
}

up() {
	for tool in etcd containerd runc ctr iptables ipset conntrack openssl nsenter envsubst docker go git; do
		command -v "$tool" >/dev/null || die "needs $tool on PATH"
	done
	[[ -x /usr/lib/cni/bridge ]] || die "needs the CNI plugins in /usr/lib/cni (containernetworking-plugins)"
	if running; then
		log "already running"
		environment
		return
	fi
	down 2>/dev/null || true
	build
	build_images
	local t0=$SECONDS
	mkdir -p "$STATE"/{pki,pid,log}
	network
	certificates
	kubeconfig "$STATE/admin.kubeconfig" admin
	kubeconfig "$STATE/node.kubeconfig" node
	start_containerd
	# busybox for the volume helper and the tests, Redis for Argo CD (both the Docker engine's).
	local images=(busybox:1.37 redis:7.4-alpine)
	local entry
	for entry in "${ADDON_IMAGES[@]}"; do images+=("${entry%%=*}"); done
	load "${images[@]}" "$ARGOCD_IMAGE"
	start_control_plane
	start_node
	start_addons
	log "node Ready with its add-ons in $((SECONDS - t0))s"
	environment
}

# --- down ----------------------------------------------------------------------------------

down() {
	local name pid
	# The kubelet first, so that it restarts nothing while the containers are stopped.
	for name in kube-router metrics-server kubelet kube-proxy kube-scheduler kube-controller-manager kube-apiserver etcd; do
		stop "$name"
	done
	if [[ -S $CONTAINERD_SOCK ]]; then
		local c
		for c in $(ctr -a "$CONTAINERD_SOCK" -n k8s.io tasks ls -q 2>/dev/null); do
			ctr -a "$CONTAINERD_SOCK" -n k8s.io tasks kill -s SIGKILL "$c" >/dev/null 2>&1 || true
		done
		sleep 1
		for c in $(ctr -a "$CONTAINERD_SOCK" -n k8s.io containers ls -q 2>/dev/null); do
			ctr -a "$CONTAINERD_SOCK" -n k8s.io tasks delete -f "$c" >/dev/null 2>&1 || true
			ctr -a "$CONTAINERD_SOCK" -n k8s.io containers delete "$c" >/dev/null 2>&1 || true
		done
	fi
	stop containerd
	# The shims of this containerd outlive it; each names this containerd's socket.
	for pid in $(pgrep -f "containerd-shim.*-address $CONTAINERD_SOCK" || true); do
		kill "$pid" 2>/dev/null || true
	done
	# Volumes, container root file systems and pod network namespaces are mounts.
	if [[ -d $STATE ]]; then
		findmnt -rn -o TARGET | { grep -F "$STATE/" || true; } | sort -r | while read -r m; do
			umount -l "$m" 2>/dev/null || true
		done
	fi
	for m in /run/netns/cni-*; do
		[[ -e $m ]] || continue
		# Pod network namespaces made by this node's CNI plugins (nothing else here uses CNI).
		umount "$m" 2>/dev/null || true
		rm -f "$m"
	done
	ip route del "$SERVICE_CIDR" via "$NODE_IP" 2>/dev/null || true
	ip route del "$POD_CIDR" via "$NODE_IP" 2>/dev/null || true
	ip link del "$HOST_IF" 2>/dev/null || true
	ip netns del "$NETNS" 2>/dev/null || true
	# The pod cgroups the kubelet made under each controller.
	find /sys/fs/cgroup/*/kubepods -depth -type d -exec rmdir {} + 2>/dev/null || true
	rm -rf "$STATE"
}

# stop NAME: SIGTERM to the PID that `start` recorded, SIGKILL if it lingers.
stop() {
	local file=$STATE/pid/$1 pid i
	[[ -f $file ]] || return 0
	pid=$(cat "$file")
	if kill "$pid" 2>/dev/null; then
		for ((i = 0; i < 20; i++)); do
			kill -0 "$pid" 2>/dev/null || break
			sleep 0.5
		done
		kill -9 "$pid" 2>/dev/null || true
	fi
	rm -f "$file"
}

case ${1:-} in
build) build ;;
build-kubernetes) build_kubernetes ;;
up) up ;;
env) running || die "not running"; environment ;;
load) shift; load "$@" ;;
down) down ;;
*) echo "usage: $0 build|up|env|load IMAGE...|down" >&2; exit 2 ;;
esac
