"""The PTB-XL sample a wheel carries, written out as WFDB records with their manifest.

`pclr datasets sample DIR` and `pclr demo` (where `../shared/data` is
absent) call `write_sample`: every file of the packaged archive (built by
`sample_build.build_sample` when the wheel was built) goes to `DIR` as it
was, so `DIR/records100/.../NNNNN_lr.{hea,dat}` are PTB-XL's own bytes and
`DIR/manifest.csv` is what `pclr tensorize --manifest` reads. A package
built without PTB-XL beside its source carries no sample, and says so.
"""

import tarfile
from pathlib import Path, PurePosixPath

from pclr_keras.atomic import replacing
from pclr_keras.datasets.sample_build import ARCHIVE, PACKAGE_FOLDER, SOURCE_VARIABLE

PACKAGED_ARCHIVE = Path(__file__).with_name(PACKAGE_FOLDER) / ARCHIVE


class SampleMissingError(FileNotFoundError):
    """This installation carries no sample (built without PTB-XL beside the source)."""


def write_sample(out_dir, archive=None):
    """Writes the sample's records, `manifest.csv`, `ATTRIBUTION.md` and `LICENSE.txt`.

    Args:
        out_dir: str or Path. Created if needed; files already there with the
            same names are replaced (each written under a temporary name first).
        archive: str or Path, or None for the one packaged with this installation.

    Returns:
        dict: `folder`, `manifest` (paths), `ecgs` (records written).

    Raises:
        SampleMissingError: no archive (an installation built without the sample).
    """
    archive = Path(archive) if archive else PACKAGED_ARCHIVE
    if not archive.is_file():
        raise SampleMissingError(
            f"this installation carries no sample ECGs (no {archive.name}: it was built "
            f"without PTB-XL beside its source or in {SOURCE_VARIABLE}); get PTB-XL with "
            "`pclr datasets fetch ptbxl --rate 100`")
    out_dir = Path(out_dir)
    records = 0
    with tarfile.open(archive, mode="r:xz") as tar:
        for member in tar:
            target = out_dir / _safe_name(archive, member)
            target.parent.mkdir(parents=True, exist_ok=True)
            with replacing(target) as tmp:
                tmp.write_bytes(tar.extractfile(member).read())
            records += member.name.endswith(".dat")
    return {"folder": out_dir, "manifest": out_dir / "manifest.csv", "ecgs": records}


def _safe_name(archive, member):
    """The member's relative path; anything but a plain file under the folder is refused."""
    name = PurePosixPath(member.name)
    if not member.isfile() or name.is_absolute() or ".." in name.parts:
        raise ValueError(f"{archive}: unexpected member {member.name!r}")
    return Path(*name.parts)
