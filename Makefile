GO ?= go
BIN := bin/berth
# berth version prints these; a build outside make falls back to the VCS
# revision the Go toolchain records.
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
COMMIT ?= $(shell git rev-parse HEAD 2>/dev/null || echo unknown)
LDFLAGS = -X github.com/berth-dev/berth/internal/cli.version=$(VERSION) -X github.com/berth-dev/berth/internal/cli.commit=$(COMMIT)

.PHONY: build test fuzz demo lint boundaries darwin

build:
	CGO_ENABLED=0 $(GO) build -ldflags "$(LDFLAGS)" -o $(BIN) ./cmd/berth

test:
	$(GO) vet ./...
	GOOS=darwin $(GO) build -o /dev/null ./cmd/berth
	$(GO) test -race -count=1 -timeout 30m ./...
	$(MAKE) fuzz

# fuzz: a brief run of each fuzz target beyond its seeds (which plain go
# test already runs). The budgets are execution counts (about 10 s each on
# this project's machines), not durations: a duration races Go 1.26's fuzz
# coordinator, which can fail a target with "context deadline exceeded" at
# the deadline though nothing was found (go.dev/issue/75804, fixed in Go
# 1.27). FUZZTIME=5m (or 1000000x) overrides every budget for a longer hunt.
FUZZTIME ?=
fuzz:
	$(GO) test -run '^$$' -fuzz '^FuzzReadResponse$$' -fuzztime $(or $(FUZZTIME),30000x) ./internal/router
	$(GO) test -run '^$$' -fuzz '^FuzzUpstreamExchange$$' -fuzztime $(or $(FUZZTIME),30x) ./internal/router
	$(GO) test -run '^$$' -fuzz '^FuzzFramingGuard$$' -fuzztime $(or $(FUZZTIME),60000x) ./internal/router
	$(GO) test -run '^$$' -fuzz '^FuzzPublishTable$$' -fuzztime $(or $(FUZZTIME),40000x) ./internal/router
	$(GO) test -run '^$$' -fuzz '^FuzzGuard$$' -fuzztime $(or $(FUZZTIME),150000x) ./internal/dashboard

demo: build
	$(BIN) up -f examples/shop/berth.yaml --listen 127.0.0.1:8080

# lint: gofmt, go vet and staticcheck (fetched through the Go module proxy).
lint:
	@unformatted="$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go'))"; \
	if [ -n "$$unformatted" ]; then echo "not gofmt-ed (run gofmt -w):"; echo "$$unformatted"; exit 1; fi
	$(GO) vet ./...
	$(GO) run honnef.co/go/tools/cmd/staticcheck@v0.8.2 ./...

# boundaries: the import rules of internal/boundaries (internal/deploy does
# no I/O, internal/api imports nothing of berth); also part of make test.
boundaries:
	$(GO) test -count=1 ./internal/boundaries

# darwin: berth builds for macOS.
darwin:
	GOOS=darwin CGO_ENABLED=0 $(GO) build -o /dev/null ./cmd/berth
