GO ?= go
BIN := bin/berth

.PHONY: build test fuzz demo lint

build:
	CGO_ENABLED=0 $(GO) build -o $(BIN) ./cmd/berth

test:
	$(GO) vet ./...
	$(GO) test -race -count=1 -timeout 30m ./...
	$(MAKE) fuzz

# fuzz: a brief run of each router fuzz target beyond its seeds (which
# plain go test already runs); FUZZTIME=5m for a longer hunt.
FUZZTIME ?= 10s
fuzz:
	$(GO) test -run '^$$' -fuzz '^FuzzReadResponse$$' -fuzztime $(FUZZTIME) ./internal/router
	$(GO) test -run '^$$' -fuzz '^FuzzUpstreamExchange$$' -fuzztime $(FUZZTIME) ./internal/router
	$(GO) test -run '^$$' -fuzz '^FuzzFramingGuard$$' -fuzztime $(FUZZTIME) ./internal/router

demo: build
	$(BIN) up -f examples/shop/berth.yaml --listen 127.0.0.1:8080

# lint: go vet plus staticcheck (fetched through the Go module proxy).
lint:
	$(GO) vet ./...
	$(GO) run honnef.co/go/tools/cmd/staticcheck@v0.8.2 ./...
