# Thin wrapper over Meson/Ninja.  The two set-up commands are `make demo`
# and `make check`; both install what they need from Debian packages.
BUILD      ?= build
ASAN_BUILD ?= build-asan
FUZZ_BUILD ?= build-fuzz
FUZZ_SECONDS ?= 20
# UBSan findings fail the run instead of scrolling by.
export UBSAN_OPTIONS ?= halt_on_error=1:print_stacktrace=1
MESON_OPTS ?= --buildtype=debugoptimized

.PHONY: all asan deps deps-test guest demo check unit unit-asan fuzz microscope-test integration bench clean

all: $(BUILD)/build.ninja
	ninja -C $(BUILD)

$(BUILD)/build.ninja:
	meson setup $(BUILD) $(MESON_OPTS)

$(ASAN_BUILD)/build.ninja:
	meson setup $(ASAN_BUILD) --buildtype=debug -Db_sanitize=address,undefined -Db_lundef=false

$(FUZZ_BUILD)/build.ninja:
	CC=clang meson setup $(FUZZ_BUILD) --buildtype=debugoptimized -Dfuzz=true \
		-Db_sanitize=address,undefined -Db_lundef=false

deps:
	scripts/install-deps.sh build

deps-test:
	scripts/install-deps.sh test

# Debian kernels plus the busybox initramfs, cached under $(BUILD)/guest.
guest: deps
	scripts/fetch-kernels.sh $(BUILD)
	guest/mkinitramfs.sh $(BUILD)/guest/initramfs.cpio.gz $(BUILD)/guest/modules-cloud $(BUILD)/guest/modules-generic

demo: deps all guest
	scripts/demo.sh $(BUILD)

unit: all
	meson test -C $(BUILD) --print-errorlogs --suite unit

asan: $(ASAN_BUILD)/build.ninja
	ninja -C $(ASAN_BUILD)

unit-asan: asan
	meson test -C $(ASAN_BUILD) --print-errorlogs --suite unit

# Each libFuzzer target for FUZZ_SECONDS; a crash fails the run.
fuzz: $(FUZZ_BUILD)/build.ninja
	ninja -C $(FUZZ_BUILD)
	tests/fuzz/run.sh $(FUZZ_BUILD) $(FUZZ_SECONDS)

# The eBPF microscope against a workload with known ground truth, on this
# machine (root, kernel BTF), not in the test host.
microscope-test: all
	tests/microscope/cli.sh $(BUILD)
	tests/microscope/ground-truth.sh $(BUILD)

integration: all asan guest
	tests/integration/run-all.sh $(BUILD) $(ASAN_BUILD)

check: deps-test
	$(MAKE) unit
	$(MAKE) unit-asan
	$(MAKE) fuzz
	$(MAKE) microscope-test
	$(MAKE) integration

bench: deps-test all guest
	bench/run-all.sh $(BUILD)

clean:
	rm -rf $(BUILD) $(ASAN_BUILD) $(FUZZ_BUILD)
