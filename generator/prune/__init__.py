"""Memory-aware structured pruning: remove whole channels where the planned SRAM peak is set."""
