#!/usr/bin/env bash
# Installs what building and testing arrowring needs on Debian 12:
#   1. Debian packages (apt-get when run as root; otherwise prints the exact command and fails),
#   2. a project-local .venv with the pinned Python packages of requirements-dev.txt.
# Idempotent and quick when everything is already there.
set -euo pipefail
cd "$(dirname "$0")/.."

DEBIAN_PACKAGES=(
  build-essential cmake ninja-build pkg-config ccache
  python3 python3-venv python3-dev
  libgtest-dev libgmock-dev libbenchmark-dev libcli11-dev
  flatbuffers-compiler libflatbuffers-dev  # Arrow's message schema, compiled for the record-batch header cache
  openssl  # test certificates for the Flight bridge's TLS tests
  clang libclang-rt-14-dev  # libFuzzer + sanitizer runtimes (make fuzz, and the bounded pass of make test)
  clang-format-14 clang-tidy-14  # make lint (.clang-format, .clang-tidy)
)

missing=()
for pkg in "${DEBIAN_PACKAGES[@]}"; do
  status=$(dpkg-query -W -f='${db:Status-Status}' "$pkg" 2>/dev/null || true)
  [[ "$status" == "installed" ]] || missing+=("$pkg")
done

if ((${#missing[@]})); then
  if [[ $(id -u) -eq 0 ]]; then
    echo "bootstrap: installing Debian packages: ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}"
  else
    echo "bootstrap: missing Debian packages; run as root:" >&2
    echo "  sudo apt-get install -y --no-install-recommends ${missing[*]}" >&2
    exit 1
  fi
fi

PYTHON=${PYTHON:-python3}
VENV=.venv
STAMP=$VENV/.requirements-installed
if [[ ! -x $VENV/bin/python ]]; then
  echo "bootstrap: creating $VENV with $($PYTHON --version)"
  "$PYTHON" -m venv "$VENV"
fi
if [[ ! -f $STAMP || requirements-dev.txt -nt $STAMP ]]; then
  echo "bootstrap: installing pinned Python packages into $VENV"
  "$VENV/bin/python" -m pip install -q --disable-pip-version-check --upgrade pip
  "$VENV/bin/python" -m pip install -q --disable-pip-version-check -r requirements-dev.txt
  cp requirements-dev.txt "$STAMP"
fi
