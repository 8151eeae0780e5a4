#!/usr/bin/env bash
# tests/run.sh — THE test command for Skein (CI runs it through .ci/run).
#
#   bash tests/run.sh                 everything: installs, fmt, clippy,
#                                     release build, unit tests, e2e suite
#   bash tests/run.sh --e2e-only      installs, release build, e2e suite
#   bash tests/run.sh --no-install    skip the install phases (offline rerun)
#   bash tests/run.sh [...] -- ARGS   extra pytest arguments, e.g. -- -k kcat
#
# Idempotent: each install step is skipped when already done. Installs:
#   Debian packages   kcat golang-go golang-github-shopify-sarama-dev
#   Python venv       tests/e2e/.deps/venv from tests/e2e/requirements.txt
#   Node modules      tests/e2e/node/node_modules via `npm ci` (kafkajs)
#   sarama program    tests/e2e/.deps/bin/sarama_e2e from tests/e2e/sarama/*.go
#                     (Go, GOPATH mode)
#
# Environment:
#   SKEIN_BIN           broker binary for the e2e suite (default: the one
#                       this script builds, target/release/skein)
#   SKEIN_E2E_CORES     --cores value passed to every broker the suite starts
#   SKEIN_FUZZ_SECONDS  how long the decoder fuzz phase runs (default 60)
#
# Every phase runs even if an earlier one failed (except that the e2e suite
# needs the build and the installs); the script exits non-zero if any phase
# failed. The last line is the e2e count: "e2e: N passed, N failed".
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$REPO"

E2E="$REPO/tests/e2e"
DEPS="$E2E/.deps"
VENV="$DEPS/venv"
NODE_DIR="$E2E/node"
SARAMA_SRC="$E2E/sarama"
SARAMA_BIN="$DEPS/bin/sarama_e2e"
JUNIT="$DEPS/junit.xml"
APT_PACKAGES=(kcat golang-go golang-github-shopify-sarama-dev)

E2E_ONLY=0
INSTALL=1
PYTEST_ARGS=()
while [ $# -gt 0 ]; do
  case "$1" in
    --e2e-only) E2E_ONLY=1 ;;
    --no-install) INSTALL=0 ;;
    --) shift; PYTEST_ARGS=("$@"); break ;;
    -h|--help) sed -n '2,27p' "${BASH_SOURCE[0]}"; exit 0 ;;
    *) echo "run.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
  shift
done

mkdir -p "$DEPS"
PHASES=()
FAILED=()
RUN_START=$SECONDS

# run_phase NAME CMD...: runs CMD in a subshell with `set -e` in force (a
# function called from `if` or `||` would silently lose it), records the
# outcome and duration, and never stops the script.
run_phase() {
  local name=$1 t0=$SECONDS rc
  shift
  echo
  echo "=== ${name} ==="
  set +e
  ( set -euo pipefail; "$@" )
  rc=$?
  set -e
  local outcome="ok"
  if [ "$rc" -ne 0 ]; then
    outcome="FAILED (exit $rc)"
    FAILED+=("$name")
  fi
  PHASES+=("$(printf '%-12s %5ss  %s' "$name" "$((SECONDS - t0))" "$outcome")")
  echo "=== ${name}: ${outcome} in $((SECONDS - t0))s ==="
}

skip_phase() {
  PHASES+=("$(printf '%-12s %5s   %s' "$1" "-" "skipped: $2")")
  echo
  echo "=== $1: skipped ($2) ==="
}

phase_failed() {
  local f
  for f in "${FAILED[@]+"${FAILED[@]}"}"; do [ "$f" = "$1" ] && return 0; done
  return 1
}

# retry CMD...: once more after a pause, for transient registry failures.
retry() {
  "$@" && return 0
  echo "--- failed: $*; retrying in 10s"
  sleep 10
  "$@"
}

as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

sha() { sha256sum "$1" | cut -d' ' -f1; }

