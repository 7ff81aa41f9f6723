"""Vision-language model (VLM) answers to the filter's yes/no questions, as probabilities of "yes".

One interface, :class:`VLMBackend` (``ask(frames, questions) -> {key: P(yes)}``), two implementations:

- :class:`TransformersVLM`: a local ``transformers`` image-text-to-text model (LLaVA, Qwen2-VL, Idefics,
  ... loaded with ``AutoProcessor`` + ``AutoModelForImageTextToText`` from a LOCAL folder, never
  downloaded); P(yes) comes from the next-token logits of the "Yes" vs "No" tokens.
- :class:`OpenAIVLM`: any OpenAI-compatible ``/v1/chat/completions`` endpoint (vLLM, SGLang, llama.cpp
  server, ...), the way a served model is used at scale; images travel as base64 JPEG data URLs;
  P(yes) comes from the returned top log-probabilities when the server gives them, else from the answer text.
"""

from __future__ import annotations

import base64
import json
import logging
import os
import urllib.error
import urllib.request
from pathlib import Path
from typing import Mapping, Protocol, Sequence

import numpy as np

from ..errors import DynPoseError
from . import require

log = logging.getLogger(__name__)

#: The filter's questions (the paper's VLM checks); a "yes" is evidence against the clip.
QUESTIONS: dict[str, str] = {
    "ambiguous_reference": "Is this filmed from inside a moving vehicle or another moving frame of reference, "
                           "so that it is unclear which parts of the scene are static?",
    "blurry_background": "Is the background blurry or out of focus?",
    "distortion": "Does the video show fisheye or other strong lens distortion?",
    "static_scene": "Is the scene static, with the camera and everything in view standing still?",
    "cartoon": "Is this a cartoon, animation, video game or screen recording rather than real-world footage?",
    "post_processing": "Is the video edited with overlaid text, logos, split screens, transitions or other "
                       "post-processing effects?",
    "children": "Does the video show children?",
}
SUFFIX = " Answer yes or no."
YES, NO = ("Yes", "yes", "YES"), ("No", "no", "NO")


class VLMError(DynPoseError):
    """A VLM that cannot be loaded or reached, or whose answer cannot be read."""


class VLMBackend(Protocol):
    """Anything that answers yes/no questions about a few frames."""

    def ask(self, frames: Sequence[np.ndarray], questions: Mapping[str, str]) -> dict[str, float]:
        """P(yes) in [0, 1] per question key, for RGB uint8 frames (H, W, 3) of one clip."""
        ...


def sample_frames(frames, num: int = 4) -> list[np.ndarray]:
    """``num`` evenly spaced frames of a stack (N, H, W, 3)."""
    idx = np.unique(np.linspace(0, len(frames) - 1, min(num, len(frames))).round().astype(int))
    return [np.ascontiguousarray(frames[i]) for i in idx]


def ask_all(vlm: VLMBackend, frames, num_frames: int = 4) -> dict[str, float]:
    """The filter's :data:`QUESTIONS` on ``num_frames`` frames of a clip."""
    return vlm.ask(sample_frames(frames, num_frames), QUESTIONS)


def yes_probability(yes_logprobs: Sequence[float], no_logprobs: Sequence[float]) -> float:
    """P(yes | yes or no) from the log-probabilities of the yes-like and no-like tokens."""
    y = np.logaddexp.reduce(np.asarray(yes_logprobs, float)) if len(yes_logprobs) else -np.inf
    n = np.logaddexp.reduce(np.asarray(no_logprobs, float)) if len(no_logprobs) else -np.inf
    if not (np.isfinite(y) or np.isfinite(n)):
        return 0.5
    return float(1.0 / (1.0 + np.exp(np.clip(n - y, -700, 700))))


