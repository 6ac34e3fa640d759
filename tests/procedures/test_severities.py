"""Severity profile (OIML D 11 levels): values per environment class, 'declared' levels, errors that name things."""

from pathlib import Path

import pytest

from meterlab.errors import DeclarationError, InputFileError
from meterlab.metrology.declarations import Environment, load_meter
from meterlab.procedures.schema import load_procedure
from meterlab.procedures.severities import (
    CLASSES,
    SeverityProfile,
    load_severities,
    procedure_problems,
    resolve,
    resolve_level,
)

REPO = Path(__file__).resolve().parents[2]
D11 = REPO / "procedures" / "standards" / "d11-2013.yaml"
EXAMPLES = REPO / "examples" / "meters"

TESTS = ["dry_heat", "cold", "damp_heat_cyclic", "damp_heat_steady", "power_voltage_variation", "dips_interruptions",
         "burst_mains", "burst_signal", "esd", "radiated_rf", "conducted_rf", "surge_mains", "surge_signal",
         "power_frequency_magnetic_field", "power_frequency_magnetic_field_short", "static_magnetic_field",
         "vibration_random", "mechanical_shock",
         "dc_voltage_variation", "dc_dips_interruptions", "battery_voltage", "battery_interruption"]


@pytest.fixture(scope="module")
def d11() -> SeverityProfile:
    return load_severities("d11-2013")


def test_profile_loads_by_name_and_by_path(d11):
    assert d11.profile == "d11-2013" and d11.document == "OIML D 11" and d11.edition == "2013"
    assert load_severities(D11).tests.keys() == d11.tests.keys()


def test_every_required_test_is_there(d11):
    assert sorted(d11.tests) == sorted(TESTS)


@pytest.mark.parametrize("test_id", TESTS)
def test_every_test_carries_standard_clause_status_and_judgement(d11, test_id):
    test = d11.tests[test_id]
    assert test.clause.strip() and test.status in ("verified", "secondary", "unverified")
    assert test.standard.strip() and test.title.strip()
    assert test.evaluation.clause.strip() and test.class_mapping.clause.strip()
    assert (test.category, test.criterion) in (("influence", "within_mpe"), ("disturbance", "significant_fault"))
    assert test.evaluation_method in ("MPE", "NSAd", "NSAa")
    assert set(test.levels) <= set(CLASSES[test.applies_to])
    for key in test.levels:
        assert test.status_of(key) in ("verified", "secondary", "unverified")


@pytest.mark.parametrize("test_id", ["dry_heat", "cold", "damp_heat_cyclic", "damp_heat_steady"])
def test_climate_tests_have_a_level_for_every_climatic_class(d11, test_id):
    assert set(d11.tests[test_id].levels) == {"B", "O", "M"}
    assert d11.tests[test_id].applies_to == "climatic" and d11.tests[test_id].disturbance is None


@pytest.mark.parametrize("test_id", [t for t in TESTS if t not in ("dry_heat", "cold", "damp_heat_cyclic",
                                                                    "damp_heat_steady", "vibration_random",
                                                                    "mechanical_shock")])
def test_emc_tests_have_levels_for_e1_and_e2(d11, test_id):
    assert {"E1", "E2"} <= set(d11.tests[test_id].levels)
    assert d11.tests[test_id].disturbance is not None


def test_burst_levels_follow_d11(d11):
    assert resolve(d11, "burst_mains", "E1")["voltage_kv"] == 1.0
    e2 = resolve(d11, "burst_mains", "E2")
    assert e2["voltage_kv"] == 2.0 and e2["repetition_khz"] == 5
    assert e2["duration_per_polarity_s"] == 60 and e2["polarities"] == ["positive", "negative"]
    assert resolve(d11, "burst_signal", "E1")["voltage_kv"] == 0.5
    assert resolve(d11, "burst_signal", "E2")["voltage_kv"] == 1.0
    assert d11.tests["burst_mains"].levels["E1"].d11_level == "2"
    assert d11.tests["burst_mains"].levels["E2"].d11_level == "3"


def test_esd_conducted_rf_and_surges_follow_d11(d11):
    for level in ("E1", "E2"):
        esd = resolve(d11, "esd", level)
        assert (esd["contact_voltage_kv"], esd["air_voltage_kv"], esd["count"], esd["interval_s"]) == (6, 8, 10, 1)
        surge = resolve(d11, "surge_mains", level)
        assert (surge["line_to_line_kv"], surge["line_to_earth_kv"], surge["count"]) == (1.0, 2.0, 3)
        assert surge["phase_angles_deg"] == [0, 90, 180, 270]
    conducted = resolve(d11, "conducted_rf", "E1")
    assert conducted["emf_v"] == 3 and resolve(d11, "conducted_rf", "E2")["emf_v"] == 10
    assert (conducted["frequency_start_hz"], conducted["frequency_stop_hz"]) == (0.15e6, 80e6)
    assert (conducted["am_depth_pct"], conducted["am_frequency_hz"]) == (80, 1000)


