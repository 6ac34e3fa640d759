"""RF immunity chain: the four drivers byte-exact, then levelling and sweeps through pyvisa-py sockets against
the simulated lab (generator -> amplifier -> CDN adaptor / antenna), with a meter susceptible to conducted RF."""

import math
import threading
import time
from pathlib import Path

import pytest
import yaml

from meterlab.errors import DeclarationError, InputFileError
from meterlab.instruments.bench import load_bench
from meterlab.instruments.errors import (
    InstrumentConnectionError,
    InstrumentError,
    InstrumentReplyError,
    InstrumentTimeout,
    InstrumentValueError,
)
from meterlab.instruments.iolog import MemoryIOLog
from meterlab.instruments.rf import (
    EtsLindgrenHi6100,
    FieldReading,
    RfAmplifier,
    RohdeSchwarzNrp,
    RohdeSchwarzSmb100a,
    dbm_to_watts,
    watts_to_dbm,
)
from meterlab.instruments.rf_immunity import (
    LevelCalibration,
    LevellingError,
    RfImmunityError,
    RfSweepDisturbance,
    Stopped,
    adaptor_target_dbm,
    calibrate_field_levels,
    calibrate_levels,
    check_table,
    frequency_steps,
    load_level_table,
    run_sweep,
    save_level_table,
)
from meterlab.instruments.testing import expected_protocol
from meterlab.sim.clock import VIRTUAL
from meterlab.sim.scenario import FaultSpec, Scenario
from meterlab.sim.testing import FAULT_SLACK_S as SLACK_S
from meterlab.sim.testing import inject_fault, open_with_timeout, raised_within, running_lab

ROOT = Path(__file__).resolve().parents[2]
SIM_BENCH = ROOT / "instruments" / "sim.yaml"
WATER_SCENARIO = ROOT / "tests" / "sim" / "data" / "water.yaml"
D11 = ROOT / "procedures" / "standards" / "d11-2013.yaml"
SHIFT_PCT = 2.0  # meter 1's error shift under conducted RF (the scenario's truth)
SENSOR_ATTENUATION_DB = 6.0  # attenuator between the adaptor and the simulated sensor (truth and certificate)

# -- byte-exact: signal generator ---------------------------------------------------------------------------


def test_generator_frequency_and_level_both_ways():
    with expected_protocol(RohdeSchwarzSmb100a, [
        (b"SOUR:FREQ:CW 150000", None),
        (b"SOUR:FREQ:CW?", b"150000"),
        (b"SOUR:POW:LEV:IMM:AMPL -20.00", None),
        (b"SOUR:POW:LEV:IMM:AMPL?", b"-20"),
    ]) as generator:
        generator.frequency_hz = 150e3
        assert generator.frequency_hz == 150e3
        generator.level_dbm = -20
        assert generator.level_dbm == -20.0


def test_generator_am_and_output_switches_both_ways():
    with expected_protocol(RohdeSchwarzSmb100a, [
        (b"SOUR:AM:SOUR INT", None),
        (b"SOUR:AM:DEPT 80.0", None),
        (b"SOUR:LFO:FREQ 1000", None),
        (b"SOUR:LFO:SHAP SINE", None),
        (b"SOUR:AM:STAT ON", None),
        (b"SOUR:AM:STAT?", b"1"),
        (b"OUTP:STAT ON", None),
        (b"OUTP:STAT?", b"1"),
        (b"SOUR:AM:SOUR?", b"INT"),
        (b"SOUR:LFO:SHAP?", b"SINE"),
        (b"SOUR:AM:DEPT?", b"80"),
    ]) as generator:
        generator.configure_am(80, 1000, "sine")
        generator.am_enabled = True
        assert generator.am_enabled is True
        generator.rf_output = True
        assert generator.rf_output is True
        assert generator.am_source == "internal"
        assert generator.lfo_shape == "sine"
        assert generator.am_depth_pct == 80.0


def test_generator_values_out_of_range_are_refused_before_anything_is_sent():
    with expected_protocol(RohdeSchwarzSmb100a, []) as generator:
        for name, value in (("frequency_hz", 7e9), ("frequency_hz", 1e3), ("level_dbm", 31), ("am_depth_pct", 101),
                            ("lfo_shape", "sawtooth"), ("rf_output", "yes"), ("rf_output", 1)):
            with pytest.raises(InstrumentValueError, match=name):
                setattr(generator, name, value)
        with pytest.raises(InstrumentValueError, match="am_depth_pct"):
            generator.configure_am(120, 1000)  # nothing of the AM set-up is sent
        with pytest.raises(InstrumentValueError, match="lfo_frequency_hz"):
            generator.configure_am(80, 2e6)


