#!/bin/sh
# The trained VWW model -> a generated firmware project for the QEMU Cortex-M4F board -> built
# and run in the emulator on example.ppm, then the firmware ELF's measured flash and RAM.
#
#   sample_apps/vww/make.sh [OUT]      OUT defaults to out/vww in the repository
set -eu
root=$(cd "$(dirname "$0")/../.." && pwd)
case ${1:-} in
    "") out=$root/out/vww ;;
    /*) out=$1 ;;
    *) out=$PWD/$1 ;;
esac
cd "$root"
board=${BOARD:-qemu_mps2_an386}

mcuforge generate sample_apps/vww/model.keras --calib sample_apps/vww/calib.npz \
    --labels sample_apps/vww/labels.txt --replay sample_apps/vww/example.ppm \
    --board "$board" --app vww -o "$out" --force
mcuforge run "$out"
python -c '
import sys
from pathlib import Path
from generator.build.elfsize import elf_sizes
elf = Path(sys.argv[1]) / ".pio" / "build" / sys.argv[2] / "firmware.elf"
s = elf_sizes(elf)
print(f"firmware {elf}: flash {s.flash_bytes} B, RAM {s.ram_bytes} B")
' "$out" "$board"
