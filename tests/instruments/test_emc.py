"""EMC generators (surge, burst, ESD, dips/variation, magnetic field): byte-exact against the generic
TRA3000-style command set and adapter tables, then through pyvisa-py sockets against the simulated lab
(a running burst shifts a susceptible meter's pulses and not an immune one's), error paths and faults."""

from pathlib import Path

import pytest
import yaml
from pydantic import ValidationError

from meterlab.errors import InputFileError
from meterlab.instruments.bench import InstrumentEntry, open_instrument
from meterlab.instruments.emc import (
    BurstGenerator,
    DipsGenerator,
    EsdSimulator,
    MagneticFieldSource,
    SurgeGenerator,
    load_adapter,
)
from meterlab.instruments.errors import (
    InstrumentConnectionError,
    InstrumentError,
    InstrumentReplyError,
    InstrumentTimeout,
    InstrumentValueError,
)
from meterlab.instruments.testing import expected_protocol
from meterlab.sim.clock import VIRTUAL
from meterlab.sim.scenario import FaultSpec, Scenario
from meterlab.sim.testing import running_lab
from meterlab.sim.testing import FAULT_SLACK_S as SLACK_S
from meterlab.sim.testing import FAULT_TIMEOUT_S as TIMEOUT_S
from meterlab.sim.testing import open_with_timeout, raised_within

ROOT = Path(__file__).resolve().parents[2]
SIM_BENCH = ROOT / "instruments" / "sim.yaml"
D11 = ROOT / "procedures" / "standards" / "d11-2013.yaml"
OK = b"0"


def confirmed(*commands):
    """Settings and actions: each followed by the error register read (`E?` -> 0)."""
    return [exchange for command in commands for exchange in ((command, None), (b"E?", OK))]


# -- byte-exact: every property both ways -----------------------------------------------------------------

PROPERTIES = [
    (SurgeGenerator, "voltage_kv", 2.0, b"VSET 2.00", b"VSET?", b"2.00"),
    (SurgeGenerator, "polarity", "negative", b"POL NEG", b"POL?", b"NEG"),
    (SurgeGenerator, "coupling", "L-PE", b"CPL L-PE", b"CPL?", b"L-PE"),
    (SurgeGenerator, "phase_angle_deg", 90, b"PHA 90", b"PHA?", b"90"),
    (SurgeGenerator, "count", 5, b"CNT 5", b"CNT?", b"5"),
    (SurgeGenerator, "interval_s", 60, b"REP 60", b"REP?", b"60"),
    (BurstGenerator, "voltage_kv", 1.0, b"VSET 1.00", b"VSET?", b"1.00"),
    (BurstGenerator, "polarity", "positive", b"POL POS", b"POL?", b"POS"),
    (BurstGenerator, "repetition_khz", 100, b"FREQ 100", b"FREQ?", b"100"),
    (BurstGenerator, "burst_length_ms", 0.75, b"BLEN 0.75", b"BLEN?", b"0.75"),
    (BurstGenerator, "burst_period_ms", 300, b"BPER 300", b"BPER?", b"300"),
    (BurstGenerator, "coupling", "clamp", b"CPL CLAMP", b"CPL?", b"CLAMP"),
    (BurstGenerator, "coupling", "L+N", b"CPL LN", b"CPL?", b"LN"),
    (BurstGenerator, "duration_s", 60, b"TDUR 60", b"TDUR?", b"60"),
    (EsdSimulator, "discharge", "air", b"MODE AIR", b"MODE?", b"AIR"),
    (EsdSimulator, "voltage_kv", 8, b"VSET 8.00", b"VSET?", b"8.00"),
    (EsdSimulator, "polarity", "negative", b"POL NEG", b"POL?", b"NEG"),
    (EsdSimulator, "count", 10, b"CNT 10", b"CNT?", b"10"),
    (EsdSimulator, "interval_s", 1, b"INT 1", b"INT?", b"1"),
    (DipsGenerator, "mode", "variation", b"MODE VAR", b"MODE?", b"VAR"),
    (DipsGenerator, "nominal_voltage_v", 230, b"VNOM 230", b"VNOM?", b"230"),
    (DipsGenerator, "mains_frequency_hz", "60", b"FNOM 60", b"FNOM?", b"60"),
    (DipsGenerator, "residual_pct", 40, b"RES 40", b"RES?", b"40"),
    (DipsGenerator, "duration_cycles", 0.5, b"DUR 0.5", b"DUR?", b"0.5"),
    (DipsGenerator, "phase_angle_deg", 180, b"PHA 180", b"PHA?", b"180"),
    (DipsGenerator, "count", 10, b"CNT 10", b"CNT?", b"10"),
    (DipsGenerator, "interval_s", 10, b"INT 10", b"INT?", b"10"),
    (DipsGenerator, "variation_pct", -15, b"VVAR -15", b"VVAR?", b"-15"),
    (MagneticFieldSource, "field", "power_frequency", b"MODE AC", b"MODE?", b"AC"),
    (MagneticFieldSource, "flux_density_mt", 100, b"BSET 100", b"BSET?", b"100"),
    (MagneticFieldSource, "field_a_per_m", 30, b"HSET 30", b"HSET?", b"30"),
    (MagneticFieldSource, "frequency_hz", "50", b"FREQ 50", b"FREQ?", b"50"),
    (MagneticFieldSource, "duration_s", 0, b"TDUR 0", b"TDUR?", b"0"),
]