def test_generator_safe_state_switches_rf_off_and_reads_it_back():
    with expected_protocol(RohdeSchwarzSmb100a, [
        (b"OUTP:STAT OFF", None),
        (b"OUTP:STAT?", b"0"),
        (b"SOUR:AM:STAT OFF", None),
        (b"*IDN?", b"Rohde&Schwarz,SMB100A,1406.6000k03/180123,3.1.19.15"),
    ]) as generator:
        generator.safe_state()
        assert generator.identify().startswith("Rohde&Schwarz,SMB100A")


def test_generator_safe_state_fails_loudly_if_rf_stays_on():
    with expected_protocol(RohdeSchwarzSmb100a, [(b"OUTP:STAT OFF", None), (b"OUTP:STAT?", b"1")]) as generator:
        with pytest.raises(InstrumentError, match="still on"):
            generator.safe_state()


def test_generator_errors_come_from_its_queue_and_bad_replies_are_reply_errors():
    with expected_protocol(RohdeSchwarzSmb100a, [
        (b"SOUR:FREQ:CW 5000000000", None),
        (b"SYST:ERR?", b'-222,"Data out of range"'),
        (b"SYST:ERR?", b'0,"No error"'),
        (b"OUTP:STAT?", b"MAYBE"),
    ]) as generator:
        generator.frequency_hz = 5e9  # beyond this instrument's frequency option
        with pytest.raises(InstrumentError, match=r'SOUR:FREQ:CW 5000000000.*-222,"Data out of range"'):
            generator.confirm()
        with pytest.raises(InstrumentReplyError, match="MAYBE"):
            _ = generator.rf_output


# -- byte-exact: power meter --------------------------------------------------------------------------------


def test_power_meter_configure_and_measure_in_w_and_dbm():
    with expected_protocol(RohdeSchwarzNrp, [
        (b"INIT:CONT OFF", None),
        (b'SENS:FUNC "POW:AVG"', None),
        (b"SENS:FREQ 150000", None),
        (b"SENS:AVER:COUN:AUTO OFF", None),
        (b"SENS:AVER:COUN 16", None),
        (b"SENS:AVER:STAT ON", None),
        (b"SENS:AVER:TCON REP", None),
        (b"INIT:IMM", None),
        (b"STAT:OPER:COND?", b"16"),
        (b"STAT:OPER:COND?", b"0"),
        (b"FETC?", b"1.000000000e-02"),
        (b"SENS:AVER:COUN?", b"16"),
        (b"SENS:FREQ?", b"150000"),
    ]) as sensor:
        sensor.configure(150e3, 16)
        assert sensor.measure_power_dbm() == pytest.approx(10.0, abs=1e-12)
        assert sensor.averaging_count == 16
        assert sensor.frequency_hz == 150e3


def test_dbm_conversion_and_a_reading_without_signal():
    assert watts_to_dbm(1e-3) == 0.0 and watts_to_dbm(dbm_to_watts(17.45)) == pytest.approx(17.45)
    assert watts_to_dbm(0.0) == -math.inf and watts_to_dbm(-1e-12) == -math.inf


def test_power_meter_invalid_reading_raises_with_the_error_queue():
    with expected_protocol(RohdeSchwarzNrp, [
        (b"INIT:IMM", None),
        (b"STAT:OPER:COND?", b"0"),
        (b"FETC?", b"+9.91000000000000E+037"),
        (b"SYST:ERR?", b'-230,"Data corrupt or stale"'),
        (b"SYST:ERR?", b'0,"No error"'),
        (b"INIT:IMM", None),
        (b"STAT:OPER:COND?", b"0"),
        (b"FETC?", b"lots"),
    ]) as sensor:
        with pytest.raises(InstrumentError, match=r"FETC\?.*-230"):
            sensor.measure_power_w()
        with pytest.raises(InstrumentReplyError, match="not a power in W"):
            sensor.measure_power_w()


