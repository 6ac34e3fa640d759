"""`meterlab instruments ...`: check a bench, list the drivers."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from meterlab.errors import MeterlabError
from meterlab.instruments.bench import SIMULATED_BENCH

instruments_app = typer.Typer(help="Instrument drivers and bench descriptions.", no_args_is_help=True)


@instruments_app.command()
def check(
    bench: Path = typer.Option(SIMULATED_BENCH, help="Bench file to check."),
    scenario: Path | None = typer.Option(None, help="Scenario for the simulated instruments, if any."),
    show_io: bool = typer.Option(False, "--show-io", help="Print the I/O log of the check."),
) -> None:
    """Connect to every instrument of a bench, identify it, print OK or the failure.

    Simulated instruments (`sim: true`) are served by a simulated lab started for the check."""
    from meterlab.instruments.bench import load_bench
    from meterlab.instruments.iolog import MemoryIOLog

    console = Console()
    try:
        bench_model = load_bench(bench)
        lab = _start_lab(bench_model, scenario, bench) if bench_model.simulated else None
    except MeterlabError as exc:
        console.print(f"[red]{exc}[/red]", soft_wrap=True)
        raise typer.Exit(2) from None
    iolog = MemoryIOLog()
    try:
        failures = _check_all(console, bench_model, lab.resources if lab else {}, iolog)
    finally:
        if lab:
            lab.stop()
    if show_io:
        for entry in iolog.entries():
            typer.echo(str(entry))
    if failures:
        console.print(f"[red]{failures} of {len(bench_model.instruments)} instrument(s) failed[/red]")
        raise typer.Exit(1)
    console.print(f"[green]all {len(bench_model.instruments)} instruments answered[/green]")


def _start_lab(bench, scenario: Path | None, bench_path: Path, clock_scale: float = 1.0):
    from meterlab.sim.lab import SimLab
    from meterlab.sim.scenario import load_scenario_or_default

    return SimLab(bench, load_scenario_or_default(scenario, bench_path)[0], clock_scale=clock_scale).start()


def _address(entry, resource: str | None) -> str:
    if resource:
        return f"{resource} (simulated)"
    if entry.resource:
        return entry.resource
    modbus = entry.modbus
    return f"modbus {modbus.host}:{modbus.port}" if modbus.host else f"modbus {modbus.serial_port}"


def _check_all(console: Console, bench, resources: dict[str, str], iolog) -> int:
    """Two lines per instrument (name, driver, address; then OK + identity or FAILED + why)."""
    from meterlab.instruments.bench import open_instrument

    console.print(f"bench {bench.bench!r}: {len(bench.instruments)} instrument(s)", soft_wrap=True)
    failures = 0
    for name, entry in bench.instruments.items():
        try:
            with open_instrument(name, entry, iolog, resources.get(name)) as instrument:
                identity = instrument.identify()
                instrument.check_errors()
            result = f"  [green]OK[/green]     {identity}"
        except MeterlabError as exc:
            failures += 1
            result = f"  [red]FAILED[/red] {exc}"
        console.print(f"[bold]{name}[/bold]  {entry.driver}  {_address(entry, resources.get(name))}", soft_wrap=True)
        console.print(result, soft_wrap=True, highlight=False)
    return failures


@instruments_app.command("drivers")
def list_drivers() -> None:
    """List the driver keys a bench file can use."""
    from meterlab.instruments.registry import ENTRIES

    table = Table(title="instrument drivers")
    for column in ("driver", "simulated", "instrument"):
        table.add_column(column)
    for entry in ENTRIES:
        table.add_row(entry.key, "yes" if entry.sim_device else "no", entry.summary)
    Console().print(table)


# --------------------------------------------------------------------------------------------------------
# rf-levels: the level calibration of an RF immunity chain
# --------------------------------------------------------------------------------------------------------

RF_KINDS = ("conducted_rf", "radiated_rf")
RF_SENSOR_ROLE = {"conducted_rf": "rf_power_meter", "radiated_rf": "field_probe"}


@instruments_app.command("rf-levels")
def rf_levels(
    kind: str = typer.Option(..., help="conducted_rf (CDN + adaptor + power meter) or radiated_rf (field probe)."),
    level_v: float = typer.Option(..., "--level-v", "--level", help="Test level: e.m.f. in V (conducted_rf) or "
                                  "field strength in V/m (radiated_rf), unmodulated."),
    out: Path = typer.Option(..., help="Level table to write (YAML); name it in the bench file under "
                             "rf_generator equipment.level_tables.<kind>."),
    bench: Path = typer.Option(SIMULATED_BENCH, help="Bench file with the RF chain."),
    scenario: Path | None = typer.Option(None, help="Scenario for a simulated bench (default: the lab's default)."),
    severities: str = typer.Option("d11-2013", help="Severity profile giving the frequency range and step."),
    start_hz: float | None = typer.Option(None, help="First frequency (default: the severity profile's)."),
    stop_hz: float | None = typer.Option(None, help="Last frequency (default: the severity profile's)."),
    step_pct: float | None = typer.Option(None, help="Frequency step in % (default: the severity profile's)."),
    max_level_dbm: float | None = typer.Option(None, help="Most the amplifier input may take (default: the "
                                               "rf_amplifier's equipment.max_input_dbm, else 0 dBm)."),
    start_level_dbm: float = typer.Option(-40.0, help="Generator level the levelling starts from."),
    tolerance_db: float = typer.Option(0.1, min=0.001, help="Levelling tolerance at the sensor."),
    attenuation_db: float | None = typer.Option(None, help="Conducted: attenuator between adaptor and sensor "
                                                "(default: the rf_power_meter's equipment.attenuation_db, else 0)."),
    linearity_step_db: float | None = typer.Option(None, help="Also record the sensor rise for this much more "
                                                   "drive (compression check)."),
    clock_scale: float = typer.Option(1000.0, min=1.0, help="Simulated bench only: simulated seconds per second."),
) -> None:
    """Level-calibrate the bench's RF chain (unmodulated, per frequency) and store the table a test replays.

    Conducted: the power meter on the CDN's adaptor reads level_v / 6. Radiated: the probe reads level_v.

    A simulated bench is calibrated on a simulated lab started for it. The RF is off on every exit."""
    console = Console()
    try:
        setup = _rf_setup(kind, level_v, bench, severities, start_hz, stop_hz, step_pct)
    except MeterlabError as exc:
        console.print(f"[red]{exc}[/red]", soft_wrap=True, highlight=False)
        raise typer.Exit(2) from None
    bench_model, frequencies, params = setup
    lab = None
    try:
        lab = _start_lab(bench_model, scenario, bench, clock_scale) if bench_model.simulated else None
        table = _calibrate_rf(console, bench_model, kind, level_v, frequencies, params, lab,
                              max_level_dbm=max_level_dbm, start_level_dbm=start_level_dbm,
                              tolerance_db=tolerance_db, attenuation_db=attenuation_db,
                              linearity_step_db=linearity_step_db)
    except KeyboardInterrupt:
        console.print("[yellow]stopped: the RF is off, no table written[/yellow]")
        raise typer.Exit(130) from None
    except MeterlabError as exc:
        console.print(f"[red]{exc}[/red]\n[red]no table written; the RF is off[/red]", soft_wrap=True,
                      highlight=False)
        raise typer.Exit(1) from None
    finally:
        if lab is not None:
            lab.stop()
    from meterlab.instruments.rf_immunity import save_level_table

    save_level_table(table, out)
    levels = [p.generator_level_dbm for p in table.points]
    console.print(f"[green]{out}[/green]: {kind} at {level_v:g} {'V' if kind == 'conducted_rf' else 'V/m'}, "
                  f"{len(table.points)} frequencies, generator {min(levels):.2f} .. {max(levels):.2f} dBm",
                  soft_wrap=True, highlight=False)
    console.print(f"name it in {bench}: rf_generator equipment.level_tables.{kind}", soft_wrap=True, highlight=False)


def _rf_setup(kind: str, level_v: float, bench: Path, severities: str, start_hz, stop_hz, step_pct):
    """Bench, frequency list and calibration parameters, all checked before any instrument is touched."""
    from meterlab.errors import DeclarationError
    from meterlab.instruments.bench import load_bench
    from meterlab.instruments.rf_immunity import frequency_steps
    from meterlab.procedures.severities import load_severities

    if kind not in RF_KINDS:
        raise DeclarationError("--kind", kind, " or ".join(RF_KINDS))
    if not level_v > 0:
        raise DeclarationError("--level-v", level_v, "a level > 0")
    bench_model = load_bench(bench)
    for role in ("rf_generator", RF_SENSOR_ROLE[kind]):
        if len(bench_model.by_role(role)) != 1:
            raise MeterlabError(f"{bench}: a {kind} calibration needs one instrument with role {role} "
                                f"(found {len(bench_model.by_role(role))})")
    common = load_severities(severities).test(kind).common.given()
    params = {"frequency_start_hz": start_hz if start_hz is not None else common.get("frequency_start_hz"),
              "frequency_stop_hz": stop_hz if stop_hz is not None else common.get("frequency_stop_hz"),
              "step_pct": step_pct if step_pct is not None else common.get("step_pct")}
    missing = [name for name, value in params.items() if value is None]
    if missing:
        raise MeterlabError(f"severity profile {severities}, test {kind}: no {', '.join(missing)} in `common`; "
                            "give --start-hz/--stop-hz/--step-pct")
    frequencies = frequency_steps(params["frequency_start_hz"], params["frequency_stop_hz"], params["step_pct"])
    return bench_model, frequencies, params


def _equipment_value(bench, role: str, key: str) -> float | None:
    names = bench.by_role(role)
    value = bench.instruments[names[0]].equipment.get(key) if names else None
    return float(value) if value is not None else None


def _calibrate_rf(console: Console, bench, kind: str, level_v: float, frequencies: list[float], params: dict, lab,
                  **options):
    """Open the chain's instruments, level every frequency with a Rich progress bar, return the table."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from meterlab.instruments.bench import open_instrument
    from meterlab.instruments.iolog import MemoryIOLog
    from meterlab.instruments.rf_immunity import calibrate_field_levels, calibrate_levels

    resources = lab.resources if lab else {}
    roles = ["rf_generator", RF_SENSOR_ROLE[kind]] + (["rf_amplifier"] if bench.by_role("rf_amplifier") else [])
    names = {role: bench.by_role(role)[0] for role in roles}
    iolog, opened = MemoryIOLog(), {}
    max_level = options.pop("max_level_dbm")
    if max_level is None:
        max_level = _equipment_value(bench, "rf_amplifier", "max_input_dbm") or 0.0
    attenuation = options.pop("attenuation_db")
    if attenuation is None:
        attenuation = _equipment_value(bench, "rf_power_meter", "attenuation_db") or 0.0
    try:
        for role, name in names.items():
            opened[role] = open_instrument(name, bench.instruments[name], iolog, resources.get(name))
        with Progress(TextColumn(f"{kind} {level_v:g}"), BarColumn(), MofNCompleteColumn(),
                      TextColumn("{task.description}"), TimeElapsedColumn(), console=console) as progress:
            task = progress.add_task("", total=len(frequencies))

            def on_point(point) -> None:
                progress.update(task, advance=1, description=f"{point.frequency_hz / 1e6:.4f} MHz  "
                                f"{point.generator_level_dbm:+.2f} dBm")

            common = dict(params, amplifier=opened.get("rf_amplifier"), max_level_dbm=max_level, bench=bench.bench,
                          on_point=on_point, **options)
            if kind == "conducted_rf":
                return calibrate_levels(opened["rf_generator"], opened["rf_power_meter"], emf_v=level_v,
                                        attenuation_db=attenuation, **common)
            return calibrate_field_levels(opened["rf_generator"], opened["field_probe"], field_v_per_m=level_v,
                                          **common)
    finally:
        for instrument in opened.values():
            instrument.close()
