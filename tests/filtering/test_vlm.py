"""Both VLM backends on a tiny random LLaVA built, saved and reloaded here; the HTTP server is loopback."""

from __future__ import annotations

import base64
import json
import math
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

import numpy as np
import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

from dynpose100k.models.vlm import (  # noqa: E402
    QUESTIONS,
    RANDOM_WORDS,
    OpenAIVLM,
    TransformersVLM,
    VLMError,
    ask_all,
    random_llava,
)


def build_tiny_llava(path, tie_yes_no: bool = False):
    """The tiny random LLaVA, saved to ``path`` so that the backend loads it as a user's model folder."""
    model, proc = random_llava("tiny")
    if tie_yes_no:  # identical output rows for Yes/No (and yes/no): P(yes) must be exactly 0.5
        w = model.lm_head.weight.data
        w[RANDOM_WORDS.index("No")] = w[RANDOM_WORDS.index("Yes")]
        w[RANDOM_WORDS.index("no")] = w[RANDOM_WORDS.index("yes")]
    model.save_pretrained(path)
    proc.save_pretrained(path)
    return path


@pytest.fixture(scope="module")
def tiny_vlm(tmp_path_factory):
    return TransformersVLM(build_tiny_llava(tmp_path_factory.mktemp("tiny_llava")))


def frames(seed=0, n=3):
    return list(np.random.default_rng(seed).integers(0, 255, (n, 40, 64, 3), dtype=np.uint8))


def test_transformers_backend_answers_every_question(tiny_vlm):
    a = ask_all(tiny_vlm, np.stack(frames(0, 8)))
    assert set(a) == set(QUESTIONS)
    assert all(0.0 < p < 1.0 for p in a.values())
    assert len({round(p, 6) for p in a.values()}) > 1  # questions change the answer
    b = tiny_vlm.ask(frames(1), {"q": QUESTIONS["cartoon"]})["q"]
    assert b != pytest.approx(tiny_vlm.ask(frames(0), {"q": QUESTIONS["cartoon"]})["q"], abs=1e-7)  # images too


def test_transformers_backend_yes_no_from_logits(tmp_path):
    vlm = TransformersVLM(build_tiny_llava(tmp_path / "tied", tie_yes_no=True))
    assert vlm.yes_ids == [5, 7] and vlm.no_ids == [6, 8]
    assert all(p == pytest.approx(0.5, abs=1e-6) for p in vlm.ask(frames(), QUESTIONS).values())


def test_transformers_backend_missing_folder(tmp_path):
    with pytest.raises(VLMError, match="not found"):
        TransformersVLM(tmp_path / "nope")


class _Server:
    """An OpenAI-style /v1/chat/completions endpoint on 127.0.0.1 that runs the tiny model."""

    def __init__(self, vlm: TransformersVLM, logprobs: bool):
        self.vlm, self.logprobs, self.requests, self.answers = vlm, logprobs, [], []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def do_POST(self):
                import cv2

                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                outer.requests.append((self.path, body))
                content = body["messages"][0]["content"]
                imgs = [cv2.imdecode(np.frombuffer(base64.b64decode(c["image_url"]["url"].split(",", 1)[1]), np.uint8),
                                     cv2.IMREAD_COLOR)[..., ::-1] for c in content if c["type"] == "image_url"]
                text = next(c["text"] for c in content if c["type"] == "text")
                p = outer.vlm.yes_probability(imgs, text.replace(" Answer yes or no.", ""))
                outer.answers.append(p)
                choice = {"index": 0, "message": {"role": "assistant", "content": "Yes" if p >= 0.5 else "No"}}
                if outer.logprobs:
                    tops = [{"token": "Yes", "logprob": math.log(p)}, {"token": "No", "logprob": math.log(1 - p)}]
                    choice["logprobs"] = {"content": [{"token": "Yes", "logprob": math.log(p), "top_logprobs": tops}]}
                data = json.dumps({"choices": [choice]}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.httpd = HTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.mark.parametrize("logprobs", [True, False])
def test_openai_backend_against_loopback_server(tiny_vlm, logprobs):
    server = _Server(tiny_vlm, logprobs)
    try:
        client = OpenAIVLM(server.url, model="tiny-llava", api_key="")
        qs = {k: QUESTIONS[k] for k in ("cartoon", "static_scene", "children")}
        got = client.ask(frames(2), qs)
    finally:
        server.close()
    assert list(got) == list(qs)
    path, body = server.requests[0]
    assert path == "/v1/chat/completions" and body["model"] == "tiny-llava"
    assert sum(c["type"] == "image_url" for c in body["messages"][0]["content"]) == 3
    for p_client, p_server in zip(got.values(), server.answers):
        expected = p_server if logprobs else float(p_server >= 0.5)
        assert p_client == pytest.approx(expected, abs=1e-9)


def test_openai_backend_unreachable():
    import socket

    with socket.socket() as s:  # a port that was free a moment ago: nothing listens there
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(VLMError, match="request failed"):
        OpenAIVLM(f"http://127.0.0.1:{port}", timeout=2).ask(frames(), {"q": "Is it?"})


def test_random_llava_7b_has_the_real_models_shape():
    model, proc = random_llava("7b", device="meta")  # shapes only, no memory
    n = sum(p.numel() for p in model.parameters())
    assert 6.9e9 < n < 7.2e9  # LLaVA-1.5-7B: 7.06B parameters
    assert proc.image_processor.crop_size == {"height": 336, "width": 336} and model.config.image_seq_length == 576


def test_backend_wraps_a_model_in_memory():
    vlm = TransformersVLM.from_model(*random_llava("tiny"))
    a = vlm.ask(frames(), QUESTIONS)
    assert set(a) == set(QUESTIONS) and all(0.0 < p < 1.0 for p in a.values())
    with pytest.raises(ValueError, match="unknown preset"):
        random_llava("70b")


def test_filter_keeps_the_clips_judged_before_the_vlm_failed(tmp_path, monkeypatch, capsys):
    import pandas as pd

    from dynpose100k.cli import main
    from dynpose100k.models import vlm as vlm_module
    from dynpose100k.video import write_video

    class Flaky:  # answers for the first clip, then its server goes away
        def __init__(self, url, model):
            self.calls = 0

        def ask(self, frames, questions):
            self.calls += 1
            if self.calls > 1:
                raise VLMError(f"http://127.0.0.1:9: request failed (call {self.calls})")
            return dict.fromkeys(questions, 0.25)

    monkeypatch.setattr(vlm_module, "OpenAIVLM", Flaky)
    rng = np.random.default_rng(0)
    for name in ("a", "b", "c"):
        write_video(tmp_path / "clips" / f"{name}.mp4", rng.integers(0, 255, (24, 64, 96, 3), np.uint8), 12.0)
    out = tmp_path / "s.csv"
    assert main(["filter", str(tmp_path / "clips"), "--out", str(out), "--vlm-url", "http://127.0.0.1:9"]) == 1
    err = [line for line in capsys.readouterr().err.splitlines() if "error" in line]  # (not the progress bar)
    assert len(err) == 1 and "request failed (call 2); stopped after 1 of 3 clips" in err[0], err
    table = pd.read_csv(out)
    assert list(table["video_id"]) == ["a"] and table["sig_vlm_cartoon"].tolist() == [0.25]
