# The Discord process: the project installed with its `bot` extra. No TensorFlow: a small image.
# ffmpeg streams the clips into a voice channel (/breed listen); Opus clips pass through uncoded.
FROM python:3.11-slim-bookworm
RUN apt-get update && apt-get install -y --no-install-recommends ffmpeg \
    && rm -rf /var/lib/apt/lists/*
COPY . /src
RUN pip install --no-cache-dir -c /src/constraints.txt '/src[bot]' && rm -rf /src
WORKDIR /app
# A user of its own, without a login or a home, owning nothing in the image but the media folder (MEDIA_DIR,
# a volume in compose.yaml: a named volume takes the owner of the folder it is mounted on).
RUN useradd --system --no-create-home --shell /usr/sbin/nologin breeder
RUN install -d -o breeder -m 0750 /media
USER breeder
CMD ["breeder", "bot"]