@pytest.mark.parametrize("cls, prop, value, set_bytes, query, reply", PROPERTIES,
                         ids=[f"{c.__name__}.{p}={v}" for c, p, v, *_ in PROPERTIES])
def test_each_setting_is_written_in_remote_confirmed_and_read_back(cls, prop, value, set_bytes, query, reply):
    with expected_protocol(cls, [*confirmed(b"REN", set_bytes), (query, reply)]) as generator:
        setattr(generator, prop, value)
        assert getattr(generator, prop) == value


MEASUREMENTS = [
    (SurgeGenerator, "peak_voltage_v", b"VPK?", b"-1990", -1990),
    (SurgeGenerator, "peak_current_a", b"IPK?", b"-166", -166),
    (SurgeGenerator, "last_coupling", b"LC?", b"IMP-OUT", "IMP-OUT"),
    (SurgeGenerator, "pulses_delivered", b"PC?", b"3", 3),
    (EsdSimulator, "discharges_delivered", b"DC?", b"10", 10),
    (DipsGenerator, "output_voltage_v", b"VRMS?", b"253.0", 253.0),
    (DipsGenerator, "events_delivered", b"EC?", b"3", 3),
    (MagneticFieldSource, "field_now", b"FLD?", b"30", 30.0),
    (BurstGenerator, "state", b"ST?", b"RUN", "running"),
    (BurstGenerator, "test_complete", b"TC?", b"1", True),
    (BurstGenerator, "high_voltage_on", b"HV?", b"0", False),
    (BurstGenerator, "interlock_closed", b"IL?", b"0", False),
]


@pytest.mark.parametrize("cls, prop, query, reply, expected", MEASUREMENTS,
                         ids=[f"{c.__name__}.{p}" for c, p, *_ in MEASUREMENTS])
def test_each_measurement_is_read_in_the_instruments_format(cls, prop, query, reply, expected):
    with expected_protocol(cls, [(query, reply)]) as generator:
        assert getattr(generator, prop) == expected
        with pytest.raises(AttributeError):
            setattr(generator, prop, expected)


def test_configure_takes_profile_names_and_sends_the_mode_first():
    with expected_protocol(DipsGenerator, confirmed(b"REN", b"MODE DIP", b"VNOM 230", b"RES 40", b"DUR 10",
                                                    b"CNT 10", b"INT 10")) as dips:
        sent = dips.configure(residual_pct=40, duration_cycles=10, count=10, interval_s=10, nominal_voltage_v=230,
                              d11_level=2, phase_angle_deg=None)
    assert list(sent) == ["mode", "nominal_voltage_v", "residual_pct", "duration_cycles", "count", "interval_s"]
    with expected_protocol(BurstGenerator, confirmed(b"REN", b"VSET 2.00", b"FREQ 5", b"TDUR 60", b"CPL LNPE",
                                                     b"POL NEG")) as burst:
        burst.configure(voltage_kv=2.0, repetition_khz=5, duration_per_polarity_s=60, coupling="lines",
                        polarity="negative", waveform="5/50 ns")


