"""`pclr probe`: linear probes of representation tables at several label counts."""

from pathlib import Path

from pclr_keras.cli.arguments import add_subset_arguments
from pclr_keras.cli.specs import named_tables, parse_targets


def add_arguments(commands):
    """`pclr probe` and its flags."""
    probe = commands.add_parser(
        "probe", help="linear probes at several label counts, with CIs, table and plot")
    probe.add_argument("--embeddings", required=True, nargs="+",
                       help="NAME=FILE tables (Parquet/CSV/NPZ), one per representation")
    probe.add_argument("--labels", required=True, help="CSV with ecg_id, patient_id, targets")
    probe.add_argument("--target", required=True, action="append",
                       help="column[:binary|continuous], repeatable (default: auto)")
    probe.add_argument("--superclasses", nargs="?", const="diagnostic_superclass",
                       help="add 0/1 NORM/MI/STTC/CD/HYP columns from this ;-joined column")
    probe.add_argument("--test", default=None,
                       help="held-out set: a query such as \"strat_fold >= 9\" "
                            "(default: 20%% of patients)")
    add_subset_arguments(probe, seed_help="seed of the subsets")
    probe.add_argument("--out", default="probe_report", help="report folder")
    probe.set_defaults(run=run)


def run(args):
    import pandas as pd

    from pclr_keras.evaluation.inputs import superclass_targets
    from pclr_keras.evaluation.probe import probe
    from pclr_keras.evaluation.report import write_report
    from pclr_keras.evaluation.retrieval import retrieval_table

    labels = pd.read_csv(args.labels, dtype={"patient_id": str})
    if args.superclasses:
        labels = labels.join(superclass_targets(labels, column=args.superclasses))
    tables = named_tables(args.embeddings)
    counts = tuple(int(c) for c in args.label_counts.split(","))
    try:
        summary = pd.concat([
            probe(tables, labels, target, task=kind,
                  label_counts=counts, repeats=args.repeats, test=args.test,
                  seed=args.seed, progress=True).summary
            for target, kind in parse_targets(args.target, default="auto").items()],
            ignore_index=True)
    except ValueError as error:
        raise SystemExit(f"pclr probe: {error}") from None
    held_out = labels.query(args.test).ecg_id if isinstance(args.test, str) else None
    written = write_report(summary, args.out, retrieval=retrieval_table(tables, ecg_ids=held_out))
    print((Path(args.out) / "probe_results.md").read_text())
    print("written: " + ", ".join(str(p) for p in written.values()))
