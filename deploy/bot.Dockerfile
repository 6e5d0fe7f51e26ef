# The Discord process: the project installed with its `bot` extra. No TensorFlow: a small image.
FROM python:3.11-slim-bookworm
COPY . /src
RUN pip install --no-cache-dir -c /src/constraints.txt '/src[bot]' && rm -rf /src
WORKDIR /app
USER nobody
CMD ["breeder", "bot"]
