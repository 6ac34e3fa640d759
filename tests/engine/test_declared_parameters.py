"""Programmes take the meters' declared values (`from_declaration:`) in place of their parameters: the DC and battery
voltages (declaration `supply:`), the working-pressure range (`working_pressure:`) and the permitted orientations
(`orientations:`); the parameter is the fallback when no meter declares the value, and the record says which was
used. Meters that contradict each other, and bad declarations, are refused naming the file and the field."""

from pathlib import Path

import pytest

from meterlab.calibration.register import Register
from meterlab.engine.prompts import AutoPrompter
from meterlab.engine.session import create_run, execute, load_inputs
from meterlab.errors import InputFileError, MeterlabError
from meterlab.metrology.declarations import load_meter
from meterlab.procedures.schema import Mount, SetGasPressure
from meterlab.records.store import Store
from meterlab.sim.clock import VIRTUAL

REPO = Path(__file__).resolve().parents[2]
BENCH = REPO / "instruments/sim-gas.yaml"
G4 = REPO / "examples/meters/g4-diaphragm.yaml"
SCENARIO = REPO / "examples/scenarios/g4-gas-meter.yaml"
SUPPLY = "supply: {rated_battery_v: 3.6, lowest_battery_v: 3.2, highest_battery_v: 3.9, rated_dc_v: 3.6}\n"


def meter(tmp_path, extra: str, name: str = "meter.yaml", serial: str | None = None) -> Path:
    text = G4.read_text(encoding="utf-8") + extra
    if serial:
        text = text.replace("serial: GM4-2026-0042", f"serial: {serial}")
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def inputs(tmp_path, programme: str, *meters: Path):
    return load_inputs(REPO / "procedures" / programme, list(meters), BENCH, SCENARIO)


def test_the_declared_battery_voltages_are_applied_and_recorded(tmp_path):
    run_inputs = inputs(tmp_path, "r137/battery-voltage.yaml", meter(tmp_path, SUPPLY))
    store, register = Store(str(tmp_path / "records.db")), Register.load(REPO / "calibration")
    run_id = create_run(store, run_inputs, operator="pytest", register=register, clock_scale=VIRTUAL)
    execute(store, run_id, prompter=AutoPrompter(), register=register)
    held = [e.payload["setting"] for e in store.entries(run_id, kinds=["action_done"]) if e.payload.get("setting")]
    assert [s["nominal_voltage_v"] for s in held] == [3.2, 3.9]  # the declaration's, not the programme's 3.0 / 3.7
    used = next(store.entries(run_id, kinds=["run_created"])).payload["declared_parameters"]
    assert used["lowest_battery_v"] == {"value": 3.2, "field": "supply.lowest_battery_v", "source": "declaration",
                                        "declared_by": ["GM4-2026-0042"]}


def test_without_a_declared_value_the_programme_s_parameter_is_used_and_said_so(tmp_path):
    run_inputs = inputs(tmp_path, "r137/working-pressure.yaml", G4)
    gauges = [s.gauge_pa for s, _, _ in run_inputs.procedure.walk() if isinstance(s, SetGasPressure) and s.gauge_pa]
    assert gauges == [1000, 2000]
    assert run_inputs.declared_parameters["min_working_gauge_pa"]["source"].startswith("programme parameter")
    assert run_inputs.declared_parameters["min_working_gauge_pa"]["declared_by"] == []


def test_the_declared_working_pressure_range_and_orientations_are_used(tmp_path):
    declared = meter(tmp_path, "working_pressure: {min_gauge_pa: 1500, max_gauge_pa: 2500}\n"
                               "orientations: [upside_down]\n")
    run_inputs = inputs(tmp_path, "r137/working-pressure.yaml", declared)
    gauges = [s.gauge_pa for s, _, _ in run_inputs.procedure.walk() if isinstance(s, SetGasPressure) and s.gauge_pa]
    assert gauges == [1500, 2500]
    plan = inputs(tmp_path, "r137/orientation.yaml", declared).plan()
    mounts = [(a.step.label, a.step.orientation) for a in plan.actions if isinstance(a.step, Mount)]
    assert mounts == [("mounted-upside-down", "upside_down"), ("back-to-normal", "normal")]
    assert {a.step.label for a in plan.measurements()} == {"error-upside-down"}


def test_meters_declaring_different_values_are_refused_naming_their_files(tmp_path):
    first = meter(tmp_path, SUPPLY, "a.yaml")
    second = meter(tmp_path, SUPPLY.replace("lowest_battery_v: 3.2", "lowest_battery_v: 3.0"), "b.yaml", "GM4-2")
    with pytest.raises(MeterlabError, match="supply.lowest_battery_v") as error:
        inputs(tmp_path, "r137/battery-voltage.yaml", first, second)
    assert "a.yaml: 3.2" in str(error.value) and "b.yaml: 3.0" in str(error.value)


@pytest.mark.parametrize("extra, field, says", [
    ("supply: {lowest_battery_v: 3.8, highest_battery_v: 3.6}\n", "supply", "lowest <= rated <= highest"),
    ("supply: {rated_dc_v: -1}\n", "rated_dc_v", "greater than 0"),
    ("working_pressure: {min_gauge_pa: 2000, max_gauge_pa: 1000}\n", "working_pressure", "must be below"),
    ("orientations: [normal, flow_up]\n", "orientations", "besides normal"),
    ("orientations: [sideways]\n", "orientations", "flow_up"),
])
def test_a_bad_declared_value_names_the_file_the_field_and_the_fix(tmp_path, extra, field, says):
    with pytest.raises(InputFileError) as error:
        load_meter(meter(tmp_path, extra))
    message = str(error.value)
    assert "meter.yaml" in message and field in message and says in message, message


def test_a_working_pressure_on_a_water_meter_is_refused(tmp_path):
    path = tmp_path / "water.yaml"
    path.write_text((REPO / "examples/meters/dn15-class2.yaml").read_text(encoding="utf-8")
                    + "working_pressure: {min_gauge_pa: 1000, max_gauge_pa: 2000}\n", encoding="utf-8")
    with pytest.raises(InputFileError, match="working_pressure belong"):
        load_meter(path)


def test_a_programme_naming_no_declared_value_is_refused_at_its_line(tmp_path):
    from meterlab.procedures.schema import load_procedure

    text = (REPO / "procedures/r137/dc-voltage-variation.yaml").read_text(encoding="utf-8")
    path = tmp_path / "dc.yaml"
    path.write_text(text.replace("rated_dc_v: supply.rated_dc_v", "rated_dc_v: supply.voltage"), encoding="utf-8")
    with pytest.raises(InputFileError, match="'supply.voltage' is not a declared value; use one of supply.rated_dc_v"):
        load_procedure(path)
