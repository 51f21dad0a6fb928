"""From what a user passes as a model to a local file or folder, fetched once and checked.

`resolve_path(spec)` gives what `pclr_keras.weights.load.load_encoder` reads:

- a file or folder that exists: itself;
- a preset name (`pclr-ptbxl`, `pclr-ml4h`, ...; `pclr_keras.weights.presets`):
  the preset folder inside the installed package; an earlier release's
  folder in the repository (`model_zoo/PCLR/presets/`) or copied into the
  cache; or the preset's files downloaded once into the cache
  (`$PCLR_CACHE`, by default `~/.cache/pclr_keras`); each checked against
  its pinned SHA-256;
- `https://...` with a SHA-256 (`sha256=` or a `#sha256=HEX` suffix):
  downloaded once into the cache, checked;
- `hf://org/name[@revision]`: a Hugging Face Hub repository holding a preset
  folder, through `huggingface_hub` (the `[hub]` extra) and its own cache.

Anything else is an error that lists the presets and the closest names.
Nothing here imports TensorFlow, so `pclr presets` answers at once.
"""

import os
import sys
import urllib.parse
from pathlib import Path

from pclr_keras.weights.downloads import DownloadError, fetch_file, file_digest
from pclr_keras.weights.presets import (
    ALIASES, ARCHIVE_DIR, ARCHIVE_IN_REPOSITORY, PACKAGE_DIR, PRESET_WEIGHTS, PRESETS,
    WEIGHTS_DIR, get_preset, unknown_preset_message)

CACHE_ENV = "PCLR_CACHE"
OFFLINE_ENV = "PCLR_OFFLINE"
HF_PREFIX = "hf://"


class PresetUnavailableError(OSError):
    """A preset's or URL's files are neither in the cache nor downloadable."""


def cache_root():
    """Where downloads are kept: `$PCLR_CACHE`, or `~/.cache/pclr_keras`."""
    return Path(os.environ.get(CACHE_ENV) or Path.home() / ".cache" / "pclr_keras")


def resolve_path(spec, sha256=None):
    """A local file or folder for `spec`, downloading it once if needed.

    Args:
        spec: str or path. A file or folder, a preset name, `https://...`
            (with a SHA-256) or `hf://org/name[@revision]`.
        sha256: str. The expected SHA-256 of an `https://` download.

    Returns:
        Path of what `load_encoder` should read.

    Raises:
        FileNotFoundError: not a file, folder, preset or URL; lists the presets.
        PresetUnavailableError: a download failed or is switched off
            (`PCLR_OFFLINE=1`); says what to download and where to put it.
        ValueError: an `https://` URL without a SHA-256, or a cached or
            downloaded file of the wrong SHA-256 (deleted).
    """
    text = os.fspath(spec)
    if Path(text).exists():
        return Path(text)
    if text in PRESETS or text in ALIASES:
        return preset_path(get_preset(text))
    if text.startswith(HF_PREFIX):
        return hub_path(text)
    if text.startswith(("https://", "http://")):
        return url_path(text, sha256)
    raise FileNotFoundError(unknown_preset_message(
        text, f"No model at {text!r}: not a file or folder, not a preset name, not an "
              "https:// or hf:// address."))


def preset_path(preset):
    """The preset's folder in the package, in the repository or the cache (an archived
    release), or its downloaded files in the cache."""
    if preset.archived:
        return archived_path(preset)
    if preset.packaged:
        folder = WEIGHTS_DIR / preset.packaged
        if not (folder / PRESET_WEIGHTS).is_file():
            raise PresetUnavailableError(
                f"Preset {preset.name!r} should be inside the package at {folder}, but "
                "model.weights.h5 is missing there: reinstall pclr-keras.")
        return folder
    folder = cache_root() / preset.name
    for item in preset.files:
        _ensure(item, folder / item.path, preset)
    return folder / preset.load_path


def archived_path(preset):
    """An earlier release's folder: the repository's, else one copied into the cache, if
    its weights have the pinned SHA-256."""
    pinned = preset.archived.sha256
    for folder in (ARCHIVE_DIR / preset.name, cache_root() / preset.name):
        weights = folder / PRESET_WEIGHTS
        if not weights.is_file():
            continue
        got = file_digest(weights, "sha256")
        if got != pinned:
            raise ValueError(f"Preset {preset.name!r}: {weights} has SHA-256 {got}, not the "
                             f"pinned {pinned}; replace that folder with the repository's.")
        return folder
    raise PresetUnavailableError(
        f"Preset {preset.name!r} is an earlier release, kept in the pclr-keras repository "
        f"({ARCHIVE_IN_REPOSITORY}/{preset.name}/) rather than in the installed package, "
        f"which carries only the current release ({ALIASES['pclr-ptbxl']}). Pass that folder "
        f"as the model, or copy it to {cache_root() / preset.name} (its {PRESET_WEIGHTS} "
        f"SHA-256 {pinned}).")


