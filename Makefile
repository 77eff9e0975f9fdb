# The workshop's commands. `make` alone lists them.

STAGES  := v1_flask_equivalent v2_containerized v3_redis_counter
MODULES := $(STAGES) test
GO_PATTERNS := $(addprefix ./,$(addsuffix /...,$(MODULES)))
STATICCHECK ?= $(shell command -v staticcheck || echo "$$(go env GOPATH)/bin/staticcheck")
FUZZTIME ?= 10s

.DEFAULT_GOAL := help
.PHONY: help run run-v1 run-v2 run-v3 test test-v1 test-v2 test-v3 test-e2e fuzz lint bench clean

help: ## List the targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-z0-9-]+:.*## / {printf "  %-10s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

run: run-v3 ## Run the final stage on :5000 (an embedded Redis when REDIS_URL is not set)

run-v1: ## Run stage 1, the bare binary, on :5000
	go run ./v1_flask_equivalent

run-v2: ## Run stage 2, the twelve-factor service, on :5000
	go run ./v2_containerized

run-v3: ## Run stage 3, the ping counter, on :5000
	go run ./v3_redis_counter

test: ## Run every test: the stages (with the race detector), then the end-to-end tests
	go test -race -count=1 $(addprefix ./,$(addsuffix /...,$(STAGES)))
	go test -count=1 -p 1 -timeout 45m ./test/...

test-v1: ## Test stage 1
	go test -race -count=1 ./v1_flask_equivalent/...

test-v2: ## Test stage 2
	go test -race -count=1 ./v2_containerized/...

test-v3: ## Test stage 3 (against a real redis-server when one is installed)
	go test -race -count=1 ./v3_redis_counter/...

test-e2e: ## Run only the end-to-end tests (Docker, Prometheus, Kubernetes, the READMEs)
	go test -count=1 -p 1 -timeout 45m ./test/...

fuzz: ## Fuzz every parser of outside input for FUZZTIME each (default 10s)
	go test -run '^$$' -fuzz '^FuzzWantsJSON$$' -fuzztime $(FUZZTIME) ./v2_containerized
	go test -run '^$$' -fuzz '^FuzzWantsJSON$$' -fuzztime $(FUZZTIME) ./v3_redis_counter/internal/server
	go test -run '^$$' -fuzz '^FuzzRedisURL$$' -fuzztime $(FUZZTIME) ./v3_redis_counter
	go test -run '^$$' -fuzz '^FuzzParse$$' -fuzztime $(FUZZTIME) ./v3_redis_counter/internal/settings

lint: ## gofmt, go vet, staticcheck, and go mod tidy leaving no diff
	@test -z "$$(gofmt -l $(MODULES))" || { gofmt -l $(MODULES); echo "run: gofmt -w ."; exit 1; }
	go vet $(GO_PATTERNS)
	$(STATICCHECK) $(GO_PATTERNS)
	@for m in $(MODULES); do (cd $$m && go mod tidy -diff) || { echo "run: cd $$m && go mod tidy"; exit 1; }; done

bench: ## Benchmark /ping against redis-benchmark; writes bench/results/
	go run ./test/bench

clean: ## Remove what building and testing leave in the tree (binaries, the Go test cache)
	rm -f $(addsuffix /pingpong,$(STAGES))
	go clean -testcache
