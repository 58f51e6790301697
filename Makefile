# arrowring — the user interface. Each target bootstraps what it needs on a fresh Debian 12.
#   make build   dependencies + configure + build everything (incremental)
#   make test    build, then lint and every test suite (ctest, the ASan+UBSan suite, pytest)
#   make demo    build, then the main job: `arrowring demo` (DEMO_ARGS="--seconds 5" to change it)
#   make bench   build, then the benchmark suite (QUICK=1: the reduced one, under 3 minutes)
#   make fuzz    build, then every libFuzzer target for FUZZ_SECONDS each under ASan+UBSan
#   make lint    build, then ruff and mypy on python/arrowring, clang-format and clang-tidy on the C++
JOBS        ?= 2
BUILD_DIR   ?= build
ASAN_DIR    ?= build-asan
TSAN_DIR    ?= build-tsan
BUILD_TYPE  ?= RelWithDebInfo
VENV_PYTHON := $(CURDIR)/.venv/bin/python
CMAKE_FLAGS := -G Ninja -DCMAKE_BUILD_TYPE=$(BUILD_TYPE) -DARROWRING_PYTHON=$(VENV_PYTHON) \
               -DARROWRING_BUILD_TESTS=ON -DARROWRING_BUILD_BENCHMARKS=ON \
               -DARROWRING_BUILD_BRIDGE=ON
# Sanitizer builds: only the suites that need them. ASan+UBSan: every parser of untrusted bytes
# (IPC streams, segment files, the bridge's tickets, tags and batches from the network), and
# loans (pointer arithmetic in ring memory, gold files). TSan: threads racing on one ring.
ASAN_TARGETS := arrowring_stream_codec_test arrowring_ipc_conformance_test arrowring_ipc_fuzz_regression_test arrowring_segment_test \
                arrowring_corruption_test arrowring_loan_test arrowring_bridge_test
TSAN_TARGETS := arrowring_ring_stress_test
# libFuzzer (clang): every parser of bytes from outside. `make test` runs a short bounded pass.
FUZZ_DIR     ?= build-fuzz
FUZZ_SECONDS ?= 60
FUZZ_TARGETS := arrowring_fuzz_handle arrowring_fuzz_ring_open arrowring_fuzz_read_table arrowring_fuzz_recognized_stream \
                arrowring_fuzz_bridge_wire

.PHONY: all bootstrap build test test-lint test-cpp test-asan test-tsan test-python test-pip-install test-fuzz fuzz fuzz-build \
        demo bench lint clean

all: build

bootstrap:
	@./scripts/bootstrap.sh

build: bootstrap
	@cmake -S . -B $(BUILD_DIR) $(CMAKE_FLAGS) >/dev/null
	@cmake --build $(BUILD_DIR) -j $(JOBS)
	@# The Python package, editable, into .venv; its CMake build is incremental in build/python.
	@$(VENV_PYTHON) -m pip install -q --disable-pip-version-check --no-build-isolation --no-deps \
	    -Cbuild-dir=$(BUILD_DIR)/python -Ceditable.rebuild=false -e .

demo: build
	$(BUILD_DIR)/bin/arrowring demo $(DEMO_ARGS)

bench: build
	@./bench/setup.sh $(VENV_PYTHON)
	ARROWRING_BUILD_DIR=$(CURDIR)/$(BUILD_DIR) $(VENV_PYTHON) bench/run.py $(if $(QUICK),--quick,)
	@# The asyncio row: what awaiting a subscriber adds over a blocked thread.
	$(VENV_PYTHON) bench/asyncio_latency.py $(if $(QUICK),--quick,)

test: build
	@$(MAKE) --no-print-directory test-lint test-cpp test-asan test-tsan test-python test-pip-install test-fuzz

test-cpp:
	ctest --test-dir $(BUILD_DIR) --output-on-failure --no-tests=error -j $(JOBS)

