"""Rigs: what a bench does for the engine (set a flow, measure a volume, disturb, set a climate, safe state),
one module per kind of bench over the shared contract in `base`, plus water conditioning, RF disturbance and
register readout. Built on the instruments' drivers by their roles."""
