"""Image checks for the LLaVA data contract: every image a record names must be safe to open.

    from vit.curate.images import check_image, check_images
    info = check_image(root, "coco/train2017/000000000009.jpg")   # or raises ImageError
    results = check_images(root, rels, workers=2)                  # ImageInfo | ImageError

Each failure is an `ImageError` with a stable `code` (image_unsafe_path, image_missing,
image_empty, image_unreadable, image_too_large, image_corrupt) so callers can count and
filter by it. A readable image whose bytes do not match its extension (GIF bytes in a .jpg,
as in LLaVA's ocr_vqa download) is not fatal: it comes back on `ImageInfo.issues`.
"""

from __future__ import annotations

import contextlib
import os
import stat
import threading
import warnings
from collections.abc import Iterator, Sequence
from concurrent.futures import Executor, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from PIL import Image, UnidentifiedImageError

from vit.records import RecordError, UnsafePathError, resolve_image

DEFAULT_MAX_PIXELS = 64_000_000
_MISS = object()
# Formats that share a file extension in practice: a camera .jpg often opens as MPO.
_SAME_FORMAT = {"MPO": "JPEG"}


class ImageError(RecordError):
    """An image that cannot be used for training; `code` says why, the message says which."""

    def __init__(self, code: str, rel: str, reason: str) -> None:
        # resolve_image's reasons already name the path; do not say it twice
        super().__init__(reason if repr(rel) in reason else f"image {rel!r}: {reason}")
        self.code = code
        self.rel = rel
        self.reason = reason

    def __reduce__(self):  # pickles (e.g. into a process pool or a Prefect result) intact
        return (type(self), (self.code, self.rel, self.reason))


@dataclass(frozen=True, slots=True)
class ImageInfo:
    """What the header (and, with decode, the full pixel data) says about one image file.

    `issues` holds non-fatal (code, message) findings, e.g. ("image_ext_mismatch", ...).
    """

    rel: str
    width: int
    height: int
    mode: str
    format: str
    nbytes: int
    issues: tuple[tuple[str, str], ...] = ()


class PathResolver:
    """Safe paths under one root, resolving the root once and each directory once.

    `resolve_image` walks every path component (an lstat each); image sets keep 100k files
    in a handful of directories, so caching the directory and lstat-ing only the file is
    several times cheaper and refuses exactly what `resolve_image` refuses.
    """

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root).resolve()
        self._dirs: dict[str, str | None] = {}  # str, not Path: pathlib costs ~3 us a join

    def __call__(self, rel: str) -> tuple[str, os.stat_result]:
        """Return (absolute path, stat) or raise ImageError; a missing file is image_missing."""
        try:
            path = self._fast(rel)
            st = os.lstat(path)
            if stat.S_ISLNK(st.st_mode):  # the link target decides; check it fully
                path = str(resolve_image(self.root, rel))
                st = os.stat(path)
        except UnsafePathError as e:
            raise ImageError("image_unsafe_path", rel, str(e)) from None
        except FileNotFoundError:
            raise ImageError("image_missing", rel, f"no such file under {self.root}") from None
        except OSError as e:
            raise ImageError("image_unreadable", rel, f"cannot stat: {e.strerror}") from None
        return path, st

    def _fast(self, rel: str) -> str:
        head, name = os.path.split(rel) if rel else ("", "")
        odd = not name or name in (".", "..") or "\x00" in rel or rel.startswith(("/", "\\"))
        if odd or (len(rel) > 1 and rel[1] == ":"):
            return str(resolve_image(self.root, rel))  # the slow path raises or handles it
        d = self._dirs.get(head, _MISS)
        if d is _MISS:
            try:
                d = str(self.root if head in ("", ".") else resolve_image(self.root, head))
            except UnsafePathError:
                d = None
            self._dirs[head] = d  # racing threads compute the same value; harmless
        if d is None:  # the directory leaves the root: let the slow path say so for `rel`
            return str(resolve_image(self.root, rel))
        return f"{d}/{name}"


