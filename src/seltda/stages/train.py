"""What the teacher and the student share: the Trainer, LoRA, saving, stage bookkeeping.

Training goes through `transformers.Trainer`, so `accelerate launch`/`torchrun`, DeepSpeed, FSDP,
mixed precision, logging and checkpoint resume come from the library; LoRA comes from `peft`. A stage
folder is complete when its `seltda_stage.json` exists: it is written last, atomically, after the model is
saved. Only the main process writes files.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import torch
from torch.utils.data import Dataset
from transformers import Trainer, TrainerCallback, TrainingArguments
from transformers.trainer import TRAINER_STATE_NAME
from transformers.trainer_utils import PREFIX_CHECKPOINT_DIR, get_last_checkpoint

from seltda.core.fileio import SeltdaInputError, atomic_write_json
from seltda.core.records import Record
from seltda.models.base import quiet_loading
from seltda.models.registry import default_lora_targets
from seltda.run.stage import write_stage
from seltda.stages.image_records import ImageRecords
from seltda.stages.train_config import TrainingConfig
from seltda.stages.train_log import use_compact_log

ADAPTER_DIR = "adapter"  # LoRA runs: the adapter alone, next to the merged model


class LossTrainer(Trainer):
    """A `Trainer` whose loss is a SelTDA objective computed by the model adapter.

    The objective may call submodules (`model.vision_model`, ...), which a DDP/FSDP/DeepSpeed wrapper does
    not expose and whose direct calls would bypass the wrapper (no gradient synchronisation, no unsharding).
    So the loss always runs *inside* the wrapper's forward: for the duration of the call the wrapped model's
    `forward` is the objective, which receives the unwrapped model (a `PeftModel` with LoRA, whose attribute
    access reaches the base model).
    """

    def __init__(self, *args: Any, loss_fn: Callable[[Any, dict], torch.Tensor], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.loss_fn = loss_fn

    def _issue_warnings_after_load(self, load_result: Any) -> None:
        """Resuming: keys missing from a checkpoint only because they are tied to a saved one (BLIP's
        decoder head shares its embeddings; safetensors stores one copy) are not worth a warning."""
        model = self.accelerator.unwrap_model(self.model)
        owners: dict[int, list[str]] = {}
        for name, parameter in model.named_parameters(remove_duplicate=False):
            owners.setdefault(id(parameter), []).append(name)
        tied = {name for names in owners.values() if len(names) > 1 for name in names}
        missing = [key for key in load_result.missing_keys if key not in tied]
        super()._issue_warnings_after_load(load_result._replace(missing_keys=missing))

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        inner = self.accelerator.unwrap_model(model)  # keeps accelerate's mixed-precision forward, if any
        own_forward = inner.__dict__.get("forward")

        def restore_forward() -> None:
            if own_forward is None:
                inner.__dict__.pop("forward", None)
            else:
                inner.forward = own_forward

        def loss_forward(**batch: Any) -> torch.Tensor:
            restore_forward()  # the objective's own `model(...)` calls reach the model's real forward
            with self.accelerator.autocast():
                return self.loss_fn(inner, batch)

        inner.forward = loss_forward
        try:
            loss = model(**inputs)
        finally:
            restore_forward()
        return (loss, None) if return_outputs else loss


def _no_accelerator() -> bool:
    """True on a machine with no GPU (or other accelerator): multi-process runs then use CPUs and gloo."""
    if hasattr(torch, "accelerator"):
        return not torch.accelerator.is_available()
    return not torch.cuda.is_available()


def training_arguments(cfg: TrainingConfig, out_dir: Path) -> TrainingArguments:
    if cfg.learning_rate is None:
        raise ValueError("learning_rate unset: set it with TrainingConfig.with_learning_rate(parameters)")
    use_bf16 = cfg.precision == "bf16" or (
        cfg.precision == "auto" and torch.cuda.is_available() and torch.cuda.is_bf16_supported()
    )
    return TrainingArguments(
        output_dir=str(out_dir / "checkpoints"),
        max_steps=cfg.max_steps,
        per_device_train_batch_size=cfg.batch_size,
        gradient_accumulation_steps=cfg.gradient_accumulation_steps,
        learning_rate=cfg.learning_rate,
        weight_decay=cfg.weight_decay,
        warmup_steps=int(cfg.warmup_ratio * cfg.max_steps),
        lr_scheduler_type=cfg.lr_scheduler,
        logging_steps=min(cfg.logging_steps, max(1, cfg.max_steps // 10)),  # short runs still log a curve
        save_steps=cfg.save_steps,
        save_total_limit=1,
        seed=cfg.seed,
        data_seed=cfg.seed,
        bf16=use_bf16,
        fp16=cfg.precision == "fp16",
        # without it, `torchrun` on a CPU-only machine would run N independent trainings instead of DDP
        use_cpu=_no_accelerator(),
        dataloader_num_workers=cfg.dataloader_workers,
        remove_unused_columns=False,
        report_to=cfg.report_to,
        deepspeed=cfg.deepspeed,
        fsdp=cfg.fsdp,
        disable_tqdm=False,
        dataloader_pin_memory=torch.cuda.is_available(),
        # some VLMs leave parameters unused (LLaVA skips its last vision layer); with the non-reentrant
        # activation checkpointing used here (`enable_checkpointing`), DDP allows this with checkpointing on
        ddp_find_unused_parameters=True,
    )


def require_sharding(trainer: Trainer, cfg: TrainingConfig) -> None:
    """Refuse `fsdp`/`deepspeed` that accelerate did not turn on, rather than train unsharded: it enables
    them for GPU-type multi-process runs only (1.15: no FSDP for MULTI_CPU, no DeepSpeed with `cpu`)."""
    import accelerate

    off = [
        name
        for name in ("fsdp", "deepspeed")
        if getattr(cfg, name) and not getattr(trainer, f"is_{name}_enabled")
    ]
    if off:
        raise SeltdaInputError(
            f"{' and '.join(off)} set, but accelerate {accelerate.__version__} did not enable it for this "
            f"launch ({trainer.accelerator.distributed_type}, {trainer.args.world_size} process(es)): "
            "sharded training needs several GPU processes (torchrun or accelerate launch); on CPUs leave "
            "it unset (several CPU processes train data-parallel)"
        )


def enable_checkpointing(model: torch.nn.Module) -> None:
    """Non-reentrant activation (gradient) checkpointing, set on the model rather than by the Trainer.

    Reentrant checkpointing needs inputs that require grad, so transformers (and peft) hook the input
    embeddings to force it; with frozen embeddings (LoRA) that breaks BLIP's in-place `embeddings +=
    position_embeddings`. The non-reentrant kind needs no such hook, so it is removed.
    """
    base = model.get_base_model() if is_peft_model(model) else model
    kwargs = {"use_reentrant": False}
    if hasattr(base, "activation_checkpointing_enable"):
        base.activation_checkpointing_enable(activation_checkpointing_kwargs=kwargs)
    else:  # transformers releases before the rename
        base.gradient_checkpointing_enable(gradient_checkpointing_kwargs=kwargs)
    if hasattr(base, "disable_input_require_grads"):
        base.disable_input_require_grads()


# the vision tower's module: BLIP and Idefics3, LLaVA and PaliGemma, Qwen2-VL
VISION_TOWER_NAMES = frozenset({"vision_model", "vision_tower", "visual"})


def freeze_vision_tower(model: torch.nn.Module) -> int:
    """Stop gradients to the vision tower's parameters (and its LoRA matrices, if any); returns how many
    parameter tensors this froze. The tower is found by its module name in each supported family."""
    tower = [p for name, p in model.named_parameters() if VISION_TOWER_NAMES.intersection(name.split("."))]
    frozen = sum(parameter.requires_grad for parameter in tower)  # LoRA: the base weights already are
    for parameter in tower:
        parameter.requires_grad_(False)
    if not tower:
        raise SeltdaInputError(
            f"freeze_vision_tower: no parameter of {type(model).__name__} lies under a module named "
            f"{' / '.join(sorted(VISION_TOWER_NAMES))}; unset it for this model"
        )
    return frozen


def lora_targets(model: torch.nn.Module, cfg: TrainingConfig) -> str | list[str]:
    """The modules LoRA adapts: the config's (name suffixes), else the model family's default."""
    return list(cfg.lora_targets) if cfg.lora_targets else default_lora_targets(model)


def add_lora(model: torch.nn.Module, cfg: TrainingConfig) -> torch.nn.Module:
    """Wrap `model` in a `peft` LoRA model: only the adapter's A/B matrices are trainable."""
    from peft import LoraConfig, get_peft_model
    from transformers import set_seed

    set_seed(cfg.seed)  # the adapter's initialisation is reproducible
    config = LoraConfig(
        r=cfg.lora_rank,
        lora_alpha=cfg.lora_alpha,
        lora_dropout=cfg.lora_dropout,
        target_modules=lora_targets(model, cfg),
        bias="none",
    )
    return get_peft_model(model, config)


def is_peft_model(model: Any) -> bool:
    from peft import PeftModel

    return isinstance(model, PeftModel)


def parameter_counts(model: torch.nn.Module) -> dict[str, int]:
    """Trainable and total parameters (DeepSpeed ZeRO-3 partitioned parameters counted in full): peft's
    count for a LoRA model, the same sum over the parameters otherwise."""
    if is_peft_model(model):
        trainable, total = model.get_nb_trainable_parameters()
        return {"trainable": trainable, "total": total}
    trainable = total = 0
    for parameter in model.parameters():
        count = getattr(parameter, "ds_numel", None) or parameter.numel()
        total += count
        trainable += count if parameter.requires_grad else 0
    return {"trainable": trainable, "total": total}


def last_checkpoint(folder: Path) -> Path | None:
    """The latest complete Trainer checkpoint, by step (transformers' `get_last_checkpoint`); one killed
    while saving (no `trainer_state.json`, which the Trainer writes last) gives way to the one before."""
    folder = Path(folder)
    if not folder.is_dir():
        return None
    latest = get_last_checkpoint(str(folder))
    if latest is None or (Path(latest) / TRAINER_STATE_NAME).is_file():
        return Path(latest) if latest else None
    complete = [
        (int(path.name.rsplit("-", 1)[1]), path)
        for path in folder.glob(f"{PREFIX_CHECKPOINT_DIR}-*")
        if path.name.rsplit("-", 1)[1].isdigit() and (path / TRAINER_STATE_NAME).is_file()
    ]
    return max(complete)[1] if complete else None


def train(
    model: torch.nn.Module,
    dataset: Dataset,
    collator: Callable[[list], dict],
    loss_fn: Callable[[Any, dict], torch.Tensor],
    cfg: TrainingConfig,
    out_dir: Path,
    callbacks: Sequence[TrainerCallback] = (),
) -> tuple[Trainer, dict[str, Any]]:
    """Train with the Trainer, resuming from the last checkpoint in `out_dir/checkpoints` if any.

    With `cfg.lora` the model is wrapped in a LoRA `PeftModel` first (checkpoints then hold the adapter).
    """
    out_dir = Path(out_dir)
    cfg = cfg.with_learning_rate(parameter_counts(model)["total"])
    if cfg.lora:
        model = add_lora(model, cfg)
    if cfg.freeze_vision_tower:
        freeze_vision_tower(model)  # after the LoRA wrapping: the tower's adapter matrices stay fixed too
    if cfg.gradient_checkpointing:
        enable_checkpointing(model)  # after the LoRA wrapping (peft would add the input hooks again)
    parameters = parameter_counts(model)
    args = training_arguments(cfg, out_dir)
    trainer = LossTrainer(
        model, args, data_collator=collator, train_dataset=dataset, callbacks=list(callbacks), loss_fn=loss_fn
    )
    require_sharding(trainer, cfg)
    use_compact_log(trainer, out_dir.name)
    checkpoint = last_checkpoint(out_dir / "checkpoints")
    start = time.perf_counter()
    result = trainer.train(resume_from_checkpoint=str(checkpoint) if checkpoint else None)
    losses = [log["loss"] for log in trainer.state.log_history if "loss" in log]
    metrics = {
        "train_loss": result.training_loss,
        "final_logged_loss": losses[-1] if losses else None,
        "steps": trainer.state.global_step,
        "resumed_from": checkpoint.name if checkpoint else None,
        "train_seconds": round(time.perf_counter() - start, 2),
        "processes": trainer.args.world_size,
        "parameters": parameters,
    }
    return trainer, metrics


def _merged_model(trainer: Trainer, adapter_dir: Path) -> torch.nn.Module:
    """The base model with the trained LoRA adapter merged into its weights (a plain transformers model).

    Unsharded (one process or DDP) the in-memory model is merged in place. Under FSDP/DeepSpeed the weights
    are sharded across processes, so the base model is reloaded and the saved adapter merged into it.
    """
    peft_model = trainer.accelerator.unwrap_model(trainer.model)
    if not (trainer.is_fsdp_enabled or trainer.is_deepspeed_enabled):
        return peft_model.merge_and_unload()
    return merge_adapter_from_disk(type(peft_model.get_base_model()), adapter_dir)


def merge_adapter_from_disk(
    model_class: type, adapter_dir: Path, dtype: torch.dtype = torch.float32
) -> torch.nn.Module:
    """Load the adapter's base model (`base_model_name_or_path`) as `model_class` and merge the adapter.

    `dtype` is the training dtype (the stages train float32 weights; mixed precision only autocasts).
    """
    from peft import PeftConfig, PeftModel

    base_name = PeftConfig.from_pretrained(str(adapter_dir)).base_model_name_or_path
    with quiet_loading():
        base = model_class.from_pretrained(base_name, dtype=dtype)
    return PeftModel.from_pretrained(base, str(adapter_dir)).merge_and_unload()


def save_trained(trainer: Trainer, processor: Any, out_dir: Path) -> None:
    """Save the final model (safetensors), its processor and the trainer log into the stage folder.

    A LoRA run saves its adapter in `out_dir/adapter/` and the merged full model in `out_dir`, so later
    stages load a plain model folder (the in-memory model is merged in place: do not train it further).
    Every process must call this (sharded weights are gathered); only the main process writes, and all
    processes return once the files are written.
    """
    out_dir = Path(out_dir)
    if is_peft_model(trainer.accelerator.unwrap_model(trainer.model)):
        trainer.save_model(str(out_dir / ADAPTER_DIR))
        if trainer.is_world_process_zero():
            _merged_model(trainer, out_dir / ADAPTER_DIR).save_pretrained(out_dir)
    else:
        trainer.save_model(str(out_dir))
    if trainer.is_world_process_zero():
        processor.save_pretrained(out_dir)
        atomic_write_json(out_dir / "trainer_log.json", trainer.state.log_history)
    trainer.accelerator.wait_for_everyone()


def fit_stage(
    out_dir: Path,
    stage: str,
    cfg: TrainingConfig,
    adapter: Any,
    model: torch.nn.Module,
    sources: Sequence[tuple[Sequence[Record], Path]],
    collate: Callable[[list], dict],
    loss_fn: Callable[[Any, dict], torch.Tensor],
    counts: Callable[[list[ImageRecords]], dict[str, int]],
    start: float,
    callbacks: Sequence[TrainerCallback] = (),
    **inputs: Any,
) -> dict[str, Any]:
    """What a training stage does once its records are read: the records with their images (one dataset
    per `(records, image root)` source), the Trainer, the saved model, then the stage marker.

    `collate` receives the items whose image could be read; `counts(parts)` gives the stage's record
    counts, written into its metrics before the skipped images and the stage's seconds (since `start`);
    `inputs` are written into the marker beside the config and metrics; `callbacks` go to the Trainer.
    Every process calls this; all return once the stage is marked complete.
    """
    from torch.utils.data import ConcatDataset

    cfg = cfg.with_learning_rate(parameter_counts(model)["total"])  # recorded as chosen
    to_pixels = adapter.prepare_images
    parts = [ImageRecords(records, root, to_pixels, cache=cfg.cache_images) for records, root in sources]

    def collate_readable(items: list) -> dict:
        return collate([item for item in items if item is not None])

    trainer, metrics = train(model, ConcatDataset(parts), collate_readable, loss_fn, cfg, out_dir, callbacks)
    save_trained(trainer, adapter.processor, out_dir)
    metrics.update(
        **counts(parts),
        skipped=dict(sum((part.skipped for part in parts), Counter())),
        seconds=round(time.perf_counter() - start, 2),
    )
    if trainer.is_world_process_zero():
        write_stage(out_dir, stage, cfg, metrics, **inputs)
    trainer.accelerator.wait_for_everyone()  # no rank returns before the stage is marked complete
    return metrics
