"""The Embedder interface and the helpers every embedder shares.

An embedder turns images and/or texts into float32 rows of unit length, so cosine
similarity is a dot product and FAISS inner-product indexes apply directly. Each one carries
a `key`, a stable identity of everything that changes its output (model content, revision,
dtype, pooling, descriptor version); the embedding cache uses it as its namespace, so two
models never share vectors and a retrained model never reuses stale ones.

Heavy imports (torch, transformers) stay inside functions: importing this module is cheap.
"""

from __future__ import annotations

import hashlib
import json
import re
from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from PIL import Image

# Show a progress bar by default only when a call is long enough to be worth watching.
PROGRESS_MIN_ITEMS = 1000
# Model files above this size are identified by size + mtime instead of a full content hash,
# so fingerprinting a 14 GB checkpoint costs a stat, not a minute of reading.
HASH_FULL_MAX_BYTES = 256 << 20
_CONFIG_SUFFIXES = {".json", ".txt", ".model", ".jinja", ".py"}
_DTYPE_ALIASES = {"bf16": "bfloat16", "fp16": "float16", "fp32": "float32"}
_WEIGHT_SUFFIXES = {".safetensors", ".bin", ".pt", ".pth", ".ckpt", ".gguf", ".msgpack", ".h5"}


class Embedder(ABC):
    """Images and/or texts -> float32 (n, dim) rows, each L2-normalized.

    Subclasses implement `embed_pil` (image embedders) and/or `embed_texts` (text
    embedders); `embed_images` decodes files in batches and hands them to `embed_pil`.
    """

    name: str = ""
    key: str = ""
    batch_size: int = 64
    has_images: bool = True
    has_texts: bool = False
    # JPEG decoders can downscale while decoding; embedders with small inputs set this to
    # skip most of the decode work on large photos.
    draft_size: tuple[int, int] | None = None
    # Threads decoding files (PIL releases the GIL); >1 pays off when a model, not the
    # decode, is the bottleneck and images are large, 1 for small images on one core.
    decode_workers: int = 1

    @property
    @abstractmethod
    def dim(self) -> int:
        """Length of every embedding row."""

    def embed_pil(self, images: Sequence[Image.Image], progress: bool | None = None) -> np.ndarray:
        """float32 (len(images), dim), rows L2-normalized."""
        raise NotImplementedError(f"embedder {self.name!r} embeds texts only, not images")

    def embed_texts(self, texts: Sequence[str], progress: bool | None = None) -> np.ndarray:
        """float32 (len(texts), dim), rows L2-normalized."""
        raise NotImplementedError(
            f"embedder {self.name!r} embeds images only; use 'clip' or 'text' for texts"
        )

    def embed_images(self, paths: Sequence[str | Path], progress: bool | None = None) -> np.ndarray:
        """Decode and embed image files, `batch_size` at a time (bounded memory)."""
        if not self.has_images:
            raise NotImplementedError(f"embedder {self.name!r} embeds texts only, not images")
        out = np.empty((len(paths), self.dim), dtype=np.float32)
        load = partial(load_rgb, draft=self.draft_size)
        with (
            _decoder(self.decode_workers) as decode,
            progress_bar(len(paths), f"embed {self.name}", progress) as bar,
        ):
            for lo, hi in iter_batches(len(paths), self.batch_size):
                out[lo:hi] = self.embed_pil(list(decode(load, paths[lo:hi])), progress=False)
                bar.update(hi - lo)
        return out

    def __repr__(self) -> str:
        return f"<{type(self).__name__} key={self.key!r}>"


@contextmanager
def _decoder(workers: int) -> Iterator[Any]:
    """`map` over a thread pool (PIL decodes outside the GIL), or the builtin for 1 worker."""
    if workers <= 1:
        yield map
        return
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(workers) as pool:
        yield pool.map


# --- array and iteration helpers ----------------------------------------------------------


def l2_normalize(x: np.ndarray, eps: float = 1e-12) -> np.ndarray:
    """Rows scaled to unit length, as float32; an all-zero row stays zero instead of NaN."""
    x = np.asarray(x, dtype=np.float32)
    norms = np.linalg.norm(x, axis=-1, keepdims=True)
    return x / np.maximum(norms, eps)


def iter_batches(n: int, size: int) -> Iterator[tuple[int, int]]:
    """(lo, hi) bounds covering range(n) in chunks of `size`."""
    size = max(1, int(size))
    for lo in range(0, n, size):
        yield lo, min(n, lo + size)


