"""Append a new round of written items to the corpus's fixed split.

    python data/append_round.py data/parts/part_14.jsonl [more parts ...]

The new items (one JSON object per line: text, primary, topics, stance; any `id` is
replaced) are split 80/20 stratified by primary x stance (seed 2026, as the first rounds),
shuffled with the same seed, numbered after the highest existing `kn-` id, and appended to
khabar_news_train.jsonl / khabar_news_test.jsonl. Earlier items keep their ids and their
side of the split, so models and numbers from earlier rounds stay comparable.
Check afterwards with `pytest tests/test_corpus.py` and update README.md (this folder's).
"""

from __future__ import annotations

import json
import random
import sys
from pathlib import Path

from sklearn.model_selection import train_test_split

FOLDER = Path(__file__).resolve().parent
SPLITS = {name: FOLDER / f"khabar_news_{name}.jsonl" for name in ("train", "test")}
SEED = 2026
KEYS = ("text", "primary", "topics", "stance")


def read_items(path: Path) -> list[dict]:
    items = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        item = json.loads(line)
        missing = [key for key in KEYS if key not in item]
        if missing:
            raise SystemExit(f"{path}: line {number}: missing {missing}")
        items.append({key: item[key] for key in KEYS})
    return items


def main(paths: list[str]) -> int:
    if not paths:
        print(__doc__.strip().splitlines()[2].strip(), file=sys.stderr)
        return 2
    new = [item for path in paths for item in read_items(Path(path))]
    existing = [
        json.loads(line) for split in SPLITS.values() for line in split.open(encoding="utf-8")
    ]
    known = {item["text"] for item in existing}
    repeated = [item["text"][:60] for item in new if item["text"] in known]
    if repeated:
        raise SystemExit(
            f"{len(repeated)} new items are already in the corpus, e.g. {repeated[0]!r}"
        )
    strata = [f"{item['primary']}/{item['stance']}" for item in new]
    train, test = train_test_split(new, test_size=0.2, stratify=strata, random_state=SEED)
    rng = random.Random(SEED)
    rng.shuffle(train)
    rng.shuffle(test)
    next_id = 1 + max(int(item["id"].removeprefix("kn-")) for item in existing)
    for name, items in (("train", train), ("test", test)):
        with SPLITS[name].open("a", encoding="utf-8") as handle:
            for item in items:
                record = {"id": f"kn-{next_id:04d}", **item}
                handle.write(json.dumps(record, ensure_ascii=False) + "\n")
                next_id += 1
    print(
        f"appended {len(train)} train and {len(test)} test items (ids up to kn-{next_id - 1:04d})"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
