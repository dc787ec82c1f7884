# The service image for docker-compose.yml (production-like stack).
FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
# Runtime dependencies only, exactly as locked (every file checked against its hash); a layer of
# its own, rebuilt only when the lock changes. Regenerate the lock with `make lock`.
COPY requirements.lock ./
RUN pip install --require-hashes -r requirements.lock
# The package itself, its dependencies already there; the build hook copies templates/ into
# it (scripts/build_hooks.py). tests/test_install.py builds from these same files.
COPY pyproject.toml README.md MANIFEST.in ./
COPY scripts/build_hooks.py ./scripts/
COPY service ./service
COPY templates ./templates
RUN pip install --no-deps . && pip check && useradd --system --uid 10001 app
# Outside the source tree: what runs is the installed package (`als`), templates included.
WORKDIR /app
USER app
EXPOSE 8080
HEALTHCHECK --interval=10s --timeout=3s --retries=5 \
  CMD python -c "import urllib.request,sys; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:8080/healthz').status==200 else 1)"
CMD ["als", "serve", "--host", "0.0.0.0", "--port", "8080", "--workers", "2"]
