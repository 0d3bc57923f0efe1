# Shared helpers for deckhand's scripts (sourced, not run).

# Runs a command as root: directly when we are root, else through sudo.
as_root() {
  if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi
}

# ensure_packages CMD:PKG… — installs the Debian package for each missing command.
ensure_packages() {
  local missing=() pair cmd pkg
  for pair in "$@"; do
    cmd=${pair%%:*} pkg=${pair#*:}
    if [ "$cmd" = python3-cryptography ]; then
      python3 -c 'import cryptography' >/dev/null 2>&1 || missing+=("$pkg")
    elif [ "$cmd" = busybox-static ]; then
      # A dynamically linked /bin/busybox (package busybox) cannot run in a FROM scratch image.
      dpkg-query -W -f='${Status}' busybox-static 2>/dev/null | grep -q 'ok installed' || missing+=("$pkg")
    elif ! command -v "$cmd" >/dev/null 2>&1; then
      missing+=("$pkg")
    fi
  done
  if [ ${#missing[@]} -gt 0 ]; then
    echo "installing: ${missing[*]}" >&2
    as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
  fi
}

# ensure_rust — cargo must be there (rustup's, Rust >= 1.89).
ensure_rust() {
  if ! command -v cargo >/dev/null 2>&1; then
    [ -x "$HOME/.cargo/bin/cargo" ] || {
      ensure_packages curl:curl
      curl --proto '=https' --tlsv1.2 -sSf https://sh.rustup.rs | sh -s -- -y --profile minimal -c clippy,rustfmt
    }
    export PATH="$HOME/.cargo/bin:$PATH"
  fi
}

# free_port — prints a TCP port on 127.0.0.1 that nothing listens on.
free_port() {
  local p
  for p in $(seq "${1:-5000}" 5999); do
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then echo "$p"; return; fi
  done
  echo "no free port in ${1:-5000}-5999" >&2; return 1
}

# start_registry DIR PORT — Debian's docker-registry on 127.0.0.1:PORT with its own config in DIR,
# no auth; sets REGISTRY_PID. The caller stops it by that pid.
start_registry() {
  local dir=$1 port=$2
  mkdir -p "$dir/data"
  cat > "$dir/config.yml" <<YAML
version: 0.1
log: {level: warn}
storage: {filesystem: {rootdirectory: $dir/data}}
http: {addr: 127.0.0.1:$port}
YAML
  docker-registry serve "$dir/config.yml" > "$dir/log" 2>&1 &
  REGISTRY_PID=$!
  for _ in $(seq 100); do
    curl -sf -o /dev/null "http://127.0.0.1:$port/v2/" && return 0
    sleep 0.1
  done
  echo "error: docker-registry did not come up on 127.0.0.1:$port:" >&2; cat "$dir/log" >&2; return 1
}

# push_image BASE REPO TAG — pushes a one-layer OCI image (blobs, then the manifest as TAG).
# The manifest is kept in $IMAGE_DIR so put_tag can tag it again without blob traffic.
push_image() {
  local base=$1 repo=$2 tag=$3 d=${IMAGE_DIR:?set IMAGE_DIR} blob sha loc sep
  mkdir -p "$d"; printf 'deckhand sample image\n' > "$d/payload"
  tar -C "$d" --mtime=@0 --owner=0 --group=0 --numeric-owner -cf "$d/layer.tar" payload
  gzip -n -c "$d/layer.tar" > "$d/layer.tgz"
  printf '{"architecture":"amd64","os":"linux","config":{},"rootfs":{"type":"layers","diff_ids":["sha256:%s"]}}' \
    "$(sha256sum "$d/layer.tar" | cut -d' ' -f1)" > "$d/config.json"
  for blob in layer.tgz config.json; do
    sha=$(sha256sum "$d/$blob" | cut -d' ' -f1)
    # Two steps: POST opens an upload session, PUT with the digest closes it.
    loc=$(curl -sf -D - -o /dev/null -X POST "$base/v2/$repo/blobs/uploads/" | tr -d '\r' | sed -n 's/^[Ll]ocation: *//p')
    [[ $loc == http* ]] || loc="$base$loc"
    [[ $loc == *\?* ]] && sep='&' || sep='?'
    curl -sf -o /dev/null -X PUT -H 'Content-Type: application/octet-stream' --data-binary "@$d/$blob" "$loc${sep}digest=sha256:$sha"
  done
  printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:%s","size":%s},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":"sha256:%s","size":%s}]}' \
    "$(sha256sum "$d/config.json" | cut -d' ' -f1)" "$(stat -c %s "$d/config.json")" \
    "$(sha256sum "$d/layer.tgz" | cut -d' ' -f1)" "$(stat -c %s "$d/layer.tgz")" > "$d/manifest.json"
  put_tag "$base" "$repo" "$tag"
}

# put_tag BASE REPO TAG — the manifest pushed last by push_image, under another tag.
put_tag() {
  curl -sSf -o /dev/null -X PUT -H 'Content-Type: application/vnd.oci.image.manifest.v1+json' \
    --data-binary "@${IMAGE_DIR:?}/manifest.json" "$1/v2/$2/manifests/$3"
}

# start_dockerd_if_needed — reuses a running Docker engine; otherwise starts `dockerd` in the
# background and sets DOCKERD_PID (the caller stops it by that pid, and only then).
start_dockerd_if_needed() {
  DOCKERD_PID=
  docker info >/dev/null 2>&1 && return 0
  local log
  log=$(mktemp -t deckhand-dockerd.XXXXXX)
  # Started directly (not through a function, which would fork a subshell): $! must be the
  # daemon itself (or sudo, which passes signals on), so that killing it stops the engine.
  if [ "$(id -u)" = 0 ]; then dockerd >"$log" 2>&1 & else sudo dockerd >"$log" 2>&1 & fi
  DOCKERD_PID=$!
  for _ in $(seq 120); do
    docker info >/dev/null 2>&1 && return 0
    kill -0 "$DOCKERD_PID" 2>/dev/null || break
    sleep 0.5
  done
  echo "error: dockerd did not come up:" >&2; tail -20 "$log" >&2; return 1
}