def test_power_meter_measurement_that_never_completes_is_aborted_within_its_bound():
    with expected_protocol(RohdeSchwarzNrp, [
        (b"INIT:IMM", None),
        (b"STAT:OPER:COND?", b"16"),
        (b"ABOR", None),
    ]) as sensor:
        with pytest.raises(InstrumentError, match="did not complete"):
            sensor.measure_power_w(timeout_s=1e-9)


def test_power_meter_refuses_values_and_its_safe_state_aborts():
    with expected_protocol(RohdeSchwarzNrp, [(b"ABOR", None)]) as sensor:
        for value in (0, 1.5, 1 << 21):
            with pytest.raises(InstrumentValueError, match="averaging_count"):
                sensor.averaging_count = value
        with pytest.raises(InstrumentValueError, match="frequency_hz"):
            sensor.configure(7e9)
        sensor.safe_state()


# -- byte-exact: amplifier ----------------------------------------------------------------------------------


def test_amplifier_switches_are_confirmed_through_its_event_register():
    with expected_protocol(RfAmplifier, [
        (b"ZEROATT", None), (b"*ESR?", b"0"),
        (b"RFON", None), (b"*ESR?", b"0"),
        (b"RFOF", None), (b"FULLATT", None), (b"*ESR?", b"0"),
        (b"*IDN?", b"AMETEK CTS,CBA 1G-070,1234567,V2.10"),
    ]) as amplifier:
        amplifier.operate()
        amplifier.rf_on()
        amplifier.safe_state()
        assert amplifier.identify() == "AMETEK CTS,CBA 1G-070,1234567,V2.10"


def test_amplifier_error_bits_name_the_command_and_garbage_is_a_reply_error():
    with expected_protocol(RfAmplifier, [
        (b"RFON", None), (b"*ESR?", b"16"),
        (b"FULLATT", None), (b"*ESR?", b"+1.0E+00x"),
    ]) as amplifier:
        with pytest.raises(InstrumentError, match=r"'RFON'.*16: execution error"):
            amplifier.rf_on()
        with pytest.raises(InstrumentReplyError, match="event register"):
            amplifier.standby()


def test_amplifier_of_another_model_uses_its_own_table():
    table = {"rf_on": "R1", "rf_off": "R0", "operate": "P1", "standby": "P0", "identify": "ID?",
             "error_register": None, "complete": "*OPC?"}
    with expected_protocol(RfAmplifier, [
        (b"R1", None), (b"*OPC?", b"1"), (b"ID?", b"AR 150W1000"),
    ], options={"commands": table}) as amplifier:
        amplifier.rf_on()
        assert amplifier.identify() == "AR 150W1000"
    with pytest.raises(ValueError, match="unknown amplifier model"):
        RfAmplifier.Options.model_validate({"model": "nonesuch"})


# -- byte-exact: field probe --------------------------------------------------------------------------------


def test_probe_identity_field_and_battery():
    with expected_protocol(EtsLindgrenHi6100, [
        (b"I", b":I6105V1.03.00070023456703152025N"),
        (b"D5", b":D1.23412.34123.4124.6N"),
        (b"B", b":B3.90N"),
    ]) as probe:
        ident = probe.identity()
        assert (ident.model, ident.firmware, ident.serial, ident.calibration) == \
            ("HI-6105", "V1.03.0007", "00234567", "03152025")
        assert probe.read_field() == FieldReading(1.234, 12.34, 123.4, 124.6)
        assert probe.battery() == (3.9, True)


def test_probe_errors_battery_fail_and_garbage():
    with expected_protocol(EtsLindgrenHi6100, [
        (b"D5", b":E7"),
        (b"D5", b":D1.234 2.34 3.45 4.56F"),
        (b"D5", b":D12N"),
        (b"B", b"OK"),
    ]) as probe:
        with pytest.raises(InstrumentError, match="E7: probe off"):
            probe.read_field()
        with pytest.raises(InstrumentError, match="battery fail"):
            probe.read_field()
        with pytest.raises(InstrumentReplyError, match="four 5-character fields"):
            probe.read_field()
        with pytest.raises(InstrumentReplyError, match="unexpected reply"):
            probe.battery()


def test_probe_safe_state_sends_nothing():
    with expected_protocol(EtsLindgrenHi6100, []) as probe:
        probe.safe_state()


# -- frequency list and the stored table (no instruments) ----------------------------------------------------


