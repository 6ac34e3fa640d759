"""Procedures: the schema of procedure files, the runner (state machine, journal, resume), the steps."""
