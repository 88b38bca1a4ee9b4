#!/usr/bin/env bash
# The baseline for `cargo xtask bench`: the approach of the spec's `.scripts/seed-secrets.sh`,
# rewritten faithfully from its description (bash, one AWS CLI process per call, openssl for
# randomness, skip-if-set, --force). It reads the layer's outputs as `terraform output -json`
# prints them (here: `outputs <env> --json`, the same shape), from the file in $OUTPUTS_JSON.
#
#   OUTPUTS_JSON=outputs.json bench/seed-secrets.sh <environment> [--force]
#
# Like the original it passes values to `aws` as arguments; that is one of the things the tool
# does differently. It exists to be measured, never to be used.
set -euo pipefail

ENVIRONMENT="${1:?usage: seed-secrets.sh <environment> [--force]}"
FORCE=false
[[ "${2:-}" == "--force" ]] && FORCE=true
: "${OUTPUTS_JSON:?set OUTPUTS_JSON to the outputs file}"
# It passes values to processes as arguments, which any local user can read: it runs against the
# local AWS only, never against an account.
case "${AWS_ENDPOINT_URL:-}" in
  http://127.0.0.1:*|http://localhost:*) ;;
  *) echo "seed-secrets.sh passes secret values as process arguments, so it runs only against the local AWS (AWS_ENDPOINT_URL=http://127.0.0.1:<port>), not against ${AWS_ENDPOINT_URL:-AWS itself}" >&2
     exit 2 ;;
esac

output() { python3 -c "import json,sys; v=json.load(open(sys.argv[1]))[sys.argv[2]]['value']; print(v if isinstance(v,str) else json.dumps(v))" "$OUTPUTS_JSON" "$1"; }
secret_arn() { python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['secret_arns']['value'][sys.argv[2]])" "$OUTPUTS_JSON" "$1"; }
is_set() { aws secretsmanager get-secret-value --secret-id "$1" --query VersionId --output text >/dev/null 2>&1; }
read_secret() { aws secretsmanager get-secret-value --secret-id "$1" --query SecretString --output text; }
put() { aws secretsmanager put-secret-value --secret-id "$1" --secret-string "$2" >/dev/null; }

hex32() { openssl rand -hex 32; }
alnum32() { local s=""; while [ "${#s}" -lt 32 ]; do s="$s$(openssl rand -base64 48 | tr -dc 'A-Za-z0-9')"; done; echo "${s:0:32}"; }
litellm_key() { echo "sk-$(openssl rand -hex 32)"; }

seed() { # seed <secret> <generator>
  local arn; arn="$(secret_arn "$1")"
  if [ "$FORCE" = false ] && is_set "$arn"; then echo "skip    $1"; return; fi
  put "$arn" "$($2)"; echo "set     $1"
}

echo "Seeding secrets for $ENVIRONMENT"
seed encryption-key-app-repository hex32
seed encryption-key-node-chat-lxm hex32
seed encryption-key-ingestion hex32
seed zitadel-db-user-password alnum32
seed zitadel-master-key alnum32
seed rabbitmq-password-chat alnum32
seed litellm-proxy-master-key litellm_key
seed litellm-salt-key hex32

# The Aurora master password, from the AWS-managed secret.
MASTER_ARN="$(output aurora_master_user_secret_arn)"
PASSWORD="$(read_secret "$MASTER_ARN" | python3 -c 'import json,sys; print(json.load(sys.stdin)["password"])')"
ARN="$(secret_arn psql-password)"
if [ "$FORCE" = true ] || ! is_set "$ARN"; then put "$ARN" "$PASSWORD"; echo "set     psql-password"; else echo "skip    psql-password"; fi

HOST="$(output aurora_cluster_endpoint)"
PORT="$(output aurora_cluster_port)"
ENCODED="$(python3 -c 'import sys, urllib.parse; print(urllib.parse.quote(sys.argv[1], safe=""))' "$PASSWORD")"
for DB in $(output postgresql_databases | python3 -c 'import json,sys; print(" ".join(json.load(sys.stdin)))'); do
  ARN="$(secret_arn "psql-connection-string-$DB")"
  if [ "$FORCE" = true ] || ! is_set "$ARN"; then
    put "$ARN" "postgresql://dbadmin:$ENCODED@$HOST:$PORT/$DB?sslmode=verify-full"; echo "set     psql-connection-string-$DB"
  else
    echo "skip    psql-connection-string-$DB"
  fi
done

# The S3 user's access key.
ID_ARN="$(secret_arn s3-access-key-id)"
if [ "$FORCE" = true ] || ! is_set "$ID_ARN"; then
  KEY="$(aws iam create-access-key --user-name "$(output s3_access_iam_user_name)" --output json)"
  put "$ID_ARN" "$(echo "$KEY" | python3 -c 'import json,sys; print(json.load(sys.stdin)["AccessKey"]["AccessKeyId"])')"
  put "$(secret_arn s3-secret-access-key)" "$(echo "$KEY" | python3 -c 'import json,sys; print(json.load(sys.stdin)["AccessKey"]["SecretAccessKey"])')"
  echo "set     s3-access-key-id, s3-secret-access-key"
else
  echo "skip    s3-access-key-id, s3-secret-access-key"
fi

# LiteLLM's endpoint definitions, with the master key.
ARN="$(secret_arn azure-openai-endpoint-definitions)"
if [ "$FORCE" = true ] || ! is_set "$ARN"; then
  MASTER_KEY="$(read_secret "$(secret_arn litellm-proxy-master-key)")"
  put "$ARN" "[{\"endpoint\": \"http://litellm.unique.svc:4000\", \"key\": \"$MASTER_KEY\", \"models\": [\"gpt-4o\", \"gpt-4-turbo\", \"gpt-4-32k\"]}]"
  echo "set     azure-openai-endpoint-definitions"
else
  echo "skip    azure-openai-endpoint-definitions"
fi
echo "Done."
