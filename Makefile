# annals: `make run` and `make test` do everything on a fresh Debian 12 machine.
BUILD_DIR      ?= build
ASAN_BUILD_DIR ?= build-asan
BUILD_TYPE     ?= RelWithDebInfo
DATA           ?= ./data
LISTEN         ?= 127.0.0.1:8080
CMAKE_FLAGS    ?=

.PHONY: all deps build run test test-asan bench fuzz clean

all: build

deps:
	@bash scripts/install-deps.sh

$(BUILD_DIR)/build.ninja:
	cmake -S . -B $(BUILD_DIR) -G Ninja -DCMAKE_BUILD_TYPE=$(BUILD_TYPE) $(CMAKE_FLAGS)

build: deps $(BUILD_DIR)/build.ninja
	cmake --build $(BUILD_DIR)

run: build
	./$(BUILD_DIR)/annals serve --data $(DATA) --listen $(LISTEN)

# Every test: unit, store, fuzz-corpus replay and integration tests on the regular build,
# then the unit, store and corpus tests again under AddressSanitizer + UBSan.
test: build test-asan
	cd $(BUILD_DIR) && ctest --output-on-failure --timeout 900
	cd $(ASAN_BUILD_DIR) && ASAN_OPTIONS=detect_leaks=1 ctest --output-on-failure --timeout 900

test-asan: deps
	cmake -S . -B $(ASAN_BUILD_DIR) -G Ninja -DCMAKE_BUILD_TYPE=Debug -DANNALS_SANITIZE=ON \
	  -DANNALS_ONLY_CORE_TESTS=ON -DANNALS_BUILD_BENCH=OFF
	cmake --build $(ASAN_BUILD_DIR)

bench: deps
	bash scripts/bench.sh $(BENCH_FLAGS)

# A real libFuzzer build (clang 14) of each fuzz target; see fuzz/README.md.
fuzz: deps
	bash fuzz/build.sh

clean:
	rm -rf $(BUILD_DIR) $(ASAN_BUILD_DIR)
