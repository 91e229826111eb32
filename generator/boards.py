"""Board definitions: YAML files validated into frozen, typed :class:`Board` objects.

A board YAML is the single source of truth for a target's core, clock, memory map and peripherals.
Everything else (linker scripts, PlatformIO board manifests, fit checks) is derived from it. Sizes may be
written as integers or as strings such as ``"256KB"`` or ``"1MB"`` (KB = 1024 bytes); addresses as
integers (YAML reads ``0x20000000`` as one) or hexadecimal strings.

The JSON schema kept beside the YAML files (``boards/schema.json``) is generated from these models by
:func:`board_json_schema`; ``mcuforge boards schema --write`` refreshes it.
"""

from __future__ import annotations

import difflib
import enum
import itertools
import json
import re
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Annotated, Any, TypeAlias

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    WithJsonSchema,
    field_validator,
)
from pydantic_core import PydanticCustomError

from generator.errors import BoardError, InputError
from generator.inputs import parse_yaml, read_text
from generator.resources import boards_dir

SCHEMA_FILE_NAME = "schema.json"
BOARD_SUFFIX = ".yaml"
LOCAL_PLATFORM_NAME = "mcuforge-qemu"
"""The PlatformIO development platform shipped in ``generator/build/platform``."""

_SCHEMA_HINT = "compare the file with boards/schema.json or a shipped board such as boards/pico.yaml"

# --------------------------------------------------------------------------------------------------
# Sizes and addresses


_UNITS = {"": 1, "B": 1, "K": 1024, "KB": 1024, "KIB": 1024, "M": 1024**2, "MB": 1024**2,
          "MIB": 1024**2}
_SIZE_RE = re.compile(r"^\s*(\d+)\s*([A-Za-z]*)\s*$")


def parse_size(value: object) -> object:
    """``"256KB"`` → 262144; ints pass through; anything else is left for pydantic to reject."""
    if isinstance(value, bool):
        raise PydanticCustomError("size", "expected a size such as 4096 or '256KB', got a boolean")
    if not isinstance(value, str):
        return value
    match = _SIZE_RE.match(value)
    if match is None or match.group(2).upper() not in _UNITS:
        raise PydanticCustomError(
            "size", "'{value}' is not a size; write bytes as an integer or a string like '256KB' "
            "or '1MB' (KB = 1024)", {"value": value})
    return int(match.group(1)) * _UNITS[match.group(2).upper()]


def parse_address(value: object) -> object:
    """``"0x20000000"`` → 536870912; ints pass through."""
    if isinstance(value, bool):
        raise PydanticCustomError("address", "expected an address such as 0x20000000")
    if isinstance(value, str):
        try:
            return int(value, 0)
        except ValueError:
            raise PydanticCustomError(
                "address", "'{value}' is not an address; write it like 0x20000000",
                {"value": value}) from None
    return value


_SIZE_SCHEMA: dict[str, Any] = {
    "anyOf": [
        {"type": "integer", "minimum": 0},
        {"type": "string", "pattern": r"^\s*\d+\s*([KkMm]?([Bb]|[Ii][Bb])?)\s*$"},
    ],
    "description": "bytes, as an integer or a string like '256KB' or '1MB' (KB = 1024)",
}
_ADDRESS_SCHEMA: dict[str, Any] = {
    "anyOf": [{"type": "integer", "minimum": 0}, {"type": "string", "pattern": r"^0[xX][0-9a-fA-F]+$"}],
    "description": "an address, as an integer or a hexadecimal string",
}

Size: TypeAlias = Annotated[int, BeforeValidator(parse_size), Field(ge=0),
                            WithJsonSchema(_SIZE_SCHEMA)]
PositiveSize: TypeAlias = Annotated[int, BeforeValidator(parse_size), Field(gt=0),
                                    WithJsonSchema(_SIZE_SCHEMA)]
Address: TypeAlias = Annotated[int, BeforeValidator(parse_address), Field(ge=0, lt=2**32),
                               WithJsonSchema(_ADDRESS_SCHEMA)]
Identifier: TypeAlias = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]{0,63}$")]

