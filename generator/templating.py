"""The one strict Jinja2 environment: an undefined variable is an error, never an empty string."""

from __future__ import annotations

from functools import cache
from pathlib import Path

import jinja2

from generator.resources import templates_dir


@cache
def environment(root: Path | None = None) -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(root or templates_dir())),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
        autoescape=False,
    )


def render(template: str, **context: object) -> str:
    return environment().get_template(template).render(**context)
