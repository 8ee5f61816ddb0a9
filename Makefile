# natsnest — the single entry point for humans and CI.
# `make demo` and `make test` need nothing but Go: modules come from the Go
# module proxy, and the few Debian tools the tests use are installed on demand.

GO        ?= go
GOFLAGS   ?=
# Per package: on a cold machine natsbin's tests build nats-server for
# linux/amd64 and linux/arm64 from source while the other packages compile.
TEST_TIMEOUT ?= 20m
FUZZTIME  ?= 10s
# Fuzzing runs on Go 1.27, fetched through the module proxy: Go 1.26's
# coordinator can fail a target at the end of a -fuzztime with "context
# deadline exceeded" and no crasher when the machine is loaded
# (golang/go#75804, fixed in 1.27).
FUZZ_GOTOOLCHAIN ?= go1.27.4
export NATSNEST_CACHE ?= $(CURDIR)/.cache
# Every module of the repository (`go test ./...` at the root does not enter
# nested modules): the root is the library users import; the benchmarks,
# the machine tier, the nats-server test helper, the `nats` CLI (tools/) and
# an example are modules of their own, so that a program importing natsnest
# inherits none of their requirements (README, "Lean dependencies").
MODULES   := . $(patsubst %/go.mod,%,$(filter %/go.mod,$(shell git ls-files '*go.mod' 2>/dev/null || find . -name go.mod -not -path './.cache/*')))

.PHONY: all demo test fuzz lint tidy tools fmt-check vet e2e bench

all: test

## demo: the seed's walkthrough on a local 3-node cluster of real nats-server processes.
demo:
	$(GO) run ./cmd/quickstart

## test: the unit tier and the local-cluster tier (docs/architecture.md §5).
test: tools fmt-check vet
	$(GO) test -count=1 -timeout $(TEST_TIMEOUT) ./...
	@set -e; for m in $(filter-out .,$(MODULES)); do \
	  echo "go test ./... in $$m"; (cd $$m && $(GO) test -count=1 -timeout $(TEST_TIMEOUT) ./...); \
	done
	@$(MAKE) --no-print-directory fuzz

## fuzz: every fuzz target for a bounded time (FUZZTIME each); the committed corpus runs in `go test` too.
fuzz:
	@set -e; for f in $$(git grep -l '^func Fuzz' -- '*_test.go'); do \
	  pkg=./$$(dirname $$f); \
	  for t in $$(sed -n 's/^func \(Fuzz[A-Za-z0-9_]*\)(.*/\1/p' $$f); do \
	    echo "fuzz $$pkg $$t for $(FUZZTIME)"; \
	    GOTOOLCHAIN=$(FUZZ_GOTOOLCHAIN) $(GO) test -run '^$$' -fuzz "^$$t\$$" -fuzztime $(FUZZTIME) $$pkg; \
	  done; \
	done

vet:
	@set -e; for m in $(MODULES); do echo "go vet ./... in $$m"; (cd $$m && $(GO) vet ./...); done

fmt-check:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

## tools: Debian packages the tests use (shellcheck), installed when missing.
tools:
	@command -v shellcheck >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "installing shellcheck from Debian's packages"; \
	    (apt-get install -y -qq shellcheck >/dev/null 2>&1 || \
	     { apt-get update -qq >/dev/null && apt-get install -y -qq shellcheck >/dev/null; }) ; \
	  else echo "shellcheck missing and cannot be installed here (not root or no apt-get): the script lint test will say so"; fi; }

lint: tools fmt-check vet

tidy:
	$(GO) mod tidy

## e2e: the machine tier (docs/architecture.md §5): Debian 12 machines booted with
## systemd-nspawn, each in its own network namespace, and the production
## programs deployed onto them over real SSH. Root on Linux; installs
## debootstrap and systemd-container when missing. E2E_RUN selects tests.
e2e:
	GO=$(GO) ./scripts/e2e.sh

## bench: measure deploy critical path, JetStream throughput by durability,
## failover and what a newcomer waits for; writes BENCHMARKS.md and
## bench/throughput.png (under 15 minutes; BENCH_FLAGS='-only throughput' etc.).
## bench/ is a module of its own, run from the repository's root.
bench:
	$(GO) -C bench build -o $(NATSNEST_CACHE)/bin/bench .
	GO=$(GO) $(NATSNEST_CACHE)/bin/bench $(BENCH_FLAGS)
