"""The OIML programmes shipped in procedures/: they load, fit their profiles and follow the D 11 sequences."""

from pathlib import Path

import pytest

from meterlab.metrology.profiles import load_profile
from meterlab.procedures.plan import MULTIPLE, OVERLOAD_POINT
from meterlab.procedures.schema import (
    ApplyDisturbance,
    ClimateCycle,
    Evaluate,
    ForEachPoint,
    MeasureError,
    Mount,
    ReleaseDisturbance,
    RunFlow,
    SetClimate,
    SetFlow,
    Soak,
    WatchAtRest,
    load_procedure,
)
from meterlab.procedures.severities import load_severities, procedure_problems

REPO = Path(__file__).resolve().parents[2]
PROCEDURES = REPO / "procedures"

ELECTRONIC = ["dry-heat", "cold", "damp-heat-cyclic", "power-voltage-variation", "short-time-power-reductions",
              "burst-mains", "burst-signal", "esd", "radiated-rf", "conducted-rf", "surge-mains", "surge-signal",
              "vibration", "mechanical-shock"]
R49 = ["intrinsic-error", "water-temperature", "water-pressure", "reverse-flow", "pressure-loss", "flow-disturbance",
       "durability-discontinuous", "durability-continuous", "static-magnetic-field", "static-pressure",
       "absence-of-flow", "water-temperature-overload", "power-frequency-magnetic-field",
       "dc-voltage-variation", "dc-dips-interruptions", "battery-voltage",
       "battery-interruption", "reverse-flow-designed", *ELECTRONIC]
R137 = ["error-of-indication", "pressure-loss", "durability", "gas-temperature", "ambient-temperature",
        "static-magnetic-field", "overload-flow", "working-pressure", "orientation", "damp-heat-steady",
        "power-frequency-magnetic-field", "flow-direction", "dc-voltage-variation", "dc-dips-interruptions",
        "battery-voltage", "battery-interruption", *ELECTRONIC]
SHIPPED = [("r49", name) for name in R49] + [("r137", name) for name in R137]
FILES = sorted(PROCEDURES.glob("r*/*.yaml"))
WATER_METHODS = {"gravimetric", "volumetric", "master_meter"}
GAS_METHODS = {"bell_prover", "sonic_nozzle", "master_meter"}


def steps_of(procedure):
    return [step for step, _, _ in procedure.walk()]


def points_named(procedure):
    """Every literal test point a programme names (set_flow, measure_error, run_flow, for_each_point)."""
    names = set()
    for step in steps_of(procedure):
        if isinstance(step, ForEachPoint) and step.points != "all":
            names |= set(step.points)
        point = getattr(step, "point", None)
        if point is not None and not point.startswith("$"):
            names.add(point)
    return names


@pytest.mark.parametrize("standard, name", SHIPPED, ids=[f"{s}/{n}" for s, n in SHIPPED])
def test_every_required_programme_is_shipped(standard, name):
    assert (PROCEDURES / standard / f"{name}.yaml").is_file()


@pytest.mark.parametrize("path", FILES, ids=[f"{p.parent.name}/{p.name}" for p in FILES])
def test_programme_loads_and_fits_its_profiles(path):
    procedure = load_procedure(path)
    text = path.read_text(encoding="utf-8")
    assert text.startswith("# ") and "OIML" in text.splitlines()[0], "a comment on top names the standard and clause"
    assert procedure.id == f"{path.parent.name}-{path.stem}"
    profile = load_profile(procedure.profile)
    assert profile.kind == procedure.meter_kind
    assert procedure.method in (WATER_METHODS if procedure.meter_kind == "water" else GAS_METHODS)
    assert procedure.standard == profile.standard and procedure.edition == profile.edition
    windows = {window.name for window in profile.test_points.windows}
    windows |= {OVERLOAD_POINT} if profile.overload is not None else set()  # Qr: the profile's overload flowrate
    named = {p for p in points_named(procedure) if not MULTIPLE.match(p)}  # "0.9 Q3" is resolved by the plan
    assert named <= windows, named - windows
    assert any(isinstance(step, Evaluate) for step in steps_of(procedure))


