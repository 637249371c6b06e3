GO ?= go
BIN := bin/berth

.PHONY: build test demo lint

build:
	CGO_ENABLED=0 $(GO) build -o $(BIN) ./cmd/berth

test:
	$(GO) vet ./...
	GOOS=darwin $(GO) build -o /dev/null ./cmd/berth
	$(GO) test -race -count=1 -timeout 30m ./...

demo: build
	$(BIN) up -f examples/shop/berth.yaml --listen 127.0.0.1:8080

# lint: go vet plus staticcheck (fetched through the Go module proxy).
lint:
	$(GO) vet ./...
	$(GO) run honnef.co/go/tools/cmd/staticcheck@v0.8.2 ./...
