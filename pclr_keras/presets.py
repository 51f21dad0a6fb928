"""Weights by name: the preset registry, and one resolver from a name to local files.

`resolve_model(spec)` turns whatever a user passes as a model into a local
file or folder that `pclr_keras.load_encoder` reads:

- a file or folder that exists: itself;
- a preset name (`pclr-ptbxl`, `pclr-ml4h`, ...; `PRESETS` and `ALIASES`):
  the preset folder inside the installed package, or the preset's files
  downloaded once into the cache (`$PCLR_CACHE`, by default
  `~/.cache/pclr_keras`), each checked against its pinned SHA-256;
- `https://...` with a SHA-256 (`sha256=` or a `#sha256=HEX` suffix):
  downloaded once into the cache, checked;
- `hf://org/name[@revision]`: a Hugging Face Hub repository holding a preset
  folder, through `huggingface_hub` (the `[hub]` extra) and its own cache.

Anything else is an error that lists the presets and the closest names.
Nothing here imports TensorFlow, so `pclr presets` answers at once.
"""

import dataclasses
import difflib
import os
import sys
import urllib.parse
from pathlib import Path

from pclr_keras.downloads import DownloadError, fetch_file, file_digest

WEIGHTS_DIR = Path(__file__).resolve().parent / "weights"
CACHE_ENV = "PCLR_CACHE"
OFFLINE_ENV = "PCLR_OFFLINE"
HF_PREFIX = "hf://"

_ML4H_COMMIT = "4c1a5bbccc943b56aa6fa6c467d4fd91172f231c"
_ML4H_TREE = f"https://github.com/broadinstitute/ml4h/tree/{_ML4H_COMMIT}/model_zoo/PCLR"
_ML4H_LFS = f"https://media.githubusercontent.com/media/broadinstitute/ml4h/{_ML4H_COMMIT}/model_zoo/PCLR"
_ML4H_RAW = f"https://raw.githubusercontent.com/broadinstitute/ml4h/{_ML4H_COMMIT}/model_zoo/PCLR"

PTBXL_DATA = ("PTB-XL v1.0.1, 100 Hz (Wagner et al. 2020; CC BY 4.0, PhysioNet): "
              "folds 1-8 only")
ML4H_DATA = ("about 3.2 million 12-lead ECGs of about 400,000 patients of "
             "Massachusetts General Hospital (not public)")
OUR_CODE_LICENCE = "BSD-3-Clause"
OUR_WEIGHTS_LICENCE = ("BSD-3-Clause (the repository's LICENSE); trained on PTB-XL: "
                       "credit Wagner et al. 2020 (CC BY 4.0)")
ML4H_CODE_LICENCE = "GPL-3.0 (ml4h's LICENSE.txt)"
ML4H_WEIGHTS_LICENCE = ("no licence of their own: published in ml4h's repository, "
                        "under its GPL-3.0")


@dataclasses.dataclass(frozen=True)
class PresetFile:
    """One file of a downloaded preset, pinned by its SHA-256 and size.

    Args:
        path: str. Where the file goes, relative to the preset's cache folder.
        url: str. Where it is downloaded from.
        sha256: str. Its SHA-256 (for ml4h's weights: the oid of ml4h's
            git-LFS pointer file).
        size: int. Its size in bytes.
    """

    path: str
    url: str
    sha256: str
    size: int


@dataclasses.dataclass(frozen=True)
class Preset:
    """A named set of weights: what it is, where it comes from, how it is checked.

    Args:
        name: str. The name users pass (`load_encoder(name)`).
        version: str. The weights' own version, independent of the package's.
        variant: str. The encoder variant (`pclr_keras.VARIANTS`).
        input_shape: tuple. (samples, leads) of the encoder's input.
        training_data: str. What the weights were trained on.
        trained_on: str. The same, in a few words, for the table.
        description: str. One line for listings.
        code_licence, weights_licence: str. Licences, and the data's attribution.
        source_url: str. Where the weights are published.
        model_card: str. The card: a path relative to the package, or a URL.
        date: str. When the weights were released (YYYY-MM-DD); for ml4h's,
            the date ml4h's git records for the pinned LFS pointer files.
        packaged: str. The preset folder under `pclr_keras/weights/`, for
            weights shipped inside the package; empty for downloaded ones.
        files: tuple of PresetFile. The files to download, for the others.
        load_path: str. What to load, relative to the cache folder.
        pinning: str. What the hashes pin, and what they do not.
    """

    name: str
    version: str
    variant: str
    input_shape: tuple
    training_data: str
    trained_on: str
    description: str
    code_licence: str
    weights_licence: str
    source_url: str
    model_card: str
    date: str
    packaged: str = ""
    files: tuple = ()
    load_path: str = ""
    pinning: str = ""

    @property
    def size(self):
        """Bytes on disk once available (the packaged folder, or the downloads)."""
        if self.packaged:
            folder = WEIGHTS_DIR / self.packaged
            return sum(f.stat().st_size for f in folder.rglob("*") if f.is_file())
        return sum(f.size for f in self.files)

    @property
    def sha256(self):
        """The SHA-256 of the weights file (the largest file)."""
        if self.packaged:
            return file_digest(WEIGHTS_DIR / self.packaged / "model.weights.h5", "sha256")
        return max(self.files, key=lambda f: f.size).sha256


