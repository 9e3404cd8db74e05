# The es-ltrr sidecar: apply + index on start (idempotent), then serve on 0.0.0.0:8080.
FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md ./
COPY es_ltrr ./es_ltrr
COPY ltr_features ./ltr_features
COPY mappings ./mappings
# editable: ltr_features/ and mappings/ stay beside the package, as in the repo
RUN pip install --no-cache-dir -e .
COPY docker/sidecar-entrypoint.sh /usr/local/bin/sidecar-entrypoint
ENTRYPOINT ["sh", "/usr/local/bin/sidecar-entrypoint"]
