"""The truth of a simulated lab, from a YAML scenario file: meters, rig, simulated instruments, faults.

Tests load a scenario, run the lab and check that the lab's measurements recover this truth. Each
physical subsystem has its own section model (defined next to its physics); adding a subsystem adds one
field to `Scenario`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, ValidationError, field_validator, model_validator

from meterlab.errors import InputFileError
from meterlab.metrology.declarations import ORIENTATIONS
from meterlab.quantities import DURATION_S, ERROR_PCT, FLOWRATE_M3H, RESOLUTION_L, AsTuple, SafeName
from meterlab.sim.reference_params import GasRigParams, MasterMeterParams, check_error_curve
from meterlab.yamlio import Path_, load_model, read_yaml, validation_problems

M = TypeVar("M", bound=BaseModel)

ErrorCurve = list[Annotated[tuple[FLOWRATE_M3H, ERROR_PCT], AsTuple]]
COMM_FAULTS = ("no_answer", "garbage", "drop_connection", "error")  # served by the protocol servers
# Anomalous meter data, served by the meter read-out devices that list them (SimDevice.readout_faults): malformed
# replies (a Modbus reply one register short or long, a wrong function code, an exception code; an M-Bus telegram
# cut short, a wrong C field, an application error) and anomalous values (NaN, negative, huge, a counter
# rolling over). The `message:` of exception_code is the code; of counter_wrap, how many counts below the
# roll-over the register stands when the fault starts.
READOUT_FAULTS = ("short_reply", "extra_registers", "wrong_function", "exception_code",
                  "value_nan", "value_negative", "value_huge", "counter_wrap")
INSTRUMENT_FAULTS = COMM_FAULTS + READOUT_FAULTS  # a fault of one instrument, asked by its server or device


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Susceptibility(Strict):
    """How a meter reacts while a disturbance of one kind (burst, surge, esd, ...) is applied to it."""

    effect: Literal["none", "error_shift", "lost_pulses", "reset", "corrupt_telegrams"] = "none"
    error_shift_pct: float = Field(0.0, description="error_shift: added to the error while disturbed")
    lost_pulse_fraction: float = Field(0.0, ge=0, le=1, description="lost_pulses: share of pulses not output")
    corrupt_fraction: float = Field(0.0, ge=0, le=1, description="corrupt_telegrams: share of bad telegrams")
    # What the meter's communication interface does while disturbed, each its own setting, whatever `effect`
    # says of its measurement (sim/devices/transmission.py); an immune interface has none of them.
    drop_fraction: float = Field(0.0, ge=0, le=1, description="share of datasets lost: the meter counts the "
                                 "dataset (access number) but never sends it")
    silent: bool = Field(False, description="no answer while disturbed; datasets are kept and sent afterwards")
    freeze: bool = Field(False, description="the transmitted volume stays at its value when the disturbance began")
    wrong_value_pct: float = Field(0.0, description="the transmitted volume is off by this percent while disturbed")


class SeismicBand(Strict):
    """dwell_by_level: a filtered acceleration of at least `level_gal` held for `dwell_s` trips the meter."""

    level_gal: float = Field(gt=0)
    dwell_s: float = Field(ge=0)


class ContinuousUseBand(Strict):
    """The meter's continuous-use table: gas flowing without interruption, its largest flow at most `up_to_m3h`,
    for `limit_s` shuts the valve (the smaller the flow, the longer a use may last)."""

    up_to_m3h: float = Field(gt=0)
    limit_s: float = Field(gt=0)


class SafetySpec(Strict):
    """The safety functions of a smart (microcomputer) gas meter (physics/safety.py): its shut-off valve, its
    accelerometer, inlet-pressure sensor and flow sensing, the seismic decision logic and the meter's own
    thresholds. These are the simulated meter's DESIGN (the truth a test recovers), not the standard's limits:
    those live in the safety profile (procedures/standards/). Defaults: a meter built after the decision logics
    of the reference sheet (smart-meter-tests.md §3, patents [S]) with an invented sensor filter."""

    logic: Literal["dwell_by_level", "trigger_then_peaks"] = "dwell_by_level"
    sample_hz: float = Field(500.0, ge=50, le=5000, description="the accelerometer's sampling rate")
    filter_cutoff_hz: float = Field(4.0, gt=0, description="2nd-order Butterworth low-pass of the seismic sensor: "
                                    "a 10 Hz (0.1 s) shaking is not an earthquake")
    envelope_s: float = Field(1.0, gt=0, description="dwell_by_level: a level counts while the filtered |a| "
                              "reached it within this trailing window (longer than the slowest period)")
    bands: list[SeismicBand] = Field(default_factory=lambda: [
        SeismicBand(level_gal=80, dwell_s=30), SeismicBand(level_gal=100, dwell_s=5),
        SeismicBand(level_gal=150, dwell_s=3), SeismicBand(level_gal=250, dwell_s=0.5)],
        description="dwell_by_level: [{level_gal, dwell_s}]; held = the envelope above the level for "
                    "envelope_s + dwell_s, so one impulse (which lifts the envelope for envelope_s) never counts")
    trigger_gal: float = Field(80.0, gt=0, description="trigger_then_peaks: starts an evaluation")
    confirm_gal: float = Field(200.0, gt=0, description="trigger_then_peaks: must follow the trigger ...")
    confirm_within_s: float = Field(0.5, gt=0, description="... within this time")
    peak_gal: float = Field(100.0, gt=0, description="trigger_then_peaks: then this many peaks of |a| ...")
    peaks: int = Field(10, ge=1)
    peaks_within_s: float = Field(5.0, gt=0, description="... within this time from the trigger")
    in_use_flow_m3h: float = Field(0.005, gt=0, description="flow the meter takes for gas in use")
    flow_window_s: float = Field(120.0, ge=0, description="seismic shut-off only if gas was in use this long "
                                 "before the detection or is within this long after it")
    pressure_drop_gauge_pa: float = Field(300.0, gt=0, description="inlet gauge pressure at or below which ...")
    pressure_drop_dwell_s: float = Field(2.0, ge=0, description="... held this long, the meter shuts off")
    excess_flow_m3h: float = Field(5.0, gt=0, description="flow above which ...")
    excess_flow_dwell_s: float = Field(30.0, ge=0, description="... held this long, the meter shuts off")
    continuous_use: list[ContinuousUseBand] = Field(default_factory=lambda: [
        ContinuousUseBand(up_to_m3h=0.8, limit_s=14400), ContinuousUseBand(up_to_m3h=2.5, limit_s=7200),
        ContinuousUseBand(up_to_m3h=5.0, limit_s=3600)],
        description="the meter's continuous-use table [{up_to_m3h, limit_s}], up_to_m3h strictly increasing; a flow "
                    "above the last band has no continuous-use limit (excess flow covers it). The default is the "
                    "simulated meter's design, equal to the safety profile's table (itself the lab's choice [U])")
    restore_check_s: float = Field(60.0, ge=0, description="after a reset (restore) the valve opens and the meter "
                                   "watches the flow this long: gas in use (a leak downstream, an appliance left open) "
                                   "closes it again; 0: no restore check (the valve simply opens)")
    gas_alarm_input: bool = Field(False, description="the meter has a contact input for a gas alarm (on the "
                                  "simulated gas bench wired to gas_valves DO5: signal gas_meter<n>.gas_alarm)")
    gas_alarm_dwell_s: float = Field(40.0, ge=0, description="an alarm held this long shuts off (Japanese practice: "
                                     "40 s or more [S])")
    # The battery: the meter's own, or the lab's DC source in its place (its DC output held: the voltage it gives).
    battery_v: float = Field(3.6, gt=0, description="the meter's own battery's voltage (when the lab's DC source "
                             "does not feed it)")
    low_battery_shut_off_v: float = Field(3.0, gt=0, description="battery voltage below which, held "
                                          "low_battery_dwell_s, the meter shuts off")
    low_battery_dwell_s: float = Field(10.0, ge=0, description="how long the low voltage must last (a meter rides "
                                       "through a dip)")
    valve_close_s: float = Field(1.0, ge=0, description="the valve's travel from the decision to closed")
    reopen_after_s: float = Field(60.0, gt=0, description="reopens_itself: the valve opens on its own this long "
                                  "after it closed")
    fault: Literal["none", "valve_leaks", "trips_on_shocks", "never_trips", "no_continuous_use", "reopens_itself",
                   "no_restore_check", "ignores_gas_alarm", "no_low_battery_shutoff"] = Field(
        "none", description="valve_leaks: the closed valve passes leak_l_h; trips_on_shocks: the seismic logic lacks "
        "its impulse rejection (no envelope hold, one peak is enough); never_trips: no function ever closes the valve; "
        "no_continuous_use: every function but the continuous-use shut-off works; reopens_itself: a closed valve opens "
        "again reopen_after_s later without a reset; no_restore_check: a reset opens the valve whatever flows; "
        "ignores_gas_alarm: the gas-alarm input is there but never shuts off; no_low_battery_shutoff: a low battery "
        "never shuts off (the rest works)")
    leak_l_h: float = Field(0.0, ge=0, description="valve_leaks: the flow through the closed valve, L/h")
    clock_offset_s: float = Field(0.0, description="the meter's clock minus the lab's: its logged event times are "
                                  "off by this (a meter whose clock was not set)")

    @model_validator(mode="after")
    def _leak_of_a_leaking_valve(self) -> SafetySpec:
        if (self.fault == "valve_leaks") != (self.leak_l_h > 0):
            raise ValueError("fault valve_leaks goes with leak_l_h > 0 (and leak_l_h > 0 with fault valve_leaks)")
        return self

    @field_validator("continuous_use")
    @classmethod
    def _rising_flows(cls, bands: list[ContinuousUseBand]) -> list[ContinuousUseBand]:
        flows = [b.up_to_m3h for b in bands]
        if any(b <= a for a, b in zip(flows, flows[1:])):
            raise ValueError("continuous_use: up_to_m3h strictly increasing")
        return bands

    @field_validator("bands")
    @classmethod
    def _rising(cls, bands: list[SeismicBand]) -> list[SeismicBand]:
        levels = [b.level_gal for b in bands]
        if not levels or any(b <= a for a, b in zip(levels, levels[1:])):
            raise ValueError("give at least one band, level_gal strictly increasing")
        return bands


# The status flags a simulated smart meter raises from the physics (physics/meter_status.py) and transmits
# (M-Bus status byte and error flags, a Modbus status register).
STATUS_FLAGS = ("reverse_flow", "leak", "magnet", "power_low", "valve_closed")


class FlagBehaviour(Strict):
    """How a simulated meter raises one flag; unset values come from sim/tables/meter-status.yaml."""

    raise_after_s: float | None = Field(None, ge=0, description="from the condition to the flag")
    latched: bool | None = Field(None, description="the flag stays raised after the condition ended")
    fault: Literal["none", "never", "late", "false"] = Field(
        "none", description="never: the flag is never raised; late: raised late_by_s after it should be; false: "
                            "raised from the start, without the condition")
    late_by_s: float = Field(0.0, ge=0, description="late: how much later")

    @model_validator(mode="after")
    def _late_by(self) -> FlagBehaviour:
        if (self.fault == "late") != (self.late_by_s > 0):
            raise ValueError("fault late goes with late_by_s > 0 (and late_by_s > 0 with fault late)")
        return self


class MeterStatusSpec(Strict):
    """When a simulated smart meter raises its status flags; unset values come from
    sim/tables/meter-status.yaml (all unverified defaults)."""

    reverse_after_l: float | None = Field(None, ge=0, description="backward volume before it flags reverse flow")
    leak_after_s: float | None = Field(None, gt=0, description="forward flow never stopped this long: leak")
    magnet_threshold_mt: float | None = Field(None, gt=0, description="static field at the meter that it flags")
    low_battery_pct: float | None = Field(None, ge=0, le=100, description="battery level it flags power_low at")
    battery_pct: float | None = Field(None, ge=0, le=100, description="the meter's battery level")
    flags: dict[Literal[STATUS_FLAGS], FlagBehaviour] = Field(  # type: ignore[valid-type]
        default_factory=dict, description="per flag: raise_after_s, latched, fault (never | late | false)")


class MeterSpec(Strict):
    serial: SafeName
    error_curve: ErrorCurve = Field(min_length=1, description="[[flowrate_m3h, error_pct], ...], interpolated "
                                                             "linearly in log Q")
    repeatability_pct: float = Field(0.0, ge=0, description="1-sigma of the error, drawn once per measurement")
    pulse_value_l: RESOLUTION_L = Field(gt=0, description="volume per output pulse")
    register_resolution_l: RESOLUTION_L = Field(gt=0, description="smallest register step")
    initial_register_l: float = Field(0.0, ge=0)
    susceptibility: dict[str, Susceptibility] = Field(default_factory=dict)
    # Pressure loss across the meter, Δp = Δp(Q3)·(Q/Q3)² (turbulent flow through a fixed restriction);
    # the defaults are those of a typical DN15 meter, well inside class Δp63.
    q3_m3h: FLOWRATE_M3H = Field(2.5, description="permanent flowrate, the reference of the pressure loss")
    pressure_loss_at_q3_kpa: float = Field(25.0, ge=0, description="pressure loss across the meter at Q3")
    # A meter not designed for reverse flow neither counts it nor (usually) suffers from it; one that does
    # (a vane or a magnetic coupling harmed) keeps an error shift afterwards.
    reverse_flow_shift_pct: float = Field(0.0, description="lasting error shift after a reverse flow of more "
                                                            "than 1 L; 0: unharmed")
    # A meter designed to measure reverse flow (bidirectional) counts it, with an error of its own: a vane's or a
    # diaphragm's asymmetry, an ultrasonic meter's path offsets. It records it apart from the forward register and
    # pulses for it on the same test output (a real one may give a direction signal the counter would need).
    measures_reverse_flow: bool = Field(False, description="registers reverse flow (a separate reverse register, "
                                        "and pulses); false: a reverse flow is not counted")
    reverse_error_shift_pct: float = Field(0.0, description="measures_reverse_flow: its error in reverse is the "
                                           "error curve's at that flowrate plus this; 0: the same both ways")
    # A meter that creeps (a loose vane turned by the pressure pulsations of a line at rest, an electronic meter
    # whose zero drifts) registers water nobody drew: the absence-of-flow test must catch it.
    creep_l_h: float = Field(0.0, ge=0, description="volume registered (and output as pulses) per hour while the "
                             "line is full and at rest (no true flow; a gas line's too); 0: the meter stands still")
    # The water's temperature acts on a meter two ways: while it measures (a vane's clearances, a sensor's
    # temperature coefficient), and lastingly once it was too hot (a plastic part deformed by an overload).
    water_temperature_shift_pct_per_c: float = Field(0.0, description="error shift per °C of the water at the meter "
                                                     "above 20 °C (below it, negative), while it measures")
    overheat_above_c: float | None = Field(None, description="water hotter than this at the meter harms it: "
                                           "overheat_shift_pct from then on; None: no such harm")
    overheat_shift_pct: float = Field(0.0, description="lasting error shift once the water exceeded overheat_above_c")
    mechanical_shift_pct: float = Field(0.0, description="lasting error shift once the meter has been shaken (any "
                                        "shaker test) or shocked (any shock pulse) on the lab's table; 0: unharmed")
    # A meter harmed by overload (a diaphragm stretched, a bearing worn) keeps an error shift once it has run above
    # overload_harm_m3h; a robust meter has no such flowrate.
    overload_harm_m3h: FLOWRATE_M3H | None = Field(None, description="flowrate above which the meter is harmed by "
                                                   "overload (overload_shift_pct from then on); None: never")
    overload_shift_pct: float = Field(0.0, description="lasting error shift once run above overload_harm_m3h")
    # A gas meter whose error depends on its working pressure (a diaphragm's stiffness, an ultrasonic path's sound
    # speed): the shift is linear in the inlet's gauge pressure (the gas supply's, physics/gas_supply.py) away from
    # the pressure the error curve holds at. The default reference is the default supply's pressure.
    pressure_shift_pct_per_kpa: float = Field(0.0, description="error shift per kPa of inlet gauge pressure away "
                                              "from pressure_reference_gauge_pa; 0: insensitive")
    pressure_reference_gauge_pa: float = Field(2000.0, ge=0, description="inlet gauge pressure of the error curve")
    orientation_shift_pct: dict[Literal[ORIENTATIONS], float] = Field(  # type: ignore[valid-type]
        default_factory=dict, description="error shift while mounted in each orientation (a missing one: 0, as in "
        "normal, where the error curve holds): a meter whose moving parts or flow profile depend on its position")
    # A meter not sealed against moisture: once the chamber's humidity has stood at or above humidity_harm_pct for
    # humidity_harm_after_s in all (a damp heat exposure), its electronics or sensor keep an error shift.
    humidity_harm_pct: float | None = Field(None, ge=0, le=100, description="relative humidity in the chamber at or "
                                            "above which moisture gets in; None: sealed")
    humidity_harm_after_s: float = Field(86400.0, gt=0, description="time at or above humidity_harm_pct before the "
                                         "shift sets in")
    humidity_shift_pct: float = Field(0.0, description="lasting error shift once moisture got in")
    safety: SafetySpec | None = Field(None, description="a smart gas meter's shut-off valve and safety functions")
    status: MeterStatusSpec = Field(default_factory=MeterStatusSpec, description="when the meter raises its status "
                                    "flags (reverse flow, leak, magnet, low battery, valve closed)")

    @field_validator("error_curve")
    @classmethod
    def _increasing_flowrates(cls, curve: list[tuple[float, float]]) -> list[tuple[float, float]]:
        return check_error_curve(curve)

    @model_validator(mode="after")
    def _reverse_error(self) -> MeterSpec:
        if self.reverse_error_shift_pct and not self.measures_reverse_flow:
            raise ValueError("reverse_error_shift_pct is the error of a meter that measures reverse flow: add "
                             "measures_reverse_flow: true (or leave the shift out)")
        return self


class WaterRigParams(Strict):
    max_flowrate_m3h: FLOWRATE_M3H = Field(10.0, description="flow with the pump at 100 % and the line open")
    pump_time_constant_s: float = Field(2.0, gt=0, description="first-order response of the flow")
    water_temperature_c: float = Field(20.0, gt=0, lt=100)
    water_temperature_drift_c_per_h: float = 0.0
    # A supply warms (or cools) towards the room and then stays: the drift stops this far from the start,
    # so a run of days (durability, damp heat) does not drift out of every band.
    water_temperature_drift_limit_c: float = Field(2.0, ge=0, description="largest change the drift makes")
    static_pressure_bar: float = Field(4.0, gt=0, description="gauge pressure of the line at zero flow")
    pressure_drop_bar_at_max_flow: float = Field(1.5, ge=0)
    tank_capacity_kg: float = Field(1000.0, gt=0)
    tank_drain_rate_kg_s: float = Field(5.0, gt=0)
    initial_tank_mass_kg: float = Field(0.0, ge=0)
    scale_settle_time_s: float = Field(2.0, ge=0, description="the weight is unsteady this long after filling")
    timebase_hz: float = Field(9999998.6, gt=0, description="true frequency of the collection timer's reference "
                               "(signal water.timebase; the default follows certificate ctr-03)")
    diverter_timing_sd_s: float = Field(0.0, ge=0, le=1, description="standard deviation of the difference between "
                                        "the diverter's switching into and out of the tank, against the counters' "
                                        "gate (0: the flap follows its command at once)")


class WaterConditioningParams(Strict):
    """Water conditioning of the water rig (physics/water_conditioning.py): a heater/chiller circulator
    conditioning the supply tank, and a pressure regulator at the meters' inlet fed by a booster pump.
    Neither acts until an instrument commands it; until then the water rig behaves as without them."""

    circulator_time_constant_s: float = Field(
        600.0, gt=0, description="first-order response of the line's water to the circulator's setpoint "
        "(a few hundred litres of buffer tank through a 10 kW class unit)")
    circulator_min_c: float = Field(5.0, description="lowest temperature the unit can hold")
    circulator_max_c: float = Field(90.0, description="highest temperature the unit can hold")
    regulator_time_constant_s: float = Field(3.0, gt=0, description="first-order response of the regulated pressure")
    supply_head_bar: float = Field(16.0, gt=0, description="gauge pressure the booster gives the regulator at zero "
                                   "flow; it falls with the rig's pressure drop, and bounds the regulated pressure")

    @model_validator(mode="after")
    def _range(self) -> WaterConditioningParams:
        if self.circulator_min_c >= self.circulator_max_c:
            raise ValueError("circulator_min_c must be below circulator_max_c")
        return self


class ChamberParams(Strict):
    """The climate chamber (physics/chamber.py): air and humidity follow the controller with a first-order lag
    and a largest rate of change; the meters inside follow the air with their own lag."""

    room_temperature_c: float = Field(23.0, description="where the air drifts while the chamber is not driving")
    room_humidity_pct: float = Field(45.0, ge=0, le=100)
    initial_temperature_c: float | None = Field(None, description="default: room temperature")
    initial_humidity_pct: float | None = Field(None, ge=0, le=100, description="default: room humidity")
    air_time_constant_s: float = Field(180.0, gt=0)
    max_heating_c_per_min: float = Field(3.0, gt=0)
    max_cooling_c_per_min: float = Field(2.0, gt=0)
    humidity_time_constant_s: float = Field(120.0, gt=0)
    max_humidity_rate_pct_per_min: float = Field(5.0, gt=0)
    idle_time_constant_s: float = Field(1800.0, gt=0, description="standby, off or alarm: back to the room")
    meter_time_constant_s: float = Field(900.0, gt=0, description="the meters inside follow the air")
    alarm_code: int = Field(1, ge=1, description="code of a chamber_alarm fault without `message:`")
    alarm_stops_conditioning: bool = Field(True, description="an alarm stops heating/cooling until reset")


class ShakerParams(Strict):
    """The vibration table (physics/motion.py): how the motion at the meter differs from what its controller was
    told. Invented characteristics of a plausible servo-hydraulic seismic table, not from any datasheet."""

    level_error_pct: float = Field(0.0, ge=-50, le=50, description="true level / demanded level - 1, in %: the "
                                   "control loop's residual error (the control accelerometer's reading shows it)")
    startup_s: float = Field(1.0, ge=0, le=60, description="the level rises linearly from 0 over this time at START")
    random_lines: int = Field(400, ge=10, le=5000, description="sinusoids of random phase that make up a random "
                                 "vibration (equally spaced over the profile's band)")


class ShockParams(Strict):
    """The mechanical shock / pendulum impact tester (physics/motion.py): the pulse the meter receives."""

    peak_error_pct: float = Field(0.0, ge=-50, le=50, description="true peak / set peak - 1, in %")
    peak_scatter_pct: float = Field(1.0, ge=0, le=20, description="1-sigma shot-to-shot scatter of the true peak")
    duration_error_pct: float = Field(0.0, ge=-50, le=50, description="true pulse duration / set duration - 1, in %")
    release_delay_s: float = Field(2.0, ge=0, le=60, description="from FIRE to the impact (the pendulum's swing)")


class GasSupplyParams(Strict):
    """The gas supply line of the safety-function tests (physics/gas_supply.py): a supply at its nominal pressure
    and, between it and the meter's inlet, a pressure controller's valve."""

    supply_gauge_pa: float = Field(2000.0, gt=0, le=1e6, description="gauge pressure of the supply, what the "
                                   "meter's inlet has while the controller does not regulate (city gas, invented)")
    time_constant_s: float = Field(0.5, gt=0, le=60, description="first-order response of the inlet pressure")
    max_slew_pa_per_s: float = Field(5000.0, gt=0, description="fastest change the controller's valve can make")


Curve = list[Annotated[tuple[float, float], AsTuple]]  # [[frequency_hz, value], ...]


class RfParams(Strict):
    """The RF immunity chain (physics/rf.py): amplifier gain(f) and compression, the CDN path to its
    150 Ω -> 50 Ω calibration adaptor, the transmitting antenna. Curves are [[frequency_hz, value], ...],
    linear in log f, constant beyond their ends."""

    amplifier_gain_db: Curve = Field(default_factory=lambda: [(1e4, 45.0), (1e8, 44.0), (1e9, 42.0), (6e9, 38.0)])
    amplifier_saturation_dbm: float = Field(47.0, description="output power the amplifier compresses towards")
    amplifier_compression_order: float = Field(2.0, gt=0, description="Rapp smoothness: large = hard limiting")
    cdn_loss_db: Curve = Field(default_factory=lambda: [(1e5, 17.0), (8e7, 18.5), (1e9, 22.0)],
                               description="amplifier output -> 50 Ω port of the adaptor (CDN, attenuator, adaptor)")
    adaptor_emf_ratio: float = Field(6.0, gt=0, description="CDN source e.m.f. / voltage at the adaptor's 50 Ω port")
    antenna_gain_dbi: Curve = Field(default_factory=lambda: [(2.6e7, 2.0), (8e7, 4.0), (1e9, 7.0), (6e9, 9.0)])
    antenna_cable_loss_db: float = Field(1.0, ge=0)
    antenna_distance_m: float = Field(3.0, gt=0)

    @field_validator("amplifier_gain_db", "cdn_loss_db", "antenna_gain_dbi")
    @classmethod
    def _frequency_curve(cls, curve: Curve) -> Curve:
        frequencies = [f for f, _ in curve]
        if not curve or any(f <= 0 for f in frequencies) or any(b <= a for a, b in zip(frequencies, frequencies[1:])):
            raise ValueError("give [[frequency_hz, value], ...] with frequencies > 0 and strictly increasing")
        return curve


class FaultSpec(Strict):
    """A fault injected at simulated time `at_s`, or at random (`rate_per_h`, seeded by the scenario)."""

    kind: str = Field(description=f"{', '.join(INSTRUMENT_FAULTS)} (instrument), or a physical fault, e.g. pump_trip")
    instrument: str | None = Field(None, description="bench instrument name, for communication faults")
    at_s: DURATION_S | None = None
    rate_per_h: float | None = Field(None, gt=0, le=3600)
    duration_s: float | None = Field(None, gt=0, description="default: to the end (at_s) or 10 s (random)")
    message: str | None = Field(None, description="kind error: the instrument's own error text")

    @model_validator(mode="after")
    def _when_and_where(self) -> FaultSpec:
        if (self.at_s is None) == (self.rate_per_h is None):
            raise ValueError("give either at_s (a simulated time) or rate_per_h (at random)")
        if self.kind in INSTRUMENT_FAULTS and self.instrument is None:
            raise ValueError(f"a {self.kind} fault needs `instrument:` (which one stops answering?)")
        return self

    @property
    def is_comm(self) -> bool:
        """A fault of one instrument's interface (communication or read-out), not of the physics."""
        return self.kind in INSTRUMENT_FAULTS


