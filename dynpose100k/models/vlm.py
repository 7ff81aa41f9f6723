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
from ..video import evenly_spaced
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
    return [np.ascontiguousarray(frames[i]) for i in evenly_spaced(len(frames), num)]


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
        path = Path(path)
        if not path.is_dir():
            raise VLMError(f"{path}: VLM folder not found")
        try:
            processor = transformers.AutoProcessor.from_pretrained(path, local_files_only=True)
            model = transformers.AutoModelForImageTextToText.from_pretrained(
                path, local_files_only=True, dtype=dtype or "auto").to(device).eval()
        except (OSError, ValueError, KeyError) as e:
            raise VLMError(f"{path}: cannot load VLM ({str(e).splitlines()[0]})") from None
        self._setup(model, processor, device, max_side, str(path))

    @classmethod
    def from_model(cls, model, processor, device: str = "cpu", max_side: int = 448) -> "TransformersVLM":
        """Wrap a model and processor already in memory (e.g. :func:`random_llava`'s)."""
        self = cls.__new__(cls)
        self._setup(model.to(device).eval(), processor, device, max_side, type(model).__name__)
        return self

    def _setup(self, model, processor, device: str, max_side: int, name: str) -> None:
        self.torch = require("torch", "models")
        self.model, self.processor, self.device, self.max_side = model, processor, device, max_side
        tok = processor.tokenizer
        self.yes_ids, self.no_ids = (self._first_ids(tok, w) for w in (YES, NO))
        if not self.yes_ids or not self.no_ids:
            raise VLMError(f"{name}: tokenizer has no single token for yes/no")

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


#: The words of :func:`random_llava`'s tokenizer: the prompt's, the answers' and the special tokens.
RANDOM_WORDS = ("<unk>", "<pad>", "<s>", "</s>", "<image>", "Yes", "No", "yes", "no", "USER:", "ASSISTANT:", "Is",
                "the", "this", "a", "video", "or", "Answer", "?", ".")


def random_llava(preset: str = "tiny", device: str = "cpu", dtype=None, seed: int = 0):
    """A randomly initialised LLaVA ``(model, processor)``: its answers are noise, its cost is real.

    ``preset``: ``"tiny"`` (1 layer, width 32, 32 px images, 4 tokens per image; for tests) or ``"7b"``
    (LLaVA-1.5-7B's shape: CLIP ViT-L/14 at 336 px, 576 tokens per image, a 32-layer 4096-wide Llama;
    for measuring the cost of a real local VLM without its weights). The tokenizer is a word-level one over
    :data:`RANDOM_WORDS` (other words map to ``<unk>``, so prompts are a little shorter than a real
    tokenizer's). ``dtype``: a torch dtype for the weights (default float32).
    """
    torch = require("torch", "models")
    transformers = require("transformers", "models")
    tokenizers = require("tokenizers", "models")

    words = list(RANDOM_WORDS)
    tok = tokenizers.Tokenizer(tokenizers.models.WordLevel({w: i for i, w in enumerate(words)}, unk_token="<unk>"))
    tok.pre_tokenizer = tokenizers.pre_tokenizers.Whitespace()
    ptok = transformers.PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="<unk>", pad_token="<pad>",
                                                bos_token="<s>", eos_token="</s>",
                                                extra_special_tokens={"image_token": "<image>"})
    if preset == "tiny":
        img, patch, vision = 32, 16, dict(hidden_size=32, intermediate_size=64, num_hidden_layers=1,
                                          num_attention_heads=2, projection_dim=32)
        text = dict(vocab_size=len(words), hidden_size=32, intermediate_size=64, num_hidden_layers=1,
                    num_attention_heads=2, num_key_value_heads=2, max_position_embeddings=512)
    elif preset == "7b":
        img, patch, vision = 336, 14, dict(hidden_size=1024, intermediate_size=4096, num_hidden_layers=24,
                                           num_attention_heads=16, projection_dim=768)
        text = dict(vocab_size=32064, hidden_size=4096, intermediate_size=11008, num_hidden_layers=32,
                    num_attention_heads=32, num_key_value_heads=32, max_position_embeddings=4096)
    else:
        raise ValueError(f"unknown preset {preset!r} (tiny, 7b)")
    tokens = (img // patch) ** 2
    proc = transformers.LlavaProcessor(
        image_processor=transformers.CLIPImageProcessor(size={"shortest_edge": img},
                                                        crop_size={"height": img, "width": img}),
        tokenizer=ptok, patch_size=patch, vision_feature_select_strategy="default", image_token="<image>",
        num_additional_image_tokens=1)
    cfg = transformers.LlavaConfig(
        vision_config=transformers.CLIPVisionConfig(image_size=img, patch_size=patch, **vision),
        text_config=transformers.LlamaConfig(pad_token_id=1, bos_token_id=2, eos_token_id=3, **text),
        image_token_index=words.index("<image>"), image_seq_length=tokens, vision_feature_layer=-1)
    torch.manual_seed(seed)
    with torch.device(device):
        model = transformers.LlavaForConditionalGeneration(cfg)
    if dtype is not None:
        model = model.to(dtype)
    return model.eval(), proc