# --------------------------------------------------------------------------------------------------
# Strings that reach generated files
#
# Names a tool reads (PlatformIO board and platform ids, the Zephyr board target, QEMU machine and
# cpu names and arguments) must match strict patterns: they are written into platformio.ini,
# CMake and command lines as they are. Free text (display_name, vendor, notes, peripheral models)
# only ever reaches comments and documentation, through generator.encoders; it is still limited to
# one line of printable text without the sequences that end a comment.


def _string(what: str, text: str, pattern: re.Pattern[str], example: str) -> str:
    if not pattern.fullmatch(text):
        raise PydanticCustomError(
            "name", "{value} is not a valid {what} (expected {example})",
            {"value": _shown(text), "what": what, "example": example})
    return text


def _shown(text: str) -> str:
    """A field value for an error message: quoted, escaped, at most 60 characters of it."""
    return repr(text if len(text) <= 60 else text[:60] + "...")


def _matcher(what: str, pattern: str, example: str) -> Callable[[str], str]:
    """A validator refusing a string that does not match ``pattern`` in full."""
    compiled = re.compile(pattern)
    return lambda text: _string(what, text, compiled, example)


def _name_schema(what: str, pattern: str, example: str) -> WithJsonSchema:
    return WithJsonSchema({"type": "string", "pattern": f"^(?:{pattern})$",
                           "description": f"{what}, e.g. {example}"})


_PIO_ID = r"[A-Za-z0-9][A-Za-z0-9_.+-]{0,63}"
_PIO_ID_ABOUT = ("PlatformIO id", _PIO_ID, "'nano33ble': letters, digits, '_.+-'")
_PIO_PLATFORM_ABOUT = (
    "PlatformIO platform",
    rf"(?:{_PIO_ID}/)?{_PIO_ID}(?:@[A-Za-z0-9_.+~^=*-]{{1,64}})?"
    r"|https://[A-Za-z0-9_.~/:@+-]{1,200}(?:#[A-Za-z0-9_.+/-]{1,64})?",
    "'ststm32', 'platformio/ststm32@^17.0.0' or an https:// URL")
_ZEPHYR_BOARD_ABOUT = (
    "Zephyr board target", r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}(?:@[A-Za-z0-9_.-]{1,32})?"
    r"(?:/[A-Za-z0-9][A-Za-z0-9_-]{0,63}){0,4}", "'nucleo_f746zg' or 'mps2/an386'")
_QEMU_NAME_ABOUT = ("QEMU name", r"[a-z0-9][a-z0-9._+-]{0,63}",
                    "'mps2-an386' or 'cortex-m4': lower-case letters, digits, '._+-'")
_URL_ABOUT = ("URL", r"https?://[A-Za-z0-9_.~/:@!&'()*+,;=%?#-]{1,200}",
              "'https://www.example.com/board'")

PioName: TypeAlias = Annotated[str, AfterValidator(_matcher(*_PIO_ID_ABOUT)),
                               _name_schema(*_PIO_ID_ABOUT)]
PioPlatform: TypeAlias = Annotated[str, AfterValidator(_matcher(*_PIO_PLATFORM_ABOUT)),
                                   _name_schema(*_PIO_PLATFORM_ABOUT)]
ZephyrBoard: TypeAlias = Annotated[str, AfterValidator(_matcher(*_ZEPHYR_BOARD_ABOUT)),
                                   _name_schema(*_ZEPHYR_BOARD_ABOUT)]
QemuName: TypeAlias = Annotated[str, AfterValidator(_matcher(*_QEMU_NAME_ABOUT)),
                                _name_schema(*_QEMU_NAME_ABOUT)]
Url: TypeAlias = Annotated[str, AfterValidator(_matcher(*_URL_ABOUT)), _name_schema(*_URL_ABOUT)]

QEMU_EXTRA_OPTIONS = ("-m", "-smp", "-global")
"""The only QEMU options ``emulator.extra_args`` may add: none of them touches host files,
devices, networks or the semihosting and sandbox settings mcuforge chooses."""
_QEMU_VALUE = re.compile(r"[A-Za-z0-9_.,=:+-]{1,64}")


