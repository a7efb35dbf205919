# Gannet: trains image classifiers on ImageNet-scale data, in Swift.
SWIFT ?= swift

.PHONY: setup build release test test-release demo clean check-no-mpi check-onednn3 sanitize fuzz check-mpi-hosts check-onnx check-tensorboard format lint

setup:
	@bash scripts/setup.sh

build: setup
	$(SWIFT) build

release: setup
	$(SWIFT) build -c release

# The whole suite. Reference kernels are plain loops, so the suite runs optimised.
test: setup lint
	$(SWIFT) build --build-tests -c release -Xswiftc -enable-testing
	$(SWIFT) test --skip-build -c release -Xswiftc -enable-testing
	bash scripts/cli-smoke.sh .build/release/gannet
	python3 scripts/hostile_checks.py .build/release/gannet

# The main job on embedded data: synth → list → pack → train → score → predict.
demo: release
	bash scripts/demo.sh

clean:
	rm -rf .build .build-onednn3 .build-tsan .build-asan

# Slow tier: builds a second copy as on a machine without Open MPI and checks it.
check-no-mpi: setup
	bash scripts/check-no-mpi.sh

# Slow tier: the suite and the CLI checks against oneDNN 3.2 (Intel's PyPI wheels, installed
# in .deps/onednn) instead of Debian's 2.6; docs/layout.md compares the two.
check-onednn3: setup
	bash scripts/setup-onednn.sh
	GANNET_ONEDNN=3 $(SWIFT) build --build-tests -c release -Xswiftc -enable-testing --scratch-path .build-onednn3
	GANNET_ONEDNN=3 $(SWIFT) test --skip-build -c release -Xswiftc -enable-testing --scratch-path .build-onednn3
	bash scripts/cli-smoke.sh .build-onednn3/release/gannet

# Slow tier: the suite and the CLI checks under ThreadSanitizer and AddressSanitizer.
sanitize: setup
	bash scripts/sanitize.sh

# Slow tier: every libFuzzer target of Fuzz/ for FUZZ_SECONDS (default 60) each.
fuzz: setup
	bash scripts/fuzz.sh

# Slow tier (root): one MPI rank in each of two network namespaces joined by a veth pair,
# over TCP: allreduce bandwidth, 2 hosts × 4 = 1 process × 8, a killed remote rank.
check-mpi-hosts: release
	bash scripts/mpi-namespaces.sh .build/release/gannet

# Slow tier: ONNX export against onnx's checker and ONNX Runtime, beside `gannet predict`
# (scripts/check_onnx.py; the consumers go into .venv-consumers from PyPI).
check-onnx: release
	bash scripts/setup-consumers.sh
	.venv-consumers/bin/python scripts/check_onnx.py .build/release/gannet

# Slow tier: `train --tensorboard` read back by TensorBoard's EventAccumulator, resume included.
check-tensorboard: release
	bash scripts/setup-consumers.sh
	.venv-consumers/bin/python scripts/check_tensorboard.py .build/release/gannet

# Style: .swift-format (swift-format ships with the Swift toolchain).
lint:
	$(SWIFT) format lint --recursive --parallel --strict Sources Tests Package.swift Fuzz/Package.swift Fuzz/Sources

format:
	$(SWIFT) format --in-place --recursive --parallel Sources Tests Package.swift Fuzz/Package.swift Fuzz/Sources
