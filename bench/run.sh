#!/bin/sh
# Runs the side-by-side benchmark (as root) and writes bench/results/<timestamp>/ (report.md, runs.json, charts).
#   bench/run.sh                                # 3 repeats x every mode x every workload, 1 worker
#   bench/run.sh --workers 2 --modes lb,haproxy # any `lb bench` option
#   bench/run.sh --cleanup                      # namespaces left by a killed run
# PYTHON picks the interpreter that has lb installed (default: .venv/bin/python, as .ci/run makes it, else python3).
set -eu
cd "$(dirname "$0")/.."
if [ -z "${PYTHON:-}" ]; then
    if [ -x .venv/bin/python ]; then PYTHON=.venv/bin/python; else PYTHON=python3; fi
fi
if [ "$(id -u)" != 0 ]; then
    echo "bench/run.sh: must run as root (network namespaces, veth links, iptables)" >&2
    exit 1
fi
if ! "$PYTHON" -c "import uvloop, yaml, lb._core" 2>/dev/null; then
    echo "bench/run.sh: $PYTHON cannot import lb with its dependencies; install it (pip install -e .) or set PYTHON" >&2
    exit 1
fi
exec "$PYTHON" -m lb.bench "$@"
