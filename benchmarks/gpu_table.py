"""The table of ``scripts/gpu_report.sh``: its results folder -> a dated markdown section in
docs/benchmarks.md.

``python -m benchmarks.gpu_table --dir RESULTS --doc docs/benchmarks.md`` (from the repository root).
``RESULTS/manifest.tsv`` lists the measurements in the order they ran: ``name<TAB>status<TAB>seconds``
(status ``ok``, ``failed (rc N)`` or ``skipped (time budget)``); ``RESULTS/<name>.log`` holds each one's
output, whose last JSON line (``tools/benchmark.py``) or pytest summary line is its result. The section
(newest first, under ``## GPU figures``) names the date, the GPU, torch and the commit, and lists every
measurement, skipped and failed ones included.
"""

import argparse
import json
import os
import pathlib
import re
import tempfile

GPU_HEADING = "## GPU figures"
NO_FIGURE_YET = "**No GPU figure has been measured yet**"
PYTEST_SUMMARY = re.compile(r"\d+ (passed|failed|errors?|skipped|deselected) ")


def read_results(folder: pathlib.Path) -> list[dict]:
    """One dict per manifest row: name, status, seconds, and ``result`` (JSON dict, pytest summary line,
    or None)."""
    rows = []
    for line in (folder / "manifest.tsv").read_text().splitlines():
        name, status, seconds = line.split("\t")
        log = folder / f"{name}.log"
        text = log.read_text(errors="replace") if log.is_file() else ""
        rows.append({"name": name, "status": status, "seconds": float(seconds), "result": _result(text)})
    return rows


def _result(text: str):
    lines = text.splitlines()
    for line in reversed(lines):
        if line.startswith("{"):
            try:
                return json.loads(line)
            except json.JSONDecodeError:
                break
    return next((line.strip("= ") for line in reversed(lines) if PYTEST_SUMMARY.search(line)), None)


def describe(result) -> tuple[str, str]:
    """(setting, figure) of one result, by benchmark kind."""
    if not isinstance(result, dict):
        return "", result or ""
    bench = result.get("bench")
    if bench == "model":
        switches = [result["amp"] if result["amp"] != "none" else "fp32",
                    "channels_last" if result["channels_last"] else "NCHW",
                    f"compile {result['compile']}" if result["compile"] else "eager"]
        if result.get("fuse_bn"):
            switches.append("BN folded")
        figure = f"{result['images_per_s']:,.0f} img/s"
        if "peak_memory_gib" in result:
            figure += f", peak {result['peak_memory_gib']} GiB"
        switches.insert(0, f"{_cfg_name(result['cfg'])} {result['mode']}, batch {result['batch']}")
        return ", ".join(switches), figure
    if bench == "eval":
        net = result.get("network", {})
        setting = f"{result['boxes']:,} boxes / {result['images']:,} images, decode {result['decode_path']}"
        figure = f"post-processing {result['hrpose_s']} s"
        if net:
            setting += (f"; {_cfg_name(net['cfg'])} flip test, batch {net['batch']}, {net['amp']}, "
                        f"channels_last {net['channels_last']}, BN folded {net['fuse_bn']}, "
                        f"compile '{net['compile']}'")
            figure = (f"**{result['end_to_end_s']} s** end to end without data loading (network "
                      f"{net['s']} s, {net['crops_per_s']:,.0f} crops/s; {figure})")
        return setting, figure
    if bench == "data":
        rates = result.get("loader_samples_per_s", {})
        return (f"{result['image_set']} of {result['root']}, {result.get('workers', 0)} workers",
                ", ".join(f"{name} {rate:,.0f}/s" for name, rate in rates.items()))
    if bench == "train":
        switches = [result["amp"], "channels_last" if result["channels_last"] else "NCHW",
                    f"compile {result['compile']}" if result["compile"] else "eager",
                    f"{result['workers']} workers", f"targets on device {result['targets_on_device']}"]
        return (f"{_cfg_name(result['cfg'])} end to end, real loader, batch {result['batch']}, "
                + ", ".join(switches),
                f"{result['images_per_s']:,.0f} img/s, {100 * result['data_wait_fraction']:.1f}% data wait")
    if bench == "syncs":
        return (f"{' '.join(result['opts']) or 'default path'}, {result['iters']} steps",
                f"{result['syncs_per_step']:g} syncs per step, {result['reads']} reads "
                f"(CUDA's detector: {_or_dash(result.get('cuda_flagged'))})")
    return bench or "", json.dumps(result, sort_keys=True)[:200]


def _or_dash(value) -> str:
    return "-" if value is None else str(value)


def _cfg_name(path: str) -> str:
    return pathlib.Path(path).stem


def section(rows: list[dict], date: str) -> str:
    """The markdown section for ``rows`` measured on ``date``."""
    results = [r["result"] for r in rows if isinstance(r["result"], dict)]
    facts = next((r for r in results if "gpu" in r), results[0] if results else {})
    gpu = facts.get("gpu") or "no GPU: a smoke run on the CPU"
    lines = [f"### {date}: {gpu}", "",
             f"`bash scripts/gpu_report.sh` (torch {facts.get('torch', '?')}, commit "
             f"{facts.get('commit', '?')}); each row's command is in the script. Targets: W32 256x192 "
             "training >= 3,000 img/s compiled bf16; val2017 evaluation <= 30 s.", "",
             "| measurement | setting | result | wall s | status |", "|---|---|---|---|---|"]
    for row in rows:
        setting, figure = describe(row["result"])
        lines.append(f"| {row['name']} | {setting} | {figure} | {row['seconds']:.0f} | {row['status']} |")
    return "\n".join(lines) + "\n"


def insert_section(doc: str, text: str) -> str:
    """``doc`` with ``text`` right under ``## GPU figures`` (which is added at the end when absent);
    the "no GPU figure yet" paragraph goes."""
    paragraphs = doc.split("\n\n")
    doc = "\n\n".join(p for p in paragraphs if not p.startswith(NO_FIGURE_YET))
    if GPU_HEADING not in doc:
        doc = doc.rstrip("\n") + f"\n\n{GPU_HEADING}\n"
    head, tail = doc.split(GPU_HEADING, 1)
    return f"{head}{GPU_HEADING}\n\n{text}\n{tail.lstrip(chr(10))}"


def write_atomically(path: pathlib.Path, text: str) -> None:
    with tempfile.NamedTemporaryFile("w", dir=path.parent, delete=False, suffix=".tmp") as tmp:
        tmp.write(text)
    os.replace(tmp.name, path)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dir", required=True, help="the results folder of scripts/gpu_report.sh")
    parser.add_argument("--doc", required=True, help="markdown file to insert the section into")
    parser.add_argument("--date", required=True, help="date of the measurement (UTC)")
    args = parser.parse_args()
    text = section(read_results(pathlib.Path(args.dir)), args.date)
    doc = pathlib.Path(args.doc)
    write_atomically(doc, insert_section(doc.read_text(), text))
    print(text)


if __name__ == "__main__":
    main()
