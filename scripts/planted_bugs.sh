#!/bin/bash
# Issue 14's three planted bugs, each applied to a scratch copy of the tree; each must fail the fast tests
# of the modules concerned. Prints one line per bug; exits non-zero if a bug passes.
#     bash scripts/planted_bugs.sh
set -u
repo=$(cd "$(dirname "$0")/.." && pwd)
py=${PY:-$repo/.venv/bin/python}
status=0
plant() {  # name, file, python replacement (old -> new), tests...
    local name=$1 file=$2 old=$3 new=$4; shift 4
    local tmp; tmp=$(mktemp -d)
    (cd "$repo" && git ls-files -co --exclude-standard | grep -v '^data/' | tar -cf - -T - 2>/dev/null) | tar -xf - -C "$tmp"
    OLD=$old NEW=$new "$py" - "$tmp/$file" <<'PY' || { echo "$name: could not plant (text not found)"; status=1; return; }
import os, sys
path = sys.argv[1]; text = open(path).read(); old, new = os.environ["OLD"], os.environ["NEW"]
assert text.count(old) == 1, f"{old!r} found {text.count(old)} times"
open(path, "w").write(text.replace(old, new))
PY
    if (cd "$tmp" && "$py" -m pytest -q -x -m "not slow" -p no:cacheprovider "$@" > "$tmp/log" 2>&1); then
        echo "$name: PASSED the fast tests ($*) -- not caught"; status=1
    else
        echo "$name: caught, $(grep -m1 -E '^FAILED|^ERROR' "$tmp/log" | cut -c1-150)"
    fi
    rm -rf "$tmp"
}
plant "critic loss sign flipped" beatgan/losses.py \
    "return d_fake - d_real + gp_weight * gp, d_real - d_fake" \
    "return d_real - d_fake + gp_weight * gp, d_real - d_fake" tests/test_losses.py tests/test_gan.py
plant "search error bounds zeroed" beatgan/novelty.py \
    "    col = _column_terms(train, train_energy, gamma, tau, slack, relative)" \
    "    gamma = tau = slack = 0.0
    col = _column_terms(train, train_energy, gamma, tau, slack, relative)" tests/test_novelty.py
plant "critic without phase shuffle" beatgan/model.py \
    "if i < len(plan) - 1 and config.phase_shuffle > 0:" \
    "if i < len(plan) - 1 and config.phase_shuffle > 0 and False:" tests/test_model.py tests/test_gan.py
exit $status
