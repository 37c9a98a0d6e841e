# Thin wrapper over Meson/Ninja.  The two set-up commands are `make demo`
# and `make check`; both install what they need from Debian packages.
BUILD      ?= build
ASAN_BUILD ?= build-asan
FUZZ_BUILD ?= build-fuzz
FUZZ_SECONDS ?= 20
# UBSan findings fail the run instead of scrolling by.
export UBSAN_OPTIONS ?= halt_on_error=1:print_stacktrace=1
MESON_OPTS ?= --buildtype=debugoptimized

.PHONY: all asan deps deps-test guest demo check layers unit unit-asan qcow2-test clone-test fuzz microscope-test integration systemd-test bench clean

all: $(BUILD)/build.ninja
	ninja -C $(BUILD)

$(BUILD)/build.ninja:
	meson setup $(BUILD) $(MESON_OPTS)

$(ASAN_BUILD)/build.ninja:
	meson setup $(ASAN_BUILD) --buildtype=debug -Db_sanitize=address,undefined -Db_lundef=false -Dtest_hooks=true

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

# The build stays quiet (its log is kept) so that the demo's own lines,
# the command it runs among them, are what a newcomer sees.
demo:
	@mkdir -p $(BUILD)
	@echo "demo: installing packages and building (log: $(BUILD)/demo-build.log)"
	@$(MAKE) --no-print-directory deps all guest >$(BUILD)/demo-build.log 2>&1 || \
		{ tail -n 30 $(BUILD)/demo-build.log; echo "demo: the build failed; the whole log is $(BUILD)/demo-build.log"; exit 1; }
	@scripts/demo.sh $(BUILD)

# No file includes one of a higher layer (src/layers.txt); also a unit test.
layers:
	scripts/check-layers.sh

unit: all
	meson test -C $(BUILD) --print-errorlogs --suite unit

asan: $(ASAN_BUILD)/build.ninja
	ninja -C $(ASAN_BUILD)

unit-asan: asan
	meson test -C $(ASAN_BUILD) --print-errorlogs --suite unit

# The qcow2 tests alone (also part of unit): the model, qemu-img, SIGKILL.
qcow2-test: all
	meson test -C $(BUILD) --print-errorlogs --suite qcow2

# The clone, backup and import tests alone (also part of unit): qcow2,
# ext4, XFS and btrfs on loop devices, LVM where there is a device mapper.
clone-test: all
	meson test -C $(BUILD) --print-errorlogs --suite clone

# Each libFuzzer target for FUZZ_SECONDS; a crash fails the run.
fuzz: $(FUZZ_BUILD)/build.ninja
	ninja -C $(FUZZ_BUILD)
	tests/fuzz/run.sh $(FUZZ_BUILD) $(FUZZ_SECONDS)

# The eBPF microscope against a workload with known ground truth, on this
# machine (root, kernel BTF), not in the test host.
microscope-test: all
	tests/microscope/cli.sh $(BUILD)
	tests/microscope/vm.sh $(BUILD)
	tests/microscope/ground-truth.sh $(BUILD)

integration: all asan guest
	tests/integration/run-all.sh $(BUILD) $(ASAN_BUILD)

# Every stage runs even after one fails; the output ends with each stage's
# result and the lines that name what failed (scripts/check.sh).
check: deps-test
	MAKE="$(MAKE)" scripts/check.sh layers unit unit-asan fuzz microscope-test integration

# The systemd group of `integration` alone: a Debian guest made by `vireo
# image bootstrap`, cached under $(BUILD)/systemd-guest, booted from its disk.
systemd-test: deps-test all guest
	tests/integration/systemd-image.sh $(BUILD)
	VIREO_BUILD=$(BUILD) tests/testhost/run --memory 3072 --timeout 2700 -- \
		tests/integration/suite.sh $(abspath $(BUILD)) $(abspath $(ASAN_BUILD)) systemd

bench: deps-test all guest
	bench/run-all.sh $(BUILD)

clean:
	rm -rf $(BUILD) $(ASAN_BUILD) $(FUZZ_BUILD)
