#!/usr/bin/env bash
# Builds upstream SPIRE's own Azure server NodeAttestors (pkg/server/plugin/nodeattestor/azuremsi and
# azureimds, code unchanged) as EXTERNAL plugin executables served by spire-plugin-sdk's
# pluginmain.Serve, for bench/side-by-side.ts: the same host launcher and emulator drive them and ours.
# Built from the Go module proxy into a cache outside git; prints the directory holding them.
# Usage: scripts/build-upstream-plugins.sh [VERSION]
#
#   bin/upstream-azure-msi    azuremsi.New() served through pluginmain (NodeAttestor + Config services)
#   bin/upstream-azure-imds   azureimds.New() likewise, with scripts/patches/spire-azureimds-extra-roots.patch
#                             (TEST ONLY: it also trusts the PEM roots named by
#                             SPIRE_TEST_AZURE_IMDS_EXTRA_ROOTS; unset, it is upstream's pinned roots only)
#   SPIRE_AZURE_CACHE    default ${XDG_CACHE_HOME:-$HOME/.cache}/spire-azure-attestor
#   output               $CACHE/upstream-plugins-v<VERSION>/bin
#
# How: SPIRE's built-ins are registered in its catalog with catalog.MakeBuiltIn(name,
# nodeattestorv1.NodeAttestorPluginServer(p), configv1.ConfigServiceServer(p)); pluginmain.Serve
# takes exactly those (a pluginsdk.PluginServer and ServiceServers), and the plugin's
# BrokerHostServices / SetLogger are picked up by the SDK as for any external plugin. The two main
# packages are added to a copy of SPIRE's module (so its go.mod and go.sum pin every dependency as
# released, and the Go build cache of scripts/install-spire.sh is reused). Go builds take the shared
# lock $CACHE/.go-build.lock (as scripts/install-spire.sh): two never run at once.
#
# Exit codes: 0 built or cached; 3 no Go toolchain; other: failure.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VERSION="${1:-${SPIRE_VERSION:-1.15.3}}"
VERSION="${VERSION#v}"
CACHE="${SPIRE_AZURE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/spire-azure-attestor}"
DEST="$CACHE/upstream-plugins-v$VERSION"
BIN="$DEST/bin"
PATCH_FILE="$ROOT/scripts/patches/spire-azureimds-extra-roots.patch"
BINARIES="upstream-azure-msi upstream-azure-imds"
# Bump when the recipe changes: the cached build is then redone.
RECIPE=1

log() { echo "build-upstream-plugins: $*" >&2; }

PATCH_SUM="$(sha256sum "$PATCH_FILE" | cut -d' ' -f1)"
KEY="spire=v$VERSION recipe=$RECIPE binaries=${BINARIES// /,} patch=$PATCH_SUM"
complete() {
  [ -f "$DEST/BUILD-INFO" ] && grep -qxF "key $KEY" "$DEST/BUILD-INFO" || return 1
  for b in $BINARIES; do [ -x "$BIN/$b" ] || return 1; done
}
if complete; then
  echo "$BIN"
  exit 0
fi
if ! command -v go >/dev/null 2>&1 && [ -x /usr/local/go/bin/go ]; then PATH="/usr/local/go/bin:$PATH"; fi
if ! command -v go >/dev/null 2>&1; then
  log "no Go toolchain on PATH; cannot build upstream's plugins"
  exit 3
fi

mkdir -p "$CACHE"
exec 9>"$CACHE/.lock-upstream-plugins-v$VERSION"
flock 9
if complete; then
  echo "$BIN"
  exit 0
fi

SRC="$DEST/src"
rm -rf "$DEST/bin.tmp"
# shellcheck source=scripts/spire-source.sh
. "$ROOT/scripts/spire-source.sh"
spire_source "$VERSION" "$SRC" || exit 1
log "applying $(basename "$PATCH_FILE") (azure_imds only; TEST-ONLY build)"
patch -p1 -s -d "$SRC" <"$PATCH_FILE"

main_go() { # $1 package import path, $2 package name
  cat <<EOF
// Upstream SPIRE's built-in $2 server NodeAttestor served as an external plugin (spire-azure-attestor
// scripts/build-upstream-plugins.sh; benchmarks only).
package main

import (
	"github.com/spiffe/spire-plugin-sdk/pluginmain"
	nodeattestorv1 "github.com/spiffe/spire-plugin-sdk/proto/spire/plugin/server/nodeattestor/v1"
	configv1 "github.com/spiffe/spire-plugin-sdk/proto/spire/service/common/config/v1"
	"$1"
)

func main() {
	p := $2.New()
	pluginmain.Serve(nodeattestorv1.NodeAttestorPluginServer(p), configv1.ConfigServiceServer(p))
}
EOF
}
mkdir -p "$SRC/cmd/upstream-azure-msi" "$SRC/cmd/upstream-azure-imds"
main_go github.com/spiffe/spire/pkg/server/plugin/nodeattestor/azuremsi azuremsi >"$SRC/cmd/upstream-azure-msi/main.go"
main_go github.com/spiffe/spire/pkg/server/plugin/nodeattestor/azureimds azureimds >"$SRC/cmd/upstream-azure-imds/main.go"

mkdir -p "$DEST/bin.tmp"
exec 8>"$CACHE/.go-build.lock"
if ! flock -n 8; then
  log "waiting for another Go build to finish ($CACHE/.go-build.lock)"
  flock 8
fi
log "building $BINARIES v$VERSION"
STARTED=$(date +%s)
(cd "$SRC" && go build -trimpath -ldflags "-s -w" -o "$DEST/bin.tmp/" ./cmd/upstream-azure-msi ./cmd/upstream-azure-imds)
SECONDS_TAKEN=$(($(date +%s) - STARTED))
exec 8>&-
rm -rf "$BIN"
mv "$DEST/bin.tmp" "$BIN"
{
  echo "spire v$VERSION server nodeattestors azuremsi, azureimds via spire-plugin-sdk pluginmain"
  echo "module $MODDIR"
  echo "go $(go env GOVERSION)"
  echo "built $(date -u +%Y-%m-%dT%H:%M:%SZ) in ${SECONDS_TAKEN}s"
  echo "patch $(basename "$PATCH_FILE") sha256 $PATCH_SUM (upstream-azure-imds only; TEST ONLY: never deploy)"
  echo "key $KEY"
} >"$DEST/BUILD-INFO"
rm -rf "$SRC"
log "installed in $BIN (go build ${SECONDS_TAKEN}s)"
echo "$BIN"
