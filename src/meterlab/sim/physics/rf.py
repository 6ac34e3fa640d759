"""The RF immunity chain (IEC 61000-4-6 conducted, 61000-4-3 radiated): signal generator -> power amplifier
(gain(f), compression) -> the coupling paths wired to the amplifier's output:

- `cdn`: a coupling/decoupling network, with its 150 Ω -> 50 Ω calibration adaptor (and attenuator) in
  front of the power sensor. `rf.adaptor_power_w` is what a 50 Ω sensor on the adaptor reads; the e.m.f.
  the CDN drives into the meter under test is `adaptor_emf_ratio` × the adaptor voltage.
- `antenna`: a transmitting antenna at `antenna_distance_m` from the meter: E = sqrt(30·P·G)/d (far field).

The amplifier's bench wiring says where its output goes and which meter each path reaches
(`wiring: {cdn: meter1.mains, antenna: meter1}`). Wiring both terminals models a splitter: each path gets
half the power (a real set-up has one path per amplifier; the levelling calibration absorbs the 3 dB).

While the generator's RF output is on, the amplifier operates with its RF enabled, and a path delivers a
level, the meters it reaches are disturbed (`conducted_rf` through the CDN, `radiated_rf` through the
antenna) with params {frequency_hz, emf_v | field_v_per_m, am_depth_pct, am_frequency_hz} (unmodulated
levels, as the standards state them); otherwise the disturbance ends.

One chain per simulated lab: the simulated generator and amplifier attach to the component `rf`. The
amplifier registers with the EMC component (`emc`, if the world has one) so the `interlock_open` fault
trips it like the other generators.

Signals: rf.forward_power_w (amplifier output, average over the AM cycle), rf.adaptor_power_w (average, at
the adaptor's 50 Ω port), rf.emf_v (unmodulated e.m.f. of the CDN), rf.field_v_per_m (RMS field, average
over the AM cycle, as an isotropic probe reads it), rf.field_carrier_v_per_m (unmodulated), rf.active."""

from __future__ import annotations

import bisect
import logging
import math
import re
from dataclasses import dataclass, field
from typing import Any

from meterlab.sim.scenario import RfParams, Scenario
from meterlab.sim.world import Component, World

log = logging.getLogger(__name__)

SYSTEM_IMPEDANCE_OHM = 50.0  # the sensor/adaptor port and the amplifier output
FREE_SPACE_FACTOR = 30.0  # E = sqrt(30·P·G)/d: far-field of an antenna in free space (377 Ω / 4π)
AM_SAMPLES = 32  # phases over one AM cycle for the average power through the compressing amplifier
PATHS = {"cdn": "conducted_rf", "antenna": "radiated_rf"}


def dbm_to_w(dbm: float) -> float:
    return 1e-3 * 10 ** (dbm / 10)


def interpolate_log_f(curve: list[tuple[float, float]], frequency_hz: float) -> float:
    """A [[frequency_hz, value], ...] curve, linear in log f, held constant beyond its ends."""
    log_f = [math.log(f) for f, _ in curve]
    x = math.log(max(frequency_hz, 1e-3))
    i = bisect.bisect_right(log_f, x)
    if i == 0:
        return curve[0][1]
    if i == len(curve):
        return curve[-1][1]
    x0, x1, y0, y1 = log_f[i - 1], log_f[i], curve[i - 1][1], curve[i][1]
    return y0 + (y1 - y0) * (x - x0) / (x1 - x0)


@dataclass
class GeneratorState:
    output_on: bool = False
    frequency_hz: float = 1e9
    level_dbm: float = -30.0
    am_on: bool = False
    am_internal: bool = True  # AM source: the internal LF generator (EXT: nothing is connected here)
    am_depth_pct: float = 30.0
    am_frequency_hz: float = 1000.0


