"""Read a saved results file, checking that it is one this irisfw can render."""

from __future__ import annotations

import json
from pathlib import Path

from pydantic import ValidationError

from irisfw.errors import IrisfwError
from irisfw.results import SCHEMA_VERSION, Comparison

# Validation errors named in the message; the rest are counted.
MAX_ERROR_DETAILS = 3
COMPARE_HINT = "'irisfw compare --format json --output FILE'"


def read_comparison(path: Path) -> Comparison:
    """Load a saved comparison, raising IrisfwError with a one-line reason.

    Rejects a missing or unreadable file, text that is not JSON (e.g. a file
    cut short), JSON that is not an irisfw results file, a file of another
    ``schema_version``, and a file whose fields do not validate.
    """
    name = repr(str(path))
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise IrisfwError(
            f"results file {name} not found; pass a JSON file written by {COMPARE_HINT}"
        ) from None
    except IsADirectoryError:
        raise IrisfwError(
            f"results file {name} is a directory; pass a JSON file written by"
            f" {COMPARE_HINT}"
        ) from None
    except UnicodeDecodeError:
        raise IrisfwError(
            f"{name} is not an irisfw results file: it is not UTF-8 text; pass a"
            f" JSON file written by {COMPARE_HINT}"
        ) from None
    except OSError as exc:
        raise IrisfwError(
            f"cannot read results file {name}: {exc.strerror}; check the path and"
            " its permissions"
        ) from None
    try:
        document = json.loads(text)
    except json.JSONDecodeError as exc:
        raise IrisfwError(
            f"results file {name} is not valid JSON ({exc.msg} at line {exc.lineno},"
            f" column {exc.colno}); a file cut short is invalid too, so write it"
            f" again with {COMPARE_HINT}"
        ) from None
    if (
        not isinstance(document, dict)
        or "schema_version" not in document
        or "irisfw_version" not in document
    ):
        raise IrisfwError(
            f"{name} is not an irisfw results file: it has no schema_version and"
            f" irisfw_version fields; pass a JSON file written by {COMPARE_HINT}"
        )
    version = document["schema_version"]
    if version != SCHEMA_VERSION:
        from irisfw import __version__

        raise IrisfwError(
            f"{name} has schema_version {version!r}, written by irisfw"
            f" {document['irisfw_version']}, but irisfw {__version__} reads"
            f" schema_version {SCHEMA_VERSION} only; render it with the irisfw"
            " version that wrote it"
        )
    try:
        return Comparison.model_validate(document)
    except ValidationError as exc:
        raise IrisfwError(_describe_invalid(name, document, exc)) from None


def _describe_invalid(name: str, document: dict, exc: ValidationError) -> str:
    errors = exc.errors()
    unknown = [
        ".".join(map(str, error["loc"]))
        for error in errors
        if error["type"] == "extra_forbidden"
    ]
    if unknown:
        from irisfw import __version__

        return (
            f"{name} has fields that irisfw {__version__} does not know"
            f" ({', '.join(unknown[:MAX_ERROR_DETAILS])}); it was written by irisfw"
            f" {document.get('irisfw_version')}, so render it with that version"
            " or a newer one"
        )
    problems = []
    for error in errors[:MAX_ERROR_DETAILS]:
        location = ".".join(map(str, error["loc"])) or "file"
        problems.append(f"{location}: {error['msg']}")
    more = len(errors) - MAX_ERROR_DETAILS
    if more > 0:
        problems.append(f"{more} more")
    return (
        f"invalid results file {name}: {'; '.join(problems)}; pass an unmodified"
        f" file written by {COMPARE_HINT}"
    )
