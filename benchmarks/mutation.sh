#!/usr/bin/env bash
# Mutation score of one module against its own test files, with mutmut 3:
#   benchmarks/mutation.sh pipeline/chunking.py tests/unit/test_chunking.py
# Each run starts afresh in out/mutation/NAME (a copy of pipeline/ and tests/), so modules can
# be measured one after the other without stale results, and the work tree is never touched.
# Hypothesis runs with seed 0 and no example database, so a score can be measured again.
# MUTATION_CHILDREN (default 1) sets how many mutants run at once. Takes minutes: not in .ci/run.
# MUTATION_TIMEOUT (default 3) is mutmut's timeout_multiplier: a mutant may use 2 x that x (its
# tests' usual seconds + 1) of CPU. A mutant that loops (a pause that never ends) then counts
# as timed out within a minute or so; mutmut's default (15) takes a quarter of an hour per such
# mutant on a shared machine.
# Needs the mutation extra: pip install -e '.[test,mutation]'
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "$#" -lt 2 ]; then
    echo "usage: $0 MODULE.py|PACKAGE_FOLDER TEST_FILE..." >&2
    echo "  e.g. $0 pipeline/chunking.py tests/unit/test_chunking.py" >&2
    echo "       $0 pipeline/mapping tests/unit/mapping/test_mapping.py" >&2
    exit 2
fi
module="$1"
shift
for path in "$module" "$@"; do
    [ -e "$path" ] || { echo "no such file: $path" >&2; exit 2; }
done

name="$(basename "$module" .py)"
# A package is measured whole: every module of its folder.
pattern="$module"
[ -d "$module" ] && pattern="${module%/}/*"
work="out/mutation/$name"
rm -rf "$work"
mkdir -p "$work"
# The tests read the shipped examples too (the natural cuts are checked on them).
cp -r pipeline tests pyproject.toml input_examples configs "$work/"
find "$work" -name __pycache__ -prune -exec rm -rf {} +

# One module, its own tests: narrow the shared [tool.mutmut] table of the copy.
quote() { printf '"%s", ' "$@"; }
sed -i "/^\[tool.mutmut\]/a only_mutate = [\"$pattern\"]\npytest_add_cli_args_test_selection = [$(quote "$@")]\ntimeout_multiplier = ${MUTATION_TIMEOUT:-3}" \
    "$work/pyproject.toml"
# Deterministic Hypothesis: no database of past failures, no deadline (mutmut's trampolines
# slow every call), no shrinking (it changes nothing about whether a test fails).
cat >>"$work/tests/conftest.py" <<'PY'


from hypothesis import Phase, settings  # noqa: E402

settings.register_profile(
    "mutation", database=None, deadline=None, phases=[p for p in Phase if p != Phase.shrink]
)
settings.load_profile("mutation")
PY

cd "$work"
python -m mutmut run --max-children "${MUTATION_CHILDREN:-1}" >mutmut-run.log 2>&1 || {
    tail -n 30 mutmut-run.log >&2
    exit 1
}
python -m mutmut export-cicd-stats >/dev/null
python -m mutmut results >survivors.txt 2>&1 || true
python - "$module" <<'PY'
import json
import sys

s = json.load(open("mutants/mutmut-cicd-stats.json"))
tested = s["total"] - s["skipped"]
caught = s["killed"] + s["timeout"]
print(
    f"{sys.argv[1]}: {s['total']} mutants, {s['killed']} killed, {s['timeout']} timed out, "
    f"{s['survived']} survived, {s['no_tests']} with no test, "
    f"score {100 * caught / tested:.1f}% (killed or timed out over generated)"
)
PY
echo "survivors: $PWD/survivors.txt (python -m mutmut show NAME, from $PWD, shows one)"
