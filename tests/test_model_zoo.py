"""The model zoo matches the published YOLOv8-seg sizes: parameters within 1%, GFLOPs at 640 within 6%."""
from __future__ import annotations

import json

import pytest

torch = pytest.importorskip("torch")

from edgeseg.cli import main  # noqa: E402
from edgeseg.trainer.config import config_from_file, config_from_name  # noqa: E402
from edgeseg.trainer.info import model_info  # noqa: E402
from edgeseg.trainer.model import build_model  # noqa: E402

# scale -> (params in millions, GFLOPs at 640): the reference's published table
REFERENCE = {"n": (3.4, 12.6), "s": (11.8, 42.6), "m": (27.3, 110.2), "l": (46.0, 220.5), "x": (71.8, 344.1)}


@pytest.mark.parametrize("scale", list(REFERENCE))
def test_params_and_flops_match_reference(scale, capsys):
    assert main(["info", "--model", f"yolov8{scale}-seg", "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    params_m, gflops = REFERENCE[scale]
    assert abs(info["params"] / 1e6 - params_m) / params_m <= 0.01, info["params"]
    assert abs(info["gflops"] - gflops) / gflops <= 0.06, info["gflops"]


def test_exact_yolov8n_seg_parameter_count():
    # 3,409,968 is what the reference reports for yolov8n-seg.yaml with 80 classes
    assert sum(p.numel() for p in build_model(config_from_name("yolov8n-seg")).parameters()) == 3_409_968


def test_custom_description_file_and_class_count(tmp_path):
    desc = tmp_path / "tiny.toml"
    desc.write_text('depth = 0.33\nwidth = 0.125\nmax_channels = 512\nnc = 3\n')
    cfg = config_from_file(desc)
    info = model_info(build_model(cfg), 320)
    assert info["config"]["nc"] == 3 and info["params"] < 1_000_000
    yml = tmp_path / "s3.yaml"
    yml.write_text("scale: s\nnc: 3\n")
    assert config_from_file(yml).width == 0.5


@pytest.mark.parametrize("imgsz", [320, 480])
def test_output_shapes(imgsz):
    model = build_model(config_from_name("yolov8n-seg")).eval()
    with torch.no_grad():
        out = model(torch.zeros(2, 3, imgsz, imgsz))
    n = sum((imgsz // s) ** 2 for s in (8, 16, 32))
    assert out["boxes"].shape == (2, n, 4) and out["scores"].shape == (2, n, 80)
    assert out["mask_coeffs"].shape == (2, n, 32) and out["protos"].shape == (2, 32, imgsz // 4, imgsz // 4)


def test_fused_model_matches_unfused():
    model = build_model(config_from_name("yolov8n-seg")).eval()
    x = torch.rand(1, 3, 256, 320)
    with torch.no_grad():
        ref = model(x)
        fused = type(model)(model.cfg)
        fused.load_state_dict(model.state_dict())
        got = fused.eval().fuse()(x)
    for key in ref:
        assert torch.allclose(ref[key], got[key], atol=1e-3, rtol=1e-3), key


def test_bad_model_names_and_files(tmp_path, capsys):
    assert main(["info", "--model", "yolov9q-seg"]) == 2
    assert "unknown model name" in capsys.readouterr().err
    bad = tmp_path / "bad.yaml"
    bad.write_text("scale: z\n")
    assert main(["info", "--model", str(bad)]) == 2
    assert "unknown scale" in capsys.readouterr().err
