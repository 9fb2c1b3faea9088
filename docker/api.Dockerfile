# The API image: FastAPI, the store, the broker client and the frontend; no torch, no CUDA, no
# worker code (the API imports the contract, `trainboard/`, only). About a tenth of the worker image.
FROM python:3.11-slim
WORKDIR /app
ENV PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1
COPY pyproject.toml README.md ./
COPY trainboard ./trainboard
COPY backend ./backend
COPY frontend ./frontend
RUN pip install '.[server]'
EXPOSE 8000
CMD ["trainboard", "api", "--host", "0.0.0.0"]