def test_mains_tests_follow_d11(d11):
    supply = resolve(d11, "power_voltage_variation", "E1")
    assert (supply["upper_voltage_pct"], supply["lower_voltage_pct"]) == (10, -15)
    e1 = resolve(d11, "dips_interruptions", "E1")
    e2 = resolve(d11, "dips_interruptions", "E2")
    assert (e1["count"], e1["interval_s"]) == (10, 10)
    assert [(r["residual_pct"], r["duration_cycles"]) for r in e1["reductions"]] == [(0, 0.5), (0, 1), (70, 25)]
    assert [(r["residual_pct"], r["duration_cycles"]) for r in e2["reductions"]] == \
        [(0, 0.5), (0, 1), (40, 10), (70, 25), (80, 250)]
    assert e2["reductions"][-1]["duration_cycles_60hz"] == 300
    assert resolve(d11, "power_frequency_magnetic_field", "E2")["field_a_per_m"] == 100
    assert resolve(d11, "power_frequency_magnetic_field", "E1")["field_a_per_m"] == 30
    short = resolve(d11, "power_frequency_magnetic_field_short", "E2")
    assert (short["short_duration_field_a_per_m"], short["short_duration_max_s"]) == (1000, 3)
    assert resolve(d11, "power_frequency_magnetic_field_short", "E1")["short_duration_field_a_per_m"] == 300


def test_climate_levels_follow_the_sheets(d11):
    for cls in ("B", "O", "M"):
        heat = resolve(d11, "dry_heat", cls)
        assert (heat["temperature_c"], heat["duration_s"], heat["ramp_c_per_min"]) == (55, 7200, 1.0)
    assert resolve(d11, "cold", "B")["temperature_c"] == 5
    assert resolve(d11, "cold", "O")["temperature_c"] == -25 and resolve(d11, "cold", "M")["temperature_c"] == -25
    damp_b, damp_o = resolve(d11, "damp_heat_cyclic", "B"), resolve(d11, "damp_heat_cyclic", "O")
    assert (damp_b["temperature_c"], damp_o["temperature_c"]) == (40, 55)
    assert (damp_b["lower_temperature_c"], damp_b["cycles"], damp_b["duration_s"]) == (25, 2, 2 * 86400)
    assert damp_b["humidity_pct"] >= 93


def test_declared_follows_the_meters_environment(d11):
    industrial = Environment(electromagnetic="E2", climatic="O")
    assert resolve(d11, "burst_mains", "declared", industrial)["voltage_kv"] == 2.0
    assert resolve(d11, "damp_heat_cyclic", "declared", industrial)["temperature_c"] == 55
    assert resolve(d11, "cold", "declared", industrial)["temperature_c"] == -25
    residential = {"electromagnetic": "E1", "climatic": "B"}
    assert resolve(d11, "burst_mains", "declared", residential)["voltage_kv"] == 1.0
    assert resolve(d11, "cold", "declared", residential)["temperature_c"] == 5


def test_declared_takes_a_whole_meter_declaration(d11):
    dn15, _ = load_meter(EXAMPLES / "dn15-class2.yaml")   # E1, B
    dn25, _ = load_meter(EXAMPLES / "dn25-class1.yaml")   # E2, O
    assert resolve(d11, "conducted_rf", "declared", dn15)["emf_v"] == 3
    assert resolve(d11, "conducted_rf", "declared", dn25)["emf_v"] == 10
    assert resolve(d11, "damp_heat_cyclic", "declared", dn15)["temperature_c"] == 40
    assert resolve(d11, "damp_heat_cyclic", "declared", dn25)["temperature_c"] == 55


def test_alias_gives_the_same_test(d11):
    assert resolve(d11, "short_time_power_reductions", "E2") == resolve(d11, "dips_interruptions", "E2")
    test_id, _, _ = resolve_level(d11, "short_time_power_reductions", "E1")
    assert test_id == "dips_interruptions"


def test_level_parameters_override_common_ones_and_results_are_fresh(d11):
    first = resolve("d11-2013", "burst_mains", "E1")
    first["voltage_kv"] = 99
    first["polarities"].append("positive")
    again = resolve(d11, "burst_mains", "E1")
    assert again["voltage_kv"] == 1.0 and again["polarities"] == ["positive", "negative"]
    assert "d11_level" not in again and "status" not in again


