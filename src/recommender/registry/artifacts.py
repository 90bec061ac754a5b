"""Where model artifacts live: in the database row (default) or in a folder."""

from __future__ import annotations

import hashlib
from pathlib import Path
from urllib.parse import urlparse

from recommender.store.schema import ModelVersion


class ArtifactMissingError(LookupError):
    pass


def store(row: ModelVersion, data: bytes, folder: str | None) -> None:
    """Attach `data` to a version: as bytes in the row, or as a file whose URI the row keeps."""
    digest = hashlib.sha256(data).hexdigest()
    row.artifact_size = len(data)
    row.artifact_sha256 = digest
    if folder is None:
        row.artifact = data
        row.artifact_uri = None
        return
    path = Path(folder).resolve() / row.engine / f"{row.version}-{digest[:12]}.bin"
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_suffix(".tmp")
    temporary.write_bytes(data)
    temporary.replace(path)  # never a half-written artifact under the final name
    row.artifact = None
    row.artifact_uri = path.as_uri()


def fetch(row: ModelVersion) -> bytes:
    """The artifact bytes of a version, checked against the recorded digest."""
    if row.artifact is not None:
        data = row.artifact
    elif row.artifact_uri:
        location = urlparse(row.artifact_uri)
        if location.scheme != "file":
            raise ArtifactMissingError(f"unsupported artifact location {row.artifact_uri}")
        try:
            data = Path(location.path).read_bytes()
        except OSError as error:
            raise ArtifactMissingError(
                f"artifact of {row.engine} v{row.version}: {error}"
            ) from None
    else:
        raise ArtifactMissingError(f"{row.engine} v{row.version} has no artifact")
    if row.artifact_sha256 and hashlib.sha256(data).hexdigest() != row.artifact_sha256:
        raise ArtifactMissingError(f"artifact of {row.engine} v{row.version} is corrupted")
    return data
