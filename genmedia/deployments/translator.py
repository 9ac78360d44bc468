"""Machine translation with NLLB-200 (transformers' M2M100ForConditionalGeneration).

One class for Ray Data (``__call__`` over a batch of segments) and Serve (``translate``). Languages
are FLORES-200 codes (see :mod:`genmedia.subtitles.languages`). Each segment is translated with the
previous segment as context: the encoder reads "previous + current", and the decoder is forced to start
with the previous segment's own translation, so the generated continuation is the current segment's
translation, consistent with what came before (pronouns, terms). Rows are batched by prefix length
(see :meth:`Translator._generate`). Every translation carries a quality score: the mean
log-probability of its tokens under the model.

Weights come from the model registry (``models.translator``); without them the constructor raises
ModelUnavailable naming the model and ``genmedia models pull translator``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from genmedia.config import Config
from genmedia.errors import ConfigError, ModelUnavailable
from genmedia.models.registry import resolve
from genmedia.subtitles.languages import to_flores


@dataclass
class Translation:
    """One translated segment and its quality score (mean token log-probability, <= 0)."""

    text: str
    score: float


def require_translator(cfg: Config, key: str = "translator") -> None:
    """Fail before any work when translation is asked for but the translator's weights are not staged."""
    if key not in cfg.models:
        raise ModelUnavailable(
            f"translation needs the NLLB-200 translator, and the config has no models.{key} entry; add one "
            f"(see configs/aws-gpu.yaml) and run: genmedia models pull {key}"
        )
    try:
        resolve(cfg, key)
    except ConfigError as e:
        raise ModelUnavailable(str(e)) from None


