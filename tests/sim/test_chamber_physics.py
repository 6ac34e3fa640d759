"""The climate chamber physics on a manual clock: rate-limited first-order lag integrated exactly, the meters'
own lag, humidity, standby, and the chamber_alarm fault."""

import math
import textwrap

import pytest

from meterlab.errors import InputFileError
from meterlab.sim.clock import ManualClock
from meterlab.sim.faults import check_faults, schedule_physical_fault
from meterlab.sim.physics import build_world
from meterlab.sim.physics.chamber import follow, lag_through
from meterlab.sim.scenario import ChamberParams, FaultSpec, Scenario, load_scenario

# heating 3 °C/min = 0.05 °C/s with tau 180 s: rate-limited while the gap is wider than 9 °C
CHAMBER = ChamberParams(room_temperature_c=23.0, room_humidity_pct=45.0, air_time_constant_s=180.0,
                        max_heating_c_per_min=3.0, max_cooling_c_per_min=1.5, humidity_time_constant_s=120.0,
                        max_humidity_rate_pct_per_min=6.0, idle_time_constant_s=1200.0, meter_time_constant_s=600.0,
                        alarm_code=7)


def chamber_world(max_step_s=1.0, **changes):
    clock = ManualClock()
    world = build_world(Scenario(chamber=CHAMBER.model_copy(update=changes)), clock)
    world.max_step_s = max_step_s
    return world, clock


def run(world, clock, seconds):
    clock.advance(seconds)
    world.advance()


def drive(world, setpoint_c, humidity_pct=None, ramp_c_per_min=None):
    with world.now():
        world.write("chamber.setpoint_c", setpoint_c)
        world.write("chamber.humidity_setpoint_pct", humidity_pct)
        world.write("chamber.ramp_c_per_min", ramp_c_per_min)
        world.write("chamber.running", True)


def air_after(t_s, start=23.0, target=83.0, rate=0.05, tau=180.0):
    """The closed form of the rate-limited lag for a step up."""
    t_limit = (target - start - rate * tau) / rate
    if t_limit > 0 and t_s <= t_limit:
        return start + rate * t_s
    gap = rate * tau if t_limit > 0 else target - start
    return target - gap * math.exp(-(t_s - max(t_limit, 0.0)) / tau)


@pytest.mark.parametrize("max_step_s", [1.0, 0.13])
def test_a_big_step_ramps_at_the_largest_rate_then_approaches_exponentially(max_step_s):
    world, clock = chamber_world(max_step_s)
    drive(world, 83.0)
    run(world, clock, 600)  # ramp phase (it lasts (60 - 9) / 0.05 = 1020 s)
    assert world.read("chamber.temperature_c") == pytest.approx(53.0, abs=1e-9)
    run(world, clock, 1020 + 180 - 600)
    assert world.read("chamber.temperature_c") == pytest.approx(83.0 - 9.0 * math.exp(-1), abs=1e-9)
    run(world, clock, 4000)
    assert world.read("chamber.temperature_c") == pytest.approx(83.0, abs=1e-6)


def test_cooling_is_limited_by_its_own_rate_and_a_slower_ramp_by_the_ramp():
    world, clock = chamber_world()
    drive(world, -17.0)  # 40 °C down at 1.5 °C/min
    run(world, clock, 600)
    assert world.read("chamber.temperature_c") == pytest.approx(23.0 - 15.0, abs=1e-9)
    world, clock = chamber_world()
    drive(world, 43.0, ramp_c_per_min=1.0)  # slower than the chamber's 3 °C/min
    run(world, clock, 600)
    assert world.read("chamber.temperature_c") == pytest.approx(33.0, abs=1e-9)


def test_the_meters_follow_the_air_with_their_own_lag_exactly():
    world, clock = chamber_world()
    drive(world, 83.0)
    run(world, clock, 3000)
    exact = world.read("meter.ambient_c")
    # brute force: RK4 on dT/dt = clip((83 - T) / 180, -.., 0.05), dM/dt = (T - M) / 600
    def rates(temperature, meter):
        return min((83.0 - temperature) / 180.0, 0.05), (temperature - meter) / 600.0
    temperature, meter, h = 23.0, 23.0, 0.25
    for _ in range(int(3000 / h)):
        k1 = rates(temperature, meter)
        k2 = rates(temperature + h / 2 * k1[0], meter + h / 2 * k1[1])
        k3 = rates(temperature + h / 2 * k2[0], meter + h / 2 * k2[1])
        k4 = rates(temperature + h * k3[0], meter + h * k3[1])
        temperature += h / 6 * (k1[0] + 2 * k2[0] + 2 * k3[0] + k4[0])
        meter += h / 6 * (k1[1] + 2 * k2[1] + 2 * k3[1] + k4[1])
    assert world.read("chamber.temperature_c") == pytest.approx(temperature, abs=1e-3)
    assert exact == pytest.approx(meter, abs=1e-3)
    assert exact < world.read("chamber.temperature_c")  # still behind the air


