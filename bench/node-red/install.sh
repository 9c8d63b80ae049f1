#!/bin/bash
# Install the Node-RED that make bench compares with into DIR (default
# build/bench/node-red, an ignored folder) from the npm registry: node-red at
# the version pinned in bench/node-red/package.json, and every dependency at
# the version in bench/node-red/package-lock.json (npm ci). Does nothing when
# that is already there. Prints the path of red.js on success; on failure
# (no npm, no network) says why on stderr and exits 1.
#
#   bench/node-red/install.sh [DIR]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
dir=${1:-build/bench/node-red}
want=$(sed -n 's/^ *"node-red": *"\([^"]*\)".*/\1/p' "$here/package.json")
red="$dir/node_modules/node-red/red.js"
have=$(sed -n 's/^ *"version": *"\([^"]*\)".*/\1/p' "$dir/node_modules/node-red/package.json" 2>/dev/null | head -n 1 || true)
if [[ "$have" != "$want" ]] || ! cmp -s "$here/package-lock.json" "$dir/package-lock.json"; then
	command -v npm >/dev/null || { echo "npm is not installed" >&2; exit 1; }
	mkdir -p "$dir"
	cp "$here/package.json" "$here/package-lock.json" "$dir/"
	timeout 300 npm ci --prefix "$dir" --no-audit --no-fund >"$dir/npm-install.log" 2>&1 || {
		echo "npm ci (node-red $want) failed: $(grep -m1 -iE 'ERR!|error' "$dir/npm-install.log" || tail -n 1 "$dir/npm-install.log")" >&2
		exit 1
	}
fi
[[ -f "$red" ]] || { echo "node-red $want is not in $dir" >&2; exit 1; }
echo "$red"
