#!/usr/bin/env bash
# `make bench`'s own setup: the benchmark-only peers of bench/requirements.txt into the given
# Python environment (.venv), one by one. They are never dependencies of the library, and
# `make build` / `make test` never install them. A peer that fails to install is only reported:
# bench/run.py then shows it as "not installed" and runs every other contender.
set -u
python="${1:?usage: bench/setup.sh PYTHON}"
requirements="$(dirname "$0")/requirements.txt"
grep -v '^[[:space:]]*\(#\|$\)' "$requirements" | while read -r requirement; do
  "$python" -m pip install -q --disable-pip-version-check "$requirement" \
    || echo "bench/setup.sh: '$requirement' did not install; bench/run.py will report it as not installed" >&2
done
exit 0
