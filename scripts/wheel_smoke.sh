#!/usr/bin/env bash
# Packaging smoke test: the package as users get it.
#   1. build the wheel from a clean copy of the checkout (no stale build/ leftovers),
#   2. pip install it, with its declared dependencies and the server + local extras,
#      into a fresh virtualenv that never sees the source tree,
#   3. from a temp folder outside the checkout, with no AGENTCACHE_* variables set
#      (so the embedded Redis Stack of the `server` extra is started), run the
#      README's Quickstart code (read from README.md, so the two cannot drift) and
#      `agentcache demo --no-llm`.
# Any failure exits non-zero. pip's cache is used as usual (on these machines the
# packages come from local disk anyway); about 2.5 minutes on a busy 2-core machine.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
PYTHON=${PYTHON:-python3}
started=$SECONDS

work=$(mktemp -d "${TMPDIR:-/tmp}/agentcache-wheel-smoke.XXXXXX")
trap 'rm -rf "$work"' EXIT
say() { echo "wheel smoke: [$((SECONDS - started))s] $*"; }
fail() { echo "wheel smoke: FAILED: $*" >&2; exit 1; }

# -- a clean copy of the sources (tracked and new files; ignored ones left out)
mkdir -p "$work/src"
if git -C "$ROOT" rev-parse --is-inside-work-tree >/dev/null 2>&1; then
  git -C "$ROOT" ls-files -z --cached --others --exclude-standard \
    | "$PYTHON" -c '
import os, sys
names = sys.stdin.buffer.read().split(b"\0")
sys.stdout.buffer.write(b"\0".join(n for n in names if n and os.path.isfile(n)))
' | tar -C "$ROOT" --null -T - -cf - | tar -C "$work/src" -xf -
else
  tar -C "$ROOT" --exclude=./.venv --exclude=./.git --exclude=./build --exclude=./dist \
    -cf - . | tar -C "$work/src" -xf -
fi

# -- a fresh virtualenv; it builds the wheel too (pip's isolated build)
"$PYTHON" -m venv "$work/venv"
VPY="$work/venv/bin/python"
say "building the wheel"
"$VPY" -m pip wheel --quiet --no-deps -w "$work/dist" "$work/src" \
  2> >(grep -v "is ignored: it is neither" >&2)
wheels=("$work"/dist/agentcache-*.whl)
[ -f "${wheels[0]}" ] || fail "no wheel was built"
wheel=${wheels[0]}

# -- what the package needs at run time is in the wheel
"$VPY" - "$wheel" <<'EOF' || fail "the wheel lacks files the package needs"
import sys
import zipfile

names = set(zipfile.ZipFile(sys.argv[1]).namelist())
needed = ["agentcache/py.typed", "agentcache/schema/semantic_cache.yaml"]
missing = [name for name in needed if name not in names]
entry_points = [n for n in names if n.endswith(".dist-info/entry_points.txt")]
if not entry_points:
    missing.append("*.dist-info/entry_points.txt (the agentcache command)")
tops = {name.split("/")[0] for name in names}
stray = sorted(t for t in tops if t != "agentcache" and not t.endswith(".dist-info"))
if missing or stray:
    print("missing:", missing, "unexpected top-level entries:", stray, file=sys.stderr)
    sys.exit(1)
print(f"wheel smoke: {len(names)} files in {sys.argv[1].rsplit('/', 1)[-1]}")
EOF

# -- install it as a user would. torch first, pinned as dev.sh does: on these
# machines 2.13.0 is a CPU build on local disk; unpinned, pip would pull CUDA.
say "installing torch==2.13.0 and the wheel with [server,local]"
# --no-compile: no .pyc for all of torch and transformers up front (a minute on
# two cores); Python compiles what it imports. The registry's "Location ... is
# ignored" lines about absent local mirrors are noise and filtered out.
pip_install() {
  "$VPY" -m pip install --quiet --no-compile "$@" 2> >(grep -v "is ignored: it is neither" >&2)
}
pip_install "torch==2.13.0"
pip_install "${wheel}[server,local]"

# -- run from outside the checkout, with nothing of the checkout on the path
mkdir -p "$work/run"
cd "$work/run"
unset PYTHONPATH PYTHONHOME
while IFS= read -r name; do unset "$name"; done < <(env | sed -n 's/^\(AGENTCACHE_[A-Za-z0-9_]*\)=.*/\1/p')

"$VPY" - "$work/venv" <<'EOF' || fail "agentcache is not imported from the fresh virtualenv"
import sys
from pathlib import Path

import agentcache

where = Path(agentcache.__file__).resolve()
if Path(sys.argv[1]).resolve() not in where.parents:
    sys.exit(f"agentcache imported from {where}")
EOF

"$VPY" - "$ROOT/README.md" >quickstart.py <<'EOF' || fail "no Quickstart code block in README.md"
import re
import sys

text = open(sys.argv[1], encoding="utf-8").read()
section = text.split("\n## Quickstart\n", 1)[1:]  # up to the next "## " heading
body = section[0].split("\n## ", 1)[0] if section else ""
match = re.search(r"^```python\n(.*?)^```", body, re.S | re.M)
if match is None:
    sys.exit("README.md has no ```python block under '## Quickstart'")
sys.stdout.write(match.group(1))
EOF
say "running the README Quickstart ($(wc -l <quickstart.py) lines)"
"$VPY" quickstart.py || fail "the README Quickstart failed from the installed wheel"

say "running agentcache demo --no-llm"
if ! "$work/venv/bin/agentcache" demo --no-llm | tee demo.out; then
  fail "agentcache demo --no-llm failed"
fi
# A demo that could not reach its cache serves nothing but misses.
grep -qw "HIT" demo.out || fail "agentcache demo --no-llm served no semantic hit"

say "passed"
