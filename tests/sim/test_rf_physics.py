"""The RF immunity chain on a manual clock: amplifier gain and compression, AM, the CDN adaptor and the
antenna field against their formulas, and the meters disturbed exactly while the chain drives them."""

import math

import pytest
from pydantic import ValidationError

from meterlab.sim.clock import ManualClock
from meterlab.sim.physics import build_world
from meterlab.sim.physics.rf import interpolate_log_f
from meterlab.sim.scenario import FaultSpec, MeterSpec, RfParams, Scenario, Susceptibility

FLAT = RfParams(amplifier_gain_db=[(1e5, 40.0)], amplifier_saturation_dbm=50.0, amplifier_compression_order=2.0,
                cdn_loss_db=[(1e5, 20.0)], adaptor_emf_ratio=6.0, antenna_gain_dbi=[(1e6, 6.0)],
                antenna_cable_loss_db=0.0, antenna_distance_m=3.0)


def meter(serial, **susceptibility):
    return MeterSpec(serial=serial, error_curve=[(1.0, 0.0)], pulse_value_l=0.01, register_resolution_l=0.001,
                     susceptibility={k: Susceptibility(**v) for k, v in susceptibility.items()})


def chain_world(params=FLAT, wiring=None, meters=None):
    meters = meters if meters is not None else [
        meter("RF-1", conducted_rf={"effect": "error_shift", "error_shift_pct": 2.0}),
        meter("RF-2", radiated_rf={"effect": "error_shift", "error_shift_pct": -1.0}),
    ]
    world = build_world(Scenario(rf=params, meters=meters), ManualClock())
    chain = world.component("rf")
    with world.lock:
        chain.attach_generator("gen")
        chain.attach_amplifier("amp", wiring if wiring is not None else {"cdn": "meter1.mains"})
    return world, chain


def drive(world, chain, level_dbm, frequency_hz=1e6, **generator):
    with world.now():
        chain.set_generator(output_on=True, level_dbm=level_dbm, frequency_hz=frequency_hz, **generator)
        chain.set_amplifier(operate=True, rf_on=True)


def test_linear_region_follows_the_gain_and_the_cdn_loss_exactly():
    world, chain = chain_world()
    drive(world, chain, -20.0)
    linear_w = 1e-3 * 10 ** (20 / 10)  # -20 dBm + 40 dB, 30 dB below saturation: (P/P_sat)² = 1e-6
    assert chain.forward_power_w(modulated=False) == pytest.approx(linear_w / math.sqrt(1 + 1e-6), rel=1e-9)
    adaptor_w = world.read("rf.adaptor_power_w")
    assert adaptor_w == pytest.approx(world.read("rf.forward_power_w") / 100, rel=1e-12)
    assert world.read("rf.emf_v") == pytest.approx(6 * math.sqrt(adaptor_w * 50), rel=1e-12)


def test_the_amplifier_compresses_towards_saturation():
    world, chain = chain_world()
    outputs = []
    for level in (-10.0, 0.0, 5.0, 10.0, 20.0):
        drive(world, chain, level)
        outputs.append(10 * math.log10(chain.forward_power_w(modulated=False) / 1e-3))
    gains = [out - level for out, level in zip(outputs, (-10.0, 0.0, 5.0, 10.0, 20.0))]
    assert gains[0] == pytest.approx(40.0, abs=0.01)  # 30 dBm out, 20 dB below saturation
    assert all(b < a for a, b in zip(gains, gains[1:]))  # ever more compression
    assert all(b > a for a, b in zip(outputs, outputs[1:])) and outputs[-1] < 50.0  # monotonic, below P_sat
    assert gains[2] == pytest.approx(40 - 10 * math.log10(1.1) / 2, abs=1e-9)  # 45 dBm linear: (P/P_sat)² = 0.1
    assert gains[3] == pytest.approx(40 - 10 * math.log10(2) / 2, abs=1e-9)  # at P_sat: 1.5 dB compressed (p = 2)


def test_am_raises_the_average_power_by_one_plus_half_m_squared_in_the_linear_region():
    world, chain = chain_world()
    drive(world, chain, -30.0, am_on=True, am_depth_pct=80.0, am_internal=True)
    ratio = chain.forward_power_w() / chain.forward_power_w(modulated=False)
    assert ratio == pytest.approx(1 + 0.8 ** 2 / 2, rel=1e-4)
    with world.now():
        chain.set_generator(am_internal=False)  # external source, nothing connected: no modulation
    assert chain.forward_power_w() == pytest.approx(chain.forward_power_w(modulated=False))


