"""Firmware projects: model + board + app -> PlatformIO (and Zephyr) project, and running it.

``mcuforge generate`` is :func:`generator.project.generate.generate_project`; ``mcuforge run`` is
:func:`generator.project.run.run_project`. The stages live in one small module each: ``options``
(what the user asked), ``apps`` (the three apps and their Python twins), ``targets`` (PlatformIO
environments, Zephyr, ports), ``fit`` (memory check), ``replay`` (replayed input), ``render``
(cookiecutter templates in ``templates/projects``), ``manifest`` (``mcuforge.json``).
"""
