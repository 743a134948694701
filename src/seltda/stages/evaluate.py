"""Run a VQA model over records and score it with a metric chosen by name (official VQA accuracy, ...)."""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

import torch
from pydantic import BaseModel, ConfigDict, Field

from seltda.core.progress import track
from seltda.core.records import Record, read_records
from seltda.eval.metrics import score_predictions
from seltda.eval.scorers import AUTO, METRIC_NAMES, MULTIPLE_CHOICE, choose_metric
from seltda.eval.suites import SUITES, run_suites
from seltda.formats.results import read_predictions
from seltda.models import load_adapter, load_vqa
from seltda.models.vllm_llm import EngineName, VllmAnswerer, choose_engine
from seltda.run.artifacts import Evaluation, Likelihoods
from seltda.stages.image_records import ImageRecords


class EvaluateConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    batch_size: int = Field(128, description="questions answered per forward pass")
    max_answer_tokens: int = Field(16, description="longest answer generated, in tokens")
    max_pixels: int | None = Field(
        None, description="dynamic-resolution VLMs: downscale images above this many pixels"
    )
    limit: int | None = Field(None, description="evaluate the first N records only (quick checks)")
    tensor_parallel_size: int = Field(
        1,
        ge=1,
        description="engine vllm: GPUs one engine spreads the model over (models too large for one GPU)",
    )
    engine: EngineName = Field(
        "auto",
        description="answering engine: hf (transformers), vllm (chat VLMs of the families in "
        "models.vllm_llm.VLLM_FAMILIES), auto: vllm with a GPU when installed and serving the model, else "
        "hf; multiple choice (aokvqa-mc) is scored by transformers",
    )
    suites: tuple[str, ...] = Field(
        SUITES, description="robustness suites computed when the records support them"
    )
    metric: Literal[METRIC_NAMES] = Field(  # type: ignore[valid-type]
        AUTO,
        description="the metric under `accuracy`: vqa, exact, aokvqa, aokvqa-mc (the model picks the most "
        "likely of each record's meta.choices), or auto (what the converter recorded, else exact when "
        "records have fewer than 3 answers, else vqa); see docs/metrics.md",
    )


def _transformers_model(model_dir: str, cfg: EvaluateConfig) -> tuple[Any, torch.nn.Module, str]:
    """The model's adapter, its answering model in eval mode on the GPU when there is one, and that device."""
    adapter = load_adapter(model_dir, max_pixels=cfg.max_pixels, max_answer_tokens=cfg.max_answer_tokens)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    return adapter, load_vqa(model_dir).eval().to(device), device


def predict(
    model_dir: str, records: list[Record], image_root: Path, cfg: EvaluateConfig, engine: str | None = None
) -> tuple[dict, dict]:
    """Answers for `records`: ({question_id: answer}, {skip reason: count}). Greedy generated answers, or
    under metric `aokvqa-mc` each record's most likely choice of its `meta.choices` (`most_likely`).
    `engine`: `engine_for`'s decision when the caller already made it."""
    by_choice = cfg.metric == MULTIPLE_CHOICE
    if by_choice:
        choose_metric(records, cfg.metric)  # every record has its choices, else an input error now
    elif (engine or engine_for(model_dir, cfg)) == "vllm":
        return predict_vllm(model_dir, records, image_root, cfg)
    adapter, model, device = _transformers_model(model_dir, cfg)
    dataset = ImageRecords(records, image_root, adapter.prepare_images)
    # questions of similar length together: less padding, same answers (padding is masked)
    order = sorted(range(len(dataset)), key=lambda i: len(dataset.records[i].question))
    predictions: dict[str, str] = {}
    starts = range(0, len(order), cfg.batch_size)
    for start in track(starts, description="answering"):
        items = [dataset[i] for i in order[start : start + cfg.batch_size]]
        items = [item for item in items if item is not None]
        if not items:
            continue
        images = adapter.batch_images([item["pixel_values"] for item in items])
        questions = [item["record"].question for item in items]
        if by_choice:
            choices = [item["record"].meta["choices"] for item in items]
            scores = adapter.choice_scores(model, images.to(device), questions, choices)
            answers = most_likely(choices, scores)
        else:
            batch = adapter.vqa_batch(images, questions)
            answers = adapter.answer(model, {k: v.to(device) for k, v in batch.items()})
        predictions.update({item["record"].question_id: a for item, a in zip(items, answers, strict=True)})
    return predictions, dict(dataset.skipped)


