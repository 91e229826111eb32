"""The front-end files a firmware project compiles: generated headers plus the fixed C sources.

A project using, say, the MFCC front-end needs ``mcuf_frontend_config.h`` and ``mcuf_mfcc_tables.h``
(generated here from its :class:`~generator.dsp.audio.MfccConfig`) beside the fixed
``mcuf_mfcc.h`` and ``mcuf_mfcc.c`` from ``generator/runtime/frontend/``.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from generator.dsp.cheader import (
    FrontendConfig,
    render_config_header,
    render_tables_header,
    tables_header_name,
)
from generator.errors import InputError
from generator.resources import runtime_dir

CONFIG_HEADER = "mcuf_frontend_config.h"


def frontend_source_dir() -> Path:
    """The fixed C sources: ``mcuf_<kind>.h`` and ``mcuf_<kind>.c`` per front-end."""
    return runtime_dir() / "frontend"


def _checked(configs: tuple[FrontendConfig, ...]) -> tuple[FrontendConfig, ...]:
    if not configs:
        raise InputError("no front-end configuration given",
                         "pass an MfccConfig, ImageConfig or SensorConfig")
    dupes = sorted(k for k, n in Counter(c.kind for c in configs).items() if n > 1)
    if dupes:
        raise InputError(f"more than one {', '.join(dupes)} front-end configuration",
                         "a firmware project has at most one front-end of each kind")
    for cfg in configs:
        cfg.validate()
    return configs


def emit_config_header(*configs: FrontendConfig) -> str:
    """``mcuf_frontend_config.h``: one block of ``MCUF_<KIND>_*`` macros per configuration."""
    return render_config_header(_checked(configs))


def emit_tables_header(cfg: FrontendConfig) -> str:
    """``mcuf_<kind>_tables.h``: the configuration's constant tables, for its .c file only."""
    return render_tables_header(_checked((cfg,))[0])


def frontend_files(*configs: FrontendConfig) -> dict[str, str]:
    """File name -> text of everything a firmware project compiles for these front-ends.

    Compile every ``.c`` in the result; put the folder holding the headers on the include path.
    """
    files = {CONFIG_HEADER: emit_config_header(*configs)}
    for cfg in configs:
        files[tables_header_name(cfg)] = emit_tables_header(cfg)
        for ext in ("h", "c"):
            name = f"mcuf_{cfg.kind}.{ext}"
            files[name] = (frontend_source_dir() / name).read_text()
    return files


def write_frontend_files(dest: Path, *configs: FrontendConfig) -> list[Path]:
    """Write :func:`frontend_files` into ``dest``; returns the ``.c`` files to compile."""
    dest.mkdir(parents=True, exist_ok=True)
    sources = []
    for name, text in frontend_files(*configs).items():
        (dest / name).write_text(text)
        if name.endswith(".c"):
            sources.append(dest / name)
    return sources
