"""``cvat-serverless new``: one generated folder per kind passes lint and its harness cases."""

from __future__ import annotations

from pathlib import Path

import pytest

from common.labels import load_function_config
from cvat_serverless.cli import main
from cvat_serverless.harness.bad_inputs import bad_inputs
from cvat_serverless.harness.discovery import load_cases
from cvat_serverless.harness.runner import run_bad_input, run_case
from cvat_serverless.harness.transports import InProcessTransport
from cvat_serverless.lint import lint_paths


@pytest.mark.parametrize("kind", ["detector", "interactor", "tracker", "reid"])
def test_generated_folder_passes_lint_and_harness(kind: str, tmp_path: Path) -> None:
    assert main(["new", f"pytorch/acme/my_{kind}", "--kind", kind, "--root", str(tmp_path)]) == 0
    folder = tmp_path / "pytorch/acme" / f"my_{kind}" / "nuclio"
    assert sorted(p.name for p in folder.iterdir()) == [
        "cases.py",
        "function-gpu.yaml",
        "function.yaml",
        "main.py",
        "model_handler.py",
    ]
    assert [str(p) for p in lint_paths([folder])] == []
    assert "FILL IN (load)" in (folder / "model_handler.py").read_text()
    client = InProcessTransport().open(folder, {})
    try:
        for case in load_cases(folder).CASES:
            run_case(client, case, "inprocess")
        for bad in bad_inputs(load_function_config(folder, environ={})):
            if bad.transports is None:
                run_bad_input(client, bad, "inprocess")
    finally:
        client.close()


def test_new_refuses_bad_targets_and_existing_folders(tmp_path: Path) -> None:
    with pytest.raises(SystemExit, match="framework"):
        main(["new", "just-one-part", "--kind", "detector", "--root", str(tmp_path)])
    main(["new", "a/b/c", "--kind", "detector", "--root", str(tmp_path)])
    with pytest.raises(SystemExit, match="already exists"):
        main(["new", "a/b/c", "--kind", "detector", "--root", str(tmp_path)])
