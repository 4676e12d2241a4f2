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
# The fixtures of a run come to gigabytes: keep a run's temporary folders only when a test failed
# (pytest keeps the last three runs' otherwise, and they piled up to 28 GB on a developer's disk).
exec "$py" -m pytest -o tmp_path_retention_policy=failed "$@"
