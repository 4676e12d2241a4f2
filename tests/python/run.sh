#!/bin/sh
# Runs the end-to-end suite with the project's virtual environment (.venv, made by
# scripts/setup.sh --test) when there is one, else with python3: chosen when the test runs, so a
# venv created after configuring the build is still used.
root=$(cd "$(dirname "$0")/../.." && pwd)
py="$root/.venv/bin/python"
[ -x "$py" ] || py=python3
# On every core when pytest-xdist is there (tests/requirements.txt) and the caller has not chosen.
case " ${PYTEST_ADDOPTS:-} $* " in
  *" -n "* | *" -n="*) ;;
  *) "$py" -c "import xdist" 2>/dev/null && set -- -n auto "$@" ;;
esac
exec "$py" -m pytest "$@"