def test_conducted_frequency_list_steps_at_most_one_percent_and_covers_the_range():
    common = yaml.safe_load(D11.read_text())["tests"]["conducted_rf"]["common"]  # the profile's own numbers
    # float(): PyYAML (YAML 1.1) reads the profile's `0.15e6` as a string; 150000 or 0.15e+6 would be numbers
    start, stop, step = (float(common[k]) for k in ("frequency_start_hz", "frequency_stop_hz", "step_pct"))
    steps = frequency_steps(start, stop, step)
    assert steps[0] == start and steps[-1] == stop
    ratios = [b / a for a, b in zip(steps, steps[1:])]
    assert max(ratios) <= 1 + step / 100 and min(ratios) > 1
    fewest = math.ceil(math.log(stop / start) / math.log1p(step / 100)) + 1
    assert fewest <= len(steps) <= fewest + 1  # rounding down to whole Hz may add one
    assert frequency_steps(1e6, 1e6, 1) == [1e6]
    assert frequency_steps(150e3, 152e3, 1) == [150e3, 151500.0, 152e3]


@pytest.mark.parametrize("args", [(0, 1e6, 1), (2e6, 1e6, 1), (1e6, 2e6, 0), (1e6, math.inf, 1), (1, 1e9, 1e-6)])
def test_frequency_list_refuses_impossible_parameters(args):
    with pytest.raises(DeclarationError):
        frequency_steps(*args)


def test_calibration_and_sweep_parameters_are_refused_before_anything_is_sent():
    with expected_protocol(RohdeSchwarzSmb100a, []) as generator, expected_protocol(RohdeSchwarzNrp, []) as sensor:
        levels = {"frequency_start_hz": 150e3, "frequency_stop_hz": 152e3, "step_pct": 1}
        for bad in ({"emf_v": 0}, {"emf_v": 3, "tolerance_db": 0}, {"emf_v": 3, "max_level_dbm": -200},
                    {"emf_v": 3, "step_pct": -1}):
            with pytest.raises(DeclarationError):
                calibrate_levels(generator, sensor, **{**levels, **bad})
        table = LevelCalibration.model_validate(table_data())
        with pytest.raises(DeclarationError, match="dwell_s"):
            run_sweep(generator, table, dwell_s=-1, am_depth_pct=80, am_frequency_hz=1000)
        with pytest.raises(InstrumentValueError, match="am_depth_pct"):
            run_sweep(generator, table, dwell_s=1, am_depth_pct=180, am_frequency_hz=1000)
        with pytest.raises(RfImmunityError, match="not in the level calibration"):
            run_sweep(generator, table, dwell_s=1, am_depth_pct=80, am_frequency_hz=1000, frequencies_hz=[1e6])


def table_data(**changes):
    data = {"kind": "conducted_rf", "calibrated_at": "2025-03-01T10:00:00+00:00", "emf_v": 3.0,
            "emf_to_adaptor_ratio": 6.0, "target_db": adaptor_target_dbm(3.0, 6.0), "tolerance_db": 0.1,
            "frequency_start_hz": 150e3, "frequency_stop_hz": 152e3, "step_pct": 1.0,
            "points": [{"frequency_hz": f, "generator_level_dbm": -20.0, "measured_db": 7.0, "iterations": 2}
                       for f in (150e3, 151.5e3, 152e3)]}
    return {**data, **changes}


def test_level_table_round_trips_through_yaml_and_bad_files_name_the_line(tmp_path):
    table = LevelCalibration.model_validate(table_data())
    assert adaptor_target_dbm(10.0, 6.0) == pytest.approx(10 * math.log10((10 / 6) ** 2 / 50 / 1e-3))
    path = save_level_table(table, tmp_path / "cal" / "cdn.yaml")
    assert load_level_table(path) == table
    text = path.read_text().replace("frequency_hz: 151500.0", "frequency_hz: 149000.0")
    path.write_text(text)
    with pytest.raises(InputFileError, match=r"line \d+.*points.*strictly increasing"):
        load_level_table(path)
    with pytest.raises(ValueError, match="states emf_v"):
        LevelCalibration.model_validate(table_data(emf_v=None, field_v_per_m=3.0))
    with pytest.raises(ValueError, match="time zone"):
        LevelCalibration.model_validate(table_data(calibrated_at="2025-03-01T10:00:00"))


