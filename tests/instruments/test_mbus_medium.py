"""A simulated meter's M-Bus telegram names its medium: gas on the gas rig, water on the water rig (the readings
exported from it carry the meter's kind from that)."""

from meterlab.instruments.iolog import MemoryIOLog
from meterlab.instruments.readings.decoders import MBUS_MEDIUM_KIND


def test_a_gas_meter_on_the_gas_rig_transmits_medium_gas(gas_lab):
    with gas_lab.open_bench(MemoryIOLog()) as bench:
        telegram = bench["gas_mbus"].read_telegram(meter="gas_meter1")
    assert telegram.medium == 0x03 and telegram.medium_name == "gas"
    assert MBUS_MEDIUM_KIND[telegram.medium] == "gas"


def test_a_water_meter_on_the_water_rig_transmits_medium_water(lab):
    with lab.open_bench(MemoryIOLog()) as bench:
        gateway = next(name for name in bench.bench.by_role("mut_mbus_gateway"))
        meter = next(iter(bench[gateway].wired_addresses.values())).split(".")[0]
        telegram = bench[gateway].read_telegram(meter=meter)
    assert telegram.medium == 0x07 and MBUS_MEDIUM_KIND[telegram.medium] == "water"
