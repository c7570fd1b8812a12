"""Sales channels, their clerks, and (later) SIM-kit stock movements."""