def test_a_table_is_checked_against_the_test_it_is_used_for():
    table = LevelCalibration.model_validate(table_data())
    check_table(table, frequency_start_hz=150e3, frequency_stop_hz=152e3, step_pct=1, emf_v=3.0, d11_level=2)
    with pytest.raises(RfImmunityError, match="emf_v: test 10, calibration 3"):
        check_table(table, frequency_start_hz=150e3, frequency_stop_hz=152e3, step_pct=1, emf_v=10.0)
    with pytest.raises(DeclarationError, match="frequency_start_hz = '0.15e6'"):
        check_table(table, frequency_start_hz="0.15e6", frequency_stop_hz=152e3, step_pct=1, emf_v=3.0)


# -- against the simulated lab -----------------------------------------------------------------------------


def rf_scenario() -> Scenario:
    data = yaml.safe_load(WATER_SCENARIO.read_text())
    data["meters"][0].setdefault("susceptibility", {})["conducted_rf"] = {"effect": "error_shift",
                                                                          "error_shift_pct": SHIFT_PCT}
    data.setdefault("devices", {})["rf_power_meter"] = {"input_attenuation_db": SENSOR_ATTENUATION_DB}
    return Scenario.model_validate(data)


@pytest.fixture(scope="module")
def rf_lab():
    with running_lab(load_bench(SIM_BENCH), rf_scenario(), clock_scale=VIRTUAL) as lab:
        yield lab


@pytest.fixture(scope="module")
def rf_rig(rf_lab):
    with rf_lab.open_bench(MemoryIOLog()) as bench:
        yield bench
        bench.safe_state()


@pytest.fixture
def chain(rf_rig):
    """generator, power meter, amplifier, probe; the chain is left safe after each test."""
    yield rf_rig["rf_generator"], rf_rig["rf_power_meter"], rf_rig["rf_amplifier"], rf_rig["field_probe"]
    for name in ("rf_generator", "rf_amplifier"):
        rf_rig[name].safe_state()


@pytest.fixture(scope="module")
def conducted_table(rf_lab, rf_rig):
    return calibrate_levels(rf_rig["rf_generator"], rf_rig["rf_power_meter"], amplifier=rf_rig["rf_amplifier"],
                            frequency_start_hz=150e3, frequency_stop_hz=152e3, step_pct=1, emf_v=3.0,
                            attenuation_db=SENSOR_ATTENUATION_DB, linearity_step_db=3.0, bench="sim",
                            start_level_dbm=-25.0, clock=rf_lab.clock)


def test_every_instrument_of_the_chain_identifies_itself(chain):
    generator, sensor, amplifier, probe = chain
    assert "SMB100A" in generator.identify() and "NRP" in sensor.identify()
    assert "CBA" in amplifier.identify() and probe.identify().startswith("ETS-Lindgren HI-6105")


def truth_during_replay(lab, generator, table, amplifier, quantity):
    """The physics' own level at each stored generator level (replayed unmodulated through the drivers)."""
    truth = []
    run_sweep(generator, table, dwell_s=0, am_depth_pct=0, am_frequency_hz=1000, amplifier=amplifier,
              clock=lab.clock, on_step=lambda step: truth.append(lab.world.read(quantity)))
    return truth


def test_levelling_reaches_the_emf_at_every_calibrated_frequency(rf_lab, chain, conducted_table):
    generator, _, amplifier, _ = chain
    table = conducted_table
    assert table.frequencies_hz == [150e3, 151500.0, 152e3] and table.emf_v == 3.0
    assert all(abs(p.measured_db - table.target_db) <= table.tolerance_db for p in table.points)
    assert set(table.instruments) == {"rf_generator", "rf_amplifier", "rf_power_meter"}
    emf = truth_during_replay(rf_lab, generator, table, amplifier, "rf.emf_v")
    assert all(abs(20 * math.log10(e / 3.0)) <= table.tolerance_db + 0.01 for e in emf), emf
    assert table.linearity_failures(0.2) == []  # 3 V is far below compression
    assert generator.rf_output is False  # the calibration ends with the RF off


