#!/usr/bin/env bash
# Builds real SPIRE binaries from the Go module proxy into a cache outside git, and prints the directory
# holding them. Reuses a finished build. Usage: scripts/install-spire.sh [VERSION [VARIANT]]
#
#   VARIANT release     spire-server, spire-agent, oidc-discovery-provider as released   spire-v<VERSION>/bin
#           test-roots  spire-server only, with scripts/patches/spire-azureimds-extra-roots.patch (TEST ONLY:
#                       the built-in azure_imds server also trusts the PEM roots named by
#                       SPIRE_TEST_AZURE_IMDS_EXTRA_ROOTS)                                spire-v<VERSION>-test-roots/bin
#   SPIRE_VERSION        default 1.15.3 (the tested versions are listed in test/support/spire-versions.ts)
#   SPIRE_VARIANT        default release
#   SPIRE_AZURE_CACHE    default ${XDG_CACHE_HOME:-$HOME/.cache}/spire-azure-attestor
#
# A build is reused only when its BUILD-INFO carries this run's cache key: version, variant, recipe, the
# binaries it must hold and the sha256 of the variant's patch. Every `go build` of every version and variant
# takes one lock ($CACHE/.go-build.lock): two never run at once.
#
# Exit codes: 0 built or cached; 3 no Go toolchain (callers report the e2e tests as skipped); other: failure.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VERSION="${1:-${SPIRE_VERSION:-1.15.3}}"
VERSION="${VERSION#v}"
VARIANT="${2:-${SPIRE_VARIANT:-release}}"
CACHE="${SPIRE_AZURE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/spire-azure-attestor}"

log() { echo "install-spire: $*" >&2; }

# Bump when the way a variant is built changes (flags, source edits): every cached build is then redone.
RECIPE=2
case "$VARIANT" in
  release)
    BINARIES="spire-server spire-agent oidc-discovery-provider"
    PACKAGES="./cmd/spire-server ./cmd/spire-agent ./support/oidc-discovery-provider"
    PATCH_FILE=""
    DEST="$CACHE/spire-v$VERSION"
    ;;
  test-roots)
    BINARIES="spire-server"
    PACKAGES="./cmd/spire-server"
    PATCH_FILE="$ROOT/scripts/patches/spire-azureimds-extra-roots.patch"
    DEST="$CACHE/spire-v$VERSION-test-roots"
    ;;
  *)
    log "unknown variant '$VARIANT' (release, test-roots)"
    exit 2
    ;;
esac
BIN="$DEST/bin"
PATCH_SUM="none"
if [ -n "$PATCH_FILE" ]; then PATCH_SUM="$(sha256sum "$PATCH_FILE" | cut -d' ' -f1)"; fi
KEY="spire=v$VERSION variant=$VARIANT recipe=$RECIPE binaries=${BINARIES// /,} patch=$PATCH_SUM"

complete() {
  [ -f "$DEST/BUILD-INFO" ] || return 1
  grep -qxF "key $KEY" "$DEST/BUILD-INFO" || return 1
  for b in $BINARIES; do [ -x "$BIN/$b" ] || return 1; done
}

