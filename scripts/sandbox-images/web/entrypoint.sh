#!/bin/sh
# Entrypoint of the sandbox test image demo/web.
#
# Serves a small site with busybox httpd on ${PORT:-80}:
#   GET /        page with "version=<tag> ENVT=<$ENVT> PROJ=<$PROJ>"
#   GET /health  "ok version=<tag>" once ready (200); 404 before that
# WEB_VERSION and WEB_MODE are baked into the image (see Dockerfile):
#   normal  /health exists from the start
#   slow    /health appears WEB_READY_DELAY seconds (default 3) after start
#   bad     /health never exists, so the HEALTHCHECK never passes
# httpd as PID 1 would ignore SIGTERM; this shell traps TERM/INT, stops httpd
# and exits 0 at once, so `docker stop` returns promptly.

PORT="${PORT:-80}"
ROOT=/var/www
VERSION="${WEB_VERSION:-unknown}"
MODE="${WEB_MODE:-normal}"
DELAY="${WEB_READY_DELAY:-3}"

rm -f "$ROOT/health"
mkdir -p "$ROOT"
{
	echo '<!doctype html>'
	echo '<html><head><title>demo/web</title></head><body><pre>'
	echo "demo/web version=${VERSION} ENVT=${ENVT:-} PROJ=${PROJ:-}"
	echo "mode=${MODE} port=${PORT} started=$(date -u +%Y-%m-%dT%H:%M:%SZ)"
	echo '</pre></body></html>'
} >"$ROOT/index.html"

mark_ready() {
	echo "ok version=${VERSION}" >"$ROOT/health.tmp" && mv "$ROOT/health.tmp" "$ROOT/health"
}

READY_PID=
case "$MODE" in
normal) mark_ready ;;
slow)
	(sleep "$DELAY" && mark_ready) &
	READY_PID=$!
	;;
bad) ;;
*) echo "entrypoint: unknown WEB_MODE '$MODE'" >&2 ;;
esac

httpd -f -p "$PORT" -h "$ROOT" &
HTTPD_PID=$!

# shellcheck disable=SC2317 # invoked by the trap
stop() {
	kill "$HTTPD_PID" ${READY_PID:+"$READY_PID"} 2>/dev/null
	exit 0
}
trap stop TERM INT

echo "demo/web ${VERSION} (${MODE}) listening on :${PORT} ENVT=${ENVT:-} PROJ=${PROJ:-}"
wait "$HTTPD_PID"
status=$?
echo "entrypoint: httpd exited with status $status" >&2
exit "$status"
