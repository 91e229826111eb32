"""Lowering of the elementwise and activation operators (ADD, MUL, MEAN, SOFTMAX, LOGISTIC)."""

from __future__ import annotations