def test_levelling_converges_in_compression_and_the_linearity_check_shows_it(rf_lab, chain):
    generator, sensor, amplifier, _ = chain
    table = calibrate_levels(generator, sensor, amplifier=amplifier, frequency_start_hz=1e6, frequency_stop_hz=1e6,
                             step_pct=1, emf_v=20.0, attenuation_db=SENSOR_ATTENUATION_DB, max_level_dbm=10.0,
                             linearity_step_db=3.0, start_level_dbm=-5.0, clock=rf_lab.clock)
    (point,) = table.points
    assert abs(point.measured_db - table.target_db) <= table.tolerance_db
    assert point.linearity_db < 2.0 and table.linearity_failures(1.0) == [point]  # the amplifier compresses
    emf = truth_during_replay(rf_lab, generator, table, amplifier, "rf.emf_v")
    assert abs(20 * math.log10(emf[0] / 20.0)) <= table.tolerance_db + 0.01


def test_an_unreachable_level_is_a_levelling_error_with_the_rf_off(rf_lab, chain):
    generator, sensor, amplifier, _ = chain
    with pytest.raises(LevellingError, match="largest allowed level 0.00 dBm"):
        calibrate_levels(generator, sensor, amplifier=amplifier, frequency_start_hz=1e6, frequency_stop_hz=1e6,
                         step_pct=1, emf_v=40.0, attenuation_db=SENSOR_ATTENUATION_DB, start_level_dbm=-5.0,
                         clock=rf_lab.clock)
    assert generator.rf_output is False and not rf_lab.world.read("rf.active")


def test_field_levelling_reaches_the_field_at_every_frequency(rf_lab, chain):
    generator, _, amplifier, probe = chain
    table = calibrate_field_levels(generator, probe, amplifier=amplifier, frequency_start_hz=80e6,
                                   frequency_stop_hz=81e6, step_pct=1, field_v_per_m=3.0, start_level_dbm=-20.0)
    assert table.kind == "radiated_rf" and len(table.points) == 3
    field = truth_during_replay(rf_lab, generator, table, amplifier, "rf.field_carrier_v_per_m")
    assert all(abs(20 * math.log10(e / 3.0)) <= table.tolerance_db + 0.05 for e in field), field
    result = run_sweep(generator, table, dwell_s=1, am_depth_pct=80, am_frequency_hz=1000, amplifier=amplifier,
                       probe=probe, clock=rf_lab.clock)
    rms = 3.0 * math.sqrt(1 + 0.8 ** 2 / 2)  # the probe reads the RMS of the 80 % AM field
    assert all(step.field_v_per_m == pytest.approx(rms, rel=0.03) for step in result.steps)


@pytest.fixture(scope="module")
def flowing(rf_lab, rf_rig):
    rf_rig["valves"].diverter_to_bypass()
    rf_rig["valves"].open_start_valve()
    rf_rig["pump"].run(50)
    rf_lab.clock.sleep(30, max_real_s=2)
    assert rf_lab.world.read("water.flowrate_m3h") == pytest.approx(3.0, rel=1e-6)
    yield rf_rig
    rf_rig["pump"].safe_state()


def expected_pulses(lab, seconds, shift_pct=0.0):
    meter = lab.world.component("meters").meter(1)
    return 3.0 / 3.6 * seconds * (1 + (meter.curve_error_pct(3.0) + shift_pct) / 100) / meter.spec.pulse_value_l


def test_sweep_shifts_the_susceptible_meter_while_rf_is_on_and_not_after(rf_lab, flowing, chain, conducted_table):
    generator, sensor, amplifier, _ = chain
    counter, meter = flowing["counter"], rf_lab.world.component("meters").meter(1)
    during = []

    def measure_while_applied(step):
        if step.index == 1:  # the sweep holds this step's RF while the counter counts
            assert "conducted_rf" in meter.disturbances
            counter.configure_timed_totalize(10)
            during.append(counter.read_count())

    result = run_sweep(generator, conducted_table, dwell_s=2, am_depth_pct=80, am_frequency_hz=1000,
                       amplifier=amplifier, power_meter=sensor, clock=rf_lab.clock, on_step=measure_while_applied)
    assert result.completed and [s.frequency_hz for s in result.steps] == conducted_table.frequencies_hz
    assert all(s.ended_s - s.applied_s == pytest.approx(2) for s in result.steps)  # exact (was >= 2: real time)
    am_gain_db = 10 * math.log10(1 + 0.8 ** 2 / 2)  # 80 % AM on top of the unmodulated calibration
    for step, point in zip(result.steps, conducted_table.points):
        assert step.power_dbm + SENSOR_ATTENUATION_DB - point.measured_db == pytest.approx(am_gain_db, abs=0.05)
    assert abs(during[0] - expected_pulses(rf_lab, 10, SHIFT_PCT)) <= 1
    assert generator.rf_output is False and not meter.disturbances
    counter.configure_timed_totalize(10)
    assert abs(counter.read_count() - expected_pulses(rf_lab, 10)) <= 1


