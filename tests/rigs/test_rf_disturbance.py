"""The stored RF level tables of a bench: `meterlab instruments rf-levels` writes one on the simulated lab,
the bench names it (rf_generator equipment.level_tables), and the RF disturbance generator refuses a
missing, wrong or non-covering table (and bad severity parameters) with the bench, the field and the fix,
before anything is sent."""

import datetime as dt
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from meterlab.cli import app
from meterlab.instruments.bench import load_bench
from meterlab.instruments.iolog import MemoryIOLog
from meterlab.instruments.rf import RfAmplifier, RohdeSchwarzSmb100a
from meterlab.instruments.rf_immunity import RfImmunityError, frequency_steps, load_level_table, save_level_table
from meterlab.instruments.testing import expected_protocol
from meterlab.procedures.severities import resolve
from meterlab.rigs.rf_disturbance import (
    LevelTableError,
    RfImmunityGenerator,
    load_tables,
    rf_generator_for,
    select_table,
)
from meterlab.sim.clock import VIRTUAL
from meterlab.sim.testing import running_lab, wait_for

ROOT = Path(__file__).resolve().parents[2]
SIM_BENCH = ROOT / "instruments" / "sim.yaml"
SMALL = ["--start-hz", "150000", "--stop-hz", "160000", "--step-pct", "1"]  # 8 frequencies: fast on the lab
SMALL_TEST = {"frequency_start_hz": 150e3, "frequency_stop_hz": 160e3, "step_pct": 1, "dwell_s": 1,
              "am_depth_pct": 80, "am_frequency_hz": 1000, "emf_v": 3.0, "coupling": "CDN"}


def rf_levels(*args: str):
    return CliRunner().invoke(app, ["instruments", "rf-levels", "--bench", str(SIM_BENCH), *args])


@pytest.fixture(scope="module")
def small_table(tmp_path_factory) -> Path:
    """A 3 V conducted table over 150 .. 160 kHz, written by the CLI on the simulated lab."""
    out = tmp_path_factory.mktemp("levels") / "conducted-3v.yaml"
    result = rf_levels("--kind", "conducted_rf", "--level-v", "3", "--out", str(out), *SMALL)
    assert result.exit_code == 0, result.output
    return out


def bench_naming(tmp_path: Path, tables) -> object:
    """The simulated bench with its rf_generator's level_tables replaced by `tables`."""
    data = yaml.safe_load(SIM_BENCH.read_text())
    data["instruments"]["rf_generator"]["equipment"] = {"level_tables": tables}
    path = tmp_path / "bench.yaml"
    path.write_text(yaml.safe_dump(data))
    return load_bench(path)


def test_the_cli_writes_a_table_that_loads_and_fits_its_test(small_table, tmp_path):
    table = load_level_table(small_table)
    assert table.kind == "conducted_rf" and table.emf_v == 3.0 and table.bench == "sim-water-rig"
    assert table.frequencies_hz[0] == 150e3 and table.frequencies_hz[-1] == 160e3 and table.frequencies_hz == frequency_steps(150e3, 160e3, 1)
    assert all(abs(p.measured_db - table.target_db) <= table.tolerance_db for p in table.points)
    assert set(table.instruments) == {"rf_generator", "rf_amplifier", "rf_power_meter"}
    (ref,) = load_tables(bench_naming(tmp_path, {"conducted_rf": str(small_table)}), "conducted_rf")
    assert select_table([ref], "conducted_rf", SMALL_TEST, "sim-water-rig") is ref


def test_the_cli_levels_the_field_for_a_radiated_table(tmp_path):
    out = tmp_path / "radiated.yaml"
    result = rf_levels("--kind", "radiated_rf", "--level", "10", "--out", str(out), "--start-hz", "8e7",
                       "--stop-hz", "8.1e7")  # the step from the severity profile (1 %)
    assert result.exit_code == 0, result.output
    table = load_level_table(out)
    assert table.kind == "radiated_rf" and table.field_v_per_m == 10.0 and table.step_pct == 1.0
    assert set(table.instruments) == {"rf_generator", "rf_amplifier", "field_probe"}
    assert all(abs(p.measured_db - 20.0) <= table.tolerance_db for p in table.points)  # 20 dB(V/m) = 10 V/m
    assert "equipment.level_tables.radiated_rf" in result.output


def test_cli_errors_are_clear_and_write_nothing(tmp_path):
    out = tmp_path / "t.yaml"
    result = rf_levels("--kind", "surge", "--level-v", "3", "--out", str(out))
    assert result.exit_code == 2 and "conducted_rf or radiated_rf" in result.output
    result = rf_levels("--kind", "conducted_rf", "--level-v", "50", "--out", str(out), *SMALL,
                       "--max-level-dbm", "-10")  # 50 V needs far more than -10 dBm into the amplifier
    assert result.exit_code == 1 and "largest allowed level -10.00 dBm" in result.output
    assert "no table written; the RF is off" in result.output and not out.exists()


