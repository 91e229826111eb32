"""mcuforge: Keras / int8 TFLite models to C engines and firmware projects for microcontrollers."""

__version__ = "0.1.0"