def test_sweep_stops_between_steps_and_within_a_long_dwell(rf_lab, chain, conducted_table):
    generator, _, amplifier, _ = chain
    stop = threading.Event()
    result = run_sweep(generator, conducted_table, dwell_s=0, am_depth_pct=80, am_frequency_hz=1000,
                       amplifier=amplifier, clock=rf_lab.clock, on_step=lambda step: stop.set(),
                       should_stop=stop.is_set)
    assert result.stopped and len(result.steps) == 1
    stop.clear()
    timer = threading.Timer(0.2, stop.set)
    timer.start()
    started = time.monotonic()
    # on the wall clock (a real bench's): a stop from another thread while a dwell is in flight needs real time
    result = run_sweep(generator, conducted_table, dwell_s=20_000, am_depth_pct=80, am_frequency_hz=1000,
                       amplifier=amplifier, should_stop=stop.is_set)
    assert time.monotonic() - started < 1.5
    assert result.stopped and len(result.steps) == 1
    assert generator.rf_output is False and not rf_lab.world.read("rf.active")


def test_calibration_can_be_stopped_and_leaves_the_rf_off(rf_lab, chain):
    generator, sensor, amplifier, _ = chain
    with pytest.raises(Stopped, match="after 1 points"):
        calibrate_levels(generator, sensor, amplifier=amplifier, frequency_start_hz=150e3, frequency_stop_hz=152e3,
                         step_pct=1, emf_v=3.0, attenuation_db=SENSOR_ATTENUATION_DB, start_level_dbm=-17.0,
                         should_stop=iter([False, True]).__next__, clock=rf_lab.clock)
    assert generator.rf_output is False


def test_sweep_as_a_disturbance_during_a_measurement(rf_lab, chain, conducted_table):
    generator, sensor, amplifier, _ = chain
    disturbance = RfSweepDisturbance(generator, conducted_table, amplifier=amplifier, power_meter=sensor,
                                     clock=rf_lab.clock)
    profile = {"frequency_start_hz": 150e3, "frequency_stop_hz": 152e3, "step_pct": 1, "am_depth_pct": 80,
               "am_frequency_hz": 1000, "dwell_s": 5, "emf_v": 3.0, "d11_level": 2, "coupling": "CDN"}
    with pytest.raises(RfImmunityError, match="emf_v"):
        disturbance.configure(**{**profile, "emf_v": 10.0})
    (run,) = disturbance.runs("conducted_rf", profile)
    disturbance.configure(**run, repeat=True)
    disturbance.start()
    assert rf_lab.clock.wait_until(lambda: rf_lab.world.read("rf.active"), timeout_sim_s=1, max_real_s=2)
    assert disturbance.running
    disturbance.stop()
    assert not disturbance.running and not rf_lab.world.read("rf.active") and generator.rf_output is False
    assert disturbance.results and disturbance.results[-1].stopped


def test_safe_state_of_the_bench_leaves_rf_off_and_the_amplifier_in_standby(rf_lab, rf_rig, chain):
    generator, _, amplifier, _ = chain
    amplifier.operate()
    amplifier.rf_on()
    generator.rf_output = True
    generator.confirm()
    assert rf_lab.world.read("rf.forward_power_w") > 0
    assert rf_rig.safe_state() == []
    assert generator.rf_output is False  # asked from the instrument
    amplifier_state = rf_lab.world.component("rf").amplifier
    assert not amplifier_state.operate and not amplifier_state.rf_on and not rf_lab.world.read("rf.active")


def test_unknown_commands_get_each_instruments_own_error(chain):
    generator, sensor, amplifier, probe = chain
    for scpi in (generator, sensor):
        scpi.write("SOUR:FROBNICATE 3")
        assert scpi.read_error_queue() == [(-113, "Undefined header")]
    amplifier.write("FROBNICATE")
    with pytest.raises(InstrumentError, match="32: command error"):
        amplifier.confirm()
    with pytest.raises(InstrumentError, match="E3: invalid command"):
        probe.ask("X")


