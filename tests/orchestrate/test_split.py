from seltda.core.records import read_image_list
from seltda.orchestrate.split import split_by_image, write_split


def test_split_by_image_never_leaks(dataset):
    records = dataset["records"]
    labeled, unlabeled = split_by_image(records, 0.25, seed=1)
    labeled_images = {r.image for r in labeled}
    assert labeled_images.isdisjoint(unlabeled)
    assert labeled_images | set(unlabeled) == {r.image for r in records}
    assert len(labeled_images) == 3
    # every question of a labeled image comes along
    assert len(labeled) == sum(r.image in labeled_images for r in records)


def test_split_is_seeded(dataset):
    records = dataset["records"]
    assert split_by_image(records, 0.5, 3) == split_by_image(records, 0.5, 3)
    assert split_by_image(records, 0.5, 3)[1] != split_by_image(records, 0.5, 4)[1]


def test_write_split_files(dataset, tmp_path):
    paths = write_split(dataset["records"], 0.5, 0, tmp_path / "split")
    pool = read_image_list(paths["unlabeled"])
    assert len(pool) == 6 and pool == sorted(pool)
