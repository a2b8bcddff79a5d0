"""Fine-tuning on a handful of rows with the tiny random encoder: it runs, it learns, it saves."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch
from stance.models import STANCE_LABELS, StanceModel
from stance.training.arguments import TrainingArguments
from stance.training.data import StanceExample
from stance.training.tasks import StanceTask
from stance.training.tasks import fit_temperature as _fit_temperature
from stance.training.trainer import Trainer
from torch import nn

# Eight sentences whose labels toward NATO are told apart by their words.
SEPARABLE = [
    ("NATO is strong and united.", "favor", "author"),
    ("NATO protects peace.", "favor", "reported"),
    ("NATO is an aggressor.", "against", "author"),
    ("NATO brings war.", "against", "reported"),
    ("NATO ministers met on Monday.", "neutral", "author"),
    ("NATO held a meeting.", "neutral", "reported"),
    ("The weather was mild.", "none", "author"),
    ("Belgrade had rain.", "none", "reported"),
]
TEXTS = [text for text, _, _ in SEPARABLE]


def examples(article_prefix: str = "a") -> list[StanceExample]:
    rows = [
        StanceExample(text=text, target="nato", label=label, voice=voice, article_id=f"{article_prefix}{i}", sentence_id=0)
        for i, (text, label, voice) in enumerate(SEPARABLE)
    ]
    # a second target: none of these sentences mentions the EU
    rows += [
        StanceExample(text=text, target="eu", label="none", voice=voice, article_id=f"{article_prefix}{i}", sentence_id=0)
        for i, (text, _, voice) in enumerate(SEPARABLE[:4])
    ]
    return rows


def nato_accuracy(model: StanceModel) -> int:
    predictions = model.predict(TEXTS, targets=["nato"], gate=False)
    return sum(p.stance["nato"].label == label for p, (_, label, _) in zip(predictions, SEPARABLE, strict=True))


def stance_matrix(model: StanceModel) -> np.ndarray:
    return np.array([[list(s.scores.values()) for s in p.stance.values()] for p in model.predict(TEXTS, gate=False)])


def assert_finite_temperatures(model: StanceModel) -> None:
    assert math.isfinite(model.head_specs["stance"].temperature) and math.isfinite(model.head_specs["voice"].temperature)


@pytest.fixture(scope="module", params=["full", "lora"])
def run(request, tiny_encoder, tmp_path_factory):
    """A two-epoch run with dev rows, saved; shared by the tests that inspect it."""
    args = TrainingArguments(
        encoder=str(tiny_encoder), epochs=2, batch_size=4, lora_rank=0 if request.param == "full" else 4, learning_rate=1e-3, max_length=32
    )
    trainer = Trainer(args, examples("train-"), examples("dev-"), progress=False)
    result = trainer.train()
    assert_finite_temperatures(result.model)
    directory = trainer.save(result, tmp_path_factory.mktemp(request.param) / "model", data_counts={"train pairs": 12, "dev pairs": 12})
    return request.param, args, result, directory


def test_history_has_one_entry_per_epoch(run):
    _, args, result, _ = run
    assert len(result.history) == args.epochs == 2
    assert [h["epoch"] for h in result.history] == [1, 2]
    for entry in result.history:
        assert math.isfinite(entry["train_loss"]) and entry["train_loss"] > 0
        assert 0.0 <= entry["dev_f_avg"] <= 1.0
        assert 0.0 <= entry["dev_macro_f1"] <= 1.0
    assert result.seconds > 0


def test_best_epoch_is_the_one_with_the_highest_dev_f_avg(run):
    _, _, result, _ = run
    scores = [h["dev_f_avg"] for h in result.history]
    assert result.best_epoch == 1 + scores.index(max(scores))


@pytest.mark.parametrize("last_epoch", [False, True])
def test_last_epoch_keeps_the_final_weights_and_still_calibrates(tiny_encoder, monkeypatch, last_epoch):
    def train(dev: list[StanceExample], **options):
        args = TrainingArguments(encoder=str(tiny_encoder), epochs=2, batch_size=4, lora_rank=4, learning_rate=1e-3, max_length=32, **options)
        trainer = Trainer(args, examples("train-"), dev, progress=False)
        falling = iter([{"dev_f_avg": 0.9}, {"dev_f_avg": 0.1}])  # the dev rows would pick epoch 1
        monkeypatch.setattr(trainer.task, "epoch_summary", lambda metrics: next(falling))
        return trainer.train()

    without_dev = train([])
    result = train(examples("dev-"), last_epoch=last_epoch)
    final = dict(without_dev.model.named_parameters())
    kept_final = all(torch.equal(value, final[name]) for name, value in result.model.named_parameters())
    assert kept_final == last_epoch
    assert result.best_epoch == (None if last_epoch else 1)
    assert [h["dev_f_avg"] for h in result.history] == [0.9, 0.1]  # dev is still scored each epoch
    assert result.dev_metrics is not None and result.model.head_specs["stance"].temperature != 1.0  # and calibrates


def test_calibration_and_gate_prior(run):
    _, _, result, _ = run
    settings = result.model.settings
    for temperature in (result.model.head_specs["stance"].temperature, result.model.head_specs["voice"].temperature):
        assert math.isfinite(temperature) and temperature > 0
    # the dev pairs without an alias: 2 nato 'none' rows and 4 eu 'none' rows, add-one smoothed
    assert settings.gate_prior == pytest.approx({"favor": 1 / 10, "against": 1 / 10, "neutral": 1 / 10, "none": 7 / 10})
    assert result.dev_metrics["overall"]["f_avg"] == pytest.approx(_dev_f_avg_by_hand(result.model))
    assert set(result.dev_metrics["targets"]) == {"nato", "eu"}
    assert result.dev_metrics["counts"]["examples"] == 12


def _dev_f_avg_by_hand(model: StanceModel) -> float:
    """The dev F_avg from the model's own labels: scored pairs as ``predict`` gives them, pairs
    the gate skips (no alias in the sentence, each dev article being one sentence) at the prior."""
    from sklearn.metrics import f1_score

    gold, predicted = [], []
    prior_label = max(model.settings.gate_prior, key=model.settings.gate_prior.get)
    for ex in examples("dev-"):
        mentioned = model.targets[ex.target].mentioned_in(ex.text)
        gold.append(ex.label)
        predicted.append(model.predict(ex.text, targets=[ex.target]).stance[ex.target].label if mentioned else prior_label)
    labels = [label for label in ("favor", "against") if label in gold or label in predicted]
    return float(f1_score(gold, predicted, labels=labels, average="macro", zero_division=0)) if labels else 0.0


def test_the_trained_model_is_left_on_the_cpu_in_eval_mode(run):
    _, _, result, _ = run
    assert not result.model.training
    assert {p.device.type for p in result.model.parameters()} == {"cpu"}


def test_saved_folder_has_a_model_card_and_a_plain_json_config(run):
    mode, args, result, directory = run
    names = {p.name for p in directory.iterdir()}
    assert {"README.md", "training_config.json", "config.json", "model.safetensors", "targets.json"} <= names
    assert not [name for name in names if name.endswith((".bin", ".pt", ".pth", ".pkl", ".pickle", ".ckpt"))]
    assert ("tokenizer.json" in names) == (mode == "full")

    config = json.loads((directory / "training_config.json").read_text(encoding="utf-8"))
    assert config["task"] == "stance"
    assert config["training"]["epochs"] == 2
    assert config["training"]["lora_rank"] == args.lora_rank
    assert config["training"]["effective_learning_rate"] == 1e-3
    assert config["history"] == result.history
    assert config["best_epoch"] == result.best_epoch
    assert config["data"] == {"train pairs": 12, "dev pairs": 12}
    assert config["dev_metrics"]["overall"]["f_avg"] == pytest.approx(result.dev_metrics["overall"]["f_avg"])
    assert set(config["dev_metrics"]["targets"]) == {"nato", "eu"}

    card = (directory / "README.md").read_text(encoding="utf-8")
    assert card.startswith("# stance-model 0")
    assert f"Best epoch: {result.best_epoch}." in card
    assert "## Dev metrics" in card
    assert f"{result.dev_metrics['overall']['f_avg']:7.3f}" in card
    for entry in result.history:
        assert f"| {entry['epoch']} | {entry['train_loss']:.4f} |" in card
    assert ("LoRA adapter, rank 4" in card) == (mode == "lora")


def test_reloading_gives_the_same_predictions(run):
    _, _, result, directory = run
    loaded = StanceModel.from_pretrained(directory)
    assert loaded.settings == result.model.settings
    assert np.allclose(stance_matrix(result.model), stance_matrix(loaded), atol=1e-5)
    for a, b in zip(result.model.predict(TEXTS), loaded.predict(TEXTS), strict=True):
        assert {t: s.label for t, s in a.stance.items()} == {t: s.label for t, s in b.stance.items()}
        assert a.voice.label == b.voice.label


def test_full_fine_tuning_fits_a_tiny_separable_set(tiny_encoder):
    args = TrainingArguments(encoder=str(tiny_encoder), epochs=8, batch_size=4, lora_rank=0, learning_rate=3e-3, max_length=32)
    untrained = StanceModel.from_encoder(str(tiny_encoder), lora_rank=None, max_length=32, seed=args.seed)
    result = Trainer(args, examples() * 8, progress=False).train()
    losses = [h["train_loss"] for h in result.history]
    assert len(losses) == 8
    assert losses[-1] < 0.5 * losses[0], losses
    assert result.best_epoch is None and result.dev_metrics is None  # no dev rows: the last epoch is kept
    assert nato_accuracy(result.model) >= 7, "the model should fit 8 separable training sentences"
    assert nato_accuracy(untrained) <= 4


def test_lora_training_lowers_the_loss_and_learns(tiny_encoder):
    args = TrainingArguments(encoder=str(tiny_encoder), epochs=8, batch_size=4, lora_rank=4, learning_rate=1e-2, max_length=32)
    untrained = StanceModel.from_encoder(str(tiny_encoder), lora_rank=4, max_length=32, seed=args.seed)
    result = Trainer(args, examples() * 8, progress=False).train()
    losses = [h["train_loss"] for h in result.history]
    assert losses[-1] < 0.75 * losses[0], losses
    # chance is 2 of 8; this seed fits all 8 (seeds 1 and 2: 6 and 5), the untrained adapter gets 2
    assert nato_accuracy(result.model) >= 6
    assert nato_accuracy(result.model) >= nato_accuracy(untrained) + 4


def test_an_explicit_model_is_trained_in_place(tiny_encoder):
    model = StanceModel.from_encoder(str(tiny_encoder), lora_rank=None, max_length=32)
    before = model.heads["stance"].weight.detach().clone()
    args = TrainingArguments(encoder=str(tiny_encoder), epochs=1, batch_size=4, lora_rank=0, model_name="mine", model_version="3")
    result = Trainer(args, examples(), model=model, progress=False).train()
    assert result.model is model
    assert (model.settings.model_name, model.settings.model_version) == ("mine", "3")
    assert not torch.equal(before, model.heads["stance"].weight)


def test_class_weights_are_inverse_square_root_frequencies(tiny_encoder):
    rows = [StanceExample(text="NATO met.", target="nato", label=label) for label in ["favor"] * 4 + ["against"] + ["none"] * 16]
    args = TrainingArguments(encoder=str(tiny_encoder), lora_rank=0)
    weights = StanceTask.from_arguments(args).class_weights(rows)
    # favor 1/2, against 1, neutral (absent, counted as 1) 1, none 1/4; mean 11/16
    raw = [1 / 2, 1.0, 1.0, 1 / 4]
    expected = [w / (sum(raw) / 4) for w in raw]
    assert weights.tolist() == pytest.approx(expected)
    assert StanceTask.from_arguments(TrainingArguments(encoder=str(tiny_encoder), class_weighting="none")).class_weights(rows) is None


def test_no_training_examples_is_an_error(tiny_encoder):
    model = StanceModel.from_encoder(str(tiny_encoder), lora_rank=None, max_length=32)
    with pytest.raises(ValueError, match="no training examples"):
        Trainer(TrainingArguments(encoder=str(tiny_encoder)), [], model=model)


# ---- arguments ----------------------------------------------------------------------


def test_training_arguments_validate_and_default():
    assert TrainingArguments().effective_learning_rate == 1e-3  # LoRA by default
    assert TrainingArguments(lora_rank=0).effective_learning_rate == 4e-5
    assert TrainingArguments(lora_rank=0, learning_rate=2e-2).effective_learning_rate == 2e-2
    data = TrainingArguments(epochs=3).to_dict()
    assert data["epochs"] == 3 and data["effective_learning_rate"] == 1e-3
    json.dumps(data)
    for bad in ({"epochs": 0}, {"batch_size": 0}, {"lora_rank": -1}, {"class_weighting": "log"}):
        with pytest.raises(ValueError):
            TrainingArguments(**bad)


# ---- temperature scaling ------------------------------------------------------------


def _nll(logits: torch.Tensor, gold: torch.Tensor, temperature: float) -> float:
    return float(nn.functional.cross_entropy(logits / temperature, gold))


def _best_on_a_grid(logits: torch.Tensor, gold: torch.Tensor) -> float:
    grid = np.exp(np.linspace(np.log(0.05), np.log(20.0), 300))
    return min(_nll(logits, gold, float(t)) for t in grid)


def test_temperature_of_overconfident_logits_is_above_one():
    # right half the time with confidence ~0.95: the fitted temperature must soften them
    logits = torch.tensor([[4.0, 0.0, 0.0, 0.0]] * 8)
    gold = torch.tensor([0, 0, 0, 0, 1, 2, 3, 1])
    temperature = _fit_temperature(logits, gold)
    assert temperature > 1.0
    assert _nll(logits, gold, temperature) <= _best_on_a_grid(logits, gold) + 1e-3


# Small dev sets on which the fit went wrong: one optimum near T=0.33 where the fit returned NaN,
# and the same logits rounded, where it returned the 0.05 floor with a worse NLL than T=1.
HARD_LOGITS = [
    [
        [-0.307108551, 0.309280276, -0.0687345341, 0.00736501813],
        [-0.429607809, 0.408690065, 0.591260493, -0.0684667751],
        [0.000323199754, 0.349758118, 0.224346638, 0.40937534],
        [0.153659776, 0.300475717, -0.174038231, 0.178607106],
        [0.816469431, 0.186609, 0.0469261669, 0.628936172],
        [0.0261100829, -0.462104321, 0.305152655, -0.879922867],
    ],
    [
        [-0.31, 0.31, -0.07, 0.01],
        [-0.43, 0.41, 0.59, -0.07],
        [0.0, 0.35, 0.22, 0.41],
        [0.15, 0.3, -0.17, 0.18],
        [0.82, 0.19, 0.05, 0.63],
        [0.03, -0.46, 0.31, -0.88],
    ],
]


@pytest.mark.parametrize("rows", HARD_LOGITS, ids=["nan", "floor"])
def test_temperature_minimises_the_dev_nll(rows):
    logits, gold = torch.tensor(rows), torch.tensor([3, 2, 1, 1, 3, 0])
    temperature = _fit_temperature(logits, gold)
    assert math.isfinite(temperature) and 0.05 <= temperature <= 20.0
    assert _nll(logits, gold, temperature) <= _best_on_a_grid(logits, gold) + 1e-3
    assert _nll(logits, gold, temperature) <= _nll(logits, gold, 1.0)


# ---- on a GPU -------------------------------------------------------------------------


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_training_with_dev_rows_on_a_gpu(tiny_encoder, tmp_path):
    args = TrainingArguments(
        encoder=str(tiny_encoder), epochs=2, batch_size=4, lora_rank=0, learning_rate=1e-3, max_length=32, device="cuda"
    )
    trainer = Trainer(args, examples("train-"), examples("dev-"), progress=False)
    result = trainer.train()
    assert len(result.history) == 2 and result.best_epoch in (1, 2)
    assert {p.device.type for p in result.model.parameters()} == {"cpu"}
    loaded = StanceModel.from_pretrained(trainer.save(result, tmp_path / "model"))
    assert np.allclose(stance_matrix(result.model), stance_matrix(loaded), atol=1e-5)
    assert all(label in STANCE_LABELS for label in (p.stance["nato"].label for p in loaded.predict(TEXTS)))


def test_a_saved_model_loads_trainable_and_trains_further(run):
    mode, args, result, directory = run
    merged = StanceModel.from_pretrained(directory)
    model = StanceModel.from_pretrained(directory, trainable=True)
    assert np.allclose(stance_matrix(model), stance_matrix(merged), atol=1e-5)
    trainable = {name for name, p in model.named_parameters() if p.requires_grad}
    if mode == "lora":
        assert trainable and all("lora_" in name or not name.startswith("backbone.encoder.") for name in trainable)
    else:
        assert any(name.startswith("backbone.encoder.") for name in trainable)
    before = stance_matrix(model)
    further = Trainer(args, examples("more-"), examples("dev2-"), model=model, progress=False).train()
    assert len(further.history) == args.epochs
    assert not np.allclose(stance_matrix(further.model), before, atol=1e-4)  # it did train
    with pytest.raises(ValueError, match="runtime='torch'"):
        StanceModel.from_pretrained(directory, runtime="onnx", trainable=True)


@pytest.mark.parametrize("lora_rank", [0, 4])
def test_a_run_cut_after_an_epoch_resumes_to_the_same_model(tiny_encoder, tmp_path, cut_training, lora_rank):
    args = TrainingArguments(encoder=str(tiny_encoder), epochs=3, batch_size=4, lora_rank=lora_rank, learning_rate=1e-3, max_length=32)
    uncut = Trainer(args, examples("train-"), examples("dev-"), progress=False).train()
    checkpoint = tmp_path / "model.checkpoint.pt"
    cut = Trainer(args, examples("train-"), examples("dev-"), progress=False, checkpoint=checkpoint)
    cut_training()
    with pytest.raises(KeyboardInterrupt):
        cut.train()
    saved = torch.load(checkpoint, weights_only=True)
    torch.save({**saved, "seconds": 3600.0}, checkpoint)  # as if the first epoch had taken an hour

    resumed_trainer = Trainer(args, examples("train-"), examples("dev-"), progress=False, checkpoint=checkpoint)
    resumed = resumed_trainer.train(resume=True)
    assert resumed.history == uncut.history and resumed.best_epoch == uncut.best_epoch
    assert resumed.seconds > 3600  # the card's training time counts the hour before the cut
    expected = uncut.model.state_dict()
    assert all(torch.equal(value, expected[name]) for name, value in resumed.model.state_dict().items())
    assert np.array_equal(stance_matrix(resumed.model), stance_matrix(uncut.model))
    resumed_trainer.save(resumed, tmp_path / "model")
    assert not checkpoint.exists()  # a complete run leaves nothing to resume


def test_without_resume_a_checkpoint_is_written_over_and_not_read(tiny_encoder, tmp_path, cut_training):
    args = TrainingArguments(encoder=str(tiny_encoder), epochs=2, batch_size=4, lora_rank=4, learning_rate=1e-3, max_length=32)
    checkpoint = tmp_path / "model.checkpoint.pt"
    cut = Trainer(args, examples("train-"), progress=False, checkpoint=checkpoint)
    cut_training()
    with pytest.raises(KeyboardInterrupt):
        cut.train()
    fresh = Trainer(args, examples("train-"), progress=False, checkpoint=checkpoint).train()
    assert [h["epoch"] for h in fresh.history] == [1, 2]


@pytest.mark.parametrize(
    ("change", "message"),
    [({"learning_rate": 2e-3}, "settings differ: effective_learning_rate, learning_rate"), ({"rows": "other-"}, "the training or dev rows differ")],
)
def test_a_checkpoint_of_another_run_is_refused(tiny_encoder, tmp_path, cut_training, change, message):
    settings = {"encoder": str(tiny_encoder), "epochs": 2, "batch_size": 4, "lora_rank": 4, "learning_rate": 1e-3, "max_length": 32}
    checkpoint = tmp_path / "model.checkpoint.pt"
    cut = Trainer(TrainingArguments(**settings), examples("train-"), progress=False, checkpoint=checkpoint)
    cut_training()
    with pytest.raises(KeyboardInterrupt):
        cut.train()
    rows = examples(change.pop("rows", "train-"))
    other = Trainer(TrainingArguments(**{**settings, **change, "model_version": "2"}), rows, progress=False, checkpoint=checkpoint)
    with pytest.raises(ValueError, match=f"another run \\({message}\\): remove it"):
        other.train(resume=True)
