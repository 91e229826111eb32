#!/usr/bin/env bash
# TFLM + CMSIS-NN baseline for `python -m bench.speed`, on mps2-an386 (Cortex-M4F), mps2-an500
# (Cortex-M7) and mps3-an547 (Cortex-M55 with MVE: CMSIS-NN uses its Helium kernels). Copies the shared harness (../shared/bench/tflm_cmsis, see its README) into a scratch
# directory per machine, points the copy at the right core, places the zoo models where it expects
# them, and runs it. The shared harness itself is left untouched.
#
#   bench/tflm_baseline.sh                      every machine, models kws vww vww2 ic ad
#   MACHINES=an386 MODELS="kws" bench/tflm_baseline.sh
#   SCRATCH=/tmp/speed SKIP_LIBS=1 bench/tflm_baseline.sh   reuse the TFLM libraries already built
#
# An existing src/ tree (another machine's, in this SCRATCH) is copied rather than fetched again.
# Needs the fetched mirrors (tensorflow/tflite-micro, ARM-software/CMSIS-NN, ARM-software/CMSIS_6,
# ARM-software/Cortex_DFP, google/flatbuffers, google/gemmlowp, google/ruy) for fetch_sources.sh.
# Results: $SCRATCH/<machine>/results.json and profile.json, read by `python -m bench.speed
# --baseline $SCRATCH`.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
HARNESS=${HARNESS:-$ROOT/../shared/bench/tflm_cmsis}
SCRATCH=${SCRATCH:-/tmp/mcuforge-speed}
MACHINES=${MACHINES:-"an386 an500 an547"}
MODELS=${MODELS:-"kws vww vww2 ic ad"}
CFGS=${CFGS:-cmsis_nn}
mkdir -p "$SCRATCH/models"
# the zoo models under the names the harness uses
python3 - "$SCRATCH/models" <<'PY'
import sys
from pathlib import Path
sys.path.insert(0, ".")
from tests.support.zoo import zoo_tflite
names = {"kws": "ds_cnn", "vww": "mobilenet_v1", "ic": "resnet8", "ad": "fc_autoencoder",
         "vww2": "mobilenet_v2"}
for short, zoo in names.items():
    Path(sys.argv[1], f"{short}_int8.tflite").write_bytes(zoo_tflite(zoo))
PY
for machine in $MACHINES; do
  d=$SCRATCH/$machine
  # qemu machine, gcc -mcpu/-mfpu, TFLM TARGET_ARCH, SysTick clock (instructions = ticks x 1e9 / hz),
  # link script (the an547's own: its 512 KB ITCM cannot hold MobileNetV2's constants with the code)
  hz=25000000; ld=""
  case $machine in
    an386) qemu=mps2-an386; cpu=cortex-m4; fpu=fpv4-sp-d16; arch=cortex-m4+fp ;;
    an500) qemu=mps2-an500; cpu=cortex-m7; fpu=fpv5-d16; arch=cortex-m7+fp ;;
    an547) qemu=mps3-an547; cpu=cortex-m55; fpu=auto; arch=cortex-m55; hz=32000000
           ld=$ROOT/bench/speed_fw/link_an547.ld ;;
    *) echo "unknown machine $machine" >&2; exit 2 ;;
  esac
  mkdir -p "$d"
  # the harness files (not src/ or build/, which stay between runs)
  cp -r "$HARNESS"/{harness,tools,fw.sh,run.sh,build_tflm.sh,fetch_sources.sh,README.md} "$d/"
  [ -z "$ld" ] || cp "$ld" "$d/harness/link.ld"
  sed -i "s/-mcpu=cortex-m4 /-mcpu=$cpu /; s/-mfpu=fpv4-sp-d16/-mfpu=$fpu/; s/-M mps2-an386/-M $qemu/" "$d/fw.sh"
  sed -i "s/^COMMON=\"\$CPU /COMMON=\"\$CPU -DBENCH_CPU_HZ=${hz}u /" "$d/fw.sh"
  sed -i "s/TARGET_ARCH=cortex-m4+fp/TARGET_ARCH=$arch/" "$d/build_tflm.sh"
  # MEAN (GlobalAveragePooling2D in the zoo models) is TFLM's reduce kernel
  sed -i "s/|reshape)(_common)/|reshape|reduce)(_common)/" "$d/build_tflm.sh"
  # only the TFLM configurations asked for (default CMSIS-NN; CFGS="cmsis_nn ref" for both)
  sed -i "s/for cfg in cmsis_nn ref; do/for cfg in $CFGS; do/" "$d/run.sh"
  sed -i "s#^  ./build_tflm.sh cmsis_nn\$#  for c in $CFGS; do ./build_tflm.sh \$c; done#; /^  .\/build_tflm.sh ref\$/d" "$d/run.sh"
  sed -i "s#\[ ! -f build/libtflm_cmsis_nn.a \] || \[ ! -f build/libtflm_ref.a \]#[ ! -f build/libtflm_cmsis_nn.a ]#" "$d/run.sh"
  # The harness' in-firmware arena search can fault on a trial size (TFLM's planner writes out of
  # bounds with some too-small arenas: fc_autoencoder on the M55). Then bisect from here instead,
  # one firmware per size (ARENA_BYTES=N; a fault or a different output counts as too small).
  cat >> "$d/fw.sh" <<'SH'

