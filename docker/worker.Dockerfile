# The worker image: the contract and the training engine with CUDA torch (the torch wheel from
# PyPI carries its CUDA libraries; the container reaches the GPUs through the NVIDIA container
# runtime, see docker-compose.yml). Plugins with your own models and datasets go in here:
#   docker compose build --build-arg PLUGINS="my-plugin==1.2 ./path/to/other-plugin" worker
FROM python:3.11-slim
WORKDIR /app
ENV PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1
COPY pyproject.toml README.md ./
COPY trainboard ./trainboard
COPY backend ./backend
COPY worker ./worker
COPY frontend ./frontend
RUN pip install '.[worker]'
ARG PLUGINS=""
RUN if [ -n "$PLUGINS" ]; then pip install $PLUGINS; fi
CMD ["trainboard", "worker"]