def _ours(version, date, release, training, trained_on,
          source_url="inside the pclr-keras package"):
    """One of our PTB-XL releases, shipped inside the package."""
    name = f"pclr-ptbxl-v{version}"
    return Preset(
        name=name, version=version, variant="pclr", input_shape=(4096, 12),
        training_data=f"{PTBXL_DATA}: {training}", trained_on=trained_on,
        description=f"our public-data weights, {release}",
        code_licence=OUR_CODE_LICENCE, weights_licence=OUR_WEIGHTS_LICENCE,
        source_url=source_url, model_card=f"weights/{name}/README.md", date=date,
        packaged=name)


def _ml4h_saved_model(name, variant, shape, folder, files, date, description):
    return Preset(
        name=name, version="1", variant=variant, input_shape=shape,
        training_data=ML4H_DATA, trained_on="MGH, 3.2M ECGs", description=description,
        code_licence=ML4H_CODE_LICENCE, weights_licence=ML4H_WEIGHTS_LICENCE,
        source_url=f"{_ML4H_TREE}/{folder}", model_card="weights/ml4h/README.md", date=date,
        files=tuple(PresetFile(f"{folder}/{path}", f"{_ML4H_LFS if lfs else _ML4H_RAW}/{folder}/{path}",
                               sha256, size) for path, sha256, size, lfs in files),
        load_path=folder,
        pinning=("all three files of the SavedModel folder by SHA-256 and size: "
                 "variables.data from ml4h's git-LFS pointer, saved_model.pb and "
                 f"variables.index as stored in ml4h's git at commit {_ML4H_COMMIT[:12]}"))


PRESETS = {preset.name: preset for preset in (
    _ours("0.3", "2026-12-03", "current release (model_zoo/PCLR/PCLR.h5)",
          "v0.2 continued for 800 steps on folds 1-8 of all 21,837 records (17,420 ECGs: "
          "1,695 patients with two or more as patient pairs, 13,328 one-ECG patients as "
          "pairs of two augmentations)", "PTB-XL, 17,420 ECGs",
          source_url="inside the pclr-keras package (model_zoo/PCLR/PCLR.h5 in the repository)"),
    _ours("0.2", "2026-12-02", "second release",
          "v0.1 continued on all 21,837 records (17,420 ECGs of folds 1-8, 1,695 patients "
          "with two or more)", "PTB-XL, 17,420 ECGs"),
    _ours("0.1", "2026-11-24", "first release",
          "the 4,365-ECG sample (3,428 ECGs of folds 1-8, 1,457 patients with two or more)",
          "PTB-XL sample, 3,428 ECGs"),
    Preset(
        name="pclr-ml4h", version="1", variant="pclr", input_shape=(4096, 12),
        training_data=ML4H_DATA, trained_on="MGH, 3.2M ECGs",
        description="the PCLR paper's 12-lead weights (ml4h's PCLR.h5), downloaded",
        code_licence=ML4H_CODE_LICENCE, weights_licence=ML4H_WEIGHTS_LICENCE,
        source_url=_ML4H_TREE, model_card="weights/ml4h/README.md", date="2023-01-13",
        files=(PresetFile(
            "PCLR.h5", f"{_ML4H_LFS}/PCLR.h5",
            "50ca4fe3dd60c83d92eb4cd96cab4204e48193d6d42ee1704b758ab58675c9be", 25690896),),
        load_path="PCLR.h5",
        pinning="PCLR.h5 by the SHA-256 and size of ml4h's git-LFS pointer file"),
    _ml4h_saved_model(
        "pclr-ml4h-lead-I", "lead_I", (4096, 1), "PCLR_lead_I", (
            ("saved_model.pb",
             "29dd7e6569d7abb8625f043a5a00bb58ee8f69a037e9a06a175aee20a3571174", 937227, False),
            ("variables/variables.index",
             "3d522d3ba9e086a75eee8f9497b8fb130721606d99560dd69b7a008b58b65f71", 3277, False),
            ("variables/variables.data-00000-of-00001",
             "ed447ea195ee03ee40911130d0e304dfea0b1e361206d6394387c77068fb6dc3", 25555425, True),
        ), "2023-01-13", "the PCLR paper's lead I weights (ml4h's PCLR_lead_I), downloaded"),
    _ml4h_saved_model(
        "pclr-ml4h-lead-II", "lead_II", (2500, 1), "PCLR_lead_II", (
            ("saved_model.pb",
             "ff636a9c7fdd70b4fb0ef7b37fbdc6adc70445c9fde041e0274dffbd38121d1e", 873320, False),
            ("variables/variables.index",
             "eb7ca74c0c6b494a54f4b49bed39bdab11f977ce4270bd5b979e81c823265910", 3019, False),
            ("variables/variables.data-00000-of-00001",
             "59347e3fb27c3fb98194e14b67ff2c2bb8288673425c6084ccc09441822b437a", 25553411, True),
        ), "2023-01-13", "the PCLR paper's lead II weights (ml4h's PCLR_lead_II), downloaded"),
)}