class TransformersVLM:
    """A local image-text-to-text model; see the module docstring."""

    def __init__(self, path, device: str = "cpu", dtype: str | None = None, max_side: int = 448):
        """``path``: local folder with the model and its processor; ``max_side``: frames are shrunk to it."""
        transformers = require("transformers", "models")
        self.torch = require("torch", "models")
        path = Path(path)
        if not path.is_dir():
            raise VLMError(f"{path}: VLM folder not found")
        try:
            self.processor = transformers.AutoProcessor.from_pretrained(path, local_files_only=True)
            self.model = transformers.AutoModelForImageTextToText.from_pretrained(
                path, local_files_only=True, dtype=dtype or "auto").to(device).eval()
        except (OSError, ValueError, KeyError) as e:
            raise VLMError(f"{path}: cannot load VLM ({str(e).splitlines()[0]})") from None
        self.device, self.max_side = device, max_side
        tok = self.processor.tokenizer
        self.yes_ids, self.no_ids = (self._first_ids(tok, w) for w in (YES, NO))
        if not self.yes_ids or not self.no_ids:
            raise VLMError(f"{path}: tokenizer has no single token for yes/no")

    @staticmethod
    def _first_ids(tok, words) -> list[int]:
        ids = set()
        for w in words:
            for text in (w, " " + w):
                enc = tok.encode(text, add_special_tokens=False)
                if enc and enc[0] != tok.unk_token_id:
                    ids.add(int(enc[0]))
        return sorted(ids)

    def prompt(self, num_images: int, question: str) -> str:
        """The chat prompt (the processor's chat template when it has one) ending where the answer starts."""
        if getattr(self.processor, "chat_template", None):
            content = [{"type": "image"}] * num_images + [{"type": "text", "text": question + SUFFIX}]
            return self.processor.apply_chat_template([{"role": "user", "content": content}],
                                                      add_generation_prompt=True)
        image_token = getattr(self.processor, "image_token", "<image>")
        return f"USER: {' '.join([image_token] * num_images)}\n{question}{SUFFIX} ASSISTANT:"

    def _images(self, frames):
        from PIL import Image

        out = []
        for f in frames:
            im = Image.fromarray(np.asarray(f, np.uint8))
            im.thumbnail((self.max_side, self.max_side))
            out.append(im)
        return out

    def yes_probability(self, frames: Sequence[np.ndarray], question: str) -> float:
        """P(yes) for one question about frames."""
        images = self._images(frames)
        inputs = self.processor(images=images, text=self.prompt(len(images), question), return_tensors="pt")
        inputs = {k: v.to(self.device) for k, v in inputs.items()}
        with self.torch.no_grad():
            logits = self.model(**inputs).logits[0, -1].float()
        logp = self.torch.log_softmax(logits, dim=-1).cpu().numpy()
        return yes_probability(logp[self.yes_ids], logp[self.no_ids])

    def ask(self, frames: Sequence[np.ndarray], questions: Mapping[str, str]) -> dict[str, float]:
        return {k: self.yes_probability(frames, q) for k, q in questions.items()}


def jpeg_data_url(frame: np.ndarray, quality: int = 85) -> str:
    """An RGB uint8 frame (H, W, 3) as a ``data:image/jpeg;base64,...`` URL."""
    import cv2

    ok, buf = cv2.imencode(".jpg", np.asarray(frame, np.uint8)[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise VLMError("cannot JPEG-encode a frame")
    return "data:image/jpeg;base64," + base64.b64encode(buf.tobytes()).decode("ascii")


class OpenAIVLM:
    """Client for an OpenAI-compatible chat-completions endpoint; see the module docstring."""

    def __init__(self, url: str, model: str = "default", api_key: str | None = None, timeout: float = 60.0,
                 top_logprobs: int = 10):
        """``url``: server root (``http://host:port`` or ``.../v1``); ``api_key`` defaults to $OPENAI_API_KEY."""
        base = url.rstrip("/")
        self.endpoint = (base if base.endswith("/v1") else base + "/v1") + "/chat/completions"
        self.model, self.timeout, self.top_logprobs = model, timeout, top_logprobs
        self.api_key = api_key if api_key is not None else os.environ.get("OPENAI_API_KEY")

    def _post(self, body: dict) -> dict:
        headers = {"Content-Type": "application/json"}
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        req = urllib.request.Request(self.endpoint, json.dumps(body).encode(), headers, method="POST")
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as r:
                return json.loads(r.read())
        except (urllib.error.URLError, OSError, ValueError) as e:
            raise VLMError(f"{self.endpoint}: request failed ({e})") from None

    def yes_probability(self, frames: Sequence[np.ndarray], question: str) -> float:
        """P(yes) for one question: top log-probabilities of the first answer token, else the answer text."""
        content = [{"type": "image_url", "image_url": {"url": jpeg_data_url(f)}} for f in frames]
        content.append({"type": "text", "text": question + SUFFIX})
        body = {"model": self.model, "messages": [{"role": "user", "content": content}], "max_tokens": 1,
                "temperature": 0.0, "logprobs": True, "top_logprobs": self.top_logprobs}
        try:
            choice = self._post(body)["choices"][0]
            answer = (choice["message"].get("content") or "").strip()
            tops = ((choice.get("logprobs") or {}).get("content") or [{}])[0].get("top_logprobs") or []
        except (KeyError, IndexError, TypeError, AttributeError) as e:
            raise VLMError(f"{self.endpoint}: unexpected response ({e!r})") from None
        yes = [t["logprob"] for t in tops if t.get("token", "").strip() in YES]
        no = [t["logprob"] for t in tops if t.get("token", "").strip() in NO]
        if yes or no:
            return yes_probability(yes, no)
        word = answer.split()[0].strip(".,!").lower() if answer else ""
        if word in ("yes", "no"):
            return 1.0 if word == "yes" else 0.0
        log.warning("%s: answer %r is neither yes nor no; counted as 0.5", self.endpoint, answer)
        return 0.5

    def ask(self, frames: Sequence[np.ndarray], questions: Mapping[str, str]) -> dict[str, float]:
        return {k: self.yes_probability(frames, q) for k, q in questions.items()}
