#!/usr/bin/env bash
# Fetch the browser assets the API serves itself (no CDN): Swagger UI, ReDoc and uPlot, at
# the versions below, from the npm registry, into src/recommender/api/static/vendor/.
# Run it to upgrade one of them (change its version here), then commit the files it wrote.
# Nothing runs it at build or run time: the files are committed, so `make run` needs no npm.
set -euo pipefail
cd "$(dirname "$0")/.."

SWAGGER_UI=5.35.0
REDOC=2.5.4
UPLOT=1.6.32

vendor=src/recommender/api/static/vendor
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

unpack() {  # name@version -> folder holding the package
  (cd "$work" && npm pack --silent "$1" >/dev/null)
  local tarball=("$work"/*.tgz)
  mkdir -p "$work/$2"
  tar -xzf "${tarball[0]}" -C "$work/$2"
  rm "${tarball[0]}"
}

unpack "swagger-ui-dist@$SWAGGER_UI" swagger
unpack "redoc@$REDOC" redoc
unpack "uplot@$UPLOT" uplot

rm -rf "$vendor"
mkdir -p "$vendor/swagger-ui" "$vendor/redoc" "$vendor/uplot"
cp "$work"/swagger/package/{swagger-ui-bundle.js,swagger-ui-bundle.js.LICENSE.txt,swagger-ui.css,LICENSE,NOTICE,favicon-32x32.png} "$vendor/swagger-ui/"
cp "$work"/redoc/package/{LICENSE,bundles/redoc.standalone.js,bundles/redoc.standalone.js.LICENSE.txt} "$vendor/redoc/"
cp "$work"/uplot/package/{LICENSE,dist/uPlot.iife.min.js,dist/uPlot.min.css} "$vendor/uplot/"
# The bundles name their source maps, which are not shipped: a browser would ask for them.
sed -i '/^\/\/# sourceMappingURL=/d' "$vendor"/swagger-ui/swagger-ui-bundle.js "$vendor"/redoc/redoc.standalone.js
sed -i 's|/\*# sourceMappingURL=[^*]*\*/||' "$vendor"/swagger-ui/swagger-ui.css
# ReDoc's sidebar shows Redocly's logo from their CDN: an empty inline image instead, so that
# the page asks nothing of the internet (the link to Redocly stays).
sed -i "s|https://cdn.redoc.ly/redoc/logo-mini.svg|data:image/svg+xml,%3Csvg xmlns='http://www.w3.org/2000/svg'/%3E|" "$vendor"/redoc/redoc.standalone.js
cat > "$vendor/VERSIONS" <<VERSIONS
swagger-ui-dist $SWAGGER_UI (Apache-2.0)
redoc $REDOC (MIT)
uplot $UPLOT (MIT)
VERSIONS
echo "vendored into $vendor:"
cat "$vendor/VERSIONS"
