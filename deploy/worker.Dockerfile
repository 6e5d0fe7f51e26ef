# The worker: the project installed with its `engine` extra (TensorFlow, Magenta's needs, the
# shipped model as package data), Magenta itself, and FluidSynth with its General MIDI SoundFont.
FROM python:3.11-slim-bookworm
RUN apt-get update && apt-get install -y --no-install-recommends fluidsynth fluid-soundfont-gm \
    && rm -rf /var/lib/apt/lists/*
COPY . /src
RUN pip install --no-cache-dir -c /src/constraints.txt '/src[engine]' \
    && pip install --no-cache-dir --no-deps magenta==2.1.4 \
    && rm -rf /src
ENV TF_USE_LEGACY_KERAS=1
WORKDIR /app
USER nobody
CMD ["breeder", "worker"]
