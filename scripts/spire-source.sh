# Sourced by scripts/install-spire.sh and scripts/build-upstream-plugins.sh (both need `log`).
# spire_source VERSION DEST: github.com/spiffe/spire@vVERSION from the Go module proxy, copied
# writable into DEST (replaced). Sets MODJSON (`go mod download -json`'s answer) and MODDIR (the
# read-only module directory). Returns 1, having logged the proxy's error, when the download fails.
spire_source() {
  local version="$1" dest="$2"
  log "downloading github.com/spiffe/spire@v$version through the Go module proxy"
  MODJSON="$(go mod download -json "github.com/spiffe/spire@v$version" || true)"
  MODDIR="$(printf '%s\n' "$MODJSON" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')"
  if [ -z "$MODDIR" ] || [ ! -f "$MODDIR/go.mod" ]; then
    log "module download failed: $(printf '%s\n' "$MODJSON" | sed -n 's/^[[:space:]]*"Error": "\(.*\)",*$/\1/p')"
    return 1
  fi
  rm -rf "$dest"
  mkdir -p "$(dirname "$dest")"
  cp -r "$MODDIR" "$dest"
  chmod -R u+w "$dest"
}