# Builds from recipe 1 (this script before cache keys) are the release variant built the same way: adopt
# one when all three binaries are there and spire-server reports the version, instead of rebuilding it.
adopt_recipe1() {
  [ "$VARIANT" = release ] && [ -f "$DEST/BUILD-INFO" ] || return 1
  ! grep -q '^key ' "$DEST/BUILD-INFO" || return 1
  for b in $BINARIES; do [ -x "$BIN/$b" ] || return 1; done
  [ "$("$BIN/spire-server" --version 2>&1 | head -n1)" = "$VERSION" ] || return 1
  echo "key $KEY" >>"$DEST/BUILD-INFO"
  log "adopted the recipe-1 build in $DEST"
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
  log "no Go toolchain on PATH; cannot build SPIRE v$VERSION ($VARIANT)"
  exit 3
fi

mkdir -p "$CACHE"
exec 9>"$CACHE/.lock-${DEST#"$CACHE/spire-"}" # .lock-v1.15.3, .lock-v1.15.3-test-roots
flock 9 # concurrent test runs wait for one build of this version and variant
if complete || adopt_recipe1; then
  echo "$BIN"
  exit 0
fi

SRC="$DEST/src"
rm -rf "$DEST/bin.tmp"
# shellcheck source=scripts/spire-source.sh
. "$ROOT/scripts/spire-source.sh"
spire_source "$VERSION" "$SRC" || exit 1

PATCHES=()
# The proxy refuses github.com/Keyfactor/ejbca-go-client-sdk (403), a dependency of only the ejbca
# UpstreamAuthority plugin. When it is unavailable, that one built-in is left out of the server
# catalog; nothing else changes. Every other line of SPIRE is built as released.
EJBCA_MOD="$(sed -n 's/^[[:space:]]*github.com\/Keyfactor\/ejbca-go-client-sdk \(v[^ ]*\).*/\1/p' "$SRC/go.mod" | head -n1)"
if [ -n "$EJBCA_MOD" ] && ! (cd "$SRC" && go mod download "github.com/Keyfactor/ejbca-go-client-sdk@$EJBCA_MOD" >/dev/null 2>&1); then
  log "ejbca-go-client-sdk@$EJBCA_MOD is not available from the proxy; leaving the ejbca UpstreamAuthority out"
  sed -i '/upstreamauthority\/ejbca"/d; /ejbca\.BuiltIn(),/d' "$SRC/pkg/server/catalog/upstreamauthority.go"
  rm -rf "$SRC/pkg/server/plugin/upstreamauthority/ejbca"
  PATCHES+=("without the ejbca UpstreamAuthority (dependency unavailable from the module proxy)")
fi
if [ -n "$PATCH_FILE" ]; then
  log "applying $(basename "$PATCH_FILE") (TEST-ONLY build)"
  patch -p1 -s -d "$SRC" <"$PATCH_FILE"
  PATCHES+=("$(basename "$PATCH_FILE") sha256 $PATCH_SUM (TEST ONLY: never deploy)")
fi

# the release Makefile's ldflags, so `--version` reports the release rather than "-dev-unk"
HASH="$(printf '%s\n' "$MODJSON" | sed -n 's/^[[:space:]]*"Hash": "\(.*\)",*$/\1/p' | head -n1)"
LDFLAGS="-s -w -X github.com/spiffe/spire/pkg/common/version.gittag=$VERSION"
if [ -n "$HASH" ]; then LDFLAGS="$LDFLAGS -X github.com/spiffe/spire/pkg/common/version.githash=${HASH:0:7}"; fi
mkdir -p "$DEST/bin.tmp"
# One Go build at a time across every version and variant (2 cores: two builds only slow each other).
exec 8>"$CACHE/.go-build.lock"
if ! flock -n 8; then
  log "waiting for another SPIRE build to finish ($CACHE/.go-build.lock)"
  flock 8
fi
log "building $BINARIES v$VERSION ($VARIANT; 10+ minutes on a cold Go cache)"
STARTED=$(date +%s)
# shellcheck disable=SC2086 # PACKAGES is a list of package paths
(cd "$SRC" && go build -trimpath -ldflags "$LDFLAGS" -o "$DEST/bin.tmp/" $PACKAGES)
SECONDS_TAKEN=$(($(date +%s) - STARTED))
exec 8>&- # release the Go build lock
rm -rf "$BIN"
mv "$DEST/bin.tmp" "$BIN"
{
  echo "spire v$VERSION"
  echo "variant $VARIANT"
  echo "module $MODDIR"
  echo "go $(go env GOVERSION)"
  echo "built $(date -u +%Y-%m-%dT%H:%M:%SZ) in ${SECONDS_TAKEN}s"
  for p in "${PATCHES[@]}"; do echo "patch $p"; done
  echo "key $KEY"
} >"$DEST/BUILD-INFO"
rm -rf "$SRC"
log "installed in $BIN (go build ${SECONDS_TAKEN}s)"
echo "$BIN"
