"""`precision: auto` on a CPU: a timed probe of fp32 and bf16 decides, cached per key; explicit precisions
and GPUs bypass it. Timings are injected (a fake clock): no test depends on how fast this machine is."""

import shutil

import pytest
import torch

from seltda.run.pseudolabels import PrecisionChoice, ShardStats
from seltda.stages.pseudolabel import choose_precision, pseudolabel
from seltda.stages.pseudolabel import launch as launch_module
from seltda.stages.pseudolabel import precision as precision_module
from seltda.stages.pseudolabel.config import PseudoLabelConfig


class FakeClock:
    """A clock that advances by each dtype's cost whenever the probed work runs; counts the work calls."""

    def __init__(self, fp32: float, bf16: float) -> None:
        self.cost = {torch.float32: fp32, torch.bfloat16: bf16}
        self.now, self.calls = 0.0, 0

    def __call__(self) -> float:
        return self.now

    def work(self, inner=None):
        def run(model):
            self.calls += 1
            self.now += self.cost[next(model.parameters()).dtype]
            return inner(model) if inner else None

        return run


@pytest.fixture
def cpu_cache(monkeypatch, tmp_path):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setenv("SELTDA_CACHE_DIR", str(tmp_path / "cache"))
    folder = tmp_path / "model"  # a model folder: its identity is its config's hash and weights' size
    folder.mkdir()
    (folder / "config.json").write_text('{"model_type": "toy"}')
    (folder / "model.safetensors").write_bytes(b"0" * 64)
    return folder


def _choose(folder, clock, precision="auto", **workload):
    model = torch.nn.Linear(4, 4)
    return choose_precision(precision, model, clock.work(), str(folder), {"batch_size": 8, **workload}, clock)


@pytest.mark.parametrize(
    ("fp32", "bf16", "chosen"), [(1.0, 0.5, "bfloat16"), (1.0, 0.95, "float32"), (1.0, 1.4, "float32")]
)
def test_the_probe_picks_bf16_only_when_it_is_faster_by_the_margin(cpu_cache, fp32, bf16, chosen):
    clock = FakeClock(fp32, bf16)
    model, choice = _choose(cpu_cache, clock)
    assert choice.reason == "probed" and choice.dtype == chosen
    assert next(model.parameters()).dtype == getattr(torch, chosen)
    assert clock.calls == 2 * (1 + precision_module.PROBE_REPEATS)  # a warm-up and the repeats, each dtype
    assert choice.fp32_seconds == [fp32] * 3 and choice.bf16_seconds == [bf16] * 3
    assert choice.bf16_speedup == round(fp32 / bf16, 3) and "rate" in choice.why


def test_the_decision_is_cached_and_a_changed_key_probes_again(cpu_cache, monkeypatch):
    clock = FakeClock(1.0, 0.5)
    first = _choose(cpu_cache, clock)[1]
    probes = clock.calls
    model, again = _choose(cpu_cache, clock)
    assert clock.calls == probes  # no probe: the cache answered
    assert again.reason == "cached" and again.dtype == "bfloat16" and again.bf16_speedup == first.bf16_speedup
    assert next(model.parameters()).dtype == torch.bfloat16

    _choose(cpu_cache, clock, batch_size=16)  # another workload
    assert clock.calls == 2 * probes
    (cpu_cache / "model.safetensors").write_bytes(b"0" * 65)  # other weights
    _choose(cpu_cache, clock)
    assert clock.calls == 3 * probes
    monkeypatch.setattr(torch, "get_num_threads", lambda: 97)  # another thread count
    assert _choose(cpu_cache, clock)[1].key["threads"] == 97 and clock.calls == 4 * probes

    for path in (cpu_cache.parent / "cache" / "precision").iterdir():
        path.write_text("{not json")  # a damaged cache file: probed again, not an error
    assert _choose(cpu_cache, clock)[1].reason == "probed"


@pytest.mark.parametrize(("asked", "dtype"), [("fp32", "float32"), ("bf16", "bfloat16"), ("fp16", "float32")])
def test_explicit_precisions_bypass_the_probe(cpu_cache, asked, dtype):
    clock = FakeClock(1.0, 0.1)
    model, choice = _choose(cpu_cache, clock, precision=asked)
    assert clock.calls == 0 and choice.reason == "explicit" and choice.dtype == dtype
    assert next(model.parameters()).dtype == getattr(torch, dtype)