@pytest.mark.parametrize("cls, prop, value, why", [
    (SurgeGenerator, "voltage_kv", 6.0, "0.1 .. 5"),
    (SurgeGenerator, "count", 0, "1 .. 9999"),
    (SurgeGenerator, "count", 2.5, "an integer"),
    (SurgeGenerator, "polarity", "alternating", "'positive', 'negative'"),
    (SurgeGenerator, "coupling", "L1-L2", "'L-N'"),
    (BurstGenerator, "repetition_khz", 2000, "0.1 .. 1000"),
    (EsdSimulator, "discharge", "indirect", "'contact', 'air'"),
    (DipsGenerator, "residual_pct", 120, "0 .. 100"),
    (DipsGenerator, "mains_frequency_hz", "55", "'50', '60'"),
    (MagneticFieldSource, "field_a_per_m", 5000, "0 .. 1200"),
])
def test_values_out_of_range_are_refused_before_anything_is_sent(cls, prop, value, why):
    with expected_protocol(cls, []) as generator:
        with pytest.raises(InstrumentValueError, match=why):
            setattr(generator, prop, value)
        with pytest.raises(InstrumentValueError, match=why):
            generator.configure(**{prop: value})


def test_configure_checks_every_value_before_sending_the_first():
    with expected_protocol(SurgeGenerator, []) as surge:
        with pytest.raises(InstrumentValueError, match=r"dut.interval_s = 0.1 .*1 .. 3600"):
            surge.configure(voltage_kv=2.0, polarity="positive", interval_s=0.1)
        with pytest.raises(InstrumentValueError, match="not a parameter of a surge generator"):
            surge.configure(voltage_kv=2.0, level_kv=2.0)
        with pytest.raises(InstrumentValueError, match="dips"):
            surge.runs("dips", {})
    with expected_protocol(DipsGenerator, []) as dips:
        assert dips.check_parameters(mains_frequency_hz=60, variation_pct=10) == {
            "mode": "variation", "mains_frequency_hz": "60", "variation_pct": 10}


@pytest.mark.parametrize("code, message", [
    (b"1", "error 1: only allowed in remote"),
    (b"3", "error 3: impermissible argument"),
    (b"128", "error 128: interlock open"),
    (b"129", r"error 129: high voltage off \(not armed\)"),
    (b"77", "error 77: unknown error code"),
])
def test_the_error_register_becomes_an_instrument_error_naming_the_command(code, message):
    with expected_protocol(BurstGenerator, [(b"START", None), (b"E?", code)]) as burst:
        with pytest.raises(InstrumentError, match=rf"dut during 'START': .*{message}"):
            burst.start()


def test_arm_start_stop_disarm_are_each_confirmed():
    with expected_protocol(EsdSimulator, confirmed(b"ARM", b"START", b"REN", b"STOP", b"REN", b"DISARM")) as esd:
        esd.arm()
        esd.start()
        esd.stop()
        esd.disarm()


@pytest.mark.parametrize("exchange, why", [
    ((b"VSET?", b"2.0kV"), "cannot read '2.0kV'"),
    ((b"ST?", b"IDLE"), "'IDLE' is none of"),
    ((b"PC?", b"many"), "cannot read 'many'"),
])
def test_an_unparseable_reply_is_a_reply_error(exchange, why):
    prop = {b"VSET?": "voltage_kv", b"ST?": "state", b"PC?": "pulses_delivered"}[exchange[0]]
    with expected_protocol(SurgeGenerator, [exchange]) as surge:
        with pytest.raises(InstrumentReplyError, match=why):
            getattr(surge, prop)
    with expected_protocol(SurgeGenerator, [(b"ARM", None), (b"E?", b"E-OK")]) as surge:
        with pytest.raises(InstrumentReplyError, match="not an error register reply"):
            surge.arm()


