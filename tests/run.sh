#!/usr/bin/env bash
# Installs latent-planner with its test dependencies into the current Python
# environment, then runs every test: the C++ tests (plain and sanitized builds, via
# ctest), ruff, and the Python suite. Use a virtual environment.
set -euo pipefail
cd "$(dirname "$0")/.."
export CMAKE_BUILD_PARALLEL_LEVEL="${CMAKE_BUILD_PARALLEL_LEVEL:-2}"
python -m pip install --upgrade pip >/dev/null
python -m pip install cmake ninja pybind11 ruff
python -m pip install ".[test]"

echo "== C++ tests"
cmake -S . -B build/cpp -G Ninja -DCMAKE_BUILD_TYPE=Release -DPLANNER_BUILD_PYTHON=OFF >/dev/null
cmake --build build/cpp
ctest --test-dir build/cpp --output-on-failure

echo "== C++ tests, address + undefined-behaviour sanitizers"
cmake -S . -B build/asan -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DPLANNER_BUILD_PYTHON=OFF \
  -DPLANNER_SANITIZE=ON -DPLANNER_BUILD_BENCHMARKS=OFF -DPLANNER_CUDA=OFF >/dev/null
cmake --build build/asan
UBSAN_OPTIONS=halt_on_error=1 ctest --test-dir build/asan --output-on-failure

echo "== ruff"
ruff check planner tests benchmarks

echo "== README demo (default settings)"
(cd tests && python -m planner demo --no-progress --plot ../build/demo.png --json ../build/demo.json)

echo "== ShiftBench smoke tier"
# From outside the source tree, so the installed package (with its native module) runs.
(cd tests && python -m planner shiftbench --tier smoke --no-progress --json ../build/shiftbench-smoke.json)

echo "== Python tests"
# Run from outside the source tree so the installed package is what gets tested.
cd tests && python -m pytest -q python -p no:cacheprovider