def test_a_bench_without_a_table_for_the_kind_names_the_field_and_the_fix(tmp_path):
    bench = bench_naming(tmp_path, {"radiated_rf": "x.yaml"})
    with pytest.raises(LevelTableError) as error:
        load_tables(bench, "conducted_rf")
    message = str(error.value)
    assert "instruments.rf_generator.equipment.level_tables.conducted_rf is not given" in message
    assert "meterlab instruments rf-levels" in message and "'sim-water-rig'" in message


def test_a_missing_file_names_the_bench_field_and_where_it_looked(tmp_path):
    bench = bench_naming(tmp_path, {"conducted_rf": ["instruments/rf-levels/none-such.yaml"]})
    with pytest.raises(LevelTableError, match=r"level_tables\.conducted_rf\[0\] = instruments/rf-levels/none-such"
                                              r"\.yaml: no such file \(looked in"):
        load_tables(bench, "conducted_rf")


def test_a_table_of_the_wrong_kind_or_bench_is_refused(small_table, tmp_path):
    bench = bench_naming(tmp_path, {"radiated_rf": str(small_table)})
    with pytest.raises(LevelTableError, match=r"is a conducted_rf calibration \(its field `kind`\), not radiated_rf"):
        load_tables(bench, "radiated_rf")
    other = load_level_table(small_table).model_copy(update={"bench": "another-rig"})
    path = save_level_table(other, tmp_path / "other.yaml")
    with pytest.raises(LevelTableError, match=r"calibrated on bench 'another-rig' \(its field `bench`\)"):
        load_tables(bench_naming(tmp_path, {"conducted_rf": str(path)}), "conducted_rf")


def test_a_broken_table_file_names_its_line_and_the_bench_field(small_table, tmp_path):
    broken = tmp_path / "broken.yaml"
    broken.write_text(small_table.read_text().replace("emf_v: 3.0", "emf_v: -3.0"))
    with pytest.raises(LevelTableError) as error:
        load_tables(bench_naming(tmp_path, {"conducted_rf": str(broken)}), "conducted_rf")
    assert "level_tables.conducted_rf" in str(error.value) and "emf_v" in str(error.value)
    assert f"{broken}:" in str(error.value)  # the table file and its line


def test_a_table_that_does_not_cover_the_test_says_what_differs(small_table, tmp_path):
    (ref,) = load_tables(bench_naming(tmp_path, {"conducted_rf": str(small_table)}), "conducted_rf")
    with pytest.raises(LevelTableError) as error:
        select_table([ref], "conducted_rf", {**SMALL_TEST, "emf_v": 10.0, "frequency_stop_hz": 80e6},
                     "sim-water-rig")
    message = str(error.value)
    assert "no level table covers this conducted_rf test (10 V e.m.f., 150000 Hz to 8e+07 Hz" in message
    assert "level_tables.conducted_rf" in message
    assert "frequency_stop_hz: test 8e+07, calibration 160000.0" in message and "emf_v: test 10" in message
    assert "--kind conducted_rf --level-v 10" in message


def test_the_shipped_sim_tables_cover_the_d11_severities():
    bench = load_bench(SIM_BENCH)
    conducted = load_tables(bench, "conducted_rf")
    for level, emf in (("E1", 3.0), ("E2", 10.0)):
        chosen = select_table(conducted, "conducted_rf", resolve("d11-2013", "conducted_rf", level), bench.bench)
        assert chosen.table.emf_v == emf
    radiated = load_tables(bench, "radiated_rf")
    assert select_table(radiated, "radiated_rf", resolve("d11-2013", "radiated_rf", "E2"), bench.bench)


@pytest.mark.parametrize("change, message", [
    ({"dwell_s": None}, "gives no dwell_s"),
    ({"dwell_s": -1}, "dwell_s = -1: a finite number > 0"),
    ({"am_depth_pct": 120}, "cannot apply this AM"),
    ({"am_frequency_hz": "1 kHz"}, "am_frequency_hz = '1 kHz'"),
    ({"voltage_kv": 1.0}, "voltage_kv do not apply"),
    ({"emf_v": 10.0}, "no level table covers"),
])
def test_bad_severity_parameters_are_refused_before_anything_is_sent(small_table, tmp_path, change, message):
    refs = load_tables(bench_naming(tmp_path, {"conducted_rf": str(small_table)}), "conducted_rf")
    params = {k: v for k, v in {**SMALL_TEST, **change}.items() if v is not None}
    with expected_protocol(RohdeSchwarzSmb100a, []) as generator, expected_protocol(RfAmplifier, []) as amplifier:
        rf = RfImmunityGenerator("conducted_rf", generator, refs, amplifier=amplifier, bench_name="sim-water-rig")
        with pytest.raises(RfImmunityError, match=message):
            rf.runs("conducted_rf", params)
        with pytest.raises(RfImmunityError, match="set up for conducted_rf, not radiated_rf"):
            rf.runs("radiated_rf", SMALL_TEST)
        (run,) = rf.runs("conducted_rf", SMALL_TEST)
        assert run["level_table"] == str(refs[0].path) and run["steps"] == len(frequency_steps(150e3, 160e3, 1)) and run["dwell_s"] == 1.0


class Abort(Exception):
    pass


