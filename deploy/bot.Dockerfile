# The Discord process: no TensorFlow, small image.
FROM python:3.11-slim-bookworm
WORKDIR /app
COPY pyproject.toml README.md constraints.txt ./
COPY bot ./bot
COPY storage ./storage
COPY breeder ./breeder
COPY engine/__init__.py engine/midi.py ./engine/
RUN pip install --no-cache-dir -c constraints.txt '.[bot]'
USER nobody
CMD ["breeder", "bot"]
