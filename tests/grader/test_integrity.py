"""The integrity report (``course/grader/integrity``): fingerprints that survive renaming, reordering and comments;
a class with planted copies ranked and flagged, independent solutions not; the released notebook and common
passages not counted; identical artefacts; the page offline and escaped, and (marked ``browser``/``slow``) in
chromium."""
from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from ci_support import chromium
from disguise import disguised_class

from course.cli import main
from course.grader.class_report import write_class_report
from course.grader.feedback import feedback_html
from course.grader.integrity import class_integrity, integrity_page
from course.grader.integrity.artefacts import (
    checkpoint_matches,
    checkpoint_weights,
    output_matches,
)
from course.grader.integrity.fingerprint import Code, K, W, kgram_hashes, tokens, winnow
from course.grader.integrity.pairs import answer, similar_pairs
from course.grader.results import SubmissionResult
from course.grader.results import TestResult as Verdict

ROOT = Path(__file__).resolve().parents[2]
SAMPLES = ROOT / "autograder" / "samples" / "submitted"
LABS = sorted(p.name for p in (SAMPLES / "correct").iterdir())
EVIL = "<script>alert('x')</script>"

ORIGINAL = '''
def train(model, batches, lr):
    # one pass of plain SGD over the batches
    total = 0.0
    for inputs, targets in batches:
        loss = ((model(inputs) - targets) ** 2).mean()
        model.zero_grad()
        loss.backward()
        with torch.no_grad():
            for p in model.parameters():
                p -= lr * p.grad
        total += loss.item() * len(inputs)
    return total / sum(len(x) for x, _ in batches)

def accuracy(scores, labels):
    return (scores.argmax(dim=1) == labels).float().mean().item()
'''
DISGUISED = '''
def accuracy(s, y):   # fraction right
    return (s.argmax(dim = 1)==y).float().mean().item()


def train(net, data, step):
    """Train for an epoch."""
    running = 0.0
    for xb, yb in data:
        err = ((net(xb) - yb) ** 2).mean()
        net.zero_grad()
        err.backward()
        with torch.no_grad():
            for w in net.parameters():
                w -= step * w.grad
        running += err.item() * len(xb)
    return running / sum(len(a) for a, _ in data)
'''


def test_tokens_forget_names_literals_comments_and_layout() -> None:
    a = [t.text for t in tokens("x = foo(y, 3)  # hi\nprint('a')")]
    b = [t.text for t in tokens("total=foo( batch ,42)\nprint( \"other\" )")]
    assert a == b == ["V", "=", "V", "(", "V", ",", "N", ")", "print", "(", "S", ")"]
    # What a solution does stays: library names and attributes are kept.
    assert [t.text for t in tokens("torch.stack(v).reshape(-1)")][:3] == ["torch", ".", "stack"]


def test_winnowing_finds_every_shared_passage_of_k_plus_w_minus_1_tokens() -> None:
    rng = np.random.default_rng(0)
    vocab = ["a", "b", "c", "+", "(", ")", "x", "y"]
    for _ in range(30):
        shared = " ".join(rng.choice(vocab, K + W - 1))
        left = " ".join(rng.choice(vocab, 40)) + " ; " + shared + " ; " + " ".join(rng.choice(vocab, 25))
        right = " ".join(rng.choice(vocab, 17)) + " ; " + shared
        assert winnow(kgram_hashes(tokens(left))) & winnow(kgram_hashes(tokens(right)))


def _answers(sources: dict[str, str], released: str = "") -> list:
    boiler = set(kgram_hashes(tokens(released)))
    return [answer(s, Code.of_cells([(1, src)]), boiler) for s, src in sources.items()]


def test_a_renamed_reordered_recommented_copy_is_flagged_and_the_passages_line_up() -> None:
    other = '''
def train(model, batches, lr):
    opt = torch.optim.SGD(model.parameters(), lr=lr)
    seen, summed = 0, 0.0
    for batch, target in batches:
        opt.zero_grad()
        out = F.mse_loss(model(batch), target, reduction="sum")
        out.backward()
        opt.step()
        seen += batch.shape[0]
        summed += out.item()
    return summed / seen

def accuracy(scores, labels):
    predicted = torch.max(scores, 1).indices
    return torch.sum(predicted == labels).item() / labels.numel()
'''
    pairs = similar_pairs(_answers({"alice": ORIGINAL, "mallory": DISGUISED, "bob": other}))
    top = pairs[0]
    assert {top.a, top.b} == {"alice", "mallory"} and top.flagged and top.score > 0.9, top
    assert not any(p.flagged for p in pairs[1:]), pairs
    # Side by side: the training loop is the longest shared passage, and it starts at the loop's code in both.
    longest = top.passages[0]
    code = {"alice": Code.of_cells([(1, ORIGINAL)]), "mallory": Code.of_cells([(1, DISGUISED)])}
    start = {top.a: longest.a_lines[0], top.b: longest.b_lines[0]}
    assert all(code[s].lines[start[s]].lstrip().startswith(("def train", "total", "running")) for s in start), start
    assert longest.tokens >= 60


