#!/usr/bin/env bash
# The C/C++ toolchain of the code sandbox (judge-server/src/sandbox/compiler): Debian's clang-19
# with lld-19 (wasm-ld) and the wasm32-wasi C and C++ libraries. Installs the packages that are
# missing (apt, as root) and checks that every file the compiler needs is there. Idempotent.
set -euo pipefail

packages=(clang-19 lld-19 libc++-19-dev-wasm32 libc++abi-19-dev-wasm32 libclang-rt-19-dev-wasm32 wasi-libc)
needed=(
  /usr/lib/llvm-19/bin/clang
  /usr/lib/llvm-19/bin/wasm-ld
  /usr/lib/llvm-19/lib/wasm32-wasi/libc++.a
  /usr/lib/llvm-19/lib/wasm32-wasi/libc++abi.a
  /usr/lib/llvm-19/lib/clang/19/lib/wasi/libclang_rt.builtins-wasm32.a
  /usr/include/wasm32-wasi/stdio.h
  /usr/lib/wasm32-wasi/libc.a
)

complete() {
  for path in "${needed[@]}"; do
    [ -e "$path" ] || return 1
  done
}

if complete; then
  echo "the C/C++ toolchain is installed (clang-19 for wasm32-wasi)"
  exit 0
fi
missing=()
for package in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
done
if [ "$(id -u)" -ne 0 ]; then
  echo "error: the C/C++ toolchain is missing (${missing[*]}); run this script as root, or: apt-get install ${packages[*]}" >&2
  exit 1
fi
echo "installing the C/C++ toolchain: ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
if ! complete; then
  for path in "${needed[@]}"; do
    [ -e "$path" ] || echo "error: $path is still missing after installing ${packages[*]}" >&2
  done
  exit 1
fi
echo "the C/C++ toolchain is installed (clang-19 for wasm32-wasi)"