fw_arena_bisect() { # MODEL CFG SEARCH_ELF: writes "arena_min N" into SEARCH_ELF.out
  local m=$1 cfg=$2 out=$3.out elf want lo hi mid
  echo "$m $cfg: the in-firmware arena search failed ($(grep -m1 -v '^$' "$out" || true)); bisecting per firmware" >&2
  elf=$(fw_tflm "$m" "$cfg" $((512 * 1024))); fw_run "$elf"
  want=$(sed -n 's/^result 0 instructions [0-9]* //p' "$elf.out")
  lo=$(sed -n 's/^arena_used_bytes //p' "$elf.out"); hi=$((512 * 1024))
  [ -n "$want" ] && [ -n "$lo" ] || { cat "$elf.out"; return 1; }
  lo=$((lo - 1))
  while [ $((hi - lo)) -gt 1 ]; do  # invariant: hi works, lo does not
    mid=$(((lo + hi) / 2))
    elf=$(fw_tflm "$m" "$cfg" "$mid")
    if fw_run "$elf" && [ "$(sed -n 's/^result 0 instructions [0-9]* //p' "$elf.out")" = "$want" ]; then
      hi=$mid; else lo=$mid; fi
  done
  printf 'arena_min %s\nbisected per firmware\ndone\n' "$hi" >> "$out"
}
SH
  sed -i 's/^    elf=$(fw_tflm "$m" "$cfg" 0); fw_run "$elf"$/    elf=$(fw_tflm "$m" "$cfg" 0); fw_run "$elf" || fw_arena_bisect "$m" "$cfg" "$elf"/' "$d/run.sh"
  grep -q fw_arena_bisect "$d/run.sh" || { echo "run.sh: arena search line not found" >&2; exit 2; }
  if [ ! -d "$d/src/tflite-micro" ]; then
    other=$(ls -d "$SCRATCH"/*/src/tflite-micro 2>/dev/null | head -1 || true)
    if [ -n "$other" ]; then
      mkdir -p "$d/src"; (cd "$(dirname "$other")" && tar -c --exclude=tflite-micro/gen tflite-micro) | tar -x -C "$d/src"
    else
      (cd "$d" && ./fetch_sources.sh)
    fi
  fi
  echo "== $machine ($cpu) in $d"
  (cd "$d" && MODEL_DIR=$SCRATCH/models MODELS="$MODELS" ./run.sh)
done