@dataclass
class AmplifierState:
    name: str | None = None  # the simulated amplifier attached to the chain
    operate: bool = False  # ZEROATT (operate) / FULLATT (standby)
    rf_on: bool = False
    interlock_open: bool = False
    interlock_trips: int = 0  # how often the interlock tripped it (the device reports each once)
    paths: dict[str, list[str]] = field(default_factory=dict)  # disturbance kind -> meters reached


class RfChain(Component):
    name = "rf"

    def __init__(self, params: RfParams):
        self.params = params
        self.generator = GeneratorState()
        self.amplifier = AmplifierState()
        self._generator_owner: str | None = None
        self._applied: dict[str, dict[str, Any]] = {}  # kind -> params of the disturbance applied now
        self._warned: set[str] = set()

    def attach(self, world: World) -> None:
        super().attach(world)
        world.define_signal("rf.forward_power_w", lambda: self.forward_power_w(), doc="amplifier output, W")
        world.define_signal("rf.adaptor_power_w", lambda: self.adaptor_power_w(), doc="at the adaptor, W")
        world.define_signal("rf.emf_v", lambda: self.emf_v(), doc="unmodulated e.m.f. of the CDN, V")
        world.define_signal("rf.field_v_per_m", lambda: self.field_v_per_m(), doc="RMS field at the meter")
        world.define_signal("rf.field_carrier_v_per_m", lambda: self.field_v_per_m(modulated=False))
        world.define_signal("rf.active", lambda: bool(self._applied), doc="a meter is being disturbed")

    # -- devices attach and act (call under the world lock) ----------------------------------------------
    def attach_generator(self, name: str) -> None:
        if self._generator_owner not in (None, name):
            raise ValueError(f"the simulated lab has one RF chain; {self._generator_owner!r} already drives it")
        self._generator_owner = name

    def attach_amplifier(self, name: str, wiring: dict[str, str]) -> None:
        """The amplifier `name` feeds the paths its wiring names (terminal cdn/antenna -> meter)."""
        if self.amplifier.name not in (None, name):
            raise ValueError(f"the simulated lab has one RF chain; {self.amplifier.name!r} already amplifies")
        self.amplifier.name = name
        self.amplifier.paths = {}
        for terminal, target in wiring.items():
            if terminal in PATHS:
                self.amplifier.paths.setdefault(PATHS[terminal], []).append(target)
        emc = self.world.components.get("emc")
        if emc is not None and hasattr(emc, "register"):
            emc.register(name, self._interlock)

    def set_generator(self, **changes: Any) -> None:
        for key, value in changes.items():
            if not hasattr(self.generator, key):
                raise AttributeError(f"the generator has no {key!r}")
            setattr(self.generator, key, value)
        self.update()

    def set_amplifier(self, *, operate: bool | None = None, rf_on: bool | None = None) -> bool:
        """Switch the amplifier; False (nothing changed) if the interlock is open and it should switch on."""
        if self.amplifier.interlock_open and (operate or rf_on):
            return False
        if operate is not None:
            self.amplifier.operate = operate
        if rf_on is not None:
            self.amplifier.rf_on = rf_on
        self.update()
        return True

    def _interlock(self, open_: bool) -> None:
        """From the EMC component: the test-area interlock opened (trips the amplifier) or closed."""
        self.amplifier.interlock_open = open_
        if open_:
            self.amplifier.interlock_trips += 1
            self.amplifier.operate = self.amplifier.rf_on = False
        self.update()

    # -- the physics --------------------------------------------------------------------------------------
    def _compress(self, linear_w: float) -> float:
        """Rapp model in power: P_out = P_lin / (1 + (P_lin/P_sat)^p)^(1/p)."""
        p = self.params.amplifier_compression_order
        saturation_w = dbm_to_w(self.params.amplifier_saturation_dbm)
        return linear_w / (1 + (linear_w / saturation_w) ** p) ** (1 / p)

    def amplifying(self) -> bool:
        g, a = self.generator, self.amplifier
        return g.output_on and a.operate and a.rf_on and not a.interlock_open

    def forward_power_w(self, *, modulated: bool = True) -> float:
        """Amplifier output power; with AM on, averaged over the modulation cycle (peaks compress)."""
        if not self.amplifying():
            return 0.0
        g = self.generator
        gain_db = interpolate_log_f(self.params.amplifier_gain_db, g.frequency_hz)
        linear_w = dbm_to_w(g.level_dbm) * 10 ** (gain_db / 10)
        if not (modulated and g.am_on and g.am_internal and g.am_depth_pct > 0):
            return self._compress(linear_w)
        m = g.am_depth_pct / 100
        phases = (2 * math.pi * (k + 0.5) / AM_SAMPLES for k in range(AM_SAMPLES))
        return sum(self._compress(linear_w * (1 + m * math.sin(theta)) ** 2) for theta in phases) / AM_SAMPLES

    def _path_power_w(self, kind: str, modulated: bool) -> float:
        paths = self.amplifier.paths
        return self.forward_power_w(modulated=modulated) / len(paths) if kind in paths else 0.0

    def adaptor_power_w(self, *, modulated: bool = True) -> float:
        loss_db = interpolate_log_f(self.params.cdn_loss_db, self.generator.frequency_hz)
        return self._path_power_w("conducted_rf", modulated) * 10 ** (-loss_db / 10)

    def emf_v(self) -> float:
        """The unmodulated e.m.f. the CDN drives into the meter (adaptor voltage × the jig's ratio)."""
        return self.params.adaptor_emf_ratio * math.sqrt(self.adaptor_power_w(modulated=False) * SYSTEM_IMPEDANCE_OHM)

    def field_v_per_m(self, *, modulated: bool = True) -> float:
        f = self.generator.frequency_hz
        power_w = self._path_power_w("radiated_rf", modulated) * 10 ** (-self.params.antenna_cable_loss_db / 10)
        gain = 10 ** (interpolate_log_f(self.params.antenna_gain_dbi, f) / 10)
        return math.sqrt(FREE_SPACE_FACTOR * power_w * gain) / self.params.antenna_distance_m

    # -- disturbing the meters ----------------------------------------------------------------------------
    def update(self) -> None:
        """Start, update or end the disturbances after any change of the chain (under the world lock)."""
        g = self.generator
        for kind, targets in self.amplifier.paths.items():
            level = self.emf_v() if kind == "conducted_rf" else self.field_v_per_m(modulated=False)
            params: dict[str, Any] | None = None
            if level > 0:
                params = {"frequency_hz": g.frequency_hz,
                          ("emf_v" if kind == "conducted_rf" else "field_v_per_m"): level,
                          "am_depth_pct": g.am_depth_pct if g.am_on and g.am_internal else 0.0,
                          "am_frequency_hz": g.am_frequency_hz}
            if params == self._applied.get(kind):
                continue
            for target in targets:
                meter = self._resolve(target)
                if meter is not None:
                    line, position = meter
                    line.disturb(position, kind, params is not None, params)
            if params is None:
                self._applied.pop(kind, None)
            else:
                self._applied[kind] = params

    def _resolve(self, target: str) -> tuple[Any, int] | None:
        """`meter1` or `meter1.mains` -> (the meter line, 1); None (warned once) if no such meter."""
        for component in self.world.components.values():
            prefix = getattr(component, "prefix", None)
            if prefix is None or not hasattr(component, "disturb"):
                continue
            match = re.fullmatch(rf"{re.escape(prefix)}(\d+)(?:\..+)?", target)
            if match and any(m.position == int(match.group(1)) for m in getattr(component, "meters", ())):
                return component, int(match.group(1))
        if target not in self._warned:
            self._warned.add(target)
            log.warning("RF chain: %r names no meter of this simulated lab; nothing is disturbed there", target)
        return None


def build(world: World, scenario: Scenario) -> None:
    world.add(RfChain(scenario.rf))
