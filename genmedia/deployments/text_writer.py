"""Short texts (thumbnail prompts, titles) from an instruction-tuned language model: Phi-3 via transformers.

One class for both runtimes (docs/architecture.md), configured by ``models.<key>`` (backend ``phi-3``): the registry
resolves and verifies a transformers-format directory (config, weights, tokenizer), loaded once per actor
(float16 on a GPU, float32 on a CPU). Instructions are wrapped in the tokenizer's chat template when it has
one; decoding is greedy by default, so a given instruction always gives the same text. ``options``:
``max_new_tokens`` (default 60), ``temperature`` (0 = greedy).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from genmedia.config import Config
from genmedia.errors import InputError

PHI3 = "phi-3"
DEFAULT_KEY = "text_writer"


def clean(text: str) -> str:
    """The first non-empty line of a model's answer, without surrounding quotes or a 'Prompt:' label."""
    for line in text.splitlines():
        line = line.strip().strip('"').strip("'").strip()
        if line.lower().startswith("prompt:"):
            line = line[7:].strip()
        if line:
            return line
    return ""


class TextWriter:
    """Writes one short text per instruction, batched."""

    def __init__(self, cfg: Config, key: str = DEFAULT_KEY):
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        from genmedia.models.registry import resolve

        entry = cfg.model(key, PHI3, "a text-writer")
        options: dict[str, Any] = dict(entry.options)
        self.max_new_tokens = int(options.get("max_new_tokens", 60))
        self.temperature = float(options.get("temperature", 0.0))
        directory = resolve(cfg, key)
        self._torch = torch
        self.device = "cuda" if torch.cuda.is_available() else "cpu"
        dtype = torch.float16 if self.device == "cuda" else torch.float32
        self.tokenizer = AutoTokenizer.from_pretrained(str(directory), local_files_only=True)
        self.tokenizer.padding_side = "left"  # generation continues from the right end of every row
        if self.tokenizer.pad_token is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token
        self.model = (
            AutoModelForCausalLM.from_pretrained(str(directory), dtype=dtype, local_files_only=True)
            .to(self.device)
            .eval()
        )
        self.name = f"{PHI3}:{entry.model or key}"

    def _inputs(self, instructions: list[str]) -> list[str]:
        if getattr(self.tokenizer, "chat_template", None):
            return [
                self.tokenizer.apply_chat_template(
                    [{"role": "user", "content": text}], tokenize=False, add_generation_prompt=True
                )
                for text in instructions
            ]
        return [f"{text}\n" for text in instructions]

    def write_many(self, instructions: list[str]) -> list[str]:
        """One cleaned answer per instruction, from one batched ``generate`` call."""
        if not instructions:
            return []
        torch = self._torch
        enc = self.tokenizer(self._inputs(instructions), return_tensors="pt", padding=True).to(self.device)
        sampling = (
            {"do_sample": True, "temperature": self.temperature} if self.temperature > 0 else {"do_sample": False}
        )
        with torch.inference_mode():
            out = self.model.generate(
                **enc, max_new_tokens=self.max_new_tokens, pad_token_id=self.tokenizer.pad_token_id, **sampling
            )
        new = out[:, enc["input_ids"].shape[1] :]
        return [clean(t) for t in self.tokenizer.batch_decode(new, skip_special_tokens=True)]

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Ray Data: ``instruction`` column -> adds ``text`` and ``text_backend``."""
        texts = self.write_many([str(t) for t in batch["instruction"]])
        return {
            **batch,
            "text": np.array(texts, dtype=object),
            "text_backend": np.array([self.name] * len(texts), dtype=object),
        }

    def write(self, request: dict[str, Any]) -> dict[str, Any]:
        """One request (Serve): ``{"instruction"}`` -> ``{"text", "backend"}``."""
        instruction = str(request.get("instruction", "")).strip()
        if not instruction:
            raise InputError("instruction", "a text request needs a non-empty instruction")
        return {"text": self.write_many([instruction])[0], "backend": self.name}
