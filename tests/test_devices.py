"""Device profiles are data checked against a schema."""
from __future__ import annotations

import json

import pytest

from edgeseg.devices.profiles import load_profile, parse_profile, profile_names
from edgeseg.runtime.errors import UsageError

REQUIRED = {"jetson-orin-nano", "jetson-agx-orin", "raspberry-pi-5", "coral-edgetpu", "android-cpu", "android-gpu",
            "ios-ane", "intel-cpu", "x86-cpu", "nvidia-gpu"}
VALID = {"name": "x", "description": "d", "formats": ["onnx"], "precision": "fp32", "imgsz": 320, "batch": 1,
         "engines": ["onnxruntime"]}


def test_every_required_profile_is_bundled_and_valid():
    assert REQUIRED <= set(profile_names())
    for name in profile_names():
        profile = load_profile(name)
        assert profile.name == name and profile.formats and profile.engines


@pytest.mark.parametrize("change,message", [
    ({"colour": "red"}, "unknown keys"),
    ({"imgsz": "640"}, "'imgsz' must be int"),
    ({"precision": "int4"}, "precision must be"),
    ({"imgsz": 100}, "multiple of 32"),
    ({"engines": []}, "non-empty"),
    ({"batch": True}, "'batch' must be int"),
])
def test_schema_errors_name_the_problem(change, message):
    with pytest.raises(UsageError, match=message):
        parse_profile({**VALID, **change}, "test.toml")
    with pytest.raises(UsageError, match="missing keys"):
        parse_profile({k: v for k, v in VALID.items() if k != "engines"}, "test.toml")


def test_unknown_profile_and_cli_listing(capsys):
    from edgeseg.cli import main

    with pytest.raises(UsageError, match="unknown device profile"):
        load_profile("toaster")
    assert main(["devices", "--json"]) == 0
    names = {p["name"] for p in json.loads(capsys.readouterr().out)}
    assert REQUIRED <= names
