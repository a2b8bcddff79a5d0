"""Shared fixtures: a tiny, randomly initialised BERT encoder and a stance model over it,
built in the test session from a few sentences, so no test downloads anything."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import torch
from conftest_corpus import CORPUS

# One thread: the suite's models are tiny, and torch's thread pool stalls on a busy machine.
torch.set_num_threads(1)

SHARED = Path(__file__).resolve().parents[1].parent / "shared"



def build_tiny_encoder(directory: Path) -> Path:
    """A 2-layer BERT with random weights and a WordPiece tokenizer trained on CORPUS."""
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, processors
    from transformers import BertConfig, BertModel, PreTrainedTokenizerFast

    # A fixed vocabulary (the corpus's words and characters), so every build is identical.
    words = sorted({word for line in CORPUS for word in re.findall(r"\w+|[^\w\s]", line.lower())})
    characters = sorted({character for word in words for character in word})
    specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    vocab = list(dict.fromkeys(specials + characters + [f"##{c}" for c in characters] + words))
    tokenizer = Tokenizer(models.WordPiece(vocab={token: i for i, token in enumerate(vocab)}, unk_token="[UNK]"))
    tokenizer.normalizer = normalizers.BertNormalizer(lowercase=True)
    tokenizer.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    cls, sep = tokenizer.token_to_id("[CLS]"), tokenizer.token_to_id("[SEP]")
    tokenizer.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", pair="[CLS] $A [SEP] $B:1 [SEP]:1", special_tokens=[("[CLS]", cls), ("[SEP]", sep)]
    )
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tokenizer, unk_token="[UNK]", pad_token="[PAD]", cls_token="[CLS]", sep_token="[SEP]", mask_token="[MASK]"
    )
    config = BertConfig(
        vocab_size=tokenizer.get_vocab_size(),
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=128,
    )
    torch.manual_seed(0)
    BertModel(config, add_pooling_layer=False).save_pretrained(directory)
    fast.save_pretrained(directory)
    return directory


@pytest.fixture(scope="session")
def tiny_encoder(tmp_path_factory) -> Path:
    return build_tiny_encoder(tmp_path_factory.mktemp("tiny-encoder"))


@pytest.fixture(scope="session")
def tiny_model_dir(tiny_encoder, tmp_path_factory) -> Path:
    """A saved, untrained stance model (full fine-tuning layout) over the tiny encoder."""
    from stance.models import StanceModel

    model = StanceModel.from_encoder(str(tiny_encoder), lora_rank=None, max_length=64)
    directory = tmp_path_factory.mktemp("tiny-model") / "model"
    model.save_pretrained(directory, model_card="# tiny test model\n")
    return directory


@pytest.fixture(scope="session")
def seed_rows() -> Path:
    return Path(__file__).resolve().parents[1] / "seeds" / "corpus.jsonl"


def build_framing_model(encoder: Path, task: str, directory: Path, *, seed: int) -> Path:
    """A head-only frames or narratives model over the tiny frozen encoder: random head weights
    and thresholds spread so that some labels pass and some do not."""
    from stance.models.framing import ArticleLabelModel, ArticleSettings
    from stance.models.labelsets import default_labelset

    model = ArticleLabelModel.from_encoder(str(encoder), labelset=default_labelset(task), lora_rank=None, frozen=True, max_length=32, seed=seed)
    model.settings = ArticleSettings(model_name=f"tiny-{task}", model_version="3")
    with torch.no_grad():
        model.heads[task].weight.normal_(0, 2.0)
    model.head.thresholds = {label: 0.3 + 0.4 * (i % 2) for i, label in enumerate(model.labelset.labels)}
    return model.save_pretrained(directory, model_card=f"# tiny {task} model\n")


@pytest.fixture(scope="session")
def tiny_framing_dirs(tiny_encoder, tmp_path_factory) -> dict[str, Path]:
    """Saved frames and narratives models over the same tiny frozen encoder."""
    root = tmp_path_factory.mktemp("tiny-framing")
    return {task: build_framing_model(tiny_encoder, task, root / task, seed=seed) for seed, task in enumerate(("frames", "narratives"))}


@pytest.fixture
def cut_training(monkeypatch):
    """``cut_training()``: the next training run stops as its second epoch begins, the way a killed
    process would; later epochs and runs go on as usual. It returns the list of epochs begun since."""
    from stance.training.trainer import Trainer

    batches = Trainer._batches

    def cut() -> list[int]:
        begun: list[int] = []

        def batches_until_cut(self, features, rng):
            begun.append(len(begun) + 1)
            if len(begun) == 2:
                raise KeyboardInterrupt
            return batches(self, features, rng)

        monkeypatch.setattr(Trainer, "_batches", batches_until_cut)
        return begun

    return cut