test-asan:
	@cmake -S . -B $(ASAN_DIR) $(CMAKE_FLAGS) -DCMAKE_BUILD_TYPE=Debug \
	    -DARROWRING_BUILD_BENCHMARKS=OFF -DARROWRING_SANITIZE=address,undefined >/dev/null
	@cmake --build $(ASAN_DIR) -j $(JOBS) --target $(ASAN_TARGETS)
	ASAN_OPTIONS=detect_leaks=0:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	    ctest --test-dir $(ASAN_DIR) --output-on-failure --no-tests=error -j $(JOBS) -L untrusted

test-tsan:
	@cmake -S . -B $(TSAN_DIR) $(CMAKE_FLAGS) -DCMAKE_BUILD_TYPE=Debug -DARROWRING_BUILD_ARROW=OFF \
	    -DARROWRING_BUILD_BENCHMARKS=OFF -DARROWRING_SANITIZE=thread >/dev/null
	@cmake --build $(TSAN_DIR) -j $(JOBS) --target $(TSAN_TARGETS)
	TSAN_OPTIONS=halt_on_error=1 ctest --test-dir $(TSAN_DIR) --output-on-failure --no-tests=error -j $(JOBS) -L concurrency

test-python:
	ARROWRING_BUILD_DIR=$(CURDIR)/$(BUILD_DIR) $(VENV_PYTHON) -m pytest -q -p no:cacheprovider \
	    --basetemp=$(CURDIR)/$(BUILD_DIR)/pytest-python tests/interop python/tests

# `pip install .` from the repository root into a fresh virtual environment, then a smoke run
# of the installed package (from outside the source tree). numpy too, for a loan (optional
# for arrowring itself).
PIP_VENV := $(CURDIR)/$(BUILD_DIR)/pip-install-venv
test-pip-install:
	@rm -rf $(PIP_VENV) && python3 -m venv $(PIP_VENV)
	$(PIP_VENV)/bin/python -m pip install -q --disable-pip-version-check . numpy
	cd /tmp && $(PIP_VENV)/bin/python $(CURDIR)/python/tests/smoke_installed.py

fuzz-build: bootstrap
	@cmake -S . -B $(FUZZ_DIR) -G Ninja -DCMAKE_CXX_COMPILER=clang++ -DCMAKE_BUILD_TYPE=Debug \
	    -DARROWRING_PYTHON=$(VENV_PYTHON) -DARROWRING_SANITIZE=address,undefined -DARROWRING_FUZZ=ON >/dev/null
	@cmake --build $(FUZZ_DIR) -j $(JOBS) --target $(FUZZ_TARGETS)

fuzz: build fuzz-build
	./scripts/fuzz.sh $(FUZZ_DIR) $(FUZZ_SECONDS) $(BUILD_DIR)/bin/arrowring

test-fuzz: fuzz-build
	./scripts/fuzz.sh $(FUZZ_DIR) 5 $(BUILD_DIR)/bin/arrowring

# Style and static checks: ruff and mypy (strict) on the Python package, clang-format
# (.clang-format) on every C++ file, clang-tidy (.clang-tidy) on the C++ sources, against
# build/'s compile_commands.json. `make test` runs them first
# (test-lint), so a violation fails CI.
LINT_CXX = $(shell git ls-files 'src/arrowring/*.cc' 'cli/*.cc' | grep -v -e '_test\.cc$$' -e '_benchmark\.cc$$' -e '^cli/tests/')
lint: build
	@$(MAKE) --no-print-directory test-lint

test-lint:
	$(VENV_PYTHON) -m ruff check python/arrowring
	$(VENV_PYTHON) -m mypy
	git ls-files '*.h' '*.cc' | xargs clang-format-14 --dry-run -Werror
	clang-tidy-14 -p $(BUILD_DIR) --quiet $(LINT_CXX)

clean:
	rm -rf $(BUILD_DIR) $(ASAN_DIR) $(TSAN_DIR) $(FUZZ_DIR)
