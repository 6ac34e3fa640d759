"""The steps added for the programmes' needs: $parameters, multiples of a characteristic flowrate, held
disturbances, stop_flow, climate cycles, water conditions and pressure loss (files and plans; the runs are
in tests/engine/test_step_runs.py)."""

from pathlib import Path

import pytest

from meterlab.errors import DeclarationError, InputFileError
from meterlab.metrology.meters import WaterMeter
from meterlab.procedures.plan import expand, resolve_point
from meterlab.procedures.schema import ApplyDisturbance, ClimateCycle, MeasureError, load_procedure
from meterlab.procedures.severities import cycle_segments, load_severities, procedure_problems, resolve

HEAD = """\
id: vocabulary
title: New steps
standard: OIML R 49
edition: "2013"
clause: test
version: 1
meter_kind: water
profile: r49-2013
severities: d11-2013
parameters:
  test_point: 0.7(Q2+Q3)
  settle_s: 900
  band: [15.0, 25.0]
steps:
"""

STEPS = """\
  - set_flow: {point: $test_point}
  - stabilise: {flow_within_pct: 2.0, water_temperature_c: $band, for_s: 30}
  - apply_disturbance:
      label: upper
      disturbance: voltage_variation
      mode: hold
      test: power_voltage_variation
      parameters: {limit: upper}
  - wait: {duration_s: $settle_s}
  - measure_error: {label: held, point: $test_point, volume: auto, repeats: 1, role: influence}
  - release_disturbance: {held: upper}
  - stop_flow: {settle_s: 5}
  - climate_cycle: {test: damp_heat_cyclic, cycles: 1}
  - set_water_conditions: {temperature_c: 50, pressure_bar: 10}
  - set_flow: {point: 0.9 Q3}
  - measure_pressure_loss: {point: 0.9 Q3, duration_s: 30}
  - evaluate: {checks: [within_mpe, pressure_loss]}
"""


def write(tmp_path: Path, steps: str = STEPS, head: str = HEAD) -> Path:
    path = tmp_path / "vocabulary.yaml"
    path.write_text(head + steps, encoding="utf-8")
    return path


def meter() -> WaterMeter:
    return WaterMeter(q3_m3h=2.5, r=160, accuracy_class=2)


def test_parameters_are_substituted_where_a_step_names_them(tmp_path):
    procedure = load_procedure(write(tmp_path))
    assert procedure.steps[0].point == "0.7(Q2+Q3)"
    assert procedure.steps[1].water_temperature_c == (15.0, 25.0)
    assert procedure.steps[3].duration_s == 900


def test_an_unknown_parameter_names_the_line_and_the_parameters_there_are(tmp_path):
    path = write(tmp_path, STEPS.replace("duration_s: $settle_s", "duration_s: $settling_s"))
    with pytest.raises(InputFileError) as info:
        load_procedure(path)
    (line, field, message), = info.value.problems
    assert path.read_text().splitlines()[line - 1].strip().startswith("- wait:")
    assert field == "steps.3.wait.duration_s" and "$settling_s" in message and "settle_s" in message


def test_a_held_disturbance_needs_a_label_and_a_release_must_name_one(tmp_path):
    with pytest.raises(InputFileError, match="held disturbance needs a label"):
        load_procedure(write(tmp_path, STEPS.replace("      label: upper\n", "")))
    with pytest.raises(InputFileError) as info:
        load_procedure(write(tmp_path, STEPS.replace("{held: upper}", "{held: lower}")))
    assert [f for _, f, _ in info.value.problems] == ["steps.5.release_disturbance.held"]


def test_water_conditions_need_a_target(tmp_path):
    with pytest.raises(InputFileError, match="temperature_c, pressure_bar or both"):
        load_procedure(write(tmp_path, STEPS.replace("{temperature_c: 50, pressure_bar: 10}", "{within_c: 2}")))


def test_a_multiple_of_a_characteristic_flowrate_is_a_point():
    m = meter()
    point = resolve_point("0.9 Q3", None, None, m)
    assert point.name == "0.9 Q3" and point.nominal_m3h == pytest.approx(2.25)
    assert resolve_point("0.5*Q4", None, None, m).nominal_m3h == pytest.approx(0.5 * m.q4_m3h)
    window = resolve_point("Q2", None, None, m)  # a profile window keeps its window
    assert window.high_m3h > window.low_m3h == m.q2_m3h
    with pytest.raises(DeclarationError, match="multiple of a characteristic flowrate"):
        resolve_point("0.9 Q7", None, None, m)


