"""The command line's entry point and its generated options."""

from __future__ import annotations

import importlib

import pytest
from typer.testing import CliRunner

from seltda.cli.app import app
from seltda.stages.pseudolabel.config import PseudoLabelConfig
from seltda.stages.teacher_config import TeacherConfig

app_module = importlib.import_module("seltda.cli.app")


def test_interrupt_says_how_to_resume(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture) -> None:
    def interrupted() -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(app_module, "app", interrupted)
    with pytest.raises(SystemExit) as exit_info:
        app_module.main()
    assert exit_info.value.code == 130
    assert "rerun the same command to resume" in capsys.readouterr().err


def test_stage_options_come_from_the_config_fields() -> None:
    help_text = CliRunner().invoke(app, ["teacher", "--help"], env={"COLUMNS": "200"}).output
    for name, field in TeacherConfig.model_fields.items():
        if name in {"lora_targets", "max_steps"}:
            continue
        assert f"--{name.replace('_', '-')}" in help_text, name
        assert field.description, f"TeacherConfig.{name} has no help"
    assert "--steps" in help_text and "[default: 600]" in help_text


def test_a_refused_setting_names_the_field() -> None:
    result = CliRunner().invoke(
        app, ["pseudolabel", "--teacher", "t", "--images", "i", "--out", "o", "--top-p", "1.5"]
    )
    assert result.exit_code == 2
    assert "top_p" in result.output


def test_every_pseudolabel_field_is_an_option() -> None:
    help_text = CliRunner().invoke(app, ["pseudolabel", "--help"], env={"COLUMNS": "200"}).output
    for name in PseudoLabelConfig.model_fields:
        flag = "--workers" if name == "dataloader_workers" else f"--{name.replace('_', '-')}"
        assert flag in help_text, name


@pytest.mark.parametrize(
    ("flags", "frozen", "lora"), [([], True, False), (["--no-freeze-vision-tower", "--lora"], False, True)]
)
def test_switches_turn_either_way(monkeypatch: pytest.MonkeyPatch, tmp_path, flags, frozen, lora) -> None:
    import seltda.stages.teacher as teacher_stage

    seen = {}

    def fake_train(train, images, out, cfg):
        seen["cfg"] = cfg
        return {"steps": 0, "train_loss": 0.0}

    monkeypatch.setattr(teacher_stage, "train_teacher", fake_train)
    args = [
        "teacher",
        "--train",
        str(tmp_path / "t.jsonl"),
        "--images",
        str(tmp_path),
        "--out",
        str(tmp_path / "o"),
    ]
    result = CliRunner().invoke(app, args + flags)
    assert result.exit_code == 0, result.output
    assert (seen["cfg"].freeze_vision_tower, seen["cfg"].lora) == (frozen, lora)


def test_the_verdict_printout_gives_the_refit_figures(capsys: pytest.CaptureFixture) -> None:
    from seltda.cli.summary import print_verdict

    gain = {"diff": 1.5, "ci_low": 0.2, "ci_high": 2.8}
    print_verdict(
        {
            "shipped": {"arm": "seltda", "model": "run/refit/seltda"},
            "verdict": "shipping seltda: ...; then refit on train + dev (738 records)",
            "refit": {"records": 738, "accuracy": 81.5, "baseline_accuracy": 80.0, "gain": gain},
        }
    )
    out = capsys.readouterr().out
    assert "shipped: seltda (run/refit/seltda)" in out
    assert (
        "refit on train + dev (738 records), test: shipped 81.50, baseline 80.00, gain +1.50 [+0.20, +2.80]"
        in out
    )


def test_the_verdict_rule_is_an_option_of_run_demo_and_curve(tmp_path) -> None:
    for command in ("run", "demo", "curve"):
        help_text = CliRunner().invoke(app, [command, "--help"], env={"COLUMNS": "200"}).output
        assert "--verdict" in help_text and "accuracy-or-likelihood" in help_text, command
        assert "--prefer" in help_text and "dev-gain" in help_text, command
    config = tmp_path / "run.yaml"
    config.write_text(
        f"out: {tmp_path / 'out'}\ntrain: {tmp_path / 't.jsonl'}\nimages: {tmp_path}\ntest: null\n"
    )
    result = CliRunner().invoke(app, ["run", str(config), "--verdict", "likelihood"])
    assert result.exit_code == 2
    assert "field 'verdict': Input should be 'accuracy' or 'accuracy-or-likelihood'" in result.output
    assert not (tmp_path / "out").exists()  # refused before anything is written
    result = CliRunner().invoke(app, ["run", str(config), "--prefer", "largest"])
    assert result.exit_code == 2 and "field 'prefer': Input should be 'listed' or 'dev-gain'" in result.output
    for command in ("run", "demo", "curve"):  # cross-fitted dev too
        help_text = CliRunner().invoke(app, [command, "--help"], env={"COLUMNS": "200"}).output
        assert "--dev-folds" in help_text, command
    result = CliRunner().invoke(app, ["run", str(config), "--dev-folds", "1"])
    assert result.exit_code == 2 and "dev_folds: 1 is no cross-fitting" in result.output


def test_curve_with_a_config_refuses_the_demos_options_instead_of_dropping_them(tmp_path) -> None:
    config = tmp_path / "run.yaml"
    config.write_text(
        f"out: {tmp_path / 'out'}\ntrain: {tmp_path / 't.jsonl'}\nimages: {tmp_path}\ntest: null\n"
    )
    result = CliRunner().invoke(
        app, ["curve", str(config), "--prefer", "dev-gain", "--fractions", "0.5"], env={"COLUMNS": "200"}
    )
    assert result.exit_code == 2
    assert "--prefer" in result.output and "set them in" in result.output
    assert not (tmp_path / "out").exists()  # refused before anything is written
