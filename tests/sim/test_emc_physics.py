"""EMC coupling and the simulated generators on a manual clock: exact event times, coupling to the wired
meters only, holders counted, interlock faults, the susceptibilities' effect on the indicated volume."""

import pytest

from meterlab.instruments.bench import InstrumentEntry
from meterlab.sim.clock import ManualClock
from meterlab.sim.devices.emc.base import ARMED, BAD_ARGUMENT
from meterlab.sim.devices.emc import (
    SimBurstGenerator,
    SimDipsGenerator,
    SimEsdSimulator,
    SimMagneticFieldSource,
    SimSurgeGenerator,
)
from meterlab.sim.faults import schedule_physical_fault
from meterlab.sim.physics import build_world
from meterlab.sim.physics.emc import EmcCoupling
from meterlab.sim.physics.meters import MeterLine
from meterlab.sim.scenario import FaultSpec, MeterSpec, Scenario, Susceptibility, WaterRigParams
from meterlab.sim.world import World

RIG = WaterRigParams(max_flowrate_m3h=6.0, pump_time_constant_s=2.0)


def meter(serial, **susceptibility):
    return MeterSpec(serial=serial, error_curve=[[1.0, 0.0]], pulse_value_l=0.01, register_resolution_l=0.001,
                     susceptibility={k: Susceptibility(**v) for k, v in susceptibility.items()})


@pytest.fixture
def world():
    clock = ManualClock()
    world = build_world(Scenario(seed=3, water_rig=RIG, meters=[
        meter("SUSCEPTIBLE-1", burst={"effect": "error_shift", "error_shift_pct": 2.5},
              surge={"effect": "reset"}, dips={"effect": "lost_pulses", "lost_pulse_fraction": 1.0}),
        meter("IMMUNE-2"),
    ]), clock)
    world.clock_ = clock
    return world


def run(world, seconds):
    world.clock_.advance(seconds)
    world.advance()


def device(cls, world, name, driver, **wiring):
    entry = InstrumentEntry(driver=driver, role=f"{name}_generator", sim=True, wiring=wiring)
    return cls(name, world, entry, cls.Params())


def send(dev, *commands):
    """Send commands; return the replies of the queries (None for settings)."""
    return [dev.handle(c) for c in commands]


def active(world, position):
    return set(world.component("meters").meter(position).disturbances)


def test_a_burst_couples_to_its_wired_meters_for_exactly_its_duration(world):
    burst = device(SimBurstGenerator, world, "burst", "emc_burst", out1="meter1.mains", out2="meter2.mains")
    send(burst, "REN", "TDUR 60", "ARM", "START")
    assert send(burst, "E?", "ST?") == ["0", "RUN"]
    assert active(world, 1) == {"burst"} and active(world, 2) == {"burst"}
    run(world, 59.999)
    assert burst.handle("ST?") == "RUN" and active(world, 1) == {"burst"}
    run(world, 0.002)
    assert send(burst, "ST?", "TC?", "HV?") == ["ARMED", "1", "1"]
    assert active(world, 1) == set() and active(world, 2) == set()


def test_an_error_shift_acts_on_the_indicated_volume_only_while_coupled(world):
    burst = device(SimBurstGenerator, world, "burst", "emc_burst", out1="meter1.mains", out2="meter2.mains")
    line = world.component("meters")
    for m in line.meters:  # one step of 10 L at 1 m3/h: the meters' error curve is 0 %
        m.pass_volume(10.0, 1.0)
    send(burst, "REN", "TDUR 100", "ARM", "START")
    run(world, 1)
    for m in line.meters:
        m.pass_volume(10.0, 1.0)
    assert line.meter(1).indicated_volume_l == pytest.approx(10.0 + 10.0 * 1.025)
    assert line.meter(2).indicated_volume_l == pytest.approx(20.0)