def test_antenna_field_is_the_far_field_formula_and_both_paths_split_the_power():
    world, chain = chain_world(wiring={"antenna": "meter2"})
    drive(world, chain, -10.0)
    forward_w = chain.forward_power_w(modulated=False)
    assert world.read("rf.field_carrier_v_per_m") == pytest.approx(math.sqrt(30 * forward_w * 10 ** 0.6) / 3, rel=1e-12)
    assert world.read("rf.adaptor_power_w") == 0.0  # no CDN wired

    split, split_chain = chain_world(wiring={"antenna": "meter2", "cdn": "meter1"})
    drive(split, split_chain, -10.0)
    alone = world.read("rf.field_carrier_v_per_m")
    assert split.read("rf.field_carrier_v_per_m") == pytest.approx(alone / math.sqrt(2))


def test_gain_curve_is_interpolated_in_log_frequency():
    curve = [(1e6, 40.0), (1e8, 30.0)]
    assert interpolate_log_f(curve, 1e7) == pytest.approx(35.0)
    assert interpolate_log_f(curve, 1e3) == 40.0 and interpolate_log_f(curve, 1e9) == 30.0


def test_meter_is_disturbed_only_while_generator_output_and_amplifier_are_all_on():
    world, chain = chain_world(wiring={"cdn": "meter1.mains", "antenna": "meter2"})
    meters = world.component("meters")
    drive(world, chain, -20.0, am_on=True, am_depth_pct=80.0)
    assert set(meters.meter(1).disturbances) == {"conducted_rf"}
    assert set(meters.meter(2).disturbances) == {"radiated_rf"}
    assert meters.meter(1).error_pct(1.0) == pytest.approx(2.0)
    assert meters.meter(2).error_pct(1.0) == pytest.approx(-1.0)
    assert world.read("rf.active") is True
    for switch in ({"operate": False}, {"rf_on": False}):
        with world.now():
            chain.set_amplifier(**switch)
        assert not meters.meter(1).disturbances and not meters.meter(2).disturbances
        drive(world, chain, -20.0)
        assert meters.meter(1).disturbances
    with world.now():
        chain.set_generator(output_on=False)
    assert not meters.meter(1).disturbances and world.read("rf.active") is False


def test_disturbance_params_carry_frequency_level_and_modulation(monkeypatch):
    world, chain = chain_world()
    calls = []
    line = world.component("meters")
    monkeypatch.setattr(line, "disturb",
                        lambda key, kind, active, params=None: calls.append((key, kind, active, params)))
    drive(world, chain, -20.0, am_on=True, am_depth_pct=80.0, am_frequency_hz=1000.0)
    key, kind, active, params = calls[-1]
    assert (key, kind, active) == (1, "conducted_rf", True)
    assert params["frequency_hz"] == 1e6 and params["am_depth_pct"] == 80.0 and params["am_frequency_hz"] == 1000.0
    assert params["emf_v"] == pytest.approx(world.read("rf.emf_v"))
    count = len(calls)
    with world.now():
        chain.set_generator(frequency_hz=1.01e6)  # a new step: the meter is told the new frequency
    assert len(calls) == count + 1 and calls[-1][3]["frequency_hz"] == 1.01e6
    with world.now():
        chain.set_generator(output_on=False)
    assert calls[-1][:3] == (1, "conducted_rf", False)


def test_wiring_to_no_meter_disturbs_nothing():
    world, chain = chain_world(wiring={"cdn": "adaptor"}, meters=[])
    drive(world, chain, -20.0)
    assert world.read("rf.adaptor_power_w") > 0


def test_interlock_trips_the_amplifier_and_refuses_it_until_closed():
    world, chain = chain_world()
    drive(world, chain, -20.0)
    assert "interlock_open" in world.fault_handlers  # the EMC component's interlock reaches the amplifier
    with world.now():
        world.fault_handlers["interlock_open"](FaultSpec(kind="interlock_open", instrument="amp", at_s=0, duration_s=5))
    assert not chain.amplifying() and not world.component("meters").meter(1).disturbances
    with world.now():
        assert chain.set_amplifier(operate=True, rf_on=True) is False
    world.clock.advance(6)
    world.advance()
    with world.now():
        assert chain.set_amplifier(operate=True, rf_on=True) is True
    assert chain.amplifying() and chain.amplifier.interlock_trips == 1


def test_one_chain_per_lab():
    world, chain = chain_world()
    with pytest.raises(ValueError, match="one RF chain"):
        chain.attach_generator("another")
    with pytest.raises(ValueError, match="one RF chain"):
        chain.attach_amplifier("another", {})


def test_rf_params_refuse_a_curve_that_is_not_increasing_in_frequency():
    with pytest.raises(ValidationError, match="strictly increasing"):
        RfParams(amplifier_gain_db=[(1e6, 40.0), (1e5, 41.0)])
