"""`python -m meterlab.sim [options]` = `meterlab lab serve [options]`."""

import typer

from meterlab.sim.cli import serve

if __name__ == "__main__":
    typer.run(serve)
