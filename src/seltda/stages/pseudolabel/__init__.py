"""SelTDA step 2: the teacher labels unlabeled images.

`pool` lists and loads the images, `shard` labels one shard (shard filters, round-trip answers), `filters`
holds the filters, `merge` runs the merge filters and writes the manifest, `slurm` finds this job's task
(given, or from a Slurm array), `launch` decides which shards this process runs and merges.
"""

from seltda.run.pseudolabels import Manifest, PseudoLabelOutcome, ShardStats
from seltda.stages.pseudolabel.filters import (
    FILTERS,
    Filter,
    agrees,
    answer_problem,
    funnel_stages,
    rebalance,
    register,
)
from seltda.stages.pseudolabel.launch import pseudolabel
from seltda.stages.pseudolabel.merge import merge
from seltda.stages.pseudolabel.pool import list_images, size_ordered
from seltda.stages.pseudolabel.shard import (
    RoundTrip,
    inference_dtype,
    label_image,
    run_shard,
    synthetic_id,
)

__all__ = [
    "FILTERS",
    "Filter",
    "Manifest",
    "PseudoLabelOutcome",
    "RoundTrip",
    "ShardStats",
    "agrees",
    "answer_problem",
    "funnel_stages",
    "inference_dtype",
    "label_image",
    "list_images",
    "merge",
    "pseudolabel",
    "rebalance",
    "register",
    "run_shard",
    "size_ordered",
    "synthetic_id",
]