def _check_extra_args(args: tuple[str, ...]) -> tuple[str, ...]:
    """Pairs of an allowed option and a plain value (no '$', quotes, spaces, paths)."""
    if len(args) % 2:
        raise PydanticCustomError("args", "expected pairs of an option and its value, got {n} "
                                  "item(s)", {"n": len(args)})
    for i in range(0, len(args), 2):
        option, value = args[i], args[i + 1]
        if option not in QEMU_EXTRA_OPTIONS:
            raise PydanticCustomError(
                "args", "[{i}]: {option} is not an option a board may add (allowed: {allowed})",
                {"i": i, "option": _shown(option), "allowed": ", ".join(QEMU_EXTRA_OPTIONS)})
        if not _QEMU_VALUE.fullmatch(value) or value.startswith("-"):
            raise PydanticCustomError(
                "args", "[{i}]: {value} is not a plain value (letters, digits, '_.,=:+-')",
                {"i": i + 1, "value": _shown(value)})
    return args


_FORBIDDEN_IN_TEXT = ("*/", "/*", "${", "\\")


def _check_text(limit: int) -> Callable[[str], str]:
    """A validator for free text: 1 to ``limit`` printable characters, none of
    ``_FORBIDDEN_IN_TEXT``."""
    def check(text: str) -> str:
        if not text:
            raise PydanticCustomError("text", "must not be empty")
        if len(text) > limit:
            raise PydanticCustomError("text", "is {n} characters long; at most {limit} are "
                                      "allowed", {"n": len(text), "limit": limit})
        bad = next((ch for ch in text if not ch.isprintable()), None)
        if bad is not None:
            raise PydanticCustomError(
                "text", "holds the control character {code} at position {at}: one line of "
                "printable text is expected", {"code": f"U+{ord(bad):04X}", "at": text.index(bad)})
        seq = next((s for s in _FORBIDDEN_IN_TEXT if s in text), None)
        if seq is not None:
            raise PydanticCustomError("text", "must not contain '{seq}', which generated files "
                                      "read as syntax (a comment's end, a substitution, an "
                                      "escape)", {"seq": seq})
        return text
    return check


def _text_schema(limit: int) -> WithJsonSchema:
    return WithJsonSchema({
        "type": "string", "minLength": 1, "maxLength": limit,
        "pattern": r"^(?!.*(\*/|/\*|\$\{))[^\\\u0000-\u001f\u007f-\u009f\u2028\u2029]*$",
        "description": f"one line of printable text, at most {limit} characters"})


Text: TypeAlias = Annotated[str, AfterValidator(_check_text(200)), _text_schema(200)]
LongText: TypeAlias = Annotated[str, AfterValidator(_check_text(2000)), _text_schema(2000)]


def format_size(n_bytes: int) -> str:
    """262144 → ``"256 KB"``; 2097152 → ``"2 MB"``; sizes that are not whole KB stay in bytes."""
    for unit, scale in (("MB", 1024**2), ("KB", 1024)):
        if n_bytes >= scale and n_bytes % scale == 0:
            return f"{n_bytes // scale} {unit}"
    return f"{n_bytes} B"


# --------------------------------------------------------------------------------------------------
# Enumerations


class Core(enum.StrEnum):
    CORTEX_M0PLUS = "cortex-m0plus"
    CORTEX_M3 = "cortex-m3"
    CORTEX_M4 = "cortex-m4"
    CORTEX_M4F = "cortex-m4f"
    CORTEX_M7 = "cortex-m7"
    CORTEX_M33 = "cortex-m33"
    CORTEX_M55 = "cortex-m55"


class Fpu(enum.StrEnum):
    NONE = "none"
    SP = "sp"
    DP = "dp"


