import json
import shutil

import pytest

from seltda.core.fileio import SeltdaInputError
from seltda.core.records import read_records
from seltda.stages.pseudolabel import RoundTrip, agrees, merge, pseudolabel
from seltda.stages.pseudolabel.config import PseudoLabelConfig


def test_every_image_is_processed_and_funnel_adds_up(tiny_teacher, tmp_path):
    pool = tmp_path / "pool"
    shutil.copytree(tiny_teacher["root"] / "images", pool / "nested" / "images")
    (pool / "broken.PNG").write_bytes(b"not an image")
    (pool / "notes.txt").write_text("not listed: not an image extension")
    cfg = PseudoLabelConfig.plain(per_image=3, batch_size=5, shard_size=4)
    outcome = pseudolabel(str(tiny_teacher["teacher"]), pool, tmp_path / "pl", cfg)
    assert outcome.status == "merged"
    manifest = outcome.manifest
    assert manifest.images.listed == 13 and manifest.images.unreadable == {"not_an_image": 1}
    funnel = manifest.funnel
    assert funnel["generated"] == 12 * 3  # 12 readable images, batch 5: the last partial batch is kept
    assert (
        funnel["generated"]
        >= funnel["parsed"]
        >= funnel["answer_ok"]
        >= funnel["deduplicated"]
        >= funnel["kept"]
    )
    assert funnel["kept"] > 0, "the trained tiny teacher should write parseable pairs"
    assert manifest.sampling_dtypes == [choice.dtype for choice in manifest.precision]  # one choice
    assert manifest.sampling_engines == ["hf"]  # a BLIP teacher: transformers whatever is installed
    records = read_records(tmp_path / "pl" / "pseudolabels.jsonl")
    assert len(records) == funnel["kept"] and len({r.question_id for r in records}) == len(records)
    assert all(r.image.startswith("nested/images/") for r in records)
    # the file is the model's dump, run keys first
    on_disk = json.loads((tmp_path / "pl" / "manifest.json").read_text())
    assert on_disk == manifest.to_json()
    assert list(on_disk)[:5] == ["teacher", "image_root", "shards", "seconds_this_run", "config"]


def test_confidence_filter_keeps_top_fraction(tiny_teacher, tmp_path):
    teacher, root = str(tiny_teacher["teacher"]), tiny_teacher["root"]
    full = pseudolabel(teacher, root, tmp_path / "a", PseudoLabelConfig.plain(seed=1)).manifest
    half = pseudolabel(
        teacher, root, tmp_path / "b", PseudoLabelConfig.plain(seed=1, keep_top_fraction=0.5)
    ).manifest
    assert half.funnel["kept"] == max(1, round(full.funnel["kept"] / 2))
    kept = read_records(tmp_path / "b" / "pseudolabels.jsonl")
    dropped = {r.question_id for r in read_records(tmp_path / "a" / "pseudolabels.jsonl")} - {
        r.question_id for r in kept
    }
    all_records = {r.question_id: r for r in read_records(tmp_path / "a" / "pseudolabels.jsonl")}
    if dropped:
        assert min(r.provenance.score for r in kept) >= max(all_records[q].provenance.score for q in dropped)


def test_merge_refilters_existing_shards_without_sampling(tiny_teacher, tmp_path):
    teacher, root = str(tiny_teacher["teacher"]), tiny_teacher["root"]
    full = pseudolabel(teacher, root, tmp_path / "a", PseudoLabelConfig.plain(seed=2, shard_size=5)).manifest
    half = merge(
        tmp_path / "b",
        full.shards,
        PseudoLabelConfig.plain(keep_top_fraction=0.5),
        {},
        shards_from=tmp_path / "a",
    )
    assert half.funnel["deduplicated"] == full.funnel["kept"]
    assert half.funnel["kept"] == max(1, round(full.funnel["kept"] / 2))
    rejected = (tmp_path / "b" / "rejected.jsonl").read_text()
    assert rejected.count("low_confidence") == full.funnel["kept"] - half.funnel["kept"]
    # a bare re-merge has no run keys
    assert "teacher" not in json.loads((tmp_path / "b" / "manifest.json").read_text())


def test_roundtrip_filter_keeps_only_pairs_the_vqa_model_confirms(
    tiny_teacher, tiny_model, tmp_path, monkeypatch
):
    teacher, root = str(tiny_teacher["teacher"]), tiny_teacher["root"]
    cfg = PseudoLabelConfig.plain(per_image=3, batch_size=4, shard_size=6, seed=3)
    plain = pseudolabel(teacher, root, tmp_path / "plain", cfg).manifest
    # a real VQA model answers every kept pair; its answers are stored with the record
    checked = pseudolabel(
        teacher, root, tmp_path / "real", cfg.model_copy(update={"roundtrip_model": str(tiny_model)})
    ).manifest
    shard_records = [
        r for p in sorted((tmp_path / "real" / "shards").glob("*[0-9].jsonl")) for r in read_records(p)
    ]
    assert len(shard_records) == plain.funnel["deduplicated"]
    assert all(isinstance(r.provenance.roundtrip_answer, str) for r in shard_records)
    assert checked.funnel["consistent"] == sum(agrees(r) for r in shard_records)

    # a VQA model that agrees on every other pair: exactly those are kept
    def half_agree(self, records, pictures):
        return [r.majority_answer() if i % 2 == 0 else "nonsense" for i, r in enumerate(records)]

    monkeypatch.setattr(RoundTrip, "answer", half_agree)
    manifest = pseudolabel(
        teacher, root, tmp_path / "half", cfg.model_copy(update={"roundtrip_model": str(tiny_model)})
    ).manifest
    funnel = manifest.funnel
    assert funnel["deduplicated"] == plain.funnel["deduplicated"] > 1
    assert 0 < funnel["consistent"] == funnel["kept"] < funnel["deduplicated"]
    assert manifest.drops["roundtrip_disagrees"] == funnel["deduplicated"] - funnel["consistent"]
    assert all(
        r.provenance.roundtrip_answer == r.majority_answer()
        for r in read_records(tmp_path / "half" / "pseudolabels.jsonl")
    )
    # merging shards labeled without the round-trip model under the filter is a clear error
    with pytest.raises(SeltdaInputError, match="without the round-trip model"):
        pseudolabel(
            teacher, root, tmp_path / "plain", cfg.model_copy(update={"roundtrip_model": str(tiny_model)})
        )
