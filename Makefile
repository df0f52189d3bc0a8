# The two commands of the README: `make demo` and `make test`. Both bootstrap .venv first.
SHELL := /bin/bash
VENV := .venv/bin
export MUJOCO_GL ?= egl
export PYTHONUNBUFFERED := 1

.PHONY: bootstrap demo test lint typecheck unit bench

bootstrap:
	@bash scripts/bootstrap.sh

demo: bootstrap
	$(VENV)/robot-rl demo --out out/demo

lint: bootstrap
	$(VENV)/ruff check robot_rl sim2real hardware benchmarks tests ros_ws
	$(VENV)/lint-imports  # the layer contracts of pyproject.toml (docs/architecture.md)

typecheck: bootstrap
	$(VENV)/mypy

# the suite aims at < 10 min on a 2-core machine: first the tests that do not judge timing, one
# per core (pytest-xdist); then the `serial` ones (real-time loops, ROS graphs, ptys, speed
# ratios: tests/conftest.py) with nothing beside them. --durations: the slowest of each.
unit: bootstrap
	$(VENV)/python -m pytest -q -n auto --maxprocesses 4 -m "not serial" --durations=10
	$(VENV)/python -m pytest -q -m serial --durations=10

test: lint typecheck unit

bench: bootstrap
	$(VENV)/robot-rl bench env-throughput