ALLOWED_FPUS: Mapping[Core, frozenset[Fpu]] = {
    Core.CORTEX_M0PLUS: frozenset({Fpu.NONE}),
    Core.CORTEX_M3: frozenset({Fpu.NONE}),
    Core.CORTEX_M4: frozenset({Fpu.NONE}),
    Core.CORTEX_M4F: frozenset({Fpu.SP}),
    Core.CORTEX_M7: frozenset({Fpu.NONE, Fpu.SP, Fpu.DP}),
    Core.CORTEX_M33: frozenset({Fpu.NONE, Fpu.SP}),
    Core.CORTEX_M55: frozenset({Fpu.NONE, Fpu.DP}),
}

MVE_CORES = frozenset({Core.CORTEX_M55})
"""Cores that may have the M-profile Vector Extension (Helium)."""


class RegionKind(enum.StrEnum):
    RAM = "ram"
    FLASH = "flash"


class MicKind(enum.StrEnum):
    PDM = "pdm"
    I2S = "i2s"


class PixelFormat(enum.StrEnum):
    RGB565 = "rgb565"
    GRAYSCALE = "grayscale"
    YUV422 = "yuv422"


# --------------------------------------------------------------------------------------------------
# Models


class _Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, use_enum_values=False)


class MemoryRegion(_Frozen):
    """One contiguous range of the address space."""

    name: Identifier
    origin: Address
    length: PositiveSize
    kind: RegionKind
    reserved: bool = Field(
        default=False,
        description="occupied by a bootloader or vendor firmware; not available to the application",
    )

    @property
    def end(self) -> int:
        """One past the last byte."""
        return self.origin + self.length


class Memory(_Frozen):
    """On-chip memory. ``sram``/``flash`` must equal the sums of the ``ram``/``flash`` regions."""

    sram: PositiveSize = Field(description="total on-chip SRAM the application may use")
    flash: PositiveSize = Field(description="total flash for code and constants")
    stack_bytes: PositiveSize = Field(description="SRAM reserved for the main stack")
    regions: tuple[MemoryRegion, ...]

    @field_validator("stack_bytes")
    @classmethod
    def _stack_fits(cls, value: int, info: ValidationInfo) -> int:
        sram = info.data.get("sram")
        if isinstance(sram, int) and value >= sram:
            raise PydanticCustomError(
                "stack", "stack reserve {stack} is not smaller than sram {sram}",
                {"stack": format_size(value), "sram": format_size(sram)})
        return value

    @field_validator("regions")
    @classmethod
    def _regions_consistent(
        cls, regions: tuple[MemoryRegion, ...], info: ValidationInfo
    ) -> tuple[MemoryRegion, ...]:
        _check_unique_names(regions)
        _check_no_overlap(regions)
        for kind, total_field in ((RegionKind.RAM, "sram"), (RegionKind.FLASH, "flash")):
            _check_region_total(regions, kind, total_field, info.data.get(total_field))
        return regions

    def regions_of(self, kind: RegionKind) -> tuple[MemoryRegion, ...]:
        """The regions of one kind that the application may use (reserved ones left out)."""
        return tuple(r for r in self.regions if r.kind is kind and not r.reserved)

    @property
    def usable_sram(self) -> int:
        return sum(r.length for r in self.ram_regions)

    @property
    def usable_flash(self) -> int:
        return sum(r.length for r in self.flash_regions)

    @property
    def ram_regions(self) -> tuple[MemoryRegion, ...]:
        return self.regions_of(RegionKind.RAM)

    @property
    def flash_regions(self) -> tuple[MemoryRegion, ...]:
        return self.regions_of(RegionKind.FLASH)


def _check_unique_names(regions: Iterable[MemoryRegion]) -> None:
    seen: set[str] = set()
    for region in regions:
        if region.name in seen:
            raise PydanticCustomError("region", "region name '{name}' is used twice",
                                      {"name": region.name})
        seen.add(region.name)


def _check_no_overlap(regions: Iterable[MemoryRegion]) -> None:
    ordered = sorted(regions, key=lambda r: r.origin)
    for region in ordered:
        if region.end > 2**32:
            raise PydanticCustomError("region", "region '{a}' ends beyond the 4 GB address space",
                                      {"a": region.name})
    for low, high in itertools.pairwise(ordered):
        if high.origin < low.end:
            raise PydanticCustomError(
                "region", "regions '{a}' and '{b}' overlap ('{a}' ends at {end}, '{b}' starts at "
                "{start})", {"a": low.name, "b": high.name, "end": hex(low.end),
                             "start": hex(high.origin)})


