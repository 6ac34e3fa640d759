"""The simulated laboratory: the world, one protocol server per simulated instrument, the faults.

    with SimLab(load_bench("instruments/sim.yaml"), load_scenario(path), clock_scale=1000) as lab:
        bench = open_bench(lab.bench, iolog, lab.resources)      # the real drivers, over real sockets
        ...

`resources` maps each simulated instrument to what a client opens: a VISA resource string
(`TCPIP::127.0.0.1::<port>::SOCKET`) or `127.0.0.1:<port>` for Modbus TCP."""

from __future__ import annotations

import logging
from typing import Any

from meterlab.errors import InputFileError
from meterlab.instruments import registry
from meterlab.instruments.bench import Bench, ConnectedBench, open_bench
from meterlab.instruments.iolog import IOLogSink
from meterlab.sim.clock import SimClock, make_clock
from meterlab.sim.devices.base import LineDevice, ModbusDevice, SimDevice
from meterlab.sim.faults import (
    CommFaults,
    check_faults,
    fault_problems,
    schedule_physical_fault,
    schedule_physical_faults,
)
from meterlab.sim.physics import build_world
from meterlab.sim.scenario import FaultSpec, Scenario
from meterlab.sim.servers.line import LineServer
from meterlab.sim.servers.modbus import ModbusServerHost
from meterlab.sim.world import World
from meterlab.yamlio import locate

log = logging.getLogger(__name__)
DEFAULT_TICK_REAL_S = 0.01


def check_scenario(scenario: Scenario, bench: Bench | None) -> None:
    """Refuse, before anything starts, a scenario the lab cannot play: faults of unknown kinds and, on this
    bench (when known), faults on instruments it does not simulate, devices it lacks, device parameters their
    simulator refuses. Problems raise InputFileError naming the scenario file and line."""
    path, lines = scenario.source
    simulated = bench.simulated if bench is not None else None
    served = None if bench is None else {
        name: registry.sim_device_class(bench.instruments[name].driver).readout_faults for name in simulated}
    problems = fault_problems(scenario.faults, build_world(scenario, SimClock()), simulated, served)
    problems += [(("devices", name), f"{name!r} is not a simulated instrument of bench {bench.bench} "
                                     f"(simulated: {', '.join(simulated)})")
                 for name in scenario.devices if bench is not None and name not in simulated]
    if problems:
        raise InputFileError(path, [(*locate(lines, loc), message) for loc, message in problems])
    for name in scenario.devices if bench is not None else ():
        device_class = registry.sim_device_class(bench.instruments[name].driver)
        scenario.device_params(name, device_class.Params)
        scenario.reply_latency_s(name, line_device=issubclass(device_class, LineDevice))


class SimLab:
    def __init__(self, bench: Bench, scenario: Scenario | None = None, *, clock_scale: float = 1.0,
                 tick_real_s: float = DEFAULT_TICK_REAL_S):
        self.bench = bench
        self.scenario = scenario or Scenario()
        self.clock_scale = clock_scale
        self.tick_real_s = tick_real_s
        self.clock: SimClock | None = None
        self.world: World | None = None
        self.devices: dict[str, SimDevice] = {}
        self.resources: dict[str, str] = {}
        self._line_servers: list[LineServer] = []
        self._modbus: ModbusServerHost | None = None
        self.faults: CommFaults | None = None

    # -- life cycle ---------------------------------------------------------------------------------------
    def start(self) -> SimLab:
        names = self.bench.simulated
        self.clock = make_clock(self.clock_scale)
        self.world = build_world(self.scenario, self.clock)
        served = {name: registry.sim_device_class(self.bench.instruments[name].driver).readout_faults for name in names}
        check_faults(self.scenario.faults, self.world, names, served)
        try:
            self._start_devices(names)
            schedule_physical_faults(self.scenario.faults, self.world)
            if not self.clock.virtual:  # virtual time: the world moves when the clock does, no ticker
                self.world.start_ticker(self.tick_real_s)
        except BaseException:
            self.stop()
            raise
        return self

    def _start_devices(self, names: list[str]) -> None:
        world = self.world
        assert world is not None and self.clock is not None
        faults = self.faults = CommFaults(self.scenario.faults, self.clock, [world.rng() for _ in self.scenario.faults])
        for index, name in enumerate(names):
            entry = self.bench.instruments[name]
            device_class = registry.sim_device_class(entry.driver)
            params = self.scenario.device_params(name, device_class.Params)
            device = device_class(name, world, entry, params)
            latency_s = self.scenario.reply_latency_s(name, line_device=isinstance(device, LineDevice))
            if latency_s is not None:
                device.reply_latency_s = latency_s
            self.devices[name] = device
            seed = self.scenario.seed * 1000 + index
            if isinstance(device, LineDevice):
                server = LineServer(device, faults, seed=seed).start()
                self.clock.watch((server.host, server.port))
                self._line_servers.append(server)
                self.resources[name] = server.resource
            elif isinstance(device, ModbusDevice):
                self._modbus = self._modbus or ModbusServerHost()
                self.resources[name] = f"127.0.0.1:{self._modbus.serve(device, faults, seed)}"
            else:
                raise TypeError(f"{device_class.__name__} is neither a LineDevice nor a ModbusDevice")

    def stop(self) -> None:
        """Stop everything promptly: waiting requests are released, connections closed, threads joined."""
        if self.world is not None:
            self.world.stop()
        if self.clock is not None:
            self.clock.stop()
        for server in self._line_servers:
            server.stop()
        self._line_servers.clear()
        if self._modbus is not None:
            self._modbus.stop()
            self._modbus = None

    def __enter__(self) -> SimLab:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # -- faults on demand (tests, demonstrations) ---------------------------------------------------------
    def inject(self, spec: FaultSpec) -> None:
        """Add a fault while running, as if it were in the scenario (`at_s` on the lab's simulated clock)."""
        assert self.world is not None and self.faults is not None, "start the lab first"
        check_faults([spec], self.world, list(self.devices),
                     {name: device.readout_faults for name, device in self.devices.items()})
        if spec.is_comm:
            self.faults.add(spec, self.world.rng())
        else:
            schedule_physical_fault(spec, self.world)

    def clear_faults(self, instrument: str | None = None) -> None:
        """End the communication faults of `instrument` (all if None)."""
        if self.faults is not None:
            self.faults.clear(instrument)

    # -- for clients ----------------------------------------------------------------------------------------
    def open_bench(self, iolog: IOLogSink) -> ConnectedBench:
        """The bench's real drivers, connected to this lab."""
        return open_bench(self.bench, iolog, self.resources)

    def ports_map(self) -> dict[str, Any]:
        """What `lab serve` writes to the ports file: resources per instrument, and the clock."""
        assert self.clock is not None
        instruments = {}
        for name, resource in self.resources.items():
            entry = self.bench.instruments[name]
            item: dict[str, Any] = {"driver": entry.driver, "role": entry.role, "resource": resource}
            if isinstance(self.devices[name], ModbusDevice):
                host, _, port = resource.rpartition(":")
                item.update(protocol="modbus_tcp", host=host, port=int(port), unit=self.devices[name].unit)
            else:
                item.update(protocol="visa")
            instruments[name] = item
        return {
            "bench": self.bench.bench,
            "clock": {"origin_unix_s": self.clock.origin_unix_s, "scale": self.clock.scale,
                      "note": "virtual: simulated time moves on when every actor of the lab waits, not with unix time"
                      if self.clock.virtual else "simulated seconds = (unix time - origin_unix_s) * scale"},
            "instruments": instruments,
        }
