# shipdeck template "nginx-static": a static site served by nginx.
#
# Variables ([projects.build] vars):
#   BASE_IMAGE  an nginx image, e.g. "nginx:1.27-alpine"
#   SITE_DIR    directory in the build context with the site, e.g. "public"
#   NGINX_CONF  a server config in the build context, e.g. "deploy/site.conf"
# Built-ins: PROJECT, IMAGE. Build args: SHIPDECK_VERSION, SHIPDECK_CACHE_BUST.

FROM {{ BASE_IMAGE }}

# Base layers (cached): drop the default site.
RUN rm -f /etc/nginx/conf.d/default.conf /usr/share/nginx/html/*

ARG SHIPDECK_CACHE_BUST
ARG SHIPDECK_VERSION
COPY {{ NGINX_CONF }} /etc/nginx/conf.d/{{ PROJECT }}.conf
COPY {{ SITE_DIR }}/ /usr/share/nginx/html/
RUN printf 'version=%s\nbuild=%s\n' "$SHIPDECK_VERSION" "$SHIPDECK_CACHE_BUST" >/usr/share/nginx/html/.build-info
EXPOSE 80