install_apt() {
  local missing=() p
  for p in "${APT_PACKAGES[@]}"; do
    dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
  done
  if [ ${#missing[@]} -eq 0 ]; then
    echo "apt: ${APT_PACKAGES[*]} already installed"
    return 0
  fi
  echo "apt: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  retry as_root apt-get update -q
  retry as_root apt-get install -y -q "${missing[@]}"
}

install_python() {
  local stamp="$VENV/.skein-requirements.sha256" want
  want="$(sha "$E2E/requirements.txt")"
  if [ -x "$VENV/bin/python" ] && [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
    echo "python: venv up to date ($VENV)"
    return 0
  fi
  if [ ! -x "$VENV/bin/python" ]; then
    if ! python3 -m venv "$VENV"; then
      # Debian's own python3 ships venv support separately.
      rm -rf "$VENV"
      export DEBIAN_FRONTEND=noninteractive
      retry as_root apt-get update -q
      retry as_root apt-get install -y -q python3-venv
      python3 -m venv "$VENV"
    fi
  fi
  retry "$VENV/bin/python" -m pip install -q --disable-pip-version-check -r "$E2E/requirements.txt"
  echo "$want" > "$stamp"
  "$VENV/bin/python" -m pip list --disable-pip-version-check 2>/dev/null | grep -i -E '^(pytest|confluent-kafka|kafka-python) '
}

install_node() {
  local stamp="$NODE_DIR/node_modules/.skein-lock.sha256" want
  want="$(sha "$NODE_DIR/package-lock.json")"
  if [ -d "$NODE_DIR/node_modules/kafkajs" ] && [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
    echo "node: node_modules up to date"
    return 0
  fi
  (cd "$NODE_DIR" && retry npm ci --no-audit --no-fund --loglevel=error)
  echo "$want" > "$stamp"
  node --version
}

build_sarama() {
  # Debian packages sarama for GOPATH builds under /usr/share/gocode; its
  # import path is github.com/Shopify/sarama (newer upstream releases moved
  # to github.com/IBM/sarama, so adapt if that is what is installed).
  # The program is every .go file in $SARAMA_SRC (package main).
  local gopath=/usr/share/gocode src="$SARAMA_SRC" f
  if [ ! -d "$gopath/src/github.com/Shopify/sarama" ]; then
    if [ -d "$gopath/src/github.com/IBM/sarama" ]; then
      src="$DEPS/sarama_e2e_ibm"
      rm -rf "$src"
      mkdir -p "$src"
      for f in "$SARAMA_SRC"/*.go; do
        sed 's#"github.com/Shopify/sarama"#"github.com/IBM/sarama"#' "$f" > "$src/$(basename "$f")"
      done
    else
      echo "sarama: no sarama under $gopath/src/github.com (golang-github-shopify-sarama-dev missing?)" >&2
      return 1
    fi
  fi
  if [ -x "$SARAMA_BIN" ] && [ -z "$(find "$SARAMA_SRC" -name '*.go' -newer "$SARAMA_BIN")" ]; then
    echo "sarama: $SARAMA_BIN up to date"
    return 0
  fi
  mkdir -p "$(dirname "$SARAMA_BIN")"
  (cd "$src" && GO111MODULE=off GOPATH="$gopath" GOFLAGS= GOCACHE="$DEPS/gocache" \
    go build -o "$SARAMA_BIN" .)
  echo "sarama: built $SARAMA_BIN with $(go version)"
}

cargo_fmt() { cargo fmt --check; }

cargo_clippy() { cargo clippy --workspace --all-targets -- -D warnings; }

cargo_build() { cargo build --release -p skein; }

cargo_unit_tests() {
  if cargo nextest --version >/dev/null 2>&1; then
    cargo nextest run --workspace --no-tests=warn
    # nextest does not run doctests.
    cargo test --workspace --doc
  else
    cargo test --workspace
  fi
}

# The request decoders' fuzz targets (fuzz/), run briefly: a decode that
# panics or aborts fails the phase. cargo-fuzz is installed if missing; it
# needs nightly-only flags, which RUSTC_BOOTSTRAP lets the stable toolchain
# accept. No sanitizer: the decoder is safe Rust, and ASan would double the
# build on CI's two cores.
fuzz_decoder() {
  if ! cargo fuzz --version >/dev/null 2>&1; then
    retry cargo install cargo-fuzz --locked
  fi
  local seconds="${SKEIN_FUZZ_SECONDS:-60}"
  (cd "$REPO/fuzz" && RUSTC_BOOTSTRAP=1 cargo fuzz run request_decode -s none \
    "$REPO/fuzz/corpus/request_decode" -- -max_total_time="$seconds" -rss_limit_mb=2048)
  # The controller listener's decoder (inter-node frames), a third as long.
  (cd "$REPO/fuzz" && RUSTC_BOOTSTRAP=1 cargo fuzz run controller_frame_decode -s none \
    "$REPO/fuzz/corpus/controller_frame_decode" -- -max_total_time="$((seconds / 3 + 1))" -rss_limit_mb=2048)
}

e2e() {
  local bin="${SKEIN_BIN:-$REPO/target/release/skein}"
  echo "broker binary: $bin"
  rm -f "$JUNIT"
  export SKEIN_BIN="$bin" SARAMA_E2E_BIN="$SARAMA_BIN"
  # Exit code 5 (no tests collected) is a failure here too.
  # conftest.py stops starting tests after SKEIN_E2E_BUDGET_S (30 min);
  # the outer timeout is the last resort if pytest itself wedges.
  timeout --kill-after=30 45m \
    "$VENV/bin/python" -m pytest -c "$E2E/pytest.ini" --rootdir "$E2E" "$E2E" \
    --junitxml "$JUNIT" --durations=15 "${PYTEST_ARGS[@]+"${PYTEST_ARGS[@]}"}"
}

# Counts testcases in the JUnit report: failed if any <failure>/<error>,
# skipped if only <skipped>, passed otherwise.
e2e_counts() {
  if [ ! -f "$JUNIT" ] || [ ! -x "$VENV/bin/python" ]; then
    echo "0 0 0"
    return 0
  fi
  "$VENV/bin/python" - "$JUNIT" <<'PY'
import sys
import xml.etree.ElementTree as ET
cases = {}
for tc in ET.parse(sys.argv[1]).iter("testcase"):
    key = (tc.get("classname"), tc.get("name"))
    tags = {child.tag for child in tc}
    state = "failed" if tags & {"failure", "error"} else "skipped" if "skipped" in tags else "passed"
    if cases.get(key) != "failed":
        cases[key] = state
values = list(cases.values())
print(values.count("passed"), values.count("failed"), values.count("skipped"))
PY
}

# ---------------------------------------------------------------------------

echo "skein test run: $(date -u +%FT%TZ) on $(nproc) cores, repo $REPO"

if [ "$INSTALL" -eq 1 ]; then
  run_phase apt install_apt
  run_phase python install_python
  run_phase node install_node
else
  skip_phase apt "--no-install"; skip_phase python "--no-install"; skip_phase node "--no-install"
fi
if phase_failed apt; then
  skip_phase sarama "apt install failed"
else
  run_phase sarama build_sarama
fi

if [ "$E2E_ONLY" -eq 0 ]; then
  run_phase fmt cargo_fmt
  run_phase clippy cargo_clippy
fi
run_phase build cargo_build
if [ "$E2E_ONLY" -eq 0 ]; then
  run_phase unit-tests cargo_unit_tests
  run_phase fuzz fuzz_decoder
fi

if phase_failed build && [ -z "${SKEIN_BIN:-}" ]; then
  skip_phase e2e "release build failed"
  FAILED+=("e2e")
elif phase_failed python; then
  skip_phase e2e "python dependencies missing"
  FAILED+=("e2e")
else
  # The sarama, kcat and kafkajs tests fail on their own (with a message)
  # when their tool is missing, so a failed install shows up as test
  # failures rather than hiding the rest of the suite.
  run_phase e2e e2e
fi

E2E_PASSED=0 E2E_FAILED=0 E2E_SKIPPED=0
read -r E2E_PASSED E2E_FAILED E2E_SKIPPED < <(e2e_counts) || true

echo
echo "=== summary (total $((SECONDS - RUN_START))s) ==="
printf '%s\n' "${PHASES[@]}"
if [ ${#FAILED[@]} -gt 0 ]; then
  echo "FAILED phases: ${FAILED[*]}"
fi
echo "e2e: ${E2E_PASSED} passed, ${E2E_FAILED} failed, ${E2E_SKIPPED} skipped"
[ ${#FAILED[@]} -eq 0 ]