def test_programme_ids_are_unique():
    ids = [load_procedure(path).id for path in FILES]
    assert len(ids) == len(set(ids))


@pytest.mark.parametrize("path", FILES, ids=[f"{p.parent.name}/{p.name}" for p in FILES])
def test_every_named_test_exists_in_the_severity_profile(path):
    procedure = load_procedure(path)
    named = [s for s in steps_of(procedure) if isinstance(s, (ApplyDisturbance, SetClimate, Soak)) and s.test]
    if not named:
        return
    assert procedure.severities == "d11-2013"
    severities = load_severities(procedure.severities)
    for step in named:
        severities.test(step.test)                  # raises DeclarationError if missing
    assert procedure_problems(procedure, severities) == []
    electronic_only = {severities.test(step.test).electronic_only for step in named}
    assert electronic_only == {procedure.electronic_only}


@pytest.mark.parametrize("standard", ["r49", "r137"])
def test_each_electronic_test_of_the_profile_has_a_programme(standard):
    severities = load_severities("d11-2013")
    covered = set()
    for path in (PROCEDURES / standard).glob("*.yaml"):
        for step in steps_of(load_procedure(path)):
            if getattr(step, "test", None):
                covered.add(severities.test_id(step.test))
    wanted = set(severities.tests) - {"power_frequency_magnetic_field"}   # not asked for by R 49:2013 (unverified)
    if standard == "r49":  # R 49's damp heat test is the cyclic one (fact sheet oiml-r49.md §5); steady is R 137's
        wanted -= {"damp_heat_steady"}
    assert wanted <= covered, wanted - covered


def disturbance_programmes():
    for path in FILES:
        procedure = load_procedure(path)
        for step in steps_of(procedure):
            if isinstance(step, ApplyDisturbance) and step.test:
                yield pytest.param(path, step, id=f"{path.parent.name}/{path.stem}/{step.label}")


@pytest.mark.parametrize("path, disturbance", list(disturbance_programmes()))
def test_disturbance_tests_follow_the_d11_sequence(path, disturbance):
    procedure = load_procedure(path)
    severities = load_severities(procedure.severities)
    entry = severities.test(disturbance.test)
    steps = steps_of(procedure)
    measurements = [s for s in steps if isinstance(s, MeasureError)]
    evaluate = [s for s in steps if isinstance(s, Evaluate)][-1]
    if any(isinstance(s, WatchAtRest) and s.during == disturbance.label for s in steps):
        # a supply interrupted with the line at rest (battery interruption): judged by the register kept
        assert "no_registration" in evaluate.checks
        return
    if entry.category == "influence":
        assert "within_mpe" in evaluate.checks
        if disturbance.mode == "hold":  # measured while held: between the step and its release
            index = steps.index(disturbance)
            release = next(i for i, s in enumerate(steps) if isinstance(s, ReleaseDisturbance) and s.held == disturbance.label)
            assert any(index < steps.index(m) < release and m.role == "influence" for m in measurements)
        else:
            assert any(m.during == disturbance.label for m in measurements)
        return
    assert "significant_fault" in evaluate.checks and evaluate.reference
    reference = [m for m in measurements if m.label == evaluate.reference]
    assert reference and all(m.role == "intrinsic" for m in reference)
    index = steps.index(disturbance)
    if entry.mode == "during":       # NSAd: intrinsic, then a second measurement during the disturbance
        disturbed = [m for m in measurements if m.during == disturbance.label]
        if disturbance.mode == "hold":  # held over the whole measurement: those between it and its release
            release = next(i for i, s in enumerate(steps) if isinstance(s, ReleaseDisturbance)
                           and s.held == disturbance.label and i > index)
            disturbed = [m for m in measurements if index < steps.index(m) < release]
        assert disturbed and all(m.role == "disturbed" for m in disturbed)
        for m in disturbed:
            intrinsic = [r for r in reference if r.point == m.point]
            assert intrinsic and steps.index(intrinsic[0]) < steps.index(m), "intrinsic error comes first"
            if m.duration_s is not None:
                assert intrinsic[0].duration_s == m.duration_s, "same measurement time"
                params = severities.test(disturbance.test).common.given()
                if "duration_per_polarity_s" in params:
                    assert m.duration_s >= params["duration_per_polarity_s"] * len(params["polarities"])
    else:                            # NSAa: measure, disturb between, measure again at the same flowrate
        before = [m for m in reference if steps.index(m) < index]
        after = [m for m in measurements[measurements.index(before[-1]) + 1:] if steps.index(m) > index]
        assert before and after and after[0].point == before[-1].point
        assert after[0].role == "after_disturbance" and after[0].during is None