def test_out_of_range_values_are_refused_by_the_instruments_and_unchanged(chain):
    generator, sensor, _, probe = chain
    generator.frequency_hz, generator.level_dbm, sensor.frequency_hz = 1e6, -20, 1e6
    for instrument, raw in ((generator, "SOUR:FREQ:CW 5e9"), (generator, "SOUR:POW:LEV:IMM:AMPL 40"),
                            (generator, "SOUR:AM:DEPT 150"), (sensor, "SENS:FREQ 1"), (sensor, "SENS:AVER:COUN 0")):
        instrument.write(raw)  # bypasses the drivers' own checks
        assert instrument.read_error_queue() == [(-222, "Data out of range")], raw
    assert (generator.frequency_hz, generator.level_dbm, sensor.frequency_hz) == (1e6, -20.0, 1e6)
    generator.write("SOUR:FREQ:CW 2 MHz")  # units as a technician types them
    assert generator.frequency_hz == 2e6
    with pytest.raises(InstrumentError, match="E4: invalid parameter"):
        probe.ask("D9")


def test_the_interlock_trips_the_amplifier_and_it_says_so(rf_lab, chain):
    generator, _, amplifier, _ = chain
    amplifier.operate()
    amplifier.rf_on()
    rf_lab.inject(FaultSpec(kind="interlock_open", instrument="rf_amplifier", at_s=rf_lab.clock.now(),
                            duration_s=50))
    with rf_lab.world.now():  # the physics at the present simulated time: the interlock opened at once
        assert rf_lab.world.component("rf").amplifier.interlock_open
    with pytest.raises(InstrumentError, match="execution error"):
        amplifier.rf_on()  # refused while open (the trip itself is flagged as a device-dependent error)
    rf_lab.clock.sleep(60, max_real_s=1)
    amplifier.operate()
    amplifier.rf_on()
    assert rf_lab.world.component("rf").amplifier.rf_on


# -- communication faults -----------------------------------------------------------------------------------

TIMEOUT_S = 0.3
CALLS = {
    "rf_generator": lambda generator: generator.identify(),
    "rf_power_meter": lambda sensor: sensor.identify(),
    "rf_amplifier": lambda amplifier: amplifier.identify(),
    "field_probe": lambda probe: probe.field_v_per_m(),
}


@pytest.fixture
def connect(rf_lab):
    opened = []

    def open_(name):
        instrument = open_with_timeout(rf_lab, name, TIMEOUT_S)
        opened.append(instrument)
        return instrument

    yield open_
    rf_lab.clear_faults()
    for instrument in opened:
        instrument.close()


timed = raised_within
inject = inject_fault


@pytest.mark.parametrize("kind, expected", [
    ("no_answer", InstrumentTimeout), ("garbage", InstrumentReplyError), ("drop_connection", InstrumentConnectionError),
])
@pytest.mark.parametrize("name", list(CALLS))
def test_comm_faults_are_clear_exceptions_within_the_timeout(rf_lab, connect, name, kind, expected):
    instrument = connect(name)
    if name == "field_probe":
        instrument.identity()  # switch the probe on
    inject(rf_lab, name, kind)
    exc, elapsed = timed(lambda: CALLS[name](instrument))
    assert isinstance(exc, expected) and exc.instrument == name
    assert elapsed < TIMEOUT_S + SLACK_S
    rf_lab.clear_faults(name)
    if kind == "drop_connection":
        instrument.transport.reconnect()
    CALLS[name](instrument)


@pytest.mark.parametrize("name, action, message", [
    ("rf_generator", lambda g: (setattr(g, "level_dbm", -30), g.confirm()), r'-241,"Hardware missing"'),
    ("rf_power_meter", lambda s: s.measure_power_w(), r"STAT:OPER:COND\?.*-241"),
    ("rf_amplifier", lambda a: a.rf_on(), "8: device-dependent error"),
    ("field_probe", lambda p: p.read_field(), "E5: hardware error"),
])
def test_an_internal_error_is_reported_the_instruments_way(rf_lab, connect, name, action, message):
    instrument = connect(name)
    inject(rf_lab, name, "error")
    with pytest.raises(InstrumentError, match=message):
        action(instrument)
