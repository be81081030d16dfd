#!/usr/bin/env bash
# Fuzzes a running gateway's GraphQL endpoint with schemathesis (GraphQL mode).
# Usage: fuzz/run.sh URL API_KEY [MAX_EXAMPLES]
# e.g.   fuzz/run.sh http://127.0.0.1:8080/graphql cg_... 100
# Needs schemathesis from PyPI: python3 -m pip install schemathesis
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
url="$1"
key="$2"
examples="${3:-50}"
cd "$here"
SCHEMATHESIS_HOOKS=hooks st run "$here/../schema.graphql" --url "$url" \
    -H "Authorization: Bearer $key" \
    --checks error_contract --max-examples "$examples" --seed 1
