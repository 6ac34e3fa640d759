"""Mettler Toledo MT-SICS driver: byte-exact protocol, then against the simulated weighing tank."""

import pytest

from meterlab.instruments.errors import InstrumentError, InstrumentReplyError, InstrumentValueError
from meterlab.instruments.scale import MettlerToledoSics
from meterlab.instruments.testing import expected_protocol
from meterlab.metrology.fluids import water_density_tanaka

# -- byte-exact (CRLF framing is checked too) ----------------------------------------------------------------


def test_stable_weight_in_kg_from_any_unit():
    with expected_protocol(MettlerToledoSics, [
        (b"S", b"S S     100.00 kg"),
        (b"S", b"S S    2500.5 g"),
    ]) as scale:
        assert scale.weight_kg() == 100.0
        assert scale.weight_kg() == pytest.approx(2.5005)


def test_immediate_weight_says_whether_it_is_stable():
    with expected_protocol(MettlerToledoSics, [(b"SI", b"S D      12.34 kg")]) as scale:
        assert scale.weight_immediate_kg() == (pytest.approx(12.34), False)


@pytest.mark.parametrize("reply, text", [
    (b"ES", "syntax error"), (b"EL", "logical error"), (b"S I", "not stable"),
    (b"S +", "overload"), (b"S -", "underload"),
])
def test_in_line_errors_become_instrument_errors(reply, text):
    with expected_protocol(MettlerToledoSics, [(b"S", reply)]) as scale:
        with pytest.raises(InstrumentError, match=text):
            scale.weight_kg()


def test_zero_tare_and_identity():
    with expected_protocol(MettlerToledoSics, [
        (b"Z", b"Z A"),
        (b"T", b"T S      50.00 kg"),
        (b"TA?", b"TA A      50.00 kg"),
        (b"TAC", b"TAC A"),
        (b"I2", b'I2 A "ICS685k-600 600 kg"'),
        (b"I4", b'I4 A "B912345678"'),
    ]) as scale:
        scale.zero()
        assert scale.tare() == 50.0
        assert scale.tare_kg() == 50.0
        scale.clear_tare()
        assert scale.identify() == "Mettler Toledo ICS685k-600 600 kg, S/N B912345678"


def test_tare_preset_beyond_capacity_is_refused_before_sending():
    with expected_protocol(MettlerToledoSics, [(b"TA 12.5 kg", b"TA A      12.50 kg")],
                           options={"capacity_kg": 600}) as scale:
        with pytest.raises(InstrumentValueError, match="0 .. 600 kg"):
            scale.preset_tare(700)
        scale.preset_tare(12.5)


def test_a_reply_for_another_command_is_not_understood():
    with expected_protocol(MettlerToledoSics, [(b"S", b"Z A")]) as scale:
        with pytest.raises(InstrumentReplyError):
            scale.weight_kg()


# -- against the simulated lab -------------------------------------------------------------------------------


def test_the_scale_follows_rho_times_the_volume_diverted(lab, rig):
    scale, valves, pump = rig["scale"], rig["valves"], rig["pump"]
    switched_at_s = []  # simulated times of the diverter's moves, seen by the physics
    lab.world.on("diverter", lambda value: switched_at_s.append(lab.world.t_s))
    before_kg = scale.weight_kg()
    valves.open_start_valve()
    pump.run(100)
    lab.clock.sleep(30, max_real_s=2)  # steady at 6 m3/h
    valves.diverter_to_tank()
    lab.clock.sleep(40, max_real_s=2)
    valves.diverter_to_bypass()
    gained_kg = scale.weight_kg() - before_kg
    t_c, line_bar = lab.world.read("water.temperature_c"), lab.world.read("water.pressure_bar")  # still flowing
    rig.safe_state()
    start_s, stop_s = switched_at_s[-2:]
    volume_l = 6.0 / 3.6 * (stop_s - start_s)
    # true mass through the meter (rho at the line's pressure), shown as conventional mass (air buoyancy)
    rho_line = water_density_tanaka(t_c, 101325.0 + line_bar * 1e5)
    rho_tank = water_density_tanaka(t_c)
    indication_kg = rho_line * volume_l / 1000 * (1 - 1.2 / rho_tank) / (1 - 1.2 / 8000)
    assert gained_kg == pytest.approx(indication_kg, abs=0.002)  # 2 x the resolution
    assert abs(gained_kg - rho_line * volume_l / 1000) > 0.05  # buoyancy (0.1 %) is really there


def test_weight_is_dynamic_while_filling_and_s_reports_not_stable(lab, rig):
    scale, valves, pump = rig["scale"], rig["valves"], rig["pump"]
    valves.open_start_valve()
    pump.run(60)
    lab.clock.sleep(20, max_real_s=2)
    valves.diverter_to_tank()
    try:
        lab.clock.sleep(1)  # water into the tank
        _, stable = scale.weight_immediate_kg()
        assert not stable
        with pytest.raises(InstrumentError, match="S I"):
            scale.weight_kg()  # the scale waits 30 simulated s for stability, then answers S I
    finally:
        rig.safe_state()


def test_unknown_command_gets_es_and_tare_preset_out_of_range_gets_l(rig):
    scale = rig["scale"]
    assert scale.transport.query("XYZ") == "ES"
    scale.preset_tare(1.0)
    assert scale.transport.query("TA 900 kg") == "TA L"
    assert scale.tare_kg() == 1.0
    scale.clear_tare()
