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
# A user of its own, without a login or a home, owning nothing in the image but the media folder (MEDIA_DIR,
# a volume in compose.yaml: a named volume takes the owner of the folder it is mounted on).
RUN useradd --system --no-create-home --shell /usr/sbin/nologin breeder
RUN install -d -o breeder -m 0750 /media
USER breeder
CMD ["breeder", "worker"]
