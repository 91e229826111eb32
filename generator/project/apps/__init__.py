"""The three apps a project can run: keyword spotting, visual wake words and sensor classification.

Each app module turns the model's input/output tensors, the board and the user's settings into an
:class:`AppPlan`: the front-end configuration (quantised to the model's input), the app settings,
labels, the replay data, the SRAM buffers the app adds and the values its ``app_config.h`` needs. Each
also has ``expected_inputs``: the Python twin of its ``main.c`` loop, giving the int8 model input of
every inference the firmware makes on the replay data (tests compare the firmware's scores on them).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import numpy as np
import numpy.typing as npt

from generator.boards import Board
from generator.codegen.schedule import IOSpec
from generator.project.apps import kws, sensor, vww
from generator.project.apps.common import AppPlan, AppRequest
from generator.project.options import AppKind

__all__ = ["AppPlan", "AppRequest", "expected_inputs", "plan_app"]

_PLANNERS: Mapping[AppKind, Callable[[IOSpec, IOSpec, Board, AppRequest], AppPlan]] = {
    AppKind.KWS: kws.plan,
    AppKind.VWW: vww.plan,
    AppKind.SENSOR: sensor.plan,
}
_TWINS: Mapping[AppKind, Callable[[AppPlan], list[npt.NDArray[np.int8]]]] = {
    AppKind.KWS: kws.expected_inputs,
    AppKind.VWW: vww.expected_inputs,
    AppKind.SENSOR: sensor.expected_inputs,
}


def plan_app(kind: AppKind, model_in: IOSpec, model_out: IOSpec, board: Board,
             request: AppRequest) -> AppPlan:
    return _PLANNERS[kind](model_in, model_out, board, request)


def expected_inputs(plan: AppPlan) -> list[npt.NDArray[np.int8]]:
    """The int8 model input of each inference the firmware runs on ``plan.replay``, in order."""
    return _TWINS[plan.kind](plan)
