# shipdeck template "java-tomcat": a WAR on Tomcat.
#
# Variables ([projects.build] vars):
#   BASE_IMAGE    a Tomcat image, e.g. "tomcat:10.1-jre17-temurin"
#   WAR           the WAR file in the build context, e.g. "target/app.war"
#   CONTEXT_PATH  where it is served: "ROOT" for "/", or a name such as "shop"
# Built-ins: PROJECT, IMAGE. Build args: SHIPDECK_VERSION, SHIPDECK_CACHE_BUST.
# JAVA_OPTS / CATALINA_OPTS belong in [projects.container] env, per environment.

FROM {{ BASE_IMAGE }}

# Base layers (cached): no sample apps, UTF-8 everywhere.
RUN rm -rf /usr/local/tomcat/webapps/* /usr/local/tomcat/webapps.dist
ENV LANG=C.UTF-8

ARG SHIPDECK_CACHE_BUST
ARG SHIPDECK_VERSION
COPY {{ WAR }} /usr/local/tomcat/webapps/{{ CONTEXT_PATH }}.war
RUN printf 'version=%s\nbuild=%s\n' "$SHIPDECK_VERSION" "$SHIPDECK_CACHE_BUST" >/usr/local/tomcat/.build-info
ENV APP_VERSION=$SHIPDECK_VERSION
EXPOSE 8080
CMD ["catalina.sh", "run"]
