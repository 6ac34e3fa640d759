"""Modbus TCP servers (pymodbus) on 127.0.0.1 for simulated Modbus devices, all on one asyncio loop thread.

Every read and write goes to the device model with its exact address and count; the device answers
values or a Modbus exception code. The scenario's communication faults act per request, as in the line
server: no_answer, garbage, drop_connection, error (an exception response). Malformed replies to register reads,
for devices that serve them (`readout_faults`): short_reply (one register fewer than asked, byte count to
match), extra_registers (one more), wrong_function (the other read function: 3 <-> 4), exception_code (an
exception response with the fault's message as code, default 4). Anomalous values are the device's to play."""

from __future__ import annotations

import asyncio
import logging
import random
import socket
import struct
import threading
from collections.abc import Sequence

from pymodbus.constants import ExcCodes
from pymodbus.datastore import ModbusServerContext
from pymodbus.exceptions import NoSuchIdException
from pymodbus.framer import FramerRTU, FramerType
from pymodbus.pdu import ExceptionResponse
from pymodbus.server import ModbusTcpServer
from pymodbus.server.requesthandler import ServerRequestHandler

from meterlab.sim.devices.base import ModbusDevice
from meterlab.sim.faults import CommFaults

log = logging.getLogger(__name__)
TABLES = {1: "coils", 5: "coils", 15: "coils", 2: "discrete_inputs", 4: "input",
          3: "holding", 6: "holding", 16: "holding", 22: "holding", 23: "holding"}
START_S = 5.0


class DeviceContext(ModbusServerContext):
    """Routes pymodbus datastore calls to a ModbusDevice.

    pymodbus 3.16 uses a ModbusServerContext flagged `old_simulator` as is, calling the two async methods
    below with the request's exact address and count (its SimDevice `action` hook sees register counts
    only, not bit counts). If a pymodbus upgrade changes this, this class is the one place to adapt."""

    def __init__(self, device: ModbusDevice):  # no super().__init__: it wants datablocks we do not use
        self.device = device
        self.simdevices = []
        self.old_simulator = True

    def _check_unit(self, device_id: int) -> None:
        if device_id != self.device.unit:
            raise NoSuchIdException(f"unit {device_id}")

    async def async_getValues(self, device_id: int, func_code: int, address: int, count: int = 1):
        self._check_unit(device_id)
        result = self._call(func_code, self.device.read, TABLES[func_code], address, count)
        return ExcCodes(result) if isinstance(result, int) else result

    async def async_setValues(self, device_id: int, func_code: int, address: int, values: Sequence):
        self._check_unit(device_id)
        result = self._call(func_code, self.device.write, TABLES[func_code], address, list(values))
        return None if result is None else ExcCodes(result)

    def _call(self, func_code: int, method, *args):
        try:
            with self.device.lock:
                # the function that asked: a meter may treat a mask write (22) unlike a plain write (6, 16)
                self.device.request_function = func_code
                return method(*args)
        except Exception:  # a bug in a simulated device: say so loudly, answer DEVICE FAILURE
            log.exception("%s failed on %s%r", self.device.name, method.__name__, args)
            return ModbusDevice.DEVICE_FAILURE

    def device_ids(self) -> list[int]:
        return [self.device.unit]


class _FaultyHandler(ServerRequestHandler):
    """Applies the active communication fault to each request of one connection, and a device's own outage
    (a planted crash or hang: the frame is swallowed, a crashed device also drops the connection)."""

    def datagram_received(self, data: bytes, addr: tuple | None) -> None:
        """Count the frames newly received (pymodbus hands `callback_data` its whole buffer again and again)."""
        device: ModbusDevice = self.server.device
        with device.lock:
            device.on_frame(frames_in(data, device.framing))
        super().datagram_received(data, addr)

    def callback_data(self, data: bytes, addr: tuple | None = None) -> int:
        if self._down() is None:
            return super().callback_data(data, addr)
        return len(data)

    def server_send(self, pdu, addr):
        """Nothing goes out from a device that went down, the request that took it down included."""
        if self._down() is None:
            super().server_send(pdu, addr)

    def _down(self) -> str | None:
        device: ModbusDevice = self.server.device
        with device.lock:
            down = device.interface_down()
        if down == "crash" and self.transport is not None:
            self.transport.abort()
        return down

    async def handle_request(self):
        server: _DeviceServer = self.server
        fault = server.faults.active(server.device.name) if server.faults else None
        if fault is None or self.last_pdu is None:
            return await super().handle_request()
        if fault.kind == "no_answer":
            return None
        if fault.kind == "drop_connection":
            sock = self.transport.get_extra_info("socket") if self.transport else None
            if sock is not None:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.transport.abort()
            return None
        if fault.kind == "garbage":
            self.send(bytes(server.rng.randrange(256) for _ in range(9)))
            return None
        if fault.kind in MALFORMED_REPLIES and fault.kind in server.device.readout_faults:
            pdu = malformed_reply(server.device, self.last_pdu, fault)
            if pdu is None:
                return await super().handle_request()
            self.send(struct.pack(">HHHB", self.last_pdu.transaction_id, 0, len(pdu) + 1, self.last_pdu.dev_id) + pdu)
            return None
        if fault.kind != "error":  # a value fault: the device plays it in its answer
            return await super().handle_request()
        response = ExceptionResponse(self.last_pdu.function_code, ExcCodes(server.device.error_code(fault.message)))
        response.transaction_id, response.dev_id = self.last_pdu.transaction_id, self.last_pdu.dev_id
        self.server_send(response, self.last_addr)
        return None


