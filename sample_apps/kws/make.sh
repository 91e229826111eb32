#!/bin/sh
# The trained keyword spotter -> a generated firmware project for the QEMU Cortex-M4F board -> built
# and run in the emulator on example.wav, then the firmware ELF's measured flash and RAM.
#
#   sample_apps/kws/make.sh [OUT]      OUT defaults to out/kws in the repository
set -eu
root=$(cd "$(dirname "$0")/../.." && pwd)
case ${1:-} in
    "") out=$root/out/kws ;;
    /*) out=$1 ;;
    *) out=$PWD/$1 ;;
esac
cd "$root"
board=${BOARD:-qemu_mps2_an386}

mcuforge generate sample_apps/kws/model.keras --calib sample_apps/kws/calib.npz \
    --labels sample_apps/kws/labels.txt --replay sample_apps/kws/example.wav \
    --board "$board" --app kws -o "$out" --force
mcuforge run "$out"
python -c '
import sys
from pathlib import Path
from generator.build.elfsize import elf_sizes
elf = Path(sys.argv[1]) / ".pio" / "build" / sys.argv[2] / "firmware.elf"
s = elf_sizes(elf)
print(f"firmware {elf}: flash {s.flash_bytes} B, RAM {s.ram_bytes} B")
' "$out" "$board"
