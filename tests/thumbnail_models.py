"""Tiny, randomly initialised models for the thumbnail tests, built in-process (no hub, no download):
an SDXL pipeline in the shape of diffusers' own ``get_dummy_components`` and a CLIP tokenizer from a toy
byte-level vocabulary written here."""

from __future__ import annotations

import json
from pathlib import Path


def _byte_symbols() -> list[str]:
    """One printable character per byte value, as byte-level BPE vocabularies use: printable Latin-1
    bytes stand for themselves, the others are moved to code points from 256 up."""
    printable = set(range(ord("!"), ord("~") + 1)) | set(range(0xA1, 0xAD)) | set(range(0xAE, 0x100))
    extra = iter(range(256, 512))
    return [chr(b) if b in printable else chr(next(extra)) for b in range(256)]


def _toy_clip_tokenizer(directory: Path):  # noqa: ANN202 - a transformers CLIPTokenizer
    """A CLIPTokenizer whose vocabulary is the 256 byte symbols (plain and word-final) and a few merges."""
    from transformers import CLIPTokenizer

    symbols = _byte_symbols()
    vocab = {s: i for i, s in enumerate(symbols)}
    vocab.update({f"{s}</w>": i + len(symbols) for i, s in enumerate(symbols)})
    merges = ["t h", "th e</w>", "a n", "i n"]
    for m in merges:
        vocab.setdefault(m.replace(" ", ""), len(vocab))
    vocab["<|startoftext|>"] = len(vocab)
    vocab["<|endoftext|>"] = len(vocab)
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "vocab.json").write_text(json.dumps(vocab))
    (directory / "merges.txt").write_text("#version: 0.2\n" + "\n".join(merges) + "\n")
    return CLIPTokenizer(vocab=str(directory / "vocab.json"), merges=str(directory / "merges.txt"), model_max_length=77)


def tiny_sdxl_dir(directory: Path) -> Path:
    """Save a tiny random SDXL(-Turbo-shaped) pipeline in diffusers format to ``directory``; return it."""
    import torch
    from diffusers import (
        AutoencoderKL,
        EulerAncestralDiscreteScheduler,
        StableDiffusionXLPipeline,
        UNet2DConditionModel,
    )
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTextModelWithProjection

    torch.manual_seed(0)
    unet = UNet2DConditionModel(
        block_out_channels=(4, 8),
        layers_per_block=1,
        sample_size=16,
        in_channels=4,
        out_channels=4,
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
        attention_head_dim=(2, 4),
        use_linear_projection=True,
        addition_embed_type="text_time",
        addition_time_embed_dim=8,
        transformer_layers_per_block=(1, 1),
        projection_class_embeddings_input_dim=6 * 8 + 32,
        cross_attention_dim=64,
        norm_num_groups=1,
    )
    vae = AutoencoderKL(
        block_out_channels=[8, 16],
        in_channels=3,
        out_channels=3,
        down_block_types=["DownEncoderBlock2D"] * 2,
        up_block_types=["UpDecoderBlock2D"] * 2,
        latent_channels=4,
        norm_num_groups=4,
        sample_size=32,
    )
    scheduler = EulerAncestralDiscreteScheduler(
        beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear", timestep_spacing="trailing", steps_offset=1
    )
    tokenizer = _toy_clip_tokenizer(directory.parent / f"{directory.name}-toy-vocab")
    text_cfg = CLIPTextConfig(
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        hidden_size=32,
        intermediate_size=37,
        layer_norm_eps=1e-5,
        num_attention_heads=4,
        num_hidden_layers=2,
        pad_token_id=tokenizer.pad_token_id or 0,
        vocab_size=len(tokenizer),
        hidden_act="gelu",
        projection_dim=32,
    )
    pipe = StableDiffusionXLPipeline(
        vae=vae,
        text_encoder=CLIPTextModel(text_cfg),
        text_encoder_2=CLIPTextModelWithProjection(text_cfg),
        tokenizer=tokenizer,
        tokenizer_2=tokenizer,
        unet=unet,
        scheduler=scheduler,
    )
    pipe.save_pretrained(str(directory), safe_serialization=True)
    return directory


