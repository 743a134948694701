"""SelTDA step 2: the teacher labels unlabeled images.

`pool` lists and loads the images, `shard` labels one shard (shard filters, round-trip answers), `filters`
holds the filters, `merge` runs the merge filters and writes the manifest, `slurm` finds this job's task
(given, or from a Slurm array), `launch` decides which shards this process runs and merges, `precision`
chooses the inference dtype (`auto` on a CPU: a cached timed probe of fp32 and bf16).
"""

from seltda.run.pseudolabels import Manifest, PrecisionChoice, PseudoLabelOutcome, ShardStats
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
from seltda.stages.pseudolabel.precision import choose_precision, fixed_choice
from seltda.stages.pseudolabel.shard import (
    RoundTrip,
    label_image,
    run_shard,
    synthetic_id,
)

__all__ = [
    "FILTERS",
    "Filter",
    "Manifest",
    "PrecisionChoice",
    "PseudoLabelOutcome",
    "RoundTrip",
    "ShardStats",
    "agrees",
    "answer_problem",
    "choose_precision",
    "fixed_choice",
    "funnel_stages",
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
