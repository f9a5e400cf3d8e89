"""``cvat-serverless annotate``: folders and videos through the gateway, COCO / CVAT XML / overlays, Ctrl-C."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import cv2
import numpy as np
from gateway_support import FIXTURES, noise, write_images
from pycocotools.coco import COCO

DETECTOR = FIXTURES / "lambda_detector"


def annotate(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "cvat_serverless.cli", "annotate", *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=300, env={**os.environ, **(env or {})})


def test_folder_to_coco_xml_and_overlays(tmp_path: Path) -> None:
    write_images(tmp_path / "in", [noise(i, (40, 50)) for i in range(3)])
    coco_path, xml_path, overlays = tmp_path / "out.json", tmp_path / "out.xml", tmp_path / "overlays"
    done = annotate(
        str(tmp_path / "in"),
        "--function-dir",
        str(DETECTOR),
        "--coco",
        str(coco_path),
        "--cvat-xml",
        str(xml_path),
        "--overlays",
        str(overlays),
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert "12 annotations on 3 frames" in done.stdout  # box, mask, skeleton and a tag per frame
    coco = COCO(str(coco_path))
    assert len(coco.getImgIds()) == 3
    person = coco.getCatIds(catNms=["person"])[0]
    mask_ann = coco.loadAnns(coco.getAnnIds(catIds=[person]))[0]
    mask = coco.annToMask(mask_ann)
    assert mask.sum() == 16 and mask[2:6, 1:5].all() and mask_ann["area"] == 16
    body = coco.loadCats(coco.getCatIds(catNms=["body"]))[0]
    skeleton = coco.loadAnns(coco.getAnnIds(catIds=[body["id"]]))[0]
    assert body["keypoints"] == ["1", "2", "3"] and skeleton["num_keypoints"] == 2
    root = ET.parse(xml_path).getroot()
    assert root.findtext("version") == "1.1"
    first = root.findall("image")[0]
    box = first.find("box")
    assert box is not None and box.get("label") == "car" and box.get("xbr") == "49.00"
    assert {a.get("name"): a.text for a in box.findall("attribute")} == {"color": "red", "age": "31"}
    assert first.find("mask").get("width") == "4" and first.find("tag").get("label") == "weather"
    assert sorted(p.name for p in overlays.iterdir()) == ["img0.png", "img1.png", "img2.png"]


def test_video_frame_by_frame(tmp_path: Path) -> None:
    video = tmp_path / "clip.avi"
    writer = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"MJPG"), 5, (64, 48))
    for index in range(6):
        writer.write(noise(index))
    writer.release()
    coco_path = tmp_path / "out.json"
    done = annotate(str(video), "--function-dir", str(DETECTOR), "--frame-step", "2", "--coco", str(coco_path))
    assert done.returncode == 0, done.stderr[-2000:]
    images = json.loads(coco_path.read_text())["images"]
    assert [image["file_name"] for image in images] == ["frame_000000.png", "frame_000002.png", "frame_000004.png"]


def test_ctrl_c_keeps_what_is_done(tmp_path: Path) -> None:
    write_images(tmp_path / "in", [noise(i) for i in range(40)])
    coco_path = tmp_path / "out.json"
    command = [sys.executable, "-m", "cvat_serverless.cli", "annotate", str(tmp_path / "in")]
    command += ["--function-dir", str(DETECTOR), "--coco", str(coco_path)]
    process = subprocess.Popen(
        command, env={**os.environ, "FIXTURE_SLEEP": "0.2"}, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        deadline = time.monotonic() + 120
        buffer = ""
        while "%" not in buffer or " 1" not in buffer:  # the bar has started moving
            assert time.monotonic() < deadline and process.poll() is None
            buffer += os.read(process.stderr.fileno(), 4096).decode(errors="replace")  # type: ignore[union-attr]
        time.sleep(1.0)
        process.send_signal(signal.SIGINT)
        _, err = process.communicate(timeout=120)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 0, err[-2000:]
    annotated = {a["image_id"] for a in json.loads(coco_path.read_text())["annotations"]}
    assert 1 <= len(annotated) < 40
    assert np.all(np.diff(sorted(annotated)) == 1) and "cancelling" in err + buffer