def _check_region_total(
    regions: Iterable[MemoryRegion], kind: RegionKind, total_field: str, total: object
) -> None:
    of_kind = [r for r in regions if r.kind is kind]
    lengths = [r.length for r in of_kind]
    if all(r.reserved for r in of_kind):
        raise PydanticCustomError("region", "no usable (non-reserved) region of kind '{kind}'",
                                  {"kind": kind.value})
    if isinstance(total, int) and sum(lengths) != total:
        raise PydanticCustomError(
            "region", "the {kind} regions add up to {got} but memory.{field} is {want}",
            {"kind": kind.value, "got": format_size(sum(lengths)), "field": total_field,
             "want": format_size(total)})


class PlatformIO(_Frozen):
    """How PlatformIO names this board."""

    platform: PioPlatform
    board: PioName
    framework: PioName | None = None
    local_platform: bool = Field(
        default=False,
        description=f"the platform is mcuforge's own offline '{LOCAL_PLATFORM_NAME}' platform",
    )

    @field_validator("local_platform")
    @classmethod
    def _local_platform_name(cls, value: bool, info: ValidationInfo) -> bool:
        platform = info.data.get("platform")
        if value and platform is not None and platform != LOCAL_PLATFORM_NAME:
            raise PydanticCustomError(
                "platform", "local_platform is true but platform is '{got}', not '{want}'",
                {"got": platform, "want": LOCAL_PLATFORM_NAME})
        return value


class Zephyr(_Frozen):
    board: ZephyrBoard = Field(description="the Zephyr board target, e.g. nucleo_f746zg")


class Microphone(_Frozen):
    kind: MicKind
    sample_rate_hz: Annotated[int, Field(gt=0)]
    model: Text | None = None


class Camera(_Frozen):
    model: Text
    width: Annotated[int, Field(gt=0)]
    height: Annotated[int, Field(gt=0)]
    pixel_format: PixelFormat
    interface: Text | None = None
    accessory: bool = Field(
        default=False, description="the sensor is a separate module for a connector on the board")


class Imu(_Frozen):
    model: Text
    rate_hz: Annotated[float, Field(gt=0)]


class Peripherals(_Frozen):
    microphone: Microphone | None = None
    camera: Camera | None = None
    imu: Imu | None = None

    def present(self) -> tuple[str, ...]:
        """Names of the peripherals this board has, in a fixed order."""
        found = (("microphone", self.microphone), ("camera", self.camera), ("imu", self.imu))
        return tuple(name for name, value in found if value is not None)


class Emulator(_Frozen):
    """How to run this board's firmware in qemu-system-arm."""

    machine: QemuName = Field(description="qemu-system-arm -M value, e.g. mps2-an386")
    cpu: QemuName | None = Field(default=None,
                                 description="qemu -cpu value; the machine's default if absent")
    extra_args: Annotated[tuple[str, ...], AfterValidator(_check_extra_args)] = Field(
        default=(), description="extra qemu-system-arm arguments: pairs of an option among "
        + ", ".join(QEMU_EXTRA_OPTIONS) + " and a plain value")


