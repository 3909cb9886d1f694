#!/usr/bin/env bash
# Builds real spire-server, spire-agent and oidc-discovery-provider from the Go module proxy into a cache outside git, and prints
# the directory holding them. Reuses a finished build. Usage: scripts/install-spire.sh [VERSION]
#
#   SPIRE_VERSION        default 1.15.3
#   SPIRE_AZURE_CACHE    default ${XDG_CACHE_HOME:-$HOME/.cache}/spire-azure-attestor
#
# Exit codes: 0 built or cached; 3 no Go toolchain (callers report the e2e tests as skipped); other: failure.
set -euo pipefail

VERSION="${1:-${SPIRE_VERSION:-1.15.3}}"
VERSION="${VERSION#v}"
CACHE="${SPIRE_AZURE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/spire-azure-attestor}"
DEST="$CACHE/spire-v$VERSION"
BIN="$DEST/bin"

log() { echo "install-spire: $*" >&2; }

BINARIES="spire-server spire-agent oidc-discovery-provider"
complete() {
  [ -f "$DEST/BUILD-INFO" ] || return 1
  for b in $BINARIES; do [ -x "$BIN/$b" ] || return 1; done
}

if complete; then
  echo "$BIN"
  exit 0
fi
# the official toolchain's usual home, for environments whose PATH lacks it
if ! command -v go >/dev/null 2>&1 && [ -x /usr/local/go/bin/go ]; then
  PATH="/usr/local/go/bin:$PATH"
fi
if ! command -v go >/dev/null 2>&1; then
  log "no Go toolchain on PATH; cannot build SPIRE v$VERSION"
  exit 3
fi

mkdir -p "$CACHE"
exec 9>"$CACHE/.lock-v$VERSION"
flock 9 # concurrent test runs wait for one build
if complete; then
  echo "$BIN"
  exit 0
fi

log "downloading github.com/spiffe/spire@v$VERSION through the Go module proxy"
MODDIR="$(go mod download -json "github.com/spiffe/spire@v$VERSION" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')"
if [ -z "$MODDIR" ] || [ ! -f "$MODDIR/go.mod" ]; then
  log "module download failed"
  exit 1
fi

SRC="$DEST/src"
rm -rf "$SRC" "$DEST/bin.tmp"
mkdir -p "$DEST"
cp -r "$MODDIR" "$SRC"
chmod -R u+w "$SRC"

PATCHES=""
# The proxy refuses github.com/Keyfactor/ejbca-go-client-sdk (403), a dependency of only the ejbca
# UpstreamAuthority plugin. When it is unavailable, that one built-in is left out of the server
# catalog; nothing else changes. Every other line of SPIRE is built as released.
EJBCA_MOD="$(sed -n 's/^[[:space:]]*github.com\/Keyfactor\/ejbca-go-client-sdk \(v[^ ]*\).*/\1/p' "$SRC/go.mod" | head -n1)"
if [ -n "$EJBCA_MOD" ] && ! (cd "$SRC" && go mod download "github.com/Keyfactor/ejbca-go-client-sdk@$EJBCA_MOD" >/dev/null 2>&1); then
  log "ejbca-go-client-sdk@$EJBCA_MOD is not available from the proxy; leaving the ejbca UpstreamAuthority out"
  sed -i '/upstreamauthority\/ejbca"/d; /ejbca\.BuiltIn(),/d' "$SRC/pkg/server/catalog/upstreamauthority.go"
  rm -rf "$SRC/pkg/server/plugin/upstreamauthority/ejbca"
  PATCHES="without the ejbca UpstreamAuthority (dependency unavailable from the module proxy)"
fi

log "building spire-server, spire-agent and oidc-discovery-provider v$VERSION (10+ minutes on a cold Go cache)"
mkdir -p "$DEST/bin.tmp"
# the release Makefile's ldflags, so `--version` reports the release rather than "-dev-unk"
HASH="$(go mod download -json "github.com/spiffe/spire@v$VERSION" | sed -n 's/^[[:space:]]*"Hash": "\(.*\)",*$/\1/p' | head -n1)"
LDFLAGS="-s -w -X github.com/spiffe/spire/pkg/common/version.gittag=$VERSION"
if [ -n "$HASH" ]; then LDFLAGS="$LDFLAGS -X github.com/spiffe/spire/pkg/common/version.githash=${HASH:0:7}"; fi
(cd "$SRC" && go build -trimpath -ldflags "$LDFLAGS" -o "$DEST/bin.tmp/" ./cmd/spire-server ./cmd/spire-agent ./support/oidc-discovery-provider)
rm -rf "$BIN"
mv "$DEST/bin.tmp" "$BIN"
{
  echo "spire v$VERSION"
  echo "module $MODDIR"
  echo "go $(go env GOVERSION)"
  echo "built $(date -u +%Y-%m-%dT%H:%M:%SZ)"
  if [ -n "$PATCHES" ]; then echo "patch $PATCHES"; fi
} >"$DEST/BUILD-INFO"
rm -rf "$SRC"
log "installed in $BIN"
echo "$BIN"
