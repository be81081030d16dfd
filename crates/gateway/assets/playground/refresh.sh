#!/usr/bin/env bash
# Re-downloads the playground's vendored files from the npm registry, unmodified:
#
#   assets/playground/refresh.sh [GRAPHIQL_VERSION] [REACT_VERSION]
#
# (defaults: the versions vendored now). Each package is fetched with `npm pack`, which
# checks the tarball against the registry's integrity hash, into a temporary folder;
# the bundles and the package's LICENSE are copied here and their SHA-256 printed as
# rows for VENDORED.md. After a version change, update VENDORED.md and the version
# constants in src/playground.rs (they name the files' cache-busting query).
set -euo pipefail

graphiql_version="${1:-3.8.3}"
react_version="${2:-18.3.1}"
here="$(cd "$(dirname "$0")" && pwd)"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

# package version file... (files relative to the package root)
fetch() {
  local package="$1" version="$2"
  shift 2
  local found
  found="$(npm view "$package@$version" version)"
  if [ "$found" != "$version" ]; then
    echo "refresh.sh: $package@$version is not in the registry" >&2
    exit 1
  fi
  (cd "$tmp" && npm pack --silent "$package@$version" >/dev/null)
  mkdir -p "$tmp/$package"
  tar -xzf "$tmp/$package-$version.tgz" -C "$tmp/$package"
  mkdir -p "$here/$package"
  cp "$tmp/$package/package/LICENSE" "$here/$package/LICENSE"
  local file
  for file in "$@"; do
    cp "$tmp/$package/package/$file" "$here/$package/$(basename "$file")"
    printf '| %s | %s | `%s` | `%s` |\n' "$package" "$version" "$file" \
      "$(sha256sum "$here/$package/$(basename "$file")" | cut -d' ' -f1)"
  done
}

echo "| package | version | file | sha256 |"
echo "| --- | --- | --- | --- |"
fetch graphiql "$graphiql_version" graphiql.min.js graphiql.min.css
fetch react "$react_version" umd/react.production.min.js
fetch react-dom "$react_version" umd/react-dom.production.min.js
