# The workshop's commands. `make` alone lists them.

STAGES  := v1_flask_equivalent v2_containerized v3_redis_counter
MODULES := $(STAGES) test
GO_PATTERNS := $(addprefix ./,$(addsuffix /...,$(MODULES)))
GOBIN   := $(shell go env GOPATH)/bin
FUZZTIME ?= 10s

# The end-to-end packages, by what they need besides Go: nothing but redis-server, prometheus and
# helm; a Docker engine; a Kubernetes cluster (with kubectl) and the engine. The READMEs run in two
# groups: the pages with no block on a cluster with the engine's tests, the others with the
# cluster's (test/readme, PINGPONG_READMES). test/layout checks that the groups hold every package.
E2E_LOCAL   := ./test/layout/... ./test/bench/... ./test/monitoring/... ./test/cluster/manifests/... \
	./test/vulndb/...
E2E_DOCKER  := ./test/compose/...
E2E_CLUSTER := ./test/harness/... ./test/cluster/e2e/...

# A command that waits until what a group of tests needs is up (its argument: tools, docker or cluster)
# and prints the variables to export; CI's (.ci/ready) lets the first groups run while its engine
# and cluster are still being built. Unset, the tests use DOCKER_HOST and KUBECONFIG as they are.
READY ?=
ready = $(if $(READY),vars=$$($(READY) $(1)) && eval "$$vars" &&)

# The Helm releases that `make tools` builds: helm (Helm 4) and helm3.
HELM_VERSION  := v4.3.2
HELM3_VERSION := v3.21.4

# The image: its name, the version stamped into the binary, and the platforms of `make images`.
IMAGE     ?= pingpong
VERSION   ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
REVISION  ?= $(shell git rev-parse --short HEAD 2>/dev/null || echo unknown)
PLATFORMS ?= linux/amd64 linux/arm64

# make vulncheck checks each module alone, as its image builds it, with the Go that go.work
# names (the images' Go): the standard library's vulnerabilities are that release's.
TOOLCHAIN      := $(shell sed -n 's/^toolchain //p' go.work)

# govulncheck's database, built by test/vulndb from the reports in golang.org/x/vulndb's module at
# this version (the online database may be unreachable), and kept in VULNDB_DIR, one folder a version.
# A newer version checks against newer reports: make vulncheck VULNDB_VERSION=v0.0.0-...
VULNDB_VERSION ?= v0.0.0-20261105234957-e22db6528018
VULNDB_DIR     ?= $(or $(XDG_CACHE_HOME),$(HOME)/.cache)/pingpong/vulndb/$(VULNDB_VERSION)

.DEFAULT_GOAL := help
.PHONY: help run run-v1 run-v2 run-v3 test test-stages test-v1 test-v2 test-v3 test-e2e \
	test-e2e-local test-e2e-docker test-e2e-docker-go test-e2e-docker-readmes test-e2e-cluster test-e2e-cluster-go test-e2e-cluster-readmes diff-v2-v3 fuzz tools lint vulncheck image images bench clean

help: ## List the targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-z0-9-]+:.*## / {printf "  %-17s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

run: run-v3 ## Run the final stage on :5000 (an embedded Redis when REDIS_URL is not set)

run-v1: ## Run stage 1, the bare binary, on :5000
	go run ./v1_flask_equivalent

run-v2: ## Run stage 2, the twelve-factor service, on :5000
	go run ./v2_containerized

run-v3: ## Run stage 3, the ping counter, on :5000
	go run ./v3_redis_counter

test: test-stages test-e2e ## Run every test: the stages (with the race detector), then the end-to-end tests

test-stages: ## Test the three stages, with the race detector
	go test -race -count=1 $(addprefix ./,$(addsuffix /...,$(STAGES)))

test-v1: ## Test stage 1
	go test -race -count=1 ./v1_flask_equivalent/...

test-v2: ## Test stage 2
	go test -race -count=1 ./v2_containerized/...

test-v3: ## Test stage 3 (against a real redis-server when one is installed)
	go test -race -count=1 ./v3_redis_counter/...

