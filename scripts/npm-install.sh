#!/usr/bin/env bash
# Front-end packages come from the npm registry through the committed package.json + lock.
set -euo pipefail
[ -f package.json ] || exit 0
if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm ci --no-audit --no-fund --loglevel=error
fi

# The studio's modeler, DMN editor and diff viewer are ES modules (bpmn-js, dmn-js and the properties
# panel): esbuild bundles them with web/static/studio/ into web/static/dist/ (git-ignored).
# Rebuilt only when the sources, the lock file or this command change.
STUDIO_ENTRIES="web/static/studio/editor.js web/static/studio/diff.js web/static/studio/migrate.js"
STUDIO_FLAGS="--bundle --format=esm --minify --sourcemap --target=es2022 --outdir=node_modules/.cache/studio-dist --log-level=warning
  --loader:.woff=file --loader:.woff2=file --loader:.eot=file --loader:.ttf=file --loader:.svg=dataurl"
if [ -x node_modules/.bin/esbuild ] && [ -d web/static/studio ]; then
  stamp=$( { cat package-lock.json; echo "$STUDIO_ENTRIES $STUDIO_FLAGS"; find web/static/studio -type f | sort | xargs cat; } \
           | sha256sum | cut -d' ' -f1)
  if [ "$(cat web/static/dist/.stamp 2>/dev/null)" != "$stamp" ]; then
    rm -rf node_modules/.cache/studio-dist
    # shellcheck disable=SC2086
    node_modules/.bin/esbuild $STUDIO_ENTRIES $STUDIO_FLAGS
    echo "$stamp" > node_modules/.cache/studio-dist/.stamp
    # Swapped in whole, so a page being served never gets half of an old and half of a new bundle.
    rm -rf web/static/dist && mv node_modules/.cache/studio-dist web/static/dist
  fi
fi
