#!/usr/bin/env bash
# Builds a fully static deckhand for Linux: Rust's musl target (musl libc linked in), libgit2
# vendored (git2's vendored-libgit2), TLS by rustls/aws-lc: no libc, OpenSSL or libgit2 needed at
# run time. Prints the binary's path on stdout; checks that it is static and reports its size.
#   scripts/build-static.sh            # target/<arch>-unknown-linux-musl/release-static/deckhand
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh

target="${DECKHAND_STATIC_TARGET:-$(uname -m)-unknown-linux-musl}"
ensure_packages musl-gcc:musl-tools cc:build-essential readelf:binutils file:file
ensure_rust
if ! rustup target list --installed | grep -qx "$target"; then
  echo "adding the Rust target $target" >&2
  rustup target add "$target" >&2
fi

# musl-gcc compiles the C parts (libgit2, zlib, aws-lc) against musl's headers.
# Profile release-static (Cargo.toml): release, tuned for size.
# A plain static executable rather than static-pie: no 1 MB of load-time relocations (.rela.dyn).
# The trade-off: the binary's own image is not address-randomised (heap, stack and mmaps still are).
triple_var=$(echo "$target" | tr 'a-z-' 'A-Z_')
export "CARGO_TARGET_${triple_var}_RUSTFLAGS=-C relocation-model=static"
# The vendored C libraries (libgit2, libssh2, OpenSSL) in sections of their own, so that the
# linker's --gc-sections drops what deckhand never calls.
triple_cc=$(echo "$target" | tr '-' '_')
export "CFLAGS_${triple_cc}=-Os -ffunction-sections -fdata-sections"
cargo build --profile release-static --locked --quiet --target "$target" --bin deckhand >&2
bin="target/$target/release-static/deckhand"

# Static: no program interpreter and no shared-library dependencies.
if readelf -l "$bin" | grep -q INTERP || readelf -d "$bin" | grep -q NEEDED; then
  echo "error: $bin is not static:" >&2
  readelf -d "$bin" | grep NEEDED >&2 || true
  exit 1
fi
echo "$(file -b "$bin" | cut -d, -f1-2,4-6)" >&2
size=$(stat -c %s "$bin")
echo "static, $size bytes ($(awk -v b="$size" 'BEGIN { printf "%.1f MB", b / 1e6 }'))" >&2
echo "$bin"
