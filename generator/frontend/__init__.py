"""Model import: the only part of mcuforge that imports TensorFlow (lazily)."""
