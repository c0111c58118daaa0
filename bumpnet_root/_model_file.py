"""A model file's path, checksum and metadata, read without torch.

A scan with worker processes needs torch in the workers only. Its main
process merges results and writes outputs, and from the model it needs the
path, the SHA-256 and the metadata for ``scan_report.json``. Importing torch
and loading the model there took about a second of CPU time (a scan of 30,000
histograms with ``--jobs 2`` takes about 15 s), so :func:`read_model_file`
reads the TorchScript archive as the zip file it is instead. It checks every
member's CRC and the members that ``torch.jit.load`` reads first. A file
that passes and still does not load makes the workers fail, and
:func:`bumpnet_root.parallel.scan_files_fast` reports that.
"""

from __future__ import annotations

import hashlib
import json
import os
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import ModelNotFoundError

DEFAULT_MODEL_PATH = Path(__file__).resolve().parent / "models" / "default.pt"
METADATA_NAME = "metadata.json"
MODEL_ENV = "BUMPNET_MODEL"
# Members of every TorchScript archive, below its top folder, besides a
# "version" in the folder or in its ".data" folder.
_REQUIRED_MEMBERS = ("data.pkl", "constants.pkl")


@dataclass(frozen=True)
class ModelFile:
    """A model file as :func:`read_model_file` found it."""

    path: Path
    metadata: dict[str, Any] = field(default_factory=dict)

    @property
    def checksum(self) -> str:
        """SHA-256 of the model file."""
        return file_checksum(self.path)


def resolve_model_path(path: str | Path | None) -> Path:
    """Return ``path``, or with None the model named by BUMPNET_MODEL or the default."""
    if path is None:
        path = os.environ.get(MODEL_ENV) or DEFAULT_MODEL_PATH
    return Path(path)


def check_model_path(path: Path) -> None:
    """Raise ModelNotFoundError when ``path`` is not a file that exists."""
    if path.is_dir():
        raise ModelNotFoundError(
            f"BumpNet model path {str(path)!r} is a directory; pass the model.pt "
            "file that 'bumpnet train' wrote into it"
        )
    if path.exists() and not path.is_file():
        raise ModelNotFoundError(
            f"BumpNet model path {str(path)!r} is not a regular file (a pipe or "
            "a device); pass the model.pt file that 'bumpnet train' wrote"
        )
    if path.is_symlink() and not path.exists():
        raise ModelNotFoundError(
            f"BumpNet model path {str(path)!r} is a symbolic link to nothing, or "
            "a loop of links; point it at a model file"
        )
    if not path.is_file():
        raise ModelNotFoundError(
            f"BumpNet model file {str(path)!r} does not exist; pass the path of a "
            "model written by 'bumpnet train', or None for the default model"
        )


def damaged_model_error(path: Path, reason: object) -> ModelNotFoundError:
    """Return the error for a model file that cannot be loaded."""
    return ModelNotFoundError(
        f"cannot load BumpNet model {str(path)!r}: {reason}; the file is not a "
        "TorchScript archive, or it is damaged"
    )


def read_model_file(path: str | Path | None = None) -> ModelFile:
    """Check the model file at ``path`` (see the module docstring) and read it.

    ``path`` None means the model of :func:`resolve_model_path`. Raises
    ModelNotFoundError with the messages of
    :func:`bumpnet_root.export.load_torchscript`.
    """
    resolved = resolve_model_path(path)
    check_model_path(resolved)
    try:
        with zipfile.ZipFile(resolved) as archive:
            names = archive.namelist()
            damaged = archive.testzip()
            top = names[0].split("/", 1)[0] if names else ""
            missing = [
                member for member in _REQUIRED_MEMBERS if f"{top}/{member}" not in names
            ]
            if not {f"{top}/version", f"{top}/.data/version"} & set(names):
                missing.append("version")
            metadata_name = f"{top}/extra/{METADATA_NAME}"
            text = archive.read(metadata_name) if metadata_name in names else b""
    except (zipfile.BadZipFile, OSError, EOFError, ValueError) as error:
        raise damaged_model_error(resolved, error) from error
    if damaged is not None:
        raise damaged_model_error(resolved, f"its member {damaged} is damaged")
    if missing:
        raise damaged_model_error(resolved, f"it has no {', '.join(missing)}")
    try:
        metadata = json.loads(text) if text else {}
    except ValueError as error:
        raise damaged_model_error(resolved, f"its {METADATA_NAME}: {error}") from error
    if not isinstance(metadata, dict):
        raise damaged_model_error(resolved, f"its {METADATA_NAME} is not an object")
    return ModelFile(resolved, metadata)


def file_checksum(path: str | Path) -> str:
    """Return the SHA-256 of a file as a hex string."""
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
