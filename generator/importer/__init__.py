"""Model import: the only part of mcuforge that imports TensorFlow (lazily)."""

import os

# TensorFlow's native logging (oneDNN notices, absl warnings) is noise for mcuforge's users.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
