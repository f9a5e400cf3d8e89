"""``cvat-serverless track``: shapes followed over a folder or a video, with the scripted and the SAM2 tracker."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
from gateway_support import FIXTURES, noise, write_images

from cvat_serverless.harness.discovery import load_cases

SAM2_TRACKER = Path(__file__).parents[1] / "serverless/pytorch/facebookresearch/sam2-tracker/nuclio"


def track(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "cvat_serverless.cli", "track", *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=300, env={**os.environ, **(env or {})})


def test_polygon_to_a_track_over_a_folder(tmp_path: Path) -> None:
    write_images(tmp_path / "in", [noise(i) for i in range(5)])
    out = tmp_path / "out.json"
    done = track(
        str(tmp_path / "in"),
        "--function-dir",
        str(FIXTURES / "lambda_tracker"),
        "--shape",
        "polygon:1,1,9,1,9,9",
        "--from",
        "1",
        "--to",
        "3",
        "--polygons-to-tracks",
        "--coco",
        str(out),
    )
    assert done.returncode == 0, done.stderr[-2000:]
    coco = json.loads(out.read_text())
    by_image = {a["image_id"]: a["segmentation"][0] for a in coco["annotations"]}
    assert sorted(by_image) == [2, 3, 4]  # frames 1..3 (COCO image ids start at 1)
    assert by_image[4][:2] == [4.0, 4.0]  # the scripted tracker moves 1 px per call


def test_sam2_tracker_over_a_video(tmp_path: Path) -> None:
    cases = load_cases(SAM2_TRACKER)
    assert cases is not None
    env = cases.environment(tmp_path / "weights")
    video = tmp_path / "clip.avi"
    writer = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"MJPG"), 5, (160, 120))
    for index in range(4):
        frame = np.full((120, 160, 3), 40, np.uint8)
        frame[30:70, 40 + 3 * index : 90 + 3 * index] = 210
        writer.write(frame)
    writer.release()
    mask = np.zeros((120, 160), np.uint8)
    mask[30:70, 40:90] = 255
    cv2.imwrite(str(tmp_path / "mask.png"), mask)
    xml = tmp_path / "out.xml"
    done = track(
        str(video),
        "--function-dir",
        str(SAM2_TRACKER),
        "--shape",
        f"mask:{tmp_path / 'mask.png'}",
        "--cvat-xml",
        str(xml),
        *[f"--env={key}={value}" for key, value in env.items()],
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert "annotations on 4 frames" in done.stdout
    assert xml.read_text().count("<mask ") >= 1
