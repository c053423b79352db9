"""What every asset shares: user errors as clean step failures, and preview images as metadata."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import dagster as dg
import numpy as np

from cosavatar_pipeline.errors import CosavatarError
from cosavatar_pipeline.preview import png_data_uri


@contextmanager
def user_errors_fail_the_step() -> Iterator[None]:
    """A bad input fails the step with its one-line message, without a library traceback or retries."""
    try:
        yield
    except CosavatarError as exc:
        raise dg.Failure(description=str(exc), allow_retries=False) from None


def manifest_output(manifest, metadata: dict) -> dg.Output:
    """The asset's value (its committed manifest), versioned by the hashes of its files, with its metadata."""
    return dg.Output(manifest, data_version=dg.DataVersion(manifest.data_version), metadata=metadata)


def preview_metadata(image: np.ndarray, title: str) -> dg.MetadataValue:
    return dg.MetadataValue.md(f"![{title}]({png_data_uri(image)})")


class ProgressLog:
    """Log "done/total" to the step's log at most ``every`` items apart, and at the end."""

    def __init__(self, context: dg.AssetExecutionContext, label: str, every: int):
        self.context, self.label, self.every, self._last = context, label, every, 0

    def __call__(self, done: int, total: int) -> None:
        if done - self._last >= self.every or done == total:
            self._last = done
            self.context.log.info(f"{self.label}: {done}/{total}")
