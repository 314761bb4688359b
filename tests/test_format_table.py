"""One table per fact: a new artifact format is one exporter module plus one row in the format table
(edgeseg.runtime.formats.FORMATS); it then appears in every registry, `edgeseg backends` and `export --help`, is
detected from its suffix, exports, loads and predicts, with no other file changed."""
from __future__ import annotations

import importlib
import sys
import textwrap

import pytest

from edgeseg.runtime.formats import FORMATS, FormatSpec, detect_format, export_formats, suffix_formats

FAKE_EXPORTER = textwrap.dedent('''
    """A made-up target: the ONNX graph under another name (what a real target module looks like)."""
    import shutil

    from edgeseg.converters.base import Exporter


    class FakeExporter(Exporter):
        format = "fakefmt"
        source = "onnx"

        def export(self, ctx):
            out = ctx.workdir / f"model{self.artifact_suffix}"
            shutil.copy(ctx.onnx_path, out)
            return out
''')


@pytest.fixture()
def fake_format(tmp_path, monkeypatch):
    (tmp_path / "fakepkg").mkdir()
    (tmp_path / "fakepkg" / "__init__.py").write_text("")
    (tmp_path / "fakepkg" / "target.py").write_text(FAKE_EXPORTER)
    monkeypatch.syspath_prepend(str(tmp_path))
    row = FormatSpec("fakefmt", ".fakeonnx", ("onnxruntime",), exporter="fakepkg.target:FakeExporter")
    monkeypatch.setitem(FORMATS, "fakefmt", row)
    yield row
    for name in ("fakepkg.target", "fakepkg"):
        sys.modules.pop(name, None)


def test_the_table_drives_detection_and_every_registry():
    from edgeseg.converters.quantize.base import int8_formats
    from edgeseg.converters.registry import get_exporter
    from edgeseg.runtime.backends.registry import formats_of

    endings = [e for e, _ in suffix_formats()]
    assert endings.index("_edgetpu.tflite") < endings.index(".tflite")  # longest first: edgetpu is not tflite
    assert detect_format.__module__ == "edgeseg.runtime.formats"
    for name in export_formats():
        assert get_exporter(name).artifact_suffix == FORMATS[name].suffix
    assert set(int8_formats()) == {"onnx", "openvino", "tflite", "edgetpu"}
    assert set(formats_of("openvino")) == {"onnx", "openvino"}


def test_a_new_format_is_one_module_and_one_row(fake_format, checkpoint, tmp_path, capsys, coco8):
    pytest.importorskip("onnx", reason="the fake target starts from ONNX (pip install 'edgeseg[export]')")
    import edgeseg.cli
    from edgeseg.converters.export import export
    from edgeseg.converters.options import ExportOptions
    from edgeseg.converters.registry import get_exporter
    from edgeseg.runtime import load

    assert get_exporter("fakefmt").__name__ == "FakeExporter" and "fakefmt" in export_formats()
    cli = importlib.reload(edgeseg.cli)  # the help text is built from the table when the CLI module loads
    assert cli.main(["export", "--help"]) == 0 and "fakefmt" in capsys.readouterr().out
    assert cli.main(["backends", "--format", "fakefmt"]) == 0
    assert "onnxruntime" in capsys.readouterr().out
    result = export(checkpoint, ExportOptions(format="fakefmt", imgsz=(320, 320), output=tmp_path / "m.fakeonnx"))
    assert detect_format(result.path) == "fakefmt" and result.report.cosine["boxes"] > 0.9999
    predictor = load(result.path)
    assert predictor.backend.engine == "onnxruntime"
    assert predictor.predict(coco8 / "images" / "val", conf=0.3)
    importlib.reload(edgeseg.cli)