def check_image(
    root: str | Path,
    rel: str,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    decode: bool = True,
) -> ImageInfo:
    """Check one image under `root`; return its ImageInfo or raise ImageError with a reason.

    With `decode=False` only the header is read: fast, but a truncated file passes.
    """
    with _bomb_warnings_are_errors():
        return _check(PathResolver(root), rel, max_pixels, decode)


def check_images(
    root: str | Path,
    rels: Sequence[str],
    workers: int | None = None,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    decode: bool = True,
    *,
    executor: Executor | None = None,
    resolver: PathResolver | None = None,
) -> list[ImageInfo | ImageError]:
    """Check many images in a thread pool; results come back in input order.

    Measured on 2 cores, 2000 128x128 PNGs, warm page cache (images/s, full decode):
    1 thread 4.9k, 2 threads 7.1k, 3 threads 8.0k, 4 threads 7.8k; a process pool of 2
    with chunks of 100: fork 8.4k, forkserver 6.9k, spawn 6.3k (start-up included).
    Threads match fork and beat the safe start methods (fork is unsafe in a threaded
    Prefect worker), and need no pickling, so threads it is. About 60% of the time is in
    PIL's C decoders, which release the GIL; the rest (PIL's Python header parsing) is
    serialized, which is why one thread more than cores helps. Header-only checks
    (decode=False) are nearly all Python: 44k/s on one thread, 18k/s on two, so they run
    on one thread unless `workers` says otherwise (more help only on slow network disks).
    (Numbers from a shared 2-core box; reruns vary by about 10%.)
    """
    resolver = resolver or PathResolver(root)

    def one(rel: str) -> ImageInfo | ImageError:
        try:
            return _check(resolver, rel, max_pixels, decode)
        except ImageError as e:
            return e

    with _bomb_warnings_are_errors():
        if executor is not None:
            return list(executor.map(one, rels))
        n = default_workers(decode) if workers is None else max(1, workers)
        if n == 1 or len(rels) < 2:
            return [one(r) for r in rels]
        with ThreadPoolExecutor(n, thread_name_prefix="vit-img") as pool:
            return list(pool.map(one, rels))


def default_workers(decode: bool = True) -> int:
    """One more thread than cores for decoding (see check_images), one for header checks."""
    return min(16, (os.cpu_count() or 1) + 1) if decode else 1


_BOMB_LOCK = threading.Lock()
_bomb_users = 0
_bomb_added = False  # False when the caller had already installed the very same filter
_BOMB_FILTER = ("error", None, Image.DecompressionBombWarning, None, 0)


@contextlib.contextmanager
def _bomb_warnings_are_errors() -> Iterator[None]:
    """Make PIL's DecompressionBombWarning an exception while any check runs, then undo it.

    The filter list is process-global. `catch_warnings` swaps the whole list and is not
    thread-safe (two overlapping validations would restore each other's state), so we add
    one filter, reference-counted under a lock, and remove just that filter afterwards:
    filters other code adds in the meantime survive, and other code sees the bomb warning
    as an error only while a check is running.
    """
    global _bomb_users, _bomb_added
    with _BOMB_LOCK:
        if _bomb_users == 0:
            _bomb_added = _BOMB_FILTER not in warnings.filters
            if _bomb_added:
                warnings.filterwarnings("error", category=Image.DecompressionBombWarning)
        _bomb_users += 1
    try:
        yield
    finally:
        with _BOMB_LOCK:
            _bomb_users -= 1
            if _bomb_users == 0 and _bomb_added:
                with contextlib.suppress(ValueError):
                    warnings.filters.remove(_BOMB_FILTER)
                    getattr(warnings, "_filters_mutated", lambda: None)()


def _check(resolver: PathResolver, rel: str, max_pixels: int, decode: bool) -> ImageInfo:
    f, nbytes = _open_file(resolver, rel)
    with f:
        img = _open_header(f, rel, max_pixels)
        with img:
            info = _info(img, rel, nbytes)  # before a JPEG draft shrinks img.size
            if decode:
                _decode(img, rel)
    return info