def test_unknown_test_is_named_and_the_tests_listed(d11):
    with pytest.raises(DeclarationError) as info:
        resolve(d11, "lightning", "E1")
    message = str(info.value)
    assert "lightning" in message and "burst_mains" in message and "esd" in message
    assert "short_time_power_reductions" in message


def test_unknown_level_is_named_and_the_levels_listed(d11):
    with pytest.raises(DeclarationError) as info:
        resolve(d11, "burst_mains", "E9")
    message = str(info.value)
    assert "E9" in message and "burst_mains" in message and "E1" in message and "E2" in message
    with pytest.raises(DeclarationError, match="'B'.*burst_mains.*E1, E2"):
        resolve(d11, "burst_mains", "B")      # a climatic class for an EMC test
    with pytest.raises(DeclarationError, match="'E1'.*dry_heat.*B, O, M"):
        resolve(d11, "dry_heat", "E1")


def test_declared_class_without_a_level_is_named(d11):
    with pytest.raises(DeclarationError) as info:
        resolve(d11, "esd", "declared", Environment(electromagnetic="E3"))
    message = str(info.value)
    assert "E3" in message and "esd" in message and "E1, E2" in message and "electromagnetic" in message


def test_declared_without_an_environment_says_what_it_needs(d11):
    with pytest.raises(DeclarationError, match="declared.*dry_heat.*climatic"):
        resolve(d11, "dry_heat", "declared", None)
    with pytest.raises(DeclarationError, match="environment.climatic"):
        resolve(d11, "dry_heat", "declared", {"electromagnetic": "E1"})


def test_unknown_profile_name_says_where_it_looked():
    with pytest.raises(DeclarationError, match="d11-1999"):
        load_severities("d11-1999")


def test_unverified_values_are_listed(d11):
    flagged = d11.unverified_values()
    assert "radiated_rf" in flagged and "static_magnetic_field" in flagged
    assert "static_magnetic_field.flux_density_mt" in flagged
    assert "burst_mains.class_mapping" in flagged          # adoption of D 11 Table 4 by R 49 / R 137
    assert "burst_mains" not in flagged                    # the D 11 values were read
    assert "cold.levels.O" in flagged and "cold.levels.B" not in flagged
    assert d11.tests["static_magnetic_field"].status == "unverified"


# (what is wrong, old text, new text, field named, text of the line named)
CASES = [
    ("value not a number", "E1: {d11_level: 2, voltage_kv: 1.0}", "E1: {d11_level: 2, voltage_kv: lots}",
     "tests.burst_mains.levels.E1.voltage_kv", "voltage_kv: lots"),
    ("negative voltage", "E2: {d11_level: 3, voltage_kv: 2.0}", "E2: {d11_level: 3, voltage_kv: -2.0}",
     "tests.burst_mains.levels.E2.voltage_kv", "voltage_kv: -2.0"),
    ("unit missing from a name", "E2: {d11_level: 3, emf_v: 10}", "E2: {d11_level: 3, emf: 10}",
     "tests.conducted_rf.levels.E2.emf", "emf: 10"),
    ("unknown status", "    clause: \"OIML D 11:2013 10.1, Table 7\"\n    status: verified",
     "    clause: \"OIML D 11:2013 10.1, Table 7\"\n    status: probably", "tests.cold.status", "status: probably"),
    ("missing clause", "    clause: \"OIML D 11:2013 13.3, Table 35\"\n", "", "tests.esd.clause", None),
    ("humidity over 100", "      humidity_pct: 93\n", "      humidity_pct: 193\n",
     "tests.damp_heat_cyclic.common.humidity_pct", "humidity_pct: 193"),
    ("unknown polarity", "      polarities: [positive, negative]\n      coupling: capacitive",
     "      polarities: [positive, sideways]\n      coupling: capacitive",
     "tests.burst_signal.common.polarities.1", "polarities: [positive, sideways]"),
    ("level for a class that does not exist", "      E1: {d11_level: 4, field_a_per_m: 30",
     "      E7: {d11_level: 4, field_a_per_m: 30", "tests.power_frequency_magnetic_field", None),
    ("reduction without its duration", "{residual_pct: 80, duration_cycles: 250, duration_cycles_60hz: 300}",
     "{residual_pct: 80, duration_cycles_60hz: 300}",
     "tests.dips_interruptions.levels.E2.reductions.4", "residual_pct: 80, duration_cycles_60hz"),
    ("influence judged by significant fault", "    category: influence\n    mode: during\n    criterion: within_mpe\n"
     "    evaluation: {clause: \"OIML D 11:2013 9.2.1, Table 5 (I, MPE)\", status: verified}\n    class_mapping:\n"
     "      clause: \"R 49-1:2024",
     "    category: influence\n    mode: during\n    criterion: significant_fault\n"
     "    evaluation: {clause: \"OIML D 11:2013 9.2.1, Table 5 (I, MPE)\", status: verified}\n    class_mapping:\n"
     "      clause: \"R 49-1:2024", "tests.dry_heat.criterion", "criterion: significant_fault"),
    ("sweep that ends before it starts", "      frequency_stop_hz: 80.0e+6", "      frequency_stop_hz: 0.1e+6",
     "tests.conducted_rf.common", None),
    ("alias to nothing", "short_time_power_reductions: dips_interruptions",
     "short_time_power_reductions: dips", "aliases", "aliases:"),
    ("unverified names a parameter the test lacks", "unverified: [capacitance_pf, resistance_ohm]",
     "unverified: [capacitance_pf, inductance_uh]", "tests.esd.unverified", "inductance_uh"),
    ("disturbance kind the schema lacks", "    disturbance: esd\n", "    disturbance: sparks\n",
     "tests.esd.disturbance", "disturbance: sparks"),
]