def _fake_probe(monkeypatch, fp32, bf16):
    """pseudolabel's probe runs the real sampling, timed by a fake clock."""
    clock = FakeClock(fp32, bf16)
    real = precision_module.time_dtypes

    def timed(model, work, repeats=precision_module.PROBE_REPEATS, timer=None):
        return real(model, clock.work(work), repeats, clock)

    monkeypatch.setattr(precision_module, "time_dtypes", timed)
    return clock


def test_the_manifest_records_the_choice_and_why(tiny_teacher, tmp_path, monkeypatch, cpu_cache):
    clock = _fake_probe(monkeypatch, 1.0, 0.5)
    cfg = PseudoLabelConfig.plain(per_image=2, batch_size=3, shard_size=5, seed=3)
    teacher, root = str(tiny_teacher["teacher"]), tiny_teacher["root"]
    manifest = pseudolabel(teacher, root, tmp_path / "pl", cfg).manifest
    assert clock.calls == 8 and manifest.sampling_dtypes == ["bfloat16"]
    [choice] = manifest.precision
    assert choice.reason == "probed" and choice.dtype == "bfloat16" and choice.bf16_speedup == 2.0
    assert choice.key["batch_size"] == 3 and choice.key["probe_images"] == 3 and choice.key["per_image"] == 2

    # a resumed shard takes the cached decision: no second probe, and the manifest lists both reasons
    (tmp_path / "pl" / "shards" / "shard-00001.json").unlink()
    resumed = pseudolabel(teacher, root, tmp_path / "pl", cfg).manifest
    assert clock.calls == 8 and resumed.sampling_dtypes == ["bfloat16"]
    assert [c.reason for c in resumed.precision] == ["probed", "cached"]

    explicit = pseudolabel(teacher, root, tmp_path / "fp32", cfg.model_copy(update={"precision": "fp32"}))
    assert clock.calls == 8 and [(c.reason, c.dtype) for c in explicit.manifest.precision] == [
        ("explicit", "float32")
    ]


class TwoRanks:
    """accelerate's state as rank `rank` of two processes sees it (no process group)."""

    num_processes = 2

    def __init__(self, rank: int) -> None:
        self.process_index = rank
        self.is_main_process = rank == 0

    def wait_for_everyone(self) -> None:
        pass


def test_launched_together_only_rank_0_probes_and_the_others_take_its_choice(
    tiny_teacher, tmp_path, monkeypatch, cpu_cache
):
    clock = _fake_probe(monkeypatch, 1.0, 0.5)
    rank0_choice = PrecisionChoice(requested="auto", dtype="float32", reason="probed", why="rank 0's probe")
    shared = []
    monkeypatch.setattr(launch_module, "share_choice", lambda choice: shared.append(choice) or rank0_choice)
    monkeypatch.setattr(launch_module, "process_state", lambda: TwoRanks(1))
    cfg = PseudoLabelConfig.plain(per_image=2, batch_size=3, shard_size=5, seed=3)
    teacher, root, out = str(tiny_teacher["teacher"]), tiny_teacher["root"], tmp_path / "pl"
    assert pseudolabel(teacher, root, out, cfg).status == "rank_done"
    assert clock.calls == 0 and shared == [None]  # rank 1 sent nothing and probed nothing
    rank1 = [ShardStats.read(p) for p in sorted((out / "shards").glob("shard-*[0-9].json"))]
    assert rank1 and all(s.precision == rank0_choice and s.dtype == "float32" for s in rank1)

    shutil.rmtree(out)
    monkeypatch.setattr(launch_module, "process_state", lambda: TwoRanks(0))
    pseudolabel(teacher, root, out, cfg)
    assert clock.calls == 8 and shared[-1].reason == "probed"  # rank 0 probed and shared its choice


def test_share_choice_alone_returns_the_choice():
    choice = PrecisionChoice(requested="auto", dtype="bfloat16", reason="cached", why="x")
    assert precision_module.share_choice(choice) == choice