def test_safe_state_stops_disarms_clears_a_latched_error_and_confirms_the_high_voltage_is_off():
    with expected_protocol(SurgeGenerator, [
        (b"REN", None), (b"STOP", None), (b"DISARM", None), (b"E?", b"128"), (b"HV?", b"0"),
        (b"ID?", b"SIM-SURGE 1.00"),
    ]) as surge:
        surge.safe_state()
        assert surge.identify() == "SIM-SURGE 1.00"
    with expected_protocol(SurgeGenerator, [
        (b"REN", None), (b"STOP", None), (b"DISARM", None), (b"E?", b"64"), (b"HV?", b"1"),
    ]) as surge:
        with pytest.raises(InstrumentError, match=r"high voltage is still on after DISARM \(error register: 64"):
            surge.safe_state()


def test_wait_complete_polls_until_complete_and_reports_why_a_test_ended_early():
    with expected_protocol(SurgeGenerator, [
        (b"TC?", b"0"), (b"ST?", b"RUN"), (b"TC?", b"1"),
    ]) as surge:
        surge.poll_s = 0
        surge.wait_complete(timeout_s=5)
    with expected_protocol(SurgeGenerator, [
        (b"TC?", b"0"), (b"ST?", b"STBY"), (b"TC?", b"0"), (b"E?", b"128"),
    ]) as surge:
        with pytest.raises(InstrumentError, match="error 128: interlock open"):
            surge.wait_complete(timeout_s=5)
    with expected_protocol(SurgeGenerator, [(b"TC?", b"0"), (b"ST?", b"RUN")]) as surge:
        with pytest.raises(InstrumentTimeout, match="still running"):
            surge.wait_complete(timeout_s=0)


# -- adapter tables: a lab adds a model by writing a table --------------------------------------------------

VENDOR_TABLE = """\
model: Example vendor surge generator (hypothetical syntax, for the test)
family: surge
extends: generic
commands:
  remote: null
  voltage_kv: "SURGE:VOLT %.1f"
  voltage_kv?: "SURGE:VOLT?"
values:
  polarity: {positive: "+", negative: "-"}
ranges:
  voltage_kv: [0.2, 4.4]
errors:
  pattern: '^(?P<code>\\d+),"(?P<message>[^"]*)"$'
"""


def test_a_table_file_changes_the_syntax_without_a_driver(tmp_path):
    table = tmp_path / "vendor-surge.yaml"
    table.write_text(VENDOR_TABLE)
    with expected_protocol(SurgeGenerator, [
        (b"SURGE:VOLT 4.0", None), (b"E?", b'0,"No error"'),
        (b"POL -", None), (b"E?", b'0,"No error"'),
        (b"SURGE:VOLT?", b"4.0"),
        (b"ARM", None), (b"E?", b'12,"Door open"'),
    ], options={"adapter": str(table)}) as surge:
        surge.configure(voltage_kv=4.0, polarity="negative")  # no REN: this model has no remote mode
        assert surge.voltage_kv == 4.0
        with pytest.raises(InstrumentValueError, match="0.2 .. 4.4"):
            surge.voltage_kv = 4.5
        with pytest.raises(InstrumentError, match="error 12: Door open"):
            surge.arm()


def test_a_bad_table_is_reported_with_file_and_field(tmp_path):
    partial = tmp_path / "partial.yaml"
    partial.write_text("model: partial\nfamily: surge\ncommands: {remote: REN, voltage_kv: 'V %g'}\n")
    with pytest.raises(InputFileError, match=r"partial.yaml:3 \(line 3\) field 'commands': missing arm, .*write null"):
        load_adapter(partial, "surge")
    with pytest.raises(InputFileError, match="this table is for burst, not surge"):
        load_adapter({**yaml.safe_load(VENDOR_TABLE), "family": "burst"}, "surge")
    template = tmp_path / "template.yaml"
    template.write_text("model: x\nfamily: surge\nextends: generic\ncommands:\n  voltage_kv: 'VSET'\n")
    with pytest.raises(InputFileError, match=r"line 5.*'VSET' is not a printf template for one value"):
        load_adapter(template, "surge")
    unknown = tmp_path / "unknown.yaml"
    unknown.write_text("model: x\nfamily: surge\nextends: vendorx\ncommands: {}\n")
    with pytest.raises(InputFileError, match="line 3.*unknown built-in table 'vendorx'"):
        load_adapter(unknown, "surge")
    with pytest.raises(ValidationError, match="neither a built-in table"):
        InstrumentEntry(driver="emc_surge", role="surge_generator", sim=True, options={"adapter": "ucs500"})