def test_surges_fire_at_their_repetition_and_the_test_completes_with_the_last(world):
    surge = device(SimSurgeGenerator, world, "surge", "emc_surge", out="meter1.mains")
    line = world.component("meters")
    line.meter(1).pass_volume(5.0, 1.0)
    send(surge, "REN", "VSET 2", "POL NEG", "CPL L-PE", "CNT 3", "REP 60", "ARM", "START")
    assert surge.handle("PC?") == "1"
    assert line.meter(1).indicated_volume_l == 0.0  # susceptibility reset: the register restarts
    run(world, 59.9)
    assert surge.handle("PC?") == "1"
    run(world, 0.1)
    assert surge.handle("PC?") == "2" and surge.handle("ST?") == "RUN"
    run(world, 60)
    assert send(surge, "PC?", "ST?", "TC?", "LC?") == ["3", "ARMED", "1", "L-PE"]
    vpk, ipk = int(surge.handle("VPK?")), int(surge.handle("IPK?"))
    assert -2000 * 1.05 < vpk < -2000 * 0.95 and ipk == round(vpk / 12)  # 12 ohm line to earth
    assert active(world, 1) == set()


def test_a_stopped_test_is_not_complete_and_uncouples(world):
    esd = device(SimEsdSimulator, world, "esd", "emc_esd", out="meter1.enclosure")
    send(esd, "REN", "CNT 10", "INT 1", "ARM", "START")
    run(world, 4.5)
    assert esd.handle("DC?") == "5" and active(world, 1) == {"esd"}
    send(esd, "STOP")
    assert send(esd, "ST?", "TC?", "E?") == ["ARMED", "0", "0"]
    assert active(world, 1) == set()
    run(world, 10)
    assert esd.handle("DC?") == "5"


def test_dip_events_last_their_cycles_and_repeat_at_the_interval(world):
    dips = device(SimDipsGenerator, world, "dips", "emc_dips", out="meter1.mains")
    send(dips, "REN", "VNOM 230", "RES 40", "DUR 25", "CNT 3", "INT 10", "ARM")
    assert dips.handle("VRMS?") == "230.0"
    send(dips, "START")
    assert dips.handle("VRMS?") == "92.0"  # 40 % residual
    run(world, 0.5)  # 25 cycles at 50 Hz
    assert send(dips, "VRMS?", "EC?") == ["230.0", "1"]
    run(world, 20)
    assert send(dips, "EC?", "TC?", "ST?") == ["3", "1", "ARMED"]
    assert active(world, 1) == set()


def test_a_voltage_variation_runs_until_stopped(world):
    dips = device(SimDipsGenerator, world, "dips", "emc_dips", out="meter1.mains")
    send(dips, "REN", "MODE VAR", "VVAR -15", "ARM", "START")
    run(world, 3600)
    assert send(dips, "ST?", "VRMS?") == ["RUN", "195.5"]
    assert active(world, 1) == {"voltage_variation"}
    send(dips, "DISARM")
    assert send(dips, "ST?", "VRMS?", "HV?") == ["STBY", "0.0", "0"]
    assert active(world, 1) == set()


def test_the_magnetic_field_kind_follows_its_mode(world):
    field = device(SimMagneticFieldSource, world, "magnetic_field", "emc_magnetic_field", out="meter1.body")
    send(field, "REN", "MODE AC", "HSET 30", "TDUR 0", "ARM", "START")
    assert active(world, 1) == {"power_frequency_magnetic_field"} and field.handle("FLD?") == "30"
    send(field, "STOP", "MODE STAT", "BSET 100", "TDUR 60", "START")
    assert active(world, 1) == {"magnetic_field"} and field.handle("FLD?") == "100"
    run(world, 60)
    assert send(field, "FLD?", "TC?") == ["0", "1"] and active(world, 1) == set()


def test_a_pulsed_field_reaches_the_meter_only_while_on_as_the_short_duration_kind(world):
    field = device(SimMagneticFieldSource, world, "magnetic_field", "emc_magnetic_field", out="meter1.body")
    send(field, "REN", "MODE AC", "HSET 1000", "TPUL 3", "TREP 10", "TDUR 0", "ARM", "START")
    short = {"power_frequency_magnetic_field_short"}
    assert active(world, 1) == short and field.handle("FLD?") == "1000"
    params = world.component("meters").meter(1).disturbance_params["power_frequency_magnetic_field_short"]
    assert params["field_a_per_m"] == 1000
    run(world, 4)
    assert active(world, 1) == set() and send(field, "FLD?", "ST?") == ["0", "RUN"]
    run(world, 7)  # 11 s: the second field, 10 s after the first
    assert active(world, 1) == short and field.handle("FLD?") == "1000"
    run(world, 3)
    assert active(world, 1) == set()
    send(field, "STOP")
    assert active(world, 1) == set() and send(field, "TC?") == ["0"]


