"""The runtime under load: one model serving 8 threads x 50 images and a video stream at once gives exactly the
serial results and leaks no threads or file handles; memory stays flat over 1,000 calls and over a generated
2,000-frame video through `predict --stream`, where every frame is accounted for."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from pathlib import Path

import cv2
import numpy as np
import pytest

import edgeseg.runtime as rt
from edgeseg.runtime.datasets.synthetic import make_image

from conftest import LOW_CONF, MAX_DET

pytestmark = pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="RSS and fd counts read /proc (Linux)")


def rss_mb(pid: int | str = "self") -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


@pytest.fixture(scope="module")
def photos() -> list[np.ndarray]:
    rng = np.random.default_rng(11)
    return [make_image(rng, int(rng.integers(200, 480)), int(rng.integers(200, 640)))[0] for _ in range(10)]


def write_video(path: Path, frames: int, size=(160, 120), seed: int = 0) -> Path:
    rng = np.random.default_rng(seed)
    base = [cv2.resize(make_image(rng, 240, 320)[0], size) for _ in range(4)]
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 25.0, size)
    for i in range(frames):
        writer.write(np.roll(base[(i // 50) % 4], i % 50, axis=1))
    writer.release()
    return path


def same(a, b) -> None:
    np.testing.assert_array_equal(a.boxes, b.boxes)
    np.testing.assert_array_equal(a.class_ids, b.class_ids)
    np.testing.assert_array_equal(a.masks, b.masks)


@pytest.mark.slow
def test_eight_threads_and_a_video_at_once_equal_serial(artifacts, photos, tmp_path):
    predictor = rt.load(artifacts("onnx").path)
    video = write_video(tmp_path / "clip.mp4", 60)
    kw = dict(conf=LOW_CONF, max_det=MAX_DET)
    serial = [predictor.predict(p, **kw)[0] for p in photos]
    serial_video = list(predictor.stream(str(video), **kw))
    assert sum(len(r) for r in serial) > 0 and len(serial_video) == 60
    threads_before, fds_before = threading.active_count(), open_fds()
    out: dict[str, list] = {}
    errors: list[BaseException] = []

    def images(k: int) -> None:
        try:
            out[f"t{k}"] = [predictor.predict(photos[(k + i) % 10], **kw)[0] for i in range(50)]
        except BaseException as err:  # noqa: BLE001 - reported by the main thread
            errors.append(err)

    def stream() -> None:
        out["video"] = list(predictor.stream(str(video), **kw))

    workers = [threading.Thread(target=images, args=(k,)) for k in range(8)] + [threading.Thread(target=stream)]
    for t in workers:
        t.start()
    for t in workers:
        t.join(timeout=600)
    assert not errors and len(out) == 9
    for k in range(8):
        for i, result in enumerate(out[f"t{k}"]):
            same(serial[(k + i) % 10], result)
    assert [r.frame_index for r in out["video"]] == list(range(60))
    for a, b in zip(serial_video, out["video"]):
        same(a, b)
    assert threading.active_count() == threads_before  # no leaked threads
    assert open_fds() == fds_before  # no leaked file handles (the video is closed)


@pytest.mark.slow
def test_memory_is_flat_over_1000_calls(artifacts, photos):
    predictor = rt.load(artifacts("onnx").path)
    rss = {}
    for call in range(1, 1001):
        predictor.predict(photos[call % 10], conf=LOW_CONF, max_det=MAX_DET)
        if call in (10, 1000):
            rss[call] = rss_mb()
    print(f"RSS at call 10: {rss[10]:.1f} MB, at call 1000: {rss[1000]:.1f} MB")
    assert rss[1000] - rss[10] < 25, rss


@pytest.mark.slow
@pytest.mark.timeout(1200)
def test_long_video_through_predict_stream(artifacts, tmp_path):
    """2,000 generated frames: one JSON line per frame, in order, and the process's RSS stays flat."""
    video = write_video(tmp_path / "long.mp4", 2000)
    cmd = [sys.executable, "-m", "edgeseg", "predict", "--model", str(artifacts("onnx").path), "--source", str(video),
           "--stream", "--no-save", "--conf", "0.3", "--project", str(tmp_path / "runs")]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    frames, rss = [], {}
    for line in proc.stdout:
        record = json.loads(line)
        frames.append(record["frame"])
        assert record["source"] == str(video) and record["instances"] == len(record["detections"])
        if len(frames) in (100, 2000):
            rss[len(frames)] = rss_mb(proc.pid)
    err = proc.stderr.read()
    assert proc.wait() == 0, err[-2000:]
    assert frames == list(range(2000))
    assert "2000 images" in err
    print(f"predict --stream RSS at frame 100: {rss[100]:.1f} MB, at frame 2000: {rss[2000]:.1f} MB")
    assert rss[2000] - rss[100] < 25, rss
    json_path = tmp_path / "runs" / "exp" / "predictions.json"
    entries = json.loads(json_path.read_text())  # written incrementally, complete at the end
    assert len({e["image_id"] for e in entries}) > 1 and all(e["image_id"].startswith("long_") for e in entries)
