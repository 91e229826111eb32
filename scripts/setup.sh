#!/usr/bin/env bash
# Installs everything mcuforge and its tests need on a fresh Debian machine: the host and Arm C
# compilers, QEMU, speech synthesis for test audio, cmake and dtc (the generated Zephyr CMakeLists
# and devicetree overlay are read back by them), and the Python package with its dev extras.
set -euo pipefail
cd "$(dirname "$0")/.."

missing=()
command -v gcc >/dev/null || missing+=(gcc)
command -v arm-none-eabi-gcc >/dev/null || missing+=(gcc-arm-none-eabi libnewlib-arm-none-eabi)
command -v qemu-system-arm >/dev/null || missing+=(qemu-system-arm)
command -v espeak-ng >/dev/null || missing+=(espeak-ng)
command -v sox >/dev/null || missing+=(sox)
command -v valgrind >/dev/null || missing+=(valgrind)
command -v cmake >/dev/null || missing+=(cmake)
command -v dtc >/dev/null || missing+=(device-tree-compiler)
if [ ${#missing[@]} -gt 0 ]; then
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -q
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q "${missing[@]}"
fi

python -m pip install -q --upgrade pip
python -m pip install -q -e ".[dev]"
