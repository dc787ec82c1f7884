# The service image for docker-compose.yml (production-like stack).
FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
WORKDIR /app
COPY pyproject.toml README.md ./
COPY service ./service
COPY templates ./templates
RUN pip install --no-cache-dir . && useradd --system --uid 10001 app
USER app
EXPOSE 8080
HEALTHCHECK --interval=10s --timeout=3s --retries=5 \
  CMD python -c "import urllib.request,sys; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:8080/healthz').status==200 else 1)"
CMD ["python", "-m", "service", "serve", "--host", "0.0.0.0", "--port", "8080", "--workers", "2"]