@pytest.mark.parametrize("standard, name", [("r49", "damp-heat-cyclic"), ("r137", "damp-heat-cyclic")])
def test_damp_heat_is_nsaa_around_the_cycles(standard, name):
    procedure = load_procedure(PROCEDURES / standard / f"{name}.yaml")
    steps = steps_of(procedure)
    cycles = next(s for s in steps if isinstance(s, ClimateCycle) and s.test == "damp_heat_cyclic")
    measurements = [s for s in steps if isinstance(s, MeasureError)]
    assert [m.role for m in measurements] == ["intrinsic", "after_disturbance"]
    assert steps.index(measurements[0]) < steps.index(cycles) < steps.index(measurements[1])
    assert measurements[0].point == measurements[1].point
    evaluate = steps[-1]
    assert isinstance(evaluate, Evaluate) and evaluate.checks == ["significant_fault"]
    assert evaluate.reference == measurements[0].label


@pytest.mark.parametrize("path", [p for p in FILES if p.stem in ("dry-heat", "cold")],
                         ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_dry_heat_and_cold_measure_while_exposed(path):
    procedure = load_procedure(path)
    test = path.stem.replace("-", "_")
    steps = steps_of(procedure)
    exposure = next(s for s in steps if isinstance(s, SetClimate) and s.test == test)
    soak = next(s for s in steps if isinstance(s, Soak) and s.test == test)
    influence = [s for s in steps if isinstance(s, MeasureError) and s.role == "influence"]
    assert influence and steps.index(exposure) < steps.index(soak) < steps.index(influence[0])
    assert steps[-1].checks == ["within_mpe"]


@pytest.mark.parametrize("path", [p for p in FILES if p.stem.startswith("durability")],
                         ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_durability_is_curve_run_curve(path):
    procedure = load_procedure(path)
    top = procedure.steps
    loops = [s for s in top if isinstance(s, ForEachPoint)]
    run = [s for s in top if isinstance(s, RunFlow)]
    assert len(loops) == 2 and len(run) == 1
    assert loops[0].points == loops[1].points == "all"
    assert top.index(loops[0]) < top.index(run[0]) < top.index(loops[1])
    before = [s for s in loops[0].steps if isinstance(s, MeasureError)][0]
    after = [s for s in loops[1].steps if isinstance(s, MeasureError)][0]
    assert (before.role, after.role) == ("before", "after")
    evaluate = top[-1]
    assert isinstance(evaluate, Evaluate) and evaluate.checks == ["durability_shift"]
    assert evaluate.reference == before.label


def test_r49_durability_runs():
    discontinuous = [s for s in load_procedure(PROCEDURES / "r49" / "durability-discontinuous.yaml").steps
                     if isinstance(s, RunFlow)][0]
    assert discontinuous.cycles == 100000 and (discontinuous.on_s, discontinuous.off_s) == (15, 15)
    assert discontinuous.point == "Q3"
    continuous = [s for s in load_procedure(PROCEDURES / "r49" / "durability-continuous.yaml").steps
                  if isinstance(s, RunFlow)][0]
    assert continuous.point == "Q4" and continuous.duration_s == 100 * 3600


def test_r137_error_of_indication_covers_every_flowrate_with_wme_and_repeatability():
    procedure = load_procedure(PROCEDURES / "r137" / "error-of-indication.yaml")
    loop = next(s for s in procedure.steps if isinstance(s, ForEachPoint))
    assert loop.points == "all"
    assert set(procedure.steps[-1].checks) == {"within_mpe", "repeatability", "wme"}


def test_reverse_flow_runs_backwards_then_measures_forwards():
    procedure = load_procedure(PROCEDURES / "r49" / "reverse-flow.yaml")
    steps = steps_of(procedure)
    reverse = [s for s in steps if isinstance(s, SetFlow) and s.reverse]
    forward = [s for s in steps if isinstance(s, MeasureError)]
    assert reverse and forward and steps.index(reverse[0]) < steps.index(forward[0])
    assert not any(isinstance(s, SetFlow) and s.reverse for s in steps[steps.index(forward[0]):])


@pytest.mark.parametrize("path, points", [("r49/reverse-flow-designed.yaml", ["Q1", "Q2", "Q3"]),
                                          ("r137/flow-direction.yaml", "all")])
def test_reverse_programmes_measure_with_the_meters_turned_round_and_turn_them_back(path, points):
    """Neither rig measures its reference in reverse: the meters are mounted reversed before every error and
    forward again after, and the programme applies only to meters designed for reverse flow."""
    procedure = load_procedure(PROCEDURES / path)
    steps = steps_of(procedure)
    mounts = [s for s in steps if isinstance(s, Mount)]
    measured = [s for s in steps if isinstance(s, MeasureError)]
    assert [m.direction for m in mounts] == ["reverse", "forward"]
    assert steps.index(mounts[0]) < steps.index(measured[0]) and steps.index(measured[-1]) < steps.index(mounts[1])
    assert not any(isinstance(s, SetFlow) and s.reverse for s in steps)
    assert next(s for s in steps if isinstance(s, ForEachPoint)).points == points
    assert procedure.for_reverse_flow == "designed"
    assert load_procedure(PROCEDURES / "r49/reverse-flow.yaml").for_reverse_flow == "not_designed"


def test_r49_pressure_loss_is_measured_at_each_point_up_to_q3():
    procedure = load_procedure(PROCEDURES / "r49" / "pressure-loss.yaml")
    loop = next(s for s in procedure.steps if isinstance(s, ForEachPoint))
    assert loop.points == procedure.parameters["points"] and loop.points[-1] == "Q3"
    assert [s.kind for s in loop.steps] == ["set_flow", "stabilise", "measure_pressure_loss"]
    assert procedure.steps[-1].checks == ["pressure_loss"]


def test_r137_pressure_loss_asks_the_operator_at_each_point():
    # The gas rig has no differential-pressure transmitters: the operator types the loss of each meter.
    procedure = load_procedure(PROCEDURES / "r137" / "pressure-loss.yaml")
    loop = next(s for s in procedure.steps if isinstance(s, ForEachPoint))
    ask = [s for s in loop.steps if getattr(s, "ask", None)]
    assert ask and ask[0].per_meter and ask[0].ask.startswith("pressure_loss_")
    assert procedure.steps[-1].checks == ["pressure_loss"]


@pytest.mark.parametrize("name, setting", [("water-temperature", "temperature_c"), ("water-pressure", "pressure_bar")])
def test_water_influence_tests_set_the_water_conditions_before_each_measurement(name, setting):
    steps = load_procedure(PROCEDURES / "r49" / f"{name}.yaml").steps
    kinds = [s.kind for s in steps]
    assert kinds.count("set_water_conditions") == kinds.count("measure_error") == 2
    targets = [getattr(s, setting) for s in steps if s.kind == "set_water_conditions"]
    assert targets[0] < targets[1]  # the low condition first, then the high one


def test_parameters_keep_the_numbers_the_steps_use():
    # The YAML anchors in parameters: are the single place of each standard's number.
    procedure = load_procedure(PROCEDURES / "r49" / "durability-discontinuous.yaml")
    run = next(s for s in procedure.steps if isinstance(s, RunFlow))
    assert procedure.parameters["cycles"] == run.cycles
    burst = load_procedure(PROCEDURES / "r49" / "burst-mains.yaml")
    measure = [s for s in burst.steps if isinstance(s, MeasureError)]
    assert {m.duration_s for m in measure} == {burst.parameters["measurement_duration_s"]}
    assert {m.point for m in measure} == {burst.parameters["test_point"]}
