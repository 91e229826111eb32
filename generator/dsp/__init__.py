"""App front-ends: raw sensor data -> int8 model input, in C for the firmware and in Python.

Each front-end is one frozen configuration dataclass, a Python twin that computes exactly what the C
computes (for training data and tests), and fixed C sources under ``generator/runtime/frontend/``
configured by generated headers (see :mod:`generator.dsp.emit`).
"""

from generator.dsp.audio import MfccConfig, mfcc_features, mfcc_float, mfcc_tables
from generator.dsp.cheader import FrontendConfig
from generator.dsp.emit import (
    CONFIG_HEADER,
    emit_config_header,
    emit_tables_header,
    frontend_files,
    frontend_source_dir,
    write_frontend_files,
)
from generator.dsp.image import (
    ImageConfig,
    image_features,
    image_float,
    image_pixels,
    pack_frame,
)
from generator.dsp.sensor import SensorConfig, sensor_features, sensor_float

__all__ = [
    "CONFIG_HEADER",
    "FrontendConfig",
    "ImageConfig",
    "MfccConfig",
    "SensorConfig",
    "emit_config_header",
    "emit_tables_header",
    "frontend_files",
    "frontend_source_dir",
    "image_features",
    "image_float",
    "image_pixels",
    "mfcc_features",
    "mfcc_float",
    "mfcc_tables",
    "pack_frame",
    "sensor_features",
    "sensor_float",
    "write_frontend_files",
]