def test_released_code_and_passages_many_students_share_do_not_count() -> None:
    stub = ORIGINAL                                    # the released notebook already holds it
    both = {"alice": ORIGINAL + "\nx = 1\n", "bob": ORIGINAL + "\ny = 2\n"}
    assert not any(p.flagged for p in similar_pairs(_answers(both, released=stub)))
    # A helper twelve students share (a hint of the text, say) is common in a class of twelve.
    helper = DISGUISED
    many = {f"s{i}": helper + f"\nprint({i})\n" for i in range(12)}
    assert similar_pairs(_answers(many)) == []
    # ... and counted again when only two hold it.
    assert similar_pairs(_answers(dict(list(many.items())[:2])))[0].flagged


def _class(tmp_path: Path) -> Path:
    """The samples, plus disguised copies of the correct one (mallory) and of the partial one (eve)."""
    return disguised_class(ROOT, tmp_path / "class", {"correct": "mallory", "partial": "eve"})


def test_planted_copies_rank_first_in_every_lab_and_independent_samples_are_not_flagged(tmp_path: Path) -> None:
    summary = class_integrity(ROOT, _class(tmp_path))
    assert [lab["lab"] for lab in summary["labs"]] == LABS
    for lab in summary["labs"]:
        ranked = [({p["a"], p["b"]}, p["flagged"]) for p in lab["pairs"]]
        assert ranked[0] in (({"correct", "mallory"}, True), ({"eve", "partial"}, True)), (lab["lab"], ranked)
        assert {frozenset(s) for s, flagged in ranked if flagged} == {frozenset({"correct", "mallory"}),
                                                                     frozenset({"eve", "partial"})}, lab["lab"]
        assert all(p["passages"] for p in lab["pairs"] if p["flagged"])


def test_identical_checkpoints_and_weights_to_rounding(tmp_path: Path) -> None:
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(20, 30), torch.nn.ReLU(), torch.nn.Linear(30, 5))
    ref = torch.nn.Sequential(torch.nn.Linear(20, 30), torch.nn.ReLU(), torch.nn.Linear(30, 5))
    paths = {}
    for who in ("alice", "bob", "carol", "gina", "dan", "erin", "frank"):
        (tmp_path / who).mkdir()
        paths[who] = tmp_path / who / "best.pt"
    torch.save(net.state_dict(), paths["alice"])
    shutil.copy(paths["alice"], paths["bob"])                                   # the same bytes
    with torch.no_grad():                                                       # re-saved, rounded
        torch.save({k: v + 1e-6 * torch.randn_like(v) for k, v in net.state_dict().items()}, paths["carol"])
        torch.save({k: torch.randn_like(v) for k, v in net.state_dict().items()}, paths["dan"])
    shutil.copy(paths["carol"], paths["gina"])          # a second group of the same bytes: still compared with the first
    torch.save(ref.state_dict(), paths["erin"])                                 # two with the reference's
    torch.save(ref.state_dict(), tmp_path / "ref.pt")
    torch.save({k: v.clone() for k, v in ref.state_dict().items()}, paths["frank"])
    (tmp_path / "mallory").mkdir()
    (tmp_path / "mallory" / "best.pt").write_bytes(b"not a zip")               # unreadable: no crash
    files = {who: {"best.pt": p} for who, p in paths.items()} | {"mallory": {"best.pt": tmp_path / "mallory" / "best.pt"}}
    assert checkpoint_weights(tmp_path / "mallory" / "best.pt") is None
    matches, notes = checkpoint_matches(files, {"best.pt": tmp_path / "ref.pt"})
    found = {(m.kind, m.students) for m in matches}
    assert ("checkpoint bytes", ("alice", "bob")) in found and ("checkpoint bytes", ("carol", "gina")) in found
    assert ("checkpoint weights", ("alice", "carol")) in found and ("checkpoint weights", ("bob", "carol")) in found
    assert not any("dan" in m.students for m in matches)
    assert not any("erin" in m.students and m.kind == "checkpoint weights" for m in matches)
    assert any("erin" in n and "frank" in n and "reference" in n for n in notes)


