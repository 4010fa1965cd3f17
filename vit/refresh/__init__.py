"""Incremental refresh: images dropped into an incoming folder join the dataset, once each.

    vit refresh                                   # params.yaml's `refresh` section
    from vit.refresh import RefreshConfig, refresh
    summary = refresh(RefreshConfig(incoming="data/incoming"), load_params("params.yaml"))

One run:
1. scan: every file under `incoming` (the folder source's rules: recursive, hidden files
   skipped, `captions.csv|jsonl` / `metadata.csv|jsonl` at the top as the captions sidecar,
   `records.jsonl` at the top as the annotations sidecar: vitflow records, as `vit generate
   scenes` writes them, whose `image` names a file inside `incoming`) is hashed (sha256 of its bytes). A hash already in the ledger was handled by an earlier
   run and is skipped, so dropped files may stay where they are.
2. ingest + curate the new files, staged under content names (`incoming-<sha16>.png`), with
   vit.ingest and vit.curate: the LLaVA contract and the quality filters, reasons kept.
3. dedup against everything already seen (the `seen` datasets and every earlier refresh) with
   vit.dedup's own methods over old + new signatures, old rows ranked first: an old record
   always survives, a new one goes when it duplicates anything kept.
4. append the accepted records to `dataset` as one new shard (images copied in), manifest
   last; then the ledger (one outcome per content hash) and the counters.
5. synthesize: vit.synth writes instructions for the added records into `synth_out`, one
   output shard per dataset shard, so only the new shard is worked on and the generation
   cache answers anything asked before (records without boxes are skipped, as always).
6. retraining is due once the records added since the last training reach `threshold`.

A crash before the manifest leaves the dataset as it was and the files unledgered, so the
next run does them again; a crash between manifest and ledger makes the next run find those
files as exact duplicates of what was appended: nothing is ever added twice.
"""

from vit.refresh.incoming import RECORDS_SIDECAR, load_records_sidecar, scan
from vit.refresh.ledger import STATUSES, load_ledger, load_state, mark_trained, retrain_due
from vit.refresh.run import RefreshConfig, refresh

__all__ = [
    "RECORDS_SIDECAR",
    "STATUSES",
    "RefreshConfig",
    "load_ledger",
    "load_records_sidecar",
    "load_state",
    "mark_trained",
    "refresh",
    "retrain_due",
    "scan",
]
