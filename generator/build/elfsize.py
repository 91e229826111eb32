"""Flash and RAM use of a linked ELF, read with pyelftools (the figures of ``size -A``).

Flash: every allocated section with file contents (code, constants, vectors and the load image of
``.data``). RAM: every allocated section that lives at run time in a different place from where it
is loaded (``.data``), plus every allocated section without contents (``.bss``, ``.stack``).
"""

from __future__ import annotations

from pathlib import Path
from typing import NamedTuple

from elftools.common.exceptions import ELFError
from elftools.elf.elffile import ELFFile
from elftools.elf.sections import Section
from elftools.elf.segments import Segment

from generator.errors import ToolError

SHF_ALLOC = 0x2


class ElfSizes(NamedTuple):
    flash_bytes: int
    ram_bytes: int


def _load_segment(section: Section, segments: list[Segment]) -> Segment | None:
    for segment in segments:
        if segment["p_type"] == "PT_LOAD" and segment.section_in_segment(section):
            return segment
    return None


def _is_copied(section: Section, segments: list[Segment]) -> bool:
    """True when the section's load address differs from its run address (``.data``)."""
    segment = _load_segment(section, segments)
    return segment is not None and segment["p_vaddr"] != segment["p_paddr"]


def _measure(elf: ELFFile) -> ElfSizes:
    segments = list(elf.iter_segments())
    flash = ram = 0
    for section in elf.iter_sections():
        if not section["sh_flags"] & SHF_ALLOC or section["sh_size"] == 0:
            continue
        size = int(section["sh_size"])
        if section["sh_type"] == "SHT_NOBITS":
            ram += size
            continue
        flash += size
        if _is_copied(section, segments):
            ram += size
    return ElfSizes(flash, ram)


def elf_sizes(elf_path: Path) -> ElfSizes:
    """``(flash_bytes, ram_bytes)`` of a linked firmware ELF."""
    try:
        with open(elf_path, "rb") as stream:
            return _measure(ELFFile(stream))
    except OSError as exc:
        raise ToolError(f"{elf_path}: cannot read the firmware ({exc.strerror})",
                        hint="build the project first") from None
    except ELFError as exc:
        raise ToolError(f"{elf_path}: not an ELF file ({exc})",
                        hint="pass the .elf the build produced, not the .bin/.hex") from None