def load_image(
    root: str | Path,
    rel: str,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    *,
    resolver: PathResolver | None = None,
) -> tuple[ImageInfo, Image.Image]:
    """`check_image` that also returns the fully decoded image, so curation decodes once.

    Same safe path, bomb guard and ImageError codes as `check_image`, but no JPEG draft:
    hashes and quality stats need every pixel. The image is loaded and its file closed;
    the caller owns (and may close) it.
    """
    resolver = resolver or PathResolver(root)
    with _bomb_warnings_are_errors():
        f, nbytes = _open_file(resolver, rel)
        with f:
            img = _open_header(f, rel, max_pixels)
            try:
                info = _info(img, rel, nbytes)
                _decode(img, rel, draft=False)
            except BaseException:
                img.close()
                raise
    return info, img


def _open_file(resolver: PathResolver, rel: str):
    path, st = resolver(rel)
    if not stat.S_ISREG(st.st_mode):
        raise ImageError("image_unreadable", rel, "is not a regular file")
    if st.st_size == 0:
        raise ImageError("image_empty", rel, "is a zero-byte file")
    try:
        f = open(path, "rb")  # noqa: SIM115 - the caller closes it; open errors are ours to name
    except OSError as e:
        raise ImageError("image_unreadable", rel, f"cannot open: {e.strerror}") from None
    return f, st.st_size


def _open_header(f, rel: str, max_pixels: int) -> Image.Image:
    """Open and check the header only; the caller closes the image."""
    try:
        img = Image.open(f)
    except UnidentifiedImageError:
        raise ImageError("image_unreadable", rel, "is not an image PIL can identify") from None
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as e:
        raise ImageError("image_too_large", rel, f"decompression-bomb guard: {e}") from None
    except Exception as e:  # fuzzed headers raise anything; all mean the same to us
        raise ImageError("image_corrupt", rel, f"header is corrupt: {e}") from None
    w, h = img.size
    # The header is all we have read so far: refuse giants before allocating pixels.
    if w * h > max_pixels:
        img.close()
        raise ImageError(
            "image_too_large", rel, f"header claims {w}x{h} = {w * h} pixels > {max_pixels}"
        )
    if w <= 0 or h <= 0:
        img.close()
        raise ImageError("image_corrupt", rel, f"header claims an empty {w}x{h} image")
    return img


def _info(img: Image.Image, rel: str, nbytes: int) -> ImageInfo:
    (w, h), mode, fmt = img.size, img.mode, img.format or "?"
    issue = _ext_issue(rel, fmt)
    return ImageInfo(rel, w, h, mode, fmt, nbytes, (issue,) if issue else ())


def _decode(img: Image.Image, rel: str, draft: bool = True) -> None:
    if draft and img.format == "JPEG":
        # libjpeg's 1/8 scale still entropy-decodes every block, so truncation and corrupt
        # scans are caught, but skips most of the IDCT (1.4x on noisy 640x480 JPEGs).
        img.draft(None, (max(1, img.width // 8), max(1, img.height // 8)))
    try:
        img.load()  # LOAD_TRUNCATED_IMAGES stays off: a short file must fail here
    except Exception as e:  # decoders raise OSError, SyntaxError, ValueError, ... alike
        raise ImageError("image_corrupt", rel, f"is truncated or corrupt: {e}") from None


_EXT_FORMATS: dict[str, str] | None = None


def _ext_issue(rel: str, fmt: str) -> tuple[str, str] | None:
    global _EXT_FORMATS
    if _EXT_FORMATS is None:  # registered_extensions() imports every plugin; do it once
        _EXT_FORMATS = {e.lower(): f for e, f in Image.registered_extensions().items()}
    ext = os.path.splitext(rel)[1]
    expected = _EXT_FORMATS.get(ext.lower())
    if expected is None:  # unknown or no extension: nothing to contradict
        return None
    if _SAME_FORMAT.get(expected, expected) == _SAME_FORMAT.get(fmt, fmt):
        return None
    return (
        "image_ext_mismatch",
        f"image {rel!r}: content is {fmt} but the extension {ext} says {expected}",
    )
