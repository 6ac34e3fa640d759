"""The simulated lab as a lab: plain clients over real sockets, framing, start/stop, the command lines."""

import json
import signal
import socket
import subprocess
import sys
import textwrap
import threading
import time

import pytest
import pyvisa
from pymodbus.client import ModbusTcpClient
from typer.testing import CliRunner

from meterlab.cli import app
from meterlab.errors import MeterlabError
from meterlab.instruments.bench import load_bench, open_instrument
from meterlab.instruments.errors import InstrumentConnectionError, InstrumentError, InstrumentTimeout
from meterlab.instruments.iolog import MemoryIOLog
from meterlab.instruments.transport import ModbusTransport
from meterlab.sim.lab import SimLab
from meterlab.sim.scenario import FaultSpec, Scenario, load_scenario
from meterlab.sim.testing import running_lab

from .conftest import ROOT, SIM_BENCH, WATER_SCENARIO


def test_a_plain_pyvisa_client_gets_an_answer_to_idn(lab):
    assert lab.resources["counter"].startswith("TCPIP::127.0.0.1::")
    rm = pyvisa.ResourceManager("@py")
    counter = rm.open_resource(lab.resources["counter"], read_termination="\n", write_termination="\n",
                               timeout=2000)
    try:
        assert counter.query("*IDN?").startswith("Keysight Technologies,53230A,")
        assert counter.query("*idn?;syst:err?").endswith(';+0,"No error"')
    finally:
        counter.close()


def raw_exchange(resource, payload, replies, timeout=2.0):
    port = int(resource.split("::")[2])
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as conn:
        conn.sendall(payload)
        data = b""
        while data.count(b"\n") < replies:
            data += conn.recv(4096)
        return data


def test_line_framing_tolerates_crlf_and_pipelined_requests(lab):
    data = raw_exchange(lab.resources["counter"], b"*IDN?\r\nSYST:ERR?\n", 2)
    assert data.endswith(b'\n+0,"No error"\n') and data.startswith(b"Keysight")


def test_an_oversized_request_is_dropped_and_the_instrument_keeps_answering(lab):
    data = raw_exchange(lab.resources["scale"], b"X" * 100_000 + b"\r\nI4\r\n", 2)
    assert data.endswith(b'I4 A "B912345678"\r\n')


def test_modbus_servers_answer_plain_pymodbus_clients_and_refuse_other_units(lab):
    host, port = lab.resources["pump"].split(":")
    client = ModbusTcpClient(host, port=int(port), timeout=2)
    assert client.connect()
    try:
        assert not client.read_holding_registers(109, count=2, device_id=1).isError()
    finally:
        client.close()
    with ModbusTransport("pump", MemoryIOLog(), host=host, port=int(port), unit=5, timeout_s=1) as transport:
        with pytest.raises(InstrumentError, match="gateway no response"):
            transport.read_holding_registers(109)


def test_ports_map_lists_every_simulated_instrument_and_the_clock(lab):
    ports = json.loads(json.dumps(lab.ports_map()))
    assert set(ports["instruments"]) == set(lab.bench.instruments)
    assert ports["instruments"]["pump"]["protocol"] == "modbus_tcp"
    assert ports["instruments"]["counter"]["resource"] == lab.resources["counter"]
    assert ports["clock"]["scale"] == 0 and ports["clock"]["note"].startswith("virtual")  # a served lab: below


def test_stop_is_prompt_and_releases_a_client_waiting_on_a_measurement():
    with running_lab(SIM_BENCH, WATER_SCENARIO, clock_scale=1000) as lab:
        entry = lab.bench.instruments["counter"].model_copy(update={"timeout_s": 20})
        counter = open_instrument("counter", entry, MemoryIOLog(), lab.resources["counter"])
        counter.configure_gated_totalize()
        counter.start()  # armed: the diverter never moves, FETC? would wait
        outcome = []
        waiter = threading.Thread(target=lambda: outcome.append(_try(counter.fetch_count)), daemon=True)
        waiter.start()
        time.sleep(0.1)
        start = time.monotonic()
        lab.stop()
        waiter.join(5)
        assert time.monotonic() - start < 5
        counter.close()
    assert outcome and isinstance(outcome[0], (InstrumentConnectionError, InstrumentError))


def _try(call):
    try:
        return call()
    except Exception as exc:  # noqa: BLE001 - the test inspects it
        return exc


