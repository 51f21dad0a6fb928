"""Manifests for `pclr tensorize` from a data set's own metadata: a row per record
whose files arrived, with a `path` and a `patient_id` column. pandas is imported
only when a manifest is made."""

import ast
import os


def ptbxl_manifest(folder, rate):
    """PTB-XL: one row per record at `rate` whose files are here.

    `diagnostic_superclass` is the sorted, `;`-joined set of the
    `diagnostic_class` of every code in `scp_codes` that `scp_statements.csv`
    marks `diagnostic == 1`, at any likelihood (upstream's
    `example_physionet.py` rule).
    """
    import pandas as pd

    database = pd.read_csv(folder / "ptbxl_database.csv")
    statements = pd.read_csv(folder / "scp_statements.csv", index_col=0)
    diagnostic = statements[statements["diagnostic"] == 1]["diagnostic_class"].dropna().to_dict()

    def superclass(codes):
        return ";".join(sorted({diagnostic[c] for c in ast.literal_eval(codes) if c in diagnostic}))

    column = "filename_hr" if rate == 500 else "filename_lr"
    present = database[column].map(
        lambda p: (folder / f"{p}.hea").is_file() and (folder / f"{p}.dat").is_file())
    rows = database[present]
    return pd.DataFrame({
        "path": rows[column],
        "ecg_id": rows["ecg_id"].astype(int),
        "patient_id": rows["patient_id"].map(lambda v: "" if pd.isna(v) else str(int(v))),
        "age": rows["age"],
        "sex": rows["sex"],
        "recording_date": rows["recording_date"],
        "strat_fold": rows["strat_fold"],
        "scp_codes": rows["scp_codes"],
        "diagnostic_superclass": rows["scp_codes"].map(superclass),
    })


def ludb_manifest(folder, rate):
    """LUDB: one subject per record, so the record number is the patient id."""
    import pandas as pd

    table = pd.read_csv(folder / "ludb.csv", dtype=str)
    table = table.apply(lambda c: c.str.strip().str.replace(r"\s*\n\s*", "; ", regex=True))
    present = table["ID"].map(lambda i: (folder / "data" / f"{i}.hea").is_file()
                              and (folder / "data" / f"{i}.dat").is_file())
    table = table[present]
    table.insert(0, "patient_id", table["ID"])
    table.insert(0, "path", "data/" + table["ID"])
    return table.reset_index(drop=True)


def challenge_manifest(folder, rate):
    """PhysioNet/CinC 2021: every record here; the set gives no patient ids.

    Age, sex and the SNOMED-CT `dx` codes are in each header, which
    tensorize reads into the labels itself.
    """
    import pandas as pd

    rows = []
    for header in sorted((folder / "training").rglob("*.hea")):
        if header.with_suffix(".mat").is_file() or header.with_suffix(".dat").is_file():
            relative = header.relative_to(folder).with_suffix("").as_posix()
            rows.append({"path": relative, "patient_id": "",
                         "database": relative.split("/")[1]})
    return pd.DataFrame(rows, columns=["path", "patient_id", "database"])


def write_manifest(dataset, folder, rate):
    """Writes `folder/manifest.csv` (temporary name, renamed); returns its path and table."""
    table = dataset.manifest(folder, rate)
    manifest = folder / "manifest.csv"
    tmp = manifest.with_name(".manifest.csv.tmp")
    table.to_csv(tmp, index=False)
    os.replace(tmp, manifest)
    return manifest, table