def _ensure(item, dest, preset):
    """Puts one pinned file at `dest`: kept if it matches, else downloaded and checked."""
    note = ""
    if dest.is_file():
        got = file_digest(dest, "sha256")
        if got == item.sha256:
            return
        dest.unlink()
        note = (f" The file that was at {dest} had SHA-256 {got}, not {item.sha256}; it "
                "was deleted.")
    if os.environ.get(OFFLINE_ENV) == "1":
        raise PresetUnavailableError(_offline_message(preset, f"{OFFLINE_ENV}=1") + note)
    print(f"pclr-keras: downloading {preset.name}: {item.url} ({item.size:,} bytes) "
          f"to {dest}", file=sys.stderr)
    try:
        fetch_file(item.url, dest, ("sha256", item.sha256), retries=1, timeout=60)
    except DownloadError as error:
        if "mismatch" in str(error):
            raise ValueError(f"Preset {preset.name!r}: {item.url} did not give the pinned "
                             f"file ({error}); nothing was kept.{note}") from None
        raise PresetUnavailableError(_offline_message(preset, str(error)) + note) from None


def _offline_message(preset, reason):
    folder = cache_root() / preset.name
    wanted = "\n".join(f"  {f.url}\n    SHA-256 {f.sha256}, {f.size:,} bytes -> {folder / f.path}"
                       for f in preset.files)
    return (f"Preset {preset.name!r} is not in the cache and could not be downloaded "
            f"({reason}). Download these files and put each at the path shown (or set "
            f"{CACHE_ENV} to a folder holding {preset.name}/); they are then loaded "
            f"without network:\n{wanted}")


def url_path(url, sha256=None):
    """An `https://` file, downloaded once into the cache and checked against `sha256`."""
    address, _, fragment = url.partition("#")
    if fragment.startswith("sha256="):
        sha256 = sha256 or fragment[len("sha256="):]
    if not sha256:
        raise ValueError(
            f"{address}: give the file's SHA-256 so the download can be checked: "
            f"load_encoder({address!r}, sha256=HEX), or append '#sha256=HEX' to the URL.")
    sha256 = sha256.lower()
    name = Path(urllib.parse.urlparse(address).path).name or "model"
    dest = cache_root() / "downloads" / sha256[:16] / name
    if dest.is_file() and file_digest(dest, "sha256") == sha256:
        return dest
    if dest.is_file():
        got = file_digest(dest, "sha256")
        dest.unlink()
        print(f"pclr-keras: {dest} had SHA-256 {got}, not {sha256}; deleted", file=sys.stderr)
    if os.environ.get(OFFLINE_ENV) == "1":
        raise PresetUnavailableError(
            f"{address} is not in the cache and {OFFLINE_ENV}=1: download it (SHA-256 "
            f"{sha256}) to {dest}.")
    try:
        fetch_file(address, dest, ("sha256", sha256), retries=1, timeout=60)
    except DownloadError as error:
        if "mismatch" in str(error):
            raise ValueError(f"{address}: {error}; the download was deleted.") from None
        raise PresetUnavailableError(
            f"{address} could not be downloaded ({error}); download it (SHA-256 {sha256}) "
            f"to {dest}.") from None
    return dest


def hub_path(spec):
    """A Hugging Face Hub preset folder `hf://org/name[@revision]`, from HF's cache or the Hub."""
    repo, _, revision = spec[len(HF_PREFIX):].partition("@")
    if repo.count("/") != 1 or not all(repo.split("/")):
        raise ValueError(f"{spec!r}: write a Hub model as hf://org/name or hf://org/name@revision.")
    try:
        import huggingface_hub
        from huggingface_hub.errors import HfHubHTTPError, LocalEntryNotFoundError
    except ImportError:
        raise ImportError(
            f"{spec}: hf:// models need huggingface_hub: pip install 'pclr-keras[hub]'") from None
    try:
        return Path(huggingface_hub.snapshot_download(repo, revision=revision or None))
    except LocalEntryNotFoundError as error:
        raise PresetUnavailableError(
            f"{spec}: not in the Hugging Face cache and the Hub cannot be reached "
            f"({error}).") from None
    except HfHubHTTPError as error:
        raise PresetUnavailableError(f"{spec}: the Hub answered {error}") from None


def describe_preset(name):
    """Every field of one preset and, for a downloaded one, where its files come from and
    are kept: one per line, for `pclr presets NAME`."""
    preset = get_preset(name)
    card = (preset.model_card if "://" in preset.model_card or preset.archived
            else PACKAGE_DIR / preset.model_card)
    lines = [("name", preset.name), ("version", preset.version), ("variant", preset.variant),
             ("input shape", f"(None, {preset.input_shape[0]}, {preset.input_shape[1]})"),
             ("output shape", "(None, 320)"), ("training data", preset.training_data),
             ("size", f"{preset.size:,} bytes"), ("SHA-256", preset.sha256),
             ("code licence", preset.code_licence), ("weights licence", preset.weights_licence),
             ("source", preset.source_url), ("date", preset.date), ("model card", str(card))]
    if preset.archived or preset.files:
        lines.append(("pinned", preset.pinning))
    if preset.archived:
        lines.append(("found in", f"{ARCHIVE_DIR / preset.name} or {cache_root() / preset.name}"))
    if preset.files:
        lines.append(("cache", str(cache_root() / preset.name)))
        lines += [("file", f"{f.url} sha256 {f.sha256} ({f.size:,} bytes)") for f in preset.files]
    return "\n".join(f"{key:<16} {value}" for key, value in lines)


def weights_sha256(path):
    """SHA-256 of an encoder's weights file: the file itself, or a preset folder's
    `model.weights.h5`; None for other folders (ml4h's SavedModels)."""
    path = Path(path)
    if path.is_dir():
        path = path / PRESET_WEIGHTS
    if not path.is_file():
        return None
    return file_digest(path, "sha256")