# -- the severity profile's parameters drive every generator ------------------------------------------------

KINDS = {"surge": SurgeGenerator, "burst": BurstGenerator, "esd": EsdSimulator, "dips": DipsGenerator,
         "voltage_variation": DipsGenerator, "dc_voltage_variation": DipsGenerator, "dc_dips": DipsGenerator,
         "magnetic_field": MagneticFieldSource, "power_frequency_magnetic_field": MagneticFieldSource,
         "power_frequency_magnetic_field_short": MagneticFieldSource}


def profile_tests():
    tests = yaml.safe_load(D11.read_text())["tests"]
    return [(name, test) for name, test in tests.items() if test.get("disturbance") in KINDS]


@pytest.mark.parametrize("name, test", profile_tests(), ids=[name for name, _ in profile_tests()])
def test_every_emc_test_of_the_d11_profile_expands_into_runs_the_generator_accepts(name, test):
    params = {**test.get("common", {}), **(test.get("levels", {}).get("E2") or {})}
    cls = KINDS[test["disturbance"]]
    with expected_protocol(cls, []) as generator:
        runs = generator.runs(test["disturbance"], params)
        assert runs
        for run in runs:
            assert generator.check_parameters(**run)


def test_runs_follow_the_profile_levels_polarities_and_phase_angles():
    tests = dict(profile_tests())
    with expected_protocol(SurgeGenerator, []) as surge:
        surge_mains = {**tests["surge_mains"]["common"], **tests["surge_mains"]["levels"]["E1"]}
        runs = surge.runs("surge", surge_mains)
    assert len(runs) == 3 * 2 * 4
    assert {(r["coupling"], r["voltage_kv"]) for r in runs} == {("L-N", 1.0), ("L-PE", 2.0), ("N-PE", 2.0)}
    assert {r["phase_angle_deg"] for r in runs} == {0, 90, 180, 270} and all(r["count"] == 3 for r in runs)
    with expected_protocol(DipsGenerator, []) as dips:
        variation = tests["power_voltage_variation"]["common"]
        # the output is said every time: a source a DC test left on DC must not feed the next AC test
        assert dips.runs("voltage_variation", {**variation, "limit": "lower"}) == [
            {"output": "ac", "mode": "variation", "variation_pct": -15}]
        dc = {**tests["dc_voltage_variation"]["common"], "mains_frequency_hz": 50}
        assert dips.runs("dc_voltage_variation", {**dc, "limit": "lower"}) == [
            {"output": "dc", "mode": "variation", "variation_pct": dc["lower_voltage_pct"]}]
        dc_dips = dips.runs("dc_dips", {**tests["dc_dips_interruptions"]["common"], "mains_frequency_hz": 50})
        sixty = dips.runs("dips", {**tests["dips_interruptions"]["common"], "mains_frequency_hz": 60,
                                   **tests["dips_interruptions"]["levels"]["E2"]})
    assert [r["duration_cycles"] for r in sixty] == [0.5, 1, 12, 30, 300]
    # DC dips last a time (ms), on the DC output, without the mains frequency or a phase angle
    first_two = [(r["output"], r["residual_pct"], r["duration_ms"]) for r in dc_dips][:2]
    assert first_two == [("dc", 40, 10), ("dc", 70, 100)]
    assert not any("mains_frequency_hz" in r or "phase_angle_deg" in r or "duration_cycles" in r for r in dc_dips)
    with expected_protocol(BurstGenerator, []) as burst:
        runs = burst.runs("burst", {**tests["burst_signal"]["common"], **tests["burst_signal"]["levels"]["E1"]})
    assert [(r["polarity"], r["coupling"], r["duration_per_polarity_s"]) for r in runs] == [
        ("positive", "clamp", 60), ("negative", "clamp", 60)]


