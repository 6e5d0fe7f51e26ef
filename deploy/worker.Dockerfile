# The worker: TensorFlow, Magenta, the shipped model and FluidSynth.
FROM python:3.11-slim-bookworm
RUN apt-get update && apt-get install -y --no-install-recommends fluidsynth \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY pyproject.toml README.md constraints.txt ./
COPY bot ./bot
COPY storage ./storage
COPY breeder ./breeder
COPY engine ./engine
RUN pip install --no-cache-dir -c constraints.txt '.[engine]' \
    && pip install --no-cache-dir --no-deps magenta==2.1.4
ENV TF_USE_LEGACY_KERAS=1
USER nobody
CMD ["breeder", "worker"]
