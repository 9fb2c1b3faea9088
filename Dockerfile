# One image for the API and the workers. The torch wheel from PyPI carries its CUDA libraries;
# a worker container reaches the GPUs through the NVIDIA container runtime (see docker-compose.yml).
FROM python:3.11-slim
WORKDIR /app
ENV PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1
COPY pyproject.toml README.md ./
COPY backend ./backend
COPY worker ./worker
COPY frontend ./frontend
RUN pip install .
EXPOSE 8000
CMD ["trainboard", "api", "--host", "0.0.0.0"]
