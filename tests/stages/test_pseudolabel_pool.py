import json
import shutil

from seltda.core.records import read_records
from seltda.stages.pseudolabel import pseudolabel
from seltda.stages.pseudolabel.config import PseudoLabelConfig


def _pool(tiny_teacher, folder, copies=6):
    for copy in range(copies):
        shutil.copytree(tiny_teacher["root"] / "images", folder / f"part{copy}")
    return folder


def _salt(folder):
    """Bad files of every kind beside the good images (and a symlink that leaves the root)."""
    import os

    from PIL import Image

    (folder / "bad").mkdir()
    (folder / "bad" / "empty.jpg").write_bytes(b"")
    (folder / "bad" / "fake.png").write_text("this is text, not a PNG")
    (folder / "bad" / "corrupt.webp").write_bytes(os.urandom(2000))
    noisy = Image.frombytes("RGB", (64, 64), os.urandom(64 * 64 * 3))
    noisy.save(folder / "bad" / "full.png")
    data = (folder / "bad" / "full.png").read_bytes()
    (folder / "bad" / "full.png").unlink()
    (folder / "bad" / "truncated.png").write_bytes(data[: len(data) // 2])
    Image.new("1", (20_000, 20_000)).save(folder / "bad" / "bomb.png")  # 400 megapixels, a few kB
    outside = folder.parent / "outside.png"
    Image.new("RGB", (8, 8), "red").save(outside)
    (folder / "bad" / "escape.png").symlink_to(outside)
    return {"empty": 1, "not_an_image": 2, "truncated": 1, "too_large": 1, "outside_root": 1}


def test_salted_folder_labels_every_good_image_and_reports_every_bad_one(tiny_teacher, tmp_path):
    from typer.testing import CliRunner

    from seltda.cli import app

    pool = _pool(tiny_teacher, tmp_path / "pool", copies=1)
    expected_skips = _salt(pool)
    out = tmp_path / "pl"
    args = [
        "pseudolabel",
        "--teacher",
        str(tiny_teacher["teacher"]),
        "--images",
        str(pool),
        "--out",
        str(out),
    ]
    result = CliRunner().invoke(app, [*args, "--per-image", "2", "--batch-size", "4", "--shard-size", "5"])
    assert result.exit_code == 0, result.output
    manifest = json.loads((out / "manifest.json").read_text())
    unreadable = manifest["images"]["unreadable"]
    # "corrupt" random bytes are not an image; the bomb is refused from its header
    assert sum(unreadable.values()) == sum(expected_skips.values()) == 6
    assert unreadable.get("outside_root") == 1 and unreadable.get("empty") == 1
    assert unreadable.get("truncated") == 1 and unreadable.get("too_large") == 1
    assert manifest["images"]["listed"] == 18 and manifest["images"]["seen"] == 12
    assert manifest["funnel"]["generated"] == 12 * 2
    labeled = {r.image for r in read_records(out / "pseudolabels.jsonl")}
    rejected = {json.loads(line)["image"] for line in (out / "rejected.jsonl").read_text().splitlines()}
    assert labeled | rejected == {f"part0/{i:03d}.png" for i in range(12)}


def test_datasets_folder_pool_and_decoding_workers(tiny_teacher, tmp_path):
    from datasets import Dataset, Features, Image, Value

    images = sorted((tiny_teacher["root"] / "images").glob("*.png"))
    rows = {"image": [str(p) for p in images] + [None], "name": [p.name for p in images] + ["none"]}
    Dataset.from_dict(rows, features=Features({"image": Image(), "name": Value("string")})).save_to_disk(
        tmp_path / "pool-ds"
    )
    cfg = PseudoLabelConfig.plain(per_image=2, batch_size=4, shard_size=5, seed=1)
    teacher = str(tiny_teacher["teacher"])
    manifest = pseudolabel(teacher, tmp_path / "pool-ds", tmp_path / "ds", cfg).manifest
    assert manifest.images.seen == 12 and manifest.images.unreadable == {"missing": 1}
    assert manifest.image_root == str(tmp_path / "ds" / "images")
    records = read_records(tmp_path / "ds" / "pseudolabels.jsonl")
    assert records and all((tmp_path / "ds" / "images" / r.image).is_file() for r in records)
    # two decoding workers give exactly the single-process records
    workers = pseudolabel(
        teacher, tmp_path / "pool-ds", tmp_path / "ds-w", cfg.model_copy(update={"dataloader_workers": 2})
    ).manifest
    assert workers.funnel == manifest.funnel
    assert (tmp_path / "ds-w" / "pseudolabels.jsonl").read_text() == (
        tmp_path / "ds" / "pseudolabels.jsonl"
    ).read_text()


def test_a_records_file_lists_the_pool_once_per_image(tiny_teacher, tmp_path):
    root = tiny_teacher["root"]
    names = sorted(path.relative_to(root).as_posix() for path in (root / "images").iterdir())[:3]
    rows = [
        {"question_id": f"{name}-{k}", "image": name, "question": "what?", "answers": ["x"]}
        for name in [*names, "images/missing.png"]
        for k in range(2)
    ]
    listing = tmp_path / "unlabeled.jsonl"
    listing.write_text("".join(json.dumps(row) + "\n" for row in rows))
    cfg = PseudoLabelConfig.plain(per_image=2, batch_size=4)
    manifest = pseudolabel(str(tiny_teacher["teacher"]), root, tmp_path / "pl", cfg, listing).manifest
    assert manifest.images.model_dump() == {"listed": 4, "unreadable": {"missing": 1}, "seen": 3}
    assert manifest.funnel["generated"] == 3 * 2
