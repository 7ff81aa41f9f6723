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

from dynpose100k.models.vlm import QUESTIONS, OpenAIVLM, TransformersVLM, VLMError, ask_all  # noqa: E402

WORDS = ["<unk>", "<pad>", "<s>", "</s>", "<image>", "Yes", "No", "yes", "no", "USER:", "ASSISTANT:", "Is", "the",
         "a", "video", "or", "Answer", "?", "."]


def build_tiny_llava(path, tie_yes_no: bool = False):
    """A 1-layer LLaVA (CLIP vision tower + Llama text model, hidden 32) with a word-level tokenizer."""
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import (
        CLIPImageProcessor,
        CLIPVisionConfig,
        LlamaConfig,
        LlavaConfig,
        LlavaForConditionalGeneration,
        LlavaProcessor,
        PreTrainedTokenizerFast,
    )

    tok = Tokenizer(models.WordLevel({w: i for i, w in enumerate(WORDS)}, unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    ptok = PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="<unk>", pad_token="<pad>", bos_token="<s>",
                                   eos_token="</s>", extra_special_tokens={"image_token": "<image>"})
    proc = LlavaProcessor(image_processor=CLIPImageProcessor(size={"shortest_edge": 32},
                                                             crop_size={"height": 32, "width": 32}),
                          tokenizer=ptok, patch_size=16, vision_feature_select_strategy="default",
                          image_token="<image>", num_additional_image_tokens=1)
    cfg = LlavaConfig(
        vision_config=CLIPVisionConfig(hidden_size=32, intermediate_size=64, num_hidden_layers=1,
                                       num_attention_heads=2, image_size=32, patch_size=16, projection_dim=32),
        text_config=LlamaConfig(vocab_size=len(WORDS), hidden_size=32, intermediate_size=64, num_hidden_layers=1,
                                num_attention_heads=2, num_key_value_heads=2, max_position_embeddings=512,
                                pad_token_id=1, bos_token_id=2, eos_token_id=3),
        image_token_index=WORDS.index("<image>"), image_seq_length=4, vision_feature_layer=-1)
    torch.manual_seed(0)
    model = LlavaForConditionalGeneration(cfg)
    if tie_yes_no:  # identical output rows for Yes/No (and yes/no): P(yes) must be exactly 0.5
        w = model.lm_head.weight.data
        w[WORDS.index("No")] = w[WORDS.index("Yes")]
        w[WORDS.index("no")] = w[WORDS.index("yes")]
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
