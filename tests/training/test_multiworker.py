"""Two worker processes on 127.0.0.1 train like one process on the global batch."""

import json
import os
import socket
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from conftest import NARROW_ENCODER
from test_loop import assert_same_update

REPO = Path(__file__).resolve().parents[2]

WORKER = textwrap.dedent("""
    import json, sys
    import numpy as np, tensorflow as tf
    strategy = (tf.distribute.MultiWorkerMirroredStrategy() if sys.argv[3] == "multi"
                else tf.distribute.get_strategy())
    from pclr_keras.training import PretrainConfig, Pretrainer
    from pclr_keras.training.tensors import TensorizedECGs
    config = PretrainConfig(batch_size=8, steps=1, checkpoint_every=1, optimizer="sgd",
                            learning_rate=0.1, warmup_fraction=0.0, encoder=json.loads(sys.argv[4]))
    trainer = Pretrainer(config, TensorizedECGs(sys.argv[1]), sys.argv[2], strategy=strategy)
    initial = trainer.model.get_weights()
    result = trainer.fit(progress=False)
    if trainer.is_chief:
        np.savez(sys.argv[2] + "/weights.npz", *trainer.model.get_weights())
        np.savez(sys.argv[2] + "/initial.npz", *initial)
        print(json.dumps(result["train"]))
""")


def free_ports(count):
    sockets = [socket.socket() for _ in range(count)]
    for s in sockets:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


def run(args, env=None):
    return subprocess.Popen([sys.executable, "-c", WORKER, *args], cwd=REPO, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


@pytest.mark.slow
def test_two_workers_match_one_process(synthetic_tensors, tmp_path):
    encoder = json.dumps(NARROW_ENCODER)
    single = run([str(synthetic_tensors), str(tmp_path / "single"), "single", encoder])
    cluster = [f"127.0.0.1:{port}" for port in free_ports(2)]
    workers = []
    for index in range(2):
        tf_config = {"cluster": {"worker": cluster}, "task": {"type": "worker", "index": index}}
        env = dict(os.environ, TF_CONFIG=json.dumps(tf_config))
        workers.append(run([str(synthetic_tensors), str(tmp_path / "multi"), "multi", encoder],
                           env=env))
    outputs = [p.communicate(timeout=400) for p in [single, *workers]]
    for process, (_, stderr) in zip([single, *workers], outputs):
        assert process.returncode == 0, stderr[-3000:]
    single_result = json.loads(outputs[0][0].splitlines()[-1])
    multi_result = json.loads(outputs[1][0].splitlines()[-1])
    assert multi_result["loss"] == pytest.approx(single_result["loss"], rel=1e-5)
    assert multi_result["pair_accuracy"] == pytest.approx(single_result["pair_accuracy"])
    runs = [[list(np.load(tmp_path / run / f"{name}.npz").values())
             for name in ("initial", "weights")] for run in ("single", "multi")]
    assert_same_update(*runs[0], *runs[1])
    assert (tmp_path / "multi" / "PCLR.h5").exists()
