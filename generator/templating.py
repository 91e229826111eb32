"""The one strict Jinja2 environment: an undefined variable is an error, never an empty string.

The encoders of :mod:`generator.encoders` are its filters (``{{ name | c_comment }}``). The project
templates, rendered by cookiecutter in an environment of its own, get the same filters through
:class:`EncoderFilters`, named in each ``cookiecutter.json`` under ``_extensions``.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

import jinja2
from jinja2.ext import Extension

from generator.encoders import FILTERS
from generator.resources import templates_dir


class EncoderFilters(Extension):
    """A Jinja extension whose only effect is to add every encoder as a filter."""

    def __init__(self, environment: jinja2.Environment) -> None:
        super().__init__(environment)
        environment.filters.update(FILTERS)


@cache
def environment(root: Path | None = None) -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(root or templates_dir())),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
        autoescape=False,
        extensions=[EncoderFilters],
    )


def render(template: str, **context: object) -> str:
    return environment().get_template(template).render(**context)