def test_a_scenario_fault_at_a_simulated_time(tmp_path):
    scenario = load_scenario(WATER_SCENARIO).model_copy(update={"faults": [
        FaultSpec(kind="no_answer", instrument="scale", at_s=0, duration_s=1e9)]})
    with running_lab(SIM_BENCH, scenario) as lab:
        entry = lab.bench.instruments["scale"].model_copy(update={"timeout_s": 0.3})
        with open_instrument("scale", entry, MemoryIOLog(), lab.resources["scale"]) as scale:
            with pytest.raises(InstrumentTimeout):
                scale.identify()


@pytest.mark.parametrize("fault, message", [
    (FaultSpec(kind="no_answer", instrument="hygrometer", at_s=1), "'hygrometer' is not simulated here"),
    (FaultSpec(kind="meteor_strike", at_s=1), "unknown kind 'meteor_strike'; this lab knows: no_answer"),
    (FaultSpec(kind="value_nan", instrument="pump", at_s=1), "pump does not serve the read-out fault 'value_nan' "
                                                            r"\(it serves: none\)"),
    (FaultSpec(kind="extra_registers", instrument="mbus", at_s=1), "mbus does not serve the read-out fault "
                                                                   "'extra_registers' \\(it serves: counter_wrap, "),
])
def test_faults_the_lab_cannot_inject_are_refused_at_start(fault, message):
    lab = SimLab(load_bench(SIM_BENCH), Scenario(faults=[fault]))
    with pytest.raises(MeterlabError, match=message):
        lab.start()
    lab.stop()


HANG_S = 300.0


def test_lab_serve_writes_the_ports_file_answers_and_stops_on_ctrl_c(tmp_path):
    ports_file = tmp_path / "ports.json"
    process = subprocess.Popen(
        [sys.executable, "-m", "meterlab", "lab", "serve", "--ports-file", str(ports_file), "--clock-scale", "100"],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    # no tight wall-clock limit: on a loaded 2-core machine starting the lab's servers took over 10 s; the bounds
    # below only keep a hung process from hanging the suite
    try:
        deadline = time.monotonic() + HANG_S
        while not ports_file.exists() and time.monotonic() < deadline and process.poll() is None:
            time.sleep(0.05)
        assert ports_file.exists(), process.stdout.read() if process.poll() is not None else "no ports file"
        ports = json.loads(ports_file.read_text())
        assert ports["clock"]["scale"] == 100 and ports["bench"] == "sim-water-rig"
        rm = pyvisa.ResourceManager("@py")
        counter = rm.open_resource(ports["instruments"]["counter"]["resource"], read_termination="\n",
                                   write_termination="\n", timeout=30000)
        assert "53230A" in counter.query("*IDN?")
        counter.close()
        process.send_signal(signal.SIGINT)
        output, _ = process.communicate(timeout=HANG_S)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 0, output
    assert "counter" in output and "lab stopped" in output
    assert not ports_file.exists()


def test_instruments_check_passes_on_the_simulated_bench(monkeypatch):
    monkeypatch.chdir(ROOT)
    result = CliRunner().invoke(app, ["instruments", "check"])
    assert result.exit_code == 0, result.output
    count = len(load_bench(SIM_BENCH).instruments)
    assert f"all {count} instruments answered" in result.output


def test_instruments_check_reports_each_failure(tmp_path):
    closed = socket.create_server(("127.0.0.1", 0))
    port = closed.getsockname()[1]
    closed.close()
    bench = tmp_path / "bench.yaml"
    bench.write_text(textwrap.dedent(f"""\
        bench: broken
        instruments:
          counter:
            driver: keysight_53230a
            role: mut_pulse_counter
            resource: TCPIP::127.0.0.1::{port}::SOCKET
          scale:
            driver: mettler_toledo_sics
            role: reference_scale
            sim: true
        """))
    result = CliRunner().invoke(app, ["instruments", "check", "--bench", str(bench),
                                      "--scenario", str(WATER_SCENARIO)])
    assert result.exit_code == 1, result.output
    assert "FAILED" in result.output and "1 of 2 instrument(s) failed" in result.output
    bad = tmp_path / "bad.yaml"
    bad.write_text("bench: x\ninstruments: {}\n")
    result = CliRunner().invoke(app, ["instruments", "check", "--bench", str(bad)])
    assert result.exit_code == 2 and "line 2" in result.output
