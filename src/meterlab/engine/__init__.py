"""The engine: running a plan on a rig (runner state machine and run control, measurement of a point,
session assembling a run from its input files, events, operator prompts, rig-time estimates)."""
