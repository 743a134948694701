"""SelTDA step 2: the teacher labels unlabeled images (see launch.py)."""

from seltda.stages.pseudolabel.launch import *  # noqa: F403
from seltda.stages.pseudolabel.launch import _read_jsonl, _shard_paths  # noqa: F401