def tiny_generator_model(source: Path, *, size: int = 64, steps: int = 2) -> dict:
    """A ``models.image_generator`` config entry for the tiny pipeline saved at ``source``."""
    return {
        "backend": "sdxl-turbo",
        "model": "tiny-sdxl",
        "source": str(source),
        "options": {"steps": steps, "size": size, "strength": 0.5},
    }


def tiny_open_clip_dir(directory: Path) -> Path:
    """Save a tiny random open_clip model as a ``local-dir`` export (config + safetensors); return it."""
    import open_clip
    import torch
    from safetensors.torch import save_file

    torch.manual_seed(0)
    model_cfg = {
        "embed_dim": 16,
        "vision_cfg": {"image_size": 32, "layers": 1, "width": 32, "patch_size": 8, "head_width": 16},
        "text_cfg": {"context_length": 77, "vocab_size": 49408, "width": 32, "heads": 2, "layers": 1},
    }
    model = open_clip.CLIP(**model_cfg)
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "open_clip_config.json").write_text(
        json.dumps({"model_cfg": model_cfg, "preprocess_cfg": {"mean": [0.48, 0.46, 0.41], "std": [0.27, 0.26, 0.28]}})
    )
    save_file(model.state_dict(), str(directory / "open_clip_model.safetensors"))
    return directory


def tiny_safety_model(source: Path, *, threshold: float) -> dict:
    """A ``models.safety_checker`` entry (CLIP filter) for the tiny open_clip export at ``source``."""
    return {
        "backend": "clip-filter",
        "model": f"tiny-clip-filter-{threshold:g}",
        "source": str(source),
        "options": {"threshold": threshold},
    }


def tiny_phi3_dir(directory: Path) -> Path:
    """Save a tiny random Phi-3 (2 layers, hidden 32) with a toy word-level tokenizer and a chat template."""
    import torch
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import Phi3Config, Phi3ForCausalLM, PreTrainedTokenizerFast

    words = [
        "a",
        "cinematic",
        "film",
        "still",
        "of",
        "scene",
        "from",
        "the",
        "video",
        "storm",
        "sea",
        "night",
        "city",
        "person",
        "face",
        "dramatic",
        "light",
        "poster",
        "vibrant",
        "bold",
        "colour",
        "sharp",
        "focus",
        "write",
        "one",
        "short",
        "prompt",
        "for",
        "an",
        "image",
        "generator",
        "thumbnail",
        "title",
        "style",
        "answer",
        "with",
        "only",
        "on",
        "line",
        "like",
        "key",
        "moment",
    ]
    special = ["<unk>", "<pad>", "<s>", "</s>", "<|user|>", "<|assistant|>", "<|end|>"]
    vocab = {t: i for i, t in enumerate(special + sorted(set(words)))}
    backend = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    backend.pre_tokenizer = pre_tokenizers.Whitespace()
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=backend, unk_token="<unk>", pad_token="<pad>", bos_token="<s>", eos_token="</s>"
    )
    tokenizer.chat_template = (
        "{% for m in messages %}<|{{ m['role'] }}|> {{ m['content'] }} <|end|> {% endfor %}<|assistant|>"
    )
    torch.manual_seed(0)
    config = Phi3Config(
        vocab_size=len(vocab),
        hidden_size=32,
        intermediate_size=37,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=4,
        max_position_embeddings=256,
        pad_token_id=vocab["<pad>"],
        bos_token_id=vocab["<s>"],
        eos_token_id=vocab["</s>"],
    )
    Phi3ForCausalLM(config).save_pretrained(str(directory))
    tokenizer.save_pretrained(str(directory))
    return directory


def tiny_writer_model(source: Path) -> dict:
    """A ``models.text_writer`` entry for the tiny Phi-3 saved at ``source``."""
    return {"backend": "phi-3", "model": "tiny-phi3", "source": str(source), "options": {"max_new_tokens": 12}}
