#!/usr/bin/env bash
# bench/gpu.sh: on a Linux machine with a GPU and Node >= 20, from a checkout:
#   bash bench/gpu.sh
# 1. installs what it needs: the npm dependencies (npm ci, or npm install when node_modules
#    exists; the `webgpu` package carries Dawn's native binary) and, only where an NVIDIA GPU is
#    present, the Vulkan loader (libvulkan1) through apt-get when it is missing and we are root;
# 2. says what the machine offers WebGPU (GPU device nodes, Vulkan loader, Vulkan driver manifests);
# 3. runs the cross-backend correctness suite (test/backend.test.ts: cpu, wasm and webgpu when it
#    loads, within 1e-4 abs of each other and of PyTorch);
# 4. runs bench/gpu.js: wasm and webgpu side by side in one table (RTF p50/p95 of the audio decoder
#    at blocks 2048 and 8192 and of the image decoder per frame, bending overhead, weight-bending
#    recompute). Without a usable adapter the webgpu column says n/a and why; wasm figures still print.
# WebGPU on Linux runs on Vulkan: it needs the Vulkan loader (libvulkan.so.1, Debian/Ubuntu package
# libvulkan1) and the GPU driver's Vulkan ICD (NVIDIA: nvidia_icd.json, shipped with the driver; in
# Docker set NVIDIA_DRIVER_CAPABILITIES=compute,utility,graphics or the ICD is not mounted).
# Environment: BENCH_BACKENDS="wasm webgpu" (add tensorflow after installing tfjs-node-gpu),
# BENCH_QUICK=1 for fewer samples, SKIP_INSTALL=1 to use node_modules as they are.
set -euo pipefail
cd "$(dirname "$0")/.."

say() { printf '\n== %s\n' "$*"; }

node_major=$(node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0)
if [ "$node_major" -lt 20 ]; then
  echo "bench/gpu.sh: Node.js >= 20 is required (found: $(node --version 2>/dev/null || echo none))" >&2
  exit 1
fi

has_nvidia_gpu() { ls /dev/nvidia[0-9]* >/dev/null 2>&1 || command -v nvidia-smi >/dev/null 2>&1; }
has_vulkan_loader() { ldconfig -p 2>/dev/null | grep -q 'libvulkan\.so\.1' || [ -e /usr/lib/x86_64-linux-gnu/libvulkan.so.1 ] || [ -e /usr/lib64/libvulkan.so.1 ]; }

say "install"
if [ "${SKIP_INSTALL:-0}" != "1" ]; then
  if [ -d node_modules ]; then npm install --no-audit --no-fund; else npm ci --no-audit --no-fund; fi
fi
npm run build --silent
if has_nvidia_gpu && ! has_vulkan_loader; then
  if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
    echo "NVIDIA GPU without the Vulkan loader: apt-get install libvulkan1"
    (apt-get install -y --no-install-recommends libvulkan1 || { apt-get update && apt-get install -y --no-install-recommends libvulkan1; }) \
      || echo "could not install libvulkan1 (no network or no apt?): webgpu will not load"
  else
    echo "NVIDIA GPU without the Vulkan loader: install libvulkan1 (sudo apt-get install libvulkan1), or webgpu will not load"
  fi
fi

say "machine"
echo "node $(node --version), $(nproc) CPU cores"
if command -v nvidia-smi >/dev/null 2>&1; then
  nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader || true
fi
ls -d /dev/dri/* /dev/nvidia[0-9]* 2>/dev/null | tr '\n' ' ' || true; echo
if has_vulkan_loader; then echo "Vulkan loader: present"; else echo "Vulkan loader: MISSING (libvulkan1)"; fi
icds=$(ls /usr/share/vulkan/icd.d/*.json /etc/vulkan/icd.d/*.json /usr/local/share/vulkan/icd.d/*.json 2>/dev/null | tr '\n' ' ' || true)
echo "Vulkan driver manifests: ${icds:-none}"
node --input-type=module -e 'const tb = await import("tfbend"); console.log("tfbend selects:", JSON.stringify(tb.backendInfo())); process.exit(0)'

say "correctness (test/backend.test.ts; the test process on wasm, each backend in its own child)"
correctness=0
TFBEND_BACKEND=wasm npx vitest run test/backend.test.ts || correctness=$?

say "benchmark (bench/gpu.js)"
bench=0
node bench/gpu.js || bench=$?

if [ "$correctness" != "0" ] || [ "$bench" != "0" ]; then
  echo "bench/gpu.sh: correctness exit $correctness, benchmark exit $bench" >&2
  exit 1
fi
