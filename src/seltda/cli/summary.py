"""What the commands print: accuracy per type, the end-of-run summary, the report's location."""

from __future__ import annotations

from pathlib import Path

from rich.console import Console
from rich.table import Table

from seltda.run.artifacts import Gain
from seltda.run.layout import RunLayout

console = Console()


def type_table(results: dict[str, dict]) -> Table:
    """Accuracy per question type, one column per model."""
    table = Table("question type", *results.keys())
    kinds = sorted({k for r in results.values() for k in r.get("per_question_type", {})})
    for kind in kinds:
        cells = [results[name].get("per_question_type", {}).get(kind, {}) for name in results]
        table.add_row(f"{kind} (n={cells[0].get('n', '?')})", *[f"{c.get('accuracy', 0):.2f}" for c in cells])
    table.add_row("[bold]overall", *[f"[bold]{r['accuracy']:.2f}" for r in results.values()])
    return table


def print_warnings(result: dict) -> None:
    """The scorer's warnings (e.g. a test set with fewer answers than its metric assumes)."""
    for warning in result.get("warnings", []):
        console.print(f"[yellow]warning:[/] {warning}", soft_wrap=True)


def _gain_cell(gain: dict | None) -> str:
    if not gain:
        return ""
    text = f"{gain['diff']:+.2f} [{gain['ci_low']:+.2f}, {gain['ci_high']:+.2f}]"
    return text + (
        f" (seeds {', '.join(f'{g:+.2f}' for g in gain['per_replicate'])})" if gain["replicates"] > 1 else ""
    )


def _likelihood_line(gain: dict | None) -> str:
    """Under the dev gain: the reference answers' log-likelihood gain (verdict accuracy-or-likelihood)."""
    return f"\nlikelihood {Gain.model_validate(gain).in_nats()}" if gain else ""


def _accuracy_cell(mean: float | None, per_replicate: list[float]) -> str:
    if mean is None:
        return "-"
    return f"{mean:.2f}" + (
        f" ({', '.join(f'{a:.2f}' for a in per_replicate)})" if len(per_replicate) > 1 else ""
    )


def arms_table(metrics: dict) -> Table:
    """Every arm on dev and test, its gains over the baseline, and which one is shipped."""
    table = Table("arm", "dev", "test", "dev gain [95% CI]", "test gain [95% CI]", title="arms")
    shipped = (metrics.get("shipped") or {}).get("arm")
    for name, arm in metrics["arms"].items():
        label = (
            f"[bold]{name} (shipped)"
            if name == shipped
            else name + ("" if arm["candidate"] else " (reference)")
        )
        table.add_row(
            label,
            _accuracy_cell(arm.get("dev"), arm.get("dev_per_replicate", [])),
            _accuracy_cell(arm.get("test"), arm.get("test_per_replicate", [])),
            _gain_cell(arm.get("gain_dev")) + _likelihood_line(arm.get("gain_dev_likelihood")),
            _gain_cell(arm.get("gain_test")),
        )
    return table


def print_verdict(metrics: dict) -> None:
    """The arms, what was shipped and why."""
    if metrics.get("arms"):
        console.print(arms_table(metrics))
        covers = {
            g["covers"]
            for a in metrics["arms"].values()
            for g in (a.get("gain_test"), a.get("gain_dev"))
            if g
        }
        for text in sorted(covers):
            console.print(f"intervals cover: {text}", soft_wrap=True)
    shipped = metrics.get("shipped")
    if shipped:
        console.print(f"[bold]shipped:[/] {shipped['arm']} ({shipped['model']})", soft_wrap=True)
    if metrics.get("verdict"):
        console.print(f"[bold]verdict:[/] {metrics['verdict']}", soft_wrap=True)
    refit = metrics.get("refit")
    if refit and refit.get("accuracy") is not None:
        gain = refit.get("gain")
        versus = f", gain {gain['diff']:+.2f} [{gain['ci_low']:+.2f}, {gain['ci_high']:+.2f}]" if gain else ""
        console.print(
            f"[bold]refit[/] on train + dev ({refit['records']} records), test: shipped "
            f"{refit['accuracy']:.2f}, baseline {refit['baseline_accuracy']:.2f}{versus}",
            soft_wrap=True,
        )


def print_summary(metrics: dict, out: Path) -> None:
    """The end-of-run table: baseline vs SelTDA, pseudo-labels, stage times."""
    if "baseline" in metrics:
        console.print(type_table({"baseline": metrics["baseline"], "SelTDA": metrics["seltda"]}))
        gain = metrics["gain"]
        base, student = metrics["baseline"], metrics["seltda"]
        print_warnings(base)
        exact = [arm.get("exact_match", float("nan")) for arm in (base, student)]
        console.print(
            f"accuracy by the {base.get('metric') or 'vqa'} metric; exact match: baseline {exact[0]:.2f}, "
            f"SelTDA {exact[1]:.2f}"
        )
        console.print(
            f"SelTDA - baseline: [bold]{gain['diff']:+.2f}[/] points, paired bootstrap 95% CI "
            f"[{gain['ci_low']:+.2f}, {gain['ci_high']:+.2f}] on {gain['n_common']} questions"
        )
    pseudo = metrics["pseudolabels"]
    console.print("pseudo-labels: " + " -> ".join(f"{k} {v}" for k, v in pseudo["funnel"].items()))
    truth = pseudo.get("accuracy_vs_truth")
    if truth:
        per_type = ", ".join(f"{k} {v['accuracy']:.1f}" for k, v in truth["per_question_type"].items())
        console.print(
            f"pseudo-label accuracy vs ground truth: {truth['accuracy']:.2f} "
            f"({truth['scored']} of {truth['generated']} pairs scorable; {per_type})"
        )
    print_verdict(metrics)
    times = ", ".join(f"{k} {v:.0f}s" for k, v in metrics["timings_seconds"].items())
    console.print(f"stage times: {times}")
    console.print(f"run folder: {out} ({RunLayout(out).metrics.name})")


def write_and_show_report(run_dir: Path) -> None:
    from seltda.report import write_report

    paths = write_report(run_dir)
    console.print(f"report: [bold]{paths['html']}[/] (open it in a browser) and {paths['markdown']}")
