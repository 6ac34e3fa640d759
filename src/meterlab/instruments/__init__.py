"""Instrument drivers (one module per family), their transport, the I/O log and bench descriptions."""