def test_the_plan_of_the_new_steps(tmp_path):
    plan = expand(load_procedure(write(tmp_path)), [("A", meter())])
    kinds = [a.kind for a in plan.actions]
    assert kinds == ["set_flow", "stabilise", "apply_disturbance", "wait", "measure_error", "release_disturbance",
                     "stop_flow", "climate_cycle", "set_water_conditions", "set_flow", "measure_pressure_loss",
                     "evaluate"]
    assert plan.actions[10].point.nominal_m3h == pytest.approx(2.25)
    assert len({a.key for a in plan.actions}) == len(plan.actions)


def test_the_damp_heat_cycle_follows_the_severity_profile():
    profile = load_severities("d11-2013")
    params = resolve(profile, "damp_heat_cyclic", "B")
    segments = cycle_segments(params)
    assert len(segments) == 4 * params["cycles"]
    rise, upper, fall, lower = segments[:4]
    assert sum(s.duration_s for s in segments[:4]) == params["cycle_duration_s"]
    assert rise.duration_s == params["rise_duration_s"] and rise.temperature_c == params["temperature_c"] == 40
    assert rise.ramp_c_per_min == pytest.approx((40 - 25) / (params["rise_duration_s"] / 60))
    assert rise.duration_s + upper.duration_s == params["upper_phase_until_s"]  # upper phase ends at 12 h
    assert upper.humidity_pct == params["humidity_pct"] and lower.humidity_pct == params["lower_phase_humidity_pct"]
    assert fall.temperature_c == lower.temperature_c == params["lower_temperature_c"]
    longest = cycle_segments(params, fall_duration_s=params["fall_duration_max_s"])
    assert longest[2].duration_s == params["fall_duration_max_s"] and longest[3].duration_s < lower.duration_s
    with pytest.raises(DeclarationError, match="fall_duration_s"):
        cycle_segments(params, fall_duration_s=3600)


def test_a_climate_cycle_must_name_a_cyclic_test_and_a_hold_fits_a_during_test(tmp_path):
    profile = load_severities("d11-2013")
    good = load_procedure(write(tmp_path))
    assert procedure_problems(good, profile) == []
    bad = load_procedure(write(tmp_path, STEPS.replace("{test: damp_heat_cyclic, cycles: 1}", "{test: dry_heat}")))
    assert [(p[-1], "cyclic" in m) for p, m in procedure_problems(bad, profile)] == [("test", True)]


def test_shipped_programmes_use_the_new_steps_where_they_apply():
    repo = Path(__file__).resolve().parents[2]
    for name in ("r49/power-voltage-variation.yaml", "r137/power-voltage-variation.yaml"):
        steps = load_procedure(repo / "procedures" / name).steps
        held = [s for s in steps if isinstance(s, ApplyDisturbance)]
        assert [s.mode for s in held] == ["hold", "hold"]
        assert all(s.during is None for s in steps if isinstance(s, MeasureError))
    for name in ("r49/damp-heat-cyclic.yaml", "r137/damp-heat-cyclic.yaml"):
        steps = load_procedure(repo / "procedures" / name).steps
        assert any(isinstance(s, ClimateCycle) for s in steps)
        assert [s.kind for s in steps].index("stop_flow") < [s.kind for s in steps].index("climate_cycle")


def test_every_step_kind_is_in_the_authors_guide():
    from meterlab.procedures.schema import STEP_TYPES

    guide = (Path(__file__).resolve().parents[2] / "docs" / "procedures.md").read_text(encoding="utf-8")
    assert [kind for kind in STEP_TYPES if f"| `{kind}` |" not in guide] == []


def test_a_programme_written_for_a_temperature_class_refuses_a_meter_of_another():
    from meterlab.engine.session import load_inputs
    from meterlab.errors import DeclarationError

    repo = Path(__file__).resolve().parents[2]
    with pytest.raises(DeclarationError, match="temperature class T50.*this one is T30"):
        load_inputs(repo / "procedures/r49/water-temperature-t50.yaml", [repo / "examples/meters/dn15-class2.yaml"],
                    repo / "instruments/sim.yaml", None)
    hot = load_inputs(repo / "procedures/r49/water-temperature-t50.yaml", [repo / "tests/engine/data/dn15-t50.yaml"],
                      repo / "instruments/sim.yaml", None)
    assert hot.procedure.temperature_classes == ["T50"]
