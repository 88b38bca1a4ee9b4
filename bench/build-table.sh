#!/usr/bin/env bash
# The README's build table from a `bench/build.sh` summary: writes bench/build-latest.md and
# copies it between the README's markers `<!-- bench/build-latest.md -->` and
# `<!-- end bench/build-latest.md -->` (tidy compares the two). Never typed by hand.
#
#   bench/build-table.sh [bench/build-latest.json]
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
json="${1:-$here/bench/build-latest.json}"
md="$here/bench/build-latest.md"
str() { grep -o "\"$1\": \"[^\"]*\"" "$json" | cut -d'"' -f4; }
num() { grep -o "\"$1\": [0-9.]*" "$json" | awk '{print $2}'; }
{
  echo "\`bench/build.sh\`, $(str date), $(str machine), commit $(str commit):"
  echo
  echo "| step | seconds | target |"
  echo "|---|---|---|"
  echo "| \`cargo xtask deploy local --auto-approve\` | $(num deploy_local_s) | |"
  echo "| \`cargo xtask ci\` ($(str tests)) | $(num ci_s) | |"
  echo "| both | $(num two_commands_s) | under $(num target_two_commands_s) |"
  echo "| \`cargo xtask ci\` warm (the target built at the parent commit) | $(num warm_ci_s) | under $(num target_warm_ci_s) |"
  echo "| after editing one family crate: \`ci\` before the tests start (\`cargo xtask ci --build-only\`: clippy, the docs and the test build in one build) | $(num incremental_before_tests_s) | under $(num target_incremental_s) |"
  # The steps' own timings, where the summary has them (runs before they were recorded do not).
  if [ -n "$(str ci_steps)" ]; then
    echo
    echo "\`cargo xtask ci\`'s steps, fresh: $(str ci_steps)."
    echo
    echo "Warm (the measured commit changed $(str warm_changed)): $(str warm_ci_steps)."
  fi
} > "$md"
python3 - "$here/README.md" "$md" <<'PY'
import sys
readme, md = sys.argv[1], sys.argv[2]
text, table = open(readme).read(), open(md).read()
start, end = "<!-- bench/build-latest.md -->\n", "<!-- end bench/build-latest.md -->"
a, b = text.index(start) + len(start), text.index(end)
open(readme, "w").write(text[:a] + table.rstrip() + "\n" + text[b:])
PY