# A name without a version follows the current release.
ALIASES = {"pclr-ptbxl": "pclr-ptbxl-v0.3"}


class PresetUnavailableError(OSError):
    """A preset's or URL's files are neither in the cache nor downloadable."""


def cache_root():
    """Where downloads are kept: `$PCLR_CACHE`, or `~/.cache/pclr_keras`."""
    return Path(os.environ.get(CACHE_ENV) or Path.home() / ".cache" / "pclr_keras")


def get_preset(name):
    """The registry entry for a preset name or alias.

    Raises:
        KeyError: an unknown name; the message lists the presets.
    """
    name = ALIASES.get(name, name)
    if name not in PRESETS:
        raise KeyError(_unknown_message(name, f"No preset {name!r}."))
    return PRESETS[name]


def resolve_model(spec, sha256=None):
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
    raise FileNotFoundError(_unknown_message(
        text, f"No model at {text!r}: not a file or folder, not a preset name, not an "
              "https:// or hf:// address."))


def _unknown_message(text, opening):
    names = sorted(PRESETS) + sorted(ALIASES)
    close = difflib.get_close_matches(text, names, n=3, cutoff=0.5)
    hint = f" Did you mean {' or '.join(repr(n) for n in close)}?" if close else ""
    listing = "\n".join(f"  {row}" for row in preset_table().splitlines())
    return f"{opening}{hint} Presets:\n{listing}"


def preset_path(preset):
    """The preset's folder in the package, or its downloaded files in the cache."""
    if preset.packaged:
        folder = WEIGHTS_DIR / preset.packaged
        if not (folder / "model.weights.h5").is_file():
            raise PresetUnavailableError(
                f"Preset {preset.name!r} should be inside the package at {folder}, but "
                "model.weights.h5 is missing there: reinstall pclr-keras.")
        return folder
    folder = cache_root() / preset.name
    for item in preset.files:
        _ensure(item, folder / item.path, preset)
    return folder / preset.load_path


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


def preset_table():
    """The presets as an aligned text table, aliases first."""
    aliases = {target: alias for alias, target in ALIASES.items()}
    rows = [("name", "version", "variant", "input", "size", "from", "trained on")]
    for preset in PRESETS.values():
        alias = f" (= {aliases[preset.name]})" if preset.name in aliases else ""
        rows.append((preset.name + alias, preset.version, preset.variant,
                     " x ".join(map(str, preset.input_shape)),
                     f"{preset.size / 1e6:.1f} MB",
                     "package" if preset.packaged else "download",
                     preset.trained_on))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip()
                     for row in rows)


def describe_preset(name):
    """Every field of one preset, one per line, for `pclr presets NAME`."""
    preset = get_preset(name)
    card = preset.model_card if "://" in preset.model_card else Path(__file__).parent / preset.model_card
    lines = [("name", preset.name), ("version", preset.version), ("variant", preset.variant),
             ("input shape", f"(None, {preset.input_shape[0]}, {preset.input_shape[1]})"),
             ("output shape", "(None, 320)"), ("training data", preset.training_data),
             ("size", f"{preset.size:,} bytes"), ("SHA-256", preset.sha256),
             ("code licence", preset.code_licence), ("weights licence", preset.weights_licence),
             ("source", preset.source_url), ("date", preset.date), ("model card", str(card))]
    if preset.files:
        lines.append(("pinned", preset.pinning))
        lines.append(("cache", str(cache_root() / preset.name)))
        lines += [("file", f"{f.url} sha256 {f.sha256} ({f.size:,} bytes)") for f in preset.files]
    return "\n".join(f"{key:<16} {value}" for key, value in lines)


def weights_sha256(path):
    """SHA-256 of an encoder's weights file: the file itself, or a preset folder's
    `model.weights.h5`; None for other folders (ml4h's SavedModels)."""
    path = Path(path)
    if path.is_dir():
        path = path / "model.weights.h5"
    if not path.is_file():
        return None
    return file_digest(path, "sha256")
