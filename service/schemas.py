"""Request and response shapes. Request models are built per app from its settings, so the
limits in the OpenAPI schema are the limits the server enforces; over-limit values fail
as pydantic ``too_long`` errors, which the error handler answers with 413."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints
from stance.models.analysis import ANALYSIS_TASKS
from stance.models.sentences import VISIBLE_PATTERN
from stance.service.settings import ServiceSettings

EXAMPLE_ARTICLE_PATH = Path(__file__).with_name("static") / "example_article.txt"

# Sentences quoted from the seed article (AP, seeds/000_f2f505aecd180d60.txt).
EXAMPLE_SENTENCES = [
    "The increasingly autocratic Vucic, who faces an April 3 general election, opened his campaign this past weekend by "
    "declaring that as long as he is in power, Serbia will never join NATO and will maintain its close ties with Moscow and Beijing.",
    "Moscow has repeatedly denied those claims, although maintaining that Bosnia, Serbia and Kosovo must never join NATO.",
    "However, Serbia’s state-controlled media is squarely supporting Moscow in the crisis, carrying Russian propaganda without any questions raised.",
    "Although formally seeking European Union membership, Serbia has refused to align its foreign policies with the 27-nation bloc "
    "and has instead strengthened its political, economic and military ties with Russia and China.",
]


def example_article() -> str:
    """The seed article the page and the docs start from."""
    try:
        return EXAMPLE_ARTICLE_PATH.read_text(encoding="utf-8")
    except OSError:
        return "\n\n".join(EXAMPLE_SENTENCES)


def _article_excerpt(paragraphs: int = 6) -> str:
    blocks = [b for b in example_article().split("\n\n") if b.strip()]
    return "\n\n".join(blocks[:paragraphs])


PREDICT_EXAMPLES = {
    "one sentence": {
        "summary": "One sentence, all four targets",
        "value": {"inputs": EXAMPLE_SENTENCES[0]},
    },
    "several sentences": {
        "summary": "Several sentences, chosen targets",
        "value": {"inputs": EXAMPLE_SENTENCES[1:], "targets": ["russia", "nato"]},
    },
}


def analyze_examples() -> dict[str, Any]:
    return {
        "seed article": {
            "summary": "The seed article (AP, Serbia and NATO), all targets",
            "value": {"text": example_article()},
        },
        "excerpt, one target": {
            "summary": "The article's first paragraphs, NATO only",
            "value": {"text": _article_excerpt(), "targets": ["nato"]},
        },
        "frames and narratives only": {
            "summary": "The article's first paragraphs: its frames and narratives, no stance",
            "value": {"text": _article_excerpt(), "tasks": ["frames", "narratives"]},
        },
    }


# ---- requests (built from settings) ------------------------------------------------


# A text must hold a visible character: whitespace or zero-width characters alone are a 422.
HAS_VISIBLE = VISIBLE_PATTERN


def request_models(
    settings: ServiceSettings, *, target_names: list[str] = (), task_names: tuple[str, ...] = ANALYSIS_TASKS
) -> tuple[type[BaseModel], type[BaseModel]]:
    """``PredictRequest`` and ``AnalyzeRequest`` with this server's limits declared, and the
    targets of the model served at start-up and the tasks it is configured for as the documented choices."""
    Sentence = Annotated[str, StringConstraints(min_length=1, max_length=settings.max_input_chars, pattern=HAS_VISIBLE)]
    Sentences = Annotated[list[Sentence], Field(min_length=1, max_length=settings.max_inputs)]
    known = (
        f"one of the model's targets ({', '.join(target_names)} at start-up; after a reload GET /v1/info lists them)"
        if target_names
        else "a target of the model (GET /v1/info lists them)"
    )
    # Documented as an enum, checked against the model being served (a reload may change the
    # targets): an unknown name is a 400 naming the known ones, whatever its length.
    TargetName = Annotated[
        str,
        StringConstraints(min_length=1),
        Field(description=known, json_schema_extra={"enum": list(target_names)} if target_names else None),
    ]
    Targets = Annotated[list[TargetName], Field(min_length=1, max_length=settings.max_targets)]

    class PredictRequest(BaseModel):
        """Each input is scored as one sentence."""

        model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [PREDICT_EXAMPLES["one sentence"]["value"]]})

        inputs: Sentence | Sentences = Field(
            description=f"one sentence, or up to {settings.max_inputs} sentences of at most {settings.max_input_chars} characters each"
        )
        targets: Targets | None = Field(default=None, description=f"targets to score (default: all); {known}")

    class AnalyzeRequest(BaseModel):
        """An article: split into sentences, scored, summarised per target."""

        model_config = ConfigDict(extra="forbid")

        text: Annotated[str, StringConstraints(min_length=1, max_length=settings.max_article_chars, pattern=HAS_VISIBLE)] = Field(
            description=f"the article, at most {settings.max_article_chars} characters and {settings.max_article_sentences} sentences"
        )
        targets: Targets | None = Field(default=None, description=f"targets to score (default: all); {known}")
        tasks: Annotated[list[Literal[task_names]], Field(min_length=1, max_length=len(task_names))] | None = Field(
            default=None,
            description=f"what to analyse, from {', '.join(task_names)} (configured at start-up): stance per sentence and target, "
            "frames and narratives of the whole article; default: every task the server has a model for (GET /v1/info, `tasks`); "
            "a task whose model could not be loaded is a 400",
        )

    return PredictRequest, AnalyzeRequest


class ReloadRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", protected_namespaces=())

    model_dir: str = Field(min_length=1, description="a model folder on the server's disk (with config.json)")


# ---- responses (documentation, and checked against real answers in the tests) -------------


class StanceResult(BaseModel):
    label: str = Field(description="favor, against, neutral or none: the most probable")
    scores: dict[str, float] = Field(description="probability of each stance label; they sum to 1")
    scored: bool = Field(default=True, description="false when no alias of the target occurs and the gate's prior was used")


class VoiceResult(BaseModel):
    label: str = Field(description="author, or reported (a quoted or attributed voice)")
    score: float


class ModelIdentity(BaseModel):
    name: str
    version: str


class Prediction(BaseModel):
    text: str
    stance: dict[str, StanceResult]
    voice: VoiceResult
    windows: int | None = Field(
        default=None,
        description="present when the sentence was longer than the model's max_length tokens: it was read in this many overlapping "
        "windows, and its scores are those of the window most sure it takes a stance",
    )


class PredictResponse(BaseModel):
    model: ModelIdentity
    predictions: list[Prediction]


class AnalyzedSentence(BaseModel):
    index: int
    start: int = Field(
        description="offset in the article in Unicode code points (not UTF-16 units, not bytes): text[start:end] is the sentence, "
        "as Python slices it; JavaScript must slice Array.from(text)"
    )
    end: int
    text: str
    stance: dict[str, StanceResult] | None = Field(default=None, description="absent when stance was not asked for")
    voice: VoiceResult | None = Field(default=None, description="absent when stance was not asked for")
    windows: int | None = Field(
        default=None,
        description="present when the sentence was longer than the model's max_length tokens: it was read in this many overlapping "
        "windows, and its scores are those of the window most sure it takes a stance",
    )


class EvidenceSentence(BaseModel):
    index: int = Field(description="the sentence's index in `sentences`")
    label: str
    score: float
    text: str


class TargetSummary(BaseModel):
    counts: dict[str, int]
    mentions: int = Field(description="sentences whose label is not none")
    score: float = Field(description="mean P(favor) - P(against) over those sentences, in [-1, 1]")
    evidence: list[EvidenceSentence]


class LabelEvidence(BaseModel):
    index: int = Field(description="the sentence's index in `sentences`")
    start: int
    end: int
    text: str


class ArticleLabelsResult(BaseModel):
    labels: list[str] = Field(description="the labels passing their thresholds, else the label set's fallback (`Other` for narratives)")
    scores: dict[str, float] = Field(description="a calibrated probability for every label of the set, named as the organisers write them")
    evidence: dict[str, list[LabelEvidence]] = Field(
        description="for each label given (not the fallback): the sentences of the chunk of the article (consecutive sentences, "
        "up to the model's max_length tokens) whose logit for the label is highest"
    )


class AnalyzeResponse(BaseModel):
    model: ModelIdentity = Field(description="the stance model")
    tasks: list[str] = Field(description="the tasks analysed")
    targets: list[str] | None = Field(default=None, description="the stance targets (with stance)")
    sentences: list[AnalyzedSentence]
    summary: dict[str, TargetSummary] | None = Field(default=None, description="stance per target (with stance)")
    frames: ArticleLabelsResult | None = Field(default=None, description="with frames")
    narratives: ArticleLabelsResult | None = Field(default=None, description="with narratives")
    framing_models: dict[str, ModelIdentity] | None = Field(default=None, description="the frames and narratives models that answered")


class TargetInfo(BaseModel):
    name: str
    description: str
    query: str


class InfoResponse(BaseModel):
    model: dict[str, Any]
    targets: list[TargetInfo]
    labels: dict[str, list[str]]
    tasks: dict[str, dict[str, Any]] = Field(
        description="stance, frames, narratives: whether each is served; for frames and narratives the model (name, version, "
        "encoder, runtime), the label set (name and description of each label) and its fallback, or why it is unavailable"
    )
    limits: dict[str, Any]
    metrics: dict[str, Any] | None = Field(description="dev-set metrics from the model's training_config.json, when present")


class ReloadResponse(BaseModel):
    model: dict[str, Any]
    previous: dict[str, Any] | None


class ErrorResponse(BaseModel):
    error: str
    error_type: str = Field(description="validation, too_large, overloaded, not_ready, bad_request, not_found, unauthorized or internal")
