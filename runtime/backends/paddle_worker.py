"""Child process of the `paddle` engine: loads one Paddle inference model and answers run requests on stdin/stdout
(frames as in pipe_protocol: {"shape"} + NCHW float32 in, {"outputs": [{"name", "shape"}]} + arrays out).

usage: python -m edgeseg.runtime.backends.paddle_worker MODEL_DIR THREADS"""
from __future__ import annotations

import os
import sys

import numpy as np

from .pipe_protocol import read_array, read_header, write_frame


def create_predictor(folder: str, threads: int):
    os.environ.setdefault("GLOG_minloglevel", "2")
    import paddle.inference as pdi

    config = pdi.Config(os.path.join(folder, "model.json"), os.path.join(folder, "model.pdiparams"))
    config.disable_gpu()
    config.disable_glog_info()
    config.disable_onednn()  # 3.3.1's oneDNN executor cannot run x2paddle graphs (see paddle_backend)
    config.set_cpu_math_library_num_threads(threads)
    return pdi.create_predictor(config)


def serve(predictor, stdin, stdout) -> None:
    inputs, outputs = predictor.get_input_names(), predictor.get_output_names()
    while True:
        try:
            header = read_header(stdin)
        except Exception:  # noqa: BLE001 - the parent closed the pipe: done
            return
        image = read_array(stdin, header["shape"])
        try:
            handle = predictor.get_input_handle(inputs[0])
            handle.reshape(list(image.shape))
            handle.copy_from_cpu(np.ascontiguousarray(image, dtype=np.float32))
            predictor.run()
            arrays = [predictor.get_output_handle(n).copy_to_cpu().astype(np.float32) for n in outputs]
        except Exception as err:  # noqa: BLE001 - reported to the parent, which raises it
            write_frame(stdout, {"error": str(err).strip().splitlines()[-1][:300]})
            continue
        write_frame(stdout, {"outputs": [{"name": n, "shape": list(a.shape)} for n, a in zip(outputs, arrays)]}, arrays)


def main(argv: list[str]) -> int:
    stdin, stdout = sys.stdin.buffer, sys.stdout.buffer
    sys.stdout = sys.stderr  # anything Paddle prints must not corrupt the frames
    try:
        predictor = create_predictor(argv[0], int(argv[1]))
    except Exception as err:  # noqa: BLE001 - a damaged model: the parent turns this into a ModelFormatError
        write_frame(stdout, {"error": str(err).strip().splitlines()[-1][:300] if str(err).strip() else type(err).__name__})
        return 1
    write_frame(stdout, {"ready": True, "outputs": len(predictor.get_output_names())})
    serve(predictor, stdin, stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
