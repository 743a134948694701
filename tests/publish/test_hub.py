import pytest

from seltda.core.fileio import SeltdaInputError
from seltda.publish import hub


class FakeApi:
    calls: list = []

    def __init__(self, token=None):
        self.token = token

    def create_repo(self, repo_id, **kwargs):
        FakeApi.calls.append(("create", repo_id, kwargs["repo_type"]))

    def upload_folder(self, **kwargs):
        FakeApi.calls.append(
            ("upload", kwargs["repo_id"], kwargs["folder_path"], tuple(kwargs["ignore_patterns"]))
        )


def test_push_uploads_models_and_dataset_up_to_the_hub_call(tmp_path, monkeypatch):
    monkeypatch.setattr(hub, "HfApi", FakeApi)
    for folder in ["student", "teacher", "pseudolabels/dataset"]:
        (tmp_path / "run" / folder).mkdir(parents=True)
    pushed = hub.push(tmp_path / "run", "me")
    assert pushed == {
        "student": "me/run-student",
        "teacher": "me/run-teacher",
        "pseudolabels": "me/run-pseudolabels",
    }
    assert ("create", "me/run-pseudolabels", "dataset") in FakeApi.calls
    assert all("checkpoints/*" in call[3] for call in FakeApi.calls if call[0] == "upload")


def test_push_without_outputs_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.setattr(hub, "HfApi", FakeApi)
    with pytest.raises(SeltdaInputError, match="nothing|no trained"):
        hub.push(tmp_path, "me")