@pytest.fixture
def rf_chain(small_table, tmp_path, request):
    """The RF disturbance generator of a simulated bench naming the small table, on a running lab (virtual time,
    unless the test gives a clock scale as the fixture's parameter)."""
    bench = bench_naming(tmp_path, {"conducted_rf": str(small_table)})
    clock_scale = getattr(request, "param", VIRTUAL)
    with running_lab(bench, clock_scale=clock_scale) as lab, lab.open_bench(MemoryIOLog()) as connected:
        yield lab, connected, rf_generator_for(connected, "conducted_rf", clock=lab.clock)
        connected.safe_state()


def rf_is_off(lab, connected) -> bool:
    amplifier = lab.world.component("rf").amplifier
    return (connected["rf_generator"].rf_output is False and not amplifier.operate and not amplifier.rf_on
            and not lab.world.read("rf.active"))


def test_a_sweep_runs_every_stored_level_and_ends_with_the_rf_off(rf_chain):
    lab, connected, rf = rf_chain
    (run,) = rf.runs("conducted_rf", SMALL_TEST)
    rf.configure(**run)
    rf.arm()
    with lab.clock.actor():  # time waits for this thread, as for a run's: the sweep's steps come in their turn
        rf.start()
        assert lab.clock.wait_until(lambda: rf.running, timeout_sim_s=1) and lab.world.read("rf.active")
        rf.wait_complete(10.0, between_polls=lambda: lab.clock.sleep(1))  # as a rig waits on virtual time
    assert not rf.running and rf.results[-1].completed
    assert [s.frequency_hz for s in rf.results[-1].steps] == frequency_steps(150e3, 160e3, 1)
    # the severity's dwell, exact on virtual time (was >= 1.0: the host's load)
    assert all(s.ended_s - s.applied_s == pytest.approx(1.0) for s in rf.results[-1].steps)
    rf.stop()
    rf.disarm()
    assert rf_is_off(lab, connected)


# kept at 1000x: wait_complete's limit is in real seconds, on a sweep in flight in its own thread
@pytest.mark.parametrize("rf_chain", [1000], indirect=True)
def test_wait_complete_honours_the_guard_and_its_limit_and_the_rf_goes_off(rf_chain):
    lab, connected, rf = rf_chain
    (run,) = rf.runs("conducted_rf", {**SMALL_TEST, "dwell_s": 20_000})  # 20 s real per step at 1000x
    rf.configure(**run)
    rf.start()
    assert wait_for(lambda: rf.running, timeout_real_s=5)

    def abort():
        raise Abort

    with pytest.raises(Abort):
        rf.wait_complete(60.0, guard=abort)
    rf.stop()  # as the rig does after its guard raised
    assert rf_is_off(lab, connected) and rf.results[-1].stopped
    rf.start()
    assert wait_for(lambda: rf.running, timeout_real_s=5)
    with pytest.raises(RfImmunityError, match="did not complete within 0.2 s"):
        rf.wait_complete(0.2)
    assert not rf.running and rf_is_off(lab, connected)


def test_a_bench_without_an_rf_generator_is_refused_with_its_name(tmp_path):
    from meterlab.instruments.bench import ConnectedBench

    data = yaml.safe_load(SIM_BENCH.read_text())
    del data["instruments"]["rf_generator"]
    path = tmp_path / "no-rf.yaml"
    path.write_text(yaml.safe_dump(data))
    with pytest.raises(LevelTableError, match=r"'sim-water-rig' has 0 open instruments with role 'rf_generator'.*"
                                              r"needs the RF signal generator"):
        rf_generator_for(ConnectedBench(load_bench(path)), "radiated_rf")


def test_a_table_older_than_the_bench_allows_is_refused(small_table, tmp_path):
    old = load_level_table(small_table).model_copy(
        update={"calibrated_at": dt.datetime(2025, 1, 10, tzinfo=dt.timezone.utc)})
    path = save_level_table(old, tmp_path / "old.yaml")
    assert load_tables(bench_naming(tmp_path, {"conducted_rf": str(path)}), "conducted_rf")  # no limit: accepted

    def limited(table: Path):
        bench_naming(tmp_path, {"conducted_rf": str(table)})
        data = yaml.safe_load((tmp_path / "bench.yaml").read_text())
        data["instruments"]["rf_generator"]["equipment"]["level_table_max_age_days"] = 365
        (tmp_path / "bench.yaml").write_text(yaml.safe_dump(data))
        return load_bench(tmp_path / "bench.yaml")

    with pytest.raises(LevelTableError, match=r"was made on 2025-01-10, \d+ days ago, more than the bench's "
                                              r"level_table_max_age_days = 365"):
        load_tables(limited(path), "conducted_rf")
    assert load_tables(limited(small_table), "conducted_rf")  # one made today is within the limit


def test_a_table_outside_the_lab_folders_is_refused_even_if_it_exists(small_table, tmp_path, monkeypatch):
    monkeypatch.delenv("METERLAB_INPUT_DIRS")
    with pytest.raises(LevelTableError, match=r"outside the lab's folders .*\$METERLAB_INPUT_DIRS"):
        load_tables(bench_naming(tmp_path, {"conducted_rf": str(small_table)}), "conducted_rf")
