#!/usr/bin/env bash
# Acceptance on real AWS: the models of the local AWS (lists that lag, failure and busy states,
# certificates) are our reading of AWS's documentation; this runs the whole life cycle against a
# real sandbox account to check them, for whoever has one. It cannot run without AWS.
#
#   bench/aws-acceptance.sh <env> --account <12-digit id> [--run]
#
# Without --run it prints what it would do and changes nothing. With --run, against the
# environment <env> (its file must allow that account, and its naming id should be one no one
# else uses): deploy (with its seed), seed again, `plan --detailed-exitcode` (must be 0 right after), verify (from
# where the VPC is reachable), destroy with --purge-buckets, then a destroy plan that must find
# nothing of ours left. Credentials come from the shell (AWS_PROFILE or the usual chain) and
# must belong to --account.
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
env=""
account=""
run=0
while [ $# -gt 0 ]; do
  case "$1" in
    --account) account="${2:-}"; shift ;;
    --run) run=1 ;;
    -h|--help) sed -n '2,13p' "$0"; exit 0 ;;
    -*) echo "unknown option: $1 (use --account ID, --run)" >&2; exit 2 ;;
    *) if [ -z "$env" ]; then env="$1"; else echo "one environment only" >&2; exit 2; fi ;;
  esac
  shift
done
if [ -z "$env" ] || [ -z "$account" ]; then
  echo "usage: bench/aws-acceptance.sh <env> --account <12-digit id> [--run]" >&2
  echo "the account must be named: this creates and destroys a whole layer in it" >&2
  exit 2
fi
if ! [[ "$account" =~ ^[0-9]{12}$ ]]; then
  echo "--account must be a 12-digit AWS account id, not \`$account\`" >&2
  exit 2
fi
if [ "$env" = "local" ] || [ "$env" = "prod" ]; then
  echo "\`$env\` is not a sandbox: use an environment made for this test (sbx, or a copy of it)" >&2
  exit 2
fi

tool=(cargo run --quiet --release -p bins --bin data-and-ai --)
steps=(
  "deploy $env --auto-approve"
  "seed $env"
  "plan $env --detailed-exitcode"
  "verify $env"
  "destroy $env --auto-approve --purge-buckets"
  "plan $env --destroy --detailed-exitcode"
)
echo "aws-acceptance: environment \`$env\`, account $account"
for s in "${steps[@]}"; do echo "  data-and-ai $s"; done
if [ "$run" = 0 ]; then
  echo "(nothing done: add --run to carry it out)"
  exit 0
fi

cd "$here"
actual="$(aws sts get-caller-identity --query Account --output text 2>/dev/null || true)"
if [ -n "$actual" ] && [ "$actual" != "$account" ]; then
  echo "the shell's credentials belong to account $actual, not $account: stopping before any write" >&2
  exit 2
fi
started=$(date +%s)
"${tool[@]}" deploy "$env" --auto-approve
# Seed again at once: within the lag, it must find every secret set and change nothing.
"${tool[@]}" seed "$env"
# Right after a deploy (AWS's lists may lag minutes behind it): nothing pending.
"${tool[@]}" plan "$env" --detailed-exitcode
"${tool[@]}" verify "$env" || { echo "verify failed (run it from inside the VPC)" >&2; exit 1; }
"${tool[@]}" destroy "$env" --auto-approve --purge-buckets
# Nothing of ours left: a destroy plan has nothing to do (exit 0).
"${tool[@]}" plan "$env" --destroy --detailed-exitcode
echo "aws-acceptance: passed in $(( $(date +%s) - started )) s"
