# shipdeck template "static-binary": a statically linked program (or a script
# for the base image's shell) on a small busybox base. One image serves every
# environment: ENVT and PROJ arrive as env vars when the container runs.
#
# Variables ([projects.build] vars):
#   BASE_IMAGE  a busybox-based image, e.g. "busybox:1.36-musl"
#   APP_DIR     directory in the build context copied to /app, e.g. "dist"
#   BINARY      the program inside APP_DIR that runs, e.g. "server" (keep its
#               executable bit in the context: the tar carries file modes)
#   PORT        the port it listens on (EXPOSE), e.g. "80"
# Built-ins: PROJECT (project name), IMAGE (repository).
# Build args passed by shipdeck: SHIPDECK_VERSION, SHIPDECK_CACHE_BUST.

FROM {{ BASE_IMAGE }}

# Base layers: they depend on the base image only, so they stay cached.
RUN mkdir -p /app /var/lib/app && chmod 0755 /app
WORKDIR /app

# The application layers: SHIPDECK_CACHE_BUST differs on every build, so the
# RUN steps below always run again; COPY is redone when the files changed.
ARG SHIPDECK_CACHE_BUST
ARG SHIPDECK_VERSION
COPY {{ APP_DIR }}/ /app/
RUN printf 'version=%s\nbuild=%s\n' "$SHIPDECK_VERSION" "$SHIPDECK_CACHE_BUST" >/app/.build-info
ENV APP_VERSION=$SHIPDECK_VERSION
EXPOSE {{ PORT }}
ENTRYPOINT [{{ ("/app/" ~ BINARY) | tojson }}]