# The end-to-end groups one after the other, or with E2E_LANES=2 (as CI runs them) in two lanes:
# the cluster's Go tests, which take longest, in one; in the other the engine's group and the
# local one (in CI it waits for the tools, which build meanwhile), at a lower priority (nice).
# The cluster's READMEs come last, once both lanes are done: they need the local ports (8080,
# 9797) that the second lane uses, and they edit what a learner edits (k8s/REDIS-HA.md switches
# k8s/kustomization.yaml to Redis HA for a while), which the cluster's Go tests read. The second
# lane prints as it goes, the cluster's lane when it ends. Where setsid exists (Linux), the
# cluster's lane runs in a process group of its own, which Ctrl+C stops with the rest; elsewhere
# it runs on to its end.
E2E_LANES ?= 1
ifeq ($(E2E_LANES),2)
test-e2e:
	@log=$$(mktemp) && { $$(command -v setsid) $(MAKE) --no-print-directory test-e2e-cluster-go >$$log 2>&1 & } && cluster=$$! && \
		trap 'kill -- -$$cluster 2>/dev/null; rm -f $$log; exit 130' INT TERM HUP && \
		nice -n 10 $(MAKE) --no-print-directory test-e2e-docker test-e2e-local; beside=$$?; \
		wait $$cluster; status=$$?; echo "=== the cluster's Go tests, which ran beside (exit $$status)"; \
		cat $$log; rm -f $$log; \
		$(MAKE) --no-print-directory test-e2e-cluster-readmes; readmes=$$?; \
		test $$beside$$readmes$$status = 000
else
test-e2e: test-e2e-local test-e2e-docker test-e2e-cluster ## Run only the end-to-end tests (Docker, Prometheus, Kubernetes, the READMEs)
endif

test-e2e-local: ## The end-to-end tests that need no engine and no cluster
	$(call ready,tools) go test -v -count=1 -p 1 -timeout 20m $(E2E_LOCAL)

test-e2e-docker: test-e2e-docker-go test-e2e-docker-readmes ## The end-to-end tests on the Docker engine (DOCKER_HOST), and the READMEs without a cluster

# Two targets, so that with make -k a failing Go test does not skip the READMEs.
test-e2e-docker-go:
	$(call ready,docker) go test -v -count=1 -p 1 -timeout 30m $(E2E_DOCKER)

test-e2e-docker-readmes:
	$(call ready,docker) PINGPONG_READMES=no-cluster go test -v -count=1 -timeout 30m ./test/readme/...

test-e2e-cluster: test-e2e-cluster-go test-e2e-cluster-readmes ## The end-to-end tests on the cluster (KUBECONFIG) and the engine, and the READMEs that use it

# Its two parts, which CI runs apart: the Go tests reach the app through the cluster's pod and
# Service addresses only, so they can run beside the other groups; the READMEs forward the same
# local ports (8080, 9797) as the READMEs without a cluster use, and change files that the Go
# tests read, so they run after both.
test-e2e-cluster-go:
	$(call ready,cluster) go test -v -count=1 -p 1 -timeout 45m $(E2E_CLUSTER)

test-e2e-cluster-readmes:
	$(call ready,cluster) PINGPONG_READMES=cluster go test -v -count=1 -timeout 30m -run '^TestREADMEs$$' ./test/readme/...

# The files of v2 that stage 3 changes for its lesson, one INCR per ping; what
# stage 3 adds beyond it (metrics, admin API, live settings, Sentinel) is in
# files of its own (admin.go, metrics.go, live.go, redis.go, internal/), or,
# for logging.go (the live log level, quiet scrapes) and config.go, in files
# the core step leaves out.
CORE_STEP := main.go server.go handlers.go health.go shutdown.go

diff-v2-v3: ## Show the core step from stage 2 to stage 3: what changes for one INCR per ping
	@for f in $(CORE_STEP); do diff -U2 v2_containerized/$$f v3_redis_counter/$$f || true; done
	@diff -u /dev/null v3_redis_counter/internal/counter/counter.go || true

fuzz: ## Fuzz every parser of outside input for FUZZTIME each (default 10s; CI: 20000x, a number of inputs)
	go test -run '^$$' -fuzz '^FuzzWantsJSON$$' -fuzztime $(FUZZTIME) ./v2_containerized
	go test -run '^$$' -fuzz '^FuzzWantsJSON$$' -fuzztime $(FUZZTIME) ./v3_redis_counter
	go test -run '^$$' -fuzz '^FuzzRedisURL$$' -fuzztime $(FUZZTIME) ./v3_redis_counter
	go test -run '^$$' -fuzz '^FuzzParse$$' -fuzztime $(FUZZTIME) ./v3_redis_counter/internal/settings

