"""Prefect flows for FiftyOne review (`vit review sync|pull`); `launch` is a plain command."""

from __future__ import annotations

from typing import Any

from prefect import flow, task


@task(name="sync-to-fiftyone", retries=2, retry_delay_seconds=5)
def sync_task(
    name: str,
    ingested: str | None,
    curated: str | None,
    deduped: str | None,
    embeddings: str | None,
) -> dict[str, Any]:
    # Retries: the database is a separate process that can be briefly unavailable.
    from vit.review.sync import sync

    return sync(
        name, ingested=ingested, curated=curated, deduped=deduped, embeddings=embeddings
    ).to_dict()


@flow(name="review-sync", log_prints=True)
def review_sync_flow(
    name: str,
    ingested: str | None = None,
    curated: str | None = None,
    deduped: str | None = None,
    embeddings: str | None = None,
) -> dict[str, Any]:
    """Load every pipeline decision into a persistent FiftyOne dataset (updates in place)."""
    report = sync_task(name, ingested, curated, deduped, embeddings)
    print(f"FiftyOne dataset {name!r}: {report['samples']} samples, views {report['views']}")
    return report


@flow(name="review-pull", log_prints=True)
def review_pull_flow(name: str, out: str) -> dict[str, Any]:
    """Read reviewer tags (reject / keep) into the DVC-tracked overrides manifest."""
    from vit.review.tags import pull_overrides

    manifest = pull_overrides(name, out)
    print(f"overrides: {len(manifest['reject'])} reject, {len(manifest['keep'])} keep -> {out}")
    return manifest
