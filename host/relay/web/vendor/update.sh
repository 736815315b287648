#!/usr/bin/env bash
# Fetch the vendored noble files from npm, exactly as published: `npm pack` checks each
# tarball against the registry's sha512 integrity, and this script checks it against the one
# pinned below (so an upgrade is a reviewed change of this file), then copies only the files
# the page imports. Run from anywhere: bash host/relay/web/vendor/update.sh
set -euo pipefail
cd "$(dirname "$0")"
declare -A PACKAGES=(
  ["@noble/ciphers@2.4.0"]="sha512-AnjFn0Jv92laAkvMrghlFZq4qQCIN/4DxFV/eooqtC2YTjB7kBeLMS2T9KJX4Dn+ZVXLOwK0lSgqDtx9gvxtiw=="
  ["@noble/hashes@2.4.0"]="sha512-X5XaVWZIBCT7HHZGm5I7ZQXDwLG+bGXuSrMQAW+7Zvl87h1kmc1ZB1VSRJcpUfoUrGQp4Fkoxm5kZ+Ms+aW+eA=="
)
declare -A FILES=(
  ["@noble/ciphers@2.4.0"]="noble-ciphers: aes.js _polyval.js utils.js LICENSE"
  ["@noble/hashes@2.4.0"]="noble-hashes: hkdf.js hmac.js sha2.js _md.js _u64.js utils.js LICENSE"
)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
for package in "${!PACKAGES[@]}"; do
  (cd "$work" && npm pack --silent "$package" > /dev/null)
  tarball=$(ls "$work"/*.tgz)
  got="sha512-$(openssl dgst -sha512 -binary "$tarball" | base64 -w0)"
  if [ "$got" != "${PACKAGES[$package]}" ]; then
    echo "$package: integrity $got, expected ${PACKAGES[$package]}" >&2
    exit 1
  fi
  spec=${FILES[$package]}
  dir=${spec%%:*}
  mkdir -p "$dir" "$work/x"
  tar xzf "$tarball" -C "$work/x"
  for f in ${spec#*:}; do
    cp "$work/x/package/$f" "$dir/$f"
  done
  rm -rf "$work/x" "$tarball"
done
sha256sum noble-*/* > SHA256SUMS
echo "vendored; SHA256SUMS updated"