tools: ## Install the linters, Helm 4 (helm) and Helm 3 (helm3) that lint and the tests use, at pinned versions
	GOWORK=off go install honnef.co/go/tools/cmd/staticcheck@v0.8.2
	GOWORK=off go install golang.org/x/vuln/cmd/govulncheck@v1.10.0
	GOWORK=off go install github.com/rhysd/actionlint/cmd/actionlint@v1.7.12
	@# Helm 4 as helm, and Helm 3 as helm3 for the test that learners on Helm 3 can install, upgrade
	@# and roll back, built in one scratch module: the Kubernetes libraries both use (Helm 3 asks for
	@# v0.36, Helm 4 for v0.37, and each takes the newer) are then compiled once, not twice.
	@dir=$$(mktemp -d) && cd $$dir && export GOWORK=off && printf 'module helm-build\n\ngo 1.25.0\n' >go.mod && \
		go get helm.sh/helm/v4/cmd/helm@$(HELM_VERSION) helm.sh/helm/v3/cmd/helm@$(HELM3_VERSION) && \
		go build -o $(GOBIN)/helm helm.sh/helm/v4/cmd/helm && go build -o $(GOBIN)/helm3 helm.sh/helm/v3/cmd/helm && \
		cd / && rm -rf $$dir

lint: ## gofmt, go vet, staticcheck, go mod tidy leaving no diff, actionlint, actions pinned, vulncheck
	@test -z "$$(gofmt -l $(MODULES))" || { gofmt -l $(MODULES); echo "run: gofmt -w ."; exit 1; }
	go vet $(GO_PATTERNS)
	$(GOBIN)/staticcheck $(GO_PATTERNS)
	@for m in $(MODULES); do (cd $$m && go mod tidy -diff) || { echo "run: cd $$m && go mod tidy"; exit 1; }; done
	$(GOBIN)/actionlint
	@# A tag can be moved to other code; a commit cannot. Every action: uses: owner/repo@SHA # vX.Y.Z
	@! grep -nE '^[ -]*uses:' .github/workflows/*.yml | grep -vE 'uses: [^ @]+@[0-9a-f]{40} # v[0-9][^ ]*$$' \
		|| { echo "pin the actions above to a full commit SHA, with the version in a comment"; exit 1; }
	@$(MAKE) --no-print-directory vulncheck

# Each module is checked on its own, with the versions its own go.mod selects, as its image is built
# (GOWORK=off); govulncheck fails on a vulnerability that the code can reach, in a module or in the
# standard library of the Go toolchain that runs it. All four are checked before it fails.
vulncheck: ## govulncheck on every module, against a database built from golang.org/x/vulndb (cached)
	@test -f "$(VULNDB_DIR)/index/db.json" || \
		go run ./test/vulndb -module golang.org/x/vulndb@$(VULNDB_VERSION) -out "$(VULNDB_DIR)"
	@failed=""; for m in $(MODULES); do \
		echo "govulncheck $$m"; \
		(cd $$m && GOWORK=off GOTOOLCHAIN=$(TOOLCHAIN) $(GOBIN)/govulncheck -db "file://$(abspath $(VULNDB_DIR))" ./...) || failed="$$failed $$m"; \
	done; \
	test -z "$$failed" || { echo "govulncheck found vulnerabilities in:$$failed"; exit 1; }

image: ## Build the final stage's image for this machine: $(IMAGE):v3
	DOCKER_BUILDKIT=1 docker build -t $(IMAGE):v3 \
		--build-arg VERSION=$(VERSION) --build-arg REVISION=$(REVISION) v3_redis_counter

images: ## Build it for each of PLATFORMS, cross-compiled: $(IMAGE):v3-linux-amd64, $(IMAGE):v3-linux-arm64
	@for platform in $(PLATFORMS); do \
		tag=$(IMAGE):v3-$$(echo $$platform | tr / -); \
		echo "building $$tag"; \
		DOCKER_BUILDKIT=1 docker build -q --platform $$platform -t $$tag \
			--build-arg VERSION=$(VERSION) --build-arg REVISION=$(REVISION) v3_redis_counter || exit 1; \
	done

bench: ## Benchmark /ping beside a plain peer, a bare ceiling and redis-benchmark; writes bench/results/
	go run ./test/bench

clean: ## Remove what building and testing leave in the tree (binaries, the Go test cache)
	rm -f $(addsuffix /pingpong,$(STAGES))
	go clean -testcache