def test_the_power_frequency_fields_are_one_continuous_run_and_one_pulsed_run_each():
    tests = dict(profile_tests())
    continuous = {**tests["power_frequency_magnetic_field"]["common"],
                  **tests["power_frequency_magnetic_field"]["levels"]["E1"]}
    short_test = tests["power_frequency_magnetic_field_short"]
    short = {**short_test["common"], **short_test["levels"]["E2"]}
    with expected_protocol(MagneticFieldSource, []) as field:
        assert field.runs("power_frequency_magnetic_field", continuous) == [
            {**continuous, "field": "power_frequency", "pulse_s": 0}]
        (pulsed,) = field.runs("power_frequency_magnetic_field_short", short)
    # the class's short field, each for the longest time D 11 allows, repeated at the lab's interval until stop
    assert pulsed == {"field": "power_frequency", "d11_level": 5, "mains_frequency_hz": 50,
                      "field_a_per_m": short_test["levels"]["E2"]["short_duration_field_a_per_m"],
                      "pulse_s": short_test["common"]["short_duration_max_s"],
                      "pulse_period_s": short_test["common"]["short_duration_interval_s"], "duration_s": 0}


# -- against the simulated lab ---------------------------------------------------------------------------

SCENARIO = Scenario.model_validate({
    "seed": 11,
    "water_rig": {"max_flowrate_m3h": 6.0, "pump_time_constant_s": 2.0, "tank_capacity_kg": 650,
                  "tank_drain_rate_kg_s": 50.0},
    "meters": [
        {"serial": "SUSCEPTIBLE-1", "error_curve": [[0.1, 1.0], [1.0, 0.5], [3.0, 0.2], [6.0, -0.4]],
         "pulse_value_l": 0.01, "register_resolution_l": 0.001,
         "susceptibility": {"burst": {"effect": "error_shift", "error_shift_pct": 2.5}}},
        {"serial": "IMMUNE-2", "error_curve": [[0.1, -1.0], [6.0, -1.0]], "pulse_value_l": 0.01,
         "register_resolution_l": 0.001},
    ],
})
FLOWRATE_M3H = 3.0


@pytest.fixture(scope="module")
def lab():
    """The default simulated bench on virtual time with a burst-susceptible meter 1 and an immune meter 2."""
    with running_lab(SIM_BENCH, SCENARIO, clock_scale=VIRTUAL) as lab:
        yield lab


class Used(dict):
    """The generators a test takes from the bench (by name), each left in its safe state afterwards."""

    def __init__(self, rig):
        super().__init__()
        self.rig = rig

    def __missing__(self, name):
        self[name] = self.rig[name]
        return self[name]


@pytest.fixture
def generators(rig):
    used = Used(rig)
    yield used
    for generator in used.values():
        generator.safe_state()


def on_the_clock(lab):
    """What a generator's driver waits between two status polls: a simulated second (its test takes simulated
    time, which a virtual clock moves only while someone waits on it; the rigs pass the same)."""
    return lambda: lab.clock.sleep(1)


def disturbances(lab, position):
    with lab.world.now():
        return set(lab.world.component("meters").meter(position).disturbances)


def test_every_generator_answers_by_role(rig, generators):
    for role, name in [("surge_generator", "surge"), ("burst_generator", "burst"), ("esd_generator", "esd"),
                       ("dips_generator", "dips"), ("magnetic_field_source", "magnetic_field")]:
        generator = rig.by_role(role)
        assert generator is generators[name]
        assert generator.identify().startswith("SIM-")
        assert generator.state == "standby" and generator.interlock_closed


def pulses(lab, iolog, channel, gate_s):
    entry = lab.bench.instruments["counter"].model_copy(update={"options": {"channel": channel}})
    with open_instrument(f"counter{channel}", entry, iolog, lab.resources["counter"]) as counter:
        counter.configure_timed_totalize(gate_s)
        return counter.read_count()


def expected_pulses(lab, position, gate_s, shift_pct=0.0):
    meter = lab.world.component("meters").meter(position)
    error_pct = meter.curve_error_pct(FLOWRATE_M3H) + shift_pct
    return FLOWRATE_M3H / 3.6 * gate_s * (1 + error_pct / 100) / meter.spec.pulse_value_l