class Board(_Frozen):
    """A validated board definition."""

    name: Identifier = Field(description="the board id; equal to the YAML file's stem")
    display_name: Text
    vendor: Text
    mcu: Text
    core: Core
    fpu: Fpu
    clock_hz: Annotated[int, Field(gt=0)]
    mve: bool = Field(False, description="the core has the M-profile Vector Extension (Helium): "
                      "mcuforge then builds its kernels with it (Cortex-M55 only)")
    memory: Memory
    platformio: PlatformIO
    zephyr: Zephyr | None = None
    peripherals: Peripherals = Peripherals()
    emulator: Emulator | None = None
    url: Url | None = None
    notes: LongText | None = None

    @field_validator("fpu")
    @classmethod
    def _fpu_matches_core(cls, value: Fpu, info: ValidationInfo) -> Fpu:
        core = info.data.get("core")
        if isinstance(core, Core) and value not in ALLOWED_FPUS[core]:
            allowed = ", ".join(sorted(f.value for f in ALLOWED_FPUS[core]))
            raise PydanticCustomError(
                "fpu", "a {core} core cannot have fpu '{fpu}' (allowed: {allowed})",
                {"core": core.value, "fpu": value.value, "allowed": allowed})
        return value

    @field_validator("mve")
    @classmethod
    def _mve_matches_core(cls, value: bool, info: ValidationInfo) -> bool:
        core = info.data.get("core")
        if value and isinstance(core, Core) and core not in MVE_CORES:
            allowed = ", ".join(sorted(c.value for c in MVE_CORES))
            raise PydanticCustomError(
                "mve", "a {core} core has no MVE (Helium); only {allowed} may say mve: true",
                {"core": core.value, "allowed": allowed})
        return value

    @property
    def is_emulated(self) -> bool:
        return self.emulator is not None


# --------------------------------------------------------------------------------------------------
# Compiler flags derived from the core


_GCC_CPU = {
    Core.CORTEX_M0PLUS: "cortex-m0plus",
    Core.CORTEX_M3: "cortex-m3",
    Core.CORTEX_M4: "cortex-m4",
    Core.CORTEX_M4F: "cortex-m4",
    Core.CORTEX_M7: "cortex-m7",
    Core.CORTEX_M33: "cortex-m33",
    Core.CORTEX_M55: "cortex-m55",
}
_GCC_FPU = {
    (Core.CORTEX_M4F, Fpu.SP): "fpv4-sp-d16",
    (Core.CORTEX_M7, Fpu.SP): "fpv5-sp-d16",
    (Core.CORTEX_M7, Fpu.DP): "fpv5-d16",
    (Core.CORTEX_M33, Fpu.SP): "fpv5-sp-d16",
    # -mfpu=auto takes the FPU (and MVE, unless -mcpu says +nomve) from -mcpu
    (Core.CORTEX_M55, Fpu.DP): "auto",
}


def gcc_cpu(board: Board) -> str:
    """The ``-mcpu=`` value for arm-none-eabi-gcc (with the extensions the board lacks removed)."""
    cpu = _GCC_CPU[board.core]
    if board.core is Core.CORTEX_M55:
        if not board.mve:
            cpu += "+nomve"
        if board.fpu is Fpu.NONE:
            cpu += "+nofp"
    return cpu


def gcc_fpu(board: Board) -> str | None:
    """The ``-mfpu=`` value, or None for a core without an FPU."""
    return _GCC_FPU.get((board.core, board.fpu))


def cpu_flags(board: Board) -> tuple[str, ...]:
    """Code-generation flags for arm-none-eabi-gcc (compile and link): cpu, Thumb, float ABI."""
    fpu = gcc_fpu(board)
    if fpu is None:
        return (f"-mcpu={gcc_cpu(board)}", "-mthumb", "-mfloat-abi=soft")
    return (f"-mcpu={gcc_cpu(board)}", "-mthumb", "-mfloat-abi=hard", f"-mfpu={fpu}")


# --------------------------------------------------------------------------------------------------
# Loading


def _display_path(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


def _format_loc(loc: tuple[int | str, ...]) -> str:
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else part)
    return text or "(top level)"


def _allowed_fields(loc: tuple[int | str, ...]) -> list[str]:
    """The field names allowed in the mapping that holds ``loc``'s last key."""
    model: type[BaseModel] = Board
    for part in loc[:-1]:
        if isinstance(part, int):
            continue
        nested = _nested_model(model, part)
        if nested is None:
            return []
        model = nested
    return list(model.model_fields)


def _nested_model(model: type[BaseModel], field: str) -> type[BaseModel] | None:
    info = model.model_fields.get(field)
    if info is None:
        return None
    candidates = [info.annotation, *getattr(info.annotation, "__args__", ())]
    for candidate in candidates:
        for inner in (candidate, *getattr(candidate, "__args__", ())):
            if isinstance(inner, type) and issubclass(inner, BaseModel):
                return inner
    return None


