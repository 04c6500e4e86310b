# virt-bmap — see README.md. Every target installs what it needs (scripts/deps.sh).
SHELL := /bin/bash
export PATH := $(PATH):/usr/sbin:/sbin:/usr/local/go/bin:$(shell go env GOPATH 2>/dev/null || echo $$HOME/go)/bin
GO ?= go
BIN := bin
BUILD := build
VERSION ?= $(shell git describe --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -X main.version=$(VERSION)
FUZZTIME ?= 20s
PKGS := ./...

.PHONY: all build demo test test-libguestfs unit vet staticcheck bench fuzz testimages deps clean

all: build

build:
	$(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN)/ ./cmd/...

# The main job on the bundled sample image: a block map of a small Linux
# disk, read straight from its xz file (random access, nothing unpacked).
demo:
	@scripts/deps.sh demo
	@$(MAKE) --no-print-directory build
	@mkdir -p $(BUILD)
	$(BIN)/virt-bmap -o $(BUILD)/sample.bmap testimages/sample.img.xz
	@echo; echo "== first lines of $(BUILD)/sample.bmap (text form, as the original virt-bmap) =="
	@head -n 12 $(BUILD)/sample.bmap
	@echo "..."; echo "== some files =="
	@grep ' f /dev/sda[0-9]* /etc/' $(BUILD)/sample.bmap | head -n 8 || true
	@echo; echo "Map: $(BUILD)/sample.bmap ($$(wc -l < $(BUILD)/sample.bmap) lines). JSON form: $(BIN)/virt-bmap --json -o $(BUILD)/sample.json testimages/sample.img.xz"

# vet, staticcheck, the unit tests and the integration tests against real
# tools (The Sleuth Kit, debugfs, sfdisk, sgdisk, qemu-img), with the race detector.
test: deps vet staticcheck
	$(GO) test -race -count=1 -timeout 20m $(PKGS)

deps:
	@scripts/deps.sh test

# The libguestfs oracle: libguestfs' own virt-inspector (its appliance
# booted under TCG, a minute or more a guest) against ours on every phony
# guest, the encrypted ones included. Too slow for `make test`, where it
# skips for want of libguestfs-test-tool.
test-libguestfs: deps
	@scripts/deps.sh libguestfs
	$(GO) test -count=1 -timeout 60m -run 'TestLibguestfs' ./integration/

vet:
	$(GO) vet $(PKGS)
	@unformatted=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	  if [ -n "$$unformatted" ]; then echo "gofmt needed: $$unformatted"; exit 1; fi

staticcheck:
	@if command -v staticcheck >/dev/null; then staticcheck $(PKGS); \
	  else echo "staticcheck not installed: skipped"; fi

# Benchmarks: go test -bench over every package, then each side-by-side
# comparison (bench/README.md): TSK on 50,000 ext4 and 20,000 NTFS files,
# xz-utils and nbdkit's xz filter, qemu-img and qemu-nbd on qcow2, nbdkit
# and qemu-nbd serving NBD, nbdkit's log filter against tracing,
# libguestfs' virt-inspector against ours. vdi runs formats.sh on the two
# VDI formats; formats (all 14 formats, ~15 min), ntfs250k and ext1m
# (images that take minutes to build) are left out by default:
# make bench BENCHES="formats ntfs250k ext1m".
BENCHES ?= ext50k ntfs20k xz xzdecode qcow2 vmdk vhd vdi nbd nbdclient luks bmaplogger inspector
bench: build
	@scripts/deps.sh bench
	$(GO) test -run '^$$' -bench . -benchmem $(PKGS)
	@set -e; for b in $(BENCHES); do \
	  if [ -f bench/$$b.sh ]; then echo "== bench/$$b.sh"; bash bench/$$b.sh; fi; done

# Runs every fuzz target for FUZZTIME each.
fuzz: deps
	@set -e; for pkg in $$($(GO) list $(PKGS)); do \
	  for f in $$($(GO) test -list '^Fuzz' $$pkg | grep '^Fuzz' || true); do \
	    echo "== $$pkg $$f"; $(GO) test -run '^$$' -fuzz "^$$f$$" -fuzztime $(FUZZTIME) $$pkg; \
	  done; done

testimages: deps
	testimages/build.sh $(BUILD)/testimages

clean:
	rm -rf $(BIN) $(BUILD)
