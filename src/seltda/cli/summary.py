"""What the commands print: accuracy per type, the end-of-run summary, the report's location."""

from __future__ import annotations

from pathlib import Path

from rich.console import Console
from rich.table import Table

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
    times = ", ".join(f"{k} {v:.0f}s" for k, v in metrics["timings_seconds"].items())
    console.print(f"stage times: {times}")
    console.print(f"run folder: {out} ({RunLayout(out).metrics.name})")


def write_and_show_report(run_dir: Path) -> None:
    from seltda.report import write_report

    paths = write_report(run_dir)
    console.print(f"report: [bold]{paths['html']}[/] (open it in a browser) and {paths['markdown']}")
