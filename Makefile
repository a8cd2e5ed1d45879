# Columba: the two commands of the README, plus the usual build targets.
#   make run     install what is missing, build, start a development server
#   make check   build and run every test (unit + integration, plain and
#                under ASan+UBSan); ends with "N passed, N failed"
PREFIX ?= /usr/local
BUILD ?= build
BUILD_ASAN ?= build-asan
MESON_OPTS ?=

.PHONY: all deps build build-asan run check check-plain check-asan install clean \
	bench

all: build

deps:
	@bash scripts/deps.sh

$(BUILD)/build.ninja:
	meson setup $(BUILD) --prefix=$(PREFIX) $(MESON_OPTS)

$(BUILD_ASAN)/build.ninja:
	meson setup $(BUILD_ASAN) -Db_sanitize=address,undefined -Db_lundef=false \
		-Dbuildtype=debug $(MESON_OPTS)

build: deps $(BUILD)/build.ninja
	ninja -C $(BUILD)

build-asan: deps $(BUILD_ASAN)/build.ninja
	ninja -C $(BUILD_ASAN)

run: build
	@bash scripts/run.sh $(BUILD)

# Both builds' tests, one summary line.
check: build build-asan
	@bash scripts/check.sh $(BUILD) $(BUILD_ASAN)

check-plain: build
	@bash scripts/check.sh $(BUILD)

check-asan: build-asan
	@bash scripts/check.sh $(BUILD_ASAN)

# The prefix is compiled in (default config path), so set it and rebuild.
install: build
	meson configure $(BUILD) --prefix=$(abspath $(PREFIX)) >/dev/null
	ninja -C $(BUILD)
	DESTDIR=$(DESTDIR) meson install -C $(BUILD) --no-rebuild

# Columba and Dovecot side by side; BENCH_OPTS=--quick for a short run
# (docs/performance.md). Builds in its own directory, build-bench/.
bench:
	@bench/run $(BENCH_OPTS)

clean:
	rm -rf $(BUILD) $(BUILD_ASAN)
