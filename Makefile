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

unit: bootstrap
	$(VENV)/python -m pytest -q --durations=20  # (the slowest tests: the suite aims at < 10 min)

test: lint typecheck unit

bench: bootstrap
	$(VENV)/robot-rl bench env-throughput