# What a flood is counted in: the bytes received over the size of the smallest request, a read (Modbus TCP 12
# bytes, RTU 8). By bytes, not by parsing frames: a chunk may begin inside a frame, and a parse from there would
# undercount; a flood of reads is counted exactly, longer frames count more than once (a flood either way).
SMALLEST_REQUEST_BYTES = {"tcp": 12, "rtu": 8}


def frames_in(data: bytes, framing: str = "tcp") -> int:
    """How many requests a chunk of received bytes counts for (at least one)."""
    return max(1, len(data) // SMALLEST_REQUEST_BYTES[framing])


MALFORMED_REPLIES = ("short_reply", "extra_registers", "wrong_function", "exception_code")
OTHER_READ = {3: 4, 4: 3}  # wrong_function answers a holding read as an input read and the reverse


def malformed_reply(device: ModbusDevice, request, fault) -> bytes | None:
    """The PDU of a malformed answer to a register read (None: not a register read, answer it normally)."""
    function = request.function_code
    if function not in OTHER_READ:
        return None
    if fault.kind == "exception_code":
        return bytes((function | 0x80, device.error_code(fault.message) & 0xFF))
    with device.lock:
        registers = device.read(TABLES[function], request.address, request.count)
    if isinstance(registers, int):  # the device refuses the read anyway: its own exception
        return bytes((function | 0x80, registers))
    if fault.kind == "short_reply":
        registers = registers[:-1]
    elif fault.kind == "extra_registers":
        registers = [*registers, 0]
    else:
        function = OTHER_READ[function]
    return bytes((function, 2 * len(registers))) + b"".join(r.to_bytes(2, "big") for r in registers)


class LenientRTU(FramerRTU):
    """An RTU framer that takes a frame whatever its CRC: the planted weakness `accept_bad_crc`. pymodbus' decode
    names FramerRTU.check_CRC itself, so the check cannot be overridden alone: this is its decode without it."""

    def decode(self, data: bytes) -> tuple[int, int, int, bytes]:
        for used_len in range(len(data)):
            if len(data) - used_len < self.MIN_SIZE:
                return 0, 0, 0, self.EMPTY
            dev_id = int(data[used_len])
            if not (pdu_class := self.decoder.lookupPduClass(data[used_len:])):
                continue
            if not (size := pdu_class.calculateRtuFrameSize(data[used_len:])) or len(data) < used_len + size:
                return 0, dev_id, 0, self.EMPTY
            return len(data), dev_id, 0, data[used_len + 1: used_len + size - 2]
        return 0, 0, 0, self.EMPTY


class _DeviceServer(ModbusTcpServer):
    """One device's server: Modbus TCP, or RTU framing over TCP (the device behind a transparent serial gateway)."""

    def __init__(self, device: ModbusDevice, faults: CommFaults | None, seed: int):
        rtu = device.framing == "rtu"
        super().__init__(DeviceContext(device), address=("127.0.0.1", 0),
                         framer=FramerType.RTU if rtu else FramerType.SOCKET)
        if rtu and device.accepts_bad_crc:
            self.framer = LenientRTU
        self.device, self.faults, self.rng = device, faults, random.Random(seed)

    def callback_new_connection(self):
        return _FaultyHandler(self, self.trace_packet, self.trace_pdu, self.trace_connect)


class ModbusServerHost:
    """One thread with an asyncio loop serving any number of simulated Modbus devices."""

    def __init__(self) -> None:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="sim-modbus", daemon=True)
        self._thread.start()
        self._servers: list[_DeviceServer] = []

    def serve(self, device: ModbusDevice, faults: CommFaults | None = None, seed: int = 0) -> int:
        """Start serving `device`; return its port."""
        device.faults = faults  # read-out faults (anomalous values) are the device's to play
        async def start() -> int:
            server = _DeviceServer(device, faults, seed)
            await server.serve_forever(background=True)
            self._servers.append(server)
            return server.transport.sockets[0].getsockname()[1]

        return asyncio.run_coroutine_threadsafe(start(), self._loop).result(START_S)

    def stop(self) -> None:
        async def shutdown() -> None:
            for server in self._servers:
                await server.shutdown()
            self._servers.clear()

        if self._loop.is_running():
            try:
                asyncio.run_coroutine_threadsafe(shutdown(), self._loop).result(START_S)
            except Exception:  # noqa: BLE001 - stop must finish even if a server misbehaves
                log.exception("stopping the Modbus servers failed")
            self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(START_S)
        if not self._thread.is_alive():
            self._loop.close()
