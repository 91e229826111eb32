#!/usr/bin/env bash
# TFLM + CMSIS-NN baseline for `python -m bench.speed`, on mps2-an386 (Cortex-M4F) and mps2-an500
# (Cortex-M7). Copies the shared harness (../shared/bench/tflm_cmsis, see its README) into a scratch
# directory per machine, points the copy at the right core, places the zoo models where it expects
# them, and runs it. The shared harness itself is left untouched.
#
#   bench/tflm_baseline.sh                      both machines, models kws vww vww2 ic ad
#   MACHINES=an386 MODELS="kws" bench/tflm_baseline.sh
#   SCRATCH=/tmp/speed SKIP_LIBS=1 bench/tflm_baseline.sh   reuse the TFLM libraries already built
#
# Needs the fetched mirrors (tensorflow/tflite-micro, ARM-software/CMSIS-NN, ARM-software/CMSIS_6,
# ARM-software/Cortex_DFP, google/flatbuffers, google/gemmlowp, google/ruy) for fetch_sources.sh.
# Results: $SCRATCH/<machine>/results.json and profile.json, read by `python -m bench.speed
# --baseline $SCRATCH`.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
HARNESS=${HARNESS:-$ROOT/../shared/bench/tflm_cmsis}
SCRATCH=${SCRATCH:-/tmp/mcuforge-speed}
MACHINES=${MACHINES:-"an386 an500"}
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
  case $machine in
    an386) cpu=cortex-m4; fpu=fpv4-sp-d16; arch=cortex-m4+fp ;;
    an500) cpu=cortex-m7; fpu=fpv5-d16; arch=cortex-m7+fp ;;
    *) echo "unknown machine $machine" >&2; exit 2 ;;
  esac
  mkdir -p "$d"
  # the harness files (not src/ or build/, which stay between runs)
  cp -r "$HARNESS"/{harness,tools,fw.sh,run.sh,build_tflm.sh,fetch_sources.sh,README.md} "$d/"
  sed -i "s/-mcpu=cortex-m4 /-mcpu=$cpu /; s/-mfpu=fpv4-sp-d16/-mfpu=$fpu/; s/-M mps2-an386/-M mps2-$machine/" "$d/fw.sh"
  sed -i "s/TARGET_ARCH=cortex-m4+fp/TARGET_ARCH=$arch/" "$d/build_tflm.sh"
  # MEAN (GlobalAveragePooling2D in the zoo models) is TFLM's reduce kernel
  sed -i "s/|reshape)(_common)/|reshape|reduce)(_common)/" "$d/build_tflm.sh"
  # only the TFLM configurations asked for (default CMSIS-NN; CFGS="cmsis_nn ref" for both)
  sed -i "s/for cfg in cmsis_nn ref; do/for cfg in $CFGS; do/" "$d/run.sh"
  sed -i "s#^  ./build_tflm.sh cmsis_nn\$#  for c in $CFGS; do ./build_tflm.sh \$c; done#; /^  .\/build_tflm.sh ref\$/d" "$d/run.sh"
  sed -i "s#\[ ! -f build/libtflm_cmsis_nn.a \] || \[ ! -f build/libtflm_ref.a \]#[ ! -f build/libtflm_cmsis_nn.a ]#" "$d/run.sh"
  [ -d "$d/src/tflite-micro" ] || (cd "$d" && ./fetch_sources.sh)
  echo "== $machine ($cpu) in $d"
  (cd "$d" && MODEL_DIR=$SCRATCH/models MODELS="$MODELS" ./run.sh)
done
