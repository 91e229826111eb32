"""Render the project's cookiecutter template sets and compose them into one tree.

``templates/projects/`` holds one cookiecutter template per concern: ``common`` (README, port.h),
one per build system (``platformio``, ``zephyr``) and one per app (``kws``, ``vww``, ``sensor``).
Each is rendered on its own through cookiecutter's Python API into a scratch directory, read back,
and merged; two sets writing the same file is an error.

Every template's ``cookiecutter.json`` is its manifest: ``_mcuf`` (an empty mapping that receives the
whole generation context, unrendered, as ``cookiecutter._mcuf``), ``_requires`` (the context keys
the set reads; checked before rendering) and ``_copy_without_render`` (files copied verbatim).
Cookiecutter renders with ``StrictUndefined``: a template that names a missing variable fails the
generation instead of printing an empty string.

Large generated C (the engine with its weights, kernels, front-end tables, replay data) never goes
through a template; :mod:`generator.project.generate` adds it to the tree after rendering.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from generator.environment import scratch_dir
from generator.errors import McuforgeError
from generator.resources import templates_dir

CONTEXT_KEY = "_mcuf"
PROJECT_DIR = "project"
_HINT = "this is a bug in the project templates; please report it"


class TemplateError(McuforgeError):
    """A project template and the generation context disagree."""


@dataclass(frozen=True)
class TemplateSet:
    name: str
    path: Path
    requires: tuple[str, ...]


def projects_dir() -> Path:
    return templates_dir() / "projects"


def template_set(name: str, root: Path | None = None) -> TemplateSet:
    path = (root or projects_dir()) / name
    manifest = path / "cookiecutter.json"
    try:
        data = json.loads(manifest.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise TemplateError(f"{manifest}: cannot read the template manifest ({exc})", _HINT) from None
    if not isinstance(data.get(CONTEXT_KEY), dict) or not isinstance(data.get("_requires"), list):
        raise TemplateError(f"{manifest}: needs '{CONTEXT_KEY}': {{}} and '_requires': [...]", _HINT)
    return TemplateSet(name, path, tuple(data["_requires"]))


def render_set(tset: TemplateSet, context: Mapping[str, Any], workdir: Path) -> dict[str, str]:
    """Render one template set with ``context``; returns relative path -> text."""
    from cookiecutter.exceptions import CookiecutterException, UndefinedVariableInTemplate
    from cookiecutter.main import cookiecutter

    missing = [key for key in tset.requires if key not in context]
    if missing:
        raise TemplateError(f"templates/projects/{tset.name}: context lacks {', '.join(missing)}",
                            _HINT)
    out = workdir / tset.name
    settings = {"replay_dir": str(workdir / "replay"), "cookiecutters_dir": str(workdir / "cc")}
    try:
        cookiecutter(str(tset.path), no_input=True, output_dir=str(out), accept_hooks=False,
                     extra_context={CONTEXT_KEY: _plain(context)}, default_config=settings)
    except UndefinedVariableInTemplate as exc:
        raise TemplateError(f"templates/projects/{tset.name}: {exc.message}: {exc.error.message}",
                            _HINT) from None
    except CookiecutterException as exc:
        raise TemplateError(f"templates/projects/{tset.name}: {exc}", _HINT) from None
    root = out / PROJECT_DIR
    return {p.relative_to(root).as_posix(): p.read_text(encoding="utf-8")
            for p in sorted(root.rglob("*")) if p.is_file()}


def render_sets(names: Iterable[str], context: Mapping[str, Any],
                root: Path | None = None) -> dict[str, str]:
    """Render every named set and merge the results; a file written by two sets is an error."""
    merged: dict[str, str] = {}
    owner: dict[str, str] = {}
    with scratch_dir("mcuforge-render-") as tmp:
        for name in names:
            for rel, text in render_set(template_set(name, root), context, Path(tmp)).items():
                if rel in merged:
                    raise TemplateError(f"templates/projects/{name} and {owner[rel]} both write "
                                        f"{rel}", _HINT)
                merged[rel], owner[rel] = text, name
    return merged


def _plain(context: Mapping[str, Any]) -> dict[str, Any]:
    """A deep copy made of JSON types only (cookiecutter may mutate what it is given)."""
    copied: dict[str, Any] = json.loads(json.dumps(context))
    return copied
