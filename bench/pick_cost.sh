#!/usr/bin/env bash
# The cost of the per-connection pick (forward.pyx's _pick on an rr row, as a worker calls it),
# at a git revision and in the working tree: instructions per pick counted by callgrind (exact,
# unlike time on a shared machine) and the best time per pick.
#
#   bench/pick_cost.sh [REV=main] [ENDPOINTS=3]
#
# Each side's ext/ is built in a temporary folder with one extra file that includes its
# core.pyx and loops over _pick with the GIL released. Needs valgrind for the counts.
set -euo pipefail
cd "$(dirname "$0")/.."
rev=${1:-main}
eps=${2:-3}
py=$PWD/.venv/bin/python
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

mkdir -p "$tmp/rev" "$tmp/tree"
git archive "$rev" ext | tar -x -C "$tmp/rev"
git ls-files -co --exclude-standard ext | tar -c -T - | tar -x -C "$tmp/tree"
for side in rev tree; do
  cat > "$tmp/$side/ext/pickbench.pyx" <<'EOF'
include "core.pyx"

def run(int n, int n_eps):
    """ns per _pick over n picks on an rr row of n_eps endpoints."""
    cdef lb_worker w
    cdef lb_conn c
    cdef lb_spstate *st = _spstate_new(0, 1)
    cdef lb_sp *row = _row_scratch(range(n_eps), None, st)
    cdef uint64_t t0, t1
    cdef int k
    cdef long sink = 0
    memset(&w, 0, sizeof(w))
    memset(&c, 0, sizeof(c))
    _addr_parse("10.0.0.1", 1234, &c.client)
    with nogil:
        t0 = _clock_ns(CLOCK_MONOTONIC)
        for k in range(n):
            w.now = t0 + k
            sink += _pick(&w, &c, row, 0)
        t1 = _clock_ns(CLOCK_MONOTONIC)
    free(row)
    _spstate_free(st)
    return (t1 - t0) / n
EOF
  cat > "$tmp/$side/setup.py" <<'EOF'
from Cython.Build import cythonize
from setuptools import Extension, setup
setup(ext_modules=cythonize(
    [Extension("pickbench", ["ext/pickbench.pyx"], include_dirs=["ext"],
               extra_compile_args=["-O2", "-D_GNU_SOURCE"], libraries=["pthread"])],
    include_path=["ext"], quiet=True,
    compiler_directives={"language_level": 3, "boundscheck": False, "wraparound": False}))
EOF
  (cd "$tmp/$side" && "$py" setup.py -q build_ext --inplace >/dev/null 2>&1)
done

label() { [ "$1" = rev ] && echo "$rev" || echo "working tree"; }
for side in rev tree; do
  if command -v valgrind >/dev/null; then
    count() {
      (cd "$tmp/$side" && valgrind --tool=callgrind --callgrind-out-file=/dev/null "$py" -c \
        "import pickbench; pickbench.run($1, $eps)" 2>&1 | sed -n 's/.*Collected : //p')
    }
    small=$(count 200000)
    large=$(count 1200000)
    per=$(( (large - small) / 1000000 ))
  else
    per="?"
  fi
  best=$(cd "$tmp/$side" && "$py" -c \
    "import pickbench; print('%.1f' % min(pickbench.run(2_000_000, $eps) for _ in range(15)))")
  printf '%-14s %s instructions per pick, best %s ns (%s endpoints)\n' "$(label $side)" "$per" "$best" "$eps"
done