class Scenario(Strict):
    seed: int = 0
    water_rig: WaterRigParams = Field(default_factory=WaterRigParams)
    water_conditioning: WaterConditioningParams = Field(default_factory=WaterConditioningParams)
    rf: RfParams = Field(default_factory=RfParams)
    chamber: ChamberParams = Field(default_factory=ChamberParams)
    shaker: ShakerParams = Field(default_factory=ShakerParams)
    shock: ShockParams = Field(default_factory=ShockParams)
    gas_supply: GasSupplyParams = Field(default_factory=GasSupplyParams)
    meters: list[MeterSpec] = Field(default_factory=list, description="in series, position 1 first")
    master_meter: MasterMeterParams = Field(default_factory=MasterMeterParams, description="in the water line")
    gas_rig: GasRigParams = Field(default_factory=GasRigParams)
    gas_meters: list[MeterSpec] = Field(default_factory=list, description="on the gas rig, in series, position 1 first")
    devices: dict[str, dict[str, Any]] = Field(
        default_factory=dict, description="simulated instrument characteristics, by bench instrument name"
    )
    faults: list[FaultSpec] = Field(default_factory=list)
    _source: tuple[Path, dict[Path_, int]] | None = PrivateAttr(None)

    @field_validator("meters")
    @classmethod
    def _no_valve_on_water(cls, meters: list[MeterSpec]) -> list[MeterSpec]:
        if any(m.safety is not None for m in meters):
            raise ValueError("safety: belongs to gas_meters (the shut-off valve of a smart gas meter)")
        return meters

    @field_validator("meters", "gas_meters")
    @classmethod
    def _unique_serials(cls, meters: list[MeterSpec]) -> list[MeterSpec]:
        serials = [m.serial for m in meters]
        duplicates = sorted({s for s in serials if serials.count(s) > 1})
        if duplicates:
            raise ValueError(f"serial numbers must be unique: {duplicates}")
        return meters

    @property
    def source(self) -> tuple[Path | str, dict[Path_, int]]:
        """The file the scenario was read from and its line map ("<scenario>" when built in code)."""
        return self._source or ("<scenario>", {})

    def device_params(self, name: str, model: type[M]) -> M:
        """Validate `devices.<name>` against a simulated device's parameter model (errors name the line); its
        `reply_latency_s` is every line device's (`reply_latency_s` below), not the model's."""
        given = {k: v for k, v in self.devices.get(name, {}).items() if k != "reply_latency_s"}
        try:
            return model.model_validate(given, strict=True)
        except ValidationError as exc:
            path, lines = self.source
            own_lines = {key[2:]: line for key, line in lines.items() if key[:2] == ("devices", name)}
            problems = [(line, f"devices.{name}.{field}".rstrip("."), message)
                        for line, field, message in validation_problems(exc, own_lines)]
            raise InputFileError(path, problems) from exc

    def reply_latency_s(self, name: str, *, line_device: bool = True) -> float | None:
        """`devices.<name>.reply_latency_s`: the instrument's turnaround in this scenario instead of its class's
        (sim/tables/reply-latency.yaml), e.g. 0 where a benchmark measures the drivers alone; refused for a device
        that is not a line device (a Modbus device answers at once)."""
        value = self.devices.get(name, {}).get("reply_latency_s")
        problem = None
        if value is not None and not line_device:
            problem = f"{name!r} answers over Modbus, at once: a turnaround is for a line (SCPI-style) instrument"
        elif value is not None and not (isinstance(value, int | float) and not isinstance(value, bool)
                                        and 0 <= value <= 60):
            problem = f"{value!r} is not a turnaround: give 0 to 60 simulated seconds"
        if problem:
            path, lines = self.source
            raise InputFileError(path, [(lines.get(("devices", name, "reply_latency_s")),
                                         f"devices.{name}.reply_latency_s", problem)])
        return None if value is None else float(value)


def load_scenario(path: str | Path) -> Scenario:
    """Read and validate a scenario file; problems raise InputFileError naming file, line and field."""
    data, lines = read_yaml(path)
    scenario = load_model(path, Scenario, data=data, lines=lines)
    scenario._source = (Path(path), lines)
    return scenario


def default_scenario(bench_path: Path) -> Path | None:
    """The truth a simulated bench runs on when no scenario is given: `scenarios/<bench file's name>` beside the
    bench file (instruments/sim.yaml -> instruments/scenarios/sim.yaml), if it exists. Its meters are good
    meters with the outputs of the example declarations, so a first run shows plausible errors."""
    path = Path(bench_path).parent / "scenarios" / Path(bench_path).name
    return path if path.exists() else None


def load_scenario_or_default(path: Path | None, bench_path: Path) -> tuple[Scenario, Path | None]:
    """The scenario at `path`, else the bench's default scenario if present, else built-in defaults."""
    path = path or default_scenario(bench_path)
    return (load_scenario(path) if path else Scenario()), path