def _describe_error(error: Mapping[str, Any]) -> str:
    loc = tuple(error["loc"])
    where = _format_loc(loc)
    if error["type"] == "extra_forbidden":
        allowed = _allowed_fields(loc)
        close = difflib.get_close_matches(str(loc[-1]), allowed, n=1)
        guess = f"; did you mean '{close[0]}'?" if close else ""
        return f"{where}: unknown field{guess} (allowed here: {', '.join(allowed)})"
    if error["type"] == "missing":
        return f"{where}: required field is missing"
    return f"{where}: {error['msg']}"


def _validation_error(source: str, exc: ValidationError) -> BoardError:
    lines = [f"{source}: {_describe_error(e)}" for e in exc.errors()]
    return BoardError("\n".join(lines), hint=_SCHEMA_HINT)


def _read_yaml(path: Path) -> dict[str, Any]:
    source = _display_path(path)
    try:
        data = parse_yaml(read_text(path, "board file"), source)
    except InputError as exc:
        message = exc.message.replace(str(path), source, 1)
        if message == f"{source}: no such file or directory":
            message = f"{source}: cannot read the board file (No such file or directory)"
        raise BoardError(message, hint="check the path; `mcuforge boards list` shows the shipped "
                         "boards" if "cannot read" in message else exc.hint) from None
    if data is None:
        raise BoardError(f"{source}: the file is empty; expected a mapping of board fields",
                         hint=_SCHEMA_HINT)
    if not isinstance(data, dict):
        raise BoardError(f"{source}: (top level): expected a mapping of board fields, "
                         f"got {type(data).__name__}", hint=_SCHEMA_HINT)
    return data


def validate_board_file(path: str | Path) -> Board:
    """Load and validate one board YAML file; the board's ``name`` must equal the file stem."""
    path = Path(path)
    source = _display_path(path)
    data = _read_yaml(path)
    try:
        board = Board.model_validate(data)
    except ValidationError as exc:
        raise _validation_error(source, exc) from None
    if board.name != path.stem:
        raise BoardError(f"{source}: name: '{board.name}' does not match the file name "
                         f"'{path.stem}'", hint=f"rename the file or set name: {path.stem}")
    return board


def _board_files() -> list[Path]:
    return sorted(boards_dir().glob(f"*{BOARD_SUFFIX}"))


def known_board_names() -> list[str]:
    return [p.stem for p in _board_files()]


def _looks_like_path(name_or_path: str | Path) -> bool:
    if isinstance(name_or_path, Path):
        return True
    return name_or_path.endswith((BOARD_SUFFIX, ".yml")) or "/" in name_or_path or "\\" in name_or_path


def load_board(name_or_path: str | Path) -> Board:
    """A shipped board by name (``"pico"``), or any board YAML by path."""
    if _looks_like_path(name_or_path):
        return validate_board_file(name_or_path)
    path = boards_dir() / f"{name_or_path}{BOARD_SUFFIX}"
    if not path.is_file():
        known = ", ".join(known_board_names()) or "(none)"
        raise BoardError(f"unknown board '{name_or_path}'; known boards: {known}",
                         hint="pass one of the known names or the path to a board YAML file")
    return validate_board_file(path)


def list_boards() -> list[Board]:
    """Every shipped board, sorted by name."""
    return [validate_board_file(p) for p in _board_files()]


# --------------------------------------------------------------------------------------------------
# JSON schema


def board_json_schema() -> dict[str, Any]:
    schema = Board.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["$comment"] = ("Generated from generator/boards.py by `mcuforge boards schema --write`; "
                          "do not edit by hand.")
    return schema


def board_json_schema_text() -> str:
    return json.dumps(board_json_schema(), indent=2) + "\n"


def schema_path() -> Path:
    return boards_dir() / SCHEMA_FILE_NAME


def write_json_schema(path: Path | None = None) -> Path:
    target = path or schema_path()
    target.write_text(board_json_schema_text(), encoding="utf-8")
    return target