class Translator:
    """NLLB-200, loaded once per actor."""

    def __init__(self, cfg: Config, key: str = "translator"):
        require_translator(cfg, key)
        import torch
        from transformers import AutoModelForSeq2SeqLM, AutoTokenizer

        entry = cfg.model(key)
        path = resolve(cfg, key)
        options = dict(entry.options)
        self.device = options.get("device", "auto")
        if self.device == "auto":
            self.device = "cuda" if torch.cuda.is_available() else "cpu"
        self.tokenizer = AutoTokenizer.from_pretrained(str(path))
        self.model = AutoModelForSeq2SeqLM.from_pretrained(str(path)).to(self.device).eval()
        self.num_beams = int(options.get("num_beams", 4))
        self.max_length_ratio = float(options.get("max_length_ratio", 2.0))
        self.batch_size = entry.batch_size
        self.model_name = entry.model
        self._torch = torch

    def _lang_token(self, flores: str) -> int:
        token = self.tokenizer.convert_tokens_to_ids(flores)
        if token is None or token == self.tokenizer.unk_token_id:
            raise ModelUnavailable(f"translator {self.model_name!r} has no language token {flores}")
        return int(token)

    def _encode(self, texts: Sequence[str], sources: Sequence[str]) -> tuple:
        """Token ids per text: [source language] text </s> (NLLB's input format)."""
        rows = []
        for text, src in zip(texts, sources):
            self.tokenizer.src_lang = src
            rows.append(self.tokenizer(text, add_special_tokens=True)["input_ids"])
        return rows

    def _pad(self, rows: Sequence[Sequence[int]]) -> tuple:
        """Right-padded encoder input ids and their attention mask."""
        torch = self._torch
        width = max(len(r) for r in rows)
        ids = torch.full((len(rows), width), self.tokenizer.pad_token_id, dtype=torch.long)
        mask = torch.zeros((len(rows), width), dtype=torch.long)
        for i, r in enumerate(rows):
            ids[i, : len(r)] = torch.tensor(r, dtype=torch.long)
            mask[i, : len(r)] = 1
        return ids.to(self.device), mask.to(self.device)

    def _generate(
        self, inputs: Sequence[Sequence[int]], prefixes: Sequence[Sequence[int]], num_beams: int
    ) -> list[tuple[list[int], float]]:
        """Continue each forced decoder prefix; (new token ids, mean log-probability of them).

        Rows are generated in groups of equal prefix length: M2M100 numbers decoder positions from the
        tokens of each step, so a left-padded prefix would shift them and change the translation.
        """
        results: list[tuple[list[int], float]] = [([], 0.0)] * len(inputs)
        groups: dict[int, list[int]] = {}
        for i, prefix in enumerate(prefixes):
            groups.setdefault(len(prefix), []).append(i)
        for rows in groups.values():
            for i, r in zip(
                rows, self._generate_group([inputs[i] for i in rows], [prefixes[i] for i in rows], num_beams)
            ):
                results[i] = r
        return results

    def _generate_group(
        self, inputs: Sequence[Sequence[int]], prefixes: Sequence[Sequence[int]], num_beams: int
    ) -> list[tuple[list[int], float]]:
        torch = self._torch
        ids, mask = self._pad(inputs)
        dec = torch.tensor([list(p) for p in prefixes], dtype=torch.long, device=self.device)
        dec_mask = torch.ones_like(dec)
        budgets = [int(len(r) * self.max_length_ratio) + 10 for r in inputs]  # per row, so batching changes nothing
        with torch.inference_mode():
            out = self.model.generate(
                input_ids=ids,
                attention_mask=mask,
                decoder_input_ids=dec,
                decoder_attention_mask=dec_mask,
                num_beams=num_beams,
                do_sample=False,
                max_new_tokens=max(budgets),
            )
            seq_mask = (out != self.tokenizer.pad_token_id).long()
            logits = self.model(
                input_ids=ids,
                attention_mask=mask,
                decoder_input_ids=out[:, :-1],
                decoder_attention_mask=seq_mask[:, :-1],
            ).logits
            logp = torch.log_softmax(logits.float(), dim=-1).gather(-1, out[:, 1:, None])[..., 0]
        results: list[tuple[list[int], float]] = []
        eos = self.tokenizer.eos_token_id
        for i in range(out.shape[0]):
            new = out[i, dec.shape[1] :].tolist()[: budgets[i]]
            n = len(new)
            if eos in new:
                n = new.index(eos) + 1  # the end token counts towards the score, not the text
            scores = logp[i, dec.shape[1] - 1 : dec.shape[1] - 1 + n]
            results.append(([t for t in new[:n] if t != eos], float(scores.mean()) if n else 0.0))
        return results

    def translate(
        self,
        texts: Sequence[str],
        target: str,
        *,
        sources: Sequence[str] | str = "eng_Latn",
        context: Sequence[str | None] | None = None,
        num_beams: int | None = None,
    ) -> list[Translation]:
        """Translate ``texts`` (source codes per text or one for all) into ``target``; codes in any accepted form.

        ``context[i]`` is the text before ``texts[i]`` (None for none); it is translated first and
        forced as the decoder's prefix so that ``texts[i]`` continues it. ``num_beams``: the beam width
        (default: the model entry's ``options.num_beams``).
        """
        beams = num_beams or self.num_beams
        target = to_flores(target)
        srcs = [to_flores(sources)] * len(texts) if isinstance(sources, str) else [to_flores(s) for s in sources]
        context = list(context) if context is not None else [None] * len(texts)
        start = [
            self.tokenizer.eos_token_id
            if self.model.config.decoder_start_token_id is None
            else self.model.config.decoder_start_token_id,
            self._lang_token(target),
        ]
        out: list[Translation] = []
        for b in range(0, len(texts), self.batch_size):
            part = slice(b, b + self.batch_size)
            t, s, c = list(texts[part]), srcs[part], context[part]
            # Pass 1: the context segments on their own (their translations become decoder prefixes).
            with_ctx = [i for i, x in enumerate(c) if x]
            ctx_ids = (
                self._generate(
                    self._encode([c[i] for i in with_ctx], [s[i] for i in with_ctx]), [start] * len(with_ctx), beams
                )
                if with_ctx
                else []
            )
            prefix = {i: start + ids for i, (ids, _) in zip(with_ctx, ctx_ids)}
            # Pass 2: "context + text" in, the context's translation forced, the continuation out.
            sources_text = [f"{c[i]} {t[i]}" if i in prefix else t[i] for i in range(len(t))]
            results = self._generate(
                self._encode(sources_text, s), [prefix.get(i, start) for i in range(len(t))], beams
            )
            for ids, score in results:
                out.append(Translation(self.tokenizer.decode(ids, skip_special_tokens=True).strip(), score))
        return out

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Ray Data: rows with ``text``, ``source``, ``target``, ``context`` ('' for none) and optionally
        ``num_beams`` (0: the model's default) -> ``translation`` and ``score``. Rows are grouped by target
        language and beam width."""
        n = len(batch["text"])
        texts, scores = [""] * n, [0.0] * n
        beams = [int(b) for b in batch["num_beams"]] if "num_beams" in batch else [0] * n
        for target, width in dict.fromkeys((str(x), b) for x, b in zip(batch["target"], beams)):
            idx = [i for i in range(n) if str(batch["target"][i]) == target and beams[i] == width]
            done = self.translate(
                [str(batch["text"][i]) for i in idx],
                target,
                sources=[str(batch["source"][i]) for i in idx],
                context=[str(batch["context"][i]) or None for i in idx],
                num_beams=width or None,
            )
            for i, tr in zip(idx, done):
                texts[i], scores[i] = tr.text, tr.score
        return {**batch, "translation": np.array(texts, dtype=object), "score": np.array(scores, dtype=np.float64)}
