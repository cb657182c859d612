#!/usr/bin/env bash
# Sends a GitHub-style push webhook, signed like GitHub signs it, to the example gateway.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
url=${1:-http://127.0.0.1:8080/hooks/github}
secret=$(cat "$here/secrets/github-webhook-secret")
body='{"ref":"refs/heads/main","repository":{"full_name":"octo/hello"},"pusher":{"name":"octocat"},"commits":[{"message":"Fix typo"},{"message":"Add tests"}]}'
signature="sha256=$(printf '%s' "$body" | openssl dgst -sha256 -hmac "$secret" | sed 's/^.* //')"
curl -sS -X POST "$url" \
  -H 'content-type: application/json' \
  -H 'x-github-event: push' \
  -H "x-github-delivery: $(cat /proc/sys/kernel/random/uuid 2>/dev/null || date +%s%N)" \
  -H "x-hub-signature-256: $signature" \
  --data "$body"
echo