@pytest.mark.parametrize("what, old, new, field, line_text", CASES, ids=[c[0] for c in CASES])
def test_bad_profile_names_file_line_and_field(tmp_path, what, old, new, field, line_text):
    good = D11.read_text(encoding="utf-8")
    assert good.count(old) == 1, f"test case '{what}' does not apply to the shipped profile"
    text = good.replace(old, new)
    path = tmp_path / "bad-d11.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(InputFileError) as info:
        load_severities(path)
    message = str(info.value)
    assert "bad-d11.yaml" in message
    fields = [f for _, f, _ in info.value.problems]
    assert any(f == field or f.startswith(field + ".") for f in fields), (fields, message)
    lines = [line for line, f, _ in info.value.problems if f == field or f.startswith(field + ".")]
    assert all(lines), message                       # every problem has a line
    if line_text is not None:
        named = [text.splitlines()[n - 1] for n in lines if n]
        assert any(line_text in t for t in named), (named, message)


def test_procedure_problems_find_steps_that_do_not_fit_the_profile(d11, tmp_path):
    text = (REPO / "procedures" / "r49" / "burst-mains.yaml").read_text(encoding="utf-8")
    path = tmp_path / "p.yaml"
    path.write_text(text, encoding="utf-8")
    assert procedure_problems(load_procedure(path), d11) == []
    cases = [("test: burst_mains", "test: burst_main", "test"),
             ("disturbance: burst", "disturbance: surge", "disturbance"),
             ("test: burst_mains", "test: dry_heat", "test"),
             ("severity: declared", "severity: E3", "severity")]
    for old, new, field in cases:
        path.write_text(text.replace(old, new), encoding="utf-8")
        problems = procedure_problems(load_procedure(path), d11)
        assert problems and problems[0][0][-1] == field, (old, new, problems)


def test_the_mechanical_levels_are_consistent_with_what_they_stand_for(d11):
    """The random vibration's breakpoints give the level's RMS (D 11: 1.6 and 7 m/s²); a shock pulse has the
    velocity change of its drop (v = sqrt(2 g h), half-sine: peak = pi v / (2 D))."""
    from meterlab.instruments.vibration import asd_rms_m_s2
    from meterlab.rigs.mechanical import RMS_AGREEMENT

    vibration, shock = d11.tests["vibration_random"], d11.tests["mechanical_shock"]
    assert vibration.applies_to == shock.applies_to == "mechanical" and set(vibration.levels) == {"M2", "M3"}
    for key in ("M2", "M3"):
        level = resolve(d11, "vibration_random", key)
        rms = asd_rms_m_s2([tuple(p) for p in level["asd_profile"]])
        assert abs(rms - level["rms_m_s2"]) <= RMS_AGREEMENT * level["rms_m_s2"]
        pulse = resolve(d11, "mechanical_shock", key)
        velocity = (2 * 9.80665 * pulse["drop_height_mm"] / 1000) ** 0.5
        assert pulse["peak_m_s2"] == pytest.approx(3.14159265 * velocity / (2 * pulse["pulse_duration_ms"] / 1000),
                                                   rel=1e-3)
    assert shock.status == "unverified" and "pulse_duration_ms" in shock.unverified  # the emulation is the lab's
