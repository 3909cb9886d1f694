#!/usr/bin/env bash
# Azure in a box: runs a command in a fresh network + mount namespace where 169.254.169.254 and
# Azure's real host names are the emulator. `scripts/azure-in-a-box.sh --help` prints the usage.
set -euo pipefail

usage() {
  cat <<'USAGE'
Usage: scripts/azure-in-a-box.sh [OPTIONS] [--] [COMMAND [ARGS...]]

Runs COMMAND in a fresh network + mount namespace where 169.254.169.254 and Azure's real host
names (login.microsoftonline.com, management.azure.com, www.microsoft.com, ...) are the Azure
emulator, with TLS trusted through NODE_EXTRA_CA_CERTS and SSL_CERT_FILE. Nothing leaves the
namespace: it has only a loopback interface. With no COMMAND it starts an interactive shell
($SHELL, else bash) inside the box; leave it with `exit`.

Options:
  --world FILE        serve this world (JSON WorldSpec) instead of the built-in demo world
  --default-vm KEY    the VM that 169.254.169.254 answers for (e.g. frontend/blog)
  --now ISO           the emulator's clock (documents, tokens, certificate validity)
  --throttling        turn on ARM's throttling model (token bucket per subscription)
  -h, --help          print this help and exit

Inside, AZURE_EMULATOR_INFO names the emulator's JSON summary (tenants, app secrets, VMs).
Needs root (unshare -n -m) and a built tree (npm run build).
Exit status: COMMAND's; 2 for a usage error; 77 when the box cannot be made here (not root, or
unshare refused).
USAGE
}

for arg in "$@"; do
  case "$arg" in
    -h | --help) usage; exit 0 ;;
    --) break ;;
  esac
done

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CLI="$ROOT/dist/test/azure-emulator/cli.js"
READY_TIMEOUT_S=30

if [[ "${AZURE_BOX_INSIDE:-}" != "1" ]]; then
  if [[ "$(id -u)" != "0" ]]; then
    echo "azure-in-a-box: needs root for unshare -n -m" >&2
    exit 77
  fi
  if ! unshare --net --mount true 2>/dev/null; then
    echo "azure-in-a-box: unshare --net --mount is not permitted here" >&2
    exit 77
  fi
  exec env AZURE_BOX_INSIDE=1 unshare --net --mount --propagation private "$0" "$@"
fi

EMU_ARGS=(--box)
while [[ $# -gt 0 ]]; do
  case "$1" in
    --world | --default-vm | --now) EMU_ARGS+=("$1" "$2"); shift 2 ;;
    --throttling) EMU_ARGS+=("$1"); shift ;;
    --) shift; break ;;
    -*) echo "azure-in-a-box: unknown option $1 (see --help)" >&2; exit 2 ;;
    *) break ;;
  esac
done
[[ $# -gt 0 ]] || set -- "${SHELL:-bash}"
[[ -f "$CLI" ]] || { echo "azure-in-a-box: $CLI missing; run npm run build" >&2; exit 1; }

ip link set lo up
ip addr add 169.254.169.254/32 dev lo

WORK="$(mktemp -d /tmp/azure-box.XXXXXX)"
node "$CLI" "${EMU_ARGS[@]}" >"$WORK/emulator.json" 2>"$WORK/emulator.log" &
EMU_PID=$!
cleanup() {
  kill "$EMU_PID" 2>/dev/null || true
  wait "$EMU_PID" 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT

for ((i = 0; i < READY_TIMEOUT_S * 10; i++)); do
  [[ -s "$WORK/emulator.json" ]] && break
  if ! kill -0 "$EMU_PID" 2>/dev/null; then
    echo "azure-in-a-box: emulator exited:" >&2
    cat "$WORK/emulator.log" >&2
    exit 1
  fi
  sleep 0.1
done
[[ -s "$WORK/emulator.json" ]] || { echo "azure-in-a-box: emulator not ready after ${READY_TIMEOUT_S}s" >&2; exit 1; }

# A private /etc/hosts (bind-mounted in this mount namespace only) and a resolver that goes nowhere.
node -e '
  const info = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"))
  const lines = ["127.0.0.1 localhost", "::1 localhost ip6-localhost"]
  for (const h of info.hostNames) lines.push(`127.0.0.1 ${h}`)
  require("fs").writeFileSync(process.argv[2], lines.join("\n") + "\n")
  require("fs").copyFileSync(info.caFile, process.argv[3])
' "$WORK/emulator.json" "$WORK/hosts" "$WORK/ca.pem"
printf 'options timeout:1 attempts:1\n' >"$WORK/resolv.conf"
mount --bind "$WORK/hosts" /etc/hosts
mount --bind "$WORK/resolv.conf" /etc/resolv.conf

unset http_proxy https_proxy HTTP_PROXY HTTPS_PROXY ALL_PROXY all_proxy
export NODE_EXTRA_CA_CERTS="$WORK/ca.pem" SSL_CERT_FILE="$WORK/ca.pem" AZURE_EMULATOR_INFO="$WORK/emulator.json"
set +e
"$@"
rc=$?
set -e
exit "$rc"
