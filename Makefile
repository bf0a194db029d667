# emsd — common tasks. `make run` starts the daemon on the built-in simulated
# plant; `make test` runs the whole suite.
GO        ?= go
BIN       := bin
VERSION   ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS   := -s -w -X main.version=$(VERSION)
CONFIG    ?= configs/demo.yaml
STATICCHECK ?= $(shell command -v staticcheck 2>/dev/null || echo $(HOME)/go/bin/staticcheck)
STATICCHECK_VERSION ?= v0.8.2

.PHONY: all build run sim test test-short bench lint fmt check-config clean mutate

all: build

build:
	$(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN)/ ./cmd/...

## run: the daemon on the simulated plant of configs/demo.yaml (Ctrl-C ramps to 0 and exits).
run: build
	exec $(BIN)/emsd run -config $(CONFIG)

## sim: only the simulated plant, for commissioning practice and external tools.
sim: build
	exec $(BIN)/emsd sim -config $(CONFIG)

check-config: build
	$(BIN)/emsd check-config $(CONFIG)

## test: the whole suite, after its own set-up: scripts/test-deps.sh installs
## the Debian packages the tests run against (as root with apt; otherwise it
## prints the commands) and builds influxd into .cache once. Under CI=true a
## test that lacks a server, program or data file fails instead of skipping.
## Packages run one at a time (-p 1): the closed-loop tests run in real time
## against the simulated plant and must not compete for this 2-core machine.
test:
	scripts/test-deps.sh
	$(GO) test -count=1 -p 1 -timeout 40m ./...

test-short:
	$(GO) test -count=1 -short ./...

## bench: a short run of every emsbench scenario against the simulated plant
## (loopback, plant and runtime in process; poll-scale's plant in a child
## process), then the Go benchmarks with a short -benchtime. Under 10 minutes on
## 2 cores. Results (JSON, CSV) go to $(BENCHOUT). For docs/benchmarks.md's medians run
## each scenario with -runs 3.
BENCHOUT  ?= $(BIN)/bench-out
BENCHTIME ?= 1x
bench:
	$(GO) build -o $(BIN)/emsbench ./cmd/emsbench
	@mkdir -p $(BENCHOUT)
	$(BIN)/emsbench -scenario latency -steps 200 -out $(BENCHOUT)/latency-80
	$(BIN)/emsbench -scenario latency -steps 200 -config configs/station-800mwh-string.yaml -out $(BENCHOUT)/latency-930
	$(BIN)/emsbench -scenario poll-scale -duration 20s
	$(BIN)/emsbench -scenario fr-step -duration 24s -out $(BENCHOUT)/fr-step
	$(BIN)/emsbench -scenario agc -duration 40s -speed 15 -out $(BENCHOUT)/agc
	$(BIN)/emsbench -scenario peak-shave -speed 2880 -out $(BENCHOUT)/peak-shave
	$(BIN)/emsbench -scenario freq-trace -speed 2880 -out $(BENCHOUT)/freq-trace
	$(BIN)/emsbench -scenario faults -duration 16s -out $(BENCHOUT)/faults
	$(BIN)/emsbench -scenario failover -out $(BENCHOUT)/failover
	$(BIN)/emsbench -scenario q-step -out $(BENCHOUT)/q-step
	$(BIN)/emsbench -scenario avc -out $(BENCHOUT)/avc
	$(GO) test -run '^$$' -bench . -benchmem -benchtime $(BENCHTIME) -timeout 5m ./...

## mutate: mutation testing with gremlins over the packages that hold the
## safety and validation rules, one package at a time, one worker, niced (each
## mutant rebuilds and reruns one package's tests). Fails when a package's
## efficacy (killed / (killed + lived); timed-out mutants are counted apart)
## is under MUTATE_EFFICACY %. One package: make mutate MUTATE_PKGS=internal/procimg
## scripts/mutate/go wraps go so that gremlins' coverage run also counts case
## expressions and else-if conditions (see scripts/mutate/coverfix); -count=1
## keeps that run from the test cache, whose time sets the mutant timeout.
## A killed mutant needs no minimal counterexample: rapid shrinks for at most
## 2 s and writes no fail files. Per package, about 5-15 s a mutant on a busy
## 2-core machine (dispatch ~600 mutants, devices ~300).
GREMLINS         ?= $(shell command -v gremlins 2>/dev/null || echo $(HOME)/go/bin/gremlins)
GREMLINS_VERSION ?= v0.5.0
MUTATE_PKGS      ?= internal/procimg internal/config internal/command internal/dispatch internal/devices
MUTATE_EFFICACY  ?= 95
MUTATE_OUT       ?= $(BIN)/mutate
mutate:
	@test -x "$(GREMLINS)" || $(GO) install github.com/go-gremlins/gremlins/cmd/gremlins@$(GREMLINS_VERSION)
	@mkdir -p $(MUTATE_OUT)
	@fail=; for p in $(MUTATE_PKGS); do \
		echo "== $$p"; start=$$(date +%s); \
		PATH="$(CURDIR)/scripts/mutate:$$PATH" REAL_GO="$(shell command -v $(GO))" GOFLAGS=-count=1 \
		RAPID_SHRINKTIME=2s RAPID_NOFAILFILE=true \
		nice -n 10 $(GREMLINS) unleash --workers 1 --timeout-coefficient 5 \
			--threshold-efficacy $(MUTATE_EFFICACY) \
			--output $(MUTATE_OUT)/$$(basename $$p).json ./$$p || fail="$$fail $$p"; \
		echo "== $$p: $$(( $$(date +%s) - start )) s"; \
	done; \
	if [ -n "$$fail" ]; then echo "mutation efficacy under $(MUTATE_EFFICACY) % in:$$fail"; exit 1; fi

lint:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	@test -x "$(STATICCHECK)" || $(GO) install honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION)
	$(STATICCHECK) ./...

fmt:
	gofmt -w $$(git ls-files '*.go')

clean:
	rm -rf $(BIN)