def test_a_running_burst_shifts_the_susceptible_meter_and_not_the_immune_one(lab, rig, iolog, generators):
    rig["valves"].diverter_to_bypass()
    rig["valves"].open_start_valve()
    rig["pump"].run(50)
    lab.clock.sleep(30, max_real_s=2)
    burst = generators["burst"]
    run = burst.runs("burst", {"voltage_kv": 2.0, "repetition_khz": 5, "duration_per_polarity_s": 3600,
                               "polarities": ["positive"], "coupling": "coupling/decoupling network"})[0]
    burst.configure(**run)
    burst.arm()
    burst.start()
    assert burst.state == "running" and disturbances(lab, 1) == {"burst"} == disturbances(lab, 2)
    shift = SCENARIO.meters[0].susceptibility["burst"].error_shift_pct
    disturbed = pulses(lab, iolog, 1, 10), pulses(lab, iolog, 2, 10)
    burst.stop()
    undisturbed = pulses(lab, iolog, 1, 10), pulses(lab, iolog, 2, 10)
    rig["pump"].safe_state()
    assert abs(disturbed[0] - expected_pulses(lab, 1, 10, shift)) <= 1
    assert abs(undisturbed[0] - expected_pulses(lab, 1, 10)) <= 1
    assert disturbed[0] - undisturbed[0] == pytest.approx(expected_pulses(lab, 1, 10) * shift / 100, abs=2)
    assert abs(disturbed[1] - expected_pulses(lab, 2, 10)) <= 1  # coupled too, but immune
    assert abs(undisturbed[1] - disturbed[1]) <= 1
    assert burst.state == "armed" and not burst.test_complete and disturbances(lab, 1) == set()


def test_a_surge_test_runs_its_count_and_reports_the_peaks(lab, generators):
    surge = generators["surge"]
    surge.configure(voltage_kv=2.0, polarity="negative", coupling="L-PE", phase_angle_deg=90, count=3, interval_s=60)
    surge.arm()
    surge.start()
    surge.wait_complete(timeout_s=5, between_polls=on_the_clock(lab))
    assert surge.pulses_delivered == 3 and surge.last_coupling == "L-PE"
    assert -2100 < surge.peak_voltage_v < -1900 and surge.peak_current_a == pytest.approx(surge.peak_voltage_v / 12,
                                                                                          abs=1)
    assert surge.state == "armed" and disturbances(lab, 1) == set()


def test_an_esd_run_from_the_profile_delivers_its_discharges(lab, generators):
    esd = generators["esd"]
    params = {**dict(profile_tests())["esd"]["common"], "contact_voltage_kv": 6}
    esd.configure(**esd.runs("esd", params)[1])
    assert (esd.discharge, esd.polarity, esd.voltage_kv) == ("contact", "negative", 6.0)
    esd.arm()
    esd.start()
    esd.wait_complete(timeout_s=5, between_polls=on_the_clock(lab))
    assert esd.discharges_delivered == 10


def test_dips_then_a_steady_variation_from_the_same_source(lab, generators):
    dips = generators["dips"]
    dips.configure(nominal_voltage_v=230, residual_pct=40, duration_cycles=10, count=3, interval_s=10)
    dips.arm()
    dips.start()
    dips.wait_complete(timeout_s=5, between_polls=on_the_clock(lab))
    assert dips.events_delivered == 3 and dips.output_voltage_v == 230.0
    dips.configure(variation_pct=10)
    dips.start()
    assert dips.mode == "variation" and dips.output_voltage_v == pytest.approx(253.0)
    assert disturbances(lab, 1) == {"voltage_variation"}
    dips.stop()
    assert dips.output_voltage_v == 230.0 and disturbances(lab, 1) == set()


