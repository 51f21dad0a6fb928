"""The preset table: every named set of weights, as data.

`PRESETS` maps a name to a `Preset` (what the weights are, where they come
from, how they are pinned); `ALIASES` maps a name without a version to the
current release. Our current release is a folder beside this module
(`pclr-ptbxl-v0.x/`, KerasHub's layout), so the wheel carries it; earlier
releases are archived in the repository (`model_zoo/PCLR/presets/`), pinned
by their weights' SHA-256, so the wheel stays under PyPI's size limit as
releases accumulate; ml4h's are downloaded, each file pinned by SHA-256
and size. Turning a name into local files is `pclr_keras.weights.resolve`'s job, reading them `pclr_keras.weights.load`'s.
Nothing here imports TensorFlow, so `pclr presets` answers at once.
"""

import dataclasses
import difflib
from pathlib import Path

from pclr_keras.weights.downloads import file_digest

# The packaged preset folders sit beside this module; model cards are named
# relative to the package (`weights/NAME/README.md`).
WEIGHTS_DIR = Path(__file__).resolve().parent
PACKAGE_DIR = WEIGHTS_DIR.parent
# Earlier releases, in a clone of the repository (an editable install finds
# them here; a wheel does not carry them).
ARCHIVE_IN_REPOSITORY = "model_zoo/PCLR/presets"
ARCHIVE_DIR = PACKAGE_DIR.parent / ARCHIVE_IN_REPOSITORY
# A preset folder, as KerasHub lays one out: the files `save_preset` writes
# and `load_encoder` reads.
PRESET_CONFIG, PRESET_METADATA, PRESET_WEIGHTS, PRESET_CARD = (
    "config.json", "metadata.json", "model.weights.h5", "README.md")

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
        url: str. Where it is downloaded from (empty: found, not downloaded).
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
            weights shipped inside the package; empty for the others.
        archived: PresetFile. For an earlier release of ours: its
            `model.weights.h5`, pinned by SHA-256 and size; the folder is in
            the repository's `model_zoo/PCLR/presets/` (or put in the cache).
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
    archived: PresetFile = None
    files: tuple = ()
    load_path: str = ""
    pinning: str = ""

    @property
    def size(self):
        """Bytes on disk once available (the packaged folder, or the downloads)."""
        if self.packaged:
            folder = WEIGHTS_DIR / self.packaged
            return sum(f.stat().st_size for f in folder.rglob("*") if f.is_file())
        if self.archived:
            return self.archived.size
        return sum(f.size for f in self.files)

    @property
    def sha256(self):
        """The SHA-256 of the weights file (the largest file)."""
        if self.packaged:
            return file_digest(WEIGHTS_DIR / self.packaged / PRESET_WEIGHTS, "sha256")
        if self.archived:
            return self.archived.sha256
        return max(self.files, key=lambda f: f.size).sha256


# Every release so far has the same encoder, so weights files of one size.
_WEIGHTS_SIZE = 25690968


def _ours(version, date, release, training, trained_on, *, archived_sha256=None,
          source_url="inside the pclr-keras package"):
    """One of our PTB-XL releases: the current one inside the package, an earlier one
    archived in the repository (`archived_sha256`: its weights file's SHA-256)."""
    name = f"pclr-ptbxl-v{version}"
    common = dict(
        name=name, version=version, variant="pclr", input_shape=(4096, 12),
        training_data=f"{PTBXL_DATA}: {training}", trained_on=trained_on,
        description=f"our public-data weights, {release}",
        code_licence=OUR_CODE_LICENCE, weights_licence=OUR_WEIGHTS_LICENCE, date=date)
    if archived_sha256 is None:
        return Preset(**common, source_url=source_url, model_card=f"weights/{name}/README.md",
                      packaged=name)
    folder = f"{ARCHIVE_IN_REPOSITORY}/{name}"
    return Preset(**common, source_url=f"the pclr-keras repository, {folder}/",
                  model_card=f"{folder}/README.md",
                  archived=PresetFile(PRESET_WEIGHTS, "", archived_sha256, _WEIGHTS_SIZE),
                  pinning=f"{PRESET_WEIGHTS} by SHA-256 (its metadata.json pins it too)")


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
    _ours("0.4", "2026-12-07", "current release (model_zoo/PCLR/PCLR.h5), any lead set",
          "v0.3 continued for 1,000 steps with lead masking (each view keeps, with probability "
          "0.5, a lead set devices record; the other leads zero) on folds 1-8 of all 21,837 "
          "records (17,420 ECGs)", "PTB-XL, 17,420 ECGs",
          source_url="inside the pclr-keras package (model_zoo/PCLR/PCLR.h5 in the repository)"),
    _ours("0.3", "2026-12-03", "third release",
          "v0.2 continued for 800 steps on folds 1-8 of all 21,837 records (17,420 ECGs: "
          "1,695 patients with two or more as patient pairs, 13,328 one-ECG patients as "
          "pairs of two augmentations)", "PTB-XL, 17,420 ECGs",
          archived_sha256="0fbcc24b6403e62492081c0784dc4be44201148f69ff0b68b7bae1f4e4460273"),
    _ours("0.2", "2026-12-02", "second release",
          "v0.1 continued on all 21,837 records (17,420 ECGs of folds 1-8, 1,695 patients "
          "with two or more)", "PTB-XL, 17,420 ECGs",
          archived_sha256="c1e343a5a3eda5ddbafaaf4d710089923c3605233bbd12a01d3e025435faeceb"),
    _ours("0.1", "2026-11-24", "first release",
          "the 4,365-ECG sample (3,428 ECGs of folds 1-8, 1,457 patients with two or more)",
          "PTB-XL sample, 3,428 ECGs",
          archived_sha256="bc3d36521467c69917f5a57ed067f13b175fbbdf639b2321c7c2cefad58b1f7b"),
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
ALIASES = {"pclr-ptbxl": "pclr-ptbxl-v0.4"}


def get_preset(name):
    """The registry entry for a preset name or alias.

    Raises:
        KeyError: an unknown name; the message lists the presets.
    """
    name = ALIASES.get(name, name)
    if name not in PRESETS:
        raise KeyError(unknown_preset_message(name, f"No preset {name!r}."))
    return PRESETS[name]


def unknown_preset_message(text, opening):
    """`opening`, the closest preset names to `text`, and the table of presets."""
    names = sorted(PRESETS) + sorted(ALIASES)
    close = difflib.get_close_matches(text, names, n=3, cutoff=0.5)
    hint = f" Did you mean {' or '.join(repr(n) for n in close)}?" if close else ""
    listing = "\n".join(f"  {row}" for row in preset_table().splitlines())
    return f"{opening}{hint} Presets:\n{listing}"


def preset_table():
    """The presets as an aligned text table, aliases first."""
    aliases = {target: alias for alias, target in ALIASES.items()}
    rows = [("name", "version", "variant", "input", "size", "from", "trained on")]
    for preset in PRESETS.values():
        alias = f" (= {aliases[preset.name]})" if preset.name in aliases else ""
        rows.append((preset.name + alias, preset.version, preset.variant,
                     " x ".join(map(str, preset.input_shape)),
                     f"{preset.size / 1e6:.1f} MB",
                     "package" if preset.packaged else
                     "repository" if preset.archived else "download",
                     preset.trained_on))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip()
                     for row in rows)
