# shipdeck template "node": a Node.js service.
#
# Variables ([projects.build] vars):
#   BASE_IMAGE  a Node image, e.g. "node:20-alpine"
#   MAIN        the entry script, e.g. "server.js"
#   PORT        the port it listens on (EXPOSE), e.g. "3000"
# Built-ins: PROJECT, IMAGE. Build args: SHIPDECK_VERSION, SHIPDECK_CACHE_BUST.
# Keep node_modules out of the context with .dockerignore.

FROM {{ BASE_IMAGE }}
WORKDIR /app
ENV NODE_ENV=production

# Dependency layers: cached until package.json / package-lock.json change.
COPY package.json package-lock.json ./
RUN npm ci --omit=dev && npm cache clean --force

# The application layers: rebuilt on every build (SHIPDECK_CACHE_BUST).
ARG SHIPDECK_CACHE_BUST
ARG SHIPDECK_VERSION
COPY . .
RUN printf 'version=%s\nbuild=%s\n' "$SHIPDECK_VERSION" "$SHIPDECK_CACHE_BUST" >/app/.build-info
ENV APP_VERSION=$SHIPDECK_VERSION
USER node
EXPOSE {{ PORT }}
CMD ["node", {{ MAIN | tojson }}]