def progress_bar(total: int, desc: str, progress: bool | None):
    """A tqdm bar; `progress=None` shows one only for long runs."""
    from tqdm.auto import tqdm

    show = total >= PROGRESS_MIN_ITEMS if progress is None else progress
    return tqdm(total=total, desc=desc, unit="item", disable=not show, leave=False)


def load_rgb(path: str | Path, draft: tuple[int, int] | None = None) -> Image.Image:
    """Decode an image file to RGB; the error names the file (dedup runs after curate,
    so a failure here is a real surprise worth stopping on)."""
    from PIL import Image

    try:
        with Image.open(path) as img:
            if draft is not None and img.format == "JPEG":
                img.draft("RGB", draft)
            return img.convert("RGB")
    except Exception as e:  # PIL raises many types; one clear error is what callers need
        raise ValueError(f"cannot decode image {path}: {e}") from e


# --- identity: keys and model fingerprints ------------------------------------------------


def digest(*parts: Any) -> str:
    """sha256 hex of JSON-encoded parts: a stable hash of a config."""
    blob = json.dumps(parts, sort_keys=True, default=str).encode("utf-8")
    return hashlib.sha256(blob).hexdigest()


def make_key(name: str, model: str | Path | None, *parts: Any) -> str:
    """`name:slug:hash16`: readable (model basename) and exact (hash of everything else)."""
    slug = re.sub(r"[^A-Za-z0-9._-]+", "-", Path(str(model)).name if model else "builtin")
    return f"{name}:{slug[:48]}:{digest(name, *parts)[:16]}"


def model_fingerprint(model: str | Path, revision: str | None = None) -> str:
    """Identity of a checkpoint by content, not location: a local folder is hashed (config
    files fully, big weight files by size + mtime); a hub id resolves to its cached
    snapshot when there is one, else to `id@revision`."""
    p = Path(model).expanduser()
    if p.is_dir():
        return _dir_fingerprint(p)
    snapshot = _hub_snapshot(str(model), revision)
    if snapshot is not None:
        return _dir_fingerprint(snapshot)
    return digest("hub", str(model), revision or "main")


def _dir_fingerprint(root: Path) -> str:
    h = hashlib.sha256()
    for f in sorted(root.rglob("*")):
        suffix = f.suffix.lower()
        if not f.is_file() or suffix not in _CONFIG_SUFFIXES | _WEIGHT_SUFFIXES:
            continue
        st = f.stat()
        h.update(f"{f.relative_to(root).as_posix()}\0{st.st_size}\0".encode())
        if st.st_size <= HASH_FULL_MAX_BYTES:
            h.update(hashlib.sha256(f.read_bytes()).digest())
        else:
            h.update(str(st.st_mtime_ns).encode())
    return h.hexdigest()


def _hub_snapshot(repo_id: str, revision: str | None) -> Path | None:
    try:
        from huggingface_hub import try_to_load_from_cache

        hit = try_to_load_from_cache(repo_id, "config.json", revision=revision)
    except Exception:  # not a valid repo id, or no hub library: treat as not cached
        return None
    return Path(hit).parent if isinstance(hit, str) else None


# --- torch placement ----------------------------------------------------------------------


def resolve_device(device: str | None) -> str:
    """`None` picks cuda, then mps, then cpu."""
    if device:
        return str(device)
    import torch

    if torch.cuda.is_available():
        return "cuda"
    if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
        return "mps"
    return "cpu"


def resolve_dtype(dtype: Any, device: str):
    """None/"auto": bf16 on CUDA (half the memory, tensor-core speed), float32 elsewhere.
    Accepts torch dtypes, their names, and the bf16/fp16/fp32 shorthands."""
    import torch

    if dtype in (None, "auto"):
        return torch.bfloat16 if device.startswith("cuda") else torch.float32
    if isinstance(dtype, str):
        name = _DTYPE_ALIASES.get(dtype, dtype)
        if not isinstance(getattr(torch, name, None), torch.dtype):
            raise ValueError(f"unknown dtype {dtype!r}")
        return getattr(torch, name)
    return dtype


def dtype_kwargs(dtype) -> dict[str, Any]:
    """transformers renamed `torch_dtype` to `dtype` in 4.56; pass whichever it takes."""
    import transformers
    from packaging.version import Version

    new = Version(transformers.__version__) >= Version("4.56")
    return {"dtype" if new else "torch_dtype": dtype}


def pooled(output: Any):
    """transformers 5 returns a model output from get_*_features; 4.x a bare tensor."""
    return getattr(output, "pooler_output", output)
