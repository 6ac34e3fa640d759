"""`python -m meterlab`: the same command line as `meterlab`."""

from meterlab.cli import app

app()