def reference_answer(answers: list[str]) -> str:
    """A question's most common reference answer (ties: the first in sorted order)."""
    return max(sorted(set(answers)), key=answers.count)


def reference_likelihoods(
    model_dir: str, record_sets: Sequence[list[Record]], image_root: Path, cfg: EvaluateConfig
) -> list[tuple[dict[str, float], dict[str, int]]]:
    """Per record set, ({question_id: log-likelihood in nats of the record's most common reference answer},
    {skip reason: count}): one teacher-forced pass per set (`choice_scores` with that answer as the only
    choice) by one loaded model, transformers whatever the answering engine. Records without answers and
    records whose image cannot be read get none."""
    adapter, model, device = _transformers_model(model_dir, cfg)
    results = []
    for records in record_sets:
        dataset = ImageRecords([r for r in records if r.answers], image_root, adapter.prepare_images)
        scores: dict[str, float] = {}
        with torch.no_grad():
            for start in track(range(0, len(dataset), cfg.batch_size), description="answer likelihoods"):
                items = [dataset[i] for i in range(start, min(start + cfg.batch_size, len(dataset)))]
                items = [item for item in items if item is not None]
                if not items:
                    continue
                images = adapter.batch_images([item["pixel_values"] for item in items]).to(device)
                questions = [item["record"].question for item in items]
                choices = [[reference_answer(item["record"].answers)] for item in items]
                rows = adapter.choice_scores(model, images, questions, choices)
                scores.update(
                    {item["record"].question_id: row[0] for item, row in zip(items, rows, strict=True)}
                )
        results.append((scores, dict(dataset.skipped)))
    return results


def image_features(
    model_dir: str, sources: Sequence[tuple[Sequence[Record], Path]], cfg: EvaluateConfig
) -> list[tuple[dict[str, list[float]], dict[str, int]]]:
    """Per (records, image root) of `sources`: ({image: its features}, {skip reason: count}) for the images
    of those records, each read once by one loaded model (`adapter.image_features`: BLIP's vision tower, a
    chat VLM's projected image tokens); an unreadable image gets none. Raises NotImplementedError for a
    model whose image features cannot be read."""
    adapter, model, device = _transformers_model(model_dir, cfg)
    results = []
    for records, image_root in sources:
        one_each = list({record.image: record for record in records}.values())
        dataset = ImageRecords(one_each, image_root, adapter.prepare_images, cache=False)
        features: dict[str, list[float]] = {}
        with torch.no_grad():
            for start in track(range(0, len(dataset), cfg.batch_size), description="image features"):
                items = [dataset[i] for i in range(start, min(start + cfg.batch_size, len(dataset)))]
                items = [item for item in items if item is not None]
                if items:
                    pixels = adapter.batch_images([item["pixel_values"] for item in items]).to(device)
                    rows = adapter.image_features(model, pixels).float().cpu().tolist()
                    features.update({it["record"].image: row for it, row in zip(items, rows, strict=True)})
        results.append((features, dict(dataset.skipped)))
    return results


def answer_likelihoods(
    model_dir: str, data_file: Path, image_root: Path, cfg: EvaluateConfig, out_file: Path | None = None
) -> Likelihoods:
    """Per question, the log-likelihood (nats) the model gives its most common reference answer
    (`reference_likelihoods`): a finer dev statistic than 0/1 accuracy (the verdict
    `accuracy-or-likelihood`)."""
    records = read_records(data_file)[: cfg.limit]
    [(scores, skipped)] = reference_likelihoods(model_dir, [records], image_root, cfg)
    if not scores:
        raise ValueError(f"{data_file}: none of its {len(records)} questions could be scored by {model_dir}")
    result = Likelihoods(
        model=str(model_dir),
        data=str(data_file),
        mean=round(sum(scores.values()) / len(scores), 4),
        n=len(scores),
        per_question=scores,
        skipped_images=skipped,
    )
    if out_file is not None:
        result.write(out_file)
    return result