def test_the_meter_lag_through_equal_time_constants_and_the_pieces():
    x, pieces = follow(0.0, 10.0, 100.0, math.inf, math.inf, 50.0)
    assert x == pytest.approx(10.0 * (1 - math.exp(-0.5)), rel=1e-12) and len(pieces) == 1
    # equal time constants: m(t) = 10 - 10 (1 + t/tau) exp(-t/tau) from m = 0, T = 0
    assert lag_through(0.0, pieces, 100.0) == pytest.approx(10 - 10 * 1.5 * math.exp(-0.5), rel=1e-12)
    x, pieces = follow(0.0, 10.0, 100.0, 0.05, 0.05, 200.0)  # ramp for (10 - 5) / 0.05 = 100 s, then decay
    assert [type(piece).__name__ for piece in pieces] == ["Ramp", "Decay"]
    assert x == pytest.approx(10.0 - 5.0 * math.exp(-1), rel=1e-12)


def test_humidity_follows_its_setpoint_and_drifts_back_when_not_controlled():
    world, clock = chamber_world()
    drive(world, 23.0, humidity_pct=93.0)  # 48 %RH up at 6 %/min: 40 s per % ... rate-limited until 12 % away
    run(world, clock, 300)
    assert world.read("chamber.humidity_pct") == pytest.approx(45.0 + 30.0, abs=1e-9)
    run(world, clock, 3000)
    assert world.read("chamber.humidity_pct") == pytest.approx(93.0, abs=1e-6)
    drive(world, 23.0, humidity_pct=None)
    run(world, clock, 1200)
    assert world.read("chamber.humidity_pct") == pytest.approx(45.0 + 48.0 * math.exp(-1), abs=1e-9)


def test_standby_lets_the_air_drift_back_to_the_room():
    world, clock = chamber_world()
    drive(world, 33.0)
    run(world, clock, 5000)
    assert world.read("chamber.temperature_c") == pytest.approx(33.0, abs=1e-6)
    world.write("chamber.running", False)
    run(world, clock, 1200)
    assert world.read("chamber.temperature_c") == pytest.approx(23.0 + 10.0 * math.exp(-1), abs=1e-6)


def test_initial_values_and_rest():
    world, clock = chamber_world(initial_temperature_c=-5.0, initial_humidity_pct=20.0)
    assert world.read("chamber.temperature_c") == -5.0 and world.read("meter.ambient_c") == -5.0
    assert world.read("chamber.humidity_pct") == 20.0
    run(world, clock, 40000)
    assert world.read("chamber.temperature_c") == 23.0 and world.read("meter.ambient_c") == 23.0
    assert world.read("chamber.humidity_pct") == 45.0  # the tails end exactly


def test_the_chamber_alarm_fault_latches_stops_conditioning_and_is_reset_by_the_operator():
    world, clock = chamber_world()
    check_faults([FaultSpec(kind="chamber_alarm", at_s=100)], world, [])  # a kind this world knows
    raised = []
    world.on("chamber_alarm", lambda code: raised.append((world.t_s, code)))
    schedule_physical_fault(FaultSpec(kind="chamber_alarm", at_s=100, message="31"), world)
    drive(world, 83.0)
    run(world, clock, 99.5)
    assert world.read("chamber.alarm") == 0
    run(world, clock, 0.5)
    assert raised == [(100.0, 31)] and world.read("chamber.alarm") == 31
    before = world.read("chamber.temperature_c")
    run(world, clock, 600)
    assert world.read("chamber.temperature_c") < before  # heating stopped: back towards the room
    run(world, clock, 5000)
    assert world.read("chamber.alarm") == 31  # latched
    world.write("chamber.alarm", 0)  # the operator's reset
    run(world, clock, 600)
    assert world.read("chamber.alarm") == 0 and world.read("chamber.temperature_c") > 23.0 + 5


def test_an_alarm_with_a_duration_ends_by_itself_but_not_a_newer_one():
    world, clock = chamber_world(alarm_stops_conditioning=False)
    schedule_physical_fault(FaultSpec(kind="chamber_alarm", at_s=10, duration_s=50), world)
    schedule_physical_fault(FaultSpec(kind="chamber_alarm", at_s=200, duration_s=100), world)
    schedule_physical_fault(FaultSpec(kind="chamber_alarm", at_s=250, message="9"), world)
    drive(world, 33.0)
    run(world, clock, 30)
    assert world.read("chamber.alarm") == 7  # the scenario's default code
    run(world, clock, 30)
    assert world.read("chamber.alarm") == 0
    assert world.read("chamber.temperature_c") > 23.0  # still conditioning: alarm_stops_conditioning false
    run(world, clock, 300)
    assert world.read("chamber.alarm") == 9  # the alarm raised at 250 s outlives the one ending at 300 s


def test_the_scenario_section_loads_and_names_a_bad_line(tmp_path):
    path = tmp_path / "scenario.yaml"
    path.write_text(textwrap.dedent("""\
        chamber:
          air_time_constant_s: 240
          max_cooling_c_per_min: 1.0
        faults:
          - {kind: chamber_alarm, at_s: 3600, duration_s: 600, message: "12"}
        """))
    scenario = load_scenario(path)
    assert scenario.chamber.air_time_constant_s == 240 and scenario.chamber.room_temperature_c == 23.0
    assert scenario.faults[0].kind == "chamber_alarm"
    path.write_text("chamber:\n  air_time_constant_s: 240\n  door_open: true\n")
    with pytest.raises(InputFileError, match=r"line 3.*chamber\.door_open"):
        load_scenario(path)