def test_improbable_identical_outputs_but_not_released_or_common_ones() -> None:
    loss = "epoch 1: loss 2.30418 acc 0.11250 val 2.29871"
    outputs = {"alice": [("cell 4", loss)], "bob": [("cell 4", loss + "\n")], "carol": [("cell 4", "epoch 1: loss 2.31")],
               "dan": [("cell 2", "0.1234 0.5678 0.9012")], "erin": [("cell 2", "0.1234 0.5678 0.9012")]}
    matches = output_matches(outputs, released={"0.1234 0.5678 0.9012"})
    assert [(m.students, m.what) for m in matches] == [(("alice", "bob"), "cell 4")]
    crowd = {f"s{i}": [("cell 4", loss)] for i in range(8)}                     # a seeded, deterministic result
    assert output_matches(crowd, released=set()) == []


def test_the_page_is_offline_escaped_and_names_no_one_in_feedback(tmp_path: Path) -> None:
    sources = {EVIL: ORIGINAL, "mallory": DISGUISED}
    pairs = similar_pairs(_answers(sources))
    assert pairs[0].flagged
    summary = {"threshold": 0.6, "labs": [{"lab": "lab9", "students": 2, "pairs_measured": 1, "common_limit": 10,
                                           "flagged": 1, "unreadable": [], "notes": [], "artefacts": [],
                                           "pairs": [{"a": EVIL, "b": "mallory", "score": 1.0, "coverage_a": 1.0,
                                                      "coverage_b": 1.0, "shared_tokens": 99, "flagged": True,
                                                      "passages": [{"tokens": 99, "a": {"cell": 1, "line": 1,
                                                                                        "text": "x <b>"},
                                                                    "b": {"cell": 2, "line": 3, "text": EVIL}}]}]}]}
    page = integrity_page(summary)
    assert "<script" not in page.lower() and "&lt;script&gt;" in page and "x &lt;b&gt;" in page
    assert "http://" not in page and "https://" not in page
    # A student's feedback page is made from their own result alone: no partner's name, no integrity section.
    mine = feedback_html(SubmissionResult("mallory", "lab2_backprop", [Verdict("2_1", 1.0, 1.0)]))
    assert "mallory" in mine and EVIL not in mine and "&lt;script" not in mine and "ntegrity" not in mine


def test_course_similarity_and_course_report_with_the_integrity_section(tmp_path: Path, capsys) -> None:
    folder = _class(tmp_path)
    out = tmp_path / "integrity.html"
    assert main(["--root", str(ROOT), "similarity", str(folder), "--lab", "lab2_backprop", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert re.search(r"lab2_backprop: 5 students, \d+ pair\(s\) measured, 2 flagged", printed), printed
    assert "mallory" in out.read_text() and out.with_suffix(".json").is_file()
    assert main(["--root", str(ROOT), "similarity", str(folder), "--threshold", "2"]) == 2
    assert main(["--root", str(ROOT), "similarity", str(tmp_path / "nothing")]) == 2


@pytest.mark.browser
@pytest.mark.slow
def test_the_integrity_section_in_chromium_offline(tmp_path: Path) -> None:
    artifacts = Path(os.environ.get("COURSE_ARTIFACTS") or ROOT / "test-artifacts" / "browser").resolve()
    artifacts.mkdir(parents=True, exist_ok=True)
    integrity = class_integrity(ROOT, _class(tmp_path), ["lab2_backprop", "lab4_positional_encoding"])
    results = [SubmissionResult(s, "lab2_backprop", [Verdict("2_1", 1.0, 1.0)]) for s in ("correct", "eve")]
    html_path, _ = write_class_report(results, tmp_path / "report.html", integrity=integrity)
    with chromium() as browser:
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        requests: list[str] = []
        page.on("request", lambda req: requests.append(req.url))
        page.goto(html_path.as_uri() + "#integrity", wait_until="load", timeout=60_000)
        section = page.inner_text("#integrity")
        hits = page.eval_on_selector_all("#integrity pre.hit", "els => els.map(e => getComputedStyle(e).backgroundColor)")
        sides = page.eval_on_selector_all("#integrity table.passages tr:first-child td",
                                          "els => els.map(e => e.getBoundingClientRect().left)")
        page.locator("#integrity").screenshot(path=str(artifacts / "integrity.png"))
    assert requests and all(u.startswith(("file:", "data:")) for u in requests), requests
    assert "Integrity" in section and "2 pair(s) flagged" in section and "mallory" in section
    assert hits and all(c not in ("rgba(0, 0, 0, 0)", "transparent") for c in hits)   # highlighted
    assert len(sides) >= 2 and sides[0] < sides[1]                                     # side by side