def test_the_magnetic_field_is_on_while_running(lab, generators):
    field = generators["magnetic_field"]
    field.configure(flux_density_mt=100, duration_s=0)
    field.arm()
    field.start()
    assert field.field == "static" and field.field_now == 100 and disturbances(lab, 1) == {"magnetic_field"}
    field.stop()
    field.configure(field_a_per_m=30, mains_frequency_hz=50, duration_s=60)
    field.start()
    field.wait_complete(timeout_s=5, between_polls=on_the_clock(lab))
    assert field.field == "power_frequency" and field.field_now == 0 and disturbances(lab, 1) == set()
    field.configure(field_a_per_m=300, pulse_s=3, pulse_period_s=10, duration_s=0)
    field.start()
    assert field.field_now == 300 and disturbances(lab, 1) == {"power_frequency_magnetic_field_short"}
    field.stop()
    assert field.field_now == 0 and disturbances(lab, 1) == set()


def test_safe_state_leaves_a_running_generator_disarmed(lab, generators):
    burst = generators["burst"]
    burst.configure(duration_s=3600)
    burst.arm()
    burst.start()
    assert disturbances(lab, 1) == {"burst"}
    burst.safe_state()
    assert burst.state == "standby" and not burst.high_voltage_on and disturbances(lab, 1) == set()


def test_the_server_refuses_unknown_commands_and_raw_out_of_range_values(generators):
    surge = generators["surge"]
    surge.remote()
    before = surge.voltage_kv
    surge.write("FOO 1")
    assert surge.error_code() == (2, "unknown command")
    surge.write("VSET 99")  # raw, bypassing the driver's check
    assert surge.error_code() == (3, "impermissible argument") and surge.voltage_kv == before
    surge.write("ARM?")
    assert surge.error_code() == (4, "no query allowed")
    surge.local()
    surge.write("VSET 1")
    assert surge.error_code() == (1, "only allowed in remote") and surge.voltage_kv == before


def test_an_open_interlock_refuses_arm_and_ends_a_running_test(lab, generators):
    esd, surge = generators["esd"], generators["surge"]
    lab.inject(FaultSpec(kind="interlock_open", instrument="esd", at_s=lab.clock.now(), duration_s=300))
    with pytest.raises(InstrumentError, match="esd during 'ARM'.*error 128: interlock open"):
        esd.arm()
    assert not esd.interlock_closed
    lab.clock.sleep(299)
    assert not esd.interlock_closed
    lab.clock.sleep(1)  # 300 simulated s after it opened
    assert esd.interlock_closed
    esd.arm()
    surge.configure(count=20, interval_s=60)
    surge.arm()
    surge.start()
    lab.inject(FaultSpec(kind="interlock_open", instrument="surge", at_s=lab.clock.now(), duration_s=100))
    with pytest.raises(InstrumentError, match="error 128: interlock open"):
        surge.wait_complete(timeout_s=5, between_polls=on_the_clock(lab))
    assert surge.state == "standby" and disturbances(lab, 1) == set()


# -- communication faults ----------------------------------------------------------------------------------


@pytest.fixture
def connect(lab):
    opened = []

    def open_(name):
        instrument = open_with_timeout(lab, name)
        opened.append(instrument)
        return instrument

    yield open_
    lab.clear_faults()
    for instrument in opened:
        instrument.close()


failing = raised_within


@pytest.mark.parametrize("kind, expected", [
    ("no_answer", InstrumentTimeout), ("garbage", InstrumentReplyError), ("drop_connection", InstrumentConnectionError),
])
def test_comm_faults_surface_within_the_timeout(lab, connect, kind, expected):
    burst = connect("burst")
    lab.inject(FaultSpec(kind=kind, instrument="burst", at_s=lab.clock.now()))
    exc, elapsed = failing(lambda: burst.state)
    assert isinstance(exc, expected) and exc.instrument == "burst" and exc.command == "ST?"
    assert elapsed < TIMEOUT_S + SLACK_S
    lab.clear_faults("burst")
    burst.transport.reconnect()  # a fresh session, as the engine does after a failure
    assert burst.state == "standby"


def test_an_internal_error_is_read_from_the_error_register(lab, connect):
    dips = connect("dips")
    lab.inject(FaultSpec(kind="error", instrument="dips", at_s=lab.clock.now(), message="64"))
    with pytest.raises(InstrumentError, match=r"dips during 'REN'.*error 64: other error"):
        dips.nominal_voltage_v = 230