def engine_for(model_dir: str, cfg: EvaluateConfig) -> str:
    """What answers: `hf` for multiple choice (scored by likelihood), else `choose_engine`'s decision."""
    return "hf" if cfg.metric == MULTIPLE_CHOICE else choose_engine(model_dir, cfg.engine, role="model")


def predict_vllm(
    model_dir: str, records: list[Record], image_root: Path, cfg: EvaluateConfig, chunk: int = 4096
) -> tuple[dict, dict]:
    """`predict`'s greedy answers from vLLM: the images read as for transformers, handed over in chunks
    (vLLM batches within a chunk)."""
    answerer = VllmAnswerer.load(
        model_dir, cfg.max_pixels, cfg.max_answer_tokens, tensor_parallel_size=cfg.tensor_parallel_size
    )
    dataset = ImageRecords(records, image_root, answerer.adapter.prepare_images)
    predictions: dict[str, str] = {}
    for start in track(range(0, len(dataset), chunk), description="answering (vllm)"):
        items = [dataset[i] for i in range(start, min(start + chunk, len(dataset)))]
        items = [item for item in items if item is not None]
        images = [item["pixel_values"] for item in items]
        answers = answerer.answer(images, [item["record"].question for item in items])
        predictions.update({item["record"].question_id: a for item, a in zip(items, answers, strict=True)})
    return predictions, dict(dataset.skipped)


def most_likely(choices: list[list[str]], scores: list[list[float]]) -> list[str]:
    """Each question's choice with the highest log-likelihood (ties: the first listed), as written."""
    return [
        row[max(range(len(row)), key=row_scores.__getitem__)]
        for row, row_scores in zip(choices, scores, strict=True)
    ]


def load_predictions(path: Path) -> dict[str, str]:
    """{question_id: answer} from VQA results, an evaluation JSON or an id->answer object."""
    return {str(row["question_id"]): row["answer"] for row in read_predictions(path)}


def _result(
    source: str, data_file: Path, records: list[Record], predictions: dict[str, str], suites, metric: str
) -> dict:
    """The evaluation JSON shared by `evaluate` and `score`: metrics, suites and the predictions."""
    scores = score_predictions(records, predictions, metric)
    every_question = scores["per_question"]  # the suites score questions the metric's figure leaves out
    if scores["left_out"]:
        every_question = score_predictions(records, predictions, metric, leave_out=False)["per_question"]
    return {
        "model": source,
        "data": str(data_file),
        **scores,
        "suites": run_suites(records, every_question, predictions, suites),
        "predictions": [
            {"question_id": r.question_id, "answer": predictions.get(r.question_id, "")} for r in records
        ],
    }


def score(
    predictions_file: Path,
    data_file: Path,
    out_file: Path | None,
    suites=SUITES,
    metric: str = EvaluateConfig.model_fields["metric"].default,
    limit: int | None = None,
) -> dict:
    """Score predictions made by any model against records (the first `limit` of them), with the same
    output as `evaluate`."""
    records = read_records(data_file)[:limit]
    predictions = load_predictions(predictions_file)
    result = _result(str(predictions_file), data_file, records, predictions, suites, metric)
    result["unknown_question_ids"] = len(set(predictions) - {r.question_id for r in records})
    if out_file is not None:
        Evaluation.model_validate(result).write(out_file)
    return result


def evaluate(
    model_dir: str,
    data_file: Path,
    image_root: Path,
    out_file: Path | None,
    cfg: EvaluateConfig | None = None,
) -> dict:
    """Predictions plus the chosen metric (0-100 under `accuracy`, named in `metric`), overall, per type."""
    cfg = cfg or EvaluateConfig()
    start = time.perf_counter()
    records = read_records(data_file)[: cfg.limit]
    engine = engine_for(model_dir, cfg)
    predictions, skipped = predict(model_dir, records, image_root, cfg, engine)
    result = _result(str(model_dir), data_file, records, predictions, cfg.suites, cfg.metric)
    result.update(
        skipped_images=skipped,
        seconds=round(time.perf_counter() - start, 2),
        engine=engine,
    )
    if out_file is not None:
        Evaluation.model_validate(result).write(out_file)
    return result
