#!/bin/sh
# A test exec credential plugin, steered by the environment its kubeconfig entry sets:
#   PLUGIN_COUNT_FILE   a line is appended per run (so tests count runs)
#   PLUGIN_INFO_FILE    receives $KUBERNETES_EXEC_INFO
#   PLUGIN_TOKEN        the token to return (default "exec-token-<run number>")
#   PLUGIN_EXPIRY       status.expirationTimestamp (RFC 3339), omitted when unset
#   PLUGIN_API_VERSION  the apiVersion to answer with (default: the one asked for)
#   PLUGIN_CERT_FILE / PLUGIN_KEY_FILE  return this client certificate and key as well
#   PLUGIN_EXIT         exit with this status after printing PLUGIN_STDERR to stderr
#   PLUGIN_SLEEP        sleep this many seconds first
set -eu
[ -n "${PLUGIN_SLEEP:-}" ] && sleep "$PLUGIN_SLEEP"
run=1
if [ -n "${PLUGIN_COUNT_FILE:-}" ]; then
  echo run >> "$PLUGIN_COUNT_FILE"
  run=$(wc -l < "$PLUGIN_COUNT_FILE" | tr -d ' ')
fi
[ -n "${PLUGIN_INFO_FILE:-}" ] && printf '%s' "${KUBERNETES_EXEC_INFO:-}" > "$PLUGIN_INFO_FILE"
if [ -n "${PLUGIN_EXIT:-}" ]; then
  echo "${PLUGIN_STDERR:-plugin failed}" >&2
  exit "$PLUGIN_EXIT"
fi
asked=$(printf '%s' "${KUBERNETES_EXEC_INFO:-}" | sed -n 's/.*"apiVersion":"\([^"]*\)".*/\1/p')
api_version=${PLUGIN_API_VERSION:-$asked}
token=${PLUGIN_TOKEN:-exec-token-$run}
expiry=""
[ -n "${PLUGIN_EXPIRY:-}" ] && expiry=",\"expirationTimestamp\":\"$PLUGIN_EXPIRY\""
cert=""
if [ -n "${PLUGIN_CERT_FILE:-}" ]; then
  pem() { awk 'BEGIN{ORS="\\n"} {print}' "$1"; }
  cert=",\"clientCertificateData\":\"$(pem "$PLUGIN_CERT_FILE")\",\"clientKeyData\":\"$(pem "$PLUGIN_KEY_FILE")\""
fi
printf '{"apiVersion":"%s","kind":"ExecCredential","status":{"token":"%s"%s%s}}\n' \
  "$api_version" "$token" "$expiry" "$cert"