def test_a_pulse_period_no_longer_than_the_pulse_is_refused(world):
    field = device(SimMagneticFieldSource, world, "magnetic_field", "emc_magnetic_field", out="meter1.body")
    send(field, "REN", "MODE AC", "HSET 300", "TPUL 3", "TREP 3", "ARM", "START")
    assert send(field, "ST?", "E?") == [ARMED, str(BAD_ARGUMENT)] and active(world, 1) == set()


def test_two_generators_of_one_kind_end_the_disturbance_only_when_both_stopped(world):
    first = device(SimBurstGenerator, world, "burst", "emc_burst", out="meter1.mains")
    second = device(SimBurstGenerator, world, "burst2", "emc_burst", out="meter1.signal")
    for gen in (first, second):
        send(gen, "REN", "TDUR 100", "ARM", "START")
    send(first, "STOP")
    assert active(world, 1) == {"burst"}
    send(second, "STOP")
    assert active(world, 1) == set()


def test_a_target_naming_no_meter_is_skipped(world, caplog):
    burst = device(SimBurstGenerator, world, "burst", "emc_burst", out1="meter7.mains", out2="meter1.mains")
    send(burst, "REN", "ARM", "START")
    assert active(world, 1) == {"burst"}
    assert "'meter7.mains' names no meter" in caplog.text


def test_the_interlock_fault_drops_the_high_voltage_and_refuses_arm_until_it_closes(world):
    surge = device(SimSurgeGenerator, world, "surge", "emc_surge", out="meter1.mains")
    other = device(SimEsdSimulator, world, "esd", "emc_esd", out="meter1.enclosure")
    send(surge, "REN", "CNT 5", "REP 60", "ARM", "START")
    send(other, "REN", "ARM")
    schedule_physical_fault(FaultSpec(kind="interlock_open", instrument="surge", at_s=10, duration_s=50), world)
    run(world, 10)
    assert send(surge, "ST?", "HV?", "IL?", "TC?", "E?", "E?") == ["STBY", "0", "0", "0", "128", "0"]
    assert active(world, 1) == set()
    assert send(other, "ST?", "IL?") == ["ARMED", "1"]  # only the named generator's interlock
    send(surge, "ARM")
    assert send(surge, "E?", "ST?") == ["128", "STBY"]
    run(world, 50)
    send(surge, "ARM")
    assert send(surge, "E?", "ST?", "IL?") == ["0", "ARMED", "1"]


@pytest.mark.parametrize("commands, code", [
    (["FOO"], "2"),            # unknown command
    (["VSET 2"], "1"),         # not in remote
    (["REN", "VSET 99"], "3"),  # impermissible argument
    (["REN", "CNT 2.5"], "3"),
    (["REN", "ARM 1"], "3"),
    (["ARM?"], "4"),           # no query allowed
    (["REN", "START"], "129"),  # not armed
    (["REN", "CNT 5", "ARM", "START", "VSET 1"], "5"),  # only allowed in standby (not while running)
])
def test_errors_go_to_the_error_register_and_the_value_stays(world, commands, code):
    surge = device(SimSurgeGenerator, world, "surge", "emc_surge")
    before = surge.handle("VSET?")
    replies = send(surge, *commands)
    assert replies[-1] is None  # an erroneous command or query gets no reply
    assert send(surge, "E?", "E?", "VSET?") == [code, "0", before]


def test_a_gas_meter_line_is_reached_by_its_own_prefix():
    world = World(ManualClock())
    water = world.add(MeterLine([meter("W-1")], [world.rng()]))
    gas = world.add(MeterLine([meter("G-1", burst={"effect": "error_shift", "error_shift_pct": 1.0})], [world.rng()],
                              source="gas_rig", name="gas_meters", prefix="gas_meter"))
    emc = world.add(EmcCoupling())
    with world.now():
        assert emc.couple("burst", "burst", ["gas_meter1.mains"], True) == [("gas_meters", 1)]
    assert set(gas.meter(1).disturbances) == {"burst"} and not water.meter(1).disturbances
    assert emc.active(("gas_meters", 1)) == {"burst": {"burst"}}
