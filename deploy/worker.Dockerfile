# The worker: the project installed with its `engine` extra (the model runs in numpy, read from the
# shipped checkpoint that comes as package data: no TensorFlow), and FluidSynth with its General MIDI
# SoundFont. Training and export (`breeder train`, `export`, `attributes`) need the `training` extra
# and Magenta, which this image leaves out.
FROM python:3.11-slim-bookworm
RUN apt-get update && apt-get install -y --no-install-recommends fluidsynth fluid-soundfont-gm \
    && rm -rf /var/lib/apt/lists/*
COPY . /src
RUN pip install --no-cache-dir -c /src/constraints.txt '/src[engine]' \
    && rm -rf /src
WORKDIR /app
# A user of its own, without a login or a home, owning nothing in the image.
RUN useradd --system --no-create-home --shell /usr/sbin/nologin breeder
USER breeder
CMD ["breeder", "worker"]
