# emsd — common tasks. `make run` starts the daemon on the built-in simulated
# plant; `make test` runs the whole suite.
GO        ?= go
BIN       := bin
VERSION   ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS   := -s -w -X main.version=$(VERSION)
CONFIG    ?= configs/demo.yaml
STATICCHECK ?= $(shell command -v staticcheck 2>/dev/null || echo $(HOME)/go/bin/staticcheck)
STATICCHECK_VERSION ?= v0.8.2

.PHONY: all build run sim test test-short bench lint fmt check-config clean

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

## test: the whole suite. Needs mosquitto and a cached influxd (.ci/run installs them).
## Packages run one at a time (-p 1): the closed-loop tests run in real time
## against the simulated plant and must not compete for this 2-core machine.
test:
	$(GO) test -count=1 -p 1 -timeout 40m ./...

test-short:
	$(GO) test -count=1 -short ./...

## bench: the performance benchmarks (medians: run with BENCHCOUNT=5 and compare with benchstat).
BENCHCOUNT ?= 3
bench:
	$(GO) test -run '^$$' -bench . -benchmem -count $(BENCHCOUNT) -timeout 30m ./...

lint:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	@test -x "$(STATICCHECK)" || $(GO) install honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION)
	$(STATICCHECK) ./...

fmt:
	gofmt -w $$(git ls-files '*.go')

clean:
	rm -rf $(BIN)
